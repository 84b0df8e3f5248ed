//! `certgate inspect FILE...`: print every certificate in PEM/DER files with its subject in
//! both forms, issuer, serial, validity, SANs, fingerprint, key, usages and ready-to-paste
//! `--allow` rules.

use crate::cli::InspectArgs;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Exit code 0, or an error (exit code 2).
pub fn run(args: &InspectArgs, out: &mut dyn Write) -> Result<(), InspectError> {
    let _ = (args, out);
    Err(InspectError::File {
        path: String::new(),
        problem: "inspect is being implemented".into(),
    })
}
