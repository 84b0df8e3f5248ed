//! HTTP/1.1 request-smuggling guard. hyper accepts a request carrying both
//! `Content-Length` and `Transfer-Encoding` (Transfer-Encoding wins, RFC 9112 §6.3); the
//! contract wants it refused with 400. hyper drops the Content-Length before the service
//! sees the request, so this read-side wrapper follows the message framing of the bytes
//! hyper reads and records the index of the first request head that carries both.
//!
//! `Framing` is pure (bytes in, state out); `GuardedIo` applies it to a stream.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Default longest line the tracker buffers (see `Framing::with_max_line`).
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailer,
    /// Framing is beyond what the tracker follows (e.g. a bad head): stop looking.
    Off,
}

/// Tracks request framing over a byte stream.
#[derive(Debug)]
pub struct Framing {
    state: State,
    line: Vec<u8>,
    saw_request_line: bool,
    /// Empty lines arrived where a request line was expected (RFC 9112 §2.2 lets them be
    /// ignored): a head is being received all the same, and --header-timeout runs.
    saw_leading_blank: bool,
    /// The head now being received is a `CONNECT` or the HTTP/2 preface: not followed
    /// past its end (timed until then like any other).
    tunnel: bool,
    has_cl: bool,
    cl: Option<u64>,
    has_te: bool,
    te_chunked: bool,
    heads: u64,
    max_line: usize,
    /// Index (0-based) of the first head with both Content-Length and Transfer-Encoding, or
    /// that the tracker could not follow (a line longer than `max_line`): fail closed.
    pub conflict_at: Option<u64>,
}

impl Default for Framing {
    fn default() -> Self {
        Framing {
            state: State::Head,
            line: Vec::new(),
            saw_request_line: false,
            saw_leading_blank: false,
            tunnel: false,
            has_cl: false,
            cl: None,
            has_te: false,
            te_chunked: false,
            heads: 0,
            max_line: MAX_LINE,
            conflict_at: None,
        }
    }
}

impl Framing {
    /// A tracker that follows lines up to `max_line` bytes: make it at least hyper's read
    /// buffer, so that every head hyper accepts is followed.
    pub fn with_max_line(max_line: usize) -> Framing {
        Framing {
            max_line,
            ..Framing::default()
        }
    }

    /// True while part, but not all, of a request head has arrived.
    pub fn in_partial_head(&self) -> bool {
        self.state == State::Head
            && (self.saw_request_line || self.saw_leading_blank || !self.line.is_empty())
    }

    /// Feed bytes in the order they were read.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Off => return,
                State::Body(n) | State::ChunkData(n) => {
                    let take = (data.len() as u64).min(n) as usize;
                    data = &data[take..];
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), l) => State::Body(l),
                        (_, 0) => State::ChunkDataEnd,
                        (_, l) => State::ChunkData(l),
                    };
                }
                _ => match memchr::memchr(b'\n', data) {
                    // However the line is cut into reads, one longer than `max_line`
                    // cannot be followed: flag this request (fail closed) and stop
                    // looking; the connection is closed after it.
                    found if self.line.len() + found.unwrap_or(data.len()) > self.max_line => {
                        if self.conflict_at.is_none() {
                            self.conflict_at = Some(self.heads);
                        }
                        self.line = Vec::new();
                        self.state = State::Off;
                        return;
                    }
                    None => {
                        self.line.extend_from_slice(data);
                        return;
                    }
                    // The whole line is in this read (the usual case): looked at in place.
                    Some(i) if self.line.is_empty() => {
                        self.on_line(without_cr(&data[..i]));
                        data = &data[i + 1..];
                    }
                    Some(i) => {
                        self.line.extend_from_slice(&data[..i]);
                        data = &data[i + 1..];
                        let mut line = std::mem::take(&mut self.line);
                        self.on_line(without_cr(&line));
                        line.clear();
                        self.line = line;
                    }
                },
            }
        }
    }

    fn on_line(&mut self, line: &[u8]) {
        match self.state {
            State::Head => self.on_head_line(line),
            State::ChunkSize => {
                let hex: Vec<u8> = line
                    .iter()
                    .copied()
                    .take_while(|b| b.is_ascii_hexdigit())
                    .collect();
                match std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                {
                    Some(0) => self.state = State::Trailer,
                    Some(n) => self.state = State::ChunkData(n),
                    None => self.state = State::Off,
                }
            }
            State::ChunkDataEnd => self.state = State::ChunkSize,
            State::Trailer => {
                if line.is_empty() {
                    self.state = State::Head;
                }
            }
            State::Body(_) | State::ChunkData(_) | State::Off => {}
        }
    }

    fn on_head_line(&mut self, line: &[u8]) {
        if !self.saw_request_line {
            if line.is_empty() {
                // Tolerated before a request line, but timed like the head they precede.
                self.saw_leading_blank = true;
                return;
            }
            self.saw_request_line = true;
            // CONNECT tunnels and HTTP/2 prior knowledge are not HTTP/1 framing past
            // their head.
            self.tunnel = line.starts_with(b"CONNECT ") || line.starts_with(b"PRI * HTTP/2");
            return;
        }
        if line.is_empty() {
            // end of head
            if self.has_cl && self.has_te && self.conflict_at.is_none() {
                self.conflict_at = Some(self.heads);
            }
            self.state = if self.tunnel {
                State::Off
            } else if self.has_te {
                if self.te_chunked {
                    State::ChunkSize
                } else {
                    State::Off
                }
            } else {
                match self.cl {
                    Some(n) if n > 0 => State::Body(n),
                    _ => State::Head,
                }
            };
            self.heads += 1;
            self.saw_request_line = false;
            self.saw_leading_blank = false;
            self.tunnel = false;
            self.has_cl = false;
            self.cl = None;
            self.has_te = false;
            self.te_chunked = false;
            return;
        }
        // Only Content-Length and Transfer-Encoding matter: every other line is passed over
        // by its first letter.
        if !matches!(line[0], b'c' | b'C' | b't' | b'T') {
            return;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            return;
        };
        let name = &line[..colon];
        let is_cl = name.eq_ignore_ascii_case(b"content-length");
        if !is_cl && !name.eq_ignore_ascii_case(b"transfer-encoding") {
            return; // every other header: only its line end matters
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        let value = value.trim();
        if is_cl {
            self.has_cl = true;
            self.cl = value.parse().ok();
        } else {
            self.has_te = true;
            self.te_chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
        }
    }
}

