//! One connection's lifecycle: hyper's HTTP/1 or HTTP/2 server (by ALPN), header and idle
//! deadlines, graceful drain, and parking: an idle HTTP/1 connection drops its HTTP state and
//! holds only its TLS stream until the client sends again.

use super::answer::Body;
use super::buffers::Buf;
use super::lazy_timer::LazyTimer;
use super::own_h1::Served;
use super::peer::Conn;
use super::send::{Stream, Tracked, TICK};
use super::state::{until_shutdown, Shared};
use crate::config::settings::Timeouts;
use http::{Request, Response};
use http_body_util::{BodyExt, Either};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tracing::debug;

/// An HTTP/1 connection idle this long gives its HTTP state (hyper's read and write
/// buffers, about 24 KiB) back and keeps only the TLS stream until the next request's
/// first bytes arrive: nginx does the same on keep-alive connections. Busy connections
/// (a request at least this often) never park.
const PARK_AFTER: Duration = Duration::from_millis(10);

/// An answer that ends an HTTP/1 connection is followed by a lingering close, and an HTTP/2
/// request body that an early answer left unread is read and dropped, for up to this long
/// or `LINGER_BYTES`: a client still sending then gets the answer rather than a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

type BoxedResponse =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<Tracked<Body>>, Infallible>> + Send>>;

/// The per-connection service. Its future is boxed (Unpin) so that the HTTP/1 connection
/// can be polled without shutting the stream down, and parked.
fn service(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
) -> impl Fn(Request<Incoming>) -> BoxedResponse + Clone + Send + 'static {
    let shared = shared.clone();
    let conn = conn.clone();
    move |req| {
        let shared = shared.clone();
        let conn = conn.clone();
        Box::pin(async move {
            let h2 = req.version() == http::Version::HTTP_2;
            let (resp, unread) = crate::server::proxy::handle(&shared, &conn, req).await;
            if !h2 {
                // HTTP/1: hyper closes a connection whose request body was left unread;
                // `active_h1` lingers so the answer still arrives.
                return Ok(resp.map(Tracked::untracked));
            }
            if let Some(body) = unread.filter(|b| !b.is_end_stream()) {
                tokio::spawn(discard(body));
            }
            // Upstream bodies stream and get a send clock; certgate's own answers are short.
            Ok(resp.map(|b| match b {
                Either::Left(_) if !b.is_end_stream() => conn.send.track(b),
                _ => Tracked::untracked(b),
            }))
        })
    }
}

/// An HTTP/2 request body that an early answer left unread: read and dropped for up to
/// `LINGER_TIME` or `LINGER_BYTES`, so the stream ends cleanly once the client has sent
/// it all. Dropped earlier, the stream would be reset while the client is still sending,
/// and some clients (curl) then drop the complete answer they were given. Past the bounds
/// the stream is reset with NO_ERROR after the answer (RFC 9113 §8.1).
async fn discard(mut body: Incoming) {
    let _ = tokio::time::timeout(LINGER_TIME, async {
        let mut left = LINGER_BYTES;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                left = left.saturating_sub(data.len());
                if left == 0 {
                    return;
                }
            }
        }
    })
    .await;
}

