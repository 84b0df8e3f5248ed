//! Process-wide state: settings, live material, upstream pools, metrics, the HTTP server
//! builders, the shutdown signal and readiness (serving, not draining, and a server
//! certificate inside its validity period). Everything a connection or a background task
//! reads, and nothing about how one connection is driven.

use super::rules::LivePolicy;
use crate::config::settings::Settings;
use crate::http::upstream::Upstream;
use crate::ops::metrics::Metrics;
use crate::payload::route::RouteVerifier;
use crate::pki::material::LiveConfig;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::sign::CertifiedKey;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// State shared by every connection.
pub struct Shared {
    pub settings: Settings,
    pub live: LiveConfig,
    /// The rules in force (`--allow` and `--allow-file`), swapped on every change.
    pub policy: LivePolicy,
    /// Indexed like `settings.upstreams`.
    pub upstreams: Vec<Upstream>,
    /// Route names for labels, indexed like `settings.policy.policy.routes()`.
    pub route_names: Vec<Arc<str>>,
    pub metrics: Metrics,
    /// The payload check of each route (`--verify`), indexed like the routes.
    pub verifiers: Vec<Option<Arc<RouteVerifier>>>,
    /// Serving and not draining (`/readyz` also needs a server certificate in its
    /// validity period: `readiness`).
    pub ready: AtomicBool,
    /// The validity of the server certificate in force, parsed once per certificate.
    server_validity: Mutex<Option<(Arc<CertifiedKey>, Option<Validity>)>>,
    pub(crate) request_seq: AtomicU64,
    pub(crate) id_prefix: String,
    shutdown: watch::Sender<bool>,
    pub(crate) http: HttpBuilders,
}

impl Shared {
    pub fn new(
        settings: Settings,
        live: LiveConfig,
        mut metrics: Metrics,
        verifiers: Vec<RouteVerifier>,
    ) -> Arc<Shared> {
        let upstreams = settings.upstreams.iter().map(Upstream::new).collect();
        let names: Vec<&str> = settings
            .policy
            .policy
            .routes()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        metrics.set_routes(&names);
        let mut by_route: Vec<Option<Arc<RouteVerifier>>> = vec![None; names.len()];
        for v in verifiers {
            metrics.register_signature_route(&v.config.route_name, v.config.scheme.as_str());
            let i = v.config.route;
            by_route[i] = Some(Arc::new(v));
        }
        let route_names = settings
            .policy
            .policy
            .routes()
            .iter()
            .map(|r| Arc::<str>::from(r.name.as_str()))
            .collect();
        let mut seed = [0u8; 4];
        let _ = aws_lc_rs::rand::fill(&mut seed);
        let (shutdown, _) = watch::channel(false);
        let http = http_builders(&settings);
        let policy = LivePolicy::new(settings.policy.policy.clone(), &settings.policy.allow_files);
        Arc::new(Shared {
            http,
            policy,
            settings,
            live,
            upstreams,
            route_names,
            metrics,
            verifiers: by_route,
            ready: AtomicBool::new(false),
            server_validity: Mutex::new(None),
            request_seq: AtomicU64::new(1),
            id_prefix: crate::pki::identity::hex(&seed),
            shutdown,
        })
    }

    /// Begin draining: readiness off, listener closes, connections finish their requests.
    pub fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
    }

    /// Ok when `/readyz` answers 200: serving, not draining, and the server certificate in
    /// force is inside its validity period now (time-based, so a certificate that expires
    /// while certgate runs turns readiness off at that second).
    pub fn readiness(&self) -> Result<(), NotReady> {
        if !self.ready.load(Ordering::SeqCst) {
            return Err(NotReady::NotServing);
        }
        match self.server_cert_problem(crate::pki::expiry::now_unix()) {
            Some(p) => Err(NotReady::ServerCert(p)),
            None => Ok(()),
        }
    }

    /// Why the server certificate in force cannot be served at `now` (unix seconds), if so.
    pub fn server_cert_problem(&self, now: i64) -> Option<ServerCertProblem> {
        let key = self.live.load().server_cert.clone();
        let validity = {
            let mut cache = self
                .server_validity
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match &*cache {
                Some((k, v)) if Arc::ptr_eq(k, &key) => v.clone(),
                _ => {
                    let v = Validity::of(&key);
                    *cache = Some((key, v.clone()));
                    v
                }
            }
        }?;
        let time = validity.check(now)?;
        Some(ServerCertProblem {
            file: self.settings.server_cert.display().to_string(),
            subject: validity.subject,
            time,
        })
    }

    /// Shutdown has begun (connections finish what they serve, then close).
    pub(crate) fn draining(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Follows `begin_shutdown` (see `until_shutdown`).
    pub(crate) fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

/// The validity period of a server certificate's leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
    pub subject: String,
}

