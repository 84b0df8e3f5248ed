//! Expiry reporting: the `certgate_cert_expiry_timestamp_seconds` gauges and the warnings
//! for what expires within `--expiry-warning` (the dates themselves: `pki::expiry`).

use crate::ops::metrics::{ExpiryLabels, Metrics};
use crate::pki::expiry::{dated, expiring, now_unix};
use crate::pki::material::Live;
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
