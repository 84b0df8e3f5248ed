//! Trust material: named anchor bundles, intermediates and CRLs loaded from files and
//! directories, the server's own certificate and key, and the one chain-verification
//! function that the handshake, the per-connection re-check and `certgate check` share.

use super::crl::{crl_info, crl_signed_by, read_crls, CrlInfo};
use super::load::digest_of;
pub use super::load::TrustError;
pub use super::load::{load_server_key, read_certs};
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use rustls::DistinguishedName;
use std::path::{Path, PathBuf};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyUsage, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};

/// The bundle that `--trust` forms.
pub const DEFAULT_BUNDLE: &str = "default";

/// Where trust material comes from (plain data from the flags).
#[derive(Debug, Clone, Default)]
pub struct TrustSources {
    /// `(bundle name, paths)`; `--trust` feeds `default`, `--trust-bundle NAME=PATH` the others.
    pub bundles: Vec<(String, Vec<PathBuf>)>,
    /// `--intermediates`
    pub intermediates: Vec<PathBuf>,
    /// `--crl`
    pub crls: Vec<PathBuf>,
    /// `--crl-expired allow`: keep using a CRL past its nextUpdate instead of refusing.
    pub allow_expired_crl: bool,
}

impl TrustSources {
    /// Every file or directory this material is read from (for the watcher).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.bundles
            .iter()
            .flat_map(|(_, p)| p.iter())
            .chain(self.intermediates.iter())
            .chain(self.crls.iter())
            .map(PathBuf::as_path)
    }
}

/// One named set of trust anchors.
#[derive(Debug)]
pub struct Bundle {
    pub name: String,
    anchors: Vec<TrustAnchor<'static>>,
    /// The anchor certificates themselves (for expiry reporting).
    pub certs: Vec<CertificateDer<'static>>,
}

/// Why a chain did not verify, in the terms an operator acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyFailure {
    UnknownIssuer,
    Expired {
        not_after: UnixTime,
    },
    NotYetValid {
        not_before: UnixTime,
    },
    Revoked,
    BadUsage,
    /// The leaf is a CA certificate (basicConstraints CA:TRUE).
    CaAsLeaf,
    /// A certificate that issued another in the chain is not a CA.
    LeafAsCa,
    BadSignature,
    /// A signature in the chain uses an algorithm certgate does not accept (SHA-1, MD5...).
    UnsupportedAlgorithm {
        algorithm: String,
    },
    CrlExpired,
    BadEncoding,
    Other(String),
}

impl VerifyFailure {
    fn from_webpki(e: webpki::Error) -> VerifyFailure {
        use webpki::Error as W;
        match e {
            W::UnknownIssuer => VerifyFailure::UnknownIssuer,
            W::CertExpired { not_after, .. } => VerifyFailure::Expired { not_after },
            W::CertNotValidYet { not_before, .. } => VerifyFailure::NotYetValid { not_before },
            W::CertRevoked => VerifyFailure::Revoked,
            #[allow(deprecated)]
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => {
                VerifyFailure::BadUsage
            }
            W::CaUsedAsEndEntity => VerifyFailure::CaAsLeaf,
            W::EndEntityUsedAsCa => VerifyFailure::LeafAsCa,
            W::InvalidSignatureForPublicKey => VerifyFailure::BadSignature,
            W::UnsupportedSignatureAlgorithmContext(c) => VerifyFailure::UnsupportedAlgorithm {
                algorithm: super::describe::signature_algorithm_name(&c.signature_algorithm_id),
            },
            W::UnsupportedSignatureAlgorithmForPublicKeyContext(c) => {
                VerifyFailure::UnsupportedAlgorithm {
                    algorithm: super::describe::signature_algorithm_name(&c.signature_algorithm_id),
                }
            }
            #[allow(deprecated)]
            W::UnsupportedSignatureAlgorithm | W::UnsupportedSignatureAlgorithmForPublicKey => {
                VerifyFailure::UnsupportedAlgorithm {
                    algorithm: "an unknown algorithm".into(),
                }
            }
            W::CrlExpired { .. } => VerifyFailure::CrlExpired,
            W::BadDer | W::BadDerTime | W::TrailingData(_) => VerifyFailure::BadEncoding,
            other => VerifyFailure::Other(webpki_words(&other)),
        }
    }

