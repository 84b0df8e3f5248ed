//! Operating it: metrics (and the process metrics collector), the handshake-rejection log,
//! expiry reporting.

pub mod expiry;
pub mod handshake_log;
pub mod metrics;
pub mod process_metrics;
