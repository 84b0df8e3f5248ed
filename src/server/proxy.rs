//! Per-request phases: request id → header limit → path normalisation → route and
//! authorise (pure policy) → payload signature (`--verify` routes only) → strip then set
//! headers → forward. Failures are `ProxyError`s (`answer.rs`).

use super::access::{log_request, Done, Outcome, Unanswered};
use super::answer::{client_or_upstream, error_response, Body, ProxyError};
use super::peer::Conn;
use super::request_id::{request_id_from, Rid};
use super::state::Shared;
use crate::http::identity_headers::IdentityHeaders;
use crate::http::prefetch::{self, Prefetched};
use crate::http::upstream::{self, Lines, RequestBody};
use crate::http::{h1wire, headers};
use crate::ops::metrics::{DecisionLabel, UpstreamErrorLabels};
use crate::payload::body::{declared_length, read_body, BodyError};
use crate::payload::route::RouteVerifier;
use crate::payload::{Failure, Rejection};
use crate::policy::{Decision, Forbidden, Peer};
use http::{HeaderValue, Request, Response};
use http_body_util::{Either, Full};
use hyper::body::{Body as _, Incoming};
use std::sync::atomic::Ordering;
use std::time::Instant;
use tracing::{debug, warn};

fn request_id(shared: &Shared, req: &Request<Incoming>) -> HeaderValue {
    let given = req.headers().get(&headers::name::X_REQUEST_ID);
    request_id_from(shared, given.map(HeaderValue::as_bytes)).header_value()
}

/// An HTTP/1 message after which the connection closes: HTTP/1.0 (keep-alive there is the
/// exception; treated as closing) or a `close` token in `Connection`.
fn ends_connection(version: http::Version, headers: &http::HeaderMap) -> bool {
    version == http::Version::HTTP_10
        || headers.get_all(http::header::CONNECTION).iter().any(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        })
}

fn header_bytes(req: &Request<Incoming>) -> usize {
    req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum::<usize>()
}

/// Counts a request in flight on its connection until dropped, also when hyper drops the
/// request future (an HTTP/2 stream reset), so the idle timeout is never blocked by a leak.
pub(super) struct InFlight<'a>(&'a Conn);

impl<'a> InFlight<'a> {
    pub(super) fn new(conn: &'a Conn) -> Self {
        conn.touch();
        Self::started(conn)
    }

    /// A request whose start the connection has recorded already (`Conn::touch_at`).
    pub(super) fn started(conn: &'a Conn) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(conn)
    }

    /// The request ended at `at`: as dropping, without reading the clock again.
    pub(super) fn end_at(self, at: Instant) {
        self.0.touch_at(at);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        std::mem::forget(self);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Serve one request. Never fails: errors become short generic answers. Also returns the
/// request body when certgate answered without reading it (an early answer), for the
/// connection to dispose of in a way that lets the answer reach the client.
pub async fn handle(
    shared: &Shared,
    conn: &Conn,
    req: Request<Incoming>,
) -> (Response<Body>, Option<Incoming>) {
    let start = Instant::now();
    let _in_flight = InFlight::new(conn);
    let rid = request_id(shared, &req);
    let index = conn.requests_seen.fetch_add(1, Ordering::Relaxed);
    if ends_connection(req.version(), req.headers()) {
        conn.closing.store(true, Ordering::Relaxed);
    }
    let method = req.method().clone();
    let mut pending = Unanswered {
        shared,
        conn,
        rid: &rid,
        method: method.as_str(),
        start,
        outcome: Outcome::default(),
        answered: false,
    };
    let mut unread = None;
    let result = forward(
        shared,
        conn,
        req,
        index,
        &rid,
        &mut pending.outcome,
        &mut unread,
    )
    .await;
    pending.answered = true;
    let outcome = std::mem::take(&mut pending.outcome);
    let (resp, decision, reason) = match result {
        // An upstream answer's Connection header is gone (hop-by-hop): only the version
        // can end the client's connection.
        Ok(resp) => {
            if resp.version() == http::Version::HTTP_10 {
                conn.closing.store(true, Ordering::Relaxed);
            }
            (resp, DecisionLabel::allowed, None)
        }
        Err(e) => {
            let resp = failed(shared, &outcome, &e, &rid);
            if ends_connection(resp.version(), resp.headers()) {
                conn.closing.store(true, Ordering::Relaxed);
            }
            (resp, e.decision(), Some(e))
        }
    };
    let status = resp.status().as_u16();
    let done = Done {
        rid: Rid::Header(&rid),
        method: method.as_str(),
        outcome: &outcome,
        decision,
        status,
        reason: reason.as_ref(),
    };
    log_request(shared, conn, start.elapsed(), &done);
    (resp, unread)
}

/// certgate's own answer to a request that failed, counted when the upstream failed.
pub(super) fn failed(
    shared: &Shared,
    outcome: &Outcome,
    e: &ProxyError,
    rid: &HeaderValue,
) -> Response<Body> {
    if let ProxyError::Upstream(u) = e {
        let route_label: &str = outcome.route.map_or("-", |i| &shared.route_names[i]);
        shared
            .metrics
            .upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                route: route_label.to_string(),
                kind: u.kind(),
            })
            .inc();
    }
    error_response(e, rid)
}

