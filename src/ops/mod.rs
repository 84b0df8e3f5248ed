//! Operating it: metrics, the handshake-rejection log, expiry reporting.

pub mod expiry;
pub mod handshake_log;
pub mod metrics;
