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

// ---------------------------------------------------------------------------------------
// The upstream connection pool
// ---------------------------------------------------------------------------------------

/// How the scripted upstream treats a connection after each answer.
#[derive(Clone, Copy)]
enum AfterAnswer {
    /// Keep the connection open for the next request.
    KeepAlive,
    /// Close the connection if no request follows within this long (an upstream with a
    /// short keep-alive timeout, like many app servers).
    CloseWhenIdleFor(Duration),
    /// Answer with `Connection: close` and close.
    Close,
    /// Read the request, then close without answering (an app that crashed on it).
    DropWithoutAnswer,
}

/// A plain-TCP HTTP/1.1 upstream written out by hand, so the test controls exactly when
/// connections close. Records each request line and counts accepted connections.
struct ScriptedUpstream {
    url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedUpstream {
    async fn start(after: AfterAnswer) -> ScriptedUpstream {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, l) = (connections.clone(), lines.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let l = l.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // Read one request head (the tests send no bodies).
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            let read = match after {
                                AfterAnswer::CloseWhenIdleFor(d) if buf.is_empty() => {
                                    match tokio::time::timeout(d, sock.read(&mut chunk)).await {
                                        Ok(r) => r,
                                        Err(_) => return, // idle too long: close
                                    }
                                }
                                _ => sock.read(&mut chunk).await,
                            };
                            match read {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                        buf.drain(..head_end);
                        let line = head.lines().next().unwrap_or("").to_string();
                        l.lock().unwrap().push(line.clone());
                        if matches!(after, AfterAnswer::DropWithoutAnswer) {
                            return;
                        }
                        let (status, body) = if line.starts_with("HEAD ") {
                            ("200 OK", "")
                        } else if line.contains("/empty") {
                            ("204 No Content", "")
                        } else {
                            ("200 OK", "scripted-ok")
                        };
                        let close = matches!(after, AfterAnswer::Close);
                        let mut resp = format!("HTTP/1.1 {status}\r\n");
                        if !status.starts_with("204") {
                            resp.push_str(&format!("Content-Length: {}\r\n", 11));
                        }
                        if close {
                            resp.push_str("Connection: close\r\n");
                        }
                        resp.push_str("\r\n");
                        resp.push_str(body);
                        if sock.write_all(resp.as_bytes()).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        ScriptedUpstream {
            url,
            connections,
            lines,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn upstream_connections_are_reused_across_requests_and_client_connections() {
    let pki = Pki::new();
    let upstream = ScriptedUpstream::start(AfterAnswer::KeepAlive).await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);

    for round in 0..2 {
        // A new client connection each round; the upstream connection stays the same.
        let mut conn = client.connect().await.unwrap();
        let r = conn.get(&format!("/webhooks/get{round}")).await.unwrap();
        assert_eq!((r.status, r.body_str().as_str()), (200, "scripted-ok"));
        // Answers without a body (HEAD, 204) also give the connection back.
        let r = conn
            .request("HEAD", &format!("/webhooks/head{round}"), &[], b"")
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let r = conn.get(&format!("/webhooks/empty{round}")).await.unwrap();
        assert_eq!(r.status, 204);
    }

    assert_eq!(
        upstream.lines(),
        [
            "GET /webhooks/get0 HTTP/1.1",
            "HEAD /webhooks/head0 HTTP/1.1",
            "GET /webhooks/empty0 HTTP/1.1",
            "GET /webhooks/get1 HTTP/1.1",
            "HEAD /webhooks/head1 HTTP/1.1",
            "GET /webhooks/empty1 HTTP/1.1",
        ]
    );
    assert_eq!(upstream.connections(), 1, "upstream connection not reused");
}

#[tokio::test]
async fn an_upstream_that_closes_idle_connections_costs_no_request() {
    let pki = Pki::new();
    let upstream =
        ScriptedUpstream::start(AfterAnswer::CloseWhenIdleFor(Duration::from_millis(50))).await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);

    for i in 0..4 {
        let r = client.get(&format!("/webhooks/{i}")).await.unwrap();
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "scripted-ok"),
            "request {i}"
        );
        // Longer than the upstream keeps an idle connection.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Each request reached the upstream exactly once, each on a new connection.
    assert_eq!(
        upstream.lines(),
        [
            "GET /webhooks/0 HTTP/1.1",
            "GET /webhooks/1 HTTP/1.1",
            "GET /webhooks/2 HTTP/1.1",
            "GET /webhooks/3 HTTP/1.1",
        ]
    );
    assert_eq!(upstream.connections(), 4);
}

#[tokio::test]
async fn an_upstream_connection_close_answer_is_not_reused() {
    let pki = Pki::new();
    let upstream = ScriptedUpstream::start(AfterAnswer::Close).await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut conn = cg
        .client(&pki)
        .cert(&leaf)
        .alpn(Alpn::Http1)
        .connect()
        .await
        .unwrap();

    for i in 0..3 {
        let r = conn.get(&format!("/webhooks/{i}")).await.unwrap();
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "scripted-ok"),
            "request {i}"
        );
        // The upstream's Connection: close is hop-by-hop: the client's connection stays.
        assert_eq!(r.header("connection"), None);
    }
    assert_eq!(upstream.lines().len(), 3);
    assert_eq!(upstream.connections(), 3);
}

#[tokio::test]
async fn an_upstream_that_drops_a_request_gives_502_and_the_request_is_not_sent_again() {
    // The request was written, so certgate cannot know whether the app acted on it: it must
    // answer 502 and never replay it (a webhook must not be delivered twice by the proxy).
    let pki = Pki::new();
    let upstream = ScriptedUpstream::start(AfterAnswer::DropWithoutAnswer).await;
    let cg = proxy(&pki, &upstream.url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);

    let r = client
        .request("POST", "/webhooks/once", &[], b"{\"event\":\"x\"}")
        .await
        .unwrap();

    assert_eq!(r.status, 502);
    assert!(
        r.body_str().starts_with("502 Bad Gateway"),
        "{}",
        r.body_str()
    );
    let line = cg.wait_for_log("upstream reset or failed").await;
    assert!(line.contains("status=502"), "{line}");
    assert_eq!(upstream.lines(), ["POST /webhooks/once HTTP/1.1"]);
    assert_eq!(upstream.connections(), 1);
}
