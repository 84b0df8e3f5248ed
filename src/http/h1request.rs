//! The plain HTTP/1.1 request, as bytes: what certgate's own HTTP/1.1 server
//! (`server/own_h1.rs`) takes from a client without hyper, and the head it sends upstream
//! for it. Plain means: a whole head, HTTP/1.1, an origin-form target, one valid `Host`,
//! no `Transfer-Encoding`, at most one `Content-Length` of at most `MAX_BODY` bytes in its
//! one canonical spelling (a webhook's POST; the server forwards it once the whole body is
//! in hand), and nothing that changes how the connection goes on (`Expect`, `Upgrade`,
//! `Connection: close`). Everything else is hyper's to serve. Pure: bytes in, values out.

use super::headers::{self, HeaderConfig};
use http::HeaderValue;

/// Most header lines a plain request may have (hyper's server allows as many).
pub const MAX_FIELDS: usize = 100;

/// The largest body a plain request may have: webhook messages are mostly a few KB; larger
/// bodies stream through hyper's server and client, which forward them as they arrive.
pub const MAX_BODY: usize = 16 * 1024;

/// A plain request's head, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub struct Plain<'h, 'b> {
    pub method: &'b str,
    /// Origin-form: starts with `/`.
    pub target: &'b str,
    pub fields: &'h [httparse::Header<'b>],
    /// Bytes the head took, up to and including its empty line.
    pub head_len: usize,
    /// Bytes of body that follow the head (its `Content-Length`, 0 without one).
    pub body_len: usize,
}

impl<'b> Plain<'_, 'b> {
    /// The size `--max-header-bytes` limits, counted as for every other request: target,
    /// and each field's name and value plus four bytes.
    pub fn header_bytes(&self) -> usize {
        self.target.len()
            + self
                .fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + 4)
                .sum::<usize>()
    }

    /// The first value of the field `name` (lowercase), compared case-insensitively.
    pub fn field(&self, name: &str) -> Option<&'b [u8]> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value)
    }
}

/// Parse the request head at the start of `buf` if it is whole and plain; otherwise why
/// not (the request is then hyper's). `slots`: room for up to `MAX_FIELDS` fields.
pub fn parse<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [std::mem::MaybeUninit<httparse::Header<'b>>],
) -> Result<Plain<'h, 'b>, &'static str> {
    let mut req = httparse::Request::new(&mut []);
    // Uninitialised slots: a request does not pay for clearing all of them.
    let head_len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("head not complete"),
        Err(_) => return Err("not a well-formed head"),
    };
    if req.version != Some(1) {
        return Err("not HTTP/1.1");
    }
    let method = req.method.ok_or("no method")?;
    if method == "CONNECT" {
        return Err("CONNECT");
    }
    let target = req.path.ok_or("no target")?;
    if !target.starts_with('/') {
        return Err("not an origin-form target");
    }
    let fields: &'h [httparse::Header<'b>] = req.headers;
    let mut hosts = 0;
    let mut lengths = 0;
    let mut body_len = 0;
    for f in fields {
        let name = f.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if !headers::valid_authority(f.value) {
                return Err("Host is not a valid host[:port]");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            body_len = canonical_length(f.value.trim_ascii())
                .ok_or("a Content-Length over MAX_BODY, or not in canonical digits")?;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"upgrade")
        {
            return Err("a body, an expectation or an upgrade");
        } else if name.eq_ignore_ascii_case(b"connection")
            && f.value.split(|&b| b == b',').any(|t| {
                let t = t.trim_ascii();
                t.eq_ignore_ascii_case(b"close") || t.eq_ignore_ascii_case(b"upgrade")
            })
        {
            return Err("Connection: close or upgrade");
        }
    }
    if hosts != 1 {
        return Err("not exactly one Host");
    }
    if lengths > 1 {
        return Err("more than one Content-Length");
    }
    Ok(Plain {
        method,
        target,
        fields,
        head_len,
        body_len,
    })
}

/// A `Content-Length` value of at most `MAX_BODY` in its one canonical spelling: `0`, or
/// digits without a leading zero. Any other spelling (`+5`, `05`, `5 5`, an empty value)
/// is left to hyper's server, which refuses what it must: this server and the upstream
/// read the same length from the same bytes.
fn canonical_length(v: &[u8]) -> Option<usize> {
    if v == b"0" {
        return Some(0);
    }
    if v.is_empty() || v.len() > 5 || v[0] == b'0' || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = v.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    (n <= MAX_BODY).then_some(n)
}

