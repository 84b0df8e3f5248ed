//! HTTP/1.1 on the upstream hop, as bytes: the request head certgate writes, the answer head
//! it reads, and how the answer's body is framed (RFC 9112 §6.3). Pure: bytes in, values out.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};

/// Most header lines an upstream answer may have (hyper's client allows as many).
pub const MAX_HEADERS: usize = 100;
/// Longest upstream answer head (hyper's client buffer is about as large).
pub const MAX_HEAD_BYTES: usize = 400 * 1024;
/// Longest chunk-size or trailer line.
const MAX_CHUNK_LINE: usize = 4096;

/// Why an upstream answer cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the upstream's answer head is malformed ({0})")]
    Malformed(&'static str),
    #[error("the upstream's answer head is larger than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("the upstream answered 101 Switching Protocols, which certgate does not forward")]
    Upgrade,
    #[error("the upstream's chunked answer body is malformed ({0})")]
    BadChunk(&'static str),
    #[error("the upstream closed the connection before the end of its answer body")]
    Truncated,
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304, or `Content-Length: 0`).
    Empty,
    Length(u64),
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// A complete, final answer head.
#[derive(Debug)]
pub struct AnswerHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The connection can carry another request once the body is read.
    pub keep_alive: bool,
    /// The answer has a `Date` field (RFC 9110 §6.6.1: else the proxy adds one).
    pub has_date: bool,
    /// How certgate's own HTTP/1.1 server frames this answer's body for its client.
    pub client_framing: ClientFraming,
}

/// What the bytes received so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An interim (1xx) answer of this many bytes, to be skipped.
    Interim(usize),
    /// The final answer's head, and how many bytes it took.
    Head(AnswerHead, usize),
}

/// Write the request head: `METHOD TARGET HTTP/1.1`, the headers, `extra` (header lines
/// already written, each ending in CRLF), and the body's framing. `body_len` is the length of the body certgate has in hand: it replaces any
/// `Content-Length` among `headers`, and is written when the body is not empty or the
/// client sent a `Content-Length` itself.
pub fn encode_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    extra: &[u8],
    body_len: u64,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut had_length = false;
    for (name, value) in headers {
        if *name == http::header::CONTENT_LENGTH {
            had_length = true;
            continue;
        }
        write_line(out, name, value);
    }
    out.extend_from_slice(extra);
    if body_len > 0 || had_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// One `name: value` request-head line.
