//! `certgate check`: run exactly the verification and route policy of `run`, offline, on a
//! certificate chain, and print the verdict with its reason.
//!
//! The same code decides as in `run`: `PolicySettings::from_args` for the flags,
//! `TrustStore::load`/`verify` for the chain, `normalize_path` and `Policy::decide` for the
//! route. What is added here only explains: which chain step failed, which rule came nearest.

pub use super::verdict::Verdict;
use crate::config::cli::CheckArgs;
use crate::config::settings::{PolicySettings, SettingsError, VerifySettings};
use crate::pki::identity::{IdentityError, PeerIdentity};
use crate::pki::tls::ClientAuth;
use crate::pki::trust::{read_certs, rfc3339, TrustError, TrustStore, VerifyFailure};
use crate::policy::{
    nearest_miss, normalize_path, Decision, Forbidden, Peer, Route, Rule, RuleSource,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("--cert {path}: {source}")]
    Identity {
        path: String,
        #[source]
        source: IdentityError,
    },
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
}

/// Ok(true): allowed (exit 0); Ok(false): denied (exit 1); Err: usage or input error (exit 2).
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> Result<bool, CheckError> {
    let settings = PolicySettings::from_args(&args.policy, &[])?;
    let verify = VerifySettings::from_args(&args.verify, &settings.policy)?;
    let request = match &args.request {
        Some(p) => Some(super::check_request::read(p).map_err(CheckError::Usage)?),
        None => None,
    };
    // `--path` (or the request's target) may carry a query; only the path is routed.
    let target = request
        .as_ref()
        .map_or(args.path.as_str(), |r| r.target.as_str());
    let raw_path = target.split_once('?').map_or(target, |(p, _)| p);
    let path = normalize_path(raw_path).map_err(|e| {
        CheckError::Usage(format!(
            "{} {target:?}: {e} (run answers 400 Bad Request to such a request)",
            if request.is_some() {
                "--request target"
            } else {
                "--path"
            }
        ))
    })?;
    let at_given = args.at.is_some();
    let at = match &args.at {
        Some(s) => parse_rfc3339(s).map_err(|p| CheckError::Usage(format!("--at {s:?}: {p}")))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    };
    let at_secs = u64::try_from(at)
        .map_err(|_| CheckError::Usage(format!("--at {:?}: before 1970", args.at)))?;
    let at_unix = UnixTime::since_unix_epoch(Duration::from_secs(at_secs));
    let mut v = match &args.cert {
        Some(cert) => cert_verdict(&settings, cert, &path, at_unix)?,
        None => super::check_request::route_only(&settings.policy, &path),
    };
    if let Some(req) = &request {
        if v.allowed {
            let p = super::check_request::payload_verdict(
                &settings.policy,
                &verify,
                &path,
                req,
                at_secs,
            )
            .map_err(CheckError::Usage)?;
            v.allowed = p.allowed;
            v.headline = p.headline;
            v.details.extend(p.details);
        } else {
            v.details
                .push("the payload check was not run: run refuses the request before it".into());
        }
    }
    if path != target {
        v.details.push(format!(
            "path {target:?} is judged as {path:?} after normalisation"
        ));
    }
    v.details.push(format!(
        "checked at {}{}",
        rfc3339(at_unix),
        if at_given { " (--at)" } else { " (now)" }
    ));
    match write_verdict(out, &v).and_then(|()| out.flush()) {
        // `certgate check ... | head -1` still reports the verdict by exit code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(v.allowed)
}

/// The certificate and route steps of `run` for the chain in `cert`.
fn cert_verdict(
    settings: &PolicySettings,
    cert: &std::path::Path,
    path: &str,
    at_unix: UnixTime,
) -> Result<Verdict, CheckError> {
    if cert.is_dir() {
        return Err(CheckError::Usage(format!(
            "--cert {}: is a directory; give the PEM file of the chain (leaf first)",
            cert.display()
        )));
    }
    let chain: Vec<CertificateDer<'static>> = read_certs("--cert", cert)?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(CheckError::Usage(format!(
            "--cert {}: holds no certificate",
            cert.display()
        )));
    };
    let identity = PeerIdentity::from_chain(leaf, rest).map_err(|source| CheckError::Identity {
        path: cert.display().to_string(),
        source,
    })?;
    // As `run` loads it: no bundle at all (every route public) gives an empty store.
    let store = TrustStore::load(&settings.trust)?;
    let mut v = evaluate(settings, &store, path, &identity, at_unix);
    // What `run` logs when it loads this material (kept CRLs, non-CA anchors).
    for n in store.notes() {
        let (crate::pki::trust::Note::Warn(m) | crate::pki::trust::Note::Info(m)) = n;
        v.details.push(format!("note: {m}"));
    }
    v.details.push(format!(
        "certificate: subject {}, issuer {}, SHA-256 {}",
        identity.subject_rfc4514, identity.issuer_rfc4514, identity.fingerprint_hex
    ));
    Ok(v)
}

