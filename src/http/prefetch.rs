//! Write coalescing for upstream answers: before the answer's head is handed to the client's
//! connection, whatever of its body is already on its way (up to `MAX_BYTES`, for at most
//! `WAIT`) is read too, so that head, body and end go to the client in one TLS write.
//!
//! Without it, the client's connection writes the head as soon as it has it and the body in a
//! second write (and the end of a chunked body in a third), because the first poll of an
//! upstream body finds nothing yet: hyper hands body data over only once it is asked for it.
//! Apps that flush their headers before the body, or that answer chunked, then cost certgate
//! one or two extra TLS records, syscalls and wake-ups per request (+15 % and +30 % CPU per
//! keep-alive request in `bench/run.sh`); nginx avoids the same with `postpone_output`.
//!
//! A body that is complete within the wait is given to hyper with its exact length (so a
//! small chunked answer reaches the client with a `Content-Length`); a longer or slower one
//! streams on from where the prefetch stopped. The wait bounds how long a streaming answer
//! (server-sent events, long polling) holds its head back.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest an answer's head waits for its body.
pub const WAIT: Duration = Duration::from_millis(2);
/// Body bytes read ahead at most: one TLS record's worth of plaintext is 16 KiB, and a few
/// of them still go out in one write.
pub const MAX_BYTES: usize = 64 * 1024;

/// A body whose first frames may already have been read.
pub struct Prefetched<B: Body> {
    ahead: VecDeque<Frame<Bytes>>,
    ahead_bytes: u64,
    /// The inner body has ended (or failed: the error is kept for after the frames read).
    ended: bool,
    error: Option<B::Error>,
    inner: B,
}

impl<B> Prefetched<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    /// Wrap without reading anything (certgate's own answers, or when coalescing is off).
    pub fn new(inner: B) -> Self {
        Prefetched {
            ahead: VecDeque::new(),
            ahead_bytes: 0,
            ended: false,
            error: None,
            inner,
        }
    }

    /// Read ahead whatever of the body arrives within `wait`, up to `max_bytes`.
    pub async fn prefetch(inner: B, wait: Duration, max_bytes: usize) -> Self {
        let mut this = Prefetched::new(inner);
        if this.inner.is_end_stream() {
            return this;
        }
        let deadline = tokio::time::Instant::now() + wait;
        while this.ahead_bytes < max_bytes as u64 && !this.ended {
            let next = std::future::poll_fn(|cx| Pin::new(&mut this.inner).poll_frame(cx));
            // The timer is only armed if the frame is not ready at once.
            match tokio::time::timeout_at(deadline, next).await {
                Err(_) => break,
                Ok(None) => this.ended = true,
                Ok(Some(Err(e))) => {
                    this.ended = true;
                    this.error = Some(e);
                }
                Ok(Some(Ok(frame))) => {
                    if let Some(d) = frame.data_ref() {
                        this.ahead_bytes += d.len() as u64;
                    }
                    this.ahead.push_back(frame);
                    if this.inner.is_end_stream() {
                        this.ended = true;
                    }
                }
            }
        }
        this
    }
}

impl<B> Body for Prefetched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.ahead.pop_front() {
            if let Some(d) = frame.data_ref() {
                this.ahead_bytes -= d.len() as u64;
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        if this.ended {
            return Poll::Ready(this.error.take().map(Err));
        }
        Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_empty()
            && if self.ended {
                self.error.is_none()
            } else {
                self.inner.is_end_stream()
            }
    }

    fn size_hint(&self) -> SizeHint {
        if self.ended && self.error.is_none() {
            return SizeHint::with_exact(self.ahead_bytes);
        }
        if self.ended {
            return SizeHint::default();
        }
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower().saturating_add(self.ahead_bytes));
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper.saturating_add(self.ahead_bytes));
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body fed through a channel: frames arrive when the test sends them.
    struct Fed(tokio::sync::mpsc::UnboundedReceiver<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            self.0.poll_recv(cx)
        }
    }

    type Tx = tokio::sync::mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

    /// A body whose `parts` are all there already (and ended, unless `open`).
    fn fed(parts: &[&'static str], open: bool) -> (Fed, Option<Tx>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for p in parts {
            tx.send(Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
                .unwrap();
        }
        (Fed(rx), open.then_some(tx))
    }

    #[tokio::test]
    async fn a_ready_body_is_read_whole_and_gets_its_exact_length() {
        let (body, _) = fed(&["ab", "cde"], false);
        let b = Prefetched::prefetch(body, WAIT, MAX_BYTES).await;
        assert_eq!(b.size_hint().exact(), Some(5));
        assert!(!b.is_end_stream());
        let all = b.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcde");
    }

    #[tokio::test]
    async fn reading_ahead_stops_at_the_byte_budget_and_the_rest_streams() {
        let (body, _) = fed(&["ab", "cd", "ef"], false);
        let b = Prefetched::prefetch(body, WAIT, 3).await;
        assert_eq!(b.ahead.len(), 2, "stops once 3 bytes are ahead");
        assert_eq!(b.size_hint().exact(), None);
        let all = b.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abcdef");
    }

    #[tokio::test]
    async fn a_late_body_is_waited_for_no_longer_than_the_wait_and_then_streams() {
        let (body, tx) = fed(&["early"], true);
        let t = std::time::Instant::now();
        let b = Prefetched::prefetch(body, Duration::from_millis(20), MAX_BYTES).await;
        let waited = t.elapsed();
        assert!(waited >= Duration::from_millis(20), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(b.ahead.len(), 1);
        assert_eq!(b.size_hint().exact(), None, "not ended: no exact length");
        let tx = tx.unwrap();
        tx.send(Ok(Frame::data(Bytes::from_static(b"+late"))))
            .unwrap();
        drop(tx);
        let all = b.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"early+late");
    }

    #[tokio::test]
    async fn an_error_comes_after_the_frames_read_before_it() {
        let (body, tx) = fed(&["ab"], true);
        tx.unwrap()
            .send(Err(std::io::Error::other("reset")))
            .unwrap();
        let mut b = Prefetched::prefetch(body, WAIT, MAX_BYTES).await;
        assert_eq!(b.size_hint().exact(), None, "an error has no exact length");
        assert!(!b.is_end_stream());
        let first = b.frame().await.unwrap().unwrap();
        assert_eq!(first.data_ref().map(|d| &d[..]), Some(&b"ab"[..]));
        assert!(b.frame().await.unwrap().is_err());
        assert!(b.frame().await.is_none());
    }

    #[tokio::test]
    async fn an_empty_body_is_not_waited_for() {
        let t = std::time::Instant::now();
        let b = Prefetched::prefetch(
            http_body_util::Empty::<Bytes>::new(),
            Duration::from_secs(30),
            MAX_BYTES,
        )
        .await;
        assert!(b.is_end_stream());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
