#![forbid(unsafe_code)]
//! certgate: a mutual-TLS sidecar.
//!
//! ```text
//!  client ──TLS──▶ server.rs ── accept, handshake deadline (tls.rs: rustls + trust.rs verifier)
//!                      │        identity.rs: PeerIdentity, once per connection
//!                      │        HTTP/1: idle connections park (TLS state only) between requests
//!                      ▼
//!                  proxy.rs ── policy::normalize_path ─▶ policy::Policy::decide (PURE,
//!                      │        remembered per connection, route and trust generation)
//!                      │        headers.rs: strip inbound identity headers, set verified ones
//!                      ▼
//!                  upstream.rs ── kept-alive HTTP/1.1 (own small pool over hyper's client
//!                                 connection) to http://loopback or unix:/socket
//!
//!  side paths: reload.rs (ArcSwap of live material), admin.rs + metrics.rs,
//!              handshake_log.rs (why a handshake was refused)
//! ```
pub mod config;
pub mod http;
pub mod ops;
pub mod pki;
pub mod policy;
pub mod server;
pub mod tools;

pub use server::run::{run, run_with_ready, shutdown_signal, Ready, RunError};
