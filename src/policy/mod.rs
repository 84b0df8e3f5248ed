//! Routes, rules and the allow/deny decision. PURE: plain data in, a `Decision` out;
//! no sockets, no clocks. The proxy calls `Policy::decide` once per request.

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

/// One `--route NAME=PREFIX` with everything attached to it by other flags.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub prefix: String,
    /// OR-ed; empty denies everything.
    pub rules: Vec<Rule>,
    /// `--route-trust NAME=BUNDLE`, `default` unless set.
    pub trust_bundle: String,
    /// `--route-upstream NAME=URL`, unparsed; `None` means `--upstream`.
    pub upstream: Option<String>,
}

/// The authenticated peer of a request: its identity and the names of the trust bundles
/// its chain verified against (computed once per connection per trust generation).
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub identity: &'a PeerIdentity,
    pub bundles: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `route` indexes `Policy::routes()`, `rule` that route's `rules`.
    Allow {
        route: usize,
        rule: usize,
    },
    NoRoute,
    /// Route is not public and no certificate was presented (401).
    Unauthenticated {
        route: usize,
    },
    /// 403.
    Forbidden {
        route: usize,
        reason: Forbidden,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// The chain did not verify against the route's bundle.
    WrongBundle { required: String },
    /// The route has no `--allow` rule.
    NoRules,
    /// No rule of the route matched.
    NoRuleMatched,
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// Sorted by prefix length, longest first.
    routes: Vec<Route>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("--route {value:?}: {problem}")]
    Route { value: String, problem: String },
    #[error("--allow {value:?}: {problem}")]
    Allow { value: String, problem: String },
    #[error("--route-trust {value:?}: {problem}")]
    RouteTrust { value: String, problem: String },
    #[error("--route-upstream {value:?}: {problem}")]
    RouteUpstream { value: String, problem: String },
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
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("encoded slash or backslash in path")]
    EncodedSeparator,
    #[error("dot segments climb above the root")]
    AboveRoot,
    #[error("bad percent-encoding or forbidden byte in path")]
    BadEncoding,
    /// `;` starts path parameters, which servlet containers strip before routing
    /// (`/admin;x` is `/admin`, `/..;/` is `/../`): refused so no prefix can be dodged.
    #[error("path parameters (`;`) in path")]
    PathParams,
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
fn parse_dns_pattern(v: &str) -> Result<String, RuleError> {
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
fn parse_fingerprint(v: &str) -> Result<[u8; 32], RuleError> {
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

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `rule` is a lowercase `san-dns:` pattern; `san` comes from the certificate.
fn dns_matches(rule: &str, san: &str) -> bool {
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
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Policy {
    /// Build from the raw values of `--route`, `--allow`, `--route-trust`, `--route-upstream`.
    /// Errors name the flag and the problem: malformed values, bad route names, duplicate
    /// route names, unknown route names in the other flags, malformed rules.
    pub fn from_flags(
        routes: &[String],
        allows: &[String],
        route_trust: &[String],
        route_upstream: &[String],
    ) -> Result<Policy, PolicyError> {
        let mut out: Vec<Route> = Vec::with_capacity(routes.len());
        for value in routes {
            let err = |problem: String| PolicyError::Route {
                value: value.clone(),
                problem,
            };
            let (name, prefix) = value
                .split_once('=')
                .ok_or_else(|| err("expected NAME=PREFIX".into()))?;
            if !valid_name(name) {
                return Err(err(format!("route name {name:?} must match [a-z0-9_-]+")));
            }
            if !prefix.starts_with('/') {
                return Err(err(format!("prefix {prefix:?} must start with '/'")));
            }
            match normalize_path(prefix) {
                Ok(n) if n == prefix => {}
                Ok(n) => {
                    return Err(err(format!(
                        "prefix {prefix:?} is not in normalized form (requests are matched after normalization; write {n:?})"
                    )))
                }
                Err(e) => return Err(err(format!("prefix {prefix:?}: {e}"))),
            }
            if prefix.contains(['?', '#']) {
                return Err(err(format!(
                    "prefix {prefix:?} must not contain '?' or '#' (queries are not matched)"
                )));
            }
            if out.iter().any(|r| r.name == name) {
                return Err(err(format!("duplicate route name {name:?}")));
            }
            if let Some(r) = out.iter().find(|r| r.prefix == prefix) {
                return Err(err(format!(
                    "prefix {prefix:?} is already used by route {:?}",
                    r.name
                )));
            }
            out.push(Route {
                name: name.to_string(),
                prefix: prefix.to_string(),
                rules: Vec::new(),
                trust_bundle: "default".to_string(),
                upstream: None,
            });
        }

        for value in allows {
            let err = |problem: String| PolicyError::Allow {
                value: value.clone(),
                problem,
            };
            let (name, rule) = value
                .split_once('=')
                .ok_or_else(|| err("expected NAME=RULE".into()))?;
            let route = find_route(&mut out, name).ok_or_else(|| err(unknown_route(name)))?;
            let rule: Rule = rule.parse().map_err(|e: RuleError| err(e.to_string()))?;
            route.rules.push(rule);
        }

        let mut trust_set: Vec<&str> = Vec::new();
        for value in route_trust {
            let err = |problem: String| PolicyError::RouteTrust {
                value: value.clone(),
                problem,
            };
            let (name, bundle) = value
                .split_once('=')
                .ok_or_else(|| err("expected NAME=BUNDLE".into()))?;
            if !valid_name(bundle) {
                return Err(err(format!(
                    "bundle name {bundle:?} must match [a-z0-9_-]+"
                )));
            }
            let route = find_route(&mut out, name).ok_or_else(|| err(unknown_route(name)))?;
            if trust_set.contains(&name) {
                return Err(err(format!("route {name:?} already has a --route-trust")));
            }
            trust_set.push(name);
            route.trust_bundle = bundle.to_string();
        }

        for value in route_upstream {
            let err = |problem: String| PolicyError::RouteUpstream {
                value: value.clone(),
                problem,
            };
            let (name, url) = value
                .split_once('=')
                .ok_or_else(|| err("expected NAME=URL".into()))?;
            if url.is_empty() {
                return Err(err("empty upstream URL".into()));
            }
            let route = find_route(&mut out, name).ok_or_else(|| err(unknown_route(name)))?;
            if route.upstream.is_some() {
                return Err(err(format!(
                    "route {name:?} already has a --route-upstream"
                )));
            }
            route.upstream = Some(url.to_string());
        }

        Ok(Policy::new(out))
    }
    pub fn new(mut routes: Vec<Route>) -> Policy {
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Policy { routes }
    }
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
    /// Index of the longest prefix matching `path` on a segment boundary.
    pub fn match_route(&self, path: &str) -> Option<usize> {
        // Routes are sorted longest prefix first, so the first match is the longest.
        self.routes
            .iter()
            .position(|r| prefix_matches(&r.prefix, path))
    }
    /// `path` is already normalized (see `normalize_path`).
    pub fn decide(&self, path: &str, peer: Option<Peer<'_>>) -> Decision {
        // --route: the longest matching prefix picks the route.
        match self.match_route(path) {
            None => Decision::NoRoute,
            Some(route) => self.decide_route(route, peer),
        }
    }

    /// The decision for a request on `route` (from `match_route`): it depends on the route
    /// and the peer only, so a connection can keep it for its requests to that route.
    pub fn decide_route(&self, route: usize, peer: Option<Peer<'_>>) -> Decision {
        let r = &self.routes[route];
        // --allow NAME=public: open to everyone, certificate or not, whatever its bundle.
        if let Some(rule) = r.rules.iter().position(|x| matches!(x, Rule::Public)) {
            return Decision::Allow { route, rule };
        }
        // --client-auth optional: every other route demands a verified certificate.
        let Some(peer) = peer else {
            return Decision::Unauthenticated { route };
        };
        // --allow: a route without any rule denies everything.
        if r.rules.is_empty() {
            return Decision::Forbidden {
                route,
                reason: Forbidden::NoRules,
            };
        }
        // --route-trust: the chain must have verified against the route's bundle.
        if !peer.bundles.contains(&r.trust_bundle) {
            return Decision::Forbidden {
                route,
                reason: Forbidden::WrongBundle {
                    required: r.trust_bundle.clone(),
                },
            };
        }
        // --allow: rules are OR-ed; the first that matches wins.
        match r.rules.iter().position(|x| x.matches(peer.identity)) {
            Some(rule) => Decision::Allow { route, rule },
            None => Decision::Forbidden {
                route,
                reason: Forbidden::NoRuleMatched,
            },
        }
    }
    /// True when every route allows `public` (then no trust anchor is required).
    pub fn all_public(&self) -> bool {
        !self.routes.is_empty() && self.routes.iter().all(|r| r.rules.contains(&Rule::Public))
    }
}

fn find_route<'a>(routes: &'a mut [Route], name: &str) -> Option<&'a mut Route> {
    routes.iter_mut().find(|r| r.name == name)
}

fn unknown_route(name: &str) -> String {
    format!("unknown route {name:?} (declare it with --route {name}=PREFIX)")
}

/// Segment-boundary prefix match: `/webhooks` matches `/webhooks` and `/webhooks/a`, never
/// `/webhooksX`; a prefix ending in `/` (including `/` itself) matches everything below it.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

/// RFC 3986 normalisation of a request path (no query): decode percent-encoded unreserved
/// characters, refuse `%2F`/`%5C`/`%00`/raw `\`, remove dot segments, refuse climbing above `/`.
///
/// Other escapes are kept with uppercase hex (`%c3%a9` becomes `%C3%A9`); raw control
/// characters are refused as `BadEncoding`. Empty segments (`//`) are merged and a raw `;`
/// (path parameters) is refused, so that what is matched is what any upstream framework
/// will route; the upstream receives exactly the path that was matched.
pub fn normalize_path(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Most paths are already normal: one copy, no decoding or segment list.
    if is_normal(path) {
        return Ok(path.to_owned());
    }
    let decoded = decode_unreserved(path.as_bytes())?;
    remove_dot_segments(&decoded)
}

/// True when `normalize_path` would return `path` unchanged: no percent-encoding, no byte it
/// refuses, no empty segment but a trailing one, no dot segment.
fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.iter()
        .any(|&c| matches!(c, b'%' | b'\\' | b';') || c < 0x20 || c == 0x7f)
    {
        return false;
    }
    let segments = b[1..].split(|&c| c == b'/');
    let count = b.iter().filter(|&&c| c == b'/').count();
    segments
        .enumerate()
        .all(|(i, seg)| !(seg.is_empty() && i + 1 != count || seg == b"." || seg == b".."))
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn decode_unreserved(input: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'%' => {
                let (Some(&h), Some(&l)) = (input.get(i + 1), input.get(i + 2)) else {
                    return Err(PathError::BadEncoding);
                };
                let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
                    return Err(PathError::BadEncoding);
                };
                let b = (h << 4) | l;
                match b {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0 => return Err(PathError::BadEncoding),
                    b if is_unreserved(b) => out.push(b as char),
                    _ => {
                        out.push('%');
                        out.push(UPPER_HEX[h as usize] as char);
                        out.push(UPPER_HEX[l as usize] as char);
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::EncodedSeparator),
            b if b < 0x20 || b == 0x7f => return Err(PathError::BadEncoding),
            _ => {
                // Copy one whole UTF-8 character (the input is a &str, so this is safe to slice).
                let len = utf8_len(input[i]);
                let end = (i + len).min(input.len());
                out.push_str(
                    std::str::from_utf8(&input[i..end]).map_err(|_| PathError::BadEncoding)?,
                );
                i = end;
            }
        }
    }
    Ok(out)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// RFC 3986 §5.2.4 on an absolute path, segment by segment, refusing to pop above the root.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    // `path` starts with '/', so the first split element is empty; skip it.
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            // Empty segments (`//`) are merged, as nginx's default `merge_slashes` does, so
            // `//admin` is judged and forwarded as `/admin`; a trailing `/` is kept.
            "" if i != last => continue,
            s if s.contains(';') => return Err(PathError::PathParams),
            "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A path ending in `/.` or `/..` keeps its trailing slash, as RFC 3986 does.
        if i == last {
            out.push("");
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// Explaining denials (`certgate check`): why a rule does not match, and which rule of a
// route came nearest. PURE, and only for people: `decide` never calls these.
// ---------------------------------------------------------------------------------------

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
    fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            AttrKind::Cn => oids::CN,
            AttrKind::O => oids::O,
            AttrKind::Ou => oids::OU,
        }
    }
}

