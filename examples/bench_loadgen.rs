//! mTLS load generator for the certgate benchmark (`bench/run.sh`).
//!
//! Sub-commands:
//!
//! * `pki --dir D` — write a throwaway PKI with rcgen, root -> intermediate -> leaf on both sides:
//!   `ca.pem` (the root, ECDSA P-256: the only certificate the proxies trust), `server.pem/.key`
//!   (localhost, 127.0.0.1; leaf + server intermediate), `client-ec.pem/.key` (P-256) and
//!   `client-rsa.pem/.key` (RSA-2048), each leaf + client intermediate, both clients with subject
//!   `CN=bench-client,O=Bench Inc,C=US` and EKU clientAuth, and `client-intermediate.pem`.
//! * `keepalive` — N connections, each sending sequential GETs for D seconds (or a request count);
//!   with `--body-file` (and `--header`) POSTs of that body instead (signed-webhook benchmark).
//! * `handshake` — C workers, each looping: new TCP + full TLS 1.3 handshake (no resumption) +
//!   one request (`Connection: close`) + close.
//! * `idle` — open N connections, complete one request on each, print `READY`, hold them idle
//!   for H seconds, then check each still answers and close them.
//!
//! Every run prints exactly one machine-readable line on stdout, starting with `RESULT `.
//! Traffic goes to loopback addresses only, and every duration and count is bounded.

