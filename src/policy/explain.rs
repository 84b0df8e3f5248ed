//! Why a rule does not match, and which rule of a route came nearest (for `certgate check`).
//! PURE, and only for people: `decide` never calls these.

use super::rule::Rule;
use crate::pki::dn::Dn;
use crate::pki::identity::PeerIdentity;

// ---------------------------------------------------------------------------------------
// Explaining denials (`certgate check`): why a rule does not match, and which rule of a
// route came nearest. PURE, and only for people: `decide` never calls these.
// ---------------------------------------------------------------------------------------

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
