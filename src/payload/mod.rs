//! Payload signatures (`--verify NAME=SCHEME`): is the body the one the sender signed?
//! PURE: synchronous functions over plain data (a request's method, authority, target,
//! headers and body; the route's keys; the clock), one file per scheme family. The proxy
//! reads the body and calls [`verify`]; `certgate check --request` calls the same function.
//!
//! ```text
//!  verify(scheme, request, context)
//!    ├─ hmac_schemes.rs       docusign, github, stripe (HMAC-SHA256 over the body)
//!    ├─ standard_webhooks.rs  v1 (HMAC) and v1a (Ed25519) over "id.timestamp.body"
//!    ├─ http_signature.rs     RFC 9421 + RFC 9530 Content-Digest (signature base: PURE)
//!    └─ upvest.rs             Upvest's webhooks: an early draft of RFC 9421 + Digest
//!  keys.rs   key files -> KeySet        alg.rs    one place that calls aws-lc-rs
//!  replay.rs bounded memory of accepted ids and nonces
//!  route.rs  one --verify route at run time (keys hot-reloaded)   body.rs  the body step
//! ```

pub mod alg;
pub mod body;
pub mod digest;
pub mod hmac_schemes;
pub mod http_signature;
pub mod keys;
pub mod replay;
pub mod route;
pub mod standard_webhooks;
pub mod upvest;

pub use keys::{Key, KeyError, KeyMaterial, KeySet};
pub use replay::ReplayCache;

use std::fmt;

/// The schemes `--verify NAME=SCHEME` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Docusign,
    Github,
    Stripe,
    StandardWebhooks,
    HttpSignature,
    Upvest,
}

impl Scheme {
    pub const ALL: [Scheme; 6] = [
        Scheme::Docusign,
        Scheme::Github,
        Scheme::Stripe,
        Scheme::StandardWebhooks,
        Scheme::HttpSignature,
        Scheme::Upvest,
    ];

    /// The name used on the command line, in metrics and in `X-Signature-Verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Docusign => "docusign",
            Scheme::Github => "github",
            Scheme::Stripe => "stripe",
            Scheme::StandardWebhooks => "standard-webhooks",
            Scheme::HttpSignature => "http-signature",
            Scheme::Upvest => "upvest",
        }
    }

    pub fn parse(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Schemes whose checks print a signature base (`certgate check`).
    pub fn has_signature_base(self) -> bool {
        matches!(self, Scheme::HttpSignature | Scheme::Upvest)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check failed: the `result` label of `certgate_signature_checks_total` and the
/// word in the access log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// A signature header, a required covered component or a required parameter is absent.
    Missing,
    /// The signature does not verify with any configured key (or is malformed).
    BadSignature,
    /// The signed time lies outside `--verify-tolerance`, or `expires` has passed.
    Stale,
    /// An id or nonce that was already accepted within the tolerance window.
    Replayed,
    /// The body does not match its signed digest header.
    BadDigest,
    /// The signature names a key (`keyid`) that is not configured.
    UnknownKey,
    /// The body is larger than `--max-body-bytes` (decided by the proxy, never here).
    TooLarge,
}

impl Failure {
    pub const ALL: [Failure; 7] = [
        Failure::Missing,
        Failure::BadSignature,
        Failure::Stale,
        Failure::Replayed,
        Failure::BadDigest,
        Failure::UnknownKey,
        Failure::TooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::BadSignature => "bad_signature",
            Failure::Stale => "stale",
            Failure::Replayed => "replayed",
            Failure::BadDigest => "bad_digest",
            Failure::UnknownKey => "unknown_key",
            Failure::TooLarge => "too_large",
        }
    }
}

/// A failed check: the label plus a sentence for the log that names the header,
/// component or parameter at fault (never a secret, never the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub failure: Failure,
    pub detail: String,
}

impl Rejection {
    pub fn new(failure: Failure, detail: impl Into<String>) -> Rejection {
        Rejection {
            failure,
            detail: detail.into(),
        }
    }
    pub(crate) fn missing(detail: impl Into<String>) -> Rejection {
        Rejection::new(Failure::Missing, detail)
    }
    pub(crate) fn bad(detail: impl Into<String>) -> Rejection {
        Rejection::new(Failure::BadSignature, detail)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.failure.label(), self.detail)
    }
}

