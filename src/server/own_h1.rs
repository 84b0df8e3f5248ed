//! certgate's own HTTP/1.1 server, for the request most clients send most of the time: a
//! plain one (`http::h1request`: whole head, no body, nothing that changes how the
//! connection goes on) that its route allows, on a route without `--verify`. Such a request
//! goes from the client's bytes to the upstream's socket as one written head, and the
//! upstream's answer back as one written head and its body: no request or response object,
//! no header map, no hyper dispatcher (see docs/performance.md).
//!
//! Everything else, and every request that is refused, is left to hyper's server
//! (`conn.rs`), which answers it as before: the bytes go back to the stream unread, and
//! hyper's pipeline (`proxy.rs`) takes them from the start. Both pipelines decide with the
//! same functions (route, authorisation, request id, identity and forwarding fields, access
//! log); `tests/own_server.rs` checks that they forward the same thing, and
//! `tests/own_server_attacks.rs` what an attacker tried on it.

// `fn f() -> impl Future { async move { … } }` on purpose: see `answer`.
#![allow(clippy::manual_async_fn)]

use super::access::{self, Done, Outcome};
use super::answer::{client_or_upstream, write_date, write_error_h1, ProxyError, CLIENT_CLOSED};
use super::buffers::Buf;
use super::lazy_timer::LazyTimer;
use super::peer::Conn;
use super::proxy::{self, InFlight};
use super::request_id::{request_id_from, RequestId, Rid};
use super::send::{Stream, TICK};
use super::state::Shared;
use crate::http::h1request::{self, Added};
use crate::http::h1wire::{self, ClientFraming};
use crate::http::prefetch;
use crate::http::upstream::{PooledBody, Upstream, UpstreamError};
use crate::ops::metrics::DecisionLabel;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::time::Sleep;
use tracing::debug;

/// Answer bytes gathered before they are written to the client.
const WRITE_AT: usize = prefetch::MAX_BYTES;

/// How a run of certgate's own server ended.
pub(crate) enum Served {
    /// Every request whose head had arrived was served, the last one's answer sent at this
    /// time: the connection waits for the next.
    Drained(Instant),
    /// The bytes at the front are not a plain, allowed request: they are back in the
    /// stream, for hyper's server.
    ToHyper,
    /// The connection is over (the client went away, a write failed or stalled, or an
    /// answer closed it).
    Closed,
}

/// Serve the plain requests whose heads are in `first` (the bytes that woke the parked
/// connection), then in the stream's unread bytes, one after the other (pipelining),
/// until they run out or one is not plain. The first arrived at `arrived`; each next one
/// is taken to start when the answer before it was sent (the clock is read twice per
/// request: see `answer`).
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    io: &mut Stream,
    timer: &mut LazyTimer,
    first: Buf,
    arrived: Instant,
) -> Served {
    let mut start = arrived;
    let mut held = Held::Arrived(first);
    loop {
        if held.is_empty() {
            return Served::Drained(start);
        }
        match serve_one(shared, conn, io, &held, timer, start).await {
            Step::Served(used, end) => {
                start = end;
                if used < held.len() {
                    // In front of what `client_gone` kept meanwhile.
                    io.unread(held.rest(used));
                }
                held = Held::Unread(io.take_unread());
            }
            Step::NotPlain(BODY_NOT_ALL_HERE) => {
                // The rest of a body that came in the same flight of TLS records is read
                // now, without waiting; a body still on its way streams through hyper's
                // server (which then reads it from the bytes given back).
                let mut all = Buf::copy_of(&held);
                let complete = read_now(io, &mut all).await;
                held = Held::Arrived(all);
                if !complete {
                    debug!(peer = %conn.peer, why = "body still arriving", "request left to hyper's server");
                    io.unread(held.into_bytes());
                    return Served::ToHyper;
                }
            }
            Step::NotPlain(why) => {
                debug!(peer = %conn.peer, why, "request left to hyper's server");
                io.unread(held.into_bytes());
                return Served::ToHyper;
            }
            Step::Closed => return Served::Closed,
        }
    }
}

/// `prepare`'s answer for a plain head whose body has not all been read yet.
const BODY_NOT_ALL_HERE: &str = "body not all here";

