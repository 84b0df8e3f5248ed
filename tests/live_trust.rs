//! Live trust: trust anchors, trust bundles, intermediates and the server certificate change
//! under a running proxy (file writes, renames, Kubernetes `..data` symlink swaps, SIGHUP)
//! and new handshakes follow without a restart, while bad material never replaces good.
//! Revocation (CRLs) lives in `revocation.rs`.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::volume::KubeVolume;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a reload may take to reach new handshakes (contract: "within 5 s" in practice;
/// the watcher debounces 300 ms).
const RELOAD_WITHIN: Duration = Duration::from_secs(5);
/// Generous bound for conditions polled after a reload.
const POLL: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Helpers local to the live-trust tests
// ---------------------------------------------------------------------------------------

/// One allowed round trip, before a test changes files: proves the proxy serves with the
/// old material. (certgate registers its watches before it reads the material, so a change
/// right after start is not missed: `trust_change_written_right_after_listening_is_not_missed`.)
async fn round_trip(client: &Client) {
    let r = client.get("/hooks/warm-up").await.expect("warm-up request");
    assert_eq!(r.status, 200, "warm-up request");
}

/// Writes `contents` to a hidden temp file beside `path`, then renames it over `path`: what
/// careful writers (and config-management tools) do. Hidden names are skipped by directory
/// loaders, so the temp file is never read as trust material.
fn write_atomic(path: &Path, contents: &[u8]) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// `certgate run` arguments without routes: TLS on 127.0.0.1:0, admin off unless `extra`
/// sets it, the given server files and upstream.
fn bare_args(
    server_cert: &Path,
    server_key: &Path,
    upstream: &Upstream,
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--server-cert".into(),
        s(server_cert),
        "--server-key".into(),
        s(server_key),
        "--upstream".into(),
        upstream.url.clone(),
    ];
    if !extra.contains(&"--admin-listen") {
        a.push("--admin-listen".into());
        a.push("off".into());
    }
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

/// [`bare_args`] plus route `hooks=/hooks` allowing any verified certificate and a
/// `--trust` for each of `trust`.
fn run_args(
    server_cert: &Path,
    server_key: &Path,
    upstream: &Upstream,
    trust: &[&Path],
    extra: &[&str],
) -> Vec<String> {
    let mut a = bare_args(server_cert, server_key, upstream, extra);
    a.extend(["--route", "hooks=/hooks", "--allow", "hooks=any"].map(String::from));
    for t in trust {
        a.push("--trust".into());
        a.push(s(t));
    }
    a
}

/// Number of log lines reporting a successful reload.
fn reloads_logged(cg: &Certgate) -> usize {
    cg.logs().iter().filter(|l| l.contains("reloaded")).count()
}

/// The subject certgate forwarded for the `i`-th request the upstream saw.
fn upstream_subject(upstream: &Upstream, i: usize) -> String {
    upstream.requests()[i]
        .expect("x-client-cert-subject")
        .to_string()
}

/// `IP:PORT` of the admin server from `admin listening addr=IP:PORT`.
async fn admin_addr(cg: &Certgate) -> SocketAddr {
    let line = cg.wait_for_log("admin listening").await;
    let rest = &line[line.find("addr=").expect("addr= in admin line") + 5..];
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .filter(|c| *c != '"')
        .collect();
    token.parse().expect("admin address")
}

/// Body of a plain-HTTP GET to the admin server.
async fn admin_get(addr: SocketAddr, path: &str) -> String {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    tokio::time::timeout(CLIENT_TIMEOUT, fut)
        .await
        .expect("admin request timed out")
}

