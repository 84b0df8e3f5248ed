//! RFC 9421 unit tests, with the RFC's own examples (§2.5, §4.3, Appendix B.2) as vectors.

use super::*;
use crate::payload::keys::KeySet;
use crate::payload::testutil::*;
use crate::payload::{verify as verify_scheme, ReplayCache, Scheme};

const B21_SIG: &str = "d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==";
const B22_SIG: &str = "LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==";
const B25_SIG: &str = "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=";
const B26_SIG: &str =
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==";
const S43_SIG1: &str =
    "X5spyd6CFnAG5QnDyHfqoSNICd+BUP4LYMz2Q0JXlb//4Ijpzp+kve2w4NIyqeAuM7jTDX+sNalzA8ESSaHD3A==";

/// The RFC's created times are in 2021: a "now" right after them.
const RFC_NOW: u64 = 1_618_884_480;

fn rfc_keys() -> KeySet {
    let pem = |name: &str, text: &str| {
        crate::payload::keys::parse_key_file(
            Scheme::HttpSignature,
            std::path::Path::new(name),
            text.as_bytes(),
        )
        .unwrap()
        .remove(0)
    };
    KeySet::new(vec![
        pem("test-key-rsa-pss.pem", RFC_RSA_PSS_PUB),
        pem("test-key-ecc-p256.pem", RFC_ECC_P256_PUB),
        pem("test-key-ed25519.pem", RFC_ED25519_PUB),
        key("test-shared-secret", KeyMaterial::Secret(shared_secret())),
    ])
}

fn ctx<'a>(keys: &'a KeySet, now: u64, replay: Option<&'a ReplayCache>) -> Context<'a> {
    Context {
        keys,
        now,
        tolerance: 300,
        replay,
    }
}

fn run(r: &Req, keys: &KeySet, now: u64) -> Result<Verified, Rejection> {
    verify_scheme(Scheme::HttpSignature, &r.request(), &ctx(keys, now, None))
}

fn with_sig(r: Req, label: &str, input: &str, sig: &str) -> Req {
    r.header("Signature-Input", &format!("{label}={input}"))
        .header("Signature", &format!("{label}=:{sig}:"))
}

fn only_base(r: &Req) -> String {
    let b = bases(&r.request(), Dialect::Rfc9421);
    assert_eq!(b.len(), 1);
    b[0].1.clone().unwrap()
}

/// The key of `name` verifies `sig` over `base` (crypto only, no profile).
fn crypto_ok(name: &str, base: &str, sig: &str, alg: Alg) -> bool {
    let keys = rfc_keys();
    let k = keys.named(name).next().unwrap();
    alg::verify(
        alg,
        &k.material,
        base.as_bytes(),
        &STANDARD.decode(sig).unwrap(),
        EcdsaEncoding::Fixed,
    )
}

#[test]
fn b26_base_and_signature_match_the_rfc_but_the_profile_wants_content_digest() {
    let input = r#"("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
    let r = with_sig(Req::rfc_test_request(), "sig-b26", input, B26_SIG);
    let base = only_base(&r);
    assert_eq!(
        base,
        concat!(
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n",
            "\"@method\": POST\n",
            "\"@path\": /foo\n",
            "\"@authority\": example.com\n",
            "\"content-type\": application/json\n",
            "\"content-length\": 18\n",
            "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\""
        )
    );
    assert!(crypto_ok("test-key-ed25519", &base, B26_SIG, Alg::Ed25519));
    let e = run(&r, &rfc_keys(), RFC_NOW).unwrap_err();
    assert_eq!(e.failure, Failure::Missing);
    assert!(e.detail.contains("content-digest"), "{e}");
}

#[test]
fn b25_hmac_vector_verifies_but_covers_no_method_or_path() {
    let input =
        r#"("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
    let r = with_sig(Req::rfc_test_request(), "sig-b25", input, B25_SIG);
    let base = only_base(&r);
    assert!(crypto_ok(
        "test-shared-secret",
        &base,
        B25_SIG,
        Alg::HmacSha256
    ));
    let e = run(&r, &rfc_keys(), RFC_NOW).unwrap_err();
    assert_eq!(e.failure, Failure::Missing);
    assert!(e.detail.contains("@method"), "{e}");
}

