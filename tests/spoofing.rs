//! Client-sent headers in certgate's namespace never reach the upstream: any case, `_` for
//! `-`, duplicated, `X-Forwarded-Client-Cert`, `--strip-header` names; on every route.
//! Requests are written as raw bytes so the exact spelling of each name goes on the wire.

mod support;

use std::time::Duration;

use support::*;

/// Spoofed headers exactly as an attacker would type them.
const SPOOFS: &str = "X-Client-Cert-Subject: CN=admin,O=Evil\r\n\
x-client-cert-subject: CN=admin2\r\n\
X_Client_Cert_Subject: CN=admin3\r\n\
X-CLIENT-CERT-SUBJECT: CN=admin4\r\n\
X-Client-Cert-Subject: CN=dup\r\n\
X-Client-Cert-Fingerprint: 00ff00ff\r\n\
X_CLIENT_CERT_FINGERPRINT: 11ee11ee\r\n\
X-Client-Cert-Made-Up: whatever\r\n\
X-Forwarded-Client-Cert: Hash=00;Subject=\"CN=admin\"\r\n\
x_forwarded_client_cert: Hash=11\r\n\
X-SSL-Client-Verify: SUCCESS\r\n\
X_SSL_Client_Verify: SUCCESS\r\n";

fn request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{SPOOFS}X-Innocent: kept\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Asserts nothing in `seen` came from the spoofed headers.
fn assert_no_spoofed_values(seen: &Recorded) {
    for (name, value) in &seen.headers {
        for forged in [
            "admin", "Evil", "00ff00ff", "11ee11ee", "whatever", "SUCCESS", "Hash=00", "Hash=11",
        ] {
            assert!(
                !value.contains(forged),
                "spoofed value {forged:?} reached the upstream in {name}: {value:?}"
            );
        }
    }
    assert!(seen.all("X-Client-Cert-Made-Up").is_empty());
    assert!(seen.all("X-Forwarded-Client-Cert").is_empty());
    assert!(seen.all("X-SSL-Client-Verify").is_empty());
    assert_eq!(
        seen.expect("X-Innocent"),
        "kept",
        "unrelated headers pass through"
    );
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
            "--strip-header",
            "X-SSL-Client-Verify",
        ],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::new().c("US").o("Acme").cn("sender"));
    let client = cg.client(&pki).cert(&leaf);

    let resp = raw_request(&client, &request("/webhooks/a"), Duration::from_secs(10)).await;

    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    let seen = upstream.single();
    assert_eq!(
        seen.all("X-Client-Cert-Subject"),
        ["CN=sender,O=Acme,C=US"],
        "exactly one subject header, the verified one (names folded, _ = -): {:#?}",
        seen.headers
    );
    assert_eq!(seen.all("X-Client-Cert-Fingerprint"), [leaf.fingerprint()]);
    assert_no_spoofed_values(&seen);
}

#[tokio::test]
async fn spoofed_identity_headers_are_stripped_on_a_public_route_without_certificate() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--client-auth",
            "optional",
            "--route",
            "pub=/public",
            "--allow",
            "pub=public",
            "--strip-header",
            "X-SSL-Client-Verify",
        ],
    )
    .await;
    let client = cg.client(&pki);

    let resp = raw_request(&client, &request("/public/a"), Duration::from_secs(10)).await;

    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    let seen = upstream.single();
    assert!(
        seen.names_with_prefix("x-client-cert-").is_empty(),
        "no certificate, so no identity header at all: {:#?}",
        seen.headers
    );
    assert_no_spoofed_values(&seen);
}

#[tokio::test]
async fn spoofed_renamed_and_rfc9440_headers_are_stripped() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
            "--identity-header",
            "subject=X-SSL-Client-S-DN",
            "--forward-cert",
            "rfc9440",
        ],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let req = "GET /webhooks/a HTTP/1.1\r\nHost: localhost\r\n\
X-SSL-Client-S-DN: CN=admin\r\n\
x_ssl_client_s_dn: CN=admin2\r\n\
Client-Cert: :AAAA:\r\n\
client_cert_chain: :AAAA:\r\n\
Connection: close\r\n\r\n";

    let resp = raw_request(&client, req.as_bytes(), Duration::from_secs(10)).await;

    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    let seen = upstream.single();
    assert_eq!(seen.all("X-SSL-Client-S-DN"), ["CN=sender"]);
    assert_eq!(seen.all("Client-Cert").len(), 1);
    assert_ne!(seen.expect("Client-Cert"), ":AAAA:");
    assert!(
        seen.all("Client-Cert-Chain").iter().all(|v| *v != ":AAAA:"),
        "{:#?}",
        seen.headers
    );
}
