//! Trust material: named anchor bundles, intermediates and CRLs loaded from files and
//! directories, the server's own certificate and key, and the one chain-verification
//! function that the handshake, the per-connection re-check and `certgate check` share.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, TrustAnchor, UnixTime,
};
use rustls::sign::CertifiedKey;
use rustls::DistinguishedName;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{flag} {path}: cannot read: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{flag} {path}: {problem}")]
    Invalid {
        flag: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("--server-key {key} does not match the certificate in --server-cert {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("trust bundle {0:?} has no trust anchor")]
    EmptyBundle(String),
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
    Expired { not_after: UnixTime },
    NotYetValid { not_before: UnixTime },
    Revoked,
    BadUsage,
    BadSignature,
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
            W::RequiredEkuNotFound
            | W::RequiredEkuNotFoundContext(_)
            | W::EmptyEkuExtension
            | W::CaUsedAsEndEntity => VerifyFailure::BadUsage,
            W::InvalidSignatureForPublicKey => VerifyFailure::BadSignature,
            W::CrlExpired { .. } => VerifyFailure::CrlExpired,
            W::BadDer | W::BadDerTime | W::TrailingData(_) => VerifyFailure::BadEncoding,
            other => VerifyFailure::Other(format!("{other:?}")),
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
            VerifyFailure::BadUsage => "bad_usage",
            VerifyFailure::BadSignature => "bad_signature",
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
            VerifyFailure::BadUsage => C::InvalidPurpose.into(),
            VerifyFailure::BadSignature => C::BadSignature.into(),
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
            VerifyFailure::BadSignature => f.write_str("bad signature in the chain"),
            VerifyFailure::CrlExpired => {
                f.write_str("a CRL for this chain is past its next update (refresh it, or --crl-expired allow)")
            }
            VerifyFailure::BadEncoding => f.write_str("malformed certificate"),
            VerifyFailure::Other(s) => write!(f, "verification failed: {s}"),
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

/// SHA-256 over length-prefixed parts.
fn digest_of<'a>(parts: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
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

/// The server's own chain and key, checked to match, with a digest of both files.
pub fn load_server_key(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<CertifiedKey>, [u8; 32]), TrustError> {
    let chain: Vec<CertificateDer<'static>> = read_certs("--server-cert", cert)?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let bytes = std::fs::read(key).map_err(|source| TrustError::Read {
        flag: "--server-key",
        path: key.to_owned(),
        source,
    })?;
    let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TrustError::Invalid {
        flag: "--server-key",
        path: key.to_owned(),
        problem: format!("no PEM private key (PKCS#8, SEC1 or PKCS#1) found: {e}"),
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| TrustError::Invalid {
            flag: "--server-key",
            path: key.to_owned(),
            problem: format!("unsupported private key: {e}"),
        })?;
    let digest = digest_of(
        chain
            .iter()
            .map(|c| c.as_ref())
            .chain(std::iter::once(&bytes[..])),
    );
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match().map_err(|_| TrustError::KeyMismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
    })?;
    Ok((Arc::new(ck), digest))
}

/// The files a path stands for: the file itself, or a directory's `*.pem`/`*.crt`
/// (or `exts`) entries in name order. Hidden entries (Kubernetes' `..data`) are skipped;
/// symlinks to files are followed.
fn files_of(flag: &'static str, path: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, TrustError> {
    let meta = std::fs::metadata(path).map_err(|source| TrustError::Read {
        flag,
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let rd = std::fs::read_dir(path).map_err(|source| TrustError::Read {
        flag,
        path: path.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let ext_ok = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)));
        if ext_ok && std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|source| TrustError::Read {
        flag,
        path: path.to_owned(),
        source,
    })
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Certificates from a PEM (several allowed) or DER file, or a directory of them.
pub fn read_certs(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<(PathBuf, CertificateDer<'static>)>, TrustError> {
    let mut out = Vec::new();
    for file in files_of(flag, path, &["pem", "crt", "cer"])? {
        let bytes = read_file(flag, &file)?;
        let invalid = |problem: String| TrustError::Invalid {
            flag,
            path: file.clone(),
            problem,
        };
        let before = out.len();
        if looks_like_pem(&bytes) {
            for c in CertificateDer::pem_slice_iter(&bytes) {
                let c = c.map_err(|e| invalid(format!("bad PEM: {e}")))?;
                x509_check(&c).map_err(&invalid)?;
                out.push((file.clone(), c));
            }
        } else if !bytes.is_empty() {
            let c = CertificateDer::from(bytes);
            x509_check(&c).map_err(&invalid)?;
            out.push((file.clone(), c));
        }
        if out.len() == before {
            return Err(invalid("holds no certificate".into()));
        }
    }
    if out.is_empty() {
        return Err(TrustError::Invalid {
            flag,
            path: path.to_owned(),
            problem: "directory holds no *.pem or *.crt certificate file".into(),
        });
    }
    Ok(out)
}

fn x509_check(c: &CertificateDer<'_>) -> Result<(), String> {
    use der::Decode;
    x509_cert::Certificate::from_der(c.as_ref())
        .map(|_| ())
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))
}

