//! The HTTP/1 request-smuggling guard (`framing::Framing`), fed arbitrary byte streams.
//!
//! Input: byte 0 picks the longest line the tracker follows (small, so the over-long
//! line path is reached), byte 1 seeds the split points, the rest is what a client sends.
//! The verdict (which request, if any, is flagged, and whether a head is half received)
//! must not depend on how the stream is cut into reads: one read, one byte per read, and
//! reads of pseudo-random sizes all agree. And it never panics.
#![no_main]

use certgate::http::framing::Framing;
use libfuzzer_sys::fuzz_target;

fn verdict(f: &Framing) -> (Option<u64>, bool) {
    (f.conflict_at, f.in_partial_head())
}

fuzz_target!(|data: &[u8]| {
    let [line, seed, stream @ ..] = data else {
        return;
    };
    let max_line = 8 + usize::from(*line);

    let mut whole = Framing::with_max_line(max_line);
    whole.feed(stream);

    let mut bytewise = Framing::with_max_line(max_line);
    for b in stream {
        bytewise.feed(std::slice::from_ref(b));
    }

    let mut chunked = Framing::with_max_line(max_line);
    let mut state = u64::from(*seed) << 32 | 0x9e37_79b9;
    let mut rest = stream;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (1 + (state % (2 * max_line as u64 + 3)) as usize).min(rest.len());
        chunked.feed(&rest[..n]);
        chunked.feed(&[]);
        rest = &rest[n..];
    }

    let v = verdict(&whole);
    assert_eq!(
        verdict(&bytewise),
        v,
        "one byte per read disagrees with one read"
    );
    assert_eq!(
        verdict(&chunked),
        v,
        "reads split at seed {seed} disagree with one read"
    );
});
