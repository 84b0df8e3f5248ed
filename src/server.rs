//! Accept loop: connection limit, handshake deadline, the connection's verified identity
//! (computed once per TLS connection), hyper's HTTP/1 or HTTP/2 server (by ALPN), header and
//! idle timeouts, graceful drain, and parking: an idle HTTP/1 connection drops its HTTP state
//! and holds only its TLS stream until the client sends again.

use crate::headers::IdentityHeaders;
use crate::identity::PeerIdentity;
use crate::metrics::Metrics;
use crate::proxy::Body;
use crate::reload::LiveConfig;
use crate::settings::Settings;
use crate::tls::{HandshakeNote, HANDSHAKE_NOTE};
use crate::trust::VerifyFailure;
use crate::upstream::Upstream;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

/// State shared by every connection.
pub struct Shared {
    pub settings: Settings,
    pub live: LiveConfig,
    /// Indexed like `settings.upstreams`.
    pub upstreams: Vec<Upstream>,
    /// Route names for labels, indexed like `settings.policy.policy.routes()`.
    pub route_names: Vec<Arc<str>>,
    pub metrics: Metrics,
    /// `/readyz`: serving with valid material and not draining.
    pub ready: AtomicBool,
    pub(crate) request_seq: AtomicU64,
    pub(crate) id_prefix: String,
    shutdown: watch::Sender<bool>,
    http: HttpBuilders,
}

impl Shared {
    pub fn new(settings: Settings, live: LiveConfig, mut metrics: Metrics) -> Arc<Shared> {
        let upstreams = settings.upstreams.iter().map(Upstream::new).collect();
        let names: Vec<&str> = settings
            .policy
            .policy
            .routes()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        metrics.set_routes(&names);
        let route_names = settings
            .policy
            .policy
            .routes()
            .iter()
            .map(|r| Arc::<str>::from(r.name.as_str()))
            .collect();
        let mut seed = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        let (shutdown, _) = watch::channel(false);
        let http = http_builders(&settings);
        Arc::new(Shared {
            http,
            settings,
            live,
            upstreams,
            route_names,
            metrics,
            ready: AtomicBool::new(false),
            request_seq: AtomicU64::new(1),
            id_prefix: crate::identity::hex(&seed),
            shutdown,
        })
    }

    /// Begin draining: readiness off, listener closes, connections finish their requests.
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
    }
}

/// The authenticated side of a connection for one trust generation.
#[derive(Debug)]
pub struct ConnAuth {
    pub generation: u64,
    /// Bundles the chain verifies against in this generation (empty: refused now).
    pub bundles: Vec<String>,
    /// Set when a re-check after a trust change refused the chain.
    pub refused: Option<VerifyFailure>,
    /// Policy decisions already taken for this connection in this generation, by route
    /// (a decision depends only on the route and the peer, both fixed here).
    decisions: Mutex<Vec<Option<crate::policy::Decision>>>,
}

impl ConnAuth {
    fn new(generation: u64, bundles: Vec<String>, refused: Option<VerifyFailure>) -> ConnAuth {
        ConnAuth {
            generation,
            bundles,
            refused,
            decisions: Mutex::new(Vec::new()),
        }
    }

    /// The decision for `route`, taken by `decide` the first time and remembered.
    pub fn decision(
        &self,
        route: usize,
        decide: impl FnOnce() -> crate::policy::Decision,
    ) -> crate::policy::Decision {
        let mut cache = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Some(d)) = cache.get(route) {
            return d.clone();
        }
        let d = decide();
        if cache.len() <= route {
            cache.resize(route + 1, None);
        }
        cache[route] = Some(d.clone());
        d
    }
}

/// Per-connection context that requests read.
pub struct Conn {
    pub peer: SocketAddr,
    /// `peer`'s address as a header value (`X-Forwarded-For`).
    pub peer_ip: http::HeaderValue,
    /// `None` when no certificate was presented (optional mode).
    pub identity: Option<Arc<PeerIdentity>>,
    /// Identity headers built once; `Err` fails requests closed.
    pub headers: Option<Result<IdentityHeaders, crate::headers::HeaderError>>,
    auth: Mutex<Arc<ConnAuth>>,
    pub(crate) in_flight: AtomicUsize,
    /// Requests received so far (HTTP/1 arrival order), for the smuggling guard.
    pub(crate) requests_seen: AtomicU64,
    /// Set when an exchange on this HTTP/1 connection ends it (a `Connection: close` request
    /// or answer, an HTTP/1.0 client): hyper then closes it, and it must not park.
    pub(crate) closing: AtomicBool,
    pub(crate) framing: Arc<crate::framing::ConflictFlag>,
    /// Milliseconds since `started` of the last request activity.
    last_active_ms: AtomicU64,
    started: Instant,
}