pub fn write_line(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Parse an answer head at the start of `buf`. `head_request`: the request was HEAD, so the
/// answer has no body whatever its headers say.
pub fn parse_answer_head(buf: &[u8], head_request: bool) -> Result<Parsed, WireError> {
    parse_answer(buf, head_request, None)
}

/// `parse_answer_head`, and where the answer's fields go: with `client_head`, not into
/// `AnswerHead::headers` (left empty) but written as the head certgate's own HTTP/1.1
/// server sends its client (`write_client_head`), so no header map is built. Nothing is
/// written unless a final answer's head is complete.
pub fn parse_answer(
    buf: &[u8],
    head_request: bool,
    client_head: Option<&mut Vec<u8>>,
) -> Result<Parsed, WireError> {
    // Uninitialised slots: an answer does not pay for clearing all of them.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut answer,
        buf,
        &mut slots,
    );
    let len = match parsed {
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(WireError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        // However the bytes arrived: the limit is on the head, not on a read.
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD_BYTES => {
            return Err(WireError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(n)) => n,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(WireError::Malformed("too many headers"))
        }
        Err(_) => {
            return Err(WireError::Malformed(
                "not an HTTP/1 status line and headers",
            ))
        }
    };
    let code = answer.code.ok_or(WireError::Malformed("no status"))?;
    let status = StatusCode::from_u16(code).map_err(|_| WireError::Malformed("bad status"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(WireError::Upgrade);
    }
    if status.is_informational() {
        return Ok(Parsed::Interim(len));
    }
    let version = match answer.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut length: Option<u64> = None;
    let mut cl_repeated = false;
    let mut chunked = None;
    let (mut close, mut keep_alive_token) = (false, false);
    let mut has_date = false;
    for h in answer.headers.iter() {
        let name = h.name.as_bytes();
        has_date |= name.eq_ignore_ascii_case(b"date");
        if name.eq_ignore_ascii_case(b"content-length") {
            // Several lines, or a list, must all give the same number (RFC 9110 §8.6);
            // the client then gets it once.
            cl_repeated |= length.is_some() || h.value.contains(&b',');
            for part in h.value.split(|&b| b == b',') {
                let n = parse_decimal(part.trim_ascii())
                    .ok_or(WireError::Malformed("bad Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(WireError::Malformed("conflicting Content-Length"));
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the last coding decides (RFC 9112 §6.3).
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let no_body =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = match (chunked, length) {
        _ if no_body => Framing::Empty,
        (Some(true), _) => Framing::Chunked,
        (Some(false), _) => Framing::UntilClose,
        (None, Some(0)) => Framing::Empty,
        (None, Some(n)) => Framing::Length(n),
        (None, None) => Framing::UntilClose,
    };
    if chunked.is_some() && version == Version::HTTP_10 {
        // HTTP/1.0 has no Transfer-Encoding: the framing is faulty; read this answer as
        // the coding says, then close (RFC 9112 §6.1).
        close = true;
    }
    // Transfer-Encoding wins over a length, which is wrong for what follows, and the
    // connection is not trusted with another request (RFC 9112 §6.3).
    let te_and_cl = chunked.is_some() && length.is_some();
    close |= te_and_cl;
    let keep_alive = framing != Framing::UntilClose
        && !close
        && (version == Version::HTTP_11 || keep_alive_token);
    // The length a HEAD or 304 answer announces is the representation's; a 204 has none;
    // others get the framing of the body certgate sends.
    let client_framing = match framing {
        Framing::Empty if status == StatusCode::NO_CONTENT => ClientFraming::None,
        Framing::Empty if no_body => match length {
            Some(n) if !te_and_cl => ClientFraming::Length(n),
            _ => ClientFraming::None,
        },
        Framing::Empty => ClientFraming::Length(0),
        Framing::Length(n) => ClientFraming::Length(n),
        Framing::Chunked | Framing::UntilClose => ClientFraming::Chunked,
    };
    let headers = match client_head {
        Some(out) => {
            write_client_head(out, status, answer.headers, &buf[..len]);
            HeaderMap::new()
        }
        None => {
            let mut headers = HeaderMap::with_capacity(answer.headers.len());
            for h in answer.headers.iter() {
                let name = HeaderName::from_bytes(h.name.as_bytes())
                    .map_err(|_| WireError::Malformed("bad header name"))?;
                let value = HeaderValue::from_bytes(h.value)
                    .map_err(|_| WireError::Malformed("bad header value"))?;
                headers.append(name, value);
            }
            if te_and_cl {
                headers.remove(http::header::CONTENT_LENGTH);
            } else if let (true, Some(n)) = (cl_repeated, length) {
                headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            headers
        }
    };
    Ok(Parsed::Head(
        AnswerHead {
            status,
            version,
            headers,
            framing,
            keep_alive,
            has_date,
            client_framing,
        },
        len,
    ))
}

/// How certgate frames an answer body toward its HTTP/1.1 client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFraming {
    /// No framing field (a 204, or a HEAD or 304 answer that announced no length).
    None,
    Length(u64),
    Chunked,
}

/// RFC 9110 §7.6.1 hop-by-hop fields, plus the classic ones: never passed on.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

/// The head of an upstream answer as certgate's HTTP/1.1 server sends it on, up to its
/// framing (`end_client_head`): an HTTP/1.1 status line and the answer's fields with
/// lowercase names (as hyper writes them), less the hop-by-hop ones, those the `Connection`
/// field names, and the upstream's `Content-Length`.
/// `head`: the bytes the fields were parsed from; a field already in the form written here
/// (lowercase name, `: `, value, CRLF) is copied from it as one line.
pub fn write_client_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    fields: &[httparse::Header<'_>],
    head: &[u8],
) {
    write_status_line(out, status);
    let connections: &[httparse::Header<'_>] = &[];
    let has_connection = fields
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case("connection"));
    let connections = if has_connection { fields } else { connections };
    let connection_named = |name: &str| {
        connections.iter().any(|c| {
            c.name.eq_ignore_ascii_case("connection")
                && c.value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        })
    };
    for h in fields {
        if h.name.eq_ignore_ascii_case("content-length")
            || is_hop_by_hop(h.name)
            || connection_named(h.name)
        {
            continue;
        }
        if let Some(line) = written_as_is(head, h) {
            out.extend_from_slice(line);
            continue;
        }
        let at = out.len();
        out.extend_from_slice(h.name.as_bytes());
        out[at..].make_ascii_lowercase();
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}

/// The line of field `h` in `head` when it is exactly what `write_client_head` would write
/// for it: `name: value` and CRLF, the name lowercase.
fn written_as_is<'h>(head: &'h [u8], h: &httparse::Header<'_>) -> Option<&'h [u8]> {
    // Where httparse's slices lie in `head` (they borrow from it).
    let base = head.as_ptr() as usize;
    let start = (h.name.as_ptr() as usize).checked_sub(base)?;
    let value_at = (h.value.as_ptr() as usize).checked_sub(base)?;
    let name_end = start + h.name.len();
    let end = value_at + h.value.len() + 2;
    if h.value.is_empty() || value_at != name_end + 2 || end > head.len() {
        return None;
    }
    let line = &head[start..end];
    (line[h.name.len()..h.name.len() + 2] == *b": "
        && line.ends_with(b"\r\n")
        && !h.name.bytes().any(|b| b.is_ascii_uppercase()))
    .then_some(line)
}

/// `HTTP/1.1 CODE REASON` and its CRLF, the reason being the status's canonical one (as
/// hyper's server writes it; empty for a code without one).
pub fn write_status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// One of `HOP_BY_HOP`, ASCII case-insensitively; most names are told apart by length.
fn is_hop_by_hop(name: &str) -> bool {
    matches!(name.len(), 2 | 7 | 10 | 16..=19)
        && HOP_BY_HOP.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// `n` in base 10 or 16 (lowercase), without an allocation.
pub fn write_number(out: &mut Vec<u8>, mut n: u64, base: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(n % base) as usize];
        n /= base;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// End a head begun by `write_client_head`: its framing field and the empty line.
pub fn end_client_head(out: &mut Vec<u8>, framing: ClientFraming) {
    match framing {
        ClientFraming::None => {}
        ClientFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            write_number(out, n, 10);
            out.extend_from_slice(b"\r\n");
        }
        ClientFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // At most 19 digits: no overflow.
    Some(s.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Decodes a chunked body (RFC 9112 §7.1) from the bytes received; trailers are read and
/// dropped.
#[derive(Debug, Default)]
pub struct Chunked {
    state: ChunkState,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl Chunked {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// The next piece of body data that `buf` holds, taken out of it; `None` when more bytes
    /// are needed or the body is complete (`is_done`).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(None),
                ChunkState::Data(n) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = (buf.len() as u64).min(n) as usize;
                    self.state = match n - take as u64 {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => {
                            return Err(WireError::BadChunk("no CRLF after data"))
                        }
                        ChunkState::Size => match chunk_size(&line)? {
                            0 => ChunkState::Trailers,
                            n => ChunkState::Data(n),
                        },
                        _ if line.is_empty() => ChunkState::Done,
                        _ => {
                            self.trailer_bytes += line.len();
                            if self.trailer_bytes > MAX_HEAD_BYTES {
                                return Err(WireError::BadChunk("trailers too large"));
                            }
                            ChunkState::Trailers
                        }
                    };
                }
            }
        }
    }
}

/// A whole line (without its CRLF) taken from the front of `buf`, or `None` if it has not
/// all arrived.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, WireError> {
    match memchr::memchr(b'\n', buf) {
        None if buf.len() > MAX_CHUNK_LINE => Err(WireError::BadChunk("line too long")),
        None => Ok(None),
        Some(i) if i > MAX_CHUNK_LINE => Err(WireError::BadChunk("line too long")),
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i);
            if line.last() == Some(&b'\r') {
                line.truncate(i - 1);
            }
            Ok(Some(line))
        }
    }
}

/// `1a;name=value` → 26. At most 16 hex digits; extensions are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let rest = line[digits..].trim_ascii_start();
    if digits == 0 || digits > 16 || !(rest.is_empty() || rest[0] == b';') {
        return Err(WireError::BadChunk("bad chunk size"));
    }
    let hex =
        std::str::from_utf8(&line[..digits]).map_err(|_| WireError::BadChunk("bad chunk size"))?;
    u64::from_str_radix(hex, 16).map_err(|_| WireError::BadChunk("bad chunk size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_filter_keeps_every_hop_by_hop_name() {
        for n in HOP_BY_HOP {
            assert!(is_hop_by_hop(n), "{n}");
            assert!(is_hop_by_hop(&n.to_ascii_uppercase()), "{n}");
        }
        for n in ["date", "content-type", "server", "connections", "x-upgrade"] {
            assert!(!is_hop_by_hop(n), "{n}");
        }
    }

    fn head(bytes: &[u8], head_request: bool) -> (AnswerHead, usize) {
        match parse_answer_head(bytes, head_request).unwrap() {
            Parsed::Head(h, n) => (h, n),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_head_carries_the_body_length_certgate_has() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("app"));
        h.insert("content-length", HeaderValue::from_static("999"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let mut out = Vec::new();
        encode_request_head(&mut out, &Method::POST, "/p?q=1", &h, b"x-b: 3\r\n", 5);
        assert_eq!(
            out,
            b"POST /p?q=1 HTTP/1.1\r\nhost: app\r\nx-a: 1\r\nx-a: 2\r\nx-b: 3\r\ncontent-length: 5\r\n\r\n"
        );
        // A GET without a body gets no framing header; a POST whose client said 0 keeps it.
        let mut out = Vec::new();
        encode_request_head(&mut out, &Method::GET, "/", &HeaderMap::new(), b"", 0);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        let mut h = HeaderMap::new();
        h.insert("content-length", HeaderValue::from_static("0"));
        encode_request_head(&mut out, &Method::POST, "/", &h, b"", 0);
        assert_eq!(out, b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let (h, n) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false);
        assert_eq!((h.framing, h.keep_alive, n), (Framing::Length(5), true, 38));
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let (h, _) = head(b"HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let (h, _) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        assert_eq!(
            h.headers["content-length"], "5",
            "HEAD keeps the length it announces"
        );
        let (h, _) = head(b"HTTP/1.1 304 Not Modified\r\n\r\n", false);
        assert_eq!(h.framing, Framing::Empty);
        let (h, _) = head(b"HTTP/1.1 204 No Content\r\n\r\n", false);
        assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
    }

    #[test]
    fn transfer_encoding_beats_content_length_and_the_connection_is_not_reused() {
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
        assert!(!h.headers.contains_key("content-length"));
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert!(!h.keep_alive);
        let (h, _) = head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
        assert!(!h.keep_alive);
        let (h, _) = head(
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert!(h.keep_alive);
        assert_eq!(h.version, Version::HTTP_10);
        let (h, _) = head(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
    }

    #[test]
    fn bad_heads_are_errors_and_partial_heads_wait() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        ];
        for b in bad {
            assert!(
                parse_answer_head(b, false).is_err(),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
        let lengths = |h: &AnswerHead| {
            let all = h.headers.get_all("content-length");
            all.iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let (h, _) = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", false);
        assert_eq!(h.framing, Framing::Length(5));
        assert_eq!(lengths(&h), ["5"]);
        let (h, _) = head(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
            false,
        );
        assert_eq!(lengths(&h), ["5"], "repeated lines reach the client once");
        let complete_but_large = [
            b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
            &vec![b'a'; MAX_HEAD_BYTES],
            b"\r\n\r\n",
        ]
        .concat();
        assert!(matches!(
            parse_answer_head(&complete_but_large, false),
            Err(WireError::HeadTooLarge)
        ));
        assert!(matches!(
            parse_answer_head(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(Parsed::Partial)
        ));
        let huge = [
            b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
            &vec![b'a'; MAX_HEAD_BYTES],
        ]
        .concat();
        assert!(matches!(
            parse_answer_head(&huge, false),
            Err(WireError::HeadTooLarge)
        ));
        let many: Vec<u8> = [
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            b"a: b\r\n".repeat(MAX_HEADERS + 1),
            b"\r\n".to_vec(),
        ]
        .concat();
        assert!(parse_answer_head(&many, false).is_err());
    }

    #[test]
    fn interim_answers_are_skipped_and_upgrades_refused() {
        let b = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        match parse_answer_head(b, false).unwrap() {
            Parsed::Interim(n) => {
                let (h, _) = head(&b[n..], false);
                assert_eq!(h.status, 200);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_answer_head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
            Err(WireError::Upgrade)
        ));
    }

    /// Feed `wire` in pieces of `step` bytes; return the body and whether it completed.
    fn dechunk(wire: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), WireError> {
        let mut c = Chunked::default();
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in wire.chunks(step) {
            buf.extend_from_slice(piece);
            while let Some(d) = c.decode(&mut buf)? {
                body.extend_from_slice(&d);
            }
        }
        Ok((body, c.is_done(), buf.len()))
    }

    #[test]
    fn chunked_bodies_decode_however_the_bytes_are_cut() {
        let wire = b"5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, wire.len()] {
            let (body, done, left) = dechunk(wire, step).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz", "step {step}");
            assert!(done);
            assert_eq!(left, 4, "bytes after the body stay in the buffer");
        }
        let (body, done, _) = dechunk(b"3\r\nabc\r\n", 2).unwrap();
        assert_eq!((body.as_slice(), done), (b"abc".as_slice(), false));
    }

    #[test]
    fn bad_chunked_bodies_are_errors() {
        for wire in [
            b"g\r\n".as_slice(),
            b"\r\n",
            b"5\r\nhelloXX\r\n",
            b"10000000000000000\r\n",
            b"5 x\r\nhello\r\n",
        ] {
            assert!(
                dechunk(wire, 1).is_err(),
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
        assert!(dechunk(&vec![b'1'; MAX_CHUNK_LINE + 2], 100).is_err());
    }

    /// Lines copied whole (already lowercase, `: `, CRLF) and lines rewritten give the same
    /// head as rewriting every line would: whatever the case, spacing or emptiness of a field.
    #[test]
    fn answer_lines_copied_whole_equal_rewritten_ones() {
        let head: &[u8] = b"HTTP/1.1 200 OK\r\ndate: x\r\nX-Upper: A\r\nx-tight:v\r\n\
            x-wide:   v\r\nx-trail: v \r\ncontent-length: 2\r\nconnection: x-gone\r\n\
            x-gone: 1\r\nx-empty:\r\nx-empty-sp: \r\nx-tab:\tv\r\nkeep-alive: 5\r\n\
            x-last: z\r\n\r\nok";
        let mut out = Vec::new();
        let Ok(Parsed::Head(..)) = parse_answer(head, false, Some(&mut out)) else {
            panic!("not parsed");
        };
        // Every kept field rewritten: lowercase name, `: `, value, CRLF.
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut slots);
        resp.parse(head).unwrap();
        let mut want = b"HTTP/1.1 200 OK\r\n".to_vec();
        for h in resp.headers.iter() {
            let name = h.name.to_ascii_lowercase();
            if ["content-length", "connection", "x-gone", "keep-alive"].contains(&name.as_str()) {
                continue;
            }
            want.extend_from_slice(name.as_bytes());
            want.extend_from_slice(b": ");
            want.extend_from_slice(h.value);
            want.extend_from_slice(b"\r\n");
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
        assert!(String::from_utf8_lossy(&out).contains("\r\nx-upper: A\r\nx-tight: v\r\n"));
    }
}
