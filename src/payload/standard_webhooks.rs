//! Standard Webhooks 1.0 (standardwebhooks.com; Svix and others): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` (space-separated `v1,BASE64` = HMAC-SHA256
//! over "id.timestamp.body" under the decoded `whsec_` secret, or `v1a,BASE64` = Ed25519
//! over the same). The timestamp must lie within the tolerance; an id already accepted
//! within the window is a replay (the spec makes the id stable across a sender's retries,
//! so the proxy forgets an id again when the upstream did not take the message).

use crate::payload::alg::{hmac_sha256_parts_match, verify as verify_sig, Alg, EcdsaEncoding};
use crate::payload::keys::KeyMaterial;
use crate::payload::{within_tolerance, Context, Failure, Rejection, Request, Verified};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub const ID: &str = "webhook-id";
pub const TIMESTAMP: &str = "webhook-timestamp";
pub const SIGNATURE: &str = "webhook-signature";

fn header<'a>(request: &Request<'a>, name: &str) -> Result<&'a str, Rejection> {
    let v = request
        .header(name)
        .ok_or_else(|| Rejection::missing(format!("no {name} header")))?;
    std::str::from_utf8(v)
        .map(str::trim)
        .map_err(|_| Rejection::bad(format!("{name} is not text")))
}