    /// When several bundles fail, the most specific reason is the one worth reporting.
    fn specificity(&self) -> u8 {
        match self {
            VerifyFailure::UnknownIssuer => 0,
            VerifyFailure::Other(_) => 1,
            _ => 2,
        }
    }

    /// The metric label of `certgate_handshakes_total{result}`.
    pub fn label(&self) -> &'static str {
        match self {
            VerifyFailure::UnknownIssuer => "unknown_issuer",
            VerifyFailure::Expired { .. } => "expired",
            VerifyFailure::NotYetValid { .. } => "not_yet_valid",
            VerifyFailure::Revoked => "revoked",
            VerifyFailure::BadUsage | VerifyFailure::CaAsLeaf | VerifyFailure::LeafAsCa => {
                "bad_usage"
            }
            VerifyFailure::BadSignature | VerifyFailure::UnsupportedAlgorithm { .. } => {
                "bad_signature"
            }
            VerifyFailure::CrlExpired | VerifyFailure::BadEncoding | VerifyFailure::Other(_) => {
                "other"
            }
        }
    }

    /// The error rustls sends as an alert.
    pub fn to_rustls(&self) -> rustls::Error {
        use rustls::CertificateError as C;
        match self {
            VerifyFailure::UnknownIssuer => C::UnknownIssuer.into(),
            VerifyFailure::Expired { .. } => C::Expired.into(),
            VerifyFailure::NotYetValid { .. } => C::NotValidYet.into(),
            VerifyFailure::Revoked => C::Revoked.into(),
            VerifyFailure::BadUsage | VerifyFailure::CaAsLeaf | VerifyFailure::LeafAsCa => {
                C::InvalidPurpose.into()
            }
            VerifyFailure::BadSignature => C::BadSignature.into(),
            #[allow(deprecated)]
            VerifyFailure::UnsupportedAlgorithm { .. } => C::UnsupportedSignatureAlgorithm.into(),
            VerifyFailure::CrlExpired => C::ExpiredRevocationList.into(),
            VerifyFailure::BadEncoding => C::BadEncoding.into(),
            VerifyFailure::Other(_) => C::ApplicationVerificationFailure.into(),
        }
    }
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyFailure::UnknownIssuer => f.write_str("unknown issuer"),
            VerifyFailure::Expired { not_after } => {
                write!(f, "certificate expired at {}", rfc3339(*not_after))
            }
            VerifyFailure::NotYetValid { not_before } => {
                write!(f, "certificate not valid before {}", rfc3339(*not_before))
            }
            VerifyFailure::Revoked => f.write_str("certificate revoked"),
            VerifyFailure::BadUsage => {
                f.write_str("wrong key usage: the certificate is not allowed for TLS client authentication (extended key usage clientAuth missing)")
            }
            VerifyFailure::CaAsLeaf => f.write_str(
                "the client certificate is a CA certificate (basicConstraints CA:TRUE), not an end-entity certificate: the sender must present a certificate its CA issued to it, not a CA certificate",
            ),
            VerifyFailure::LeafAsCa => f.write_str(
                "a certificate that issued another one in the chain is not a CA (basicConstraints CA:TRUE missing): the chain was built from the wrong certificates",
            ),
            VerifyFailure::BadSignature => f.write_str(
                "a signature in the chain does not verify with its issuer's key: a certificate was altered, was issued by another CA of the same name, or its issuer's key is one certgate does not accept (RSA under 2048 bits)",
            ),
            VerifyFailure::UnsupportedAlgorithm { algorithm } => write!(
                f,
                "a certificate in the chain is signed with {algorithm}, which certgate does not accept (accepted: RSA PKCS#1 or PSS with SHA-256, SHA-384 or SHA-512; ECDSA P-256 or P-384; Ed25519): the sender needs a certificate signed with SHA-256 or better"
            ),
            VerifyFailure::CrlExpired => {
                f.write_str("a CRL for this chain is past its next update (refresh it, or --crl-expired allow)")
            }
            VerifyFailure::BadEncoding => f.write_str("malformed certificate"),
            VerifyFailure::Other(s) => write!(f, "verification failed: {s}"),
        }
    }
}

