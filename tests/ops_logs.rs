//! Distinguished Names in log lines are exactly what the identity headers carry (RFC 4514,
//! one backslash before an escaped character), in the text and the JSON log formats, on the
//! access line and on the rejected-handshake line: a subject copied from a log line, used as
//! a `subject:` (or `issuer:`) rule in a second run, admits that client and no other.

mod support;

use support::*;

#[derive(Clone, Copy, Debug)]
enum Format {
    Text,
    Json,
}

impl Format {
    fn flag(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

/// What an operator copies from `line` for `field`. Text: what follows `field=` up to the
/// next ` name=` (a lowercase field name) or the end of the line. JSON: the decoded string
/// value of `fields.<field>`.
fn copy_field(format: Format, line: &str, field: &str) -> String {
    match format {
        Format::Text => {
            let key = format!(" {field}=");
            let start = line
                .find(&key)
                .unwrap_or_else(|| panic!("no {field}= in {line:?}"))
                + key.len();
            let rest = &line[start..];
            let mut end = rest.len();
            for (i, _) in rest.match_indices(' ') {
                let name: String = rest[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[i + 1 + name.len()..].starts_with('=') {
                    end = i;
                    break;
                }
            }
            rest[..end].to_string()
        }
        Format::Json => {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
            v["fields"][field]
                .as_str()
                .unwrap_or_else(|| panic!("no string fields.{field} in {line}"))
                .to_string()
        }
    }
}

fn args(pki: &Pki, upstream: &str, format: Format, extra: &[&str]) -> Vec<String> {
    let mut a = pki.base_args();
    for x in ["--upstream", upstream, "--log-format", format.flag()] {
        a.push(x.into());
    }
    a.extend(extra.iter().map(|x| x.to_string()));
    a
}

/// A sender whose organisation name holds a comma, as DocuSign's does.
fn docusign_spec(cn: &str) -> ClientSpec {
    ClientSpec::new().c("US").o("DocuSign, Inc.").cn(cn)
}

const DOCUSIGN_SUBJECT: &str = r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US";

#[tokio::test]
async fn subject_copied_from_the_access_log_is_a_valid_subject_rule() {
    for format in [Format::Text, Format::Json] {
        let pki = Pki::new();
        let sender = pki.client("docusign", docusign_spec("demo.docusign.net"));
        let other = pki.client("other", docusign_spec("other.docusign.net"));
        let upstream = Upstream::start().await;

        // First run: any verified certificate; read the access line.
        let cg = Certgate::start_args(
            &args(
                &pki,
                &upstream.url,
                format,
                &["--route", "hooks=/hooks", "--allow", "hooks=any"],
            ),
            &[],
        )
        .await;
        let r = cg.client(&pki).cert(&sender).get("/hooks/a").await.unwrap();
        assert_eq!(r.status, 200);
        let header = upstream
            .single()
            .expect("x-client-cert-subject")
            .to_string();
        assert_eq!(
            header, DOCUSIGN_SUBJECT,
            "the identity header (independent check)"
        );
        let line = cg
            .wait_for_log_where("the access line of the allowed request", |l| {
                l.contains("request_id") && l.contains("fingerprint")
            })
            .await;
        let copied = copy_field(format, &line, "subject");
        assert_eq!(
            copied, header,
            "{format:?}: the subject in the access line must be the header's value: {line}"
        );
        drop(cg);

        // Second run: the copied subject is the only rule.
        let rule = format!("hooks=subject:{copied}");
        let cg = Certgate::start_args(
            &args(
                &pki,
                &upstream.url,
                format,
                &["--route", "hooks=/hooks", "--allow", &rule],
            ),
            &[],
        )
        .await;
        let seen = upstream.count();
        let r = cg.client(&pki).cert(&sender).get("/hooks/b").await.unwrap();
        assert_eq!(
            r.status, 200,
            "{format:?}: the copied rule admits its sender"
        );
        assert_eq!(upstream.count(), seen + 1);
        assert_eq!(
            upstream.paths().last().map(String::as_str),
            Some("/hooks/b")
        );
        let r = cg.client(&pki).cert(&other).get("/hooks/c").await.unwrap();
        assert_eq!(r.status, 403, "{format:?}: and only its sender");
        assert_eq!(
            upstream.count(),
            seen + 1,
            "the denied request never reached the upstream"
        );
    }
}

#[tokio::test]
async fn subject_and_issuer_copied_from_a_rejected_handshake_line_are_valid_rules() {
    for format in [Format::Text, Format::Json] {
        let pki = Pki::new();
        let partner = pki.other_ca("Partner CA, Europe");
        let sender = partner.issue("docusign", docusign_spec("demo.docusign.net"));
        let upstream = Upstream::start().await;

        // First run: the partner's CA is not trusted yet; the handshake is refused and logged.
        let cg = Certgate::start_args(
            &args(
                &pki,
                &upstream.url,
                format,
                &["--route", "hooks=/hooks", "--allow", "hooks=any"],
            ),
            &[],
        )
        .await;
        let refused = cg.client(&pki).cert(&sender).get("/hooks").await;
        assert!(
            matches!(&refused, Err(e) if e.is_tls_refusal()),
            "{refused:?}"
        );
        let line = wait_for_handshake_rejection_log(&cg, &["unknown issuer"]).await;
        let subject = copy_field(format, &line, "subject");
        let issuer = copy_field(format, &line, "issuer");
        assert_eq!(subject, DOCUSIGN_SUBJECT, "{format:?}: {line}");
        assert_eq!(
            issuer, r"CN=Partner CA\, Europe,O=Certgate Test,C=US",
            "{format:?}: {line}"
        );
        upstream.assert_nothing("a refused handshake sends nothing upstream");
        drop(cg);

        // Second run: the partner's CA is trusted and the copied names are the rules.
        let subject_rule = format!("hooks=subject:{subject}");
        let issuer_rule = format!("partner=issuer:{issuer}");
        let trust = s(&partner.cert_path);
        let cg = Certgate::start_args(
            &args(
                &pki,
                &upstream.url,
                format,
                &[
                    "--trust",
                    &trust,
                    "--route",
                    "hooks=/hooks",
                    "--allow",
                    &subject_rule,
                    "--route",
                    "partner=/partner",
                    "--allow",
                    &issuer_rule,
                ],
            ),
            &[],
        )
        .await;
        for path in ["/hooks/x", "/partner/y"] {
            let r = cg.client(&pki).cert(&sender).get(path).await.unwrap();
            assert_eq!(
                r.status, 200,
                "{format:?} {path}: the copied rule admits the sender"
            );
        }
        assert_eq!(upstream.paths(), vec!["/hooks/x", "/partner/y"]);
        // A client of the other CA matches neither rule.
        let own = pki.client("own", docusign_spec("own.example"));
        for path in ["/hooks/z", "/partner/z"] {
            let r = cg.client(&pki).cert(&own).get(path).await.unwrap();
            assert_eq!(r.status, 403, "{format:?} {path}");
        }
        assert_eq!(upstream.count(), 2);
    }
}