/// Why one rule does not match a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// How close the certificate came, 0 (nothing in common) to 1000 (identical), used to
    /// pick the rule worth showing; a heuristic, never a decision.
    pub closeness: u16,
    /// In words, naming the differing attribute and both values.
    pub why: String,
}

impl Rule {
    /// `None` when the rule matches `id`; otherwise why not.
    pub fn explain_miss(&self, id: &PeerIdentity) -> Option<Miss> {
        if self.matches(id) {
            return None;
        }
        let miss = |closeness: u16, why: String| Some(Miss { closeness, why });
        match self {
            Rule::Any | Rule::Public => None,
            Rule::Subject(want) => miss(
                dn_closeness(&id.subject, want),
                format!("subject {}", dn_difference(&id.subject, want)),
            ),
            Rule::Issuer(want) => miss(
                dn_closeness(&id.issuer, want),
                format!("issuer {}", dn_difference(&id.issuer, want)),
            ),
            Rule::Attr(kind, want) => {
                let oid = kind.oid();
                let have: Vec<&str> = id.subject.text_values(&oid).collect();
                let ty = crate::pki::dn::type_name(&oid);
                if have.is_empty() {
                    return miss(0, format!("the certificate subject has no {ty} attribute"));
                }
                let case_only = have.iter().any(|h| h.eq_ignore_ascii_case(want));
                miss(
                    best_similarity(want, &have),
                    format!(
                        "{ty}: certificate has {}, rule wants {want:?}{}",
                        quoted_list(&have),
                        if case_only {
                            " (values compare exactly, case included)"
                        } else {
                            ""
                        }
                    ),
                )
            }
            Rule::SanDns(want) => {
                let have: Vec<&str> = id.san_dns.iter().map(String::as_str).collect();
                if have.is_empty() {
                    return miss(0, "the certificate has no DNS SAN".into());
                }
                let mut why = format!(
                    "DNS SAN: certificate has {}, rule wants {want:?}",
                    quoted_list(&have)
                );
                if let Some(suffix) = want.strip_prefix("*.") {
                    let deeper = have.iter().any(|h| {
                        h.len() > suffix.len() + 1
                            && h.to_ascii_lowercase().ends_with(&format!(".{suffix}"))
                    });
                    if deeper {
                        why.push_str(" (a wildcard matches exactly one leftmost label)");
                    }
                }
                miss(
                    best_similarity(
                        want,
                        &have
                            .iter()
                            .map(|h| h.to_ascii_lowercase())
                            .collect::<Vec<_>>(),
                    ),
                    why,
                )
            }
            Rule::SanUri(want) => san_miss("URI", want, &id.san_uri),
            Rule::SanEmail(want) => san_miss("email", want, &id.san_email),
            Rule::Fingerprint(fp) => miss(
                0,
                format!(
                    "fingerprint: certificate has {}, rule pins {}",
                    id.fingerprint_hex,
                    crate::pki::identity::hex(fp)
                ),
            ),
        }
    }
}

