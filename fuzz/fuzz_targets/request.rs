//! certgate's own HTTP/1.1 server's request side (`h1request`): which heads are plain, and
//! the head written upstream for a plain one, from arbitrary bytes. Byte 0 picks the
//! header settings (RFC 9440 forwarding, XFCC) and whether the connection vouches for an
//! identity; the rest is what a client sends.
//!
//! `parse` never panics. For a plain head whose target normalises (as the own server
//! needs), `write_upstream_head` writes one complete HTTP/1.1 request head that httparse
//! reads back whole: the method and the normalised path and query of the request,
//! lowercase names, exactly one `x-forwarded-proto` (`https`), `x-forwarded-for` (ending
//! in the client's address) and `x-request-id`, exactly one `host` (the upstream's authority
//! when `Connection` names the client's), no framing field but at most one `content-length`
//! (the body's length, at most `MAX_BODY`, in canonical digits), no hop-by-hop field, and no field in certgate's
//! namespace (identity prefix, renamed or stripped names, XFCC, X-Signature-Verified)
//! but the identity lines certgate added itself.
#![no_main]

use certgate::http::h1request::{self, Added};
use certgate::http::headers::{sane_request_id, ForwardCert, HeaderConfig, HOP_BY_HOP};
use http::HeaderValue;
use libfuzzer_sys::fuzz_target;

const IDENTITY: &[u8] = b"x-client-cert-subject: CN=fuzz\r\nx-ssl-client-s-dn: CN=fuzz\r\n";

/// Lowercase, `_` as `-`: how names compare for stripping.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

fuzz_target!(|data: &[u8]| {
    let [flags, input @ ..] = data else {
        return;
    };
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; h1request::MAX_FIELDS];
    let Ok(req) = h1request::parse(input, &mut slots) else {
        return;
    };
    assert!(req.head_len <= input.len());
    assert!(req.body_len <= h1request::MAX_BODY);
    assert!(req.target.starts_with('/'));
    // As the own server does: a target that does not parse or normalise is hyper's.
    let Ok(target) = http::uri::PathAndQuery::try_from(req.target) else {
        return;
    };
    let Ok(path) = certgate::policy::normalize_path(target.path()) else {
        return;
    };
    let cfg = HeaderConfig::new(
        "X-Client-Cert-",
        &["subject=X-SSL-Client-S-DN".to_string()],
        &["X-Legacy-Auth".to_string()],
        if flags & 1 == 1 {
            ForwardCert::Rfc9440
        } else {
            ForwardCert::None
        },
        flags & 2 == 2,
    )
    .expect("valid header settings");
    let identity: &[u8] = if flags & 4 == 4 { IDENTITY } else { b"" };
    let client_ip = HeaderValue::from_static("192.0.2.1");
    let request_id: &[u8] = match req.field("x-request-id") {
        Some(v) if sane_request_id(v) => v,
        _ => b"generated-1",
    };
    let default_host = HeaderValue::from_static("127.0.0.1:8080");
    let added = Added {
        identity_lines: identity,
        client_ip: &client_ip,
        request_id,
        default_host: &default_host,
    };
    let mut out = Vec::new();
    h1request::write_upstream_head(&mut out, &req, &path, target.query(), &cfg, &added);

    let mut fields = [httparse::EMPTY_HEADER; 2 * h1request::MAX_FIELDS];
    let mut back = httparse::Request::new(&mut fields);
    let n = match back.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "the upstream head does not parse ({other:?}): {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(n, out.len(), "one head and nothing after it");
    assert_eq!(back.version, Some(1));
    assert_eq!(back.method, Some(req.method));
    let want_target = match target.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    assert_eq!(back.path, Some(want_target.as_str()));

    let count = |name: &str| back.headers.iter().filter(|h| fold(h.name) == name).count();
    for name in ["x-forwarded-proto", "x-forwarded-for", "x-request-id"] {
        assert_eq!(
            count(name),
            1,
            "{name} in {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    assert_eq!(count("transfer-encoding"), 0);
    assert_eq!(count("host"), 1);
    assert!(count("content-length") <= 1);
    let mut identity_seen = Vec::new();
    for h in back.headers.iter() {
        assert_eq!(h.name, h.name.to_ascii_lowercase(), "lowercase names");
        let name = fold(h.name);
        match name.as_str() {
            "content-length" => assert_eq!(h.value, req.body_len.to_string().as_bytes()),
            "x-forwarded-proto" => assert_eq!(h.value, b"https"),
            "x-forwarded-for" => assert!(h.value.ends_with(b"192.0.2.1")),
            "x-request-id" => assert_eq!(h.value, request_id),
            _ => {}
        }
        assert!(
            !HOP_BY_HOP.contains(&name.as_str()),
            "hop-by-hop {name} in {:?}",
            String::from_utf8_lossy(&out)
        );
        if cfg.is_identity_header(h.name) {
            identity_seen.extend_from_slice(h.name.as_bytes());
            identity_seen.extend_from_slice(b": ");
            identity_seen.extend_from_slice(h.value);
            identity_seen.extend_from_slice(b"\r\n");
        }
    }
    assert_eq!(
        identity_seen,
        identity,
        "only certgate's identity lines: {:?}",
        String::from_utf8_lossy(&out)
    );
});