/// A webpki refusal without a variant of its own, in words (never its debug dump).
fn webpki_words(e: &webpki::Error) -> String {
    use webpki::Error as W;
    match e {
        W::NameConstraintViolation => {
            "a name in the certificate is outside the name constraints of a CA in the chain".into()
        }
        W::PathLenConstraintViolated => {
            "the chain is longer than a CA's pathLenConstraint allows".into()
        }
        W::MaximumPathDepthExceeded => "the chain has too many intermediate CAs".into(),
        W::UnsupportedCriticalExtension => {
            "a certificate carries a critical extension certgate does not know".into()
        }
        W::UnsupportedCertVersion => "a certificate is not X.509 version 3".into(),
        W::InvalidCertValidity => "a certificate's notAfter lies before its notBefore".into(),
        W::CertDistrusted => "a CA in the chain is distrusted".into(),
        W::UnknownRevocationStatus => "no CRL says whether the certificate is revoked".into(),
        W::ExtensionValueInvalid | W::MalformedExtensions => {
            "a certificate has a malformed extension".into()
        }
        W::InvalidSerialNumber => "a certificate has an invalid serial number".into(),
        other => {
            // The variant's name, without any context it carries.
            let name = format!("{other:?}");
            name.split(['(', ' ', '{']).next().unwrap_or("").to_string()
        }
    }
}

/// RFC 3339 UTC for a `UnixTime`.
pub fn rfc3339(t: UnixTime) -> String {
    let secs = t.as_secs() as i64;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(dt) => dt
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| secs.to_string()),
        Err(_) => secs.to_string(),
    }
}

/// All trust material, loaded and validated; immutable once built (reload builds a new one).
#[derive(Debug)]
pub struct TrustStore {
    bundles: Vec<Bundle>,
    intermediates: Vec<CertificateDer<'static>>,
    crls: Vec<CertRevocationList<'static>>,
    hints: Vec<DistinguishedName>,
    allow_expired_crl: bool,
    /// CRL next updates (unix seconds) with their issuer, for expiry reporting.
    crl_next_updates: Vec<(i64, String)>,
    trust_digest: [u8; 32],
    crl_digest: [u8; 32],
}

