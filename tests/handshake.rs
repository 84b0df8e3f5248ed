//! TLS handshake behaviour: which client certificates get a connection at all, in
//! `--client-auth required` and `optional` modes, and what the CertificateRequest names.

mod support;

use support::*;

/// A proxy with route `hooks=/webhooks` allowing any verified certificate.
async fn proxy(pki: &Pki, upstream: &Upstream, extra: &[&str]) -> Certgate {
    let mut args = vec!["--route", "hooks=/webhooks", "--allow", "hooks=any"];
    args.extend_from_slice(extra);
    Certgate::start(pki, &upstream.url, &args).await
}

fn expect_refusal(result: Result<Response, ClientError>, what: &str) {
    match result {
        Err(e) if e.is_tls_refusal() => {}
        Err(e) => panic!("{what}: expected a TLS refusal, got another error: {e:?}"),
        Ok(r) => panic!(
            "{what}: expected a TLS refusal, got HTTP {} {:?}",
            r.status,
            r.body_str()
        ),
    }
}

#[tokio::test]
async fn trusted_client_certificate_gets_a_connection_and_reaches_upstream() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a")
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    assert_eq!(upstream.single().path, "/webhooks/a");
}

#[tokio::test]
async fn no_certificate_is_refused_when_client_auth_is_required() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--client-auth", "required"]).await;

    expect_refusal(cg.client(&pki).get("/webhooks/a").await, "no certificate");

    upstream.assert_nothing("no certificate, required mode");
    // LOOSE log check: the reason wording may change.
    wait_for_handshake_rejection_log(
        &cg,
        &[
            "no certificate",
            "no client certificate",
            "not presented",
            "presented no",
            "did not present",
            "no_cert",
            "without a certificate",
        ],
    )
    .await;
}

#[tokio::test]
async fn no_certificate_fails_the_tls12_handshake_itself() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;

    let err = cg
        .client(&pki)
        .tls12()
        .get("/webhooks/a")
        .await
        .expect_err("TLS 1.2 client without a certificate must not get an answer");

    assert!(
        err.is_handshake_failure(),
        "expected a handshake failure, got {err:?}"
    );
    upstream.assert_nothing("no certificate over TLS 1.2");
}

#[tokio::test]
async fn optional_mode_without_certificate_gets_401_on_protected_route_and_200_on_public_route() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--client-auth",
            "optional",
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
            "--route",
            "pub=/public",
            "--allow",
            "pub=public",
        ],
    )
    .await;
    let client = cg.client(&pki);

    let denied = client.get("/webhooks/a").await.unwrap();
    assert_eq!(denied.status, 401, "body: {}", denied.body_str());
    upstream.assert_nothing("401 on a protected route");

    let open = client.get("/public/page").await.unwrap();
    assert_eq!(open.status, 200);
    assert_eq!(open.body_str(), "upstream-ok");
    let seen = upstream.single();
    assert_eq!(seen.path, "/public/page");
    assert!(
        seen.names_with_prefix("x-client-cert-").is_empty(),
        "no certificate, so no identity headers: {:#?}",
        seen.headers
    );
    assert!(seen.all("x-forwarded-client-cert").is_empty());
}

#[tokio::test]
async fn optional_mode_with_certificate_still_verifies_and_allows() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--client-auth", "optional"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let rogue = pki
        .other_ca("Rogue CA")
        .issue("rogue", ClientSpec::cn_only("sender"));

    let ok = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a")
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(
        upstream.single().expect("x-client-cert-subject"),
        "CN=sender"
    );

    // A certificate that does not verify is not silently treated as "no certificate".
    let bad = cg.client(&pki).cert(&rogue).get("/webhooks/b").await;
    match bad {
        Err(e) if e.is_tls_refusal() => {}
        Ok(r) => assert!(
            r.status == 401 || r.status == 403,
            "untrusted certificate in optional mode must not pass: {}",
            r.status
        ),
        Err(e) => panic!("unexpected error: {e:?}"),
    }
    assert_eq!(
        upstream.count(),
        1,
        "the untrusted client reached the upstream"
    );
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let rogue = pki
        .other_ca("Rogue CA")
        .issue("rogue", ClientSpec::new().c("US").o("Acme").cn("sender"));

    expect_refusal(
        cg.client(&pki).cert(&rogue).get("/webhooks/a").await,
        "certificate from another CA",
    );

    upstream.assert_nothing("untrusted issuer");
    // LOOSE log check: the reason names the issuer problem and the issuer.
    cg.wait_for_log_where(
        "rejecting the handshake for an unknown issuer, named",
        |l| {
            let lower = l.to_lowercase();
            lower.contains("handshake") && lower.contains("issuer") && l.contains("Rogue CA")
        },
    )
    .await;
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let expired = pki.client("expired", ClientSpec::cn_only("sender").expired());

    expect_refusal(
        cg.client(&pki).cert(&expired).get("/webhooks/a").await,
        "expired certificate",
    );

    upstream.assert_nothing("expired certificate");
    // LOOSE log check.
    wait_for_handshake_rejection_log(&cg, &["expired"]).await;
}

