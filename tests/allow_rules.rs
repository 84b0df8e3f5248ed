//! `--allow` rules: which verified certificates a route lets through (200, upstream saw the
//! request) and which it refuses (403, upstream saw nothing). Every rule is tested with a
//! certificate that must match and one that must not.

mod support;

use support::*;

/// A proxy whose only route `r=/r` has the given rules.
async fn proxy_with_rules(pki: &Pki, upstream: &Upstream, rules: &[&str]) -> Certgate {
    let mut args: Vec<String> = vec!["--route".into(), "r=/r".into()];
    for rule in rules {
        args.push("--allow".into());
        args.push(format!("r={rule}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Certgate::start(pki, &upstream.url, &refs).await
}

/// Status for `leaf` on `/r/x`, and whether that request reached the upstream.
async fn verdict(cg: &Certgate, pki: &Pki, upstream: &Upstream, leaf: &Leaf) -> (u16, bool) {
    let before = upstream.count();
    let resp = cg
        .client(pki)
        .cert(leaf)
        .get("/r/x")
        .await
        .unwrap_or_else(|e| panic!("{}: request failed: {e:?}", leaf.name));
    let reached = upstream.count() > before;
    (resp.status, reached)
}

async fn assert_allowed(cg: &Certgate, pki: &Pki, upstream: &Upstream, leaf: &Leaf) {
    assert_eq!(
        verdict(cg, pki, upstream, leaf).await,
        (200, true),
        "{} should be allowed",
        leaf.name
    );
}

async fn assert_denied(cg: &Certgate, pki: &Pki, upstream: &Upstream, leaf: &Leaf) {
    assert_eq!(
        verdict(cg, pki, upstream, leaf).await,
        (403, false),
        "{} should get 403 without reaching the upstream",
        leaf.name
    );
}

fn docusign(pki: &Pki) -> Leaf {
    pki.client(
        "docusign",
        ClientSpec::new()
            .c("US")
            .o("DocuSign, Inc.")
            .cn("demo.docusign.net"),
    )
}

fn impostor(pki: &Pki) -> Leaf {
    pki.client(
        "impostor",
        ClientSpec::new()
            .c("US")
            .o("DocuSign")
            .cn("demo.docusign.net"),
    )
}

#[tokio::test]
async fn dn_not_on_the_list_gets_403_with_a_request_id_and_upstream_sees_nothing() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["subject:CN=sender,O=Acme,C=US"]).await;
    let other = pki.client("other", ClientSpec::new().c("US").o("Acme").cn("other"));

    let resp = cg.client(&pki).cert(&other).get("/r/x").await.unwrap();

    assert_eq!(resp.status, 403);
    upstream.assert_nothing("403");
    let body = resp.body_str();
    assert!(body.len() < 512, "denial bodies are short: {body:?}");
    assert!(
        !body.contains("CN=other"),
        "no reason details in the body: {body:?}"
    );
    let candidates = id_like_tokens(&body);
    assert!(
        !candidates.is_empty(),
        "403 body shows no request id: {body:?}"
    );
    // The id in the body is the one the log shows for this denial.
    cg.wait_for_log_where("showing the 403 body's request id", |l| {
        l.contains("403") && candidates.iter().any(|id| l.contains(id.as_str()))
    })
    .await;
}

#[tokio::test]
async fn route_with_no_rule_denies_everything() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    assert_denied(&cg, &pki, &upstream, &leaf).await;
}

#[tokio::test]
async fn any_rule_allows_every_verified_certificate() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["any"]).await;

    assert_allowed(
        &cg,
        &pki,
        &upstream,
        &pki.client("a", ClientSpec::cn_only("a")),
    )
    .await;
    assert_allowed(
        &cg,
        &pki,
        &upstream,
        &pki.client("b", ClientSpec::new().o("B")),
    )
    .await;
}

#[tokio::test]
async fn subject_rule_in_rfc4514_form_with_escaped_comma_matches() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(
        &pki,
        &upstream,
        &[r"subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US"],
    )
    .await;

    assert_allowed(&cg, &pki, &upstream, &docusign(&pki)).await;
    assert_denied(&cg, &pki, &upstream, &impostor(&pki)).await;
}