/// The request pipeline, one step per line: framing checks, path, route and authorisation,
/// payload check, identity headers (strip, then set), forward. Each step calls down into
/// a lower layer; none calls back up.
async fn forward(
    shared: &Shared,
    conn: &Conn,
    req: Request<Incoming>,
    index: u64,
    rid: &HeaderValue,
    outcome: &mut Outcome,
    unread: &mut Option<Incoming>,
) -> Result<Response<Body>, ProxyError> {
    let decided = (|| {
        check_request(shared, conn, &req, index)?;
        // RFC 3986 normalisation: the path that is authorised is the path that is forwarded.
        let path = crate::policy::normalize_path(req.uri().path())?.into_owned();
        let (route, identity_headers) = authorise(shared, conn, &path, outcome, Instant::now())?;
        Ok::<_, ProxyError>((path, route, identity_headers))
    })();
    let (path, route, identity_headers) = match decided {
        Ok(d) => d,
        Err(e) => {
            // Answered before the body was read: hand it back (see `handle`).
            *unread = Some(req.into_body());
            return Err(e);
        }
    };
    let (mut req, verified) = match shared.verifiers.get(route).and_then(Option::as_deref) {
        // Every route without --verify: the body streams on untouched.
        None => (req.map(http_body_util::Either::Left), None),
        // Boxed, so that the plain path's future stays as small as it was.
        Some(verifier) => {
            Box::pin(check_payload(shared, verifier, req, rid, outcome, unread)).await?
        }
    };
    let mut lines = set_headers(shared, conn, &mut req, identity_headers, rid);
    if let Some(v) = &verified {
        match &mut lines {
            Lines::Written(out) => {
                h1wire::write_line(out, &headers::name::X_SIGNATURE_VERIFIED, &v.header)
            }
            Lines::InMap => {
                req.headers_mut()
                    .insert(headers::name::X_SIGNATURE_VERIFIED, v.header.clone());
            }
        }
    }
    let result = send(shared, req, lines, route, &path, outcome).await;
    if let Some(Verified {
        verifier,
        replay_token: Some(token),
        ..
    }) = &verified
    {
        // A message the upstream did not take will be sent again with the same id or
        // nonce (Standard Webhooks retries so): that is a retry, not a replay.
        if !matches!(&result, Ok(r) if r.status().is_success()) {
            verifier.forget(token);
        }
    }
    result
}

/// A payload check that passed.
struct Verified<'s> {
    verifier: &'s RouteVerifier,
    /// `X-Signature-Verified: SCHEME; key=KEYNAME`.
    header: HeaderValue,
    replay_token: Option<String>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `--verify` routes: read the body whole (up to `--max-body-bytes`), check its signature,
