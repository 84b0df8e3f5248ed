//! Live allow-lists: `--allow-file` rules change under a running proxy (Kubernetes
//! ConfigMap `..data` swaps), and every open keep-alive connection's next request is decided
//! under the new rules, HTTP/1.1 and HTTP/2 alike; a broken file keeps the old rules; rules
//! with ` until=` stop allowing at their instant, open connections included; `/rules` says
//! where each rule came from.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use support::volume::KubeVolume;
use support::*;

/// A reload reaches requests within this (the watcher debounces 300 ms).
const RELOAD_WITHIN: Duration = Duration::from_secs(5);

/// A proxy with route `hooks=/hooks`, the admin server on, and `extra` flags.
async fn start(pki: &Pki, up: &Upstream, extra: &[&str]) -> Certgate {
    let mut args = vec!["--route", "hooks=/hooks", "--idle-timeout", "30s"];
    args.extend_from_slice(extra);
    Certgate::start_with_admin(pki, &up.url, &args).await
}

async fn admin(cg: &Certgate, path: &str) -> String {
    let (status, body) = http_get(cg.admin_addr().await, path)
        .await
        .expect("admin request");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The policy generation `/rules` reports.
async fn generation(cg: &Certgate) -> u64 {
    let body = admin(cg, "/rules").await;
    let rest = body
        .split_once("\"generation\":")
        .unwrap_or_else(|| panic!("no generation in /rules: {body}"))
        .1;
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

async fn wait_generation(cg: &Certgate, want: u64) {
    let deadline = Instant::now() + RELOAD_WITHIN;
    loop {
        let g = generation(cg).await;
        if g >= want {
            assert_eq!(g, want, "policy generation moved more than expected");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "policy generation {want} not reached within {RELOAD_WITHIN:?} (at {g})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn allow_reloads(cg: &Certgate, result: &str) -> f64 {
    let m = admin(cg, "/metrics").await;
    metric_value(
        &m,
        "certgate_reloads_total",
        &[("source", "allow"), ("result", result)],
    )
    .unwrap_or_else(|| {
        panic!(
            "certgate_reloads_total{{source=\"allow\",result=\"{result}\"}} is not exported:\n{m}"
        )
    })
}

fn subjects(up: &Upstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| r.one("x-client-cert-subject").unwrap_or("").to_string())
        .collect()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

// ---------------------------------------------------------------------------------------
// A rule added, a rule removed, on open connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rule_added_by_a_configmap_swap_lets_a_refused_client_in_on_its_open_connection() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let bob = pki.client("bob", ClientSpec::cn_only("bob"));
    let mut vol = KubeVolume::create(&pki.path("allow"), &[("hooks.rules", "cn:alice\n")]);
    let file = format!("hooks={}", s(&pki.path("allow/hooks.rules")));
    let cg = start(&pki, &up, &["--allow-file", &file]).await;
    let mut gen = 1;
    for alpn in [Alpn::Http1, Alpn::H2] {
        if gen > 1 {
            // Take bob out again for the next protocol.
            vol.update(&[("hooks.rules", "cn:alice\n")]);
            gen += 1;
            wait_generation(&cg, gen).await;
        }
        let mut conn = cg
            .client(&pki)
            .cert(&bob)
            .alpn(alpn)
            .connect()
            .await
            .unwrap();
        let before = up.count();
        assert_eq!(conn.get("/hooks/a").await.unwrap().status, 403, "{alpn:?}");
        assert_eq!(up.count(), before, "{alpn:?}: bob before his rule exists");
        vol.update(&[("hooks.rules", "cn:alice\n# bob joins\ncn:bob\n")]);
        gen += 1;
        wait_generation(&cg, gen).await;
        // Same connection: no restart, no reconnect.
        let r = conn.get("/hooks/b").await.unwrap();
        assert_eq!(r.status, 200, "{alpn:?}: bob on his open connection");
        assert_eq!(up.count(), before + 1);
        assert_eq!(up.paths().last().map(String::as_str), Some("/hooks/b"));
        assert_eq!(subjects(&up).last().map(String::as_str), Some("CN=bob"));
    }
    assert_eq!(allow_reloads(&cg, "ok").await, 3.0);
    assert_eq!(allow_reloads(&cg, "error").await, 0.0);
}

#[tokio::test]
async fn a_rule_removed_refuses_the_next_request_of_open_keep_alive_connections() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let carol = pki.client("carol", ClientSpec::cn_only("carol"));
    let mut vol = KubeVolume::create(
        &pki.path("allow"),
        &[("hooks.rules", "cn:alice\ncn:carol\n")],
    );
    let file = format!("hooks={}", s(&pki.path("allow/hooks.rules")));
    let cg = start(&pki, &up, &["--allow-file", &file]).await;
    let mut h1 = cg.client(&pki).cert(&alice).connect().await.unwrap();
    let mut h2 = cg.client(&pki).cert(&alice).h2().connect().await.unwrap();
    let mut other = cg.client(&pki).cert(&carol).connect().await.unwrap();
    assert_eq!(h2.alpn.as_deref(), Some(&b"h2"[..]));
    for conn in [&mut h1, &mut h2, &mut other] {
        assert_eq!(conn.get("/hooks/before").await.unwrap().status, 200);
    }
    assert_eq!(up.count(), 3);

    vol.update(&[("hooks.rules", "cn:carol\n")]);
    wait_generation(&cg, 2).await;
    for (name, conn) in [("HTTP/1.1", &mut h1), ("HTTP/2", &mut h2)] {
        let r = conn.get("/hooks/after").await.unwrap();
        assert_eq!(
            r.status, 403,
            "{name}: alice's open connection after removal"
        );
    }
    assert_eq!(
        up.count(),
        3,
        "nothing of alice's reached the upstream after the swap"
    );
    // Carol's rule is unchanged: her open connection goes on.
    assert_eq!(other.get("/hooks/still").await.unwrap().status, 200);
    assert_eq!(up.paths().last().map(String::as_str), Some("/hooks/still"));
    let logs = cg.logs().join("\n");
    assert!(logs.contains("allow-list reloaded"), "{logs}");
}

// ---------------------------------------------------------------------------------------
// A broken file keeps the previous rules
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_broken_allow_file_keeps_its_previous_rules_and_is_counted() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let bob = pki.client("bob", ClientSpec::cn_only("bob"));
    let mut vol = KubeVolume::create(&pki.path("allow"), &[("hooks.rules", "cn:alice\n")]);
    let file = format!("hooks={}", s(&pki.path("allow/hooks.rules")));
    let cg = start(&pki, &up, &["--allow-file", &file]).await;
    let mut a = cg.client(&pki).cert(&alice).connect().await.unwrap();
    assert_eq!(a.get("/hooks/1").await.unwrap().status, 200);
    assert_eq!(allow_reloads(&cg, "error").await, 0.0);

    // Line 3 is not a rule: the whole file is refused, bob's line 2 included.
    vol.update(&[("hooks.rules", "# new\ncn:bob\nfingerprint:zz\n")]);
    let line = cg.wait_for_log("allow file not reloaded").await;
    assert!(
        line.contains("hooks.rules") && line.contains("line 3"),
        "{line}"
    );
    eventually("the error is counted", RELOAD_WITHIN, || async {
        allow_reloads(&cg, "error").await >= 1.0
    })
    .await;
    assert_eq!(generation(&cg).await, 1);
    assert_eq!(a.get("/hooks/2").await.unwrap().status, 200, "alice stays");
    assert_eq!(
        got(&cg.client(&pki).cert(&bob), "/hooks/3").await,
        Got::Status(403)
    );
    assert_eq!(up.paths(), ["/hooks/1", "/hooks/2"]);
    assert_eq!(allow_reloads(&cg, "ok").await, 0.0);

    // Fixed: the new rules apply.
    vol.update(&[("hooks.rules", "cn:bob\n")]);
    wait_generation(&cg, 2).await;
    assert_eq!(a.get("/hooks/4").await.unwrap().status, 403);
    assert_eq!(
        got(&cg.client(&pki).cert(&bob), "/hooks/5").await,
        Got::Status(200)
    );
    assert_eq!(allow_reloads(&cg, "ok").await, 1.0);
}

// ---------------------------------------------------------------------------------------
// until=
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_rule_whose_until_has_passed_allows_nothing() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let bob = pki.client("bob", ClientSpec::cn_only("bob"));
    std::fs::write(
        pki.path("hooks.rules"),
        "cn:bob until=2020-01-01T00:00:00Z\n",
    )
    .unwrap();
    let file = format!("hooks={}", s(&pki.path("hooks.rules")));
    let cg = start(
        &pki,
        &up,
        &[
            "--allow",
            "hooks=cn:alice until=2021-06-01T12:00:00Z",
            "--allow-file",
            &file,
        ],
    )
    .await;
    for leaf in [&alice, &bob] {
        assert_eq!(
            got(&cg.client(&pki).cert(leaf), "/hooks").await,
            Got::Status(403)
        );
    }
    up.assert_nothing("rules past their until=");
    let line = cg.wait_for_log("has ended").await;
    assert!(line.contains("cn:alice"), "{line}");
    let line = cg
        .wait_for_log("matches the client certificate but has ended")
        .await;
    assert!(line.contains("until="), "{line}");
}