#[test]
fn b21_and_b22_rsa_pss_vectors_verify_but_are_refused() {
    let input = r#"();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd""#;
    let r = with_sig(Req::rfc_test_request(), "sig-b21", input, B21_SIG);
    let base = only_base(&r);
    assert_eq!(base, format!("\"@signature-params\": {input}"));
    assert!(crypto_ok(
        "test-key-rsa-pss",
        &base,
        B21_SIG,
        Alg::RsaPssSha512
    ));
    assert_eq!(
        run(&r, &rfc_keys(), RFC_NOW).unwrap_err().failure,
        Failure::Missing
    );

    let input = r#"("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example""#;
    let r = with_sig(Req::rfc_test_request(), "sig-b22", input, B22_SIG);
    let base = only_base(&r);
    assert!(base.starts_with(&format!(
        "\"@authority\": example.com\n\"content-digest\": {RFC_CONTENT_DIGEST}\n\"@query-param\";name=\"Pet\": dog\n"
    )));
    assert!(crypto_ok(
        "test-key-rsa-pss",
        &base,
        B22_SIG,
        Alg::RsaPssSha512
    ));
    assert_eq!(
        run(&r, &rfc_keys(), RFC_NOW).unwrap_err().failure,
        Failure::Missing
    );
}

fn section_4_3() -> Req {
    // RFC 9421 §4.3: the request as the first signer signed it, and a proxy's second
    // signature with test-key-rsa (not configured here).
    Req::post(RFC_BODY)
        .target("/foo?param=Value&Pet=dog")
        .header("Host", "example.com")
        .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .header("Content-Type", "application/json")
        .header("Content-Length", "18")
        .header("Content-Digest", RFC_CONTENT_DIGEST)
        .header("Forwarded", "for=192.0.2.123;host=example.com;proto=https")
        .header(
            "Signature-Input",
            r#"sig1=("@method" "@authority" "@path" "content-digest" "content-type" "content-length");created=1618884475;keyid="test-key-ecc-p256", proxy_sig=("@method" "@authority" "@path" "content-digest" "content-type" "content-length" "forwarded");created=1618884480;keyid="test-key-rsa";alg="rsa-v1_5-sha256";expires=1618884540"#,
        )
        .header("Signature", &format!("sig1=:{S43_SIG1}:, proxy_sig=:AAAA:"))
}

