//! Expiry reporting: the `certgate_cert_expiry_timestamp_seconds` gauges and the warnings
//! for what expires within `--expiry-warning` (the dates themselves: `pki::expiry`), rules
//! whose ` until=` ends within it included.

use crate::ops::metrics::{ExpiryLabels, Metrics};
use crate::pki::expiry::{dated, expiring, now_unix};
use crate::pki::material::Live;
use crate::policy::Policy;
use std::time::Duration;
use tracing::warn;

/// Set the gauges for `live` (replacing the old set) and warn about what expires soon.
pub fn record(metrics: &Metrics, live: &Live, window: Duration) {
    let items = dated(live);
    metrics.cert_expiry.clear();
    for d in &items {
        metrics
            .cert_expiry
            .get_or_create(&ExpiryLabels {
                kind: d.kind,
                subject: d.subject.clone(),
            })
            .set(d.expires_unix as f64);
    }
    let now = now_unix();
    for d in expiring(&items, now, window) {
        let left_days = (d.expires_unix - now) / 86_400;
        warn!(
            kind = d.kind,
            subject = %d.subject,
            expires = %crate::pki::trust::rfc3339(rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(d.expires_unix.max(0) as u64))),
            days_left = left_days,
            "expires within --expiry-warning: plan the rotation"
        );
    }
}

/// Warn about every rule whose ` until=` falls within `window` from `now` (and say so for
/// rules that have already ended, which allow nothing any more).
pub fn warn_rules(policy: &Policy, window: Duration, now: std::time::SystemTime) {
    for route in policy.routes() {
        for rule in &route.rules {
            let Some(until) = rule.until else { continue };
            match until.duration_since(now) {
                Ok(left) if left <= window => warn!(
                    route = %route.name,
                    rule = %rule,
                    source = %rule.source,
                    days_left = left.as_secs() / 86_400,
                    "rule ends (until=) within --expiry-warning: it allows nothing from then on; make sure its replacement is in place"
                ),
                Ok(_) => {}
                Err(_) => warn!(
                    route = %route.name,
                    rule = %rule,
                    source = %rule.source,
                    "rule has ended (until= is past): it allows nothing; remove it"
                ),
            }
        }
    }
}
