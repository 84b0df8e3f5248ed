//! A request's id: the client's `X-Request-Id` when it sent a sane one, else one certgate
//! makes (the process's prefix and a sequence number in hex), without an allocation; and
//! the id as the pipeline that served the request holds it, for its access line.

use super::state::Shared;
use crate::http::headers;
use http::HeaderValue;
use std::sync::atomic::Ordering;

/// A request's id: the client's `X-Request-Id` when it sent a sane one, else a new one
/// (the process's prefix and a sequence number in hex), built without an allocation.
pub(super) enum RequestId<'a> {
    Given(&'a str),
    Made { buf: [u8; 40], len: usize },
}

impl RequestId<'_> {
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            RequestId::Given(s) => s.as_bytes(),
            RequestId::Made { buf, len } => &buf[..*len],
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            RequestId::Given(s) => s,
            // Hex digits and the ASCII prefix.
            RequestId::Made { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or("-"),
        }
    }

    pub(super) fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(self.as_str()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
    }
}

pub(super) fn request_id_from<'a>(shared: &Shared, given: Option<&'a [u8]>) -> RequestId<'a> {
    // A sane id is ASCII (`headers::sane_request_id`).
    if let Some(v) = given
        .filter(|v| headers::sane_request_id(v))
        .and_then(|v| std::str::from_utf8(v).ok())
    {
        return RequestId::Given(v);
    }
    let n = shared.request_seq.fetch_add(1, Ordering::Relaxed);
    // prefix (8 hex digits) + 12 hex digits of the sequence.
    let mut buf = [0u8; 40];
    let prefix = shared.id_prefix.as_bytes();
    let p = prefix.len().min(buf.len() - 16);
    buf[..p].copy_from_slice(&prefix[..p]);
    let mut len = p;
    let digits = if n >> 48 == 0 { 12 } else { 16 };
    for i in (0..digits).rev() {
        buf[len] = b"0123456789abcdef"[((n >> (4 * i)) & 0xf) as usize];
        len += 1;
    }
    RequestId::Made { buf, len }
}

/// A request's id, as the pipeline that served it holds it.
#[derive(Clone, Copy)]
pub(super) enum Rid<'a> {
    Header(&'a HeaderValue),
    Id(&'a RequestId<'a>),
}

impl Rid<'_> {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Rid::Header(v) => v.to_str().unwrap_or("-"),
            Rid::Id(id) => id.as_str(),
        }
    }
}