/// Sum of the samples of `name` whose labels include every `labels` pair.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------------------
// Trust directory
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ca_added_to_trust_directory_is_accepted_without_restart() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca.cert_path, trust_dir.path().join("root.pem")).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[trust_dir.path()],
            &[],
        ),
        &[],
    )
    .await;
    let old = pki.client("old", ClientSpec::cn_only("old"));
    round_trip(&cg.client(&pki).cert(&old)).await;
    let client = cg.client(&pki).cert(&partner);
    assert_eq!(got(&client, "/hooks/before").await, Got::TlsRefused);
    assert_eq!(
        upstream.paths(),
        ["/hooks/warm-up"],
        "partner CA not yet trusted"
    );

    write_atomic(
        &trust_dir.path().join("partner.pem"),
        read(&partner_ca.cert_path).as_bytes(),
    );

    until(
        &client,
        "/hooks/after",
        Got::Status(200),
        RELOAD_WITHIN,
        "client of the CA added to the trust directory",
    )
    .await;
    assert_eq!(upstream.paths(), ["/hooks/warm-up", "/hooks/after"]);
    assert_eq!(upstream_subject(&upstream, 1), "CN=partner");
    // The CA that was there from the start still works.
    assert_eq!(
        got(&cg.client(&pki).cert(&old), "/hooks/old").await,
        Got::Status(200)
    );
}

#[tokio::test]
async fn ca_removed_from_trust_directory_is_refused_for_new_connections() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca.cert_path, trust_dir.path().join("root.pem")).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    std::fs::copy(&partner_ca.cert_path, trust_dir.path().join("partner.crt")).unwrap();
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let stays = pki.client("stays", ClientSpec::cn_only("stays"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[trust_dir.path()],
            &[],
        ),
        &[],
    )
    .await;
    let client = cg.client(&pki).cert(&partner);
    assert_eq!(got(&client, "/hooks/before").await, Got::Status(200));

    std::fs::remove_file(trust_dir.path().join("partner.crt")).unwrap();

    until(
        &client,
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "client of the CA removed from the trust directory",
    )
    .await;
    let seen_before = upstream.count();
    assert_eq!(got(&client, "/hooks/after").await, Got::TlsRefused);
    assert_eq!(
        got(&cg.client(&pki).cert(&stays), "/hooks/stays").await,
        Got::Status(200)
    );
    let reqs = upstream.requests();
    assert_eq!(reqs.len(), seen_before + 1, "{reqs:#?}");
    assert_eq!(reqs.last().unwrap().path, "/hooks/stays");
    assert!(
        reqs.iter().all(|r| r.path != "/hooks/after"),
        "no refused request may reach the upstream: {reqs:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Kubernetes `..data` symlink swaps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn kubernetes_data_symlink_swap_replaces_the_trust_anchors() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let old_ca = pki.other_ca("Old CA");
    let new_ca = pki.other_ca("New CA");
    let old_client = old_ca.issue("old", ClientSpec::cn_only("old"));
    let new_client = new_ca.issue("new", ClientSpec::cn_only("new"));
    let vol_dir = tempfile::tempdir().unwrap();
    let mut vol = KubeVolume::create(
        &vol_dir.path().join("trust"),
        &[("ca.pem", &read(&old_ca.cert_path))],
    );
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&vol.path("ca.pem")],
            &[],
        ),
        &[],
    )
    .await;
    let old = cg.client(&pki).cert(&old_client);
    let new = cg.client(&pki).cert(&new_client);
    assert_eq!(got(&old, "/hooks/old-before").await, Got::Status(200));
    assert_eq!(got(&new, "/hooks/new-before").await, Got::TlsRefused);

    vol.update(&[("ca.pem", &read(&new_ca.cert_path))]);

    until(
        &new,
        "/hooks/new-after",
        Got::Status(200),
        RELOAD_WITHIN,
        "client of the new CA",
    )
    .await;
    assert_eq!(got(&old, "/hooks/old-after").await, Got::TlsRefused);
    assert_eq!(upstream.paths(), ["/hooks/old-before", "/hooks/new-after"]);
    assert_eq!(upstream_subject(&upstream, 0), "CN=old");
    assert_eq!(upstream_subject(&upstream, 1), "CN=new");
}