fn write_verdict(out: &mut dyn Write, v: &Verdict) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {}",
        if v.allowed { "ALLOWED" } else { "DENIED" },
        v.headline
    )?;
    for d in &v.details {
        writeln!(out, "  {d}")?;
    }
    Ok(())
}

fn route_label(r: &Route) -> String {
    format!("route {:?} (prefix {})", r.name, r.prefix)
}

fn rules_list(r: &Route) -> Vec<String> {
    if r.rules.is_empty() {
        return vec![format!("route {:?} has no --allow rule", r.name)];
    }
    let mut v = vec![format!("rules of route {:?} (OR-ed):", r.name)];
    v.extend(
        r.rules
            .iter()
            .enumerate()
            .map(|(i, rule)| match &rule.source {
                RuleSource::Flag => format!("  {}. {rule}", i + 1),
                file => format!("  {}. {rule} ({file})", i + 1),
            }),
    );
    v
}

/// The verdict of `run` for this chain on this (normalised) path at `at`. PURE but for the
/// trust store it reads.
pub fn evaluate(
    settings: &PolicySettings,
    store: &TrustStore,
    path: &str,
    identity: &PeerIdentity,
    at: UnixTime,
) -> Verdict {
    let policy = &settings.policy;
    let now = std::time::UNIX_EPOCH + Duration::from_secs(at.as_secs());
    // With no anchor at all certgate does not ask for a certificate (tls.rs offer_client_auth).
    if store.is_empty() {
        let mut v = verdict_for(policy, path, None, identity, now);
        v.details.insert(
            0,
            "no trust anchor is configured (every route is public): certgate does not ask for a client certificate".into(),
        );
        return v;
    }
    // The handshake verifies the client's signature with the leaf's key after the chain:
    // a key it cannot use is refused there, so here too.
    let verified = store
        .check_leaf_key(&identity.leaf_der)
        .and_then(|()| store.verify(&identity.leaf_der, &identity.chain_der, at));
    match verified {
        Ok(bundles) => {
            let mut v = verdict_for(
                policy,
                path,
                Some(Peer {
                    identity,
                    bundles: &bundles,
                }),
                identity,
                now,
            );
            v.details
                .push(format!("chain verifies against trust bundles {bundles:?}"));
            v
        }
        Err(f) => {
            let why = explain_failure(&f, identity, store, at);
            let route = policy.match_route(path).map(|i| &policy.routes()[i]);
            let public = route.is_some_and(Route::public);
            // rustls refuses an invalid certificate in both modes; in optional mode the
            // client can still reach public routes by not sending one.
            if public && settings.client_auth == ClientAuth::Optional {
                let mut v = verdict_for(policy, path, None, identity, now);
                v.details.push(format!(
                    "note: this chain itself is refused at the TLS handshake ({why}); the request is allowed only when sent without a certificate"
                ));
                return v;
            }
            let mut v = Verdict::deny(format!("TLS handshake refused: {why}"));
            match route {
                None => v.details.push(format!("(and no route matches {path})")),
                Some(r) => {
                    v.details
                        .push(format!("{path} belongs to {}", route_label(r)));
                    if settings.client_auth == ClientAuth::Optional {
                        v.details.push(
                            "sent without a certificate (--client-auth optional), the request gets 401"
                                .into(),
                        );
                    }
                    // What the policy would say if the chain were fixed.
                    let hypothetical = vec![r.trust_bundle.clone()];
                    let peer = Peer {
                        identity,
                        bundles: &hypothetical,
                    };
                    if let Decision::Allow { rule, .. } = policy.decide(path, Some(peer), now) {
                        v.details.push(format!(
                            "were the chain valid, rule {} {} would allow it",
                            rule + 1,
                            r.rules[rule]
                        ));
                    } else {
                        v.details.push(
                            "were the chain valid, the route's rules would still deny it".into(),
                        );
                    }
                }
            }
            v
        }
    }
}

