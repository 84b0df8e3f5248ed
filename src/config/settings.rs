//! Validated, plain settings built from the CLI: parse, don't validate later. Every error
//! names the flag (or file) and the problem; `main` turns it into exit code 2.

use crate::config::allow_file::{self, AllowFile, AllowFileError};
use crate::config::cli::{
    ClientAuthArg, CrlExpiredArg, ForwardCertArg, LogFormat, MinTlsArg, PolicyArgs, RunArgs,
    VerifyArgs,
};
use crate::http::headers::{ForwardCert, HeaderConfig, HeaderError};
pub use crate::http::upstream::UpstreamUrl;
use crate::payload::route::VerifyConfig;
use crate::payload::Scheme;
use crate::pki::material::Sources;
use crate::pki::tls::{ClientAuth, MinTls, TlsOptions};
use crate::pki::trust::{ClientCaHints, TrustSources, DEFAULT_BUNDLE};
use crate::policy::{Policy, PolicyError};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{flag}: {problem}")]
    Missing { flag: &'static str, problem: String },
    #[error("{flag} {value:?}: {problem}")]
    Flag {
        flag: &'static str,
        value: String,
        problem: String,
    },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Headers(#[from] HeaderError),
    #[error(transparent)]
    AllowFile(#[from] AllowFileError),
}

/// `--client-ca-hints all|none|bundle:NAME...`: `all` and `none` stand alone; every NAME must
/// be a configured bundle.
fn parse_hints(values: &[String], trust: &TrustSources) -> Result<ClientCaHints, SettingsError> {
    const FLAG: &str = "--client-ca-hints";
    let mut bundles: Vec<String> = Vec::new();
    let mut single = None;
    for v in values {
        match v.as_str() {
            "all" => single = Some(ClientCaHints::All),
            "none" => single = Some(ClientCaHints::None),
            other => {
                let Some(name) = other.strip_prefix("bundle:") else {
                    return Err(flag_err(FLAG, v, "expected all, none or bundle:NAME"));
                };
                if !trust.bundles.iter().any(|(n, _)| n == name) {
                    let known: Vec<&str> = trust.bundles.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(flag_err(
                        FLAG,
                        v,
                        format!("no trust bundle {name:?} (configured: {known:?}; `default` is --trust)"),
                    ));
                }
                if !bundles.iter().any(|b| b == name) {
                    bundles.push(name.to_string());
                }
            }
        }
    }
    match (single, bundles.is_empty()) {
        (Some(_), false) => Err(flag_err(
            FLAG,
            &values.join(","),
            "all and none cannot be combined with bundle:NAME",
        )),
        (Some(h), true) => Ok(h),
        (None, false) => Ok(ClientCaHints::Bundles(bundles)),
        (None, true) => Ok(ClientCaHints::All),
    }
}

fn flag_err(flag: &'static str, value: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Flag {
        flag,
        value: value.to_string(),
        problem: problem.into(),
    }
}

/// Parse `http://HOST:PORT` or `unix:/path`; refuse a non-loopback HOST unless `allow_remote`.
pub fn parse_upstream(
    flag: &'static str,
    value: &str,
    allow_remote: bool,
) -> Result<UpstreamUrl, SettingsError> {
    if let Some(path) = value.strip_prefix("unix:") {
        if !path.starts_with('/') {
            return Err(flag_err(
                flag,
                value,
                "a unix socket path must be absolute (unix:/path/to.sock)",
            ));
        }
        return Ok(UpstreamUrl::Unix(PathBuf::from(path)));
    }
    let Some(rest) = value.strip_prefix("http://") else {
        return Err(flag_err(
            flag,
            value,
            "expected http://HOST:PORT or unix:/path/to.sock",
        ));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(flag_err(
            flag,
            value,
            "expected http://HOST:PORT with no path",
        ));
    }
    let uri_auth: http::uri::Authority = authority
        .parse()
        .map_err(|_| flag_err(flag, value, "not a valid HOST:PORT"))?;
    let host = uri_auth.host();
    // The port is checked here, not by `Authority` (which takes `:99999`, `:0` and `:`).
    let port = match authority.strip_prefix(host).unwrap_or("") {
        "" => None,
        p => Some(
            p.strip_prefix(':')
                .and_then(|p| {
                    p.parse::<u16>()
                        .ok()
                        .filter(|&n| n > 0 && !p.starts_with('+'))
                })
                .ok_or_else(|| {
                    flag_err(flag, value, "the port must be a number from 1 to 65535")
                })?,
        ),
    };
    let host_bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host_bare.eq_ignore_ascii_case("localhost")
        || host_bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback && !allow_remote {
        return Err(flag_err(
            flag,
            value,
            "host is not a loopback address or localhost: identities travel in plain headers; pass --allow-remote-upstream if the hop really is safe",
        ));
    }
    let authority = match port {
        Some(_) => authority.to_string(),
        None => format!("{authority}:80"),
    };
    Ok(UpstreamUrl::Http { authority })
}

/// Trust flags and the route policy, as `run` and `check` share them.
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub trust: TrustSources,
    pub client_auth: ClientAuth,
    /// The `--allow` rules and, after them, those the `--allow-file`s held at start-up.
    pub policy: Policy,
    /// `--allow-file`, in flag order.
    pub allow_files: Vec<AllowFile>,
}

