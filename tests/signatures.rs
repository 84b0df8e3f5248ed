//! Payload signatures (`--verify`): through the real binary, with a recording upstream, over
//! HTTP/1.1 and HTTP/2. A valid message of each scheme reaches the upstream with its exact
//! body and `X-Signature-Verified`; a changed, unsigned, wrongly signed, stale, replayed or
//! oversized one never does (401/413, the reason logged, the counter moved). Key rotation
//! (two files; a Kubernetes `..data` swap), report mode, and RFC 9421's own examples
//! (§4.3, Appendix B.2) through `run` and `check --request`.

mod support;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _};
use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::volume::KubeVolume;
use support::*;

// ---------------------------------------------------------------------------------------
// Signing, as each sender does it (independent of certgate's own code)
// ---------------------------------------------------------------------------------------

type Headers = Vec<(String, String)>;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn mac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().to_vec()
}

fn h(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// DocuSign Connect: `X-DocuSign-Signature-1: Base64(HMAC-SHA256(key, body))`.
fn docusign(key: &[u8], body: &[u8]) -> Headers {
    h(&[(
        "X-DocuSign-Signature-1",
        &STANDARD.encode(mac(key, &[body])),
    )])
}

fn github(secret: &[u8], body: &[u8]) -> Headers {
    h(&[(
        "X-Hub-Signature-256",
        &format!("sha256={}", hex(&mac(secret, &[body]))),
    )])
}

fn stripe(secret: &[u8], t: u64, body: &[u8]) -> Headers {
    let v1 = hex(&mac(secret, &[t.to_string().as_bytes(), b".", body]));
    h(&[("Stripe-Signature", &format!("t={t},v1={v1}"))])
}

fn standard_webhooks(secret: &[u8], id: &str, t: u64, body: &[u8]) -> Headers {
    let sig = STANDARD.encode(mac(
        secret,
        &[id.as_bytes(), b".", t.to_string().as_bytes(), b".", body],
    ));
    h(&[
        ("webhook-id", id),
        ("webhook-timestamp", &t.to_string()),
        ("webhook-signature", &format!("v1,{sig}")),
    ])
}

fn content_digest(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    )
}

enum Sig<'a> {
    P256(&'a signature::EcdsaKeyPair),
    Ed(&'a signature::Ed25519KeyPair),
    Rsa(&'a signature::RsaKeyPair),
    Secret(&'a [u8]),
}

impl Sig<'_> {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Sig::P256(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Sig::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Sig::Rsa(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PSS_SHA512,
                    &SystemRandom::new(),
                    msg,
                    &mut out,
                )
                .unwrap();
                out
            }
            Sig::Secret(s) => mac(s, &[msg]),
        }
    }
}

/// RFC 9421 over `@method @authority @path content-digest`, as a sender that follows the
/// RFC builds it. `digest` is the Content-Digest value to send (and sign).
fn http_signature(
    signer: &Sig<'_>,
    authority: &str,
    path: &str,
    digest: &str,
    params: &str,
) -> Headers {
    let input = format!(r#"("@method" "@authority" "@path" "content-digest");{params}"#);
    let base = format!(
        "\"@method\": POST\n\"@authority\": {authority}\n\"@path\": {path}\n\"content-digest\": {digest}\n\"@signature-params\": {input}"
    );
    let sig = STANDARD.encode(signer.sign(base.as_bytes()));
    h(&[
        ("Content-Digest", digest),
        ("Signature-Input", &format!("sig1={input}")),
        ("Signature", &format!("sig1=:{sig}:")),
    ])
}

/// Upvest's webhook signature ("version 6", as its signer builds it): component names
/// quoted in Signature-Input but not in the base, an RFC 3230 Digest, ECDSA P-521 over
/// SHA-512 in ASN.1 DER.
fn upvest(
    key: &signature::EcdsaKeyPair,
    kid: &str,
    path: &str,
    body: &[u8],
    created: u64,
    nonce: &str,
) -> Headers {
    let digest = format!(
        "SHA-256={}",
        STANDARD.encode(digest::digest(&digest::SHA256, body))
    );
    let params = format!(
        r#"("content-type" "@method" "@path" "digest");keyid="{kid}";created={created};nonce="{nonce}";expires={}"#,
        created + 60
    );
    let base = format!(
        "content-type: application/json\n@method: POST\n@path: {path}\ndigest: {digest}\n@signature-params: {params}"
    );
    let sig = STANDARD.encode(key.sign(&SystemRandom::new(), base.as_bytes()).unwrap());
    h(&[
        ("Content-Type", "application/json"),
        ("Digest", &digest),
        ("Signature-Input", &format!("sig1={params}")),
        ("Signature", &format!("sig1=:{sig}:")),
    ])
}

fn ec_jwk(kid: &str, crv: &str, pair: &signature::EcdsaKeyPair) -> String {
    let point = pair.public_key().as_ref();
    let (x, y) = point[1..].split_at((point.len() - 1) / 2);
    format!(
        r#"{{"kid":"{kid}","kty":"EC","crv":"{crv}","x":"{}","y":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(x),
        URL_SAFE_NO_PAD.encode(y)
    )
}

// ---------------------------------------------------------------------------------------
// One certgate with a route per scheme
// ---------------------------------------------------------------------------------------

const DS_OLD: &[u8] = b"docusign-hmac-key-one";
const DS_NEW: &[u8] = b"docusign-hmac-key-two";
const GH: &[u8] = b"It's a Secret to Everybody";
const STRIPE: &[u8] = b"whsec_stripe-test-secret";
const SW_RAW: &[u8] = b"standard-webhooks-secret-bytes!!";
const UPVEST_KID: &str = "9ed77463-c18e-4794-ab5c-17423f9b801a";

struct Senders {
    p256: signature::EcdsaKeyPair,
    upvest: signature::EcdsaKeyPair,
    other_p256: signature::EcdsaKeyPair,
    other_p521: signature::EcdsaKeyPair,
}

struct Setup {
    pki: Pki,
    upstream: Upstream,
    cg: Certgate,
    admin: SocketAddr,
    leaf: Leaf,
    senders: Senders,
    keys: PathBuf,
}

fn write(path: &Path, contents: &[u8]) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
    s(path)
}

