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
//! log); `tests/own_server.rs` checks that they forward the same thing.

use super::answer::{client_or_upstream, write_date, write_error_h1};
use super::conn::{Stream, TICK};
use super::peer::Conn;
use super::proxy::{self, Done, InFlight, Outcome};
use super::state::Shared;
use crate::http::h1request::{self, Added};
use crate::http::h1wire::{self, ClientFraming};
use crate::http::prefetch;
use crate::http::upstream::PooledBody;
use crate::ops::metrics::DecisionLabel;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tracing::debug;

/// Answer bytes gathered before they are written to the client.
const WRITE_AT: usize = prefetch::MAX_BYTES;

/// How a run of certgate's own server ended.
pub(crate) enum Served {
    /// Every request whose head had arrived was served: the connection waits for the next.
    Drained,
    /// The bytes at the front are not a plain, allowed request: they are back in the
    /// stream, for hyper's server.
    ToHyper,
    /// The connection is over (the client went away, a write failed or stalled, or an
    /// answer closed it).
    Closed,
}

/// Serve the plain requests whose heads are in the stream's unread bytes, one after the
/// other (pipelining), until they run out or one is not plain.
pub(crate) async fn serve(shared: &Arc<Shared>, conn: &Arc<Conn>, io: &mut Stream) -> Served {
    loop {
        let bytes = io.take_unread();
        if bytes.is_empty() {
            return Served::Drained;
        }
        match serve_one(shared, conn, io, &bytes).await {
            Step::Served(used) => {
                if used < bytes.len() {
                    io.unread(bytes.slice(used..));
                }
            }
            Step::NotPlain(why) => {
                debug!(peer = %conn.peer, why, "request left to hyper's server");
                io.unread(bytes);
                return Served::ToHyper;
            }
            Step::Closed => return Served::Closed,
        }
    }
}

enum Step {
    /// Served; the head took this many bytes.
    Served(usize),
    NotPlain(&'static str),
    Closed,
}

/// One request, if plain and allowed.
async fn serve_one(shared: &Arc<Shared>, conn: &Arc<Conn>, io: &mut Stream, bytes: &Bytes) -> Step {
    let start = Instant::now();
    let s = &shared.settings;
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; h1request::MAX_FIELDS];
    let req = match h1request::parse(bytes, &mut slots) {
        Ok(r) => r,
        Err(why) => return Step::NotPlain(why),
    };
    if req.header_bytes() > s.max_header_bytes || req.fields.len() > s.max_header_count {
        return Step::NotPlain("over a header limit");
    }
    // The framing guard counts request heads; hyper's pipeline looks up its own by index.
    let index = conn.requests_seen.load(Ordering::Relaxed);
    if conn.framing.is_conflict(index) {
        return Step::NotPlain("framing conflict");
    }
    // The target as hyper's server reads it: the same path and query, or none.
    let Ok(target) =
        http::uri::PathAndQuery::from_maybe_shared(bytes.slice_ref(req.target.as_bytes()))
    else {
        return Step::NotPlain("target does not parse");
    };
    let Ok(path) = crate::policy::normalize_path(target.path()) else {
        return Step::NotPlain("path does not normalise");
    };
    let mut outcome = Outcome::default();
    let Ok((route, identity)) = proxy::authorise(shared, conn, &path, &mut outcome) else {
        return Step::NotPlain("refused");
    };
    if shared
        .verifiers
        .get(route)
        .and_then(Option::as_deref)
        .is_some()
    {
        return Step::NotPlain("--verify route");
    }
    // From here on the request is this server's.
    let _in_flight = InFlight::new(conn);
    conn.requests_seen.fetch_add(1, Ordering::Relaxed);
    let rid = proxy::request_id_from(shared, req.field(crate::http::headers::X_REQUEST_ID));
    let upstream = &shared.upstreams[s.route_upstream[route]];
    let added = Added {
        identity_lines: identity.map_or(&b""[..], |i| i.lines()),
        client_ip: &conn.peer_ip,
        request_id: &rid,
        default_host: upstream.default_host(),
    };
    let mut head = Vec::with_capacity(req.head_len + added.identity_lines.len() + 160);
    let removed =
        h1request::write_upstream_head(&mut head, &req, &path, target.query(), &s.headers, &added);
    if removed > 0 {
        debug!(
            request_id = rid.to_str().unwrap_or("-"),
            removed, "client sent headers that certgate owns (identity, forwarding); removed"
        );
    }
    let head_request = req.method == "HEAD";
    let mut out = Vec::with_capacity(1024);
    let sent = tokio::select! {
        biased;
        sent = upstream.send_head(&mut head, head_request, &mut out, s.timeouts.upstream) => sent,
        () = client_gone(io) => {
            // As hyper's server drops a request whose client ended the stream: the upstream
            // exchange (and its connection) goes, and so does this one.
            debug!(peer = %conn.peer, request_id = rid.to_str().unwrap_or("-"), "the client closed its connection while its request waited for the upstream");
            return Step::Closed;
        }
    };
    let used = req.head_len;
    // Draining (SIGTERM): this answer is the connection's last, and says so (RFC 9112
    // §9.6), as hyper's server does for the request it is serving when the drain begins.
    let last = shared.draining();
    let (status, reason, ok) = match sent {
        Ok((answer, body)) => {
            outcome.upstream_status = Some(answer.status.as_u16());
            if !answer.has_date {
                write_date(&mut out);
            }
            if last {
                out.extend_from_slice(b"connection: close\r\n");
            }
            let ok = relay(conn, io, out, body, answer.client_framing, s.timeouts.send).await;
            (answer.status.as_u16(), None, ok && !last)
        }
        Err(e) => {
            let e = client_or_upstream(e);
            let answer = proxy::failed(shared, &outcome, &e, &rid);
            out.clear();
            let closes = write_error_h1(&e, &rid, last, &mut out);
            let ok = write_client(conn, io, &out, s.timeouts.send).await.is_ok() && !closes;
            (answer.status().as_u16(), Some(e), ok)
        }
    };
    let decision = match &reason {
        None => DecisionLabel::allowed,
        Some(e) => e.decision(),
    };
    let done = Done {
        rid: &rid,
        method: req.method,
        outcome: &outcome,
        decision,
        status,
        reason: reason.as_ref(),
    };
    proxy::log_request(shared, conn, start, &done);
    if ok {
        Step::Served(used)
    } else {
        Step::Closed
    }
}

