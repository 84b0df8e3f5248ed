//! The `--allow` rule grammar: parse a rule, match it against a peer identity, print it back
//! as `--allow` takes it. PURE.

use crate::pki::dn::{oids, Dn};
use crate::pki::identity::PeerIdentity;

/// One `--allow NAME=RULE` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `any`: a verified certificate.
    Any,
    /// `public`: always, even with no certificate.
    Public,
    /// `subject:DN`: the whole subject equals DN.
    Subject(Dn),
    /// `issuer:DN`: the whole issuer equals DN.
    Issuer(Dn),
    /// `cn:V`, `o:V`, `ou:V`: some attribute of that type in the subject equals V exactly.
    Attr(AttrKind, String),
    /// `san-dns:NAME`, stored lowercase; `*.example.com` matches exactly one leftmost label.
    SanDns(String),
    /// `san-uri:URI`, exact.
    SanUri(String),
    /// `san-email:ADDR`, exact.
    SanEmail(String),
    /// `fingerprint:HEX`, SHA-256 of the leaf DER.
    Fingerprint([u8; 32]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    Cn,
    O,
    Ou,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    #[error("unknown rule kind {0:?} (expected any, public, subject:, issuer:, cn:, o:, ou:, san-dns:, san-uri:, san-email: or fingerprint:)")]
    UnknownKind(String),
    #[error("rule {kind}: needs a value after the colon")]
    EmptyValue { kind: &'static str },
    #[error("bad distinguished name: {0}")]
    Dn(#[from] crate::pki::dn::DnError),
    #[error("fingerprint must be 64 hex digits (SHA-256), colons allowed")]
    BadFingerprint,
    #[error("bad DNS name pattern {0:?}")]
    BadDnsName(String),
    #[error("rule {kind} takes no value")]
    UnexpectedValue { kind: &'static str },
    #[error("until={0:?}: expected an RFC 3339 UTC time such as 2027-03-01T00:00:00Z")]
    BadUntil(String),
}

impl std::str::FromStr for Rule {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Rule, RuleError> {
        let (kind, value) = match s.split_once(':') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (s.to_ascii_lowercase(), None),
        };
        let kind: &'static str = match kind.as_str() {
            "any" => "any",
            "public" => "public",
            "subject" => "subject",
            "issuer" => "issuer",
            "cn" => "cn",
            "o" => "o",
            "ou" => "ou",
            "san-dns" => "san-dns",
            "san-uri" => "san-uri",
            "san-email" => "san-email",
            "fingerprint" => "fingerprint",
            _ => return Err(RuleError::UnknownKind(s.to_string())),
        };
        // `any` and `public` stand alone; every other kind needs a non-empty value.
        let value = match (kind, value) {
            ("any", None) => return Ok(Rule::Any),
            ("public", None) => return Ok(Rule::Public),
            ("any" | "public", Some(_)) => return Err(RuleError::UnexpectedValue { kind }),
            (_, Some(v)) if !v.is_empty() => v,
            _ => return Err(RuleError::EmptyValue { kind }),
        };
        Ok(match kind {
            "subject" => Rule::Subject(Dn::parse(value)?),
            "issuer" => Rule::Issuer(Dn::parse(value)?),
            "cn" => Rule::Attr(AttrKind::Cn, value.to_string()),
            "o" => Rule::Attr(AttrKind::O, value.to_string()),
            "ou" => Rule::Attr(AttrKind::Ou, value.to_string()),
            "san-dns" => Rule::SanDns(parse_dns_pattern(value)?),
            "san-uri" => Rule::SanUri(value.to_string()),
            "san-email" => Rule::SanEmail(value.to_string()),
            _ => Rule::Fingerprint(parse_fingerprint(value)?),
        })
    }
}

/// Lowercase and check a `san-dns:` value: dot-separated labels of `[a-z0-9_-]` (1..=63
/// bytes, no leading or trailing `-`), at most 253 bytes, no trailing dot; `*` only as the
/// whole leftmost label and followed by at least one label.
pub(super) fn parse_dns_pattern(v: &str) -> Result<String, RuleError> {
    let name = v.to_ascii_lowercase();
    let bad = || RuleError::BadDnsName(v.to_string());
    if name.len() > 253 {
        return Err(bad());
    }
    let rest = match name.strip_prefix("*.") {
        Some(rest) => rest,
        None => name.as_str(),
    };
    for label in rest.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(bad());
        }
    }
    Ok(name)
}

