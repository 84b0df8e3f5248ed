//! The upstream hop's answer parser (`h1wire`): answer heads and chunked bodies from
//! arbitrary bytes. Byte 0 picks HEAD or not, byte 1 seeds the split points of the body.
//!
//! A head parse never panics, and a head it accepts has a framing consistent with its
//! status (no body for 1xx/204/304 or HEAD). The chunked decoder gives the same body and
//! the same verdict however the bytes are cut into reads: one read, one byte per read,
//! and reads of pseudo-random sizes all agree. Nothing panics.
#![no_main]

use bytes::BytesMut;
use certgate::http::h1wire::{parse_answer_head, Chunked, Framing, Parsed};
use libfuzzer_sys::fuzz_target;

/// Feed `pieces` to a fresh decoder: (body, error seen, done, bytes left over).
fn dechunk<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, bool, bool, usize) {
    let mut c = Chunked::default();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    for p in pieces {
        buf.extend_from_slice(p);
        loop {
            match c.decode(&mut buf) {
                Ok(Some(d)) => body.extend_from_slice(&d),
                Ok(None) => break,
                Err(_) => return (body, true, false, 0),
            }
        }
        if c.is_done() {
            break;
        }
    }
    (body, false, c.is_done(), buf.len())
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, rest @ ..] = data else {
        return;
    };
    let head_request = flags & 1 == 1;
    if let Ok(Parsed::Head(head, n)) = parse_answer_head(rest, head_request) {
        assert!(n <= rest.len());
        let no_body = head_request || head.status == 204 || head.status == 304;
        if no_body {
            assert_eq!(head.framing, Framing::Empty);
        }
        if head.framing == Framing::UntilClose {
            assert!(!head.keep_alive);
        }
    }

    let whole = dechunk(std::iter::once(rest));
    let bytewise = dechunk(rest.chunks(1));
    let mut state = u64::from(*seed) << 32 | 0x9e37_79b9;
    let mut pieces = Vec::new();
    let mut left = rest;
    while !left.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (1 + (state % 64) as usize).min(left.len());
        pieces.push(&left[..n]);
        left = &left[n..];
    }
    let cut = dechunk(pieces.into_iter());
    // The body decoded before an error or the end, the verdict, and (when done) what
    // follows the body do not depend on the cuts.
    assert_eq!(whole.0, bytewise.0, "body differs by cut");
    assert_eq!(whole.0, cut.0, "body differs by cut");
    assert_eq!(
        (whole.1, whole.2),
        (bytewise.1, bytewise.2),
        "verdict differs by cut"
    );
    assert_eq!((whole.1, whole.2), (cut.1, cut.2), "verdict differs by cut");
});
