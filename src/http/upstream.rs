//! Upstream connections: HTTP/1.1 over TCP or a Unix socket, kept alive in a small pool per
//! distinct upstream. Bodies stream both ways.
//!
//! The pool is a stack of idle `SendRequest` handles (hyper's own HTTP/1 client connection;
//! each connection runs in its own task). The most recently used connection is reused first;
//! a connection goes back on the stack when its response body has been read to the end.
//! A request that a reused connection could not even start (the upstream closed it while it
//! was idle) is retried once per idle connection and then on a fresh one; a request that was
//! written is never retried.

use super::h1client::{self, AnswerBody, ExchangeError};
use super::h1wire;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Either};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// A request body to the upstream: the client's, streamed untouched (every route without
/// `--verify`), or the body a `--verify` route read whole and checked.
pub type RequestBody = http_body_util::Either<Incoming, http_body_util::Full<Bytes>>;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamUrl {
    /// `http://HOST:PORT`; `authority` is `HOST:PORT`.
    Http { authority: String },
    /// `unix:/path/to.sock`
    Unix(PathBuf),
}

impl std::fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamUrl::Http { authority } => write!(f, "http://{authority}"),
            UpstreamUrl::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// An idle upstream connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream; more are closed when they become idle.
const MAX_IDLE: usize = 1024;
/// Time to establish a TCP connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often idle connections of certgate's own client are checked for an upstream that
/// closed them (hyper's connection tasks notice that themselves).
const REAP_EVERY: Duration = Duration::from_secs(5);
/// `IDLE_TIMEOUT` in reaper ticks: how the own client's idle connections are aged, so that
/// returning one to the pool and taking it out read no clock (it is 85 to 90 s old when
/// it is closed for its age).
const IDLE_TICKS: u64 = IDLE_TIMEOUT.as_secs() / REAP_EVERY.as_secs();

/// One upstream and its connection pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstream {
    pool: Arc<Pool>,
}

#[derive(Debug)]
enum Target {
    /// `HOST:PORT`
    Tcp(String),
    Unix(PathBuf),
}

struct Pool {
    target: Target,
    /// The Host header for requests that arrive without one (HTTP/1.0 clients).
    host: HeaderValue,
    idle: Mutex<VecDeque<Idle>>,
    /// Idle connections of certgate's own client (`h1client`), most recent last, with the
    /// reaper tick (`ticks`) at which each became idle.
    own_idle: Mutex<VecDeque<(h1client::Conn, u64)>>,
    /// Reaper ticks so far (one per `REAP_EVERY` once the reaper runs).
    ticks: std::sync::atomic::AtomicU64,
    /// The task that closes idle own connections the upstream closed has been started.
    reaping: std::sync::atomic::AtomicBool,
    builder: hyper::client::conn::http1::Builder,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("target", &self.target)
            .finish()
    }
}

struct Idle {
    tx: SendRequest<RequestBody>,
    since: Instant,
}