#[tokio::test]
async fn a_rule_that_ends_while_a_connection_is_open_refuses_its_next_request() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    // Whole seconds, at least 2 s ahead.
    let until = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 3,
        );
    let rule = format!("hooks=cn:alice until={}", rfc3339(until));
    let cg = start(&pki, &up, &["--allow", &rule]).await;
    // --expiry-warning (default 90d) names the rule that is about to end.
    let warning = cg
        .wait_for_log("rule ends (until=) within --expiry-warning")
        .await;
    assert!(warning.contains("cn:alice until="), "{warning}");
    let mut h1 = cg.client(&pki).cert(&alice).connect().await.unwrap();
    let mut h2 = cg.client(&pki).cert(&alice).h2().connect().await.unwrap();
    for conn in [&mut h1, &mut h2] {
        assert_eq!(conn.get("/hooks/before").await.unwrap().status, 200);
    }
    // Poll the open connections across the instant: allowed before, refused from then on.
    let deadline = until + Duration::from_secs(3);
    let mut allowed = 2;
    for (name, conn) in [("HTTP/1.1", &mut h1), ("HTTP/2", &mut h2)] {
        loop {
            let sent = SystemTime::now();
            let r = conn.get("/hooks/poll").await.unwrap();
            if r.status == 403 {
                assert!(
                    SystemTime::now() >= until,
                    "{name}: refused before its until"
                );
                break;
            }
            assert_eq!(r.status, 200, "{name}");
            assert!(sent < until, "{name}: allowed after its until");
            allowed += 1;
            assert!(SystemTime::now() < deadline, "{name}: never refused");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        up.count(),
        allowed,
        "no request after the instant reached the upstream"
    );
    assert_eq!(h1.get("/hooks/again").await.unwrap().status, 403);
    assert_eq!(up.count(), allowed);
}

