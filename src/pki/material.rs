//! Live material: the server certificate, the trust store and the rustls config built from
//! them, behind one `ArcSwap`. Reload = rebuild everything off to the side, validate, swap
//! one pointer, keep the last good on any error (watching the files is `watch.rs`).

use crate::pki::tls::{self, TlsError, TlsOptions};
use crate::pki::trust::{self, Note, TrustError, TrustSources, TrustStore};
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where the live material comes from: `run`'s file inputs and TLS options.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub server_cert: &'a Path,
    pub server_key: &'a Path,
    pub trust: &'a TrustSources,
    pub tls: TlsOptions,
}

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
            ReloadError::Trust(TrustError::Crl { .. }) => "crl",
            _ => "trust",
        }
    }
}

/// Read every file and build a complete, validated generation.
pub fn build(sources: Sources<'_>, generation: u64) -> Result<Live, ReloadError> {
    let (server_cert, server_digest) =
        trust::load_server_key(sources.server_cert, sources.server_key)?;
    let store = TrustStore::load(sources.trust)?;
    log_notes(&store);
    let store = Arc::new(store);
    let tls = tls::server_config(server_cert.clone(), store.clone(), sources.tls)?;
    Ok(Live {
        generation,
        tls,
        trust: store,
        server_cert,
        server_digest,
    })
}

/// Log the load's warnings and facts once, when a store is taken into use.
fn log_notes(store: &TrustStore) {
    for n in store.notes() {
        match n {
            Note::Warn(m) => tracing::warn!("{m}"),
            Note::Info(m) => tracing::info!("{m}"),
        }
    }
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

    /// Rebuild from `sources`, each source on its own: the server certificate and the
    /// trust material (anchors, intermediates, CRLs). A source that fails to load keeps its
    /// last good version and reports its error, so a broken certificate rotation never
    /// blocks an emergency CRL update (and vice versa). The generation moves only when trust
    /// or CRLs changed, so open connections re-check their chains exactly when that can
    /// change the answer.
    pub fn reload(&self, sources: Sources<'_>) -> Reloaded {
        let old = self.load();
        let mut errors = Vec::new();
        let (server_cert, server_digest) =
            match trust::load_server_key(sources.server_cert, sources.server_key) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(ReloadError::from(e));
                    (old.server_cert.clone(), old.server_digest)
                }
            };
        let store = match TrustStore::load(sources.trust) {
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
        let tls = match tls::server_config(server_cert.clone(), store.clone(), sources.tls) {
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
        if changes.trust || changes.crl {
            log_notes(&store);
        }
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
