//! Request paths: RFC 3986 normalisation (one canonical form for matching and forwarding)
//! and segment-boundary prefix matching. PURE.

use super::rule::hex_val;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("encoded slash or backslash in path")]
    EncodedSeparator,
    #[error("dot segments climb above the root")]
    AboveRoot,
    #[error("bad percent-encoding or forbidden byte in path")]
    BadEncoding,
    /// `;` starts path parameters, which servlet containers strip before routing
    /// (`/admin;x` is `/admin`, `/..;/` is `/../`): refused so no prefix can be dodged.
    #[error("path parameters (`;`) in path")]
    PathParams,
}

/// Segment-boundary prefix match: `/webhooks` matches `/webhooks` and `/webhooks/a`, never
/// `/webhooksX`; a prefix ending in `/` (including `/` itself) matches everything below it.
pub(super) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

/// RFC 3986 normalisation of a request path (no query): decode percent-encoded unreserved
/// characters, refuse `%2F`/`%5C`/`%00`/raw `\`, remove dot segments, refuse climbing above `/`.
///
/// Other escapes are kept with uppercase hex (`%c3%a9` becomes `%C3%A9`); raw control
/// characters are refused as `BadEncoding`. Empty segments (`//`) are merged and a raw `;`
/// (path parameters) is refused, so that what is matched is what any upstream framework
/// will route; the upstream receives exactly the path that was matched.
pub fn normalize_path(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Most paths are already normal: one copy, no decoding or segment list.
    if is_normal(path) {
        return Ok(path.to_owned());
    }
    let decoded = decode_unreserved(path.as_bytes())?;
    remove_dot_segments(&decoded)
}

/// True when `normalize_path` would return `path` unchanged: no percent-encoding, no byte it
/// refuses, no empty segment but a trailing one, no dot segment.
pub(super) fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.iter()
        .any(|&c| matches!(c, b'%' | b'\\' | b';') || c < 0x20 || c == 0x7f)
    {
        return false;
    }
    let segments = b[1..].split(|&c| c == b'/');
    let count = b.iter().filter(|&&c| c == b'/').count();
    segments
        .enumerate()
        .all(|(i, seg)| !(seg.is_empty() && i + 1 != count || seg == b"." || seg == b".."))
}

pub(super) const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

pub(super) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

pub(super) fn decode_unreserved(input: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let (Some(&h), Some(&l)) = (input.get(i + 1), input.get(i + 2)) else {
                    return Err(PathError::BadEncoding);
                };
                let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
                    return Err(PathError::BadEncoding);
                };
                let b = (h << 4) | l;
                match b {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::BadEncoding),
                    b if is_unreserved(b) => out.push(b as char),
                    _ => {
                        out.push('%');
                        out.push(UPPER_HEX[h as usize] as char);
                        out.push(UPPER_HEX[l as usize] as char);
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::EncodedSeparator),
            b if b < 0x20 || b == 0x7f => return Err(PathError::BadEncoding),
            _ => {
                // Copy one whole UTF-8 character (the input is a &str, so this is safe to slice).
                let len = utf8_len(input[i]);
                let end = (i + len).min(input.len());
                out.push_str(
                    std::str::from_utf8(&input[i..end]).map_err(|_| PathError::BadEncoding)?,
                );
                i = end;
            }
        }
    }
    Ok(out)
}

pub(super) fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// RFC 3986 §5.2.4 on an absolute path, segment by segment, refusing to pop above the root.
pub(super) fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    // `path` starts with '/', so the first split element is empty; skip it.
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            // Empty segments (`//`) are merged, as nginx's default `merge_slashes` does, so
            // `//admin` is judged and forwarded as `/admin`; a trailing `/` is kept.
            "" if i != last => continue,
            s if s.contains(';') => return Err(PathError::PathParams),
            "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A path ending in `/.` or `/..` keeps its trailing slash, as RFC 3986 does.
        if i == last {
            out.push("");
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    Ok(s)
}
