//! certgate's own HTTP/1.1 server (`src/server/own_h1.rs`) under attack and next to hyper's:
//! what a client can notice or exploit where the own path differs from hyper's path, the
//! contract or RFC 9110/9112. Each test goes through the real binary over mTLS and checks
//! what the client got and what the upstream saw.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream that answers every request head with `answer`, byte for byte (no `Date`,
/// unlike hyper's server), and records the request heads it got.
struct ScriptedUpstream {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedUpstream {
    async fn start(answer: &'static [u8]) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            seen.lock()
                                .unwrap()
                                .push(String::from_utf8_lossy(&head).into_owned());
                            if sock.write_all(answer).await.is_err() {
                                return;
                            }
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        ScriptedUpstream { url, heads, task }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn route_flags() -> Vec<&'static str> {
    vec!["--route", "app=/", "--allow", "app=any"]
}

/// The header lines of the first answer head in `text` (names lowercased).
fn answer_fields(text: &str) -> Vec<(String, String)> {
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Header timeout: bytes before a request line
// ---------------------------------------------------------------------------------------

/// RFC 9112 §2.2 lets a server ignore empty lines before a request line, and hyper does,
/// but they are the start of a request head all the same: a client that sends only `\r\n`
/// and then nothing is held to --header-timeout like one that sends `GET / HT`; so is one
/// that sends part of a `CONNECT` head (whose framing the guard does not follow). (The
/// framing guard did not count them as a head being received, so no header timer ran; the
/// idle timer asked hyper to close, which hyper does not do for a connection that has
/// served nothing yet: the client kept its connection slot for as long as it liked.)
#[tokio::test]
async fn empty_lines_before_a_request_line_are_held_to_the_header_timeout() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = Upstream::start().await;
    let mut flags = route_flags();
    flags.extend(["--header-timeout", "1s", "--idle-timeout", "2s"]);
    let cg = Certgate::start(&pki, &upstream.url, &flags).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);

    for lead in [
        &b"\r\n"[..],
        b"\n",
        b"\r\n\r\n\r\n",
        // Heads the framing guard stops following at their request line are timed too.
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n",
        b"PRI * HTTP/2.0\r\n",
    ] {
        let mut tls = client.tls_connect().await.expect("TLS");
        tls.write_all(lead).await.unwrap();
        tls.flush().await.unwrap();
        let started = Instant::now();
        let got = read_until_closed(&mut tls, Duration::from_secs(8)).await;
        let elapsed = started.elapsed();
        assert!(
            got.is_some(),
            "{:?} then silence: the connection is still open after {elapsed:?} (--header-timeout 1s, --idle-timeout 2s)",
            String::from_utf8_lossy(lead)
        );
        assert!(
            elapsed < Duration::from_secs(4),
            "{:?}: closed only after {elapsed:?}",
            String::from_utf8_lossy(lead)
        );
    }
    // A real request after an empty line is still served.
    let r = raw_request(
        &client,
        b"\r\nGET /after-blank HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        CLIENT_TIMEOUT,
    )
    .await;
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert_eq!(upstream.paths(), ["/after-blank"]);
}

// ---------------------------------------------------------------------------------------
// Date
// ---------------------------------------------------------------------------------------

/// RFC 9110 §6.6.1: a recipient with a clock that forwards a response without `Date`
/// appends one. hyper's server does (its answers always carry `date:`); the own server
/// wrote the upstream's head without it. A plain GET (own server) and a POST with a body
/// (hyper's server) get the same fields from an upstream that sends no `Date`, and an
/// upstream's own `Date` is passed on once, untouched.
#[tokio::test]
async fn answers_without_a_date_get_one_on_both_servers() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = ScriptedUpstream::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
    let cg = Certgate::start(&pki, &upstream.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);