impl PolicySettings {
    /// `route_upstream` is `run`'s `--route-upstream` (empty for `check`).
    pub fn from_args(
        a: &PolicyArgs,
        route_upstream: &[String],
    ) -> Result<PolicySettings, SettingsError> {
        let policy = Policy::from_flags(&a.route, &a.allow, &a.route_trust, route_upstream)?;
        // --allow-file: read whole at start-up; an unreadable or bad file is exit 2.
        let allow_files = allow_file::load_all(&a.allow_file, &policy)?;
        let policy =
            policy.with_file_rules(allow_files.iter().map(|f| (f.route, f.initial.as_slice())));
        let mut bundles: Vec<(String, Vec<PathBuf>)> = Vec::new();
        if !a.trust.is_empty() {
            bundles.push((DEFAULT_BUNDLE.to_string(), a.trust.clone()));
        }
        for v in &a.trust_bundle {
            let Some((name, path)) = v.split_once('=') else {
                return Err(flag_err("--trust-bundle", v, "expected NAME=PATH"));
            };
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
            {
                return Err(flag_err("--trust-bundle", v, "NAME must match [a-z0-9_-]+"));
            }
            if path.is_empty() {
                return Err(flag_err("--trust-bundle", v, "PATH is empty"));
            }
            match bundles.iter_mut().find(|(n, _)| n == name) {
                Some((_, paths)) => paths.push(PathBuf::from(path)),
                None => bundles.push((name.to_string(), vec![PathBuf::from(path)])),
            }
        }
        for route in policy.routes() {
            let public = route.public();
            if !public && !bundles.iter().any(|(n, _)| *n == route.trust_bundle) {
                let flag = if route.trust_bundle == DEFAULT_BUNDLE {
                    "--trust"
                } else {
                    "--route-trust"
                };
                return Err(SettingsError::Missing {
                    flag,
                    problem: format!(
                        "route {:?} needs trust bundle {:?}, which no --trust / --trust-bundle provides",
                        route.name, route.trust_bundle
                    ),
                });
            }
        }
        if bundles.is_empty() && !policy.all_public() {
            return Err(SettingsError::Missing {
                flag: "--trust",
                problem: "at least one trust anchor (--trust or --trust-bundle) is required unless every route is public".into(),
            });
        }
        Ok(PolicySettings {
            trust: TrustSources {
                bundles,
                intermediates: a.intermediates.clone(),
                crls: a.crl.clone(),
                allow_expired_crl: a.crl_expired == CrlExpiredArg::Allow,
                hints: ClientCaHints::All,
            },
            client_auth: match a.client_auth {
                ClientAuthArg::Required => ClientAuth::Required,
                ClientAuthArg::Optional => ClientAuth::Optional,
            },
            policy,
            allow_files,
        })
    }
}

/// `--verify*` and `--max-body-bytes`, checked against the declared routes.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// One per `--verify` route, in flag order.
    pub routes: Vec<VerifyConfig>,
    pub tolerance: Duration,
    pub max_body_bytes: usize,
}

