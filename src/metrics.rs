//! The metric families of the contract (prometheus-client), with enum labels.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

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
        Metrics {
            registry,
            requests,
            request_duration,
            handshakes,
            connections_active,
            reloads,
            cert_expiry,
            upstream_errors,
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