#[tokio::test]
async fn kubernetes_data_symlink_swap_replaces_the_server_certificate() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let next_server = pki.ca.issue_server("server-next");
    let vol_dir = tempfile::tempdir().unwrap();
    let mut vol = KubeVolume::create(
        &vol_dir.path().join("tls"),
        &[
            ("tls.crt", &read(&pki.server.chain_path)),
            ("tls.key", &read(&pki.server.key_path)),
        ],
    );
    let cg = Certgate::start_args(
        &run_args(
            &vol.path("tls.crt"),
            &vol.path("tls.key"),
            &upstream,
            &[&pki.ca.cert_path],
            &[],
        ),
        &[],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let served = |c: Client| async move {
        let tls = c.tls_connect().await.expect("TLS connect");
        tls.get_ref()
            .1
            .peer_certificates()
            .expect("server certificate")[0]
            .to_vec()
    };
    assert_eq!(served(client.clone()).await, pki.server.der);

    vol.update(&[
        ("tls.crt", &read(&next_server.chain_path)),
        ("tls.key", &read(&next_server.key_path)),
    ]);

    let want = next_server.der.clone();
    let (c, w) = (&client, &want);
    eventually(
        "the swapped-in server certificate to be served",
        RELOAD_WITHIN,
        || async move { served(c.clone()).await == *w },
    )
    .await;
    // And the connection serves requests with it.
    assert_eq!(got(&client, "/hooks/after").await, Got::Status(200));
    assert_eq!(upstream.paths(), ["/hooks/after"]);
}

// ---------------------------------------------------------------------------------------
// Bad material never replaces good
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn half_written_trust_file_keeps_the_old_trust_and_is_reported() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    let trust = trust_dir.path().join("ca.pem");
    let good = read(&pki.ca.cert_path);
    std::fs::write(&trust, &good).unwrap();
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&trust],
            &["--admin-listen", "127.0.0.1:0"],
        ),
        &[],
    )
    .await;
    let admin = admin_addr(&cg).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    assert_eq!(got(&client, "/hooks/before").await, Got::Status(200));

    // A writer that died half way: the PEM stops in the middle of the base64.
    std::fs::write(&trust, &good.as_bytes()[..good.len() / 2]).unwrap();

    let line = cg.wait_for_log("reload failed").await;
    assert!(
        line.contains("ca.pem"),
        "the failure names the file: {line}"
    );
    let errors = metric(
        &admin_get(admin, "/metrics").await,
        "certgate_reloads_total",
        &[("source", "trust"), ("result", "error")],
    );
    assert!(errors >= 1.0, "reload errors counted: {errors}");
    assert_eq!(got(&client, "/hooks/after").await, Got::Status(200));
    assert_eq!(upstream.paths(), ["/hooks/before", "/hooks/after"]);
    assert_eq!(upstream_subject(&upstream, 1), "CN=sender");
}

#[tokio::test]
async fn corrupt_file_in_trust_directory_keeps_the_old_trust_and_is_reported() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca.cert_path, trust_dir.path().join("root.pem")).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[trust_dir.path()],
            &["--admin-listen", "127.0.0.1:0"],
        ),
        &[],
    )
    .await;
    let admin = admin_addr(&cg).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    round_trip(&cg.client(&pki).cert(&leaf)).await;

    // A good new CA and, in the same change, a file of garbage: the whole change is refused.
    write_atomic(
        &trust_dir.path().join("partner.pem"),
        read(&partner_ca.cert_path).as_bytes(),
    );
    write_atomic(
        &trust_dir.path().join("broken.crt"),
        b"\x30\x82\x01\x00 not DER at all",
    );

    let line = cg.wait_for_log("reload failed").await;
    assert!(
        line.contains("broken.crt"),
        "the failure names the file: {line}"
    );
    let text = admin_get(admin, "/metrics").await;
    let errors = metric(
        &text,
        "certgate_reloads_total",
        &[("source", "trust"), ("result", "error")],
    );
    assert!(errors >= 1.0, "reload errors counted: {errors}\n{text}");
    let ok = metric(
        &text,
        "certgate_reloads_total",
        &[("source", "trust"), ("result", "ok")],
    );
    assert_eq!(ok, 0.0, "no trust reload succeeded\n{text}");
    assert_eq!(
        got(&cg.client(&pki).cert(&leaf), "/hooks/sender").await,
        Got::Status(200)
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&partner), "/hooks/partner").await,
        Got::TlsRefused,
        "half of a refused change must not apply"
    );
    assert_eq!(upstream.paths(), ["/hooks/warm-up", "/hooks/sender"]);
}

