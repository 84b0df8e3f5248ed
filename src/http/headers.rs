//! Header policy: strip hop-by-hop and inbound identity headers, then set the verified
//! ones. Header names and the hop-by-hop list live here and nowhere else. PURE.

use super::h1wire::write_line;
use http::{HeaderMap, HeaderName, HeaderValue};

use std::net::IpAddr;

pub const DEFAULT_PREFIX: &str = "X-Client-Cert-";
pub const XFCC: &str = "x-forwarded-client-cert";
pub const CLIENT_CERT: &str = "client-cert";
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
pub const X_REQUEST_ID: &str = "x-request-id";
const CONTENT_LENGTH: &str = "content-length";
/// Set on a `--verify` route's forwarded request when its payload signature verified;
/// removed from every inbound request, on every route, like the identity headers.
pub const X_SIGNATURE_VERIFIED: &str = "x-signature-verified";

/// The same names as `HeaderName`s: map operations with these neither parse nor hash a
/// string per request.
pub mod name {
    use http::HeaderName;
    pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static(super::X_FORWARDED_FOR);
    pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static(super::X_FORWARDED_PROTO);
    pub const X_REQUEST_ID: HeaderName = HeaderName::from_static(super::X_REQUEST_ID);
    pub const X_SIGNATURE_VERIFIED: HeaderName =
        HeaderName::from_static(super::X_SIGNATURE_VERIFIED);
    pub const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
    pub const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
}
pub use super::h1wire::HOP_BY_HOP;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardCert {
    None,
    Pem,
    Rfc9440,
}

/// Identity fields that `--identity-header FIELD=NAME` can rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Subject,
    Issuer,
    Fingerprint,
    Serial,
    NotAfter,
    SanDns,
    SanUri,
    SanEmail,
    Pem,
}

/// Validated header settings. Names to strip are kept normalised (lowercase, `_` as `-`).
#[derive(Debug, Clone)]
pub struct HeaderConfig {
    /// `--header-prefix`, normalised.
    prefix_norm: String,
    /// The header name of each field, in `Field::ALL` order (renamed or prefix + default).
    pub(super) names: Vec<(Field, HeaderName)>,
    /// Exact names (normalised) removed from every inbound request besides the prefix.
    strip: Vec<String>,
    pub(super) forward_cert: ForwardCert,
    pub(super) xfcc: bool,
    /// For each name length below 64, a bit per first letter (its low 5 bits) of the names
    /// of that length that a request's field may have to leave or be rewritten for (in
    /// `strip`, hop-by-hop, framing, forwarding). A field whose name has no bit set and does
    /// not start with the prefix is copied as it is.
    special: [u32; 64],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("--header-prefix {0:?}: not a valid header name prefix")]
    BadPrefix(String),
    #[error("--header-prefix {prefix:?}: every inbound header starting with it is removed, and that would remove {needed}, which requests need; choose a narrower prefix such as X-Client-Cert-")]
    PrefixTooBroad {
        prefix: String,
        needed: &'static str,
    },
    #[error("--identity-header {value:?}: {problem}")]
    BadIdentityHeader { value: String, problem: String },
    #[error("--strip-header {0:?}: not a valid header name")]
    BadStripHeader(String),
    #[error("--strip-header {0:?}: a request cannot be forwarded without this header, so it cannot be stripped")]
    StripNeeded(String),
    #[error("identity value for {field} cannot be a header value")]
    BadValue { field: &'static str },
}

/// Lowercase with `_` as `-`: how CGI-style stacks fold header names, so how we compare them.
fn norm(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// One byte of a header name as compared: ASCII lowercase, `_` folded to `-`.
pub(crate) fn norm_byte(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

/// `name`, normalised, equals `target` (already normalised). No allocation.
pub(crate) fn norm_eq(name: &str, target: &str) -> bool {
    name.len() == target.len()
        && name
            .bytes()
            .zip(target.bytes())
            .all(|(a, b)| norm_byte(a) == b)
}

/// A name's first byte as a bit for `HeaderConfig::special`: its low five bits, the same for
/// both cases of a letter (and for `_` and `-`: `_` is 0x5F, `-` 0x2D; folded to one bit).
fn first_bit(b: u8) -> u32 {
    1 << (norm_byte(b) & 31)
}

/// `name`, normalised, starts with `prefix` (already normalised). No allocation.
fn norm_starts_with(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .bytes()
            .zip(prefix.bytes())
            .all(|(a, b)| norm_byte(a) == b)
}

/// Names a request cannot be forwarded without (its target, its framing, what its body
/// is): never stripped, whatever `--strip-header` or `--header-prefix` say.
const NEEDED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "content-type",
    "content-encoding",
];

/// Names that a `--header-prefix` must not swallow: the needed ones, those certgate sets,
/// common end-to-end request headers, and the payload-signature headers `--verify` reads.
const PREFIX_GUARD: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "content-type",
    "content-encoding",
    "content-digest",
    "authorization",
    "cookie",
    "accept",
    "user-agent",
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_REQUEST_ID,
    "signature",
    "signature-input",
    "stripe-signature",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "x-hub-signature-256",
    "x-docusign-signature-1",
];

/// Forwarding headers that only a proxy in front could set; certgate is the first HTTP hop,
/// so a client's values are removed from every request (`X-Forwarded-Proto` is replaced and
/// `X-Forwarded-For` appended to, see `apply`).
pub const CLIENT_FORWARDING: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "x-forwarded-host",
    "x-forwarded-port",
];

