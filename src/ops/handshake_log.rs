//! Rejected handshakes: classify (by rustls error variants and the verifier's note, never
//! by parsing messages), count, and log one line an operator can act on.

use crate::ops::metrics::Metrics;
use crate::pki::identity::PeerIdentity;
use crate::pki::material::LiveConfig;
use crate::pki::tls::HandshakeNote;
use crate::pki::trust::{IssuerHint, VerifyFailure};
use rustls::{AlertDescription, CertificateError};
use std::net::SocketAddr;
use tracing::info;

/// Classification of one failed handshake: metric label and operator-facing reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub label: &'static str,
    pub reason: String,
}

/// Pure: classify a failed handshake from the rustls error (if any) and the verifier's note.
pub fn classify(
    err: Option<&rustls::Error>,
    failure: Option<(&VerifyFailure, Option<&PeerIdentity>)>,
    hint: Option<&IssuerHint>,
) -> Rejection {
    if let Some((f, leaf)) = failure {
        let issuer = leaf.map(|l| l.issuer_rfc4514.as_str()).unwrap_or("?");
        let reason = match (f, hint) {
            (VerifyFailure::UnknownIssuer, Some(IssuerHint::Intermediate { its_issuer })) => format!(
                "unknown issuer {issuer}: it is a known --intermediates CA, but its own issuer {its_issuer} is not a trust anchor of any bundle; add that CA with --trust"
            ),
            (VerifyFailure::UnknownIssuer, Some(IssuerHint::Anchor)) => format!(
                "unknown issuer {issuer}: a trust anchor has that name but did not verify the chain (different key: was the CA re-issued? compare fingerprints with certgate inspect)"
            ),
            (VerifyFailure::UnknownIssuer, _) => format!(
                "unknown issuer {issuer}: neither a trust anchor nor a known intermediate; add its CA with --trust, or if the sender uses an intermediate CA and sends only its leaf (likely missing intermediate), add the intermediate with --intermediates"
            ),
            (VerifyFailure::Expired { .. } | VerifyFailure::NotYetValid { .. }, _) => {
                format!("{f}: the sender must renew its client certificate")
            }
            (VerifyFailure::Revoked, _) => {
                "client certificate revoked by a --crl: the sender must use its replacement certificate".to_string()
            }
            (other, _) => other.to_string(),
        };
        return Rejection {
            label: f.label(),
            reason,
        };
    }
    match err {
        Some(rustls::Error::NoCertificatesPresented) => Rejection {
            label: "no_cert",
            reason: "client presented no certificate: is mTLS enabled on the sender, and is its certificate issued by a CA named in --trust?".into(),
        },
        Some(rustls::Error::InvalidCertificate(c)) => {
            let label = match c {
                CertificateError::UnknownIssuer => "unknown_issuer",
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "not_yet_valid"
                }
                CertificateError::Revoked => "revoked",
                CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                    "bad_usage"
                }
                CertificateError::BadSignature => "bad_signature",
                _ => "other",
            };
            Rejection {
                label,
                reason: format!("client certificate refused: {c:?}"),
            }
        }
        Some(rustls::Error::AlertReceived(AlertDescription::BadCertificate | AlertDescription::UnknownCA | AlertDescription::CertificateUnknown)) => Rejection {
            label: "protocol",
            reason: "client refused certgate's server certificate (does the sender trust the CA of --server-cert?)".into(),
        },
        Some(rustls::Error::AlertReceived(a)) => Rejection {
            label: "protocol",
            reason: format!("client aborted the handshake with alert {a:?}"),
        },
        Some(rustls::Error::PeerIncompatible(p)) => Rejection {
            label: "protocol",
            reason: format!("client is incompatible (TLS version, cipher suite or ALPN): {p:?}"),
        },
        Some(e) => Rejection {
            label: "protocol",
            reason: format!("TLS protocol error: {e}"),
        },
        None => Rejection {
            label: "other",
            reason: "connection closed or reset during the handshake".into(),
        },
    }
}

/// Count and log one rejected handshake.
pub fn rejected(
    metrics: &Metrics,
    live: &LiveConfig,
    peer: SocketAddr,
    err: &std::io::Error,
    note: HandshakeNote,
) {
    let rustls_err = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let leaf = note
        .failure
        .as_ref()
        .and_then(|(_, der)| PeerIdentity::from_chain(der, &[]).ok());
    let hint = match (&note.failure, &leaf) {
        (Some((VerifyFailure::UnknownIssuer, _)), Some(l)) => {
            Some(live.load().trust.issuer_hint(&l.issuer))
        }
        _ => None,
    };
    let r = classify(
        rustls_err,
        note.failure.as_ref().map(|(f, _)| (f, leaf.as_ref())),
        hint.as_ref(),
    );
    metrics.handshake(r.label);
    match &leaf {
        Some(l) => info!(
            peer = %peer,
            result = r.label,
            subject = %l.subject_rfc4514,
            issuer = %l.issuer_rfc4514,
            "TLS handshake rejected: {}",
            r.reason
        ),
        None => info!(peer = %peer, result = r.label, "TLS handshake rejected: {}", r.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_certificate_is_named() {
        let r = classify(Some(&rustls::Error::NoCertificatesPresented), None, None);
        assert_eq!(r.label, "no_cert");
        assert!(r.reason.contains("no certificate"));
    }

    #[test]
    fn verifier_note_wins_over_error() {
        let r = classify(
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            Some((&VerifyFailure::Revoked, None)),
            None,
        );
        assert_eq!(r.label, "revoked");
    }

    #[test]
    fn certificate_errors_map_to_labels() {
        for (e, l) in [
            (CertificateError::UnknownIssuer, "unknown_issuer"),
            (CertificateError::Expired, "expired"),
            (CertificateError::NotValidYet, "not_yet_valid"),
            (CertificateError::Revoked, "revoked"),
            (CertificateError::InvalidPurpose, "bad_usage"),
            (CertificateError::BadSignature, "bad_signature"),
        ] {
            assert_eq!(
                classify(Some(&rustls::Error::InvalidCertificate(e)), None, None).label,
                l
            );
        }
        assert_eq!(classify(None, None, None).label, "other");
    }

    #[test]
    fn unknown_issuer_says_whether_an_intermediate_is_missing() {
        let f = VerifyFailure::UnknownIssuer;
        let unknown = classify(None, Some((&f, None)), Some(&IssuerHint::Unknown));
        assert_eq!(unknown.label, "unknown_issuer");
        assert!(unknown.reason.contains("missing intermediate"));
        let inter = classify(
            None,
            Some((&f, None)),
            Some(&IssuerHint::Intermediate {
                its_issuer: "CN=Root".into(),
            }),
        );
        assert!(inter.reason.contains("CN=Root"));
    }
}