// ---------------------------------------------------------------------------------------
// Open connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn open_keep_alive_connection_survives_an_unrelated_trust_reload() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    let trust = trust_dir.path().join("ca.pem");
    std::fs::copy(&pki.ca.cert_path, &trust).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&trust],
            &[],
        ),
        &[],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let mut conn = cg.client(&pki).cert(&leaf).connect().await.unwrap();
    assert_eq!(conn.get("/hooks/1").await.unwrap().status, 200);

    let both = format!("{}{}", read(&pki.ca.cert_path), read(&partner_ca.cert_path));
    write_atomic(&trust, both.as_bytes());
    cg.wait_for_log("reloaded").await;
    // The reload is in force for new handshakes...
    until(
        &cg.client(&pki).cert(&partner),
        "/hooks/partner",
        Got::Status(200),
        RELOAD_WITHIN,
        "client of the added CA",
    )
    .await;

    // ...and the connection opened before it still serves (re-checked, still trusted).
    let r = conn
        .get("/hooks/2")
        .await
        .expect("same connection after the reload");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "upstream-ok");
    assert_eq!(upstream.paths(), ["/hooks/1", "/hooks/partner", "/hooks/2"]);
    assert_eq!(upstream_subject(&upstream, 2), "CN=sender");
}

#[tokio::test]
async fn open_connection_of_a_ca_removed_from_trust_gets_403() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    let trust = trust_dir.path().join("ca.pem");
    let partner_ca = pki.other_ca("Partner CA");
    let both = format!("{}{}", read(&pki.ca.cert_path), read(&partner_ca.cert_path));
    std::fs::write(&trust, &both).unwrap();
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let stays = pki.client("stays", ClientSpec::cn_only("stays"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&trust],
            &[],
        ),
        &[],
    )
    .await;
    let mut gone_conn = cg.client(&pki).cert(&partner).connect().await.unwrap();
    let mut stays_conn = cg.client(&pki).cert(&stays).connect().await.unwrap();
    assert_eq!(gone_conn.get("/hooks/gone-1").await.unwrap().status, 200);
    assert_eq!(stays_conn.get("/hooks/stays-1").await.unwrap().status, 200);

    write_atomic(&trust, read(&pki.ca.cert_path).as_bytes());
    until(
        &cg.client(&pki).cert(&partner),
        "/hooks/probe",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "new connections of the removed CA",
    )
    .await;

    let r = gone_conn
        .get("/hooks/gone-2")
        .await
        .expect("an HTTP answer");
    assert_eq!(r.status, 403);
    let r = gone_conn.get("/hooks/gone-3").await;
    assert!(
        !matches!(r, Ok(ref r) if r.status == 200),
        "refused from then on: {r:?}"
    );
    assert_eq!(stays_conn.get("/hooks/stays-2").await.unwrap().status, 200);
    let paths = upstream.paths();
    assert!(paths.contains(&"/hooks/gone-1".to_string()));
    assert!(
        !paths
            .iter()
            .any(|p| p == "/hooks/gone-2" || p == "/hooks/gone-3"),
        "{paths:?}"
    );
    assert_eq!(paths.last().unwrap(), "/hooks/stays-2");
}

