//! CRLs as a revocation index: each CRL is parsed once with a streaming DER walk (no structure
//! per entry), its revoked serials are kept as sorted offsets into its own DER, and its
//! signature is verified once per issuer key (at load for configured CAs, on first use for an
//! intermediate a client sends) and remembered. The verifier calls [`Revocation::check_path`]
//! for every path webpki has built, so a lookup costs a hash and a binary search per
//! certificate, whatever the size of the CRL.

use super::der_walk::{
    ce, contents, for_each_extension, oid_string, signature_ok, time_of, Reader, Tlv, BIT_STRING,
    CONTEXT_0_CONSTRUCTED, GENERALIZED_TIME, INTEGER, SEQUENCE, UTC_TIME,
};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use tracing::debug;

/// The `X509 CRL` blocks of PEM text, decoded. A plain splitter and the `base64` crate
/// rather than a constant-time decoder: CRLs are public, and a 1,000,000-entry CRL is 33 MB
/// of PEM.
pub fn pem_crls(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    const BEGIN: &[u8] = b"-----BEGIN ";
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)
            .and_then(|h| h.windows(needle.len()).position(|w| w == needle))
            .map(|p| p + from)
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(b) = find(text, BEGIN, pos) {
        let label_start = b + BEGIN.len();
        let label_end =
            find(text, b"-----", label_start).ok_or("bad PEM: unterminated BEGIN line")?;
        let label = &text[label_start..label_end];
        let body_start = label_end + 5;
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(label);
        end_marker.extend_from_slice(b"-----");
        let body_end = find(text, &end_marker, body_start).ok_or_else(|| {
            format!(
                "bad PEM: no END line for BEGIN {}",
                String::from_utf8_lossy(label)
            )
        })?;
        pos = body_end + end_marker.len();
        if label != b"X509 CRL" {
            continue;
        }
        let b64: Vec<u8> = text[body_start..body_end]
            .iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .map_err(|e| format!("bad PEM: base64 of an X509 CRL block: {e}"))?;
        out.push(der);
    }
    Ok(out)
}

/// Why a CRL cannot be used (the file it came from is said by the caller).
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    #[error("not a valid CRL: {0}")]
    Malformed(&'static str),
    #[error("CRL of {issuer}: {what} is not supported (certgate reads complete, direct CRLs such as `openssl ca -gencrl` writes)")]
    Unsupported { issuer: String, what: String },
    #[error("CRL of {issuer} has no nextUpdate field, so it could never be refreshed; have the CA issue CRLs with a next update (openssl ca -gencrl -crldays N)")]
    NoNextUpdate { issuer: String },
    #[error("the signature of this CRL of {issuer} does not verify against the configured CA of that name ({ca}): the file is damaged or was signed by another key; download the CRL again from the CA (if the CA was re-keyed under the same name, remove the old key's CRL from --crl; CRLs that carry an authorityKeyIdentifier are told apart by it)")]
    BadSignature { issuer: String, ca: String },
    #[error("CRL of {issuer}: the configured CA of that name ({ca}) has a keyUsage without cRLSign, so it may not sign CRLs; have the CA re-issued with cRLSign, or remove the CRL")]
    NotCrlSigner { issuer: String, ca: String },
}

// ---------------------------------------------------------------------------------------
// One CRL
// ---------------------------------------------------------------------------------------

/// Which certificates a CRL speaks for (its issuingDistributionPoint, RFC 5280 §5.2.5).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    present: bool,
    only_user: bool,
    only_ca: bool,
    /// URIs of the distributionPoint fullName.
    uris: Vec<Vec<u8>>,
}

/// Signature check of a CRL against one issuer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigState {
    Good,
    Bad,
    /// The signature verifies but the issuer's keyUsage lacks cRLSign.
    NotCrlSigner,
}

/// How many issuer keys a CRL remembers (there is one in practice, a few after a re-key).
const MAX_REMEMBERED_KEYS: usize = 16;

/// One parsed CRL. The DER is kept once; everything else points into it.
pub struct Crl {
    pub file: PathBuf,
    der: Vec<u8>,
    tbs: (usize, usize),
    sig_alg: (usize, usize),
    signature: (usize, usize),
    /// Issuer Name without its SEQUENCE header, as webpki's `Cert::issuer()`.
    issuer: (usize, usize),
    pub issuer_display: String,
    pub this_update: i64,
    pub next_update: i64,
    pub(crate) aki: Option<Vec<u8>>,
    scope: Scope,
    pub(crate) idp_raw: Option<Vec<u8>>,
    /// Offsets of the revoked entries' serial INTEGER TLVs, sorted by serial.
    serials: Vec<u32>,
    verified: RwLock<Vec<(Vec<u8>, SigState)>>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("file", &self.file)
            .field("issuer", &self.issuer_display)
            .field("entries", &self.serials.len())
            .finish()
    }
}