    let plain = raw_request(
        &client,
        b"GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    let with_body = raw_request(
        &client,
        b"POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(upstream.heads().len(), 2, "{:?}", upstream.heads());
    for (what, r) in [("own server", &plain), ("hyper's server", &with_body)] {
        assert_eq!(r.status(), Some(200), "{what}: {}", r.text());
        let fields = answer_fields(&r.text());
        let dates: Vec<&String> = fields
            .iter()
            .filter(|(n, _)| n == "date")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(dates.len(), 1, "{what}: one Date field: {fields:?}");
        assert!(
            dates[0].ends_with(" GMT") && dates[0].len() == 29,
            "{what}: an IMF-fixdate: {:?}",
            dates[0]
        );
        assert!(r.text().ends_with("\r\n\r\nok"), "{what}: {}", r.text());
    }

    // An upstream's own Date is kept as it is, once.
    let dated = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let cg = Certgate::start(&pki, &dated.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let r = raw_request(
        &client,
        b"GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    let fields = answer_fields(&r.text());
    let dates: Vec<&(String, String)> = fields.iter().filter(|(n, _)| n == "date").collect();
    assert_eq!(
        dates,
        [&(
            "date".to_string(),
            "Sun, 06 Nov 1994 08:49:37 GMT".to_string()
        )],
        "{}",
        r.text()
    );
    assert_eq!(dated.heads().len(), 1);

    // certgate's own answers (502: the upstream refuses) carry one on both servers too.
    let cg = Certgate::start(&pki, &closed_port_url().await, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    for (what, request) in [
        (
            "own server",
            &b"GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        ),
        (
            "hyper's server",
            b"POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc",
        ),
    ] {
        let r = raw_request(&client, request, Duration::from_secs(2)).await;
        assert_eq!(r.status(), Some(502), "{what}: {}", r.text());
        let fields = answer_fields(&r.text());
        let dates = fields.iter().filter(|(n, _)| n == "date").count();
        assert_eq!(dates, 1, "{what}: one Date field: {fields:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Drain
// ---------------------------------------------------------------------------------------

/// On SIGTERM a request in flight is finished, and its answer is the connection's last:
/// RFC 9112 §9.6, a server that will close after an answer says `Connection: close` in it,
/// so that the client does not send its next request on a connection about to go (hyper's
/// server does so for a request it is serving when the drain begins). A request already
/// pipelined behind it is not served.
#[tokio::test]
async fn an_answer_in_flight_when_the_drain_begins_says_connection_close() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let pipelined =
        &b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\nGET /pipelined HTTP/1.1\r\nHost: localhost\r\n\r\n"[..];
    let with_body = b"POST /slow HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc";
    for (what, request, upstream_timeout, status) in [
        ("own server", pipelined, "5s", 200),
        ("own server, its 504", pipelined, "1s", 504),
        ("hyper's server", with_body, "5s", 200),
        ("hyper's server, its 504", with_body, "1s", 504),
    ] {
        let upstream = Upstream::start_with(UpstreamBehaviour {
            delay: Duration::from_millis(1500),
            ..UpstreamBehaviour::default()
        })
        .await;
        let mut flags = route_flags();
        flags.extend([
            "--shutdown-grace",
            "10s",
            "--upstream-timeout",
            upstream_timeout,
        ]);
        let cg = Certgate::start(&pki, &upstream.url, &flags).await;
        let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
        let mut tls = client.tls_connect().await.expect("TLS");
        tls.write_all(request).await.unwrap();
        tls.flush().await.unwrap();
        eventually(
            "the upstream to get the request",
            CLIENT_TIMEOUT,
            || async { upstream.count() == 1 },
        )
        .await;
        cg.signal("TERM");
        let got = read_until_closed(&mut tls, Duration::from_secs(8))
            .await
            .unwrap_or_else(|| panic!("{what}: the connection stays open during the drain"));
        let text = String::from_utf8_lossy(&got).into_owned();
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {text}"
        );
        if status == 200 {
            assert!(text.ends_with("upstream-ok"), "{what}: {text}");
        }
        let fields = answer_fields(&text);
        assert!(
            fields
                .iter()
                .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close")),
            "{what}: the last answer says Connection: close: {fields:?}"
        );
        assert_eq!(upstream.paths(), ["/slow"], "{what}");
    }
}

// ---------------------------------------------------------------------------------------
// A client that leaves while its request waits for the upstream
// ---------------------------------------------------------------------------------------

/// An upstream that reads one request head per connection, then waits `hold` before it
/// answers, and notes whether certgate closed the connection meanwhile.
struct HoldingUpstream {
    url: String,
    /// Per connection: the time from its request head to certgate closing it, if it did
    /// before the answer was due.
    closed_after: Arc<Mutex<Vec<Option<Duration>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HoldingUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HoldingUpstream {
    async fn start(hold: Duration) -> HoldingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let closed_after = Arc::new(Mutex::new(Vec::new()));
        let seen = closed_after.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let i = {
                        let mut s = seen.lock().unwrap();
                        s.push(None);
                        s.len() - 1
                    };
                    let start = Instant::now();
                    // Whatever else certgate sends (a body) is read; EOF is noted.
                    let closed = tokio::time::timeout(hold, async {
                        loop {
                            match sock.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) => {}
                            }
                        }
                    })
                    .await
                    .is_ok();
                    if closed {
                        seen.lock().unwrap()[i] = Some(start.elapsed());
                        return;
                    }
                    let _ = sock
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                });
            }
        });
        HoldingUpstream {
            url,
            closed_after,
            task,
        }
    }
}

