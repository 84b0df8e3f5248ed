//! The verified identity the upstream receives: `X-Client-Cert-*`, forwarding headers,
//! request ids, renamed headers, and the optional PEM / RFC 9440 / XFCC forms.

mod support;

use base64::Engine;
use support::*;

/// `C=US,O=Acme,CN=sender` with every kind of SAN, a fixed serial and a fixed not-after.
fn sender(pki: &Pki) -> Leaf {
    pki.client(
        "sender",
        ClientSpec::new()
            .c("US")
            .o("Acme")
            .cn("sender")
            .san_dns("sender.acme.test")
            .san_dns("alt.acme.test")
            .san_uri("spiffe://acme.test/sender")
            .san_email("sender@acme.test")
            .serial(&[0x1a, 0x2b, 0x3c, 0x4d, 0x5e])
            .not_after(utc(2035, 6, 15, 12, 34, 56)),
    )
}

async fn proxy(pki: &Pki, upstream: &Upstream, extra: &[&str]) -> Certgate {
    let mut args = vec![
        "--route",
        "hooks=/webhooks",
        "--allow",
        "hooks=subject:CN=sender,O=Acme,C=US",
    ];
    args.extend_from_slice(extra);
    Certgate::start(pki, &upstream.url, &args).await
}

#[tokio::test]
async fn allowed_client_gets_200_and_upstream_sees_the_verified_identity() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = sender(&pki);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/event?x=1", &[("x-request-id", "abc-123")])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let seen = upstream.single();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/webhooks/event?x=1");
    assert_eq!(
        seen.expect("X-Client-Cert-Subject"),
        "CN=sender,O=Acme,C=US"
    );
    assert_eq!(
        seen.expect("X-Client-Cert-Issuer"),
        "CN=Test Root CA,O=Certgate Test,C=US"
    );
    assert_eq!(
        seen.expect("X-Client-Cert-Fingerprint"),
        sha256_hex(&leaf.der)
    );
    assert_eq!(seen.expect("X-Client-Cert-Serial"), "1a2b3c4d5e");
    assert_eq!(
        seen.expect("X-Client-Cert-Not-After"),
        "2035-06-15T12:34:56Z"
    );
    assert_eq!(
        split_list(seen.expect("X-Client-Cert-San-Dns")),
        ["sender.acme.test", "alt.acme.test"]
    );
    assert_eq!(
        seen.expect("X-Client-Cert-San-Uri"),
        "spiffe://acme.test/sender"
    );
    assert_eq!(seen.expect("X-Client-Cert-San-Email"), "sender@acme.test");
    assert_eq!(seen.expect("X-Forwarded-Proto"), "https");
    let xff = seen.expect("X-Forwarded-For");
    assert_eq!(
        split_list(xff).last().map(String::as_str),
        Some("127.0.0.1")
    );
    assert_eq!(seen.expect("X-Request-Id"), "abc-123");
    // Off by default.
    assert!(seen.all("X-Client-Cert-Pem").is_empty());
    assert!(seen.all("Client-Cert").is_empty());
    assert!(seen.all("X-Forwarded-Client-Cert").is_empty());
}

#[tokio::test]
async fn san_headers_are_absent_when_the_certificate_has_none() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let bare = pki.client("bare", ClientSpec::new().c("US").o("Acme").cn("sender"));

    let resp = cg
        .client(&pki)
        .cert(&bare)
        .get("/webhooks/a")
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    assert_eq!(
        seen.expect("X-Client-Cert-Subject"),
        "CN=sender,O=Acme,C=US"
    );
    assert!(
        seen.all("X-Client-Cert-San-Dns").is_empty(),
        "{:#?}",
        seen.headers
    );
    assert!(seen.all("X-Client-Cert-San-Uri").is_empty());
    assert!(seen.all("X-Client-Cert-San-Email").is_empty());
}

#[tokio::test]
async fn request_id_is_generated_when_the_client_sends_none() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = sender(&pki);
    let client = cg.client(&pki).cert(&leaf);

    client.get("/webhooks/a").await.unwrap();
    client.get("/webhooks/b").await.unwrap();

    let ids: Vec<String> = upstream
        .requests()
        .iter()
        .map(|r| r.expect("X-Request-Id").to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| !id.trim().is_empty()), "{ids:?}");
    assert_ne!(ids[0], ids[1], "request ids must differ per request");
}

#[tokio::test]
async fn insane_client_request_id_is_replaced() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = sender(&pki);
    // Markup, quotes, spaces and 300+ characters: no sane id looks like this.
    let insane = format!("\"><script>alert(1)</script> {}", "x".repeat(300));

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/a", &[("x-request-id", insane.as_str())])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    let id = seen.expect("X-Request-Id");
    assert!(!id.is_empty());
    assert!(!id.contains("script"), "insane id forwarded: {id:?}");
}

