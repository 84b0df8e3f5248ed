//! One upstream HTTP/1.1 connection driven by the request's own task: write a request whose
//! body certgate already holds, read the answer head in place, and stream the answer body
//! from the same buffer. No connection task and no channel between the request and its
//! connection, which is what hyper's client costs per request (see docs/performance.md).
//! Requests whose body is still arriving go through hyper's client (`upstream.rs`), which
//! sends the body while it reads the answer.

use super::h1wire::{self, AnswerHead, Chunked, Framing, Parsed, WireError};
use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// First read size for an answer; doubled while reads fill it, up to `MAX_READ`.
const FIRST_READ: usize = 8 * 1024;
const MAX_READ: usize = 256 * 1024;
/// A request body up to this size goes out in the same write as its head.
const JOIN_BODY: usize = 64 * 1024;

/// The socket to the upstream.
#[derive(Debug)]
pub enum Io {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Io {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Io::Tcp(s) => s.poll_read_ready(cx),
            Io::Unix(s) => s.poll_read_ready(cx),
        }
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.try_read_buf(buf),
            Io::Unix(s) => s.try_read_buf(buf),
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.read_buf(buf).await,
            Io::Unix(s) => s.read_buf(buf).await,
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Io::Tcp(s) => s.readable().await,
            Io::Unix(s) => s.readable().await,
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            Io::Tcp(s) => s.writable().await,
            Io::Unix(s) => s.writable().await,
        }
    }

    fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.try_write(data),
            Io::Unix(s) => s.try_write(data),
        }
    }

    /// `write_all` that adds to `sent` every byte the socket took, also when it then fails:
    /// whether the upstream can have seen any of the request decides whether it may be
    /// sent again.
    async fn write_all_counted(&mut self, mut data: &[u8], sent: &mut usize) -> io::Result<()> {
        while !data.is_empty() {
            let n = match self {
                Io::Tcp(s) => s.write(data).await,
                Io::Unix(s) => s.write(data).await,
            }?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            *sent += n;
            data = &data[n..];
        }
        Ok(())
    }
}

