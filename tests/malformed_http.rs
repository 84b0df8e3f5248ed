//! Requests certgate must refuse before routing: ambiguous framing (request smuggling),
//! broken header lines, and headers over `--max-header-bytes`.

mod support;

use std::time::Duration;

use support::*;

async fn setup(extra: &[&str]) -> (Pki, Upstream, Certgate, Client) {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let mut args = vec!["--route", "hooks=/webhooks", "--allow", "hooks=any"];
    args.extend_from_slice(extra);
    let cg = Certgate::start(&pki, &upstream.url, &args).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    (pki, upstream, cg, client)
}

#[tokio::test]
async fn content_length_with_transfer_encoding_gets_400_and_the_connection_closes() {
    let (_pki, upstream, _cg, client) = setup(&[]).await;
    // No `Connection: close`: closing must be certgate's own decision. A smuggled second
    // request rides in the body.
    let body = "0\r\n\r\nGET /webhooks/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let req = format!(
        "POST /webhooks/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
Transfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );

    let resp = raw_request(&client, req.as_bytes(), Duration::from_secs(5)).await;

    assert_eq!(resp.status(), Some(400), "{}", resp.text());
    assert!(
        resp.closed,
        "connection must be closed after the 400: {}",
        resp.text()
    );
    assert_eq!(
        resp.text().matches("HTTP/1.1 ").count(),
        1,
        "exactly one response: {}",
        resp.text()
    );
    upstream.assert_nothing("CL + TE");
}

#[tokio::test]
async fn well_formed_request_keeps_the_connection_open() {
    // Control for the tests above: a close after a 400 is certgate's decision, not an
    // artefact of the raw client.
    let (_pki, upstream, _cg, client) = setup(&[]).await;
    let req = "GET /webhooks/a HTTP/1.1\r\nHost: localhost\r\n\r\n";

    let resp = raw_request(&client, req.as_bytes(), Duration::from_millis(700)).await;

    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    assert!(
        !resp.closed,
        "keep-alive connection closed after a good request"
    );
    assert_eq!(upstream.paths(), ["/webhooks/a"]);
}

#[tokio::test]
async fn header_line_without_colon_gets_400() {
    let (_pki, upstream, _cg, client) = setup(&[]).await;
    let req = "GET /webhooks/a HTTP/1.1\r\nHost: localhost\r\nThis is not a header\r\n\r\n";

    let resp = raw_request(&client, req.as_bytes(), Duration::from_secs(5)).await;

    assert_eq!(resp.status(), Some(400), "{}", resp.text());
    assert!(resp.closed, "connection must be closed after the 400");
    upstream.assert_nothing("malformed header line");
}

#[tokio::test]
async fn request_headers_over_max_header_bytes_get_431() {
    let (_pki, upstream, _cg, client) = setup(&["--max-header-bytes", "1024"]).await;
    let big = "a".repeat(2000);

    let resp = client
        .get_with("/webhooks/a", &[("x-big", big.as_str())])
        .await
        .unwrap();

    assert_eq!(resp.status, 431);
    upstream.assert_nothing("431");
}

/// Heads well over the limit, over HTTP/1.1 and HTTP/2 alike, get certgate's own 431 (the
/// generic body with a request id, an access line), not a refused stream or a dropped
/// connection from the protocol layer below it.
#[tokio::test]
async fn heads_far_over_max_header_bytes_get_the_same_431_over_both_protocols() {
    let (_pki, upstream, cg, client) = setup(&["--max-header-bytes", "1024"]).await;
    for size in [2_000, 8_000, 60_000] {
        let big = "a".repeat(size);
        for alpn in [Alpn::Http1, Alpn::H2] {
            let what = format!("{size} bytes over {alpn:?}");
            let resp = client
                .clone()
                .alpn(alpn)
                .get_with("/webhooks/a", &[("x-big", big.as_str())])
                .await
                .unwrap_or_else(|e| panic!("{what}: no answer: {e:?}"));
            assert_eq!(resp.status, 431, "{what}");
            let rid = resp
                .header("x-request-id")
                .unwrap_or_else(|| panic!("{what}: no request id: {resp:?}"));
            let line = cg
                .wait_for_log_where(&format!("{what}: the access line"), |l| {
                    l.contains(rid) && l.contains("decision=")
                })
                .await;
            assert!(line.contains("status=431"), "{what}: {line}");
        }
    }
    upstream.assert_nothing("431");
}

#[tokio::test]
async fn request_headers_under_max_header_bytes_pass() {
    let (_pki, upstream, _cg, client) = setup(&["--max-header-bytes", "1024"]).await;
    let small = "a".repeat(300);

    let resp = client
        .get_with("/webhooks/a", &[("x-small", small.as_str())])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    assert_eq!(upstream.single().expect("x-small"), small);
}

#[tokio::test]
async fn many_small_headers_over_the_limit_also_get_431() {
    let (_pki, upstream, _cg, client) = setup(&["--max-header-bytes", "1024"]).await;
    let values: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-h{i}"), "v".repeat(40)))
        .collect();
    let headers: Vec<(&str, &str)> = values
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();

    let resp = client.get_with("/webhooks/a", &headers).await.unwrap();

    assert_eq!(resp.status, 431);
    upstream.assert_nothing("431 (many headers)");
}