/// The request as the sender signed it: plain data, no sockets.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// As received (`POST`).
    pub method: &'a str,
    /// `host[:port]` from `:authority` or `Host`.
    pub authority: &'a str,
    /// The origin-form request target: the path and an optional `?query`, as received.
    pub target: &'a str,
    /// Every header field line in order; names in any case.
    pub headers: &'a [(&'a str, &'a [u8])],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The path part of the target (`/` when empty).
    pub fn path(&self) -> &'a str {
        let path = self.target.split('?').next().unwrap_or("");
        if path.is_empty() {
            "/"
        } else {
            path
        }
    }

    /// The query without its `?`, if the target has one.
    pub fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// Every value of the header `name` (ASCII case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }

    /// The field value as RFC 9421 §2.1 defines it: every field line trimmed of leading and
    /// trailing spaces and tabs, joined by `", "`. `None` when the header is absent; an
    /// error when a value is not visible ASCII (it cannot be part of a signature base).
    pub fn combined(&self, name: &str) -> Option<Result<String, Rejection>> {
        let mut values = self.header_values(name).peekable();
        values.peek()?;
        let mut out = String::new();
        for (i, v) in values.enumerate() {
            let text = match std::str::from_utf8(v) {
                Ok(t) if t.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) => t,
                _ => {
                    return Some(Err(Rejection::bad(format!(
                        "header {name} is not visible ASCII"
                    ))))
                }
            };
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(text.trim_matches([' ', '\t']));
        }
        Some(Ok(out))
    }
}

/// What a check needs besides the request: the route's keys, the clock and the replay
/// memory (schemes without ids or nonces ignore it).
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub keys: &'a KeySet,
    /// Unix seconds.
    pub now: u64,
    /// `--verify-tolerance` in seconds: how far a signed time may lie from `now`.
    pub tolerance: u64,
    pub replay: Option<&'a ReplayCache>,
}

/// A check that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The name of the key that verified (file name without extension, or JWK `kid`).
    pub key: String,
    /// The id or nonce now held in the replay memory: the proxy forgets it again when the
    /// upstream did not take the message, so that the sender's retry is not a "replay".
    pub replay_token: Option<String>,
}

impl Verified {
    /// The value of `X-Signature-Verified`.
    pub fn header_value(&self, scheme: Scheme) -> String {
        format!("{}; key={}", scheme.as_str(), self.key)
    }
}

/// Run the checks of `scheme` on `request`.
pub fn verify(
    scheme: Scheme,
    request: &Request<'_>,
    context: &Context<'_>,
) -> Result<Verified, Rejection> {
    if context.keys.is_empty() {
        return Err(Rejection::new(
            Failure::UnknownKey,
            "the route has no usable key (check --verify-key)",
        ));
    }
    match scheme {
        Scheme::Docusign => hmac_schemes::docusign(request, context.keys),
        Scheme::Github => hmac_schemes::github(request, context.keys),
        Scheme::Stripe => hmac_schemes::stripe(request, context),
        Scheme::StandardWebhooks => standard_webhooks::verify(request, context),
        Scheme::HttpSignature => http_signature::verify(request, context),
        Scheme::Upvest => upvest::verify(request, context),
    }
}

/// The signature bases certgate computes for `request`, one per signature label, for
/// `certgate check` to print (http-signature and upvest; empty for the other schemes).
pub fn signature_bases(
    scheme: Scheme,
    request: &Request<'_>,
) -> Vec<(String, Result<String, Rejection>)> {
    match scheme {
        Scheme::HttpSignature => http_signature::bases(request, http_signature::Dialect::Rfc9421),
        Scheme::Upvest => http_signature::bases(request, upvest::dialect(request)),
        _ => Vec::new(),
    }
}

/// Checks a signed Unix time against the clock.
pub(crate) fn within_tolerance(signed: i64, now: u64, tolerance: u64) -> bool {
    let now = i128::from(now);
    let signed = i128::from(signed);
    (now - signed).abs() <= i128::from(tolerance)
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_names_round_trip() {
        for s in Scheme::ALL {
            assert_eq!(Scheme::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scheme::parse("DocuSign"), None);
    }

    #[test]
    fn failure_labels_are_the_contract_words() {
        let labels: Vec<_> = Failure::ALL.iter().map(|f| f.label()).collect();
        assert_eq!(
            labels,
            [
                "missing",
                "bad_signature",
                "stale",
                "replayed",
                "bad_digest",
                "unknown_key",
                "too_large"
            ]
        );
    }

    #[test]
    fn request_splits_target_and_combines_headers() {
        let headers: &[(&str, &[u8])] = &[("X-A", b"  one "), ("x-b", b"zwei"), ("x-a", b"\ttwo")];
        let r = Request {
            method: "POST",
            authority: "example.com",
            target: "/foo?a=b",
            headers,
            body: b"",
        };
        assert_eq!(r.path(), "/foo");
        assert_eq!(r.query(), Some("a=b"));
        assert_eq!(r.combined("x-a"), Some(Ok("one, two".to_string())));
        assert_eq!(r.combined("x-c"), None);
        let bin: &[(&str, &[u8])] = &[("x-a", b"caf\xc3\xa9")];
        let r = Request { headers: bin, ..r };
        assert_eq!(
            r.combined("x-a").map(|x| x.map_err(|e| e.failure)),
            Some(Err(Failure::BadSignature))
        );
    }

    #[test]
    fn tolerance_is_symmetric_and_inclusive() {
        assert!(within_tolerance(1000, 1300, 300));
        assert!(within_tolerance(1600, 1300, 300));
        assert!(!within_tolerance(999, 1300, 300));
        assert!(!within_tolerance(1601, 1300, 300));
        assert!(!within_tolerance(i64::MIN, 1300, 300));
    }
}
