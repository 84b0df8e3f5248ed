//! A request's accounting: what it ended as (`Outcome`), its access-log line and its
//! metrics (`log_request`), written once per request by both servers, also for a request
//! whose client left before its answer (`Unanswered`, status 499).

use super::answer::{ProxyError, CLIENT_CLOSED};
use super::peer::Conn;
use super::request_id::Rid;
use super::state::Shared;
use crate::ops::metrics::DecisionLabel;
use http::HeaderValue;
use std::time::{Duration, Instant};
use tracing::info;

/// What one request ended as, for the access log.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) route: Option<usize>,
    pub(super) upstream_status: Option<u16>,
    /// `--verify` routes: the check's result label (`ok`, `bad_signature`, …).
    pub(super) signature: Option<&'static str>,
}

/// How a request ended, for its metrics and its access-log line.
pub(super) struct Done<'a> {
    pub(super) rid: Rid<'a>,
    pub(super) method: &'a str,
    pub(super) outcome: &'a Outcome,
    pub(super) decision: DecisionLabel,
    pub(super) status: u16,
    pub(super) reason: Option<&'a ProxyError>,
}

/// Count the request and write its access-log line.
/// `elapsed`: from the request's arrival to its answer's end.
pub(super) fn log_request(shared: &Shared, conn: &Conn, elapsed: Duration, done: &Done<'_>) {
    let Done {
        rid,
        method,
        outcome,
        decision,
        status,
        reason,
    } = *done;
    let route_label: &str = outcome.route.map_or("-", |i| &shared.route_names[i]);
    shared
        .metrics
        .record_request(outcome.route, decision, status, elapsed.as_secs_f64());
    // The subject as Display: exactly the identity header's RFC 4514 value (one backslash
    // before an escaped character; control characters are already escaped), so it can be
    // copied into a `subject:` rule. A plain &str field would be Debug-quoted in text logs.
    let (subject, fingerprint) = match &conn.identity {
        Some(id) => (id.subject_rfc4514.as_str(), id.fingerprint_hex.as_str()),
        None => ("-", "-"),
    };
    // Made into a string only when the access line is written.
    let rid_str = || rid.as_str();
    info!(
        request_id = rid_str(),
        route = route_label,
        decision = ?decision,
        status,
        method = %method,
        subject = %subject,
        fingerprint,
        upstream_status = outcome.upstream_status,
        signature = outcome.signature,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        // Only on lines of requests that did not get the upstream's answer.
        reason = reason.map(|e| tracing::field::display(Chain(e))),
        "request"
    );
}

/// The access line of a request whose future hyper dropped before it had an answer (the
/// client closed its connection or reset its HTTP/2 stream): status 499, so that every
/// request has its line and its count, as the contract asks.
pub(super) struct Unanswered<'a> {
    pub(super) shared: &'a Shared,
    pub(super) conn: &'a Conn,
    pub(super) rid: &'a HeaderValue,
    pub(super) method: &'a str,
    pub(super) start: Instant,
    pub(super) outcome: Outcome,
    pub(super) answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let done = Done {
            rid: Rid::Header(self.rid),
            method: self.method,
            outcome: &self.outcome,
            decision: DecisionLabel::allowed,
            status: CLIENT_CLOSED,
            // hyper drops request futures for one more reason: certgate's own shutdown,
            // once --shutdown-grace has passed.
            reason: Some(if self.shared.draining() {
                &ProxyError::ShutDown
            } else {
                &ProxyError::ClientGone
            }),
        };
        log_request(self.shared, self.conn, self.start.elapsed(), &done);
    }
}

/// An error and its sources, `: `-separated, for the access log's `reason`.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cur = self.0.source();
        while let Some(e) = cur {
            write!(f, ": {e}")?;
            cur = e.source();
        }
        Ok(())
    }
}
