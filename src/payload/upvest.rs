//! Upvest's webhook signatures. Upvest's documentation says webhooks are signed with
//! "version 6" of the HTTP Message Signatures draft (draft-ietf-httpbis-message-signatures-06;
//! its API reference links draft-01 for the `signature` and `signature-input` headers), with
//! the keys `GET /auth/verify_keys` returns as a JWKS (ECDSA P-521 in its example). What a
//! version-6 signature is exactly, Upvest shows in code rather than prose: its open-source
//! signer (`httpsignature-proxy` up to v1.3.8, "V6 of algorithm") builds
//!
//! ```text
//! Signature-Input: sig1=("content-type" "@method" "@path" "digest");keyid="…";created=T;nonce="…";expires=T+60
//! Signature:       sig1=:BASE64(ECDSA-P521(SHA-512(base)), ASN.1 DER):
//! Digest:          SHA-256=BASE64(SHA-256(body))
//! base:            content-type: application/json\n@method: POST\n@path: /p\ndigest: SHA-256=…\n@signature-params: ("content-type" …);keyid="…";…
//! ```
//!
//! i.e. RFC 9421's structure with Upvest's quirks: names unquoted in the base (quoted in
//! `Signature-Input`), the RFC 3230 `Digest` header, no `@authority`, ECDSA over SHA-512
//! in DER for any curve. certgate verifies exactly that, and also Upvest's "version 15"
//! (the base quoted as in RFC 9421, `Content-Digest: sha-512=…`) when a request carries
//! `Upvest-Signature-Version: 15`, since Upvest signs its own API requests that way.
//!
//! Where Upvest's documents are unclear (see docs/signatures.md): which headers a webhook
//! covers (the verifier reads the list from `Signature-Input`, so any list works); whether
//! a webhook carries `Upvest-Signature-Version` (absent means version 6 here); how header
//! values that are themselves structured are normalised (Upvest's signer splits them into
//! `name:key` pseudo-components; certgate refuses those with `bad_signature`); and the
//! curve of an Ed25519 signature (`Ed25519` JWKs are accepted).

use crate::payload::http_signature::{self, Dialect};
use crate::payload::{Context, Rejection, Request, Verified};

pub const VERSION_HEADER: &str = "upvest-signature-version";

/// Which of Upvest's signature versions `request` carries.
pub fn dialect(request: &Request<'_>) -> Dialect {
    match request.header(VERSION_HEADER).map(<[u8]>::trim_ascii) {
        Some(b"15") => Dialect::UpvestV15,
        _ => Dialect::UpvestV6,
    }
}

