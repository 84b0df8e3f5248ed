//! RFC 9421 HTTP Message Signatures, with RFC 9530 `Content-Digest` for the body, over
//! RFC 8941/9651 structured fields (the `sfv` crate). The signature base is its own PURE
//! function ([`signature_base`]) so that `certgate check` can print what certgate verified
//! and a user can compare it with what the sender signed. Upvest's webhooks use an early
//! draft of the same scheme; [`Dialect`] holds every difference, `upvest.rs` the choice.
//!
//! certgate's profile (RFC 9421 §1.4 asks each application to fix one):
//! - covered: `@method`, `@authority`, `@path` (or `@target-uri`), and `content-digest`
//!   whenever there is a body; `created` is required (a signature without it could be
//!   replayed for ever) and must lie within `--verify-tolerance`; `expires` must not have
//!   passed;
//! - the key decides the algorithm; an `alg` parameter that says otherwise fails;
//! - `keyid` selects the key of that name; without one every key of the route is tried;
//! - a `nonce` seen before within the tolerance window is a replay;
//! - several signatures (labels): the request passes when one of them passes.

use crate::payload::alg::{self, Alg, EcdsaEncoding, Hash};
use crate::payload::digest;
use crate::payload::keys::{Curve, Key, KeyMaterial};
use crate::payload::{within_tolerance, Context, Failure, Rejection, Request, Verified};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sfv::FieldType as _;

pub const SIGNATURE_INPUT: &str = "signature-input";
pub const SIGNATURE: &str = "signature";

/// The flavours of HTTP message signatures certgate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 9421.
    Rfc9421,
    /// Upvest's webhook signatures, "version 6" (draft-ietf-httpbis-message-signatures-06
    /// as Upvest implements it): component names unquoted in the signature base, the body
    /// digest in an RFC 3230 `Digest` header, ECDSA over SHA-512 in ASN.1 DER.
    UpvestV6,
    /// Upvest's "version 15" (what it requires for API calls): the base as RFC 9421,
    /// `Content-Digest`, ECDSA over SHA-512 in ASN.1 DER.
    UpvestV15,
}

impl Dialect {
    fn quoted_names(self) -> bool {
        self != Dialect::UpvestV6
    }

    fn is_upvest(self) -> bool {
        self != Dialect::Rfc9421
    }

    /// Groups of components of which the signature must cover at least one each.
    fn required(self, has_body: bool) -> Vec<&'static [&'static str]> {
        let mut groups: Vec<&'static [&'static str]> = vec![&["@method"]];
        if !self.is_upvest() {
            // Upvest's signer covers no authority (Go keeps Host out of the header map).
            groups.push(&["@authority"]);
        }
        groups.push(&["@path", "@target-uri"]);
        if has_body {
            groups.push(if self.is_upvest() {
                &["digest", "content-digest"]
            } else {
                &["content-digest"]
            });
        }
        groups
    }

    fn encodings(self) -> &'static [EcdsaEncoding] {
        if self.is_upvest() {
            &[EcdsaEncoding::Asn1, EcdsaEncoding::Fixed]
        } else {
            &[EcdsaEncoding::Fixed]
        }
    }

    /// The algorithm `key` means here, checked against the signature's `alg` parameter.
    pub fn alg_for(self, key: &Key, alg_param: Option<&str>) -> Result<Alg, String> {
        let implied = match (&key.material, self.is_upvest()) {
            (KeyMaterial::Ed25519(_), _) => Alg::Ed25519,
            (KeyMaterial::Ec { curve, .. }, true) => Alg::Ecdsa(*curve, Hash::Sha512),
            (KeyMaterial::Ec { curve, .. }, false) => match curve {
                Curve::P256 => Alg::Ecdsa(Curve::P256, Hash::Sha256),
                Curve::P384 => Alg::Ecdsa(Curve::P384, Hash::Sha384),
                Curve::P521 => Alg::Ecdsa(Curve::P521, Hash::Sha512),
            },
            (KeyMaterial::Secret(_), false) => Alg::HmacSha256,
            (KeyMaterial::Rsa { rs256: true, .. }, false) => Alg::RsaV15Sha256,
            (KeyMaterial::Rsa { rs256: false, .. }, false) => match alg_param {
                Some("rsa-v1_5-sha256") => Alg::RsaV15Sha256,
                _ => Alg::RsaPssSha512,
            },
            (other, true) => {
                return Err(format!(
                    "key {} is an {}; Upvest signs with ECDSA or Ed25519 keys",
                    key.name,
                    other.describe()
                ))
            }
        };
        match alg_param {
            Some(p) if p != implied.name() => Err(format!(
                "alg \"{p}\" contradicts key {} ({}: {})",
                key.name,
                key.material.describe(),
                implied.name()
            )),
            _ => Ok(implied),
        }
    }
}