/// Why the upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to upstream {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("upstream reset or failed: {0}")]
    Reset(#[source] hyper::Error),
    #[error("upstream reset or failed: {0}")]
    Exchange(#[source] ExchangeError),
    #[error("upstream did not answer within the upstream timeout")]
    Timeout,
    #[error("internal error: {0}")]
    Internal(&'static str),
    #[error("cannot build the upstream request URI: {0}")]
    Uri(#[from] http::uri::InvalidUri),
}

impl UpstreamError {
    /// `certgate_upstream_errors_total{kind}`
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Reset(_)
            | UpstreamError::Exchange(_)
            | UpstreamError::Internal(_)
            | UpstreamError::Uri(_) => "reset",
        }
    }
}

impl Upstream {
    pub fn new(url: &UpstreamUrl) -> Upstream {
        let (target, host) = match url {
            UpstreamUrl::Http { authority } => (
                Target::Tcp(authority.clone()),
                HeaderValue::from_str(authority)
                    .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            ),
            UpstreamUrl::Unix(path) => (
                Target::Unix(path.clone()),
                HeaderValue::from_static("localhost"),
            ),
        };
        Upstream {
            pool: Arc::new(Pool {
                target,
                host,
                idle: Mutex::new(VecDeque::new()),
                own_idle: Mutex::new(VecDeque::new()),
                ticks: std::sync::atomic::AtomicU64::new(0),
                reaping: std::sync::atomic::AtomicBool::new(false),
                builder: hyper::client::conn::http1::Builder::new(),
            }),
        }
    }

    /// Send `req` to `path` (normalised) and `query`, and wait for the response headers up
    /// to `timeout`.
    /// `lines`: certgate's own header lines for the request (see `Lines`).
    pub async fn send(
        &self,
        mut req: Request<RequestBody>,
        lines: Lines,
        path: &str,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let uri: http::Uri = match query {
            None => path.parse()?,
            Some(q) => {
                let mut s = String::with_capacity(path.len() + 1 + q.len());
                s.push_str(path);
                s.push('?');
                s.push_str(q);
                s.parse()?
            }
        };
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        if !req.headers().contains_key(http::header::HOST) {
            req.headers_mut()
                .insert(http::header::HOST, self.pool.host.clone());
        }
        match tokio::time::timeout(timeout, self.pool.clone().send(req, lines)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(r) => r,
        }
    }
}

impl Upstream {
    /// The `Host` sent for a request that has none: the upstream's authority.
    pub fn default_host(&self) -> &HeaderValue {
        &self.pool.host
    }

    /// A request that certgate wrote itself (`head`: the whole head, then the body if it
    /// has one, at most `h1request::MAX_BODY`), for
    /// certgate's own HTTP/1.1 server: the answer's head is written into `client_head` as
    /// that server sends it on (`h1wire::parse_answer`), and its body streams from the
    /// returned `PooledBody`. The caller bounds the wait for the answer's head.
    pub async fn send_head(
        &self,
        head: &mut Vec<u8>,
        head_request: bool,
        client_head: &mut Vec<u8>,
    ) -> Result<(h1wire::AnswerHead, PooledBody), UpstreamError> {
        let no_body = Bytes::new();
        let (answer, conn) = self
            .pool
            .exchange_own(head, &no_body, head_request, Some(client_head))
            .await?;
        let body = PooledBody {
            inner: Inner::Own(AnswerBody::new(conn, answer.framing, answer.keep_alive)),
            pool: self.pool.clone(),
        };
        Ok((answer, body))
    }
}

/// The body of `req` is in certgate's hands already (none, or one a `--verify` route read):
/// such a request goes through certgate's own client, with its added headers as `Lines`.
pub fn body_in_hand(body: &RequestBody) -> bool {
    match body {
        Either::Left(incoming) => incoming.is_end_stream(),
        Either::Right(_) => true,
    }
}

/// Where the headers certgate adds to a request (identity, forwarding) are.
pub enum Lines {
    /// Written as request-head lines, each ending in CRLF (a body in hand: certgate's own
    /// client writes them after the request's headers).
    Written(Vec<u8>),
    /// Inserted into the request's header map (a streaming body: hyper's client).
    InMap,
}

impl Pool {
    async fn send(
        self: Arc<Self>,
        req: Request<RequestBody>,
        lines: Lines,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        match lines {
            Lines::Written(lines) if body_in_hand(req.body()) => self.send_whole(req, &lines).await,
            Lines::Written(_) => Err(UpstreamError::Internal(
                "header lines written for a request whose body is still arriving",
            )),
            Lines::InMap => self.send_streaming(req).await,
        }
    }

    /// A request whose body certgate holds whole (none, or one a `--verify` route read):
    /// certgate's own client, in this task.
    async fn send_whole(
        self: Arc<Self>,
        req: Request<RequestBody>,
        lines: &[u8],
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let (parts, body) = req.into_parts();
        let body = match body {
            Either::Left(_) => Bytes::new(),
            Either::Right(full) => match full.collect().await {
                Ok(c) => c.to_bytes(),
                Err(never) => match never {},
            },
        };
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut head = Vec::with_capacity(256 + lines.len() + 64 * parts.headers.len());
        h1wire::encode_request_head(
            &mut head,
            &parts.method,
            target,
            &parts.headers,
            lines,
            body.len() as u64,
        );
        let head_request = parts.method == Method::HEAD;
        let (answer, conn) = self
            .exchange_own(&mut head, &body, head_request, None)
            .await?;
        let body = AnswerBody::new(conn, answer.framing, answer.keep_alive);
        let mut resp = Response::new(PooledBody {
            inner: Inner::Own(body),
            pool: self,
        });
        *resp.status_mut() = answer.status;
        *resp.version_mut() = answer.version;
        *resp.headers_mut() = answer.headers;
        Ok(resp)
    }

    /// One exchange on an own connection from the pool (or a new one), sent again on
    /// another connection only when not one byte of it was written.
    async fn exchange_own(
        &self,
        head: &mut Vec<u8>,
        body: &Bytes,
        head_request: bool,
        mut client_head: Option<&mut Vec<u8>>,
    ) -> Result<(h1wire::AnswerHead, h1client::Conn), UpstreamError> {
        loop {
            let (mut conn, reused) = match self.checkout_own() {
                Some(c) => (c, true),
                None => (Box::pin(self.connect_own()).await?, false),
            };
            match conn
                .exchange(head, body, head_request, client_head.as_deref_mut())
                .await
            {
                Ok(answer) => return Ok((answer, conn)),
                // Not one byte written, on a connection the upstream had closed meanwhile:
                // the upstream has not seen it; send it on another connection. A request
                // of which any part was written is never sent again (`WriteBroken`).
                Err(ExchangeError::Write(e)) if reused => {
                    debug!(error = %e, "idle upstream connection was closed; retrying on another");
                }
                Err(e) => return Err(UpstreamError::Exchange(e)),
            }
        }
    }

    /// A request whose body is still arriving: hyper's client sends it while it reads the
    /// answer.
    async fn send_streaming(
        self: Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        loop {
            let (mut tx, reused) = match self.checkout() {
                Some(tx) => (tx, true),
                // Boxed: the rare connect path must not size every request's future.
                None => (Box::pin(self.connect()).await?, false),
            };
            if let Err(e) = tx.ready().await {
                if reused {
                    continue; // closed while idle: take another
                }
                return Err(UpstreamError::Reset(e));
            }
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    return Ok(resp.map(|body| PooledBody {
                        inner: Inner::Hyper(body, Some(tx)),
                        pool: self,
                    }))
                }
                Err(mut e) => match e.take_message() {
                    // Never written: safe to send again, on another connection.
                    Some(back) if reused => {
                        debug!(error = %e.error(), "idle upstream connection was closed; retrying on another");
                        req = back;
                    }
                    _ => return Err(UpstreamError::Reset(e.into_error())),
                },
            }
        }
    }

    fn checkout(&self) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(i) = idle.pop_back() {
            if !i.tx.is_closed() && i.since.elapsed() < IDLE_TIMEOUT {
                return Some(i.tx);
            }
        }
        None
    }

    fn checkin(&self, tx: SendRequest<RequestBody>) {
        if tx.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // The oldest are at the front: close those idle for too long.
        while idle
            .front()
            .is_some_and(|i| now.duration_since(i.since) >= IDLE_TIMEOUT || i.tx.is_closed())
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back(Idle { tx, since: now });
        }
    }

    fn checkout_own(&self) -> Option<h1client::Conn> {
        let now = self.ticks.load(std::sync::atomic::Ordering::Relaxed);
        let mut idle = self.own_idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((mut c, since)) = idle.pop_back() {
            // Saturating: a connection another thread returned after `now` was read is
            // younger, not older.
            if now.saturating_sub(since) < IDLE_TICKS && c.fit_for_reuse() {
                return Some(c);
            }
        }
        None
    }

    fn checkin_own(self: &Arc<Self>, conn: h1client::Conn) {
        if !self.reaping.load(std::sync::atomic::Ordering::Relaxed) {
            self.start_reaper();
        }
        let now = self.ticks.load(std::sync::atomic::Ordering::Relaxed);
        let mut idle = self.own_idle.lock().unwrap_or_else(|p| p.into_inner());
        while idle
            .front()
            .is_some_and(|(_, since)| now.saturating_sub(*since) >= IDLE_TICKS)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE {
            idle.push_back((conn, now));
        }
    }

    /// An idle socket the upstream closed would otherwise stay open (CLOSE_WAIT) until a
    /// request happens to check it out: with no traffic, for ever. One task per pool, started
    /// with its first idle connection, closes such sockets.
    #[cold]
    fn start_reaper(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .reaping
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let pool = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(REAP_EVERY);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.ticks
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                pool.reap_own();
            }
        });
    }

    /// Close idle own connections that are too old, or that the upstream closed or sent
    /// something unasked on.
    fn reap_own(&self) {
        let now = self.ticks.load(std::sync::atomic::Ordering::Relaxed);
        let mut idle = self.own_idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain_mut(|(c, since)| now.saturating_sub(*since) < IDLE_TICKS && c.fit_for_reuse());
    }

    async fn connect(&self) -> Result<SendRequest<RequestBody>, UpstreamError> {
        match self.open().await? {
            h1client::Io::Tcp(tcp) => self.handshake(tcp).await,
            h1client::Io::Unix(unix) => self.handshake(unix).await,
        }
    }

    async fn connect_own(&self) -> Result<h1client::Conn, UpstreamError> {
        Ok(h1client::Conn::new(self.open().await?))
    }

    /// A new socket to the upstream.
    async fn open(&self) -> Result<h1client::Io, UpstreamError> {
        let connect_error = |source: std::io::Error| UpstreamError::Connect {
            target: match &self.target {
                Target::Tcp(a) => a.clone(),
                Target::Unix(p) => format!("unix:{}", p.display()),
            },
            source,
        };
        match &self.target {
            Target::Tcp(authority) => {
                let tcp = tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    tokio::net::TcpStream::connect(authority.as_str()),
                )
                .await
                .map_err(|_| {
                    connect_error(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    ))
                })?
                .map_err(connect_error)?;
                let _ = tcp.set_nodelay(true);
                Ok(h1client::Io::Tcp(tcp))
            }
            Target::Unix(path) => {
                let unix = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect_error)?;
                Ok(h1client::Io::Unix(unix))
            }
        }
    }

    async fn handshake<S>(&self, stream: S) -> Result<SendRequest<RequestBody>, UpstreamError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, conn) = self
            .builder
            .handshake::<_, RequestBody>(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Reset)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(tx)
    }
}