#[tokio::test]
async fn server_auth_only_certificate_is_refused() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let wrong_usage = pki.client(
        "server-auth-only",
        ClientSpec::cn_only("sender").eku(Eku::ServerAuthOnly),
    );

    expect_refusal(
        cg.client(&pki).cert(&wrong_usage).get("/webhooks/a").await,
        "serverAuth-only certificate",
    );

    upstream.assert_nothing("serverAuth-only certificate");
    // LOOSE log check: "wrong key usage" or similar.
    wait_for_handshake_rejection_log(&cg, &["usage", "purpose", "eku"]).await;
}

#[tokio::test]
async fn chain_through_an_intermediate_sent_by_the_client_is_accepted() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let leaf = issuing.issue("via-intermediate", ClientSpec::cn_only("sender"));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a")
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    assert_eq!(seen.expect("x-client-cert-subject"), "CN=sender");
    assert_eq!(
        seen.expect("x-client-cert-issuer"),
        "CN=Issuing CA,O=Certgate Test,C=US"
    );
}

#[tokio::test]
async fn missing_intermediate_is_completed_from_the_intermediates_flag() {
    let pki = Pki::new();
    let issuing = pki.ca.intermediate("Issuing CA");
    let leaf_only = issuing
        .issue("leaf-only", ClientSpec::cn_only("sender"))
        .without_chain();

    // Without --intermediates the chain cannot be built: refused.
    let upstream = Upstream::start().await;
    let plain = proxy(&pki, &upstream, &[]).await;
    expect_refusal(
        plain.client(&pki).cert(&leaf_only).get("/webhooks/a").await,
        "leaf without its intermediate",
    );
    upstream.assert_nothing("leaf without its intermediate");

    // With it, the same client gets through; the intermediate is not an anchor.
    let intermediates = s(&issuing.cert_path);
    let cg = proxy(&pki, &upstream, &["--intermediates", &intermediates]).await;
    let resp = cg
        .client(&pki)
        .cert(&leaf_only)
        .get("/webhooks/a")
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(upstream.single().path, "/webhooks/a");
}

#[tokio::test]
async fn intermediates_are_never_trust_anchors() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    // An intermediate of a root that is NOT trusted.
    let rogue_root = pki.other_ca("Rogue Root");
    let rogue_issuing = rogue_root.intermediate("Rogue Issuing");
    let leaf = rogue_issuing
        .issue("rogue-leaf", ClientSpec::cn_only("sender"))
        .without_chain();
    let intermediates = s(&rogue_issuing.cert_path);
    let cg = proxy(&pki, &upstream, &["--intermediates", &intermediates]).await;

    expect_refusal(
        cg.client(&pki).cert(&leaf).get("/webhooks/a").await,
        "chain ending at an untrusted root via --intermediates",
    );
    upstream.assert_nothing("intermediates used as anchors");
}

#[tokio::test]
async fn certificate_request_names_every_configured_anchor() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let sandbox = pki.other_ca("Sandbox CA");
    let bundle = format!("sandbox={}", s(&sandbox.cert_path));
    let cg = proxy(&pki, &upstream, &["--trust-bundle", &bundle]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let (client, hints) = cg.client(&pki).cert(&leaf).record_ca_hints();
    let resp = client.get("/webhooks/a").await.unwrap();
    assert_eq!(resp.status, 200);

    let hints = hints
        .lock()
        .unwrap()
        .clone()
        .expect("the server sent a CertificateRequest");
    let names_ca = |name: &str| {
        hints
            .iter()
            .any(|h| h.windows(name.len()).any(|w| w == name.as_bytes()))
    };
    assert!(
        names_ca("Test Root CA"),
        "default bundle's anchor missing from hints"
    );
    assert!(
        names_ca("Sandbox CA"),
        "sandbox bundle's anchor missing from hints"
    );
}

#[tokio::test]
async fn min_tls_13_refuses_a_tls12_only_client() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--min-tls", "1.3"]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let err = cg
        .client(&pki)
        .cert(&leaf)
        .tls12()
        .get("/webhooks/a")
        .await
        .expect_err("TLS 1.2 must be refused with --min-tls 1.3");
    assert!(err.is_handshake_failure(), "got {err:?}");

    let ok = cg
        .client(&pki)
        .cert(&leaf)
        .get("/webhooks/a")
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(upstream.count(), 1);
}
