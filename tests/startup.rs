//! Start-up: invalid settings exit 2 with a message naming the flag, before anything is
//! bound; valid settings also come from `CERTGATE_*` environment variables.

mod support;

use support::*;

/// `certgate run` with the base flags plus `extra`, expected to exit.
fn run_expecting_exit(pki: &Pki, extra: &[&str]) -> Exit {
    let mut args = vec!["run".to_string()];
    args.extend(pki.base_args());
    args.extend(extra.iter().map(|a| a.to_string()));
    run_to_exit(&args, &[])
}

/// Asserts exit code 2 and that stderr mentions every one of `needles`.
fn assert_usage_error(exit: &Exit, needles: &[&str]) {
    assert!(
        !exit.timed_out,
        "certgate kept running instead of refusing its settings; stderr:\n{}",
        exit.stderr
    );
    assert_eq!(exit.code, Some(2), "exit code; stderr:\n{}", exit.stderr);
    for n in needles {
        assert!(
            exit.stderr.contains(n),
            "stderr should mention {n:?}:\n{}",
            exit.stderr
        );
    }
    assert!(
        !exit.stderr.contains("listening addr="),
        "nothing may be bound before the settings are valid:\n{}",
        exit.stderr
    );
}

const UPSTREAM: &str = "http://127.0.0.1:9";

#[test]
fn malformed_rule_is_a_startup_error_naming_allow() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "x=bogus:1",
        ],
    );
    assert_usage_error(&exit, &["--allow", "bogus"]);
}

#[test]
fn malformed_dn_in_a_subject_rule_is_a_startup_error() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "x=subject:CN",
        ],
    );
    assert_usage_error(&exit, &["--allow"]);
}

#[test]
fn allow_for_an_unknown_route_is_a_startup_error() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "nope=any",
        ],
    );
    assert_usage_error(&exit, &["--allow", "nope"]);
}

#[test]
fn duplicate_route_is_a_startup_error() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--route",
            "x=/y",
            "--allow",
            "x=any",
        ],
    );
    assert_usage_error(&exit, &["--route"]);
}

#[test]
fn route_prefix_without_leading_slash_is_a_startup_error() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=webhooks",
            "--allow",
            "x=any",
        ],
    );
    assert_usage_error(&exit, &["--route"]);
}

#[test]
fn unreadable_trust_file_is_a_startup_error_naming_trust() {
    let pki = Pki::new();
    let missing = s(&pki.path("does-not-exist.pem"));
    let args: Vec<String> = [
        "run",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--server-cert",
        &s(&pki.server.chain_path),
        "--server-key",
        &s(&pki.server.key_path),
        "--trust",
        &missing,
        "--upstream",
        UPSTREAM,
        "--route",
        "x=/x",
        "--allow",
        "x=any",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let exit = run_to_exit(&args, &[]);
    assert_usage_error(&exit, &["--trust", "does-not-exist.pem"]);
}

#[test]
fn trust_file_without_certificates_is_a_startup_error() {
    let pki = Pki::new();
    let garbage = pki.path("garbage.pem");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--trust",
            &s(&garbage),
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "x=any",
        ],
    );
    assert_usage_error(&exit, &["--trust", "garbage.pem"]);
}

#[test]
fn server_key_not_matching_the_certificate_is_a_startup_error() {
    let pki = Pki::new();
    let other = pki.client("other", ClientSpec::cn_only("other"));
    let args: Vec<String> = [
        "run",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--server-cert",
        &s(&pki.server.chain_path),
        "--server-key",
        &s(&other.key_path),
        "--trust",
        &s(&pki.ca.cert_path),
        "--upstream",
        UPSTREAM,
        "--route",
        "x=/x",
        "--allow",
        "x=any",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let exit = run_to_exit(&args, &[]);
    assert_usage_error(&exit, &["--server-key"]);
}

#[test]
fn non_loopback_upstream_needs_allow_remote_upstream() {
    // Never contacted: the settings must be refused before anything starts.
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            "http://10.0.0.1:80",
            "--route",
            "x=/x",
            "--allow",
            "x=any",
        ],
    );
    assert_usage_error(&exit, &["--upstream"]);
}

#[test]
fn non_loopback_route_upstream_needs_allow_remote_upstream() {
    // Never contacted: the settings must be refused before anything starts.
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "x=any",
            "--route-upstream",
            "x=http://10.0.0.1:80",
        ],
    );
    assert_usage_error(&exit, &["--route-upstream"]);
}

#[test]
fn missing_trust_anchor_with_a_non_public_route_is_a_startup_error() {
    let pki = Pki::new();
    let args: Vec<String> = [
        "run",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "off",
        "--server-cert",
        &s(&pki.server.chain_path),
        "--server-key",
        &s(&pki.server.key_path),
        "--upstream",
        UPSTREAM,
        "--route",
        "x=/x",
        "--allow",
        "x=any",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let exit = run_to_exit(&args, &[]);
    assert_usage_error(&exit, &["--trust"]);
}

#[test]
fn unknown_route_trust_bundle_is_a_startup_error() {
    let pki = Pki::new();
    let exit = run_expecting_exit(
        &pki,
        &[
            "--upstream",
            UPSTREAM,
            "--route",
            "x=/x",
            "--allow",
            "x=any",
            "--route-trust",
            "x=nosuchbundle",
        ],
    );
    assert_usage_error(&exit, &["--route-trust", "nosuchbundle"]);
}

#[tokio::test]
async fn settings_can_come_from_environment_variables() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let server_cert = s(&pki.server.chain_path);
    let server_key = s(&pki.server.key_path);
    let trust = s(&pki.ca.cert_path);
    let env = [
        ("CERTGATE_LISTEN", "127.0.0.1:0"),
        ("CERTGATE_ADMIN_LISTEN", "off"),
        ("CERTGATE_SERVER_CERT", server_cert.as_str()),
        ("CERTGATE_SERVER_KEY", server_key.as_str()),
        ("CERTGATE_TRUST", trust.as_str()),
        ("CERTGATE_UPSTREAM", upstream.url.as_str()),
        ("CERTGATE_ROUTE", "a=/a,b=/b"),
        ("CERTGATE_ALLOW", "a=cn:alpha,b=any"),
    ];
    let cg = Certgate::start_args(&[], &env).await;
    let alpha = pki.client("alpha", ClientSpec::cn_only("alpha"));
    let beta = pki.client("beta", ClientSpec::cn_only("beta"));

    assert_eq!(
        cg.client(&pki)
            .cert(&alpha)
            .get("/a/1")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        cg.client(&pki)
            .cert(&beta)
            .get("/b/1")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        cg.client(&pki)
            .cert(&beta)
            .get("/a/2")
            .await
            .unwrap()
            .status,
        403
    );
    assert_eq!(upstream.paths(), ["/a/1", "/b/1"]);
}
