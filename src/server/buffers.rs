//! Byte buffers that a thread's requests hand on to each other: certgate's own HTTP/1.1
//! server takes two per request (the head it sends upstream, the answer it sends back) and
//! gives them back when the answer is sent, so a busy thread allocates none. An allocation
//! and its release cost about 170 instructions with glibc's allocator; taking and giving
//! back here, about 20 (see docs/performance.md).
//!
//! A thread keeps buffers of at most `KEEP_BYTES` in all, none larger than `MAX_KEPT`: what
//! a burst of concurrent requests took beyond that, or a large answer grew, is freed as
//! usual. The budget is in bytes, not buffers: 32 connections woken by one event batch take
//! about a hundred 1 KiB buffers at once, and a count of 64 sent a third of them back to the
//! allocator after every such burst (measured: one allocation in two requests).

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// The capacity, in bytes, of the buffers a thread keeps for its next requests.
const KEEP_BYTES: usize = 512 * 1024;
/// A buffer whose capacity grew past this is freed, not kept.
const MAX_KEPT: usize = 16 * 1024;
/// The capacity of a new buffer (an answer's head and a short body fit).
const FIRST: usize = 1024;

/// A thread's kept buffers and the sum of their capacities.
struct Free {
    bufs: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static FREE: RefCell<Free> = const { RefCell::new(Free { bufs: Vec::new(), bytes: 0 }) };
}

/// An empty buffer with room for `min` bytes; back to its thread's free list when dropped.
pub(crate) struct Buf(Vec<u8>);

impl Buf {
    pub(crate) fn take(min: usize) -> Buf {
        let mut v = FREE
            .with_borrow_mut(|free| {
                let v = free.bufs.pop()?;
                free.bytes -= v.capacity();
                Some(v)
            })
            .unwrap_or_else(|| Vec::with_capacity(min.max(FIRST)));
        v.reserve(min);
        Buf(v)
    }
}

impl Buf {
    /// A buffer holding a copy of `data`.
    pub(crate) fn copy_of(data: &[u8]) -> Buf {
        let mut b = Buf::take(data.len());
        b.extend_from_slice(data);
        b
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        if v.capacity() == 0 || v.capacity() > MAX_KEPT {
            return;
        }
        v.clear();
        // A thread that is being torn down has no free list any more: the buffer is
        // freed as usual.
        let _ = FREE.try_with(|free| {
            if let Ok(mut free) = free.try_borrow_mut() {
                if free.bytes + v.capacity() <= KEEP_BYTES {
                    free.bytes += v.capacity();
                    free.bufs.push(v);
                }
            }
        });
    }
}

impl Deref for Buf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty_and_a_grown_one_is_not_kept() {
        let mut a = Buf::take(10);
        a.extend_from_slice(b"secret");
        let at = a.as_ptr();
        drop(a);
        let b = Buf::take(10);
        assert_eq!(b.as_ptr(), at, "the buffer was not reused");
        assert!(b.is_empty(), "a reused buffer must come back empty");
        drop(b);

        let mut big = Buf::take(10);
        big.resize(MAX_KEPT + 1, 0);
        let at = big.as_ptr();
        drop(big);
        let c = Buf::take(10);
        assert_ne!(c.as_ptr(), at, "a buffer over MAX_KEPT was kept");
        assert!(c.capacity() >= 10);
    }

    #[test]
    fn a_thread_keeps_at_most_keep_bytes_and_a_burst_of_a_hundred_is_all_kept() {
        let burst: Vec<Buf> = (0..100).map(|_| Buf::take(1)).collect();
        drop(burst);
        assert_eq!(FREE.with_borrow(|f| f.bufs.len()), 100);
        let many: Vec<Buf> = (0..KEEP_BYTES / FIRST + 10).map(|_| Buf::take(1)).collect();
        drop(many);
        let (n, bytes, sum) = FREE.with_borrow(|f| {
            (
                f.bufs.len(),
                f.bytes,
                f.bufs.iter().map(Vec::capacity).sum::<usize>(),
            )
        });
        assert_eq!(bytes, sum, "the byte count drifted from the buffers kept");
        assert!(
            bytes <= KEEP_BYTES && bytes + FIRST > KEEP_BYTES,
            "kept {bytes} bytes"
        );
        assert_eq!(n, KEEP_BYTES / FIRST);
    }
}