#[tokio::test]
async fn subject_rule_in_slash_form_matches() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(
        &pki,
        &upstream,
        &["subject:/C=US/O=DocuSign, Inc./CN=demo.docusign.net"],
    )
    .await;

    assert_allowed(&cg, &pki, &upstream, &docusign(&pki)).await;
    assert_denied(&cg, &pki, &upstream, &impostor(&pki)).await;
}

#[tokio::test]
async fn subject_rule_compares_types_case_insensitively_but_respects_rdn_order() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["subject:cn=sender,o=Acme,2.5.4.6=US"]).await;
    let right_order = pki.client("right", ClientSpec::new().c("US").o("Acme").cn("sender"));
    let reversed = pki.client("reversed", ClientSpec::new().cn("sender").o("Acme").c("US"));
    let extra_rdn = pki.client(
        "extra-ou",
        ClientSpec::new().c("US").o("Acme").ou("Ops").cn("sender"),
    );
    let other_case = pki.client("case", ClientSpec::new().c("US").o("acme").cn("sender"));

    assert_allowed(&cg, &pki, &upstream, &right_order).await;
    assert_denied(&cg, &pki, &upstream, &reversed).await;
    assert_denied(&cg, &pki, &upstream, &extra_rdn).await;
    assert_denied(&cg, &pki, &upstream, &other_case).await;
}

#[tokio::test]
async fn subject_rule_ignores_the_string_encoding() {
    use rcgen::{DnType, DnValue, PrintableString};
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["subject:CN=sender,O=Acme,C=US"]).await;
    let printable = |v: &str| DnValue::PrintableString(PrintableString::try_from(v).unwrap());
    let leaf = pki.client(
        "printable",
        ClientSpec::new()
            .attr(DnType::CountryName, printable("US"))
            .attr(DnType::OrganizationName, printable("Acme"))
            .attr(DnType::CommonName, printable("sender")),
    );

    assert_allowed(&cg, &pki, &upstream, &leaf).await;
}

#[tokio::test]
async fn o_rule_is_not_fooled_by_a_comma_inside_the_cn() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["o:Allowed"]).await;
    let trick = pki.client("trick", ClientSpec::new().o("Other").cn("x, O=Allowed"));
    let real = pki.client("real", ClientSpec::new().o("Allowed").cn("x"));

    assert_denied(&cg, &pki, &upstream, &trick).await;
    assert_allowed(&cg, &pki, &upstream, &real).await;
}

#[tokio::test]
async fn cn_rule_matches_the_common_name_exactly() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["cn:billing-service"]).await;

    let yes = pki.client("yes", ClientSpec::new().o("Acme").cn("billing-service"));
    let longer = pki.client("longer", ClientSpec::cn_only("billing-service-2"));
    let upper = pki.client("upper", ClientSpec::cn_only("BILLING-SERVICE"));
    assert_allowed(&cg, &pki, &upstream, &yes).await;
    assert_denied(&cg, &pki, &upstream, &longer).await;
    assert_denied(&cg, &pki, &upstream, &upper).await;
}

#[tokio::test]
async fn ou_rule_matches_the_organizational_unit() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["ou:Payments"]).await;

    let yes = pki.client("yes", ClientSpec::new().o("Acme").ou("Payments").cn("svc"));
    let no = pki.client(
        "no",
        ClientSpec::new().o("Acme").ou("Marketing").cn("Payments"),
    );
    assert_allowed(&cg, &pki, &upstream, &yes).await;
    assert_denied(&cg, &pki, &upstream, &no).await;
}

#[tokio::test]
async fn rules_of_a_route_are_or_ed() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["cn:alpha", "ou:Beta"]).await;

    let a = pki.client("alpha", ClientSpec::cn_only("alpha"));
    let b = pki.client("beta", ClientSpec::new().ou("Beta").cn("someone"));
    let c = pki.client("gamma", ClientSpec::cn_only("gamma"));
    assert_allowed(&cg, &pki, &upstream, &a).await;
    assert_allowed(&cg, &pki, &upstream, &b).await;
    assert_denied(&cg, &pki, &upstream, &c).await;
}

