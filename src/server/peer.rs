//! What a connection knows about its peer: the verified identity (computed once per TLS
//! connection), its authorisation per trust generation (re-checked after a trust change),
//! the remembered policy decisions (per policy generation, and never past the `until=` of
//! the rule they rest on), and the activity counters the lifecycle reads.

use super::state::Shared;
use crate::http::identity_headers::IdentityHeaders;
use crate::pki::identity::PeerIdentity;
use crate::pki::trust::VerifyFailure;
use crate::policy::Decision;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tracing::warn;

/// The authenticated side of a connection for one trust generation.
#[derive(Debug)]
pub struct ConnAuth {
    pub generation: u64,
    /// Bundles the chain verifies against in this generation (empty: refused now).
    pub bundles: Vec<String>,
    /// Set when a re-check after a trust change refused the chain.
    pub refused: Option<VerifyFailure>,
    /// Policy decisions already taken for this connection in this trust generation, by
    /// route (a decision depends only on the route, the peer and the rules).
    decisions: Mutex<Vec<Option<Remembered>>>,
}

/// A decision taken under one policy generation, right until `valid_until` (if any).
#[derive(Debug, Clone)]
struct Remembered {
    policy_generation: u64,
    valid_until: Option<SystemTime>,
    decision: Decision,
}

impl ConnAuth {
    pub(crate) fn new(
        generation: u64,
        bundles: Vec<String>,
        refused: Option<VerifyFailure>,
    ) -> ConnAuth {
        ConnAuth {
            generation,
            bundles,
            refused,
            decisions: Mutex::new(Vec::new()),
        }
    }

    /// The decision for `route` under policy generation `policy_generation`: remembered
    /// from an earlier request when it was taken under the same generation and has not
    /// reached its `valid_until`; else taken by `decide(now)`, which also says until when
    /// it holds, and remembered.
    pub fn decision(
        &self,
        route: usize,
        policy_generation: u64,
        decide: impl FnOnce(SystemTime) -> (Decision, Option<SystemTime>),
    ) -> Decision {
        let mut cache = self.decisions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Some(r)) = cache.get(route) {
            // The clock is read only for a decision that rests on a rule with `until=`.
            if r.policy_generation == policy_generation
                && r.valid_until.is_none_or(|u| SystemTime::now() < u)
            {
                return r.decision.clone();
            }
        }
        let (decision, valid_until) = decide(SystemTime::now());
        if cache.len() <= route {
            // Exactly as many slots as routes seen: a connection is held per client, and
            // most use one route.
            let more = route + 1 - cache.len();
            cache.reserve_exact(more);
            cache.resize(route + 1, None);
        }
        cache[route] = Some(Remembered {
            policy_generation,
            valid_until,
            decision: decision.clone(),
        });
        decision
    }
}

/// How often a connection's requests read the wall clock to see whether its client
/// certificate expired meanwhile (a read costs about 20 ns in a VM: not on every request).
const EXPIRY_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Per-connection context that requests read.
pub struct Conn {
    pub peer: SocketAddr,
    /// `peer`'s address as a header value (`X-Forwarded-For`).
    pub peer_ip: http::HeaderValue,
    /// `None` when no certificate was presented (optional mode).
    pub identity: Option<Arc<PeerIdentity>>,
    /// Identity headers built once; `Err` fails requests closed.
    pub headers: Option<Result<IdentityHeaders, crate::http::headers::HeaderError>>,
    pub(crate) auth: Mutex<Arc<ConnAuth>>,
    pub(crate) in_flight: AtomicUsize,
    /// Requests received so far (HTTP/1 arrival order), for the smuggling guard.
    pub(crate) requests_seen: AtomicU64,
    /// Set when an exchange on this HTTP/1 connection ends it (a `Connection: close` request
    /// or answer, an HTTP/1.0 client): hyper then closes it, and it must not park.
    pub(crate) closing: AtomicBool,
    pub(crate) framing: Arc<crate::http::framing::ConflictFlag>,
    /// Progress of what is being sent to the client (`--send-timeout`).
    pub(crate) send: Arc<super::send::SendWatch>,
    /// Milliseconds since `started` of the last request activity.
    pub(crate) last_active_ms: AtomicU64,
    /// Milliseconds since `started` from which the next request reads the wall clock for
    /// the certificate's expiry (`Conn::auth`).
    pub(crate) expiry_check_ms: AtomicU64,
    pub(crate) started: Instant,
}

impl Conn {
    /// The connection's authorisation in the current trust generation: re-verifies the
    /// stored chain once per connection per change (revocation reaches open connections).
    /// `now`: the request's arrival.
    pub fn auth(&self, shared: &Shared, now: Instant) -> Arc<ConnAuth> {
        let current = shared.live.generation();
        let mut guard = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        // A certificate that expires while its connection stays open stops counting then:
        // within a second, as the wall clock is read at most once a second per connection.
        if let Some(id) = &self.identity {
            if guard.refused.is_none() && self.wall_clock_due(now) && unix_now() > id.not_after_unix
            {
                warn!(peer = %self.peer, subject = %id.subject_rfc4514,
                    "client certificate expired while its connection was open; its requests now get 403");
                let expired = VerifyFailure::Expired {
                    not_after: rustls::pki_types::UnixTime::since_unix_epoch(Duration::from_secs(
                        id.not_after_unix.max(0) as u64,
                    )),
                };
                *guard = Arc::new(ConnAuth::new(guard.generation, Vec::new(), Some(expired)));
            }
        }
        if guard.generation == current {
            return guard.clone();
        }
        let live = shared.live.load();
        let next = match &self.identity {
            None => ConnAuth::new(live.generation, Vec::new(), None),
            Some(id) => match live.trust.verify(
                &id.leaf_der,
                &id.chain_der,
                rustls::pki_types::UnixTime::now(),
            ) {
                Ok(bundles) => ConnAuth::new(live.generation, bundles, None),
                Err(f) => {
                    warn!(peer = %self.peer, subject = %id.subject_rfc4514, reason = %f,
                        "open connection's client certificate is refused by the reloaded trust; its requests now get 403");
                    ConnAuth::new(live.generation, Vec::new(), Some(f))
                }
            },
        };
        *guard = Arc::new(next);
        guard.clone()
    }

    /// Whether the wall clock is to be read for the certificate's expiry at `now`: at the
    /// first request, then once per `EXPIRY_CHECK_EVERY` of the connection's requests.
    fn wall_clock_due(&self, now: Instant) -> bool {
        let ms = now.saturating_duration_since(self.started).as_millis() as u64;
        let due = self.expiry_check_ms.load(Ordering::Relaxed);
        if ms < due {
            return false;
        }
        self.expiry_check_ms.store(
            ms + EXPIRY_CHECK_EVERY.as_millis() as u64,
            Ordering::Relaxed,
        );
        true
    }

    pub(crate) fn touch(&self) {
        self.touch_at(Instant::now());
    }

    /// Request activity at `at` (a time the caller has read already).
    pub(crate) fn touch_at(&self, at: Instant) {
        self.last_active_ms.store(
            at.saturating_duration_since(self.started).as_millis() as u64,
            Ordering::Relaxed,
        );
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
