//! The reload loop: file events and SIGHUP (`pki::watch`) -> rebuild the live material
//! (`pki::material`) -> log and count each source; and the daily expiry report.

use super::state::Shared;
use crate::ops::expiry;
use crate::pki::material::Reloaded;
use crate::pki::watch::Watching;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{debug, error, info};

/// Reload once, then log and count the outcome of each source.
pub fn reload_and_report(shared: &Shared, why: &str) {
    reload_rules(shared, why);
    let Reloaded {
        live,
        changes,
        errors,
    } = shared.live.reload(shared.settings.material_sources());
    reload_verify_keys(shared, why);
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

/// Re-read every `--allow-file`; a changed file moves the policy generation, so every open
/// connection's next request is decided under the new rules. A bad file keeps its rules.
fn reload_rules(shared: &Shared, why: &str) {
    let files = &shared.settings.policy.allow_files;
    if files.is_empty() {
        return;
    }
    let r = shared.policy.reload(files);
    for e in &r.errors {
        shared.metrics.reload("allow", false);
        error!(why, source = "allow", file = e.path().unwrap_or(""), error = %e,
            "allow file not reloaded; the previous rules of this file stay in force");
    }
    if r.changed.is_empty() {
        return;
    }
    let changed: Vec<&str> = r.changed.iter().map(|&i| &*files[i].label).collect();
    for _ in &changed {
        shared.metrics.reload("allow", true);
    }
    info!(
        why,
        files = ?changed,
        policy_generation = r.current.generation,
        "allow-list reloaded: every open connection's next request is decided under the new rules"
    );
    expiry::warn_rules(
        &r.current.policy,
        shared.settings.expiry_warning,
        SystemTime::now(),
    );
}

/// Re-read every `--verify-key`: a route whose key files changed gets the new keys; one
/// with a broken file keeps its old keys (logged with the file, counted as an error).
fn reload_verify_keys(shared: &Shared, why: &str) {
    for v in shared.verifiers.iter().flatten() {
        match v.reload() {
            Ok(false) => {}
            Ok(true) => {
                shared.metrics.reload("verify_key", true);
                info!(
                    why,
                    route = v.config.route_name,
                    keys = v.keys().names(),
                    "reloaded --verify-key: new requests are checked with these keys"
                );
            }
            Err(e) => {
                shared.metrics.reload("verify_key", false);
                error!(why, route = v.config.route_name, error = %e, "reload of --verify-key failed; the previous keys stay in force");
            }
        }
    }
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
        let rules = shared.policy.load_full();
        expiry::warn_rules(
            &rules.policy,
            shared.settings.expiry_warning,
            SystemTime::now(),
        );
    }
}
