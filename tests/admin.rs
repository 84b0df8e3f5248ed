//! The plain-HTTP admin server: `/healthz`, `/readyz` and the Prometheus `/metrics` the
//! contract lists. The admin address is read from certgate's `admin listening addr=` log
//! line (not contract; see support::Certgate::admin_addr).

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn health_and_readiness_answer_200_once_serving() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start_with_admin(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=any"],
    )
    .await;
    let admin = cg.admin_addr().await;

    assert_eq!(http_get(admin, "/healthz").await.unwrap().0, 200);
    eventually("readyz 200", Duration::from_secs(10), || async {
        matches!(http_get(admin, "/readyz").await, Ok((200, _)))
    })
    .await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_decision_and_status() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start_with_admin(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=cn:sender"],
    )
    .await;
    let admin = cg.admin_addr().await;
    let sender = pki.client("sender", ClientSpec::cn_only("sender"));
    let other = pki.client("other", ClientSpec::cn_only("other"));

    for _ in 0..2 {
        let r = cg
            .client(&pki)
            .cert(&sender)
            .get("/webhooks/a")
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        cg.client(&pki)
            .cert(&other)
            .get("/webhooks/a")
            .await
            .unwrap()
            .status,
        403
    );
    assert_eq!(
        cg.client(&pki)
            .cert(&other)
            .get("/nowhere")
            .await
            .unwrap()
            .status,
        404
    );

    let expect = [
        (
            vec![
                ("route", "hooks"),
                ("decision", "allowed"),
                ("status", "200"),
            ],
            2.0,
        ),
        (
            vec![
                ("route", "hooks"),
                ("decision", "denied"),
                ("status", "403"),
            ],
            1.0,
        ),
        (vec![("decision", "no_route"), ("status", "404")], 1.0),
    ];
    eventually("request counters", Duration::from_secs(10), || async {
        let Ok((200, text)) = http_get(admin, "/metrics").await else {
            return false;
        };
        expect
            .iter()
            .all(|(labels, n)| metric_value(&text, "certgate_requests_total", labels) == Some(*n))
    })
    .await;
    let (_, text) = http_get(admin, "/metrics").await.unwrap();
    assert!(
        text.contains("certgate_request_duration_seconds_bucket"),
        "duration histogram missing:\n{text}"
    );
    assert!(text.contains("certgate_connections_active"), "{text}");
}

#[tokio::test]
async fn metrics_count_rejected_handshakes_by_result() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let cg = Certgate::start_with_admin(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=any"],
    )
    .await;
    let admin = cg.admin_addr().await;
    let rogue = pki
        .other_ca("Rogue CA")
        .issue("rogue", ClientSpec::cn_only("sender"));
    let expired = pki.client("expired", ClientSpec::cn_only("sender").expired());

    assert!(cg
        .client(&pki)
        .cert(&rogue)
        .get("/webhooks/a")
        .await
        .is_err());
    assert!(cg
        .client(&pki)
        .cert(&expired)
        .get("/webhooks/a")
        .await
        .is_err());
    assert!(cg.client(&pki).get("/webhooks/a").await.is_err());

    eventually("handshake counters", Duration::from_secs(10), || async {
        let Ok((200, text)) = http_get(admin, "/metrics").await else {
            return false;
        };
        ["unknown_issuer", "expired", "no_cert"]
            .iter()
            .all(|result| {
                metric_value(&text, "certgate_handshakes_total", &[("result", result)]) == Some(1.0)
            })
    })
    .await;
    upstream.assert_nothing("rejected handshakes");
}