fn san_miss(kind: &str, want: &str, have: &[String]) -> Option<Miss> {
    let have: Vec<&str> = have.iter().map(String::as_str).collect();
    if have.is_empty() {
        return Some(Miss {
            closeness: 0,
            why: format!("the certificate has no {kind} SAN"),
        });
    }
    let case_only = have.iter().any(|h| h.eq_ignore_ascii_case(want));
    Some(Miss {
        closeness: best_similarity(want, &have),
        why: format!(
            "{kind} SAN: certificate has {}, rule wants {want:?}{}",
            quoted_list(&have),
            if case_only {
                " (compared exactly, case included)"
            } else {
                ""
            }
        ),
    })
}

/// The rule of `rules` that came nearest to matching `id` (the first of equals), with why it
/// does not match. `None` when some rule matches, or no rule can be explained (`any`/`public`).
pub fn nearest_miss(rules: &[Rule], id: &PeerIdentity) -> Option<(usize, Miss)> {
    let mut best: Option<(usize, Miss)> = None;
    for (i, r) in rules.iter().enumerate() {
        if r.matches(id) {
            return None;
        }
        if let Some(m) = r.explain_miss(id) {
            if best.as_ref().is_none_or(|(_, b)| m.closeness > b.closeness) {
                best = Some((i, m));
            }
        }
    }
    best
}

fn quoted_list<S: AsRef<str>>(v: &[S]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{:?}", s.as_ref())).collect();
    items.join(", ")
}

/// 0..=1000: 1000 minus the edit distance scaled by the longer string; equal ignoring
/// ASCII case counts as 950.
fn similarity(a: &str, b: &str) -> u16 {
    if a == b {
        return 1000;
    }
    if a.eq_ignore_ascii_case(b) {
        return 950;
    }
    // Long values (URIs) are compared on a prefix: this is a hint, not a measure.
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1000;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let distance = prev[b.len()].min(longest);
    // Values below 1000 are reserved for strings that differ.
    ((1000 * (longest - distance) / longest).min(949)) as u16
}

fn best_similarity<S: AsRef<str>>(want: &str, have: &[S]) -> u16 {
    have.iter()
        .map(|h| similarity(want, h.as_ref()))
        .max()
        .unwrap_or(0)
}

fn attr_string(a: &crate::pki::dn::Attribute) -> String {
    format!(
        "{}={}",
        crate::pki::dn::type_name(&a.oid),
        attr_value(&a.value)
    )
}

fn attr_value(v: &crate::pki::dn::AttrValue) -> String {
    match v {
        crate::pki::dn::AttrValue::Text(t) => format!("{t:?}"),
        crate::pki::dn::AttrValue::Der(d) => format!("#{}", crate::pki::identity::hex(d)),
    }
}

fn rdn_string(r: &crate::pki::dn::Rdn) -> String {
    r.0.iter().map(attr_string).collect::<Vec<_>>().join("+")
}

