//! Plain-HTTP admin server: `/healthz`, `/readyz`, `/metrics`, `/rules`; and the log lines that say
//! when readiness changes because of the server certificate's validity period.

use super::state::Shared;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

fn text(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// Answer one admin request (pure apart from reading the shared state).
pub fn respond(shared: &Shared, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n", "text/plain"),
        "/readyz" => match shared.readiness() {
            Ok(()) => text(StatusCode::OK, "ready\n", "text/plain"),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
                "text/plain",
            ),
        },
        "/metrics" => text(
            StatusCode::OK,
            shared.metrics.encode(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/rules" => text(
            StatusCode::OK,
            super::rules::rules_json(
                &shared.policy.load(),
                &shared.settings.upstreams,
                &shared.settings.route_upstream,
                std::time::SystemTime::now(),
            ),
            "application/json",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n", "text/plain"),
    }
}

/// Log, once per change, when the server certificate in force leaves or re-enters its
/// validity period: at start, after a reload, and when it expires (or becomes valid) while
/// certgate runs. `/readyz` itself checks the clock on every request; this only tells.
pub async fn log_server_cert_readiness(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        let now = shared.server_cert_problem(crate::pki::expiry::now_unix());
        if now != last {
            match &now {
                Some(p) => error!(file = %p.file, "{p}"),
                None => info!(
                    file = %shared.settings.server_cert.display(),
                    "server certificate is valid again: /readyz answers 200"
                ),
            }
            last = now;
        }
    }
}

/// Serve the admin endpoints until the process ends.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let r = respond(&shared, req.uri().path());
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
