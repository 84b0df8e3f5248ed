//! The verified peer's identity, computed once per TLS connection from the leaf
//! certificate (parsed with x509-cert). PURE: no I/O.

use crate::pki::dn::Dn;
use der::Decode;
use rustls_pki_types::CertificateDer;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::time::Time;
use x509_cert::Certificate;

/// Everything certgate knows about a client certificate, precomputed so that requests
/// only read it.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    pub subject: Dn,
    pub issuer: Dn,
    /// `subject.to_rfc4514()`
    pub subject_rfc4514: String,
    pub issuer_rfc4514: String,
    /// SHA-256 of the leaf DER.
    pub fingerprint: [u8; 32],
    /// lowercase hex, no colons
    pub fingerprint_hex: String,
    /// lowercase hex of the serial's magnitude bytes, no leading zero byte kept beyond one digit pair.
    pub serial_hex: String,
    pub not_before_unix: i64,
    pub not_after_unix: i64,
    /// RFC 3339 UTC, seconds precision, `Z` suffix.
    pub not_after_rfc3339: String,
    pub san_dns: Vec<String>,
    pub san_uri: Vec<String>,
    pub san_email: Vec<String>,
    pub leaf_der: CertificateDer<'static>,
    /// Certificates the client sent after the leaf, in order.
    pub chain_der: Vec<CertificateDer<'static>>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("client certificate is not valid DER X.509: {0}")]
    Parse(#[from] der::Error),
    /// See `Dn::types_are_der`: refused rather than printed as another attribute type.
    #[error("client certificate's {field} has an attribute type whose OID is not DER-encoded (a padded or oversized arc): refused")]
    NonDerName { field: &'static str },
}

impl PeerIdentity {
    pub fn from_chain(
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
    ) -> Result<PeerIdentity, IdentityError> {
        let cert = Certificate::from_der(leaf.as_ref())?;
        let tbs = &cert.tbs_certificate;
        let subject = Dn::from_name(&tbs.subject);
        let issuer = Dn::from_name(&tbs.issuer);
        for (field, name) in [("subject", &subject), ("issuer", &issuer)] {
            if !name.types_are_der() {
                return Err(IdentityError::NonDerName { field });
            }
        }
        let fingerprint = sha256(leaf.as_ref());

        let (mut san_dns, mut san_uri, mut san_email) = (Vec::new(), Vec::new(), Vec::new());
        if let Some((_, SubjectAltName(names))) = tbs.get::<SubjectAltName>()? {
            for n in names {
                match n {
                    GeneralName::DnsName(v) => san_dns.push(v.to_string()),
                    GeneralName::UniformResourceIdentifier(v) => san_uri.push(v.to_string()),
                    GeneralName::Rfc822Name(v) => san_email.push(v.to_string()),
                    _ => {}
                }
            }
        }

        // Held for the connection's life: no spare capacity.
        for list in [&mut san_dns, &mut san_uri, &mut san_email] {
            list.shrink_to_fit();
        }
        let tight = |mut s: String| {
            s.shrink_to_fit();
            s
        };
        let not_after = &tbs.validity.not_after;
        Ok(PeerIdentity {
            subject_rfc4514: tight(subject.to_rfc4514()),
            issuer_rfc4514: tight(issuer.to_rfc4514()),
            subject,
            issuer,
            fingerprint,
            fingerprint_hex: tight(hex(&fingerprint)),
            serial_hex: tight(serial_hex(tbs.serial_number.as_bytes())),
            not_before_unix: unix_seconds(&tbs.validity.not_before),
            not_after_unix: unix_seconds(not_after),
            not_after_rfc3339: tight(rfc3339(not_after)),
            san_dns,
            san_uri,
            san_email,
            leaf_der: leaf.clone().into_owned(),
            chain_der: rest.iter().map(|c| c.clone().into_owned()).collect(),
        })
    }
}

/// Lowercase hex of a serial number's DER content octets (two's complement, as encoded).
/// DER prefixes a 0x00 sign byte when the first magnitude byte has its high bit set; that
/// byte is dropped so the result is the magnitude OpenSSL prints (`80ff`, not `0080ff`).
/// Any other leading 0x00 (only a serial of zero, `00`, in DER) is kept, and a
/// non-conforming negative serial is printed as its two's-complement bytes.
pub fn serial_hex(encoded: &[u8]) -> String {
    match encoded {
        [0, next, ..] if next & 0x80 != 0 => hex(&encoded[1..]),
        _ => hex(encoded),
    }
}

fn unix_seconds(t: &Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// `YYYY-MM-DDTHH:MM:SSZ`; X.509 times have whole seconds and are UTC.
pub fn rfc3339(t: &Time) -> String {
    let d = t.to_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    )
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::dn::oids;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn utc(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> time::OffsetDateTime {
        let month = time::Month::try_from(mo).unwrap();
        time::Date::from_calendar_date(y, month, d)
            .unwrap()
            .with_hms(h, mi, s)
            .unwrap()
            .assume_utc()
    }

    fn ca() -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "US");
        p.distinguished_name
            .push(DnType::OrganizationName, "Acme, Inc.");
        p.distinguished_name.push(DnType::CommonName, "Acme Root");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        (p.self_signed(&key).unwrap(), key)
    }

    fn leaf_params() -> CertificateParams {
        let mut p =
            CertificateParams::new(vec!["a.example.com".into(), "b.example.com".into()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "US");
        p.distinguished_name
            .push(DnType::OrganizationName, "DocuSign, Inc.");
        p.distinguished_name
            .push(DnType::CommonName, "demo.docusign.net");
        p.subject_alt_names.push(SanType::URI(
            "spiffe://acme.test/billing".try_into().unwrap(),
        ));
        p.subject_alt_names
            .push(SanType::Rfc822Name("ops@acme.test".try_into().unwrap()));
        p.subject_alt_names
            .push(SanType::DnsName("c.example.com".try_into().unwrap()));
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.not_before = utc(2024, 1, 2, 3, 4, 5);
        p.not_after = utc(2030, 6, 7, 8, 9, 10);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x80, 0x01, 0xab]));
        p
    }

    #[test]
    fn identity_of_a_ca_signed_leaf() {
        let (ca_cert, ca_key) = ca();
        let key = KeyPair::generate().unwrap();
        let leaf = leaf_params().signed_by(&key, &ca_cert, &ca_key).unwrap();
        let id = PeerIdentity::from_chain(leaf.der(), std::slice::from_ref(ca_cert.der())).unwrap();

        assert_eq!(
            id.subject_rfc4514,
            r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US"
        );
        assert_eq!(
            id.subject,
            Dn::parse("/C=US/O=DocuSign, Inc./CN=demo.docusign.net").unwrap()
        );
        assert_eq!(id.issuer_rfc4514, r"CN=Acme Root,O=Acme\, Inc.,C=US");
        assert_eq!(
            id.subject.text_values(&oids::CN).collect::<Vec<_>>(),
            ["demo.docusign.net"]
        );

        let independent =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf.der().as_ref());
        assert_eq!(&id.fingerprint[..], independent.as_ref());
        let hex_indep: String = independent
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(id.fingerprint_hex, hex_indep);
        assert_eq!(id.fingerprint_hex.len(), 64);

        // 0x8001ab is encoded as 00 80 01 ab; the sign byte is dropped.
        assert_eq!(id.serial_hex, "8001ab");

        assert_eq!(
            id.san_dns,
            ["a.example.com", "b.example.com", "c.example.com"]
        );
        assert_eq!(id.san_uri, ["spiffe://acme.test/billing"]);
        assert_eq!(id.san_email, ["ops@acme.test"]);

        assert_eq!(
            id.not_before_unix,
            utc(2024, 1, 2, 3, 4, 5).unix_timestamp()
        );
        assert_eq!(
            id.not_after_unix,
            utc(2030, 6, 7, 8, 9, 10).unix_timestamp()
        );
        assert_eq!(id.not_after_rfc3339, "2030-06-07T08:09:10Z");

        assert_eq!(id.leaf_der.as_ref(), leaf.der().as_ref());
        assert_eq!(id.chain_der.len(), 1);
        assert_eq!(id.chain_der[0].as_ref(), ca_cert.der().as_ref());
    }

    #[test]
    fn self_signed_without_sans_has_empty_lists() {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "solo");
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x01, 0x02]));
        p.not_after = utc(2049, 12, 31, 23, 59, 59);
        let cert = p.clone().self_signed(&key).unwrap();
        let id = PeerIdentity::from_chain(cert.der(), &[]).unwrap();
        assert_eq!(id.subject_rfc4514, "CN=solo");
        assert_eq!(id.subject, id.issuer);
        assert_eq!(id.serial_hex, "0102");
        assert!(id.san_dns.is_empty() && id.san_uri.is_empty() && id.san_email.is_empty());
        assert!(id.chain_der.is_empty());
        assert_eq!(id.not_after_rfc3339, "2049-12-31T23:59:59Z");
        // GeneralizedTime (2050 and later) works the same.
        p.not_after = utc(2051, 1, 1, 0, 0, 0);
        let cert = p.self_signed(&key).unwrap();
        let id = PeerIdentity::from_chain(cert.der(), &[]).unwrap();
        assert_eq!(id.not_after_rfc3339, "2051-01-01T00:00:00Z");
    }

    #[test]
    fn serial_hex_drops_only_the_sign_byte() {
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[0x00, 0x80]), "80");
        assert_eq!(serial_hex(&[0x00, 0xff, 0x00]), "ff00");
        assert_eq!(serial_hex(&[0x7f, 0x00]), "7f00");
        assert_eq!(serial_hex(&[0x01]), "01");
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let bad = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(matches!(
            PeerIdentity::from_chain(&bad, &[]),
            Err(IdentityError::Parse(_))
        ));
    }

    // Found by fuzzing (fuzz/fuzz_targets/identity.rs): an attribute type with an arc past
    // 2^32 (here 2.5.4.(2^32 + 3)) is folded by the OID decoder onto a small one, so the
    // subject header read `2.5.4.3=admin`, which any reader takes for `CN=admin`.
    #[test]
    fn a_name_whose_attribute_type_is_not_der_is_refused() {
        let (ca_cert, ca_key) = ca();
        let key = KeyPair::generate().unwrap();
        let mut p = leaf_params();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CustomDnType(vec![2, 5, 4, (1 << 32) + 3]), "admin");
        let leaf = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        assert!(matches!(
            PeerIdentity::from_chain(leaf.der(), &[]),
            Err(IdentityError::NonDerName { .. })
        ));
    }
}
