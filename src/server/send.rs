//! `--send-timeout`: is what certgate sends making progress toward the client? Two clocks
//! per connection, read by the connection's timer (`conn.rs`), which ends the connection
//! when either has stood still for `--send-timeout`:
//! - the socket: since when a write to the client's TCP socket has been refused (the kernel
//!   buffer is full because the client stopped reading), with no write accepted since;
//! - each HTTP/2 response body: since when hyper has held data of it without asking for more
//!   (the client grants no flow-control window; the socket itself may be idle). A body
//!   waiting for the upstream is not the client's fault and does not count.

use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How often an active connection's timer looks at it (see `Conn::due` in `conn.rs`), and how often a write that is waiting on the client looks at the send clock (`own_h1.rs`).
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// A client connection's byte stream: TLS over the socket whose writes the send clock
/// watches, read through the HTTP/1 framing guard.
pub(crate) type Stream = crate::http::framing::GuardedIo<
    tokio_rustls::server::TlsStream<WatchedIo<tokio::net::TcpStream>>,
>;

/// A clock value: milliseconds since the connection's base instant, plus one; 0 = not
/// waiting on the client.
type Clock = AtomicU64;

const NOT_WAITING: u64 = 0;

/// One connection's send clocks.
#[derive(Debug)]
pub struct SendWatch {
    base: Instant,
    socket_blocked: Clock,
    /// HTTP/2 responses being sent; an entry whose body is gone (strong count 1) is pruned.
    responses: Mutex<Vec<Arc<Clock>>>,
    /// When the last tracked response body ended (activity, for the idle timeout).
    last_finished: Clock,
}

/// What the send clocks say right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendState {
    /// How long the longest wait on the client has lasted, if anything waits on it.
    pub stalled: Option<Duration>,
    /// An HTTP/2 response body is still being sent.
    pub sending: bool,
}

fn stamp(base: Instant) -> u64 {
    base.elapsed().as_millis() as u64 + 1
}

impl SendWatch {
    pub fn new() -> Arc<SendWatch> {
        Arc::new(SendWatch {
            base: Instant::now(),
            socket_blocked: AtomicU64::new(NOT_WAITING),
            responses: Mutex::new(Vec::new()),
            last_finished: AtomicU64::new(NOT_WAITING),
        })
    }

    fn waited(&self, since: u64, now: u64) -> Option<Duration> {
        (since != NOT_WAITING).then(|| Duration::from_millis(now.saturating_sub(since)))
    }

    pub fn state(&self) -> SendState {
        let now = stamp(self.base);
        let mut stalled = self.waited(self.socket_blocked.load(Ordering::Relaxed), now);
        let mut responses = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        responses.retain(|c| Arc::strong_count(c) > 1);
        for c in responses.iter() {
            stalled = stalled.max(self.waited(c.load(Ordering::Relaxed), now));
        }
        SendState {
            stalled,
            sending: !responses.is_empty(),
        }
    }

    /// Time since the last tracked response body ended, if one did.
    pub fn since_finished(&self) -> Option<Duration> {
        // The clock is read only when a response did end (HTTP/2): not for HTTP/1.
        match self.last_finished.load(Ordering::Relaxed) {
            NOT_WAITING => None,
            at => self.waited(at, stamp(self.base)),
        }
    }

    /// `body`, with a clock of its own (HTTP/2 responses that stream).
    pub fn track<B>(self: &Arc<Self>, body: B) -> Tracked<B> {
        // Until hyper first asks for data, the client owes it the window to send any.
        let clock = Arc::new(AtomicU64::new(stamp(self.base)));
        self.responses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(clock.clone());
        Tracked {
            inner: body,
            clock: Some((clock, self.clone())),
        }
    }
}

/// A response body, and its clock when it has one.
pub struct Tracked<B> {
    inner: B,
    clock: Option<(Arc<Clock>, Arc<SendWatch>)>,
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if let Some((_, watch)) = &self.clock {
            watch
                .last_finished
                .store(stamp(watch.base), Ordering::Relaxed);
        }
    }
}

