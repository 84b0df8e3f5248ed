//! Connection slots cannot be held by clients that stop talking or stop reading
//! (`--send-timeout`, issue 11 points 2 and 3):
//! - a silent HTTP/2 connection (preface and SETTINGS, then nothing) that never answers the
//!   GOAWAY/PING certgate sends at `--idle-timeout` is closed within `--send-timeout`;
//! - a client that stops reading a large response (HTTP/1: its socket fills; HTTP/2: it
//!   grants no flow-control window) loses its connection after `--send-timeout` without
//!   progress, and the upstream connection that fed the response is closed too;
//! - in both cases a legitimate client is served within a few seconds although every slot
//!   (`--max-connections 3`) was taken, while the attackers still hold their sockets;
//! - an upstream that is slow between two chunks is not the client's fault: nothing is cut.
//!
//! The timeouts are set through `CERTGATE_SEND_TIMEOUT` (the contract's environment form), so
//! a binary without the setting starts and shows the behaviour these tests refuse.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a legitimate client may wait for its answer while attackers hold every slot:
/// the attackers are cut after about 1 s (idle) + 1 s (send timeout); the rest is slack for
/// a loaded machine.
const SERVED_WITHIN: Duration = Duration::from_secs(8);

const SEND_TIMEOUT_ENV: (&str, &str) = ("CERTGATE_SEND_TIMEOUT", "1s");

/// `certgate run` with `extra` flags and `--send-timeout 1s` from the environment.
async fn start(pki: &Pki, upstream: &str, extra: &[&str]) -> Certgate {
    let mut args = pki.base_args();
    args.extend(["--upstream".to_string(), upstream.to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    Certgate::start_args(&args, &[SEND_TIMEOUT_ENV]).await
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame on stream 0.
const H2_EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
const H2_GOAWAY: u8 = 0x7;

/// Frame types in `bytes` (a server's HTTP/2 byte stream, possibly cut short).
fn h2_frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        types.push(rest[3]);
        if rest.len() < 9 + len {
            break;
        }
        rest = &rest[9 + len..];
    }
    types
}

/// A silent HTTP/2 client: TLS (ALPN h2), the connection preface and an empty SETTINGS
/// frame, then nothing, not even reading.
async fn silent_h2(client: &Client) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut tls = client
        .clone()
        .h2()
        .tls_connect()
        .await
        .expect("attacker TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(H2_PREFACE).await.unwrap();
    tls.write_all(H2_EMPTY_SETTINGS).await.unwrap();
    tls.flush().await.unwrap();
    tls
}

/// Three silent HTTP/2 connections take every slot; a legitimate request is served within a
/// few seconds anyway, and each silent connection has been sent a GOAWAY and closed.
async fn silent_h2_connections_release_their_slots(
    pki: &Pki,
    extra: &[&str],
    attacker_cert: Option<&Leaf>,
    legit_cert: Option<&Leaf>,
) {
    let upstream = Upstream::start().await;
    let mut flags = vec!["--max-connections", "3", "--idle-timeout", "1s"];
    flags.extend_from_slice(extra);
    let cg = start(pki, &upstream.url, &flags).await;
    let with = |cert: Option<&Leaf>| match cert {
        Some(l) => cg.client(pki).cert(l),
        None => cg.client(pki),
    };
    let attacker = with(attacker_cert);
    let legit = with(legit_cert).h2();

    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(silent_h2(&attacker).await);
    }

    let t0 = Instant::now();
    let resp = tokio::time::timeout(SERVED_WITHIN, legit.get("/legit"))
        .await
        .unwrap_or_else(|_| {
            panic!("a legitimate client was not served within {SERVED_WITHIN:?} while three silent HTTP/2 connections held the slots")
        })
        .expect("legitimate request");
    assert_eq!(
        resp.status,
        200,
        "legitimate client after {:?}",
        t0.elapsed()
    );
    eprintln!(
        "legitimate client served after {:?} (three silent HTTP/2 connections held the slots)",
        t0.elapsed()
    );
    assert_eq!(
        upstream.paths(),
        ["/legit"],
        "only the legitimate request reached the upstream"
    );

    // The attackers never closed anything; certgate did, after its GOAWAY.
    for (i, s) in silent.iter_mut().enumerate() {
        let got = read_until_closed(s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("silent HTTP/2 connection {i} is still open"));
        assert!(
            h2_frame_types(&got).contains(&H2_GOAWAY),
            "silent connection {i} was closed without a GOAWAY first: frame types {:?}",
            h2_frame_types(&got)
        );
    }
}

#[tokio::test]
async fn silent_http2_connections_with_a_certificate_are_closed_and_a_legitimate_client_is_served()
{
    let pki = Pki::new();
    // Any certificate of the CA will do for the attacker, allowed by a route or not.
    let attacker = pki.client("attacker", ClientSpec::cn_only("attacker"));
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    silent_h2_connections_release_their_slots(
        &pki,
        &["--route", "app=/", "--allow", "app=cn:sender"],
        Some(&attacker),
        Some(&sender),
    )
    .await;
}

