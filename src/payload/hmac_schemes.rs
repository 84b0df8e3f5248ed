//! The HMAC-SHA256 schemes over the raw body: DocuSign Connect, GitHub and Stripe.
//! DocuSign and GitHub sign no timestamp (a captured message can be replayed; only the
//! mTLS connection and the app's idempotency protect against that); Stripe signs one.

use crate::payload::alg::{hex_decode, hmac_sha256_matches, hmac_sha256_parts_match};
use crate::payload::{within_tolerance, Context, Failure, KeySet, Rejection, Request, Verified};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

const DOCUSIGN_PREFIX: &str = "x-docusign-signature-";
pub const GITHUB_HEADER: &str = "x-hub-signature-256";
pub const STRIPE_HEADER: &str = "stripe-signature";

fn verified(key: &str) -> Verified {
    Verified {
        key: key.to_string(),
        replay_token: None,
    }
}

fn text(value: &[u8]) -> &str {
    std::str::from_utf8(value).unwrap_or("").trim()
}

/// DocuSign Connect: some `X-DocuSign-Signature-N` (N = 1, 2, …; one per HMAC key the
/// account has active) equals Base64(HMAC-SHA256(key, body)).
pub fn docusign(request: &Request<'_>, keys: &KeySet) -> Result<Verified, Rejection> {
    let signatures: Vec<Vec<u8>> = request
        .headers
        .iter()
        .filter(|(name, _)| {
            name.len() > DOCUSIGN_PREFIX.len()
                && name[..DOCUSIGN_PREFIX.len()].eq_ignore_ascii_case(DOCUSIGN_PREFIX)
                && name[DOCUSIGN_PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        })
        // A value that is not base64 is kept as empty: it is present, and matches nothing.
        .map(|(_, v)| STANDARD.decode(text(v)).unwrap_or_default())
        .collect();
    if signatures.is_empty() {
        return Err(Rejection::missing("no X-DocuSign-Signature-N header"));
    }
    for (name, secret) in keys.secrets() {
        if signatures
            .iter()
            .any(|tag| hmac_sha256_matches(secret, request.body, tag))
        {
            return Ok(verified(name));
        }
    }
    Err(Rejection::bad(format!(
        "none of {} X-DocuSign-Signature-N header(s) is the HMAC of the body under key(s) {}",
        signatures.len(),
        keys.names()
    )))
}

/// GitHub: `X-Hub-Signature-256: sha256=` + hex(HMAC-SHA256(secret, body)).
pub fn github(request: &Request<'_>, keys: &KeySet) -> Result<Verified, Rejection> {
    let mut values = request.header_values(GITHUB_HEADER).peekable();
    if values.peek().is_none() {
        return Err(Rejection::missing("no X-Hub-Signature-256 header"));
    }
    let tags: Vec<Vec<u8>> = values
        .map(|v| {
            text(v)
                .strip_prefix("sha256=")
                .and_then(hex_decode)
                .unwrap_or_default()
        })
        .collect();
    for (name, secret) in keys.secrets() {
        if tags
            .iter()
            .any(|tag| hmac_sha256_matches(secret, request.body, tag))
        {
            return Ok(verified(name));
        }
    }
    Err(Rejection::bad(format!(
        "X-Hub-Signature-256 is not sha256= and the HMAC of the body under key(s) {}",
        keys.names()
    )))
}

/// Stripe: `Stripe-Signature: t=T,v1=HEX[,v1=HEX…]`, some v1 = hex(HMAC-SHA256(secret,
/// "T.body")), T within the tolerance. Unknown schemes (`v0`) are ignored.
pub fn stripe(request: &Request<'_>, context: &Context<'_>) -> Result<Verified, Rejection> {
    let Some(header) = request.header(STRIPE_HEADER) else {
        return Err(Rejection::missing("no Stripe-Signature header"));
    };
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in text(header).split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = Some(t),
            Some(("v1", hex)) => tags.push(hex_decode(hex).unwrap_or_default()),
            _ => {}
        }
    }
    let Some(t) = timestamp else {
        return Err(Rejection::missing("Stripe-Signature has no t="));
    };
    if tags.is_empty() {
        return Err(Rejection::missing("Stripe-Signature has no v1="));
    }
    let signed_at: i64 = t
        .parse()
        .map_err(|_| Rejection::bad("Stripe-Signature t= is not a Unix time"))?;
    let parts: [&[u8]; 3] = [t.as_bytes(), b".", request.body];
    let key = context
        .keys
        .secrets()
        .find(|(_, secret)| {
            tags.iter()
                .any(|tag| hmac_sha256_parts_match(secret, &parts, tag))
        })
        .map(|(name, _)| name)
        .ok_or_else(|| {
            Rejection::bad(format!(
                "no v1= of Stripe-Signature is the HMAC of \"t.body\" under key(s) {}",
                context.keys.names()
            ))
        })?;
    if !within_tolerance(signed_at, context.now, context.tolerance) {
        return Err(Rejection::new(
            Failure::Stale,
            format!(
                "Stripe-Signature t={signed_at} is more than {} s from now ({})",
                context.tolerance, context.now
            ),
        ));
    }
    Ok(verified(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::testutil::{hmac_b64, hmac_hex, secrets, Req};
    use crate::payload::{verify, Scheme};

    const BODY: &[u8] = br#"{"event":"envelope-completed","envelopeId":"93be49ab"}"#;

    fn check(scheme: Scheme, keys: &KeySet, r: &Req) -> Result<Verified, Rejection> {
        let ctx = Context {
            keys,
            now: 1_700_000_000,
            tolerance: 300,
            replay: None,
        };
        verify(scheme, &r.request(), &ctx)
    }

    fn failure(scheme: Scheme, keys: &KeySet, r: &Req) -> Failure {
        check(scheme, keys, r).unwrap_err().failure
    }

    #[test]
    fn docusign_valid_and_rotation() {
        let keys = secrets(&[("old", b"key-one"), ("new", b"key-two")]);
        let r = Req::post(BODY).header("X-DocuSign-Signature-1", &hmac_b64(b"key-two", BODY));
        assert_eq!(check(Scheme::Docusign, &keys, &r).unwrap().key, "new");
        // During DocuSign's own rotation it sends one header per active key.
        let r = Req::post(BODY)
            .header("X-DocuSign-Signature-1", &hmac_b64(b"retired", BODY))
            .header("X-DocuSign-Signature-2", &hmac_b64(b"key-one", BODY));
        assert_eq!(check(Scheme::Docusign, &keys, &r).unwrap().key, "old");
    }

    #[test]
    fn docusign_failures() {
        let keys = secrets(&[("k", b"key-one")]);
        let good = hmac_b64(b"key-one", BODY);
        let mut altered = BODY.to_vec();
        altered[3] ^= 1;
        let r = Req::post(&altered).header("X-DocuSign-Signature-1", &good);
        assert_eq!(failure(Scheme::Docusign, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-DocuSign-Signature-1", &hmac_b64(b"other", BODY));
        assert_eq!(failure(Scheme::Docusign, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-DocuSign-Signature", &good);
        assert_eq!(failure(Scheme::Docusign, &keys, &r), Failure::Missing);
        let r = Req::post(BODY).header("X-DocuSign-Signature-1", "");
        assert_eq!(failure(Scheme::Docusign, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-DocuSign-Signature-1", &good[..good.len() - 4]);
        assert_eq!(failure(Scheme::Docusign, &keys, &r), Failure::BadSignature);
    }

    #[test]
    fn github_documented_example() {
        // GitHub's documentation: secret "It's a Secret to Everybody", payload "Hello, World!".
        let keys = secrets(&[("gh", b"It's a Secret to Everybody")]);
        let r = Req::post(b"Hello, World!").header(
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        );
        assert_eq!(check(Scheme::Github, &keys, &r).unwrap().key, "gh");
    }

    #[test]
    fn github_failures() {
        let keys = secrets(&[("gh", b"s")]);
        let good = format!("sha256={}", hmac_hex(b"s", BODY));
        let r = Req::post(b"changed").header("X-Hub-Signature-256", &good);
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header(
            "X-Hub-Signature-256",
            &format!("sha256={}", hmac_hex(b"t", BODY)),
        );
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-Hub-Signature", &good);
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::Missing);
        let r = Req::post(BODY).header("X-Hub-Signature-256", "sha256=");
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-Hub-Signature-256", &good[..good.len() - 2]);
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("X-Hub-Signature-256", &good["sha256=".len()..]);
        assert_eq!(failure(Scheme::Github, &keys, &r), Failure::BadSignature);
    }

    fn stripe_v1(secret: &[u8], t: u64, body: &[u8]) -> String {
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        hmac_hex(secret, &signed)
    }

    fn stripe_header(secret: &[u8], t: u64, body: &[u8]) -> String {
        format!("t={t},v1={},v0=deadbeef", stripe_v1(secret, t, body))
    }

    #[test]
    fn stripe_valid() {
        let keys = secrets(&[("whsec_live", b"whsec_abc")]);
        let r = Req::post(BODY).header(
            "Stripe-Signature",
            &stripe_header(b"whsec_abc", 1_700_000_100, BODY),
        );
        assert_eq!(check(Scheme::Stripe, &keys, &r).unwrap().key, "whsec_live");
        // Two v1 during Stripe's secret roll: either may match.
        let t = 1_700_000_000;
        let both = format!(
            "t={t},v1={},v1={}",
            stripe_v1(b"old", t, BODY),
            stripe_v1(b"whsec_abc", t, BODY)
        );
        let r = Req::post(BODY).header("Stripe-Signature", &both);
        assert!(check(Scheme::Stripe, &keys, &r).is_ok(), "{both}");
    }

    #[test]
    fn stripe_failures() {
        let keys = secrets(&[("s", b"whsec_abc")]);
        let good = stripe_header(b"whsec_abc", 1_700_000_000, BODY);
        let r = Req::post(b"x").header("Stripe-Signature", &good);
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header(
            "Stripe-Signature",
            &stripe_header(b"whsec_other", 1_700_000_000, BODY),
        );
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY);
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::Missing);
        let r = Req::post(BODY).header("Stripe-Signature", "t=1700000000,v1=");
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("Stripe-Signature", &good[..good.len() - 20]);
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::BadSignature);
        let r = Req::post(BODY).header("Stripe-Signature", "v1=00");
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::Missing);
        let stale = stripe_header(b"whsec_abc", 1_700_000_000 - 301, BODY);
        let r = Req::post(BODY).header("Stripe-Signature", &stale);
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::Stale);
        // The timestamp is signed: moving it breaks the signature, it does not make it fresh.
        let moved = good.replace("t=1700000000", "t=1700000001");
        let r = Req::post(BODY).header("Stripe-Signature", &moved);
        assert_eq!(failure(Scheme::Stripe, &keys, &r), Failure::BadSignature);
    }
}
