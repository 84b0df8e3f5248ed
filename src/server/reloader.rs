//! The reload loop: file events and SIGHUP (`pki::watch`) -> rebuild the live material
//! (`pki::material`) -> log and count each source; and the daily expiry report.

use super::state::Shared;
use crate::ops::expiry;
use crate::pki::material::Reloaded;
use crate::pki::watch::Watching;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, error, info};

/// Reload once, then log and count the outcome of each source.
pub fn reload_and_report(shared: &Shared, why: &str) {
    let Reloaded {
        live,
        changes,
        errors,
    } = shared.live.reload(shared.settings.material_sources());
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
    expiry::record(&shared.metrics, &live, shared.settings.expiry_warning);
}

/// Reload on every event from `watching` until the process ends (or the task is aborted).
pub async fn watch(shared: Arc<Shared>, mut watching: Watching) {
    while let Some(why) = watching.next().await {
        // Off the async workers: reading files (each read bounded by `pki::files`) never
        // stalls the proxy, /healthz or the shutdown signal.
        let s = shared.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || reload_and_report(&s, why)).await {
            error!(why, error = %e, "reload did not complete");
        }
    }
}

/// Re-check expiry once a day (start-up and every reload record it too).
pub async fn daily_expiry(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(86_400));
    tick.tick().await; // the first tick is immediate; start-up already recorded
    loop {
        tick.tick().await;
        let live = shared.live.load();
        expiry::record(&shared.metrics, &live, shared.settings.expiry_warning);
    }
}