/// Serial bytes of the INTEGER TLV at `off` (already validated at parse).
fn serial_at(der: &[u8], off: u32) -> &[u8] {
    let mut r = Reader {
        buf: der,
        pos: off as usize,
        end: der.len(),
    };
    match r.read() {
        Ok(t) => contents(der, t),
        Err(_) => &[],
    }
}

/// Serials order as integers do for minimal non-negative encodings: shorter first.
fn serial_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Crl {
    /// Parse `der` (read from `path`). Checks the structure and every entry once.
    pub fn parse(path: &Path, der: Vec<u8>) -> Result<Crl, CrlError> {
        let malformed = CrlError::Malformed;
        let buf = &der[..];
        let mut top = Reader::new(buf);
        let list = top.expect(SEQUENCE, "not a SEQUENCE").map_err(malformed)?;
        if !top.at_end() {
            return Err(malformed("trailing data after the CRL"));
        }
        let mut r = Reader::inside(buf, list);
        let tbs = r.expect(SEQUENCE, "no TBSCertList").map_err(malformed)?;
        let sig_alg = r
            .expect(SEQUENCE, "no signatureAlgorithm")
            .map_err(malformed)?;
        let sig = r.expect(BIT_STRING, "no signature").map_err(malformed)?;
        if !r.at_end() || sig.end == sig.value || buf[sig.value] != 0 {
            return Err(malformed("bad signature field"));
        }
        let mut t = Reader::inside(buf, tbs);
        if t.peek() == Some(INTEGER) {
            let v = t.read().map_err(malformed)?;
            if contents(buf, v) != [1] {
                return Err(malformed("unknown CRL version (only v1 and v2 exist)"));
            }
        }
        let inner_alg = t
            .expect(SEQUENCE, "no signature algorithm")
            .map_err(malformed)?;
        if contents(buf, inner_alg) != contents(buf, sig_alg) {
            return Err(malformed(
                "the signature algorithm inside and outside the signed part differ",
            ));
        }
        let issuer = t.expect(SEQUENCE, "no issuer").map_err(malformed)?;
        let issuer_display = {
            use der::Decode;
            x509_cert::name::Name::from_der(&buf[issuer.start..issuer.end])
                .map(|n| crate::pki::dn::Dn::from_name(&n).to_rfc4514())
                .map_err(|_| malformed("bad issuer name"))?
        };
        let this_update = t
            .read()
            .and_then(|tl| time_of(buf, tl))
            .map_err(malformed)?;
        let next_update = match t.peek() {
            Some(UTC_TIME | GENERALIZED_TIME) => {
                let tl = t.read().map_err(malformed)?;
                time_of(buf, tl).map_err(malformed)?
            }
            _ => {
                return Err(CrlError::NoNextUpdate {
                    issuer: issuer_display,
                })
            }
        };
        let unsupported = |what: String| CrlError::Unsupported {
            issuer: issuer_display.clone(),
            what,
        };
        let mut serials = Vec::new();
        if t.peek() == Some(SEQUENCE) {
            let list = t.read().map_err(malformed)?;
            let mut entries = Reader::inside(buf, list);
            while !entries.at_end() {
                let e = entries
                    .expect(SEQUENCE, "bad revoked entry")
                    .map_err(malformed)?;
                let mut er = Reader::inside(buf, e);
                let serial = er
                    .expect(INTEGER, "bad revoked serial")
                    .map_err(malformed)?;
                if serial.end == serial.value {
                    return Err(malformed("empty revoked serial"));
                }
                let date = er.read().map_err(malformed)?;
                if date.tag != UTC_TIME && date.tag != GENERALIZED_TIME {
                    return Err(malformed("bad revocation date"));
                }
                if !er.at_end() {
                    let exts = er
                        .expect(SEQUENCE, "bad entry extensions")
                        .map_err(malformed)?;
                    if !er.at_end() {
                        return Err(malformed("trailing data in a revoked entry"));
                    }
                    for_each_extension(buf, exts, |oid, critical, _value| {
                        if oid == ce(29) {
                            Err(unsupported(
                                "an entry names another certificate issuer (indirect CRL)".into(),
                            ))
                        } else if critical && oid != ce(21) && oid != ce(24) {
                            Err(unsupported(format!(
                                "an entry has an unknown critical extension {}",
                                oid_string(oid)
                            )))
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(|e| e.unwrap_or_else(malformed))?;
                }
                serials.push(u32::try_from(serial.start).map_err(|_| malformed("too large"))?);
            }
        }
        let mut aki = None;
        let mut idp_raw = None;
        let mut scope = Scope::default();
        if t.peek() == Some(CONTEXT_0_CONSTRUCTED) {
            let wrap = t.read().map_err(malformed)?;
            let mut w = Reader::inside(buf, wrap);
            let exts = w
                .expect(SEQUENCE, "bad CRL extensions")
                .map_err(malformed)?;
            for_each_extension(buf, exts, |oid, critical, value| {
                if oid == ce(27) {
                    Err(unsupported("a delta CRL (deltaCRLIndicator)".into()))
                } else if oid == ce(28) {
                    let v = &buf[value.0..value.1];
                    scope = parse_idp(v).map_err(|w| unsupported(w.to_string()))?;
                    idp_raw = Some(v.to_vec());
                    Ok(())
                } else if oid == ce(35) {
                    aki = key_identifier(&buf[value.0..value.1]);
                    Ok(())
                } else if critical && oid != ce(20) {
                    Err(unsupported(format!(
                        "unknown critical extension {}",
                        oid_string(oid)
                    )))
                } else {
                    Ok(())
                }
            })
            .map_err(|e| e.unwrap_or_else(malformed))?;
        }
        if !t.at_end() {
            return Err(malformed("trailing data in the signed part"));
        }
        // `openssl ca -gencrl` writes entries sorted by serial; sort only when needed.
        let sorted = serials
            .windows(2)
            .all(|w| serial_cmp(serial_at(buf, w[0]), serial_at(buf, w[1])).is_le());
        if !sorted {
            serials.sort_unstable_by(|a, b| serial_cmp(serial_at(buf, *a), serial_at(buf, *b)));
        }
        serials.shrink_to_fit();
        let span = |t: Tlv| (t.start, t.end);
        let inner = |t: Tlv| (t.value, t.end);
        let sig_bytes = (sig.value + 1, sig.end);
        Ok(Crl {
            file: path.to_owned(),
            tbs: span(tbs),
            sig_alg: inner(sig_alg),
            signature: sig_bytes,
            issuer: inner(issuer),
            issuer_display,
            this_update,
            next_update,
            aki,
            scope,
            idp_raw,
            serials,
            verified: RwLock::new(Vec::new()),
            der,
        })
    }

    /// The whole CRL as read (DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Issuer Name without its SEQUENCE header.
    pub fn issuer(&self) -> &[u8] {
        &self.der[self.issuer.0..self.issuer.1]
    }

    pub fn len(&self) -> usize {
        self.serials.len()
    }

    pub fn is_empty(&self) -> bool {
        self.serials.is_empty()
    }

    /// The revoked entry of `serial`, if listed.
    pub fn find(&self, serial: &[u8]) -> Option<RevokedEntry> {
        let der = &self.der[..];
        let i = self
            .serials
            .binary_search_by(|off| serial_cmp(serial_at(der, *off), serial))
            .ok()?;
        Some(entry_at(der, self.serials[i]))
    }

    /// Verify this CRL's signature with `spki` (SubjectPublicKeyInfo DER) and remember the
    /// answer for that key.
    pub(crate) fn verify_with(
        &self,
        spki: &[u8],
        crl_sign: impl FnOnce() -> bool,
        algs: &[&dyn SignatureVerificationAlgorithm],
    ) -> SigState {
        if let Ok(v) = self.verified.read() {
            if let Some((_, s)) = v.iter().find(|(k, _)| k == spki) {
                return *s;
            }
        }
        let state = if signature_ok(
            algs,
            spki,
            &self.der[self.tbs.0..self.tbs.1],
            &self.der[self.sig_alg.0..self.sig_alg.1],
            &self.der[self.signature.0..self.signature.1],
        ) {
            if crl_sign() {
                SigState::Good
            } else {
                SigState::NotCrlSigner
            }
        } else {
            SigState::Bad
        };
        debug!(
            issuer = %self.issuer_display,
            file = %self.file.display(),
            entries = self.serials.len(),
            good = state == SigState::Good,
            "CRL signature verified against an issuer key (remembered for that key)"
        );
        if let Ok(mut v) = self.verified.write() {
            if v.len() < MAX_REMEMBERED_KEYS && !v.iter().any(|(k, _)| k == spki) {
                v.push((spki.to_vec(), state));
            }
        }
        state
    }

    /// Does this CRL speak for `cert` (webpki's rules for issuingDistributionPoint)?
    pub(crate) fn covers(&self, is_ca: bool, cert: &CertificateDer<'_>) -> bool {
        let s = &self.scope;
        if !s.present {
            return true;
        }
        if (s.only_ca && !is_ca) || (s.only_user && is_ca) {
            return false;
        }
        let Some(dps) = crl_distribution_points(cert.as_ref()) else {
            return true;
        };
        for uris in dps {
            for uri in uris {
                if s.uris.is_empty() {
                    return false;
                }
                if s.uris.contains(&uri) {
                    return true;
                }
            }
        }
        false
    }
}

/// One revoked entry, for explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub revoked_at: Option<i64>,
    pub reason: Option<&'static str>,
}

fn entry_at(der: &[u8], off: u32) -> RevokedEntry {
    let mut r = Reader {
        buf: der,
        pos: off as usize,
        end: der.len(),
    };
    let _ = r.read();
    let revoked_at = r.read().ok().and_then(|t| time_of(der, t).ok());
    let mut reason = None;
    if let Some(SEQUENCE) = r.peek() {
        if let Ok(exts) = r.read() {
            let _ = for_each_extension::<()>(der, exts, |oid, _, value| {
                if oid == ce(21) {
                    // OCTET STRING holding ENUMERATED (0x0a 0x01 N)
                    let v = &der[value.0..value.1];
                    if v.len() == 3 && v[0] == 0x0a && v[1] == 1 {
                        reason = Some(reason_name(v[2]));
                    }
                }
                Ok(())
            });
        }
    }
    RevokedEntry { revoked_at, reason }
}

fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "Unspecified",
        1 => "KeyCompromise",
        2 => "CaCompromise",
        3 => "AffiliationChanged",
        4 => "Superseded",
        5 => "CessationOfOperation",
        6 => "CertificateHold",
        8 => "RemoveFromCrl",
        9 => "PrivilegeWithdrawn",
        10 => "AaCompromise",
        _ => "Unknown",
    }
}

