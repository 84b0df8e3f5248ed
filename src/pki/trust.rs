//! Trust material: named anchor bundles, intermediates and CRLs loaded from files and
//! directories, the server's own certificate and key, and the one chain-verification
//! function that the handshake, the per-connection re-check and `certgate check` share.

use super::crl::Crl;
pub use super::hints::{ClientCaHints, MAX_HINT_BYTES};
use super::limits;
pub use super::load::TrustError;
use super::load::{digest_of, read_certs_in, read_crls};
pub use super::load::{load_server_key, read_certs};
pub use super::revocation::Note;
use super::revocation::{key_usage_allows_crl_sign, ConfiguredCa, Revocation};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use rustls::DistinguishedName;
use std::path::{Path, PathBuf};
use webpki::{EndEntityCert, KeyUsage};

/// The signature algorithms of the handshake (rustls' aws-lc-rs provider), used for chain,
/// CRL and key checks alike, so that `check` and `run` accept exactly the same.
pub fn verification_algs() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

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
    /// `--client-ca-hints`
    pub hints: ClientCaHints,
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
    /// The leaf's key is one the handshake cannot use (RSA under 2048 bits, P-192, ...).
    UnsupportedKey(String),
    /// A name constraint refused the chain; the text says which and why.
    NameConstraint(String),
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
            VerifyFailure::BadSignature
            | VerifyFailure::UnsupportedAlgorithm { .. }
            | VerifyFailure::UnsupportedKey(_) => "bad_signature",
            VerifyFailure::CrlExpired
            | VerifyFailure::BadEncoding
            | VerifyFailure::NameConstraint(_)
            | VerifyFailure::Other(_) => "other",
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
            VerifyFailure::UnsupportedKey(_) => C::BadSignature.into(),
            VerifyFailure::NameConstraint(_) | VerifyFailure::Other(_) => {
                C::ApplicationVerificationFailure.into()
            }
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
            VerifyFailure::UnsupportedKey(s) | VerifyFailure::NameConstraint(s) => f.write_str(s),
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
    revocation: Revocation,
    hints: Vec<DistinguishedName>,
    algs: WebPkiSupportedAlgorithms,
    /// Warnings and facts worth one log line when this store is taken into use.
    notes: Vec<Note>,
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
        let algs = verification_algs();
        let mut bundles = Vec::with_capacity(src.bundles.len());
        let mut cas: Vec<ConfiguredCa> = Vec::new();
        let mut notes = Vec::new();
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
                    let facts = CaFacts::of(&der);
                    if !facts.is_ca {
                        notes.push(Note::Warn(format!(
                            "{flag} {}: certificate {} is not a CA (no basicConstraints CA:TRUE): no client chain can be built through it; to admit exactly this sender, trust the CA that issued it and add the rule fingerprint:{}",
                            file.display(),
                            facts.subject,
                            limits::sha256_hex(der.as_ref())
                        )));
                    }
                    cas.push(ConfiguredCa {
                        subject: anchor.subject.as_ref().to_vec(),
                        spki: webpki::spki_for_anchor(&anchor).as_ref().to_vec(),
                        key_id: facts.key_id,
                        crl_sign: facts.crl_sign,
                        source: format!("{flag} {}", file.display()),
                    });
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
            for (file, der) in read_certs_in("--intermediates", path, true)? {
                if let Ok(c) = EndEntityCert::try_from(&der) {
                    let facts = CaFacts::of(&der);
                    cas.push(ConfiguredCa {
                        subject: c.subject().to_vec(),
                        spki: c.subject_public_key_info().as_ref().to_vec(),
                        key_id: facts.key_id,
                        crl_sign: facts.crl_sign,
                        source: format!("--intermediates {}", file.display()),
                    });
                }
                intermediates.push(der);
            }
        }
        let hints = super::hints::select(
            bundles.iter().map(|b| (b.name.as_str(), &b.anchors[..])),
            &src.hints,
        )?;
        let mut parsed = Vec::new();
        for path in &src.crls {
            for (file, der) in read_crls(path)? {
                let crl = Crl::parse(&file, der).map_err(|source| TrustError::Crl {
                    path: file.clone(),
                    source,
                })?;
                parsed.push(crl);
            }
        }
        let (revocation, crl_notes) =
            Revocation::build(parsed, &cas, src.allow_expired_crl, algs.all)
                .map_err(|(path, source)| TrustError::Crl { path, source })?;
        notes.extend(crl_notes);
        let crl_next_updates = revocation
            .crls()
            .iter()
            .map(|c| (c.next_update, c.issuer_display.clone()))
            .collect();
        let trust_digest = digest_of(
            bundles
                .iter()
                .flat_map(|b| {
                    std::iter::once(b.name.as_bytes()).chain(b.certs.iter().map(|c| c.as_ref()))
                })
                .chain(std::iter::once(&b"--intermediates"[..]))
                .chain(intermediates.iter().map(|c| c.as_ref()))
                .chain(std::iter::once(src.hints.to_string().as_bytes())),
        );
        let crl_digest = digest_of(revocation.crls().iter().map(|c| c.der()));
        Ok(TrustStore {
            bundles,
            intermediates,
            revocation,
            hints,
            algs,
            notes,
            crl_next_updates,
            trust_digest,
            crl_digest,
        })
    }

    /// A store with no anchors at all (every route public).
    fn empty() -> TrustStore {
        let algs = verification_algs();
        TrustStore {
            bundles: Vec::new(),
            intermediates: Vec::new(),
            revocation: Revocation::empty(algs.all),
            hints: Vec::new(),
            algs,
            notes: Vec::new(),
            crl_next_updates: Vec::new(),
            trust_digest: [0; 32],
            crl_digest: [0; 32],
        }
    }

    /// Warnings and facts of the load, to log once when the store is taken into use.
    pub fn notes(&self) -> &[Note] {
        &self.notes
    }

    /// The revocation index (CRLs), for explanations.
    pub fn revocation(&self) -> &Revocation {
        &self.revocation
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

    /// The handshake's CertificateVerify step, as far as it can be judged offline: is the
    /// leaf's key one that the handshake's signature algorithms accept (RSA 2048 to 8192
    /// bits, ECDSA P-256/P-384/P-521, Ed25519)? A live handshake refuses other keys when the
    /// client's signature fails to verify (`tls.rs`); `check` calls this so that it refuses
    /// them too, from the same algorithm list.
    pub fn check_leaf_key(&self, leaf: &CertificateDer<'_>) -> Result<(), VerifyFailure> {
        let ee = EndEntityCert::try_from(leaf).map_err(VerifyFailure::from_webpki)?;
        limits::leaf_key_usable(&ee, self.algs.all).map_err(|r| match r {
            limits::KeyRefusal::Malformed => VerifyFailure::BadEncoding,
            limits::KeyRefusal::Unsupported(why) => VerifyFailure::UnsupportedKey(why),
        })
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
        // Revocation is certgate's own index, run by webpki on every path it builds (a
        // revoked path makes webpki try the next one, as with its own CRL support).
        let revocation = |p: &webpki::VerifiedPath<'_>| self.revocation.check_path(p, now);
        let mut ok = Vec::new();
        let mut path: Option<Vec<CertificateDer<'static>>> = None;
        let mut worst: Option<VerifyFailure> = None;
        for bundle in &self.bundles {
            match ee.verify_for_usage(
                self.algs.all,
                &bundle.anchors,
                intermediates,
                now,
                KeyUsage::client_auth(),
                None,
                Some(&revocation),
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
                Err(webpki::Error::NameConstraintViolation) => {
                    let anchors: Vec<&CertificateDer<'_>> = bundle.certs.iter().collect();
                    let f = VerifyFailure::NameConstraint(limits::explain_name_constraints(
                        leaf,
                        intermediates,
                        &anchors,
                    ));
                    worst = Some(f);
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

/// What the CRL check and the load warnings need to know of a configured CA certificate.
struct CaFacts {
    is_ca: bool,
    key_id: Option<Vec<u8>>,
    crl_sign: bool,
    subject: String,
}

impl CaFacts {
    fn of(der: &CertificateDer<'_>) -> CaFacts {
        use der::Decode;
        use x509_cert::ext::pkix::{BasicConstraints, SubjectKeyIdentifier};
        let Ok(c) = x509_cert::Certificate::from_der(der.as_ref()) else {
            return CaFacts {
                is_ca: false,
                key_id: None,
                crl_sign: false,
                subject: "(unparsable)".into(),
            };
        };
        let ext = |oid| {
            c.tbs_certificate
                .extensions
                .as_ref()
                .and_then(|e| e.iter().find(|e| e.extn_id == oid))
                .map(|e| e.extn_value.as_bytes())
        };
        let is_ca = ext(const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS)
            .and_then(|v| BasicConstraints::from_der(v).ok())
            .is_some_and(|b| b.ca);
        let key_id = ext(const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
            .and_then(|v| SubjectKeyIdentifier::from_der(v).ok())
            .map(|k| k.0.as_bytes().to_vec());
        CaFacts {
            is_ca,
            key_id,
            crl_sign: key_usage_allows_crl_sign(der.as_ref()),
            subject: crate::pki::dn::Dn::from_name(&c.tbs_certificate.subject).to_rfc4514(),
        }
    }
}
