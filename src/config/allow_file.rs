//! `--allow-file NAME=PATH`: which route each file feeds, and reading one file whole (the
//! format itself is pure: `policy::parse_rules_file`). Read at start-up, where an error is
//! exit 2, and again by the reloader on every change, where an error keeps the old rules.

use crate::policy::{parse_rules_file, Policy, RouteRule, RuleError};
use std::path::PathBuf;
use std::sync::Arc;

/// One `--allow-file NAME=PATH`.
#[derive(Debug, Clone)]
pub struct AllowFile {
    /// Index of route NAME in `Policy::routes()`.
    pub route: usize,
    pub path: PathBuf,
    /// `path` as given, the source of its rules (`PATH:LINE`).
    pub label: Arc<str>,
    /// The rules read at start-up.
    pub initial: Vec<RouteRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum AllowFileError {
    #[error("--allow-file {value:?}: {problem}")]
    Flag { value: String, problem: String },
    #[error("--allow-file {path}: cannot read the file: {source}")]
    Read {
        path: Arc<str>,
        #[source]
        source: std::io::Error,
    },
    #[error("--allow-file {path}: line {line}: not UTF-8 text")]
    NotText { path: Arc<str>, line: usize },
    #[error("--allow-file {path}: line {line}: {source} (one rule per line, in the --allow grammar without NAME=)")]
    Rule {
        path: Arc<str>,
        line: usize,
        #[source]
        source: RuleError,
    },
}

impl AllowFileError {
    /// The file it is about (`None` for a malformed flag value).
    pub fn path(&self) -> Option<&str> {
        match self {
            AllowFileError::Flag { .. } => None,
            AllowFileError::Read { path, .. }
            | AllowFileError::NotText { path, .. }
            | AllowFileError::Rule { path, .. } => Some(path),
        }
    }
}

/// Parse the `--allow-file` values against the routes of `policy` and read every file.
pub fn load_all(values: &[String], policy: &Policy) -> Result<Vec<AllowFile>, AllowFileError> {
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        let err = |problem: String| AllowFileError::Flag {
            value: value.clone(),
            problem,
        };
        let (name, path) = value
            .split_once('=')
            .ok_or_else(|| err("expected NAME=PATH".into()))?;
        if path.is_empty() {
            return Err(err("PATH is empty".into()));
        }
        let route = policy.route_index(name).ok_or_else(|| {
            err(format!(
                "unknown route {name:?} (declare it with --route {name}=PREFIX)"
            ))
        })?;
        let mut file = AllowFile {
            route,
            path: PathBuf::from(path),
            label: Arc::from(path),
            initial: Vec::new(),
        };
        file.initial = file.read()?;
        out.push(file);
    }
    Ok(out)
}

impl AllowFile {
    /// Read and parse the whole file: all its rules, or the first error.
    pub fn read(&self) -> Result<Vec<RouteRule>, AllowFileError> {
        let bytes = std::fs::read(&self.path).map_err(|source| AllowFileError::Read {
            path: self.label.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            AllowFileError::NotText {
                path: self.label.clone(),
                line: 1 + valid.iter().filter(|&&b| b == b'\n').count(),
            }
        })?;
        parse_rules_file(&text, &self.label).map_err(|e| AllowFileError::Rule {
            path: self.label.clone(),
            line: e.line,
            source: e.source,
        })
    }
}
