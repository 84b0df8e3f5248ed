//! Body digests: RFC 9530 `Content-Digest` (`sha-256=:B64:, sha-512=:B64:`, a structured
//! dictionary) and the older RFC 3230 `Digest` (`SHA-256=B64`) that Upvest's webhooks send.
//! Every supported algorithm present must match; unknown algorithms are ignored; at least
//! one supported algorithm is required.

use crate::payload::{Failure, Rejection};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

fn algorithm(name: &str) -> Option<&'static digest::Algorithm> {
    match name.to_ascii_lowercase().as_str() {
        "sha-256" => Some(&digest::SHA256),
        "sha-512" => Some(&digest::SHA512),
        _ => None,
    }
}

fn bad(detail: String) -> Rejection {
    Rejection::new(Failure::BadDigest, detail)
}

fn compare(
    header: &str,
    name: &str,
    alg: &'static digest::Algorithm,
    claimed: &[u8],
    body: &[u8],
) -> Result<(), Rejection> {
    let actual = digest::digest(alg, body);
    verify_slices_are_equal(actual.as_ref(), claimed)
        .map_err(|_| bad(format!("{header} {name} does not match the body")))
}

/// RFC 9530 `Content-Digest` against `body`.
pub fn content_digest(value: &str, body: &[u8]) -> Result<(), Rejection> {
    let dict: sfv::Dictionary = sfv::Parser::new(value).parse().map_err(|e| {
        bad(format!(
            "Content-Digest is not a structured dictionary: {e}"
        ))
    })?;
    let mut checked = 0;
    for (name, entry) in &dict {
        let Some(alg) = algorithm(name.as_str()) else {
            continue;
        };
        let sfv::ListEntry::Item(item) = entry else {
            return Err(bad(format!(
                "Content-Digest {} is not a byte sequence",
                name.as_str()
            )));
        };
        let Some(claimed) = item.bare_item.as_byte_sequence() else {
            return Err(bad(format!(
                "Content-Digest {} is not a byte sequence",
                name.as_str()
            )));
        };
        compare("Content-Digest", name.as_str(), alg, claimed, body)?;
        checked += 1;
    }
    if checked == 0 {
        return Err(bad("Content-Digest has neither sha-256 nor sha-512".into()));
    }
    Ok(())
}

/// RFC 3230 `Digest` against `body`.
pub fn legacy_digest(value: &str, body: &[u8]) -> Result<(), Rejection> {
    let mut checked = 0;
    for part in value.split(',') {
        let Some((name, b64)) = part.trim().split_once('=') else {
            return Err(bad("Digest is not ALGORITHM=BASE64".into()));
        };
        let Some(alg) = algorithm(name) else {
            continue;
        };
        let claimed = STANDARD
            .decode(b64.trim())
            .map_err(|_| bad(format!("Digest {name} is not base64")))?;
        compare("Digest", name, alg, &claimed, body)?;
        checked += 1;
    }
    if checked == 0 {
        return Err(bad("Digest has neither SHA-256 nor SHA-512".into()));
    }
    Ok(())
}

/// `Content-Digest: sha-256=:…:` for `body` (tests, demo, examples).
pub fn content_digest_sha256(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    )
}

/// `Digest: SHA-256=…` for `body`.
pub fn legacy_digest_sha256(body: &[u8]) -> String {
    format!(
        "SHA-256={}",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::testutil::{RFC_BODY, RFC_CONTENT_DIGEST};

    #[test]
    fn rfc9530_examples() {
        // RFC 9530 §2 and RFC 9421's test request: {"hello": "world"}.
        content_digest(RFC_CONTENT_DIGEST, RFC_BODY).unwrap();
        content_digest(
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
            RFC_BODY,
        )
        .unwrap();
        assert_eq!(
            content_digest_sha256(RFC_BODY),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        let both = format!(
            "{}, {}",
            content_digest_sha256(RFC_BODY),
            RFC_CONTENT_DIGEST
        );
        content_digest(&both, RFC_BODY).unwrap();
    }

    #[test]
    fn content_digest_failures() {
        let f = |v: &str, b: &[u8]| content_digest(v, b).unwrap_err().failure;
        assert_eq!(
            f(RFC_CONTENT_DIGEST, b"{\"hello\": \"world!\"}"),
            Failure::BadDigest
        );
        assert_eq!(f("md5=:AAAA:", RFC_BODY), Failure::BadDigest);
        assert_eq!(f("sha-256=::", RFC_BODY), Failure::BadDigest);
        assert_eq!(f("sha-256=\"x\"", RFC_BODY), Failure::BadDigest);
        assert_eq!(f("not a dict ;;", RFC_BODY), Failure::BadDigest);
        // One matching, one not: refused.
        let mixed = format!("{}, sha-256=:AAAA:", RFC_CONTENT_DIGEST);
        assert_eq!(f(&mixed, RFC_BODY), Failure::BadDigest);
        // Unknown algorithms beside a good one are ignored.
        content_digest(&format!("unixsum=:AA==:, {RFC_CONTENT_DIGEST}"), RFC_BODY).unwrap();
    }

    #[test]
    fn legacy_digest_as_upvest_sends_it() {
        let v = legacy_digest_sha256(b"{}");
        assert_eq!(v, "SHA-256=RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=");
        legacy_digest(&v, b"{}").unwrap();
        assert_eq!(
            legacy_digest(&v, b"{ }").unwrap_err().failure,
            Failure::BadDigest
        );
        assert_eq!(
            legacy_digest("SHA-256=", b"{}").unwrap_err().failure,
            Failure::BadDigest
        );
        assert_eq!(
            legacy_digest("MD5=abc", b"{}").unwrap_err().failure,
            Failure::BadDigest
        );
    }
}