/// `Policy::decide` and its answer in words.
fn verdict_for(
    policy: &crate::policy::Policy,
    path: &str,
    peer: Option<Peer<'_>>,
    identity: &PeerIdentity,
    now: std::time::SystemTime,
) -> Verdict {
    match policy.decide(path, peer, now) {
        Decision::Allow { route, rule } => {
            let r = &policy.routes()[route];
            let mut v = Verdict::allow(format!(
                "{} rule {} {}",
                route_label(r),
                rule + 1,
                r.rules[rule]
            ));
            if r.rules[rule].rule == Rule::Public {
                v.details
                    .push("public: open to everyone, certificate or not".into());
            }
            v
        }
        Decision::NoRoute => {
            let mut v = Verdict::deny(format!("no route matches {path} (run answers 404)"));
            let routes: Vec<String> = policy
                .routes()
                .iter()
                .map(|r| format!("{}={}", r.name, r.prefix))
                .collect();
            v.details.push(if routes.is_empty() {
                "no --route is configured".into()
            } else {
                format!("routes: {}", routes.join(", "))
            });
            v
        }
        Decision::Unauthenticated { route } => Verdict::deny(format!(
            "{} requires a client certificate and none is requested (run answers 401)",
            route_label(&policy.routes()[route])
        )),
        Decision::Forbidden { route, reason } => {
            let r = &policy.routes()[route];
            let mut v = match reason {
                Forbidden::NoRules => Verdict::deny(format!(
                    "{} has no --allow rule, so it denies everything (run answers 403)",
                    route_label(r)
                )),
                Forbidden::WrongBundle { required } => {
                    let bundles = peer.map(|p| p.bundles.to_vec()).unwrap_or_default();
                    Verdict::deny(format!(
                        "{} requires trust bundle {required:?} (--route-trust); the chain verifies against {bundles:?} (run answers 403)",
                        route_label(r)
                    ))
                }
                Forbidden::RuleEnded { rule } => Verdict::deny(format!(
                    "{}: rule {} {} would match, but it ended (until=) before the check time (run answers 403)",
                    route_label(r),
                    rule + 1,
                    r.rules[rule]
                )),
                Forbidden::NoRuleMatched => {
                    let plain: Vec<Rule> = r.rules.iter().map(|x| x.rule.clone()).collect();
                    let nearest = match nearest_miss(&plain, identity) {
                        Some((i, m)) => {
                            format!("; nearest is rule {} {}: {}", i + 1, r.rules[i], m.why)
                        }
                        None => String::new(),
                    };
                    Verdict::deny(format!(
                        "{}: no --allow rule matches the certificate{nearest} (run answers 403)",
                        route_label(r)
                    ))
                }
            };
            v.details.extend(rules_list(r));
            v
        }
    }
}

