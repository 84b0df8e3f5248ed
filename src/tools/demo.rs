//! `certgate demo`: a throwaway PKI, a built-in echo upstream, the real proxy on localhost, and
//! printed curl commands that show an allowed, a denied and a certificate-less request, and a
//! DocuSign-style signed webhook (`--verify`) that passes and the same body altered that
//! fails; `--self-test` runs those commands itself and fails on any surprise.
//!
//! Steps, one function each: `DemoDir` (where the files go) → `write_pki` → `start_echo` →
//! `start_proxy` (parses a real `certgate run` argument vector) → `print_guide` → wait for
//! Ctrl-C, or `self_test`.

use super::demo_pki::{write_pki, ClientCert, Pki};
use super::demo_webhook::{
    webhook_signature, write_webhook_files, DEMO_WEBHOOK, DEMO_WEBHOOK_ALTERED, SIGNED_PATH,
};
use super::echo::serve_echo;
use crate::config::cli::{Cli, Command, DemoArgs};
use crate::config::settings::Settings;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The identity the demo's `--allow` rule names; the escaped comma is the point of the example.
pub const ALLOWED_SUBJECT: &str = r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US";
/// A certificate from the same CA that no rule allows.
pub const DENIED_SUBJECT: &str = "CN=intruder.example,O=Someone Else,C=US";
/// The path the identity demo requests ask for.
const DEMO_PATH: &str = "/webhooks/docusign";
/// How long the proxy may take to report its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Upper bound for the whole self-test (every scenario).
const SELF_TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one request (curl's `--max-time` and the built-in client).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
/// How long the proxy may take to drain and stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Pki(#[from] super::demo_pki::PkiError),
}

fn setup(what: impl std::fmt::Display, e: impl std::fmt::Display) -> DemoError {
    DemoError::Setup(format!("{what}: {e}"))
}

/// Ok(true): everything behaved (or not a self-test); Ok(false): a self-test surprise.
pub async fn run(args: &DemoArgs) -> Result<bool, DemoError> {
    // Registered first, so a Ctrl-C during set-up still reaches the clean-up below.
    let mut stop = StopSignals::new()?;
    let dir = DemoDir::create(args.dir.as_deref())?;
    let pki = write_pki(dir.path())?;
    write_webhook_files(dir.path()).map_err(DemoError::Setup)?;
    let (echo_addr, echo) = start_echo().await?;
    let mut proxy = match start_proxy(dir.path(), echo_addr).await {
        Ok(p) => p,
        Err(e) => {
            echo.abort();
            return Err(e);
        }
    };
    print_guide(dir.path(), dir.owned, echo_addr, &proxy, args.self_test);

    let outcome = if args.self_test {
        tokio::select! {
            r = tokio::time::timeout(SELF_TEST_TIMEOUT, self_test(dir.path(), &pki, proxy.listen.port())) => {
                match r {
                    Ok(passed) => Ok(passed),
                    Err(_) => {
                        println!("FAIL  the self-test did not finish within {SELF_TEST_TIMEOUT:?}");
                        Ok(false)
                    }
                }
            }
            _ = stop.recv() => {
                println!("FAIL  interrupted");
                Ok(false)
            }
        }
    } else {
        wait_for_stop(&mut stop, &mut proxy.task).await
    };

    proxy.stop().await;
    echo.abort();
    if dir.owned {
        println!("Stopped; removed {}.", dir.path().display());
    } else {
        println!("Stopped; the files stay in {}.", dir.path().display());
    }
    outcome
}

// ---------------------------------------------------------------------------------------
// Where the files go
// ---------------------------------------------------------------------------------------

/// The PKI directory; a temporary one (`owned`) is removed on drop, a user's `--dir` never.
struct DemoDir {
    path: PathBuf,
    owned: bool,
}