/// and forward exactly the bytes received with an exact `Content-Length`.
async fn check_payload<'s>(
    shared: &Shared,
    verifier: &'s RouteVerifier,
    req: Request<Incoming>,
    rid: &HeaderValue,
    outcome: &mut Outcome,
    unread: &mut Option<Incoming>,
) -> Result<(Request<RequestBody>, Option<Verified<'s>>), ProxyError> {
    let v = &shared.settings.verify;
    let (route_name, scheme) = (&verifier.config.route_name, verifier.config.scheme);
    let count = |result: &'static str| {
        shared
            .metrics
            .signature_check(route_name, scheme.as_str(), result)
    };
    let (parts, body) = req.into_parts();
    let too_large = BodyError::TooLarge {
        limit: v.max_body_bytes,
    };
    let bytes = match declared_length(&parts.headers) {
        Some(n) if n > v.max_body_bytes as u64 => {
            // Refused before a byte of it was read: hand it back (see `handle`).
            *unread = Some(body);
            Err(too_large)
        }
        _ => read_body(body, v.max_body_bytes, shared.settings.timeouts.upstream).await,
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            if matches!(e, BodyError::TooLarge { .. }) {
                count(Failure::TooLarge.label());
                outcome.signature = Some(Failure::TooLarge.label());
            }
            return Err(e.into());
        }
    };
    let header_list: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let authority = match parts.uri.authority() {
        Some(a) => a.as_str(),
        None => parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(""),
    };
    let request = crate::payload::Request {
        method: parts.method.as_str(),
        authority,
        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        headers: &header_list,
        body: &bytes,
    };
    let checked = verifier.check(&request, unix_now(), v.tolerance.as_secs());
    drop(header_list);
    let label = match &checked {
        Ok(_) => "ok",
        Err(r) => r.failure.label(),
    };
    count(label);
    outcome.signature = Some(label);
    let verified = match checked {
        Ok(ok) => {
            let value = ok.header_value(scheme);
            // Key names are printable ASCII (checked when the keys are read).
            let header = HeaderValue::from_str(&value).map_err(|_| {
                ProxyError::Signature(Rejection::new(
                    Failure::UnknownKey,
                    "key name is not a header value",
                ))
            })?;
            Some(Verified {
                verifier,
                header,
                replay_token: ok.replay_token,
            })
        }
        Err(rejection) if verifier.config.report => {
            warn!(
                request_id = rid.to_str().unwrap_or("-"),
                route = route_name.as_str(),
                scheme = scheme.as_str(),
                result = label,
                reason = %rejection,
                "payload signature check failed; --verify-mode report forwards the request anyway"
            );
            None
        }
        Err(rejection) => return Err(ProxyError::Signature(rejection)),
    };
    // The bytes as received. A chunked request loses Transfer-Encoding with the hop-by-hop
    // headers, and hyper's client frames the whole body with its exact Content-Length.
    let req = Request::from_parts(parts, http_body_util::Either::Right(Full::new(bytes)));
    Ok((req, verified))
}

/// Framing and head checks that need no route: smuggling, header size, CONNECT, Host.
fn check_request(
    shared: &Shared,
    conn: &Conn,
    req: &Request<Incoming>,
    index: u64,
) -> Result<(), ProxyError> {
    let s = &shared.settings;
    // Request smuggling: both Content-Length and Transfer-Encoding (see framing.rs).
    if req.version() == http::Version::HTTP_11 && conn.framing.is_conflict(index) {
        return Err(ProxyError::BadRequest(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    // --max-header-bytes (hyper's own buffer limit is the backstop for h1)
    let size = header_bytes(req);
    if size > s.max_header_bytes {
        return Err(ProxyError::HeadersTooLarge {
            size,
            limit: s.max_header_bytes,
        });
    }
    // --max-header-count (for HTTP/1, hyper's `max_headers` answers 431 before this).
    let count = req.headers().len();
    if count > s.max_header_count {
        return Err(ProxyError::TooManyHeaders {
            count,
            limit: s.max_header_count,
        });
    }
    if req.method() == http::Method::CONNECT {
        return Err(ProxyError::BadRequest("CONNECT is not proxied"));
    }
    // RFC 9110 §8.6: several Content-Length fields (even equal ones) are refused rather
    // than merged; hyper's HTTP/2 server takes the first and would forward both.
    if req
        .headers()
        .get_all(http::header::CONTENT_LENGTH)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(ProxyError::BadRequest("more than one Content-Length"));
    }
    check_host(req)
}

/// RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host; every Host, absolute-form
/// authority and HTTP/2 `:authority` must be a valid `host[:port]`; and a Host must agree
/// with the request target's authority.
fn check_host(req: &Request<Incoming>) -> Result<(), ProxyError> {
    let mut hosts = req.headers().get_all(http::header::HOST).iter();
    let first_host = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::BadRequest("more than one Host header"));
    }
    if first_host.is_none() && req.version() == http::Version::HTTP_11 {
        return Err(ProxyError::BadRequest("HTTP/1.1 request without Host"));
    }
    if first_host.is_some_and(|h| !headers::valid_authority(h.as_bytes())) {
        return Err(ProxyError::BadRequest("Host is not a valid host[:port]"));
    }
    let authority = req.uri().authority();
    if authority.is_some_and(|a| !headers::valid_authority(a.as_str().as_bytes())) {
        return Err(ProxyError::BadRequest(
            "request authority is not a valid host[:port]",
        ));
    }
    if let (Some(h), Some(a)) = (first_host, authority) {
        if !h.as_bytes().eq_ignore_ascii_case(a.as_str().as_bytes()) {
            return Err(ProxyError::BadRequest(
                "Host header differs from the request authority",
            ));
        }
    }
    Ok(())
}

