//! `certgate demo`: a throwaway PKI, a built-in echo upstream, the proxy on localhost, and
//! printed curl commands; `--self-test` runs them and fails on any surprise.

use crate::cli::DemoArgs;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Setup(String),
}

/// Ok(true): everything behaved (or not a self-test); Ok(false): a self-test surprise.
pub async fn run(args: &DemoArgs) -> Result<bool, DemoError> {
    let _ = args;
    Err(DemoError::Setup("demo is being implemented".into()))
}