// ---------------------------------------------------------------------------------------
// Per-route trust bundles
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sandbox_bundle_is_accepted_on_the_sandbox_route_only() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let sandbox_ca = pki.other_ca("Sandbox CA");
    let production_ca = pki.other_ca("Production CA");
    let sandbox = sandbox_ca.issue("sb-client", ClientSpec::cn_only("sb-client"));
    let production = production_ca.issue("prod-client", ClientSpec::cn_only("prod-client"));
    let sb_bundle = format!("sandbox={}", s(&sandbox_ca.cert_path));
    let prod_bundle = format!("production={}", s(&production_ca.cert_path));
    let cg = Certgate::start_args(
        &bare_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[
                "--trust-bundle",
                &sb_bundle,
                "--trust-bundle",
                &prod_bundle,
                "--route",
                "sb=/sandbox",
                "--route-trust",
                "sb=sandbox",
                "--allow",
                "sb=any",
                "--route",
                "prod=/prod",
                "--route-trust",
                "prod=production",
                "--allow",
                "prod=any",
            ],
        ),
        &[],
    )
    .await;
    let sb = cg.client(&pki).cert(&sandbox);
    let prod = cg.client(&pki).cert(&production);

    assert_eq!(got(&sb, "/sandbox/a").await, Got::Status(200));
    assert_eq!(got(&sb, "/prod/a").await, Got::Status(403));
    assert_eq!(got(&prod, "/prod/b").await, Got::Status(200));
    assert_eq!(got(&prod, "/sandbox/b").await, Got::Status(403));

    assert_eq!(upstream.paths(), ["/sandbox/a", "/prod/b"]);
    assert_eq!(upstream_subject(&upstream, 0), "CN=sb-client");
    assert_eq!(upstream_subject(&upstream, 1), "CN=prod-client");
    // A client of neither bundle does not even get a connection.
    let stranger = pki.client("stranger", ClientSpec::cn_only("stranger"));
    assert_eq!(
        got(&cg.client(&pki).cert(&stranger), "/sandbox/c").await,
        Got::TlsRefused
    );
    assert_eq!(upstream.count(), 2);
}

// ---------------------------------------------------------------------------------------
// Intermediates
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn leaf_only_client_is_completed_by_intermediates_flag_and_refused_without() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let full = issuing.issue("leafy", ClientSpec::cn_only("leafy"));
    let leaf_only = full.without_chain();

    let without = Certgate::start(
        &pki,
        &upstream.url,
        &["--route", "hooks=/hooks", "--allow", "hooks=any"],
    )
    .await;
    assert_eq!(
        got(&without.client(&pki).cert(&leaf_only), "/hooks/leaf-only").await,
        Got::TlsRefused,
        "no --intermediates: the chain cannot be built"
    );
    assert_eq!(
        got(&without.client(&pki).cert(&full), "/hooks/full").await,
        Got::Status(200),
        "sanity: the full chain verifies"
    );
    drop(without);

    let inter = s(&issuing.cert_path);
    let with = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/hooks",
            "--allow",
            "hooks=any",
            "--intermediates",
            &inter,
        ],
    )
    .await;
    assert_eq!(
        got(&with.client(&pki).cert(&leaf_only), "/hooks/completed").await,
        Got::Status(200)
    );
    assert_eq!(upstream.paths(), ["/hooks/full", "/hooks/completed"]);
    assert_eq!(upstream_subject(&upstream, 1), "CN=leafy");
}

#[tokio::test]
async fn intermediate_added_to_intermediates_directory_completes_chains_without_restart() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let unrelated = pki.ca.intermediate("Unrelated CA");
    let leaf_only = issuing
        .issue("leafy", ClientSpec::cn_only("leafy"))
        .without_chain();
    let inter_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&unrelated.cert_path, inter_dir.path().join("unrelated.pem")).unwrap();
    let dir = s(inter_dir.path());
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/hooks",
            "--allow",
            "hooks=any",
            "--intermediates",
            &dir,
        ],
    )
    .await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    round_trip(&cg.client(&pki).cert(&sender)).await;
    let client = cg.client(&pki).cert(&leaf_only);
    assert_eq!(got(&client, "/hooks/before").await, Got::TlsRefused);

    write_atomic(
        &inter_dir.path().join("issuing.pem"),
        read(&issuing.cert_path).as_bytes(),
    );

    until(
        &client,
        "/hooks/after",
        Got::Status(200),
        RELOAD_WITHIN,
        "leaf-only client",
    )
    .await;
    assert_eq!(upstream.paths(), ["/hooks/warm-up", "/hooks/after"]);
    assert_eq!(upstream_subject(&upstream, 1), "CN=leafy");
}

