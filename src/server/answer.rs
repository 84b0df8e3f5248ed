//! certgate's own answers: why a request did not get the upstream's (`ProxyError`), the
//! one mapping from failure to HTTP status and access-log decision, and the short generic
//! answer (the reason goes to the log, never to the client).

use crate::http::prefetch::Prefetched;
use crate::http::upstream::{PooledBody, UpstreamError};
use crate::http::{h1wire, headers};
use crate::ops::metrics::DecisionLabel;
use crate::payload::body::BodyError;
use crate::payload::Rejection;
use crate::policy::PathError;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{Either, Full};

/// Response bodies: the upstream's, streamed, or certgate's own short ones.
pub type Body = Either<Prefetched<PooledBody>, Full<Bytes>>;

/// Why a request did not get the upstream's answer.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad path: {0}")]
    BadPath(#[from] PathError),
    #[error("request headers of {size} bytes exceed --max-header-bytes {limit}")]
    HeadersTooLarge { size: usize, limit: usize },
    #[error("request has {count} header fields, more than --max-header-count {limit}")]
    TooManyHeaders { count: usize, limit: usize },
    /// The client's request body broke off (malformed chunked framing, or the connection
    /// closed before the announced length): the client's fault, not the upstream's.
    #[error("request body from the client is malformed or incomplete")]
    ClientBody(#[source] hyper::Error),
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("no route matches the path")]
    NoRoute,
    #[error("route requires a client certificate and none was presented")]
    Unauthenticated,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("payload signature: {0}")]
    Signature(Rejection),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The client closed its connection (or reset its HTTP/2 stream) before its answer:
    /// nothing is sent, the access line says 499 (nginx's "client closed request").
    #[error("the client closed its connection before the answer; nothing was sent (499: the client's doing, not the upstream's)")]
    ClientGone,
    /// The request was dropped while certgate shut down: its client left, or
    /// `--shutdown-grace` passed before the answer.
    #[error("dropped while certgate shut down (SIGTERM or SIGINT): the client left, or --shutdown-grace passed before the answer; nothing was sent")]
    ShutDown,
}

/// The status that access lines and `certgate_requests_total` give a request whose client
/// left before its answer (never sent: there is nobody to send it to).
pub const CLIENT_CLOSED: u16 = 499;

impl ProxyError {
    /// Who is at fault decides the status: client or policy 4xx, upstream 502/504.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadPath(_) | ProxyError::BadRequest(_) | ProxyError::ClientBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ProxyError::HeadersTooLarge { .. } | ProxyError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ProxyError::Forbidden(_) => StatusCode::FORBIDDEN,
            ProxyError::Signature(_) => StatusCode::UNAUTHORIZED,
            ProxyError::Body(BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Body(BodyError::Timeout(_)) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::Body(BodyError::Read(_)) => StatusCode::BAD_REQUEST,
            ProxyError::Upstream(UpstreamError::Timeout) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ProxyError::ClientGone | ProxyError::ShutDown => {
                StatusCode::from_u16(CLIENT_CLOSED).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }

    pub fn decision(&self) -> DecisionLabel {
        match self {
            ProxyError::BadPath(_)
            | ProxyError::BadRequest(_)
            | ProxyError::HeadersTooLarge { .. }
            | ProxyError::TooManyHeaders { .. }
            | ProxyError::ClientBody(_)
            | ProxyError::Body(_) => DecisionLabel::bad_request,
            ProxyError::NoRoute => DecisionLabel::no_route,
            ProxyError::Unauthenticated | ProxyError::Signature(_) => {
                DecisionLabel::unauthenticated
            }
            ProxyError::Forbidden(_) => DecisionLabel::denied,
            ProxyError::Upstream(_) | ProxyError::ClientGone | ProxyError::ShutDown => {
                DecisionLabel::allowed
            }
        }
    }
}

/// An upstream exchange that failed because the client's request body did (hyper's client
/// reports it as a user error caused by the body's own `hyper::Error`) is the client's
/// fault: 400, not a 502 that would count against the upstream.
pub(crate) fn client_or_upstream(e: UpstreamError) -> ProxyError {
    match e {
        UpstreamError::Reset(h) if is_client_body_error(&h) => ProxyError::ClientBody(h),
        e => ProxyError::Upstream(e),
    }
}

fn is_client_body_error(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    e.is_user()
        && e.source()
            .is_some_and(|s| s.downcast_ref::<hyper::Error>().is_some())
}

pub(crate) fn error_response(e: &ProxyError, rid: &HeaderValue) -> Response<Body> {
    let status = e.status();
    let body = error_text(status, rid);
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(headers::name::X_REQUEST_ID, rid.clone());
    if closes(status) {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// After a framing problem or an oversized head the connection's byte stream cannot be
/// trusted any more: close it.
fn closes(status: StatusCode) -> bool {
    status == StatusCode::BAD_REQUEST
        || status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        || status == StatusCode::PAYLOAD_TOO_LARGE
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The short generic body: status and request id, never the reason.
fn error_text(status: StatusCode, rid: &HeaderValue) -> String {
    format!(
        "{} {}\nrequest-id: {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        rid.to_str().unwrap_or("-")
    )
}

/// `error_response` as HTTP/1.1 bytes, for certgate's own HTTP/1.1 server (the same
/// status, fields and body). `last`: the connection closes after it anyway (a drain).
/// True when the answer closes the connection.
pub(crate) fn write_error_h1(
    e: &ProxyError,
    rid: &HeaderValue,
    last: bool,
    out: &mut Vec<u8>,
) -> bool {
    let status = e.status();
    let body = error_text(status, rid);
    h1wire::write_status_line(out, status);
    out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\nx-request-id: ");
    out.extend_from_slice(rid.as_bytes());
    let close = last || closes(status);
    if close {
        out.extend_from_slice(b"\r\nconnection: close");
    }
    out.extend_from_slice(b"\r\n");
    write_date(out);
    out.extend_from_slice(b"content-length: ");
    h1wire::write_number(out, body.len() as u64, 10);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    close
}

/// A `date: <IMF-fixdate>` line (RFC 9110 §6.6.1) for an answer certgate's own HTTP/1.1
/// server writes, as hyper's server adds one to every answer: formatted once a second per
/// thread.
pub(crate) fn write_date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(c.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}
