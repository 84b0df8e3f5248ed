//! What the verifier refuses beyond the path rules, in words: a leaf key the handshake cannot
//! use (the CertificateVerify signature would fail), and name constraints of forms that webpki
//! does not evaluate and fails closed on (URI, email, directory names). `TrustStore::verify_path`
//! calls these, so `run`, the open-connection re-check and `check` say the same.

use super::der_walk::{contents, split_spki, Reader, INTEGER, SEQUENCE};
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm};
use webpki::EndEntityCert;

/// `rsaEncryption` (1.2.840.113549.1.1.1) as DER OID contents.
const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey` (1.2.840.10045.2.1).
const EC_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// The key sizes of the RSA algorithms of rustls' aws-lc-rs provider (`RSA_*_2048_8192_*`).
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;
const ACCEPTED: &str = "RSA 2048 to 8192 bits, ECDSA P-256, P-384 or P-521, Ed25519";

/// SHA-256 of `data`, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a leaf's key is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The SubjectPublicKeyInfo does not parse.
    Malformed,
    /// No signature algorithm of the handshake takes this key; the words say which key.
    Unsupported(String),
}

/// Refuse a leaf whose key no signature algorithm of the handshake accepts.
pub fn leaf_key_usable(
    ee: &EndEntityCert<'_>,
    algs: &[&dyn SignatureVerificationAlgorithm],
) -> Result<(), KeyRefusal> {
    let spki = ee.subject_public_key_info();
    let Some((alg, key)) = split_spki(spki.as_ref()) else {
        return Err(KeyRefusal::Malformed);
    };
    let refuse = |what: String| {
        KeyRefusal::Unsupported(format!(
            "client certificate key {what} cannot sign a TLS handshake that certgate verifies (accepted: {ACCEPTED}); the sender needs a certificate with such a key"
        ))
    };
    if !algs.iter().any(|a| a.public_key_alg_id().as_ref() == alg) {
        return Err(refuse(describe_key_alg(alg)));
    }
    if oid_of(alg) == Some(RSA_OID) {
        let bits = rsa_bits(key).ok_or(KeyRefusal::Malformed)?;
        if !RSA_BITS.contains(&bits) {
            return Err(refuse(format!("RSA {bits} bits")));
        }
    }
    Ok(())
}

/// The OID contents at the start of AlgorithmIdentifier contents.
fn oid_of(alg: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(alg);
    let t = r.read().ok()?;
    (t.tag == 0x06).then(|| contents(alg, t))
}

fn oid_name(oid: &[u8]) -> String {
    match const_oid::ObjectIdentifier::from_bytes(oid) {
        Ok(o) => match const_oid::db::DB.by_oid(&o) {
            Some(name) => format!("{name} ({o})"),
            None => o.to_string(),
        },
        Err(_) => "(bad OID)".into(),
    }
}

/// "EC prime192v1 (P-192)", "Ed448", ... for an AlgorithmIdentifier's contents.
fn describe_key_alg(alg: &[u8]) -> String {
    let Some(oid) = oid_of(alg) else {
        return "(unreadable key algorithm)".into();
    };
    if oid == EC_OID {
        let mut r = Reader::new(alg);
        let _ = r.read();
        let curve = r.read().ok().filter(|t| t.tag == 0x06);
        return match curve.map(|t| contents(alg, t)) {
            Some([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x01]) => {
                "EC prime192v1 (P-192)".into()
            }
            Some([0x2b, 0x81, 0x04, 0x00, 0x21]) => "EC secp224r1 (P-224)".into(),
            Some(c) => format!("EC curve {}", oid_name(c)),
            None => "EC with explicit curve parameters".into(),
        };
    }
    oid_name(oid)
}

/// Modulus size of an RSAPublicKey.
fn rsa_bits(key: &[u8]) -> Option<usize> {
    let mut r = Reader::new(key);
    let seq = r.expect(SEQUENCE, "").ok()?;
    let mut s = Reader::inside(key, seq);
    let n = s.expect(INTEGER, "").ok()?;
    let n = contents(key, n);
    let n = &n[n.iter().position(|b| *b != 0)?..];
    Some(n.len() * 8 - n[0].leading_zeros() as usize)
}

// ---------------------------------------------------------------------------------------
// Name constraints
// ---------------------------------------------------------------------------------------

/// One name-constraint entry of a CA: `permitted`/`excluded`, the form and its value.
struct Constraint {
    ca: String,
    kind: &'static str,
    form: &'static str,
    value: String,
}

/// Why webpki refused the chain with NameConstraintViolation: the constraint of a CA on the
/// leaf's issuer path whose form it does not evaluate, or else the constraints that exclude
/// the leaf. `cas` are the intermediates (sent and configured) and the bundle's anchors.
pub fn explain_name_constraints(
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[&CertificateDer<'_>],
) -> String {
    use der::Decode;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{NameConstraints, SubjectAltName};
    let parse = |d: &[u8]| x509_cert::Certificate::from_der(d).ok();
    let Some(leaf) = parse(leaf.as_ref()) else {
        return "name constraint violation".into();
    };
    let ext_of = |c: &x509_cert::Certificate, oid| {
        c.tbs_certificate
            .extensions
            .as_ref()
            .and_then(|e| e.iter().find(|e| e.extn_id == oid))
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let sans: Vec<GeneralName> = ext_of(&leaf, const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)
        .and_then(|v| SubjectAltName::from_der(&v).ok())
        .map(|s| s.0)
        .unwrap_or_default();
    let leaf_names = |form: &str| -> Vec<String> {
        sans.iter()
            .filter_map(|n| match (form, n) {
                ("URI", GeneralName::UniformResourceIdentifier(u)) => Some(u.to_string()),
                ("email", GeneralName::Rfc822Name(e)) => Some(e.to_string()),
                ("DNS", GeneralName::DnsName(d)) => Some(d.to_string()),
                _ => None,
            })
            .collect()
    };
    // The CAs above the leaf, by issuer name (the path webpki tried).
    let pool: Vec<x509_cert::Certificate> = intermediates
        .iter()
        .map(|c| c.as_ref())
        .chain(anchors.iter().map(|c| c.as_ref()))
        .filter_map(parse)
        .collect();
    let mut path = Vec::new();
    let mut issuer = leaf.tbs_certificate.issuer.clone();
    for _ in 0..8 {
        let Some(ca) = pool.iter().find(|c| c.tbs_certificate.subject == issuer) else {
            break;
        };
        path.push(ca);
        if ca.tbs_certificate.issuer == ca.tbs_certificate.subject {
            break;
        }
        issuer = ca.tbs_certificate.issuer.clone();
    }
    let mut all = Vec::new();
    for ca in &path {
        let Some(nc) = ext_of(ca, const_oid::db::rfc5280::ID_CE_NAME_CONSTRAINTS)
            .and_then(|v| NameConstraints::from_der(&v).ok())
        else {
            continue;
        };
        let name = crate::pki::dn::Dn::from_name(&ca.tbs_certificate.subject).to_rfc4514();
        for (kind, trees) in [
            ("permitted", nc.permitted_subtrees),
            ("excluded", nc.excluded_subtrees),
        ] {
            for t in trees.unwrap_or_default() {
                let (form, value) = match &t.base {
                    GeneralName::UniformResourceIdentifier(u) => ("URI", u.to_string()),
                    GeneralName::Rfc822Name(e) => ("email", e.to_string()),
                    GeneralName::DnsName(d) => ("DNS", d.to_string()),
                    GeneralName::IpAddress(ip) => ("IP", format!("{:02x?}", ip.as_bytes())),
                    GeneralName::DirectoryName(n) => {
                        ("dirName", crate::pki::dn::Dn::from_name(n).to_rfc4514())
                    }
                    _ => ("otherName", String::new()),
                };
                all.push(Constraint {
                    ca: name.clone(),
                    kind,
                    form,
                    value,
                });
            }
        }
    }
    for c in &all {
        let names = match c.form {
            "URI" | "email" => leaf_names(c.form),
            "dirName" | "otherName" => {
                vec![crate::pki::dn::Dn::from_name(&leaf.tbs_certificate.subject).to_rfc4514()]
            }
            _ => continue,
        };
        if let Some(n) = names.first() {
            return format!(
                "name constraint of CA {} not evaluated: it constrains {} names ({} {}:{}) and the leaf has the {} name {n}; certgate's verifier (webpki) does not evaluate {} name constraints and refuses every chain they apply to, even when the name is inside the constraint: a known limit of the verifier (openssl verify accepts such a chain). Ask the CA for an intermediate without {} name constraints (DNS and IP constraints are evaluated)",
                c.ca, c.form, c.kind, c.form, c.value, c.form, c.form, c.form
            );
        }
    }
    let listed: Vec<String> = all
        .iter()
        .map(|c| format!("{} {} {}:{}", c.ca, c.kind, c.form, c.value))
        .collect();
    if listed.is_empty() {
        "name constraint violation: a CA's name constraints exclude the leaf's names".into()
    } else {
        format!(
            "name constraint violation: the leaf's names ({}) are outside the name constraints [{}]",
            leaf_names("DNS").join(", "),
            listed.join("; ")
        )
    }
}