/// The keyIdentifier of an AuthorityKeyIdentifier extension value.
fn key_identifier(v: &[u8]) -> Option<Vec<u8>> {
    let mut r = Reader::new(v);
    let seq = r.expect(SEQUENCE, "").ok()?;
    let mut s = Reader::inside(v, seq);
    let first = s.read().ok()?;
    (first.tag == 0x80).then(|| contents(v, first).to_vec())
}

/// URIs of every fullName in a GeneralNames body.
fn uris_of(buf: &[u8], names: Tlv) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut r = Reader::inside(buf, names);
    while let Ok(n) = r.read() {
        if n.tag == 0x86 {
            out.push(contents(buf, n).to_vec());
        }
    }
    out
}

/// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0], onlyContainsUserCerts [1],
/// onlyContainsCACerts [2], onlySomeReasons [3], indirectCRL [4], onlyContainsAttributeCerts [5] }
fn parse_idp(v: &[u8]) -> Result<Scope, &'static str> {
    let mut r = Reader::new(v);
    let seq = r.expect(SEQUENCE, "bad issuingDistributionPoint")?;
    let mut s = Reader::inside(v, seq);
    let mut scope = Scope {
        present: true,
        ..Scope::default()
    };
    while !s.at_end() {
        let f = s.read()?;
        match f.tag {
            0xa0 => {
                let mut d = Reader::inside(v, f);
                let name = d.read()?;
                // fullName [0] GeneralNames; nameRelativeToCRLIssuer [1] matches no URI.
                if name.tag == 0xa0 {
                    scope.uris = uris_of(v, name);
                }
            }
            0x81 => scope.only_user = contents(v, f) == [0xff],
            0x82 => scope.only_ca = contents(v, f) == [0xff],
            0x83 => return Err("a CRL partitioned by revocation reason (onlySomeReasons)"),
            0x84 => return Err("an indirect CRL (indirectCRL)"),
            0x85 => return Err("a CRL of attribute certificates"),
            _ => return Err("bad issuingDistributionPoint"),
        }
    }
    Ok(scope)
}