// ---------------------------------------------------------------------------------------
// /rules, start-up errors, env, check
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn rules_endpoint_shows_every_rule_with_its_source_and_until() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let path = pki.path("hooks.rules");
    std::fs::write(
        &path,
        "# pinned senders\n\nfingerprint:AB:CD:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01 until=2030-01-01T00:00:00Z\ncn:svc\n",
    )
    .unwrap();
    let file = format!("hooks={}", s(&path));
    let cg = start(
        &pki,
        &up,
        &[
            "--route",
            "health=/health",
            "--allow",
            "health=public",
            "--allow",
            "hooks=o:Acme",
            "--allow-file",
            &file,
        ],
    )
    .await;
    let body = admin(&cg, "/rules").await;
    let p = s(&path);
    assert!(body.starts_with("{\"generation\":1,"), "{body}");
    for want in [
        "\"name\":\"hooks\",\"prefix\":\"/hooks\",\"trust_bundle\":\"default\"".to_string(),
        format!("\"upstream\":\"{}\"", up.url),
        "{\"rule\":\"o:Acme\",\"source\":\"--allow\",\"until\":null,\"active\":true}".into(),
        format!("{{\"rule\":\"fingerprint:abcd{}01\",\"source\":\"{p}:3\",\"until\":\"2030-01-01T00:00:00Z\",\"active\":true}}", "00".repeat(29)),
        format!("{{\"rule\":\"cn:svc\",\"source\":\"{p}:4\",\"until\":null,\"active\":true}}"),
        "{\"rule\":\"public\",\"source\":\"--allow\"".into(),
    ] {
        assert!(body.contains(&want), "missing {want}\nin {body}");
    }
}