/// Routes docusign, github, stripe, sw (standard-webhooks), httpsig (http-signature),
/// upvest, each `--verify`-ed, plus `plain` without; every route admits any verified
/// client certificate.
async fn setup(extra: &[&str]) -> Setup {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let keys = pki.path("keys");
    let senders = Senders {
        p256: signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap(),
        upvest: signature::EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_ASN1_SIGNING)
            .unwrap(),
        other_p256: signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap(),
        other_p521: signature::EcdsaKeyPair::generate(&signature::ECDSA_P521_SHA512_ASN1_SIGNING)
            .unwrap(),
    };
    let ds_dir = keys.join("docusign");
    write(&ds_dir.join("ds-old.key"), &[DS_OLD, b"\n"].concat());
    write(&ds_dir.join("ds-new.key"), &[DS_NEW, b"\n"].concat());
    let gh = write(&keys.join("github.key"), &[GH, b"\n"].concat());
    let st = write(&keys.join("stripe.key"), &[STRIPE, b"\n"].concat());
    let sw = write(
        &keys.join("sw.key"),
        format!("whsec_{}\n", STANDARD.encode(SW_RAW)).as_bytes(),
    );
    let hs = write(
        &keys.join("client.json"),
        ec_jwk("client-p256", "P-256", &senders.p256).as_bytes(),
    );
    let uv = write(
        &keys.join("upvest-jwks.json"),
        format!(
            r#"{{"keys":[{}]}}"#,
            ec_jwk(UPVEST_KID, "P-521", &senders.upvest)
        )
        .as_bytes(),
    );
    let mut args: Vec<String> = Vec::new();
    for (route, scheme, key) in [
        ("docusign", "docusign", s(&ds_dir)),
        ("github", "github", gh),
        ("stripe", "stripe", st),
        ("sw", "standard-webhooks", sw),
        ("httpsig", "http-signature", hs),
        ("upvest", "upvest", uv),
    ] {
        for a in [
            "--route".to_string(),
            format!("{route}=/{route}"),
            "--allow".into(),
            format!("{route}=any"),
            "--verify".into(),
            format!("{route}={scheme}"),
            "--verify-key".into(),
            format!("{route}={key}"),
        ] {
            args.push(a);
        }
    }
    for a in [
        "--route",
        "plain=/plain",
        "--allow",
        "plain=any",
        "--idle-timeout",
        "2s",
    ] {
        args.push(a.into());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cg = Certgate::start_with_admin(&pki, &upstream.url, &arg_refs).await;
    let admin = cg.admin_addr().await;
    let leaf = pki.client("webhook-sender", ClientSpec::cn_only("webhook-sender"));
    Setup {
        pki,
        upstream,
        cg,
        admin,
        leaf,
        senders,
        keys,
    }
}

impl Setup {
    fn client(&self, h2: bool) -> Client {
        let c = self.cg.client(&self.pki).cert(&self.leaf);
        if h2 {
            c.h2()
        } else {
            c
        }
    }

    /// The authority certgate sees from the test client.
    fn authority(&self, h2: bool) -> String {
        if h2 {
            format!("localhost:{}", self.cg.addr.port())
        } else {
            "localhost".into()
        }
    }

