//! Shared harness for certgate's integration tests: a throwaway PKI (rcgen), the real
//! `certgate` binary on an ephemeral port, a recording upstream, and real mTLS clients
//! (hyper over tokio-rustls, raw bytes over TLS, and the `curl` binary).
//!
//! Every test file does `mod support;` and uses a subset, hence `dead_code` is allowed.
//! Everything binds 127.0.0.1:0 (or a Unix socket in the test's temp dir) and every wait
//! is bounded.
//!
//! The API in one screen:
//! - PKI: `Pki::new()` (root `CN=Test Root CA,O=Certgate Test,C=US` + server cert for
//!   localhost/127.0.0.1), `pki.client(name, ClientSpec::new().c("US").o("Acme").cn("x")
//!   .san_dns(..).san_uri(..).san_email(..).expired().eku(Eku::ServerAuthOnly).serial(..))`,
//!   `pki.other_ca(name)`, `ca.intermediate(name)`, `ca.issue(name, spec)`,
//!   `ca.issue_server(name)`. A `Leaf` has `cert_path`, `chain_path`, `key_path`, `der`,
//!   `chain_der`, `key_der`, `pem`, `fingerprint()`, `without_chain()`.
//! - Upstream: `Upstream::start()`, `start_with(UpstreamBehaviour{status, body, delay})`,
//!   `start_unix(path)`; `.url`, `.requests()`, `.single()`, `.paths()`, `.count()`,
//!   `.assert_nothing(ctx)`. `Recorded::{all, one, expect, names_with_prefix}` compare names
//!   case-insensitively with `_` = `-`.
//! - certgate: `Certgate::start(&pki, &upstream.url, &extra_flags)` (base flags from
//!   `pki.base_args()`, admin off), `start_with_admin`, `start_args(&args, &env)`,
//!   `try_start_args`; `.addr`, `.logs()`, `.wait_for_log(s)`, `.wait_for_log_where(..)`,
//!   `.admin_addr()`, `.signal("TERM")`, `.wait_exit(t)`; killed on drop.
//!   `run_to_exit(&args, &env) -> Exit{code, stderr, stdout, timed_out}` for start-up errors.
//! - Clients: `cg.client(&pki).cert(&leaf).h2().tls12().get(path)` / `get_with(path,
//!   headers)` / `request(method, path, headers, body)` / `connect()` (keep-alive `Conn`),
//!   `.record_ca_hints()`, `.resumable()`; `ClientError::is_tls_refusal()` covers both the
//!   TLS 1.2 handshake failure and the TLS 1.3 alert after the handshake.
//!   `raw_request(&client, bytes, wait) -> RawResponse{bytes, closed}`;
//!   `curl(&pki, addr, path, Some(&leaf), &extra) -> CurlOutput{status, http_version, body..}`;
//!   `http_get(admin, path)` for the admin server.
//! - Raw HTTP/1.1 on both sides (`raw_upstream`, `raw_client`): `RawUpstream::start(vec![
//!   Reply::bytes(..), Reply::pieces(.., pause).then(After::Close), ok(body)])` answers the
//!   n-th request with the n-th reply and records every byte per connection (`.conns()`,
//!   `.arrivals()`, `.assert_lines(..)`; `head_lines`, `values`, `assert_incomplete`);
//!   `RawConn::open(&client)` keeps one TLS connection: `.send(bytes)`, `.send_split(bytes,
//!   at, pause)`, `.answer(head_request)`, `.try_answer(..)`, `.read_until_closed(wait)`.
//! - Checks: `eventually(what, timeout, || async { .. })`, `sha256_hex`, `metric_value`,
//!   `wait_for_handshake_rejection_log`, `replace_file`, `split_list`, `id_like_tokens`.

#![allow(dead_code)]

pub mod raw_client;
pub mod raw_upstream;
pub mod volume;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, Ia5String, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};

/// Upper bound for a single client exchange (connect + TLS + request + response).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for certgate to log its listening address.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for a log line to appear.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Polling
// ---------------------------------------------------------------------------------------

/// Polls `check` every 20 ms until it returns true; panics naming `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Hashing and encodings for independent checks
// ---------------------------------------------------------------------------------------

/// SHA-256 of `data` as lowercase hex, computed here independently of certgate.
pub fn sha256_hex(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    hex(d.as_ref())
}

/// Lowercase hex without separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `AA:BB:...` uppercase with colons, the form openssl prints fingerprints in.
pub fn colon_hex_upper(hex_lower: &str) -> String {
    hex_lower
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

/// The DER inside the first PEM block of `pem`.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("PEM body is base64")
}

// ---------------------------------------------------------------------------------------
// PKI
// ---------------------------------------------------------------------------------------

/// What the leaf's extendedKeyUsage says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eku {
    ClientAuth,
    ServerAuthOnly,
    None,
}