/// Why an exchange failed, and whether the request may be sent again elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Not one byte of the request reached the upstream (it had closed the connection):
    /// the request may be sent again on another connection.
    #[error("writing the request to the upstream failed: {0}")]
    Write(#[source] io::Error),
    /// Writing broke off after part of the request reached the upstream, and no answer
    /// came: the upstream may have acted on it, so it is never sent again.
    #[error("writing the request to the upstream broke off after {sent} bytes: {source}")]
    WriteBroken {
        sent: usize,
        #[source]
        source: io::Error,
    },
    #[error("reading the upstream's answer failed: {0}")]
    Read(#[source] io::Error),
    #[error("the upstream closed the connection without answering")]
    Closed,
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// An idle or busy upstream connection with the bytes read from it and not yet used.
#[derive(Debug)]
pub struct Conn {
    io: Io,
    buf: BytesMut,
}

impl Conn {
    pub fn new(io: Io) -> Conn {
        Conn {
            io,
            buf: BytesMut::new(),
        }
    }

    /// An idle connection is fit for a request: the upstream has not closed it and sent
    /// nothing unasked. Costs no system call unless the socket became readable.
    pub fn fit_for_reuse(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Polled outside tokio's task budget: a poll refused because the task has spent its
        // budget is `Pending` too, and would pass a closed or poisoned connection as fit.
        let sock = &self.io;
        let mut readiness = std::pin::pin!(tokio::task::coop::unconstrained(std::future::poll_fn(
            |cx| sock.poll_read_ready(cx)
        )));
        match std::future::Future::poll(readiness.as_mut(), &mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readable: closed (0), unasked bytes, or a stale readiness (WouldBlock).
            Poll::Ready(Ok(())) => matches!(
                self.io.try_read_buf(&mut self.buf),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            ),
        }
    }

    /// Send `head` and `body` (the whole request) and read the answer's head. The answer
    /// body follows from `AnswerBody::new(conn, ..)`. `client_head`: see
    /// `h1wire::parse_answer`.
    pub async fn exchange(
        &mut self,
        head: &mut Vec<u8>,
        body: &Bytes,
        head_request: bool,
        client_head: Option<&mut Vec<u8>>,
    ) -> Result<AnswerHead, ExchangeError> {
        let mut sent = 0;
        let written = if body.len() <= JOIN_BODY {
            let head_len = head.len();
            head.extend_from_slice(body);
            let written = self.io.write_all_counted(head, &mut sent).await;
            head.truncate(head_len); // kept for a retry on another connection
            written
        } else {
            match self.io.write_all_counted(head, &mut sent).await {
                // Boxed: only bodies over JOIN_BODY come here, and every exchange's future
                // would otherwise carry this one's size.
                Ok(()) => {
                    match Box::pin(self.write_watching(body, &mut sent, head_request)).await {
                        Ok(true) => Ok(()),
                        // The upstream answered before taking the whole body (a 413 or 401
                        // while it stops reading but keeps the connection): that answer is
                        // the request's; the rest is not sent and the connection not reused.
                        Ok(false) => {
                            let mut answer = self.read_head(head_request, client_head).await?;
                            answer.keep_alive = false;
                            return Ok(answer);
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        match written {
            Ok(()) => self.read_head(head_request, client_head).await,
            Err(e) if sent == 0 => Err(ExchangeError::Write(e)),
            // The upstream has part of the request and may have answered without reading
            // the rest (a 413 or 401 before the body, then a close, which breaks the write
            // off): that answer is the request's. The connection carries nothing more.
            Err(source) => match self.read_head(head_request, client_head).await {
                Ok(mut answer) => {
                    answer.keep_alive = false;
                    Ok(answer)
                }
                Err(_) => Err(ExchangeError::WriteBroken { sent, source }),
            },
        }
    }

    /// Write a large body while watching for the answer: `Ok(false)` when a final answer's
    /// head (or something that cannot be one) arrived before the body was all written.
    async fn write_watching(
        &mut self,
        mut data: &[u8],
        sent: &mut usize,
        head_request: bool,
    ) -> io::Result<bool> {
        while !data.is_empty() {
            tokio::select! {
                biased;
                r = self.io.readable() => {
                    r?;
                    self.buf.reserve(FIRST_READ);
                    match self.io.try_read_buf(&mut self.buf) {
                        // Closed: the next write fails, and what was read is looked at then.
                        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                        Ok(_) if self.final_head_buffered(head_request) => return Ok(false),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                r = self.io.writable() => {
                    r?;
                    match self.io.try_write(data) {
                        Ok(n) => {
                            *sent += n;
                            data = &data[n..];
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(true)
    }

    /// The bytes read hold a whole final answer head (after any interim ones), or bytes
    /// that cannot start one: either way writing stops and `read_head` decides.
    fn final_head_buffered(&self, head_request: bool) -> bool {
        let mut at = 0;
        loop {
            match h1wire::parse_answer_head(&self.buf[at..], head_request) {
                Ok(Parsed::Partial) => return false,
                Ok(Parsed::Interim(n)) => at += n,
                Ok(Parsed::Head(..)) | Err(_) => return true,
            }
        }
    }

    /// Read up to the end of the final answer's head, skipping interim (1xx) answers.
    async fn read_head(
        &mut self,
        head_request: bool,
        mut client_head: Option<&mut Vec<u8>>,
    ) -> Result<AnswerHead, ExchangeError> {
        loop {
            if !self.buf.is_empty() {
                match h1wire::parse_answer(&self.buf, head_request, client_head.as_deref_mut())? {
                    Parsed::Head(answer, n) => {
                        let _ = self.buf.split_to(n);
                        return Ok(answer);
                    }
                    Parsed::Interim(n) => {
                        let _ = self.buf.split_to(n);
                        continue;
                    }
                    Parsed::Partial => {}
                }
            }
            self.buf.reserve(FIRST_READ);
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return Err(ExchangeError::Closed),
                Ok(0) => return Err(WireError::Malformed("closed within the head").into()),
                Ok(_) => {}
                Err(e) => return Err(ExchangeError::Read(e)),
            }
        }
    }
}

#[derive(Debug)]
enum State {
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// An answer body read from its connection as the client takes it.
#[derive(Debug)]
pub struct AnswerBody {
    conn: Option<Conn>,
    state: State,
    keep_alive: bool,
    read_size: usize,
}

impl AnswerBody {
    pub fn new(conn: Conn, framing: Framing, keep_alive: bool) -> AnswerBody {
        let state = match framing {
            Framing::Empty => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunked::default()),
            Framing::UntilClose => State::UntilClose,
        };
        AnswerBody {
            conn: Some(conn),
            state,
            keep_alive,
            read_size: FIRST_READ,
        }
    }

    /// The connection, once the body has been read to its end and the connection can take
    /// another request (nothing unasked after the body, no `Connection: close`).
    pub fn take_reusable(&mut self) -> Option<Conn> {
        match self.state {
            State::Done if self.keep_alive => self.conn.take().filter(|c| c.buf.is_empty()),
            _ => None,
        }
    }

    /// Body data already received, per the framing.
    fn next_buffered(&mut self, conn: &mut Conn) -> Result<Option<Bytes>, WireError> {
        match &mut self.state {
            State::Done => Ok(None),
            State::Length(n) => {
                if conn.buf.is_empty() {
                    return Ok(None);
                }
                let take = (conn.buf.len() as u64).min(*n) as usize;
                *n -= take as u64;
                if *n == 0 {
                    self.state = State::Done;
                }
                Ok(Some(conn.buf.split_to(take).freeze()))
            }
            State::Chunked(c) => {
                let data = c.decode(&mut conn.buf)?;
                if c.is_done() {
                    self.state = State::Done;
                }
                Ok(data)
            }
            State::UntilClose if conn.buf.is_empty() => Ok(None),
            State::UntilClose => Ok(Some(conn.buf.split().freeze())),
        }
    }
}

impl Body for AnswerBody {
    type Data = Bytes;
    type Error = ExchangeError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        let this = self.get_mut();
        let Some(mut conn) = this.conn.take() else {
            return Poll::Ready(None);
        };
        let r = this.poll_data(&mut conn, cx);
        this.conn = Some(conn);
        r
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl AnswerBody {
    fn poll_data(
        &mut self,
        conn: &mut Conn,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ExchangeError>>> {
        loop {
            match self.next_buffered(conn) {
                Err(e) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Ok(Some(data)) if data.is_empty() => continue,
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) if matches!(self.state, State::Done) => return Poll::Ready(None),
                Ok(None) => {}
            }
            if let Err(e) = ready!(conn.io.poll_read_ready(cx)) {
                self.keep_alive = false;
                return Poll::Ready(Some(Err(ExchangeError::Read(e))));
            }
            conn.buf.reserve(self.read_size);
            match conn.io.try_read_buf(&mut conn.buf) {
                Ok(0) if matches!(self.state, State::UntilClose) => {
                    self.state = State::Done;
                    self.keep_alive = false;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(WireError::Truncated.into())));
                }
                Ok(n) => {
                    if n >= self.read_size {
                        self.read_size = (self.read_size * 2).min(MAX_READ);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(ExchangeError::Read(e))));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Larger than what loopback socket buffers absorb while nobody reads.
    const LARGE: usize = 32 << 20;

    /// Reads one request head from `s`; the request line, or `None` at the end.
    fn read_head(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).ok()? == 0 {
                return None;
            }
            got.push(byte[0]);
        }
        got.split(|&b| b == b'\r').next().map(<[u8]>::to_vec)
    }

    /// An upstream that answers every request head at once: a GET with an empty 200 (keep
    /// alive), anything else with a 413 and a close, its body unread (which makes the
    /// kernel reset the connection under a writer). Returns its address and how many
    /// non-GET request heads it has seen.
    pub(crate) fn early_answering_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let posts = Arc::new(AtomicUsize::new(0));
        let seen = posts.clone();
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { return };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    while let Some(line) = read_head(&mut s) {
                        if line.starts_with(b"GET ") {
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                            continue;
                        }
                        seen.fetch_add(1, Ordering::SeqCst);
                        let _ = s.write_all(
                            b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbig\n",
                        );
                        std::thread::sleep(Duration::from_millis(200));
                        return; // closed with the body unread: a reset
                    }
                });
            }
        });
        (addr, posts)
    }

    #[tokio::test]
    async fn an_upstream_that_answers_before_reading_a_large_body_gives_the_answer() {
        let (addr, posts) = early_answering_upstream();
        let mut conn = Conn::new(Io::Tcp(TcpStream::connect(addr).await.unwrap()));
        let mut head =
            format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {LARGE}\r\n\r\n").into_bytes();
        let body = Bytes::from(vec![b'a'; LARGE]);
        let answer = conn
            .exchange(&mut head, &body, false, None)
            .await
            .expect("the upstream's early answer, not a write error");
        assert_eq!(answer.status, 413);
        assert!(!answer.keep_alive, "the request was not written whole");
        assert_eq!(posts.load(Ordering::SeqCst), 1);
    }

    /// An upstream that answers 413 as soon as it has the head, then keeps the connection
    /// open without reading the body (nginx's and many app servers' early answer): the
    /// answer must arrive, not a write that waits until --upstream-timeout.
    #[tokio::test]
    async fn an_upstream_that_answers_early_and_stops_reading_gives_the_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let _ = read_head(&mut s);
            let _ =
                s.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 4\r\n\r\nbig\n");
            std::thread::sleep(Duration::from_secs(10)); // open, never reading
        });
        let mut conn = Conn::new(Io::Tcp(TcpStream::connect(addr).await.unwrap()));
        let mut head =
            format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {LARGE}\r\n\r\n").into_bytes();
        let body = Bytes::from(vec![b'a'; LARGE]);
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            conn.exchange(&mut head, &body, false, None),
        )
        .await
        .expect("the answer while the body was still being written")
        .expect("the upstream's early answer, not an error");
        assert_eq!(answer.status, 413);
        assert!(!answer.keep_alive, "the request was not written whole");
    }

    /// `fit_for_reuse` must see that the upstream closed an idle connection even when the
    /// checking task has spent its tokio budget (a connection task serving pipelined
    /// requests): a budget-refused readiness poll is not "nothing to read".
    #[tokio::test]
    async fn a_closed_idle_connection_is_unfit_even_when_the_task_budget_is_spent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let closer = std::thread::spawn(move || drop(listener.accept().unwrap()));
        let mut conn = Conn::new(Io::Tcp(TcpStream::connect(addr).await.unwrap()));
        closer.join().unwrap();
        match &conn.io {
            Io::Tcp(s) => s.readable().await.unwrap(), // the FIN has been seen
            Io::Unix(_) => unreachable!(),
        }
        let fit = std::future::poll_fn(|cx| {
            // Spend the budget as a busy task does (each ready I/O poll costs one unit).
            for _ in 0..1000 {
                let _ = conn.io.poll_read_ready(cx);
            }
            Poll::Ready(conn.fit_for_reuse())
        })
        .await;
        assert!(
            !fit,
            "a connection the upstream closed was found fit for reuse"
        );
    }
}
