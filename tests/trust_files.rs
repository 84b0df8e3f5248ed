//! Trust files as operators really hand them to certgate: a sender's own (non-CA) certificate
//! given as `--trust`, a PKCS#12 archive, an encrypted key, a server chain with the CA first,
//! and a trust directory whose CA names do not fit in a CertificateRequest
//! (`--client-ca-hints`). Material is made with the openssl CLI where operators use it.

mod openssl_pki;
mod support;

use std::path::Path;

use openssl_pki::{openssl, Key, OsslCa};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use support::*;

fn write(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// `certgate run` with `pki.base_args()` (which trusts `pki.ca`) plus `extra`, expected to exit.
fn start_fails(pki: &Pki, extra: &[&str]) -> Exit {
    let mut args = vec!["run".to_string()];
    args.extend(pki.base_args());
    args.extend([
        "--route".into(),
        "hooks=/hooks".into(),
        "--allow".into(),
        "hooks=any".into(),
    ]);
    args.extend(extra.iter().map(|a| a.to_string()));
    run_to_exit(&args, &[])
}

// ---------------------------------------------------------------------------------------
// A certificate that is not a CA in a trust file
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_senders_own_certificate_given_as_trust_is_loaded_with_a_not_a_ca_warning() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let vendor = OsslCa::root(pki.dir.path(), "Vendor Root");
    // The sender mailed its own client certificate, and it went into the trust directory.
    let sender = vendor.issue("hooks.vendor.test", Key::P256, &[]);
    let trust_dir = pki.path("trust.d");
    std::fs::create_dir_all(&trust_dir).unwrap();
    write(&trust_dir.join("vendor-cert.pem"), sender.pem.as_bytes());
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--trust",
            &s(&trust_dir),
            "--route",
            "hooks=/hooks",
            "--allow",
            "hooks=any",
        ],
    )
    .await;
    let line = cg.wait_for_log("not a CA").await;
    assert!(line.contains("vendor-cert.pem"), "names the file: {line}");
    assert!(
        line.contains("hooks.vendor.test"),
        "names the certificate: {line}"
    );
    assert!(line.contains("WARN"), "a warning: {line}");
    assert_eq!(
        got(&cg.client(&pki).cert(&sender), "/hooks/x").await,
        Got::TlsRefused,
        "no chain can be built through a non-CA certificate"
    );
    upstream.assert_nothing("a sender whose own certificate is the only trust");
}

// ---------------------------------------------------------------------------------------
// Common file mistakes get messages that say what the file is and how to convert it
// ---------------------------------------------------------------------------------------

#[test]
fn a_pkcs12_file_as_trust_or_server_cert_is_named_with_the_openssl_command_that_converts_it() {
    let pki = Pki::new();
    let vendor = OsslCa::root(pki.dir.path(), "Vendor Root");
    let sender = vendor.issue("hooks.vendor.test", Key::P256, &[]);
    let p12 = pki.path("vendor.p12");
    openssl(
        pki.dir.path(),
        &[
            "pkcs12",
            "-export",
            "-in",
            &s(&sender.cert_path),
            "-inkey",
            &s(&sender.key_path),
            "-certfile",
            &s(&vendor.cert_path),
            "-passout",
            "pass:secret",
            "-out",
            &s(&p12),
        ],
    );
    let exit = start_fails(&pki, &["--trust", &s(&p12)]);
    assert_eq!(exit.code, Some(2), "{exit:?}");
    for needle in [
        "--trust",
        "vendor.p12",
        "PKCS#12",
        "openssl pkcs12",
        "-cacerts",
    ] {
        assert!(
            exit.stderr.contains(needle),
            "mentions {needle}: {}",
            exit.stderr
        );
    }

    // The same archive as the server certificate.
    let mut args = vec!["run".to_string()];
    let mut base = pki.base_args();
    let i = base.iter().position(|a| a == "--server-cert").unwrap();
    base[i + 1] = s(&p12);
    args.extend(base);
    let exit = run_to_exit(&args, &[]);
    assert_eq!(exit.code, Some(2), "{exit:?}");
    for needle in ["--server-cert", "PKCS#12", "openssl pkcs12", "-clcerts"] {
        assert!(
            exit.stderr.contains(needle),
            "mentions {needle}: {}",
            exit.stderr
        );
    }
}

