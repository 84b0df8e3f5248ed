//! The outcome of `certgate check` and of each of its steps: allowed or not, a one-line
//! headline (printed after `ALLOWED: ` / `DENIED: `) and detail lines.

/// The outcome: a one-line headline (after `ALLOWED: ` / `DENIED: `) and detail lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub headline: String,
    pub details: Vec<String>,
}

impl Verdict {
    pub(super) fn allow(headline: String) -> Verdict {
        Verdict {
            allowed: true,
            headline,
            details: Vec::new(),
        }
    }
    pub(super) fn deny(headline: String) -> Verdict {
        Verdict {
            allowed: false,
            headline,
            details: Vec::new(),
        }
    }
}