/// Read into `into`, which holds a plain head whose body is not all there, what the stream
/// has at hand, without waiting, until the body is complete (at most `h1request::MAX_BODY`
/// more bytes). False when the stream would have to wait, ended, or failed (hyper's server,
/// reading the same bytes, then answers as it does).
fn read_now<'a>(io: &'a mut Stream, into: &'a mut Vec<u8>) -> impl Future<Output = bool> + 'a {
    // The head does not change as its body is appended: its length and the body's, once.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; h1request::MAX_FIELDS];
    let needed = h1request::parse(into, &mut slots)
        .ok()
        .map(|req| req.head_len + req.body_len);
    std::future::poll_fn(move |cx| loop {
        let Some(needed) = needed else {
            return Poll::Ready(false);
        };
        if into.len() >= needed {
            return Poll::Ready(true);
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut rb = tokio::io::ReadBuf::uninit(&mut buf);
        match Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) if !rb.filled().is_empty() => into.extend_from_slice(rb.filled()),
            _ => return Poll::Ready(false),
        }
    })
}

/// The bytes `serve` works on: those that woke the connection (in a buffer the thread
/// hands on, so that a request costs no allocation for them), then those given back.
enum Held {
    Arrived(Buf),
    Unread(Bytes),
}

impl Held {
    fn into_bytes(self) -> Bytes {
        self.rest(0)
    }

    /// The bytes from `from` on, to give back to the stream: given-back bytes are shared,
    /// not copied.
    fn rest(self, from: usize) -> Bytes {
        match self {
            Held::Arrived(b) => Bytes::copy_from_slice(&b[from..]),
            Held::Unread(b) => b.slice(from..),
        }
    }
}

impl std::ops::Deref for Held {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Held::Arrived(b) => b,
            Held::Unread(b) => b,
        }
    }
}

enum Step {
    /// Served; the request (head and body) took this many bytes, and the answer was sent
    /// at this time.
    Served(usize, Instant),
    NotPlain(&'static str),
    Closed,
}

/// A plain request that its route allows, with the head to send upstream.
struct Ready<'b> {
    method: &'b str,
    /// Bytes the client's request took: its head and its body.
    used: usize,
    /// The request certgate sends upstream: its head, then the client's body.
    head: Buf,
    route: usize,
    outcome: Outcome,
    rid: RequestId<'b>,
}

/// Decide, without waiting on anything, whether the request at the front of `bytes` is this
/// server's, and write its upstream head. Synchronous, so that the header slots live on the
/// stack only: a connection's future does not carry them while it waits.
fn prepare<'b>(
    shared: &Shared,
    conn: &Conn,
    bytes: &'b [u8],
    start: Instant,
) -> Result<Ready<'b>, &'static str> {
    let s = &shared.settings;
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; h1request::MAX_FIELDS];
    let req = h1request::parse(bytes, &mut slots)?;
    // A body is forwarded with its head in one write, once it is all here (see `serve`).
    let used = req.head_len + req.body_len;
    if used > bytes.len() {
        return Err(BODY_NOT_ALL_HERE);
    }
    if req.header_bytes() > s.max_header_bytes || req.fields.len() > s.max_header_count {
        return Err("over a header limit");
    }
    // The framing guard counts request heads; hyper's pipeline looks up its own by index.
    // Defensive: the guard flags a head with Transfer-Encoding or a line too long to follow,
    // neither of which a plain head has, so this holds only if "plain" ever grows.
    if conn
        .framing
        .is_conflict(conn.requests_seen.load(Ordering::Relaxed))
    {
        return Err("framing conflict");
    }
    // The target as hyper's server reads it: the same path and query, or none.
    let (path, query) = h1request::split_target(req.target).ok_or("target does not parse")?;
    let path = crate::policy::normalize_path(path).map_err(|_| "path does not normalise")?;
    let mut outcome = Outcome::default();
    let (route, identity) =
        proxy::authorise(shared, conn, &path, &mut outcome, start).map_err(|_| "refused")?;
    if shared
        .verifiers
        .get(route)
        .and_then(Option::as_deref)
        .is_some()
    {
        return Err("--verify route");
    }
    let rid = request_id_from(shared, req.field(crate::http::headers::X_REQUEST_ID));
    let upstream = &shared.upstreams[s.route_upstream[route]];
    let added = Added {
        identity_lines: identity.map_or(&b""[..], |i| i.lines()),
        client_ip: &conn.peer_ip,
        request_id: rid.as_bytes(),
        default_host: upstream.default_host(),
    };
    let mut head = Buf::take(used + added.identity_lines.len() + 160);
    let removed = h1request::write_upstream_head(&mut head, &req, &path, query, &s.headers, &added);
    head.extend_from_slice(&bytes[req.head_len..used]);
    if removed > 0 {
        debug!(
            request_id = rid.as_str(),
            removed, "client sent headers that certgate owns (identity, forwarding); removed"
        );
    }
    Ok(Ready {
        method: req.method,
        used,
        head,
        route,
        outcome,
        rid,
    })
}