/// After an answer that ends an HTTP/1 connection (and its close_notify): read and discard
/// what the client still sends, until it closes, `LINGER_TIME` passes or `LINGER_BYTES`
/// arrived. Closing at once with unread data would send a TCP reset, which can destroy the
/// answer before the client reads it.
async fn linger(io: &mut Stream) {
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut left = LINGER_BYTES;
    let mut buf = vec![0u8; 16 * 1024];
    while left > 0 {
        match tokio::time::timeout_at(deadline, io.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

pub(crate) async fn serve_http(shared: Arc<Shared>, conn: Arc<Conn>, io: Box<Stream>) {
    if io.get_ref().get_ref().1.alpn_protocol() == Some(b"h2") {
        // HTTP/2 multiplexes streams and keeps its own small state; it is served whole.
        let svc = hyper::service::service_fn(service(&shared, &conn));
        let http = shared.http.h2.serve_connection(TokioIo::new(io), svc);
        Box::pin(drive_h2(&shared, &conn, http)).await;
    } else {
        serve_h1(&shared, &conn, io).await;
    }
}

/// HTTP/1: alternate between parked (TLS stream only, waiting for bytes) and active
/// (a hyper connection serving requests) until the connection ends.
async fn serve_h1(shared: &Arc<Shared>, conn: &Arc<Conn>, mut io: Box<Stream>) {
    let mut shutdown_rx = shared.shutdown_rx();
    // Kept across parks, so that waiting costs no timer or waiter registration per request
    // (see `LazyTimer`).
    let mut waits = Waits {
        timer: LazyTimer::new(tokio::time::Instant::now() + shared.settings.timeouts.idle),
        shutdown: Box::pin(until_shutdown_owned(shared.shutdown_rx())),
    };
    // When the connection last did something: the clock is read once when a request
    // arrives and once when its answer is sent, and these readings serve every timer and
    // idle clock of the connection (see `own_h1`).
    let mut last = Instant::now();
    loop {
        let (arrived, first) =
            match park(shared, conn, &mut io, &shutdown_rx, &mut waits, last).await {
                Wake::Data(at, first) => (at, first),
                Wake::Closed => return,
                Wake::IdleTimeout | Wake::Shutdown => {
                    close_quietly(&mut io).await;
                    return;
                }
            };
        // Plain requests first, by certgate's own server; hyper's takes what is left.
        match super::own_h1::serve(shared, conn, &mut io, &mut waits.timer, first, arrived).await {
            Served::Drained(end) => {
                last = end;
                continue;
            }
            Served::Closed => {
                close_quietly(&mut io).await;
                return;
            }
            Served::ToHyper => {}
        }
        // Boxed: the active state (hyper's connection) is held only while active.
        match Box::pin(active_h1(shared, conn, io, &mut shutdown_rx)).await {
            Some(back) => io = back,
            None => return,
        }
        last = Instant::now();
    }
}

enum Wake {
    /// The first bytes of a request arrived, at this time.
    Data(Instant, Buf),
    /// The client closed the connection or it failed.
    Closed,
    IdleTimeout,
    Shutdown,
}

/// What a parked HTTP/1 connection waits on besides the client: its timer and the start
/// of a shutdown.
struct Waits {
    timer: LazyTimer,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

async fn until_shutdown_owned(mut rx: watch::Receiver<bool>) {
    until_shutdown(&mut rx).await;
}

/// Wait, holding no HTTP state, for the next bytes from the client.
async fn park(
    shared: &Shared,
    conn: &Conn,
    io: &mut Box<Stream>,
    shutdown_rx: &watch::Receiver<bool>,
    waits: &mut Waits,
    now: Instant,
) -> Wake {
    if *shutdown_rx.borrow() {
        return Wake::Shutdown;
    }
    io.shrink();
    let idle_left = shared
        .settings
        .timeouts
        .idle
        .saturating_sub(conn.idle_for_at(now));
    let read = std::future::poll_fn(|cx| {
        // On the poll's stack, not in the connection's future: a parked connection keeps
        // no buffer of its own.
        // Not cleared first: the TLS stream copies its plaintext in.
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        let mut rb = ReadBuf::uninit(&mut buf);
        match std::pin::Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Buf::copy_of(rb.filled()))),
        }
    });
    let idle_deadline = tokio::time::Instant::from_std(now) + idle_left;
    let got = tokio::select! {
        biased;
        r = read => r,
        _ = waits.timer.wait_until(idle_deadline) => {
            debug!(peer = %conn.peer, "idle timeout: closing keep-alive connection");
            return Wake::IdleTimeout;
        }
        _ = waits.shutdown.as_mut() => return Wake::Shutdown,
    };
    match got {
        Ok(data) if data.is_empty() => Wake::Closed,
        Ok(data) => {
            // Activity: the parking clock restarts.
            let arrived = Instant::now();
            conn.touch_at(arrived);
            Wake::Data(arrived, data)
        }
        Err(e) => {
            debug!(peer = %conn.peer, error = %e, "connection ended with an error");
            Wake::Closed
        }
    }
}

/// Send close_notify and FIN, as hyper does when it ends a connection itself.
async fn close_quietly(io: &mut Stream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
}

/// What the connection's timer found.
enum Due {
    /// Nothing yet: look again after this long.
    Wait(Duration),
    HeaderTimeout,
    IdleTimeout,
    Park,
    /// What is being sent has made no progress toward the client for --send-timeout.
    SendTimeout,
}

impl Conn {
    /// Time since the last request activity: a request's start or end, or the end of an
    /// HTTP/2 response body.
    fn idle_for(&self) -> Duration {
        self.idle_for_at(Instant::now())
    }

    /// `idle_for` at `now` (a time the caller has read already).
    fn idle_for_at(&self, now: Instant) -> Duration {
        let since_request = Duration::from_millis(
            (now.saturating_duration_since(self.started).as_millis() as u64)
                .saturating_sub(self.last_active_ms.load(Ordering::Relaxed)),
        );
        match self.send.since_finished() {
            Some(d) => d.min(since_request),
            None => since_request,
        }
    }

    /// The next deadline of an active connection: a response stalled on the client
    /// (--send-timeout), the head being received (--header-timeout), otherwise idleness
    /// (--idle-timeout, and parking when `park`).
    fn due(&self, t: &Timeouts, park: bool) -> Due {
        let send = self.send.state();
        if send.stalled.is_some_and(|s| s >= t.send) {
            return Due::SendTimeout;
        }
        let due = if send.sending {
            // An HTTP/2 response still streaming: busy, not idle.
            Due::Wait(TICK)
        } else {
            self.due_receiving(t.idle, t.header, park)
        };
        match (due, send.stalled) {
            (Due::Wait(d), Some(s)) => Due::Wait(d.min(t.send - s)),
            (due, _) => due,
        }
    }

    /// Quiet: no request in flight and no response being sent.
    fn quiet(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0 && !self.send.state().sending
    }

    fn due_receiving(&self, idle: Duration, header_timeout: Duration, park: bool) -> Due {
        if let Some(pending) = self.framing.head_pending_for() {
            return if pending >= header_timeout {
                Due::HeaderTimeout
            } else {
                Due::Wait((header_timeout - pending).min(TICK))
            };
        }
        // Looked at every TICK at most, so a head that starts meanwhile (the connection's
        // next request) is held to --header-timeout within TICK, without a wake-up per request.
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Due::Wait(idle.min(TICK));
        }
        let idle_for = self.idle_for();
        if idle_for >= idle {
            return Due::IdleTimeout;
        }
        if park && idle_for >= PARK_AFTER {
            return Due::Park;
        }
        let next = if park { idle.min(PARK_AFTER) } else { idle };
        Due::Wait((next - idle_for.min(next)).min(TICK))
    }
}