/// `name` equals `other` as header names compare for stripping: ASCII case-insensitively,
/// `_` equal to `-`.
fn same_name(name: &str, other: &str) -> bool {
    name.len() == other.len()
        && name
            .bytes()
            .zip(other.bytes())
            .all(|(a, b)| headers::norm_byte(a) == headers::norm_byte(b))
}

/// A field name, lowercase (as hyper writes names).
fn write_lower(out: &mut Vec<u8>, name: &str) {
    let at = out.len();
    out.extend_from_slice(name.as_bytes());
    out[at..].make_ascii_lowercase();
}

/// What certgate adds to a forwarded request.
pub struct Added<'a> {
    /// The connection's identity header lines (empty when the route does not vouch).
    pub identity_lines: &'a [u8],
    pub client_ip: &'a HeaderValue,
    pub request_id: &'a [u8],
    /// The `Host` for a request whose own one does not go on (`Connection: host`): the
    /// upstream's authority, as for every request that comes without one.
    pub default_host: &'a HeaderValue,
}

/// Write the head certgate sends upstream for a plain request: `METHOD PATH[?QUERY]
/// HTTP/1.1`, the client's fields with lowercase names, in their order, less every field in
/// certgate's namespace, the hop-by-hop ones and those `Connection` names, and the
/// forwarding fields the client sent; then the identity lines, `X-Forwarded-Proto`,
/// `X-Forwarded-For` (the client's values, then its address) and `X-Request-Id`. The same
/// fields, with the same values, as `headers::strip_inbound` and `headers::write_forwarding`
/// leave and add on a request in a header map. Returns how many identity lines the client
/// had sent.
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    req: &Plain<'_, '_>,
    path: &str,
    query: Option<&str>,
    cfg: &HeaderConfig,
    added: &Added<'_>,
) -> usize {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if let Some(q) = query {
        out.push(b'?');
        out.extend_from_slice(q.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let connection_named = |name: &str| {
        req.fields.iter().any(|c| {
            c.name.eq_ignore_ascii_case("connection")
                && String::from_utf8_lossy(c.value).split(',').any(|t| {
                    let t = t.trim();
                    !t.is_empty() && same_name(name, t)
                })
        })
    };
    let has_connection = req.field("connection").is_some();
    let mut removed = 0;
    let mut had_length = None;
    let mut had_host = false;
    let mut xff: Vec<u8> = Vec::new();
    for f in req.fields {
        let name = f.name;
        let special = cfg.may_be_special(name) || (has_connection && connection_named(name));
        if !special {
            had_host |= name.eq_ignore_ascii_case("host");
            write_lower(out, name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(f.value);
            out.extend_from_slice(b"\r\n");
            continue;
        }
        if cfg.is_identity_header(name) || headers::forwarding_spelled_with_underscores(name) {
            removed += 1;
            continue;
        }
        if headers::HOP_BY_HOP
            .iter()
            .any(|h| headers::norm_eq(name, h))
            || (has_connection && connection_named(name))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            had_length = Some(f.value.trim_ascii());
            continue;
        }
        if name.eq_ignore_ascii_case(headers::X_FORWARDED_FOR) {
            let v = f.value.trim_ascii();
            if !v.is_empty() {
                xff.extend_from_slice(v);
                xff.extend_from_slice(b", ");
            }
            continue;
        }
        if name.eq_ignore_ascii_case(headers::X_FORWARDED_PROTO)
            || name.eq_ignore_ascii_case(headers::X_REQUEST_ID)
        {
            continue;
        }
        had_host |= name.eq_ignore_ascii_case("host");
        write_lower(out, name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(f.value);
        out.extend_from_slice(b"\r\n");
    }
    if !had_host {
        out.extend_from_slice(b"host: ");
        out.extend_from_slice(added.default_host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(added.identity_lines);
    out.extend_from_slice(b"x-forwarded-proto: https\r\nx-forwarded-for: ");
    out.extend_from_slice(&xff);
    out.extend_from_slice(added.client_ip.as_bytes());
    out.extend_from_slice(b"\r\nx-request-id: ");
    out.extend_from_slice(added.request_id);
    out.extend_from_slice(b"\r\n");
    if let Some(length) = had_length {
        // `parse` took only its canonical digits: the same bytes, without the blanks.
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(length);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    removed
}

/// The path and query of an origin-form target as hyper's server reads it (`http`'s
/// `PathAndQuery`, whose byte classes these are): a fragment is dropped unread, and a byte
/// outside the classes refuses the target. Without building a `PathAndQuery`, which would
/// copy or share the request's bytes (an allocation per request). A unit test holds the two
/// to the same answer for every byte in every part of a target.
pub fn split_target(target: &str) -> Option<(&str, Option<&str>)> {
    // `http`'s longest URI.
    const MAX_LEN: usize = u16::MAX as usize - 1;
    let b = target.as_bytes();
    if b.first() != Some(&b'/') || b.len() > MAX_LEN {
        return None;
    }
    let path_byte = |c: u8| {
        matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E)
            // accepted unencoded by `http` (JSON in paths), and UTF-8
            || matches!(c, b'"' | b'{' | b'}' | 0x80..=0xFF)
    };
    let query_byte = |c: u8| matches!(c, 0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E | 0x80..=0xFF);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => return Some((&target[..i], None)),
            b'?' => break,
            c if path_byte(c) => i += 1,
            _ => return None,
        }
    }
    if i == b.len() {
        return Some((target, None));
    }
    let path = &target[..i];
    let start = i + 1;
    let mut end = start;
    while end < b.len() {
        match b[end] {
            b'#' => break,
            c if query_byte(c) => end += 1,
            _ => return None,
        }
    }
    Some((path, Some(&target[start..end])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h1wire::encode_request_head;
    use crate::http::headers::{strip_inbound, write_forwarding, ForwardCert, DEFAULT_PREFIX};
    use http::{HeaderMap, HeaderName, Method};
    use std::mem::MaybeUninit;

    type Slots<'b> = [MaybeUninit<httparse::Header<'b>>; MAX_FIELDS];

    fn slots<'b>() -> Slots<'b> {
        [const { MaybeUninit::uninit() }; MAX_FIELDS]
    }

    /// Why `head` is not plain, or None when it is.
    fn refusal(head: &[u8]) -> Option<&'static str> {
        let mut s = slots();
        parse(head, &mut s).err()
    }

    #[test]
    fn plain_requests() {
        for head in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /p?q=1 HTTP/1.1\r\nhost: a.example:8443\r\n\r\n",
            b"HEAD /p HTTP/1.1\r\nHost: a\r\n\r\n",
            b"DELETE /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            b"POST /p HTTP/1.1\r\nHost: a\r\ncontent-LENGTH:   0  \r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, upgrades\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
            // Named `_`: not the framing field (it is dropped as hop-by-hop on the way).
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(refusal(head), None, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn what_is_not_plain_and_why() {
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        let cases: Vec<(&[u8], &str)> = vec![
            (b"GET / HTTP/1.1\r\nHost: a\r\n", "head not complete"),
            (b"GET / HTTP/1.1\r\nHo", "head not complete"),
            (b"", "head not complete"),
            (
                b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
                "not a well-formed head",
            ),
            (
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                "not a well-formed head",
            ),
            (
                b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
                "not a well-formed head",
            ),
            (
                b"GET / HTTP/1.1\r\nX\x01: v\r\nHost: a\r\n\r\n",
                "not a well-formed head",
            ),
            (many.as_bytes(), "not a well-formed head"),
            (b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", "not HTTP/1.1"),
            (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", "CONNECT"),
            (
                b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                "not an origin-form target",
            ),
            (
                b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
                "not an origin-form target",
            ),
            (b"GET / HTTP/1.1\r\n\r\n", "not exactly one Host"),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
                "not exactly one Host",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
                "Host is not a valid host[:port]",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
                "Host is not a valid host[:port]",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: \r\n\r\n",
                "Host is not a valid host[:port]",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0, 0\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16385\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ５\r\n\r\n".as_bytes(),
                "a Content-Length over MAX_BODY, or not in canonical digits",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n",
                "more than one Content-Length",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                "a body, an expectation or an upgrade",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: identity\r\n\r\n",
                "a body, an expectation or an upgrade",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
                "a body, an expectation or an upgrade",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nUPGRADE: websocket\r\n\r\n",
                "a body, an expectation or an upgrade",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "Connection: close or upgrade",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE \r\n\r\n",
                "Connection: close or upgrade",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nconnection: Upgrade\r\n\r\n",
                "Connection: close or upgrade",
            ),
        ];
        for (head, why) in cases {
            assert_eq!(
                refusal(head),
                Some(why),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn a_body_of_up_to_max_body_in_canonical_digits_is_plain_and_its_length_known() {
        for (value, len) in [("0", 0), ("5", 5), (" 17 ", 17), ("16384", MAX_BODY)] {
            let head = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
            let mut s = slots();
            let req = parse(head.as_bytes(), &mut s).unwrap();
            assert_eq!((req.head_len, req.body_len), (head.len(), len), "{value:?}");
        }
        let mut s = slots();
        let req = parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut s).unwrap();
        assert_eq!(req.body_len, 0, "no Content-Length, no body");
        for (v, n) in (0..=MAX_BODY + 1).map(|n| (n.to_string(), n)) {
            let want = (n <= MAX_BODY).then_some(n);
            assert_eq!(canonical_length(v.as_bytes()), want, "{v}");
        }
    }

    #[test]
    fn a_plain_head_is_borrowed_as_it_came() {
        let head = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\nGET /next";
        let mut s = slots();
        let req = parse(head, &mut s).unwrap();
        assert_eq!((req.method, req.target), ("GET", "/a%20b?x=1"));
        assert_eq!(req.head_len, head.len() - b"GET /next".len());
        assert_eq!(req.field("x-a"), Some(&b"1"[..]));
        assert_eq!(req.field("HOST"), Some(&b"h"[..]));
        // Counted as for every other request: the target, and name + value + 4 per field.
        assert_eq!(req.header_bytes(), 10 + (4 + 1 + 4) + (3 + 1 + 4));
    }

    fn config() -> HeaderConfig {
        HeaderConfig::new(
            DEFAULT_PREFIX,
            &["subject=X-SSL-Client-S-DN".to_string()],
            &["X-Legacy-Auth".to_string()],
            ForwardCert::Rfc9440,
            true,
        )
        .unwrap()
    }

    /// The upstream's authority, the Host of a request whose own does not go on.
    const DEFAULT_HOST: &str = "127.0.0.1:8080";

    const IDENTITY: &[u8] =
        b"x-client-cert-subject: CN=real\r\nx-forwarded-client-cert: Hash=real\r\n";

    /// The head `write_upstream_head` writes for `head`, and the count it returns.
    fn own_head(head: &[u8], cfg: &HeaderConfig, identity: &[u8]) -> (Vec<u8>, usize) {
        let mut s = slots();
        let req = parse(head, &mut s).expect("a plain request");
        let (path, query) = match req.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (req.target, None),
        };
        let ip = HeaderValue::from_static("192.0.2.1");
        let host = HeaderValue::from_static(DEFAULT_HOST);
        let added = Added {
            identity_lines: identity,
            client_ip: &ip,
            request_id: b"rid-1",
            default_host: &host,
        };
        let mut out = Vec::new();
        let removed = write_upstream_head(&mut out, &req, path, query, cfg, &added);
        (out, removed)
    }

    /// The head hyper's pipeline writes for `head`: its fields in a header map, then
    /// `strip_inbound`, `write_forwarding` and `encode_request_head`.
    fn map_head(head: &[u8], cfg: &HeaderConfig, identity: &[u8]) -> (Vec<u8>, usize) {
        let mut s = slots();
        let req = parse(head, &mut s).expect("a plain request");
        let mut map = HeaderMap::new();
        for f in req.fields {
            map.append(
                HeaderName::from_bytes(f.name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(f.value).unwrap(),
            );
        }
        let removed = strip_inbound(&mut map, cfg);
        // As `Upstream::send` does for a request that has no Host (any more).
        if !map.contains_key(http::header::HOST) {
            map.insert(http::header::HOST, HeaderValue::from_static(DEFAULT_HOST));
        }
        let mut extra = Vec::new();
        let ip = HeaderValue::from_static("192.0.2.1");
        let rid = HeaderValue::from_static("rid-1");
        write_forwarding(&mut map, identity, &ip, &rid, &mut extra);
        let method = Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut out = Vec::new();
        encode_request_head(&mut out, &method, req.target, &map, &extra, 0);
        (out, removed)
    }

    /// A request head as its request line and the multiset of its fields (names
    /// lowercased), parsed back with httparse.
    fn reparse(head: &[u8]) -> (String, String, Vec<(String, Vec<u8>)>) {
        let mut fields = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut fields);
        let n = match req.parse(head) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("{other:?}: {}", String::from_utf8_lossy(head)),
        };
        assert_eq!(n, head.len(), "one head, nothing after it");
        assert_eq!(req.version, Some(1));
        let mut f: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        f.sort();
        (
            req.method.unwrap().to_string(),
            req.path.unwrap().to_string(),
            f,
        )
    }

    /// Tricky heads: for each, the own head equals the header-map pipeline's (same request
    /// line, same fields with the same values), and names every field certgate owns once.
    const TRICKY: &[&[u8]] = &[
        // Mixed case, certgate's namespace in every spelling.
        b"GET /a?b=1 HTTP/1.1\r\nHoSt: h\r\nX-CLIENT-CERT-SUBJECT: CN=x\r\nx_client_cert_fingerprint: f\r\n\
          X-Client-Cert-Anything-Else: y\r\nX-SSL-Client-S-DN: CN=x\r\nx_ssl_client_s_dn: CN=x\r\n\
          X-Legacy-Auth: s\r\nX_LEGACY_AUTH: s\r\nX-Forwarded-Client-Cert: x\r\nx_forwarded_client_cert: x\r\n\
          X-Signature-Verified: x\r\nX_Signature_Verified: x\r\nClient-Cert: :x:\r\nclient_cert_chain: :x:\r\n\
          X-App: Kept\r\n\r\n",
        // Forwarding fields, the client's and with `_`; duplicates, not adjacent.
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.1\r\nX-App: 1\r\nX_Forwarded_For: 198.51.100.9\r\n\
          x-forwarded-for: 203.0.113.2 , 203.0.113.3\r\nX-Forwarded-For:\r\nX-App: 2\r\nX-Forwarded-Proto: http\r\n\
          X_Forwarded_Proto: http\r\nX-Request-Id: theirs\r\nx_request_id: theirs\r\nx-request-id: again\r\n\
          Forwarded: for=x\r\nX-Real-IP: x\r\nX-Forwarded-Host: x\r\nx_forwarded_port: 1\r\n\r\n",
        // Hop-by-hop, in both spellings, and Connection tokens with spaces and empty items.
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: , x-a ,, X_B ,keep-alive,\r\nconnection:\r\nConnection: X-C\r\n\
          X-A: 1\r\nx-b: 2\r\nX_C: 3\r\nx_a: 4\r\nX-D: kept\r\nKeep-Alive: 5\r\nKeep_Alive: 5\r\nTE: trailers\r\n\
          Trailer: x\r\nProxy-Connection: x\r\nProxy_Authorization: x\r\nProxy-Authenticate: x\r\n\r\n",
        // Connection naming fields certgate sets or needs.
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Request-Id, x-forwarded-for, Content-Length, x-client-cert-subject\r\n\
          X-Request-Id: theirs\r\nX-Forwarded-For: 203.0.113.1\r\nContent-Length: 0\r\nX-Client-Cert-Subject: CN=x\r\n\r\n",
        // Values that are not ASCII (obs-text), tabs inside values, and a Connection token that is not UTF-8.
        b"GET /caf%C3%A9 HTTP/1.1\r\nHost: h\r\nX-Note: caf\xc3\xa9\r\nX-Raw: \xff\xfe\x80\r\nX-Tab: a\tb\r\n\
          Connection: x-\xff, X-Tab\r\nX-Kept: yes\r\n\r\n",
        // Content-Length: 0 (with spaces), kept once; a POST.
        b"POST /p HTTP/1.1\r\nHost: h\r\nX-A: 1\r\ncontent-length:  0 \r\nX-B: 2\r\n\r\n",
        // Nothing but Host.
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        // Connection naming Host: the upstream's authority goes instead, as for hyper's pipeline.
        b"GET / HTTP/1.1\r\nHost: client.example\r\nConnection: host\r\nX-A: 1\r\n\r\n",
    ];

    #[test]
    fn the_own_head_has_the_fields_the_header_map_pipeline_writes() {
        let cfg = config();
        for head in TRICKY {
            for identity in [IDENTITY, b""] {
                let shown = String::from_utf8_lossy(head);
                let (own, own_removed) = own_head(head, &cfg, identity);
                let (map, map_removed) = map_head(head, &cfg, identity);
                let (om, ot, of) = reparse(&own);
                let (mm, mt, mf) = reparse(&map);
                assert_eq!((om, ot), (mm, mt), "{shown}");
                assert_eq!(
                    of,
                    mf,
                    "{shown}\nown:\n{}\nmap:\n{}",
                    String::from_utf8_lossy(&own),
                    String::from_utf8_lossy(&map)
                );
                assert_eq!(own_removed, map_removed, "{shown}");
                // certgate's own fields, once each; no framing but `content-length: 0`.
                let count = |n: &str| of.iter().filter(|(f, _)| f == n).count();
                for n in [
                    "x-forwarded-proto",
                    "x-forwarded-for",
                    "x-request-id",
                    "host",
                ] {
                    assert_eq!(count(n), 1, "{n}: {shown}");
                }
                assert_eq!(count("transfer-encoding"), 0, "{shown}");
                assert!(
                    of.iter()
                        .filter(|(f, _)| f == "content-length")
                        .all(|(_, v)| v == b"0"),
                    "{shown}"
                );
                let identity_fields = of.iter().filter(|(f, _)| cfg.is_identity_header(f)).count();
                assert_eq!(
                    identity_fields,
                    if identity.is_empty() { 0 } else { 2 },
                    "only certgate's identity fields: {shown}\n{}",
                    String::from_utf8_lossy(&own)
                );
            }
        }
    }

    #[test]
    fn the_own_head_keeps_the_clients_order_and_spells_names_in_lowercase() {
        let (own, removed) = own_head(TRICKY[1], &config(), b"");
        assert_eq!(
            String::from_utf8_lossy(&own),
            "GET / HTTP/1.1\r\nhost: h\r\nx-app: 1\r\nx-app: 2\r\n\
             x-forwarded-proto: https\r\n\
             x-forwarded-for: 203.0.113.1, 203.0.113.2 , 203.0.113.3, 192.0.2.1\r\n\
             x-request-id: rid-1\r\n\r\n"
        );
        // The `_` spellings of forwarding fields, and Forwarded, X-Real-IP,
        // X-Forwarded-Host, x_forwarded_port: certgate's namespace.
        assert_eq!(removed, 7);
        let (own, removed) = own_head(TRICKY[5], &config(), IDENTITY);
        assert_eq!(
            String::from_utf8_lossy(&own),
            "POST /p HTTP/1.1\r\nhost: h\r\nx-a: 1\r\nx-b: 2\r\n\
             x-client-cert-subject: CN=real\r\nx-forwarded-client-cert: Hash=real\r\n\
             x-forwarded-proto: https\r\nx-forwarded-for: 192.0.2.1\r\nx-request-id: rid-1\r\n\
             content-length: 0\r\n\r\n"
        );
        assert_eq!(removed, 0);
        let (own, _) = own_head(TRICKY[7], &config(), b"");
        assert_eq!(
            String::from_utf8_lossy(&own),
            "GET / HTTP/1.1\r\nx-a: 1\r\nhost: 127.0.0.1:8080\r\n\
             x-forwarded-proto: https\r\nx-forwarded-for: 192.0.2.1\r\nx-request-id: rid-1\r\n\r\n"
        );
    }

    /// `split_target` reads a target as `http::uri::PathAndQuery` does: every byte value in
    /// the path, in the query, after a fragment, and at the start of each.
    #[test]
    fn split_target_agrees_with_http_for_every_byte() {
        let mut checked = 0;
        for b in 0u8..=255 {
            let c = [b];
            let Ok(c) = std::str::from_utf8(&c) else {
                // Bytes over 0x7F are in targets only as UTF-8: one two-byte character
                // stands for them.
                continue;
            };
            for t in [
                format!("/{c}"),
                format!("/a{c}b"),
                format!("/a?{c}"),
                format!("/a?x{c}y"),
                format!("/a#{c}"),
                format!("/a?q#{c}"),
                format!("/{c}?{c}#{c}"),
                format!("{c}/a"),
            ]
            .into_iter()
            .chain([
                "/é?ü#ß".to_string(),
                "/".to_string(),
                "/?".to_string(),
                "/#".to_string(),
                "/a??b".to_string(),
                "/a?b?c#d#e".to_string(),
                "".to_string(),
            ]) {
                let http = http::uri::PathAndQuery::try_from(t.as_str())
                    .ok()
                    .filter(|_| t.starts_with('/'))
                    .map(|p| (p.path().to_string(), p.query().map(str::to_string)));
                let ours = split_target(&t).map(|(p, q)| (p.to_string(), q.map(str::to_string)));
                assert_eq!(ours, http, "target {t:?}");
                checked += 1;
            }
        }
        assert!(checked > 900);
        let long = format!("/{}", "a".repeat(u16::MAX as usize));
        assert_eq!(split_target(&long), None);
        assert!(http::uri::PathAndQuery::try_from(long.as_str()).is_err());
    }
}
