//! Live material: the server certificate, the trust store and the rustls config built from
//! them, behind one `ArcSwap`. Reload = rebuild everything off to the side, validate, swap
//! one pointer, keep the last good on any error. The only module that imports notify:
//! it watches the *directories* of every file input (so Kubernetes' `..data` symlink
//! swaps are seen), debounces bursts, and also reloads on SIGHUP.

use crate::server::Shared;
use crate::settings::Settings;
use crate::tls::{self, TlsError};
use crate::trust::{self, TrustError, TrustStore};
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing::{debug, error, info, warn};

/// One generation of live material. Connections load it once at accept.
#[derive(Debug)]
pub struct Live {
    /// Bumped by every successful reload; a connection whose generation differs re-checks
    /// its chain before its next request.
    pub generation: u64,
    pub tls: Arc<ServerConfig>,
    pub trust: Arc<TrustStore>,
    pub server_cert: Arc<CertifiedKey>,
    /// Digests of what was read, to tell which sources a reload changed.
    pub server_digest: [u8; 32],
}

/// What a successful reload changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    pub server_cert: bool,
    pub trust: bool,
    pub crl: bool,
}

impl Changes {
    pub fn any(&self) -> bool {
        self.server_cert || self.trust || self.crl
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl ReloadError {
    /// `certgate_reloads_total{source}` of this failure.
    pub fn source_label(&self) -> &'static str {
        match self {
            ReloadError::Trust(TrustError::KeyMismatch { .. }) => "server_cert",
            ReloadError::Trust(
                TrustError::Read { flag, .. } | TrustError::Invalid { flag, .. },
            ) => match *flag {
                "--server-cert" | "--server-key" => "server_cert",
                "--crl" => "crl",
                _ => "trust",
            },
            _ => "trust",
        }
    }
}

/// Read every file and build a complete, validated generation.
pub fn build(settings: &Settings, generation: u64) -> Result<Live, ReloadError> {
    let (server_cert, server_digest) =
        trust::load_server_key(&settings.server_cert, &settings.server_key)?;
    let store = TrustStore::load(&settings.policy.trust)?;
    let store = Arc::new(store);
    let tls = tls::server_config(server_cert.clone(), store.clone(), settings.tls)?;
    Ok(Live {
        generation,
        tls,
        trust: store,
        server_cert,
        server_digest,
    })
}

/// The swap point shared by the accept loop, the proxy and the reloader.
pub struct LiveConfig {
    current: ArcSwap<Live>,
    next_generation: AtomicU64,
}

impl LiveConfig {
    pub fn new(first: Live) -> LiveConfig {
        let next = first.generation + 1;
        LiveConfig {
            current: ArcSwap::from_pointee(first),
            next_generation: AtomicU64::new(next),
        }
    }

    pub fn load(&self) -> Arc<Live> {
        self.current.load_full()
    }

    /// Generation of the material in force, without taking a reference.
    pub fn generation(&self) -> u64 {
        self.current.load().generation
    }

    /// Rebuild from `settings`, each source on its own: the server certificate and the
    /// trust material (anchors, intermediates, CRLs). A source that fails to load keeps its
    /// last good version and reports its error, so a broken certificate rotation never
    /// blocks an emergency CRL update (and vice versa). The generation moves only when trust
    /// or CRLs changed, so open connections re-check their chains exactly when that can
    /// change the answer.
    pub fn reload(&self, settings: &Settings) -> Reloaded {
        let old = self.load();
        let mut errors = Vec::new();
        let (server_cert, server_digest) =
            match trust::load_server_key(&settings.server_cert, &settings.server_key) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(ReloadError::from(e));
                    (old.server_cert.clone(), old.server_digest)
                }
            };
        let store = match TrustStore::load(&settings.policy.trust) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                errors.push(ReloadError::from(e));
                old.trust.clone()
            }
        };
        let changes = Changes {
            server_cert: server_digest != old.server_digest,
            trust: store.trust_digest() != old.trust.trust_digest(),
            crl: store.crl_digest() != old.trust.crl_digest(),
        };
        if !changes.any() {
            return Reloaded {
                live: old,
                changes,
                errors,
            };
        }
        let tls = match tls::server_config(server_cert.clone(), store.clone(), settings.tls) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e.into());
                return Reloaded {
                    live: old,
                    changes: Changes::default(),
                    errors,
                };
            }
        };
        let generation = if changes.trust || changes.crl {
            self.next_generation.fetch_add(1, Ordering::Relaxed)
        } else {
            old.generation
        };
        let live = Arc::new(Live {
            generation,
            tls,
            trust: store,
            server_cert,
            server_digest,
        });
        self.current.store(live.clone());
        Reloaded {
            live,
            changes,
            errors,
        }
    }
}

/// The outcome of one reload: the material now in force, what changed, what failed.
#[derive(Debug)]
pub struct Reloaded {
    pub live: Arc<Live>,
    pub changes: Changes,
    pub errors: Vec<ReloadError>,
}

/// One watched directory and which names in it matter (`None`: every entry, for a
/// directory input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub dir: PathBuf,
    pub names: Option<Vec<std::ffi::OsString>>,
}

impl WatchSpec {
    /// Does a change to `path` concern an input? Names starting with `..` always do: that
    /// is how Kubernetes swaps a Secret volume (`..data` -> `..2024_…`).
    pub fn concerns(&self, path: &std::path::Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        if parent != self.dir {
            return false;
        }
        match &self.names {
            None => true,
            Some(names) => {
                name.to_string_lossy().starts_with("..") || names.iter().any(|n| n == name)
            }
        }
    }
}

