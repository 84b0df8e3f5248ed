//! Operating certgate: the admin server (`/healthz`, `/readyz`, `/metrics`), the timeouts and
//! limits of `certgate run`, upstream failures (502/504), graceful drain on SIGTERM, and the
//! rejected-handshake log line an operator reads.

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use support::*;

// ---------------------------------------------------------------------------------------
// Local helpers
// ---------------------------------------------------------------------------------------

/// `certgate run` with the admin server on an ephemeral port, routes `hooks=/webhooks`
/// (any verified certificate) and `admin=/admin` (only `CN=admin`), plus `extra`.
async fn start_with_admin(pki: &Pki, upstream: &str, extra: &[&str]) -> (Certgate, SocketAddr) {
    let mut args: Vec<String> = pki
        .base_args()
        .into_iter()
        .map(|a| if a == "off" { "127.0.0.1:0".into() } else { a })
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w[0] == "--admin-listen" && w[1] == "127.0.0.1:0"),
        "base_args changed shape: {args:?}"
    );
    for a in [
        "--upstream",
        upstream,
        "--route",
        "hooks=/webhooks",
        "--allow",
        "hooks=any",
        "--route",
        "admin=/admin",
        "--allow",
        "admin=cn:admin",
    ] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let cg = Certgate::start_args(&args, &[]).await;
    let admin = cg.admin_addr().await;
    (cg, admin)
}

/// One Prometheus series: metric name and label set.
type Labels = BTreeMap<String, String>;

/// A parsed `/metrics` scrape.
#[derive(Debug, Default)]
struct Metrics {
    series: Vec<(String, Labels, f64)>,
}

impl Metrics {
    /// Parses the Prometheus / OpenMetrics text format: `name{k="v",...} value [ts]`.
    fn parse(text: &str) -> Metrics {
        let mut series = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let name = line[..name_end].to_string();
            let mut labels = Labels::new();
            let mut rest = &line[name_end..];
            if let Some(r) = rest.strip_prefix('{') {
                let mut chars = r.char_indices().peekable();
                let end = loop {
                    while chars.next_if(|(_, c)| *c == ',' || *c == ' ').is_some() {}
                    let Some((i, c)) = chars.next() else {
                        panic!("unterminated label set in {line:?}")
                    };
                    if c == '}' {
                        break i + 1;
                    }
                    let mut key = String::from(c);
                    for (_, c) in chars.by_ref() {
                        if c == '=' {
                            break;
                        }
                        key.push(c);
                    }
                    assert_eq!(chars.next().map(|x| x.1), Some('"'), "in {line:?}");
                    let mut value = String::new();
                    while let Some((_, c)) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => match chars.next().map(|x| x.1) {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => panic!("dangling escape in {line:?}"),
                            },
                            c => value.push(c),
                        }
                    }
                    labels.insert(key.trim().to_string(), value);
                };
                rest = &r[end..];
            }
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
            series.push((name, labels, value));
        }
        Metrics { series }
    }

    /// Sum of every series named `name` whose labels include all of `want` (0 when none).
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.series
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }

    fn has(&self, name: &str) -> bool {
        self.series.iter().any(|(n, _, _)| n == name)
    }
}

async fn scrape(admin: SocketAddr) -> Metrics {
    let (status, body) = http_get(admin, "/metrics")
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    assert_eq!(status, 200, "/metrics answered {status}: {body}");
    Metrics::parse(&body)
}

