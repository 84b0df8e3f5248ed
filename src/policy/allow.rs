//! A route's rule as it is in force: the `--allow` grammar (`rule.rs`), the optional
//! ` until=RFC3339` end, and where it came from (`--allow` or `file:line` of an
//! `--allow-file`). Also the allow-file format. PURE: text in, rules out; no file reading.

use super::rule::{Rule, RuleError};
use std::sync::Arc;
use std::time::SystemTime;

/// Where a rule came from (shown by `/rules` and in the logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// An `--allow NAME=RULE` flag (or `CERTGATE_ALLOW`).
    Flag,
    /// Line `line` (1-based) of the `--allow-file` at `path`.
    File { path: Arc<str>, line: usize },
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleSource::Flag => f.write_str("--allow"),
            RuleSource::File { path, line } => write!(f, "{path}:{line}"),
        }
    }
}

/// One rule of a route, with its end and its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub rule: Rule,
    /// ` until=TIME`: from this instant on the rule allows nothing.
    pub until: Option<SystemTime>,
    pub source: RuleSource,
}

impl RouteRule {
    pub fn flag(rule: Rule) -> RouteRule {
        RouteRule {
            rule,
            until: None,
            source: RuleSource::Flag,
        }
    }

    /// In force at `now` (an `until` is the first instant it is not).
    pub fn active(&self, now: SystemTime) -> bool {
        self.until.is_none_or(|u| now < u)
    }

    /// `until` as RFC 3339 UTC, seconds precision (as the rule was written, when it was).
    pub fn until_rfc3339(&self) -> Option<String> {
        self.until.map(rfc3339)
    }
}

impl std::fmt::Display for RouteRule {
    /// The rule as `--allow` (after `NAME=`) and an allow file take it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.rule)?;
        if let Some(u) = self.until_rfc3339() {
            write!(f, " until={u}")?;
        }
        Ok(())
    }
}

/// An instant as RFC 3339 UTC (`2027-03-01T00:00:00Z`; sub-seconds kept when present).
pub fn rfc3339(t: SystemTime) -> String {
    let nanos = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    if nanos == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339(t).to_string()
    }
}

/// Parse one rule with its optional ` until=TIME` suffix.
pub fn parse_rule(s: &str) -> Result<(Rule, Option<SystemTime>), RuleError> {
    let s = s.trim();
    let (rule, until) = match s.rsplit_once(" until=") {
        Some((rule, time)) => {
            let t = humantime::parse_rfc3339(time.trim())
                .map_err(|_| RuleError::BadUntil(time.trim().to_string()))?;
            (rule.trim_end(), Some(t))
        }
        None => (s, None),
    };
    Ok((rule.parse()?, until))
}

/// A line of an allow file that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: {source}")]
pub struct LineError {
    pub line: usize,
    #[source]
    pub source: RuleError,
}

/// An allow file's text: one rule per line in the `--allow` grammar without `NAME=`
/// (` until=` allowed); blank lines and lines starting with `#` are ignored. The whole
/// file or nothing: the first bad line is the error. `path` becomes each rule's source.
pub fn parse_rules_file(text: &str, path: &Arc<str>) -> Result<Vec<RouteRule>, LineError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (rule, until) = parse_rule(t).map_err(|source| LineError { line, source })?;
        out.push(RouteRule {
            rule,
            until,
            source: RuleSource::File {
                path: path.clone(),
                line,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn until_suffix_is_parsed_and_printed_back() {
        let (rule, until) = parse_rule("cn:svc until=2027-03-01T00:00:00Z").unwrap();
        assert_eq!(rule, Rule::Attr(super::super::AttrKind::Cn, "svc".into()));
        assert_eq!(until, Some(at(1_803_859_200)));
        let r = RouteRule {
            rule,
            until,
            source: RuleSource::Flag,
        };
        assert_eq!(r.to_string(), "cn:svc until=2027-03-01T00:00:00Z");
        assert!(r.active(at(1_803_859_199)));
        assert!(!r.active(at(1_803_859_200)));
        assert_eq!(parse_rule("any").unwrap(), (Rule::Any, None));
    }

    #[test]
    fn a_bad_until_is_an_error_not_part_of_the_value() {
        assert_eq!(
            parse_rule("cn:svc until=tomorrow"),
            Err(RuleError::BadUntil("tomorrow".into()))
        );
        assert_eq!(
            parse_rule("cn:svc until=2027-03-01"),
            Err(RuleError::BadUntil("2027-03-01".into()))
        );
        // A DN value that merely contains "until" stays a value.
        let (rule, until) = parse_rule("o:Open until further notice").unwrap();
        assert_eq!(until, None);
        assert_eq!(rule.to_string(), "o:Open until further notice");
    }

    #[test]
    fn files_skip_blanks_and_comments_and_name_the_line() {
        let path: Arc<str> = Arc::from("/etc/certgate/allow/webhooks.rules");
        let text = "# senders of the webhooks route\n\ncn:a\r\n  # indented comment\nfingerprint:AB:ab:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01 until=2027-03-01T00:00:00Z\n";
        let rules = parse_rules_file(text, &path).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules[0].source,
            RuleSource::File {
                path: path.clone(),
                line: 3
            }
        );
        assert_eq!(rules[0].source.to_string(), format!("{path}:3"));
        assert_eq!(rules[1].until, Some(at(1_803_859_200)));
        let err = parse_rules_file("cn:a\nwebhooks=cn:b\n", &path).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(matches!(err.source, RuleError::UnknownKind(_)));
        assert!(parse_rules_file("", &path).unwrap().is_empty());
    }
}
