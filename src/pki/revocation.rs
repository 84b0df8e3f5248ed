//! The revocation index over every CRL: issuer name -> CRLs, the newest CRL per issuer, scope
//! and key; configured CAs' CRLs verified at load (a bad signature is an error), the others
//! kept for chains that bring their issuer; and the per-path check the verifier runs on every
//! path webpki builds (same code for `run`, the open-connection re-check and `check`).

use super::crl::{Crl, CrlError, RevokedEntry, SigState};
use rustls_pki_types::{SignatureVerificationAlgorithm, UnixTime};
use std::collections::HashMap;
use std::path::PathBuf;
use webpki::VerifiedPath;

// ---------------------------------------------------------------------------------------

/// A configured CA (trust anchor or `--intermediates` certificate), as the CRL check needs it.
#[derive(Debug, Clone)]
pub struct ConfiguredCa {
    /// Subject Name without its SEQUENCE header.
    pub subject: Vec<u8>,
    /// SubjectPublicKeyInfo DER (with its SEQUENCE header, as `webpki::spki_for_anchor`).
    pub spki: Vec<u8>,
    pub key_id: Option<Vec<u8>>,
    /// keyUsage absent, or with cRLSign.
    pub crl_sign: bool,
    /// `--trust FILE (CN=…)`, for messages.
    pub source: String,
}

/// Something worth one log line at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Warn(String),
    Info(String),
}

/// Every CRL, indexed by issuer name.
#[derive(Debug)]
pub struct Revocation {
    crls: Vec<Crl>,
    by_issuer: HashMap<Vec<u8>, Vec<usize>>,
    /// Configured CAs' keys (SubjectPublicKeyInfo DER) -> keyUsage allows cRLSign; anchors
    /// reach the check as bare keys, without their certificate.
    crl_signers: HashMap<Vec<u8>, bool>,
    allow_expired: bool,
    algs: &'static [&'static dyn SignatureVerificationAlgorithm],
}