/// Description of a client certificate. DN attributes are pushed in DER order: call
/// `.c("US").o("Acme").cn("sender")` to get the RFC 4514 string `CN=sender,O=Acme,C=US`.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    dn: Vec<(DnType, DnValue)>,
    san_dns: Vec<String>,
    san_uri: Vec<String>,
    san_email: Vec<String>,
    eku: Eku,
    expired: bool,
    serial: Option<Vec<u8>>,
    not_after: Option<OffsetDateTime>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientSpec {
    /// Empty subject, no SANs, clientAuth EKU, valid from yesterday for a year.
    pub fn new() -> Self {
        ClientSpec {
            dn: Vec::new(),
            san_dns: Vec::new(),
            san_uri: Vec::new(),
            san_email: Vec::new(),
            eku: Eku::ClientAuth,
            expired: false,
            serial: None,
            not_after: None,
        }
    }
    /// Shorthand for a subject of just `CN=cn`.
    pub fn cn_only(cn: &str) -> Self {
        Self::new().cn(cn)
    }
    pub fn attr(mut self, ty: DnType, value: impl Into<DnValue>) -> Self {
        self.dn.push((ty, value.into()));
        self
    }
    pub fn c(self, v: &str) -> Self {
        self.attr(DnType::CountryName, v)
    }
    pub fn o(self, v: &str) -> Self {
        self.attr(DnType::OrganizationName, v)
    }
    pub fn ou(self, v: &str) -> Self {
        self.attr(DnType::OrganizationalUnitName, v)
    }
    pub fn cn(self, v: &str) -> Self {
        self.attr(DnType::CommonName, v)
    }
    pub fn san_dns(mut self, v: &str) -> Self {
        self.san_dns.push(v.to_string());
        self
    }
    pub fn san_uri(mut self, v: &str) -> Self {
        self.san_uri.push(v.to_string());
        self
    }
    pub fn san_email(mut self, v: &str) -> Self {
        self.san_email.push(v.to_string());
        self
    }
    pub fn eku(mut self, eku: Eku) -> Self {
        self.eku = eku;
        self
    }
    /// not_after in the past.
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }
    /// Serial number bytes (big-endian, keep the top bit clear to avoid a sign byte).
    pub fn serial(mut self, bytes: &[u8]) -> Self {
        self.serial = Some(bytes.to_vec());
        self
    }
    pub fn not_after(mut self, t: OffsetDateTime) -> Self {
        self.not_after = Some(t);
        self
    }
}

/// A certificate with its key, written as PEM files.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub name: String,
    /// PEM of the leaf alone.
    pub cert_path: PathBuf,
    /// PEM of the leaf followed by the intermediates that issued it (what a client sends).
    pub chain_path: PathBuf,
    /// PKCS#8 PEM private key.
    pub key_path: PathBuf,
    /// DER of the leaf.
    pub der: Vec<u8>,
    /// DER of the intermediates sent after the leaf (empty when issued by a root).
    pub chain_der: Vec<Vec<u8>>,
    /// PKCS#8 DER of the key.
    pub key_der: Vec<u8>,
    pub pem: String,
}

impl Leaf {
    /// The same certificate, but the client will send the leaf alone.
    pub fn without_chain(&self) -> Leaf {
        let mut l = self.clone();
        l.chain_der.clear();
        l.chain_path = l.cert_path.clone();
        l
    }
    /// SHA-256 of the leaf DER, lowercase hex, computed independently.
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.der)
    }
}

/// A certificate authority (root or intermediate) able to issue leaves.
pub struct Ca {
    pub name: String,
    cert: rcgen::Certificate,
    key: KeyPair,
    /// PEM file of this CA's certificate alone.
    pub cert_path: PathBuf,
    pub der: Vec<u8>,
    /// Intermediates between this CA and its root, this CA first (empty for a root).
    pub chain_der: Vec<Vec<u8>>,
    chain_pem: String,
    pem: String,
    dir: PathBuf,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A UTC instant, for fixed validity dates.
pub fn utc(year: i32, month: u8, day: u8, hour: u8, min: u8, sec: u8) -> OffsetDateTime {
    time::Date::from_calendar_date(year, time::Month::try_from(month).unwrap(), day)
        .unwrap()
        .with_hms(hour, min, sec)
        .unwrap()
        .assume_utc()
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "US");
    dn.push(DnType::OrganizationName, "Certgate Test");
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now() - days(1);
    p.not_after = now() + days(3 * 365);
    p
}