/// Polls `/metrics` until `pred` holds; panics with the last scrape after `timeout`.
async fn metrics_until(
    admin: SocketAddr,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let deadline = Instant::now() + timeout;
    loop {
        let m = scrape(admin).await;
        if pred(&m) {
            return m;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for metrics: {what}; last scrape: {m:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads from `stream` until EOF or an error (reset); returns how long that took, or None if
/// the connection was still open after `limit`.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// The soft `Max open files` limit of this process (children inherit it).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A minimal upstream on an already bound listener, answering 200 `late-upstream` and
/// recording paths (the shared `Upstream` binds only port 0).
fn serve_on(listener: TcpListener) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    seen.lock().unwrap().push(req.uri().path().to_string());
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"late-upstream",
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (paths, task)
}

// ---------------------------------------------------------------------------------------
// Admin server
// ---------------------------------------------------------------------------------------

#[test]
fn metrics_parser_reads_names_labels_and_escapes() {
    let m = Metrics::parse(
        "# HELP x_total help\n# TYPE x_total counter\n\
         x_total{a=\"1\",b=\"q\\\"uote, \\\\ {}\"} 3\n\
         x_total{a=\"2\"} 4.5\n\
         g 7\n\
         h_bucket{le=\"+Inf\"} 2 1700000000\n# EOF\n",
    );
    assert_eq!(m.sum("x_total", &[]), 7.5);
    assert_eq!(m.sum("x_total", &[("b", "q\"uote, \\ {}")]), 3.0);
    assert_eq!(m.sum("x_total", &[("a", "2")]), 4.5);
    assert_eq!(m.sum("g", &[]), 7.0);
    assert_eq!(m.sum("h_bucket", &[("le", "+Inf")]), 2.0);
    assert_eq!(m.sum("missing", &[]), 0.0);
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_while_serving() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &[]).await;

    let (health, _) = http_get(admin, "/healthz").await.unwrap();
    assert_eq!(health, 200);
    // certgate logs `listening addr=` a moment before its accept loop marks it ready, so
    // readiness is polled, as a Kubernetes probe would.
    eventually("/readyz answers 200", LOG_TIMEOUT, || async {
        matches!(http_get(admin, "/readyz").await, Ok((200, _)))
    })
    .await;

    // And the proxy really is serving.
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/x")
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(upstream.paths(), ["/webhooks/x"]);
}

#[tokio::test]
async fn metrics_count_allowed_denied_and_rejected_handshakes() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &[]).await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let rogue_ca = pki.other_ca("Rogue CA");
    let rogue = rogue_ca.issue("rogue", ClientSpec::cn_only("rogue"));

    let before = scrape(admin).await;
    for family in [
        "certgate_connections_active",
        "certgate_cert_expiry_timestamp_seconds",
    ] {
        assert!(before.has(family), "{family} missing: {before:#?}");
    }

    let allowed = cg.client(&pki).cert(&sender).get("/webhooks/a").await;
    assert_eq!(allowed.unwrap().status, 200);
    let denied = cg.client(&pki).cert(&sender).get("/admin/a").await;
    assert_eq!(denied.unwrap().status, 403);
    let no_cert = cg.client(&pki).get("/webhooks/b").await;
    assert!(
        no_cert.as_ref().is_err_and(ClientError::is_tls_refusal),
        "no certificate: {no_cert:?}"
    );
    let unknown = cg.client(&pki).cert(&rogue).get("/webhooks/c").await;
    assert!(
        unknown.as_ref().is_err_and(ClientError::is_tls_refusal),
        "unknown CA: {unknown:?}"
    );
    assert_eq!(upstream.paths(), ["/webhooks/a"]);

    let hs = |m: &Metrics, result: &str| {
        m.sum("certgate_handshakes_total", &[("result", result)])
            - before.sum("certgate_handshakes_total", &[("result", result)])
    };
    // The server may count a refusal just after the client has given up: poll.
    let after = metrics_until(
        admin,
        "no_cert and unknown_issuer counted",
        LOG_TIMEOUT,
        |m| hs(m, "no_cert") >= 1.0 && hs(m, "unknown_issuer") >= 1.0,
    )
    .await;

    assert_eq!(hs(&after, "ok"), 2.0, "two successful handshakes");
    assert_eq!(hs(&after, "no_cert"), 1.0);
    assert_eq!(hs(&after, "unknown_issuer"), 1.0);
    let req = |m: &Metrics, route: &str, decision: &str, status: &str| {
        let l = [("route", route), ("decision", decision), ("status", status)];
        m.sum("certgate_requests_total", &l) - before.sum("certgate_requests_total", &l)
    };
    assert_eq!(req(&after, "hooks", "allowed", "200"), 1.0);
    assert_eq!(req(&after, "admin", "denied", "403"), 1.0);
    assert_eq!(
        after.sum("certgate_requests_total", &[]) - before.sum("certgate_requests_total", &[]),
        2.0,
        "only the two requests that got past TLS are counted"
    );
    let count = |m: &Metrics| {
        m.sum(
            "certgate_request_duration_seconds_count",
            &[("route", "hooks")],
        )
    };
    assert_eq!(count(&after) - count(&before), 1.0, "histogram observed it");
}