/// A line without the `\r` of its `\r\n` ending.
fn without_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Shared between the reader, the request handler and the connection's timer.
#[derive(Debug)]
pub struct ConflictFlag {
    conflict: AtomicU64,
    /// Milliseconds since `base` (+1, so 0 means none) at which the request head now being
    /// received started: `--header-timeout` runs from the first byte of a head, not while
    /// a keep-alive connection is idle.
    head_since_ms: AtomicU64,
    base: std::time::Instant,
}

impl Default for ConflictFlag {
    fn default() -> Self {
        ConflictFlag {
            conflict: AtomicU64::new(u64::MAX),
            head_since_ms: AtomicU64::new(0),
            base: std::time::Instant::now(),
        }
    }
}

impl ConflictFlag {
    /// True when request number `index` (0-based, in arrival order) had both headers.
    pub fn is_conflict(&self, index: u64) -> bool {
        self.conflict.load(Ordering::Acquire) == index
    }

    /// How long the head now being received has been arriving, if one is.
    pub fn head_pending_for(&self) -> Option<std::time::Duration> {
        match self.head_since_ms.load(Ordering::Acquire) {
            0 => None,
            since => {
                let now = self.base.elapsed().as_millis() as u64;
                Some(std::time::Duration::from_millis(
                    now.saturating_sub(since - 1),
                ))
            }
        }
    }
}

/// A stream whose reads feed a `Framing` tracker.
pub struct GuardedIo<IO> {
    inner: IO,
    framing: Framing,
    flag: Arc<ConflictFlag>,
    /// Bytes already read (and tracked) that the next reads return first.
    unread: bytes::Bytes,
}

impl<IO> GuardedIo<IO> {
    /// `max_line`: see `Framing::with_max_line`.
    pub fn new(inner: IO, flag: Arc<ConflictFlag>, max_line: usize) -> Self {
        GuardedIo {
            inner,
            framing: Framing::with_max_line(max_line),
            flag,
            unread: bytes::Bytes::new(),
        }
    }

    /// Give back bytes that were read through this stream but not consumed: the next reads
    /// return them first, without feeding the tracker a second time.
    pub fn unread(&mut self, data: bytes::Bytes) {
        // `data` was read before what is still unread (hyper read part of it).
        if self.unread.is_empty() {
            self.unread = data;
        } else {
            let mut joined = Vec::with_capacity(self.unread.len() + data.len());
            joined.extend_from_slice(&data);
            joined.extend_from_slice(&self.unread);
            self.unread = joined.into();
        }
    }

    /// Take the bytes given back with `unread` (certgate's own HTTP/1.1 server reads a
    /// request head from them in place).
    pub fn take_unread(&mut self) -> bytes::Bytes {
        std::mem::take(&mut self.unread)
    }

    /// Release buffer capacity kept between requests (an idle connection holds no more
    /// than it needs).
    pub fn shrink(&mut self) {
        if self.framing.line.is_empty() {
            self.framing.line = Vec::new();
        }
    }