fn write(dir: &Path, file: &str, contents: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

impl Ca {
    /// A self-signed root `C=US,O=Certgate Test,CN=<name>` written to `<dir>/<name>.pem`.
    pub fn root(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let cert = ca_params(name).self_signed(&key).expect("self-sign CA");
        let pem = cert.pem();
        let cert_path = write(dir, &format!("{}.pem", file_name(name)), &pem);
        Ca {
            name: name.to_string(),
            der: cert.der().to_vec(),
            cert,
            key,
            cert_path,
            chain_der: Vec::new(),
            chain_pem: String::new(),
            pem,
            dir: dir.to_path_buf(),
        }
    }

    /// PEM of this CA's certificate.
    pub fn pem(&self) -> String {
        self.pem.clone()
    }

    /// The subject as RFC 4514 prints it.
    pub fn subject_rfc4514(&self) -> String {
        format!("CN={},O=Certgate Test,C=US", self.name)
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Ca {
        let key = KeyPair::generate().expect("intermediate key");
        let mut params = ca_params(name);
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign intermediate");
        let pem = cert.pem();
        let cert_path = write(&self.dir, &format!("{}.pem", file_name(name)), &pem);
        let mut chain_der = vec![cert.der().to_vec()];
        chain_der.extend(self.chain_der.iter().cloned());
        let chain_pem = format!("{pem}{}", self.chain_pem);
        Ca {
            name: name.to_string(),
            der: cert.der().to_vec(),
            cert,
            key,
            cert_path,
            chain_der,
            chain_pem,
            pem,
            dir: self.dir.clone(),
        }
    }

    /// Issues a client certificate described by `spec`; files are `<dir>/<name>.{crt,chain.pem,key}`.
    pub fn issue(&self, name: &str, spec: ClientSpec) -> Leaf {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (ty, v) in spec.dn {
            dn.push(ty, v);
        }
        p.distinguished_name = dn;
        for d in spec.san_dns {
            p.subject_alt_names
                .push(SanType::DnsName(Ia5String::try_from(d).expect("DNS SAN")));
        }
        for u in spec.san_uri {
            p.subject_alt_names
                .push(SanType::URI(Ia5String::try_from(u).expect("URI SAN")));
        }
        for e in spec.san_email {
            p.subject_alt_names.push(SanType::Rfc822Name(
                Ia5String::try_from(e).expect("email SAN"),
            ));
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = match spec.eku {
            Eku::ClientAuth => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Eku::ServerAuthOnly => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Eku::None => vec![],
        };
        if spec.expired {
            p.not_before = now() - days(30);
            p.not_after = now() - days(1);
        } else {
            p.not_before = now() - days(1);
            p.not_after = spec.not_after.unwrap_or_else(|| now() + days(365));
        }
        if let Some(s) = spec.serial {
            p.serial_number = Some(SerialNumber::from_slice(&s));
        }
        p.use_authority_key_identifier_extension = true;
        self.sign_leaf(name, p)
    }

    /// A TLS server certificate for `localhost` and 127.0.0.1 (serverAuth EKU).
    pub fn issue_server(&self, name: &str) -> Leaf {
        let mut p = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        p.distinguished_name = dn;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = now() - days(1);
        p.not_after = now() + days(2 * 365);
        p.use_authority_key_identifier_extension = true;
        self.sign_leaf(name, p)
    }

    fn sign_leaf(&self, name: &str, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        let pem = cert.pem();
        let base = file_name(name);
        let cert_path = write(&self.dir, &format!("{base}.crt"), &pem);
        let chain_path = write(
            &self.dir,
            &format!("{base}.chain.pem"),
            &format!("{pem}{}", self.chain_pem),
        );
        let key_path = write(&self.dir, &format!("{base}.key"), &key.serialize_pem());
        Leaf {
            name: name.to_string(),
            cert_path,
            chain_path,
            key_path,
            der: cert.der().to_vec(),
            chain_der: self.chain_der.clone(),
            key_der: key.serialize_der(),
            pem,
        }
    }
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A fresh PKI in a temp dir: the trusted root `ca` (`CN=Test Root CA,O=Certgate Test,C=US`)
/// and a server certificate for localhost/127.0.0.1 issued by it.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub server: Leaf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::root(dir.path(), "Test Root CA");
        let server = ca.issue_server("server");
        Pki { dir, ca, server }
    }

    /// A client certificate issued by the trusted root.
    pub fn client(&self, name: &str, spec: ClientSpec) -> Leaf {
        self.ca.issue(name, spec)
    }

    /// Another, untrusted root in the same directory.
    pub fn other_ca(&self, name: &str) -> Ca {
        Ca::root(self.dir.path(), name)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// `--listen 127.0.0.1:0 --admin-listen off --server-cert .. --server-key .. --trust CA`.
    pub fn base_args(&self) -> Vec<String> {
        vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--admin-listen".into(),
            "off".into(),
            "--server-cert".into(),
            s(&self.server.chain_path),
            "--server-key".into(),
            s(&self.server.key_path),
            "--trust".into(),
            s(&self.ca.cert_path),
        ]
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// A path as an argument string.
pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

// ---------------------------------------------------------------------------------------
// Recording upstream
// ---------------------------------------------------------------------------------------

/// One request as the upstream received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as received.
    pub path: String,
    /// Every header in arrival order, names lowercased (hyper), duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Lowercase, `_` folded to `-`: how CGI-style stacks see a header name.
pub fn fold_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

impl Recorded {
    /// Every value of headers whose folded name equals the folded `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let want = fold_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| fold_name(n) == want)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The single value of `name`; panics if it occurs more than once.
    pub fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(
            all.len() <= 1,
            "header {name} occurs {} times at the upstream: {all:?}",
            all.len()
        );
        all.first().copied()
    }
    /// The single value of `name`; panics if it is absent or repeated.
    pub fn expect(&self, name: &str) -> &str {
        self.one(name)
            .unwrap_or_else(|| panic!("upstream did not get {name}; headers: {:#?}", self.headers))
    }
    /// Names (folded) of every header starting with the folded `prefix`.
    pub fn names_with_prefix(&self, prefix: &str) -> Vec<String> {
        let p = fold_name(prefix);
        self.headers
            .iter()
            .map(|(n, _)| fold_name(n))
            .filter(|n| n.starts_with(&p))
            .collect()
    }
}

/// How the upstream answers.
#[derive(Clone, Debug)]
pub struct UpstreamBehaviour {
    pub status: u16,
    pub body: &'static str,
    /// Wait this long before answering (for upstream timeout tests).
    pub delay: Duration,
}

impl Default for UpstreamBehaviour {
    fn default() -> Self {
        UpstreamBehaviour {
            status: 200,
            body: "upstream-ok",
            delay: Duration::ZERO,
        }
    }
}

/// An HTTP/1.1 (and h2c) server that records every request and answers 200 `upstream-ok`.
/// Stops when dropped.
pub struct Upstream {
    /// `http://127.0.0.1:PORT` or `unix:/path`.
    pub url: String,
    pub addr: Option<SocketAddr>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// On 127.0.0.1:0.
    pub async fn start() -> Upstream {
        Self::start_with(UpstreamBehaviour::default()).await
    }

    pub async fn start_with(behaviour: UpstreamBehaviour) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                serve_recording(TokioIo::new(stream), reqs.clone(), behaviour.clone());
            }
        });
        Upstream {
            url: format!("http://{addr}"),
            addr: Some(addr),
            requests,
            task,
        }
    }

    /// On a Unix socket at `path`.
    pub async fn start_unix(path: &Path) -> Upstream {
        let listener = UnixListener::bind(path).expect("bind unix upstream");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let behaviour = UpstreamBehaviour::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                serve_recording(TokioIo::new(stream), reqs.clone(), behaviour.clone());
            }
        });
        Upstream {
            url: format!("unix:{}", s(path)),
            addr: None,
            requests,
            task,
        }
    }

    /// Everything received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The only request received; panics unless there was exactly one.
    pub fn single(&self) -> Recorded {
        let r = self.requests();
        assert_eq!(r.len(), 1, "upstream requests: {r:#?}");
        r.into_iter().next().unwrap()
    }

    /// Panics if anything reached the upstream.
    pub fn assert_nothing(&self, context: &str) {
        let r = self.requests();
        assert!(
            r.is_empty(),
            "{context}: upstream should have seen nothing but got {r:#?}"
        );
    }

    /// Paths received, in order.
    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.path).collect()
    }
}