// ---------------------------------------------------------------------------------------
// Reload under load
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_fails_while_trust_and_server_certificate_are_swapped_repeatedly() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let extra_ca = pki.other_ca("Extra CA");
    let server_b = pki.ca.issue_server("server-b");
    let live = tempfile::tempdir().unwrap();
    let (trust, cert, key) = (
        live.path().join("trust.pem"),
        live.path().join("tls.crt"),
        live.path().join("tls.key"),
    );
    // Two valid versions of everything; both trust the clients' CA.
    let trust_versions = [
        read(&pki.ca.cert_path),
        format!("{}{}", read(&extra_ca.cert_path), read(&pki.ca.cert_path)),
    ];
    let server_versions = [
        (read(&pki.server.chain_path), read(&pki.server.key_path)),
        (read(&server_b.chain_path), read(&server_b.key_path)),
    ];
    std::fs::write(&trust, &trust_versions[0]).unwrap();
    std::fs::write(&cert, &server_versions[0].0).unwrap();
    std::fs::write(&key, &server_versions[0].1).unwrap();
    let cg = Certgate::start_args(&run_args(&cert, &key, &upstream, &[&trust], &[]), &[]).await;
    let leaf = pki.client("loader", ClientSpec::cn_only("loader"));
    let client = cg.client(&pki).cert(&leaf);

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, stop, ok, failures) =
            (client.clone(), stop.clone(), ok.clone(), failures.clone());
        workers.push(tokio::spawn(async move {
            // Workers 0 and 1 open a fresh connection (a full handshake) per request;
            // 2 and 3 keep one connection alive, reconnecting only if the server closes it.
            let keep_alive = w >= 2;
            let mut conn = None;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let path = format!("/hooks/w{w}/{i}");
                let result = if keep_alive {
                    if conn.is_none() {
                        match client.connect().await {
                            Ok(c) => conn = Some(c),
                            Err(e) => {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{path}: connect {e:?}"));
                                continue;
                            }
                        }
                    }
                    let r = conn.as_mut().unwrap().get(&path).await;
                    if r.is_err() {
                        conn = None;
                    }
                    r
                } else {
                    client.get(&path).await
                };
                match result {
                    Ok(r) if r.status == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{path}: HTTP {}", r.status)),
                    Err(e) => failures.lock().unwrap().push(format!("{path}: {e:?}")),
                }
            }
        }));
    }

    let reloads_before = reloads_logged(&cg);
    let started = Instant::now();
    let mut swaps = 0;
    while started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        swaps += 1;
        let v = swaps % 2;
        write_atomic(&trust, trust_versions[v].as_bytes());
        write_atomic(&key, server_versions[v].1.as_bytes());
        write_atomic(&cert, server_versions[v].0.as_bytes());
    }
    // Let the last swap land while the workers keep going.
    let want = reloads_before + 2;
    eventually("at least two reloads during the run", POLL, || async {
        reloads_logged(&cg) >= want
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        tokio::time::timeout(POLL, w)
            .await
            .expect("worker stops")
            .unwrap();
    }

    let failures = failures.lock().unwrap().clone();
    let ok = ok.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {failures:#?}",
        failures.len(),
        ok + failures.len()
    );
    assert!(ok >= 20, "only {ok} requests in the run");
    assert_eq!(
        upstream.count(),
        ok,
        "the upstream saw every request exactly once"
    );
    assert!(swaps >= 5, "{swaps} swaps");
}