#[test]
fn a_bad_allow_file_is_a_start_up_error_naming_flag_file_and_line() {
    let pki = Pki::new();
    let bad = pki.path("bad.rules");
    std::fs::write(&bad, "cn:a\n\ncn:b until=next-week\n").unwrap();
    let missing = pki.path("missing.rules");
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![format!("hooks={}", s(&bad))],
            vec![s(&bad), "line 3".into(), "until".into()],
        ),
        (
            vec![format!("hooks={}", s(&missing))],
            vec![s(&missing), "cannot read".into()],
        ),
        (
            vec![format!("nope={}", s(&missing))],
            vec!["unknown route \"nope\"".into()],
        ),
        (vec!["hooks".into()], vec!["expected NAME=PATH".into()]),
    ];
    for (values, wants) in cases {
        let mut args = vec!["run".to_string()];
        args.extend(pki.base_args());
        args.extend(["--route".into(), "hooks=/hooks".into()]);
        for v in &values {
            args.extend(["--allow-file".into(), v.clone()]);
        }
        let o = run_to_exit(&args, &[]);
        assert_eq!(o.code, Some(2), "{values:?}: {}", o.stderr);
        assert!(o.stderr.contains("--allow-file"), "{}", o.stderr);
        for w in wants {
            assert!(
                o.stderr.contains(&w),
                "{values:?}: want {w:?} in {}",
                o.stderr
            );
        }
        assert!(!o.stderr.contains("listening addr="), "{}", o.stderr);
    }
}

#[tokio::test]
async fn allow_files_come_from_the_environment_comma_separated() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let bob = pki.client("bob", ClientSpec::cn_only("bob"));
    let eve = pki.client("eve", ClientSpec::cn_only("eve"));
    std::fs::write(pki.path("a.rules"), "cn:alice\n").unwrap();
    std::fs::write(pki.path("b.rules"), "cn:bob\n").unwrap();
    let env = format!(
        "hooks={},hooks={}",
        s(&pki.path("a.rules")),
        s(&pki.path("b.rules"))
    );
    let mut args = pki.base_args();
    args.extend(["--upstream".into(), up.url.clone()]);
    args.extend(["--route".into(), "hooks=/hooks".into()]);
    let cg = Certgate::start_args(&args, &[("CERTGATE_ALLOW_FILE", &env)]).await;
    for (leaf, want) in [(&alice, 200), (&bob, 200), (&eve, 403)] {
        assert_eq!(
            got(&cg.client(&pki).cert(leaf), "/hooks").await,
            Got::Status(want)
        );
    }
    assert_eq!(subjects(&up), ["CN=alice", "CN=bob"]);
}

