//! Expiry dates of the live material (server certificate, anchors, intermediates, CRL next
//! updates) and which of them fall within a window (pure; reporting is `ops::expiry`).

use crate::pki::identity::PeerIdentity;
use crate::pki::material::Live;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One dated item: what kind, whose, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dated {
    pub kind: &'static str,
    pub subject: String,
    pub expires_unix: i64,
}

/// Everything in `live` that expires (pure apart from parsing).
pub fn dated(live: &Live) -> Vec<Dated> {
    let mut out = Vec::new();
    if let Some(leaf) = live.server_cert.cert.first() {
        if let Ok(id) = PeerIdentity::from_chain(leaf, &[]) {
            out.push(Dated {
                kind: "server",
                subject: id.subject_rfc4514,
                expires_unix: id.not_after_unix,
            });
        }
    }
    for bundle in live.trust.bundles() {
        for c in &bundle.certs {
            if let Ok(id) = PeerIdentity::from_chain(c, &[]) {
                out.push(Dated {
                    kind: "trust_anchor",
                    subject: id.subject_rfc4514,
                    expires_unix: id.not_after_unix,
                });
            }
        }
    }
    for c in live.trust.intermediates() {
        if let Ok(id) = PeerIdentity::from_chain(c, &[]) {
            out.push(Dated {
                kind: "intermediate",
                subject: id.subject_rfc4514,
                expires_unix: id.not_after_unix,
            });
        }
    }
    for (next, issuer) in live.trust.crl_next_updates() {
        out.push(Dated {
            kind: "crl_next_update",
            subject: issuer.clone(),
            expires_unix: *next,
        });
    }
    out
}

/// Items expiring within `window` of `now_unix` (pure).
pub fn expiring(items: &[Dated], now_unix: i64, window: Duration) -> Vec<&Dated> {
    let limit = now_unix.saturating_add(window.as_secs() as i64);
    items.iter().filter(|d| d.expires_unix <= limit).collect()
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiring_uses_the_window() {
        let items = vec![
            Dated {
                kind: "server",
                subject: "CN=a".into(),
                expires_unix: 1_000 + 86_400,
            },
            Dated {
                kind: "trust_anchor",
                subject: "CN=b".into(),
                expires_unix: 1_000 + 200 * 86_400,
            },
        ];
        let soon = expiring(&items, 1_000, Duration::from_secs(90 * 86_400));
        assert_eq!(soon.len(), 1);
        assert_eq!(soon[0].subject, "CN=a");
    }
}