/// Names an identity header must never take: stripping them would break the request.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_REQUEST_ID,
    XFCC,
    CLIENT_CERT,
    CLIENT_CERT_CHAIN,
    X_SIGNATURE_VERIFIED,
];

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Subject,
        Field::Issuer,
        Field::Fingerprint,
        Field::Serial,
        Field::NotAfter,
        Field::SanDns,
        Field::SanUri,
        Field::SanEmail,
        Field::Pem,
    ];

    /// The FIELD of `--identity-header FIELD=NAME`.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Subject => "subject",
            Field::Issuer => "issuer",
            Field::Fingerprint => "fingerprint",
            Field::Serial => "serial",
            Field::NotAfter => "not-after",
            Field::SanDns => "san-dns",
            Field::SanUri => "san-uri",
            Field::SanEmail => "san-email",
            Field::Pem => "pem",
        }
    }

    /// Appended to `--header-prefix` for the default header name.
    fn suffix(self) -> &'static str {
        match self {
            Field::Subject => "Subject",
            Field::Issuer => "Issuer",
            Field::Fingerprint => "Fingerprint",
            Field::Serial => "Serial",
            Field::NotAfter => "Not-After",
            Field::SanDns => "San-Dns",
            Field::SanUri => "San-Uri",
            Field::SanEmail => "San-Email",
            Field::Pem => "Pem",
        }
    }
}

impl std::str::FromStr for Field {
    type Err = ();
    /// Case-insensitive, `_` accepted for `-`.
    fn from_str(s: &str) -> Result<Field, ()> {
        let n = norm(s);
        Field::ALL.into_iter().find(|f| f.as_str() == n).ok_or(())
    }
}

impl HeaderConfig {
    /// From `--header-prefix`, `--identity-header` values, `--strip-header` values,
    /// `--forward-cert`, `--xfcc`.
    pub fn new(
        prefix: &str,
        identity_headers: &[String],
        strip_headers: &[String],
        forward_cert: ForwardCert,
        xfcc: bool,
    ) -> Result<HeaderConfig, HeaderError> {
        // An empty prefix would strip every inbound header.
        if prefix.is_empty() || HeaderName::from_bytes(prefix.as_bytes()).is_err() {
            return Err(HeaderError::BadPrefix(prefix.to_string()));
        }
        let prefix_norm = norm(prefix);
        if let Some(needed) = PREFIX_GUARD.iter().find(|n| n.starts_with(&prefix_norm)) {
            return Err(HeaderError::PrefixTooBroad {
                prefix: prefix.to_string(),
                needed,
            });
        }
        let mut names: Vec<(Field, HeaderName)> = Vec::with_capacity(Field::ALL.len());
        for field in Field::ALL {
            let name = HeaderName::from_bytes(format!("{prefix}{}", field.suffix()).as_bytes())
                .map_err(|_| HeaderError::BadPrefix(prefix.to_string()))?;
            names.push((field, name));
        }

        let mut renamed: Vec<Field> = Vec::new();
        for value in identity_headers {
            let bad = |problem: String| HeaderError::BadIdentityHeader {
                value: value.clone(),
                problem,
            };
            let (field, name) = value
                .split_once('=')
                .ok_or_else(|| bad("expected FIELD=NAME".into()))?;
            let field: Field = field.parse().map_err(|()| {
                bad(format!(
                    "unknown field {field:?} (expected one of {})",
                    Field::ALL.map(Field::as_str).join(", ")
                ))
            })?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad(format!("{name:?} is not a valid header name")))?;
            let n = norm(name.as_str());
            if HOP_BY_HOP.contains(&n.as_str()) || RESERVED.contains(&n.as_str()) {
                return Err(bad(format!("{name} is reserved")));
            }
            if renamed.contains(&field) {
                return Err(bad(format!("field {} renamed twice", field.as_str())));
            }
            renamed.push(field);
            if let Some(slot) = names.iter_mut().find(|(f, _)| *f == field) {
                slot.1 = name;
            }
        }
        // Two fields under one name would be ambiguous to the upstream.
        for (i, (f, a)) in names.iter().enumerate() {
            if let Some((g, _)) = names[..i]
                .iter()
                .find(|(_, b)| norm(b.as_str()) == norm(a.as_str()))
            {
                return Err(HeaderError::BadIdentityHeader {
                    value: format!("{}={a}", f.as_str()),
                    problem: format!("same header name as field {}", g.as_str()),
                });
            }
        }

        let mut strip: Vec<String> = names.iter().map(|(_, n)| norm(n.as_str())).collect();
        for value in strip_headers {
            HeaderName::from_bytes(value.as_bytes())
                .map_err(|_| HeaderError::BadStripHeader(value.clone()))?;
            if NEEDED.contains(&norm(value).as_str()) {
                return Err(HeaderError::StripNeeded(value.clone()));
            }
            strip.push(norm(value));
        }
        strip.push(XFCC.to_string());
        strip.extend(CLIENT_FORWARDING.iter().map(|n| n.to_string()));
        strip.push(X_SIGNATURE_VERIFIED.to_string());
        if forward_cert == ForwardCert::Rfc9440 {
            strip.push(CLIENT_CERT.to_string());
            strip.push(CLIENT_CERT_CHAIN.to_string());
        }
        strip.sort();
        strip.dedup();
        let mut special = [0u32; 64];
        let always = [
            CONTENT_LENGTH,
            X_FORWARDED_FOR,
            X_FORWARDED_PROTO,
            X_REQUEST_ID,
        ];
        for n in strip
            .iter()
            .map(String::as_str)
            .chain(HOP_BY_HOP.iter().copied())
            .chain(always)
        {
            if let (Some(slot), Some(first)) = (special.get_mut(n.len()), n.bytes().next()) {
                *slot |= first_bit(first);
            }
        }