/// One `Signature-Input` member: a label and its covered components with parameters.
#[derive(Debug, Clone)]
pub struct Member {
    pub label: String,
    pub inner: sfv::InnerList,
}

fn field<'a>(request: &Request<'a>, name: &str, what: &str) -> Result<String, Rejection> {
    request
        .combined(name)
        .unwrap_or_else(|| Err(Rejection::missing(format!("no {what} header"))))
}

/// The members of `Signature-Input`, in order.
pub fn parse_inputs(request: &Request<'_>) -> Result<Vec<Member>, Rejection> {
    let value = field(request, SIGNATURE_INPUT, "Signature-Input")?;
    let dict: sfv::Dictionary = sfv::Parser::new(&value).parse().map_err(|e| {
        Rejection::bad(format!(
            "Signature-Input is not a structured dictionary: {e}"
        ))
    })?;
    if dict.is_empty() {
        return Err(Rejection::missing("Signature-Input has no signature"));
    }
    dict.into_iter()
        .map(|(label, entry)| match entry {
            sfv::ListEntry::InnerList(inner) => Ok(Member {
                label: label.as_str().to_string(),
                inner,
            }),
            sfv::ListEntry::Item(_) => Err(Rejection::bad(format!(
                "Signature-Input {} is not an inner list of components",
                label.as_str()
            ))),
        })
        .collect()
}

fn component_name(item: &sfv::Item) -> Result<&str, Rejection> {
    item.bare_item
        .as_string()
        .map(|s| s.as_str())
        .ok_or_else(|| Rejection::bad("a covered component is not a quoted string"))
}

/// RFC 9421 §2.2.8: the form-urlencoded percent-encode set.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn string_param<'p>(params: &'p sfv::Parameters, name: &str) -> Result<Option<&'p str>, Rejection> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(|s| Some(s.as_str()))
            .ok_or_else(|| Rejection::bad(format!("parameter {name} is not a string"))),
    }
}

fn int_param(params: &sfv::Parameters, name: &str) -> Result<Option<i64>, Rejection> {
    match params.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_integer()
            .map(|i| Some(i64::from(i)))
            .ok_or_else(|| Rejection::bad(format!("parameter {name} is not an integer"))),
    }
}

/// Re-serialize a structured field strictly (`;sf`): dictionary, list or item.
fn strict(value: &str) -> Option<String> {
    if let Ok(d) = sfv::Parser::new(value).parse::<sfv::Dictionary>() {
        return d.serialize();
    }
    if let Ok(l) = sfv::Parser::new(value).parse::<sfv::List>() {
        return l.serialize();
    }
    sfv::Parser::new(value)
        .parse::<sfv::Item>()
        .ok()
        .map(|i| i.serialize())
}

fn serialize_entry(entry: &sfv::ListEntry) -> Option<String> {
    let mut ser = sfv::ListSerializer::new();
    ser.members([entry]);
    ser.finish()
}

