//! Revocation with material as operators ship it, made with the openssl CLI: a root that is
//! trusted, an intermediate that the client sends, and the intermediate's CRL revoking a
//! leaked leaf; CRL bundles that also hold CRLs of CAs certgate does not trust; CRLs that
//! arrive by a Kubernetes `..data` swap; trust rotations while the old CA's CRL is still in the
//! CRL file; empty `--crl` / `--intermediates` directories filled later; and a configured CA's
//! CRL whose signature is broken.

mod openssl_pki;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use openssl_pki::{Key, OsslCa, ProjectedVolume};
use support::*;

/// How long a file change may take to reach new handshakes (the watcher debounces 300 ms).
const RELOAD_WITHIN: Duration = Duration::from_secs(8);

/// `certgate run` with the server certificate of `pki`, no admin server, and NO client trust
/// of its own (the tests add exactly the `--trust` they mean), route `hooks=/hooks` allowing
/// any verified client.
fn run_args(pki: &Pki, upstream: &Upstream, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--server-cert",
        &s(&pki.server.chain_path),
        "--server-key",
        &s(&pki.server.key_path),
        "--upstream",
        &upstream.url,
        "--route",
        "hooks=/hooks",
        "--allow",
        "hooks=any",
        "--idle-timeout",
        "5s",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn write(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Number of log lines containing every one of `needles`.
fn count_logs(cg: &Certgate, needles: &[&str]) -> usize {
    cg.logs()
        .iter()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

// ---------------------------------------------------------------------------------------
// The intermediate's CRL, with only the root trusted
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn revoked_leaf_under_a_client_sent_intermediate_is_refused_with_only_the_root_trusted() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Acme Root CA");
    let int = root.intermediate("Acme Issuing CA 1", &[]);
    let leaked = int.issue("leaked.acme.test", Key::P256, &[]);
    let good = int.issue("good.acme.test", Key::P256, &[]);
    int.revoke(&leaked.cert_path);
    // The bundle as a CA's download page serves it: the root's CRL, the intermediate's, and
    // the CRL of a vendor CA that this proxy does not trust at all.
    let stranger = OsslCa::root(pki.dir.path(), "Unrelated Vendor CA");
    let crl = pki.path("crl-bundle.pem");
    write(
        &crl,
        format!("{}{}{}", root.gencrl(), int.gencrl(), stranger.gencrl()).as_bytes(),
    );

    let cg = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &["--trust", &s(&root.cert_path), "--crl", &s(&crl)],
        ),
        &[],
    )
    .await;

    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/good").await,
        Got::Status(200),
        "a leaf of the intermediate that its CRL does not list"
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&leaked), "/hooks/leaked").await,
        Got::TlsRefused,
        "the leaf that the intermediate's CRL revokes"
    );
    let line = wait_for_handshake_rejection_log(&cg, &["revoked"]).await;
    assert!(line.contains("leaked.acme.test"), "names the leaf: {line}");
    // The unrelated CA's CRL is kept and said so, once, naming its issuer.
    let kept = cg
        .wait_for_log_where("about the CRL that no configured CA issued", |l| {
            l.contains("Unrelated Vendor CA") && l.contains("no configured CA")
        })
        .await;
    assert!(kept.contains("crl-bundle.pem"), "names the file: {kept}");
    assert_eq!(
        count_logs(&cg, &["Unrelated Vendor CA", "no configured CA"]),
        1,
        "logged once"
    );
    assert_eq!(upstream.paths(), ["/hooks/good"]);
}

