//! The metric families of the contract (prometheus-client), with enum labels. Every counter
//! but `certgate_requests_total` is created at 0 for each of its label values when its
//! owner is known (routes at `set_routes`, `--verify` routes at `register_signature_route`),
//! so `increase()` and `rate()` see the first failure; plus `certgate_build_info` and the
//! process collector (`process_metrics`).

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::AtomicU64;
use std::sync::RwLock;

/// Hashes the request counters' packed `u64` keys (route, decision, status) by one
/// multiplication (Fibonacci hashing); the keys are certgate's own, not the client's.
#[derive(Default)]
struct PackedKeyHasher(u64);

impl std::hash::Hasher for PackedKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignatureLabels {
    pub route: String,
    pub scheme: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
}

/// `certgate_handshakes_total{result}`: every value the handshake log can count.
pub const HANDSHAKE_RESULTS: [&str; 11] = [
    "ok",
    "no_cert",
    "unknown_issuer",
    "expired",
    "not_yet_valid",
    "revoked",
    "bad_usage",
    "bad_signature",
    "timeout",
    "protocol",
    "other",
];
/// `certgate_reloads_total{source}`.
pub const RELOAD_SOURCES: [&str; 5] = ["server_cert", "trust", "crl", "allow", "verify_key"];
/// `certgate_upstream_errors_total{kind}` (`UpstreamError::kind`).
pub const UPSTREAM_ERROR_KINDS: [&str; 3] = ["connect", "timeout", "reset"];
/// `certgate_signature_checks_total{result}`.
pub const SIGNATURE_RESULTS: [&str; 8] = [
    "ok",
    "missing",
    "bad_signature",
    "stale",
    "replayed",
    "bad_digest",
    "unknown_key",
    "too_large",
];

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
    pub signature_checks: Family<SignatureLabels, Counter>,
    /// Per-request handles, so the hot path neither allocates label strings nor hashes them:
    /// route names (index = route, last = `-`), their histograms, and counters by
    /// (route, decision, status) filled on first use.
    route_names: Vec<String>,
    route_durations: Vec<Histogram>,
    request_counters: RwLock<HashMap<u64, Counter, BuildHasherDefault<PackedKeyHasher>>>,
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
        let signature_checks = Family::<SignatureLabels, Counter>::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        for result in HANDSHAKE_RESULTS {
            drop(handshakes.get_or_create(&HandshakeLabels { result }));
        }
        for source in RELOAD_SOURCES {
            for result in ["ok", "error"] {
                drop(reloads.get_or_create(&ReloadLabels { source, result }));
            }
        }
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
        registry.register(
            "certgate_signature_checks",
            "Payload signature checks on --verify routes by route, scheme and result",
            signature_checks.clone(),
        );
        registry.register(
            "certgate_build_info",
            "Always 1; the version label is certgate's version",
            build_info,
        );
        registry.register_collector(Box::new(super::process_metrics::ProcessCollector::new()));
        let mut m = Metrics {
            registry,
            requests,
            request_duration,
            handshakes,
            connections_active,
            reloads,
            cert_expiry,
            upstream_errors,
            signature_checks,
            route_names: Vec::new(),
            route_durations: Vec::new(),
            request_counters: RwLock::new(HashMap::default()),
        };
        m.set_routes(&[]);
        m
    }

    /// Declare the route names (in policy order) whose request metrics `record_request` keeps;
    /// their upstream-error counters start at 0 (a request that matched no route never
    /// reaches an upstream, so `-` has none).
    pub fn set_routes(&mut self, names: &[&str]) {
        for route in names {
            for kind in UPSTREAM_ERROR_KINDS {
                drop(self.upstream_errors.get_or_create(&UpstreamErrorLabels {
                    route: route.to_string(),
                    kind,
                }));
            }
        }
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
        // One u64 (route, decision, status), hashed by one multiplication: SipHash over the
        // tuple cost more than the rest of the counting.
        let key = (idx as u64) << 24 | (decision as u64) << 16 | u64::from(status);
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

    /// Start `certgate_signature_checks_total{route,scheme,result}` at 0 for every result:
    /// call once per `--verify NAME=SCHEME` route when the settings are known.
    pub fn register_signature_route(&self, route: &str, scheme: &str) {
        for result in SIGNATURE_RESULTS {
            drop(self.signature_checks.get_or_create(&SignatureLabels {
                route: route.to_string(),
                scheme: scheme.to_string(),
                result,
            }));
        }
    }

    /// Count one payload signature check (`result`: one of `SIGNATURE_RESULTS`).
    pub fn signature_check(&self, route: &str, scheme: &str, result: &'static str) {
        debug_assert!(SIGNATURE_RESULTS.contains(&result), "{result}");
        self.signature_checks
            .get_or_create(&SignatureLabels {
                route: route.to_string(),
                scheme: scheme.to_string(),
                result,
            })
            .inc();
    }

    pub fn handshake(&self, result: &'static str) {
        debug_assert!(HANDSHAKE_RESULTS.contains(&result), "{result}");
        self.handshakes
            .get_or_create(&HandshakeLabels { result })
            .inc();
    }

    pub fn reload(&self, source: &'static str, ok: bool) {
        debug_assert!(RELOAD_SOURCES.contains(&source), "{source}");
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

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn every_counter_starts_at_zero_for_its_label_values() {
        let mut m = Metrics::new();
        m.set_routes(&["hooks", "admin"]);
        let text = m.encode();
        for result in HANDSHAKE_RESULTS {
            let l = format!(r#"certgate_handshakes_total{{result="{result}"}} 0"#);
            assert!(has(&text, &l), "{l}\n{text}");
        }
        for source in RELOAD_SOURCES {
            for result in ["ok", "error"] {
                let l =
                    format!(r#"certgate_reloads_total{{source="{source}",result="{result}"}} 0"#);
                assert!(has(&text, &l), "{l}\n{text}");
            }
        }
        for route in ["hooks", "admin"] {
            for kind in UPSTREAM_ERROR_KINDS {
                let l =
                    format!(r#"certgate_upstream_errors_total{{route="{route}",kind="{kind}"}} 0"#);
                assert!(has(&text, &l), "{l}\n{text}");
            }
        }
        assert!(!text.contains(r#"certgate_upstream_errors_total{route="-""#));
        let v = env!("CARGO_PKG_VERSION");
        assert!(has(
            &text,
            &format!(r#"certgate_build_info{{version="{v}"}} 1"#)
        ));
        assert!(text.contains("# TYPE certgate_signature_checks counter"));
        assert!(!text.contains("certgate_signature_checks_total{"));
    }

    #[test]
    fn signature_routes_start_at_zero_and_count() {
        let m = Metrics::new();
        m.register_signature_route("hooks", "github");
        m.signature_check("hooks", "github", "stale");
        let text = m.encode();
        for result in SIGNATURE_RESULTS {
            let n = if result == "stale" { 1 } else { 0 };
            let l = format!(
                r#"certgate_signature_checks_total{{route="hooks",scheme="github",result="{result}"}} {n}"#
            );
            assert!(has(&text, &l), "{l}\n{text}");
        }
    }

    #[test]
    fn process_metrics_are_in_the_scrape() {
        let text = Metrics::new().encode();
        for name in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.lines().any(|l| l.starts_with(name)), "{name}\n{text}");
        }
    }

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