/// The value of one covered component (RFC 9421 §2.1 fields, §2.2 derived components).
pub fn component_value(request: &Request<'_>, item: &sfv::Item) -> Result<String, Rejection> {
    let name = component_name(item)?;
    let params = &item.params;
    let unsupported =
        |p: &str| Rejection::bad(format!("component {name}: parameter {p} is not supported"));
    if let Some(derived) = name.strip_prefix('@') {
        for (p, _) in params {
            if !(derived == "query-param" && p.as_str() == "name") {
                return Err(unsupported(p.as_str()));
            }
        }
        let authority = request.authority.to_ascii_lowercase();
        let authority = authority
            .strip_suffix(":443")
            .unwrap_or(&authority)
            .to_string();
        return Ok(match derived {
            "method" => request.method.to_string(),
            "authority" => authority,
            "scheme" => "https".to_string(),
            "target-uri" => format!("https://{authority}{}", request.target),
            "request-target" => request.target.to_string(),
            "path" => request.path().to_string(),
            "query" => format!("?{}", request.query().unwrap_or("")),
            "query-param" => {
                let wanted = string_param(params, "name")?
                    .ok_or_else(|| Rejection::bad("@query-param has no name parameter"))?;
                let mut found = request
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split_once('=').unwrap_or((p, "")))
                    .filter(|(n, _)| form_decode(n) == wanted)
                    .map(|(_, v)| utf8_percent_encode(&form_decode(v), QUERY_VALUE).to_string());
                match (found.next(), found.next()) {
                    (Some(v), None) => v,
                    (None, _) => {
                        return Err(Rejection::missing(format!(
                            "covered query parameter {wanted} is absent"
                        )))
                    }
                    (Some(_), Some(_)) => {
                        return Err(Rejection::bad(format!(
                            "query parameter {wanted} occurs more than once"
                        )))
                    }
                }
            }
            _ => {
                return Err(Rejection::bad(format!(
                    "component {name} is not supported on a request"
                )))
            }
        });
    }
    if name.is_empty()
        || name
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b == b':' || b <= b' ')
    {
        return Err(Rejection::bad(format!(
            "component \"{name}\" is not a lowercase field name"
        )));
    }
    let (mut sf, mut key, mut bs) = (false, None, false);
    for (p, v) in params {
        match p.as_str() {
            "sf" => sf = true,
            "bs" => bs = true,
            "key" => {
                key = Some(v.as_string().map(|s| s.as_str()).ok_or_else(|| {
                    Rejection::bad(format!("component {name}: key is not a string"))
                })?)
            }
            other => return Err(unsupported(other)),
        }
    }
    let absent = || Rejection::missing(format!("covered header {name} is absent"));
    if bs {
        if sf || key.is_some() {
            return Err(Rejection::bad(format!(
                "component {name}: bs excludes sf and key"
            )));
        }
        let lines: Vec<String> = request
            .header_values(name)
            .map(|v| format!(":{}:", STANDARD.encode(v.trim_ascii())))
            .collect();
        if lines.is_empty() {
            return Err(absent());
        }
        return Ok(lines.join(", "));
    }
    let value = request.combined(name).ok_or_else(absent)??;
    if let Some(member) = key {
        let dict: sfv::Dictionary = sfv::Parser::new(&value)
            .parse()
            .map_err(|e| Rejection::bad(format!("header {name} is not a dictionary: {e}")))?;
        let entry = dict
            .get(member)
            .ok_or_else(|| Rejection::missing(format!("header {name} has no member {member}")))?;
        return serialize_entry(entry).ok_or_else(|| {
            Rejection::bad(format!(
                "header {name} member {member} cannot be serialized"
            ))
        });
    }
    if sf {
        return strict(&value)
            .ok_or_else(|| Rejection::bad(format!("header {name} is not a structured field")));
    }
    Ok(value)
}

fn serialize_params(inner: &sfv::InnerList) -> Result<String, Rejection> {
    serialize_entry(&sfv::ListEntry::InnerList(inner.clone()))
        .ok_or_else(|| Rejection::bad("Signature-Input cannot be serialized"))
}

