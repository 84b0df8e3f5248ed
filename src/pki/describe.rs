//! Everything `certgate inspect` shows about one certificate, read from its DER: names,
//! serial, validity, SANs, fingerprint, key type and size, usages. PURE given a clock value.

use crate::pki::identity::{IdentityError, PeerIdentity};
use const_oid::ObjectIdentifier;
use der::Decode;
use rustls_pki_types::CertificateDer;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::Certificate;

/// The public key of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`, or the algorithm's name/OID.
    pub algorithm: String,
    /// Key size in bits (RSA modulus, curve size), when known.
    pub bits: Option<u32>,
    /// `P-256`, `P-384`, `P-521`, `secp256k1` or the curve OID, for EC keys.
    pub curve: Option<String>,
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.curve, self.bits) {
            (Some(c), _) => write!(f, "{} {c}", self.algorithm),
            (None, Some(b)) if self.algorithm.starts_with("RSA") => {
                write!(f, "{} {b} bits", self.algorithm)
            }
            _ => f.write_str(&self.algorithm),
        }
    }
}

/// Everything `inspect` prints about one certificate. PURE: built from DER and a clock value.
#[derive(Debug, Clone)]
pub struct CertReport {
    pub identity: PeerIdentity,
    pub subject_slash: String,
    pub issuer_slash: String,
    pub not_before_rfc3339: String,
    /// Whole days from `now` to notAfter, rounded down (negative once expired).
    pub days_left: i64,
    pub expired: bool,
    pub not_yet_valid: bool,
    /// Seconds from `now` to notAfter (negative once expired).
    pub seconds_left: i64,
    pub san_ip: Vec<String>,
    pub key: KeyInfo,
    pub signature_algorithm: String,
    /// `None`: no keyUsage extension.
    pub key_usage: Option<Vec<&'static str>>,
    /// `None`: no extendedKeyUsage extension (any purpose, as webpki reads it).
    pub extended_key_usage: Option<Vec<String>>,
    pub is_ca: bool,
    pub path_len: Option<u8>,
    /// `--allow` rule values (without `ROUTE=`), each checked to match this certificate.
    pub allow_rules: Vec<String>,
    /// Why an expected rule is missing (e.g. an empty subject).
    pub rule_notes: Vec<String>,
    pub warnings: Vec<String>,
}

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_ED448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.113");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
/// id-kp-clientAuth
pub const OID_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Extended key usage names as OpenSSL prints them in `-purpose` style short form.
const EKU_NAMES: &[(ObjectIdentifier, &str)] = &[
    (
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1"),
        "serverAuth",
    ),
    (OID_CLIENT_AUTH, "clientAuth"),
    (
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3"),
        "codeSigning",
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4"),
        "emailProtection",
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8"),
        "timeStamping",
    ),
    (
        ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9"),
        "OCSPSigning",
    ),
    (
        ObjectIdentifier::new_unwrap("2.5.29.37.0"),
        "anyExtendedKeyUsage",
    ),
];

fn eku_name(oid: &ObjectIdentifier) -> String {
    EKU_NAMES
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| oid.to_string())
}

fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ]
    .into_iter()
    .filter(|(flag, _)| ku.0.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

/// Bits of an RSAPublicKey's modulus.
fn rsa_bits(key: &[u8]) -> Option<u32> {
    use der::Reader;
    let mut r = der::SliceReader::new(key).ok()?;
    r.sequence(|r| {
        let n = der::asn1::UintRef::decode(r)?;
        let _e = der::asn1::UintRef::decode(r)?;
        Ok(n.as_bytes()
            .first()
            .map(|&first| (n.as_bytes().len() as u32 - 1) * 8 + (8 - first.leading_zeros())))
    })
    .ok()
    .flatten()
}

fn key_info(cert: &Certificate) -> KeyInfo {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    let oid = spki.algorithm.oid;
    let raw = spki.subject_public_key.raw_bytes();
    let named = |algorithm: &str, bits: Option<u32>| KeyInfo {
        algorithm: algorithm.to_string(),
        bits,
        curve: None,
    };
    if oid == OID_RSA || oid == OID_RSA_PSS {
        named(
            if oid == OID_RSA { "RSA" } else { "RSA-PSS" },
            rsa_bits(raw),
        )
    } else if oid == OID_EC {
        let curve_oid = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let (curve, bits) = match curve_oid {
            Some(c) if c == OID_P256 => ("P-256".to_string(), Some(256)),
            Some(c) if c == OID_P384 => ("P-384".to_string(), Some(384)),
            Some(c) if c == OID_P521 => ("P-521".to_string(), Some(521)),
            Some(c) if c == OID_SECP256K1 => ("secp256k1".to_string(), Some(256)),
            Some(c) => (c.to_string(), None),
            None => ("unnamed curve".to_string(), None),
        };
        KeyInfo {
            algorithm: "EC".into(),
            bits,
            curve: Some(curve),
        }
    } else if oid == OID_ED25519 {
        named("Ed25519", Some(256))
    } else if oid == OID_ED448 {
        named("Ed448", Some(456))
    } else {
        named(&oid_name(&oid), None)
    }
}

fn oid_name(oid: &ObjectIdentifier) -> String {
    if *oid == OID_ED25519 {
        return "Ed25519".into();
    }
    if *oid == OID_ED448 {
        return "Ed448".into();
    }
    const_oid::db::DB
        .by_oid(oid)
        .map(str::to_string)
        .unwrap_or_else(|| oid.to_string())
}

/// The public key of the certificate `der`, if it parses.
pub fn key_of(der: &CertificateDer<'_>) -> Option<KeyInfo> {
    Certificate::from_der(der.as_ref())
        .ok()
        .map(|c| key_info(&c))
}

/// A signature algorithm in words, from the DER of an AlgorithmIdentifier's contents (its
/// OID, then any parameters), as webpki reports an unsupported one: a weak hash is named
/// first, e.g. `SHA-1 (sha1WithRSAEncryption)`.
pub fn signature_algorithm_name(alg_id: &[u8]) -> String {
    let oid = match alg_id {
        [0x06, len, ..] if alg_id.len() >= 2 + usize::from(*len) => {
            ObjectIdentifier::from_der(&alg_id[..2 + usize::from(*len)]).ok()
        }
        _ => None,
    };
    let Some(oid) = oid else {
        return "an unknown algorithm".into();
    };
    let name = oid_name(&oid);
    let lower = name.to_ascii_lowercase();
    let weak = [
        ("sha1", "SHA-1"),
        ("sha-1", "SHA-1"),
        ("md5", "MD5"),
        ("md2", "MD2"),
    ]
    .into_iter()
    .find(|(needle, _)| lower.contains(needle));
    match weak {
        Some((_, hash)) => format!("{hash} ({name})"),
        None if name == oid.to_string() => format!("the algorithm with OID {name}"),
        None => name,
    }
}

/// `AB:CD:..` from lowercase hex.
pub fn colon_upper(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Describe one DER certificate as of `now` (unix seconds); `allow_rules` holds candidate
/// rules, not yet checked (see `tools::inspect::describe`).
pub fn describe_unchecked(der: &CertificateDer<'_>, now: i64) -> Result<CertReport, IdentityError> {
    let identity = PeerIdentity::from_chain(der, &[])?;
    let cert = Certificate::from_der(der.as_ref())?;
    let tbs = &cert.tbs_certificate;

    let mut san_ip = Vec::new();
    if let Some((_, SubjectAltName(names))) = tbs.get::<SubjectAltName>()? {
        for n in names {
            if let GeneralName::IpAddress(o) = n {
                let b = o.as_bytes();
                let ip = match b.len() {
                    4 => <[u8; 4]>::try_from(b)
                        .map(|a| std::net::IpAddr::from(a).to_string())
                        .ok(),
                    16 => <[u8; 16]>::try_from(b)
                        .map(|a| std::net::IpAddr::from(a).to_string())
                        .ok(),
                    _ => None,
                };
                san_ip.push(ip.unwrap_or_else(|| format!("#{}", crate::pki::identity::hex(b))));
            }
        }
    }
    let key_usage = tbs.get::<KeyUsage>()?.map(|(_, ku)| key_usage_names(&ku));
    let extended_key_usage = tbs
        .get::<ExtendedKeyUsage>()?
        .map(|(_, eku)| eku.0.iter().map(eku_name).collect::<Vec<_>>());
    let (is_ca, path_len) = match tbs.get::<BasicConstraints>()? {
        Some((_, bc)) => (bc.ca, bc.path_len_constraint),
        None => (false, None),
    };

    let seconds_left = identity.not_after_unix.saturating_sub(now);
    let expired = seconds_left < 0;
    let not_yet_valid = now < identity.not_before_unix;

    // Rules: each is parsed back and matched, so what is printed is what allows this certificate.
    let mut candidates: Vec<String> = Vec::new();
    let mut rule_notes = Vec::new();
    if is_ca {
        candidates.push(format!("issuer:{}", identity.subject_rfc4514));
        rule_notes.push(
            "a CA certificate is refused as a client certificate; the issuer: rule above allows the client certificates this CA issues directly (give the CA itself to --trust or --intermediates)".into(),
        );
    } else {
        if identity.subject.rdns().is_empty() {
            rule_notes.push("empty subject: no subject: rule; use a SAN or the fingerprint".into());
        } else {
            candidates.push(format!("subject:{}", identity.subject_rfc4514));
        }
        candidates.push(format!("fingerprint:{}", identity.fingerprint_hex));
        candidates.extend(identity.san_dns.iter().map(|v| format!("san-dns:{v}")));
        candidates.extend(identity.san_uri.iter().map(|v| format!("san-uri:{v}")));
        candidates.extend(identity.san_email.iter().map(|v| format!("san-email:{v}")));
    }
    // Candidates only: `tools::inspect::describe` keeps those that parse back as rules
    // matching this certificate.
    let allow_rules = candidates;

    let mut warnings = Vec::new();
    if is_ca {
        warnings.push(
            "CA certificate (basicConstraints CA:TRUE): certgate refuses it as a client certificate".into(),
        );
    }
    if let Some(ekus) = &extended_key_usage {
        if !ekus.iter().any(|e| e == "clientAuth") {
            warnings.push(format!(
                "extended key usage [{}] lacks clientAuth: certgate refuses it as a client certificate (wrong key usage)",
                ekus.join(", ")
            ));
        }
    }
    if expired {
        warnings.push(format!("EXPIRED since {}", identity.not_after_rfc3339));
    }
    if not_yet_valid {
        warnings.push(format!(
            "not valid before {}",
            crate::pki::identity::rfc3339(&tbs.validity.not_before)
        ));
    }
    if !is_ca && identity.subject == identity.issuer {
        warnings.push(
            "self-signed (issuer = subject): certgate accepts it only if this same certificate is given to --trust".into(),
        );
    }

    Ok(CertReport {
        subject_slash: identity.subject.to_slash(),
        issuer_slash: identity.issuer.to_slash(),
        not_before_rfc3339: crate::pki::identity::rfc3339(&tbs.validity.not_before),
        days_left: seconds_left.div_euclid(86_400),
        expired,
        not_yet_valid,
        seconds_left,
        san_ip,
        key: key_info(&cert),
        signature_algorithm: oid_name(&cert.signature_algorithm.oid),
        key_usage,
        extended_key_usage,
        is_ca,
        path_len,
        allow_rules,
        rule_notes,
        warnings,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_size_is_read_from_the_modulus() {
        // A 2048-bit modulus whose top byte is 0xc5, with the DER sign byte.
        let mut modulus = vec![0x00, 0xc5];
        modulus.extend(std::iter::repeat_n(0x11, 255));
        let mut key = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01];
        key.extend(&modulus);
        key.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(rsa_bits(&key), Some(2048));
        assert_eq!(rsa_bits(&[0x30, 0x00]), None);
    }
}
