//! Command-line definitions (clap) for `run`, `inspect`, `check` and `demo`.
//!
//! Every `run` flag also reads `CERTGATE_<FLAG>`; scalar flags through clap, repeatable
//! flags through `fill_from_env` (comma-separated, see `split_env_list`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "certgate",
    version,
    about = "Mutual-TLS sidecar: verifies client certificates, authorises per route, injects verified identity headers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The proxy: terminate TLS, verify the client certificate, authorise per route, forward.
    Run(Box<RunArgs>),
    /// Print every certificate in PEM/DER files, with ready-to-paste --allow rules.
    Inspect(InspectArgs),
    /// Run the verification and route policy of `run` offline on a certificate chain.
    Check(Box<CheckArgs>),
    /// Self-contained quick start: throwaway PKI, echo upstream, proxy, curl commands.
    Demo(DemoArgs),
    /// A plain-HTTP upstream that answers every request with the headers it received:
    /// put it where your app would be to see exactly what certgate forwards.
    Echo(EchoArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Address to listen on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
}

/// A humantime duration between `min` and `max`: every duration flag has a range, so a
/// value that would overflow a deadline (or means nothing) is a usage error naming the flag.
fn duration_within(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 10s, 2m, 90d)"))?;
    if d < min || d > max {
        return Err(format!(
            "must be between {} and {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(d)
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A timeout: 1ms to 24h.
fn timeout(s: &str) -> Result<Duration, String> {
    duration_within(s, Duration::from_millis(1), DAY)
}

/// `--shutdown-grace`: 0 (exit at once) to 24h.
fn grace(s: &str) -> Result<Duration, String> {
    duration_within(s, Duration::ZERO, DAY)
}

/// `--expiry-warning`: 0 to 3650 days.
fn expiry_window(s: &str) -> Result<Duration, String> {
    duration_within(s, Duration::ZERO, 3650 * DAY)
}

/// `--verify-tolerance`: 0 to 36500 days (RFC 9421's 2021 examples need years).
fn tolerance(s: &str) -> Result<Duration, String> {
    duration_within(s, Duration::ZERO, 36500 * DAY)
}

/// An integer flag within `range` (clap refuses anything else, naming the flag).
fn count(range: std::ops::RangeInclusive<u64>) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(range)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientAuthArg {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MinTlsArg {
    #[value(name = "1.2")]
    V12,
    #[value(name = "1.3")]
    V13,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForwardCertArg {
    None,
    Pem,
    Rfc9440,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CrlExpiredArg {
    Deny,
    Allow,
}

/// Trust and route-policy flags, shared by `run` and `check`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Trust anchors (PEM file, or directory of *.pem/*.crt), repeatable; bundle `default`.
    /// [env: CERTGATE_TRUST, comma-separated]
    #[arg(long = "trust", value_name = "PATH")]
    pub trust: Vec<PathBuf>,
    /// A named trust bundle NAME=PATH, repeatable. [env: CERTGATE_TRUST_BUNDLE, comma-separated]
    #[arg(long = "trust-bundle", value_name = "NAME=PATH")]
    pub trust_bundle: Vec<String>,
    /// Intermediate CAs that complete client chains; never trusted as anchors, repeatable.
    /// [env: CERTGATE_INTERMEDIATES, comma-separated]
    #[arg(long = "intermediates", value_name = "PATH")]
    pub intermediates: Vec<PathBuf>,
    /// CRL file (PEM or DER) or directory, repeatable. [env: CERTGATE_CRL, comma-separated]
    #[arg(long = "crl", value_name = "PATH")]
    pub crl: Vec<PathBuf>,
    /// What a CRL past its nextUpdate means: `deny` refuses chains it covers, `allow` keeps using it.
    #[arg(
        long = "crl-expired",
        value_enum,
        default_value = "deny",
        env = "CERTGATE_CRL_EXPIRED"
    )]
    pub crl_expired: CrlExpiredArg,
    /// required: no valid certificate, no connection. optional: handshake without one; non-public routes answer 401.
    #[arg(
        long = "client-auth",
        value_enum,
        default_value = "required",
        env = "CERTGATE_CLIENT_AUTH"
    )]
    pub client_auth: ClientAuthArg,
    /// A route NAME=PREFIX, repeatable. Prefixes and paths compare in one canonical form.
    /// [env: CERTGATE_ROUTE, comma-separated]
    #[arg(long = "route", value_name = "NAME=PREFIX")]
    pub route: Vec<String>,
    /// A rule NAME=RULE for route NAME, repeatable; a route's rules are OR-ed.
    /// [env: CERTGATE_ALLOW, comma-separated; a comma splits only before `<route>=<rule kind>`]
    #[arg(long = "allow", value_name = "NAME=RULE")]
    pub allow: Vec<String>,
    /// More rules for route NAME from a file (one rule per line, `#` comments), NAME=PATH,
    /// repeatable; watched and hot-reloaded.
    /// [env: CERTGATE_ALLOW_FILE, comma-separated]
    #[arg(long = "allow-file", value_name = "NAME=PATH")]
    pub allow_file: Vec<String>,
    /// The bundle a route's client chain must verify against, NAME=BUNDLE, repeatable.
    /// [env: CERTGATE_ROUTE_TRUST, comma-separated]
    #[arg(long = "route-trust", value_name = "NAME=BUNDLE")]
    pub route_trust: Vec<String>,
}

/// Payload signature flags (`--verify*`, `--max-body-bytes`), shared by `run` and `check`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Route NAME accepts only requests whose payload signature verifies, NAME=SCHEME
    /// (docusign, github, stripe, standard-webhooks, http-signature, upvest), repeatable.
    /// [env: CERTGATE_VERIFY, comma-separated]
    #[arg(long = "verify", value_name = "NAME=SCHEME")]
    pub verify: Vec<String>,
    /// The keys of route NAME's --verify: a file, or a directory of one key per file;
    /// any of them may verify. Repeatable; watched and hot-reloaded.
    /// [env: CERTGATE_VERIFY_KEY, comma-separated]
    #[arg(long = "verify-key", value_name = "NAME=PATH")]
    pub verify_key: Vec<String>,
    /// How far a signed timestamp may lie from certgate's clock, either way (0 to 36500d).
    #[arg(long = "verify-tolerance", value_name = "DUR", default_value = "5m", value_parser = tolerance, env = "CERTGATE_VERIFY_TOLERANCE")]
    pub verify_tolerance: Duration,
    /// NAME=enforce|report: `report` logs and counts a failed check and forwards anyway.
    /// [env: CERTGATE_VERIFY_MODE, comma-separated]
    #[arg(long = "verify-mode", value_name = "NAME=MODE")]
    pub verify_mode: Vec<String>,
    /// On --verify routes the body is read whole first; a larger one gets 413
    /// (1 to 1073741824). Other routes stream and have no limit.
    #[arg(
        long = "max-body-bytes",
        value_name = "N",
        default_value = "16777216",
        value_parser = count(1..=1_073_741_824),
        env = "CERTGATE_MAX_BODY_BYTES"
    )]
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// TLS listener address; port 0 picks a free port.
    #[arg(long, default_value = "0.0.0.0:8443", env = "CERTGATE_LISTEN")]
    pub listen: String,
    /// PEM chain of the server certificate, leaf first.
    #[arg(
        long = "server-cert",
        value_name = "PATH",
        env = "CERTGATE_SERVER_CERT"
    )]
    pub server_cert: PathBuf,
    /// PEM private key of the server certificate.
    #[arg(long = "server-key", value_name = "PATH", env = "CERTGATE_SERVER_KEY")]
    pub server_key: PathBuf,
    /// CA names the CertificateRequest carries: all, none, or bundle:NAME (repeatable; `default` is --trust). Env CERTGATE_CLIENT_CA_HINTS (comma-separated).
    #[arg(long = "client-ca-hints", value_name = "all|none|bundle:NAME")]
    pub client_ca_hints: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// Lowest TLS version accepted.
    #[arg(
        long = "min-tls",
        value_enum,
        default_value = "1.2",
        env = "CERTGATE_MIN_TLS"
    )]
    pub min_tls: MinTlsArg,
    /// Where allowed requests go: http://HOST:PORT (PORT 1-65535, default 80) or unix:/path.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "CERTGATE_UPSTREAM"
    )]
    pub upstream: String,
    /// Allow an upstream HOST that is not loopback.
    #[arg(long = "allow-remote-upstream", env = "CERTGATE_ALLOW_REMOTE_UPSTREAM")]
    pub allow_remote_upstream: bool,
    /// Per-route upstream NAME=URL, repeatable. [env: CERTGATE_ROUTE_UPSTREAM, comma-separated]
    #[arg(long = "route-upstream", value_name = "NAME=URL")]
    pub route_upstream: Vec<String>,
    /// Admin server (/healthz, /readyz, /metrics) address, or `off`.
    #[arg(
        long = "admin-listen",
        default_value = "127.0.0.1:9901",
        env = "CERTGATE_ADMIN_LISTEN"
    )]
    pub admin_listen: String,
    /// Prefix of the identity headers (and of the inbound headers removed); one that would
    /// also remove headers requests need (Content-, X-, Host, ...) is refused.
    #[arg(
        long = "header-prefix",
        default_value = "X-Client-Cert-",
        env = "CERTGATE_HEADER_PREFIX"
    )]
    pub header_prefix: String,
    /// Forward the client certificate: none, pem or rfc9440.
    #[arg(
        long = "forward-cert",
        value_enum,
        default_value = "none",
        env = "CERTGATE_FORWARD_CERT"
    )]
    pub forward_cert: ForwardCertArg,
    /// Rename one identity header FIELD=NAME, repeatable.
    /// [env: CERTGATE_IDENTITY_HEADER, comma-separated]
    #[arg(long = "identity-header", value_name = "FIELD=NAME")]
    pub identity_header: Vec<String>,
    /// One more inbound header that never reaches the upstream, repeatable (not Host,
    /// Content-Length, Transfer-Encoding, Content-Type, Content-Encoding).
    /// [env: CERTGATE_STRIP_HEADER, comma-separated]
    #[arg(long = "strip-header", value_name = "NAME")]
    pub strip_header: Vec<String>,
    /// Also set X-Forwarded-Client-Cert in Envoy's format.
    #[arg(long, env = "CERTGATE_XFCC")]
    pub xfcc: bool,
    /// Close a connection that has not finished its TLS handshake within this time
    /// (1ms to 24h).
    #[arg(long = "handshake-timeout", value_name = "DUR", default_value = "10s", value_parser = timeout, env = "CERTGATE_HANDSHAKE_TIMEOUT")]
    pub handshake_timeout: Duration,
    /// Time to receive a request's headers, from their first byte (1ms to 24h).
    #[arg(long = "header-timeout", value_name = "DUR", default_value = "10s", value_parser = timeout, env = "CERTGATE_HEADER_TIMEOUT")]
    pub header_timeout: Duration,
    /// Close a keep-alive connection with no request in progress for this long (1ms to 24h).
    #[arg(long = "idle-timeout", value_name = "DUR", default_value = "60s", value_parser = timeout, env = "CERTGATE_IDLE_TIMEOUT")]
    pub idle_timeout: Duration,
    /// Time for the upstream's response headers, request body upload included; past it
    /// the client gets 504 (1ms to 24h).
    #[arg(long = "upstream-timeout", value_name = "DUR", default_value = "60s", value_parser = timeout, env = "CERTGATE_UPSTREAM_TIMEOUT")]
    pub upstream_timeout: Duration,
    /// A response that makes no progress toward the client for this long (the client
    /// stopped reading, or grants no HTTP/2 window) ends its connection; also how long an
    /// HTTP/2 connection that idled out may leave certgate's GOAWAY/PING unanswered
    /// (1ms to 24h).
    #[arg(long = "send-timeout", value_name = "DUR", default_value = "10s", value_parser = timeout, env = "CERTGATE_SEND_TIMEOUT")]
    pub send_timeout: Duration,
    /// Most concurrent client connections; at the limit new ones wait in the backlog
    /// (1 to 1000000).
    #[arg(
        long = "max-connections",
        value_name = "N",
        default_value = "10000",
        value_parser = count(1..=1_000_000),
        env = "CERTGATE_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,
    /// Largest request head in bytes (target, header names and values); larger gets 431
    /// (256 to 1048576).
    #[arg(
        long = "max-header-bytes",
        value_name = "N",
        default_value = "65536",
        value_parser = count(256..=1_048_576),
        env = "CERTGATE_MAX_HEADER_BYTES"
    )]
    pub max_header_bytes: usize,
    /// Most header fields in one request, HTTP/1 and HTTP/2 alike (Host and repeats count,
    /// HTTP/2 pseudo-headers do not); more gets 431 (1 to 1000).
    #[arg(
        long = "max-header-count",
        value_name = "N",
        default_value = "100",
        value_parser = count(1..=1000),
        env = "CERTGATE_MAX_HEADER_COUNT"
    )]
    pub max_header_count: usize,
    /// Warn about server certificates, anchors, intermediates and CRL next updates that
    /// expire within this time, at start and daily (0 to 3650d).
    #[arg(long = "expiry-warning", value_name = "DUR", default_value = "90d", value_parser = expiry_window, env = "CERTGATE_EXPIRY_WARNING")]
    pub expiry_warning: Duration,
    /// On SIGTERM/SIGINT: stop accepting and let in-flight requests finish for up to this
    /// long, then exit 0 (0 to 24h).
    #[arg(long = "shutdown-grace", value_name = "DUR", default_value = "30s", value_parser = grace, env = "CERTGATE_SHUTDOWN_GRACE")]
    pub shutdown_grace: Duration,
    /// Log lines on stderr as text or one JSON object per line; RUST_LOG sets the levels.
    #[arg(
        long = "log-format",
        value_enum,
        default_value = "text",
        env = "CERTGATE_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    /// Runtime threads: 0 = one per CPU the process may use (affinity and cgroup aware);
    /// 1 = a single-threaded runtime, the leanest choice for a sidecar limited to one CPU
    /// (0 to 1024).
    #[arg(
        long = "worker-threads",
        value_name = "N",
        default_value = "0",
        value_parser = count(0..=1024),
        env = "CERTGATE_WORKER_THREADS"
    )]
    pub worker_threads: usize,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// PEM or DER files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// The client chain to check, leaf first (PEM). Optional with --request: then only
    /// the route's payload check runs.
    #[arg(long, required_unless_present = "request")]
    pub cert: Option<PathBuf>,
    /// A raw HTTP/1.1 request (request line, headers, blank line, body) to run the
    /// route's --verify check on; its target is the path (overrides --path).
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
    /// Request path to authorise.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Verify as of this time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Run the printed requests, check their answers, exit non-zero on any surprise.
    #[arg(long = "self-test")]
    pub self_test: bool,
    /// Directory for the throwaway PKI (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Split a comma-separated environment value. For `--allow` (`routes` is `Some`: the
