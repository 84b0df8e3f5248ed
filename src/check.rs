//! `certgate check`: run exactly the verification and route policy of `run`, offline, on a
//! certificate chain, and print the verdict with its reason.

use crate::cli::CheckArgs;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Ok(true): allowed (exit 0); Ok(false): denied (exit 1); Err: usage or input error (exit 2).
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> Result<bool, CheckError> {
    let _ = (args, out);
    Err(CheckError::Usage("check is being implemented".into()))
}