#[tokio::test]
async fn crl_arriving_by_a_data_swap_refuses_the_revoked_leafs_open_connection_and_new_handshakes()
{
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Acme Root CA");
    let int = root.intermediate("Acme Issuing CA 2", &[]);
    let leaked = int.issue("leaked.acme.test", Key::P256, &[]);
    let good = int.issue("good.acme.test", Key::P256, &[]);
    // The Secret volume starts with the root's CRL only (nothing revoked yet).
    let mut volume = ProjectedVolume::new(
        &pki.path("crl-volume"),
        &[("ca.crl", root.gencrl().as_bytes())],
    );
    let cg = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &[
                "--trust",
                &s(&root.cert_path),
                "--crl",
                &s(&volume.path("ca.crl")),
            ],
        ),
        &[],
    )
    .await;
    let mut open = cg.client(&pki).cert(&leaked).connect().await.unwrap();
    assert_eq!(open.get("/hooks/before").await.unwrap().status, 200);

    // The leaf leaks: the intermediate revokes it and the kubelet swaps `..data`.
    int.revoke(&leaked.cert_path);
    let bundle = format!("{}{}", root.gencrl(), int.gencrl());
    volume.publish(&[("ca.crl", bundle.as_bytes())]);

    // The same keep-alive connection: its next request after the reload gets 403.
    let deadline = Instant::now() + RELOAD_WITHIN;
    let mut n = 0;
    loop {
        n += 1;
        let status = open
            .get(&format!("/hooks/open-{n}"))
            .await
            .expect("the open connection keeps answering")
            .status;
        if status == 403 {
            break;
        }
        assert_eq!(status, 200, "before the reload");
        assert!(
            Instant::now() < deadline,
            "the open connection of the revoked leaf still gets {status} after {RELOAD_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = upstream.count();
    assert_eq!(
        open.get("/hooks/after").await.unwrap().status,
        403,
        "and from then on"
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&leaked), "/hooks/new").await,
        Got::TlsRefused,
        "a new handshake of the revoked leaf"
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/good").await,
        Got::Status(200)
    );
    let paths = upstream.paths();
    assert_eq!(
        paths.len(),
        seen + 1,
        "only the good request after the 403: {paths:?}"
    );
    assert_eq!(paths.last().unwrap(), "/hooks/good");
    assert!(!paths
        .iter()
        .any(|p| p == "/hooks/after" || p == "/hooks/new"));
    assert_eq!(count_logs(&cg, &["reload failed"]), 0, "{:?}", cg.logs());
}

// ---------------------------------------------------------------------------------------
// CRLs never block a change of trust
// ---------------------------------------------------------------------------------------

/// Trust rotates from `old` to `new` by replacing the trust file while the CRL file still
/// holds `old`'s CRL: the rotation takes effect for new handshakes.
async fn rotation_takes_effect(pki: &Pki, old: &OsslCa, new: &OsslCa) {
    let upstream = Upstream::start().await;
    let old_client = old.issue("old-sender", Key::P256, &[]);
    let new_client = new.issue("new-sender", Key::P256, &[]);
    let trust = pki.path("trust.pem");
    write(&trust, old.pem().as_bytes());
    let crl = pki.path("crls.pem");
    write(&crl, old.gencrl().as_bytes());
    let cg = Certgate::start_args(
        &run_args(pki, &upstream, &["--trust", &s(&trust), "--crl", &s(&crl)]),
        &[],
    )
    .await;
    assert_eq!(
        got(&cg.client(pki).cert(&old_client), "/hooks/old-1").await,
        Got::Status(200)
    );
    assert_eq!(
        got(&cg.client(pki).cert(&new_client), "/hooks/new-1").await,
        Got::TlsRefused
    );

    replace_file(&trust, new.pem().as_bytes());

    until(
        &cg.client(pki).cert(&new_client),
        "/hooks/new-2",
        Got::Status(200),
        RELOAD_WITHIN,
        "the new CA's client after the rotation",
    )
    .await;
    assert_eq!(
        got(&cg.client(pki).cert(&old_client), "/hooks/old-2").await,
        Got::TlsRefused,
        "the old CA is no longer trusted"
    );
    assert_eq!(count_logs(&cg, &["reload failed"]), 0, "{:?}", cg.logs());
    cg.wait_for_log_where("about the old CA's CRL that is now kept", |l| {
        l.contains(&old.rfc4514()) && l.contains("no configured CA")
    })
    .await;
    assert_eq!(upstream.paths(), ["/hooks/old-1", "/hooks/new-2"]);
}

#[tokio::test]
async fn trust_rotation_from_a_to_b_takes_effect_while_the_crl_file_still_holds_a_crl() {
    let pki = Pki::new();
    let a = OsslCa::root(pki.dir.path(), "Sender CA A");
    let b = OsslCa::root(pki.dir.path(), "Sender CA B");
    rotation_takes_effect(&pki, &a, &b).await;
}