impl Revocation {
    pub fn empty(algs: &'static [&'static dyn SignatureVerificationAlgorithm]) -> Revocation {
        Revocation {
            crls: Vec::new(),
            by_issuer: HashMap::new(),
            crl_signers: HashMap::new(),
            allow_expired: false,
            algs,
        }
    }

    /// Index `crls`: the newest of CRLs with the same issuer, scope and key identifier wins;
    /// CRLs of configured CAs are verified now (a bad signature is an error); CRLs that no
    /// configured CA issued are kept for chains that bring their issuer, and noted.
    pub fn build(
        crls: Vec<Crl>,
        cas: &[ConfiguredCa],
        allow_expired: bool,
        algs: &'static [&'static dyn SignatureVerificationAlgorithm],
    ) -> Result<(Revocation, Vec<Note>), (PathBuf, CrlError)> {
        let mut kept: Vec<Crl> = Vec::with_capacity(crls.len());
        for crl in crls {
            let same = kept.iter().position(|k| {
                k.issuer() == crl.issuer() && k.idp_raw == crl.idp_raw && k.aki == crl.aki
            });
            match same {
                Some(i) if kept[i].this_update >= crl.this_update => {}
                Some(i) => kept[i] = crl,
                None => kept.push(crl),
            }
        }
        let mut notes = Vec::new();
        for crl in &kept {
            // Configured CAs of that name whose key identifier does not rule them out.
            let named: Vec<&ConfiguredCa> = cas
                .iter()
                .filter(|ca| ca.subject == crl.issuer())
                .filter(|ca| match (&crl.aki, &ca.key_id) {
                    (Some(a), Some(k)) => a == k,
                    _ => true,
                })
                .collect();
            if named.is_empty() {
                notes.push(Note::Info(format!(
                    "--crl {}: the CRL of {} ({} entries) is kept although no configured CA issued it: it counts for chains that contain its issuer (an intermediate the client sends), once its signature verifies against that issuer",
                    crl.file.display(),
                    crl.issuer_display,
                    crl.len()
                )));
                continue;
            }
            let mut states = named
                .iter()
                .map(|ca| (ca, crl.verify_with(&ca.spki, || ca.crl_sign, algs)));
            let mut first_bad = None;
            let mut ok = false;
            for (ca, st) in states.by_ref() {
                match st {
                    SigState::Good => ok = true,
                    SigState::NotCrlSigner => {
                        return Err((
                            crl.file.clone(),
                            CrlError::NotCrlSigner {
                                issuer: crl.issuer_display.clone(),
                                ca: ca.source.clone(),
                            },
                        ))
                    }
                    SigState::Bad => {
                        first_bad.get_or_insert(ca.source.clone());
                    }
                }
            }
            if !ok {
                return Err((
                    crl.file.clone(),
                    CrlError::BadSignature {
                        issuer: crl.issuer_display.clone(),
                        ca: first_bad.unwrap_or_default(),
                    },
                ));
            }
        }
        let mut by_issuer: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (i, c) in kept.iter().enumerate() {
            by_issuer.entry(c.issuer().to_vec()).or_default().push(i);
        }
        Ok((
            Revocation {
                crls: kept,
                by_issuer,
                crl_signers: cas.iter().map(|c| (c.spki.clone(), c.crl_sign)).collect(),
                allow_expired,
                algs,
            },
            notes,
        ))
    }

    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// webpki's custom path check: every certificate of the path but the anchor, against
    /// the CRL of its issuer (if one verifies with the issuer's key). Unknown status is
    /// allowed, as without a CRL.
    pub fn check_path(&self, path: &VerifiedPath<'_>, now: UnixTime) -> Result<(), webpki::Error> {
        if self.crls.is_empty() {
            return Ok(());
        }
        let ints: Vec<&webpki::Cert<'_>> = path.intermediate_certificates().collect();
        let ee: &webpki::Cert<'_> = path.end_entity();
        let certs = std::iter::once(ee).chain(ints.iter().copied());
        for (i, cert) in certs.enumerate() {
            let issuer = match ints.get(i) {
                Some(next) => Issuer::Cert(next),
                None => Issuer::Anchor(path.anchor()),
            };
            self.check_cert(cert, i > 0, issuer, now)?;
        }
        Ok(())
    }

    fn check_cert(
        &self,
        cert: &webpki::Cert<'_>,
        is_ca: bool,
        issuer: Issuer<'_, '_>,
        now: UnixTime,
    ) -> Result<(), webpki::Error> {
        let Some(cands) = self.by_issuer.get(cert.issuer()) else {
            return Ok(());
        };
        let spki = match issuer {
            Issuer::Cert(c) => c.subject_public_key_info(),
            Issuer::Anchor(a) => webpki::spki_for_anchor(a),
        };
        let der = cert.der();
        let mut best: Option<&Crl> = None;
        let mut not_signer = false;
        for &k in cands {
            let crl = &self.crls[k];
            if !crl.covers(is_ca, &der) {
                continue;
            }
            let crl_sign = || match issuer {
                Issuer::Cert(c) => key_usage_allows_crl_sign(c.der().as_ref()),
                Issuer::Anchor(_) => self.crl_signers.get(spki.as_ref()).copied().unwrap_or(true),
            };
            match crl.verify_with(spki.as_ref(), crl_sign, self.algs) {
                SigState::Good => {
                    if best.is_none_or(|b| crl.this_update > b.this_update) {
                        best = Some(crl);
                    }
                }
                SigState::NotCrlSigner => not_signer = true,
                SigState::Bad => {}
            }
        }
        let Some(crl) = best else {
            return if not_signer {
                Err(webpki::Error::IssuerNotCrlSigner)
            } else {
                Ok(())
            };
        };
        if !self.allow_expired && now.as_secs() >= u64::try_from(crl.next_update).unwrap_or(0) {
            return Err(webpki::Error::CrlExpired {
                time: now,
                next_update: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    u64::try_from(crl.next_update).unwrap_or(0),
                )),
            });
        }
        match crl.find(cert.serial()) {
            Some(_) => Err(webpki::Error::CertRevoked),
            None => Ok(()),
        }
    }

    /// The entry revoking `serial` of a certificate issued by `issuer` (Name without its
    /// header), with the CRL's issuer, for explanations (failure path only).
    pub fn find_revoked(&self, issuer: &[u8], serial: &[u8]) -> Option<(&Crl, RevokedEntry)> {
        self.by_issuer
            .get(issuer)?
            .iter()
            .map(|&k| &self.crls[k])
            .find_map(|c| c.find(serial).map(|e| (c, e)))
    }
}

#[derive(Clone, Copy)]
enum Issuer<'p, 'a> {
    Cert(&'p webpki::Cert<'a>),
    Anchor(&'p rustls_pki_types::TrustAnchor<'a>),
}

