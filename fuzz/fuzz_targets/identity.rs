//! A client certificate (DER) as the handshake hands it over: the peer identity, the
//! identity headers and `certgate inspect`'s description. Never panics, and what certgate
//! prints of a certificate is usable as written: the subject and issuer headers parse back
//! to the certificate's own names, a `subject:`/`issuer:` rule made from them matches it,
//! and the rules that `inspect` suggests parse.
#![no_main]

use certgate::http::headers::{ForwardCert, HeaderConfig, DEFAULT_PREFIX};
use certgate::http::identity_headers::IdentityHeaders;
use certgate::pki::dn::Dn;
use certgate::pki::identity::PeerIdentity;
use certgate::policy::Rule;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    let leaf = CertificateDer::from(data);
    let report = certgate::tools::inspect::describe(&leaf, 1_800_000_000);
    let Ok(id) = PeerIdentity::from_chain(&leaf, std::slice::from_ref(&leaf)) else {
        return;
    };
    for (printed, name) in [
        (&id.subject_rfc4514, &id.subject),
        (&id.issuer_rfc4514, &id.issuer),
    ] {
        if name.rdns().is_empty() {
            continue; // an empty name has no rule form
        }
        let again = Dn::parse(printed).unwrap_or_else(|e| {
            panic!("certificate name printed as {printed:?} does not parse: {e}")
        });
        assert_eq!(
            &again, name,
            "{printed:?} parses to another name than the certificate's"
        );
    }
    if !id.subject.rdns().is_empty() {
        let rule: Rule = format!("subject:{}", id.subject_rfc4514)
            .parse()
            .expect("subject rule parses");
        assert!(
            rule.matches(&id),
            "subject rule made from the header does not match"
        );
    }
    if !id.issuer.rdns().is_empty() {
        let rule: Rule = format!("issuer:{}", id.issuer_rfc4514)
            .parse()
            .expect("issuer rule parses");
        assert!(
            rule.matches(&id),
            "issuer rule made from the header does not match"
        );
    }
    let fp: Rule = format!("fingerprint:{}", id.fingerprint_hex)
        .parse()
        .expect("fingerprint rule parses");
    assert!(fp.matches(&id));
    for (mode, xfcc) in [(ForwardCert::Pem, true), (ForwardCert::Rfc9440, false)] {
        let cfg = HeaderConfig::new(DEFAULT_PREFIX, &[], &[], mode, xfcc).expect("default config");
        let _ = IdentityHeaders::build(&id, &cfg);
    }
    // inspect may refuse what the handshake takes (e.g. a malformed extension): exit 2.
    let Ok(report) = report else { return };
    for printed in &report.allow_rules {
        let rule: Rule = printed
            .parse()
            .unwrap_or_else(|e| panic!("inspect suggests {printed:?}, which does not parse: {e}"));
        match &rule {
            // `issuer:` is suggested for what a CA issues: it names this certificate's subject.
            Rule::Issuer(dn) => assert_eq!(dn, &id.subject, "inspect suggests {printed:?}"),
            _ => assert!(
                rule.matches(&id),
                "inspect suggests {printed:?}, which does not match"
            ),
        }
    }
    for (printed, name) in [
        (&report.subject_slash, &id.subject),
        (&report.issuer_slash, &id.issuer),
    ] {
        if !name.rdns().is_empty() {
            let again = Dn::parse(printed)
                .unwrap_or_else(|e| panic!("slash form {printed:?} does not parse: {e}"));
            assert_eq!(
                &again, name,
                "slash form {printed:?} parses to another name"
            );
        }
    }
});