/// declared route names) a comma starts a new item only when what follows is
/// `<declared route>=<rule kind>`, so DNs such as `CN=a,O=b,cn=any` stay whole.
pub fn split_env_list(value: &str, routes: Option<&[String]>) -> Vec<String> {
    let allow_rules = routes.is_some();
    const KINDS: &[&str] = &[
        "any",
        "public",
        "subject:",
        "issuer:",
        "cn:",
        "o:",
        "ou:",
        "san-dns:",
        "san-uri:",
        "san-email:",
        "fingerprint:",
    ];
    let starts_item = |rest: &str| -> bool {
        let rest = rest.trim_start();
        let Some((name, rule)) = rest.split_once('=') else {
            return false;
        };
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            && routes.is_none_or(|r| r.is_empty() || r.iter().any(|x| x == name))
            && KINDS.iter().any(|k| {
                rule.get(..k.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(k))
                    && {
                        // `any`/`public` must be whole words.
                        k.ends_with(':')
                            || rule[k.len()..].is_empty()
                            || rule[k.len()..].starts_with(',')
                    }
            })
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < value.len() {
        let c = bytes[i];
        if c == b'\\' && i + 1 < value.len() {
            // keep escapes as they are; `\,` never separates
            let ch_len = value[i + 1..].chars().next().map_or(1, char::len_utf8);
            cur.push_str(&value[i..i + 1 + ch_len]);
            i += 1 + ch_len;
            continue;
        }
        if c == b',' && (!allow_rules || starts_item(&value[i + 1..])) {
            out.push(std::mem::take(&mut cur));
            i += 1;
            continue;
        }
        let ch_len = value[i..].chars().next().map_or(1, char::len_utf8);
        cur.push_str(&value[i..i + ch_len]);
        i += ch_len;
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn env_list(name: &str, routes: Option<&[String]>) -> Vec<String> {
    std::env::var(name)
        .map(|v| split_env_list(&v, routes))
        .unwrap_or_default()
}

fn fill_strings(v: &mut Vec<String>, env: &str) {
    if v.is_empty() {
        *v = env_list(env, None);
    }
}

fn fill_paths(v: &mut Vec<PathBuf>, env: &str) {
    if v.is_empty() {
        *v = env_list(env, None).into_iter().map(PathBuf::from).collect();
    }
}

impl PolicyArgs {
    /// Repeatable flags given neither on the command line nor otherwise come from the environment.
    pub fn fill_from_env(&mut self) {
        fill_paths(&mut self.trust, "CERTGATE_TRUST");
        fill_strings(&mut self.trust_bundle, "CERTGATE_TRUST_BUNDLE");
        fill_paths(&mut self.intermediates, "CERTGATE_INTERMEDIATES");
        fill_paths(&mut self.crl, "CERTGATE_CRL");
        fill_strings(&mut self.route, "CERTGATE_ROUTE");
        if self.allow.is_empty() {
            let routes: Vec<String> = self
                .route
                .iter()
                .filter_map(|r| r.split_once('=').map(|(n, _)| n.to_string()))
                .collect();
            self.allow = env_list("CERTGATE_ALLOW", Some(&routes));
        }
        fill_strings(&mut self.route_trust, "CERTGATE_ROUTE_TRUST");
        fill_strings(&mut self.allow_file, "CERTGATE_ALLOW_FILE");
    }
}

impl VerifyArgs {
    pub fn fill_from_env(&mut self) {
        fill_strings(&mut self.verify, "CERTGATE_VERIFY");
        fill_strings(&mut self.verify_key, "CERTGATE_VERIFY_KEY");
        fill_strings(&mut self.verify_mode, "CERTGATE_VERIFY_MODE");
    }
}

impl RunArgs {
    pub fn fill_from_env(&mut self) {
        self.policy.fill_from_env();
        self.verify.fill_from_env();
        fill_strings(&mut self.route_upstream, "CERTGATE_ROUTE_UPSTREAM");
        fill_strings(&mut self.client_ca_hints, "CERTGATE_CLIENT_CA_HINTS");
        fill_strings(&mut self.identity_header, "CERTGATE_IDENTITY_HEADER");
        fill_strings(&mut self.strip_header, "CERTGATE_STRIP_HEADER");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_allow_list_keeps_dns_whole() {
        let routes = vec!["hooks".to_string(), "health".to_string()];
        let v = split_env_list(
            r"hooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US,hooks=cn:other,health=public",
            Some(&routes),
        );
        assert_eq!(
            v,
            vec![
                r"hooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US".to_string(),
                "hooks=cn:other".to_string(),
                "health=public".to_string()
            ]
        );
    }

    #[test]
    fn env_allow_list_splits_only_at_declared_routes() {
        let routes = vec!["hooks".to_string(), "cn".to_string()];
        // `cn=any` after a comma is part of the DN unless... `cn` is a declared route; with
        // only `hooks` declared it stays inside the subject rule.
        let only_hooks = vec!["hooks".to_string()];
        assert_eq!(
            split_env_list("hooks=subject:O=Acme,cn=any", Some(&only_hooks)),
            vec!["hooks=subject:O=Acme,cn=any".to_string()]
        );
        assert_eq!(
            split_env_list("hooks=subject:O=Acme,cn=any", Some(&routes)).len(),
            2
        );
    }

    #[test]
    fn env_plain_list_splits_on_commas() {
        assert_eq!(
            split_env_list("a=/x, b=/y,,", None),
            vec!["a=/x".to_string(), "b=/y".to_string()]
        );
    }

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    // Found by fuzzing (fuzz/fuzz_targets/rule.rs): a non-ASCII character right after
    // `ROUTE=` sliced a string inside a character (a panic at start-up).
    #[test]
    fn env_allow_list_with_non_ascii_after_a_route_name() {
        let routes = vec!["hooks".to_string()];
        assert_eq!(
            split_env_list("hooks=any,hooks=p\u{4ce}nu,hooks=cn:\u{e9}", Some(&routes)),
            vec![
                "hooks=any,hooks=p\u{4ce}nu".to_string(),
                "hooks=cn:\u{e9}".to_string()
            ]
        );
    }
}