/// A client that sends a request and goes away (close_notify and FIN) before the answer
/// is no longer waited for: hyper's server notices the end of the stream while the request
/// is in flight and drops it, which closes the upstream connection too. The own server
/// went on waiting for the upstream (up to --upstream-timeout), holding the client's
/// connection slot and an upstream connection for a client that was gone: a client could
/// hold slots without holding sockets.
#[tokio::test]
async fn a_client_that_leaves_while_waiting_frees_its_upstream_connection() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = HoldingUpstream::start(Duration::from_secs(6)).await;
    let mut flags = route_flags();
    flags.extend(["--upstream-timeout", "30s"]);
    let cg = Certgate::start_with_admin(&pki, &upstream.url, &flags).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let requests: [(&str, &[u8]); 2] = [
        (
            "own server",
            b"GET /wait HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "hyper's server",
            b"POST /wait HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc",
        ),
    ];
    for (i, (what, request)) in requests.into_iter().enumerate() {
        let mut tls = client.tls_connect().await.expect("TLS");
        tls.write_all(request).await.unwrap();
        tls.flush().await.unwrap();
        eventually(
            "the upstream to get the request",
            CLIENT_TIMEOUT,
            || async { upstream.closed_after.lock().unwrap().len() == i + 1 },
        )
        .await;
        // The client goes: close_notify, FIN, socket gone.
        let _ = tls.shutdown().await;
        drop(tls);
        let started = Instant::now();
        eventually(
            &format!("{what}: certgate to close the upstream connection of a client that left"),
            Duration::from_secs(4),
            || async { upstream.closed_after.lock().unwrap()[i].is_some() },
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(4), "{what}");
        // Its request still has its access line: 499, the client's doing, not an upstream
        // error.
        let method = if i == 0 { "method=GET" } else { "method=POST" };
        let line = cg
            .wait_for_log_where(&format!("{what}: the access line of the request"), |l| {
                l.contains("request") && l.contains("decision=") && l.contains(method)
            })
            .await;
        assert!(
            line.contains("status=499")
                && line.contains("decision=allowed")
                && line.contains("client closed its connection"),
            "{what}: {line}"
        );
    }
    let m = http_get(cg.admin_addr().await, "/metrics")
        .await
        .expect("GET /metrics")
        .1;
    let counted = |name, labels: &[(&str, &str)]| metric_value(&m, name, labels).unwrap_or(0.0);
    assert_eq!(
        counted(
            "certgate_requests_total",
            &[("status", "499"), ("decision", "allowed")]
        ),
        2.0,
        "both requests counted as 499:\n{m}"
    );
    assert_eq!(
        counted("certgate_upstream_errors_total", &[]),
        0.0,
        "a client that left is not an upstream error:\n{m}"
    );
}

