//! `certgate inspect` and `certgate check` through the real binary, on certificates made
//! here with rcgen (the CA keys are needed to sign CRLs, so the PKI is local to this file).

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use time::{Duration, OffsetDateTime};

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    path: PathBuf,
}

struct Leaf {
    path: PathBuf,
    der: Vec<u8>,
    serial: Vec<u8>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn new_ca(dir: &Path, name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "Tools Test");
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now() - Duration::days(3650);
    p.not_after = now() + Duration::days(3650);
    let cert = p.self_signed(&key).unwrap();
    let path = dir.join(format!("{}.pem", name.replace(' ', "_")));
    std::fs::write(&path, cert.pem()).unwrap();
    Ca { cert, key, path }
}

struct LeafSpec<'a> {
    dn: &'a [(DnType, &'a str)],
    sans: Vec<SanType>,
    eku: ExtendedKeyUsagePurpose,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    serial: u64,
}

fn spec<'a>(dn: &'a [(DnType, &'a str)]) -> LeafSpec<'a> {
    LeafSpec {
        dn,
        sans: vec![],
        eku: ExtendedKeyUsagePurpose::ClientAuth,
        not_before: now() - Duration::days(1),
        not_after: now() + Duration::days(365),
        serial: 0x1234,
    }
}

fn issue(ca: &Ca, dir: &Path, file: &str, s: LeafSpec<'_>) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    let mut dn = DistinguishedName::new();
    for (t, v) in s.dn {
        dn.push(t.clone(), *v);
    }
    p.distinguished_name = dn;
    p.subject_alt_names = s.sans;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![s.eku];
    p.not_before = s.not_before;
    p.not_after = s.not_after;
    let serial = s.serial.to_be_bytes().to_vec();
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.use_authority_key_identifier_extension = true;
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, cert.pem()).unwrap();
    Leaf {
        path,
        der: cert.der().to_vec(),
        serial,
    }
}

fn svc_dn() -> Vec<(DnType, &'static str)> {
    vec![
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "O'Brien, Ltd"),
        (DnType::CommonName, "svc"),
    ]
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn certgate(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_certgate"))
        .args(args)
        // Keep the environment from feeding flags (CERTGATE_*) into the command.
        .env_clear()
        .output()
        .expect("run certgate");
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Undo POSIX single quoting of one word (`'a'\''b'` is `a'b`).
fn shell_unquote(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'').expect("closing quote");
            out.push_str(&r[..end]);
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix("\\'") {
            out.push('\'');
            rest = r;
        } else {
            panic!("unexpected shell text {rest:?}");
        }
    }
    out
}

/// `check` with `--trust CA --route api=/api` plus `extra`.
fn check(ca: &Ca, leaf: &Path, extra: &[&str]) -> Out {
    let mut args = vec![
        "check",
        "--trust",
        s(&ca.path),
        "--route",
        "api=/api",
        "--cert",
        s(leaf),
    ];
    args.extend_from_slice(extra);
    certgate(&args)
}