use bytes::Bytes;
use clap::{Args, Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{header, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

const MAX_DURATION_S: f64 = 3600.0;
const MAX_CONNS: usize = 20_000;
/// Upper bound for any single connect / handshake / request.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many error messages are echoed to stderr (the rest are only counted).
const MAX_ERROR_MESSAGES: u64 = 10;

#[derive(Parser)]
#[command(
    name = "bench_loadgen",
    about = "mTLS load generator for the certgate benchmark"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the benchmark PKI into DIR.
    Pki {
        #[arg(long)]
        dir: PathBuf,
    },
    /// N keep-alive connections sending sequential requests.
    Keepalive {
        #[command(flatten)]
        common: Common,
        /// Number of connections.
        #[arg(long, default_value_t = 32)]
        conns: usize,
        /// Seconds to run (upper bound when --requests is given).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Total number of requests (split evenly over the connections); default: unlimited.
        #[arg(long)]
        requests: Option<u64>,
    },
    /// C workers doing full handshake + one request + close, in a loop.
    Handshake {
        #[command(flatten)]
        common: Common,
        /// Concurrent workers.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Open N connections, one request each, print READY, hold them idle.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Number of connections to hold.
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        /// Seconds to hold the connections after READY.
        #[arg(long, default_value_t = 10.0)]
        hold: f64,
        /// Connections being opened at the same time.
        #[arg(long, default_value_t = 32)]
        open_concurrency: usize,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Proxy address (loopback only).
    #[arg(long)]
    connect: SocketAddr,
    /// CA certificate that signed the proxy's server certificate.
    #[arg(long)]
    ca: PathBuf,
    /// Client certificate chain (PEM).
    #[arg(long)]
    cert: PathBuf,
    /// Client private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// SNI and name checked in the server certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// Runtime threads (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Key-exchange group offered by the client.
    #[arg(long, value_enum, default_value_t = Kx::X25519)]
    kx: Kx,
    /// POST this file as the body of every request (default: GET without a body).
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// An extra request header `Name: value`, repeatable (e.g. a precomputed signature).
    #[arg(long = "header")]
    headers: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kx {
    X25519,
    P256,
    /// rustls' default list for the aws-lc-rs provider.
    Default,
}

// ---------------------------------------------------------------------------------------------
// PKI

fn write_file(path: &Path, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

fn pki(dir: &Path) -> anyhow::Result<()> {
    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
        PKCS_RSA_SHA256,
    };
    std::fs::create_dir_all(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::days(1);
    let not_after = now + time::Duration::days(30);

    // A CA certificate named CN=<cn>,O=Bench Inc; `path_len` None: the root (unconstrained).
    let ca_params = |cn: &str, path_len: Option<u8>| -> anyhow::Result<CertificateParams> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Bench Inc");
        dn.push(DnType::CommonName, cn);
        ca.distinguished_name = dn;
        ca.is_ca = IsCa::Ca(match path_len {
            Some(n) => BasicConstraints::Constrained(n),
            None => BasicConstraints::Unconstrained,
        });
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_before = not_before;
        ca.not_after = not_after;
        Ok(ca)
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let root = ca_params("Bench Root CA", None)?.self_signed(&root_key)?;
    write_file(&dir.join("ca.pem"), &root.pem(), false)?;
    // One intermediate per side, as a real PKI has: the proxies trust only the root, so each
    // peer must send its intermediate along with its leaf.
    let intermediate = |cn: &str| -> anyhow::Result<(Certificate, KeyPair)> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = ca_params(cn, Some(0))?.signed_by(&key, &root, &root_key)?;
        Ok((cert, key))
    };
    let (srv_ca, srv_ca_key) = intermediate("Bench Server Intermediate CA")?;
    let (cli_ca, cli_ca_key) = intermediate("Bench Client Intermediate CA")?;

    let srv_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut srv = CertificateParams::new(vec!["localhost".to_string()])?;
    srv.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "localhost");
    srv.distinguished_name = dn;
    srv.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    srv.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    srv.not_before = not_before;
    srv.not_after = not_after;
    let srv_cert = srv.signed_by(&srv_key, &srv_ca, &srv_ca_key)?;
    write_file(
        &dir.join("server.pem"),
        &format!("{}{}", srv_cert.pem(), srv_ca.pem()),
        false,
    )?;
    write_file(&dir.join("server.key"), &srv_key.serialize_pem(), true)?;

    for (name, alg) in [
        ("client-ec", &PKCS_ECDSA_P256_SHA256),
        ("client-rsa", &PKCS_RSA_SHA256),
    ] {
        let key = KeyPair::generate_for(alg)
            .map_err(|e| anyhow::anyhow!("generating the {name} key: {e}"))?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        // Encoding order C, O, CN: RFC 4514 renders it as CN=bench-client,O=Bench Inc,C=US.
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "Bench Inc");
        dn.push(DnType::CommonName, "bench-client");
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = not_before;
        p.not_after = not_after;
        let cert = p.signed_by(&key, &cli_ca, &cli_ca_key)?;
        // Leaf + intermediate: the chain the client sends.
        write_file(
            &dir.join(format!("{name}.pem")),
            &format!("{}{}", cert.pem(), cli_ca.pem()),
            false,
        )?;
        write_file(&dir.join(format!("{name}.key")), &key.serialize_pem(), true)?;
    }
    // The client intermediate alone, for clients that load only the leaf from --cert and build
    // the chain they send from their CA file (openssl s_time): `ca.pem` + this one.
    write_file(&dir.join("client-intermediate.pem"), &cli_ca.pem(), false)?;
    println!("RESULT mode=pki dir={}", dir.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client plumbing

struct Ctx {
    addr: SocketAddr,
    connector: TlsConnector,
    server_name: ServerName<'static>,
    path: String,
    body: Option<Bytes>,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    error_messages: AtomicU64,
}

impl Ctx {
    fn new(c: &Common) -> anyhow::Result<Ctx> {
        if !c.connect.ip().is_loopback() {
            anyhow::bail!("--connect must be a loopback address, got {}", c.connect);
        }
        if !c.path.starts_with('/') {
            anyhow::bail!("--path must start with /");
        }
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        match c.kx {
            Kx::X25519 => {
                provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
            }
            Kx::P256 => {
                provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::SECP256R1];
            }
            Kx::Default => {}
        }
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&c.ca)
            .map_err(|e| anyhow::anyhow!("{}: {e}", c.ca.display()))?
        {
            roots.add(cert?)?;
        }
        let chain = CertificateDer::pem_file_iter(&c.cert)
            .map_err(|e| anyhow::anyhow!("{}: {e}", c.cert.display()))?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&c.key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", c.key.display()))?;
        let mut cfg = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        // Every connection is a full handshake: no session resumption, no tickets used.
        cfg.resumption = Resumption::disabled();
        cfg.enable_early_data = false;
        let server_name = ServerName::try_from(c.server_name.clone())?;
        let body = match &c.body_file {
            Some(p) => Some(Bytes::from(
                std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
            )),
            None => None,
        };
        let mut headers = Vec::new();
        for h in &c.headers {
            let (n, v) = h
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("--header {h:?}: expected Name: value"))?;
            headers.push((
                header::HeaderName::from_bytes(n.trim().as_bytes())?,
                header::HeaderValue::from_str(v.trim())?,
            ));
        }
        Ok(Ctx {
            addr: c.connect,
            connector: TlsConnector::from(Arc::new(cfg)),
            server_name,
            path: c.path.clone(),
            body,
            headers,
            error_messages: AtomicU64::new(0),
        })
    }

    fn report_error(&self, what: &str, e: &dyn std::fmt::Display) {
        if self.error_messages.fetch_add(1, Ordering::Relaxed) < MAX_ERROR_MESSAGES {
            eprintln!("bench_loadgen: {what}: {e}");
        }
    }

    async fn connect(&self) -> anyhow::Result<(SendRequest<Full<Bytes>>, JoinHandle<()>)> {
        let fut = async {
            let tcp = TcpStream::connect(self.addr).await?;
            tcp.set_nodelay(true)?;
            let tls = self
                .connector
                .connect(self.server_name.clone(), tcp)
                .await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
            let handle = tokio::spawn(async move {
                let _ = conn.await;
            });
            anyhow::Ok((sender, handle))
        };
        tokio::time::timeout(OP_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow::anyhow!("connect+handshake timed out"))?
    }

    /// One request; returns the status. Errors are IO/protocol errors.
    async fn request(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        close: bool,
    ) -> anyhow::Result<StatusCode> {
        let fut = async {
            sender.ready().await?;
            let method = if self.body.is_some() { "POST" } else { "GET" };
            let mut req = Request::builder()
                .method(method)
                .uri(self.path.as_str())
                .header(header::HOST, "localhost")
                .body(Full::new(self.body.clone().unwrap_or_default()))?;
            for (n, v) in &self.headers {
                req.headers_mut().insert(n.clone(), v.clone());
            }
            if close {
                req.headers_mut().insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
            }
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            anyhow::Ok(status)
        };
        tokio::time::timeout(OP_TIMEOUT, fut)
            .await
            .map_err(|_| anyhow::anyhow!("request timed out"))?
    }
}

