//! SIGTERM: stop accepting, let in-flight requests finish within `--shutdown-grace`, exit 0.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let pki = Pki::new();
    let upstream = Upstream::start_with(UpstreamBehaviour {
        delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let mut cg = Certgate::start(
        &pki,
        &upstream.url,
        &[
            "--route",
            "hooks=/webhooks",
            "--allow",
            "hooks=any",
            "--shutdown-grace",
            "10s",
        ],
    )
    .await;
    let leaf = pki.client("sender", ClientSpec::cn_only("sender"));
    let client = cg.client(&pki).cert(&leaf);
    let in_flight = tokio::spawn(async move { client.get("/webhooks/slow").await });
    eventually(
        "the request to reach the upstream",
        Duration::from_secs(10),
        || async { upstream.count() == 1 },
    )
    .await;

    cg.signal("TERM");

    // New connections are no longer served while the old request drains.
    let late_client = cg.client(&pki).cert(&leaf);
    eventually(
        "the listener to stop serving",
        Duration::from_secs(5),
        || {
            let c = late_client.clone();
            async move { c.get("/webhooks/late").await.is_err() }
        },
    )
    .await;
    let resp = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body_str(), "upstream-ok");
    let status = cg
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("certgate exits after draining");
    assert_eq!(status.code(), Some(0));
    assert_eq!(upstream.paths(), ["/webhooks/slow"]);
}

#[tokio::test]
async fn sigterm_when_idle_exits_0_promptly() {
    let pki = Pki::new();
    let upstream = Upstream::start().await;
    let mut cg = Certgate::start(
        &pki,
        &upstream.url,
        &["--route", "hooks=/webhooks", "--allow", "hooks=any"],
    )
    .await;

    cg.signal("TERM");

    let status = cg
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("an idle certgate exits well within the 30 s default grace");
    assert_eq!(status.code(), Some(0));
}
