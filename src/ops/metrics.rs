//! The metric families of the contract (prometheus-client), with enum labels.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::RwLock;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DecisionLabel {
    allowed,
    denied,
    unauthenticated,
    no_route,
    bad_request,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub decision: DecisionLabel,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandshakeLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub source: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExpiryLabels {
    pub kind: &'static str,
    pub subject: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamErrorLabels {
    pub route: String,
    pub kind: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric certgate exports.
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub handshakes: Family<HandshakeLabels, Counter>,
    pub connections_active: Gauge,
    pub reloads: Family<ReloadLabels, Counter>,
    pub cert_expiry: Family<ExpiryLabels, Gauge<f64, AtomicU64>>,
    pub upstream_errors: Family<UpstreamErrorLabels, Counter>,
    /// Per-request handles, so the hot path neither allocates label strings nor hashes them:
    /// route names (index = route, last = `-`), their histograms, and counters by
    /// (route, decision, status) filled on first use.
    route_names: Vec<String>,
    route_durations: Vec<Histogram>,
    request_counters: RwLock<HashMap<(usize, DecisionLabel, u16), Counter>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                duration_histogram as fn() -> Histogram,
            );
        let handshakes = Family::<HandshakeLabels, Counter>::default();
        let connections_active = Gauge::default();
        let reloads = Family::<ReloadLabels, Counter>::default();
        let cert_expiry = Family::<ExpiryLabels, Gauge<f64, AtomicU64>>::default();
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        registry.register(
            "certgate_requests",
            "Requests by route, decision and status",
            requests.clone(),
        );
        registry.register(
            "certgate_request_duration_seconds",
            "Request duration until the response headers, by route",
            request_duration.clone(),
        );
        registry.register(
            "certgate_handshakes",
            "TLS handshakes by result",
            handshakes.clone(),
        );
        registry.register(
            "certgate_connections_active",
            "Client connections currently open",
            connections_active.clone(),
        );
        registry.register(
            "certgate_reloads",
            "Reloads of file material by source and result",
            reloads.clone(),
        );
        registry.register(
            "certgate_cert_expiry_timestamp_seconds",
            "Expiry (unix seconds) of the server certificate, trust anchors and CRL next updates",
            cert_expiry.clone(),
        );
        registry.register(
            "certgate_upstream_errors",
            "Upstream failures by route and kind",
            upstream_errors.clone(),
        );
        let mut m = Metrics {
            registry,
            requests,
            request_duration,
            handshakes,
            connections_active,
            reloads,
            cert_expiry,
            upstream_errors,
            route_names: Vec::new(),
            route_durations: Vec::new(),
            request_counters: RwLock::new(HashMap::new()),
        };
        m.set_routes(&[]);
        m
    }

    /// Declare the route names (in policy order) whose request metrics `record_request` keeps.
    pub fn set_routes(&mut self, names: &[&str]) {
        self.route_names = names
            .iter()
            .map(|n| n.to_string())
            .chain(std::iter::once("-".to_string()))
            .collect();
        self.route_durations = self
            .route_names
            .iter()
            .map(|route| {
                self.request_duration
                    .get_or_create(&RouteLabels {
                        route: route.clone(),
                    })
                    .clone()
            })
            .collect();
    }

    /// Count one request and observe its duration. `route`: index into the declared routes,
    /// `None` for requests that matched none.
    pub fn record_request(
        &self,
        route: Option<usize>,
        decision: DecisionLabel,
        status: u16,
        secs: f64,
    ) {
        let idx = route
            .filter(|i| *i + 1 < self.route_names.len())
            .unwrap_or(self.route_names.len() - 1);
        self.route_durations[idx].observe(secs);
        let key = (idx, decision, status);
        let hit = self
            .request_counters
            .read()
            .ok()
            .and_then(|m| m.get(&key).map(|c| c.inc()));
        if hit.is_none() {
            let counter = self
                .requests
                .get_or_create(&RequestLabels {
                    route: self.route_names[idx].clone(),
                    decision,
                    status,
                })
                .clone();
            counter.inc();
            if let Ok(mut m) = self.request_counters.write() {
                m.insert(key, counter);
            }
        }
    }

    pub fn handshake(&self, result: &'static str) {
        self.handshakes
            .get_or_create(&HandshakeLabels { result })
            .inc();
    }

    pub fn reload(&self, source: &'static str, ok: bool) {
        self.reloads
            .get_or_create(&ReloadLabels {
                source,
                result: if ok { "ok" } else { "error" },
            })
            .inc();
    }

    /// Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_request_counts_by_route_decision_and_status() {
        let mut m = Metrics::new();
        m.set_routes(&["hooks"]);
        m.record_request(Some(0), DecisionLabel::allowed, 200, 0.001);
        m.record_request(Some(0), DecisionLabel::allowed, 200, 0.001);
        m.record_request(None, DecisionLabel::no_route, 404, 0.001);
        let text = m.encode();
        assert!(
            text.contains(
                r#"certgate_requests_total{route="hooks",decision="allowed",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"certgate_requests_total{route="-",decision="no_route",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"certgate_request_duration_seconds_count{route="hooks"} 2"#),
            "{text}"
        );
    }
}