#[derive(Default)]
struct Stats {
    ok: u64,
    responses: u64,
    errors: u64,
    lat_us: Vec<u32>,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.ok += o.ok;
        self.responses += o.responses;
        self.errors += o.errors;
        self.lat_us.extend(o.lat_us);
    }

    fn record(&mut self, ctx: &Ctx, t0: Instant, status: StatusCode) {
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.lat_us.push(us);
        self.responses += 1;
        if status == StatusCode::OK {
            self.ok += 1;
        } else {
            self.errors += 1;
            ctx.report_error("unexpected status", &status);
        }
    }

    /// (p50, p99, max) in microseconds.
    fn percentiles(&mut self) -> (u32, u32, u32) {
        if self.lat_us.is_empty() {
            return (0, 0, 0);
        }
        self.lat_us.sort_unstable();
        let n = self.lat_us.len();
        let at = |q: usize| self.lat_us[((n * q) / 100).min(n - 1)];
        (at(50), at(99), self.lat_us[n - 1])
    }
}

fn check_duration(d: f64) -> anyhow::Result<Duration> {
    if !(d > 0.0 && d <= MAX_DURATION_S) {
        anyhow::bail!("duration must be in (0, {MAX_DURATION_S}] seconds");
    }
    Ok(Duration::from_secs_f64(d))
}

