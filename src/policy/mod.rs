//! Routes, rules and the allow/deny decision. PURE: plain data in, a `Decision` out;
//! no sockets, no clocks (the caller passes `now`, for rules with ` until=`). The proxy
//! calls `Policy::decide_route` once per connection, route and policy generation.

pub mod allow;
pub mod explain;
pub mod path;
mod route_index;
pub mod rule;

pub use allow::{parse_rule, parse_rules_file, LineError, RouteRule, RuleSource};
pub use explain::{dn_difference, nearest_miss, Miss};
pub use path::{canonical_prefix, normalize_path, PathError};
pub use rule::{AttrKind, Rule, RuleError};

use crate::pki::identity::PeerIdentity;
use route_index::RouteIndex;
use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

/// One `--route NAME=PREFIX` with everything attached to it by other flags.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub prefix: String,
    /// OR-ed; empty denies everything. `--allow` rules first, then those of the
    /// `--allow-file`s in flag order.
    pub rules: Vec<RouteRule>,
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
    /// No rule in force matched; rule `rule` would have, but its ` until=` has passed.
    RuleEnded { rule: usize },
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// Sorted by prefix length, longest first.
    routes: Vec<Route>,
    /// Finds the longest matching prefix without scanning many routes.
    index: RouteIndex,
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
        // Route names and prefixes seen so far, for the duplicate checks and for the other
        // flags' lookups by name: maps, so that 10,000 routes start as fast as 10.
        let mut by_name: HashMap<String, usize> = HashMap::with_capacity(routes.len());
        let mut by_prefix: HashMap<String, usize> = HashMap::with_capacity(routes.len());
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
            if prefix.contains(['?', '#']) {
                return Err(err(format!(
                    "prefix {prefix:?} must not contain '?' or '#' (queries are not matched)"
                )));
            }
            // One canonical form for prefixes and request paths: `/é`, `/%c3%a9` and
            // `/%C3%A9` are one prefix, stored (and matched) as `/%C3%A9`.
            let prefix = match canonical_prefix(prefix) {
                Ok(p) => p,
                Err(Ok(fixed)) => {
                    return Err(err(format!(
                        "prefix {prefix:?} is not in normalized form (requests are matched after normalization; write {fixed:?})"
                    )))
                }
                Err(Err(e)) => {
                    return Err(err(format!(
                        "prefix {prefix:?} has no canonical form: {e} (every request holding it is refused with 400, so the route could never match)"
                    )))
                }
            };
            if by_name.contains_key(name) {
                return Err(err(format!("duplicate route name {name:?}")));
            }
            if let Some(&i) = by_prefix.get(&prefix) {
                return Err(err(format!(
                    "prefix {prefix:?} is already used by route {:?} (prefixes compare in canonical form)",
                    out[i].name
                )));
            }
            by_name.insert(name.to_string(), out.len());
            by_prefix.insert(prefix.clone(), out.len());
            out.push(Route {
                name: name.to_string(),
                prefix,
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
            let route =
                find_route(&mut out, &by_name, name).ok_or_else(|| err(unknown_route(name)))?;
            let (rule, until) = parse_rule(rule).map_err(|e| err(e.to_string()))?;
            route.rules.push(RouteRule {
                rule,
                until,
                source: RuleSource::Flag,
            });
        }

        let mut trust_set: HashSet<&str> = HashSet::new();
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
            let route =
                find_route(&mut out, &by_name, name).ok_or_else(|| err(unknown_route(name)))?;
            if !trust_set.insert(name) {
                return Err(err(format!("route {name:?} already has a --route-trust")));
            }
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
            let route =
                find_route(&mut out, &by_name, name).ok_or_else(|| err(unknown_route(name)))?;
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
        let index = RouteIndex::new(routes.iter().map(|r| r.prefix.as_str()));
        Policy { routes, index }
    }
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
    /// Index of the longest prefix matching `path` on a segment boundary.
    pub fn match_route(&self, path: &str) -> Option<usize> {
        // Routes are sorted longest prefix first, so the first match is the longest.
        self.index
            .find(path, self.routes.len(), |i| self.routes[i].prefix.as_str())
    }
    /// `path` is already normalized (see `normalize_path`); `now` ends rules with `until=`.
    pub fn decide(&self, path: &str, peer: Option<Peer<'_>>, now: SystemTime) -> Decision {
        // --route: the longest matching prefix picks the route.
        match self.match_route(path) {
            None => Decision::NoRoute,
            Some(route) => self.decide_route(route, peer, now),
        }
    }

    /// The decision for a request on `route` (from `match_route`): it depends on the route,
    /// the peer and the rules only, so a connection can keep it for its requests to that
    /// route under these rules, until `valid_until` of the decision.
    pub fn decide_route(&self, route: usize, peer: Option<Peer<'_>>, now: SystemTime) -> Decision {
        let r = &self.routes[route];
        // --allow NAME=public: open to everyone, certificate or not, whatever its bundle.
        if let Some(rule) = r
            .rules
            .iter()
            .position(|x| x.rule == Rule::Public && x.active(now))
        {
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
        // --allow / --allow-file: rules are OR-ed; the first in force that matches wins;
        // ` until=`: a rule past its end allows nothing.
        let mut ended = None;
        for (rule, x) in r.rules.iter().enumerate() {
            if x.rule.matches(peer.identity) {
                if x.active(now) {
                    return Decision::Allow { route, rule };
                }
                ended.get_or_insert(rule);
            }
        }
        Decision::Forbidden {
            route,
            reason: match ended {
                Some(rule) => Forbidden::RuleEnded { rule },
                None => Forbidden::NoRuleMatched,
            },
        }
    }

    /// Until when `decision` (taken by `decide_route` under these rules) stays right: time
    /// only ends rules, so only an allow by a rule with ` until=` can turn; `None`: for good.
    pub fn valid_until(&self, decision: &Decision) -> Option<SystemTime> {
        match decision {
            Decision::Allow { route, rule } => self.routes[*route].rules[*rule].until,
            _ => None,
        }
    }

    /// True when every route has a `public` rule (then no trust anchor is required).
    pub fn all_public(&self) -> bool {
        !self.routes.is_empty() && self.routes.iter().all(Route::public)
    }

    /// The same routes with the rules of the `--allow-file`s replaced: `files` holds, per
    /// file, the index of its route in `routes()` and its rules (appended in this order).
    pub fn with_file_rules<'a>(
        &self,
        files: impl IntoIterator<Item = (usize, &'a [RouteRule])>,
    ) -> Policy {
        let mut routes = self.routes.clone();
        for r in &mut routes {
            r.rules.retain(|x| x.source == RuleSource::Flag);
        }
        for (route, rules) in files {
            routes[route].rules.extend(rules.iter().cloned());
        }
        // Already sorted and indexed: the routes are the same.
        Policy {
            routes,
            index: self.index.clone(),
        }
    }

    /// Index of the route named `name`.
    pub fn route_index(&self, name: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.name == name)
    }
}