#[test]
fn inspect_prints_fingerprint_and_a_subject_rule_that_check_allows() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = svc_dn();
    let mut sp = spec(&dn);
    sp.sans = vec![SanType::DnsName("svc.example.com".try_into().unwrap())];
    let leaf = issue(&ca, dir.path(), "svc.pem", sp);

    let o = certgate(&["inspect", s(&leaf.path)]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    let fp = sha256_hex(&leaf.der);
    assert!(o.stdout.contains(&fp), "{}", o.stdout);
    let colons: Vec<String> = fp
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    assert!(o.stdout.contains(&colons.join(":")), "{}", o.stdout);
    assert!(
        o.stdout.contains("/C=US/O=O'Brien, Ltd/CN=svc"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("replace ROUTE with your route name"));
    assert!(o.stdout.contains("clientAuth"));
    assert!(o.stdout.contains("--allow 'ROUTE=san-dns:svc.example.com'"));

    let rule_line = o
        .stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("--allow 'ROUTE=subject:"))
        .expect("a subject rule");
    let rule = shell_unquote(rule_line.trim_start_matches("--allow ").trim());
    assert_eq!(rule, r"ROUTE=subject:CN=svc,O=O'Brien\, Ltd,C=US");
    let allow = rule.replacen("ROUTE=", "api=", 1);
    let c = check(&ca, &leaf.path, &["--allow", &allow, "--path", "/api/x"]);
    assert_eq!(c.code, Some(0), "{}{}", c.stdout, c.stderr);
    assert!(
        c.stdout
            .starts_with("ALLOWED: route \"api\" (prefix /api) rule 1 subject:"),
        "{}",
        c.stdout
    );

    // The fingerprint rule works as well.
    let fp_rule = format!("api=fingerprint:{fp}");
    let c = check(&ca, &leaf.path, &["--allow", &fp_rule, "--path", "/api"]);
    assert_eq!(c.code, Some(0), "{}{}", c.stdout, c.stderr);

    // --json carries the same facts.
    let j = certgate(&["inspect", "--json", s(&leaf.path)]);
    assert_eq!(j.code, Some(0), "{}", j.stderr);
    let text = j.stdout.trim();
    assert!(text.starts_with("[{") && text.ends_with("}]"), "{text}");
    assert!(text.contains(&format!("\"sha256\":\"{fp}\"")), "{text}");
    assert!(
        text.contains(r#""subject":"CN=svc,O=O'Brien\\, Ltd,C=US""#),
        "{text}"
    );
    assert!(
        text.contains(r#""extended_key_usage":["clientAuth"]"#),
        "{text}"
    );
}

#[test]
fn inspect_reads_der_and_multi_certificate_pem() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = svc_dn();
    let leaf = issue(&ca, dir.path(), "svc.pem", spec(&dn));
    let der = dir.path().join("svc.der");
    std::fs::write(&der, &leaf.der).unwrap();
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(
        &bundle,
        format!(
            "{}{}",
            std::fs::read_to_string(&leaf.path).unwrap(),
            ca.cert.pem()
        ),
    )
    .unwrap();

    let o = certgate(&["inspect", s(&der), s(&bundle)]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    // Per file: the fingerprint line, the `--allow` pin and the `--allow-file` pin.
    assert_eq!(
        o.stdout.matches(&sha256_hex(&leaf.der)).count(),
        6,
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains(&format!("{} [1]", bundle.display())));
    assert!(o.stdout.contains(&sha256_hex(ca.cert.der())));
    assert!(o.stdout.contains("WARNING: CA certificate"));
}

#[test]
fn inspect_refuses_missing_files_and_non_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let o = certgate(&["inspect", s(&missing)]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("missing.pem"), "{}", o.stderr);

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello, not a certificate\n").unwrap();
    let o = certgate(&["inspect", s(&text)]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("notes.txt"), "{}", o.stderr);

    let key = dir.path().join("key.pem");
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let o = certgate(&["inspect", s(&key)]);
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("holds no certificate"), "{}", o.stderr);
}

#[test]
fn check_names_the_differing_attribute_of_a_subject_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = vec![
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Acme Ltd"),
        (DnType::CommonName, "svc"),
    ];
    let leaf = issue(&ca, dir.path(), "svc.pem", spec(&dn));
    let o = check(
        &ca,
        &leaf.path,
        &[
            "--allow",
            "api=cn:other",
            "--allow",
            "api=subject:CN=svc,O=Acme Inc,C=US",
            "--path",
            "/api",
        ],
    );
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.starts_with("DENIED: route \"api\""),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(r#"nearest is rule 2 subject:CN=svc,O=Acme Inc,C=US: subject O: certificate has "Acme Ltd", rule wants "Acme Inc""#),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("1. cn:other"), "{}", o.stdout);
}

#[test]
fn check_judges_expiry_at_the_given_time() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = svc_dn();
    let mut sp = spec(&dn);
    sp.not_before = OffsetDateTime::from_unix_timestamp(1_577_836_800).unwrap(); // 2020-01-01
    sp.not_after = OffsetDateTime::from_unix_timestamp(1_609_459_200).unwrap(); // 2021-01-01
    let leaf = issue(&ca, dir.path(), "old.pem", sp);

    let late = check(
        &ca,
        &leaf.path,
        &[
            "--allow",
            "api=any",
            "--path",
            "/api",
            "--at",
            "2022-01-01T00:00:00Z",
        ],
    );
    assert_eq!(late.code, Some(1), "{}{}", late.stdout, late.stderr);
    assert!(
        late.stdout.contains("expired at 2021-01-01T00:00:00Z"),
        "{}",
        late.stdout
    );
    assert!(
        late.stdout
            .contains("checked at 2022-01-01T00:00:00Z (--at)"),
        "{}",
        late.stdout
    );
    assert!(
        late.stdout
            .contains("were the chain valid, rule 1 any would allow it"),
        "{}",
        late.stdout
    );

    let inside = check(
        &ca,
        &leaf.path,
        &[
            "--allow",
            "api=any",
            "--path",
            "/api",
            "--at",
            "2020-06-01T12:00:00+02:00",
        ],
    );
    assert_eq!(inside.code, Some(0), "{}{}", inside.stdout, inside.stderr);

    // And without --at, now: expired.
    let now = check(&ca, &leaf.path, &["--allow", "api=any", "--path", "/api"]);
    assert_eq!(now.code, Some(1), "{}", now.stdout);
}

#[test]
fn check_denies_an_unknown_issuer_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = new_ca(dir.path(), "Root");
    let other = new_ca(dir.path(), "Other Root");
    let dn = svc_dn();
    let leaf = issue(&other, dir.path(), "svc.pem", spec(&dn));
    let o = check(
        &trusted,
        &leaf.path,
        &["--allow", "api=any", "--path", "/api"],
    );
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.starts_with(
            "DENIED: TLS handshake refused: unknown issuer CN=Other Root,O=Tools Test,C=US"
        ),
        "{}",
        o.stdout
    );
}