impl DemoDir {
    fn create(user_dir: Option<&Path>) -> Result<DemoDir, DemoError> {
        use std::os::unix::fs::DirBuilderExt;
        match user_dir {
            Some(d) => {
                std::fs::create_dir_all(d)
                    .map_err(|e| setup(format!("--dir {}", d.display()), e))?;
                // Absolute, so the printed commands work from any directory.
                let path = d
                    .canonicalize()
                    .map_err(|e| setup(format!("--dir {}", d.display()), e))?;
                Ok(DemoDir { path, owned: false })
            }
            None => {
                let path = std::env::temp_dir().join(format!(
                    "certgate-demo-{}-{}",
                    std::process::id(),
                    random_suffix()
                ));
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&path)
                    .map_err(|e| setup(format!("cannot create {}", path.display()), e))?;
                Ok(DemoDir { path, owned: true })
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        if self.owned {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove the demo directory");
            }
        }
    }
}

fn random_suffix() -> String {
    use std::hash::BuildHasher;
    // RandomState is seeded per process from the OS; enough to keep two demos apart.
    let n = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{:08x}", n as u32)
}

/// SIGINT (Ctrl-C) and SIGTERM, registered up front.
struct StopSignals {
    int: Signal,
    term: Signal,
}

impl StopSignals {
    fn new() -> Result<StopSignals, DemoError> {
        let int = signal(SignalKind::interrupt()).map_err(|e| setup("cannot watch Ctrl-C", e))?;
        let term = signal(SignalKind::terminate()).map_err(|e| setup("cannot watch SIGTERM", e))?;
        Ok(StopSignals { int, term })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request with what certgate told it.
async fn start_echo() -> Result<(SocketAddr, JoinHandle<()>), DemoError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| setup("cannot start the echo upstream on 127.0.0.1", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| setup("echo upstream address", e))?;
    Ok((addr, tokio::spawn(serve_echo(listener, false))))
}

// ---------------------------------------------------------------------------------------
// The proxy
// ---------------------------------------------------------------------------------------

struct Proxy {
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    /// The `certgate run` flags the proxy was started with.
    args: Vec<String>,
    task: JoinHandle<Result<(), crate::RunError>>,
    stop: oneshot::Sender<()>,
}

impl Proxy {
    /// Ask the proxy to drain, and wait (bounded) until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        match tokio::time::timeout(STOP_TIMEOUT, self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the proxy stopped with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the proxy task failed"),
            Err(_) => tracing::warn!("the proxy did not stop within {STOP_TIMEOUT:?}"),
        }
    }
}

/// Exactly the flags a user would type; ports 0 pick free ones.
fn run_args(dir: &Path, upstream: SocketAddr) -> Vec<String> {
    let p = |f: &str| dir.join(f).display().to_string();
    let flags: [(&str, String); 15] = [
        ("--listen", "127.0.0.1:0".into()),
        ("--admin-listen", "127.0.0.1:0".into()),
        ("--server-cert", p("server.pem")),
        ("--server-key", p("server.key")),
        ("--trust", p("ca.pem")),
        ("--upstream", format!("http://{upstream}")),
        ("--route", "webhooks=/webhooks".into()),
        ("--allow", format!("webhooks=subject:{ALLOWED_SUBJECT}")),
        ("--route", "health=/health".into()),
        ("--allow", "health=public".into()),
        ("--route", "signed=/signed".into()),
        ("--allow", format!("signed=subject:{ALLOWED_SUBJECT}")),
        ("--verify", "signed=docusign".into()),
        ("--verify-key", format!("signed={}", p("docusign-hmac.key"))),
        // So that a certificate-less client reaches certgate's 401 instead of a TLS error.
        ("--client-auth", "optional".into()),
    ];
    flags
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .collect()
}

