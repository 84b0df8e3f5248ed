//! `certgate check --request FILE`: run a route's payload signature check offline on a raw
//! HTTP/1.1 request, as `run` would, and explain the verdict: the failing step, the keys
//! tried and, for `http-signature` and `upvest`, the signature base certgate computed (so
//! it can be compared with the one the sender signed).

use super::verdict::Verdict;
use crate::config::settings::VerifySettings;
use crate::payload::route::load_keys;
use crate::payload::{signature_bases, verify, Context, ReplayCache, Request, Scheme};
use crate::policy::Policy;
use std::path::Path;

/// A request as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRequest {
    pub method: String,
    /// Origin-form target (path and query).
    pub target: String,
    /// From an absolute-form target, else the Host header.
    pub authority: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body: a chunk size line has no CRLF")?;
        let size_text =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| "chunked body: bad size")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("chunked body: bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("chunked body: a chunk is shorter than its size".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Parse a raw HTTP/1.1 request: request line, headers, an empty line, the body (by
/// `Content-Length`, chunked, or the rest of the file). Lines may end in CRLF or LF.
pub fn parse(bytes: &[u8]) -> Result<RawRequest, String> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    let (head, rest) = match (crlf, lf) {
        (Some(c), Some(l)) if l + 1 < c => (&bytes[..l], &bytes[l + 2..]),
        (Some(c), _) => (&bytes[..c], &bytes[c + 4..]),
        (None, Some(l)) => (&bytes[..l], &bytes[l + 2..]),
        (None, None) => (bytes, &b""[..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| "the request head is not UTF-8 text")?;
    let mut lines = head.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("").trim_start_matches('\u{feff}');
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "first line {request_line:?} is not METHOD TARGET HTTP/1.1"
        ));
    };
    if !version.starts_with("HTTP/1") {
        return Err(format!("first line {request_line:?}: expected HTTP/1.x"));
    }
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            let Some(last) = headers.last_mut() else {
                return Err("a continuation line before any header".into());
            };
            last.1.push(b' ');
            last.1.extend_from_slice(line.trim().as_bytes());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("header line {line:?} has no colon"));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(format!("header line {line:?}: bad field name"));
        }
        headers.push((name.to_string(), value.trim().as_bytes().to_vec()));
    }
    let header = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(n))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let (authority, target) = match target.split_once("://") {
        Some((_, after)) => {
            let slash = after.find('/').unwrap_or(after.len());
            let path = &after[slash..];
            (
                after[..slash].to_string(),
                if path.is_empty() { "/" } else { path }.to_string(),
            )
        }
        None => (header("host").unwrap_or_default(), target.to_string()),
    };
    let chunked =
        header("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(cl) = header("content-length") {
        let n: usize = cl
            .trim()
            .parse()
            .map_err(|_| format!("Content-Length {cl:?} is not a number"))?;
        if rest.len() < n {
            return Err(format!(
                "Content-Length is {n} but the file holds {} body bytes",
                rest.len()
            ));
        }
        rest[..n].to_vec()
    } else if rest.iter().all(|b| *b == b'\r' || *b == b'\n') {
        Vec::new()
    } else {
        rest.to_vec()
    };
    Ok(RawRequest {
        method: method.to_string(),
        target,
        authority,
        headers,
        body,
    })
}

/// `--request FILE`; the error is a sentence naming the flag and file.
pub fn read(path: &Path) -> Result<RawRequest, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("--request {}: cannot read: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("--request {}: {e}", path.display()))
}

/// Without `--cert`: only the routing step of `run`.
pub fn route_only(policy: &Policy, path: &str) -> Verdict {
    match policy.match_route(path) {
        None => Verdict::deny(format!("no route matches {path:?} (run answers 404)")),
        Some(i) => {
            let mut v = Verdict::allow(format!("route {:?}", policy.routes()[i].name));
            v.details
                .push("no --cert given: the certificate and its rules were not checked".into());
            v
        }
    }
}