impl Conn {
    /// The connection's authorisation in the current trust generation: re-verifies the
    /// stored chain once per connection per change (revocation reaches open connections).
    pub fn auth(&self, shared: &Shared) -> Arc<ConnAuth> {
        let current = shared.live.generation();
        let mut guard = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        // A certificate that expires while its connection stays open stops counting then.
        if let Some(id) = &self.identity {
            if guard.refused.is_none() && unix_now() > id.not_after_unix {
                warn!(peer = %self.peer, subject = %id.subject_rfc4514,
                    "client certificate expired while its connection was open; its requests now get 403");
                let expired = VerifyFailure::Expired {
                    not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                        id.not_after_unix.max(0) as u64,
                    )),
                };
                *guard = Arc::new(ConnAuth::new(guard.generation, Vec::new(), Some(expired)));
            }
        }
        if guard.generation == current {
            return guard.clone();
        }
        let live = shared.live.load();
        let next = match &self.identity {
            None => ConnAuth::new(live.generation, Vec::new(), None),
            Some(id) => match live.trust.verify(
                &id.leaf_der,
                &id.chain_der,
                rustls::pki_types::UnixTime::now(),
            ) {
                Ok(bundles) => ConnAuth::new(live.generation, bundles, None),
                Err(f) => {
                    warn!(peer = %self.peer, subject = %id.subject_rfc4514, reason = %f,
                        "open connection's client certificate is refused by the reloaded trust; its requests now get 403");
                    ConnAuth::new(live.generation, Vec::new(), Some(f))
                }
            },
        };
        *guard = Arc::new(next);
        guard.clone()
    }

    pub(crate) fn touch(&self) {
        self.last_active_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

async fn until_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Accept until `shutdown` is signalled, then drain for up to `--shutdown-grace`.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let sem = Arc::new(Semaphore::new(shared.settings.max_connections));
    let mut shutdown_rx = shared.shutdown.subscribe();
    shared.ready.store(true, Ordering::SeqCst);
    loop {
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = until_shutdown(&mut shutdown_rx) => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: log, back off a little, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = until_shutdown(&mut shutdown_rx) => break,
        };
        let shared = shared.clone();
        tokio::spawn(connection(shared, tcp, peer, permit));
    }
    drop(listener);
    info!("draining: listener closed, waiting for open connections");
    let all = u32::try_from(shared.settings.max_connections).unwrap_or(u32::MAX);
    let grace = shared.settings.timeouts.shutdown_grace;
    if tokio::time::timeout(grace, sem.acquire_many(all))
        .await
        .is_err()
    {
        warn!(grace = ?grace, "shutdown grace elapsed with connections still open");
    }
}

/// Decrements `certgate_connections_active` however the connection task ends.
struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.metrics.connections_active.dec();
    }
}

async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    shared.metrics.connections_active.inc();
    let _active = ActiveGuard(shared.clone());
    // Boxed, and the stream comes back boxed: what the connection task holds for its whole
    // life (most of it idle) is a few pointers, not the handshake's or the stream's state.
    let Some((io, conn)) = Box::pin(accept(&shared, tcp, peer)).await else {
        return;
    };
    serve_http(shared, conn, io).await;
}