/// RFC 9421 §2.5: one line per covered component, then `@signature-params`. In Upvest's
/// version 6 the names stand unquoted (`@method: POST`).
pub fn signature_base(
    request: &Request<'_>,
    member: &Member,
    dialect: Dialect,
) -> Result<String, Rejection> {
    let mut base = String::new();
    let mut seen = Vec::new();
    for item in &member.inner.items {
        let name = component_name(item)?;
        if name == "@signature-params" {
            return Err(Rejection::bad(
                "@signature-params cannot be a covered component",
            ));
        }
        let id = if dialect.quoted_names() {
            item.serialize()
        } else if item.params.is_empty() {
            name.to_string()
        } else {
            return Err(Rejection::bad(format!(
                "component {name}: Upvest's version 6 has no form for component parameters"
            )));
        };
        if seen.contains(&id) {
            return Err(Rejection::bad(format!("component {id} is covered twice")));
        }
        let value = component_value(request, item)?;
        base.push_str(&id);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
        seen.push(id);
    }
    base.push_str(if dialect.quoted_names() {
        "\"@signature-params\": "
    } else {
        "@signature-params: "
    });
    base.push_str(&serialize_params(&member.inner)?);
    Ok(base)
}

/// Every signature base of `request`, per label (for `certgate check`).
pub fn bases(request: &Request<'_>, dialect: Dialect) -> Vec<(String, Result<String, Rejection>)> {
    match parse_inputs(request) {
        Ok(members) => members
            .iter()
            .map(|m| (m.label.clone(), signature_base(request, m, dialect)))
            .collect(),
        Err(e) => vec![("-".to_string(), Err(e))],
    }
}

/// Verify an RFC 9421 signature.
pub fn verify(request: &Request<'_>, context: &Context<'_>) -> Result<Verified, Rejection> {
    verify_with(request, context, Dialect::Rfc9421)
}

fn rank(f: Failure) -> u8 {
    match f {
        Failure::Missing => 1,
        Failure::UnknownKey => 2,
        Failure::BadSignature => 3,
        _ => 4,
    }
}

/// Verify the signatures of `request` in `dialect`: passes when one label passes; else the
/// failure of the label that got furthest.
pub fn verify_with(
    request: &Request<'_>,
    context: &Context<'_>,
    dialect: Dialect,
) -> Result<Verified, Rejection> {
    let members = parse_inputs(request)?;
    let value = field(request, SIGNATURE, "Signature")?;
    let signatures: sfv::Dictionary = sfv::Parser::new(&value)
        .parse()
        .map_err(|e| Rejection::bad(format!("Signature is not a structured dictionary: {e}")))?;
    let mut best: Option<Rejection> = None;
    for member in &members {
        match check_member(request, context, dialect, member, &signatures) {
            Ok(v) => return Ok(v),
            Err(e) => {
                if best
                    .as_ref()
                    .is_none_or(|b| rank(e.failure) > rank(b.failure))
                {
                    best = Some(e);
                }
            }
        }
    }
    Err(best.unwrap_or_else(|| Rejection::missing("no signature")))
}

