//! The real `curl --cert --key` binary against certgate, as an operator would try it.

mod support;

use support::*;

#[tokio::test]
async fn curl_with_an_allowed_certificate_gets_200_and_a_denied_one_gets_403() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/webhooks",
            "--allow",
            r"hooks=subject:CN=demo.docusign.net,O=DocuSign\, Inc.,C=US",
        ],
    )
    .await;
    let allowed = pki.client(
        "docusign",
        ClientSpec::new()
            .c("US")
            .o("DocuSign, Inc.")
            .cn("demo.docusign.net"),
    );
    let denied = pki.client("other", ClientSpec::new().c("US").o("Other").cn("other"));

    let ok = curl(&pki, cg.addr, "/webhooks/event", Some(&allowed), &[]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body, "upstream-ok");
    let seen = upstream.single();
    assert_eq!(
        seen.expect("X-Client-Cert-Subject"),
        r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US"
    );

    let no = curl(&pki, cg.addr, "/webhooks/event", Some(&denied), &[]).await;
    assert_eq!(no.status, 403, "{no:?}");
    assert_eq!(
        upstream.count(),
        1,
        "the denied request reached the upstream"
    );
}

#[tokio::test]
async fn curl_without_a_certificate_gets_no_response() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=any"],
    )
    .await;

    let out = curl(&pki, cg.addr, "/webhooks/event", None, &[]).await;

    assert_eq!(
        out.status, 0,
        "no HTTP response without a certificate: {out:?}"
    );
    assert_ne!(out.exit_code, Some(0), "{out:?}");
    upstream.assert_nothing("curl without certificate");
}

#[tokio::test]
async fn curl_over_http2_is_served() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=cn:sender"],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));

    let out = curl(&pki, cg.addr, "/webhooks/event", Some(&leaf), &["--http2"]).await;

    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.http_version, "2", "{out:?}");
    assert_eq!(
        upstream.single().expect("X-Client-Cert-Subject"),
        "CN=sender"
    );
}