/// The payload step of `run` for `raw` on `path`'s route, at `now` (Unix seconds).
pub fn payload_verdict(
    policy: &Policy,
    verify_settings: &VerifySettings,
    path: &str,
    raw: &RawRequest,
    now: u64,
) -> Result<Verdict, String> {
    let Some(route) = policy.match_route(path) else {
        return Ok(Verdict::deny(format!(
            "no route matches {path:?} (run answers 404)"
        )));
    };
    let name = &policy.routes()[route].name;
    let Some(config) = verify_settings.routes.iter().find(|r| r.route == route) else {
        let mut v = Verdict::allow(format!(
            "route {name:?} has no --verify: its body is forwarded unchecked"
        ));
        v.details.push(
            "pass --verify NAME=SCHEME and --verify-key NAME=PATH to check a signature".into(),
        );
        return Ok(v);
    };
    let scheme = config.scheme;
    let keys = load_keys(scheme, &config.key_paths).map_err(|e| e.to_string())?;
    let headers: Vec<(&str, &[u8])> = raw
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    let request = Request {
        method: &raw.method,
        authority: &raw.authority,
        target: &raw.target,
        headers: &headers,
        body: &raw.body,
    };
    let mut details = vec![format!(
        "--verify {name}={scheme}{}, tolerance {} s, keys: {}",
        if config.report { " (report mode)" } else { "" },
        verify_settings.tolerance.as_secs(),
        keys.iter()
            .map(|k| format!("{} ({})", k.name, k.material.describe()))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    let verdict = if raw.body.len() > verify_settings.max_body_bytes {
        let why = format!(
            "too_large: the body has {} bytes, over --max-body-bytes {} (run answers 413)",
            raw.body.len(),
            verify_settings.max_body_bytes
        );
        details.push("failing step: too_large".into());
        Verdict::deny(format!(
            "route {name:?}: payload signature check failed: {why}"
        ))
    } else {
        let replay = ReplayCache::new(1);
        let context = Context {
            keys: &keys,
            now,
            tolerance: verify_settings.tolerance.as_secs(),
            replay: Some(&replay),
        };
        match verify(scheme, &request, &context) {
            Ok(ok) => {
                details.push(format!(
                    "the upstream would get X-Signature-Verified: {}",
                    ok.header_value(scheme)
                ));
                Verdict::allow(format!(
                    "route {name:?}: payload signature verified ({scheme}, key {})",
                    ok.key
                ))
            }
            Err(e) => {
                details.push(format!("failing step: {}", e.failure.label()));
                if config.report {
                    Verdict::allow(format!(
                        "route {name:?}: payload signature check failed ({e}), but --verify-mode {name}=report forwards it"
                    ))
                } else {
                    Verdict::deny(format!(
                        "route {name:?}: payload signature check failed: {e} (run answers 401)"
                    ))
                }
            }
        }
    };
    if scheme.has_signature_base() {
        for (label, base) in signature_bases(scheme, &request) {
            match base {
                Ok(text) => {
                    details.push(format!(
                        "signature base of {label} as certgate computed it:"
                    ));
                    details.extend(text.lines().map(|l| format!("  {l}")));
                }
                Err(e) => details.push(format!("signature base of {label}: cannot be built: {e}")),
            }
        }
    }
    if scheme == Scheme::Docusign || scheme == Scheme::Github {
        details.push(format!("{scheme} signs no timestamp: a captured message can be replayed (--at does not matter)"));
    }
    let mut v = verdict;
    v.details = details;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_crlf_and_lf_requests() {
        let r = parse(b"POST /foo?a=b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-A:  v \r\n\r\nhello\r\n").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/foo?a=b");
        assert_eq!(r.authority, "example.com");
        assert_eq!(r.body, b"hello");
        assert_eq!(r.headers[2], ("X-A".to_string(), b"v".to_vec()));
        let r = parse(b"GET https://h.example:8443/p HTTP/1.1\nX-B: 1\n  2\n\n").unwrap();
        assert_eq!(
            (r.authority.as_str(), r.target.as_str()),
            ("h.example:8443", "/p")
        );
        assert_eq!(r.headers[0].1, b"1 2");
        assert!(r.body.is_empty());
        let r = parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        assert!(parse(b"hello").is_err());
        assert!(parse(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse(b"POST / HTTP/1.1\r\nno colon here\r\n\r\n").is_err());
    }
}