// ---------------------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------------------

fn send_sighup(cg: &Certgate) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &cg.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -HUP failed: {status}");
}

#[tokio::test]
async fn sighup_reloads_a_change_the_watcher_cannot_see() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    // `--trust watched/ca.pem` is a symlink to a file in a directory certgate does not watch,
    // so replacing the target is invisible to the file watcher: only SIGHUP picks it up.
    let watched = tempfile::tempdir().unwrap();
    let hidden = tempfile::tempdir().unwrap();
    let target = hidden.path().join("ca.pem");
    std::fs::copy(&pki.ca.cert_path, &target).unwrap();
    let link = watched.path().join("ca.pem");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&link],
            &[],
        ),
        &[],
    )
    .await;
    let partner_client = cg.client(&pki).cert(&partner);
    let sender = cg.client(&pki).cert(&leaf);

    round_trip(&sender).await;

    // A SIGHUP with nothing changed: the process survives and serves.
    send_sighup(&cg);
    assert_eq!(got(&sender, "/hooks/1").await, Got::Status(200));
    assert_eq!(
        got(&partner_client, "/hooks/refused").await,
        Got::TlsRefused
    );

    let both = format!("{}{}", read(&pki.ca.cert_path), read(&partner_ca.cert_path));
    write_atomic(&target, both.as_bytes());
    send_sighup(&cg);

    until(
        &partner_client,
        "/hooks/2",
        Got::Status(200),
        RELOAD_WITHIN,
        "partner after SIGHUP",
    )
    .await;
    let line = cg
        .wait_for_log_where("reporting the SIGHUP reload", |l| {
            l.contains("reloaded") && l.contains("SIGHUP")
        })
        .await;
    assert!(line.contains("trust=true"), "{line}");
    assert_eq!(got(&sender, "/hooks/3").await, Got::Status(200));
    assert_eq!(
        upstream.paths(),
        ["/hooks/warm-up", "/hooks/1", "/hooks/2", "/hooks/3"]
    );
    assert_eq!(upstream_subject(&upstream, 2), "CN=partner");
}

// ---------------------------------------------------------------------------------------
// The moment certgate says it is listening
// ---------------------------------------------------------------------------------------
//
// Once `listening addr=` is logged (and /readyz says ready), operators and orchestrators
// act on the proxy: they may rotate a file or send SIGHUP at once. These two tests act
// immediately after that line, with no warm-up round trip.

#[tokio::test]
async fn sighup_right_after_listening_does_not_kill_the_proxy() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[&pki.ca.cert_path],
            &[],
        ),
        &[],
    )
    .await;
    send_sighup(&cg);

    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let r = got(&cg.client(&pki).cert(&leaf), "/hooks/after-hup").await;
    assert_eq!(
        r,
        Got::Status(200),
        "SIGHUP must reload, never terminate; logs:\n{}",
        cg.logs().join("\n")
    );
    assert_eq!(upstream.paths(), ["/hooks/after-hup"]);
}

#[tokio::test]
async fn trust_change_written_right_after_listening_is_not_missed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&pki.ca.cert_path, trust_dir.path().join("root.pem")).unwrap();
    let partner_ca = pki.other_ca("Partner CA");
    let partner = partner_ca.issue("partner", ClientSpec::cn_only("partner"));
    let cg = Certgate::start_args(
        &run_args(
            &pki.server.chain_path,
            &pki.server.key_path,
            &upstream,
            &[trust_dir.path()],
            &[],
        ),
        &[],
    )
    .await;
    write_atomic(
        &trust_dir.path().join("partner.pem"),
        read(&partner_ca.cert_path).as_bytes(),
    );

    until(
        &cg.client(&pki).cert(&partner),
        "/hooks/partner",
        Got::Status(200),
        RELOAD_WITHIN,
        "a CA added the moment certgate listens",
    )
    .await;
    assert_eq!(upstream.paths(), ["/hooks/partner"]);
}