#[test]
fn check_reads_allow_files_and_names_the_rule_that_allowed() {
    let pki = Pki::new();
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let rules = pki.path("hooks.rules");
    std::fs::write(
        &rules,
        format!(
            "cn:someone-else\nfingerprint:{} until=2020-01-01T00:00:00Z\ncn:alice\n",
            alice.fingerprint()
        ),
    )
    .unwrap();
    let check = |at: &str| {
        run_to_exit(
            &[
                "check".into(),
                "--trust".into(),
                s(&pki.ca.cert_path),
                "--route".into(),
                "hooks=/hooks".into(),
                "--allow-file".into(),
                format!("hooks={}", s(&rules)),
                "--cert".into(),
                s(&alice.chain_path),
                "--path".into(),
                "/hooks".into(),
                "--at".into(),
                at.into(),
            ],
            &[],
        )
    };
    // The pin has ended, so rule 3 allows.
    let o = check(&rfc3339(SystemTime::now()));
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("rule 3 cn:alice"), "{}", o.stdout);
    std::fs::write(&rules, "cn:alice until=2020-01-01T00:00:00Z\n").unwrap();
    let o = check(&rfc3339(SystemTime::now()));
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("ended"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("{}:1", s(&rules))),
        "{}",
        o.stdout
    );
}

#[test]
fn inspect_prints_a_line_ready_for_an_allow_file() {
    let pki = Pki::new();
    let alice = pki.client("alice", ClientSpec::cn_only("alice"));
    let o = run_to_exit(&["inspect".into(), s(&alice.cert_path)], &[]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("--allow-file lines"))
        .unwrap_or_else(|| panic!("{}", o.stdout));
    assert!(lines[at + 1].starts_with("# CN=alice"), "{}", o.stdout);
    let pin = format!("fingerprint:{}", alice.fingerprint());
    assert_eq!(lines[at + 2], pin);
    // Pasted into a file, it is a valid rule that allows this certificate.
    std::fs::write(
        pki.path("p.rules"),
        format!("{}\n{}\n", lines[at + 1], lines[at + 2]),
    )
    .unwrap();
    let o = run_to_exit(
        &[
            "check".into(),
            "--trust".into(),
            s(&pki.ca.cert_path),
            "--route".into(),
            "hooks=/hooks".into(),
            "--allow-file".into(),
            format!("hooks={}", s(&pki.path("p.rules"))),
            "--cert".into(),
            s(&alice.chain_path),
            "--path".into(),
            "/hooks".into(),
        ],
        &[],
    );
    assert_eq!(o.code, Some(0), "{}{}", o.stdout, o.stderr);
}

// ---------------------------------------------------------------------------------------
// Under load
// ---------------------------------------------------------------------------------------

/// What one client saw: (its sequence number, status or error).
type Seen = Arc<Mutex<Vec<(u64, Result<u16, String>)>>>;