/// Serve requests with hyper until the connection ends (`None`) or parks (`Some(io)`).
async fn active_h1(
    shared: &Arc<Shared>,
    conn: &Arc<Conn>,
    io: Box<Stream>,
    shutdown_rx: &mut watch::Receiver<bool>,
) -> Option<Box<Stream>> {
    let s = &shared.settings;
    let svc = hyper::service::service_fn(service(shared, conn));
    let mut http = shared.http.h1.serve_connection(TokioIo::new(io), svc);
    let mut parking = false;
    let mut draining = false;
    loop {
        // Shutdown is looked at whenever the connection's timer fires (at least every
        // TICK), not on every wake-up of the connection: a drain starts within TICK.
        if !draining && *shutdown_rx.borrow() {
            std::pin::Pin::new(&mut http).graceful_shutdown();
            draining = true;
        }
        let wait = match conn.due(&s.timeouts, !draining && !parking) {
            Due::SendTimeout => {
                debug!(peer = %conn.peer, "send timeout: the client took nothing of the response within --send-timeout; closing");
                return None;
            }
            Due::HeaderTimeout => {
                debug!(peer = %conn.peer, "header timeout: request head not received within --header-timeout; closing");
                return None;
            }
            Due::IdleTimeout if !draining => {
                debug!(peer = %conn.peer, "idle timeout: closing keep-alive connection");
                std::pin::Pin::new(&mut http).graceful_shutdown();
                draining = true;
                continue;
            }
            Due::Park if conn.closing.load(Ordering::Relaxed) => TICK,
            Due::Park => {
                std::pin::Pin::new(&mut http).graceful_shutdown();
                parking = true;
                continue;
            }
            Due::IdleTimeout => Duration::from_secs(1),
            Due::Wait(d) => d,
        };
        let wait = wait.max(Duration::from_millis(10));
        tokio::select! {
            r = std::future::poll_fn(|cx| http.poll_without_shutdown(cx)) => {
                let ok = match r {
                    Ok(()) => true,
                    Err(e) => {
                        debug!(peer = %conn.peer, error = %e, "connection ended with an error");
                        false
                    }
                };
                let parts = http.into_parts();
                let mut io = parts.io.into_inner();
                if !parts.read_buf.is_empty() {
                    io.unread(parts.read_buf);
                }
                // Parked only when hyper ended because certgate asked it to: an exchange that
                // ends the connection (e.g. a body delimited by the close) must end it.
                if parking && ok && !draining && !conn.closing.load(Ordering::Relaxed) {
                    return Some(io);
                }
                // hyper ended the connection after an exchange (an answer that closes it, a
                // request body left unread, a malformed request it answered itself): the
                // client may still be sending. Not after certgate's own idle or shutdown drain.
                if !draining {
                    close_quietly(&mut io).await;
                    linger(&mut io).await;
                } else if ok {
                    close_quietly(&mut io).await;
                }
                return None;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// HTTP/2: serve until the connection ends; idle timeout, header deadline and draining as
/// for HTTP/1 (no parking).
async fn drive_h2<F>(shared: &Shared, conn: &Conn, http: F)
where
    F: Future<Output = hyper::Result<()>> + GracefulShutdown,
{
    let t = &shared.settings.timeouts;
    let mut shutdown_rx = shared.shutdown_rx();
    tokio::pin!(http);
    // Since when certgate has been draining (GOAWAY and PING sent).
    let mut draining: Option<Instant> = None;
    loop {
        let mut wait = match conn.due(t, false) {
            Due::SendTimeout => {
                debug!(peer = %conn.peer, "send timeout: the client took nothing of a response within --send-timeout; closing");
                return;
            }
            Due::HeaderTimeout => {
                debug!(peer = %conn.peer, "header timeout: request head not received within --header-timeout; closing");
                return;
            }
            Due::IdleTimeout if draining.is_none() => {
                debug!(peer = %conn.peer, "idle timeout: closing keep-alive connection");
                http.as_mut().shutdown_gracefully();
                draining = Some(Instant::now());
                continue;
            }
            Due::IdleTimeout | Due::Park => Duration::from_secs(1),
            Due::Wait(d) => d,
        };
        // hyper closes a draining connection once the client has answered the PING and its
        // streams are done; a client that never answers is closed once it has been quiet
        // for --send-timeout since the drain began.
        if let Some(since) = draining {
            if conn.quiet() {
                let quiet_for = since.elapsed().min(conn.idle_for());
                if quiet_for >= t.send {
                    debug!(peer = %conn.peer, "the client did not answer GOAWAY/PING within --send-timeout; closing");
                    return;
                }
                wait = wait.min(t.send - quiet_for);
            }
        }
        let wait = wait.max(Duration::from_millis(10));
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    debug!(peer = %conn.peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = until_shutdown(&mut shutdown_rx), if draining.is_none() => {
                http.as_mut().shutdown_gracefully();
                draining = Some(Instant::now());
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// hyper's HTTP/2 connection's graceful shutdown, behind a name `drive_h2` can bound on.
trait GracefulShutdown {
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E, B> GracefulShutdown for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn shutdown_gracefully(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}
