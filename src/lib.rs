#![forbid(unsafe_code)]
//! certgate: a mutual-TLS sidecar.
//!
//! One request's path (folders are layers; each uses only the layers below it):
//!
//! ```text
//!  client ──TLS──▶ server/listener.rs ── accept, --max-connections, handshake deadline
//!                      │   pki/tls.rs (the one rustls builder) + pki/trust.rs (the verifier)
//!                      │   pki/identity.rs: PeerIdentity, computed once per TLS connection
//!                      ▼
//!                  server/conn.rs ── HTTP/1 (parks when idle) or HTTP/2 by ALPN; deadlines
//!                      │   server/peer.rs: what the connection knows of its peer
//!                      ▼
//!                  server/proxy.rs ── forward(): check_request → policy::normalize_path →
//!                      │   authorise (policy::Policy::decide_route, PURE, remembered per
//!                      │   connection, route and trust generation) → set_headers
//!                      │   (http/headers.rs: strip, then set) → send
//!                      ▼
//!                  http/upstream.rs ── kept-alive HTTP/1.1 to http://loopback or unix:/socket
//!                      │   http/prefetch.rs: the answer's first body bytes read ahead
//!                      │   (≤ 2 ms) so head and body reach the client in one write
//!
//!  one reload: pki/watch.rs (notify, SIGHUP) → server/reloader.rs → pki/material.rs
//!              (rebuild off to the side, swap one ArcSwap pointer, keep the last good)
//!  side paths: server/admin.rs + ops/metrics.rs, ops/handshake_log.rs, ops/expiry.rs
//!  layers:     pki < policy < http < payload < config < ops < server < tools
//!              (payload/: the signature checks of --verify routes, PURE)
//! ```
//!
//! See docs/architecture.md for the rules that keep it so.
pub mod config;
pub mod http;
pub mod ops;
pub mod payload;
pub mod pki;
pub mod policy;
pub mod server;
pub mod tools;

pub use server::run::{run, run_with_ready, shutdown_signal, Ready, RunError};
