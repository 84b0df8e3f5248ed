//! Revocation: a CRL written under a running proxy refuses the revoked client's new
//! handshakes (a resumption attempt included) and its already-open connections (403), while
//! other clients keep working; bad CRLs never replace good ones; expired CRLs refuse.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use support::*;
use time::OffsetDateTime;

/// How long a CRL change may take to reach new handshakes (the watcher debounces 300 ms).
const RELOAD_WITHIN: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// A CA that can sign CRLs (the shared harness keeps its CA keys private)
// ---------------------------------------------------------------------------------------

/// A client-issuing CA whose key this file holds, so it can sign CRLs.
struct RevokingCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    cert_path: PathBuf,
    dir: PathBuf,
    /// Intermediates from this CA up to (not including) the root, this CA first.
    chain_der: Vec<Vec<u8>>,
    chain_pem: String,
}

static CRL_NUMBER: AtomicU64 = AtomicU64::new(1);

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca_params(name: &str, serial: u64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "Certgate Revocation Test");
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now() - time::Duration::days(1);
    p.not_after = now() + time::Duration::days(365);
    p.serial_number = Some(SerialNumber::from(serial));
    p.use_authority_key_identifier_extension = true;
    p
}

impl RevokingCa {
    /// A self-signed root written to `<dir>/<file>.pem`.
    fn root(dir: &Path, name: &str) -> RevokingCa {
        let key = KeyPair::generate().unwrap();
        let cert = ca_params(name, 0x0100).self_signed(&key).unwrap();
        let cert_path = dir.join(format!("{}.pem", name.replace(' ', "_")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        RevokingCa {
            cert,
            key,
            cert_path,
            dir: dir.to_path_buf(),
            chain_der: Vec::new(),
            chain_pem: String::new(),
        }
    }

    /// An intermediate CA with serial `serial`, signed by this one.
    fn intermediate(&self, name: &str, serial: u64) -> RevokingCa {
        let key = KeyPair::generate().unwrap();
        let cert = ca_params(name, serial)
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        let cert_path = self.dir.join(format!("{}.pem", name.replace(' ', "_")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        let mut chain_der = vec![cert.der().to_vec()];
        chain_der.extend(self.chain_der.iter().cloned());
        RevokingCa {
            chain_pem: format!("{}{}", cert.pem(), self.chain_pem),
            cert,
            key,
            cert_path,
            dir: self.dir.clone(),
            chain_der,
        }
    }

    /// A client certificate `CN=<name>` with serial `serial`; the client sends its
    /// intermediates too.
    fn issue(&self, name: &str, serial: u64) -> Leaf {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = now() - time::Duration::days(1);
        p.not_after = now() + time::Duration::days(90);
        p.serial_number = Some(SerialNumber::from(serial));
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        let pem = cert.pem();
        let write = |ext: &str, contents: &str| {
            let path = self.dir.join(format!("{name}.{ext}"));
            std::fs::write(&path, contents).unwrap();
            path
        };
        Leaf {
            name: name.to_string(),
            cert_path: write("crt", &pem),
            chain_path: write("chain.pem", &format!("{pem}{}", self.chain_pem)),
            key_path: write("key", &key.serialize_pem()),
            der: cert.der().to_vec(),
            chain_der: self.chain_der.clone(),
            key_der: key.serialize_der(),
            pem,
        }
    }

    /// A CRL signed by this CA revoking `serials`, valid from `this_update` to `next_update`.
    fn crl_between(
        &self,
        serials: &[u64],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> String {
        CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(CRL_NUMBER.fetch_add(1, Ordering::Relaxed)),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: this_update,
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.cert, &self.key)
        .unwrap()
        .pem()
        .unwrap()
    }

    /// A current CRL (issued a minute ago, next update in a week) revoking `serials`.
    fn crl(&self, serials: &[u64]) -> String {
        self.crl_between(
            serials,
            now() - time::Duration::minutes(1),
            now() + time::Duration::days(7),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Writes a hidden temp file beside `path` and renames it over `path`.
fn write_atomic(path: &Path, contents: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running proxy trusting `ca` for clients, with `--crl <crl>` and route `hooks=/hooks`
/// allowing any verified certificate. The server certificate comes from `pki`.
async fn proxy(
    pki: &Pki,
    ca: &RevokingCa,
    crl: &Path,
    upstream: &Upstream,
    extra: &[&str],
) -> Certgate {
    let (trust, crl) = (s(&ca.cert_path), s(crl));
    let mut args = vec![
        "--trust",
        trust.as_str(),
        "--crl",
        crl.as_str(),
        "--route",
        "hooks=/hooks",
        "--allow",
        "hooks=any",
    ];
    args.extend_from_slice(extra);
    Certgate::start(pki, &upstream.url, &args).await
}

/// Waits until a log line reports a reload that changed the CRLs.
async fn wait_for_crl_reload(cg: &Certgate) {
    cg.wait_for_log_where("reporting a CRL reload", |l| {
        l.contains("reloaded") && l.contains("crl=true")
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// New handshakes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn crl_written_after_start_refuses_the_revoked_clients_next_handshake() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let good = ca.issue("good", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    std::fs::write(&crl, ca.crl(&[])).unwrap();
    let cg = proxy(&pki, &ca, &crl, &upstream, &[]).await;
    let revoked_client = cg.client(&pki).cert(&revoked);
    let good_client = cg.client(&pki).cert(&good);
    assert_eq!(got(&revoked_client, "/hooks/r1").await, Got::Status(200));
    assert_eq!(got(&good_client, "/hooks/g1").await, Got::Status(200));

    write_atomic(&crl, &ca.crl(&[0x1001]));

    until(
        &revoked_client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "the revoked client's new handshake",
    )
    .await;
    let before = upstream.count();
    assert_eq!(got(&revoked_client, "/hooks/r2").await, Got::TlsRefused);
    assert_eq!(got(&good_client, "/hooks/g2").await, Got::Status(200));
    let paths = upstream.paths();
    assert_eq!(paths.len(), before + 1, "{paths:?}");
    assert_eq!(paths.last().unwrap(), "/hooks/g2");
    assert!(!paths.iter().any(|p| p == "/hooks/r2"), "{paths:?}");
    assert_eq!(
        upstream
            .requests()
            .last()
            .unwrap()
            .expect("x-client-cert-subject"),
        "CN=good"
    );
    // LOOSE log check: the rejection names revocation.
    wait_for_handshake_rejection_log(&cg, &["revoked"]).await;
}

#[tokio::test]
async fn a_broken_server_certificate_does_not_hold_back_an_emergency_crl() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let good = ca.issue("good", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    std::fs::write(&crl, ca.crl(&[])).unwrap();
    let cg = proxy(&pki, &ca, &crl, &upstream, &[]).await;
    let revoked_client = cg.client(&pki).cert(&revoked);
    let good_client = cg.client(&pki).cert(&good);
    assert_eq!(got(&revoked_client, "/hooks/r1").await, Got::Status(200));

    // A server-certificate rotation goes wrong (half-written file) at the same time as the
    // emergency CRL lands: the CRL must still apply; the old server certificate stays.
    std::fs::write(&pki.server.chain_path, "-----BEGIN CERTIFICATE-----\nMIIB").unwrap();
    write_atomic(&crl, &ca.crl(&[0x1001]));

    until(
        &revoked_client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "the revoked client's new handshake despite the broken server certificate",
    )
    .await;
    assert_eq!(got(&good_client, "/hooks/g2").await, Got::Status(200));
    assert_eq!(upstream.paths().last().unwrap(), "/hooks/g2");
    cg.wait_for_log("reload failed").await;
}

#[tokio::test]
async fn revoked_intermediate_refuses_the_leaves_it_issued() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = RevokingCa::root(pki.dir.path(), "Client Root");
    let bad_issuer = root.intermediate("Compromised Issuing CA", 0x2001);
    let good_issuer = root.intermediate("Healthy Issuing CA", 0x2002);
    let victim = bad_issuer.issue("victim", 0x3001);
    let bystander = good_issuer.issue("bystander", 0x3001);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("root.crl.pem");
    std::fs::write(&crl, root.crl(&[])).unwrap();
    let cg = proxy(&pki, &root, &crl, &upstream, &[]).await;
    let victim_client = cg.client(&pki).cert(&victim);
    assert_eq!(got(&victim_client, "/hooks/v1").await, Got::Status(200));

    // The root revokes the intermediate, not the leaf: the whole chain is checked.
    write_atomic(&crl, &root.crl(&[0x2001]));

    until(
        &victim_client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "a leaf under the revoked intermediate",
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&bystander), "/hooks/b1").await,
        Got::Status(200)
    );
    assert_eq!(upstream.paths().last().unwrap(), "/hooks/b1");
    assert_eq!(
        upstream
            .requests()
            .last()
            .unwrap()
            .expect("x-client-cert-subject"),
        "CN=bystander"
    );
}

// ---------------------------------------------------------------------------------------
// Resumption
// ---------------------------------------------------------------------------------------

/// A rustls client config that keeps its session cache across connections (the default
/// `Resumption` of `ClientConfig`), so a reconnect offers whatever the server handed out.
fn resuming_config(pki: &Pki, leaf: &Leaf, tls12: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca.der.clone())).unwrap();
    let mut chain = vec![CertificateDer::from(leaf.der.clone())];
    chain.extend(leaf.chain_der.iter().cloned().map(CertificateDer::from));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

/// One HTTP/1.1 GET over a new connection made with `cfg`: the status, or why none came.
async fn get_with_config(
    cfg: &Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<u16, String> {
    let fut = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let kind = tls.get_ref().1.handshake_kind();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tls))
                .await
                .map_err(|e| format!("http handshake ({kind:?}): {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request ({kind:?}): {e}"))?;
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        Ok(status)
    };
    tokio::time::timeout(CLIENT_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

async fn resumption_cannot_bring_back_a_revoked_client(tls12: bool) {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    std::fs::write(&crl, ca.crl(&[])).unwrap();
    let cg = proxy(&pki, &ca, &crl, &upstream, &[]).await;
    let cfg = resuming_config(&pki, &revoked, tls12);

    // Two full connections first, so the client holds whatever tickets or session ids the
    // server hands out.
    assert_eq!(get_with_config(&cfg, cg.addr, "/hooks/1").await, Ok(200));
    assert_eq!(get_with_config(&cfg, cg.addr, "/hooks/2").await, Ok(200));

    write_atomic(&crl, &ca.crl(&[0x1001]));
    wait_for_crl_reload(&cg).await;

    // Same config, same session cache: a resumption attempt if the server allowed any.
    let again = get_with_config(&cfg, cg.addr, "/hooks/3").await;
    assert!(
        again.is_err(),
        "a revoked client must not get an answer after the CRL reload, got {again:?}"
    );
    assert_eq!(upstream.paths(), ["/hooks/1", "/hooks/2"]);
}

#[tokio::test]
async fn revoked_client_cannot_resume_a_tls13_session_after_the_crl_reload() {
    resumption_cannot_bring_back_a_revoked_client(false).await;
}

#[tokio::test]
async fn revoked_client_cannot_resume_a_tls12_session_after_the_crl_reload() {
    resumption_cannot_bring_back_a_revoked_client(true).await;
}

// ---------------------------------------------------------------------------------------
// Open connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn revoked_clients_open_connection_gets_403_while_others_keep_working() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let good = ca.issue("good", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    std::fs::write(&crl, ca.crl(&[])).unwrap();
    let cg = proxy(&pki, &ca, &crl, &upstream, &[]).await;
    let mut revoked_conn = cg.client(&pki).cert(&revoked).connect().await.unwrap();
    let mut good_conn = cg.client(&pki).cert(&good).connect().await.unwrap();
    assert_eq!(revoked_conn.get("/hooks/r1").await.unwrap().status, 200);
    assert_eq!(good_conn.get("/hooks/g1").await.unwrap().status, 200);

    write_atomic(&crl, &ca.crl(&[0x1001]));
    wait_for_crl_reload(&cg).await;

    let r = revoked_conn
        .get("/hooks/r2")
        .await
        .expect("an HTTP answer on the open connection");
    assert_eq!(r.status, 403, "{:?}", r.body_str());
    // Refused from then on, not just once.
    match revoked_conn.get("/hooks/r3").await {
        Ok(r) => assert_eq!(r.status, 403),
        Err(e) => assert!(e.is_tls_refusal(), "{e:?}"),
    }
    assert_eq!(good_conn.get("/hooks/g2").await.unwrap().status, 200);

    assert_eq!(upstream.paths(), ["/hooks/r1", "/hooks/g1", "/hooks/g2"]);
    let reqs = upstream.requests();
    assert_eq!(reqs[0].expect("x-client-cert-subject"), "CN=revoked");
    assert_eq!(reqs[2].expect("x-client-cert-subject"), "CN=good");
}

// ---------------------------------------------------------------------------------------
// Bad and expired CRLs
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn crl_of_an_unknown_ca_is_kept_and_logged_and_the_good_crl_still_revokes() {
    // The contract: a CRL whose issuer no configured CA is (a CA bundle's extra CRLs, an
    // intermediate the client sends) is kept and logged, never an error. (A configured CA's
    // CRL with a bad signature is refused: tests/real_world_trust.rs.)
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let stranger = RevokingCa::root(pki.dir.path(), "Stranger CA");
    let revoked = ca.issue("revoked", 0x1001);
    let good = ca.issue("good", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    std::fs::write(&crl, ca.crl(&[0x1001])).unwrap();
    let cg = proxy(&pki, &ca, &crl, &upstream, &[]).await;
    let revoked_client = cg.client(&pki).cert(&revoked);
    assert_eq!(got(&revoked_client, "/hooks/r1").await, Got::TlsRefused);
    // A full round trip first: certgate registers its file watches only after logging
    // `listening`, so a change written at once could be missed.
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/g0").await,
        Got::Status(200)
    );

    write_atomic(
        &crl,
        &format!("{}{}", stranger.crl(&[0x1002]), ca.crl(&[0x1001])),
    );

    wait_for_crl_reload(&cg).await;
    let line = cg.wait_for_log("no configured CA").await;
    assert!(
        line.contains("CN=Stranger CA") && line.contains("client-ca.crl.pem"),
        "{line}"
    );
    assert_eq!(got(&revoked_client, "/hooks/r2").await, Got::TlsRefused);
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/g1").await,
        Got::Status(200),
        "the stranger's CRL lists the good client's serial, but it is not its issuer's CRL"
    );
    assert_eq!(upstream.paths(), ["/hooks/g0", "/hooks/g1"]);
}

#[tokio::test]
async fn expired_crl_refuses_the_chains_it_covers_unless_allowed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let other = RevokingCa::root(pki.dir.path(), "Other CA");
    let covered = ca.issue("covered", 0x1001);
    let uncovered = other.issue("uncovered", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    let crl = crl_dir.path().join("client-ca.crl.pem");
    let expired = ca.crl_between(
        &[],
        now() - time::Duration::days(8),
        now() - time::Duration::days(1),
    );
    std::fs::write(&crl, &expired).unwrap();
    let other_trust = s(&other.cert_path);

    let strict = proxy(&pki, &ca, &crl, &upstream, &["--trust", &other_trust]).await;
    assert_eq!(
        got(&strict.client(&pki).cert(&covered), "/hooks/strict-covered").await,
        Got::TlsRefused,
        "a CRL past its nextUpdate refuses the chains it covers"
    );
    assert_eq!(
        got(
            &strict.client(&pki).cert(&uncovered),
            "/hooks/strict-uncovered"
        )
        .await,
        Got::Status(200),
        "chains of another CA are not covered by that CRL"
    );
    drop(strict);

    let lenient = proxy(
        &pki,
        &ca,
        &crl,
        &upstream,
        &["--trust", &other_trust, "--crl-expired", "allow"],
    )
    .await;
    assert_eq!(
        got(
            &lenient.client(&pki).cert(&covered),
            "/hooks/lenient-covered"
        )
        .await,
        Got::Status(200)
    );
    assert_eq!(
        upstream.paths(),
        ["/hooks/strict-uncovered", "/hooks/lenient-covered"]
    );
}

#[tokio::test]
async fn der_crl_replacing_a_pem_crl_in_a_crl_directory_is_applied() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let good = ca.issue("good", 0x1002);
    let crl_dir = tempfile::tempdir().unwrap();
    std::fs::write(crl_dir.path().join("client-ca.pem"), ca.crl(&[])).unwrap();
    let cg = proxy(&pki, &ca, crl_dir.path(), &upstream, &[]).await;
    let revoked_client = cg.client(&pki).cert(&revoked);
    assert_eq!(got(&revoked_client, "/hooks/r1").await, Got::Status(200));

    // The CA now publishes DER: the new file goes in, the old one goes away.
    let tmp = crl_dir.path().join(".client-ca.crl.tmp");
    std::fs::write(&tmp, pem_to_der(&ca.crl(&[0x1001]))).unwrap();
    std::fs::rename(&tmp, crl_dir.path().join("client-ca.crl")).unwrap();
    std::fs::remove_file(crl_dir.path().join("client-ca.pem")).unwrap();

    until(
        &revoked_client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "the client revoked by the DER CRL",
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/g1").await,
        Got::Status(200)
    );
    assert_eq!(upstream.paths().last().unwrap(), "/hooks/g1");
}

#[tokio::test]
async fn newer_crl_of_the_same_issuer_is_not_shadowed_by_an_older_one() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let ca = RevokingCa::root(pki.dir.path(), "Client CA");
    let revoked = ca.issue("revoked", 0x1001);
    let crl_dir = tempfile::tempdir().unwrap();
    // Yesterday's CRL stays in the directory (it sorts first); today's revokes the client.
    // OpenSSL (nginx) uses the most recent CRL of an issuer; certgate must not let an
    // older, emptier CRL hide a revocation.
    let old = ca.crl_between(
        &[],
        now() - time::Duration::days(1),
        now() + time::Duration::days(6),
    );
    std::fs::write(crl_dir.path().join("a-yesterday.pem"), old).unwrap();
    let cg = proxy(&pki, &ca, crl_dir.path(), &upstream, &[]).await;
    let revoked_client = cg.client(&pki).cert(&revoked);
    assert_eq!(got(&revoked_client, "/hooks/r1").await, Got::Status(200));

    write_atomic(&crl_dir.path().join("b-today.pem"), &ca.crl(&[0x1001]));

    until(
        &revoked_client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "the client revoked by the newer CRL",
    )
    .await;
}
