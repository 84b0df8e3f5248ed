//! The hop to the upstream: Unix sockets, request bodies, hop-by-hop headers, and the
//! upstream's own answer passed through. (502/504 on upstream failures: operations.rs.)

mod support;

use std::time::Duration;

use support::*;

async fn proxy(pki: &Pki, upstream_url: &str, extra: &[&str]) -> Certgate {
    let mut args = vec!["--route", "hooks=/webhooks", "--allow", "hooks=any"];
    args.extend_from_slice(extra);
    Certgate::start(pki, upstream_url, &args).await
}

#[tokio::test]
async fn unix_socket_upstream_receives_allowed_requests_with_identity() {
    let pki = Pki::new();
    let socket = pki.path("upstream.sock");
    let upstream = Upstream::start_unix(&socket).await;
    assert!(upstream.url.starts_with("unix:/"));
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a?q=1")
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let seen = upstream.single();
    assert_eq!(seen.path, "/webhooks/a?q=1");
    assert_eq!(seen.expect("X-Client-Cert-Subject"), "CN=sender");
}

#[tokio::test]
async fn request_and_response_bodies_are_forwarded() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .request(
            "POST",
            "/webhooks/upload",
            &[("content-type", "application/octet-stream")],
            &body,
        )
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let seen = upstream.single();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body.len(), body.len());
    assert!(seen.body == body, "request body altered in transit");
}

#[tokio::test]
async fn hop_by_hop_headers_are_not_forwarded() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let req = "GET /webhooks/a HTTP/1.1\r\nHost: localhost\r\n\
Connection: close, X-Private-Hop\r\n\
X-Private-Hop: secret\r\n\
Keep-Alive: timeout=5\r\n\
Proxy-Connection: keep-alive\r\n\
X-End-To-End: kept\r\n\r\n";

    let resp = raw_request(&client, req.as_bytes(), Duration::from_secs(10)).await;

    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    let seen = upstream.single();
    assert_eq!(seen.expect("X-End-To-End"), "kept");
    for hop in ["X-Private-Hop", "Keep-Alive", "Proxy-Connection"] {
        assert!(
            seen.all(hop).is_empty(),
            "{hop} forwarded: {:#?}",
            seen.headers
        );
    }
    for v in seen.all("Connection") {
        assert!(!v.to_ascii_lowercase().contains("x-private-hop"), "{v}");
    }
}

#[tokio::test]
async fn upstream_error_status_is_passed_through() {
    let pki = Pki::new();
    let upstream = Upstream::start_with(UpstreamBehaviour {
        status: 418,
        body: "teapot",
        ..Default::default()
    })
    .await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a")
        .await
        .unwrap();

    assert_eq!(resp.status, 418);
    assert_eq!(resp.body_str(), "teapot");
}