/// How much of `want` the certificate's `have` shares: common (type, value) pairs over the
/// larger attribute count, with partial credit for a same-type attribute with a near value.
fn dn_closeness(have: &Dn, want: &Dn) -> u16 {
    let h: Vec<&crate::pki::dn::Attribute> = have.rdns().iter().flat_map(|r| r.0.iter()).collect();
    let w: Vec<&crate::pki::dn::Attribute> = want.rdns().iter().flat_map(|r| r.0.iter()).collect();
    let total = h.len().max(w.len());
    if total == 0 {
        return 0;
    }
    let mut used = vec![false; h.len()];
    let mut score = 0usize;
    let mut unmatched = Vec::new();
    for a in &w {
        match h.iter().enumerate().position(|(i, b)| !used[i] && *b == *a) {
            Some(i) => {
                used[i] = true;
                score += 1000;
            }
            None => unmatched.push(*a),
        }
    }
    for a in unmatched {
        let near = h
            .iter()
            .enumerate()
            .filter(|(i, b)| !used[*i] && b.oid == a.oid)
            .map(|(i, b)| (i, similarity(&attr_value(&a.value), &attr_value(&b.value))))
            .max_by_key(|(_, s)| *s);
        if let Some((i, s)) = near {
            used[i] = true;
            score += usize::from(s) / 2;
        }
    }
    // Keep 1000 for identical names (not a miss).
    ((score / total).min(999)) as u16
}

