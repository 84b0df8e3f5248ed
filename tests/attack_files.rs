//! File inputs are read only when they are regular files (symlinks to them followed) of a
//! bounded size, off the proxy's workers (issue 11 point 4). A FIFO, a device or an oversized
//! file is refused: at start-up with exit 2 and a message naming the flag and the file; on
//! reload as a reload error (the old material stays, counted and logged), while the proxy,
//! `/healthz` and SIGTERM keep working. `inspect` and `check` read through the same rules.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// A sparse file of `len` bytes (no disk space used).
fn sparse(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
}

/// `certgate run` with the PKI's base flags, `flag` replaced (or added) with `value`.
fn run_args(pki: &Pki, flag: &str, value: &Path) -> Vec<String> {
    let mut args = vec!["run".to_string()];
    let mut base = pki.base_args();
    match base.iter().position(|a| a == flag) {
        Some(i) => base[i + 1] = s(value),
        None => base.extend([flag.to_string(), s(value)]),
    }
    args.extend(base);
    args
}

fn assert_refused(what: &str, exit: &Exit, flag: &str, file: &Path, words: &[&str]) {
    assert!(
        !exit.timed_out,
        "{what}: certgate did not exit (it hung, or started anyway) instead of refusing the file"
    );
    assert_eq!(
        exit.code,
        Some(2),
        "{what}: exit code; stderr:\n{}",
        exit.stderr
    );
    let name = file.file_name().unwrap().to_string_lossy();
    let line = exit
        .stderr
        .lines()
        .find(|l| l.contains(flag) && l.contains(name.as_ref()))
        .unwrap_or_else(|| {
            panic!(
                "{what}: no message naming {flag} and {name}:\n{}",
                exit.stderr
            )
        });
    for w in words {
        assert!(
            line.to_lowercase().contains(&w.to_lowercase()),
            "{what}: message lacks {w:?}: {line}"
        );
    }
}

#[test]
fn a_fifo_as_any_file_input_is_refused_at_start_up_with_exit_2() {
    let pki = Pki::new();
    let cases: Vec<(&str, PathBuf)> = [
        "--trust",
        "--crl",
        "--intermediates",
        "--server-cert",
        "--server-key",
    ]
    .into_iter()
    .map(|flag| {
        let p = pki.path(&format!("fifo{}.pem", flag.replace('-', "_")));
        mkfifo(&p);
        (flag, p)
    })
    .collect();
    // In parallel: a binary that blocks on a FIFO would take 15 s per case.
    std::thread::scope(|scope| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(flag, p)| {
                let args = run_args(&pki, flag, p);
                (flag, p, scope.spawn(move || run_to_exit(&args, &[])))
            })
            .collect();
        for (flag, p, h) in runs {
            let exit = h.join().unwrap();
            assert_refused(&format!("{flag} FIFO"), &exit, flag, p, &["regular file"]);
        }
    });
}

#[test]
fn a_trust_path_symlinked_to_dev_zero_is_refused_not_read_without_bound() {
    let pki = Pki::new();
    let link = pki.path("zero.pem");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let exit = run_to_exit(&run_args(&pki, "--trust", &link), &[]);
    assert_refused(
        "--trust -> /dev/zero",
        &exit,
        "--trust",
        &link,
        &["regular file"],
    );
}

#[test]
fn files_over_their_size_limit_are_refused_before_being_read() {
    let pki = Pki::new();
    // Certificates and keys: 16 MiB; CRLs, which can be large: 256 MiB.
    let big_trust = pki.path("huge-bundle.pem");
    sparse(&big_trust, 17 * 1024 * 1024);
    let exit = run_to_exit(&run_args(&pki, "--trust", &big_trust), &[]);
    assert_refused("17 MiB --trust", &exit, "--trust", &big_trust, &["16 MiB"]);

    let big_crl = pki.path("huge.crl");
    sparse(&big_crl, 257 * 1024 * 1024);
    let exit = run_to_exit(&run_args(&pki, "--crl", &big_crl), &[]);
    assert_refused("257 MiB --crl", &exit, "--crl", &big_crl, &["256 MiB"]);
}

