//! The process: load and validate the material, bind the listeners, serve until shutdown,
//! then drain. `certgate run` and `certgate demo` both start here.

use super::state::Shared;
use super::{listener, reloader};
use crate::config::settings::Settings;
use crate::ops::expiry;
use crate::ops::metrics::Metrics;
use crate::pki::{material, watch};
use std::future::Future;

/// Start-up failures of `run` after settings were parsed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad material on disk: a usage error (exit 2).
    #[error(transparent)]
    Material(#[from] material::ReloadError),
    /// A `--verify-key` that cannot be read or parsed: a usage error (exit 2).
    #[error(transparent)]
    VerifyKey(#[from] crate::payload::KeyError),
    #[error("{flag} {addr}: cannot listen: {source}")]
    Bind {
        flag: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Load material, bind, serve until `shutdown` resolves, then drain.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    run_with_ready(settings, shutdown, None).await
}

/// Bound addresses, sent once the proxy serves: `(listener, admin listener)`.
pub type Ready = tokio::sync::oneshot::Sender<(std::net::SocketAddr, Option<std::net::SocketAddr>)>;

/// As `run`, and tell `ready` the bound addresses (for embedding, e.g. `certgate demo`).
pub async fn run_with_ready(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    ready: Option<Ready>,
) -> Result<(), RunError> {
    // Watch first, read second: a change made while starting is never missed.
    let watching = watch::start_watching(settings.watched_paths());
    let first = material::build(settings.material_sources(), 1)?;
    let live = material::LiveConfig::new(first);
    let verifiers = settings
        .verify
        .routes
        .iter()
        .cloned()
        .map(crate::payload::route::RouteVerifier::load)
        .collect::<Result<Vec<_>, _>>()?;
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
    let shared = Shared::new(settings, live, Metrics::new(), verifiers);
    let mut admin_addr = None;
    if let Some(admin) = admin {
        if let Ok(a) = admin.local_addr() {
            tracing::info!("admin listening addr={a}");
            admin_addr = Some(a);
        }
        tokio::spawn(super::admin::serve(shared.clone(), admin));
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
    expiry::record(
        &shared.metrics,
        &shared.live.load(),
        shared.settings.expiry_warning,
    );
    expiry::warn_rules(
        &shared.settings.policy.policy,
        shared.settings.expiry_warning,
        std::time::SystemTime::now(),
    );
    let background = [
        tokio::spawn(super::admin::log_server_cert_readiness(shared.clone())),
        tokio::spawn(reloader::daily_expiry(shared.clone())),
        tokio::spawn(reloader::watch(shared.clone(), watching)),
    ];
    let serving = tokio::spawn(listener::serve(shared.clone(), listener));
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