/// The TLS handshake and the connection's verified identity, computed once.
async fn accept(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(Box<Stream>, Arc<Conn>)> {
    let _ = tcp.set_nodelay(true);
    let live = shared.live.load();
    let acceptor = tokio_rustls::TlsAcceptor::from(live.tls.clone());
    let timeout = shared.settings.timeouts.handshake;
    let (result, note) = HANDSHAKE_NOTE
        .scope(RefCell::new(HandshakeNote::default()), async {
            // Boxed: the handshake's state must not size the task for the connection's life.
            let r = tokio::time::timeout(timeout, Box::pin(acceptor.accept(tcp))).await;
            (r, HANDSHAKE_NOTE.with(|n| n.take()))
        })
        .await;
    let tls = match result {
        Err(_) => {
            shared.metrics.handshake("timeout");
            info!(peer = %peer, reason = "handshake timeout", "TLS handshake rejected: the client did not complete the handshake within --handshake-timeout");
            return None;
        }
        Ok(Err(e)) => {
            crate::handshake_log::rejected(shared, peer, &e, note);
            return None;
        }
        Ok(Ok(tls)) => tls,
    };
    shared.metrics.handshake("ok");
    let (identity, bundles) = {
        let (_, session) = tls.get_ref();
        match session.peer_certificates() {
            Some([leaf, rest @ ..]) => {
                // The verifier noted the path it validated; without a note (not expected),
                // verify again rather than trust the presented chain.
                let verified = match note.verified {
                    Some(v) => Some(v),
                    None => live
                        .trust
                        .verify_path(leaf, rest, rustls::pki_types::UnixTime::now())
                        .ok(),
                };
                let Some(verified) = verified else {
                    warn!(peer = %peer, "client certificate accepted by TLS but not by the trust store; closing");
                    return None;
                };
                // The identity keeps the chain used for validation (RFC 9440's
                // Client-Cert-Chain, and the re-check after trust changes), not extra
                // certificates the client may have sent.
                match PeerIdentity::from_chain(leaf, &verified.path) {
                    Ok(id) => (Some(Arc::new(id)), verified.bundles),
                    Err(e) => {
                        warn!(peer = %peer, error = %e, "verified client certificate cannot be parsed; closing");
                        return None;
                    }
                }
            }
            _ => (None, Vec::new()),
        }
    };
    let headers = identity
        .as_ref()
        .map(|id| IdentityHeaders::build(id, &shared.settings.headers));
    let conn = Arc::new(Conn {
        peer,
        peer_ip: crate::headers::client_ip_value(peer.ip()),
        identity,
        headers,
        auth: Mutex::new(Arc::new(ConnAuth::new(live.generation, bundles, None))),
        in_flight: AtomicUsize::new(0),
        requests_seen: AtomicU64::new(0),
        closing: AtomicBool::new(false),
        framing: Arc::default(),
        last_active_ms: AtomicU64::new(0),
        started: Instant::now(),
    });
    drop(live);
    let io = Box::new(crate::framing::GuardedIo::new(
        tls,
        conn.framing.clone(),
        h1_buffer(shared.settings.max_header_bytes),
    ));
    Some((io, conn))
}

/// The HTTP server settings, built once and shared by every connection.
struct HttpBuilders {
    h1: hyper::server::conn::http1::Builder,
    h2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

fn http_builders(s: &Settings) -> HttpBuilders {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        // hyper's header timer also runs while a keep-alive connection waits idle, which
        // would cut idle connections at --header-timeout; certgate times heads itself from
        // their first byte (framing.rs) and idle connections by --idle-timeout.
        .header_read_timeout(None)
        .max_buf_size(h1_buffer(s.max_header_bytes))
        .keep_alive(true);
    // Bound what one HTTP/2 connection may buffer: streams, flow-control windows, send buffer.
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(s.max_header_bytes + 1024).unwrap_or(u32::MAX))
        .max_concurrent_streams(100)
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_send_buf_size(256 * 1024)
        .max_pending_accept_reset_streams(50);
    HttpBuilders { h1, h2 }
}

/// hyper's HTTP/1 read buffer: room for a head of `--max-header-bytes` plus slack; the
/// proxy's own check answers 431 exactly at the limit.
fn h1_buffer(max_header_bytes: usize) -> usize {
    (max_header_bytes + 16 * 1024).max(64 * 1024)
}

/// An HTTP/1 connection idle this long gives its HTTP state (hyper's read and write
/// buffers, about 24 KiB) back and keeps only the TLS stream until the next request's
/// first bytes arrive: nginx does the same on keep-alive connections. Busy connections
/// (a request at least this often) never park.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// How often an active connection's timer looks at it (see `Conn::due`).
const TICK: Duration = Duration::from_millis(100);

/// A client connection's byte stream: TLS, read through the HTTP/1 framing guard.
type Stream = crate::framing::GuardedIo<tokio_rustls::server::TlsStream<TcpStream>>;

type BoxedResponse =
    std::pin::Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

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
        Box::pin(async move { Ok(crate::proxy::handle(&shared, &conn, req).await) })
    }
}