impl TrustStore {
    /// Read and validate everything in `src`.
    /// With no bundle at all (every route `public`) the store is empty: nothing to verify.
    pub fn load(src: &TrustSources) -> Result<TrustStore, TrustError> {
        if src.bundles.is_empty() {
            return Ok(TrustStore::empty());
        }
        let mut bundles = Vec::with_capacity(src.bundles.len());
        let mut hints: Vec<DistinguishedName> = Vec::new();
        for (name, paths) in &src.bundles {
            let flag = if name == DEFAULT_BUNDLE {
                "--trust"
            } else {
                "--trust-bundle"
            };
            let mut certs = Vec::new();
            let mut anchors = Vec::new();
            for path in paths {
                for (file, der) in read_certs(flag, path)? {
                    let anchor = webpki::anchor_from_trusted_cert(&der)
                        .map_err(|e| TrustError::Invalid {
                            flag,
                            path: file.clone(),
                            problem: format!("not usable as a trust anchor: {e:?}"),
                        })?
                        .to_owned();
                    let hint = DistinguishedName::in_sequence(anchor.subject.as_ref());
                    if !hints.iter().any(|h| h.as_ref() == hint.as_ref()) {
                        hints.push(hint);
                    }
                    anchors.push(anchor);
                    certs.push(der);
                }
            }
            if anchors.is_empty() {
                return Err(TrustError::EmptyBundle(name.clone()));
            }
            bundles.push(Bundle {
                name: name.clone(),
                anchors,
                certs,
            });
        }
        let mut intermediates = Vec::new();
        for path in &src.intermediates {
            intermediates.extend(
                read_certs("--intermediates", path)?
                    .into_iter()
                    .map(|(_, d)| d),
            );
        }
        let mut crls: Vec<(CertRevocationList<'static>, CrlInfo)> = Vec::new();
        let mut crl_ders = Vec::new();
        for path in &src.crls {
            for (file, der) in read_crls(path)? {
                let info = crl_info(der.as_ref()).map_err(|problem| TrustError::Invalid {
                    flag: "--crl",
                    path: file.clone(),
                    problem,
                })?;
                let crl = webpki::OwnedCertRevocationList::from_der(der.as_ref()).map_err(|e| {
                    TrustError::Invalid {
                        flag: "--crl",
                        path: file.clone(),
                        problem: format!("not a valid CRL: {e:?}"),
                    }
                })?;
                // A CRL must be signed by a CA we know (an anchor or an intermediate).
                let known: Vec<&CertificateDer<'static>> = bundles
                    .iter()
                    .flat_map(|b| b.certs.iter())
                    .chain(intermediates.iter())
                    .collect();
                if !known.iter().any(|ca| crl_signed_by(der.as_ref(), ca)) {
                    return Err(TrustError::Invalid {
                        flag: "--crl",
                        path: file.clone(),
                        problem: format!(
                            "CRL issued by {} is not signed by any --trust, --trust-bundle or --intermediates CA",
                            info.issuer
                        ),
                    });
                }
                // webpki consults the first CRL whose issuer (and distribution point) fits,
                // so an older CRL of the same scope must not shadow a newer one: keep the newest.
                let crl = CertRevocationList::Owned(crl);
                let same_scope =
                    crls.iter()
                        .position(|(c, i): &(CertRevocationList<'static>, CrlInfo)| {
                            i.issuer == info.issuer
                                && c.issuing_distribution_point()
                                    == crl.issuing_distribution_point()
                        });
                match same_scope {
                    Some(k) if crls[k].1.this_update >= info.this_update => {}
                    Some(k) => {
                        crls[k] = (crl, info);
                        crl_ders[k] = der;
                    }
                    None => {
                        crls.push((crl, info));
                        crl_ders.push(der);
                    }
                }
            }
        }
        let crl_next_updates = crls
            .iter()
            .map(|(_, i)| (i.next_update, i.issuer.to_rfc4514()))
            .collect();
        let crls = crls.into_iter().map(|(c, _)| c).collect();
        let trust_digest = digest_of(
            bundles
                .iter()
                .flat_map(|b| {
                    std::iter::once(b.name.as_bytes()).chain(b.certs.iter().map(|c| c.as_ref()))
                })
                .chain(std::iter::once(&b"--intermediates"[..]))
                .chain(intermediates.iter().map(|c| c.as_ref())),
        );
        let crl_digest = digest_of(crl_ders.iter().map(|c| c.as_ref()));
        Ok(TrustStore {
            bundles,
            intermediates,
            crls,
            hints,
            allow_expired_crl: src.allow_expired_crl,
            crl_next_updates,
            trust_digest,
            crl_digest,
        })
    }

    /// A store with no anchors at all (every route public).
    fn empty() -> TrustStore {
        TrustStore {
            bundles: Vec::new(),
            intermediates: Vec::new(),
            crls: Vec::new(),
            hints: Vec::new(),
            allow_expired_crl: false,
            crl_next_updates: Vec::new(),
            trust_digest: [0; 32],
            crl_digest: [0; 32],
        }
    }

    /// Changes whenever any anchor, bundle or intermediate changes.
    pub fn trust_digest(&self) -> [u8; 32] {
        self.trust_digest
    }

    /// Changes whenever any CRL changes.
    pub fn crl_digest(&self) -> [u8; 32] {
        self.crl_digest
    }

    /// `(next update as unix seconds, issuer RFC 4514)` of every CRL.
    pub fn crl_next_updates(&self) -> &[(i64, String)] {
        &self.crl_next_updates
    }

    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    pub fn bundles(&self) -> &[Bundle] {
        &self.bundles
    }

    pub fn bundle_names(&self) -> impl Iterator<Item = &str> {
        self.bundles.iter().map(|b| b.name.as_str())
    }

    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    pub fn crls(&self) -> &[CertRevocationList<'static>] {
        &self.crls
    }

    /// Subjects of every anchor: the CertificateRequest's hints.
    pub fn hints(&self) -> &[DistinguishedName] {
        &self.hints
    }

    /// Verify `leaf` (+ `presented` intermediates, + `--intermediates`) for client
    /// authentication at `now` against every bundle. Ok: the names of the bundles it
    /// verifies against (never empty). Err: the most specific reason it failed.
    pub fn verify(
        &self,
        leaf: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Vec<String>, VerifyFailure> {
        self.verify_path(leaf, presented, now).map(|v| v.bundles)
    }

    /// As `verify`, also returning the intermediates of the first verified path (leaf's
    /// issuer first, anchor excluded): the chain actually used for validation, which may
    /// hold `--intermediates` certificates and never holds extra certificates the client sent.
    pub fn verify_path(
        &self,
        leaf: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<Verified, VerifyFailure> {
        let ee = EndEntityCert::try_from(leaf).map_err(VerifyFailure::from_webpki)?;
        let combined: Vec<CertificateDer<'_>>;
        let intermediates: &[CertificateDer<'_>] = if self.intermediates.is_empty() {
            presented
        } else {
            combined = presented
                .iter()
                .map(|c| CertificateDer::from(c.as_ref()))
                .chain(
                    self.intermediates
                        .iter()
                        .map(|c| CertificateDer::from(c.as_ref())),
                )
                .collect();
            &combined
        };
        let crl_refs: Vec<&CertRevocationList<'_>> = self.crls.iter().collect();
        let revocation = if crl_refs.is_empty() {
            None
        } else {
            RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
                b.with_depth(RevocationCheckDepth::Chain)
                    .with_status_policy(UnknownStatusPolicy::Allow)
                    .with_expiration_policy(if self.allow_expired_crl {
                        ExpirationPolicy::Ignore
                    } else {
                        ExpirationPolicy::Enforce
                    })
                    .build()
            })
        };
        let mut ok = Vec::new();
        let mut path: Option<Vec<CertificateDer<'static>>> = None;
        let mut worst: Option<VerifyFailure> = None;
        for bundle in &self.bundles {
            match ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &bundle.anchors,
                intermediates,
                now,
                KeyUsage::client_auth(),
                revocation,
                None,
            ) {
                Ok(verified) => {
                    if path.is_none() {
                        path = Some(
                            verified
                                .intermediate_certificates()
                                .map(|c| c.der().into_owned())
                                .collect(),
                        );
                    }
                    ok.push(bundle.name.clone());
                }
                Err(e) => {
                    let f = VerifyFailure::from_webpki(e);
                    if worst
                        .as_ref()
                        .is_none_or(|w| f.specificity() > w.specificity())
                    {
                        worst = Some(f);
                    }
                }
            }
        }
        if ok.is_empty() {
            Err(worst.unwrap_or(VerifyFailure::UnknownIssuer))
        } else {
            Ok(Verified {
                bundles: ok,
                path: path.unwrap_or_default(),
            })
        }
    }
}