#[tokio::test]
async fn unknown_ca_rejection_log_names_the_issuer() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, _admin) = start_with_admin(&pki, &upstream.url, &[]).await;
    let rogue_ca = pki.other_ca("Rogue CA");
    let rogue = rogue_ca.issue("rogue", ClientSpec::cn_only("rogue-client"));
    let issuer = rogue_ca.subject_rfc4514();
    assert_eq!(issuer, "CN=Rogue CA,O=Certgate Test,C=US");

    let res = cg.client(&pki).cert(&rogue).get("/webhooks/a").await;
    assert!(
        res.as_ref().is_err_and(ClientError::is_tls_refusal),
        "{res:?}"
    );

    let line = cg
        .wait_for_log_where("rejecting the rogue client's handshake", |l| {
            l.contains("TLS handshake rejected") && l.contains("rogue-client")
        })
        .await;
    let reason = format!("unknown issuer {issuer}");
    assert!(
        line.contains(&reason),
        "the reason should name the issuer ({reason:?}): {line}"
    );
    assert!(
        line.contains("CN=rogue-client"),
        "presented subject: {line}"
    );
    upstream.assert_nothing("rogue client");
}

// ---------------------------------------------------------------------------------------
// Timeouts and limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn stalled_half_handshake_is_closed_after_handshake_timeout() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &["--handshake-timeout", "1s"]).await;

    let mut tcp = TcpStream::connect(cg.addr).await.unwrap();
    // The first bytes of a TLS record carrying a ClientHello that announces 512 bytes.
    tcp.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .await
    .unwrap();

    let closed_after = time_until_closed(&mut tcp, Duration::from_secs(3))
        .await
        .expect("the stalled handshake is still open 3 s later (--handshake-timeout 1s)");
    assert!(
        closed_after >= Duration::from_millis(800),
        "closed after {closed_after:?}: sooner than the timeout, so not by it"
    );
    metrics_until(admin, "handshakes{result=timeout} >= 1", LOG_TIMEOUT, |m| {
        m.sum("certgate_handshakes_total", &[("result", "timeout")]) >= 1.0
    })
    .await;
    upstream.assert_nothing("stalled handshake");
}

#[tokio::test]
async fn stalled_connections_do_not_starve_a_good_client() {
    // 1,000 stalled sockets here and as many accepted ones in certgate (a separate process
    // with the same inherited limit), plus some headroom for each process's own files.
    let want = 1000u64;
    let n = match open_files_limit() {
        Some(limit) if limit < want + 256 => {
            eprintln!("open-files limit {limit} is low: scaling down from {want} connections");
            limit.saturating_sub(256).max(50)
        }
        _ => want,
    } as usize;
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    // A long handshake timeout: the stalled sockets stay open until this test closes them.
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &["--handshake-timeout", "60s"]).await;

    let mut stalled = Vec::with_capacity(n);
    for i in 0..n {
        let tcp = tokio::time::timeout(CLIENT_TIMEOUT, TcpStream::connect(cg.addr))
            .await
            .unwrap_or_else(|_| panic!("connect #{i} timed out"))
            .unwrap_or_else(|e| panic!("connect #{i}: {e}"));
        stalled.push(tcp);
    }
    metrics_until(
        admin,
        &format!("connections_active >= {n}"),
        LOG_TIMEOUT,
        |m| m.sum("certgate_connections_active", &[]) >= n as f64,
    )
    .await;

    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let resp = cg.client(&pki).cert(&leaf).get("/webhooks/busy").await;
    assert_eq!(resp.unwrap().status, 200);
    assert_eq!(upstream.paths(), ["/webhooks/busy"]);

    drop(stalled);
    metrics_until(admin, "connections_active == 0", LOG_TIMEOUT, |m| {
        m.sum("certgate_connections_active", &[]) == 0.0
    })
    .await;
}