    pub fn get_ref(&self) -> &IO {
        &self.inner
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for GuardedIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.remaining());
            buf.put_slice(&this.unread.split_to(n));
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let had = this.framing.conflict_at;
            this.framing.feed(&buf.filled()[before..]);
            if had.is_none() {
                if let Some(i) = this.framing.conflict_at {
                    this.flag.conflict.store(i, Ordering::Release);
                }
            }
            let pending = this.flag.head_since_ms.load(Ordering::Relaxed) != 0;
            match (this.framing.in_partial_head(), pending) {
                (true, false) => {
                    let now = this.flag.base.elapsed().as_millis() as u64;
                    this.flag.head_since_ms.store(now + 1, Ordering::Release);
                }
                (false, true) => this.flag.head_since_ms.store(0, Ordering::Release),
                _ => {}
            }
        }
        r
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for GuardedIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Framing {
        let mut f = Framing::default();
        for c in chunks {
            f.feed(c);
        }
        f
    }

    #[test]
    fn cl_and_te_is_flagged() {
        let f = run(&[b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]);
        assert_eq!(f.conflict_at, Some(0));
    }

    #[test]
    fn te_then_cl_split_across_reads_is_flagged() {
        let f = run(&[
            b"POST / HTTP/1.1\r\ntransfer-enc",
            b"oding: chunked\r\ncontent-length: 3\r",
            b"\n\r\n",
        ]);
        assert_eq!(f.conflict_at, Some(0));
    }

    #[test]
    fn bodies_are_skipped_so_body_text_is_not_a_head() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len());
        let mut f = Framing::default();
        f.feed(head.as_bytes());
        f.feed(body);
        f.feed(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(f.conflict_at, None);
        assert_eq!(f.heads, 2);
    }

    #[test]
    fn chunked_bodies_are_followed() {
        let f = run(&[
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
            b"POST /b HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        ]);
        assert_eq!(f.conflict_at, Some(1));
    }

    #[test]
    fn h2_preface_turns_tracking_off() {
        let f = run(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n"]);
        assert_eq!(f.conflict_at, None);
    }

    #[test]
    fn tunnel_heads_are_timed_until_complete_then_not_followed() {
        let mut f = Framing::default();
        f.feed(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n");
        assert!(f.in_partial_head());
        f.feed(b"\r\n");
        assert!(!f.in_partial_head());
        f.feed(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            (f.heads, f.conflict_at),
            (1, None),
            "tunnel bytes are not heads"
        );
        let mut f = Framing::default();
        f.feed(b"PRI * HTTP/2.0\r\n");
        assert!(f.in_partial_head());
    }

    #[test]
    fn a_line_too_long_to_follow_fails_closed() {
        let mut f = Framing::with_max_line(16);
        f.feed(b"GET / HTTP/1.1\r\nX-Long: ");
        f.feed(&[b'a'; 64]);
        assert_eq!(f.conflict_at, Some(0));
    }

    #[test]
    fn partial_heads_are_tracked_until_complete() {
        let mut f = Framing::default();
        assert!(!f.in_partial_head());
        f.feed(b"GET / HT");
        assert!(f.in_partial_head());
        f.feed(b"TP/1.1\r\nHost: a\r\n");
        assert!(f.in_partial_head());
        f.feed(b"\r\n");
        assert!(!f.in_partial_head());
        // Empty lines before a request line are the start of a head too (timed).
        f.feed(b"\r\n");
        assert!(f.in_partial_head());
        f.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(!f.in_partial_head());
        assert_eq!(f.heads, 2);
    }

    #[test]
    fn plain_requests_are_not_flagged() {
        let f = run(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"]);
        assert_eq!(f.conflict_at, None);
        assert_eq!(f.heads, 2);
    }

    // Found by fuzzing (fuzz/fuzz_targets/framing.rs): a line over `max_line` was flagged
    // only when it arrived in pieces, so the verdict depended on how TCP cut the stream.
    #[test]
    fn an_over_long_line_is_flagged_however_it_is_split() {
        let line = b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut whole = Framing::with_max_line(16);
        whole.feed(line);
        let mut split = Framing::with_max_line(16);
        for b in line {
            split.feed(std::slice::from_ref(b));
        }
        assert_eq!(split.conflict_at, Some(0));
        assert_eq!(whole.conflict_at, Some(0));
        // A line of exactly `max_line` bytes (CR included) is followed either way.
        let mut exact = Framing::with_max_line(16);
        exact.feed(b"GET / HTTP/1.1\r\nX: 0123456789ab\r\n\r\n");
        assert_eq!(exact.conflict_at, None);
        assert_eq!(exact.heads, 1);
    }
}
