//! An answer certgate gives before the request has fully arrived reaches the client
//! (issue 12 point 7; contract, "What a request gets"):
//! - HTTP/1: an answer that ends the connection (431, 400, or any answer to a request whose
//!   body was not read) is followed by a lingering close: certgate keeps reading and
//!   discarding what the client still sends, for up to 2 s or 1 MiB, so that a client that
//!   is still writing gets the status instead of a reset;
//! - HTTP/2: a complete response, and the request body still arriving is read and discarded
//!   (up to the same bounds) so the stream ends cleanly; past them RST_STREAM(NO_ERROR)
//!   (RFC 9113 §8.1), never an error that makes clients drop the response.
//!
//! Every try is on a fresh connection, 20 tries per case: a lost answer shows up.

mod support;

use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TRIES: usize = 20;

/// 120 header fields of 1,000 bytes: far over `--max-header-bytes 16384`.
fn oversized_head() -> Vec<u8> {
    let mut head = b"GET /app/x HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    let value = "v".repeat(1000);
    for i in 0..120 {
        head.extend_from_slice(format!("X-Filler-{i}: {value}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Sends `request` over a fresh TLS connection in `piece`-byte writes `pause` apart (a client
/// on a real network is still sending when certgate has decided), then reads the answer.
/// Returns the status line's code, or how the exchange failed; a write that fails (the
/// connection was reset under the client) is a failure even if an answer could be read.
async fn paced_exchange(client: &Client, request: &[u8], piece: usize, pause: Duration) -> String {
    let mut tls = client.tls_connect().await.expect("TLS");
    for chunk in request.chunks(piece) {
        if let Err(e) = async {
            tls.write_all(chunk).await?;
            tls.flush().await
        }
        .await
        {
            return format!("reset while still sending ({:?})", e.kind());
        }
        tokio::time::sleep(pause).await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf)).await {
            Err(_) => break Some("timeout".to_string()),
            Ok(Ok(0)) => break None,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => break Some(format!("{:?}", e.kind())),
        }
    };
    let text = String::from_utf8_lossy(&got);
    match text.lines().next() {
        Some(l) if l.starts_with("HTTP/1.1 ") && l.len() >= 12 => l[9..12].to_string(),
        _ => format!("no answer ({err:?})"),
    }
}

#[tokio::test]
async fn twenty_oversized_heads_all_get_431_and_the_client_is_not_reset_while_sending() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "app=/app",
            "--allow",
            "app=any",
            "--max-header-bytes",
            "16384",
        ],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let head = oversized_head();
    let mut outcomes = Vec::new();
    for _ in 0..TRIES {
        // 121 KB in 4 KiB writes 5 ms apart: certgate refuses the head while the client
        // is still sending the rest of it.
        outcomes.push(paced_exchange(&client, &head, 4096, Duration::from_millis(5)).await);
    }
    let lost = outcomes.iter().filter(|s| *s != "431").count();
    assert_eq!(
        lost, 0,
        "{lost} of {TRIES} oversized heads did not end as a clean 431: {outcomes:?}"
    );
    upstream.assert_nothing("oversized heads");
}

/// A denied POST whose body (512 KiB) is still being sent when the 403 is ready.
const BODY: usize = 512 * 1024;

async fn denied_post_proxy(pki: &Pki, upstream: &Upstream) -> Certgate {
    Certgate::start(
        pki,
        &upstream.url,
        &["--route", "hooks=/hooks", "--allow", "hooks=cn:sender"],
    )
    .await
}

#[tokio::test]
async fn twenty_denied_http2_posts_with_a_body_all_get_403_with_curl() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = denied_post_proxy(&pki, &upstream).await;
    let intruder = pki.client("intruder", ClientSpec::cn_only("intruder"));
    let body = pki.path("body.bin");
    std::fs::write(&body, vec![b'j'; BODY]).unwrap();
    let data = format!("@{}", s(&body));
    let mut outcomes = Vec::new();
    for _ in 0..TRIES {
        let out = curl(
            &pki,
            cg.addr,
            "/hooks/docusign",
            Some(&intruder),
            &[
                "--http2",
                "--data-binary",
                &data,
                "-H",
                "content-type: application/json",
            ],
        )
        .await;
        if out.exit_code == Some(0) {
            assert_eq!(out.http_version, "2", "curl negotiated HTTP/2: {out:?}");
        }
        outcomes.push((out.status, out.exit_code));
    }
    let lost: Vec<_> = outcomes.iter().filter(|o| **o != (403, Some(0))).collect();
    assert!(
        lost.is_empty(),
        "{} of {TRIES} denied HTTP/2 POSTs did not end as a clean 403 (status, curl exit): {outcomes:?}",
        lost.len()
    );
    upstream.assert_nothing("denied HTTP/2 POSTs");
}