impl VerifySettings {
    pub fn from_args(a: &VerifyArgs, policy: &Policy) -> Result<VerifySettings, SettingsError> {
        let route_index = |flag: &'static str, v: &str, name: &str| {
            policy
                .routes()
                .iter()
                .position(|r| r.name == name)
                .ok_or_else(|| flag_err(flag, v, format!("no --route declares route {name:?}")))
        };
        fn split<'v>(
            flag: &'static str,
            v: &'v str,
            what: &str,
        ) -> Result<(&'v str, &'v str), SettingsError> {
            v.split_once('=')
                .filter(|(n, x)| !n.is_empty() && !x.is_empty())
                .ok_or_else(|| flag_err(flag, v, format!("expected NAME={what}")))
        }
        let mut routes: Vec<VerifyConfig> = Vec::new();
        for v in &a.verify {
            let (name, scheme) = split("--verify", v, "SCHEME")?;
            let route = route_index("--verify", v, name)?;
            let scheme = Scheme::parse(scheme).ok_or_else(|| {
                flag_err(
                    "--verify",
                    v,
                    format!(
                        "unknown scheme {scheme:?} (one of {})",
                        Scheme::ALL.map(Scheme::as_str).join(", ")
                    ),
                )
            })?;
            if routes.iter().any(|r| r.route == route) {
                return Err(flag_err(
                    "--verify",
                    v,
                    format!("route {name} has --verify twice"),
                ));
            }
            routes.push(VerifyConfig {
                route,
                route_name: name.to_string(),
                scheme,
                key_paths: Vec::new(),
                report: false,
            });
        }
        for v in &a.verify_key {
            let (name, path) = split("--verify-key", v, "PATH")?;
            let r = routes
                .iter_mut()
                .find(|r| r.route_name == name)
                .ok_or_else(|| {
                    flag_err(
                        "--verify-key",
                        v,
                        format!("route {name} has no --verify {name}=SCHEME"),
                    )
                })?;
            r.key_paths.push(PathBuf::from(path));
        }
        for v in &a.verify_mode {
            let (name, mode) = split("--verify-mode", v, "enforce|report")?;
            let r = routes
                .iter_mut()
                .find(|r| r.route_name == name)
                .ok_or_else(|| {
                    flag_err(
                        "--verify-mode",
                        v,
                        format!("route {name} has no --verify {name}=SCHEME"),
                    )
                })?;
            r.report = match mode {
                "enforce" => false,
                "report" => true,
                _ => return Err(flag_err("--verify-mode", v, "MODE is enforce or report")),
            };
        }
        if let Some(r) = routes.iter().find(|r| r.key_paths.is_empty()) {
            return Err(SettingsError::Missing {
                flag: "--verify-key",
                problem: format!(
                    "route {} has --verify {}={} but no --verify-key {}=PATH",
                    r.route_name, r.route_name, r.scheme, r.route_name
                ),
            });
        }
        Ok(VerifySettings {
            routes,
            tolerance: a.verify_tolerance,
            max_body_bytes: a.max_body_bytes,
        })
    }

    /// Every key file or directory (watched for reloads).
    pub fn key_paths(&self) -> impl Iterator<Item = &std::path::Path> {
        self.routes
            .iter()
            .flat_map(|r| r.key_paths.iter().map(PathBuf::as_path))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub handshake: Duration,
    pub header: Duration,
    pub idle: Duration,
    pub upstream: Duration,
    /// `--send-timeout`: longest a response may make no progress toward the client.
    pub send: Duration,
    pub shutdown_grace: Duration,
}

/// Everything `certgate run` needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub policy: PolicySettings,
    pub verify: VerifySettings,
    pub tls: TlsOptions,
    /// `upstreams[0]` is `--upstream`.
    pub upstreams: Vec<UpstreamUrl>,
    /// For each route of `policy.policy.routes()`, its index into `upstreams`.
    pub route_upstream: Vec<usize>,
    pub admin_listen: Option<SocketAddr>,
    pub headers: HeaderConfig,
    pub timeouts: Timeouts,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    /// `--max-header-count`: header fields per request, HTTP/1 and HTTP/2.
    pub max_header_count: usize,
    pub expiry_warning: Duration,
    pub log_json: bool,
}

fn parse_addr(flag: &'static str, v: &str) -> Result<SocketAddr, SettingsError> {
    v.parse()
        .map_err(|_| flag_err(flag, v, "expected IP:PORT (e.g. 0.0.0.0:8443, [::]:8443)"))
}

