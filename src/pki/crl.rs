//! CRLs: reading them (PEM bundles, DER, directories), the facts certgate needs besides what
//! webpki keeps (issuer, this/next update), and whether a CA signed one.

use super::files::{pem_problem, CRL_LIMIT};
use super::load::{files_of, looks_like_pem, read_file, TrustError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer};
use std::path::{Path, PathBuf};

/// CRLs from a PEM (several allowed) or DER file, or a directory of them.
pub(crate) fn read_crls(
    path: &Path,
) -> Result<Vec<(PathBuf, CertificateRevocationListDer<'static>)>, TrustError> {
    let flag = "--crl";
    let mut out = Vec::new();
    for file in files_of(flag, path, &["pem", "crl", "der"])? {
        let bytes = read_file(flag, &file, CRL_LIMIT)?;
        let before = out.len();
        if looks_like_pem(&bytes) {
            for c in CertificateRevocationListDer::pem_slice_iter(&bytes) {
                let c = c.map_err(|e| TrustError::Invalid {
                    flag,
                    path: file.clone(),
                    problem: pem_problem(&e),
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
pub(crate) struct CrlInfo {
    pub(crate) issuer: crate::pki::dn::Dn,
    pub(crate) this_update: i64,
    pub(crate) next_update: i64,
}

/// Issuer and dates of a CRL, parsed with x509-cert.
pub(crate) fn crl_info(der: &[u8]) -> Result<CrlInfo, String> {
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
pub(crate) fn crl_signed_by(crl_der: &[u8], ca: &CertificateDer<'_>) -> bool {
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