/// The first difference between a certificate's name `have` and a rule's `want`, walking
/// the RDNs in RFC 4514 order (most specific first), e.g.
/// `O: certificate has "Acme Ltd", rule wants "Acme Inc"`. Call only when they differ.
pub fn dn_difference(have: &Dn, want: &Dn) -> String {
    let h: Vec<&crate::pki::dn::Rdn> = have.rdns().iter().rev().collect();
    let w: Vec<&crate::pki::dn::Rdn> = want.rdns().iter().rev().collect();
    if h.len() == w.len() {
        let Some(i) = (0..h.len()).find(|&i| h[i] != w[i]) else {
            return "is identical".into();
        };
        if h.len() > 1 && h.iter().zip(w.iter().rev()).all(|(a, b)| a == b) {
            return "has the rule's RDNs in the opposite order (RDN order matters: the slash form /C=../CN=.. starts with the least specific RDN, RFC 4514 CN=..,C=.. with the most specific)".into();
        }
        let (hr, wr) = (h[i], w[i]);
        if let ([ha], [wa]) = (hr.0.as_slice(), wr.0.as_slice()) {
            if ha.oid == wa.oid {
                let note = match (&ha.value, &wa.value) {
                    (crate::pki::dn::AttrValue::Text(a), crate::pki::dn::AttrValue::Text(b))
                        if a.eq_ignore_ascii_case(b) =>
                    {
                        " (values compare exactly, case included)"
                    }
                    (crate::pki::dn::AttrValue::Text(a), crate::pki::dn::AttrValue::Text(b))
                        if a.trim() == b.trim() =>
                    {
                        " (leading or trailing spaces differ)"
                    }
                    _ => "",
                };
                return format!(
                    "{}: certificate has {}, rule wants {}{note}",
                    crate::pki::dn::type_name(&ha.oid),
                    attr_value(&ha.value),
                    attr_value(&wa.value)
                );
            }
            let elsewhere = h.iter().any(|r| r.0.iter().any(|a| a.oid == wa.oid));
            return format!(
                "RDN {} (counting from the left in RFC 4514 order): certificate has {}, rule wants {}{}",
                i + 1,
                attr_string(ha),
                attr_string(wa),
                if elsewhere { " (RDN order matters)" } else { "" }
            );
        }
        return format!(
            "RDN {} (counting from the left in RFC 4514 order): certificate has {}, rule wants {}",
            i + 1,
            rdn_string(hr),
            rdn_string(wr)
        );
    }
    // Different numbers of RDNs: name what one side has and the other lacks.
    let flat = |rdns: &[&crate::pki::dn::Rdn]| -> Vec<crate::pki::dn::Attribute> {
        rdns.iter().flat_map(|r| r.0.iter().cloned()).collect()
    };
    let (hf, wf) = (flat(&h), flat(&w));
    let only = |a: &[crate::pki::dn::Attribute], b: &[crate::pki::dn::Attribute]| -> Vec<String> {
        let mut used = vec![false; b.len()];
        a.iter()
            .filter(
                |x| match b.iter().enumerate().position(|(i, y)| !used[i] && y == *x) {
                    Some(i) => {
                        used[i] = true;
                        false
                    }
                    None => true,
                },
            )
            .map(attr_string)
            .collect()
    };
    let extra = only(&hf, &wf);
    let missing = only(&wf, &hf);
    let mut parts = vec![format!(
        "has {} RDN{}, the rule {}",
        h.len(),
        if h.len() == 1 { "" } else { "s" },
        w.len()
    )];
    if !extra.is_empty() {
        parts.push(format!(
            "certificate has {} that the rule lacks",
            extra.join(", ")
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "rule wants {} that the certificate lacks",
            missing.join(", ")
        ));
    }
    if extra.is_empty() && missing.is_empty() {
        parts.push("the same attributes are grouped into RDNs differently".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_fast_path_agrees_with_full_normalisation() {
        let full = |p: &str| -> Result<String, PathError> {
            let decoded = decode_unreserved(p.as_bytes())?;
            remove_dot_segments(&decoded)
        };
        for p in [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/a/b/",
            "//",
            "//a",
            "/a//b",
            "/a/b//",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/a/./b",
            "/a/../b",
            "/a/.b",
            "/a/..b",
            "/a/b.",
            "/.well-known/x",
            "/a;b",
            "/%61",
            "/a%2Fb",
            "/a\\b",
            "/caf\u{e9}/x",
            "/a/b/c/d/e",
            "/a\u{7f}",
            "/~user/x-y_z",
            "/a/b?",
            "/a//",
            "///",
        ] {
            if is_normal(p) {
                assert_eq!(
                    full(p).as_deref(),
                    Ok(p),
                    "{p:?} taken as normal but is not"
                );
            }
            assert_eq!(normalize_path(p), full(p), "{p:?}");
        }
        assert!(is_normal("/webhooks/docusign/envelope"));
        assert!(is_normal("/"));
        assert!(!is_normal("/a//b"));
        assert!(!is_normal("/a/./b"));
    }
    use super::*;
    use crate::pki::dn::{AttrValue, Attribute, Rdn};
    use rustls_pki_types::CertificateDer;

    fn dn(rdns: &[(const_oid::ObjectIdentifier, &str)]) -> Dn {
        Dn::from_rdns(
            rdns.iter()
                .map(|(oid, v)| {
                    Rdn(vec![Attribute {
                        oid: *oid,
                        value: AttrValue::Text(v.to_string()),
                    }])
                })
                .collect(),
        )
    }

    /// Subject `CN=svc,OU=payments,O=Acme,C=US`, issuer `CN=Acme CA,O=Acme`.
    fn ident() -> PeerIdentity {
        PeerIdentity {
            subject: dn(&[
                (oids::C, "US"),
                (oids::O, "Acme"),
                (oids::OU, "payments"),
                (oids::CN, "svc"),
            ]),
            issuer: dn(&[(oids::O, "Acme"), (oids::CN, "Acme CA")]),
            subject_rfc4514: "CN=svc,OU=payments,O=Acme,C=US".into(),
            issuer_rfc4514: "CN=Acme CA,O=Acme".into(),
            fingerprint: [0xab; 32],
            fingerprint_hex: "ab".repeat(32),
            serial_hex: "01".into(),
            not_before_unix: 0,
            not_after_unix: 0,
            not_after_rfc3339: "1970-01-01T00:00:00Z".into(),
            san_dns: vec!["API.example.com".into()],
            san_uri: vec!["spiffe://acme.test/payments".into()],
            san_email: vec!["svc@acme.test".into()],
            leaf_der: CertificateDer::from(vec![0u8]),
            chain_der: vec![],
        }
    }

    fn with_dns(sans: &[&str]) -> PeerIdentity {
        let mut id = ident();
        id.san_dns = sans.iter().map(|s| s.to_string()).collect();
        id
    }

    fn rule(s: &str) -> Rule {
        s.parse().unwrap()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn any_and_public_match_every_identity() {
        assert_eq!(rule("any"), Rule::Any);
        assert_eq!(rule("ANY"), Rule::Any);
        assert_eq!(rule("public"), Rule::Public);
        assert!(Rule::Any.matches(&ident()));
        assert!(Rule::Public.matches(&ident()));
        assert_eq!(
            "any:x".parse::<Rule>(),
            Err(RuleError::UnexpectedValue { kind: "any" })
        );
    }

    #[test]
    fn unknown_kind_and_empty_value_are_errors() {
        assert!(matches!(
            "bogus:x".parse::<Rule>(),
            Err(RuleError::UnknownKind(_))
        ));
        assert!(matches!("".parse::<Rule>(), Err(RuleError::UnknownKind(_))));
        assert_eq!(
            "cn:".parse::<Rule>(),
            Err(RuleError::EmptyValue { kind: "cn" })
        );
        assert_eq!(
            "cn".parse::<Rule>(),
            Err(RuleError::EmptyValue { kind: "cn" })
        );
        assert_eq!(
            "san-dns".parse::<Rule>(),
            Err(RuleError::EmptyValue { kind: "san-dns" })
        );
    }

    #[test]
    fn subject_rule_compares_parsed_dn_in_either_form() {
        assert!(rule("subject:CN=svc,OU=payments,O=Acme,C=US").matches(&ident()));
        assert!(rule("subject:/C=US/O=Acme/OU=payments/CN=svc").matches(&ident()));
        assert!(rule("Subject:cn=svc,ou=payments,o=Acme,c=US").matches(&ident()));
        assert!(!rule("subject:CN=svc,O=Acme,C=US").matches(&ident()));
        assert!(!rule("subject:CN=SVC,OU=payments,O=Acme,C=US").matches(&ident()));
        assert!(matches!(
            "subject:nonsense".parse::<Rule>(),
            Err(RuleError::Dn(_))
        ));
    }

    #[test]
    fn issuer_rule_compares_issuer() {
        assert!(rule("issuer:CN=Acme CA,O=Acme").matches(&ident()));
        assert!(!rule("issuer:CN=svc,OU=payments,O=Acme,C=US").matches(&ident()));
    }

    #[test]
    fn attribute_rules_match_one_attribute_exactly() {
        assert_eq!(rule("CN:svc"), Rule::Attr(AttrKind::Cn, "svc".into()));
        assert!(rule("cn:svc").matches(&ident()));
        assert!(!rule("cn:SVC").matches(&ident()));
        assert!(rule("o:Acme").matches(&ident()));
        assert!(rule("ou:payments").matches(&ident()));
        assert!(!rule("ou:Acme").matches(&ident()));
        // A value holding a comma is never split into more attributes.
        let mut id = ident();
        id.subject = dn(&[(oids::CN, "x, O=Acme")]);
        assert!(!rule("o:Acme").matches(&id));
        assert!(rule("cn:x, O=Acme").matches(&id));
    }

    #[test]
    fn san_dns_exact_is_case_insensitive() {
        assert_eq!(
            rule("san-dns:API.Example.COM"),
            Rule::SanDns("api.example.com".into())
        );
        assert!(rule("san-dns:api.example.com").matches(&ident()));
        assert!(!rule("san-dns:example.com").matches(&ident()));
    }

    #[test]
    fn san_dns_wildcard_matches_exactly_one_leftmost_label() {
        let r = rule("san-dns:*.example.com");
        assert!(r.matches(&with_dns(&["a.example.com"])));
        assert!(r.matches(&with_dns(&["A.EXAMPLE.com"])));
        assert!(!r.matches(&with_dns(&["example.com"])));
        assert!(!r.matches(&with_dns(&["a.b.example.com"])));
        assert!(!r.matches(&with_dns(&[".example.com"])));
        assert!(!r.matches(&with_dns(&["aexample.com"])));
        assert!(r.matches(&with_dns(&["other.test", "b.example.com"])));
    }

    #[test]
    fn wildcard_san_in_certificate_only_matches_identical_rule() {
        let id = with_dns(&["*.example.com"]);
        assert!(rule("san-dns:*.example.com").matches(&id));
        assert!(rule("san-dns:*.EXAMPLE.com").matches(&id));
        assert!(!rule("san-dns:a.example.com").matches(&id));
        assert!(!rule("san-dns:*.com").matches(&id));
    }

    #[test]
    fn san_dns_patterns_are_validated() {
        for bad in [
            "*",
            "*.",
            "a.*.example.com",
            "*a.example.com",
            "a*.example.com",
            "**.example.com",
            "a..b",
            "a.b.",
            "-a.b",
            "a b",
            "a/b",
        ] {
            assert!(
                matches!(
                    format!("san-dns:{bad}").parse::<Rule>(),
                    Err(RuleError::BadDnsName(_))
                ),
                "{bad}"
            );
        }
        rule("san-dns:localhost");
        rule("san-dns:*.svc.cluster.local");
    }

    #[test]
    fn san_uri_and_email_are_exact() {
        assert!(rule("san-uri:spiffe://acme.test/payments").matches(&ident()));
        assert!(!rule("san-uri:spiffe://ACME.test/payments").matches(&ident()));
        assert!(!rule("san-uri:spiffe://acme.test/pay").matches(&ident()));
        assert!(rule("san-email:svc@acme.test").matches(&ident()));
        assert!(!rule("san-email:SVC@acme.test").matches(&ident()));
    }

    #[test]
    fn fingerprint_ignores_colons_and_case() {
        let plain = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(
            rule(&format!("fingerprint:{plain}")),
            Rule::Fingerprint([0xab; 32])
        );
        assert!(rule(&format!("fingerprint:{colons}")).matches(&ident()));
        assert!(!rule(&format!("fingerprint:{}", "ac".repeat(32))).matches(&ident()));
        for bad in [
            "ab".repeat(31),
            "ab".repeat(33),
            format!("{}zz", "ab".repeat(31)),
        ] {
            assert_eq!(
                format!("fingerprint:{bad}").parse::<Rule>(),
                Err(RuleError::BadFingerprint)
            );
        }
    }

    fn policy(routes: &[&str], allows: &[&str]) -> Policy {
        Policy::from_flags(&strs(routes), &strs(allows), &[], &[]).unwrap()
    }

    fn matched<'a>(p: &'a Policy, path: &str) -> Option<&'a str> {
        p.match_route(path).map(|i| p.routes()[i].name.as_str())
    }

    #[test]
    fn route_prefix_matches_on_segment_boundaries() {
        let p = policy(&["hooks=/webhooks"], &[]);
        assert_eq!(matched(&p, "/webhooks"), Some("hooks"));
        assert_eq!(matched(&p, "/webhooks/"), Some("hooks"));
        assert_eq!(matched(&p, "/webhooks/a"), Some("hooks"));
        assert_eq!(matched(&p, "/webhooksX"), None);
        assert_eq!(matched(&p, "/web"), None);
        assert_eq!(matched(&p, "/"), None);
    }

    #[test]
    fn trailing_slash_in_prefix_is_significant() {
        let p = policy(&["prod=/prod/"], &[]);
        assert_eq!(matched(&p, "/prod/"), Some("prod"));
        assert_eq!(matched(&p, "/prod/x"), Some("prod"));
        assert_eq!(matched(&p, "/prod"), None);
        assert_eq!(matched(&p, "/production"), None);
    }

    #[test]
    fn longest_prefix_wins_and_root_matches_everything() {
        let p = policy(&["root=/", "api=/api", "admin=/api/admin"], &[]);
        assert_eq!(matched(&p, "/api/admin/x"), Some("admin"));
        assert_eq!(matched(&p, "/api/administrator"), Some("api"));
        assert_eq!(matched(&p, "/api"), Some("api"));
        assert_eq!(matched(&p, "/apix"), Some("root"));
        assert_eq!(matched(&p, "/"), Some("root"));
        // Order of the flags does not matter.
        let q = policy(&["admin=/api/admin", "root=/", "api=/api"], &[]);
        assert_eq!(matched(&q, "/api/admin/x"), Some("admin"));
    }

    fn default_bundle() -> Vec<String> {
        vec!["default".to_string()]
    }

    #[test]
    fn decide_no_route() {
        let p = policy(&["api=/api"], &["api=any"]);
        assert_eq!(p.decide("/other", None), Decision::NoRoute);
    }

    #[test]
    fn decide_public_allows_without_certificate_and_any_bundle() {
        let p = Policy::from_flags(
            &strs(&["pub=/pub"]),
            &strs(&["pub=cn:nobody", "pub=public"]),
            &strs(&["pub=sandbox"]),
            &[],
        )
        .unwrap();
        assert_eq!(
            p.decide("/pub/x", None),
            Decision::Allow { route: 0, rule: 1 }
        );
        let id = ident();
        let bundles = default_bundle();
        let peer = Peer {
            identity: &id,
            bundles: &bundles,
        };
        assert_eq!(
            p.decide("/pub", Some(peer)),
            Decision::Allow { route: 0, rule: 1 }
        );
        assert!(p.all_public());
    }

    #[test]
    fn decide_unauthenticated_without_peer() {
        let p = policy(&["api=/api"], &["api=any"]);
        assert_eq!(
            p.decide("/api", None),
            Decision::Unauthenticated { route: 0 }
        );
        assert!(!p.all_public());
    }

    #[test]
    fn decide_forbidden_reasons() {
        let p = Policy::from_flags(
            &strs(&["empty=/empty", "prod=/prod", "api=/api"]),
            &strs(&["prod=any", "api=cn:other", "api=o:Other"]),
            &strs(&["prod=production"]),
            &[],
        )
        .unwrap();
        let id = ident();
        let bundles = default_bundle();
        let peer = Some(Peer {
            identity: &id,
            bundles: &bundles,
        });
        let route = |name: &str| p.routes().iter().position(|r| r.name == name).unwrap();
        assert_eq!(
            p.decide("/empty", peer),
            Decision::Forbidden {
                route: route("empty"),
                reason: Forbidden::NoRules
            }
        );
        assert_eq!(
            p.decide("/prod", peer),
            Decision::Forbidden {
                route: route("prod"),
                reason: Forbidden::WrongBundle {
                    required: "production".into()
                }
            }
        );
        assert_eq!(
            p.decide("/api", peer),
            Decision::Forbidden {
                route: route("api"),
                reason: Forbidden::NoRuleMatched
            }
        );
    }

    #[test]
    fn decide_allows_on_first_matching_rule() {
        let p = Policy::from_flags(
            &strs(&["prod=/prod"]),
            &strs(&["prod=cn:other", "prod=ou:payments", "prod=any"]),
            &strs(&["prod=production"]),
            &[],
        )
        .unwrap();
        let id = ident();
        let bundles = vec!["default".to_string(), "production".to_string()];
        let peer = Peer {
            identity: &id,
            bundles: &bundles,
        };
        assert_eq!(
            p.decide("/prod/x", Some(peer)),
            Decision::Allow { route: 0, rule: 1 }
        );
    }

    #[test]
    fn from_flags_fills_routes() {
        let p = Policy::from_flags(
            &strs(&["a=/a", "b=/b"]),
            &strs(&["a=any", "a=san-uri:spiffe://x/y=z"]),
            &strs(&["b=sandbox"]),
            &strs(&["a=http://127.0.0.1:9000"]),
        )
        .unwrap();
        let a = &p.routes()[p.routes().iter().position(|r| r.name == "a").unwrap()];
        assert_eq!(
            a.rules,
            vec![Rule::Any, Rule::SanUri("spiffe://x/y=z".into())]
        );
        assert_eq!(a.trust_bundle, "default");
        assert_eq!(a.upstream.as_deref(), Some("http://127.0.0.1:9000"));
        let b = &p.routes()[p.routes().iter().position(|r| r.name == "b").unwrap()];
        assert_eq!(b.trust_bundle, "sandbox");
        assert_eq!(b.upstream, None);
    }

    fn flags_err(routes: &[&str], allows: &[&str], trust: &[&str], up: &[&str]) -> PolicyError {
        Policy::from_flags(&strs(routes), &strs(allows), &strs(trust), &strs(up)).unwrap_err()
    }

    #[test]
    fn from_flags_route_errors() {
        for (routes, what) in [
            (vec!["api"], "malformed"),
            (vec!["API=/api"], "bad name"),
            (vec!["=/api"], "empty name"),
            (vec!["api=api"], "relative prefix"),
            (vec!["api="], "empty prefix"),
            (vec!["api=/a/../b"], "dot segments"),
            (vec!["api=/a%2Fb"], "encoded slash"),
            (vec!["api=/%61pi"], "encoded unreserved"),
            (vec!["api=/a?x"], "query"),
            (vec!["api=/a", "api=/b"], "duplicate name"),
            (vec!["a=/x", "b=/x"], "duplicate prefix"),
        ] {
            assert!(
                matches!(flags_err(&routes, &[], &[], &[]), PolicyError::Route { .. }),
                "{what}"
            );
        }
    }

    #[test]
    fn from_flags_allow_errors_name_the_flag_and_rule_problem() {
        let e = flags_err(&["api=/api"], &["api"], &[], &[]);
        assert!(matches!(e, PolicyError::Allow { .. }));
        let e = flags_err(&["api=/api"], &["web=any"], &[], &[]);
        assert!(
            matches!(&e, PolicyError::Allow { problem, .. } if problem.contains("unknown route"))
        );
        let e = flags_err(&["api=/api"], &["api=fingerprint:zz"], &[], &[]);
        assert_eq!(
            e,
            PolicyError::Allow {
                value: "api=fingerprint:zz".into(),
                problem: RuleError::BadFingerprint.to_string()
            }
        );
        assert!(e
            .to_string()
            .starts_with("--allow \"api=fingerprint:zz\": fingerprint"));
    }

    #[test]
    fn from_flags_route_trust_errors() {
        for (trust, what) in [
            (vec!["api"], "malformed"),
            (vec!["web=sandbox"], "unknown route"),
            (vec!["api=Sandbox"], "bad bundle name"),
            (vec!["api="], "empty bundle name"),
            (vec!["api=a", "api=b"], "twice"),
        ] {
            assert!(
                matches!(
                    flags_err(&["api=/api"], &[], &trust, &[]),
                    PolicyError::RouteTrust { .. }
                ),
                "{what}"
            );
        }
    }

    #[test]
    fn from_flags_route_upstream_errors() {
        for (up, what) in [
            (vec!["api"], "malformed"),
            (vec!["web=http://127.0.0.1:1"], "unknown route"),
            (vec!["api="], "empty url"),
            (vec!["api=unix:/a", "api=unix:/b"], "twice"),
        ] {
            assert!(
                matches!(
                    flags_err(&["api=/api"], &[], &[], &up),
                    PolicyError::RouteUpstream { .. }
                ),
                "{what}"
            );
        }
    }

    #[test]
    fn normalize_removes_dot_segments() {
        let ok = |p: &str| normalize_path(p).unwrap();
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/webhooks/../admin"), "/admin");
        assert_eq!(ok("/a/./b/"), "/a/b/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/b/."), "/a/b/");
        assert_eq!(ok("/a/.."), "/");
        assert_eq!(ok("/."), "/");
        assert_eq!(ok("/a/b/../../c"), "/c");
        assert_eq!(ok("/a/..b/..."), "/a/..b/...");
        // Empty segments are merged (nginx's merge_slashes), so `//admin` is `/admin`.
        assert_eq!(ok("/a//b"), "/a/b");
        assert_eq!(ok("//admin"), "/admin");
        assert_eq!(ok("/a//../b"), "/b");
        assert_eq!(ok("/a/b//"), "/a/b/");
    }

    #[test]
    fn normalize_refuses_path_parameters() {
        for p in [
            "/public/..;/admin",
            "/public/.;/x",
            "/public/%2e%2e;/admin",
            "/a/..;jsessionid=1/b",
            "/admin;x",
            "/admin;x/users",
            "/a/..b;x/c",
        ] {
            assert_eq!(normalize_path(p), Err(PathError::PathParams), "{p}");
        }
        // An encoded semicolon is data, not a parameter separator.
        assert_eq!(normalize_path("/a%3Bb").unwrap(), "/a%3Bb");
    }

    #[test]
    fn normalize_decodes_unreserved_escapes_before_dot_removal() {
        let ok = |p: &str| normalize_path(p).unwrap();
        assert_eq!(ok("/webhooks/%2e%2e/admin"), "/admin");
        assert_eq!(ok("/webhooks/%2E%2e/admin"), "/admin");
        assert_eq!(ok("/webhooks/.%2E/admin"), "/admin");
        assert_eq!(ok("/%61dmin"), "/admin");
        assert_eq!(ok("/%7E%5F%2D"), "/~_-");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(ok("/a%20b%25"), "/a%20b%25");
        assert_eq!(ok("/é"), "/é");
    }

    #[test]
    fn normalize_refuses_encoded_separators() {
        for p in ["/a%2Fb", "/a%2fb", "/a%5cb", "/a%5Cb", "/a\\b"] {
            assert_eq!(normalize_path(p), Err(PathError::EncodedSeparator), "{p}");
        }
    }

    #[test]
    fn normalize_refuses_bad_encoding() {
        for p in [
            "/a%00", "/a%G1", "/a%4", "/a%", "/a%%41", "/a\u{0}b", "/a\nb",
        ] {
            assert_eq!(normalize_path(p), Err(PathError::BadEncoding), "{p:?}");
        }
    }

    #[test]
    fn normalize_refuses_climbing_above_root() {
        for p in ["/..", "/../x", "/a/../..", "/%2e%2e", "/%2E%2E/x", "/./.."] {
            assert_eq!(normalize_path(p), Err(PathError::AboveRoot), "{p}");
        }
    }

    #[test]
    fn normalize_refuses_non_absolute() {
        for p in ["", "*", "a/b", "http://x/y"] {
            assert_eq!(normalize_path(p), Err(PathError::NotAbsolute), "{p}");
        }
    }
}