#[test]
fn section_4_3_request_verifies_and_a_changed_component_fails() {
    let keys = rfc_keys();
    let v = run(&section_4_3(), &keys, RFC_NOW).unwrap();
    assert_eq!(v.key, "test-key-ecc-p256");
    assert_eq!(v.replay_token, None);

    let changed = section_4_3().replace("Content-Type", "text/plain");
    assert_eq!(
        run(&changed, &keys, RFC_NOW).unwrap_err().failure,
        Failure::BadSignature
    );
    let changed = section_4_3().method("PUT");
    assert_eq!(
        run(&changed, &keys, RFC_NOW).unwrap_err().failure,
        Failure::BadSignature
    );
    let changed = section_4_3().target("/bar");
    assert_eq!(
        run(&changed, &keys, RFC_NOW).unwrap_err().failure,
        Failure::BadSignature
    );
    // The body is covered through Content-Digest: a changed body is a bad digest.
    let changed = section_4_3().body(br#"{"hello": "World"}"#);
    assert_eq!(
        run(&changed, &keys, RFC_NOW).unwrap_err().failure,
        Failure::BadDigest
    );
    // ... and a changed digest header a bad signature.
    let changed = section_4_3().replace(
        "Content-Digest",
        &crate::payload::digest::content_digest_sha256(RFC_BODY),
    );
    assert_eq!(
        run(&changed, &keys, RFC_NOW).unwrap_err().failure,
        Failure::BadSignature
    );
    // With today's clock and a 5 minute tolerance the 2021 signature is stale.
    assert_eq!(
        run(&section_4_3(), &keys, 1_800_000_000)
            .unwrap_err()
            .failure,
        Failure::Stale
    );
}

fn required() -> [&'static str; 4] {
    ["@method", "@authority", "@path", "content-digest"]
}

fn fresh(signer: &Signer, keyid: &str, created: u64) -> Req {
    sign(
        Req::rfc_test_request(),
        "sig1",
        &required(),
        &format!("created={created};keyid=\"{keyid}\""),
        Dialect::Rfc9421,
        signer,
    )
}

#[test]
fn fresh_signatures_with_every_appendix_b1_key_verify() {
    let keys = rfc_keys();
    let now = 1_700_000_000;
    for (signer, name) in [
        (Signer::rfc_ed25519(), "test-key-ed25519"),
        (Signer::rfc_p256(), "test-key-ecc-p256"),
        (Signer::Hmac(shared_secret()), "test-shared-secret"),
        (Signer::rfc_rsa_pss(), "test-key-rsa-pss"),
    ] {
        let r = fresh(&signer, name, now);
        assert_eq!(run(&r, &keys, now).unwrap().key, name);
        // Without keyid every key is tried.
        let r = sign(
            Req::rfc_test_request(),
            "s",
            &required(),
            &format!("created={now}"),
            Dialect::Rfc9421,
            &signer,
        );
        assert_eq!(run(&r, &keys, now).unwrap().key, name);
    }
}

#[test]
fn rejections() {
    let keys = rfc_keys();
    let now = 1_700_000_000;
    let signer = Signer::rfc_ed25519();
    let good = fresh(&signer, "test-key-ed25519", now);
    let fail = |r: &Req| run(r, &keys, now).unwrap_err().failure;
    assert!(run(&good, &keys, now).is_ok());

    let mut body = RFC_BODY.to_vec();
    body[2] ^= 0x20;
    assert_eq!(fail(&good.clone().body(&body)), Failure::BadDigest);
    assert_eq!(fail(&good.clone().without("Signature")), Failure::Missing);
    assert_eq!(
        fail(&good.clone().without("Signature-Input")),
        Failure::Missing
    );
    assert_eq!(
        fail(&good.clone().replace("Signature", "sig1=::")),
        Failure::BadSignature
    );
    let sig = String::from_utf8(
        good.headers
            .iter()
            .find(|h| h.0 == "Signature")
            .unwrap()
            .1
            .to_vec(),
    )
    .unwrap();
    let truncated = format!("{}:", &sig[..sig.len() - 6]);
    assert_eq!(
        fail(&good.clone().replace("Signature", &truncated)),
        Failure::BadSignature
    );
    assert_eq!(
        fail(&good.clone().replace("Signature", "other=:AAAA:")),
        Failure::Missing
    );
    assert_eq!(
        fail(&good.clone().replace("Signature", "sig1=\"text\"")),
        Failure::BadSignature
    );
    // Wrong key: signed by another Ed25519 key, claiming the configured name.
    assert_eq!(
        fail(&fresh(&Signer::ed25519(), "test-key-ed25519", now)),
        Failure::BadSignature
    );
    assert_eq!(fail(&fresh(&signer, "nobody", now)), Failure::UnknownKey);
    assert_eq!(
        fail(&fresh(&signer, "test-key-ed25519", now - 301)),
        Failure::Stale
    );
    assert_eq!(
        fail(&fresh(&signer, "test-key-ed25519", now + 301)),
        Failure::Stale
    );
    let wrong_digest = sign(
        Req::rfc_test_request().replace(
            "Content-Digest",
            "sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
        ),
        "sig1",
        &required(),
        &format!("created={now}"),
        Dialect::Rfc9421,
        &signer,
    );
    assert_eq!(fail(&wrong_digest), Failure::BadDigest);
    let no_digest_header = sign(
        Req::rfc_test_request().without("Content-Digest"),
        "sig1",
        &["@method", "@authority", "@path"],
        &format!("created={now}"),
        Dialect::Rfc9421,
        &signer,
    );
    assert_eq!(fail(&no_digest_header), Failure::Missing);
    let no_created = sign(
        Req::rfc_test_request(),
        "sig1",
        &required(),
        "keyid=\"test-key-ed25519\"",
        Dialect::Rfc9421,
        &signer,
    );
    assert_eq!(fail(&no_created), Failure::Missing);
    let expired = sign(
        Req::rfc_test_request(),
        "sig1",
        &required(),
        &format!("created={now};expires={}", now - 1),
        Dialect::Rfc9421,
        &signer,
    );
    assert_eq!(fail(&expired), Failure::Stale);
    let alg_lies = sign(
        Req::rfc_test_request(),
        "sig1",
        &required(),
        &format!("created={now};keyid=\"test-key-ed25519\";alg=\"hmac-sha256\""),
        Dialect::Rfc9421,
        &signer,
    );
    let e = run(&alg_lies, &keys, now).unwrap_err();
    assert_eq!(e.failure, Failure::BadSignature);
    assert!(e.detail.contains("contradicts"), "{e}");
    let no_authority = sign(
        Req::rfc_test_request(),
        "sig1",
        &["@method", "@path", "content-digest"],
        &format!("created={now}"),
        Dialect::Rfc9421,
        &signer,
    );
    assert_eq!(fail(&no_authority), Failure::Missing);
    let absent_header = sign(
        Req::rfc_test_request().header("X-Extra", "1"),
        "sig1",
        &[
            "@method",
            "@authority",
            "@path",
            "content-digest",
            "x-extra",
        ],
        &format!("created={now}"),
        Dialect::Rfc9421,
        &signer,
    )
    .without("X-Extra");
    let e = run(&absent_header, &keys, now).unwrap_err();
    assert_eq!(e.failure, Failure::Missing);
    assert!(e.detail.contains("x-extra"), "{e}");
}

#[test]
fn nonce_replay_is_refused_until_forgotten() {
    let keys = rfc_keys();
    let now = 1_700_000_000;
    let signer = Signer::rfc_p256();
    let r = sign(
        Req::rfc_test_request(),
        "sig1",
        &required(),
        &format!("created={now};nonce=\"n-1\";keyid=\"test-key-ecc-p256\""),
        Dialect::Rfc9421,
        &signer,
    );
    let memory = ReplayCache::new(16);
    let c = ctx(&keys, now, Some(&memory));
    let v = verify_scheme(Scheme::HttpSignature, &r.request(), &c).unwrap();
    let e = verify_scheme(Scheme::HttpSignature, &r.request(), &c).unwrap_err();
    assert_eq!(e.failure, Failure::Replayed);
    memory.forget(v.replay_token.as_deref().unwrap());
    assert!(verify_scheme(Scheme::HttpSignature, &r.request(), &c).is_ok());
}

#[test]
fn target_uri_instead_of_path_and_rsa_v15_by_jwk_or_alg() {
    let now = 1_700_000_000;
    let signer = Signer::rfc_p256();
    let keys = rfc_keys();
    let r = sign(
        Req::rfc_test_request(),
        "a",
        &["@method", "@authority", "@target-uri", "content-digest"],
        &format!("created={now}"),
        Dialect::Rfc9421,
        &signer,
    );
    assert!(run(&r, &keys, now).is_ok());
    assert!(
        only_base(&r).contains("\"@target-uri\": https://example.com/foo?param=Value&Pet=dog\n")
    );

    let Signer::Rsa(pair, _) = Signer::rfc_rsa_pss() else {
        unreachable!()
    };
    let v15 = Signer::Rsa(pair, &aws_lc_rs::signature::RSA_PKCS1_SHA256);
    let jwk = crate::payload::keys::parse_key_file(
        Scheme::HttpSignature,
        std::path::Path::new("k.json"),
        rsa_jwk("RS256").as_bytes(),
    )
    .unwrap();
    let rs256 = KeySet::new(jwk);
    let r = sign(
        Req::rfc_test_request(),
        "a",
        &required(),
        &format!("created={now}"),
        Dialect::Rfc9421,
        &v15,
    );
    assert_eq!(run(&r, &rs256, now).unwrap().key, "test-key-rsa-pss");
    // The PEM key (no JWK alg) means PSS, unless the signature says rsa-v1_5-sha256.
    assert_eq!(
        run(&r, &keys, now).unwrap_err().failure,
        Failure::BadSignature
    );
    let r = sign(
        Req::rfc_test_request(),
        "a",
        &required(),
        &format!("created={now};alg=\"rsa-v1_5-sha256\""),
        Dialect::Rfc9421,
        &v15,
    );
    assert_eq!(run(&r, &keys, now).unwrap().key, "test-key-rsa-pss");
    // A JWK that pins RS256 contradicts a PSS alg parameter.
    let r = sign(
        Req::rfc_test_request(),
        "a",
        &required(),
        &format!("created={now};alg=\"rsa-pss-sha512\""),
        Dialect::Rfc9421,
        &Signer::rfc_rsa_pss(),
    );
    assert_eq!(
        run(&r, &rs256, now).unwrap_err().failure,
        Failure::BadSignature
    );
}

#[test]
fn component_values() {
    let r = Req::post(b"")
        .target("/p?a=1&b=x%20y&b2=%7e")
        .header("X-Dict", "a=1,  b=(x y);q")
        .header("X-Dup", "one")
        .header("x-dup", " two ");
    let req = r.request();
    let item = |s: &str| -> sfv::Item { sfv::Parser::new(s).parse().unwrap() };
    let value = |s: &str| component_value(&req, &item(s));
    assert_eq!(value(r#""x-dup""#).unwrap(), "one, two");
    assert_eq!(value(r#""x-dup";bs"#).unwrap(), ":b25l:, :dHdv:");
    assert_eq!(value(r#""x-dict";sf"#).unwrap(), "a=1, b=(x y);q");
    assert_eq!(value(r#""x-dict";key="b""#).unwrap(), "(x y);q");
    assert_eq!(value(r#""@query-param";name="b""#).unwrap(), "x%20y");
    assert_eq!(value(r#""@query-param";name="b2""#).unwrap(), "%7E");
    assert_eq!(value(r#""@query""#).unwrap(), "?a=1&b=x%20y&b2=%7e");
    assert_eq!(value(r#""@authority""#).unwrap(), "example.com");
    assert_eq!(
        value(r#""X-Dup""#).unwrap_err().failure,
        Failure::BadSignature
    );
    assert_eq!(
        value(r#""@status""#).unwrap_err().failure,
        Failure::BadSignature
    );
    assert_eq!(
        value(r#""x-dup";req"#).unwrap_err().failure,
        Failure::BadSignature
    );
    assert_eq!(
        value(r#""@query-param";name="zz""#).unwrap_err().failure,
        Failure::Missing
    );
}