/// 64 hex digits, case-insensitive, colons ignored.
pub(super) fn parse_fingerprint(v: &str) -> Result<[u8; 32], RuleError> {
    let digits: Vec<u8> = v.bytes().filter(|&b| b != b':').collect();
    if digits.len() != 64 {
        return Err(RuleError::BadFingerprint);
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or(RuleError::BadFingerprint)?;
        let lo = hex_val(pair[1]).ok_or(RuleError::BadFingerprint)?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

pub(super) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `rule` is a lowercase `san-dns:` pattern; `san` comes from the certificate.
pub(super) fn dns_matches(rule: &str, san: &str) -> bool {
    if rule.eq_ignore_ascii_case(san) {
        // Also the only way a wildcard SAN in the certificate can match: the identical pattern.
        return true;
    }
    let Some(suffix) = rule.strip_prefix("*.") else {
        return false;
    };
    if san.contains('*') {
        return false;
    }
    // Exactly one leftmost label: `a.example.com`, never `example.com` or `a.b.example.com`.
    match san.split_once('.') {
        Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(suffix),
        None => false,
    }
}

impl Rule {
    pub fn matches(&self, id: &PeerIdentity) -> bool {
        match self {
            Rule::Any | Rule::Public => true,
            Rule::Subject(dn) => id.subject == *dn,
            Rule::Issuer(dn) => id.issuer == *dn,
            Rule::Attr(kind, v) => {
                let oid = match kind {
                    AttrKind::Cn => &oids::CN,
                    AttrKind::O => &oids::O,
                    AttrKind::Ou => &oids::OU,
                };
                id.subject.text_values(oid).any(|x| x == v)
            }
            Rule::SanDns(pattern) => id.san_dns.iter().any(|s| dns_matches(pattern, s)),
            Rule::SanUri(u) => id.san_uri.iter().any(|s| s == u),
            Rule::SanEmail(e) => id.san_email.iter().any(|s| s == e),
            Rule::Fingerprint(fp) => id.fingerprint == *fp,
        }
    }
}

/// `[a-z0-9_-]+`: route and bundle names.
impl std::fmt::Display for Rule {
    /// The rule as `--allow` takes it (DNs in escaped RFC 4514, fingerprints as lowercase hex).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Any => f.write_str("any"),
            Rule::Public => f.write_str("public"),
            Rule::Subject(dn) => write!(f, "subject:{}", dn.to_rfc4514()),
            Rule::Issuer(dn) => write!(f, "issuer:{}", dn.to_rfc4514()),
            Rule::Attr(kind, v) => write!(f, "{}:{v}", kind.rule_name()),
            Rule::SanDns(v) => write!(f, "san-dns:{v}"),
            Rule::SanUri(v) => write!(f, "san-uri:{v}"),
            Rule::SanEmail(v) => write!(f, "san-email:{v}"),
            Rule::Fingerprint(fp) => write!(f, "fingerprint:{}", crate::pki::identity::hex(fp)),
        }
    }
}

impl AttrKind {
    /// The rule kind (`cn`, `o`, `ou`).
    pub fn rule_name(self) -> &'static str {
        match self {
            AttrKind::Cn => "cn",
            AttrKind::O => "o",
            AttrKind::Ou => "ou",
        }
    }
    pub(super) fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            AttrKind::Cn => oids::CN,
            AttrKind::O => oids::O,
            AttrKind::Ou => oids::OU,
        }
    }
}
