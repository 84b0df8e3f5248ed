//! Honest readiness: `/readyz` answers 503 while the server certificate in force is expired
//! or not yet valid (with an error log line naming the file), and 200 again as soon as a valid
//! one is reloaded or the certificate's validity begins. The certificates are made the way
//! operators make them, with `openssl ca` and explicit start and end dates, and rotated by a
//! Kubernetes `..data` symlink swap.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::volume::KubeVolume;
use support::*;

// ---------------------------------------------------------------------------------------
// openssl-made server certificates
// ---------------------------------------------------------------------------------------

/// A server CA made with `openssl req -x509`, signing with `openssl ca`.
struct OpensslCa {
    dir: PathBuf,
    issued: u32,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CA_CONFIG: &str = "\
[ ca ]
default_ca = CA_default
[ CA_default ]
database = index.txt
new_certs_dir = newcerts
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
commonName = supplied
[ server_ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
";

impl OpensslCa {
    fn new(dir: &Path) -> OpensslCa {
        let dir = dir.join("server-ca");
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CONFIG).unwrap();
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Ops Server CA",
                "-days",
                "3650",
            ],
        );
        OpensslCa { dir, issued: 0 }
    }

    /// A server certificate for localhost valid from `start` to `end` (openssl's
    /// `YYYYMMDDHHMMSSZ`); returns (certificate PEM, key PEM).
    fn issue(&mut self, start: &str, end: &str) -> (String, String) {
        self.issued += 1;
        let n = self.issued;
        let (key, csr, crt) = (
            format!("srv{n}.key"),
            format!("srv{n}.csr"),
            format!("srv{n}.pem"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=localhost",
            ],
        );
        openssl(
            &self.dir,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                &csr,
                "-out",
                &crt,
                "-startdate",
                start,
                "-enddate",
                end,
                "-extensions",
                "server_ext",
                "-notext",
            ],
        );
        (
            std::fs::read_to_string(self.dir.join(crt)).unwrap(),
            std::fs::read_to_string(self.dir.join(key)).unwrap(),
        )
    }
}

/// `unix` seconds as openssl's `YYYYMMDDHHMMSSZ`.
fn openssl_time(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------
// A Kubernetes Secret volume (`..data` symlink swaps)
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// certgate with its server certificate and key from `volume` (`tls.crt`, `tls.key`), the
/// admin server on an ephemeral port and one `any` route.
async fn start(pki: &Pki, volume: &KubeVolume, upstream: &str) -> (Certgate, SocketAddr) {
    let mut args = pki.base_args();
    let set = |args: &mut Vec<String>, flag: &str, value: String| {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1] = value;
    };
    set(&mut args, "--admin-listen", "127.0.0.1:0".into());
    set(&mut args, "--server-cert", s(&volume.path("tls.crt")));
    set(&mut args, "--server-key", s(&volume.path("tls.key")));
    for a in [
        "--upstream",
        upstream,
        "--route",
        "hooks=/hooks",
        "--allow",
        "hooks=any",
    ] {
        args.push(a.into());
    }
    let cg = Certgate::start_args(&args, &[]).await;
    let admin = cg.admin_addr().await;
    (cg, admin)
}

async fn status(admin: SocketAddr, path: &str) -> u16 {
    http_get(admin, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .0
}

async fn readyz_becomes(admin: SocketAddr, want: u16, timeout: Duration, what: &str) {
    eventually(what, timeout, || async move {
        status(admin, "/readyz").await == want
    })
    .await;
}

/// The ERROR line that names the server certificate file and says `phrase` (case-insensitive).
async fn server_cert_error_line(cg: &Certgate, file: &Path, phrase: &str) -> String {
    let file = s(file);
    let phrase = phrase.to_lowercase();
    cg.wait_for_log_where(
        &format!("at ERROR naming {file} and saying {phrase:?}"),
        |l| l.contains("ERROR") && l.contains(&file) && l.to_lowercase().contains(&phrase),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn expired_server_certificate_starts_not_ready_until_a_valid_one_is_swapped_in() {
    let pki = Pki::new();
    let mut ca = OpensslCa::new(pki.dir.path());
    let now = unix_now();
    let (old_crt, old_key) = ca.issue(&openssl_time(now - 60 * DAY), &openssl_time(now - DAY));
    let mut volume = KubeVolume::create(
        &pki.path("server-tls"),
        &[("tls.crt", &old_crt), ("tls.key", &old_key)],
    );
    let upstream = Upstream::start().await;
    let (cg, admin) = start(&pki, &volume, &upstream.url).await;

    // It starts (the admin server answers, the process lives) but is not ready.
    assert_eq!(status(admin, "/healthz").await, 200);
    assert_eq!(
        status(admin, "/readyz").await,
        503,
        "an expired server certificate must not report ready"
    );
    let line = server_cert_error_line(&cg, &volume.path("tls.crt"), "expired").await;
    assert!(
        line.to_lowercase().contains("server certificate"),
        "the error says which certificate: {line}"
    );

    // A valid certificate arrives by a `..data` swap: ready again without a restart.
    let (new_crt, new_key) = ca.issue(&openssl_time(now - DAY), &openssl_time(now + 90 * DAY));
    volume.update(&[("tls.crt", &new_crt), ("tls.key", &new_key)]);
    readyz_becomes(
        admin,
        200,
        Duration::from_secs(10),
        "/readyz 200 after the valid certificate was swapped in",
    )
    .await;
    assert_eq!(status(admin, "/healthz").await, 200);
    upstream.assert_nothing("no request was sent");
}

#[tokio::test]
async fn not_yet_valid_server_certificate_is_not_ready() {
    let pki = Pki::new();
    let mut ca = OpensslCa::new(pki.dir.path());
    let now = unix_now();
    let (crt, key) = ca.issue(&openssl_time(now + DAY), &openssl_time(now + 90 * DAY));
    let volume = KubeVolume::create(
        &pki.path("server-tls"),
        &[("tls.crt", &crt), ("tls.key", &key)],
    );
    let upstream = Upstream::start().await;
    let (cg, admin) = start(&pki, &volume, &upstream.url).await;
    assert_eq!(status(admin, "/healthz").await, 200);
    assert_eq!(status(admin, "/readyz").await, 503);
    server_cert_error_line(&cg, &volume.path("tls.crt"), "not yet valid").await;
}

#[tokio::test]
async fn server_certificate_that_expires_while_running_turns_readiness_off() {
    let pki = Pki::new();
    let mut ca = OpensslCa::new(pki.dir.path());
    let now = unix_now();
    // Valid for a few more seconds only: readiness must follow the clock, not just reloads.
    let (crt, key) = ca.issue(&openssl_time(now - DAY), &openssl_time(now + 5));
    let volume = KubeVolume::create(
        &pki.path("server-tls"),
        &[("tls.crt", &crt), ("tls.key", &key)],
    );
    let upstream = Upstream::start().await;
    let (cg, admin) = start(&pki, &volume, &upstream.url).await;
    let first = status(admin, "/readyz").await;
    assert!(
        first == 200 || unix_now() >= now + 5,
        "the certificate is still valid, so /readyz must be 200 (got {first})"
    );
    readyz_becomes(
        admin,
        503,
        Duration::from_secs(15),
        "/readyz 503 once the server certificate's notAfter has passed",
    )
    .await;
    server_cert_error_line(&cg, &volume.path("tls.crt"), "expired").await;
    assert_eq!(status(admin, "/healthz").await, 200);
}