fn serve_recording<I>(io: I, reqs: Arc<Mutex<Vec<Recorded>>>, behaviour: UpstreamBehaviour)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let reqs = reqs.clone();
            let behaviour = behaviour.clone();
            async move {
                let method = req.method().to_string();
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                let headers = req
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect();
                let body = match req.into_body().collect().await {
                    Ok(b) => b.to_bytes().to_vec(),
                    Err(_) => b"<<body error>>".to_vec(),
                };
                reqs.lock().unwrap().push(Recorded {
                    method,
                    path,
                    headers,
                    body,
                });
                if !behaviour.delay.is_zero() {
                    tokio::time::sleep(behaviour.delay).await;
                }
                let resp = hyper::Response::builder()
                    .status(behaviour.status)
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from_static(behaviour.body.as_bytes())))
                    .unwrap();
                Ok::<_, Infallible>(resp)
            }
        });
        // Records whatever certgate forwards: no header-count limit of its own below
        // certgate's (hyper's default is 100 lines).
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().max_headers(10_000);
        let _ = builder.serve_connection(io, svc).await;
    });
}

/// A TCP port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------
// The certgate process
// ---------------------------------------------------------------------------------------

/// Removes ANSI escape sequences (tracing may colour field names).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The command for `certgate <args>` with a clean, predictable environment.
fn command(args: &[String], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certgate"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CERTGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A running `certgate run`; killed on drop.
pub struct Certgate {
    child: Child,
    /// The TLS listener's bound address, parsed from `listening addr=IP:PORT`.
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Drop for Certgate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_log_reader(
    stream: impl std::io::Read + Send + 'static,
    logs: Arc<Mutex<Vec<String>>>,
    tag: &'static str,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let line = strip_ansi(&String::from_utf8_lossy(&line));
            eprintln!("[{tag}] {line}");
            logs.lock().unwrap().push(line);
        }
    })
}

/// Parses `IP:PORT` after `addr=` in a `listening` line (not the admin one).
fn listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") || line.to_ascii_lowercase().contains("admin") {
        return None;
    }
    addr_field(line)
}

/// Parses `IP:PORT` after `addr=` in the admin server's `listening` line. NOT CONTRACT: the
/// contract only promises the TLS listener's line; this one is `admin listening addr=..`.
fn admin_listening_addr(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") || !line.to_ascii_lowercase().contains("admin") {
        return None;
    }
    addr_field(line)
}

fn addr_field(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("addr=")? + "addr=".len()..];
    // Text (`addr=IP:PORT`, possibly quoted) and JSON (`"message":"listening addr=IP:PORT"}`).
    let token: String = rest
        .trim_start_matches('"')
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    token.parse().ok()
}