impl<B> Tracked<B> {
    /// No clock: HTTP/1 (the socket clock sees a stalled client) and certgate's own short
    /// answers.
    pub fn untracked(body: B) -> Tracked<B> {
        Tracked {
            inner: body,
            clock: None,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some((clock, watch)) = &this.clock {
            let v = match &r {
                // hyper now holds data for the client; its next request for more is progress.
                Poll::Ready(Some(Ok(_))) => stamp(watch.base),
                // The upstream's turn, or the end.
                Poll::Pending | Poll::Ready(_) => NOT_WAITING,
            };
            clock.store(v, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The client's TCP socket, with the socket clock on its writes.
pub struct WatchedIo<IO> {
    inner: IO,
    watch: Arc<SendWatch>,
}

impl<IO> WatchedIo<IO> {
    pub fn new(inner: IO, watch: Arc<SendWatch>) -> WatchedIo<IO> {
        WatchedIo { inner, watch }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }

    fn note<T>(&self, r: &Poll<std::io::Result<T>>, progress: impl Fn(&T) -> bool) {
        let clock = &self.watch.socket_blocked;
        match r {
            Poll::Pending => {
                if clock.load(Ordering::Relaxed) == NOT_WAITING {
                    clock.store(stamp(self.watch.base), Ordering::Relaxed);
                }
            }
            Poll::Ready(Ok(v)) if !progress(v) => {}
            Poll::Ready(_) => {
                if clock.load(Ordering::Relaxed) != NOT_WAITING {
                    clock.store(NOT_WAITING, Ordering::Relaxed);
                }
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WatchedIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WatchedIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note(&r, |n| *n > 0);
        r
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note(&r, |n| *n > 0);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A body fed through a channel, as an upstream body arrives.
    struct ChanBody(tokio::sync::mpsc::Receiver<Bytes>);

    impl Body for ChanBody {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
        }
    }

    type Polled = Poll<Option<Result<Frame<Bytes>, std::convert::Infallible>>>;

    fn poll(b: &mut Tracked<ChanBody>) -> Polled {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(b).poll_frame(&mut cx)
    }

    #[test]
    fn a_body_counts_only_while_hyper_holds_its_data() {
        let watch = SendWatch::new();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let mut body = watch.track(ChanBody(rx));
        // Registered and not yet asked for data: waiting on the client.
        assert!(watch.state().sending);
        assert!(watch.state().stalled.is_some());
        // Asked, and the upstream has nothing yet: not the client's fault.
        assert!(poll(&mut body).is_pending());
        assert_eq!(watch.state().stalled, None);
        // Data handed over: waiting on the client until hyper asks again.
        tx.try_send(Bytes::from_static(b"x")).unwrap();
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(_)))));
        assert!(watch.state().stalled.is_some());
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert_eq!(watch.state().stalled, None);
        drop(body);
        assert!(!watch.state().sending);
        assert!(watch.since_finished().is_some());
    }

    #[test]
    fn a_refused_socket_write_starts_the_clock_and_an_accepted_one_stops_it() {
        let watch = SendWatch::new();
        let (a, _b) = tokio::io::duplex(8);
        let mut io = WatchedIo::new(a, watch.clone());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The duplex holds 8 bytes: the first write fills it, the second is refused.
        assert!(matches!(
            Pin::new(&mut io).poll_write(&mut cx, &[0; 8]),
            Poll::Ready(Ok(8))
        ));
        assert_eq!(watch.state().stalled, None);
        assert!(Pin::new(&mut io).poll_write(&mut cx, &[0; 8]).is_pending());
        assert!(watch.state().stalled.is_some());
        let (mut c, _d) = tokio::io::duplex(8);
        std::mem::swap(&mut io.inner, &mut c);
        assert!(matches!(
            Pin::new(&mut io).poll_write(&mut cx, &[0; 1]),
            Poll::Ready(Ok(1))
        ));
        assert_eq!(watch.state().stalled, None);
    }
}