#[test]
fn a_fifo_inside_a_trust_directory_is_refused_not_skipped() {
    let pki = Pki::new();
    let dir = pki.path("trust.d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(&pki.ca.cert_path, dir.join("root.pem")).unwrap();
    let fifo = dir.join("extra.pem");
    mkfifo(&fifo);
    let exit = run_to_exit(&run_args(&pki, "--trust", &dir), &[]);
    assert_refused(
        "FIFO in --trust dir",
        &exit,
        "--trust",
        &fifo,
        &["regular file"],
    );
}

#[test]
fn inspect_and_check_refuse_a_fifo_with_exit_2() {
    let pki = Pki::new();
    let fifo = pki.path("client.pem");
    mkfifo(&fifo);
    let inspect = run_to_exit(&["inspect".into(), s(&fifo)], &[]);
    assert!(!inspect.timed_out, "inspect hung on a FIFO");
    assert_eq!(inspect.code, Some(2), "inspect: {}", inspect.stderr);
    assert!(
        inspect.stderr.contains("client.pem") && inspect.stderr.contains("regular file"),
        "inspect: {}",
        inspect.stderr
    );

    let check = run_to_exit(
        &[
            "check".into(),
            "--trust".into(),
            s(&pki.ca.cert_path),
            "--route".into(),
            "app=/".into(),
            "--allow".into(),
            "app=any".into(),
            "--cert".into(),
            s(&fifo),
        ],
        &[],
    );
    assert!(!check.timed_out, "check hung on a FIFO");
    assert_eq!(check.code, Some(2), "check: {}", check.stderr);
    assert!(
        check.stderr.contains("client.pem") && check.stderr.contains("regular file"),
        "check: {}",
        check.stderr
    );
}

/// `rm root.pem; mkfifo root.pem`, then a symlink to /dev/zero, then a good file: each bad
/// one is a reload error (old trust stays, counted, logged with the file), the proxy and
/// `/healthz` answer throughout, and SIGTERM still stops the process.
#[tokio::test]
async fn a_watched_trust_file_replaced_by_a_fifo_or_a_device_is_a_reload_error_not_a_hang() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let trust = pki.path("watched-root.pem");
    std::fs::write(&trust, pki.ca.pem()).unwrap();
    let mut args = pki.base_args();
    let i = args.iter().position(|a| a == "--trust").unwrap();
    args[i + 1] = s(&trust);
    let a = args.iter().position(|a| a == "--admin-listen").unwrap();
    args[a + 1] = "127.0.0.1:0".into();
    args.extend(
        [
            "--upstream",
            &upstream.url,
            "--route",
            "app=/",
            "--allow",
            "app=any",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut cg = Certgate::start_args(&args, &[]).await;
    let admin = cg.admin_addr().await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    assert_eq!(client.get("/before").await.unwrap().status, 200);

    let errors = || async {
        let (_, m) = http_get(admin, "/metrics").await.expect("metrics");
        metric_value(
            &m,
            "certgate_reloads_total",
            &[("source", "trust"), ("result", "error")],
        )
        .unwrap_or(0.0)
    };
    let name = "watched-root.pem";

    // 1. A FIFO.
    std::fs::remove_file(&trust).unwrap();
    mkfifo(&trust);
    let line = cg
        .wait_for_log_where("with the FIFO's reload error", |l| {
            l.contains("reload failed") && l.contains(name) && l.contains("regular file")
        })
        .await;
    assert!(line.contains("--trust"), "names the flag: {line}");
    assert_eq!(http_get(admin, "/healthz").await.expect("healthz").0, 200);
    assert_eq!(
        client.get("/during-fifo").await.unwrap().status,
        200,
        "the old trust stays in force"
    );
    let after_fifo = errors().await;
    assert!(after_fifo >= 1.0, "reload error counted: {after_fifo}");

    // 2. A symlink to /dev/zero.
    std::fs::remove_file(&trust).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &trust).unwrap();
    eventually(
        "the /dev/zero reload error to be counted",
        Duration::from_secs(10),
        || async { errors().await > after_fifo },
    )
    .await;
    assert_eq!(http_get(admin, "/healthz").await.expect("healthz").0, 200);
    assert_eq!(client.get("/during-zero").await.unwrap().status, 200);

    // 3. A good file again (with one more CA, so the reload is a change): accepted.
    std::fs::remove_file(&trust).unwrap();
    let other = pki.other_ca("Second Root");
    std::fs::write(&trust, format!("{}{}", pki.ca.pem(), other.pem())).unwrap();
    eventually(
        "a successful trust reload",
        Duration::from_secs(10),
        || async {
            let (_, m) = http_get(admin, "/metrics").await.expect("metrics");
            metric_value(
                &m,
                "certgate_reloads_total",
                &[("source", "trust"), ("result", "ok")],
            )
            .unwrap_or(0.0)
                >= 1.0
        },
    )
    .await;
    assert_eq!(client.get("/after").await.unwrap().status, 200);

    cg.signal("TERM");
    let st = cg
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("SIGTERM stops certgate");
    assert!(st.success(), "exit status {st:?}");
}