/// One request, if plain and allowed.
async fn serve_one(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    io: &mut Stream,
    bytes: &[u8],
    timer: &mut LazyTimer,
    start: Instant,
) -> Step {
    match prepare(shared, conn, bytes, start) {
        // Boxed: a parked connection's future does not carry an exchange's state (about
        // 1.4 KB), only a request being served does.
        Ok(ready) => Box::pin(answer(shared, conn, io, timer, ready, start)).await,
        Err(why) => Step::NotPlain(why),
    }
}

/// Forward a request that `prepare` found to be this server's, and send its answer.
///
/// The functions of this file that a request awaits return `async move` blocks rather than
/// being `async fn`s: an `async fn` keeps its arguments twice in its future (as passed and
/// as moved into its body), and this future is allocated for every request (see
/// `serve_one`). Together they stay under glibc's per-thread cache limit (1,032 bytes),
/// which halves the cost of that allocation.
fn answer<'a>(
    shared: &'a Arc<Shared>,
    conn: &'a Arc<Conn>,
    io: &'a mut Stream,
    timer: &'a mut LazyTimer,
    mut ready: Ready<'a>,
    start: Instant,
) -> impl Future<Output = Step> + 'a {
    async move {
        let s = &shared.settings;
        // From here on the request is this server's.
        // `start` is when the connection last did something (the request's bytes arrived,
        // or the answer before it was sent), so the connection's activity is recorded.
        let in_flight = InFlight::started(conn);
        conn.requests_seen.fetch_add(1, Ordering::Relaxed);
        let upstream = &shared.upstreams[s.route_upstream[ready.route]];
        let head_request = ready.method == "HEAD";
        let mut out = Buf::take(0);
        // --upstream-timeout on the connection's lazy timer: no timer per request.
        let deadline = tokio::time::Instant::from_std(start) + s.timeouts.upstream;
        // The exchange's result is taken apart before anything else is awaited: kept while
        // the answer is relayed, it would take this future over the cache limit (see above).
        let (status, reason, ok) = 'done: {
            let failed = 'failed: {
                let (answer, mut body) = match {
                    // Boxed, for the same reason.
                    let exchange = Box::pin(exchange(
                        upstream,
                        &mut ready.head,
                        head_request,
                        &mut out,
                        timer,
                        deadline,
                    ));
                    tokio::select! {
                        biased;
                        sent = exchange => sent,
                        () = client_gone(io) => {
                            // As hyper's server drops a request whose client ended the
                            // stream: the upstream exchange (and its connection) goes, and
                            // so does this one, with its access line (499) and no answer.
                            break 'done (CLIENT_CLOSED, Some(ProxyError::ClientGone), false);
                        }
                    }
                } {
                    Ok(sent) => sent,
                    Err(e) => break 'failed e,
                };
                // Draining (SIGTERM): this answer is the connection's last, and says so
                // (RFC 9112 §9.6), as hyper's server does for the request it is serving when
                // the drain begins.
                let last = shared.draining();
                ready.outcome.upstream_status = Some(answer.status);
                if !answer.has_date {
                    write_date(&mut out);
                }
                if last {
                    out.extend_from_slice(b"connection: close\r\n");
                }
                let ok = relay(
                    conn,
                    io,
                    &mut out,
                    &mut body,
                    answer.framing,
                    s.timeouts.send,
                )
                .await;
                break 'done (answer.status, None, ok && !last);
            };
            let e = client_or_upstream(failed);
            let rid = ready.rid.header_value();
            let status = proxy::failed(shared, &ready.outcome, &e, &rid).status();
            out.clear();
            let closes = write_error_h1(&e, &rid, shared.draining(), &mut out);
            let ok = write_client(conn, io, &out, s.timeouts.send).await.is_ok() && !closes;
            (status.as_u16(), Some(e), ok)
        };
        let decision = match &reason {
            None => DecisionLabel::allowed,
            Some(e) => e.decision(),
        };
        let done = Done {
            rid: Rid::Id(&ready.rid),
            method: ready.method,
            outcome: &ready.outcome,
            decision,
            status,
            reason: reason.as_ref(),
        };
        // The clock's second reading for this request (`start` was the first): the answer's
        // latency, the connection's activity, and the next pipelined request's start.
        let end = Instant::now();
        in_flight.end_at(end);
        access::log_request(shared, conn, end.saturating_duration_since(start), &done);
        if ok {
            Step::Served(ready.used, end)
        } else {
            Step::Closed
        }
    }
}

