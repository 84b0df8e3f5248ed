//! `/metrics` right after start: every counter of the contract's table (except
//! `certgate_requests_total`) is exported at 0 for each of its label values, so `increase()`
//! and `rate()` alerts see the first failure; `certgate_build_info` and Prometheus' standard
//! process metrics are there with sane values.

mod support;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use support::*;

const HANDSHAKE_RESULTS: [&str; 11] = [
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
const RELOAD_SOURCES: [&str; 5] = ["server_cert", "trust", "crl", "allow", "verify_key"];
const UPSTREAM_KINDS: [&str; 3] = ["connect", "timeout", "reset"];

/// The value of the one series `name{labels}` whose label set is exactly `labels` (in any
/// order), from Prometheus / OpenMetrics text; panics when it is missing or repeated.
fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    want.sort();
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (set, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let mut have: Vec<String> = if set.is_empty() {
                Vec::new()
            } else {
                set.split(',').map(str::to_string).collect()
            };
            have.sort();
            (have == want).then(|| value.split_whitespace().next()?.parse::<f64>().ok())?
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one series {name}{{{}}}; /metrics:\n{text}",
        want.join(",")
    );
    found[0]
}

async fn scrape(admin: SocketAddr) -> String {
    let (status, body) = http_get(admin, "/metrics")
        .await
        .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
    assert_eq!(status, 200, "{body}");
    body
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn every_counter_is_exported_at_zero_right_after_start() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let before = unix_now();
    let cg = Certgate::start_with_admin(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/hooks",
            "--allow",
            "hooks=any",
            "--route",
            "open=/open",
            "--allow",
            "open=public",
            "--client-auth",
            "optional",
        ],
    )
    .await;
    let after = unix_now();
    let admin = cg.admin_addr().await;
    let text = scrape(admin).await;

    for result in HANDSHAKE_RESULTS {
        assert_eq!(
            series(&text, "certgate_handshakes_total", &[("result", result)]),
            0.0,
            "handshakes {result}"
        );
    }
    for source in RELOAD_SOURCES {
        for result in ["ok", "error"] {
            assert_eq!(
                series(
                    &text,
                    "certgate_reloads_total",
                    &[("source", source), ("result", result)]
                ),
                0.0,
                "reloads {source} {result}"
            );
        }
    }
    for route in ["hooks", "open"] {
        for kind in UPSTREAM_KINDS {
            assert_eq!(
                series(
                    &text,
                    "certgate_upstream_errors_total",
                    &[("route", route), ("kind", kind)]
                ),
                0.0,
                "upstream errors {route} {kind}"
            );
        }
    }
    assert!(
        !text.contains("certgate_upstream_errors_total{route=\"-\""),
        "a request that matched no route never reaches an upstream: {text}"
    );
    assert_eq!(
        series(
            &text,
            "certgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(series(&text, "certgate_connections_active", &[]), 0.0);

    // Prometheus' standard process metrics, with values that fit this process.
    let cpu = series(&text, "process_cpu_seconds_total", &[]);
    assert!(
        (0.0..60.0).contains(&cpu),
        "process_cpu_seconds_total {cpu}"
    );
    let rss = series(&text, "process_resident_memory_bytes", &[]);
    assert!(
        (1_000_000.0..2_000_000_000.0).contains(&rss),
        "process_resident_memory_bytes {rss}"
    );
    let fds = series(&text, "process_open_fds", &[]);
    let counted = std::fs::read_dir(format!("/proc/{}/fd", cg.pid()))
        .unwrap()
        .count() as f64;
    assert!(
        fds >= 5.0 && (fds - counted).abs() <= 8.0,
        "process_open_fds {fds}, /proc/<pid>/fd holds {counted}"
    );
    let start = series(&text, "process_start_time_seconds", &[]);
    assert!(
        start >= before.floor() - 2.0 && start <= after + 2.0,
        "process_start_time_seconds {start} outside [{before}, {after}]"
    );
    for (name, kind) in [
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("certgate_build_info", "gauge"),
        ("certgate_handshakes", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "# TYPE {name} {kind} missing:\n{text}"
        );
    }
    upstream.assert_nothing("nothing was requested");
}

#[tokio::test]
async fn first_failure_moves_a_pre_exported_counter_from_zero_to_one() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start_with_admin(
        &pki,
        &upstream.url,
        &["--route", "hooks=/hooks", "--allow", "hooks=any"],
    )
    .await;
    let admin = cg.admin_addr().await;
    let text = scrape(admin).await;
    assert_eq!(
        series(&text, "certgate_handshakes_total", &[("result", "no_cert")]),
        0.0
    );
    let cpu_before = series(&text, "process_cpu_seconds_total", &[]);
    // A client without a certificate is refused (required mode).
    let refused = cg.client(&pki).get("/hooks").await;
    assert!(
        matches!(&refused, Err(e) if e.is_tls_refusal()),
        "{refused:?}"
    );
    let deadline = std::time::Instant::now() + LOG_TIMEOUT;
    let last = loop {
        let text = scrape(admin).await;
        if metric_value(&text, "certgate_handshakes_total", &[("result", "no_cert")]) == Some(1.0) {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "handshakes{{no_cert}} never reached 1:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        series(&last, "certgate_handshakes_total", &[("result", "ok")]),
        0.0
    );
    let cpu_after = series(&last, "process_cpu_seconds_total", &[]);
    assert!(cpu_after >= cpu_before, "a counter never goes down");
    upstream.assert_nothing("the refused client sent nothing");
}