/// The operator wording of `handshake_log`, plus which certificate of the chain failed.
fn explain_failure(
    f: &VerifyFailure,
    identity: &PeerIdentity,
    store: &TrustStore,
    at: UnixTime,
) -> String {
    // The same words as the handshake log line of `run`.
    let hint =
        matches!(f, VerifyFailure::UnknownIssuer).then(|| store.issuer_hint(&identity.issuer));
    let base =
        crate::ops::handshake_log::classify(None, Some((f, Some(identity))), hint.as_ref()).reason;
    let presented: Vec<PeerIdentity> = identity
        .chain_der
        .iter()
        .filter_map(|c| PeerIdentity::from_chain(c, &[]).ok())
        .collect();
    let configured: Vec<PeerIdentity> = store
        .intermediates()
        .iter()
        .filter_map(|c| PeerIdentity::from_chain(c, &[]).ok())
        .collect();
    let detail = match f {
        VerifyFailure::UnknownIssuer => {
            let anchors: Vec<(String, PeerIdentity)> = store
                .bundles()
                .iter()
                .flat_map(|b| {
                    b.certs.iter().filter_map(|c| {
                        PeerIdentity::from_chain(c, &[])
                            .ok()
                            .map(|id| (b.name.clone(), id))
                    })
                })
                .collect();
            issuer_walk(identity, &presented, &configured, &anchors)
        }
        VerifyFailure::Expired { not_after } => {
            let t = i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX);
            which(identity, &presented, &configured, |c| c.not_after_unix == t)
                .map(|w| format!("the expired certificate is {w}"))
        }
        VerifyFailure::NotYetValid { not_before } => {
            let t = i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX);
            which(identity, &presented, &configured, |c| {
                c.not_before_unix == t
            })
            .map(|w| format!("the not-yet-valid certificate is {w}"))
        }
        VerifyFailure::Revoked => revoked_detail(identity, &presented, &configured, store),
        VerifyFailure::BadUsage => {
            let now = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
            match crate::tools::inspect::describe(&identity.leaf_der, now) {
                Ok(r) if r.is_ca => Some(
                    "the leaf is a CA certificate (basicConstraints CA:TRUE), which cannot be a client certificate"
                        .into(),
                ),
                Ok(r) => match r.extended_key_usage {
                    Some(ekus) if !ekus.iter().any(|e| e == "clientAuth") => Some(format!(
                        "the leaf's extended key usage is [{}]",
                        ekus.join(", ")
                    )),
                    _ => Some(
                        "the leaf allows clientAuth, so an intermediate's extended key usage excludes it"
                            .into(),
                    ),
                },
                Err(_) => None,
            }
        }
        VerifyFailure::CrlExpired => {
            let now = i64::try_from(at.as_secs()).unwrap_or(i64::MAX);
            let stale: Vec<String> = store
                .crl_next_updates()
                .iter()
                .filter(|(next, _)| *next < now)
                .map(|(next, issuer)| {
                    let t = u64::try_from(*next)
                        .map(|s| rfc3339(UnixTime::since_unix_epoch(Duration::from_secs(s))))
                        .unwrap_or_else(|_| next.to_string());
                    format!("CRL of {issuer} (next update {t})")
                })
                .collect();
            (!stale.is_empty()).then(|| format!("stale: {}", stale.join(", ")))
        }
        _ => None,
    };
    match detail {
        Some(d) => format!("{base} [{d}]"),
        None => base,
    }
}

/// Which certificate of the chain (leaf, sent intermediate, configured intermediate) `pred` picks.
fn which(
    leaf: &PeerIdentity,
    presented: &[PeerIdentity],
    configured: &[PeerIdentity],
    pred: impl Fn(&PeerIdentity) -> bool,
) -> Option<String> {
    if pred(leaf) {
        return Some(format!("the leaf {}", leaf.subject_rfc4514));
    }
    if let Some(c) = presented.iter().find(|c| pred(c)) {
        return Some(format!("intermediate {} sent in --cert", c.subject_rfc4514));
    }
    configured
        .iter()
        .find(|c| pred(c))
        .map(|c| format!("intermediate {} from --intermediates", c.subject_rfc4514))
}