/// The cRLDistributionPoints of a certificate as lists of fullName URIs (points naming a
/// cRLIssuer or reasons are left out, as webpki does); None without the extension.
fn crl_distribution_points(cert: &[u8]) -> Option<Vec<Vec<Vec<u8>>>> {
    use der::Decode;
    let c = x509_cert::Certificate::from_der(cert).ok()?;
    let ext = c
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS)?;
    let v = ext.extn_value.as_bytes();
    let mut out = Vec::new();
    let mut r = Reader::new(v);
    let seq = r.expect(SEQUENCE, "").ok()?;
    let mut points = Reader::inside(v, seq);
    while let Ok(p) = points.read() {
        let mut pr = Reader::inside(v, p);
        let mut uris = Vec::new();
        let mut plain = true;
        while let Ok(f) = pr.read() {
            match f.tag {
                0xa0 => {
                    let mut d = Reader::inside(v, f);
                    if let Ok(name) = d.read() {
                        if name.tag == 0xa0 {
                            uris = uris_of(v, name);
                        }
                    }
                }
                _ => plain = false,
            }
        }
        if plain {
            out.push(uris);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa, KeyIdMethod,
        KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
    };

    fn ca() -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Unit CA");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        (p.self_signed(&key).unwrap(), key)
    }

    fn crl_der(ca: &(rcgen::Certificate, KeyPair), serials: &[u64]) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now,
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&ca.0, &ca.1)
        .unwrap()
        .der()
        .to_vec()
    }

    /// DER INTEGER contents of `n` as a certificate carries it.
    fn serial(n: u64) -> Vec<u8> {
        let b = n.to_be_bytes();
        let first = b.iter().position(|x| *x != 0).unwrap_or(7);
        let mut v = b[first..].to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        v
    }

    #[test]
    fn entries_are_found_whatever_their_order_in_the_crl() {
        let ca = ca();
        let serials = [5u64, 3, 0x0100, 1, 0xffff_ffff, 0x80];
        let crl = Crl::parse(Path::new("t.crl"), crl_der(&ca, &serials)).unwrap();
        assert_eq!(crl.len(), serials.len());
        for s in serials {
            let e = crl
                .find(&serial(s))
                .unwrap_or_else(|| panic!("serial {s:#x}"));
            assert_eq!(e.reason, Some("KeyCompromise"));
            assert!(e.revoked_at.is_some());
        }
        for s in [2u64, 4, 0x0101, 0x7f] {
            assert!(crl.find(&serial(s)).is_none(), "{s:#x}");
        }
        assert!(crl.issuer_display.contains("CN=Unit CA"));
    }

    #[test]
    fn damaged_crls_are_refused_with_a_reason() {
        let ca = ca();
        let der = crl_der(&ca, &[1, 2]);
        for cut in [1, 10, der.len() / 2, der.len() - 1] {
            assert!(
                matches!(
                    Crl::parse(Path::new("t"), der[..cut].to_vec()),
                    Err(CrlError::Malformed(_))
                ),
                "cut at {cut}"
            );
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(Crl::parse(Path::new("t"), trailing).is_err());
    }

    #[test]
    fn the_signature_is_checked_against_the_issuer_key_and_remembered() {
        let (ca, other) = (self::tests::ca(), self::tests::ca());
        let algs = rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .all;
        let crl = Crl::parse(Path::new("t"), crl_der(&ca, &[1])).unwrap();
        let spki = |c: &rcgen::Certificate| {
            webpki::EndEntityCert::try_from(c.der())
                .unwrap()
                .subject_public_key_info()
                .as_ref()
                .to_vec()
        };
        assert_eq!(crl.verify_with(&spki(&ca.0), || true, algs), SigState::Good);
        assert_eq!(
            crl.verify_with(&spki(&other.0), || true, algs),
            SigState::Bad
        );
        assert_eq!(
            crl.verified.read().unwrap().len(),
            2,
            "both answers remembered"
        );
        // Remembered: the key-usage closure is not asked again.
        assert_eq!(
            crl.verify_with(&spki(&ca.0), || panic!("verified twice"), algs),
            SigState::Good
        );
    }

    #[test]
    fn pem_bundles_yield_every_crl_block_and_skip_others() {
        let ca = ca();
        let b64 = |d: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(d)
        };
        let a = crl_der(&ca, &[1]);
        let b = crl_der(&ca, &[2, 3]);
        let text = format!(
            "junk\n-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN X509 CRL-----\r\n{}\r\n-----END X509 CRL-----\n",
            b64(&a),
            b64(&b)
        );
        assert_eq!(pem_crls(text.as_bytes()).unwrap(), vec![a, b]);
        assert!(pem_crls(b"-----BEGIN X509 CRL-----\nAAAA").is_err());
    }
}