#[tokio::test]
async fn ten_rule_file_swaps_under_load_fail_no_allowed_request_and_let_no_removed_one_through() {
    let pki = Pki::new();
    let up = Upstream::start().await;
    let keep = pki.client("keep", ClientSpec::cn_only("keep"));
    let flip = pki.client("flip", ClientSpec::cn_only("flip"));
    // `keep` is in every version of the file; `flip` only in the odd ones (1, 3, ...).
    let version = |v: u32| {
        if v % 2 == 1 {
            format!("# version {v}\ncn:keep\ncn:flip\n")
        } else {
            format!("# version {v}\ncn:keep\n")
        }
    };
    let mut vol = KubeVolume::create(&pki.path("allow"), &[("hooks.rules", &version(1))]);
    let file = format!("hooks={}", s(&pki.path("allow/hooks.rules")));
    let cg = start(&pki, &up, &["--allow-file", &file]).await;

    let stop = Arc::new(AtomicBool::new(false));
    // Sequence numbers of flip's requests, shared by its two clients, sent as a header.
    let flip_seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let mut seen: Vec<(String, Seen)> = Vec::new();
    for (name, leaf, alpn) in [
        ("keep-h1", &keep, Alpn::Http1),
        ("keep-h2", &keep, Alpn::H2),
        ("flip-h1", &flip, Alpn::Http1),
        ("flip-h2", &flip, Alpn::H2),
    ] {
        let client = cg.client(&pki).cert(leaf).alpn(alpn);
        let log: Seen = Arc::default();
        seen.push((name.to_string(), log.clone()));
        let stop = stop.clone();
        let seq = if name.starts_with("flip") {
            flip_seq.clone()
        } else {
            Arc::new(AtomicU64::new(0))
        };
        tasks.push(tokio::spawn(async move {
            let mut conn = client.connect().await.expect("connect");
            while !stop.load(Ordering::SeqCst) {
                let n = seq.fetch_add(1, Ordering::SeqCst);
                let r = conn
                    .request("GET", "/hooks/load", &[("x-seq", &n.to_string())], b"")
                    .await
                    .map(|r| r.status)
                    .map_err(|e| e.to_string());
                let failed = r.is_err();
                log.lock().unwrap().push((n, r));
                if failed {
                    // Reconnect so one failure does not end the run.
                    match client.connect().await {
                        Ok(c) => conn = c,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }
        }));
    }

    // Flip's requests numbered in [from, to) were all sent after a removal was in force
    // and before the next version could add flip back.
    let mut removed_windows: Vec<(u64, u64)> = Vec::new();
    for v in 2..=11u32 {
        let before_swap = flip_seq.load(Ordering::SeqCst);
        if let Some(w) = removed_windows.last_mut() {
            if w.1 == u64::MAX {
                w.1 = before_swap;
            }
        }
        vol.update(&[("hooks.rules", &version(v))]);
        wait_generation(&cg, u64::from(v)).await;
        if v % 2 == 0 {
            removed_windows.push((flip_seq.load(Ordering::SeqCst), u64::MAX));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    let mut totals = Vec::new();
    for (name, log) in &seen {
        let log = log.lock().unwrap();
        totals.push(format!("{name}: {}", log.len()));
        if name.starts_with("keep") {
            let bad: Vec<_> = log.iter().filter(|(_, r)| *r != Ok(200)).collect();
            assert!(
                bad.is_empty(),
                "{name}: {} of {} failed: {:?}",
                bad.len(),
                log.len(),
                &bad[..bad.len().min(5)]
            );
            assert!(log.len() >= 10, "{name}: only {} requests", log.len());
        } else {
            // flip gets 200 or 403, never an error.
            let errors: Vec<_> = log.iter().filter(|(_, r)| r.is_err()).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            for (n, r) in log.iter() {
                if removed_windows.iter().any(|&(a, b)| (a..b).contains(n)) {
                    assert_eq!(
                        *r,
                        Ok(403),
                        "{name}: request {n} sent while flip was removed"
                    );
                }
            }
        }
    }
    let leaked: Vec<u64> = up
        .requests()
        .iter()
        .filter(|r| r.one("x-client-cert-subject") == Some("CN=flip"))
        .filter_map(|r| r.one("x-seq")?.parse().ok())
        .filter(|n| removed_windows.iter().any(|&(a, b)| (a..b).contains(n)))
        .collect();
    assert!(
        leaked.is_empty(),
        "flip's requests reached the upstream while removed: {leaked:?}"
    );
    let flip_in_windows: u64 = removed_windows.iter().map(|(a, b)| b - a).sum();
    assert!(
        flip_in_windows >= 5,
        "too little traffic while removed: {removed_windows:?}"
    );
    assert_eq!(allow_reloads(&cg, "ok").await, 10.0);
    eprintln!("requests: {totals:?}; flip requests in removed windows: {flip_in_windows}");
}
