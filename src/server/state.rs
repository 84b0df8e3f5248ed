//! Process-wide state: settings, live material, upstream pools, metrics, the HTTP server
//! builders and the shutdown signal. Everything a connection or a background task reads,
//! and nothing about how one connection is driven.

use crate::config::settings::Settings;
use crate::http::upstream::Upstream;
use crate::ops::metrics::Metrics;
use crate::pki::material::LiveConfig;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// State shared by every connection.
pub struct Shared {
    pub settings: Settings,
    pub live: LiveConfig,
    /// Indexed like `settings.upstreams`.
    pub upstreams: Vec<Upstream>,
    /// Route names for labels, indexed like `settings.policy.policy.routes()`.
    pub route_names: Vec<Arc<str>>,
    pub metrics: Metrics,
    /// `/readyz`: serving with valid material and not draining.
    pub ready: AtomicBool,
    pub(crate) request_seq: AtomicU64,
    pub(crate) id_prefix: String,
    shutdown: watch::Sender<bool>,
    pub(crate) http: HttpBuilders,
}

impl Shared {
    pub fn new(settings: Settings, live: LiveConfig, mut metrics: Metrics) -> Arc<Shared> {
        let upstreams = settings.upstreams.iter().map(Upstream::new).collect();
        let names: Vec<&str> = settings
            .policy
            .policy
            .routes()
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        metrics.set_routes(&names);
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
        Arc::new(Shared {
            http,
            settings,
            live,
            upstreams,
            route_names,
            metrics,
            ready: AtomicBool::new(false),
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

    /// Follows `begin_shutdown` (see `until_shutdown`).
    pub(crate) fn shutdown_rx(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
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
        .keep_alive(true);
    // Bound what one HTTP/2 connection may buffer: streams, flow-control windows, send buffer.
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(s.max_header_bytes + 1024).unwrap_or(u32::MAX))
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
