//! Request paths and route prefixes: RFC 3986 normalisation into one canonical form (for
//! matching and forwarding alike) and segment-boundary prefix matching. PURE.

use std::borrow::Cow;

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

/// The one canonical form of a request path (no query), used to match routes and sent
/// upstream: every byte has exactly one spelling, so two spellings that an application
/// decodes to the same path are the same path here too.
///
/// Letters, digits, `-._~` and the sub-delimiters a path may hold raw (`!$&'()*+,=:@`) are
/// written as themselves (their escapes decoded); every other byte as `%XX` in uppercase
/// (raw UTF-8 `/é` and `/%c3%a9` both become `/%C3%A9`, a space `%20`, `%` itself `%25`).
/// `%2F`/`%5C`/raw `\` (`EncodedSeparator`), `%00`, raw control characters and broken
/// escapes (`BadEncoding`) and a raw `;` (`PathParams`) are refused. Then dot segments are
/// removed (refusing to climb above `/`) and empty segments merged.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Most paths are already normal: no copy, no decoding or segment list.
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    remove_dot_segments(&canonical_bytes(path.as_bytes())?).map(Cow::Owned)
}

/// A `--route` prefix in canonical form. Unlike a request path, a prefix that normalisation
/// would restructure (dot or empty segments) is an error: `Err(Ok(fixed))` says what to
/// write instead; `Err(Err(e))` means it has no canonical form at all (every request
/// holding it is refused, so the route could never match).
pub fn canonical_prefix(prefix: &str) -> Result<String, Result<String, PathError>> {
    if !prefix.starts_with('/') {
        return Err(Err(PathError::NotAbsolute));
    }
    let spelled = canonical_bytes(prefix.as_bytes()).map_err(Err)?;
    let normal = remove_dot_segments(&spelled).map_err(Err)?;
    if normal == spelled {
        Ok(normal)
    } else {
        Err(Ok(normal))
    }
}

/// True when `normalize_path` would return `path` unchanged: only bytes written raw in the
/// canonical form, no empty segment but a trailing one, no dot segment.
pub(super) fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if !b.iter().all(|&c| c == b'/' || is_raw(c)) {
        return false;
    }
    let segments = b[1..].split(|&c| c == b'/');
    let count = b.iter().filter(|&&c| c == b'/').count();
    segments
        .enumerate()
        .all(|(i, seg)| !(seg.is_empty() && i + 1 != count || seg == b"." || seg == b".."))
}

pub(super) const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Bytes the canonical form writes as themselves: RFC 3986 `pchar` without `%` (escapes)
/// and `;` (path parameters, refused raw; `%3B` stays an escape).
pub(super) fn is_raw(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
        )
}

/// Each byte of `input` in its one spelling (see `normalize_path`); `/` stays a separator.
/// The result is ASCII.
pub(super) fn canonical_bytes(input: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    let escape = |out: &mut String, b: u8| {
        out.push('%');
        out.push(UPPER_HEX[(b >> 4) as usize] as char);
        out.push(UPPER_HEX[(b & 0xf) as usize] as char);
    };
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
                match (h << 4) | l {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::BadEncoding),
                    b if is_raw(b) => out.push(b as char),
                    b => escape(&mut out, b),
                }
                i += 3;
            }
            b'\\' => return Err(PathError::EncodedSeparator),
            b';' => return Err(PathError::PathParams),
            b if b < 0x20 || b == 0x7f => return Err(PathError::BadEncoding),
            b if b == b'/' || is_raw(b) => {
                out.push(b as char);
                i += 1;
            }
            b => {
                escape(&mut out, b);
                i += 1;
            }
        }
    }
    Ok(out)
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