async fn serve_http(shared: Arc<Shared>, conn: Arc<Conn>, io: Box<Stream>) {
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
    let mut shutdown_rx = shared.shutdown.subscribe();
    loop {
        match park(shared, conn, &mut io, &mut shutdown_rx).await {
            Wake::Data => {}
            Wake::Closed => return,
            Wake::IdleTimeout | Wake::Shutdown => {
                close_quietly(&mut io).await;
                return;
            }
        }
        // Boxed: the active state (hyper's connection) is held only while active.
        match Box::pin(active_h1(shared, conn, io, &mut shutdown_rx)).await {
            Some(back) => io = back,
            None => return,
        }
    }
}

enum Wake {
    /// The first bytes of a request arrived (given back to the stream for hyper to read).
    Data,
    /// The client closed the connection or it failed.
    Closed,
    IdleTimeout,
    Shutdown,
}

/// Wait, holding no HTTP state, for the next bytes from the client.
async fn park(
    shared: &Shared,
    conn: &Conn,
    io: &mut Box<Stream>,
    shutdown_rx: &mut watch::Receiver<bool>,
) -> Wake {
    if *shutdown_rx.borrow() {
        return Wake::Shutdown;
    }
    io.shrink();
    let idle_left = shared
        .settings
        .timeouts
        .idle
        .saturating_sub(conn.idle_for());
    let read = std::future::poll_fn(|cx| {
        // On the poll's stack, not in the connection's future: a parked connection keeps
        // no buffer of its own.
        let mut buf = [0u8; 2048];
        let mut rb = ReadBuf::new(&mut buf);
        match std::pin::Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => Poll::Ready(Ok(bytes::Bytes::copy_from_slice(rb.filled()))),
        }
    });
    let got = tokio::select! {
        r = read => r,
        _ = tokio::time::sleep(idle_left) => {
            debug!(peer = %conn.peer, "idle timeout: closing keep-alive connection");
            return Wake::IdleTimeout;
        }
        _ = until_shutdown(shutdown_rx) => return Wake::Shutdown,
    };
    match got {
        Ok(data) if data.is_empty() => Wake::Closed,
        Ok(data) => {
            io.unread(data);
            // Activity: the parking clock restarts, so hyper gets the bytes.
            conn.touch();
            Wake::Data
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
}

impl Conn {
    fn idle_for(&self) -> Duration {
        Duration::from_millis(
            (self.started.elapsed().as_millis() as u64)
                .saturating_sub(self.last_active_ms.load(Ordering::Relaxed)),
        )
    }

    /// The next deadline of an active connection: the head being received
    /// (--header-timeout), otherwise idleness (--idle-timeout, and parking when `park`).
    fn due(&self, idle: Duration, header_timeout: Duration, park: bool) -> Due {
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
        let wait = match conn.due(s.timeouts.idle, s.timeouts.header, !draining && !parking) {
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
                if ok {
                    close_quietly(&mut io).await;
                }
                return None;
            }
            _ = until_shutdown(shutdown_rx), if !draining => {
                std::pin::Pin::new(&mut http).graceful_shutdown();
                draining = true;
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
    let s = &shared.settings;
    let mut shutdown_rx = shared.shutdown.subscribe();
    tokio::pin!(http);
    let mut draining = false;
    loop {
        let wait = match conn.due(s.timeouts.idle, s.timeouts.header, false) {
            Due::HeaderTimeout => {
                debug!(peer = %conn.peer, "header timeout: request head not received within --header-timeout; closing");
                return;
            }
            Due::IdleTimeout if !draining => {
                debug!(peer = %conn.peer, "idle timeout: closing keep-alive connection");
                http.as_mut().shutdown_gracefully();
                draining = true;
                continue;
            }
            Due::IdleTimeout | Due::Park => Duration::from_secs(1),
            Due::Wait(d) => d,
        };
        let wait = wait.max(Duration::from_millis(10));
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    debug!(peer = %conn.peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = until_shutdown(&mut shutdown_rx), if !draining => {
                http.as_mut().shutdown_gracefully();
                draining = true;
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