/// Route and authorise (pure `Policy::decide_route`, remembered per connection, trust
/// generation and policy generation): the route index and the identity headers to set, if
/// the route vouches.
pub(super) fn authorise<'c>(
    shared: &Shared,
    conn: &'c Conn,
    path: &str,
    outcome: &mut Outcome,
    now: Instant,
) -> Result<(usize, Option<&'c IdentityHeaders>), ProxyError> {
    // The rules in force (--allow, --allow-file): one atomic load when nothing changed.
    let rules = shared.policy.load();
    let policy = &rules.policy;
    let auth = conn.auth(shared, now);
    let peer = conn.identity.as_deref().map(|identity| Peer {
        identity,
        bundles: &auth.bundles,
    });
    // The route from the path; the decision for that route is taken once per connection
    // (per trust and policy generation, and again once a rule it rests on ends).
    let decision = match policy.match_route(path) {
        None => Decision::NoRoute,
        Some(route) => auth.decision(route, rules.generation, |now| {
            let d = policy.decide_route(route, peer, now);
            let until = policy.valid_until(&d);
            (d, until)
        }),
    };
    let route = match decision {
        Decision::NoRoute => return Err(ProxyError::NoRoute),
        Decision::Unauthenticated { route } => {
            outcome.route = Some(route);
            return Err(ProxyError::Unauthenticated);
        }
        Decision::Forbidden { route, reason } => {
            outcome.route = Some(route);
            let why = match (reason, &auth.refused) {
                (_, Some(f)) => format!("client certificate refused by the reloaded trust: {f}"),
                (Forbidden::WrongBundle { required }, None) => format!(
                    "client chain does not verify against trust bundle {required:?} that --route-trust requires for this route"
                ),
                (Forbidden::NoRules, None) => "route has no --allow rule".to_string(),
                (Forbidden::NoRuleMatched, None) => "no --allow rule of the route matches the client certificate".to_string(),
                (Forbidden::RuleEnded { rule }, None) => {
                    let r = &policy.routes()[route].rules[rule];
                    format!("rule {r} ({}) matches the client certificate but has ended (until=)", r.source)
                }
            };
            return Err(ProxyError::Forbidden(why));
        }
        Decision::Allow { route, .. } => route,
    };
    outcome.route = Some(route);
    // Identity is vouched for only when the chain verifies, now, against this route's bundle
    // (a `public` route admits anyone, but must not pass on an identity it did not check).
    let vouched = auth.refused.is_none()
        && auth
            .bundles
            .iter()
            .any(|b| *b == policy.routes()[route].trust_bundle);
    // Identity headers fail closed: a certificate whose values cannot be headers is refused.
    let identity_headers = match &conn.headers {
        Some(Ok(h)) if vouched => Some(h),
        Some(Err(e)) if vouched => return Err(ProxyError::Forbidden(e.to_string())),
        _ => None,
    };
    Ok((route, identity_headers))
}