/// CRLs from a PEM (several allowed) or DER file, or a directory of them.
fn read_crls(
    path: &Path,
) -> Result<Vec<(PathBuf, CertificateRevocationListDer<'static>)>, TrustError> {
    let flag = "--crl";
    let mut out = Vec::new();
    for file in files_of(flag, path, &["pem", "crl", "der"])? {
        let bytes = read_file(flag, &file)?;
        let before = out.len();
        if looks_like_pem(&bytes) {
            for c in CertificateRevocationListDer::pem_slice_iter(&bytes) {
                let c = c.map_err(|e| TrustError::Invalid {
                    flag,
                    path: file.clone(),
                    problem: format!("bad PEM: {e}"),
                })?;
                out.push((file.clone(), c));
            }
        } else if !bytes.is_empty() {
            out.push((file.clone(), CertificateRevocationListDer::from(bytes)));
        }
        if out.len() == before {
            return Err(TrustError::Invalid {
                flag,
                path: file.clone(),
                problem: "holds no CRL".into(),
            });
        }
    }
    Ok(out)
}

/// What certgate needs to know of a CRL besides what webpki keeps.
#[derive(Debug)]
struct CrlInfo {
    issuer: crate::pki::dn::Dn,
    this_update: i64,
    next_update: i64,
}

/// Issuer and dates of a CRL, parsed with x509-cert.
fn crl_info(der: &[u8]) -> Result<CrlInfo, String> {
    use der::Decode;
    let crl = x509_cert::crl::CertificateList::from_der(der)
        .map_err(|e| format!("not a valid CRL: {e}"))?;
    let issuer = crate::pki::dn::Dn::from_name(&crl.tbs_cert_list.issuer);
    let next = crl
        .tbs_cert_list
        .next_update
        .ok_or_else(|| format!("CRL of {} has no nextUpdate field", issuer.to_rfc4514()))?;
    Ok(CrlInfo {
        this_update: crl.tbs_cert_list.this_update.to_unix_duration().as_secs() as i64,
        next_update: next.to_unix_duration().as_secs() as i64,
        issuer,
    })
}

/// The DER contents (no SEQUENCE header) of an AlgorithmIdentifier, as pki-types compares them.
fn alg_id_contents(a: &x509_cert::spki::AlgorithmIdentifierOwned) -> Option<Vec<u8>> {
    use der::Encode;
    let mut out = a.oid.to_der().ok()?;
    if let Some(p) = &a.parameters {
        out.extend(p.to_der().ok()?);
    }
    Some(out)
}

/// True when `ca`'s subject is the CRL's issuer and its key verifies the CRL's signature.
fn crl_signed_by(crl_der: &[u8], ca: &CertificateDer<'_>) -> bool {
    use der::{Decode, Encode};
    let (Ok(crl), Ok(cert)) = (
        x509_cert::crl::CertificateList::from_der(crl_der),
        x509_cert::Certificate::from_der(ca.as_ref()),
    ) else {
        return false;
    };
    if crate::pki::dn::Dn::from_name(&crl.tbs_cert_list.issuer)
        != crate::pki::dn::Dn::from_name(&cert.tbs_certificate.subject)
    {
        return false;
    }
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let (Some(sig_alg), Some(key_alg), Ok(tbs), Some(sig)) = (
        alg_id_contents(&crl.signature_algorithm),
        alg_id_contents(&spki.algorithm),
        crl.tbs_cert_list.to_der(),
        crl.signature.as_bytes(),
    ) else {
        return false;
    };
    let Some(key) = spki.subject_public_key.as_bytes() else {
        return false;
    };
    webpki::ALL_VERIFICATION_ALGS.iter().any(|alg| {
        alg.signature_alg_id().as_ref() == sig_alg.as_slice()
            && alg.public_key_alg_id().as_ref() == key_alg.as_slice()
            && alg.verify_signature(key, &tbs, sig).is_ok()
    })
}