        Ok(HeaderConfig {
            prefix_norm,
            names,
            strip,
            forward_cert,
            xfcc,
            special,
        })
    }

    /// The header name that carries `field`.
    pub fn name(&self, field: Field) -> &HeaderName {
        // `names` is built from `Field::ALL`, whose order is the declaration order.
        &self.names[field as usize].1
    }

    pub fn forward_cert(&self) -> ForwardCert {
        self.forward_cert
    }

    pub fn xfcc(&self) -> bool {
        self.xfcc
    }

    /// False when a request field of this name is certainly forwarded as it is: not in
    /// certgate's namespace, not hop-by-hop, not framing or forwarding (but see
    /// `Connection`, which can name any field). A cheap test on its length and first bytes.
    pub fn may_be_special(&self, name: &str) -> bool {
        let bits = match (self.special.get(name.len()), name.bytes().next()) {
            (Some(slot), Some(first)) => slot & first_bit(first) != 0,
            _ => true,
        };
        bits || norm_starts_with(name, &self.prefix_norm)
    }

    /// True when an inbound header of this name is in certgate's namespace.
    pub fn is_identity_header(&self, name: &str) -> bool {
        norm_starts_with(name, &self.prefix_norm) || self.strip.iter().any(|s| norm_eq(name, s))
    }
}

/// Remove hop-by-hop headers (and any named in `Connection`), every inbound identity
/// header (prefix, renamed fields, `--strip-header`, XFCC, and RFC 9440 names when that
/// mode is on; case-insensitive, `_` = `-`). Returns how many identity headers were removed.
///
/// The count is of header lines: two `X-Client-Cert-Subject` lines count 2.
pub fn strip_inbound(headers: &mut HeaderMap, cfg: &HeaderConfig) -> usize {
    // RFC 9110 §7.6.1: every header named in Connection is hop-by-hop too.
    let mut connection_named: Vec<String> = Vec::new();
    for v in headers.get_all(http::header::CONNECTION) {
        for token in String::from_utf8_lossy(v.as_bytes()).split(',') {
            let token = token.trim();
            if !token.is_empty() {
                connection_named.push(norm(token));
            }
        }
    }
    // Decide first (no allocation unless something must go), then remove.
    let mut identity: Vec<HeaderName> = Vec::new();
    let mut hop: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        if cfg.is_identity_header(n) || forwarding_spelled_with_underscores(n) {
            identity.push(name.clone());
        } else if HOP_BY_HOP.iter().any(|h| norm_eq(n, h))
            || connection_named.iter().any(|c| norm_eq(n, c))
        {
            hop.push(name.clone());
        }
    }
    let mut removed = 0;
    for name in &identity {
        removed += headers.get_all(name).iter().count();
        headers.remove(name);
    }
    for name in &hop {
        headers.remove(name);
    }
    removed
}

/// `X_Forwarded_For`, `x_request_id`…: CGI-style stacks fold them into the variable of
/// the header certgate sets, so a client could put its own value beside certgate's.
pub(crate) fn forwarding_spelled_with_underscores(n: &str) -> bool {
    n.contains('_')
        && [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_REQUEST_ID]
            .iter()
            .any(|h| norm_eq(n, h))
}