pub fn verify(request: &Request<'_>, context: &Context<'_>) -> Result<Verified, Rejection> {
    http_signature::verify_with(request, context, dialect(request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::digest::{content_digest_sha256, legacy_digest_sha256};
    use crate::payload::keys::{parse_key_file, KeySet};
    use crate::payload::testutil::{Req, Signer};
    use crate::payload::{verify as verify_scheme, Failure, ReplayCache, Scheme};
    use aws_lc_rs::signature::{KeyPair as _, ECDSA_P521_SHA512_ASN1_SIGNING};
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine as _;

    const KID: &str = "9ed77463-c18e-4794-ab5c-17423f9b801a";
    const NOW: u64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"payload":[{"id":"2a7b1cbf-3ff6-4b5f-9b3e-7c0b7e1c2f11","created_at":"2023-11-14T22:13:20Z","type":"USER","action":"CREATED","object":{"id":"9f2c"}}]}"#;

    /// A P-521 key and the JWKS Upvest's API would return for it.
    fn p521() -> (Signer, KeySet) {
        let signer = Signer::ecdsa(&ECDSA_P521_SHA512_ASN1_SIGNING);
        let Signer::Ecdsa(pair) = &signer else {
            unreachable!()
        };
        let point = pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(66);
        let jwks = format!(
            r#"{{"keys":[{{"kid":"{KID}","kty":"EC","crv":"P-521","x":"{}","y":"{}"}}]}}"#,
            URL_SAFE_NO_PAD.encode(x),
            URL_SAFE_NO_PAD.encode(y)
        );
        let keys = parse_key_file(
            Scheme::Upvest,
            std::path::Path::new("upvest.json"),
            jwks.as_bytes(),
        )
        .unwrap();
        (signer, KeySet::new(keys))
    }

    /// A webhook built the way Upvest's version-6 signer builds a request: every header
    /// (lowercased, trimmed; `x-` ones skipped), then `@method`, `@path`, and `digest` for
    /// a body; names quoted in `Signature-Input`, unquoted in the base; ECDSA over SHA-512.
    fn upvest_v6(signer: &Signer, body: &[u8], created: u64, nonce: &str) -> Req {
        let digest = legacy_digest_sha256(body);
        let components = [
            ("content-type", "application/json".to_string()),
            ("@method", "POST".to_string()),
            ("@path", "/webhooks/upvest".to_string()),
            ("digest", digest.clone()),
        ];
        let names: Vec<String> = components.iter().map(|(n, _)| format!("{n:?}")).collect();
        let params = format!(
            "({});keyid=\"{KID}\";created={created};nonce=\"{nonce}\";expires={}",
            names.join(" "),
            created + 60
        );
        let mut base = String::new();
        for (n, v) in &components {
            base.push_str(&format!("{n}: {v}\n"));
        }
        base.push_str(&format!("@signature-params: {params}"));
        let sig = STANDARD.encode(signer.sign(base.as_bytes()));
        Req::post(body)
            .target("/webhooks/upvest")
            .header("Content-Type", "application/json")
            .header("X-Upvest-Event", "USER")
            .header("Digest", &digest)
            .header("Signature-Input", &format!("sig1={params}"))
            .header("Signature", &format!("sig1=:{sig}:"))
    }

    fn run(
        r: &Req,
        keys: &KeySet,
        memory: Option<&ReplayCache>,
    ) -> Result<crate::payload::Verified, Rejection> {
        let ctx = Context {
            keys,
            now: NOW,
            tolerance: 300,
            replay: memory,
        };
        verify_scheme(Scheme::Upvest, &r.request(), &ctx)
    }

    #[test]
    fn version_6_webhook_verifies_with_the_jwks_key() {
        let (signer, keys) = p521();
        let memory = ReplayCache::new(8);
        let r = upvest_v6(&signer, BODY, NOW - 2, "0123456789");
        let v = run(&r, &keys, Some(&memory)).unwrap();
        assert_eq!(v.key, KID);
        assert_eq!(
            run(&r, &keys, Some(&memory)).unwrap_err().failure,
            Failure::Replayed
        );
        let bases = crate::payload::signature_bases(Scheme::Upvest, &r.request());
        assert!(bases[0]
            .1
            .as_ref()
            .unwrap()
            .starts_with("content-type: application/json\n@method: POST\n"));
    }

    #[test]
    fn version_6_failures() {
        let (signer, keys) = p521();
        let fail = |r: &Req| run(r, &keys, None).unwrap_err().failure;
        let good = upvest_v6(&signer, BODY, NOW, "1");
        let mut body = BODY.to_vec();
        body[10] ^= 1;
        assert_eq!(fail(&good.clone().body(&body)), Failure::BadDigest);
        assert_eq!(
            fail(&good.clone().replace("Content-Type", "text/plain")),
            Failure::BadSignature
        );
        assert_eq!(
            fail(&good.clone().replace("Digest", "SHA-256=")),
            Failure::BadSignature
        );
        assert_eq!(fail(&good.clone().without("Signature")), Failure::Missing);
        assert_eq!(
            fail(&good.clone().replace("Signature", "sig1=::")),
            Failure::BadSignature
        );
        assert_eq!(
            fail(&upvest_v6(&signer, BODY, NOW - 301, "2")),
            Failure::Stale
        );
        let (other, _) = p521();
        assert_eq!(
            fail(&upvest_v6(&other, BODY, NOW, "3")),
            Failure::BadSignature
        );
        let unknown = upvest_v6(&signer, BODY, NOW, "4");
        let input = String::from_utf8(
            unknown
                .headers
                .iter()
                .find(|h| h.0 == "Signature-Input")
                .unwrap()
                .1
                .to_vec(),
        )
        .unwrap();
        let unknown = unknown.replace("Signature-Input", &input.replace(KID, "rotated-away"));
        assert_eq!(fail(&unknown), Failure::UnknownKey);
        // RFC 9421's quoted base does not verify an Upvest v6 signature, nor the reverse.
        let as_rfc = crate::payload::verify(
            Scheme::HttpSignature,
            &good.request(),
            &Context {
                keys: &keys,
                now: NOW,
                tolerance: 300,
                replay: None,
            },
        );
        assert!(as_rfc.is_err());
    }

    #[test]
    fn version_15_and_ed25519() {
        let signer = Signer::ed25519();
        let x = match signer.material() {
            crate::payload::KeyMaterial::Ed25519(raw) => URL_SAFE_NO_PAD.encode(raw),
            _ => unreachable!(),
        };
        let jwks =
            format!(r#"{{"keys":[{{"kid":"ed-1","kty":"OKP","crv":"Ed25519","x":"{x}"}}]}}"#);
        let keys = KeySet::new(
            parse_key_file(
                Scheme::Upvest,
                std::path::Path::new("k.json"),
                jwks.as_bytes(),
            )
            .unwrap(),
        );
        let digest = content_digest_sha256(BODY);
        let params = format!(
            r#"("@method" "@path" "content-digest");keyid="ed-1";created={NOW};nonce="77""#
        );
        let base = format!("\"@method\": POST\n\"@path\": /foo\n\"content-digest\": {digest}\n\"@signature-params\": {params}");
        let sig = STANDARD.encode(signer.sign(base.as_bytes()));
        let r = Req::post(BODY)
            .header("Content-Digest", &digest)
            .header("Upvest-Signature-Version", "15")
            .header("Signature-Input", &format!("sig1={params}"))
            .header("Signature", &format!("sig1=:{sig}:"));
        assert_eq!(run(&r, &keys, None).unwrap().key, "ed-1");
        // Without the version header the base is built unquoted (version 6): no match.
        let r6 = r.clone().without("Upvest-Signature-Version");
        assert_eq!(
            run(&r6, &keys, None).unwrap_err().failure,
            Failure::BadSignature
        );
        let no_digest = Req::post(BODY)
            .header("Upvest-Signature-Version", "15")
            .header(
                "Signature-Input",
                &format!(r#"sig1=("@method" "@path");keyid="ed-1";created={NOW}"#),
            )
            .header("Signature", "sig1=:AAAA:");
        let e = run(&no_digest, &keys, None).unwrap_err();
        assert_eq!(e.failure, Failure::Missing);
        assert!(e.detail.contains("digest"), "{e}");
    }
}