pub fn verify(request: &Request<'_>, context: &Context<'_>) -> Result<Verified, Rejection> {
    let id = header(request, ID)?;
    let timestamp = header(request, TIMESTAMP)?;
    let signatures = header(request, SIGNATURE)?;
    if id.is_empty() {
        return Err(Rejection::missing("webhook-id is empty"));
    }
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| Rejection::bad("webhook-timestamp is not a Unix time"))?;
    let parts: [&[u8]; 5] = [
        id.as_bytes(),
        b".",
        timestamp.as_bytes(),
        b".",
        request.body,
    ];
    let content = parts.concat();
    let mut key = None;
    'search: for entry in signatures.split_ascii_whitespace() {
        let Some((version, b64)) = entry.split_once(',') else {
            continue;
        };
        let Ok(sig) = STANDARD.decode(b64) else {
            continue;
        };
        for k in context.keys.iter() {
            let ok = match (version, &k.material) {
                ("v1", KeyMaterial::Secret(secret)) => {
                    hmac_sha256_parts_match(secret, &parts, &sig)
                }
                ("v1a", KeyMaterial::Ed25519(_)) => verify_sig(
                    Alg::Ed25519,
                    &k.material,
                    &content,
                    &sig,
                    EcdsaEncoding::Fixed,
                ),
                _ => false,
            };
            if ok {
                key = Some(k.name.clone());
                break 'search;
            }
        }
    }
    let key = key.ok_or_else(|| {
        Rejection::bad(format!(
            "no webhook-signature entry verifies \"id.timestamp.body\" with key(s) {}",
            context.keys.names()
        ))
    })?;
    if !within_tolerance(signed_at, context.now, context.tolerance) {
        return Err(Rejection::new(
            Failure::Stale,
            format!(
                "webhook-timestamp {signed_at} is more than {} s from now ({})",
                context.tolerance, context.now
            ),
        ));
    }
    let replay_token = match context.replay {
        Some(memory) => {
            let until = u64::try_from(signed_at)
                .unwrap_or(0)
                .saturating_add(context.tolerance);
            if !memory.insert(id, context.now, until) {
                return Err(Rejection::new(
                    Failure::Replayed,
                    format!("webhook-id {id} was already accepted"),
                ));
            }
            Some(id.to_string())
        }
        None => None,
    };
    Ok(Verified { key, replay_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::keys::{parse_key_file, KeySet};
    use crate::payload::testutil::{hmac_b64, key, Req, Signer};
    use crate::payload::{verify, ReplayCache, Scheme};
    use std::path::Path;

    // The example of the Standard Webhooks reference libraries' tests.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID_1: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn keys() -> KeySet {
        KeySet::new(
            parse_key_file(
                Scheme::StandardWebhooks,
                Path::new("sw.key"),
                SECRET.as_bytes(),
            )
            .unwrap(),
        )
    }

    fn req(id: &str, ts: u64, sig: &str, body: &[u8]) -> Req {
        Req::post(body)
            .header("webhook-id", id)
            .header("webhook-timestamp", &ts.to_string())
            .header("webhook-signature", sig)
    }

    fn run(r: &Req, keys: &KeySet, memory: Option<&ReplayCache>) -> Result<Verified, Rejection> {
        let ctx = Context {
            keys,
            now: TS + 10,
            tolerance: 300,
            replay: memory,
        };
        verify(Scheme::StandardWebhooks, &r.request(), &ctx)
    }

    fn fail(r: &Req) -> Failure {
        run(r, &keys(), None).unwrap_err().failure
    }

    #[test]
    fn reference_vector_verifies_and_replay_is_refused() {
        let memory = ReplayCache::new(8);
        let r = req(ID_1, TS, SIG, BODY);
        let v = run(&r, &keys(), Some(&memory)).unwrap();
        assert_eq!(v.key, "sw");
        assert_eq!(v.replay_token.as_deref(), Some(ID_1));
        assert_eq!(
            run(&r, &keys(), Some(&memory)).unwrap_err().failure,
            Failure::Replayed
        );
        // A rotation list: another signature first, then the matching one.
        let r = req(ID_1, TS, &format!("v1,AAAA v1a,BBBB {SIG}"), BODY);
        assert!(run(&r, &keys(), None).is_ok());
    }

    #[test]
    fn failures() {
        let mut altered = BODY.to_vec();
        altered[1] ^= 1;
        assert_eq!(fail(&req(ID_1, TS, SIG, &altered)), Failure::BadSignature);
        assert_eq!(
            fail(&req("msg_other", TS, SIG, BODY)),
            Failure::BadSignature
        );
        assert_eq!(fail(&req(ID_1, TS, "v1,", BODY)), Failure::BadSignature);
        assert_eq!(
            fail(&req(ID_1, TS, &SIG[..SIG.len() - 4], BODY)),
            Failure::BadSignature
        );
        assert_eq!(
            fail(&req(ID_1, TS, &SIG.replace("v1,", "v2,"), BODY)),
            Failure::BadSignature
        );
        assert_eq!(
            fail(&req(ID_1, TS, SIG, BODY).without("webhook-id")),
            Failure::Missing
        );
        assert_eq!(
            fail(&req(ID_1, TS, SIG, BODY).without("webhook-signature")),
            Failure::Missing
        );
        assert_eq!(
            fail(&req(ID_1, TS, SIG, BODY).without("webhook-timestamp")),
            Failure::Missing
        );
        let other = KeySet::new(vec![key("other", KeyMaterial::Secret(b"not it".to_vec()))]);
        assert_eq!(
            run(&req(ID_1, TS, SIG, BODY), &other, None)
                .unwrap_err()
                .failure,
            Failure::BadSignature
        );
        // A correctly signed but old message is stale.
        let secret = STANDARD.decode(&SECRET[6..]).unwrap();
        let old = TS - 400;
        let content = format!("{ID_1}.{old}.{}", std::str::from_utf8(BODY).unwrap());
        let r = req(
            ID_1,
            old,
            &format!("v1,{}", hmac_b64(&secret, content.as_bytes())),
            BODY,
        );
        assert_eq!(fail(&r), Failure::Stale);
    }

    #[test]
    fn v1a_ed25519() {
        let signer = Signer::ed25519();
        let keys = KeySet::new(vec![key("ed", signer.material())]);
        let content = format!("{ID_1}.{TS}.{}", std::str::from_utf8(BODY).unwrap());
        let sig = STANDARD.encode(signer.sign(content.as_bytes()));
        let r = req(ID_1, TS, &format!("v1a,{sig}"), BODY);
        assert_eq!(run(&r, &keys, None).unwrap().key, "ed");
        // The same bytes labelled v1 are not an HMAC.
        let r = req(ID_1, TS, &format!("v1,{sig}"), BODY);
        assert_eq!(
            run(&r, &keys, None).unwrap_err().failure,
            Failure::BadSignature
        );
        let r = req(ID_1, TS, &format!("v1a,{sig}"), b"{}");
        assert_eq!(
            run(&r, &keys, None).unwrap_err().failure,
            Failure::BadSignature
        );
    }
}