/// Directories to watch for `settings`' file inputs: the parent of every file (for that
/// file's name), and every directory input itself (for all its entries).
pub fn watch_specs(settings: &Settings) -> Vec<WatchSpec> {
    let mut specs: Vec<WatchSpec> = Vec::new();
    let files = [
        settings.server_cert.as_path(),
        settings.server_key.as_path(),
    ];
    for p in files.into_iter().chain(settings.policy.trust.paths()) {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let (dir, name) = if abs.is_dir() {
            (abs, None)
        } else {
            match (abs.parent(), abs.file_name()) {
                (Some(d), Some(n)) => (d.to_path_buf(), Some(n.to_os_string())),
                _ => continue,
            }
        };
        match specs.iter_mut().find(|s| s.dir == dir) {
            Some(spec) => match (&mut spec.names, name) {
                (Some(names), Some(n)) => {
                    if !names.contains(&n) {
                        names.push(n)
                    }
                }
                (names, _) => *names = None,
            },
            None => specs.push(WatchSpec {
                dir,
                names: name.map(|n| vec![n]),
            }),
        }
    }
    specs
}

/// Reload once, then log and count the outcome of each source.
pub fn reload_and_report(shared: &Shared, why: &str) {
    let Reloaded {
        live,
        changes,
        errors,
    } = shared.live.reload(&shared.settings);
    for e in &errors {
        shared.metrics.reload(e.source_label(), false);
        error!(why, source = e.source_label(), error = %e, "reload failed; the previous material of this source stays in force");
    }
    if !changes.any() {
        if errors.is_empty() {
            debug!(why, "reload: nothing changed");
        }
        return;
    }
    for (changed, source) in [
        (changes.server_cert, "server_cert"),
        (changes.trust, "trust"),
        (changes.crl, "crl"),
    ] {
        if changed {
            shared.metrics.reload(source, true);
        }
    }
    info!(
        why,
        server_cert = changes.server_cert,
        trust = changes.trust,
        crl = changes.crl,
        generation = live.generation,
        "reloaded: new handshakes use the new material"
    );
    crate::expiry::record(shared, &live);
}

/// Watches and the SIGHUP handler, installed before the first material is read so that no
/// change and no signal between start-up and the watch loop is lost.
pub struct Watching {
    rx: tokio::sync::mpsc::UnboundedReceiver<()>,
    _watcher: Option<notify::RecommendedWatcher>,
    hup: Option<tokio::signal::unix::Signal>,
}

/// Register a watch on every input directory and install the SIGHUP handler. Must be called
/// inside the runtime; events queue until `watch` runs.
pub fn start_watching(settings: &Settings) -> Watching {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let specs = watch_specs(settings);
    let filter = specs.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let relevant = !matches!(ev.kind, notify::EventKind::Access(_))
                && ev
                    .paths
                    .iter()
                    .any(|p| filter.iter().any(|s| s.concerns(p)));
            if relevant {
                let _ = tx.send(());
            }
        }
    };
    let watcher = match notify::recommended_watcher(handler) {
        Ok(mut w) => {
            for spec in &specs {
                if let Err(e) =
                    notify::Watcher::watch(&mut w, &spec.dir, notify::RecursiveMode::NonRecursive)
                {
                    warn!(dir = %spec.dir.display(), error = %e, "cannot watch directory; use SIGHUP to reload");
                }
            }
            Some(w)
        }
        Err(e) => {
            warn!(error = %e, "file watching unavailable; use SIGHUP to reload");
            None
        }
    };
    let hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot install the SIGHUP handler");
            None
        }
    };
    Watching {
        rx,
        _watcher: watcher,
        hup,
    }
}

/// Reload after a quiet period following file events, and on SIGHUP. Runs until the
/// process ends (or the task is aborted).
pub async fn watch(shared: Arc<Shared>, watching: Watching) {
    let Watching {
        mut rx,
        _watcher,
        mut hup,
    } = watching;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                if ev.is_none() {
                    return;
                }
                // Debounce: writers often touch files several times (write, chmod, rename).
                loop {
                    match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                reload_and_report(&shared, "file change");
            }
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending::<()>().await } } => {
                reload_and_report(&shared, "SIGHUP");
            }
        }
    }
}

/// Quiet time after the last file event before reloading.
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(300);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn file_inputs_concern_only_their_names_and_kubernetes_swaps() {
        let spec = WatchSpec {
            dir: PathBuf::from("/etc/certgate"),
            names: Some(vec!["ca.pem".into()]),
        };
        assert!(spec.concerns(Path::new("/etc/certgate/ca.pem")));
        assert!(spec.concerns(Path::new("/etc/certgate/..data")));
        assert!(spec.concerns(Path::new("/etc/certgate/..2026_11_23_10_00_00.123")));
        assert!(!spec.concerns(Path::new("/etc/certgate/certgate.log")));
        assert!(!spec.concerns(Path::new("/etc/other/ca.pem")));
    }

    #[test]
    fn directory_inputs_concern_every_entry() {
        let spec = WatchSpec {
            dir: PathBuf::from("/etc/trust.d"),
            names: None,
        };
        assert!(spec.concerns(Path::new("/etc/trust.d/new-ca.pem")));
        assert!(!spec.concerns(Path::new("/etc/trust.d/sub/x.pem")));
    }
}