#[tokio::test]
async fn san_dns_wildcard_rule_matches_exactly_one_leftmost_label() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["san-dns:*.example.com"]).await;

    let one = pki.client("one", ClientSpec::cn_only("x").san_dns("api.example.com"));
    let mixed_case = pki.client("case", ClientSpec::cn_only("x").san_dns("API.Example.COM"));
    let two = pki.client("two", ClientSpec::cn_only("x").san_dns("a.b.example.com"));
    let apex = pki.client("apex", ClientSpec::cn_only("x").san_dns("example.com"));
    let cn_only = pki.client("cn", ClientSpec::cn_only("api.example.com"));
    assert_allowed(&cg, &pki, &upstream, &one).await;
    assert_allowed(&cg, &pki, &upstream, &mixed_case).await;
    assert_denied(&cg, &pki, &upstream, &two).await;
    assert_denied(&cg, &pki, &upstream, &apex).await;
    assert_denied(&cg, &pki, &upstream, &cn_only).await;
}

#[tokio::test]
async fn san_uri_rule_matches_a_spiffe_id_exactly() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["san-uri:spiffe://acme.test/billing"]).await;

    let yes = pki.client(
        "yes",
        ClientSpec::cn_only("x").san_uri("spiffe://acme.test/billing"),
    );
    let sub = pki.client(
        "sub",
        ClientSpec::cn_only("x").san_uri("spiffe://acme.test/billing/extra"),
    );
    assert_allowed(&cg, &pki, &upstream, &yes).await;
    assert_denied(&cg, &pki, &upstream, &sub).await;
}

#[tokio::test]
async fn san_email_rule_matches_the_address() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy_with_rules(&pki, &upstream, &["san-email:ops@acme.test"]).await;

    let yes = pki.client("yes", ClientSpec::cn_only("x").san_email("ops@acme.test"));
    let no = pki.client(
        "no",
        ClientSpec::cn_only("ops@acme.test").san_email("dev@acme.test"),
    );
    assert_allowed(&cg, &pki, &upstream, &yes).await;
    assert_denied(&cg, &pki, &upstream, &no).await;
}

#[tokio::test]
async fn fingerprint_rule_pins_one_certificate_ignoring_colons_and_case() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let pinned = pki.client("pinned", ClientSpec::cn_only("sender"));
    // Same subject, different key: a different certificate.
    let twin = pki.client("twin", ClientSpec::cn_only("sender"));
    let rule = format!("fingerprint:{}", colon_hex_upper(&pinned.fingerprint()));
    let cg = proxy_with_rules(&pki, &upstream, &[&rule]).await;

    assert_allowed(&cg, &pki, &upstream, &pinned).await;
    assert_denied(&cg, &pki, &upstream, &twin).await;
}

#[tokio::test]
async fn issuer_rule_matches_the_issuing_ca() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let cg = proxy_with_rules(
        &pki,
        &upstream,
        &["issuer:CN=Issuing CA,O=Certgate Test,C=US"],
    )
    .await;

    let via = issuing.issue("via", ClientSpec::cn_only("sender"));
    let direct = pki.client("direct", ClientSpec::cn_only("sender"));
    assert_allowed(&cg, &pki, &upstream, &via).await;
    assert_denied(&cg, &pki, &upstream, &direct).await;
}

#[tokio::test]
async fn route_trust_narrows_which_bundle_a_route_accepts() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let sandbox_ca = pki.other_ca("Sandbox CA");
    let bundle = format!("sandbox={}", s(&sandbox_ca.cert_path));
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--trust-bundle",
            &bundle,
            "--route",
            "prod=/prod",
            "--allow",
            "prod=any",
            "--route",
            "sb=/sandbox",
            "--route-trust",
            "sb=sandbox",
            "--allow",
            "sb=any",
        ],
    )
    .await;
    let prod_client = pki.client("prod", ClientSpec::cn_only("prod-client"));
    let sandbox_client = sandbox_ca.issue("sandbox", ClientSpec::cn_only("sandbox-client"));
    let status = |leaf: Leaf, path: &'static str| {
        let client = cg.client(&pki).cert(&leaf);
        async move { client.get(path).await.unwrap().status }
    };

    assert_eq!(status(prod_client.clone(), "/prod/x").await, 200);
    assert_eq!(status(sandbox_client.clone(), "/sandbox/x").await, 200);
    assert_eq!(upstream.paths(), ["/prod/x", "/sandbox/x"]);

    assert_eq!(status(prod_client, "/sandbox/y").await, 403);
    assert_eq!(status(sandbox_client, "/prod/y").await, 403);
    assert_eq!(
        upstream.count(),
        2,
        "the cross-bundle requests reached the upstream"
    );
}
