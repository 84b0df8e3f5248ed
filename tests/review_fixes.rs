//! Rejection paths added after review: identity is only passed on when the chain is
//! vouched for on the route, `;` path parameters cannot dodge a prefix, a duplicate Host is
//! refused, and a SAN that would split into several header values fails closed.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test]
async fn public_route_passes_no_identity_from_a_chain_of_another_bundle() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let sandbox_ca = pki.other_ca("Sandbox CA");
    let bundle = format!("sandbox={}", s(&sandbox_ca.cert_path));
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--trust-bundle",
            &bundle,
            "--route",
            "pub=/",
            "--allow",
            "pub=public",
            "--client-auth",
            "optional",
        ],
    )
    .await;
    // Verified by the sandbox bundle only: admitted (public) but not vouched for on `pub`,
    // whose bundle is `default`.
    let sandbox_client = sandbox_ca.issue("sandbox", ClientSpec::cn_only("sandbox-client"));
    let prod_client = pki.client("prod", ClientSpec::cn_only("prod-client"));

    let resp = cg
        .client(&pki)
        .cert(&sandbox_client)
        .get("/x")
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    assert!(
        seen.names_with_prefix("x-client-cert-").is_empty(),
        "identity of a chain not trusted for the route reached the upstream: {:?}",
        seen.headers
    );

    let resp = cg.client(&pki).cert(&prod_client).get("/y").await.unwrap();
    assert_eq!(resp.status, 200);
    let all = upstream.requests();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].expect("x-client-cert-subject"), "CN=prod-client");
}

#[tokio::test]
async fn path_parameters_cannot_dodge_a_route_prefix() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "pub=/",
            "--allow",
            "pub=any",
            "--route",
            "admin=/admin",
            "--allow",
            "admin=cn:admin",
        ],
    )
    .await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    for path in [
        "/admin;x",
        "/admin;x/users",
        "/public/..;/admin",
        "/a/.;/admin",
    ] {
        let resp = cg.client(&pki).cert(&sender).get(path).await.unwrap();
        assert_eq!(resp.status, 400, "{path}");
    }
    upstream.assert_nothing("a ;-parameter path reached the upstream");
    // An encoded semicolon is data and is routed normally.
    let resp = cg.client(&pki).cert(&sender).get("/a%3Bb").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(upstream.paths(), ["/a%3Bb"]);
}

#[tokio::test]
async fn duplicate_host_headers_are_refused() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &["--route", "r=/", "--allow", "r=any"]).await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&sender);
    let resp = raw_request(
        &client,
        b"GET /x HTTP/1.1\r\nHost: good.example\r\nHost: evil.example\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(resp.status(), Some(400), "{}", resp.text());
    upstream.assert_nothing("a request with two Host headers reached the upstream");
}

#[tokio::test]
async fn a_san_that_would_split_into_several_values_fails_closed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &["--route", "r=/", "--allow", "r=any"]).await;
    let tricky = pki.client(
        "tricky",
        ClientSpec::cn_only("tricky").san_uri("spiffe://x/a,spiffe://x/admin"),
    );
    let resp = cg.client(&pki).cert(&tricky).get("/x").await.unwrap();
    assert_eq!(resp.status, 403);
    upstream.assert_nothing("an ambiguous SAN list reached the upstream");
}

#[tokio::test]
async fn idle_keep_alive_outlives_the_header_timeout() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "r=/",
            "--allow",
            "r=any",
            "--header-timeout",
            "1s",
            "--idle-timeout",
            "10s",
        ],
    )
    .await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut conn = cg.client(&pki).cert(&sender).connect().await.unwrap();
    assert_eq!(conn.get("/first").await.unwrap().status, 200);
    // Idle for twice --header-timeout: the idle limit (10 s) applies, not the header one.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(conn.get("/second").await.unwrap().status, 200);
    assert_eq!(upstream.paths(), ["/first", "/second"]);
}

/// RFC 9440's Client-Cert-Chain carries the chain used for validation: extra certificates a
/// client sends are not forwarded, and an intermediate supplied by `--intermediates` is.
#[tokio::test]
async fn client_cert_chain_is_the_verified_path() {
    use base64::Engine;
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "r=/",
            "--allow",
            "r=any",
            "--forward-cert",
            "rfc9440",
            "--intermediates",
            &s(&issuing.cert_path),
        ],
    )
    .await;
    let decode_chain = |v: &str| -> Vec<Vec<u8>> {
        v.split(',')
            .map(|item| {
                let inner = item.trim().trim_matches(':');
                base64::engine::general_purpose::STANDARD
                    .decode(inner)
                    .expect("base64")
            })
            .collect()
    };

    // The client appends an unrelated certificate to its chain.
    let mut padded = issuing.issue("padded", ClientSpec::cn_only("padded"));
    let stranger = pki.other_ca("Stranger CA");
    padded.chain_der.push(stranger.der.clone());
    let resp = cg.client(&pki).cert(&padded).get("/a").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        decode_chain(upstream.single().expect("Client-Cert-Chain")),
        vec![issuing.der.clone()]
    );

    // The client sends its leaf alone; --intermediates completed the chain.
    let lonely = issuing
        .issue("lonely", ClientSpec::cn_only("lonely"))
        .without_chain();
    let resp = cg.client(&pki).cert(&lonely).get("/b").await.unwrap();
    assert_eq!(resp.status, 200);
    let seen = upstream.requests();
    assert_eq!(
        decode_chain(seen[1].expect("Client-Cert-Chain")),
        vec![issuing.der.clone()]
    );
}