#[tokio::test]
async fn silent_http2_connections_without_a_certificate_are_closed_in_optional_mode() {
    let pki = Pki::new();
    silent_h2_connections_release_their_slots(
        &pki,
        &[
            "--client-auth",
            "optional",
            "--route",
            "pub=/",
            "--allow",
            "pub=public",
        ],
        None,
        None,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Slow readers
// ---------------------------------------------------------------------------------------

/// Bytes of `/big`: far more than every buffer between the upstream and a client.
const BIG: usize = 64 * 1024 * 1024;

/// An HTTP/1.1 upstream: `/big` streams `BIG` bytes (and counts the connections busy doing
/// so), `/slow` sends a chunk, pauses 2.5 s, sends another, anything else answers `small`.
struct BigUpstream {
    url: String,
    /// `/big` responses being written right now (the upstream side of a held slot).
    streaming: Arc<AtomicUsize>,
    /// `/big` requests received.
    big_requests: Arc<AtomicUsize>,
    /// Other requests received.
    other_requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BigUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl BigUpstream {
    async fn start() -> BigUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let streaming = Arc::new(AtomicUsize::new(0));
        let big_requests = Arc::new(AtomicUsize::new(0));
        let other_requests = Arc::new(AtomicUsize::new(0));
        let (s, b, o) = (
            streaming.clone(),
            big_requests.clone(),
            other_requests.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(Self::serve(stream, s.clone(), b.clone(), o.clone()));
            }
        });
        BigUpstream {
            url,
            streaming,
            big_requests,
            other_requests,
            task,
        }
    }

    async fn serve(
        mut stream: TcpStream,
        streaming: Arc<AtomicUsize>,
        big: Arc<AtomicUsize>,
        other: Arc<AtomicUsize>,
    ) {
        let mut buf = Vec::new();
        loop {
            // One request head (certgate forwards these GETs without a body).
            let end = loop {
                if let Some(i) = find(&buf, b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end);
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            match path.as_str() {
                "/big" => {
                    big.fetch_add(1, Ordering::SeqCst);
                    streaming.fetch_add(1, Ordering::SeqCst);
                    let ok = Self::write_big(&mut stream).await;
                    streaming.fetch_sub(1, Ordering::SeqCst);
                    if !ok {
                        return;
                    }
                }
                "/slow" => {
                    other.fetch_add(1, Ordering::SeqCst);
                    let first =
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n";
                    if stream.write_all(first).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2500)).await;
                    if stream.write_all(b"6\r\nsecond\r\n0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
                _ => {
                    other.fetch_add(1, Ordering::SeqCst);
                    let small = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsmall";
                    if stream.write_all(small).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Writes the `/big` response; false when the connection failed (certgate closed it).
    async fn write_big(stream: &mut TcpStream) -> bool {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n");
        if stream.write_all(head.as_bytes()).await.is_err() {
            return false;
        }
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < BIG {
            if stream.write_all(&chunk).await.is_err() {
                return false;
            }
            sent += chunk.len();
        }
        true
    }
}

/// `--client-auth optional`, one public route, three slots, idle timeout long enough that
/// only the send timeout can free a slot.
async fn slow_read_proxy(pki: &Pki, upstream: &BigUpstream) -> Certgate {
    start(
        pki,
        &upstream.url,
        &[
            "--client-auth",
            "optional",
            "--route",
            "pub=/",
            "--allow",
            "pub=public",
            "--max-connections",
            "3",
            "--idle-timeout",
            "60s",
        ],
    )
    .await
}

/// While the attackers hold their sockets: a legitimate request is served, and the upstream
/// connections that fed the stalled responses are closed.
async fn legit_served_and_upstreams_released(cg: &Certgate, pki: &Pki, upstream: &BigUpstream) {
    let t0 = Instant::now();
    let resp = tokio::time::timeout(SERVED_WITHIN, cg.client(pki).get("/small"))
        .await
        .unwrap_or_else(|_| {
            panic!("a legitimate client was not served within {SERVED_WITHIN:?} while three slow readers held the slots")
        })
        .expect("legitimate request");
    assert_eq!(
        resp.status,
        200,
        "legitimate client after {:?}",
        t0.elapsed()
    );
    eprintln!(
        "legitimate client served after {:?} (three slow readers held the slots)",
        t0.elapsed()
    );
    assert_eq!(resp.body_str(), "small");
    eventually(
        "certgate to close the upstream connections of the stalled responses",
        Duration::from_secs(5),
        || async { upstream.streaming.load(Ordering::SeqCst) == 0 },
    )
    .await;
    assert_eq!(
        upstream.big_requests.load(Ordering::SeqCst),
        3,
        "each attacker's request reached the upstream once"
    );
    assert_eq!(upstream.other_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn http1_clients_that_stop_reading_lose_their_slot_and_upstream_connection() {
    let pki = Pki::new();
    let upstream = BigUpstream::start().await;
    let cg = slow_read_proxy(&pki, &upstream).await;

    // Three clients without certificates ask for the large response and never read.
    let mut attackers = Vec::new();
    for _ in 0..3 {
        let mut tls = cg.client(&pki).tls_connect().await.expect("attacker TLS");
        tls.write_all(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        tls.flush().await.unwrap();
        attackers.push(tls);
    }
    eventually(
        "the three /big requests to reach the upstream",
        Duration::from_secs(5),
        || async { upstream.big_requests.load(Ordering::SeqCst) == 3 },
    )
    .await;

    legit_served_and_upstreams_released(&cg, &pki, &upstream).await;

    // Each attacker's response was cut short: certgate ended those connections.
    for (i, a) in attackers.iter_mut().enumerate() {
        let got = read_until_closed(a, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("slow reader {i}: connection still open"));
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "slow reader {i} got the response head first"
        );
        assert!(
            got.len() < BIG,
            "slow reader {i} got the whole body; nothing was cut"
        );
    }
}

#[tokio::test]
async fn http2_clients_that_grant_no_window_lose_their_slot_and_upstream_connection() {
    let pki = Pki::new();
    let upstream = BigUpstream::start().await;
    let cg = slow_read_proxy(&pki, &upstream).await;

    // Three HTTP/2 clients read their socket (the connection stays alive, PINGs are answered)
    // but never read the response body, so they grant no flow-control window past the first.
    let mut attackers = Vec::new();
    for _ in 0..3 {
        let tls = cg
            .client(&pki)
            .h2()
            .tls_connect()
            .await
            .expect("attacker TLS");
        let (mut tx, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
            .await
            .expect("h2 handshake");
        let conn_task = tokio::spawn(conn);
        let req = hyper::Request::builder()
            .uri(format!("https://localhost:{}/big", cg.addr.port()))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = tokio::time::timeout(CLIENT_TIMEOUT, tx.send_request(req))
            .await
            .expect("response head in time")
            .expect("response head");
        assert_eq!(resp.status(), 200);
        attackers.push((tx, resp, conn_task));
    }
    assert_eq!(upstream.big_requests.load(Ordering::SeqCst), 3);

    legit_served_and_upstreams_released(&cg, &pki, &upstream).await;

    for (i, (_tx, resp, conn_task)) in attackers.into_iter().enumerate() {
        // The connection was ended by certgate: the client's connection task finishes and
        // the body that was never read fails instead of delivering BIG bytes.
        tokio::time::timeout(Duration::from_secs(5), conn_task)
            .await
            .unwrap_or_else(|_| panic!("slow HTTP/2 reader {i}: connection still open"))
            .unwrap()
            .ok();
        let body = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect())
            .await
            .unwrap_or_else(|_| panic!("slow HTTP/2 reader {i}: body neither ended nor failed"));
        if let Ok(b) = body {
            assert!(
                b.to_bytes().len() < BIG,
                "slow HTTP/2 reader {i} got the whole body"
            );
        }
    }
}

/// An upstream that pauses longer than `--send-timeout` between two chunks: the client is
/// reading, so nothing is cut, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn a_slow_upstream_is_not_a_slow_reader() {
    let pki = Pki::new();
    let upstream = BigUpstream::start().await;
    let cg = slow_read_proxy(&pki, &upstream).await;
    let (c1, c2) = (cg.client(&pki), cg.client(&pki).h2());
    let (h1, h2) = tokio::join!(c1.get("/slow"), c2.get("/slow"));
    for (name, r) in [("HTTP/1.1", h1), ("HTTP/2", h2)] {
        let r = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.body_str(),
            "firstsecond",
            "{name}: the whole body arrived"
        );
    }
}

#[test]
fn send_timeout_is_a_documented_flag_with_its_environment_variable_and_a_range() {
    let help = run_to_exit(&["run".into(), "--help".into()], &[]);
    assert_eq!(help.code, Some(0), "{}", help.stderr);
    let line = help
        .stdout
        .lines()
        .skip_while(|l| !l.contains("--send-timeout"))
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        line.contains("--send-timeout"),
        "run --help: {}",
        help.stdout
    );
    assert!(line.contains("CERTGATE_SEND_TIMEOUT"), "run --help: {line}");
    assert!(line.contains("10s"), "default shown: {line}");

    let pki = Pki::new();
    let mut args = vec!["run".to_string()];
    args.extend(pki.base_args());
    args.extend(["--send-timeout".to_string(), "0s".to_string()]);
    let zero = run_to_exit(&args, &[]);
    assert_eq!(zero.code, Some(2), "--send-timeout 0s: {}", zero.stderr);
    assert!(zero.stderr.contains("--send-timeout"), "{}", zero.stderr);
}
