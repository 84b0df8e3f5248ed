//! A refused handshake or a refused file is logged in words an operator can act on (issue 11
//! point 10; contract, "Logs"), never as a misleading reason, a Rust debug dump or a list of
//! byte values. The certificates are made with openssl, as operators make them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An openssl-made root (RSA 2048) in `dir`, trusted with `--trust` next to the PKI's root.
struct OpensslCa {
    dir: PathBuf,
    cert: PathBuf,
}

impl OpensslCa {
    fn new(dir: &Path) -> OpensslCa {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ossl-root.key",
                "-out",
                "ossl-root.pem",
                "-days",
                "30",
                "-subj",
                "/C=US/O=Reasons Test/CN=Reasons Root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        OpensslCa {
            dir: dir.to_path_buf(),
            cert: dir.join("ossl-root.pem"),
        }
    }

    /// A client certificate `CN=<name>` with key `keyspec` (`ec` or `rsa:1024`), extensions
    /// `ext` (openssl extfile lines), signed with `digest`.
    fn issue(&self, name: &str, keyspec: &str, ext: &str, digest: &str) -> Leaf {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let crt = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        std::fs::write(self.dir.join(&extfile), ext).unwrap();
        let mut req = vec!["req", "-new", "-nodes", "-keyout", &key, "-out", &csr];
        let subj = format!("/C=US/O=Reasons Test/CN={name}");
        req.extend(["-subj", &subj]);
        if keyspec == "ec" {
            req.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
        } else {
            req.extend(["-newkey", keyspec]);
        }
        openssl(&self.dir, &req);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ossl-root.pem",
                "-CAkey",
                "ossl-root.key",
                "-CAcreateserial",
                "-days",
                "30",
                digest,
                "-extfile",
                &extfile,
                "-out",
                &crt,
            ],
        );
        let pem = std::fs::read_to_string(self.dir.join(&crt)).unwrap();
        let key_pem = std::fs::read_to_string(self.dir.join(&key)).unwrap();
        Leaf {
            name: name.to_string(),
            cert_path: self.dir.join(&crt),
            chain_path: self.dir.join(&crt),
            key_path: self.dir.join(&key),
            der: pem_to_der(&pem),
            chain_der: Vec::new(),
            key_der: pem_to_der(&key_pem),
            pem,
        }
    }
}

const CLIENT_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";

async fn proxy(pki: &Pki, ca: &OpensslCa, upstream: &Upstream) -> Certgate {
    Certgate::start(
        pki,
        &upstream.url,
        &[
            "--trust",
            &s(&ca.cert),
            "--route",
            "app=/",
            "--allow",
            "app=any",
        ],
    )
    .await
}

/// The rejection line for the certificate `CN=<cn>`.
async fn rejection_for(cg: &Certgate, cn: &str) -> String {
    let needle = format!("CN={cn}");
    cg.wait_for_log_where(&format!("rejecting the handshake of {needle}"), |l| {
        l.contains("TLS handshake rejected") && (l.contains(&needle) || l.contains("result="))
    })
    .await
}

fn assert_plain_words(line: &str) {
    for dump in [
        "Context",
        "{ ",
        "[0x",
        ", 0x",
        "[45, ",
        "BadSignature",
        "UnsupportedSignature",
    ] {
        assert!(
            !line.contains(dump),
            "debug output in the log line ({dump:?}): {line}"
        );
    }
}

#[tokio::test]
async fn a_ca_certificate_used_as_a_client_certificate_is_called_that_not_a_missing_eku() {
    let pki = Pki::new();
    let ca = OpensslCa::new(pki.dir.path());
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &ca, &upstream).await;
    let leaf = ca.issue(
        "ca-as-leaf",
        "ec",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=clientAuth\n",
        "-sha256",
    );
    let r = cg.client(&pki).cert(&leaf).get("/").await;
    assert!(
        r.is_err(),
        "a CA certificate is no client certificate: {r:?}"
    );
    let line = rejection_for(&cg, "ca-as-leaf").await;
    assert!(line.contains("result=\"bad_usage\""), "{line}");
    assert!(
        !line.contains("clientAuth missing"),
        "the certificate has clientAuth; the reason must not say it is missing: {line}"
    );
    assert!(
        line.contains("CA certificate") && line.contains("CA:TRUE"),
        "says it is a CA certificate: {line}"
    );
    assert_plain_words(&line);
    upstream.assert_nothing("CA as leaf");
}

#[tokio::test]
async fn an_rsa_1024_client_key_is_named_with_its_size_not_called_a_bad_signature() {
    let pki = Pki::new();
    let ca = OpensslCa::new(pki.dir.path());
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &ca, &upstream).await;
    let leaf = ca.issue("rsa1024", "rsa:1024", CLIENT_EXT, "-sha256");
    // OpenSSL presents a 1024-bit key only at security level 0 (curl loads the key before
    // its --ciphers apply, so openssl s_client it is).
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", cg.addr.port()),
            "-servername",
            "localhost",
            "-CAfile",
            &s(&pki.ca.cert_path),
            "-cert",
            &s(&leaf.cert_path),
            "-key",
            &s(&leaf.key_path),
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            // Without it s_client quits at stdin's EOF, often before the server's alert
            // arrives (TLS 1.3 verifies the client after the client's Finished).
            "-ign_eof",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("alert"),
        "certgate refused the handshake: {stderr}"
    );
    let line = rejection_for(&cg, "rsa1024").await;
    assert!(
        line.contains("1024") && line.contains("2048"),
        "names the key size and the minimum: {line}"
    );
    assert_plain_words(&line);
    upstream.assert_nothing("RSA-1024");
}

#[tokio::test]
async fn a_sha1_signed_client_certificate_is_named_in_words() {
    let pki = Pki::new();
    let ca = OpensslCa::new(pki.dir.path());
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &ca, &upstream).await;
    let leaf = ca.issue("sha1-leaf", "ec", CLIENT_EXT, "-sha1");
    let r = cg.client(&pki).cert(&leaf).get("/").await;
    assert!(r.is_err(), "a SHA-1 signature is refused: {r:?}");
    let line = rejection_for(&cg, "sha1-leaf").await;
    assert!(
        line.contains("SHA-1") && line.contains("sha1WithRSAEncryption"),
        "names the algorithm: {line}"
    );
    assert!(line.contains("result=\"bad_signature\""), "{line}");
    assert_plain_words(&line);
    upstream.assert_nothing("SHA-1");
}

#[tokio::test]
async fn a_truncated_pem_on_reload_is_described_not_dumped_as_bytes() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust = pki.path("reloaded-root.pem");
    std::fs::write(&trust, pki.ca.pem()).unwrap();
    let mut args = pki.base_args();
    let i = args.iter().position(|a| a == "--trust").unwrap();
    args[i + 1] = s(&trust);
    args.extend(
        [
            "--upstream",
            &upstream.url,
            "--route",
            "app=/",
            "--allow",
            "app=any",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let cg = Certgate::start_args(&args, &[]).await;
    let pem = pki.ca.pem();
    // Cut in the middle of the base64, as an interrupted copy leaves it.
    replace_file(&trust, &pem.as_bytes()[..pem.len() / 2]);
    let line = cg
        .wait_for_log_where("with the truncated file's reload error", |l| {
            l.contains("reload failed") && l.contains("reloaded-root.pem")
        })
        .await;
    assert!(
        line.contains("-----END CERTIFICATE-----") && line.contains("truncated"),
        "says what is missing: {line}"
    );
    assert_plain_words(&line);
}