/// Resolves when the client ends its side of the connection (or it fails) while its
/// request waits for the upstream's answer head. Bytes it sends meanwhile (its next
/// request) are kept for later, and the client is not watched any more: hyper's server
/// does the same (`mid_message_detect_eof`).
async fn client_gone(io: &mut Stream) {
    let got = std::future::poll_fn(|cx| {
        // On the poll's stack, as in `conn::park`: the connection's future keeps no buffer.
        let mut buf = [0u8; 2048];
        let mut rb = tokio::io::ReadBuf::new(&mut buf);
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

/// Send the answer: `out` holds its head up to its framing (`h1wire::write_client_head`).
/// What the upstream has already sent goes out with the head in one write, and a body on
/// its way is waited for up to `prefetch::WAIT` first, as hyper's pipeline does with
/// `Prefetched`: a chunked answer that is complete by then gets its exact length, a longer
/// or slower one streams on chunked. False when the answer could not be sent whole.
async fn relay(
    conn: &Conn,
    io: &mut Stream,
    mut out: Vec<u8>,
    mut body: PooledBody,
    framing: ClientFraming,
    send_timeout: Duration,
) -> bool {
    let chunked = framing == ClientFraming::Chunked;
    // A chunked answer's body is held back, with its head, until its length is known or
    // the wait is over.
    let mut held: Option<Vec<u8>> = chunked.then(Vec::new);
    if !chunked {
        h1wire::end_client_head(&mut out, framing);
    }
    let mut wait_until = None;
    loop {
        let frame = match poll_now(&mut body) {
            Poll::Ready(f) => f,
            Poll::Pending if out.is_empty() => body.frame().await,
            Poll::Pending => {
                let until =
                    *wait_until.get_or_insert_with(|| tokio::time::Instant::now() + prefetch::WAIT);
                match tokio::time::timeout_at(until, body.frame()).await {
                    Ok(f) => f,
                    Err(_) => {
                        release_held(&mut out, &mut held);
                        if write_client(conn, io, &out, send_timeout).await.is_err() {
                            return false;
                        }
                        out.clear();
                        continue;
                    }
                }
            }
        };
        match frame {
            None => {
                match held.take() {
                    Some(whole) => {
                        h1wire::end_client_head(
                            &mut out,
                            ClientFraming::Length(whole.len() as u64),
                        );
                        out.extend_from_slice(&whole);
                    }
                    None if chunked => out.extend_from_slice(b"0\r\n\r\n"),
                    None => {}
                }
                return write_client(conn, io, &out, send_timeout).await.is_ok();
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers are not passed on
                };
                match &mut held {
                    Some(h) => {
                        h.extend_from_slice(&data);
                        if h.len() >= WRITE_AT {
                            release_held(&mut out, &mut held);
                        }
                    }
                    None if chunked => write_chunk(&mut out, &data),
                    None => out.extend_from_slice(&data),
                }
                if out.len() >= WRITE_AT {
                    if write_client(conn, io, &out, send_timeout).await.is_err() {
                        return false;
                    }
                    out.clear();
                }
            }
            // The upstream's body broke off (logged by `PooledBody`): what was sent stays
            // sent, and the connection ends, so the client sees the answer cut short.
            Some(Err(_)) => {
                release_held(&mut out, &mut held);
                let _ = write_client(conn, io, &out, send_timeout).await;
                return false;
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
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
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
async fn write_client(
    conn: &Conn,
    io: &mut Stream,
    data: &[u8],
    send_timeout: Duration,
) -> std::io::Result<()> {
    let write = async {
        io.write_all(data).await?;
        io.flush().await
    };
    tokio::pin!(write);
    // Most writes complete at once: no timer for them.
    if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
        return r;
    }
    loop {
        tokio::select! {
            biased;
            r = &mut write => return r,
            _ = tokio::time::sleep(TICK) => {
                if conn.send.state().stalled.is_some_and(|s| s >= send_timeout) {
                    debug!(peer = %conn.peer, "send timeout: the client took nothing of the response within --send-timeout; closing");
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
            }
        }
    }
}
