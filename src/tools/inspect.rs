//! `certgate inspect FILE...`: print every certificate in PEM/DER files with its subject in
//! both forms, issuer, serial, validity, SANs, fingerprint, key, usages and ready-to-paste
//! `--allow` rules.
//!
//! The identity fields (names, serial, fingerprint, SANs) come from
//! [`PeerIdentity::from_chain`], the same code `run` uses, and every printed rule is parsed
//! back and matched against the certificate before it is shown, so a pasted rule allows it.
//! PKCS#12 is not read (it needs a password and a KDF): the error says how to convert it.

use crate::config::cli::InspectArgs;
use crate::pki::describe::describe_unchecked;
pub use crate::pki::describe::{colon_upper, CertReport, KeyInfo, OID_CLIENT_AUTH};
use crate::pki::identity::{IdentityError, PeerIdentity};
use crate::policy::Rule;
use der::Decode;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::CertificateDer;
use std::io::Write;
use std::path::Path;
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

/// One certificate found in a file.
#[derive(Debug, Clone)]
pub struct Found {
    pub file: String,
    pub index: usize,
    pub report: CertReport,
}

/// Describe one DER certificate as of `now` (unix seconds). Every candidate rule is parsed
/// back and matched, so what is printed is what allows this certificate.
pub fn describe(der: &CertificateDer<'_>, now: i64) -> Result<CertReport, IdentityError> {
    let mut report = describe_unchecked(der, now)?;
    let identity = PeerIdentity::from_chain(der, &[])?;
    let candidates = std::mem::take(&mut report.allow_rules);
    for c in candidates {
        let usable = match c.parse::<Rule>() {
            Ok(Rule::Issuer(dn)) => dn == identity.subject,
            Ok(r) => r.matches(&identity),
            Err(_) => false,
        };
        if usable {
            report.allow_rules.push(c);
        } else {
            report.rule_notes.push(format!(
                "no rule printed for {c:?}: certgate cannot express it as a rule that matches"
            ));
        }
    }
    Ok(report)
}

/// Wrap `s` in single quotes for a POSIX shell (`'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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
    let bytes = crate::pki::files::read(path, crate::pki::files::CERT_LIMIT)
        .map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    let mut certs = Vec::new();
    let mut skipped = Vec::new();
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
            let (kind, der) =
                section.map_err(|e| file_err(path, crate::pki::files::pem_problem(&e)))?;
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
        // The same pin as a line of an --allow-file (comment line first, for the reader).
        if let Some(pin) = r.allow_rules.iter().find(|x| x.starts_with("fingerprint:")) {
            writeln!(
                out,
                "  --allow-file lines (add ` until=TIME` to the rule to retire it on a date):"
            )?;
            writeln!(
                out,
                "    # {} (not after {})",
                r.identity.subject_rfc4514, r.identity.not_after_rfc3339
            )?;
            writeln!(out, "    {pin}")?;
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