/// A chain that verified: the bundles it verifies against and the intermediates of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub bundles: Vec<String>,
    pub path: Vec<CertificateDer<'static>>,
}

/// What certgate knows about an issuer name, to explain an unknown-issuer refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerHint {
    /// A trust anchor has this subject (the failure is then not about a missing CA).
    Anchor,
    /// A `--intermediates` certificate has this subject; its own issuer is given.
    Intermediate { its_issuer: String },
    /// No anchor or intermediate has this subject.
    Unknown,
}

impl TrustStore {
    /// Look `issuer` up among anchors and intermediates (failure path only: parses them).
    pub fn issuer_hint(&self, issuer: &crate::pki::dn::Dn) -> IssuerHint {
        use der::Decode;
        let subject_of = |der: &CertificateDer<'_>| {
            x509_cert::Certificate::from_der(der.as_ref())
                .ok()
                .map(|c| {
                    (
                        crate::pki::dn::Dn::from_name(&c.tbs_certificate.subject),
                        crate::pki::dn::Dn::from_name(&c.tbs_certificate.issuer),
                    )
                })
        };
        for b in &self.bundles {
            for c in &b.certs {
                if subject_of(c).is_some_and(|(s, _)| &s == issuer) {
                    return IssuerHint::Anchor;
                }
            }
        }
        for c in &self.intermediates {
            if let Some((s, i)) = subject_of(c) {
                if &s == issuer {
                    return IssuerHint::Intermediate {
                        its_issuer: i.to_rfc4514(),
                    };
                }
            }
        }
        IssuerHint::Unknown
    }
}
