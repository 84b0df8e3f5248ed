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