/// keyUsage absent or asserting cRLSign (bit 6), for a certificate DER.
pub fn key_usage_allows_crl_sign(cert: &[u8]) -> bool {
    use der::Decode;
    let Ok(c) = x509_cert::Certificate::from_der(cert) else {
        return false;
    };
    let Some(ext) = c.tbs_certificate.extensions.as_ref().and_then(|e| {
        e.iter()
            .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_KEY_USAGE)
    }) else {
        return true;
    };
    match x509_cert::ext::pkix::KeyUsage::from_der(ext.extn_value.as_bytes()) {
        Ok(ku) => ku.crl_sign(),
        Err(_) => false,
    }
}

/// The contents of a DER Name (its SEQUENCE header removed), the form the index keys by.
pub fn name_contents(name_der: &[u8]) -> Option<&[u8]> {
    let mut r = super::der_walk::Reader::new(name_der);
    let t = r.expect(super::der_walk::SEQUENCE, "").ok()?;
    r.at_end().then(|| super::der_walk::contents(name_der, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa, KeyIdMethod,
        KeyPair, KeyUsagePurpose, SerialNumber,
    };
    use std::path::Path;

    fn algs() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all
    }

    fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (p.self_signed(&key).unwrap(), key)
    }

    fn crl(ca: &(rcgen::Certificate, KeyPair), method: KeyIdMethod) -> Crl {
        let now = time::OffsetDateTime::now_utc();
        let der = CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![],
            key_identifier_method: method,
        }
        .signed_by(&ca.0, &ca.1)
        .unwrap()
        .der()
        .to_vec();
        Crl::parse(Path::new("t.crl"), der).unwrap()
    }

    /// `ca` as configured, with the key of `key_of` (same name, maybe another key).
    fn configured(
        ca: &rcgen::Certificate,
        key_of: &rcgen::Certificate,
        crl_sign: bool,
    ) -> ConfiguredCa {
        let subject = |c: &rcgen::Certificate| {
            webpki::EndEntityCert::try_from(c.der())
                .unwrap()
                .subject()
                .to_vec()
        };
        let spki = webpki::EndEntityCert::try_from(key_of.der())
            .unwrap()
            .subject_public_key_info()
            .as_ref()
            .to_vec();
        ConfiguredCa {
            subject: subject(ca),
            spki,
            key_id: None,
            crl_sign,
            source: "--trust t.pem".into(),
        }
    }

    #[test]
    fn a_configured_cas_crl_must_verify_and_the_ca_may_sign_crls() {
        let a = ca("Unit CA");
        let other = ca("Unit CA");
        let ok = Revocation::build(
            vec![crl(&a, KeyIdMethod::Sha256)],
            &[configured(&a.0, &a.0, true)],
            false,
            algs(),
        );
        assert!(ok.is_ok_and(|(_, notes)| notes.is_empty()));
        // Same name, other key, and the CRL's key identifier does not rule it out: an error.
        let bad = Revocation::build(
            vec![crl(&a, KeyIdMethod::Sha256)],
            &[configured(&a.0, &other.0, true)],
            false,
            algs(),
        );
        assert!(matches!(bad, Err((_, CrlError::BadSignature { .. }))));
        let no_sign = Revocation::build(
            vec![crl(&a, KeyIdMethod::Sha256)],
            &[configured(&a.0, &a.0, false)],
            false,
            algs(),
        );
        assert!(matches!(no_sign, Err((_, CrlError::NotCrlSigner { .. }))));
    }

    #[test]
    fn a_crl_that_no_configured_ca_issued_is_kept_with_a_note() {
        let a = ca("Unit CA");
        let b = ca("Other CA");
        let (rev, notes) = Revocation::build(
            vec![crl(&b, KeyIdMethod::Sha256)],
            &[configured(&a.0, &a.0, true)],
            false,
            algs(),
        )
        .unwrap();
        assert_eq!(rev.crls().len(), 1);
        assert!(matches!(&notes[..], [Note::Info(m)] if m.contains("CN=Other CA")));
    }

    #[test]
    fn name_contents_strips_the_sequence_header() {
        assert_eq!(
            name_contents(&[0x30, 0x02, 0x31, 0x00]),
            Some(&[0x31, 0x00][..])
        );
        assert_eq!(name_contents(&[0x30, 0x02, 0x31]), None);
        assert_eq!(name_contents(&[0x31, 0x00]), None);
    }
}
