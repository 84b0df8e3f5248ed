//! Rejected handshakes: classify (by rustls error variants and the verifier's note, never
//! by parsing messages), count, and log one line an operator can act on.

use crate::ops::metrics::Metrics;
use crate::pki::describe::{key_of, KeyInfo};
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
                reason: format!("client certificate refused: {}", certificate_error_words(c)),
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

/// A rustls certificate error in words (never its debug dump). Chain failures come with the
/// verifier's note and are worded from it; these are what remains.
fn certificate_error_words(c: &CertificateError) -> String {
    match c {
        CertificateError::BadSignature => "a signature does not verify".into(),
        CertificateError::UnknownIssuer => "unknown issuer".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not yet valid".into()
        }
        CertificateError::Revoked => "revoked".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "not allowed for TLS client authentication".into()
        }
        CertificateError::BadEncoding => "malformed certificate".into(),
        CertificateError::UnhandledCriticalExtension => {
            "a certificate carries a critical extension certgate does not know".into()
        }
        other => {
            let name = format!("{other:?}");
            name.split(['(', ' ', '{']).next().unwrap_or("").to_string()
        }
    }
}

/// Pure: the client's handshake signature (CertificateVerify) did not verify with the key of
/// a certificate whose chain did; `key` is that certificate's public key.
pub fn handshake_signature_refused(key: Option<&KeyInfo>) -> Rejection {
    let reason = match key {
        Some(k) if k.algorithm.starts_with("RSA") && k.bits.is_some_and(|b| b < 2048) => format!(
            "the client's key is {k}: certgate accepts RSA keys of 2048 bits or more (or ECDSA P-256/P-384, Ed25519); the sender needs a new key and certificate"
        ),
        Some(k) => format!(
            "the client's handshake signature does not verify with the {k} key of its certificate: the sender's key and certificate do not match, or it signs with a scheme certgate does not accept"
        ),
        None => "the client's handshake signature does not verify with the key of its certificate".into(),
    };
    Rejection {
        label: "bad_signature",
        reason,
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
    let presented = note
        .failure
        .as_ref()
        .map(|(_, der)| der)
        .or(note.bad_handshake_signature.as_ref());
    let leaf = presented.and_then(|der| PeerIdentity::from_chain(der, &[]).ok());
    let hint = match (&note.failure, &leaf) {
        (Some((VerifyFailure::UnknownIssuer, _)), Some(l)) => {
            Some(live.load().trust.issuer_hint(&l.issuer))
        }
        _ => None,
    };
    let r = match (&note.failure, &note.bad_handshake_signature) {
        (None, Some(der)) => handshake_signature_refused(key_of(der).as_ref()),
        _ => classify(
            rustls_err,
            note.failure.as_ref().map(|(f, _)| (f, leaf.as_ref())),
            hint.as_ref(),
        ),
    };
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
    fn a_weak_rsa_key_is_named_with_its_size() {
        let rsa = |bits| KeyInfo {
            algorithm: "RSA".into(),
            bits: Some(bits),
            curve: None,
        };
        let weak = handshake_signature_refused(Some(&rsa(1024)));
        assert_eq!(weak.label, "bad_signature");
        assert!(
            weak.reason.contains("RSA 1024 bits") && weak.reason.contains("2048"),
            "{}",
            weak.reason
        );
        let strong = handshake_signature_refused(Some(&rsa(2048)));
        assert!(strong.reason.contains("do not match"), "{}", strong.reason);
    }

    #[test]
    fn chain_failures_without_a_variant_of_their_own_are_words() {
        let r = classify(
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownRevocationStatus,
            )),
            None,
            None,
        );
        assert!(
            !r.reason.contains('{') && !r.reason.contains('['),
            "{}",
            r.reason
        );
        let ca = classify(None, Some((&VerifyFailure::CaAsLeaf, None)), None);
        assert_eq!(ca.label, "bad_usage");
        assert!(ca.reason.contains("CA certificate") && !ca.reason.contains("clientAuth missing"));
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