    async fn post(&self, h2: bool, path: &str, headers: &Headers, body: &[u8]) -> Response {
        let hs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.client(h2)
            .request("POST", path, &hs, body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn metrics(&self) -> String {
        http_get(self.admin, "/metrics").await.unwrap().1
    }

    async fn checks(&self, route: &str, result: &str) -> f64 {
        metric_value(
            &self.metrics().await,
            "certgate_signature_checks_total",
            &[("route", route), ("result", result)],
        )
        .unwrap_or_else(|| panic!("no certgate_signature_checks_total for {route}/{result}"))
    }
}

fn body(tag: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"envelope-completed","tag":"{tag}","data":{{"envelopeId":"93be49ab-1"}}}}"#
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------
// Valid messages
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn valid_messages_of_every_scheme_reach_the_upstream_with_the_exact_body() {
    let t = setup(&[]).await;
    // Every counter of every --verify route starts at 0.
    let text = t.metrics().await;
    for route in ["docusign", "github", "stripe", "sw", "httpsig", "upvest"] {
        for result in [
            "ok",
            "missing",
            "bad_signature",
            "stale",
            "replayed",
            "bad_digest",
            "unknown_key",
            "too_large",
        ] {
            assert_eq!(
                metric_value(
                    &text,
                    "certgate_signature_checks_total",
                    &[("route", route), ("result", result)]
                ),
                Some(0.0),
                "{route}/{result} not at 0 from the start"
            );
        }
    }
    let mut expected = Vec::new();
    for h2 in [false, true] {
        let n = now();
        let tag = if h2 { "h2" } else { "h1" };
        let b = body(tag);
        let cases: Vec<(&str, Headers, &str)> = vec![
            ("/docusign", docusign(DS_NEW, &b), "docusign; key=ds-new"),
            ("/github", github(GH, &b), "github; key=github"),
            ("/stripe", stripe(STRIPE, n, &b), "stripe; key=stripe"),
            (
                "/sw",
                standard_webhooks(SW_RAW, &format!("msg_{tag}"), n, &b),
                "standard-webhooks; key=sw",
            ),
            (
                "/httpsig",
                http_signature(
                    &Sig::P256(&t.senders.p256),
                    &t.authority(h2),
                    "/httpsig",
                    &content_digest(&b),
                    &format!(r#"created={n};keyid="client-p256";nonce="{tag}""#),
                ),
                "http-signature; key=client-p256",
            ),
            (
                "/upvest",
                upvest(&t.senders.upvest, UPVEST_KID, "/upvest", &b, n, tag),
                "upvest; key=9ed77463-c18e-4794-ab5c-17423f9b801a",
            ),
        ];
        for (path, mut headers, verified) in cases {
            // A client-sent X-Signature-Verified never survives, in any spelling.
            headers.push(("X-Signature-Verified".into(), "docusign; key=forged".into()));
            headers.push(("X_Signature_Verified".into(), "forged".into()));
            let r = t.post(h2, path, &headers, &b).await;
            assert_eq!(r.status, 200, "{path} h2={h2}: {}", r.body_str());
            expected.push((path, verified, b.clone()));
        }
    }
    let got = t.upstream.requests();
    assert_eq!(got.len(), expected.len());
    for (rec, (path, verified, b)) in got.iter().zip(&expected) {
        assert_eq!(rec.path, *path);
        assert_eq!(rec.body, *b, "{path}: body changed on the way");
        assert_eq!(rec.expect("x-signature-verified"), *verified);
        assert_eq!(rec.expect("content-length"), b.len().to_string());
        assert!(rec.all("transfer-encoding").is_empty());
    }
    assert_eq!(t.checks("upvest", "ok").await, 2.0);

    // A route without --verify streams the body through and never vouches for it.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for h2 in [false, true] {
        let r = t
            .post(
                h2,
                "/plain",
                &h(&[("X-Signature-Verified", "github; key=github")]),
                &big,
            )
            .await;
        assert_eq!(r.status, 200);
        let rec = t.upstream.requests().pop().unwrap();
        assert_eq!(rec.body, big);
        assert!(
            rec.all("x-signature-verified").is_empty(),
            "{:?}",
            rec.headers
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------

fn truncate_last(headers: &Headers, cut: usize) -> Headers {
    let mut out = headers.clone();
    let last = out
        .iter_mut()
        .rev()
        .find(|(n, _)| n.to_ascii_lowercase().contains("signature"))
        .unwrap();
    let keep = last.1.len() - cut;
    let ends_colon = last.1.ends_with(':');
    last.1.truncate(keep);
    if ends_colon {
        last.1.push(':');
    }
    out
}

fn replace(headers: &Headers, name: &str, value: &str) -> Headers {
    let mut out: Headers = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    out.push((name.to_string(), value.to_string()));
    out
}

fn without(headers: &Headers, name: &str) -> Headers {
    headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

#[tokio::test]
async fn changed_unsigned_wrongly_signed_or_stale_messages_never_reach_the_upstream() {
    let t = setup(&[]).await;
    let n = now();
    let b = body("bad");
    let mut altered = b.clone();
    altered[10] ^= 0x01;
    let old = n - 301;
    let a1 = t.authority(false);
    let hs = |signer: &Sig<'_>, digest: &str, params: &str| {
        http_signature(signer, &a1, "/httpsig", digest, params)
    };
    let hs_ok = hs(
        &Sig::P256(&t.senders.p256),
        &content_digest(&b),
        &format!(r#"created={n};keyid="client-p256""#),
    );
    let uv_ok = upvest(&t.senders.upvest, UPVEST_KID, "/upvest", &b, n, "1");
    // (path, headers, body, label)
    let cases: Vec<(&str, Headers, &[u8], &str)> = vec![
        ("/docusign", docusign(DS_NEW, &b), &altered, "bad_signature"),
        (
            "/docusign",
            docusign(b"not-a-configured-key", &b),
            &b,
            "bad_signature",
        ),
        ("/docusign", vec![], &b, "missing"),
        (
            "/docusign",
            h(&[("X-DocuSign-Signature-1", "")]),
            &b,
            "bad_signature",
        ),
        (
            "/docusign",
            truncate_last(&docusign(DS_NEW, &b), 4),
            &b,
            "bad_signature",
        ),
        ("/github", github(GH, &b), &altered, "bad_signature"),
        ("/github", github(b"wrong", &b), &b, "bad_signature"),
        ("/github", vec![], &b, "missing"),
        (
            "/github",
            h(&[("X-Hub-Signature-256", "sha256=")]),
            &b,
            "bad_signature",
        ),
        (
            "/github",
            truncate_last(&github(GH, &b), 2),
            &b,
            "bad_signature",
        ),
        ("/stripe", stripe(STRIPE, n, &b), &altered, "bad_signature"),
        (
            "/stripe",
            stripe(b"whsec_wrong", n, &b),
            &b,
            "bad_signature",
        ),
        ("/stripe", vec![], &b, "missing"),
        (
            "/stripe",
            h(&[("Stripe-Signature", &format!("t={n},v1="))]),
            &b,
            "bad_signature",
        ),
        (
            "/stripe",
            truncate_last(&stripe(STRIPE, n, &b), 2),
            &b,
            "bad_signature",
        ),
        ("/stripe", stripe(STRIPE, old, &b), &b, "stale"),
        (
            "/sw",
            standard_webhooks(SW_RAW, "msg_1", n, &b),
            &altered,
            "bad_signature",
        ),
        (
            "/sw",
            standard_webhooks(b"another secret", "msg_2", n, &b),
            &b,
            "bad_signature",
        ),
        (
            "/sw",
            without(
                &standard_webhooks(SW_RAW, "msg_3", n, &b),
                "webhook-signature",
            ),
            &b,
            "missing",
        ),
        (
            "/sw",
            replace(
                &standard_webhooks(SW_RAW, "msg_4", n, &b),
                "webhook-signature",
                "v1,",
            ),
            &b,
            "bad_signature",
        ),
        (
            "/sw",
            truncate_last(&standard_webhooks(SW_RAW, "msg_5", n, &b), 4),
            &b,
            "bad_signature",
        ),
        (
            "/sw",
            standard_webhooks(SW_RAW, "msg_6", old, &b),
            &b,
            "stale",
        ),
        ("/httpsig", hs_ok.clone(), &altered, "bad_digest"),
        (
            "/httpsig",
            hs(
                &Sig::P256(&t.senders.other_p256),
                &content_digest(&b),
                &format!(r#"created={n};keyid="client-p256""#),
            ),
            &b,
            "bad_signature",
        ),
        ("/httpsig", without(&hs_ok, "signature"), &b, "missing"),
        (
            "/httpsig",
            replace(&hs_ok, "signature", "sig1=::"),
            &b,
            "bad_signature",
        ),
        ("/httpsig", truncate_last(&hs_ok, 8), &b, "bad_signature"),
        (
            "/httpsig",
            hs(
                &Sig::P256(&t.senders.p256),
                &content_digest(&b),
                &format!(r#"created={old};keyid="client-p256""#),
            ),
            &b,
            "stale",
        ),
        (
            "/httpsig",
            hs(
                &Sig::P256(&t.senders.p256),
                &content_digest(b"another body"),
                &format!(r#"created={n};keyid="client-p256""#),
            ),
            &b,
            "bad_digest",
        ),
        (
            "/httpsig",
            hs(
                &Sig::P256(&t.senders.p256),
                &content_digest(&b),
                &format!(r#"created={n};keyid="retired-key""#),
            ),
            &b,
            "unknown_key",
        ),
        ("/upvest", uv_ok.clone(), &altered, "bad_digest"),
        (
            "/upvest",
            upvest(&t.senders.other_p521, UPVEST_KID, "/upvest", &b, n, "2"),
            &b,
            "bad_signature",
        ),
        ("/upvest", without(&uv_ok, "signature"), &b, "missing"),
        (
            "/upvest",
            replace(&uv_ok, "signature", "sig1=::"),
            &b,
            "bad_signature",
        ),
        (
            "/upvest",
            upvest(&t.senders.upvest, UPVEST_KID, "/upvest", &b, old, "3"),
            &b,
            "stale",
        ),
    ];
    for (i, (path, headers, b, label)) in cases.iter().enumerate() {
        // http-signature covers @authority, which differs between the h1 and h2 clients.
        let h2 = i % 2 == 1 && *path != "/httpsig";
        let r = t.post(h2, path, headers, b).await;
        assert_eq!(
            r.status,
            401,
            "case {i} {path} ({label}) h2={h2}: {}",
            r.body_str()
        );
        assert!(r.header("x-signature-verified").is_none());
        let rid = r.header("x-request-id").unwrap().to_string();
        let line = t.cg.wait_for_log(&rid).await;
        assert!(
            line.contains(label) && line.contains("payload signature"),
            "case {i}: log line lacks {label}: {line}"
        );
    }
    t.upstream
        .assert_nothing("no rejected message may reach the upstream");
    let text = t.metrics().await;
    for route in ["docusign", "github", "stripe", "sw", "httpsig", "upvest"] {
        for label in [
            "missing",
            "bad_signature",
            "stale",
            "bad_digest",
            "unknown_key",
        ] {
            let want = cases
                .iter()
                .filter(|c| c.0 == format!("/{route}") && c.3 == label)
                .count();
            let got = metric_value(
                &text,
                "certgate_signature_checks_total",
                &[("route", route), ("result", label)],
            );
            assert_eq!(got, Some(want as f64), "{route}/{label}");
        }
    }
    // The 401 body is the generic denial, never the reason.
    let r = t.post(false, "/github", &vec![], &b).await;
    assert!(!r.body_str().contains("X-Hub"), "{}", r.body_str());
}

#[tokio::test]
async fn oversized_bodies_get_413_on_verify_routes_only() {
    let t = setup(&["--max-body-bytes", "1000"]).await;
    let exact = vec![b'a'; 1000];
    let r = t
        .post(false, "/docusign", &docusign(DS_OLD, &exact), &exact)
        .await;
    assert_eq!(r.status, 200, "a body of exactly --max-body-bytes passes");
    assert_eq!(t.upstream.single().body, exact);
    let over = vec![b'a'; 1001];
    for h2 in [false, true] {
        let r = t
            .post(h2, "/docusign", &docusign(DS_OLD, &over), &over)
            .await;
        assert_eq!(r.status, 413, "h2={h2}");
    }
    // Chunked, no Content-Length: found out while reading.
    let head = format!(
        "POST /github HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n{}: {}\r\n\r\n",
        "X-Hub-Signature-256",
        github(GH, &over)[0].1
    );
    let mut raw = head.into_bytes();
    for chunk in over.chunks(300) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_request(&t.client(false), &raw, Duration::from_secs(3)).await;
    assert_eq!(resp.status(), Some(413), "{}", resp.text());
    assert_eq!(
        t.upstream.count(),
        1,
        "oversized bodies never reach the upstream"
    );
    // A chunked body within the limit is forwarded whole with an exact Content-Length.
    let small = b"{\"chunked\":true}".to_vec();
    let mut raw = format!(
        "POST /github HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nX-Hub-Signature-256: {}\r\n\r\n",
        github(GH, &small)[0].1
    )
    .into_bytes();
    for chunk in small.chunks(5) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_request(&t.client(false), &raw, Duration::from_secs(3)).await;
    assert_eq!(resp.status(), Some(200), "{}", resp.text());
    let rec = t.upstream.requests().pop().unwrap();
    assert_eq!(rec.body, small);
    assert_eq!(rec.expect("content-length"), small.len().to_string());
    assert!(rec.all("transfer-encoding").is_empty(), "{:?}", rec.headers);
    assert_eq!(t.upstream.count(), 2);
    assert_eq!(t.checks("docusign", "too_large").await, 2.0);
    assert_eq!(t.checks("github", "too_large").await, 1.0);
    // Routes without --verify have no limit.
    let big = vec![b'z'; 50_000];
    let r = t.post(false, "/plain", &vec![], &big).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.upstream.requests().pop().unwrap().body, big);
}

#[tokio::test]
async fn replayed_ids_and_nonces_are_refused_but_a_retry_after_an_upstream_failure_is_not() {
    let failing = Upstream::start_with(UpstreamBehaviour {
        status: 500,
        ..UpstreamBehaviour::default()
    })
    .await;
    let sw_key = "sw-retry.key";
    let pki_keys = tempfile::tempdir().unwrap();
    let retry_key = write(
        &pki_keys.path().join(sw_key),
        format!("whsec_{}", STANDARD.encode(SW_RAW)).as_bytes(),
    );
    let t = setup(&[
        "--route",
        "swretry=/swretry",
        "--allow",
        "swretry=any",
        "--verify",
        "swretry=standard-webhooks",
        "--verify-key",
        &format!("swretry={retry_key}"),
        "--route-upstream",
        &format!("swretry={}", failing.url),
    ])
    .await;
    let n = now();
    let b = body("replay");
    let a = t.authority(false);
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("/sw", standard_webhooks(SW_RAW, "msg_replay", n, &b), "sw"),
        (
            "/httpsig",
            http_signature(
                &Sig::P256(&t.senders.p256),
                &a,
                "/httpsig",
                &content_digest(&b),
                &format!(r#"created={n};keyid="client-p256";nonce="n-42""#),
            ),
            "httpsig",
        ),
        (
            "/upvest",
            upvest(&t.senders.upvest, UPVEST_KID, "/upvest", &b, n, "4711"),
            "upvest",
        ),
    ];
    for (path, headers, route) in &cases {
        assert_eq!(t.post(false, path, headers, &b).await.status, 200, "{path}");
        // The replay comes over h2 where the signature does not cover the authority.
        let h2 = *route != "httpsig";
        assert_eq!(
            t.post(h2, path, headers, &b).await.status,
            401,
            "{path} replayed"
        );
        assert_eq!(t.checks(route, "replayed").await, 1.0);
    }
    assert_eq!(t.upstream.count(), cases.len());
    // The upstream answered 500: Standard Webhooks senders retry with the same id.
    let retry = standard_webhooks(SW_RAW, "msg_retry", n, &b);
    assert_eq!(t.post(false, "/swretry", &retry, &b).await.status, 500);
    assert_eq!(t.post(false, "/swretry", &retry, &b).await.status, 500);
    assert_eq!(
        failing.count(),
        2,
        "the retry of a message the upstream did not take reached it"
    );
    assert_eq!(t.checks("swretry", "replayed").await, 0.0);
}

// ---------------------------------------------------------------------------------------
// Rotation, reload, report mode
// ---------------------------------------------------------------------------------------

async fn reloads(t: &Setup, result: &str) -> f64 {
    metric_value(
        &t.metrics().await,
        "certgate_reloads_total",
        &[("source", "verify_key"), ("result", result)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn keys_rotate_with_two_files_and_a_data_swap_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut volume = KubeVolume::create(
        &dir.path().join("gh-secret"),
        &[("webhook.key", b"first-secret\n".as_slice())],
    );
    let t = setup(&[
        "--route",
        "ghk8s=/ghk8s",
        "--allow",
        "ghk8s=any",
        "--verify",
        "ghk8s=github",
        "--verify-key",
        &format!("ghk8s={}", s(&dir.path().join("gh-secret"))),
    ])
    .await;
    let b = body("rotate");
    // Two DocuSign key files side by side: either verifies, and the header names it.
    for (key, name) in [(DS_OLD, "ds-old"), (DS_NEW, "ds-new")] {
        assert_eq!(
            t.post(false, "/docusign", &docusign(key, &b), &b)
                .await
                .status,
            200
        );
        assert_eq!(
            t.upstream
                .requests()
                .pop()
                .unwrap()
                .expect("x-signature-verified"),
            format!("docusign; key={name}")
        );
    }
    // Retire the old file: from then on only the new key verifies.
    std::fs::remove_file(t.keys.join("docusign").join("ds-old.key")).unwrap();
    eventually(
        "the removed DocuSign key stops verifying",
        Duration::from_secs(5),
        || async {
            t.post(false, "/docusign", &docusign(DS_OLD, &b), &b)
                .await
                .status
                == 401
        },
    )
    .await;
    assert_eq!(
        t.post(false, "/docusign", &docusign(DS_NEW, &b), &b)
            .await
            .status,
        200
    );

    assert_eq!(
        t.post(false, "/ghk8s", &github(b"first-secret", &b), &b)
            .await
            .status,
        200
    );
    let ok_before = reloads(&t, "ok").await;
    volume.update(&[("webhook.key", b"second-secret\n".as_slice())]);
    eventually(
        "the ..data swap takes effect",
        Duration::from_secs(5),
        || async {
            t.post(false, "/ghk8s", &github(b"second-secret", &b), &b)
                .await
                .status
                == 200
        },
    )
    .await;
    assert_eq!(
        t.post(false, "/ghk8s", &github(b"first-secret", &b), &b)
            .await
            .status,
        401
    );
    assert!(reloads(&t, "ok").await > ok_before);
    // A broken key file keeps the keys in force, and is counted and logged.
    volume.update(&[("webhook.key", b"".as_slice())]);
    let line = t.cg.wait_for_log("reload of --verify-key failed").await;
    assert!(line.contains("webhook.key"), "{line}");
    assert!(reloads(&t, "error").await >= 1.0);
    assert_eq!(
        t.post(false, "/ghk8s", &github(b"second-secret", &b), &b)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn report_mode_forwards_a_failing_message_and_counts_it() {
    let t = setup(&["--verify-mode", "docusign=report"]).await;
    let b = body("report");
    let r = t
        .post(false, "/docusign", &docusign(b"wrong key", &b), &b)
        .await;
    assert_eq!(r.status, 200);
    let rec = t.upstream.single();
    assert_eq!(rec.body, b);
    assert!(
        rec.all("x-signature-verified").is_empty(),
        "a failed check vouches for nothing"
    );
    assert_eq!(t.checks("docusign", "bad_signature").await, 1.0);
    t.cg.wait_for_log("report forwards the request anyway")
        .await;
    // Other routes still enforce.
    assert_eq!(
        t.post(false, "/github", &github(b"wrong", &b), &b)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn startup_refuses_bad_verify_flags_with_exit_2() {
    let pki = Pki::new();
    let key = write(&pki.path("k.key"), b"secret");
    let empty = write(&pki.path("empty.key"), b"");
    for (extra, needle) in [
        (vec!["--verify", "hooks=docusign"], "--verify-key"),
        (
            vec![
                "--verify",
                "hooks=dokusign",
                "--verify-key",
                &format!("hooks={key}"),
            ],
            "unknown scheme",
        ),
        (
            vec![
                "--verify",
                "nope=docusign",
                "--verify-key",
                &format!("nope={key}"),
            ],
            "no --route",
        ),
        (
            vec![
                "--verify",
                "hooks=github",
                "--verify-key",
                &format!("hooks={empty}"),
            ],
            "empty",
        ),
        (
            vec![
                "--verify",
                "hooks=github",
                "--verify-key",
                &format!("hooks={key}"),
                "--verify-mode",
                "hooks=loud",
            ],
            "--verify-mode",
        ),
    ] {
        let mut args = vec!["run".to_string()];
        args.extend(pki.base_args());
        args.extend(["--route", "hooks=/hooks", "--allow", "hooks=any"].map(String::from));
        args.extend(extra.iter().map(|a| a.to_string()));
        let exit = run_to_exit(&args, &[]);
        assert_eq!(exit.code, Some(2), "{extra:?}: {}", exit.stderr);
        assert!(exit.stderr.contains(needle), "{extra:?}: {}", exit.stderr);
    }
    // The environment configures the same.
    let upstream = Upstream::start().await;
    let mut args = pki.base_args();
    args.extend(
        [
            "--upstream",
            &upstream.url,
            "--route",
            "hooks=/hooks",
            "--allow",
            "hooks=any",
        ]
        .map(String::from),
    );
    let env_key = format!("hooks={key}");
    let env = [
        ("CERTGATE_VERIFY", "hooks=github"),
        ("CERTGATE_VERIFY_KEY", env_key.as_str()),
    ];
    let cg = Certgate::start_args(&args, &env).await;
    let leaf = pki.client("c", ClientSpec::cn_only("c"));
    let client = cg.client(&pki).cert(&leaf);
    let b = b"{}";
    let sig = github(b"secret", b);
    let r = client
        .request(
            "POST",
            "/hooks",
            &[(sig[0].0.as_str(), sig[0].1.as_str())],
            b,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let r = client.request("POST", "/hooks", &[], b).await.unwrap();
    assert_eq!(r.status, 401);
}

// ---------------------------------------------------------------------------------------
// RFC 9421's own examples
// ---------------------------------------------------------------------------------------

const RFC_P256_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf\nw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==\n-----END PUBLIC KEY-----\n";
const RFC_P256_PRIV: &str = "MHcCAQEEIFKbhfNZfpDsW43+0+JjUr9K+bTeuxopu653+hBaXGA7oAoGCCqGSM49AwEHoUQDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lfw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==";
const RFC_ED_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const RFC_ED_PRIV: &str = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
const RFC_PSS_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2\n+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+\noAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq\ngDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W\nUtzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4\naOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI\n2wIDAQAB\n-----END PUBLIC KEY-----\n";
/// RFC 9421 B.1.2's private key, the PKCS#1 RSAPrivateKey inside its RSASSA-PSS PKCS#8.
const RFC_PSS_PRIV_PKCS8: &str = "MIIEvgIBADALBgkqhkiG9w0BAQoEggSqMIIEpgIBAAKCAQEAr4tmm3r20Wd/PbqvP1s2+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHqgDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5WUtzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI2wIDAQABAoIBAQCUB8ip+kJiiZVKF8AqfB/aUP0jTAqOQewK1kKJ/iQCXBCqpbo360gvdt05H5VZ/RDVkEgO2k73VSsbulqezKs8RFs2tEmU+JgTI9MeQJPWcP6XaKy6LIYs0E2cWgp8GADgoBs8llBq0UhX0KffglIeek3n7Z6Gt4YFge2TAcW2WbN4XfK7lupFyo6HHyWRiYHMMARQXLJeOSdTn5aMBP0PO4bQyk5ORxTUSeOciPJUFktQHkvGbym7KryEfwH8Tks0L7WhzyP60PL3xS9FNOJi9m+zztwYIXGDQuKM2GDsITeD2mI2oHoPMyAD0wdI7BwSVW18p1h+jgfc4dlexKYRAoGBAOVfuiEiOchGghV5vn5NRDNscAFnpHj1QgMr6/UG05RTgmcLfVsI1I4bSkbrIuVKviGGf7atlkROALOG/xRxDLadgBEeNyHL5lz6ihQaFJLVQ0u3U4SB67J0YtVO3R6lXcIjBDHuY8SjYJ7Ci6Z6vuDcoaEujnlrtUhaMxvSfcUJAoGBAMPsCHXte1uWNAqYad2WdLjPDlKtQJK1diCmrqmB2g8QE99hDOHItjDBEdpyFBKOIP+NpVtM2KLhRajjcL9Ph8jrID6XUqikQuVi4J9FV2m42jXMuioTT13idAILanYg8D3idvy/3isDVkON0X3UAVKrgMEne0hJpkPLFYqgetvDAoGBAKLQ6JZMbSe0pPIJkSamQhsehgL5Rs51iX4m1z7+sYFAJfhvN3Q/OGIHDRp6HjMUcxHpHw7U+S1TETxePwKLnLKj6hw8jnX2/nZRgWHzgVcY+sPsReRxNJVf+Cfh6yOtznfX00p+JWOXdSY8glSSHJwRAMog+hFGW1AYdt7w80XBAoGBAImRNUugqapgaEA8TrFxkJmngXYaAqpA0iYRA7kv3S4QavPBUGtFJHBNULzitydkNtVZ3w6hgce0h9YThTo/nKc+OZDZbgfN9s7cQ75x0PQCAO4fx2P91Q+mDzDUVTeG30mEt2m3S0dGe47JiJxifV9P3wNBNrZGSIF3mrORBVNDAoGBAI0QKn2Iv7Sgo4T/XjNDdl2kZTXqGAk8dOhpUiw/HdM3OGWbhHj2NdCzBliOmPyQtAr770GITWvbAI+IRYyFS7Fnk6ZVVVHsxjtaHy1uJGFlaZzKR4AGNaUTOJMs6NadzCmGPAxNQQOCqoUjn4XRrOjr9w349JooGXhOxbu8nOxX";
const RFC_SHARED_SECRET: &str =
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";
const RFC_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
const RFC_BODY: &str = r#"{"hello": "world"}"#;

/// The RFC 9421 test request (§2.5, Appendix B.2), with `signature_fields` added.
fn rfc_request(signature_fields: &str) -> String {
    format!(
        "POST /foo?param=Value&Pet=dog HTTP/1.1\r\nHost: example.com\r\nDate: Tue, 20 Apr 2021 02:07:55 GMT\r\nContent-Type: application/json\r\nContent-Digest: {RFC_DIGEST}\r\nContent-Length: 18\r\nConnection: close\r\n{signature_fields}\r\n{RFC_BODY}"
    )
}

const S43: &str = "Signature-Input: sig1=(\"@method\" \"@authority\" \"@path\" \"content-digest\" \"content-type\" \"content-length\");created=1618884475;keyid=\"test-key-ecc-p256\"\r\nSignature: sig1=:X5spyd6CFnAG5QnDyHfqoSNICd+BUP4LYMz2Q0JXlb//4Ijpzp+kve2w4NIyqeAuM7jTDX+sNalzA8ESSaHD3A==:\r\n";
const B26: &str = "Signature-Input: sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"\r\nSignature: sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:\r\n";
const B25: &str = "Signature-Input: sig-b25=(\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"\r\nSignature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:\r\n";

fn rfc_keys(dir: &Path) -> PathBuf {
    let d = dir.join("rfc-keys");
    write(&d.join("test-key-ecc-p256.pem"), RFC_P256_PUB.as_bytes());
    write(&d.join("test-key-ed25519.pem"), RFC_ED_PUB.as_bytes());
    write(&d.join("test-key-rsa-pss.pem"), RFC_PSS_PUB.as_bytes());
    // The HMAC secret file holds the key's bytes (the RFC prints them base64-encoded).
    write(
        &d.join("test-shared-secret"),
        &STANDARD.decode(RFC_SHARED_SECRET).unwrap(),
    );
    d
}

fn pkcs8_inner(der: &[u8]) -> Vec<u8> {
    // SEQUENCE { INTEGER, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey } }: the key
    // starts after the OCTET STRING's header, which follows the 13-byte algorithm id.
    let at = der
        .windows(4)
        .position(|w| w == [0x04, 0x82, 0x04, 0xaa])
        .unwrap();
    der[at + 4..].to_vec()
}

#[tokio::test]
async fn rfc9421_examples_verify_through_run_and_check() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let keys = rfc_keys(pki.dir.path());
    let route = [
        "--route",
        "api=/foo",
        "--allow",
        "api=any",
        "--verify",
        "api=http-signature",
    ];
    let key_arg = format!("api={}", s(&keys));
    let mut extra: Vec<&str> = route.to_vec();
    extra.extend(["--verify-key", &key_arg, "--verify-tolerance", "20000d"]);
    let cg = Certgate::start(&pki, &upstream.url, &extra).await;
    let leaf = pki.client("rfc", ClientSpec::cn_only("rfc"));
    let client = cg.client(&pki).cert(&leaf);
    let send = |req: String| {
        let client = client.clone();
        async move { raw_request(&client, req.as_bytes(), Duration::from_millis(700)).await }
    };

    // §4.3: covers @method, @authority, @path and content-digest: verifies.
    let r = send(rfc_request(S43)).await;
    assert_eq!(r.status(), Some(200), "{}", r.text());
    let rec = upstream.single();
    assert_eq!(rec.body, RFC_BODY.as_bytes());
    assert_eq!(
        rec.expect("x-signature-verified"),
        "http-signature; key=test-key-ecc-p256"
    );
    // A changed component fails.
    let changed =
        rfc_request(S43).replace("Content-Type: application/json", "Content-Type: text/plain");
    assert_eq!(send(changed).await.status(), Some(401));
    let changed = rfc_request(S43).replace("POST /foo", "PUT /foo");
    assert_eq!(send(changed).await.status(), Some(401));
    // B.2.6 and B.2.5 are valid signatures that cover less than certgate requires.
    assert_eq!(send(rfc_request(B26)).await.status(), Some(401));
    cg.wait_for_log_where("naming content-digest", |l| {
        l.contains("sig-b26 does not cover content-digest")
    })
    .await;
    assert_eq!(send(rfc_request(B25)).await.status(), Some(401));
    cg.wait_for_log_where("naming @method", |l| {
        l.contains("sig-b25 does not cover @method")
    })
    .await;
    assert_eq!(upstream.count(), 1);

    // Fresh signatures with every Appendix B.1 key over the B.2 request.
    let p256 = signature::EcdsaKeyPair::from_private_key_der(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &STANDARD.decode(RFC_P256_PRIV).unwrap(),
    )
    .unwrap();
    let ed = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(
        &STANDARD.decode(RFC_ED_PRIV).unwrap(),
    )
    .unwrap();
    let rsa = signature::RsaKeyPair::from_der(&pkcs8_inner(
        &STANDARD.decode(RFC_PSS_PRIV_PKCS8).unwrap(),
    ))
    .unwrap();
    let secret = STANDARD.decode(RFC_SHARED_SECRET).unwrap();
    let n = now();
    for (signer, keyid) in [
        (Sig::Ed(&ed), "test-key-ed25519"),
        (Sig::P256(&p256), "test-key-ecc-p256"),
        (Sig::Secret(&secret), "test-shared-secret"),
        (Sig::Rsa(&rsa), "test-key-rsa-pss"),
    ] {
        let hs = http_signature(
            &signer,
            "example.com",
            "/foo",
            RFC_DIGEST,
            &format!(r#"created={n};keyid="{keyid}""#),
        );
        let fields: String = hs
            .iter()
            .filter(|(n, _)| n != "Content-Digest")
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let r = send(rfc_request(&fields)).await;
        assert_eq!(r.status(), Some(200), "{keyid}: {}", r.text());
        assert_eq!(
            upstream
                .requests()
                .pop()
                .unwrap()
                .expect("x-signature-verified"),
            format!("http-signature; key={keyid}")
        );
    }

    // The same through `certgate check --request`, which prints the signature base.
    let check = |request: &str, at: &str| {
        let file = pki.path(&format!("req-{}.http", request.len()));
        std::fs::write(&file, request).unwrap();
        let mut args: Vec<String> = ["check", "--trust", &s(&pki.ca.cert_path)]
            .map(String::from)
            .to_vec();
        args.extend(route.map(String::from));
        args.extend([
            "--verify-key".into(),
            key_arg.clone(),
            "--request".into(),
            s(&file),
            "--at".into(),
            at.into(),
        ]);
        run_to_exit(&args, &[])
    };
    let out = check(&rfc_request(S43), "2021-04-20T02:07:56Z");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("payload signature verified (http-signature, key test-key-ecc-p256)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\"@authority\": example.com"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(r#""@signature-params": ("@method" "@authority" "@path" "content-digest" "content-type" "content-length");created=1618884475;keyid="test-key-ecc-p256""#), "{}", out.stdout);
    let out = check(&rfc_request(S43), "2026-01-01T00:00:00Z");
    assert_eq!(
        out.code,
        Some(1),
        "five years later the signature is stale: {}",
        out.stdout
    );
    assert!(out.stdout.contains("failing step: stale"), "{}", out.stdout);
    let out = check(&rfc_request(B26), "2021-04-20T02:07:56Z");
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains("failing step: missing") && out.stdout.contains("content-digest"),
        "{}",
        out.stdout
    );
}