impl Certgate {
    /// `certgate run <pki.base_args()> --upstream <upstream> <extra>`.
    pub async fn start(pki: &Pki, upstream: &str, extra: &[&str]) -> Certgate {
        let mut args = pki.base_args();
        args.push("--upstream".into());
        args.push(upstream.into());
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::start_args(&args, &[]).await
    }

    /// Like `start`, but with the admin server on `127.0.0.1:0` (see `admin_addr`).
    pub async fn start_with_admin(pki: &Pki, upstream: &str, extra: &[&str]) -> Certgate {
        let mut args = pki.base_args();
        let i = args.iter().position(|a| a == "--admin-listen").unwrap();
        args[i + 1] = "127.0.0.1:0".into();
        args.push("--upstream".into());
        args.push(upstream.into());
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::start_args(&args, &[]).await
    }

    /// `certgate run <args>` with extra environment variables; panics (with the logs) unless
    /// it logs `listening addr=` within 30 s.
    pub async fn start_args(args: &[String], env: &[(&str, &str)]) -> Certgate {
        match Self::try_start_args(args, env).await {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    pub async fn try_start_args(args: &[String], env: &[(&str, &str)]) -> Result<Certgate, String> {
        let mut full = vec!["run".to_string()];
        full.extend(args.iter().cloned());
        let mut child = command(&full, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot spawn certgate: {e}"))?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        spawn_log_reader(child.stderr.take().unwrap(), logs.clone(), "certgate");
        spawn_log_reader(
            child.stdout.take().unwrap(),
            logs.clone(),
            "certgate stdout",
        );
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let found = logs.lock().unwrap().iter().find_map(|l| listening_addr(l));
            if let Some(addr) = found {
                return Ok(Certgate { child, addr, logs });
            }
            if let Ok(Some(status)) = child.try_wait() {
                // Give the reader threads a moment to drain the pipes.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let logs = logs.lock().unwrap().join("\n");
                return Err(format!(
                    "certgate {full:?} exited with {status} before listening; output:\n{logs}"
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                let logs = logs.lock().unwrap().join("\n");
                return Err(format!(
                    "certgate {full:?} did not log `listening addr=` within {START_TIMEOUT:?}; output:\n{logs}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Everything logged so far (ANSI stripped), stderr and stdout interleaved.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits up to 10 s for a log line satisfying `pred` and returns it.
    pub async fn wait_for_log_where(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            if let Some(l) = self.logs().into_iter().find(|l| pred(l)) {
                return l;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no log line {what} within {LOG_TIMEOUT:?}; logs:\n{}",
                    self.logs().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits up to 10 s for a log line containing `needle`.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_where(&format!("containing {needle:?}"), |l| l.contains(needle))
            .await
    }

    /// A Rust mTLS client for this proxy, trusting `pki.ca`, presenting no certificate.
    pub fn client(&self, pki: &Pki) -> Client {
        Client::new(self.addr, pki)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The admin server's address (start with `--admin-listen 127.0.0.1:0`), from its log
    /// line; waits up to 10 s.
    pub async fn admin_addr(&self) -> SocketAddr {
        let line = self
            .wait_for_log_where("with the admin listening address", |l| {
                admin_listening_addr(l).is_some()
            })
            .await;
        admin_listening_addr(&line).unwrap()
    }

    /// Sends `signal` (e.g. "TERM", "HUP") to this certgate process only, by pid.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg("-s")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits up to `timeout` for the process to exit; None if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Result of a certgate run that was expected to exit.
#[derive(Debug)]
pub struct Exit {
    /// None if killed by a signal (or by us after the timeout).
    pub code: Option<i32>,
    pub stderr: String,
    pub stdout: String,
    pub timed_out: bool,
}

/// Runs `certgate <args>` (include the sub-command) expecting it to exit within 15 s; kills
/// it otherwise and reports `timed_out`.
pub fn run_to_exit(args: &[String], env: &[(&str, &str)]) -> Exit {
    let mut child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn certgate");
    let err_buf = Arc::new(Mutex::new(Vec::new()));
    let out_buf = Arc::new(Mutex::new(Vec::new()));
    let t1 = spawn_log_reader(child.stderr.take().unwrap(), err_buf.clone(), "certgate");
    let t2 = spawn_log_reader(
        child.stdout.take().unwrap(),
        out_buf.clone(),
        "certgate stdout",
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = t1.join();
    let _ = t2.join();
    let stderr = err_buf.lock().unwrap().join("\n");
    let stdout = out_buf.lock().unwrap().join("\n");
    Exit {
        code: status.code(),
        stderr,
        stdout,
        timed_out,
    }
}

// ---------------------------------------------------------------------------------------
// Rust mTLS client (hyper over tokio-rustls)
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    Http1,
    H2,
}

/// A response as the client got it.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Names lowercased, duplicates kept.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// ALPN protocol negotiated on the connection.
    pub alpn: Option<Vec<u8>>,
    pub version: hyper::Version,
}

impl Response {
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a client exchange failed.
#[derive(Debug)]
pub enum ClientError {
    /// TCP connect failed.
    Connect(std::io::Error),
    /// The TLS handshake itself failed (the usual TLS 1.2 refusal).
    Handshake(std::io::Error),
    /// The handshake completed on the client side but the connection then died with a TLS
    /// alert, reset or EOF before any response: the TLS 1.3 form of a refused certificate.
    Refused(String),
    /// Any other HTTP-level failure.
    Http(String),
    Timeout(&'static str),
}

impl ClientError {
    /// The server refused the TLS connection (at or right after the handshake).
    pub fn is_tls_refusal(&self) -> bool {
        matches!(self, ClientError::Handshake(_) | ClientError::Refused(_))
    }
    pub fn is_handshake_failure(&self) -> bool {
        matches!(self, ClientError::Handshake(_))
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// True when the error chain shows a TLS alert, reset, EOF or a connection hyper saw close
/// before a response.
fn looks_like_refusal(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
            // io::Error::source() skips the wrapped error itself; look at it directly.
            if let Some(inner) = io.get_ref() {
                if looks_like_refusal(inner) {
                    return true;
                }
            }
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

fn http_error(e: hyper::Error) -> ClientError {
    if looks_like_refusal(&e) {
        ClientError::Refused(format!("{e:?}"))
    } else {
        ClientError::Http(format!("{e:?}"))
    }
}

/// Configures and opens mTLS connections to certgate.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    roots: Vec<Vec<u8>>,
    cert: Option<Leaf>,
    pub alpn: Alpn,
    tls12_only: bool,
    /// `Host`/`:authority` to send.
    host: String,
    /// When set, the CertificateRequest's CA names are stored here.
    hints: Option<CaHints>,
    /// One config shared by every connection, so TLS sessions can be resumed.
    shared: Option<Arc<rustls::ClientConfig>>,
}

/// The CA names (DER `Name`s) a server put in its CertificateRequest.
pub type CaHints = Arc<Mutex<Option<Vec<Vec<u8>>>>>;

/// Presents an optional certificate and records the server's CA hints.
#[derive(Debug)]
struct HintRecorder {
    hints: CaHints,
    key: Option<Arc<rustls::sign::CertifiedKey>>,
}

impl rustls::client::ResolvesClientCert for HintRecorder {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *self.hints.lock().unwrap() = Some(root_hint_subjects.iter().map(|h| h.to_vec()).collect());
        self.key.clone()
    }
    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

impl Client {
    pub fn new(addr: SocketAddr, pki: &Pki) -> Client {
        Client {
            addr,
            roots: vec![pki.ca.der.clone()],
            cert: None,
            alpn: Alpn::Http1,
            tls12_only: false,
            host: "localhost".into(),
            hints: None,
            shared: None,
        }
    }
    /// Freeze the configuration (call last): every connection from this client and its
    /// clones shares one rustls config and session cache, so TLS resumption is attempted.
    pub fn resumable(mut self) -> Client {
        self.shared = Some(Arc::new(self.build_tls_config()));
        self
    }
    /// Record the CA names of the server's CertificateRequest; read them after connecting.
    pub fn record_ca_hints(mut self) -> (Client, CaHints) {
        let hints: CaHints = Arc::new(Mutex::new(None));
        self.hints = Some(hints.clone());
        (self, hints)
    }
    /// Present `leaf` (and its intermediates) as the client certificate.
    pub fn cert(mut self, leaf: &Leaf) -> Client {
        self.cert = Some(leaf.clone());
        self
    }
    pub fn h2(mut self) -> Client {
        self.alpn = Alpn::H2;
        self
    }
    pub fn alpn(mut self, alpn: Alpn) -> Client {
        self.alpn = alpn;
        self
    }
    /// Offer TLS 1.2 only, so a refused certificate fails the handshake itself.
    pub fn tls12(mut self) -> Client {
        self.tls12_only = true;
        self
    }

    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        match &self.shared {
            Some(c) => c.clone(),
            None => Arc::new(self.build_tls_config()),
        }
    }

    fn build_tls_config(&self) -> rustls::ClientConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let versions: &[&'static rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let mut roots = rustls::RootCertStore::empty();
        for r in &self.roots {
            roots.add(CertificateDer::from(r.clone())).expect("root");
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots);
        let chain_and_key = self.cert.as_ref().map(|leaf| {
            let mut chain = vec![CertificateDer::from(leaf.der.clone())];
            chain.extend(leaf.chain_der.iter().cloned().map(CertificateDer::from));
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
            (chain, key)
        });
        let mut cfg = match (chain_and_key, &self.hints) {
            (ck, Some(hints)) => {
                let key = ck.map(|(chain, key)| {
                    let signer = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
                        .expect("signing key");
                    Arc::new(rustls::sign::CertifiedKey::new(chain, signer))
                });
                builder.with_client_cert_resolver(Arc::new(HintRecorder {
                    hints: hints.clone(),
                    key,
                }))
            }
            (Some((chain, key)), None) => builder
                .with_client_auth_cert(chain, key)
                .expect("client cert"),
            (None, None) => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = vec![match self.alpn {
            Alpn::Http1 => b"http/1.1".to_vec(),
            Alpn::H2 => b"h2".to_vec(),
        }];
        cfg
    }

    /// TCP + TLS only.
    pub async fn tls_connect(
        &self,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ClientError> {
        let tcp = tokio::time::timeout(CLIENT_TIMEOUT, TcpStream::connect(self.addr))
            .await
            .map_err(|_| ClientError::Timeout("tcp connect"))?
            .map_err(ClientError::Connect)?;
        let connector = tokio_rustls::TlsConnector::from(self.tls_config());
        let name = ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(CLIENT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| ClientError::Timeout("tls handshake"))?
            .map_err(ClientError::Handshake)
    }

    /// Opens a keep-alive connection for several requests.
    pub async fn connect(&self) -> Result<Conn, ClientError> {
        let tls = self.tls_connect().await?;
        let session = tls.get_ref().1;
        let alpn = session.alpn_protocol().map(|p| p.to_vec());
        let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        let server_cert = session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let io = TokioIo::new(tls);
        let sender = match self.alpn {
            Alpn::Http1 => {
                let (sender, conn) = tokio::time::timeout(
                    CLIENT_TIMEOUT,
                    hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io),
                )
                .await
                .map_err(|_| ClientError::Timeout("http1 handshake"))?
                .map_err(http_error)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::H1(sender)
            }
            Alpn::H2 => {
                let (sender, conn) = tokio::time::timeout(
                    CLIENT_TIMEOUT,
                    hyper::client::conn::http2::handshake::<_, _, Full<Bytes>>(
                        TokioExecutor::new(),
                        io,
                    ),
                )
                .await
                .map_err(|_| ClientError::Timeout("h2 handshake"))?
                .map_err(http_error)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::H2(sender)
            }
        };
        Ok(Conn {
            sender,
            alpn,
            resumed,
            server_cert,
            authority: format!("{}:{}", self.host, self.addr.port()),
            host: self.host.clone(),
        })
    }

    /// One GET on a fresh connection.
    pub async fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, &[], b"").await
    }

    /// One GET with extra headers on a fresh connection.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request("GET", path, headers, b"").await
    }

    /// One request on a fresh connection.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut conn = self.connect().await?;
        conn.request(method, path, headers, body).await
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// An open connection to certgate (keep-alive for HTTP/1.1, multiplexed for h2).
pub struct Conn {
    sender: Sender,
    pub alpn: Option<Vec<u8>>,
    /// The TLS session was resumed rather than fully handshaken.
    pub resumed: bool,
    /// DER of the server's leaf certificate on this connection.
    pub server_cert: Vec<u8>,
    authority: String,
    host: String,
}

impl Conn {
    pub async fn get(&mut self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, &[], b"").await
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut b = hyper::Request::builder().method(method);
        b = match self.sender {
            Sender::H1(_) => b.uri(path).header("host", self.host.as_str()),
            Sender::H2(_) => b
                .uri(format!("https://{}{}", self.authority, path))
                .version(hyper::Version::HTTP_2),
        };
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let req = b
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| ClientError::Http(format!("bad request: {e}")))?;
        let fut = async {
            let resp = match &mut self.sender {
                Sender::H1(s) => {
                    s.ready().await.map_err(http_error)?;
                    s.send_request(req).await.map_err(http_error)?
                }
                Sender::H2(s) => {
                    s.ready().await.map_err(http_error)?;
                    s.send_request(req).await.map_err(http_error)?
                }
            };
            let status = resp.status().as_u16();
            let version = resp.version();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Http(format!("response body: {e:?}")))?
                .to_bytes()
                .to_vec();
            Ok(Response {
                status,
                headers,
                body,
                alpn: self.alpn.clone(),
                version,
            })
        };
        tokio::time::timeout(CLIENT_TIMEOUT, fut)
            .await
            .map_err(|_| ClientError::Timeout("request"))?
    }
}

/// `get(addr, path, headers, client_cert, alpn)` in one call, trusting `pki.ca`.
pub async fn get(
    pki: &Pki,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    client_cert: Option<&Leaf>,
    alpn: Alpn,
) -> Result<Response, ClientError> {
    let mut c = Client::new(addr, pki).alpn(alpn);
    if let Some(l) = client_cert {
        c = c.cert(l);
    }
    c.get_with(path, headers).await
}

// ---------------------------------------------------------------------------------------
// Raw-bytes client
// ---------------------------------------------------------------------------------------

/// What came back on a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub bytes: Vec<u8>,
    /// The server closed the connection (EOF, close_notify or reset) before the timeout.
    pub closed: bool,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    /// Status code of the first response, if any.
    pub fn status(&self) -> Option<u16> {
        let text = self.text();
        let first = text.lines().next()?;
        let mut parts = first.split_whitespace();
        if !parts.next()?.starts_with("HTTP/") {
            return None;
        }
        parts.next()?.parse().ok()
    }
}

/// Sends `request` verbatim over mTLS (ALPN http/1.1) and reads until the server closes or
/// `wait` passes.
pub async fn raw_request(client: &Client, request: &[u8], wait: Duration) -> RawResponse {
    let client = client.clone().alpn(Alpn::Http1);
    let mut tls = client
        .tls_connect()
        .await
        .unwrap_or_else(|e| panic!("raw client: TLS connect failed: {e:?}"));
    let mut bytes = Vec::new();
    if tls.write_all(request).await.is_err() || tls.flush().await.is_err() {
        return RawResponse {
            bytes,
            closed: true,
        };
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 16384];
    loop {
        match tokio::time::timeout_at(deadline, tls.read(&mut buf)).await {
            Err(_) => {
                return RawResponse {
                    bytes,
                    closed: false,
                }
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return RawResponse {
                    bytes,
                    closed: true,
                }
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub struct CurlOutput {
    /// `%{http_code}`; 0 when no response arrived.
    pub status: u16,
    /// `%{http_version}`: `1.1`, `2`, or `0`.
    pub http_version: String,
    pub body: String,
    pub exit_code: Option<i32>,
    pub stderr: String,
}

/// Runs the real `curl` against `https://127.0.0.1:PORT<path>` trusting `pki.ca`, presenting
/// `cert` when given, with `extra` arguments (e.g. `-H`).
pub async fn curl(
    pki: &Pki,
    addr: SocketAddr,
    path: &str,
    cert: Option<&Leaf>,
    extra: &[&str],
) -> CurlOutput {
    let mut args: Vec<String> = vec![
        "-q".into(),
        "-sS".into(),
        "--noproxy".into(),
        "*".into(),
        "--max-time".into(),
        "10".into(),
        "--cacert".into(),
        s(&pki.ca.cert_path),
        "-o".into(),
        "-".into(),
        "-w".into(),
        "\n%{http_code} %{http_version}".into(),
    ];
    if let Some(l) = cert {
        args.extend([
            "--cert".into(),
            s(&l.chain_path),
            "--key".into(),
            s(&l.key_path),
        ]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(format!("https://127.0.0.1:{}{}", addr.port(), path));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run curl (is it installed?)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, last) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_str()));
    let mut last = last.split_whitespace();
    let status = last.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let http_version = last.next().unwrap_or("0").to_string();
    CurlOutput {
        status,
        http_version,
        body: body.to_string(),
        exit_code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers for assertions
// ---------------------------------------------------------------------------------------

/// Splits a comma-separated header value into trimmed items.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|x| x.trim().to_string()).collect()
}

/// Tokens of `text` that could be a request id: runs of `[A-Za-z0-9_-]` at least 8 long
/// holding at least one digit (so words like `Forbidden` are not taken for ids).
pub fn id_like_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|t| t.len() >= 8 && t.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// Lowercased set of header names, for quick "is any of these present" checks.
pub fn header_names(headers: &[(String, String)]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (n, _) in headers {
        *m.entry(fold_name(n)).or_insert(0) += 1;
    }
    m
}

/// LOOSE log check (wording is not contract): waits for a line that mentions "handshake"
/// and any of `reason_words`, all case-insensitively, and returns it.
pub async fn wait_for_handshake_rejection_log(cg: &Certgate, reason_words: &[&str]) -> String {
    let words: Vec<String> = reason_words.iter().map(|w| w.to_lowercase()).collect();
    cg.wait_for_log_where(
        &format!("mentioning a rejected handshake and one of {reason_words:?}"),
        |l| {
            let l = l.to_lowercase();
            l.contains("handshake") && words.iter().any(|w| l.contains(w.as_str()))
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Plain HTTP (admin server) and files
// ---------------------------------------------------------------------------------------

/// A plain-HTTP GET to `addr` (the admin server): status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::builder()
            .uri(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(CLIENT_TIMEOUT, fut)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// Replaces `path` atomically (write a sibling, then rename over it), as tools that rotate
/// certificates do.
pub fn replace_file(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp-replace");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Sum of the samples of `name` (exact metric name, e.g. `certgate_requests_total`) whose
/// labels include every `(label, value)` pair, from Prometheus text; None if no sample matches.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some((l, v)) = r.split_once('}') else {
                continue;
            };
            (l, v)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue; // a longer metric name
        };
        let all = labels
            .iter()
            .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")));
        if !all {
            continue;
        }
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

/// What a client got for one request on a fresh connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Status(u16),
    /// Refused at or right after the TLS handshake.
    TlsRefused,
    Error(String),
}

/// One request on a fresh connection, classified.
pub async fn got(client: &Client, path: &str) -> Got {
    match client.get(path).await {
        Ok(r) => Got::Status(r.status),
        Err(e) if e.is_tls_refusal() => Got::TlsRefused,
        Err(e) => Got::Error(format!("{e:?}")),
    }
}

/// Repeats a fresh-connection request until it yields `want`; panics after `timeout`
/// naming the last outcome.
pub async fn until(client: &Client, path: &str, want: Got, timeout: Duration, what: &str) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = got(client, path).await;
        if last == want {
            return;
        }
        if std::time::Instant::now() >= deadline {
            panic!("{what}: wanted {want:?} within {timeout:?}, last got {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until the server ends the connection (EOF, close_notify, reset); None if it is
/// still open after `wait`. Returns everything read.
pub async fn read_until_closed<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout_at(deadline, tokio::io::AsyncReadExt::read(stream, &mut buf))
            .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}
