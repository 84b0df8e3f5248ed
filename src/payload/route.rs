//! One `--verify` route at run time: its scheme and mode, its keys (read at start, re-read
//! on every reload; a key file that does not parse keeps the previous keys in force), and
//! its replay memory.

use crate::payload::keys::{self, KeyError, KeySet};
use crate::payload::replay::ReplayCache;
use crate::payload::{verify, Context, Rejection, Request, Scheme, Verified};
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Arc;

/// `--verify NAME=SCHEME`, `--verify-key NAME=PATH` (all of them), `--verify-mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyConfig {
    /// Index of the route in the policy.
    pub route: usize,
    pub route_name: String,
    pub scheme: Scheme,
    pub key_paths: Vec<PathBuf>,
    /// `--verify-mode NAME=report`: a failed check is logged and counted, and forwarded.
    pub report: bool,
}

/// Read every key path of a route; names must be usable in `X-Signature-Verified`.
pub fn load_keys(scheme: Scheme, paths: &[PathBuf]) -> Result<KeySet, KeyError> {
    let mut all = Vec::new();
    for path in paths {
        let set = keys::load(scheme, path)?;
        for k in set.iter() {
            if k.name.is_empty()
                || !k
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
            {
                return Err(KeyError::Invalid {
                    path: path.clone(),
                    detail: format!(
                        "key name {:?} (file name without extension, or JWK kid) must be printable ASCII without ; or ,",
                        k.name
                    ),
                });
            }
        }
        all.extend(set.iter().cloned());
    }
    Ok(KeySet::new(all))
}

#[derive(Debug)]
pub struct RouteVerifier {
    pub config: VerifyConfig,
    keys: ArcSwap<KeySet>,
    replay: ReplayCache,
}

impl RouteVerifier {
    pub fn load(config: VerifyConfig) -> Result<RouteVerifier, KeyError> {
        let keys = load_keys(config.scheme, &config.key_paths)?;
        Ok(RouteVerifier {
            config,
            keys: ArcSwap::from_pointee(keys),
            replay: ReplayCache::default(),
        })
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Re-read the keys: `Ok(true)` when they changed (and are now in force), `Ok(false)`
    /// when they are the same, `Err` when a file is bad (the old keys stay).
    pub fn reload(&self) -> Result<bool, KeyError> {
        let fresh = load_keys(self.config.scheme, &self.config.key_paths)?;
        if *self.keys.load_full() == fresh {
            return Ok(false);
        }
        self.keys.store(Arc::new(fresh));
        Ok(true)
    }

    /// The scheme's checks at `now` (Unix seconds) with `tolerance` seconds.
    pub fn check(
        &self,
        request: &Request<'_>,
        now: u64,
        tolerance: u64,
    ) -> Result<Verified, Rejection> {
        let keys = self.keys.load();
        let context = Context {
            keys: &keys,
            now,
            tolerance,
            replay: Some(&self.replay),
        };
        verify(self.config.scheme, request, &context)
    }

    /// The upstream did not take a verified message: its id or nonce may come again.
    pub fn forget(&self, token: &str) {
        self.replay.forget(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::testutil::{hmac_b64, Req};
    use crate::payload::Failure;

    #[test]
    fn reload_swaps_good_keys_and_keeps_old_ones_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k1.key");
        std::fs::write(&key, "one\n").unwrap();
        let v = RouteVerifier::load(VerifyConfig {
            route: 0,
            route_name: "hooks".into(),
            scheme: Scheme::Docusign,
            key_paths: vec![dir.path().to_path_buf()],
            report: false,
        })
        .unwrap();
        let body = b"{}";
        let signed = |secret: &[u8]| {
            Req::post(body).header("X-DocuSign-Signature-1", &hmac_b64(secret, body))
        };
        assert_eq!(
            v.check(&signed(b"one").request(), 0, 300).unwrap().key,
            "k1"
        );
        assert!(!v.reload().unwrap());
        std::fs::write(dir.path().join("k2.key"), "two\n").unwrap();
        assert!(v.reload().unwrap());
        assert_eq!(
            v.check(&signed(b"two").request(), 0, 300).unwrap().key,
            "k2"
        );
        std::fs::write(dir.path().join("k3.key"), "").unwrap();
        assert!(v.reload().is_err());
        assert!(
            v.check(&signed(b"two").request(), 0, 300).is_ok(),
            "old keys stay"
        );
        assert_eq!(
            v.check(&signed(b"three").request(), 0, 300)
                .unwrap_err()
                .failure,
            Failure::BadSignature
        );
    }

    #[test]
    fn key_names_must_fit_a_header() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad;name.key"), "x").unwrap();
        assert!(load_keys(Scheme::Github, &[dir.path().to_path_buf()]).is_err());
    }
}