async fn start_proxy(dir: &Path, upstream: SocketAddr) -> Result<Proxy, DemoError> {
    let args = run_args(dir, upstream);
    let argv = ["certgate", "run"]
        .into_iter()
        .map(String::from)
        .chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| setup("the demo's run flags", e))?;
    let Command::Run(run) = cli.command else {
        return Err(DemoError::Setup(
            "the demo's run flags did not parse as `run`".into(),
        ));
    };
    let settings = Settings::from_run(&run).map_err(|e| setup("the demo's run flags", e))?;

    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let shutdown = async move {
        // Also resolves if the sender is dropped, so the proxy never outlives the demo.
        let _ = stop_rx.await;
    };
    let mut task = tokio::spawn(crate::run_with_ready(settings, shutdown, Some(ready_tx)));
    match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
        Ok(Ok((listen, admin))) => Ok(Proxy {
            listen,
            admin,
            args,
            task,
            stop: stop_tx,
        }),
        // The sender was dropped: `run_with_ready` returned before serving.
        Ok(Err(_)) => Err(match (&mut task).await {
            Ok(Err(e)) => setup(
                "the proxy did not start",
                format!("{:#}", anyhow::Error::from(e)),
            ),
            Ok(Ok(())) => DemoError::Setup("the proxy stopped before it served".into()),
            Err(e) => setup("the proxy task failed", e),
        }),
        Err(_) => {
            task.abort();
            Err(DemoError::Setup(format!(
                "the proxy did not start within {START_TIMEOUT:?}"
            )))
        }
    }
}

