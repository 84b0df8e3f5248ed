//! Hot reload, the parts live_trust.rs does not cover: TLS session resumption cannot bring
//! back a client that new trust refuses, and a server certificate rotated by plain file
//! replacement (not a `..data` swap) is served to new handshakes while old connections go on.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::*;

const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// A proxy whose `--trust` is `<dir>/trust.pem` (a copy of `initial`), so tests can replace it.
struct Setup {
    pki: Pki,
    upstream: Upstream,
    trust: PathBuf,
    cg: Certgate,
}

impl Setup {
    async fn new() -> Setup {
        let pki = Pki::new();
        let upstream = Upstream::start().await;
        let trust = pki.path("trust.pem");
        std::fs::copy(&pki.ca.cert_path, &trust).unwrap();
        let mut args = pki.base_args();
        let t = args.iter().position(|a| a == "--trust").unwrap();
        args[t + 1] = s(&trust);
        args.extend(
            [
                "--upstream",
                &upstream.url,
                "--route",
                "hooks=/webhooks",
                "--allow",
                "hooks=any",
            ]
            .map(String::from),
        );
        let cg = Certgate::start_args(&args, &[]).await;
        Setup {
            pki,
            upstream,
            trust,
            cg,
        }
    }

    /// Status on a fresh connection, or None when the TLS connection is refused.
    async fn fresh_status(&self, leaf: &Leaf) -> Option<u16> {
        match self
            .cg
            .client(&self.pki)
            .cert(leaf)
            .get("/webhooks/a")
            .await
        {
            Ok(r) => Some(r.status),
            Err(e) if e.is_tls_refusal() => None,
            Err(e) => panic!("unexpected client error: {e:?}"),
        }
    }

    /// Waits until `leaf` gets 200 on new connections (the reload has happened).
    async fn wait_admitted(&self, leaf: &Leaf) {
        eventually(
            &format!("{} to be admitted after the reload", leaf.name),
            RELOAD_TIMEOUT,
            || async { self.fresh_status(leaf).await == Some(200) },
        )
        .await;
    }
}

#[tokio::test]
async fn resumed_tls_session_cannot_bring_back_a_client_the_new_trust_refuses() {
    let t = Setup::new().await;
    let old_client = t.pki.client("old", ClientSpec::cn_only("old"));
    let resumable = t.cg.client(&t.pki).cert(&old_client).resumable();
    for _ in 0..2 {
        let mut c = resumable.connect().await.unwrap();
        assert_eq!(c.get("/webhooks/before").await.unwrap().status, 200);
        eprintln!("connection resumed a TLS session: {}", c.resumed);
    }
    let new_ca = t.pki.other_ca("New CA");
    let new_client = new_ca.issue("new", ClientSpec::cn_only("new"));

    replace_file(&t.trust, new_ca.pem().as_bytes());
    t.wait_admitted(&new_client).await;

    match resumable.connect().await {
        Err(e) => assert!(e.is_tls_refusal(), "{e:?}"),
        Ok(mut c) => match c.get("/webhooks/after").await {
            Err(e) => assert!(e.is_tls_refusal(), "{e:?}"),
            Ok(r) => assert_ne!(
                r.status, 200,
                "a resumed session (resumed={}) let a no-longer-trusted client through",
                c.resumed
            ),
        },
    }
    assert!(!t.upstream.paths().contains(&"/webhooks/after".to_string()));
}

#[tokio::test]
async fn replaced_server_certificate_is_served_to_new_handshakes() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cert = pki.path("tls.crt");
    let key = pki.path("tls.key");
    std::fs::copy(&pki.server.chain_path, &cert).unwrap();
    std::fs::copy(&pki.server.key_path, &key).unwrap();
    let mut args = pki.base_args();
    let c = args.iter().position(|a| a == "--server-cert").unwrap();
    args[c + 1] = s(&cert);
    let k = args.iter().position(|a| a == "--server-key").unwrap();
    args[k + 1] = s(&key);
    args.extend(
        [
            "--upstream",
            &upstream.url,
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
        ]
        .map(String::from),
    );
    let cg = Certgate::start_args(&args, &[]).await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let mut first = client.connect().await.unwrap();
    assert_eq!(first.server_cert, pki.server.der);
    let rotated = pki.ca.issue_server("server-rotated");

    replace_file(&key, &std::fs::read(&rotated.key_path).unwrap());
    replace_file(&cert, rotated.pem.as_bytes());

    eventually("the rotated server certificate", RELOAD_TIMEOUT, || async {
        match client.connect().await {
            Ok(c) => c.server_cert == rotated.der,
            Err(_) => false,
        }
    })
    .await;
    let mut after = client.connect().await.unwrap();
    assert_eq!(after.get("/webhooks/new").await.unwrap().status, 200);
    // The connection opened before the rotation keeps going.
    assert_eq!(first.get("/webhooks/old").await.unwrap().status, 200);
}
