//! `certgate demo`: the real binary runs its own quick start (`--self-test`), leaves the PKI in a
//! user's `--dir`, cleans up its temporary directory, and stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEMO_TIMEOUT: Duration = Duration::from_secs(60);
const PEM_FILES: [&str; 7] = [
    "ca.pem",
    "server.pem",
    "server.key",
    "allowed.pem",
    "allowed.key",
    "denied.pem",
    "denied.key",
];

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn demo(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certgate"));
    c.arg("demo")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Reads a pipe to the end on a thread, so a chatty child never blocks.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx
}

/// Waits for the child, killing it (and failing the test) past `DEMO_TIMEOUT`.
fn wait_bounded(mut child: Child, stdout: mpsc::Receiver<String>) -> Finished {
    let stderr = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + DEMO_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "certgate demo did not exit within {DEMO_TIMEOUT:?}; stderr:\n{}",
                stderr.recv().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished {
        status,
        stdout: stdout
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default(),
        stderr: stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default(),
    }
}

fn run_demo(mut cmd: Command) -> Finished {
    let mut child = cmd.spawn().expect("spawn certgate demo");
    let stdout = drain(child.stdout.take().expect("stdout"));
    wait_bounded(child, stdout)
}

fn pass_lines(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.starts_with("PASS")).count()
}

fn assert_passed(f: &Finished) {
    assert!(
        f.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        f.status,
        f.stdout,
        f.stderr
    );
    assert_eq!(pass_lines(&f.stdout), 5, "stdout:\n{}", f.stdout);
    // The signed-webhook step: the DocuSign-style HMAC passes, the altered body does not.
    assert!(
        f.stdout.contains("PASS  signed webhook: 200"),
        "stdout:\n{}",
        f.stdout
    );
    assert!(
        f.stdout
            .contains("x-signature-verified: docusign; key=docusign-hmac"),
        "stdout:\n{}",
        f.stdout
    );
    assert!(
        f.stdout
            .contains("PASS  the same webhook, body altered: 401"),
        "stdout:\n{}",
        f.stdout
    );
    assert!(!f.stdout.contains("FAIL"), "stdout:\n{}", f.stdout);
}

/// The directory the demo printed on its `files` line.
fn files_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("files"))
        .unwrap_or_else(|| panic!("no files line in:\n{stdout}"));
    PathBuf::from(line.split_whitespace().nth(1).expect("files DIR"))
}

fn assert_pki_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for f in PEM_FILES {
        let p = dir.join(f);
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        if f.ends_with(".key") {
            assert!(
                text.starts_with("-----BEGIN PRIVATE KEY-----"),
                "{f} is not PKCS#8 PEM"
            );
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f} mode {mode:o}");
        } else {
            assert!(
                text.starts_with("-----BEGIN CERTIFICATE-----"),
                "{f} is not a PEM certificate"
            );
        }
    }
}

#[test]
fn self_test_passes_and_removes_its_temporary_directory() {
    let f = run_demo(demo(&["--self-test"]));
    assert_passed(&f);
    assert!(f.stdout.contains("curl --cacert"), "stdout:\n{}", f.stdout);
    // The upstream echoed the verified identity, escaped comma and all.
    assert!(
        f.stdout
            .contains(r"x-client-cert-subject: CN=demo.docusign.net,O=DocuSign\, Inc.,C=US"),
        "stdout:\n{}",
        f.stdout
    );
    let dir = files_dir(&f.stdout);
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn self_test_with_dir_leaves_the_pem_files_there() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let f = run_demo(demo(&["--self-test", "--dir", dir.to_str().unwrap()]));
    assert_passed(&f);
    assert_pki_files(&dir);
}

#[test]
fn self_test_without_curl_uses_the_built_in_client() {
    let mut cmd = demo(&["--self-test"]);
    cmd.env("PATH", "");
    let f = run_demo(cmd);
    assert_passed(&f);
    assert!(
        f.stdout.contains("built-in client"),
        "stdout:\n{}",
        f.stdout
    );
}

#[test]
fn unusable_dir_is_a_setup_error() {
    let f = run_demo(demo(&["--self-test", "--dir", "/dev/null/certgate-demo"]));
    assert_eq!(f.status.code(), Some(1), "stderr:\n{}", f.stderr);
    assert!(
        f.stderr.contains("certgate demo: error: --dir"),
        "stderr:\n{}",
        f.stderr
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_removes_the_temporary_directory() {
    let mut child = demo(&[]).spawn().expect("spawn certgate demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Read up to the prompt on a thread, then hand the rest of stdout to `drain`.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.starts_with("Press Ctrl-C") {
                break;
            }
        }
        let _ = tx.send(seen);
        let mut rest = String::new();
        for line in lines.map_while(Result::ok) {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    let seen = rx
        .recv_timeout(DEMO_TIMEOUT)
        .expect("the demo printed its prompt");
    assert!(seen.contains("Press Ctrl-C to stop."), "stdout:\n{seen}");
    let dir = files_dir(&seen);
    assert_pki_files(&dir);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    let (_tx, empty) = mpsc::channel();
    let f = wait_bounded(child, empty);
    assert!(
        f.status.success(),
        "exit {:?}\nstderr:\n{}",
        f.status,
        f.stderr
    );
    assert!(!dir.exists(), "{} was left behind", dir.display());
}
