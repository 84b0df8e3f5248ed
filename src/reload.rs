//! Live material: the server certificate, the trust store and the rustls config built from
//! them, behind one `ArcSwap`. Reload = rebuild everything off to the side, validate, swap
//! one pointer, keep the last good on any error.

use crate::settings::Settings;
use crate::tls::{self, TlsError};
use crate::trust::{self, TrustError, TrustStore};
use arc_swap::ArcSwap;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One generation of live material. Connections load it once at accept.
#[derive(Debug)]
pub struct Live {
    /// Bumped by every successful reload; a connection whose generation differs re-checks
    /// its chain before its next request.
    pub generation: u64,
    pub tls: Arc<ServerConfig>,
    pub trust: Arc<TrustStore>,
    pub server_cert: Arc<CertifiedKey>,
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
    let server_cert = trust::load_server_key(&settings.server_cert, &settings.server_key)?;
    let store = if settings.policy.trust.bundles.is_empty() {
        TrustStore::empty()
    } else {
        TrustStore::load(&settings.policy.trust)?
    };
    let store = Arc::new(store);
    let tls = tls::server_config(server_cert.clone(), store.clone(), settings.tls)?;
    Ok(Live {
        generation,
        tls,
        trust: store,
        server_cert,
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

    /// Rebuild from `settings`; on success swap it in, on error keep the old material.
    pub fn reload(&self, settings: &Settings) -> Result<Arc<Live>, ReloadError> {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let live = Arc::new(build(settings, generation)?);
        self.current.store(live.clone());
        Ok(live)
    }
}