#[tokio::test]
async fn rotation_to_a_rekeyed_ca_of_the_same_name_is_not_blocked_by_the_old_keys_crl() {
    let pki = Pki::new();
    let dir_a = pki.path("old-key");
    let dir_b = pki.path("new-key");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    // An emergency re-key: same subject, new key. The old key's CRL names the new
    // certificate's subject as its issuer but was signed by another key.
    let subject = "/O=Real World Test/CN=Sender CA";
    let a = OsslCa::root_with_subject(&dir_a, "Sender CA", subject);
    let b = OsslCa::root_with_subject(&dir_b, "Sender CA", subject);
    rotation_takes_effect(&pki, &a, &b).await;
}

// ---------------------------------------------------------------------------------------
// A configured CA's CRL with a bad signature
// ---------------------------------------------------------------------------------------

/// `pem` with the last byte of its DER (inside the signature) changed, as PEM.
fn corrupt_signature(pem: &str) -> String {
    use base64::Engine;
    let mut der = pem_to_der(pem);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn configured_cas_crl_with_a_bad_signature_is_refused_at_start_and_on_reload() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Direct Root CA");
    let leaked = root.issue("leaked.direct.test", Key::P256, &[]);
    let good = root.issue("good.direct.test", Key::P256, &[]);
    root.revoke(&leaked.cert_path);
    let genuine = root.gencrl();
    let broken = corrupt_signature(&root.gencrl());

    // Start-up: exit 2, naming the flag, the file and the CA.
    let bad_file = pki.path("broken.crl.pem");
    write(&bad_file, broken.as_bytes());
    let mut args = run_args(
        &pki,
        &upstream,
        &["--trust", &s(&root.cert_path), "--crl", &s(&bad_file)],
    );
    args.insert(0, "run".into());
    let exit = run_to_exit(&args, &[]);
    assert_eq!(exit.code, Some(2), "{exit:?}");
    for needle in ["--crl", "broken.crl.pem", "signature", "CN=Direct Root CA"] {
        assert!(
            exit.stderr.contains(needle),
            "mentions {needle}: {}",
            exit.stderr
        );
    }

    // Reload: the good CRL stays in force.
    let crl = pki.path("root.crl.pem");
    write(&crl, genuine.as_bytes());
    let cg = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &["--trust", &s(&root.cert_path), "--crl", &s(&crl)],
        ),
        &[],
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/g1").await,
        Got::Status(200)
    );
    replace_file(&crl, broken.as_bytes());
    let line = cg.wait_for_log("reload failed").await;
    assert!(
        line.contains("root.crl.pem") && line.contains("signature"),
        "{line}"
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&leaked), "/hooks/leaked").await,
        Got::TlsRefused,
        "the previous CRL still revokes"
    );
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/g2").await,
        Got::Status(200)
    );
    assert_eq!(upstream.paths(), ["/hooks/g1", "/hooks/g2"]);
}

// ---------------------------------------------------------------------------------------
// Empty directories prepared ahead
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn empty_crl_and_intermediates_directories_start_and_are_filled_later() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Acme Root CA");
    let int = root.intermediate("Acme Issuing CA 3", &[]);
    // Senders that send their leaf alone: the chain needs --intermediates.
    let leaked = int
        .issue("leaked.acme.test", Key::P256, &[])
        .without_chain();
    let good = int.issue("good.acme.test", Key::P256, &[]).without_chain();
    let crl_dir = pki.path("crl.d");
    let int_dir = pki.path("intermediates.d");
    std::fs::create_dir_all(&crl_dir).unwrap();
    std::fs::create_dir_all(&int_dir).unwrap();
    let cg = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &[
                "--trust",
                &s(&root.cert_path),
                "--crl",
                &s(&crl_dir),
                "--intermediates",
                &s(&int_dir),
            ],
        ),
        &[],
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/no-intermediate").await,
        Got::TlsRefused,
        "the leaf alone cannot be chained yet"
    );

    replace_file(&int_dir.join("issuing-3.pem"), int.pem().as_bytes());
    until(
        &cg.client(&pki).cert(&good),
        "/hooks/good-1",
        Got::Status(200),
        RELOAD_WITHIN,
        "a leaf-only client once the intermediate is in --intermediates",
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&leaked), "/hooks/leaked-1").await,
        Got::Status(200)
    );

    int.revoke(&leaked.cert_path);
    replace_file(&crl_dir.join("issuing-3.crl.pem"), int.gencrl().as_bytes());
    until(
        &cg.client(&pki).cert(&leaked),
        "/hooks/leaked-2",
        Got::TlsRefused,
        RELOAD_WITHIN,
        "the leaf revoked by the CRL dropped into the empty --crl directory",
    )
    .await;
    assert_eq!(
        got(&cg.client(&pki).cert(&good), "/hooks/good-2").await,
        Got::Status(200)
    );
    // Requests of the leaked leaf that `until` sent before the reload reached the upstream;
    // none after its first refusal did.
    let paths = upstream.paths();
    assert_eq!(paths[..2], ["/hooks/good-1", "/hooks/leaked-1"]);
    assert_eq!(paths.last().unwrap(), "/hooks/good-2", "{paths:?}");
}