#[test]
fn an_encrypted_server_key_is_named_with_the_openssl_command_that_decrypts_it() {
    let pki = Pki::new();
    // PKCS#8 encrypted (openssl pkey -aes256) and the traditional form (openssl ec -aes256).
    let pkcs8 = pki.path("server.enc.key");
    openssl(
        pki.dir.path(),
        &[
            "pkey",
            "-in",
            &s(&pki.server.key_path),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            &s(&pkcs8),
        ],
    );
    let traditional = pki.path("server.trad.key");
    openssl(
        pki.dir.path(),
        &[
            "ec",
            "-in",
            &s(&pki.server.key_path),
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            &s(&traditional),
        ],
    );
    for key in [&pkcs8, &traditional] {
        let mut args = vec!["run".to_string()];
        let mut base = pki.base_args();
        let i = base.iter().position(|a| a == "--server-key").unwrap();
        base[i + 1] = s(key);
        args.extend(base);
        let exit = run_to_exit(&args, &[]);
        assert_eq!(exit.code, Some(2), "{exit:?}");
        for needle in ["--server-key", "encrypted", "openssl pkey -in"] {
            assert!(
                exit.stderr.contains(needle),
                "mentions {needle}: {}",
                exit.stderr
            );
        }
    }
}

#[test]
fn a_server_chain_with_the_ca_first_is_named_with_how_to_reorder_it() {
    let pki = Pki::new();
    let chain = pki.path("ca-first.pem");
    write(
        &chain,
        format!(
            "{}{}",
            pki.ca.pem(),
            std::fs::read_to_string(&pki.server.cert_path).unwrap()
        )
        .as_bytes(),
    );
    let mut args = vec!["run".to_string()];
    let mut base = pki.base_args();
    let i = base.iter().position(|a| a == "--server-cert").unwrap();
    base[i + 1] = s(&chain);
    args.extend(base);
    let exit = run_to_exit(&args, &[]);
    assert_eq!(exit.code, Some(2), "{exit:?}");
    for needle in [
        "--server-cert",
        "ca-first.pem",
        "certificate 2",
        "CN=localhost",
        "leaf first",
        "openssl",
    ] {
        assert!(
            exit.stderr.contains(needle),
            "mentions {needle}: {}",
            exit.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// --client-ca-hints
// ---------------------------------------------------------------------------------------

/// `n` self-signed CAs with long names (about 200 bytes of DER each) in one PEM file.
fn many_long_named_cas(path: &Path, n: usize) {
    let key = KeyPair::generate().unwrap();
    let mut pem = String::new();
    for i in 0..n {
        let mut p = CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(DnType::CountryName, "DE");
        dn.push(
            DnType::OrganizationName,
            format!("Partner Bank Number {i:04} Aktiengesellschaft fuer Zahlungsverkehr"),
        );
        dn.push(
            DnType::OrganizationalUnitName,
            "Corporate Payments Webhook Delivery Infrastructure",
        );
        dn.push(
            DnType::CommonName,
            format!("Partner Bank {i:04} Webhook Client Issuing CA G2"),
        );
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        pem.push_str(&p.self_signed(&key).unwrap().pem());
    }
    write(path, pem.as_bytes());
}

#[tokio::test]
async fn ca_names_over_what_a_certificate_request_holds_are_a_startup_error_naming_the_flag() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let many = pki.path("partner-banks.pem");
    many_long_named_cas(&many, 400);
    let mut args = pki.base_args();
    args.extend([
        "--upstream".into(),
        upstream.url.clone(),
        "--trust".into(),
        s(&many),
    ]);
    args.extend([
        "--route".into(),
        "hooks=/hooks".into(),
        "--allow".into(),
        "hooks=any".into(),
    ]);
    let err = match Certgate::try_start_args(&args, &[]).await {
        Ok(_) => panic!("certgate started with 400 long CA names advertised"),
        Err(e) => e,
    };
    assert!(err.contains("exit status: 2"), "{err}");
    for needle in ["--client-ca-hints", "65535", "none", "bundle:"] {
        assert!(err.contains(needle), "mentions {needle}: {err}");
    }
    upstream.assert_nothing("no start");
    // The fix it names, from the environment as a pod spec would set it.
    let cg = Certgate::start_args(&args, &[("CERTGATE_CLIENT_CA_HINTS", "none")]).await;
    let client = pki.client("hooks", ClientSpec::cn_only("hooks.example"));
    assert_eq!(
        got(&cg.client(&pki).cert(&client), "/hooks/ok").await,
        Got::Status(200)
    );
    assert_eq!(upstream.paths(), ["/hooks/ok"]);
}

#[tokio::test]
async fn client_ca_hints_none_and_bundle_choose_what_the_certificate_request_names() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let many = pki.path("partner-banks.pem");
    many_long_named_cas(&many, 400);
    let client = pki.client("hooks", ClientSpec::cn_only("hooks.example"));
    let common = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "--upstream".into(),
            upstream.url.clone(),
            "--trust-bundle".into(),
            format!("partners={}", s(&many)),
            "--route".into(),
            "hooks=/hooks".into(),
            "--allow".into(),
            "hooks=any".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut all = pki.base_args();
        all.extend(args);
        all
    };

    // none: no names at all, verification unchanged.
    let cg = Certgate::start_args(&common(&["--client-ca-hints", "none"]), &[]).await;
    let (c, hints) = cg.client(&pki).cert(&client).record_ca_hints();
    assert_eq!(got(&c, "/hooks/none").await, Got::Status(200));
    assert_eq!(hints.lock().unwrap().as_ref().map(Vec::len), Some(0));
    let stranger = pki
        .other_ca("Stranger")
        .issue("x", ClientSpec::cn_only("x"));
    assert_eq!(
        got(&cg.client(&pki).cert(&stranger), "/hooks/stranger").await,
        Got::TlsRefused,
        "no hints does not mean no verification"
    );
    drop(cg);

    // bundle:default: only the --trust anchors are named.
    let cg = Certgate::start_args(&common(&["--client-ca-hints", "bundle:default"]), &[]).await;
    let (c, hints) = cg.client(&pki).cert(&client).record_ca_hints();
    assert_eq!(got(&c, "/hooks/default").await, Got::Status(200));
    let names = hints.lock().unwrap().clone().unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    let der = String::from_utf8_lossy(&names[0]).into_owned();
    assert!(der.contains("Test Root CA"), "the --trust root: {der:?}");
    drop(cg);

    // An unknown bundle name is a start-up error naming the flag.
    let mut args = vec!["run".to_string()];
    args.extend(common(&["--client-ca-hints", "bundle:nope"]));
    let exit = run_to_exit(&args, &[]);
    assert_eq!(exit.code, Some(2), "{exit:?}");
    assert!(exit.stderr.contains("--client-ca-hints"), "{}", exit.stderr);
    assert_eq!(upstream.paths(), ["/hooks/none", "/hooks/default"]);
}

