#![forbid(unsafe_code)]
//! certgate: a mutual-TLS sidecar.
//!
//! ```text
//!  client ──TLS──▶ server.rs ── accept, handshake deadline (tls.rs: rustls + trust.rs verifier)
//!                      │        identity.rs: PeerIdentity, once per connection
//!                      │        HTTP/1: idle connections park (TLS state only) between requests
//!                      ▼
//!                  proxy.rs ── policy::normalize_path ─▶ policy::Policy::decide (PURE,
//!                      │        remembered per connection, route and trust generation)
//!                      │        headers.rs: strip inbound identity headers, set verified ones
//!                      ▼
//!                  upstream.rs ── kept-alive HTTP/1.1 (own small pool over hyper's client
//!                                 connection) to http://loopback or unix:/socket
//!
//!  side paths: reload.rs (ArcSwap of live material), admin.rs + metrics.rs,
//!              handshake_log.rs (why a handshake was refused)
//! ```
pub mod admin;
pub mod check;
pub mod cli;
pub mod demo;
pub mod dn;
pub mod expiry;
pub mod framing;
pub mod handshake_log;
pub mod headers;
pub mod identity;
pub mod inspect;
pub mod metrics;
pub mod policy;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod settings;
pub mod tls;
pub mod trust;
pub mod upstream;

use std::future::Future;

/// Start-up failures of `run` after settings were parsed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad material on disk: a usage error (exit 2).
    #[error(transparent)]
    Material(#[from] reload::ReloadError),
    #[error("{flag} {addr}: cannot listen: {source}")]
    Bind {
        flag: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Load material, bind, serve until `shutdown` resolves, then drain.
pub async fn run(
    settings: settings::Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    run_with_ready(settings, shutdown, None).await
}

/// Bound addresses, sent once the proxy serves: `(listener, admin listener)`.
pub type Ready = tokio::sync::oneshot::Sender<(std::net::SocketAddr, Option<std::net::SocketAddr>)>;

/// As `run`, and tell `ready` the bound addresses (for embedding, e.g. `certgate demo`).
pub async fn run_with_ready(
    settings: settings::Settings,
    shutdown: impl Future<Output = ()>,
    ready: Option<Ready>,
) -> Result<(), RunError> {
    // Watch first, read second: a change made while starting is never missed.
    let watching = reload::start_watching(&settings);
    let first = reload::build(&settings, 1)?;
    let live = reload::LiveConfig::new(first);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| RunError::Bind {
            flag: "--listen",
            addr: settings.listen,
            source,
        })?;
    let admin = match settings.admin_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::Bind {
                    flag: "--admin-listen",
                    addr,
                    source,
                })?,
        ),
        None => None,
    };
    let shared = server::Shared::new(settings, live, metrics::Metrics::new());
    let mut admin_addr = None;
    if let Some(admin) = admin {
        if let Ok(a) = admin.local_addr() {
            tracing::info!("admin listening addr={a}");
            admin_addr = Some(a);
        }
        tokio::spawn(admin::serve(shared.clone(), admin));
    }
    let listen_addr = listener.local_addr().map_err(|source| RunError::Bind {
        flag: "--listen",
        addr: shared.settings.listen,
        source,
    })?;
    // Ready from the moment the address is announced: the accept loop starts right after.
    shared
        .ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    tracing::info!("listening addr={listen_addr}");
    if let Some(tx) = ready {
        let _ = tx.send((listen_addr, admin_addr));
    }
    expiry::record(&shared, &shared.live.load());
    let background = [
        tokio::spawn(expiry::daily(shared.clone())),
        tokio::spawn(reload::watch(shared.clone(), watching)),
    ];
    let serving = tokio::spawn(server::serve(shared.clone(), listener));
    shutdown.await;
    tracing::info!("shutdown requested");
    shared.begin_shutdown();
    let _ = serving.await;
    for task in background {
        task.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (inside
/// the runtime), not when the future is first polled, so an early signal is not lost.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = wait(term) => {},
            _ = wait(int) => {},
        }
    }
}