/// Strip, then set: every inbound header in certgate's namespace goes, then the verified
/// identity and the forwarding headers are set: written as head lines when the body is in
/// hand (certgate's own upstream client), else inserted into the map.
fn set_headers(
    shared: &Shared,
    conn: &Conn,
    req: &mut Request<RequestBody>,
    identity_headers: Option<&IdentityHeaders>,
    rid: &HeaderValue,
) -> Lines {
    let host = req.uri().authority().map(|a| a.as_str().to_string());
    let removed = headers::strip_inbound(req.headers_mut(), &shared.settings.headers);
    if req.version() == http::Version::HTTP_2 {
        headers::join_cookies(req.headers_mut());
    }
    if removed > 0 {
        debug!(
            request_id = rid.to_str().unwrap_or("-"),
            removed, "client sent headers that certgate owns (identity, forwarding); removed"
        );
    }
    if !req.headers().contains_key(http::header::HOST) {
        if let Some(h) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
            req.headers_mut().insert(http::header::HOST, h);
        }
    }
    if upstream::body_in_hand(req.body()) {
        let mut out = Vec::with_capacity(512);
        let identity_lines = identity_headers.map_or(&b""[..], |i| i.lines());
        headers::write_forwarding(
            req.headers_mut(),
            identity_lines,
            &conn.peer_ip,
            rid,
            &mut out,
        );
        return Lines::Written(out);
    }
    let identity = identity_headers.into_iter().flat_map(|i| i.fields());
    headers::apply(req.headers_mut(), identity, &conn.peer_ip, rid);
    // A body of unknown length (HTTP/1 chunked, HTTP/2 DATA without content-length) is sent
    // chunked, whatever the method: hyper's client would send a GET, HEAD or DELETE without
    // it, and the upstream would answer a request the client did not make.
    let body = req.body();
    if !body.is_end_stream()
        && body.size_hint().exact().is_none()
        && !req.headers().contains_key(http::header::CONTENT_LENGTH)
    {
        req.headers_mut().insert(
            http::header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    Lines::InMap
}

/// Forward to the route's upstream and prepare its answer for the client's connection.
async fn send(
    shared: &Shared,
    req: Request<RequestBody>,
    lines: Lines,
    route: usize,
    path: &str,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ProxyError> {
    let s = &shared.settings;
    let upstream = &shared.upstreams[s.route_upstream[route]];
    let client_version = req.version();
    let query = req.uri().query().map(str::to_owned);
    let mut resp = upstream
        .send(req, lines, path, query.as_deref(), s.timeouts.upstream)
        .await
        .map_err(client_or_upstream)?;
    outcome.upstream_status = Some(resp.status().as_u16());
    // The client's connection has its own version and keep-alive: an HTTP/1.0 upstream
    // answer must not make hyper close the client's HTTP/1.1 connection.
    *resp.version_mut() = client_version;
    headers::remove_hop_by_hop(resp.headers_mut());
    // Head, body and end in one write to the client when the body is on its way already.
    let (parts, body) = resp.into_parts();
    let body = Prefetched::prefetch(body, prefetch::WAIT, prefetch::MAX_BYTES).await;
    Ok(Response::from_parts(parts, Either::Left(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::upstream::UpstreamError;
    use crate::policy::PathError;
    use http::StatusCode;

    #[test]
    fn which_exchanges_end_the_connection() {
        let with = |v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::CONNECTION, HeaderValue::from_static(v));
            h
        };
        let none = http::HeaderMap::new();
        assert!(!ends_connection(http::Version::HTTP_11, &none));
        assert!(ends_connection(http::Version::HTTP_10, &none));
        assert!(ends_connection(http::Version::HTTP_11, &with("close")));
        assert!(ends_connection(
            http::Version::HTTP_11,
            &with("Upgrade, CLOSE")
        ));
        assert!(!ends_connection(
            http::Version::HTTP_11,
            &with("keep-alive")
        ));
        assert!(!ends_connection(http::Version::HTTP_11, &with("closed")));
    }

    #[test]
    fn status_mapping() {
        assert_eq!(ProxyError::NoRoute.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ProxyError::Unauthenticated.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ProxyError::Forbidden("x".into()).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            ProxyError::BadPath(PathError::AboveRoot).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ProxyError::BadRequest("x").status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ProxyError::HeadersTooLarge { size: 2, limit: 1 }.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        assert_eq!(
            ProxyError::Upstream(UpstreamError::Timeout).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn payload_status_mapping() {
        let rejected = ProxyError::Signature(Rejection::new(Failure::BadSignature, "x"));
        assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(rejected.decision(), DecisionLabel::unauthenticated);
        let too_large = ProxyError::Body(BodyError::TooLarge { limit: 1 });
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.decision(), DecisionLabel::bad_request);
        assert_eq!(
            ProxyError::Body(BodyError::Timeout(std::time::Duration::from_secs(1))).status(),
            StatusCode::REQUEST_TIMEOUT
        );
        assert_eq!(
            ProxyError::Body(BodyError::Read("reset".into())).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn decision_labels() {
        assert_eq!(ProxyError::NoRoute.decision(), DecisionLabel::no_route);
        assert_eq!(
            ProxyError::Unauthenticated.decision(),
            DecisionLabel::unauthenticated
        );
        assert_eq!(
            ProxyError::Forbidden("x".into()).decision(),
            DecisionLabel::denied
        );
        assert_eq!(
            ProxyError::BadRequest("x").decision(),
            DecisionLabel::bad_request
        );
        assert_eq!(
            ProxyError::Upstream(UpstreamError::Timeout).decision(),
            DecisionLabel::allowed
        );
    }
}