#[tokio::test]
async fn oversized_request_headers_get_431_and_never_reach_the_upstream() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, _admin) = start_with_admin(&pki, &upstream.url, &["--max-header-bytes", "1024"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let big = "a".repeat(4096);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/big", &[("x-big", big.as_str())])
        .await
        .unwrap();

    assert_eq!(resp.status, 431);
    upstream.assert_nothing("oversized headers");
    // A request under the limit on the same settings still goes through.
    let ok = cg.client(&pki).cert(&leaf).get("/webhooks/small").await;
    assert_eq!(ok.unwrap().status, 200);
    assert_eq!(upstream.paths(), ["/webhooks/small"]);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, _admin) = start_with_admin(&pki, &upstream.url, &["--idle-timeout", "1s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);

    let start = Instant::now();
    let raw = raw_request(
        &client,
        b"GET /webhooks/idle HTTP/1.1\r\nHost: localhost\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    let elapsed = start.elapsed();

    assert_eq!(raw.status(), Some(200), "{}", raw.text());
    assert!(raw.closed, "keep-alive connection still open after 5 s");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed <= Duration::from_secs(3),
        "closed after {elapsed:?}, expected about 1 s (--idle-timeout 1s)"
    );
    assert_eq!(upstream.paths(), ["/webhooks/idle"]);
}

#[tokio::test]
async fn request_headers_slower_than_header_timeout_are_cut_off() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, _admin) = start_with_admin(&pki, &upstream.url, &["--header-timeout", "1s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);

    // Half a header block, then nothing: no blank line ever arrives.
    let start = Instant::now();
    let raw = raw_request(
        &client,
        b"GET /webhooks/slowloris HTTP/1.1\r\nHost: localhost\r\nX-Partial: ",
        Duration::from_secs(5),
    )
    .await;
    let elapsed = start.elapsed();

    assert!(
        raw.closed,
        "connection still open after 5 s: {:?}",
        raw.text()
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed <= Duration::from_secs(3),
        "closed after {elapsed:?}, expected about 1 s (--header-timeout 1s)"
    );
    // Closing silently or with a 408 are both fine; forwarding is not.
    assert!(
        matches!(raw.status(), None | Some(408)),
        "unexpected answer: {}",
        raw.text()
    );
    upstream.assert_nothing("incomplete request headers");
}

#[tokio::test]
async fn connections_past_max_connections_wait_for_a_slot() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &["--max-connections", "1"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let mut first = cg.client(&pki).cert(&leaf).connect().await.unwrap();
    assert_eq!(first.get("/webhooks/first").await.unwrap().status, 200);

    let client = cg.client(&pki).cert(&leaf);
    let mut second = tokio::spawn(async move { client.get("/webhooks/second").await });
    // A negative check needs a pause: the second connection must not be served meanwhile.
    let early = tokio::time::timeout(Duration::from_millis(700), &mut second).await;
    assert!(early.is_err(), "served past --max-connections 1: {early:?}");
    assert_eq!(upstream.paths(), ["/webhooks/first"]);
    let m = scrape(admin).await;
    assert_eq!(m.sum("certgate_connections_active", &[]), 1.0);

    drop(first);
    let resp = tokio::time::timeout(CLIENT_TIMEOUT, second)
        .await
        .expect("the waiting connection was not served after the slot freed")
        .unwrap();
    assert_eq!(resp.unwrap().status, 200);
    assert_eq!(upstream.paths(), ["/webhooks/first", "/webhooks/second"]);
}

// ---------------------------------------------------------------------------------------
// Upstream failures
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn dead_upstream_gives_502_until_it_comes_up() {
    let pki = Pki::new();
    let url = closed_port_url().await;
    let port_addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let (cg, admin) = start_with_admin(&pki, &url, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let resp = cg.client(&pki).cert(&leaf).get("/webhooks/a").await;
    assert_eq!(resp.unwrap().status, 502);
    metrics_until(
        admin,
        "upstream_errors{kind=connect} >= 1",
        LOG_TIMEOUT,
        |m| {
            m.sum(
                "certgate_upstream_errors_total",
                &[("route", "hooks"), ("kind", "connect")],
            ) >= 1.0
        },
    )
    .await;

    let listener = TcpListener::bind(port_addr)
        .await
        .unwrap_or_else(|e| panic!("re-bind the upstream port {port_addr}: {e}"));
    let (paths, task) = serve_on(listener);
    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/b")
        .await
        .unwrap();
    task.abort();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "late-upstream");
    assert_eq!(*paths.lock().unwrap(), ["/webhooks/b"]);
}

#[tokio::test]
async fn slow_upstream_gives_504_after_upstream_timeout() {
    let pki = Pki::new();
    let upstream = Upstream::start_with(UpstreamBehaviour {
        delay: Duration::from_secs(3),
        ..Default::default()
    })
    .await;
    let (cg, admin) = start_with_admin(&pki, &upstream.url, &["--upstream-timeout", "500ms"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let start = Instant::now();
    let resp = cg.client(&pki).cert(&leaf).get("/webhooks/slow").await;
    let elapsed = start.elapsed();

    assert_eq!(resp.unwrap().status, 504);
    assert!(
        elapsed < Duration::from_millis(2500),
        "504 took {elapsed:?}: not cut at --upstream-timeout 500ms"
    );
    assert_eq!(upstream.paths(), ["/webhooks/slow"]);
    metrics_until(
        admin,
        "upstream_errors{kind=timeout} >= 1",
        LOG_TIMEOUT,
        |m| m.sum("certgate_upstream_errors_total", &[("kind", "timeout")]) >= 1.0,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sigterm_drains_in_flight_request_and_exits_zero() {
    let pki = Pki::new();
    let upstream = Upstream::start_with(UpstreamBehaviour {
        delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let (mut cg, admin) = start_with_admin(&pki, &upstream.url, &["--shutdown-grace", "20s"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let addr = cg.addr;
    eventually(
        "/readyz answers 200 before SIGTERM",
        LOG_TIMEOUT,
        || async { matches!(http_get(admin, "/readyz").await, Ok((200, _))) },
    )
    .await;

    let client = cg.client(&pki).cert(&leaf);
    let in_flight = tokio::spawn(async move { client.get("/webhooks/slow").await });
    eventually("the upstream holds the request", CLIENT_TIMEOUT, || async {
        upstream.count() == 1
    })
    .await;

    cg.signal("TERM");
    let signalled = Instant::now();

    // Readiness flips at once (best effort: the admin server may itself be gone shortly).
    let mut ready_503 = false;
    while signalled.elapsed() < Duration::from_secs(1) {
        if let Ok((503, _)) = http_get(admin, "/readyz").await {
            ready_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready_503, "/readyz never answered 503 after SIGTERM");

    // The listener closes: new connections are refused while the old one drains.
    eventually(
        "new connections refused",
        Duration::from_secs(2),
        || async {
            matches!(
                TcpStream::connect(addr).await,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
            )
        },
    )
    .await;

    let resp = tokio::time::timeout(CLIENT_TIMEOUT, in_flight)
        .await
        .expect("in-flight request did not finish")
        .unwrap();
    let resp = resp.expect("in-flight request failed during the drain");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let answered = Instant::now();

    let status = cg
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("certgate still running 5 s after its last request finished");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "exit {:?} after SIGTERM, {:?} after the last response: it waited for the grace",
        signalled.elapsed(),
        answered.elapsed()
    );
    assert_eq!(upstream.paths(), ["/webhooks/slow"]);
}