/// Resolves when the client ends its side of the connection (or it fails) while its
/// request waits for the upstream's answer head. Bytes it sends meanwhile (its next
/// request) are kept for later, and the client is not watched any more: hyper's server
/// does the same (`mid_message_detect_eof`).
fn client_gone(io: &mut Stream) -> impl Future<Output = ()> + '_ {
    async move {
        // The socket first: most answers come before the client sends anything or leaves,
        // and waiting on the socket costs less than a read through TLS that finds nothing.
        // An end of stream stays signalled (tokio keeps closed states), and plaintext TLS
        // holds already is not the client leaving.
        let tcp = io.get_ref().get_ref().0.get_ref();
        if std::future::poll_fn(|cx| tcp.poll_read_ready(cx))
            .await
            .is_err()
        {
            return;
        }
        let got = std::future::poll_fn(|cx| {
            // On the poll's stack, as in `conn::park`: the connection's future keeps no buffer.
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
            let mut rb = tokio::io::ReadBuf::uninit(&mut buf);
            match std::pin::Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(_)) => Poll::Ready(Bytes::new()),
                Poll::Ready(Ok(())) => Poll::Ready(Bytes::copy_from_slice(rb.filled())),
            }
        })
        .await;
        if !got.is_empty() {
            // Nothing else is unread now (`serve` took it all); what `serve` gives back of
            // this request's bytes goes in front of these.
            io.unread(got);
            std::future::pending::<()>().await;
        }
    }
}

/// The exchange with the upstream, up to `deadline`: the answer's status, its framing toward
/// the client, and its body (its head is in `out`).
fn exchange<'a>(
    upstream: &'a Upstream,
    head: &'a mut Vec<u8>,
    head_request: bool,
    out: &'a mut Vec<u8>,
    timer: &'a mut LazyTimer,
    deadline: tokio::time::Instant,
) -> impl Future<Output = Result<(Answered, PooledBody), UpstreamError>> + 'a {
    async move {
        let (answer, body) = tokio::select! {
            biased;
            r = upstream.send_head(head, head_request, out) => r,
            _ = timer.wait_until(deadline) => Err(UpstreamError::Timeout),
        }?;
        let answered = Answered {
            status: answer.status.as_u16(),
            framing: answer.client_framing,
            has_date: answer.has_date,
        };
        Ok((answered, body))
    }
}

/// What the answer's head said that the rest of the exchange needs.
struct Answered {
    status: u16,
    framing: ClientFraming,
    has_date: bool,
}