impl Settings {
    /// The live material's inputs (`pki::material`).
    pub fn material_sources(&self) -> Sources<'_> {
        Sources {
            server_cert: &self.server_cert,
            server_key: &self.server_key,
            trust: &self.policy.trust,
            tls: self.tls,
        }
    }

    /// Every file or directory input that a reload reads (watched by `pki::watch`).
    pub fn watched_paths(&self) -> Vec<&std::path::Path> {
        let mut paths = vec![self.server_cert.as_path(), self.server_key.as_path()];
        paths.extend(self.policy.trust.paths());
        paths.extend(self.policy.allow_files.iter().map(|f| f.path.as_path()));
        paths.extend(self.verify.key_paths());
        paths
    }

    pub fn from_run(a: &RunArgs) -> Result<Settings, SettingsError> {
        let listen = parse_addr("--listen", &a.listen)?;
        let admin_listen = if a.admin_listen.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(parse_addr("--admin-listen", &a.admin_listen)?)
        };
        let mut policy = PolicySettings::from_args(&a.policy, &a.route_upstream)?;
        policy.trust.hints = parse_hints(&a.client_ca_hints, &policy.trust)?;
        let verify = VerifySettings::from_args(&a.verify, &policy.policy)?;
        let mut upstreams = vec![parse_upstream(
            "--upstream",
            &a.upstream,
            a.allow_remote_upstream,
        )?];
        let mut route_upstream = Vec::new();
        for route in policy.policy.routes() {
            let idx = match &route.upstream {
                None => 0,
                Some(url) => {
                    let u = parse_upstream("--route-upstream", url, a.allow_remote_upstream)?;
                    match upstreams.iter().position(|x| *x == u) {
                        Some(i) => i,
                        None => {
                            upstreams.push(u);
                            upstreams.len() - 1
                        }
                    }
                }
            };
            route_upstream.push(idx);
        }
        // Numeric ranges (and non-zero timeouts) are enforced by the parsers in cli.rs.
        let headers = HeaderConfig::new(
            &a.header_prefix,
            &a.identity_header,
            &a.strip_header,
            match a.forward_cert {
                ForwardCertArg::None => ForwardCert::None,
                ForwardCertArg::Pem => ForwardCert::Pem,
                ForwardCertArg::Rfc9440 => ForwardCert::Rfc9440,
            },
            a.xfcc,
        )?;
        Ok(Settings {
            listen,
            server_cert: a.server_cert.clone(),
            server_key: a.server_key.clone(),
            tls: TlsOptions {
                client_auth: policy.client_auth,
                min_tls: match a.min_tls {
                    MinTlsArg::V12 => MinTls::V12,
                    MinTlsArg::V13 => MinTls::V13,
                },
            },
            policy,
            verify,
            upstreams,
            route_upstream,
            admin_listen,
            headers,
            timeouts: Timeouts {
                handshake: a.handshake_timeout,
                header: a.header_timeout,
                idle: a.idle_timeout,
                upstream: a.upstream_timeout,
                send: a.send_timeout,
                shutdown_grace: a.shutdown_grace,
            },
            max_connections: a.max_connections,
            max_header_bytes: a.max_header_bytes,
            max_header_count: a.max_header_count,
            expiry_warning: a.expiry_warning,
            log_json: a.log_format == LogFormat::Json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("--upstream", "http://127.0.0.1:8080", false).unwrap(),
            UpstreamUrl::Http {
                authority: "127.0.0.1:8080".into()
            }
        );
        assert_eq!(
            parse_upstream("--upstream", "http://localhost", false).unwrap(),
            UpstreamUrl::Http {
                authority: "localhost:80".into()
            }
        );
        assert!(parse_upstream("--upstream", "http://[::1]:9000", false).is_ok());
        assert_eq!(
            parse_upstream("--upstream", "unix:/run/app.sock", false).unwrap(),
            UpstreamUrl::Unix("/run/app.sock".into())
        );
    }

    #[test]
    fn remote_upstream_needs_opt_in() {
        let e = parse_upstream("--upstream", "http://10.0.0.1:80", false).unwrap_err();
        assert!(e.to_string().contains("--allow-remote-upstream"));
        assert!(parse_upstream("--upstream", "http://10.0.0.1:80", true).is_ok());
        assert!(parse_upstream("--upstream", "https://127.0.0.1:80", false).is_err());
        assert!(parse_upstream("--upstream", "unix:relative.sock", false).is_err());
        assert!(parse_upstream("--upstream", "http://127.0.0.1:80/path", false).is_err());
    }

    #[test]
    fn upstream_ports_are_1_to_65535() {
        for bad in [
            "http://127.0.0.1:99999",
            "http://127.0.0.1:65536",
            "http://127.0.0.1:0",
            "http://127.0.0.1:",
            "http://[::1]:70000",
            "http://localhost:+80",
            "http://localhost:8x",
        ] {
            let e = parse_upstream("--route-upstream", bad, false).unwrap_err();
            assert!(e.to_string().starts_with("--route-upstream"), "{bad}: {e}");
        }
        for (good, authority) in [
            ("http://127.0.0.1:1", "127.0.0.1:1"),
            ("http://127.0.0.1:65535", "127.0.0.1:65535"),
            ("http://[::1]", "[::1]:80"),
            ("http://[::1]:8080/", "[::1]:8080"),
        ] {
            assert_eq!(
                parse_upstream("--upstream", good, false).unwrap(),
                UpstreamUrl::Http {
                    authority: authority.into()
                }
            );
        }
    }
}
