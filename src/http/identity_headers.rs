//! The identity headers of one connection: the verified certificate's subject, issuer,
//! fingerprint, serial, expiry and SANs (and, as configured, its PEM, RFC 9440 fields and
//! Envoy's XFCC) under their configured names, rendered once per TLS connection.

use super::headers::{
    Field, ForwardCert, HeaderConfig, HeaderError, CLIENT_CERT, CLIENT_CERT_CHAIN, XFCC,
};
use crate::pki::identity::PeerIdentity;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The identity headers of one connection, built once per TLS connection and kept as the
/// request-head lines certgate's own upstream client writes as they are (`name: value\r\n`
/// each): one allocation per connection. `fields` gives them as names and values (for
/// hyper's client), the values as slices of the lines.
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders {
    lines: Bytes,
}

/// nginx's `$ssl_client_escaped_cert`: everything but RFC 3986 unreserved is escaped.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The leaf as PEM (64-column base64), then URL-encoded like nginx's `$ssl_client_escaped_cert`.
fn escaped_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 60);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    utf8_percent_encode(&pem, URL_COMPONENT).to_string()
}

/// An RFC 8941 byte sequence: `:base64:`.
fn sf_binary(der: &[u8]) -> String {
    format!(":{}:", STANDARD.encode(der))
}

/// A double-quoted XFCC value with `\` and `"` escaped.
fn xfcc_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Envoy writes SANs bare; quote one only when it holds an XFCC delimiter.
fn xfcc_value(s: &str) -> String {
    if s.contains([',', ';', '=', '"', '\\']) || s.contains(char::is_whitespace) {
        xfcc_quoted(s)
    } else {
        s.to_string()
    }
}

/// `Hash=<hex>;Subject="<rfc4514>";URI=<uri>...;DNS=<dns>...`, Envoy's field order; `URI=`
/// stays (empty) when there is no URI SAN, as Envoy does.
fn xfcc_header(id: &PeerIdentity) -> String {
    let mut x = format!(
        "Hash={};Subject={}",
        id.fingerprint_hex,
        xfcc_quoted(&id.subject_rfc4514)
    );
    if id.san_uri.is_empty() {
        x.push_str(";URI=");
    }
    for uri in &id.san_uri {
        x.push_str(";URI=");
        x.push_str(&xfcc_value(uri));
    }
    for dns in &id.san_dns {
        x.push_str(";DNS=");
        x.push_str(&xfcc_value(dns));
    }
    x
}

impl IdentityHeaders {
    /// Fails closed: a value that cannot be a header is an error (the proxy refuses the request).
    pub fn build(id: &PeerIdentity, cfg: &HeaderConfig) -> Result<IdentityHeaders, HeaderError> {
        let mut out: Vec<(HeaderName, &'static str, String)> =
            Vec::with_capacity(Field::ALL.len() + 3);
        for (field, name) in &cfg.names {
            let text = match field {
                Field::Subject => id.subject_rfc4514.clone(),
                Field::Issuer => id.issuer_rfc4514.clone(),
                Field::Fingerprint => id.fingerprint_hex.clone(),
                Field::Serial => id.serial_hex.clone(),
                Field::NotAfter => id.not_after_rfc3339.clone(),
                Field::SanDns | Field::SanUri | Field::SanEmail => {
                    let list = match field {
                        Field::SanDns => &id.san_dns,
                        Field::SanUri => &id.san_uri,
                        _ => &id.san_email,
                    };
                    if list.is_empty() {
                        continue;
                    }
                    // The list is comma-joined: a value that itself holds a comma or white
                    // space would read as several SANs the CA never issued. Fail closed.
                    if list
                        .iter()
                        .any(|v| v.bytes().any(|b| b == b',' || b.is_ascii_whitespace()))
                    {
                        return Err(HeaderError::BadValue {
                            field: field.as_str(),
                        });
                    }
                    list.join(",")
                }
                Field::Pem if cfg.forward_cert == ForwardCert::Pem => escaped_pem(&id.leaf_der),
                Field::Pem => continue,
            };
            out.push((name.clone(), field.as_str(), text));
        }
        if cfg.forward_cert == ForwardCert::Rfc9440 {
            let leaf = sf_binary(&id.leaf_der);
            out.push((HeaderName::from_static(CLIENT_CERT), CLIENT_CERT, leaf));
            if !id.chain_der.is_empty() {
                let chain: Vec<String> = id.chain_der.iter().map(|c| sf_binary(c)).collect();
                out.push((
                    HeaderName::from_static(CLIENT_CERT_CHAIN),
                    CLIENT_CERT_CHAIN,
                    chain.join(", "),
                ));
            }
        }
        if cfg.xfcc {
            out.push((HeaderName::from_static(XFCC), "xfcc", xfcc_header(id)));
        }
        // All lines in one buffer; each value is then a slice of it, checked as a header
        // value (a byte that cannot be in a header fails closed).
        let mut lines = Vec::with_capacity(
            out.iter()
                .map(|(n, _, v)| n.as_str().len() + v.len() + 4)
                .sum(),
        );
        let mut ranges = Vec::with_capacity(out.len());
        for (name, _, text) in &out {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.extend_from_slice(b": ");
            ranges.push(lines.len()..lines.len() + text.len());
            lines.extend_from_slice(text.as_bytes());
            lines.extend_from_slice(b"\r\n");
        }
        let lines = Bytes::from(lines);
        for ((_, field, text), range) in out.into_iter().zip(ranges) {
            // Visible ASCII, space and tab only, as `HeaderValue::from_str` demands
            // (`from_maybe_shared` alone would let bytes above 127 through).
            let bad = |b: u8| !(b == b'\t' || (32..127).contains(&b));
            if text.bytes().any(bad) {
                return Err(HeaderError::BadValue { field });
            }
            HeaderValue::from_maybe_shared(lines.slice(range))
                .map_err(|_| HeaderError::BadValue { field })?;
        }
        Ok(IdentityHeaders { lines })
    }

    /// The headers as request-head lines.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }

    /// The headers as names and values (checked when built), in order.
    pub fn fields(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let rest = &self.lines[at..];
            let colon = memchr::memchr(b':', rest)?;
            let end = colon + memchr::memchr(b'\r', &rest[colon..])?;
            let name = HeaderName::from_bytes(&rest[..colon]).ok()?;
            let value =
                HeaderValue::from_maybe_shared(self.lines.slice(at + colon + 2..at + end)).ok()?;
            at += end + 2;
            Some((name, value))
        })
    }
}