#[tokio::test]
async fn twenty_denied_http2_posts_with_a_body_all_get_403_with_the_rust_client() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = denied_post_proxy(&pki, &upstream).await;
    let intruder = pki.client("intruder", ClientSpec::cn_only("intruder"));
    let client = cg.client(&pki).cert(&intruder).h2();
    let body = vec![b'j'; BODY];
    let mut outcomes = Vec::new();
    for _ in 0..TRIES {
        let r = client
            .request(
                "POST",
                "/hooks/docusign",
                &[("content-type", "application/json")],
                &body,
            )
            .await;
        outcomes.push(match r {
            Ok(r) => format!("{}", r.status),
            Err(e) => format!("{e:?}"),
        });
    }
    let lost = outcomes.iter().filter(|o| *o != "403").count();
    assert_eq!(
        lost, 0,
        "{lost} of {TRIES} denied HTTP/2 POSTs did not get 403: {outcomes:?}"
    );
    upstream.assert_nothing("denied HTTP/2 POSTs");
}

#[tokio::test]
async fn twenty_denied_http1_posts_with_a_body_all_get_403() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = denied_post_proxy(&pki, &upstream).await;
    let intruder = pki.client("intruder", ClientSpec::cn_only("intruder"));
    let client = cg.client(&pki).cert(&intruder);
    let mut request = format!(
        "POST /hooks/docusign HTTP/1.1\r\nHost: localhost\r\nContent-Length: {BODY}\r\n\r\n"
    )
    .into_bytes();
    request.extend(std::iter::repeat_n(b'j', BODY));
    let mut outcomes = Vec::new();
    for _ in 0..TRIES {
        // certgate answers after the head; the body is still on its way.
        outcomes.push(paced_exchange(&client, &request, 32 * 1024, Duration::from_millis(2)).await);
    }
    let lost = outcomes.iter().filter(|o| *o != "403").count();
    assert_eq!(
        lost, 0,
        "{lost} of {TRIES} denied HTTP/1.1 POSTs did not end as a clean 403: {outcomes:?}"
    );
    upstream.assert_nothing("denied HTTP/1.1 POSTs");
}

/// The lingering close is bounded: a client that keeps sending after a 400 is cut off after
/// about 2 s, and its slot serves the next client.
#[tokio::test]
async fn a_client_that_keeps_sending_after_a_400_is_cut_off_and_its_slot_freed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "app=/",
            "--allow",
            "app=any",
            "--max-connections",
            "1",
        ],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let mut tls = client.tls_connect().await.expect("TLS");
    // Content-Length together with Transfer-Encoding: 400 and the connection closed.
    tls.write_all(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(tls);
    // Endless garbage, slowly enough that 1 MiB is not what ends it; the writer reports when
    // certgate stopped taking it.
    let writer = tokio::spawn(async move {
        let chunk = [b'g'; 1024];
        loop {
            if wr.write_all(&chunk).await.is_err() || wr.flush().await.is_err() {
                return t0.elapsed();
            }
            if t0.elapsed() > Duration::from_secs(8) {
                return t0.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The answer, then the end of what certgate sends (close_notify and FIN).
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(8), rd.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 400"),
        "the 400 arrived first: {:?}",
        String::from_utf8_lossy(&got)
    );
    let refused_after = writer.await.unwrap();
    assert!(
        refused_after < Duration::from_secs(8),
        "certgate kept taking garbage for 8 s"
    );
    assert!(
        refused_after >= Duration::from_millis(1500),
        "certgate stopped reading after {refused_after:?}: it did not linger for a client still sending"
    );
    // The only slot is free again.
    let r = client.get("/after").await.expect("next client");
    assert_eq!(r.status, 200);
    assert_eq!(upstream.paths(), ["/after"]);
}
