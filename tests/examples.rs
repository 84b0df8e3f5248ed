//! `examples/run.sh`, the end-to-end webhook example that README and docs point readers to,
//! runs and passes all its checks against the binary under test (`CERTGATE_BIN`, so the
//! script does not build a release binary inside the test).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);
const LAST_LINE: &str = "examples/run.sh: all checks passed";

#[test]
fn webhook_example_passes_all_its_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("bash")
        .arg(root.join("examples/run.sh"))
        .current_dir(root)
        .env("CERTGATE_BIN", env!("CARGO_BIN_EXE_certgate"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash examples/run.sh");

    // Drain both pipes on threads so a chatty script never blocks on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for run.sh") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // SIGTERM first, so the script's trap stops the listener and certgate it started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now() + Duration::from_secs(5);
            while Instant::now() < grace {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let report = format!("---- stdout\n{stdout}\n---- stderr\n{stderr}");

    let status = status.unwrap_or_else(|| panic!("examples/run.sh ran over {TIMEOUT:?}\n{report}"));
    assert!(
        status.success(),
        "examples/run.sh exited with {status}\n{report}"
    );
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty());
    assert_eq!(
        last,
        Some(LAST_LINE),
        "last line of examples/run.sh\n{report}"
    );
    // The three senders of the example each met the expected outcome.
    for expected in [
        "ok: 200, and the listener logged the verified subject",
        "ok: 403, logged with the reason; the listener saw nothing",
        "ok: refused at the TLS handshake, logged with the reason; the listener saw nothing",
        "ok: sender.pem is allowed (exit 0)",
        "ok: intruder.pem is denied (exit 1)",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?}\n{report}");
    }
}