/// After `strip_inbound`: set identity headers (if any), `X-Forwarded-Proto: https`,
/// append the client address to `X-Forwarded-For`, and set `X-Request-Id`.
pub fn apply(
    headers: &mut HeaderMap,
    identity: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
    client_ip: &HeaderValue,
    request_id: &HeaderValue,
) {
    // One growth of the map, not one per inserted header.
    headers.reserve(8);
    for (name, value) in identity {
        headers.insert(name, value);
    }
    headers.insert(name::X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    let xff = forwarded_for(headers, client_ip);
    headers.insert(name::X_FORWARDED_FOR, xff);
    headers.insert(name::X_REQUEST_ID, request_id.clone());
}

/// `apply` for certgate's own upstream client (`h1client`): the same headers with the same
/// values, written as request-head lines into `out` instead of inserted into the map, so
/// no header name is hashed. Inbound `X-Forwarded-Proto`, `X-Forwarded-For` and
/// `X-Request-Id` lines leave the map (`X-Forwarded-For`'s values lead the new one).
pub fn write_forwarding(
    headers: &mut HeaderMap,
    identity_lines: &[u8],
    client_ip: &HeaderValue,
    request_id: &HeaderValue,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(identity_lines);
    // One pass over the names, without hashing, finds whether any must go (rarely).
    let (mut xfp, mut xff, mut rid) = (false, false, false);
    for n in headers.keys() {
        xfp |= *n == name::X_FORWARDED_PROTO;
        xff |= *n == name::X_FORWARDED_FOR;
        rid |= *n == name::X_REQUEST_ID;
    }
    write_line(
        out,
        &name::X_FORWARDED_PROTO,
        &HeaderValue::from_static("https"),
    );
    let forwarded = if xff {
        forwarded_for(headers, client_ip)
    } else {
        client_ip.clone()
    };
    write_line(out, &name::X_FORWARDED_FOR, &forwarded);
    write_line(out, &name::X_REQUEST_ID, request_id);
    for (present, n) in [
        (xfp, name::X_FORWARDED_PROTO),
        (xff, name::X_FORWARDED_FOR),
        (rid, name::X_REQUEST_ID),
    ] {
        if present {
            headers.remove(n);
        }
    }
}

/// `X-Forwarded-For`: several inbound lines become one list, then the client address.
fn forwarded_for(headers: &HeaderMap, client_ip: &HeaderValue) -> HeaderValue {
    let mut xff: Vec<u8> = Vec::new();
    for v in headers.get_all(&name::X_FORWARDED_FOR) {
        let v = v.as_bytes().trim_ascii();
        if !v.is_empty() {
            xff.extend_from_slice(v);
            xff.extend_from_slice(b", ");
        }
    }
    if xff.is_empty() {
        client_ip.clone()
    } else {
        xff.extend_from_slice(client_ip.as_bytes());
        HeaderValue::from_bytes(&xff).unwrap_or_else(|_| client_ip.clone())
    }
}

/// The client address as a header value (`X-Forwarded-For`), built once per connection.
pub fn client_ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Join the `Cookie` fields of an HTTP/2 request into one, `; `-separated, as RFC 9113
/// §8.2.3 requires before a request goes on over HTTP/1.1 (HTTP/2 clients send a field per
/// cookie; an HTTP/1.1 request carries one, RFC 6265 §5.4, and many servers read only the
/// first).
pub fn join_cookies(headers: &mut HeaderMap) {
    let values: Vec<&[u8]> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if values.len() < 2 {
        return;
    }
    let joined = values.join(&b"; "[..]);
    // Valid field values joined by "; " are a valid field value.
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(http::header::COOKIE, v);
    }
}

/// Remove hop-by-hop headers from a response (the fixed list and every header its
/// `Connection` header names).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    use http::header::{
        CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
        UPGRADE,
    };
    // Most answers carry none: one pass over the names, compared as HeaderNames.
    let is_hop = |n: &HeaderName| {
        *n == CONNECTION
            || *n == TRANSFER_ENCODING
            || *n == name::KEEP_ALIVE
            || *n == TE
            || *n == TRAILER
            || *n == UPGRADE
            || *n == PROXY_AUTHENTICATE
            || *n == PROXY_AUTHORIZATION
            || *n == name::PROXY_CONNECTION
    };
    if !headers.keys().any(is_hop) {
        return;
    }
    let mut named: Vec<HeaderName> = Vec::new();
    for v in headers.get_all(http::header::CONNECTION) {
        if let Ok(v) = v.to_str() {
            named.extend(
                v.split(',')
                    .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok()),
            );
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    for name in named {
        headers.remove(name);
    }
}

/// RFC 9112 §3.2 and RFC 3986 §3.2.2: a `Host` value (or an `:authority`, or the authority
/// of an absolute-form target) is `host [":" port]`: an IPv6 address in brackets, or a
/// non-empty name of unreserved characters, sub-delimiters and escapes (which covers IPv4);
/// no userinfo, and a port of 1 to 5 digits up to 65535 when a `:` is there.
pub fn valid_authority(v: &[u8]) -> bool {
    let port_ok = |p: &[u8]| {
        !p.is_empty()
            && p.len() <= 5
            && p.iter().all(u8::is_ascii_digit)
            && p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65535
    };
    if let Some(rest) = v.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let ipv6 = std::str::from_utf8(&rest[..end])
            .is_ok_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        return ipv6
            && match &rest[end + 1..] {
                [] => true,
                [b':', port @ ..] => port_ok(port),
                _ => false,
            };
    }
    let (host, port) = match v.iter().position(|&b| b == b':') {
        None => (v, None),
        Some(i) => (&v[..i], Some(&v[i + 1..])),
    };
    let mut i = 0;
    while i < host.len() {
        match host[i] {
            b'%' => {
                let hex = |j: usize| host.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            b if HOST_BYTE[b as usize] => {}
            _ => return false,
        }
        i += 1;
    }
    !host.is_empty() && port.is_none_or(port_ok)
}

/// Bytes of a reg-name besides `%` escapes (RFC 3986 §3.2.2): unreserved and sub-delims.
const HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
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
                    | b';'
                    | b'='
            );
        b += 1;
    }
    t
};