#[test]
fn check_denies_a_revoked_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = svc_dn();
    let mut sp = spec(&dn);
    sp.serial = 0x0bad;
    let revoked = issue(&ca, dir.path(), "revoked.pem", sp);
    let mut sp = spec(&dn);
    sp.serial = 0x0900d;
    let good = issue(&ca, dir.path(), "good.pem", sp);
    let crl = CertificateRevocationListParams {
        this_update: now() - Duration::days(1),
        next_update: now() + Duration::days(30),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from_slice(&revoked.serial),
            revocation_time: now() - Duration::hours(1),
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca.cert, &ca.key)
    .unwrap();
    let crl_path = dir.path().join("ca.crl.pem");
    std::fs::write(&crl_path, crl.pem().unwrap()).unwrap();

    let o = check(
        &ca,
        &revoked.path,
        &[
            "--allow",
            "api=any",
            "--path",
            "/api",
            "--crl",
            s(&crl_path),
        ],
    );
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("revoked"), "{}", o.stdout);
    assert!(o.stdout.contains("reason KeyCompromise"), "{}", o.stdout);
    let o = check(
        &ca,
        &good.path,
        &[
            "--allow",
            "api=any",
            "--path",
            "/api",
            "--crl",
            s(&crl_path),
        ],
    );
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
}

#[test]
fn check_explains_wrong_usage_wrong_bundle_and_no_route() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let prod = new_ca(dir.path(), "Prod Root");
    let dn = svc_dn();
    let mut sp = spec(&dn);
    sp.eku = ExtendedKeyUsagePurpose::ServerAuth;
    let server_only = issue(&ca, dir.path(), "server.pem", sp);
    let o = check(
        &ca,
        &server_only.path,
        &["--allow", "api=any", "--path", "/api"],
    );
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("wrong key usage"), "{}", o.stdout);
    assert!(o.stdout.contains("[serverAuth]"), "{}", o.stdout);

    let leaf = issue(&ca, dir.path(), "svc.pem", spec(&dn));
    let o = check(
        &ca,
        &leaf.path,
        &[
            "--trust-bundle",
            &format!("prod={}", s(&prod.path)),
            "--route-trust",
            "api=prod",
            "--allow",
            "api=any",
            "--path",
            "/api",
        ],
    );
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(r#"requires trust bundle "prod""#),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(r#"verifies against ["default"]"#),
        "{}",
        o.stdout
    );

    let o = check(&ca, &leaf.path, &["--allow", "api=any", "--path", "/other"]);
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.starts_with("DENIED: no route matches /other"),
        "{}",
        o.stdout
    );
}

#[test]
fn check_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca(dir.path(), "Root");
    let dn = svc_dn();
    let leaf = issue(&ca, dir.path(), "svc.pem", spec(&dn));

    let o = check(&ca, &leaf.path, &["--allow", "api=bogus:x"]);
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("--allow"), "{}", o.stderr);

    let missing = dir.path().join("missing.pem");
    let o = check(&ca, &missing, &["--allow", "api=any"]);
    assert_eq!(o.code, Some(2), "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("--cert"), "{}", o.stderr);

    let o = check(
        &ca,
        &leaf.path,
        &["--allow", "api=any", "--at", "yesterday"],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("--at"), "{}", o.stderr);

    let o = check(
        &ca,
        &leaf.path,
        &["--allow", "api=any", "--path", "/api/%2e%2e/%2e%2e"],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(o.stderr.contains("--path"), "{}", o.stderr);
}

#[test]
fn check_follows_a_sent_intermediate_to_the_missing_root() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = new_ca(dir.path(), "Root");
    let other = new_ca(dir.path(), "Other Root");
    // An intermediate under the untrusted root, sent along with the leaf.
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Other Issuing CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let int_cert = p.signed_by(&key, &other.cert, &other.key).unwrap();
    let int = Ca {
        path: dir.path().join("int.pem"),
        cert: int_cert,
        key,
    };
    let dn = svc_dn();
    let leaf = issue(&int, dir.path(), "svc.pem", spec(&dn));
    let chain = dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        format!(
            "{}{}",
            std::fs::read_to_string(&leaf.path).unwrap(),
            int.cert.pem()
        ),
    )
    .unwrap();
    let o = check(&trusted, &chain, &["--allow", "api=any", "--path", "/api"]);
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("chain: leaf <- CN=Other Issuing CA (sent in --cert); CN=Other Issuing CA's issuer is CN=Other Root,O=Tools Test,C=US"),
        "{}",
        o.stdout
    );
    // Trusting the other root fixes it.
    let o = check(&other, &chain, &["--allow", "api=any", "--path", "/api"]);
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
}
