//! `certgate echo` and the demo's upstream: answers every request with the request line and
//! the headers it received (only identity and forwarding headers for the demo).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serve the echo upstream on `listener` forever. `all_headers`: echo every header (the
/// `certgate echo` debugging upstream), else only identity and forwarding headers.
pub async fn serve_echo(listener: TcpListener, all_headers: bool) {
    loop {
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "echo upstream: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| async move {
                if all_headers {
                    tracing::info!(method = %req.method(), uri = %req.uri(), "echo: request received");
                }
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(echo_body(
                    &req,
                    all_headers,
                )))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

/// `hello from the upstream: GET /path` and the identity, forwarding and signature headers it
/// received.
fn echo_body<B>(req: &hyper::Request<B>, all_headers: bool) -> String {
    let mut out = format!("hello from the upstream: {} {}\n", req.method(), req.uri());
    for (name, value) in req.headers() {
        let n = name.as_str();
        if all_headers
            || n.starts_with("x-client-cert-")
            || n.starts_with("x-forwarded-")
            || n == "x-request-id"
            || n == crate::http::headers::X_SIGNATURE_VERIFIED
        {
            out.push_str(&format!(
                "{n}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::demo::ALLOWED_SUBJECT;

    #[test]
    fn echo_shows_identity_and_forwarding_headers_only() {
        let req = hyper::Request::get("/webhooks/docusign")
            .header("x-client-cert-subject", ALLOWED_SUBJECT)
            .header("x-forwarded-proto", "https")
            .header("x-request-id", "abc")
            .header("user-agent", "curl")
            .body(())
            .unwrap();
        let body = echo_body(&req, false);
        assert!(body.starts_with("hello from the upstream: GET /webhooks/docusign\n"));
        assert!(body.contains(&format!("x-client-cert-subject: {ALLOWED_SUBJECT}\n")));
        assert!(body.contains("x-forwarded-proto: https\n"));
        assert!(body.contains("x-request-id: abc\n"));
        assert!(!body.contains("user-agent"));
    }
}