/// An HTTP/2 client that resets its stream while the request waits for the upstream
/// (hyper's client sends RST_STREAM(CANCEL) when the response is no longer awaited): the
/// request goes, its upstream connection with it, and it still has its access line (499),
/// while the connection stays open for the next stream.
#[tokio::test]
async fn an_h2_stream_reset_while_waiting_is_logged_as_499_and_frees_its_upstream_connection() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = HoldingUpstream::start(Duration::from_secs(6)).await;
    let mut flags = route_flags();
    flags.extend(["--upstream-timeout", "30s"]);
    let cg = Certgate::start(&pki, &upstream.url, &flags).await;
    let mut conn = cg
        .client(&pki)
        .cert(&leaf)
        .alpn(Alpn::H2)
        .connect()
        .await
        .expect("h2 connection");
    // Dropped once the upstream holds it: RST_STREAM(CANCEL).
    until_held(conn.get("/wait"), &upstream, 1).await;
    eventually(
        "certgate to close the upstream connection of the reset stream",
        Duration::from_secs(4),
        || async { upstream.closed_after.lock().unwrap()[0].is_some() },
    )
    .await;
    let line = cg
        .wait_for_log_where("the reset stream's access line", |l| {
            l.contains("request") && l.contains("decision=")
        })
        .await;
    assert!(
        line.contains("status=499") && line.contains("decision=allowed"),
        "{line}"
    );
    // The connection itself goes on: a next stream is served (the upstream holds it, so
    // only its arrival is checked).
    until_held(conn.get("/next"), &upstream, 2).await;
}

/// Drive `request` until the upstream holds `n` requests in all, then drop it; panics if
/// it is answered first (the upstream holds every request it gets).
async fn until_held<R>(
    request: impl std::future::Future<Output = R>,
    upstream: &HoldingUpstream,
    n: usize,
) {
    tokio::pin!(request);
    let what = format!("the upstream to hold {n} request(s)");
    let arrived = eventually(&what, CLIENT_TIMEOUT, || async {
        upstream.closed_after.lock().unwrap().len() == n
    });
    tokio::select! {
        _ = &mut request => panic!("answered while the upstream holds it"),
        () = arrived => {}
    }
}

/// What a client sends while its request waits for the upstream (its next requests) is
/// kept, in order, behind what it had already pipelined: watching for a client that leaves
/// must not lose or reorder a byte.
#[tokio::test]
async fn requests_sent_while_one_waits_are_served_in_order() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = Upstream::start_with(UpstreamBehaviour {
        delay: Duration::from_millis(300),
        ..UpstreamBehaviour::default()
    })
    .await;
    let cg = Certgate::start(&pki, &upstream.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let mut tls = client.tls_connect().await.expect("TLS");
    tls.write_all(
        b"GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nGET /2 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    eventually("the upstream to get /1", CLIENT_TIMEOUT, || async {
        upstream.count() == 1
    })
    .await;
    // While /1 waits: a whole request, a request with a body (hyper's), and the start of one.
    tls.write_all(
        b"GET /3 HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /4 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhiGET /5 HTTP/1.1\r\nHo",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tls.write_all(b"st: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let got = read_until_closed(&mut tls, Duration::from_secs(10))
        .await
        .expect("the connection closes after /5 (Connection: close)");
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 5, "{text}");
    assert_eq!(upstream.paths(), ["/1", "/2", "/3", "/4", "/5"]);
    assert_eq!(upstream.requests()[3].body, b"hi");
}

// ---------------------------------------------------------------------------------------
// Connection-named fields
// ---------------------------------------------------------------------------------------

/// A field the client names in `Connection` is not forwarded (RFC 9110 §7.6.1), `Host`
/// included; but an HTTP/1.1 request without `Host` is invalid (RFC 9112 §3.2), so the
/// upstream gets the one certgate uses for requests that come without one (the upstream's
/// authority), on both servers. The own server sent the upstream a request with no `Host`
/// at all.
#[tokio::test]
async fn a_host_named_in_connection_is_replaced_not_dropped() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let authority = upstream.url.trim_start_matches("http://").to_string();
    let requests: [(&str, &[u8]); 2] = [
        (
            "own server",
            b"GET /own HTTP/1.1\r\nHost: app.example\r\nConnection: host, x-drop\r\nX-Drop: 1\r\nX-Keep: 2\r\n\r\n",
        ),
        (
            "hyper's server",
            b"POST /hyper HTTP/1.1\r\nHost: app.example\r\nConnection: host, x-drop\r\nX-Drop: 1\r\nX-Keep: 2\r\nContent-Length: 2\r\n\r\nhi",
        ),
    ];
    for (i, (what, request)) in requests.into_iter().enumerate() {
        let r = raw_request(&client, request, Duration::from_secs(2)).await;
        assert_eq!(r.status(), Some(200), "{what}: {}", r.text());
        let seen = &upstream.requests()[i];
        assert_eq!(
            seen.one("host"),
            Some(authority.as_str()),
            "{what}: {seen:#?}"
        );
        assert_eq!(seen.one("x-drop"), None, "{what}");
        assert_eq!(seen.one("x-keep"), Some("2"), "{what}");
        assert_eq!(seen.one("connection"), None, "{what}");
    }
}