/// Follow issuer names from the leaf through the sent and configured intermediates and say
/// where the path to a trust anchor breaks. `None` when the leaf's own issuer is simply
/// unknown (the handshake log's wording already says so).
fn issuer_walk(
    leaf: &PeerIdentity,
    presented: &[PeerIdentity],
    configured: &[PeerIdentity],
    anchors: &[(String, PeerIdentity)],
) -> Option<String> {
    let mut steps: Vec<String> = Vec::new();
    let mut cur = leaf;
    for _ in 0..8 {
        let issuer = &cur.issuer;
        let prefix = if steps.is_empty() {
            String::new()
        } else {
            format!("chain: leaf <- {}; ", steps.join(" <- "))
        };
        let who = if steps.is_empty() {
            "the leaf".to_string()
        } else {
            cur.subject_rfc4514.clone()
        };
        let mut in_bundles: Vec<&str> = anchors
            .iter()
            .filter(|(_, a)| a.subject == *issuer)
            .map(|(b, _)| b.as_str())
            .collect();
        in_bundles.dedup();
        if !in_bundles.is_empty() {
            return Some(format!(
                "{prefix}{who} names {} as issuer, an anchor of bundle {in_bundles:?} has that subject, but its key does not verify the chain (a different CA with the same name?) or one of its constraints refuses it",
                cur.issuer_rfc4514
            ));
        }
        if cur.subject == *issuer {
            return Some(format!(
                "{prefix}{who} is self-signed and is not a trust anchor of any bundle"
            ));
        }
        let next = presented
            .iter()
            .find(|c| c.subject == *issuer)
            .map(|c| (c, "sent in --cert"))
            .or_else(|| {
                configured
                    .iter()
                    .find(|c| c.subject == *issuer)
                    .map(|c| (c, "from --intermediates"))
            });
        match next {
            Some((c, source)) => {
                steps.push(format!("{} ({source})", c.subject_rfc4514));
                cur = c;
            }
            None if steps.is_empty() => return None,
            None => {
                return Some(format!(
                    "{prefix}{}'s issuer is {}; no trust anchor and no intermediate (sent in --cert or given with --intermediates) has that subject",
                    cur.subject_rfc4514, cur.issuer_rfc4514
                ));
            }
        }
    }
    Some(format!(
        "chain: leaf <- {}; longer than 8 certificates",
        steps.join(" <- ")
    ))
}

/// Which certificate a CRL revokes, when, and why.
fn revoked_detail(
    leaf: &PeerIdentity,
    presented: &[PeerIdentity],
    configured: &[PeerIdentity],
    store: &TrustStore,
) -> Option<String> {
    use der::{Decode, Encode};
    let all = std::iter::once(("the leaf", leaf))
        .chain(presented.iter().map(|c| ("intermediate", c)))
        .chain(configured.iter().map(|c| ("intermediate", c)));
    for (role, c) in all {
        let Ok(cert) = x509_cert::Certificate::from_der(c.leaf_der.as_ref()) else {
            continue;
        };
        let Ok(issuer) = cert.tbs_certificate.issuer.to_der() else {
            continue;
        };
        // The index keys issuers by their Name without its SEQUENCE header, as webpki does.
        let Some(name) = crate::pki::revocation::name_contents(&issuer) else {
            continue;
        };
        let serial = cert.tbs_certificate.serial_number.as_bytes();
        if let Some((crl, entry)) = store.revocation().find_revoked(name, serial) {
            let at = entry
                .revoked_at
                .and_then(|t| u64::try_from(t).ok())
                .map(|t| rfc3339(UnixTime::since_unix_epoch(Duration::from_secs(t))))
                .unwrap_or_else(|| "?".into());
            let reason = entry
                .reason
                .map(|x| format!(", reason {x}"))
                .unwrap_or_default();
            return Some(format!(
                "{role} {} (serial {}) revoked at {at}{reason} by the CRL of {} in {}",
                c.subject_rfc4514,
                c.serial_hex,
                crl.issuer_display,
                crl.file.display()
            ));
        }
    }
    None
}

