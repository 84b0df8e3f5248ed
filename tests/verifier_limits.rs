//! What the verifier refuses, said the same way by `certgate check` and by a live handshake:
//! client keys the handshake cannot use (RSA-1024, P-192), and name constraints on URI and
//! email names, which the verifier (webpki) does not evaluate and fails closed on, even for
//! chains that `openssl verify` accepts. Material is made with the openssl CLI.

mod openssl_pki;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use openssl_pki::{Key, OsslCa};
use support::*;

/// `certgate check --trust ROOT --route hooks=/hooks --allow hooks=RULE --cert CHAIN --path /hooks`.
fn check(root: &OsslCa, chain: &Path, rule: &str) -> Exit {
    let args: Vec<String> = [
        "check",
        "--trust",
        &s(&root.cert_path),
        "--route",
        "hooks=/hooks",
        "--allow",
        &format!("hooks={rule}"),
        "--cert",
        &s(chain),
        "--path",
        "/hooks",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    run_to_exit(&args, &[])
}

async fn proxy(pki: &Pki, root: &OsslCa, upstream: &Upstream, rule: &str) -> Certgate {
    let mut args = pki.base_args();
    let i = args.iter().position(|a| a == "--trust").unwrap();
    args[i + 1] = s(&root.cert_path);
    args.extend([
        "--upstream".into(),
        upstream.url.clone(),
        "--route".into(),
        "hooks=/hooks".into(),
        "--allow".into(),
        format!("hooks={rule}"),
    ]);
    Certgate::start_args(&args, &[]).await
}

/// `openssl s_client` (TLS 1.2, security level 0, so that openssl itself does not refuse to
/// use a weak key: the question is what certgate does with it) sends one GET with the leaf's
/// chain and key; its output.
async fn s_client_weak(pki: &Pki, cg: &Certgate, leaf: &Leaf) -> String {
    use std::io::Write;
    let args: Vec<String> = vec![
        "s_client".into(),
        "-quiet".into(),
        "-connect".into(),
        format!("127.0.0.1:{}", cg.addr.port()),
        "-tls1_2".into(),
        "-cipher".into(),
        "DEFAULT:@SECLEVEL=0".into(),
        "-CAfile".into(),
        s(&pki.ca.cert_path),
        "-cert".into(),
        s(&leaf.chain_path),
        "-key".into(),
        s(&leaf.key_path),
    ];
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("timeout")
            .arg("10")
            .arg("openssl")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run openssl s_client");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /hooks/weak HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Keys the handshake cannot use
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn check_refuses_an_rsa_1024_leaf_as_the_handshake_does() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Key Size Root");
    let weak = root.issue("weak.example", Key::Rsa(1024), &[]);
    let strong = root.issue("strong.example", Key::Rsa(2048), &[]);

    let o = check(&root, &weak.chain_path, "any");
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.starts_with("DENIED"), "{}", o.stdout);
    assert!(o.stdout.contains("RSA 1024"), "names the key: {}", o.stdout);
    let o = check(&root, &strong.chain_path, "any");
    assert_eq!(
        o.code,
        Some(0),
        "RSA-2048 is fine: {}{}",
        o.stdout,
        o.stderr
    );

    let cg = proxy(&pki, &root, &upstream, "any").await;
    let out = s_client_weak(&pki, &cg, &weak).await;
    assert!(!out.contains("200 OK"), "s_client: {out}");
    let line = wait_for_handshake_rejection_log(&cg, &["RSA 1024"]).await;
    assert!(line.contains("weak.example"), "{line}");
    upstream.assert_nothing("an RSA-1024 client");
}

#[tokio::test]
async fn check_refuses_a_p192_leaf_as_the_handshake_does() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Curve Root");
    let weak = root.issue("p192.example", Key::P192, &[]);
    let o = check(&root, &weak.chain_path, "any");
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.starts_with("DENIED"), "{}", o.stdout);
    assert!(
        o.stdout.contains("prime192v1") || o.stdout.contains("P-192"),
        "{}",
        o.stdout
    );

    let cg = proxy(&pki, &root, &upstream, "any").await;
    let out = s_client_weak(&pki, &cg, &weak).await;
    assert!(!out.contains("200 OK"), "s_client: {out}");
    upstream.assert_nothing("a P-192 client");
}

// ---------------------------------------------------------------------------------------
// Name constraints on URI and email names
// ---------------------------------------------------------------------------------------

/// `openssl verify` of `leaf` under `int` and `root` succeeds: the chain is valid by RFC 5280.
fn openssl_accepts(root: &OsslCa, int: &OsslCa, leaf: &Leaf) {
    let out = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root.cert_path)
        .arg("-untrusted")
        .arg(&int.cert_path)
        .arg(&leaf.cert_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn constraint_is_explained(constraint: &str, san: &str, rule: &str, words: &[&str]) {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Mesh Root");
    let int = root.intermediate(
        "Mesh Workload CA",
        &[&format!("nameConstraints = critical, {constraint}")],
    );
    let leaf = int.issue("billing", Key::P256, &[san]);
    openssl_accepts(&root, &int, &leaf);

    let o = check(&root, &leaf.chain_path, rule);
    assert_eq!(o.code, Some(1), "{}{}", o.stdout, o.stderr);
    for w in words
        .iter()
        .copied()
        .chain(["name constraint", "CN=Mesh Workload CA", "known limit"])
    {
        assert!(o.stdout.contains(w), "check mentions {w:?}: {}", o.stdout);
    }

    let cg = proxy(&pki, &root, &upstream, rule).await;
    assert_eq!(
        got(&cg.client(&pki).cert(&leaf), "/hooks/x").await,
        Got::TlsRefused
    );
    let line = wait_for_handshake_rejection_log(&cg, &["name constraint"]).await;
    for w in words
        .iter()
        .copied()
        .chain(["CN=Mesh Workload CA", "known limit"])
    {
        assert!(line.contains(w), "the handshake log mentions {w:?}: {line}");
    }
    upstream.assert_nothing("a chain the verifier cannot evaluate");
}

#[tokio::test]
async fn a_spiffe_leaf_under_a_uri_constrained_intermediate_is_explained_as_a_verifier_limit() {
    constraint_is_explained(
        "permitted;URI:acme.test",
        "URI:spiffe://acme.test/billing",
        "san-uri:spiffe://acme.test/billing",
        &["URI:acme.test", "spiffe://acme.test/billing"],
    )
    .await;
}

#[tokio::test]
async fn an_email_leaf_under_an_email_constrained_intermediate_is_explained_as_a_verifier_limit() {
    constraint_is_explained(
        "permitted;email:acme.test",
        "email:billing@acme.test",
        "san-email:billing@acme.test",
        &["email:acme.test", "billing@acme.test"],
    )
    .await;
}
