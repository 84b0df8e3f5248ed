//! Idle HTTP/1 keep-alive connections park: after a short pause without a request certgate
//! gives hyper's buffers back and keeps only the TLS stream, then resumes when the next
//! request's bytes arrive. Whatever the pause, the client must not notice: every request on
//! the connection is answered, in order, with the identity of the connection's certificate,
//! and the upstream gets each one whole.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use support::*;

/// Long enough for an idle connection to park (certgate parks after 100 ms).
const PARK: Duration = Duration::from_millis(400);

async fn start(pki: &Pki, upstream_url: &str, extra: &[&str]) -> Certgate {
    let mut args = vec!["--route", "hooks=/webhooks", "--allow", "hooks=any"];
    args.extend_from_slice(extra);
    Certgate::start(pki, upstream_url, &args).await
}

/// One TLS connection driven byte by byte.
struct Raw {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    pending: Vec<u8>,
}

impl Raw {
    async fn open(cg: &Certgate, pki: &Pki, leaf: &Leaf) -> Raw {
        let client = cg.client(pki).cert(leaf).alpn(Alpn::Http1);
        let tls = client.tls_connect().await.expect("TLS connect");
        Raw {
            tls,
            pending: Vec::new(),
        }
    }

    /// `GET path` with a Host header; returns the answer's status and body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
            .await;
        self.response().await
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.expect("write");
        self.tls.flush().await.expect("flush");
    }

    /// Reads one response (head + Content-Length body); returns status and body.
    async fn response(&mut self) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(end) = find(&self.pending, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("response without Content-Length");
                if self.pending.len() >= end + 4 + len {
                    let body =
                        String::from_utf8_lossy(&self.pending[end + 4..end + 4 + len]).into_owned();
                    self.pending.drain(..end + 4 + len);
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .expect("status line");
                    return (status, body);
                }
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.tls.read(&mut buf))
                .await
                .expect("no complete response within 10 s")
                .expect("read");
            assert!(
                n > 0,
                "connection closed before a complete response; got {:?}",
                String::from_utf8_lossy(&self.pending)
            );
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// True when the server closes the connection within `wait`.
    async fn closed_within(&mut self, wait: Duration) -> bool {
        let mut buf = [0u8; 1024];
        matches!(
            tokio::time::timeout(wait, self.tls.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn a_keep_alive_connection_is_served_again_after_idle_pauses() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut conn = cg
        .client(&pki)
        .cert(&leaf)
        .alpn(Alpn::Http1)
        .connect()
        .await
        .unwrap();

    assert_eq!(conn.get("/webhooks/1").await.unwrap().status, 200);
    tokio::time::sleep(PARK).await;
    assert_eq!(conn.get("/webhooks/2").await.unwrap().status, 200);
    tokio::time::sleep(PARK).await;
    let resp = conn
        .request(
            "POST",
            "/webhooks/3",
            &[],
            b"{\"event\":\"envelope-completed\"}",
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");

    let seen = upstream.requests();
    assert_eq!(
        upstream.paths(),
        ["/webhooks/1", "/webhooks/2", "/webhooks/3"]
    );
    for r in &seen {
        assert_eq!(r.expect("x-client-cert-subject"), "CN=sender");
        assert_eq!(r.expect("x-client-cert-fingerprint"), leaf.fingerprint());
    }
    assert_eq!(seen[2].body, b"{\"event\":\"envelope-completed\"}");
}

#[tokio::test]
async fn a_request_head_split_by_a_pause_is_assembled_not_timed_out_or_lost() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &["--header-timeout", "5s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;

    assert_eq!(
        raw.get("/webhooks/first").await,
        (200, "upstream-ok".into())
    );
    tokio::time::sleep(PARK).await;
    // The connection is parked: the next head arrives in pieces with pauses between.
    raw.send(b"GET /webhooks/sec").await;
    tokio::time::sleep(PARK).await;
    raw.send(b"ond HTTP/1.1\r\nHost: loc").await;
    tokio::time::sleep(PARK).await;
    raw.send(b"alhost\r\nX-Client-Cert-Subject: CN=forged\r\n\r\n")
        .await;
    assert_eq!(raw.response().await, (200, "upstream-ok".into()));

    assert_eq!(upstream.paths(), ["/webhooks/first", "/webhooks/second"]);
    // The forged header sent after the pause is still replaced by the verified identity.
    assert_eq!(
        upstream.requests()[1].all("x-client-cert-subject"),
        ["CN=sender"]
    );
}

#[tokio::test]
async fn pipelined_and_large_requests_after_a_pause_arrive_whole_and_in_order() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;

    assert_eq!(raw.get("/webhooks/warm").await.0, 200);
    tokio::time::sleep(PARK).await;

    // Three requests in one write, larger than the buffer a parked connection reads with:
    // a 6 KiB header and a 10 KiB body.
    let big_header = "h".repeat(6 * 1024);
    let body = "b".repeat(10 * 1024);
    let mut burst = Vec::new();
    burst.extend_from_slice(
        format!("GET /webhooks/a HTTP/1.1\r\nHost: localhost\r\nX-Big: {big_header}\r\n\r\n")
            .as_bytes(),
    );
    burst.extend_from_slice(
        format!(
            "POST /webhooks/b HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    burst.extend_from_slice(b"GET /webhooks/c HTTP/1.1\r\nHost: localhost\r\n\r\n");
    raw.send(&burst).await;
    for _ in 0..3 {
        assert_eq!(raw.response().await, (200, "upstream-ok".into()));
    }

    assert_eq!(
        upstream.paths(),
        [
            "/webhooks/warm",
            "/webhooks/a",
            "/webhooks/b",
            "/webhooks/c"
        ]
    );
    let seen = upstream.requests();
    assert_eq!(seen[1].expect("x-big"), big_header);
    assert_eq!(seen[2].body, body.as_bytes());
}

#[tokio::test]
async fn a_smuggling_attempt_after_a_pause_is_still_refused() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;

    assert_eq!(raw.get("/webhooks/ok").await.0, 200);
    tokio::time::sleep(PARK).await;
    raw.send(
        b"POST /webhooks/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(raw.response().await.0, 400);
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "connection left open after a framing conflict"
    );
    assert_eq!(upstream.paths(), ["/webhooks/ok"]);
}

#[tokio::test]
async fn a_parked_connection_still_ends_at_the_idle_timeout() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &["--idle-timeout", "1s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;

    assert_eq!(raw.get("/webhooks/once").await.0, 200);
    let start = Instant::now();
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "idle connection still open after 5 s (--idle-timeout 1s)"
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed <= Duration::from_secs(3),
        "closed after {elapsed:?}, expected about 1 s"
    );
    assert_eq!(upstream.paths(), ["/webhooks/once"]);
}

#[tokio::test]
async fn sigterm_closes_parked_connections_at_once_and_exits_zero() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let mut cg = start(&pki, &upstream.url, &["--shutdown-grace", "20s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;
    assert_eq!(raw.get("/webhooks/once").await.0, 200);
    tokio::time::sleep(PARK).await;

    let start = Instant::now();
    cg.signal("TERM");
    assert!(
        raw.closed_within(Duration::from_secs(5)).await,
        "parked connection not closed on SIGTERM"
    );
    let status = cg
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("certgate did not exit after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    // An idle connection does not hold the drain for --shutdown-grace.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "drain took {:?}",
        start.elapsed()
    );
    assert_eq!(upstream.paths(), ["/webhooks/once"]);
}

#[tokio::test]
async fn one_connection_gets_each_routes_own_decision_every_time() {
    // certgate remembers a connection's decision per route; a connection that alternates
    // between a route that allows it and one that does not must get both answers each time.
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(
        &pki,
        &upstream.url,
        &["--route", "admin=/admin", "--allow", "admin=cn:admin"],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut conn = cg
        .client(&pki)
        .cert(&leaf)
        .alpn(Alpn::Http1)
        .connect()
        .await
        .unwrap();

    for i in 0..3 {
        assert_eq!(
            conn.get(&format!("/webhooks/{i}")).await.unwrap().status,
            200
        );
        assert_eq!(conn.get(&format!("/admin/{i}")).await.unwrap().status, 403);
        assert_eq!(
            conn.get(&format!("/nowhere/{i}")).await.unwrap().status,
            404
        );
    }
    assert_eq!(
        upstream.paths(),
        ["/webhooks/0", "/webhooks/1", "/webhooks/2"]
    );
}

/// An upstream that answers every request with a chunked body sent in two halves 300 ms apart
/// (longer than certgate waits before parking an idle connection).
async fn slow_chunked_upstream() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while find(&buf, b"\r\n\r\n").is_none() {
                    let mut chunk = [0u8; 4096];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = sock.write_all(b"5\r\nworld\r\n0\r\n\r\n").await;
            });
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_body_delimited_by_the_close_ends_its_connection_even_when_it_outlasts_the_park_delay() {
    // An HTTP/1.0 client gets a body of unknown length delimited by the connection's close.
    // The answer takes longer than the park delay: certgate must still close the connection
    // when the body is complete, or the client waits for the end forever.
    let (url, upstream) = slow_chunked_upstream().await;
    let pki = Pki::new();
    let cg = start(&pki, &url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut raw = Raw::open(&cg, &pki, &leaf).await;

    raw.send(b"GET /webhooks/slow HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            match raw.tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        closed.is_ok(),
        "connection still open 5 s after the answer; got {text:?}"
    );
    assert!(text.starts_with("HTTP/1.0 200"), "{text:?}");
    assert!(text.ends_with("helloworld"), "{text:?}");
    upstream.abort();
}

/// A client certificate that expires while its keep-alive connection stays open stops
/// counting then (within a second): the connection's next requests, plain (certgate's own
/// HTTP/1.1 server) and with a body (hyper's), get 403 and never reach the upstream.
#[tokio::test]
async fn a_certificate_that_expires_on_an_open_connection_is_refused_from_then_on() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = start(&pki, &upstream.url, &[]).await;
    // Whole seconds, as a certificate has them: it expires 2 to 3 s from now.
    let expires = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        + time::Duration::seconds(3);
    let leaf = pki.client("sender", ClientSpec::cn_only("sender").not_after(expires));
    let mut conn = cg
        .client(&pki)
        .cert(&leaf)
        .alpn(Alpn::Http1)
        .connect()
        .await
        .unwrap();
    assert_eq!(conn.get("/webhooks/1").await.unwrap().status, 200);

    // Past its notAfter, and past the second within which the connection reads the clock.
    let left = expires - time::OffsetDateTime::now_utc();
    tokio::time::sleep(
        Duration::from_secs_f64(left.as_seconds_f64().max(0.0)) + Duration::from_millis(2200),
    )
    .await;
    let plain = conn.get("/webhooks/2").await.unwrap();
    assert_eq!(plain.status, 403, "{}", plain.body_str());
    let with_body = conn
        .request("POST", "/webhooks/3", &[], b"{\"event\":\"late\"}")
        .await
        .unwrap();
    assert_eq!(with_body.status, 403, "{}", with_body.body_str());
    assert_eq!(upstream.paths(), ["/webhooks/1"]);
    cg.wait_for_log("client certificate expired while its connection was open")
        .await;
}