/// An upstream response body; its connection goes back to the pool when it has been read
/// to the end (and is closed if the body is dropped before that).
pub struct PooledBody {
    inner: Inner,
    pool: Arc<Pool>,
}

enum Inner {
    /// hyper's client, and the connection's handle until it goes back to the pool.
    Hyper(Incoming, Option<SendRequest<RequestBody>>),
    Own(AnswerBody),
}

/// An upstream answer body that broke off.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error(transparent)]
    Own(#[from] ExchangeError),
}

impl PooledBody {
    fn release(&mut self) {
        match &mut self.inner {
            Inner::Hyper(_, tx) => {
                if let Some(tx) = tx.take() {
                    self.pool.checkin(tx);
                }
            }
            Inner::Own(body) => {
                if let Some(conn) = body.take_reusable() {
                    self.pool.checkin_own(conn);
                }
            }
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let frame = match &mut this.inner {
            Inner::Hyper(body, _) => {
                ready!(Pin::new(body).poll_frame(cx)).map(|f| f.map_err(BodyError::from))
            }
            Inner::Own(body) => {
                ready!(Pin::new(body).poll_frame(cx)).map(|f| f.map_err(BodyError::from))
            }
        };
        match &frame {
            None => this.release(),
            // The client's answer is cut off (hyper ends the connection); say why.
            Some(Err(e)) => {
                warn!(error = %e, "upstream answer body broke off; the client's answer is cut short")
            }
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Hyper(body, _) => body.is_end_stream(),
            Inner::Own(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Hyper(body, _) => body.size_hint(),
            Inner::Own(body) => body.size_hint(),
        }
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body with nothing left (HEAD, 204, 304, or read to its end) frees its connection.
        if self.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn request(method: Method, body: Bytes) -> Request<RequestBody> {
        let mut req = Request::new(Either::Right(http_body_util::Full::new(body)));
        *req.method_mut() = method;
        req
    }

    /// A large `--verify` body on a reused connection whose upstream answers before reading
    /// it and closes: the write breaks off, but the upstream has seen the request and may
    /// have acted on it. It must reach the upstream once, and its answer the client.
    #[tokio::test]
    async fn a_request_whose_write_broke_off_is_not_sent_again() {
        let (addr, posts) = h1client::tests::early_answering_upstream();
        let upstream = Upstream::new(&UpstreamUrl::Http {
            authority: addr.to_string(),
        });
        let timeout = Duration::from_secs(20);
        // A connection in the pool, so that the POST goes out on a reused one.
        let warm = upstream
            .send(
                request(Method::GET, Bytes::new()),
                Lines::Written(Vec::new()),
                "/",
                None,
                timeout,
            )
            .await
            .unwrap();
        assert_eq!(warm.status(), 200);
        warm.into_body().collect().await.unwrap();
        let body = Bytes::from(vec![b'a'; 32 << 20]);
        let result = upstream
            .send(
                request(Method::POST, body),
                Lines::Written(Vec::new()),
                "/",
                None,
                timeout,
            )
            .await;
        assert_eq!(
            posts.load(Ordering::SeqCst),
            1,
            "the request reached the upstream twice"
        );
        assert_eq!(result.expect("the upstream's answer").status(), 413);
    }

    /// An idle connection of certgate's own client that the upstream closes is closed too
    /// (no socket left in CLOSE_WAIT until some later request checks it out).
    #[tokio::test]
    async fn idle_connections_the_upstream_closed_are_closed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while !got.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
                got.push(byte[0]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            // then the upstream's keep-alive timeout closes it
        });
        let upstream = Upstream::new(&UpstreamUrl::Http {
            authority: addr.to_string(),
        });
        let resp = upstream
            .send(
                request(Method::GET, Bytes::new()),
                Lines::Written(Vec::new()),
                "/",
                None,
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        resp.into_body().collect().await.unwrap();
        let idle = || upstream.pool.own_idle.lock().unwrap().len();
        assert_eq!(idle(), 1);
        assert!(upstream.pool.reaping.load(Ordering::Relaxed), "no reaper");
        tokio::time::sleep(Duration::from_millis(200)).await;
        upstream.pool.reap_own();
        assert_eq!(idle(), 0);
    }

    /// An idle own connection is taken out again until it has been idle for `IDLE_TIMEOUT`
    /// in reaper ticks, then no more (closed for its age, though the upstream keeps it).
    #[tokio::test]
    async fn idle_connections_age_in_reaper_ticks() {
        let (addr, _) = h1client::tests::early_answering_upstream();
        let upstream = Upstream::new(&UpstreamUrl::Http {
            authority: addr.to_string(),
        });
        let get = || {
            upstream.send(
                request(Method::GET, Bytes::new()),
                Lines::Written(Vec::new()),
                "/",
                None,
                Duration::from_secs(5),
            )
        };
        get().await.unwrap().into_body().collect().await.unwrap();
        let pool = &upstream.pool;
        let idle = || pool.own_idle.lock().unwrap().len();
        assert_eq!(idle(), 1);
        pool.ticks.fetch_add(IDLE_TICKS - 1, Ordering::Relaxed);
        let c = pool.checkout_own().expect("young enough to be reused");
        pool.checkin_own(c);
        // Idle again from this tick on: it ages from its last use, not its first.
        pool.ticks.fetch_add(IDLE_TICKS - 1, Ordering::Relaxed);
        let c = pool
            .checkout_own()
            .expect("idle for less than IDLE_TIMEOUT");
        pool.checkin_own(c);
        pool.ticks.fetch_add(IDLE_TICKS, Ordering::Relaxed);
        assert!(
            pool.checkout_own().is_none(),
            "idle for IDLE_TIMEOUT, still reused"
        );
        assert_eq!(idle(), 0);
    }
}