/// Send the answer: `out` holds its head up to its framing (`h1wire::write_client_head`).
/// What the upstream has already sent goes out with the head in one write, and a body on
/// its way is waited for up to `prefetch::WAIT` first, as hyper's pipeline does with
/// `Prefetched`: a chunked answer that is complete by then gets its exact length, a longer
/// or slower one streams on chunked. False when the answer could not be sent whole.
fn relay<'a>(
    conn: &'a Conn,
    io: &'a mut Stream,
    out: &'a mut Vec<u8>,
    body: &'a mut PooledBody,
    framing: ClientFraming,
    send_timeout: Duration,
) -> impl Future<Output = bool> + 'a {
    async move {
        let chunked = framing == ClientFraming::Chunked;
        // A chunked answer's body is held back, with its head, until its length is known or
        // the wait is over.
        let mut held: Option<Vec<u8>> = chunked.then(Vec::new);
        if !chunked {
            h1wire::end_client_head(out, framing);
        }
        // The wait for the rest of a body on its way; boxed, so that a connection's future does
        // not carry a timer for the answers (most) that never wait.
        let mut wait: Option<Pin<Box<Sleep>>> = None;
        let mut waited = false;
        loop {
            let frame = match poll_now(body) {
                Poll::Ready(f) => f,
                Poll::Pending if out.is_empty() || waited => {
                    if !out.is_empty() {
                        release_held(out, &mut held);
                        if write_client(conn, io, out, send_timeout).await.is_err() {
                            return false;
                        }
                        out.clear();
                    }
                    body.frame().await
                }
                Poll::Pending => {
                    let sleep =
                        wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(prefetch::WAIT)));
                    tokio::select! {
                        biased;
                        f = body.frame() => f,
                        _ = sleep.as_mut() => {
                            waited = true;
                            continue;
                        }
                    }
                }
            };
            match frame {
                None => {
                    match held.take() {
                        Some(whole) => {
                            h1wire::end_client_head(out, ClientFraming::Length(whole.len() as u64));
                            out.extend_from_slice(&whole);
                        }
                        None if chunked => out.extend_from_slice(b"0\r\n\r\n"),
                        None => {}
                    }
                    return write_client(conn, io, out, send_timeout).await.is_ok();
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers are not passed on
                    };
                    match &mut held {
                        Some(h) => {
                            h.extend_from_slice(&data);
                            if h.len() >= WRITE_AT {
                                release_held(out, &mut held);
                            }
                        }
                        None if chunked => write_chunk(out, &data),
                        None => out.extend_from_slice(&data),
                    }
                    if out.len() >= WRITE_AT {
                        if write_client(conn, io, out, send_timeout).await.is_err() {
                            return false;
                        }
                        out.clear();
                    }
                }
                // The upstream's body broke off (logged by `PooledBody`): what was sent stays
                // sent, and the connection ends, so the client sees the answer cut short.
                Some(Err(_)) => {
                    release_held(out, &mut held);
                    let _ = write_client(conn, io, out, send_timeout).await;
                    return false;
                }
            }
        }
    }
}

/// A held-back chunked answer goes on chunked: its head's framing, and what was held as
/// one chunk.
fn release_held(out: &mut Vec<u8>, held: &mut Option<Vec<u8>>) {
    if let Some(h) = held.take() {
        h1wire::end_client_head(out, ClientFraming::Chunked);
        write_chunk(out, &h);
    }
}

fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if !data.is_empty() {
        h1wire::write_number(out, data.len() as u64, 16);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
}

/// The body's next frame if it is there without waiting.
fn poll_now(
    body: &mut PooledBody,
) -> Poll<Option<Result<hyper::body::Frame<Bytes>, crate::http::upstream::BodyError>>> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    hyper::body::Body::poll_frame(std::pin::Pin::new(body), &mut cx)
}

/// Write to the client, ended by `--send-timeout` when the socket has taken nothing for
/// that long (the client stopped reading).
fn write_client<'a>(
    conn: &'a Conn,
    io: &'a mut Stream,
    data: &'a [u8],
    send_timeout: Duration,
) -> impl Future<Output = std::io::Result<()>> + 'a {
    async move {
        let write = async {
            io.write_all(data).await?;
            io.flush().await
        };
        tokio::pin!(write);
        // Most writes complete at once: no timer for them.
        if let Poll::Ready(r) =
            std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await
        {
            return r;
        }
        // Boxed: the connection's future does not carry it.
        let mut tick = Box::pin(tokio::time::sleep(TICK));
        loop {
            tokio::select! {
                biased;
                r = &mut write => return r,
                _ = tick.as_mut() => {
                    if conn.send.state().stalled.is_some_and(|s| s >= send_timeout) {
                        debug!(peer = %conn.peer, "send timeout: the client took nothing of the response within --send-timeout; closing");
                        return Err(std::io::ErrorKind::TimedOut.into());
                    }
                    tick.as_mut().reset(tokio::time::Instant::now() + TICK);
                }
            }
        }
    }
}
