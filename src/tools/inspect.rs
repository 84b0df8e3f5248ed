//! `certgate inspect FILE...`: print every certificate in PEM/DER files with its subject in
//! both forms, issuer, serial, validity, SANs, fingerprint, key, usages and ready-to-paste
//! `--allow` rules.
//!
//! The identity fields (names, serial, fingerprint, SANs) come from
//! [`PeerIdentity::from_chain`], the same code `run` uses, and every printed rule is parsed
//! back and matched against the certificate before it is shown, so a pasted rule allows it.
//! PKCS#12 is not read (it needs a password and a KDF): the error says how to convert it.

use crate::config::cli::InspectArgs;
use crate::pki::identity::{IdentityError, PeerIdentity};
use crate::policy::Rule;
use const_oid::ObjectIdentifier;
use der::Decode;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::CertificateDer;
use std::io::Write;
use std::path::Path;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::Certificate;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// The placeholder route name in printed rules.
pub const ROUTE_PLACEHOLDER: &str = "ROUTE";

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

/// One certificate found in a file.
#[derive(Debug, Clone)]
pub struct Found {
    pub file: String,
    pub index: usize,
    pub report: CertReport,
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

/// Wrap `s` in single quotes for a POSIX shell (`'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `AB:CD:..` from lowercase hex.
fn colon_upper(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// Describe one DER certificate as of `now` (unix seconds).
pub fn describe(der: &CertificateDer<'_>, now: i64) -> Result<CertReport, IdentityError> {
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
    let mut allow_rules = Vec::new();
    for c in candidates {
        let usable = match c.parse::<Rule>() {
            Ok(Rule::Issuer(dn)) => dn == identity.subject,
            Ok(r) => r.matches(&identity),
            Err(_) => false,
        };
        if usable {
            allow_rules.push(c);
        } else {
            rule_notes.push(format!(
                "no rule printed for {c:?}: certgate cannot express it as a rule that matches"
            ));
        }
    }

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

fn file_err(path: &Path, problem: impl Into<String>) -> InspectError {
    InspectError::File {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// PFX ::= SEQUENCE { version INTEGER (3), ... }: a cheap look, only to give a better error.
fn looks_like_pkcs12(bytes: &[u8]) -> bool {
    let body = match bytes {
        [0x30, 0x80, rest @ ..] => rest,
        [0x30, l, rest @ ..] if *l < 0x80 => rest,
        [0x30, l, rest @ ..] if (0x81..=0x84).contains(l) => {
            rest.get(usize::from(*l - 0x80)..).unwrap_or_default()
        }
        _ => return false,
    };
    body.starts_with(&[0x02, 0x01, 0x03])
}

/// The certificates in one PEM or DER file, and the labels of PEM blocks that are not
/// certificates (keys, CRLs...).
pub fn read_file(path: &Path) -> Result<(Vec<CertificateDer<'static>>, Vec<String>), InspectError> {
    if path.is_dir() {
        return Err(file_err(
            path,
            "is a directory (give the certificate files themselves)",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    let mut certs = Vec::new();
    let mut skipped = Vec::new();
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
            let (kind, der) = section.map_err(|e| file_err(path, format!("bad PEM: {e}")))?;
            match kind {
                SectionKind::Certificate => certs.push(CertificateDer::from(der)),
                other => skipped.push(format!("{other:?}")),
            }
        }
    } else if looks_like_pkcs12(&bytes) {
        return Err(file_err(
            path,
            "looks like PKCS#12 (.p12/.pfx), which inspect does not read; convert it first: openssl pkcs12 -in FILE -nokeys -out FILE.pem",
        ));
    } else {
        // DER: one certificate, or several concatenated.
        let mut rest: &[u8] = &bytes;
        while !rest.is_empty() {
            let mut reader =
                der::SliceReader::new(rest).map_err(|e| file_err(path, e.to_string()))?;
            let not_cert =
                |e: der::Error| file_err(path, format!("neither PEM nor a DER certificate: {e}"));
            let cert_bytes = der::Reader::tlv_bytes(&mut reader).map_err(not_cert)?;
            Certificate::from_der(cert_bytes).map_err(not_cert)?;
            certs.push(CertificateDer::from(cert_bytes.to_vec()));
            rest = &rest[cert_bytes.len()..];
        }
    }
    if certs.is_empty() {
        let what = if skipped.is_empty() {
            String::new()
        } else {
            format!(" (only: {})", skipped.join(", "))
        };
        return Err(file_err(path, format!("holds no certificate{what}")));
    }
    Ok((certs, skipped))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Exit code 0, or an error (exit code 2).
pub fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<(), InspectError> {
    let now = now_unix();
    // Read everything first: a bad file fails the whole command before anything is printed,
    // so `--json` output is never a partial array.
    let mut found = Vec::new();
    let mut skipped_notes = Vec::new();
    for path in &args.files {
        let (certs, skipped) = read_file(path)?;
        let file = path.display().to_string();
        for (index, der) in certs.iter().enumerate() {
            let report = describe(der, now)
                .map_err(|e| file_err(path, format!("certificate {index}: {e}")))?;
            found.push(Found {
                file: file.clone(),
                index,
                report,
            });
        }
        if !skipped.is_empty() {
            skipped_notes.push(format!(
                "note: {file}: skipped PEM blocks that are not certificates: {}",
                skipped.join(", ")
            ));
        }
    }
    let written = (|| -> std::io::Result<()> {
        if args.json {
            writeln!(out, "{}", to_json(&found))?;
        } else {
            for (i, f) in found.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                write_text(out, f)?;
            }
            for n in &skipped_notes {
                writeln!(out, "\n{n}")?;
            }
        }
        out.flush()
    })();
    match written {
        // `certgate inspect f.pem | head` is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn validity_text(r: &CertReport) -> String {
    if r.expired {
        let days = (-r.seconds_left) / 86_400;
        if days == 0 {
            "EXPIRED less than a day ago".into()
        } else {
            format!("EXPIRED {days} day{} ago", if days == 1 { "" } else { "s" })
        }
    } else if r.not_yet_valid {
        "NOT YET VALID".into()
    } else {
        format!(
            "{} day{} left",
            r.days_left,
            if r.days_left == 1 { "" } else { "s" }
        )
    }
}

fn write_text(out: &mut dyn Write, f: &Found) -> std::io::Result<()> {
    let r = &f.report;
    let id = &r.identity;
    let line =
        |out: &mut dyn Write, label: &str, value: &str| writeln!(out, "  {label:<20}{value}");
    writeln!(out, "{} [{}]", f.file, f.index)?;
    line(out, "subject:", &id.subject_rfc4514)?;
    line(out, "subject (OpenSSL):", &r.subject_slash)?;
    line(out, "issuer:", &id.issuer_rfc4514)?;
    line(out, "issuer (OpenSSL):", &r.issuer_slash)?;
    line(out, "serial:", &id.serial_hex)?;
    line(out, "not before:", &r.not_before_rfc3339)?;
    line(
        out,
        "not after:",
        &format!("{} ({})", id.not_after_rfc3339, validity_text(r)),
    )?;
    for (label, values) in [
        ("SAN DNS:", &id.san_dns),
        ("SAN URI:", &id.san_uri),
        ("SAN email:", &id.san_email),
        ("SAN IP:", &r.san_ip),
    ] {
        if !values.is_empty() {
            line(out, label, &values.join(", "))?;
        }
    }
    if id.san_dns.is_empty()
        && id.san_uri.is_empty()
        && id.san_email.is_empty()
        && r.san_ip.is_empty()
    {
        line(out, "SANs:", "none")?;
    }
    line(out, "SHA-256:", &id.fingerprint_hex)?;
    line(out, "SHA-256 (colons):", &colon_upper(&id.fingerprint_hex))?;
    line(out, "key:", &r.key.to_string())?;
    line(out, "signature:", &r.signature_algorithm)?;
    line(
        out,
        "key usage:",
        &match &r.key_usage {
            Some(v) if !v.is_empty() => v.join(", "),
            Some(_) => "(empty)".into(),
            None => "(no extension)".into(),
        },
    )?;
    line(
        out,
        "extended key usage:",
        &match &r.extended_key_usage {
            Some(v) if !v.is_empty() => v.join(", "),
            Some(_) => "(empty)".into(),
            None => "(no extension: any purpose)".into(),
        },
    )?;
    line(
        out,
        "CA:",
        &match (r.is_ca, r.path_len) {
            (true, Some(n)) => format!("yes (path length {n})"),
            (true, None) => "yes".into(),
            (false, _) => "no".into(),
        },
    )?;
    for w in &r.warnings {
        writeln!(out, "  WARNING: {w}")?;
    }
    if !r.allow_rules.is_empty() {
        writeln!(
            out,
            "  --allow rules (replace {ROUTE_PLACEHOLDER} with your route name):"
        )?;
        for rule in &r.allow_rules {
            writeln!(
                out,
                "    --allow {}",
                shell_quote(&format!("{ROUTE_PLACEHOLDER}={rule}"))
            )?;
        }
    }
    for n in &r.rule_notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// JSON, by hand: a handful of string, number, bool and array fields.
// ---------------------------------------------------------------------------------------

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_strings<S: AsRef<str>>(v: &[S]) -> String {
    let items: Vec<String> = v.iter().map(|s| json_string(s.as_ref())).collect();
    format!("[{}]", items.join(","))
}

fn json_opt_strings<S: AsRef<str>>(v: &Option<Vec<S>>) -> String {
    match v {
        Some(v) => json_strings(v),
        None => "null".into(),
    }
}

fn json_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |x| x.to_string())
}

fn json_object(fields: &[(&str, String)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json_string(k)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// The `--json` output: an array with one object per certificate.
pub fn to_json(found: &[Found]) -> String {
    let items: Vec<String> = found
        .iter()
        .map(|f| {
            let r = &f.report;
            let id = &r.identity;
            json_object(&[
                ("file", json_string(&f.file)),
                ("index", f.index.to_string()),
                ("subject", json_string(&id.subject_rfc4514)),
                ("subject_openssl", json_string(&r.subject_slash)),
                ("issuer", json_string(&id.issuer_rfc4514)),
                ("issuer_openssl", json_string(&r.issuer_slash)),
                ("serial", json_string(&id.serial_hex)),
                ("not_before", json_string(&r.not_before_rfc3339)),
                ("not_after", json_string(&id.not_after_rfc3339)),
                ("days_left", r.days_left.to_string()),
                ("expired", r.expired.to_string()),
                ("not_yet_valid", r.not_yet_valid.to_string()),
                (
                    "san",
                    json_object(&[
                        ("dns", json_strings(&id.san_dns)),
                        ("uri", json_strings(&id.san_uri)),
                        ("email", json_strings(&id.san_email)),
                        ("ip", json_strings(&r.san_ip)),
                    ]),
                ),
                ("sha256", json_string(&id.fingerprint_hex)),
                (
                    "sha256_colons",
                    json_string(&colon_upper(&id.fingerprint_hex)),
                ),
                (
                    "key",
                    json_object(&[
                        ("algorithm", json_string(&r.key.algorithm)),
                        ("bits", json_opt(r.key.bits)),
                        ("curve", json_opt(r.key.curve.as_deref().map(json_string))),
                    ]),
                ),
                ("signature_algorithm", json_string(&r.signature_algorithm)),
                ("key_usage", json_opt_strings(&r.key_usage)),
                (
                    "extended_key_usage",
                    json_opt_strings(&r.extended_key_usage),
                ),
                ("ca", r.is_ca.to_string()),
                ("path_len", json_opt(r.path_len)),
                ("allow_rules", json_strings(&r.allow_rules)),
                ("rule_notes", json_strings(&r.rule_notes)),
                ("warnings", json_strings(&r.warnings)),
            ])
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };

    fn leaf(
        alg: &'static rcgen::SignatureAlgorithm,
        eku: Vec<ExtendedKeyUsagePurpose>,
    ) -> rcgen::Certificate {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut p = CertificateParams::new(vec!["svc.example.com".into()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CountryName, "US");
        p.distinguished_name
            .push(DnType::OrganizationName, "O'Brien, Inc.");
        p.distinguished_name.push(DnType::CommonName, "svc");
        p.subject_alt_names
            .push(SanType::IpAddress("::1".parse().unwrap()));
        p.subject_alt_names
            .push(SanType::URI("spiffe://acme.test/svc".try_into().unwrap()));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = eku;
        p.self_signed(&key).unwrap()
    }

    #[test]
    fn describes_an_ec_client_certificate() {
        let c = leaf(
            &rcgen::PKCS_ECDSA_P256_SHA256,
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        );
        let r = describe(c.der(), 0).unwrap();
        assert_eq!(r.identity.subject_rfc4514, r"CN=svc,O=O'Brien\, Inc.,C=US");
        assert_eq!(r.subject_slash, "/C=US/O=O'Brien, Inc./CN=svc");
        assert_eq!(r.key.to_string(), "EC P-256");
        assert_eq!(r.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(r.key_usage, Some(vec!["digitalSignature"]));
        assert_eq!(r.extended_key_usage, Some(vec!["clientAuth".to_string()]));
        assert_eq!(r.san_ip, ["::1"]);
        assert!(!r.is_ca && !r.expired);
        assert_eq!(
            r.allow_rules,
            [
                r"subject:CN=svc,O=O'Brien\, Inc.,C=US".to_string(),
                format!("fingerprint:{}", r.identity.fingerprint_hex),
                "san-dns:svc.example.com".into(),
                "san-uri:spiffe://acme.test/svc".into(),
            ]
        );
        // Self-signed is worth a word; a missing clientAuth is not the problem here.
        assert!(r.warnings.iter().all(|w| !w.contains("clientAuth")));
        assert!(r.warnings.iter().any(|w| w.contains("self-signed")));
    }

    #[test]
    fn warns_about_server_only_eku_and_names_key_types() {
        let c = leaf(
            &rcgen::PKCS_ECDSA_P384_SHA384,
            vec![ExtendedKeyUsagePurpose::ServerAuth],
        );
        let r = describe(c.der(), 0).unwrap();
        assert_eq!(r.key.to_string(), "EC P-384");
        assert!(
            r.warnings.iter().any(|w| w.contains("lacks clientAuth")),
            "{:?}",
            r.warnings
        );
        let c = leaf(&rcgen::PKCS_ED25519, vec![]);
        let r = describe(c.der(), 0).unwrap();
        assert_eq!(r.key.to_string(), "Ed25519");
        assert_eq!(r.signature_algorithm, "Ed25519");
        assert_eq!(r.extended_key_usage, None);
    }

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

    #[test]
    fn ca_certificates_get_an_issuer_rule_and_a_warning() {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec![]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "Root");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let c = p.self_signed(&key).unwrap();
        let r = describe(c.der(), 0).unwrap();
        assert!(r.is_ca);
        assert_eq!(r.path_len, Some(1));
        assert_eq!(r.key_usage, Some(vec!["keyCertSign", "cRLSign"]));
        assert_eq!(r.allow_rules, ["issuer:CN=Root"]);
        assert!(r.warnings.iter().any(|w| w.contains("CA certificate")));
    }

    #[test]
    fn validity_counts_days() {
        let c = leaf(
            &rcgen::PKCS_ECDSA_P256_SHA256,
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        );
        let na = describe(c.der(), 0).unwrap().identity.not_after_unix;
        let r = describe(c.der(), na - 86_400 * 3 - 5).unwrap();
        assert_eq!((r.days_left, r.expired), (3, false));
        assert_eq!(validity_text(&r), "3 days left");
        let r = describe(c.der(), na + 86_400 * 2 + 5).unwrap();
        assert!(r.expired);
        assert_eq!(r.days_left, -3);
        assert_eq!(validity_text(&r), "EXPIRED 2 days ago");
        assert!(r.warnings.iter().any(|w| w.starts_with("EXPIRED")));
    }

    #[test]
    fn shell_quoting_survives_single_quotes() {
        assert_eq!(shell_quote("ROUTE=cn:a"), "'ROUTE=cn:a'");
        assert_eq!(shell_quote("O'Brien"), r"'O'\''Brien'");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\u0001é""#);
        assert_eq!(json_opt::<u32>(None), "null");
        assert_eq!(
            json_object(&[("k", json_strings(&["x"]))]),
            r#"{"k":["x"]}"#
        );
    }

    #[test]
    fn pkcs12_is_recognised_only_for_its_error() {
        assert!(looks_like_pkcs12(&[
            0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03
        ]));
        assert!(looks_like_pkcs12(&[0x30, 0x10, 0x02, 0x01, 0x03]));
        assert!(!looks_like_pkcs12(&[0x30, 0x10, 0x30, 0x01, 0x03]));
        assert!(!looks_like_pkcs12(b"hello"));
    }
}