#[tokio::test]
async fn a_trust_reload_past_the_hint_limit_keeps_the_old_material() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = pki.path("trust.d");
    std::fs::create_dir_all(&trust_dir).unwrap();
    write(&trust_dir.join("root.pem"), pki.ca.pem().as_bytes());
    many_long_named_cas(&trust_dir.join("few-partners.pem"), 10);
    let client = pki.client("hooks", ClientSpec::cn_only("hooks.example"));
    let mut args = pki.base_args();
    let i = args.iter().position(|a| a == "--trust").unwrap();
    args[i + 1] = s(&trust_dir);
    args.extend(["--upstream".into(), upstream.url.clone()]);
    args.extend([
        "--route".into(),
        "hooks=/hooks".into(),
        "--allow".into(),
        "hooks=any".into(),
    ]);
    let cg = Certgate::start_args(&args, &[]).await;
    let (c, hints) = cg.client(&pki).cert(&client).record_ca_hints();
    assert_eq!(got(&c, "/hooks/1").await, Got::Status(200));
    assert_eq!(hints.lock().unwrap().as_ref().map(Vec::len), Some(11));

    let tmp = pki.path("many.tmp");
    many_long_named_cas(&tmp, 400);
    std::fs::rename(&tmp, trust_dir.join("many-partners.pem")).unwrap();
    let line = cg.wait_for_log("reload failed").await;
    assert!(line.contains("--client-ca-hints"), "{line}");

    let (c, hints) = cg.client(&pki).cert(&client).record_ca_hints();
    assert_eq!(got(&c, "/hooks/2").await, Got::Status(200));
    assert_eq!(
        hints.lock().unwrap().as_ref().map(Vec::len),
        Some(11),
        "the previous trust stays in force"
    );
    assert_eq!(upstream.paths(), ["/hooks/1", "/hooks/2"]);
}
