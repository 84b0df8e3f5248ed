//! HTTP/2 clients (ALPN `h2`) get the same verification, policy and identity headers.

mod support;

use support::*;

async fn proxy(pki: &Pki, upstream: &Upstream) -> Certgate {
    Certgate::start(
        pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=subject:CN=sender,O=Acme,C=US",
        ],
    )
    .await
}

#[tokio::test]
async fn http2_client_is_served_end_to_end_with_identity_headers() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream).await;
    let leaf = pki.client("sender", ClientSpec::new().c("US").o("Acme").cn("sender"));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .h2()
        .get_with("/webhooks/h2?x=1", &[("x-client-cert-subject", "CN=admin")])
        .await
        .unwrap();

    assert_eq!(resp.alpn.as_deref(), Some(&b"h2"[..]), "ALPN h2 negotiated");
    assert_eq!(resp.version, hyper::Version::HTTP_2);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let seen = upstream.single();
    assert_eq!(seen.path, "/webhooks/h2?x=1");
    assert_eq!(seen.all("X-Client-Cert-Subject"), ["CN=sender,O=Acme,C=US"]);
    assert_eq!(seen.expect("X-Client-Cert-Fingerprint"), leaf.fingerprint());
    assert_eq!(seen.expect("X-Forwarded-Proto"), "https");
}

#[tokio::test]
async fn http2_denied_request_gets_403_and_upstream_sees_nothing() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream).await;
    let other = pki.client("other", ClientSpec::new().c("US").o("Acme").cn("other"));

    let resp = cg
        .client(&pki)
        .cert(&other)
        .h2()
        .get("/webhooks/a")
        .await
        .unwrap();

    assert_eq!(resp.status, 403);
    upstream.assert_nothing("h2 403");
}

#[tokio::test]
async fn http2_streams_on_one_connection_each_carry_the_identity() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream).await;
    let leaf = pki.client("sender", ClientSpec::new().c("US").o("Acme").cn("sender"));

    let mut conn = cg.client(&pki).cert(&leaf).h2().connect().await.unwrap();
    for i in 0..3 {
        assert_eq!(
            conn.get(&format!("/webhooks/{i}")).await.unwrap().status,
            200
        );
    }

    let seen = upstream.requests();
    assert_eq!(seen.len(), 3);
    for r in seen {
        assert_eq!(r.expect("X-Client-Cert-Subject"), "CN=sender,O=Acme,C=US");
    }
}

/// HTTP/2 clients send one `cookie` field per cookie (RFC 9113 §8.2.3); an HTTP/1.1 upstream
/// must get them as one field, joined with "; " in their order, whether the request has a
/// body or not.
#[tokio::test]
async fn http2_cookie_fields_reach_the_http1_upstream_as_one() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream).await;
    let leaf = pki.client("sender", ClientSpec::new().c("US").o("Acme").cn("sender"));
    let cookies = [
        ("cookie", "session=abc"),
        ("cookie", "theme=dark"),
        ("cookie", "a=1"),
    ];
    let client = cg.client(&pki).cert(&leaf).h2();
    let get = client.get_with("/webhooks/c", &cookies).await.unwrap();
    assert_eq!((get.version, get.status), (hyper::Version::HTTP_2, 200));
    let post = client
        .request("POST", "/webhooks/c", &cookies, b"{\"event\":1}")
        .await
        .unwrap();
    assert_eq!(post.status, 200);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2);
    for r in &seen {
        assert_eq!(r.all("cookie"), ["session=abc; theme=dark; a=1"], "{r:?}");
    }
    assert_eq!(seen[1].body, b"{\"event\":1}");
}