impl Validity {
    /// Only the leaf counts: an expired certificate further up the served chain (an old
    /// cross-sign) does not stop clients that build another path. None if it cannot be
    /// parsed (it was parsed at load, so this does not happen in practice).
    fn of(key: &CertifiedKey) -> Option<Validity> {
        let leaf = key.cert.first()?;
        let id = crate::pki::identity::PeerIdentity::from_chain(leaf, &[]).ok()?;
        Some(Validity {
            not_before: id.not_before_unix,
            not_after: id.not_after_unix,
            subject: id.subject_rfc4514,
        })
    }

    /// Pure: outside the period at `now` (bounds inclusive, as in path validation)?
    pub fn check(&self, now: i64) -> Option<CertTime> {
        if now > self.not_after {
            Some(CertTime::Expired {
                not_after: self.not_after,
            })
        } else if now < self.not_before {
            Some(CertTime::NotYetValid {
                not_before: self.not_before,
            })
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertTime {
    Expired { not_after: i64 },
    NotYetValid { not_before: i64 },
}

/// A server certificate that clients refuse because of the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertProblem {
    /// `--server-cert`.
    pub file: String,
    pub subject: String,
    pub time: CertTime,
}

fn rfc3339(unix: i64) -> String {
    crate::pki::trust::rfc3339(rustls::pki_types::UnixTime::since_unix_epoch(
        std::time::Duration::from_secs(unix.max(0) as u64),
    ))
}

impl std::fmt::Display for ServerCertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (file, subject) = (&self.file, &self.subject);
        match self.time {
            CertTime::Expired { not_after } => write!(
                f,
                "server certificate {file} ({subject}) expired at {}: every client refuses it; /readyz answers 503 until a valid certificate is loaded",
                rfc3339(not_after)
            ),
            CertTime::NotYetValid { not_before } => write!(
                f,
                "server certificate {file} ({subject}) is not yet valid: its validity starts at {} (is a clock wrong?); /readyz answers 503 until then or until a valid certificate is loaded",
                rfc3339(not_before)
            ),
        }
    }
}

/// Why `/readyz` answers 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    #[error("not serving (starting or draining)")]
    NotServing,
    #[error("{0}")]
    ServerCert(ServerCertProblem),
}

/// Resolves once shutdown has begun.
pub(crate) async fn until_shutdown(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// The HTTP server settings, built once and shared by every connection.
pub(crate) struct HttpBuilders {
    pub(crate) h1: hyper::server::conn::http1::Builder,
    pub(crate) h2: hyper::server::conn::http2::Builder<TokioExecutor>,
}

fn http_builders(s: &Settings) -> HttpBuilders {
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        // hyper's header timer also runs while a keep-alive connection waits idle, which
        // would cut idle connections at --header-timeout; certgate times heads itself from
        // their first byte (framing.rs) and idle connections by --idle-timeout.
        .header_read_timeout(None)
        .max_buf_size(h1_buffer(s.max_header_bytes))
        // --max-header-count: hyper answers 431 past it; the proxy applies the same limit
        // to HTTP/2, where only the header list's size is bounded by the protocol layer.
        .max_headers(s.max_header_count)
        .keep_alive(true);
    // Bound what one HTTP/2 connection may buffer: streams, flow-control windows, send buffer.
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        // As much room as HTTP/1's buffer (plus HTTP/2's 32 bytes per field), so that a
        // head somewhat over --max-header-bytes gets the proxy's own 431 with its request id
        // and access line, not h2's refusal of the stream or connection.
        .max_header_list_size(
            u32::try_from(h1_buffer(s.max_header_bytes) + 32 * s.max_header_count)
                .unwrap_or(u32::MAX),
        )
        .max_concurrent_streams(100)
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_send_buf_size(256 * 1024)
        .max_pending_accept_reset_streams(50);
    HttpBuilders { h1, h2 }
}

/// hyper's HTTP/1 read buffer: room for a head of `--max-header-bytes` plus slack; the
/// proxy's own check answers 431 exactly at the limit.
pub(crate) fn h1_buffer(max_header_bytes: usize) -> usize {
    (max_header_bytes + 16 * 1024).max(64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_bounds_are_inclusive() {
        let v = Validity {
            not_before: 100,
            not_after: 200,
            subject: "CN=localhost".into(),
        };
        assert_eq!(v.check(100), None);
        assert_eq!(v.check(200), None);
        assert_eq!(v.check(201), Some(CertTime::Expired { not_after: 200 }));
        assert_eq!(v.check(99), Some(CertTime::NotYetValid { not_before: 100 }));
    }

    #[test]
    fn problem_names_the_file_and_the_date() {
        let p = ServerCertProblem {
            file: "/etc/certgate/tls/tls.crt".into(),
            subject: "CN=localhost".into(),
            time: CertTime::Expired {
                not_after: 1_772_323_200,
            },
        };
        let text = p.to_string();
        assert!(text.contains("/etc/certgate/tls/tls.crt"), "{text}");
        assert!(text.contains("expired at 2026-03-01T00:00:00Z"), "{text}");
        let p = ServerCertProblem {
            time: CertTime::NotYetValid { not_before: 0 },
            ..p
        };
        assert!(p.to_string().contains("not yet valid"));
    }
}