#[tokio::test]
async fn forwarded_for_appends_the_client_address() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = sender(&pki);

    cg.client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/a", &[("x-forwarded-for", "203.0.113.9")])
        .await
        .unwrap();

    let seen = upstream.single();
    let hops: Vec<String> = seen
        .all("X-Forwarded-For")
        .iter()
        .flat_map(|v| split_list(v))
        .collect();
    assert_eq!(hops, ["203.0.113.9", "127.0.0.1"]);
}

#[tokio::test]
async fn every_request_on_a_keep_alive_connection_carries_the_identity() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &[]).await;
    let leaf = sender(&pki);

    let mut conn = cg.client(&pki).cert(&leaf).connect().await.unwrap();
    for i in 0..3 {
        let resp = conn.get(&format!("/webhooks/{i}")).await.unwrap();
        assert_eq!(resp.status, 200);
    }

    let seen = upstream.requests();
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.expect("X-Client-Cert-Subject"), "CN=sender,O=Acme,C=US");
        assert_eq!(r.expect("X-Client-Cert-Fingerprint"), leaf.fingerprint());
    }
}

#[tokio::test]
async fn identity_header_flag_renames_the_subject_header() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(
        &pki,
        &upstream,
        &["--identity-header", "subject=X-SSL-Client-S-DN"],
    )
    .await;
    let leaf = sender(&pki);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/a", &[("X-SSL-Client-S-DN", "CN=admin,O=Evil")])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    assert_eq!(seen.expect("X-SSL-Client-S-DN"), "CN=sender,O=Acme,C=US");
    assert!(
        seen.all("X-Client-Cert-Subject").is_empty(),
        "the subject moved to the legacy name: {:#?}",
        seen.headers
    );
    // The other fields keep their default names.
    assert_eq!(seen.expect("X-Client-Cert-Fingerprint"), leaf.fingerprint());
}

#[tokio::test]
async fn header_prefix_flag_changes_every_identity_header_name() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--header-prefix", "X-Mtls-"]).await;
    let leaf = sender(&pki);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/a", &[("X-Mtls-Subject", "CN=admin")])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    assert_eq!(seen.expect("X-Mtls-Subject"), "CN=sender,O=Acme,C=US");
    assert_eq!(seen.expect("X-Mtls-Fingerprint"), leaf.fingerprint());
    assert!(seen.names_with_prefix("x-client-cert-").is_empty());
}

#[tokio::test]
async fn forward_cert_rfc9440_sends_the_leaf_der_as_a_byte_sequence() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--forward-cert", "rfc9440"]).await;
    let issuing = pki.ca.intermediate("Issuing CA");
    let leaf = issuing.issue(
        "sender-via-intermediate",
        ClientSpec::new().c("US").o("Acme").cn("sender"),
    );

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with(
            "/webhooks/a",
            &[("Client-Cert", ":AAAA:"), ("Client-Cert-Chain", ":AAAA:")],
        )
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    let decode = |item: &str| {
        let inner = item
            .trim()
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .unwrap_or_else(|| panic!("not an RFC 8941 byte sequence: {item}"));
        base64::engine::general_purpose::STANDARD
            .decode(inner)
            .expect("base64")
    };
    assert_eq!(decode(seen.expect("Client-Cert")), leaf.der);
    let chain: Vec<Vec<u8>> = seen
        .expect("Client-Cert-Chain")
        .split(',')
        .map(decode)
        .collect();
    assert_eq!(chain, vec![issuing.der.clone()], "chain = the intermediate");
}

#[tokio::test]
async fn forward_cert_pem_sends_the_url_encoded_leaf() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--forward-cert", "pem"]).await;
    let leaf = sender(&pki);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with("/webhooks/a", &[("X-Client-Cert-Pem", "forged")])
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    let encoded = seen.expect("X-Client-Cert-Pem");
    assert!(!encoded.contains('\n'), "must be URL-encoded: {encoded:?}");
    let pem = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .expect("utf-8")
        .into_owned();
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(pem_to_der(&pem), leaf.der);
}

#[tokio::test]
async fn xfcc_flag_sets_envoy_style_forwarded_client_cert() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = proxy(&pki, &upstream, &["--xfcc"]).await;
    let leaf = sender(&pki);

    let resp = cg
        .client(&pki)
        .cert(&leaf)
        .get_with(
            "/webhooks/a",
            &[("X-Forwarded-Client-Cert", "Hash=00;Subject=\"CN=admin\"")],
        )
        .await
        .unwrap();

    assert_eq!(resp.status, 200);
    let seen = upstream.single();
    let xfcc = seen.expect("X-Forwarded-Client-Cert");
    let fields: Vec<&str> = xfcc.split(';').map(str::trim).collect();
    assert!(
        fields.contains(&format!("Hash={}", leaf.fingerprint()).as_str()),
        "{xfcc}"
    );
    assert!(
        fields.contains(&"Subject=\"CN=sender,O=Acme,C=US\""),
        "{xfcc}"
    );
    assert!(fields.contains(&"URI=spiffe://acme.test/sender"), "{xfcc}");
    assert!(!xfcc.contains("CN=admin"), "forged value leaked: {xfcc}");
}
