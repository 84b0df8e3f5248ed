//! The rules in force: one policy generation behind an `ArcSwap` (the `--allow` rules plus
//! the last good rules of each `--allow-file`), its reload (each file read whole and
//! swapped whole; a bad file keeps its previous rules), and the `/rules` JSON.

use crate::config::allow_file::{AllowFile, AllowFileError};
use crate::config::settings::UpstreamUrl;
use crate::policy::{Policy, RouteRule};
use arc_swap::ArcSwap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

/// One generation of rules. Connections remember decisions per generation.
#[derive(Debug)]
pub struct PolicyGen {
    /// Bumped by every change of rules; starts at 1.
    pub generation: u64,
    pub policy: Policy,
    /// The rules in force of each `--allow-file` (indexed like `allow_files`).
    files: Vec<Arc<[RouteRule]>>,
}

/// The swap point of the rules, read once per request.
pub struct LivePolicy {
    current: ArcSwap<PolicyGen>,
}

/// The outcome of one reload of the allow files.
#[derive(Debug)]
pub struct RulesReloaded {
    pub current: Arc<PolicyGen>,
    /// Indexes of the files whose rules changed (and are now in force).
    pub changed: Vec<usize>,
    /// Files that could not be read or parsed: their previous rules stay.
    pub errors: Vec<AllowFileError>,
}

impl LivePolicy {
    /// Generation 1: `policy` (flags and files as read at start-up) and those file rules.
    pub fn new(policy: Policy, files: &[AllowFile]) -> LivePolicy {
        LivePolicy {
            current: ArcSwap::from_pointee(PolicyGen {
                generation: 1,
                policy,
                files: files
                    .iter()
                    .map(|f| Arc::from(f.initial.as_slice()))
                    .collect(),
            }),
        }
    }

    /// The generation in force: one atomic load, no reference count taken.
    pub fn load(&self) -> arc_swap::Guard<Arc<PolicyGen>> {
        self.current.load()
    }

    /// The generation in force, as an owned reference (for background tasks).
    pub fn load_full(&self) -> Arc<PolicyGen> {
        self.current.load_full()
    }

    /// Read every allow file; swap in a new generation when some file's rules changed.
    /// Only the reloader calls this (one writer).
    pub fn reload(&self, files: &[AllowFile]) -> RulesReloaded {
        let old = self.current.load_full();
        let mut errors = Vec::new();
        let mut changed = Vec::new();
        let mut next: Vec<Arc<[RouteRule]>> = old.files.clone();
        for (i, f) in files.iter().enumerate() {
            match f.read() {
                Ok(rules) if *rules != *old.files[i] => {
                    next[i] = Arc::from(rules);
                    changed.push(i);
                }
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
        }
        if changed.is_empty() {
            return RulesReloaded {
                current: old,
                changed,
                errors,
            };
        }
        let policy = old
            .policy
            .with_file_rules(files.iter().zip(&next).map(|(f, r)| (f.route, &r[..])));
        let current = Arc::new(PolicyGen {
            generation: old.generation + 1,
            policy,
            files: next,
        });
        self.current.store(current.clone());
        RulesReloaded {
            current,
            changed,
            errors,
        }
    }
}

/// `GET /rules`: routes, prefixes, trust bundles, upstreams (`upstreams[route_upstream[i]]`
/// for route `i`) and every rule with its source and `until`, and the policy generation, as
/// JSON.
pub fn rules_json(
    gen: &PolicyGen,
    upstreams: &[UpstreamUrl],
    route_upstream: &[usize],
    now: SystemTime,
) -> String {
    let mut out = String::new();
    let _ = write!(out, "{{\"generation\":{},\"routes\":[", gen.generation);
    for (i, r) in gen.policy.routes().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let upstream = route_upstream
            .get(i)
            .and_then(|&u| upstreams.get(u))
            .map(|u| u.to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            "{{\"name\":{},\"prefix\":{},\"trust_bundle\":{},\"upstream\":{},\"rules\":[",
            json_str(&r.name),
            json_str(&r.prefix),
            json_str(&r.trust_bundle),
            json_str(&upstream)
        );
        for (j, rule) in r.rules.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"rule\":{},\"source\":{},\"until\":{},\"active\":{}}}",
                json_str(&rule.rule.to_string()),
                json_str(&rule.source.to_string()),
                rule.until_rfc3339().map_or("null".into(), |u| json_str(&u)),
                rule.active(now)
            );
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::json_str;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_str(r#"CN=a\,b "x""#), r#""CN=a\\,b \"x\"""#);
        assert_eq!(json_str("a\u{1}\n"), "\"a\\u0001\\n\"");
    }
}