fn check_member(
    request: &Request<'_>,
    context: &Context<'_>,
    dialect: Dialect,
    member: &Member,
    signatures: &sfv::Dictionary,
) -> Result<Verified, Rejection> {
    let label = &member.label;
    let sig = match signatures.get(label.as_str()) {
        None => {
            return Err(Rejection::missing(format!(
                "Signature has no entry {label}"
            )))
        }
        Some(sfv::ListEntry::Item(item)) => item
            .bare_item
            .as_byte_sequence()
            .ok_or_else(|| Rejection::bad(format!("Signature {label} is not a byte sequence")))?,
        Some(_) => {
            return Err(Rejection::bad(format!(
                "Signature {label} is not a byte sequence"
            )))
        }
    };
    let covered: Vec<&str> = member
        .inner
        .items
        .iter()
        .filter_map(|i| i.bare_item.as_string().map(|s| s.as_str()))
        .collect();
    for group in dialect.required(!request.body.is_empty()) {
        if !group.iter().any(|g| covered.contains(g)) {
            return Err(Rejection::missing(format!(
                "signature {label} does not cover {}",
                group.join(" or ")
            )));
        }
    }
    let params = &member.inner.params;
    let created = int_param(params, "created")?
        .ok_or_else(|| Rejection::missing(format!("signature {label} has no created parameter")))?;
    let expires = int_param(params, "expires")?;
    let nonce = string_param(params, "nonce")?;
    let alg_param = string_param(params, "alg")?;
    let keyid = string_param(params, "keyid")?;
    let base = signature_base(request, member, dialect)?;

    let candidates: Vec<&Key> = match keyid {
        Some(id) => {
            let named: Vec<&Key> = context.keys.named(id).collect();
            if named.is_empty() {
                return Err(Rejection::new(
                    Failure::UnknownKey,
                    format!(
                        "keyid \"{id}\" of signature {label} names no configured key (configured: {})",
                        context.keys.names()
                    ),
                ));
            }
            named
        }
        None => context.keys.iter().collect(),
    };
    let mut contradiction = None;
    let key = candidates
        .iter()
        .find(|k| match dialect.alg_for(k, alg_param) {
            Ok(a) => dialect
                .encodings()
                .iter()
                .any(|enc| alg::verify(a, &k.material, base.as_bytes(), sig, *enc)),
            Err(e) => {
                contradiction.get_or_insert(e);
                false
            }
        });
    let Some(key) = key else {
        return Err(Rejection::bad(match contradiction {
            Some(e) if candidates.len() == 1 => e,
            _ => format!(
                "signature {label} does not verify with key(s) {}",
                candidates
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }));
    };

    if !within_tolerance(created, context.now, context.tolerance) {
        return Err(Rejection::new(
            Failure::Stale,
            format!(
                "signature {label} created={created} is more than {} s from now ({})",
                context.tolerance, context.now
            ),
        ));
    }
    if let Some(expires) = expires {
        if i128::from(context.now) > i128::from(expires) {
            return Err(Rejection::new(
                Failure::Stale,
                format!(
                    "signature {label} expired at {expires} (now {})",
                    context.now
                ),
            ));
        }
    }
    if covered.contains(&"content-digest") {
        digest::content_digest(
            &field(request, "content-digest", "Content-Digest")?,
            request.body,
        )?;
    }
    if dialect.is_upvest() && covered.contains(&"digest") {
        digest::legacy_digest(&field(request, "digest", "Digest")?, request.body)?;
    }
    let replay_token = match (nonce, context.replay) {
        (Some(nonce), Some(memory)) => {
            let id = format!("{}\u{0}{nonce}", key.name);
            let until = u64::try_from(created)
                .unwrap_or(0)
                .saturating_add(context.tolerance);
            if !memory.insert(&id, context.now, until) {
                return Err(Rejection::new(
                    Failure::Replayed,
                    format!("nonce \"{nonce}\" of signature {label} was already accepted"),
                ));
            }
            Some(id)
        }
        _ => None,
    };
    Ok(Verified {
        key: key.name.clone(),
        replay_token,
    })
}

/// Sign `request` for tests and the demo: adds `Signature-Input` and `Signature` for
/// `label` over `components` with `params` (already serialized, e.g.
/// `created=1618884475;keyid="k"`), in `dialect`.
#[cfg(test)]
pub(crate) fn sign(
    req: crate::payload::testutil::Req,
    label: &str,
    components: &[&str],
    params: &str,
    dialect: Dialect,
    signer: &crate::payload::testutil::Signer,
) -> crate::payload::testutil::Req {
    let list = components
        .iter()
        .map(|c| {
            if c.starts_with('"') {
                c.to_string()
            } else {
                format!("\"{c}\"")
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let sep = if params.is_empty() { "" } else { ";" };
    let input = format!("{label}=({list}){sep}{params}");
    let req = req.header("Signature-Input", &input);
    let member = parse_inputs(&req.request())
        .unwrap()
        .into_iter()
        .find(|m| m.label == label)
        .unwrap();
    let base = signature_base(&req.request(), &member, dialect).unwrap();
    let sig = STANDARD.encode(signer.sign(base.as_bytes()));
    req.header("Signature", &format!("{label}=:{sig}:"))
}

#[cfg(test)]
#[path = "http_signature_tests.rs"]
mod tests;