/// Until Ctrl-C / SIGTERM; a proxy that ends by itself is an error.
async fn wait_for_stop(
    stop: &mut StopSignals,
    task: &mut JoinHandle<Result<(), crate::RunError>>,
) -> Result<bool, DemoError> {
    tokio::select! {
        _ = stop.recv() => {
            println!();
            println!("Stopping...");
            Ok(true)
        }
        r = task => Err(match r {
            Ok(Ok(())) => DemoError::Setup("the proxy stopped unexpectedly".into()),
            Ok(Err(e)) => setup("the proxy stopped", format!("{:#}", anyhow::Error::from(e))),
            Err(e) => setup("the proxy task failed", e),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// What the reader sees
// ---------------------------------------------------------------------------------------

/// One of the demonstrated requests.
struct Scenario {
    title: &'static str,
    path: &'static str,
    /// A body file to POST with its DocuSign signature (the signed-webhook step).
    data: Option<&'static str>,
    /// `allowed` / `denied` (the file stem), or none for no certificate.
    client: Option<&'static str>,
    status: u16,
    /// Text the body must contain.
    body_has: Option<&'static str>,
    expect: &'static str,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        title: "allowed client",
        path: DEMO_PATH,
        data: None,
        client: Some("allowed"),
        status: 200,
        body_has: Some("CN=demo.docusign.net"),
        expect: "200: the upstream's answer, echoing the verified identity certgate injected",
    },
    Scenario {
        title: "denied client",
        path: DEMO_PATH,
        data: None,
        client: Some("denied"),
        status: 403,
        body_has: None,
        expect: "403 Forbidden with a request id (the reason is in certgate's log, on stderr)",
    },
    Scenario {
        title: "no client certificate",
        path: DEMO_PATH,
        data: None,
        client: None,
        status: 401,
        body_has: None,
        expect: "401 Unauthorized with a request id",
    },
    Scenario {
        title: "signed webhook",
        path: SIGNED_PATH,
        data: Some("webhook.json"),
        client: Some("allowed"),
        status: 200,
        body_has: Some("x-signature-verified: docusign; key=docusign-hmac"),
        expect: "200: the body's DocuSign HMAC verified; the upstream gets X-Signature-Verified",
    },
    Scenario {
        title: "the same webhook, body altered",
        path: SIGNED_PATH,
        data: Some("webhook-altered.json"),
        client: Some("allowed"),
        status: 401,
        body_has: None,
        expect:
            "401 Unauthorized: the signature does not match the body (log: signature=bad_signature)",
    },
];

/// The curl arguments of a scenario, as printed (self-test adds output options).
fn curl_args(dir: &Path, port: u16, scenario: &Scenario) -> Vec<String> {
    let p = |f: String| dir.join(f).display().to_string();
    let mut v = vec!["--cacert".to_string(), p("ca.pem".into())];
    if let Some(c) = scenario.client {
        v.extend([
            "--cert".to_string(),
            p(format!("{c}.pem")),
            "--key".to_string(),
            p(format!("{c}.key")),
        ]);
    }
    if let Some(file) = scenario.data {
        v.extend([
            "-H".to_string(),
            format!("X-DocuSign-Signature-1: {}", webhook_signature()),
            "--data-binary".to_string(),
            format!("@{}", p(file.to_string())),
        ]);
    }
    v.push(format!("https://localhost:{port}{}", scenario.path));
    v
}

/// POSIX-shell quoting, only where needed.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=@%+,".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_guide(dir: &Path, temporary: bool, echo: SocketAddr, proxy: &Proxy, self_test: bool) {
    let port = proxy.listen.port();
    println!();
    println!("certgate demo: a throwaway mutual-TLS setup on localhost");
    println!();
    println!(
        "  files     {}{}",
        dir.display(),
        if temporary { "  (removed on exit)" } else { "" }
    );
    println!(
        "            ca.pem  server.pem server.key  allowed.pem allowed.key  denied.pem denied.key"
    );
    println!("  upstream  http://{echo}  (built in: echoes the headers certgate adds)");
    println!("  proxy     https://localhost:{port}");
    println!();
    println!("The proxy runs with the flags you would give it yourself:");
    println!("  {}", command_line("certgate run", &proxy.args));
    println!();
    for (i, s) in SCENARIOS.iter().enumerate() {
        let who = match s.client {
            Some(_) if s.data.is_some() => String::new(),
            Some("allowed") => format!(" ({ALLOWED_SUBJECT})"),
            Some(_) => format!(" ({DENIED_SUBJECT}, same CA, no rule allows it)"),
            None => String::new(),
        };
        println!("{}. {}{who}", i + 1, capitalise(s.title));
        if s.data == Some("webhook.json") {
            println!("   A DocuSign-style signed webhook on a --verify route: the header is");
            println!("   Base64(HMAC-SHA256(docusign-hmac.key, webhook.json)).");
        }
        println!("  {}", command_line("curl", &curl_args(dir, port, s)));
        println!("  -> {}", s.expect);
        if s.client == Some("allowed") && s.data.is_none() {
            println!("       hello from the upstream: GET {DEMO_PATH}");
            println!("       x-client-cert-subject: {ALLOWED_SUBJECT}");
            println!("       ...");
        }
        if s.client.is_none() {
            println!(
                "     The demo runs with --client-auth optional so that certgate can answer; with the"
            );
            println!("     default, required, such a client is refused during the TLS handshake.");
        }
        println!();
    }
    if let Some(admin) = proxy.admin {
        println!("Metrics: curl http://{admin}/metrics");
        println!();
    }
    if !self_test {
        println!("Press Ctrl-C to stop.");
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Self-test
// ---------------------------------------------------------------------------------------

/// What came back for one request.
struct Answer {
    status: u16,
    body: String,
}

/// Run every scenario, print PASS/FAIL per check; true when all passed.
async fn self_test(dir: &Path, pki: &Pki, port: u16) -> bool {
    let use_curl = curl_available().await;
    if use_curl {
        println!("Self-test (running the curl commands above):");
    } else {
        println!("Self-test (curl is not on PATH; using the built-in client):");
    }
    let mut all = true;
    for s in &SCENARIOS {
        let answer = if use_curl {
            fetch_with_curl(curl_args(dir, port, s)).await
        } else {
            let client = match s.client {
                Some("allowed") => Some(&pki.allowed),
                Some(_) => Some(&pki.denied),
                None => None,
            };
            fetch_in_process(pki, client, port, s).await
        };
        let verdict = judge(s, answer.as_ref());
        match &verdict {
            Ok(()) => println!("PASS  {}: {}", s.title, s.status),
            Err(why) => println!("FAIL  {}: {why}", s.title),
        }
        if let Ok(a) = &answer {
            for line in a.body.lines() {
                println!("        {line}");
            }
        }
        all &= verdict.is_ok();
    }
    all
}

fn judge(s: &Scenario, answer: Result<&Answer, &String>) -> Result<(), String> {
    let a = answer.map_err(String::clone)?;
    if a.status != s.status {
        return Err(format!(
            "expected {}, got {}: {}",
            s.status,
            a.status,
            a.body.trim()
        ));
    }
    if let Some(text) = s.body_has {
        if !a.body.contains(text) {
            return Err(format!(
                "the body does not contain {text:?}: {}",
                a.body.trim()
            ));
        }
    }
    Ok(())
}

async fn curl_available() -> bool {
    let probe = tokio::task::spawn_blocking(|| {
        std::process::Command::new("curl")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
    });
    matches!(probe.await, Ok(Ok(status)) if status.success())
}

/// The printed command, plus `-sS -o - -w '\n%{http_code}'` and a time limit.
async fn fetch_with_curl(mut args: Vec<String>) -> Result<Answer, String> {
    let url = args.pop().unwrap_or_default();
    args.extend([
        "-sS".to_string(),
        "--max-time".to_string(),
        REQUEST_TIMEOUT.as_secs().to_string(),
        "-o".to_string(),
        "-".to_string(),
        "-w".to_string(),
        "\n%{http_code}".to_string(),
        url,
    ]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl").args(&args).output()
    })
    .await
    .map_err(|e| format!("curl task: {e}"))?
    .map_err(|e| format!("cannot run curl: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "curl failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let (body, code) = stdout
        .rsplit_once('\n')
        .ok_or_else(|| format!("unexpected curl output: {stdout:?}"))?;
    let status = code
        .trim()
        .parse()
        .map_err(|_| format!("unexpected curl status {code:?}"))?;
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}

/// The same request without curl: rustls (trusting only the demo CA) and hyper's HTTP/1.1 client.
async fn fetch_in_process(
    pki: &Pki,
    client: Option<&ClientCert>,
    port: u16,
    scenario: &Scenario,
) -> Result<Answer, String> {
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der.clone()))
        .map_err(|e| format!("demo CA: {e}"))?;
    let builder = rustls::ClientConfig::builder_with_provider(crate::pki::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client: {e}"))?
        .with_root_certificates(roots);
    let mut config = match client {
        Some(c) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(c.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
            )
            .map_err(|e| format!("client certificate: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let exchange = async {
        let tcp = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .uri(scenario.path)
            .header(http::header::HOST, format!("localhost:{port}"));
        let body = match scenario.data {
            None => Bytes::new(),
            Some(file) => {
                req = req
                    .method("POST")
                    .header("X-DocuSign-Signature-1", webhook_signature());
                Bytes::from(match file {
                    "webhook.json" => DEMO_WEBHOOK,
                    _ => DEMO_WEBHOOK_ALTERED,
                })
            }
        };
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_the_escaped_comma_dn_one_word() {
        assert_eq!(shell_quote("/tmp/a-b/ca.pem"), "/tmp/a-b/ca.pem");
        assert_eq!(
            shell_quote(&format!("webhooks=subject:{ALLOWED_SUBJECT}")),
            r"'webhooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn demo_flags_are_valid_run_flags() {
        let dir = Path::new("/nonexistent");
        let args = run_args(dir, "127.0.0.1:1".parse().unwrap());
        let argv = ["certgate", "run"]
            .into_iter()
            .map(String::from)
            .chain(args);
        let cli = Cli::try_parse_from(argv).unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        Settings::from_run(&run).unwrap();
    }
}