// ---------------------------------------------------------------------------------------
// Content-Length spellings at the own server's door
// ---------------------------------------------------------------------------------------

/// Only `Content-Length: 0` (white space around it aside) makes a request plain; every
/// other spelling goes to hyper's server, which reads `00` as 0 and refuses a sign or a
/// list (RFC 9110 §8.6: 400, connection closed, nothing forwarded). Either way the bytes
/// after the head are the next request, read as such by both servers and the upstream,
/// which always gets `content-length: 0` for the first.
#[tokio::test]
async fn content_length_zero_spellings_are_read_the_same_on_both_servers() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let cases: [(&str, u16); 8] = [
        ("0", 200),
        ("  0\t", 200),
        ("00", 200),
        ("+0", 400),
        ("-0", 400),
        ("0,0", 400),
        ("0, 0", 400),
        ("0x0", 400),
    ];
    for (value, status) in cases {
        let before = upstream.count();
        let request = format!(
            "GET /cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: {value}\r\n\r\nGET /next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        );
        let r = raw_request(&client, request.as_bytes(), CLIENT_TIMEOUT).await;
        assert_eq!(
            r.status(),
            Some(status),
            "Content-Length {value:?}: {}",
            r.text()
        );
        assert!(r.closed, "Content-Length {value:?}: the connection ends");
        let seen = &upstream.requests()[before..];
        if status == 200 {
            assert_eq!(
                r.text().matches("HTTP/1.1 200 OK").count(),
                2,
                "Content-Length {value:?}: {}",
                r.text()
            );
            let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
            assert_eq!(paths, ["/cl", "/next"], "Content-Length {value:?}");
            assert_eq!(seen[0].one("content-length"), Some("0"), "{value:?}");
            assert!(seen[0].body.is_empty(), "{value:?}");
        } else {
            assert!(
                seen.is_empty(),
                "Content-Length {value:?}: forwarded {seen:#?}"
            );
            assert_eq!(r.text().matches("HTTP/1.1").count(), 1, "{}", r.text());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The smuggling guard's request index across both servers
// ---------------------------------------------------------------------------------------

/// The framing guard numbers request heads as they arrive; hyper's pipeline looks its
/// request up by the count of requests served so far, which the own server adds to. With
/// the two servers taking turns on one connection (own, hyper, park, own), the request
/// that carries both Content-Length and Transfer-Encoding is still the one refused (400,
/// closed, not forwarded), and no other.
#[tokio::test]
async fn the_smuggling_guard_counts_requests_of_both_servers() {
    let pki = Pki::new();
    let leaf = pki.client("client", ClientSpec::cn_only("client"));
    let upstream = Upstream::start().await;
    let cg = Certgate::start(&pki, &upstream.url, &route_flags()).await;
    let client = cg.client(&pki).cert(&leaf).alpn(Alpn::Http1);
    let mut tls = client.tls_connect().await.expect("TLS");
    // Own server, then hyper's (a body).
    tls.write_all(
        b"GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    while String::from_utf8_lossy(&got).matches("upstream-ok").count() < 2 {
        let n = tokio::time::timeout(CLIENT_TIMEOUT, tls.read(&mut buf))
            .await
            .expect("answers to /1 and /2")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    // Long enough for hyper's connection to park: the own server takes the next bytes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tls.write_all(
        b"GET /3 HTTP/1.1\r\nHost: localhost\r\n\r\nPOST /4 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let rest = read_until_closed(&mut tls, CLIENT_TIMEOUT)
        .await
        .expect("the connection closes after the 400");
    got.extend_from_slice(&rest);
    let text = String::from_utf8_lossy(&got);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "200", "400"], "{text}");
    assert_eq!(upstream.paths(), ["/1", "/2", "/3"]);
}
