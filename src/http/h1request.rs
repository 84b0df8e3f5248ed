//! The plain HTTP/1.1 request, as bytes: what certgate's own HTTP/1.1 server
//! (`server/own_h1.rs`) takes from a client without hyper, and the head it sends upstream
//! for it. Plain means: a whole head, HTTP/1.1, an origin-form target, one valid `Host`,
//! no body (no `Transfer-Encoding`; `Content-Length` absent or 0), and nothing that changes
//! how the connection goes on (`Expect`, `Upgrade`, `Connection: close`). Everything else
//! is hyper's to serve. Pure: bytes in, values out.

use super::headers::{self, HeaderConfig};
use http::HeaderValue;

/// Most header lines a plain request may have (hyper's server allows as many).
pub const MAX_FIELDS: usize = 100;

/// A plain request's head, borrowed from the bytes it was parsed from.
#[derive(Debug)]
pub struct Plain<'h, 'b> {
    pub method: &'b str,
    /// Origin-form: starts with `/`.
    pub target: &'b str,
    pub fields: &'h [httparse::Header<'b>],
    /// Bytes the head took, up to and including its empty line.
    pub head_len: usize,
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
    for f in fields {
        let name = f.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if !headers::valid_authority(f.value) {
                return Err("Host is not a valid host[:port]");
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            lengths += 1;
            if f.value.trim_ascii() != b"0" {
                return Err("a body");
            }
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
    })
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
    let mut had_length = false;
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
            had_length = true;
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
    if had_length {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
    removed
}