fn check_count(n: usize, what: &str) -> anyhow::Result<()> {
    if n == 0 || n > MAX_CONNS {
        anyhow::bail!("{what} must be in 1..={MAX_CONNS}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Modes

/// Run `n` workers made by `worker` concurrently and merge their statistics.
async fn run_workers<F, Fut>(n: usize, mut worker: F) -> anyhow::Result<Stats>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Stats> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(worker())).collect();
    let mut st = Stats::default();
    for h in handles {
        st.merge(h.await?);
    }
    Ok(st)
}

async fn keepalive_worker(ctx: Arc<Ctx>, deadline: Instant, quota: Option<u64>) -> Stats {
    let mut st = Stats {
        lat_us: Vec::with_capacity(1 << 16),
        ..Stats::default()
    };
    let mut sent = 0u64;
    let more = |sent: u64| {
        Instant::now() < deadline
            && match quota {
                Some(q) => sent < q,
                None => true,
            }
    };
    'outer: while more(sent) {
        let (mut sender, conn) = match ctx.connect().await {
            Ok(c) => c,
            Err(e) => {
                st.errors += 1;
                ctx.report_error("connect", &e);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while more(sent) {
            let t0 = Instant::now();
            sent += 1;
            match ctx.request(&mut sender, false).await {
                Ok(status) => st.record(&ctx, t0, status),
                Err(e) => {
                    st.errors += 1;
                    ctx.report_error("request", &e);
                    conn.abort();
                    continue 'outer;
                }
            }
        }
        drop(sender);
        let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
    }
    st
}

async fn keepalive(
    c: Common,
    conns: usize,
    duration: f64,
    requests: Option<u64>,
) -> anyhow::Result<u64> {
    check_count(conns, "--conns")?;
    let dur = check_duration(duration)?;
    let ctx = Arc::new(Ctx::new(&c)?);
    let quota = requests.map(|r| r.div_ceil(conns as u64));
    let start = Instant::now();
    let deadline = start + dur;
    let mut st = run_workers(conns, || keepalive_worker(ctx.clone(), deadline, quota)).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let (p50, p99, max) = st.percentiles();
    println!(
        "RESULT mode=keepalive conns={conns} duration_s={elapsed:.3} requests={} ok={} rps={:.1} p50_us={p50} p99_us={p99} max_us={max} errors={}",
        st.responses,
        st.ok,
        st.ok as f64 / elapsed,
        st.errors
    );
    Ok(st.errors)
}

async fn handshake_worker(ctx: Arc<Ctx>, deadline: Instant) -> Stats {
    let mut st = Stats {
        lat_us: Vec::with_capacity(1 << 14),
        ..Stats::default()
    };
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let (mut sender, conn) = match ctx.connect().await {
            Ok(c) => c,
            Err(e) => {
                st.errors += 1;
                ctx.report_error("connect", &e);
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        match ctx.request(&mut sender, true).await {
            Ok(status) => st.record(&ctx, t0, status),
            Err(e) => {
                st.errors += 1;
                ctx.report_error("request", &e);
            }
        }
        drop(sender);
        // Let the connection finish its close (close_notify + FIN) before the next one.
        if tokio::time::timeout(Duration::from_secs(2), conn)
            .await
            .is_err()
        {
            ctx.report_error("close", &"connection did not close within 2s");
        }
    }
    st
}

async fn handshake(c: Common, concurrency: usize, duration: f64) -> anyhow::Result<u64> {
    check_count(concurrency, "--concurrency")?;
    let dur = check_duration(duration)?;
    let ctx = Arc::new(Ctx::new(&c)?);
    let start = Instant::now();
    let deadline = start + dur;
    let mut st = run_workers(concurrency, || handshake_worker(ctx.clone(), deadline)).await?;
    let elapsed = start.elapsed().as_secs_f64();
    let (p50, p99, max) = st.percentiles();
    println!(
        "RESULT mode=handshake concurrency={concurrency} duration_s={elapsed:.3} handshakes={} ok={} hps={:.1} p50_us={p50} p99_us={p99} max_us={max} errors={}",
        st.responses,
        st.ok,
        st.ok as f64 / elapsed,
        st.errors
    );
    Ok(st.errors)
}

type Held = (SendRequest<Full<Bytes>>, JoinHandle<()>);

async fn idle(c: Common, conns: usize, hold: f64, open_concurrency: usize) -> anyhow::Result<u64> {
    check_count(conns, "--conns")?;
    check_count(open_concurrency, "--open-concurrency")?;
    let hold = check_duration(hold)?;
    let ctx = Arc::new(Ctx::new(&c)?);
    let sem = Arc::new(tokio::sync::Semaphore::new(open_concurrency));
    let start = Instant::now();
    let handles: Vec<JoinHandle<anyhow::Result<Held>>> = (0..conns)
        .map(|_| {
            let ctx = ctx.clone();
            let sem = sem.clone();
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await?;
                let (mut sender, conn) = ctx.connect().await?;
                let status = ctx.request(&mut sender, false).await?;
                if status != StatusCode::OK {
                    anyhow::bail!("unexpected status {status}");
                }
                Ok((sender, conn))
            })
        })
        .collect();
    let mut held = Vec::with_capacity(conns);
    let mut errors = 0u64;
    for h in handles {
        match h.await? {
            Ok(x) => held.push(x),
            Err(e) => {
                errors += 1;
                ctx.report_error("open", &e);
            }
        }
    }
    let open_s = start.elapsed().as_secs_f64();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "READY conns={}", held.len())?;
        out.flush()?;
    }
    tokio::time::sleep(hold).await;

    // Every held connection must still be usable: one more request on each.
    let opened = held.len();
    let checks: Vec<_> = held
        .into_iter()
        .map(|(mut sender, conn)| {
            let ctx = ctx.clone();
            let sem = sem.clone();
            tokio::spawn(async move {
                let _permit = sem.acquire_owned().await?;
                let r = ctx.request(&mut sender, false).await;
                drop(sender);
                conn.abort();
                match r? {
                    StatusCode::OK => Ok(()),
                    s => anyhow::bail!("unexpected status {s} after idle hold"),
                }
            })
        })
        .collect();
    let mut alive = 0usize;
    for h in checks {
        match h.await? {
            Ok(()) => alive += 1,
            Err(e) => {
                errors += 1;
                ctx.report_error("after hold", &e);
            }
        }
    }
    println!(
        "RESULT mode=idle conns={conns} opened={opened} alive_after_hold={alive} open_s={open_s:.3} hold_s={:.3} errors={errors}",
        hold.as_secs_f64()
    );
    Ok(errors)
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads == 0 || threads > 64 {
        anyhow::bail!("--threads must be in 1..=64");
    }
    Ok(if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    })
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Pki { dir } => pki(&dir).map(|_| 0),
        Cmd::Keepalive {
            common,
            conns,
            duration,
            requests,
        } => runtime(common.threads)
            .and_then(|rt| rt.block_on(keepalive(common, conns, duration, requests))),
        Cmd::Handshake {
            common,
            concurrency,
            duration,
        } => runtime(common.threads)
            .and_then(|rt| rt.block_on(handshake(common, concurrency, duration))),
        Cmd::Idle {
            common,
            conns,
            hold,
            open_concurrency,
        } => runtime(common.threads)
            .and_then(|rt| rt.block_on(idle(common, conns, hold, open_concurrency))),
    };
    match res {
        Ok(0) => std::process::ExitCode::SUCCESS,
        // The RESULT line was printed; errors during the run give exit status 1.
        Ok(_) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("bench_loadgen: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