impl Route {
    /// Has a `public` rule (open to everyone, until its `until=` if it has one).
    pub fn public(&self) -> bool {
        self.rules.iter().any(|x| x.rule == Rule::Public)
    }
}

fn find_route<'a>(
    routes: &'a mut [Route],
    by_name: &HashMap<String, usize>,
    name: &str,
) -> Option<&'a mut Route> {
    routes.get_mut(*by_name.get(name)?)
}

fn unknown_route(name: &str) -> String {
    format!("unknown route {name:?} (declare it with --route {name}=PREFIX)")
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_fast_path_agrees_with_full_normalisation() {
        let full = |p: &str| -> Result<String, PathError> {
            let spelled = canonical_bytes(p.as_bytes())?;
            remove_dot_segments(&spelled)
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
            "/a b",
            "/a!b",
            "/a%21b",
            "/a%3bb",
            "/a\"b{}",
            "/%7e",
            "/x:y@z$&'()*+,=",
        ] {
            if is_normal(p) {
                assert_eq!(
                    full(p).as_deref(),
                    Ok(p),
                    "{p:?} taken as normal but is not"
                );
            }
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                full(p),
                "{p:?}"
            );
        }
        assert!(is_normal("/webhooks/docusign/envelope"));
        assert!(is_normal("/"));
        assert!(!is_normal("/a//b"));
        assert!(!is_normal("/a/./b"));
    }
    use super::path::*;
    use super::rule::*;
    use super::*;
    use crate::pki::dn::{oids, Dn};
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

    const NOW: SystemTime = SystemTime::UNIX_EPOCH;

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
        assert_eq!(p.decide("/other", None, NOW), Decision::NoRoute);
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
            p.decide("/pub/x", None, NOW),
            Decision::Allow { route: 0, rule: 1 }
        );
        let id = ident();
        let bundles = default_bundle();
        let peer = Peer {
            identity: &id,
            bundles: &bundles,
        };
        assert_eq!(
            p.decide("/pub", Some(peer), NOW),
            Decision::Allow { route: 0, rule: 1 }
        );
        assert!(p.all_public());
    }

    #[test]
    fn decide_unauthenticated_without_peer() {
        let p = policy(&["api=/api"], &["api=any"]);
        assert_eq!(
            p.decide("/api", None, NOW),
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
            p.decide("/empty", peer, NOW),
            Decision::Forbidden {
                route: route("empty"),
                reason: Forbidden::NoRules
            }
        );
        assert_eq!(
            p.decide("/prod", peer, NOW),
            Decision::Forbidden {
                route: route("prod"),
                reason: Forbidden::WrongBundle {
                    required: "production".into()
                }
            }
        );
        assert_eq!(
            p.decide("/api", peer, NOW),
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
            p.decide("/prod/x", Some(peer), NOW),
            Decision::Allow { route: 0, rule: 1 }
        );
    }

    #[test]
    fn until_ends_a_rule_and_bounds_how_long_an_allow_holds() {
        let p = policy(
            &["api=/api"],
            &["api=cn:svc until=1970-01-01T00:01:40Z", "api=ou:payments"],
        );
        let id = ident();
        let bundles = default_bundle();
        let peer = Some(Peer {
            identity: &id,
            bundles: &bundles,
        });
        let at = |s: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let before = p.decide("/api", peer, at(99));
        assert_eq!(before, Decision::Allow { route: 0, rule: 0 });
        assert_eq!(p.valid_until(&before), Some(at(100)));
        // From the instant on, the next rule decides, for good.
        let after = p.decide("/api", peer, at(100));
        assert_eq!(after, Decision::Allow { route: 0, rule: 1 });
        assert_eq!(p.valid_until(&after), None);

        let only = policy(&["api=/api"], &["api=cn:svc until=1970-01-01T00:01:40Z"]);
        assert_eq!(
            only.decide("/api", peer, at(100)),
            Decision::Forbidden {
                route: 0,
                reason: Forbidden::RuleEnded { rule: 0 }
            }
        );
        // A public rule that ended no longer opens the route.
        let public = policy(&["pub=/pub"], &["pub=public until=1970-01-01T00:01:40Z"]);
        assert_eq!(
            public.decide("/pub", None, at(99)),
            Decision::Allow { route: 0, rule: 0 }
        );
        assert_eq!(
            public.decide("/pub", None, at(100)),
            Decision::Unauthenticated { route: 0 }
        );
        assert!(matches!(
            flags_err(&["api=/api"], &["api=any until=soon"], &[], &[]),
            PolicyError::Allow { .. }
        ));
    }

    #[test]
    fn file_rules_follow_the_flag_rules_and_are_replaced_whole() {
        let p = policy(&["a=/a", "b=/b"], &["a=cn:flag"]);
        let path: std::sync::Arc<str> = std::sync::Arc::from("/etc/a.rules");
        let one = parse_rules_file("cn:x\ncn:y\n", &path).unwrap();
        let a = p.route_index("a").unwrap();
        let b = p.route_index("b").unwrap();
        let p1 = p.with_file_rules([(a, &one[..]), (b, &one[..1])]);
        let shown = |p: &Policy, r: usize| -> Vec<String> {
            p.routes()[r]
                .rules
                .iter()
                .map(|x| format!("{x} {}", x.source))
                .collect()
        };
        assert_eq!(
            shown(&p1, a),
            [
                "cn:flag --allow",
                "cn:x /etc/a.rules:1",
                "cn:y /etc/a.rules:2"
            ]
        );
        assert_eq!(shown(&p1, b), ["cn:x /etc/a.rules:1"]);
        let two = parse_rules_file("# only z\ncn:z\n", &path).unwrap();
        let p2 = p1.with_file_rules([(a, &two[..])]);
        assert_eq!(shown(&p2, a), ["cn:flag --allow", "cn:z /etc/a.rules:2"]);
        assert!(shown(&p2, b).is_empty());
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
            vec![
                RouteRule::flag(Rule::Any),
                RouteRule::flag(Rule::SanUri("spiffe://x/y=z".into()))
            ]
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
            (vec!["api=/a%zz"], "broken escape"),
            (vec!["api=/a;b"], "path parameter"),
            (vec!["api=/.."], "above the root"),
            (vec!["a=/é", "b=/%c3%a9"], "one prefix in two spellings"),
            (
                vec!["a=/a!b", "b=/a%21b"],
                "a sub-delimiter raw and escaped",
            ),
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
        let ok = |p: &str| normalize_path(p).map(std::borrow::Cow::into_owned).unwrap();
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
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                Err(PathError::PathParams),
                "{p}"
            );
        }
        // An encoded semicolon is data, not a parameter separator.
        assert_eq!(
            normalize_path("/a%3Bb")
                .map(std::borrow::Cow::into_owned)
                .unwrap(),
            "/a%3Bb"
        );
    }

    #[test]
    fn normalize_decodes_unreserved_escapes_before_dot_removal() {
        let ok = |p: &str| normalize_path(p).map(std::borrow::Cow::into_owned).unwrap();
        assert_eq!(ok("/webhooks/%2e%2e/admin"), "/admin");
        assert_eq!(ok("/webhooks/%2E%2e/admin"), "/admin");
        assert_eq!(ok("/webhooks/.%2E/admin"), "/admin");
        assert_eq!(ok("/%61dmin"), "/admin");
        assert_eq!(ok("/%7E%5F%2D"), "/~_-");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(ok("/a%20b%25"), "/a%20b%25");
    }

    #[test]
    fn every_byte_has_one_spelling() {
        let ok = |p: &str| normalize_path(p).map(std::borrow::Cow::into_owned).unwrap();
        // Non-ASCII, space and other bytes a URI cannot hold raw: always escaped, uppercase.
        assert_eq!(ok("/é"), "/%C3%A9");
        assert_eq!(ok("/%c3%a9"), "/%C3%A9");
        assert_eq!(ok("/%C3%a9/x"), "/%C3%A9/x");
        assert_eq!(ok("/a b"), "/a%20b");
        assert_eq!(ok("/a\"<>{}|^`[]"), "/a%22%3C%3E%7B%7D%7C%5E%60%5B%5D");
        assert_eq!(ok("/100%25"), "/100%25");
        assert_eq!(ok("/a%3f%23"), "/a%3F%23");
        // Sub-delimiters a path may hold raw: always raw, escapes decoded.
        assert_eq!(ok("/a%21b"), "/a!b");
        assert_eq!(ok("/%24%26%27%28%29%2A%2B%2C%3D%3A%40"), "/$&'()*+,=:@");
        assert_eq!(ok("/a%3Bb"), "/a%3Bb");
        for p in ["/é/x", "/%C3%A9/x", "/%c3%a9/x"] {
            assert_eq!(ok(p), ok("/é/x"), "{p}");
        }
    }

    #[test]
    fn prefixes_take_the_canonical_form_of_any_spelling() {
        let p = |r: &str| {
            Policy::from_flags(&strs(&[r]), &[], &[], &[])
                .unwrap()
                .routes()[0]
                .prefix
                .clone()
        };
        assert_eq!(p("u=/é"), "/%C3%A9");
        assert_eq!(p("u=/%c3%a9"), "/%C3%A9");
        assert_eq!(p("u=/a b"), "/a%20b");
        assert_eq!(p("u=/%61pi"), "/api");
        assert_eq!(p("u=/a%21b/"), "/a!b/");
        assert_eq!(canonical_prefix("/a//b"), Err(Ok("/a/b".to_string())));
        assert_eq!(
            canonical_prefix("/a%2Fb"),
            Err(Err(PathError::EncodedSeparator))
        );
        let policy = Policy::from_flags(&strs(&["u=/é", "r=/"]), &[], &[], &[]).unwrap();
        for path in ["/é/x", "/%c3%a9/x", "/%C3%A9"] {
            let path = normalize_path(path)
                .map(std::borrow::Cow::into_owned)
                .unwrap();
            assert_eq!(matched(&policy, &path), Some("u"), "{path}");
        }
    }

    #[test]
    fn normalize_refuses_encoded_separators() {
        for p in ["/a%2Fb", "/a%2fb", "/a%5cb", "/a%5Cb", "/a\\b"] {
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                Err(PathError::EncodedSeparator),
                "{p}"
            );
        }
    }

    #[test]
    fn normalize_refuses_bad_encoding() {
        for p in [
            "/a%00", "/a%G1", "/a%4", "/a%", "/a%%41", "/a\u{0}b", "/a\nb",
        ] {
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                Err(PathError::BadEncoding),
                "{p:?}"
            );
        }
    }

    #[test]
    fn normalize_refuses_climbing_above_root() {
        for p in ["/..", "/../x", "/a/../..", "/%2e%2e", "/%2E%2E/x", "/./.."] {
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                Err(PathError::AboveRoot),
                "{p}"
            );
        }
    }

    #[test]
    fn normalize_refuses_non_absolute() {
        for p in ["", "*", "a/b", "http://x/y"] {
            assert_eq!(
                normalize_path(p).map(std::borrow::Cow::into_owned),
                Err(PathError::NotAbsolute),
                "{p}"
            );
        }
    }
}