#[cfg(test)]
mod explain_tests {
    use super::*;
    use rustls_pki_types::CertificateDer;

    fn d(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    /// Subject `CN=svc,O=Acme Ltd,C=US`, issuer `CN=Acme CA,O=Acme`.
    fn ident() -> PeerIdentity {
        PeerIdentity {
            subject: d("CN=svc,O=Acme Ltd,C=US"),
            issuer: d("CN=Acme CA,O=Acme"),
            subject_rfc4514: "CN=svc,O=Acme Ltd,C=US".into(),
            issuer_rfc4514: "CN=Acme CA,O=Acme".into(),
            fingerprint: [0xab; 32],
            fingerprint_hex: "ab".repeat(32),
            serial_hex: "01".into(),
            not_before_unix: 0,
            not_after_unix: 0,
            not_after_rfc3339: "1970-01-01T00:00:00Z".into(),
            san_dns: vec!["a.b.example.com".into()],
            san_uri: vec!["spiffe://acme.test/payments".into()],
            san_email: vec![],
            leaf_der: CertificateDer::from(vec![0u8]),
            chain_der: vec![],
        }
    }

    fn rule(s: &str) -> Rule {
        s.parse().unwrap()
    }

    fn why(r: &str) -> String {
        rule(r).explain_miss(&ident()).unwrap().why
    }

    #[test]
    fn display_round_trips_through_parse() {
        for s in [
            "any",
            "public",
            r"subject:CN=x,O=Acme\, Inc.,C=US",
            "issuer:CN=Acme CA",
            "cn:svc",
            "o:Acme Ltd",
            "ou:pay",
            "san-dns:*.example.com",
            "san-uri:spiffe://acme.test/x",
            "san-email:a@b",
        ] {
            let r = rule(s);
            assert_eq!(r.to_string(), s);
            assert_eq!(rule(&r.to_string()), r);
        }
        let fp = format!("fingerprint:{}", "AB:".repeat(31) + "AB");
        assert_eq!(
            rule(&fp).to_string(),
            format!("fingerprint:{}", "ab".repeat(32))
        );
    }

    #[test]
    fn matching_rules_have_no_miss() {
        assert_eq!(rule("cn:svc").explain_miss(&ident()), None);
        assert_eq!(rule("any").explain_miss(&ident()), None);
        assert_eq!(
            nearest_miss(&[rule("cn:x"), rule("o:Acme Ltd")], &ident()),
            None
        );
    }

    #[test]
    fn subject_miss_names_the_first_differing_attribute() {
        assert_eq!(
            why("subject:CN=svc,O=Acme Inc,C=US"),
            r#"subject O: certificate has "Acme Ltd", rule wants "Acme Inc""#
        );
        assert!(why("subject:CN=svc,O=acme ltd,C=US").contains("case included"));
        assert_eq!(
            why("subject:/C=US/O=Acme Ltd/CN=other"),
            r#"subject CN: certificate has "svc", rule wants "other""#
        );
        // Slash form lists RDNs the other way round: order matters.
        assert!(why("subject:/CN=svc/O=Acme Ltd/C=US").contains("opposite order"));
        assert!(why("subject:C=US,CN=svc,O=Acme Ltd").contains("RDN order matters"));
        let w = why("subject:CN=svc,O=Acme Ltd");
        assert!(w.contains("has 3 RDNs, the rule 2"), "{w}");
        assert!(
            w.contains(r#"certificate has C="US" that the rule lacks"#),
            "{w}"
        );
        let w = why("subject:CN=svc,OU=x,O=Acme Ltd,C=US");
        assert!(
            w.contains(r#"rule wants OU="x" that the certificate lacks"#),
            "{w}"
        );
        assert!(why("issuer:CN=Acme CA,O=Acme Inc").starts_with("issuer O:"));
    }

    #[test]
    fn attribute_and_san_misses_list_the_certificate_values() {
        assert_eq!(
            why("o:Acme"),
            r#"O: certificate has "Acme Ltd", rule wants "Acme""#
        );
        assert_eq!(
            why("ou:payments"),
            "the certificate subject has no OU attribute"
        );
        assert_eq!(
            why("san-dns:x.example.com"),
            r#"DNS SAN: certificate has "a.b.example.com", rule wants "x.example.com""#
        );
        assert!(why("san-dns:*.example.com").contains("exactly one leftmost label"));
        assert!(why("san-uri:SPIFFE://acme.test/payments").contains("case included"));
        assert_eq!(why("san-email:a@b"), "the certificate has no email SAN");
        let w = why(&format!("fingerprint:{}", "cd".repeat(32)));
        assert!(
            w.contains(&"ab".repeat(32)) && w.contains(&"cd".repeat(32)),
            "{w}"
        );
    }

    #[test]
    fn nearest_rule_is_the_closest_not_the_first() {
        let rules = vec![
            rule(&format!("fingerprint:{}", "cd".repeat(32))),
            rule("subject:CN=other,O=Else,C=DE"),
            rule("subject:CN=svc,O=Acme Inc,C=US"),
            rule("cn:zzz"),
        ];
        let (i, m) = nearest_miss(&rules, &ident()).unwrap();
        assert_eq!(i, 2, "{m:?}");
        assert!(m.why.contains("Acme Inc"));
        // Equal closeness: the first rule wins.
        let rules = vec![rule("ou:a"), rule("ou:b")];
        assert_eq!(nearest_miss(&rules, &ident()).unwrap().0, 0);
        assert_eq!(nearest_miss(&[], &ident()), None);
    }

    #[test]
    fn similarity_is_bounded_and_ordered() {
        assert_eq!(similarity("abc", "abc"), 1000);
        assert_eq!(similarity("ABC", "abc"), 950);
        assert!(similarity("Acme Inc", "Acme Ltd") > similarity("Acme Inc", "zzzz"));
        assert_eq!(similarity("", "abc"), 0);
        assert!(similarity(&"a".repeat(1000), &"b".repeat(1000)) < 1000);
    }
}