/// Parse an RFC 3339 date-time (`2030-01-02T03:04:05Z`, `...05.5+02:00`) to unix seconds.
/// Hand-written so the `time` crate's `parsing` feature is not needed.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let bad = || "expected an RFC 3339 time such as 2030-01-02T03:04:05Z".to_string();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<u32, String> {
        let part = b.get(from..from + len).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        part.iter()
            .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
            .ok_or_else(bad)
    };
    let sep = |at: usize, ok: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(c) if ok.contains(c) => Ok(()),
            _ => Err(bad()),
        }
    };
    let year = num(0, 4)?;
    sep(4, b"-")?;
    let month = num(5, 2)?;
    sep(7, b"-")?;
    let day = num(8, 2)?;
    sep(10, b"Tt ")?;
    let hour = num(11, 2)?;
    sep(13, b":")?;
    let minute = num(14, 2)?;
    sep(16, b":")?;
    // A leap second is read as the second before it.
    let second = num(17, 2)?.min(59);
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    let offset: i64 = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = num(i + 1, 2)?;
            sep(i + 3, b":")?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(format!("{} (with Z or a +HH:MM offset)", bad())),
    };
    let month =
        time::Month::try_from(u8::try_from(month).map_err(|_| bad())?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(
        i32::try_from(year).map_err(|_| bad())?,
        month,
        u8::try_from(day).map_err(|_| bad())?,
    )
    .map_err(|e| format!("{}: {e}", bad()))?;
    let t = time::Time::from_hms(
        u8::try_from(hour).map_err(|_| bad())?,
        u8::try_from(minute).map_err(|_| bad())?,
        u8::try_from(second).map_err(|_| bad())?,
    )
    .map_err(|e| format!("{}: {e}", bad()))?;
    Ok(date.with_time(t).assume_utc().unix_timestamp() - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2030-01-02T03:04:05Z"), Ok(1_893_553_445));
        assert_eq!(parse_rfc3339("2030-01-02t03:04:05.123z"), Ok(1_893_553_445));
        assert_eq!(
            parse_rfc3339("2030-01-02T05:04:05+02:00"),
            Ok(1_893_553_445)
        );
        assert_eq!(
            parse_rfc3339("2030-01-02T01:34:05-01:30"),
            Ok(1_893_553_445)
        );
        assert_eq!(parse_rfc3339("2030-01-02 03:04:05Z"), Ok(1_893_553_445));
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
    }

    #[test]
    fn rfc3339_rejects_malformed_times() {
        for s in [
            "",
            "2030-01-02",
            "2030-01-02T03:04:05",
            "2030-01-02T03:04Z",
            "2030-13-02T03:04:05Z",
            "2030-02-30T03:04:05Z",
            "2030-01-02T24:04:05Z",
            "2030-01-02T03:04:05.Z",
            "2030-01-02T03:04:05+0200",
            "2030-01-02T03:04:05Z junk",
            "20x0-01-02T03:04:05Z",
            "2030-01-02T03:04:05+24:00",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s}");
        }
    }

    fn id(subject: &str, issuer: &str) -> PeerIdentity {
        let dn = |s: &str| crate::pki::dn::Dn::parse(s).unwrap();
        PeerIdentity {
            subject: dn(subject),
            issuer: dn(issuer),
            subject_rfc4514: dn(subject).to_rfc4514(),
            issuer_rfc4514: dn(issuer).to_rfc4514(),
            fingerprint: [0; 32],
            fingerprint_hex: "00".repeat(32),
            serial_hex: "01".into(),
            not_before_unix: 0,
            not_after_unix: 0,
            not_after_rfc3339: String::new(),
            san_dns: vec![],
            san_uri: vec![],
            san_email: vec![],
            leaf_der: CertificateDer::from(vec![0u8]),
            chain_der: vec![],
        }
    }

    #[test]
    fn issuer_walk_names_where_the_chain_breaks() {
        let leaf = id("CN=svc", "CN=Int");
        assert_eq!(issuer_walk(&leaf, &[], &[], &[]), None);
        let int = id("CN=Int", "CN=Root");
        let w = issuer_walk(&leaf, &[], std::slice::from_ref(&int), &[]).unwrap();
        assert!(
            w.starts_with(
                "chain: leaf <- CN=Int (from --intermediates); CN=Int's issuer is CN=Root"
            ),
            "{w}"
        );
        let root = id("CN=Root", "CN=Root");
        let w = issuer_walk(
            &leaf,
            std::slice::from_ref(&int),
            &[],
            &[("default".into(), root.clone())],
        )
        .unwrap();
        assert!(
            w.contains("anchor of bundle [\"default\"] has that subject"),
            "{w}"
        );
        let w = issuer_walk(&leaf, &[int, root], &[], &[]).unwrap();
        assert!(
            w.contains("CN=Root is self-signed and is not a trust anchor"),
            "{w}"
        );
        let selfsigned = id("CN=me", "CN=me");
        assert!(issuer_walk(&selfsigned, &[], &[], &[])
            .unwrap()
            .starts_with("the leaf is self-signed"));
    }
}
