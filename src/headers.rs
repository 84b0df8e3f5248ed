//! Header policy: strip hop-by-hop and inbound identity headers, then set the verified
//! ones. Header names and the hop-by-hop list live here and nowhere else. PURE.

use crate::identity::PeerIdentity;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

pub const DEFAULT_PREFIX: &str = "X-Client-Cert-";
pub const XFCC: &str = "x-forwarded-client-cert";
pub const CLIENT_CERT: &str = "client-cert";
pub const CLIENT_CERT_CHAIN: &str = "client-cert-chain";
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
pub const X_REQUEST_ID: &str = "x-request-id";
/// RFC 9110 §7.6.1 plus the classic ones.
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
    names: Vec<(Field, HeaderName)>,
    /// Exact names (normalised) removed from every inbound request besides the prefix.
    strip: Vec<String>,
    forward_cert: ForwardCert,
    xfcc: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("--header-prefix {0:?}: not a valid header name prefix")]
    BadPrefix(String),
    #[error("--identity-header {value:?}: {problem}")]
    BadIdentityHeader { value: String, problem: String },
    #[error("--strip-header {0:?}: not a valid header name")]
    BadStripHeader(String),
    #[error("identity value for {field} cannot be a header value")]
    BadValue { field: &'static str },
}

/// The identity headers of one connection, built once per TLS connection.
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders(pub Vec<(HeaderName, HeaderValue)>);

@@IMPL@@
/// A client-sent request id is kept when it is 1..=128 visible ASCII chars from `[A-Za-z0-9._:-]`.
pub fn sane_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}