/// A client-sent request id is kept when it is 1..=128 visible ASCII chars from `[A-Za-z0-9._:-]`.
pub fn sane_request_id(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {

    #[test]
    fn authorities_follow_rfc_3986() {
        for ok in [
            "localhost",
            "localhost:8443",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:443",
            "a.b-c.example",
            "xn--bcher-kva.example",
            "a%41b",
            "localhost:0",
            "localhost:65535",
        ] {
            assert!(valid_authority(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "evil.com/admin",
            "a@b",
            "x\"<s>",
            "[::1",
            "[::1]x",
            "[nope]",
            "::1",
            "localhost:99999",
            "localhost:65536",
            "localhost:",
            "localhost:80:80",
            "localhost:8a",
            "a b",
            "a%4",
            ":80",
            "é.example",
            "a\\b",
        ] {
            assert!(!valid_authority(bad.as_bytes()), "{bad:?}");
        }
    }

    use super::*;
    use crate::http::identity_headers::IdentityHeaders;
    use crate::pki::dn::Dn;
    use crate::pki::identity::PeerIdentity;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use rustls_pki_types::CertificateDer;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn cfg(mode: ForwardCert, xfcc: bool) -> HeaderConfig {
        HeaderConfig::new(DEFAULT_PREFIX, &[], &[], mode, xfcc).unwrap()
    }

    fn leaf() -> CertificateDer<'static> {
        let ck = rcgen::generate_simple_self_signed(vec!["a.example.com".to_string()]).unwrap();
        ck.cert.der().clone()
    }

    fn ident() -> PeerIdentity {
        PeerIdentity {
            subject: Dn::from_rdns(vec![]),
            issuer: Dn::from_rdns(vec![]),
            subject_rfc4514: r#"CN=svc \"x\",O=Acme\, Inc."#.into(),
            issuer_rfc4514: "CN=Acme CA".into(),
            fingerprint: [0xab; 32],
            fingerprint_hex: "ab".repeat(32),
            serial_hex: "0a1b".into(),
            not_before_unix: 0,
            not_after_unix: 0,
            not_after_rfc3339: "2030-01-02T03:04:05Z".into(),
            san_dns: strs(&["a.example.com", "b.example.com"]),
            san_uri: strs(&["spiffe://acme.test/svc"]),
            san_email: vec![],
            leaf_der: leaf(),
            chain_der: vec![],
        }
    }

    fn get(h: &IdentityHeaders, name: &str) -> Option<&'static str> {
        // Leaked: a test's few strings, compared with literals.
        h.fields()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| &*Box::leak(v.to_str().unwrap().to_string().into_boxed_str()))
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn config_rejects_bad_flags() {
        let new = |p: &str, ih: &[&str], sh: &[&str]| {
            HeaderConfig::new(p, &strs(ih), &strs(sh), ForwardCert::None, false)
        };
        assert!(matches!(new("", &[], &[]), Err(HeaderError::BadPrefix(_))));
        assert!(matches!(
            new("X Bad", &[], &[]),
            Err(HeaderError::BadPrefix(_))
        ));
        for bad in [
            "subject",
            "color=X-Color",
            "subject=Bad Name",
            "subject=",
            "subject=Host",
            "subject=Connection",
            "subject=X-Forwarded-For",
            "issuer=X-Client-Cert-Subject",
        ] {
            assert!(
                matches!(
                    new(DEFAULT_PREFIX, &[bad], &[]),
                    Err(HeaderError::BadIdentityHeader { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            new(DEFAULT_PREFIX, &["subject=X-A", "subject=X-B"], &[]),
            Err(HeaderError::BadIdentityHeader { .. })
        ));
        assert!(matches!(
            new(DEFAULT_PREFIX, &["subject=X-A", "issuer=x_a"], &[]),
            Err(HeaderError::BadIdentityHeader { .. })
        ));
        assert!(matches!(
            new(DEFAULT_PREFIX, &[], &["a b"]),
            Err(HeaderError::BadStripHeader(_))
        ));
        let c = new(
            "X-Cert-",
            &["Not_After=X-Expiry", "subject=X-SSL-Client-S-DN"],
            &[],
        )
        .unwrap();
        assert_eq!(c.name(Field::Subject).as_str(), "x-ssl-client-s-dn");
        assert_eq!(c.name(Field::NotAfter).as_str(), "x-expiry");
        assert_eq!(c.name(Field::SanDns).as_str(), "x-cert-san-dns");
    }

    #[test]
    fn every_name_that_is_not_copied_as_it_is_counts_as_special() {
        let cfg = HeaderConfig::new(
            DEFAULT_PREFIX,
            &strs(&["subject=X-SSL-Client-S-DN"]),
            &strs(&["X-Legacy-Auth"]),
            ForwardCert::Rfc9440,
            true,
        )
        .unwrap();
        let mut names: Vec<String> = cfg.strip.clone();
        names.extend(HOP_BY_HOP.iter().map(|n| n.to_string()));
        names.extend(
            [
                CONTENT_LENGTH,
                X_FORWARDED_FOR,
                X_FORWARDED_PROTO,
                X_REQUEST_ID,
            ]
            .iter()
            .map(|n| n.to_string()),
        );
        names.extend(
            [
                "X_Forwarded_For",
                "x-client-cert-subject",
                "X-CLIENT-CERT-anything",
                "x_ssl_client_s_dn",
            ]
            .map(String::from),
        );
        for n in &names {
            assert!(cfg.may_be_special(n), "{n}");
            assert!(cfg.may_be_special(&n.to_ascii_uppercase()), "{n}");
        }
        for n in [
            "host",
            "accept",
            "cookie",
            "a",
            "user-agent",
            "accept-encoding",
            "Accept-Language",
        ] {
            assert!(!cfg.may_be_special(n), "{n}");
        }
    }

    fn new(p: &str, ih: &[&str], sh: &[&str]) -> Result<HeaderConfig, HeaderError> {
        HeaderConfig::new(p, &strs(ih), &strs(sh), ForwardCert::None, false)
    }

    #[test]
    fn config_refuses_to_strip_what_a_request_needs() {
        for name in [
            "Host",
            "content_length",
            "Transfer-Encoding",
            "CONTENT-TYPE",
        ] {
            assert_eq!(
                new("X-Client-Cert-", &[], &[name]).unwrap_err(),
                HeaderError::StripNeeded(name.to_string()),
            );
        }
        for prefix in [
            "Content-",
            "X-",
            "x_",
            "Host",
            "H",
            "X-Forwarded-",
            "Accept",
            "Webhook-",
        ] {
            assert!(
                matches!(
                    new(prefix, &[], &[]),
                    Err(HeaderError::PrefixTooBroad { .. })
                ),
                "{prefix}"
            );
        }
        for prefix in ["X-Client-Cert-", "X-Mtls-", "X-SSL-Client-"] {
            assert!(new(prefix, &[], &["X-Legacy-User"]).is_ok(), "{prefix}");
        }
    }

    #[test]
    fn client_forwarding_headers_are_always_stripped() {
        let cfg = new("X-Client-Cert-", &[], &[]).unwrap();
        let mut h = HeaderMap::new();
        for n in [
            "forwarded",
            "x-real-ip",
            "x_real_ip",
            "x-forwarded-host",
            "x-forwarded-port",
        ] {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        strip_inbound(&mut h, &cfg);
        assert_eq!(
            h.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            ["x-forwarded-for"]
        );
    }

    #[test]
    fn strip_removes_prefixed_headers_in_any_case_and_with_underscores() {
        let c = cfg(ForwardCert::None, false);
        let mut h = map(&[
            ("X-Client-Cert-Subject", "CN=forged"),
            ("x-client-cert-subject", "CN=forged2"),
            ("X_Client_Cert_Subject", "CN=forged3"),
            ("x-CLIENT_cert-Anything", "1"),
            ("X-Forwarded-Client-Cert", "Hash=00"),
            ("x_forwarded_client_cert", "Hash=00"),
            ("Client-Cert", ":AA==:"),
            ("accept", "*/*"),
        ]);
        assert_eq!(strip_inbound(&mut h, &c), 6);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, vec!["accept", "client-cert"]);
    }

    #[test]
    fn strip_removes_rfc9440_names_in_that_mode() {
        let c = cfg(ForwardCert::Rfc9440, false);
        let mut h = map(&[("Client-Cert", ":AA==:"), ("client_cert_chain", ":AA==:")]);
        assert_eq!(strip_inbound(&mut h, &c), 2);
        assert!(h.is_empty());
    }

    #[test]
    fn strip_removes_renamed_fields_and_strip_headers() {
        let c = HeaderConfig::new(
            DEFAULT_PREFIX,
            &strs(&["subject=X-SSL-Client-S-DN"]),
            &strs(&["X-Old-Verified", "ssl_client_verify"]),
            ForwardCert::None,
            false,
        )
        .unwrap();
        let mut h = map(&[
            ("x-ssl-client-s-dn", "CN=forged"),
            ("X_SSL_CLIENT_S_DN", "CN=forged"),
            ("x-old-verified", "SUCCESS"),
            ("SSL-Client-Verify", "SUCCESS"),
            ("x-ssl-client-i-dn", "kept"),
        ]);
        assert_eq!(strip_inbound(&mut h, &c), 4);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-ssl-client-i-dn"));
    }

    #[test]
    fn strip_removes_hop_by_hop_and_connection_named_without_counting_them() {
        let c = cfg(ForwardCert::None, false);
        let mut h = map(&[
            ("Connection", "keep-alive, X-Secret"),
            ("connection", "Upgrade"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("x-secret", "1"),
            ("x-client-cert-fingerprint", "00"),
            ("user-agent", "t"),
        ]);
        assert_eq!(strip_inbound(&mut h, &c), 1);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["user-agent"]);
    }

    #[test]
    fn build_sets_default_identity_headers() {
        let h = IdentityHeaders::build(&ident(), &cfg(ForwardCert::None, false)).unwrap();
        assert_eq!(
            get(&h, "x-client-cert-subject"),
            Some(r#"CN=svc \"x\",O=Acme\, Inc."#)
        );
        assert_eq!(get(&h, "x-client-cert-issuer"), Some("CN=Acme CA"));
        assert_eq!(
            get(&h, "x-client-cert-fingerprint"),
            Some("ab".repeat(32).as_str())
        );
        assert_eq!(get(&h, "x-client-cert-serial"), Some("0a1b"));
        assert_eq!(
            get(&h, "x-client-cert-not-after"),
            Some("2030-01-02T03:04:05Z")
        );
        assert_eq!(
            get(&h, "x-client-cert-san-dns"),
            Some("a.example.com,b.example.com")
        );
        assert_eq!(
            get(&h, "x-client-cert-san-uri"),
            Some("spiffe://acme.test/svc")
        );
        assert_eq!(get(&h, "x-client-cert-san-email"), None);
        assert_eq!(get(&h, "x-client-cert-pem"), None);
        assert_eq!(get(&h, "client-cert"), None);
        assert_eq!(get(&h, XFCC), None);
        assert_eq!(h.fields().count(), 7);
    }

    #[test]
    fn build_uses_renamed_headers() {
        let c = HeaderConfig::new(
            "X-Cert-",
            &strs(&["subject=X-SSL-Client-S-DN"]),
            &[],
            ForwardCert::None,
            false,
        )
        .unwrap();
        let h = IdentityHeaders::build(&ident(), &c).unwrap();
        assert!(get(&h, "x-ssl-client-s-dn").is_some());
        assert!(get(&h, "x-cert-subject").is_none());
        assert_eq!(get(&h, "x-cert-issuer"), Some("CN=Acme CA"));
    }

    #[test]
    fn build_fails_closed_on_control_characters() {
        let mut id = ident();
        id.subject_rfc4514 = "CN=a\nX-Evil: 1".into();
        assert_eq!(
            IdentityHeaders::build(&id, &cfg(ForwardCert::None, false)).unwrap_err(),
            HeaderError::BadValue { field: "subject" }
        );
    }

    #[test]
    fn pem_header_url_decodes_to_a_pem_of_the_leaf() {
        let id = ident();
        let h = IdentityHeaders::build(&id, &cfg(ForwardCert::Pem, false)).unwrap();
        let v = get(&h, "x-client-cert-pem").unwrap();
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        let pem = percent_encoding::percent_decode_str(v)
            .decode_utf8()
            .unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("\n-----END CERTIFICATE-----\n"));
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(body.iter().all(|l| l.len() <= 64));
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        let der = STANDARD.decode(body.concat()).unwrap();
        assert_eq!(der, id.leaf_der.as_ref());
    }

    #[test]
    fn rfc9440_headers_are_byte_sequences_of_the_der() {
        let mut id = ident();
        let c = cfg(ForwardCert::Rfc9440, false);
        let h = IdentityHeaders::build(&id, &c).unwrap();
        let v = get(&h, "client-cert").unwrap();
        let inner = v.strip_prefix(':').unwrap().strip_suffix(':').unwrap();
        assert_eq!(STANDARD.decode(inner).unwrap(), id.leaf_der.as_ref());
        assert_eq!(get(&h, "client-cert-chain"), None);

        let ca1 = leaf();
        let ca2 = leaf();
        id.chain_der = vec![ca1.clone(), ca2.clone()];
        let h = IdentityHeaders::build(&id, &c).unwrap();
        let chain: Vec<Vec<u8>> = get(&h, "client-cert-chain")
            .unwrap()
            .split(", ")
            .map(|s| {
                let s = s.strip_prefix(':').unwrap().strip_suffix(':').unwrap();
                STANDARD.decode(s).unwrap()
            })
            .collect();
        assert_eq!(chain, vec![ca1.to_vec(), ca2.to_vec()]);
    }

    #[test]
    fn xfcc_uses_envoy_format() {
        let mut id = ident();
        let h = IdentityHeaders::build(&id, &cfg(ForwardCert::None, true)).unwrap();
        assert_eq!(
            get(&h, XFCC).unwrap(),
            format!(
                r#"Hash={};Subject="CN=svc \\\"x\\\",O=Acme\\, Inc.";URI=spiffe://acme.test/svc;DNS=a.example.com;DNS=b.example.com"#,
                "ab".repeat(32)
            )
        );
        id.san_uri.clear();
        id.san_dns.clear();
        id.subject_rfc4514 = "CN=x".into();
        let h = IdentityHeaders::build(&id, &cfg(ForwardCert::None, true)).unwrap();
        assert_eq!(
            get(&h, XFCC).unwrap(),
            format!(r#"Hash={};Subject="CN=x";URI="#, "ab".repeat(32))
        );
        id.san_uri = strs(&["spiffe://x/a;b"]);
        let h = IdentityHeaders::build(&id, &cfg(ForwardCert::None, true)).unwrap();
        assert!(get(&h, XFCC).unwrap().ends_with(r#";URI="spiffe://x/a;b""#));
    }

    #[test]
    fn san_values_that_would_split_fail_closed() {
        let mut id = ident();
        id.san_uri = strs(&["spiffe://x/a,spiffe://x/admin"]);
        let cfg = HeaderConfig::new(DEFAULT_PREFIX, &[], &[], ForwardCert::None, false).unwrap();
        assert!(matches!(
            IdentityHeaders::build(&id, &cfg),
            Err(HeaderError::BadValue { field: "san-uri" })
        ));
        id.san_uri = strs(&["spiffe://x/a"]);
        id.san_dns = strs(&["a b.example"]);
        assert!(IdentityHeaders::build(&id, &cfg).is_err());
    }

    #[test]
    fn response_hop_by_hop_and_connection_named_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-internal"));
        h.insert("x-internal", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-app", HeaderValue::from_static("ok"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-app"));
    }

    #[test]
    fn apply_appends_client_to_forwarded_for() {
        let rid = HeaderValue::from_static("req-1");
        let ip: IpAddr = "192.0.2.7".parse().unwrap();

        let mut h = map(&[
            ("x-forwarded-for", "10.0.0.1, 10.0.0.2"),
            ("X-Forwarded-For", "10.0.0.3"),
        ]);
        apply(&mut h, None, &client_ip_value(ip), &rid);
        let xff: Vec<&HeaderValue> = h.get_all(X_FORWARDED_FOR).iter().collect();
        assert_eq!(xff, vec!["10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7"]);
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        assert_eq!(h[X_REQUEST_ID], "req-1");

        let mut h = map(&[("x-forwarded-proto", "http"), ("x-request-id", "old")]);
        apply(
            &mut h,
            None,
            &client_ip_value("2001:db8::1".parse().unwrap()),
            &rid,
        );
        assert_eq!(h[X_FORWARDED_FOR], "2001:db8::1");
        assert_eq!(h.get_all(X_FORWARDED_PROTO).iter().count(), 1);
        assert_eq!(h[X_FORWARDED_PROTO], "https");
        assert_eq!(h[X_REQUEST_ID], "req-1");
    }

    #[test]
    fn apply_inserts_identity_headers() {
        let c = cfg(ForwardCert::None, false);
        let ids = IdentityHeaders::build(&ident(), &c).unwrap();
        let mut h = map(&[("x-client-cert-subject", "CN=forged")]);
        strip_inbound(&mut h, &c);
        apply(
            &mut h,
            ids.fields(),
            &client_ip_value("127.0.0.1".parse().unwrap()),
            &HeaderValue::from_static("r"),
        );
        let subj: Vec<&HeaderValue> = h.get_all("x-client-cert-subject").iter().collect();
        assert_eq!(subj, vec![r#"CN=svc \"x\",O=Acme\, Inc."#]);
        assert_eq!(h["x-client-cert-serial"], "0a1b");
    }

    /// The header lines `write_forwarding` writes plus what it leaves in the map, as
    /// sorted (name, value) pairs.
    fn written(
        h: &mut HeaderMap,
        ids: Option<&IdentityHeaders>,
        ip: &HeaderValue,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let lines = ids.map_or(&b""[..], |i| i.lines());
        write_forwarding(h, lines, ip, &HeaderValue::from_static("r"), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n"));
        let mut all: Vec<(String, String)> = text
            .split_terminator("\r\n")
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        all.extend(
            h.iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string())),
        );
        all.sort();
        all
    }

    #[test]
    fn written_lines_carry_exactly_what_apply_inserts() {
        let c = cfg(ForwardCert::None, false);
        let ids = IdentityHeaders::build(&ident(), &c).unwrap();
        let ip = client_ip_value("192.0.2.7".parse().unwrap());
        let inbound = [
            ("x-forwarded-for", "10.0.0.1, 10.0.0.2"),
            ("X-Forwarded-For", "10.0.0.3"),
            ("x-forwarded-proto", "http"),
            ("x-request-id", "old"),
            ("x-app", "kept"),
            ("x-client-cert-subject", "CN=forged"),
        ];
        for ids in [None, Some(&ids)] {
            for inbound in [&inbound[..], &inbound[4..5], &[]] {
                let mut a = map(inbound);
                strip_inbound(&mut a, &c);
                let mut w = a.clone();
                apply(
                    &mut a,
                    ids.into_iter().flat_map(|i| i.fields()),
                    &ip,
                    &HeaderValue::from_static("r"),
                );
                let mut expected: Vec<(String, String)> = a
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                    .collect();
                expected.sort();
                assert_eq!(written(&mut w, ids, &ip), expected, "{inbound:?}");
            }
        }
    }

    #[test]
    fn identity_lines_are_the_fields_and_non_ascii_fails_closed() {
        let c = cfg(ForwardCert::Pem, true);
        let h = IdentityHeaders::build(&ident(), &c).unwrap();
        let mut expected = Vec::new();
        for (n, v) in h.fields() {
            write_line(&mut expected, &n, &v);
        }
        assert_eq!(h.lines(), expected.as_slice());
        assert_eq!(h.fields().count(), 9, "eight fields and XFCC");
        let mut id = ident();
        id.subject_rfc4514 = "CN=Z\u{fc}rich".into();
        assert!(matches!(
            IdentityHeaders::build(&id, &c),
            Err(HeaderError::BadValue { field: "subject" })
        ));
        id.subject_rfc4514 = "CN=a\u{7f}".into();
        assert!(IdentityHeaders::build(&id, &c).is_err());
    }

    #[test]
    fn the_cookie_fields_of_an_http2_request_are_joined_in_their_order() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("x-other", HeaderValue::from_static("keep"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        h.append("cookie", HeaderValue::from_static("c=3"));
        join_cookies(&mut h);
        let cookies: Vec<_> = h.get_all("cookie").iter().collect();
        assert_eq!(cookies, [HeaderValue::from_static("a=1; b=2; c=3")]);
        assert_eq!(h.get("x-other").unwrap(), "keep");
        let mut one = HeaderMap::new();
        one.append("cookie", HeaderValue::from_static("a=1; b=2"));
        join_cookies(&mut one);
        assert_eq!(one.get_all("cookie").iter().count(), 1);
        assert_eq!(one.get("cookie").unwrap(), "a=1; b=2");
        let mut none = HeaderMap::new();
        join_cookies(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn forwarding_headers_spelled_with_underscores_are_removed() {
        let c = cfg(ForwardCert::None, false);
        let mut h = map(&[
            ("x_forwarded_for", "6.6.6.6"),
            ("X_Forwarded_Proto", "http"),
            ("x_request_id", "forged"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-request-id", "kept-1"),
            ("x_app", "kept"),
        ]);
        assert_eq!(strip_inbound(&mut h, &c), 3);
        let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-forwarded-for", "x-request-id", "x_app"]);
    }
}