// ---------------------------------------------------------------------------------------
// The CRL's signature is verified once per issuer key, not per handshake
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_intermediates_crl_signature_is_verified_once_and_remembered() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Acme Root CA");
    let int = root.intermediate("Acme Issuing CA 4", &[]);
    let leaked = int.issue("leaked.acme.test", Key::P256, &[]);
    let good = int.issue("good.acme.test", Key::P256, &[]);
    int.revoke(&leaked.cert_path);
    let crl = pki.path("crl.pem");
    write(&crl, int.gencrl().as_bytes());
    let cg = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &["--trust", &s(&root.cert_path), "--crl", &s(&crl)],
        ),
        &[("RUST_LOG", "info,certgate::pki::crl=debug")],
    )
    .await;
    for i in 0..4 {
        assert_eq!(
            got(&cg.client(&pki).cert(&good), &format!("/hooks/g{i}")).await,
            Got::Status(200)
        );
        assert_eq!(
            got(&cg.client(&pki).cert(&leaked), &format!("/hooks/l{i}")).await,
            Got::TlsRefused
        );
    }
    let verified = count_logs(&cg, &["CRL signature verified", "Acme Issuing CA 4"]);
    assert_eq!(
        verified,
        1,
        "eight handshakes through the intermediate, one signature check: {:?}",
        cg.logs()
    );
    assert_eq!(upstream.count(), 4);
}

// ---------------------------------------------------------------------------------------
// --crl-expired for the CRL of an intermediate that the client sends
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_sent_intermediates_stale_crl_refuses_its_chains_unless_allowed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let root = OsslCa::root(pki.dir.path(), "Acme Root CA");
    let int = root.intermediate("Acme Issuing CA 5", &[]);
    let covered = int.issue("covered.acme.test", Key::P256, &[]);
    let direct = root.issue("direct.acme.test", Key::P256, &[]);
    let crl = pki.path("stale.crl.pem");
    write(
        &crl,
        int.gencrl_between("20250101000000Z", "20250108000000Z")
            .as_bytes(),
    );
    let trust = s(&root.cert_path);
    let crl_arg = s(&crl);

    let strict = Certgate::start_args(
        &run_args(&pki, &upstream, &["--trust", &trust, "--crl", &crl_arg]),
        &[],
    )
    .await;
    assert_eq!(
        got(&strict.client(&pki).cert(&covered), "/hooks/strict-covered").await,
        Got::TlsRefused,
        "the intermediate's CRL is past its next update"
    );
    wait_for_handshake_rejection_log(&strict, &["past its next update"]).await;
    assert_eq!(
        got(&strict.client(&pki).cert(&direct), "/hooks/strict-direct").await,
        Got::Status(200),
        "a chain without that intermediate is not covered"
    );
    drop(strict);

    let lenient = Certgate::start_args(
        &run_args(
            &pki,
            &upstream,
            &[
                "--trust",
                &trust,
                "--crl",
                &crl_arg,
                "--crl-expired",
                "allow",
            ],
        ),
        &[],
    )
    .await;
    assert_eq!(
        got(
            &lenient.client(&pki).cert(&covered),
            "/hooks/lenient-covered"
        )
        .await,
        Got::Status(200)
    );
    assert_eq!(
        upstream.paths(),
        ["/hooks/strict-direct", "/hooks/lenient-covered"]
    );
}
