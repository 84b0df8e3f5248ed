//! Distinguished Names: parse RFC 4514 and OpenSSL's slash form, convert from parsed
//! X.509 names, print both forms, and compare by parsed attributes. PURE: no I/O.
//!
//! A `Dn` keeps its RDNs in encoding (DER) order: the first RDN is the most significant
//! (usually `C`). RFC 4514 strings list RDNs in the reverse order; slash strings in this order.
//!
//! Leniency of the RFC 4514 parser (everything else is exact): spaces before an attribute
//! type (so `CN=a, O=b` works) and around `=` are skipped, and unescaped spaces at either
//! end of a value are trimmed (RFC 4514 requires those to be escaped as `\ `, so no valid
//! value loses anything). Unescaped `"`, `;`, `<` and `>` are rejected rather than given
//! RFC 2253's quoting or separator meanings, so a rule never means something unexpected.

use const_oid::ObjectIdentifier;
use std::fmt;

/// One attribute value. Directory strings (UTF8String, PrintableString, IA5String,
/// TeletexString, BMPString, UniversalString) all become `Text`, so the string encoding
/// never matters for comparison. A value that is not a string keeps its DER as `Der`
/// (printed as `#hex` in RFC 4514).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    Text(String),
    Der(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    pub oid: ObjectIdentifier,
    pub value: AttrValue,
}

/// A relative distinguished name; multi-valued RDNs compare as sets.
#[derive(Debug, Clone)]
pub struct Rdn(pub Vec<Attribute>);

/// A parsed Distinguished Name. Equality: same number of RDNs, in the same order, each
/// RDN equal as a set of (type OID, value) pairs, values compared exactly.
#[derive(Debug, Clone)]
pub struct Dn {
    rdns: Vec<Rdn>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnError {
    #[error("empty distinguished name")]
    Empty,
    #[error("unknown attribute type {0:?} (use a name such as CN, O, OU, C or a dotted OID)")]
    UnknownType(String),
    #[error("attribute {0:?} has no '=' between type and value")]
    MissingEquals(String),
    #[error("bad escape sequence at byte {0}")]
    BadEscape(usize),
    #[error("bad #hex value {0:?}")]
    BadHex(String),
    #[error("empty attribute type")]
    EmptyType,
    #[error("character {0:?} at byte {1} must be escaped with a backslash")]
    Unescaped(char, usize),
    #[error("escaped bytes of the value at byte {0} are not valid UTF-8")]
    BadUtf8(usize),
    #[error("a distinguished name in slash form must start with '/'")]
    NoLeadingSlash,
}

impl PartialEq for Rdn {
    /// Set equality: every attribute of one side is matched by a distinct equal attribute
    /// of the other (duplicates count), in any order.
    fn eq(&self, other: &Rdn) -> bool {
        if self.0.len() != other.0.len() {
            return false;
        }
        let mut used = vec![false; other.0.len()];
        self.0.iter().all(|a| {
            match other
                .0
                .iter()
                .enumerate()
                .position(|(i, b)| !used[i] && a == b)
            {
                Some(i) => {
                    used[i] = true;
                    true
                }
                None => false,
            }
        })
    }
}
impl Eq for Rdn {}

impl PartialEq for Dn {
    fn eq(&self, other: &Dn) -> bool {
        self.rdns == other.rdns
    }
}
impl Eq for Dn {}

impl fmt::Display for Dn {
    /// The RFC 4514 form, as [`Dn::to_rfc4514`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc4514())
    }
}

impl std::str::FromStr for Dn {
    type Err = DnError;
    /// Either form, as [`Dn::parse`].
    fn from_str(s: &str) -> Result<Dn, DnError> {
        Dn::parse(s)
    }
}

impl Dn {
    /// Parse either form: a string starting with `/` is OpenSSL's slash form, anything else RFC 4514.
    pub fn parse(s: &str) -> Result<Dn, DnError> {
        if s.starts_with('/') {
            Dn::parse_slash(s)
        } else {
            Dn::parse_rfc4514(s)
        }
    }

    pub fn parse_rfc4514(s: &str) -> Result<Dn, DnError> {
        if s.trim_matches(' ').is_empty() {
            return Err(DnError::Empty);
        }
        let mut p = Rfc4514Parser { s, pos: 0 };
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        loop {
            rdn.push(p.attribute()?);
            match p.next_byte() {
                None => break,
                Some(b'+') => {}
                Some(b',') => rdns.push(Rdn(std::mem::take(&mut rdn))),
                // `value` stops only at `+`, `,` or the end.
                Some(_) => return Err(DnError::BadEscape(p.pos)),
            }
        }
        rdns.push(Rdn(rdn));
        rdns.reverse();
        Ok(Dn { rdns })
    }

    pub fn parse_slash(s: &str) -> Result<Dn, DnError> {
        let rest = s.strip_prefix('/').ok_or(DnError::NoLeadingSlash)?;
        if rest.is_empty() {
            return Err(DnError::Empty);
        }
        let mut rdns = Vec::new();
        let mut rdn = Vec::new();
        // Raw text of the current attribute, escapes kept.
        let mut cur = String::new();
        let mut chars = rest.char_indices().map(|(i, c)| (i + 1, c));
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    // Keep the escape: the attribute splitter below needs it to tell a
                    // literal `=`/`#` from a syntactic one.
                    Some((_, e)) => {
                        cur.push('\\');
                        cur.push(e);
                    }
                    None => return Err(DnError::BadEscape(i)),
                },
                '+' | '/' => {
                    rdn.push(slash_attribute(&cur)?);
                    cur.clear();
                    if c == '/' {
                        rdns.push(Rdn(std::mem::take(&mut rdn)));
                    }
                }
                _ => cur.push(c),
            }
        }
        rdn.push(slash_attribute(&cur)?);
        rdns.push(Rdn(rdn));
        Ok(Dn { rdns })
    }

    /// From a parsed certificate name. Infallible: undecodable values become `AttrValue::Der`.
    pub fn from_name(name: &x509_cert::name::Name) -> Dn {
        use der::{Encode, Tagged};
        let rdns = name
            .0
            .iter()
            .map(|rdn| {
                Rdn(rdn
                    .0
                    .iter()
                    .map(|atv| {
                        let text =
                            decode_directory_string(atv.value.tag().octet(), atv.value.value());
                        let value = match text {
                            Some(t) => AttrValue::Text(t),
                            None => AttrValue::Der(atv.value.to_der().unwrap_or_else(|_| {
                                // Only reachable for values over der's length limit, which
                                // could not have been decoded in the first place.
                                atv.value.value().to_vec()
                            })),
                        };
                        Attribute {
                            oid: atv.oid,
                            value,
                        }
                    })
                    .collect())
            })
            .collect();
        Dn { rdns }
    }

    /// False when an attribute type is not in its OID's one DER encoding: the decoder also
    /// takes padded arcs, and folds an arc past 2^32 onto a small one (`2.5.4.4294967299`
    /// would print as `2.5.4.3`), so such a name would print like another.
    pub fn types_are_der(&self) -> bool {
        self.rdns.iter().flat_map(|r| &r.0).all(|a| {
            der_of_arcs(&a.oid.arcs().collect::<Vec<_>>()).as_deref() == Some(a.oid.as_bytes())
        })
    }

    pub fn from_rdns(rdns: Vec<Rdn>) -> Dn {
        Dn { rdns }
    }
    pub fn rdns(&self) -> &[Rdn] {
        &self.rdns
    }

    /// RFC 4514 form, most specific RDN first (`CN=x,O=Acme\, Inc.,C=US`), OpenSSL short names.
    ///
    /// The output is printable ASCII: besides RFC 4514's required escapes, control
    /// characters and every non-ASCII byte are written as `\XX` hex pairs of the UTF-8
    /// encoding (as OpenSSL's RFC 2253 printing does), so it is always a valid HTTP header
    /// value. [`Dn::to_rfc4514_utf8`] keeps non-ASCII characters as they are.
    pub fn to_rfc4514(&self) -> String {
        self.rfc4514(true)
    }

    /// RFC 4514 form like [`Dn::to_rfc4514`], but non-ASCII characters are not escaped (for
    /// display to people).
    pub fn to_rfc4514_utf8(&self) -> String {
        self.rfc4514(false)
    }

    fn rfc4514(&self, escape_non_ascii: bool) -> String {
        let mut out = String::new();
        for (i, rdn) in self.rdns.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, a) in rdn.0.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(&type_name(&a.oid));
                out.push('=');
                match &a.value {
                    AttrValue::Text(t) => escape_rfc4514(t, escape_non_ascii, &mut out),
                    AttrValue::Der(d) => {
                        out.push('#');
                        out.push_str(&hex(d));
                    }
                }
            }
        }
        out
    }

    /// OpenSSL slash form in encoding order (`/C=US/O=Acme, Inc./CN=x`).
    ///
    /// `/`, `+` and `\` are escaped with a backslash, and so is a leading `#`, because a
    /// value written `#hex` is a DER value (as in RFC 4514) for [`Dn::parse_slash`].
    pub fn to_slash(&self) -> String {
        let mut out = String::new();
        for rdn in &self.rdns {
            out.push('/');
            for (j, a) in rdn.0.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(&type_name(&a.oid));
                out.push('=');
                match &a.value {
                    AttrValue::Text(t) => {
                        for (k, c) in t.chars().enumerate() {
                            if matches!(c, '/' | '+' | '\\') || (k == 0 && c == '#') {
                                out.push('\\');
                            }
                            out.push(c);
                        }
                    }
                    AttrValue::Der(d) => {
                        out.push('#');
                        out.push_str(&hex(d));
                    }
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }

    /// The text values of every attribute of type `oid`, in any RDN.
    pub fn text_values<'a>(
        &'a self,
        oid: &'a ObjectIdentifier,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.rdns
            .iter()
            .flat_map(|r| r.0.iter())
            .filter(move |a| &a.oid == oid)
            .filter_map(|a| match &a.value {
                AttrValue::Text(t) => Some(t.as_str()),
                AttrValue::Der(_) => None,
            })
    }
}

/// Well-known attribute types.
pub mod oids {
    use const_oid::ObjectIdentifier;
    pub const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    pub const SURNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
    pub const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
    pub const C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
    pub const L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
    pub const ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
    pub const STREET: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.9");
    pub const O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
    pub const OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
    pub const TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");
    pub const DESCRIPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.13");
    pub const BUSINESS_CATEGORY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.15");
    pub const POSTAL_CODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.17");
    pub const NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.41");
    pub const GIVEN_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
    pub const INITIALS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.43");
    pub const GENERATION_QUALIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.44");
    pub const DN_QUALIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.46");
    pub const PSEUDONYM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.65");
    pub const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
    pub const DC: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.25");
    pub const UID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
    pub const EMAIL_ADDRESS: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1");
    pub const JURISDICTION_L: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.60.2.1.1");
    pub const JURISDICTION_ST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.60.2.1.2");
    pub const JURISDICTION_C: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.60.2.1.3");
}

/// Known attribute types: the printed (OpenSSL short) name first, then input aliases.
/// Input names compare ASCII case-insensitively.
const TYPES: &[(ObjectIdentifier, &[&str])] = &[
    (oids::CN, &["CN", "commonName"]),
    (oids::SURNAME, &["SN", "surname"]),
    (oids::SERIAL_NUMBER, &["serialNumber"]),
    (oids::C, &["C", "countryName"]),
    (oids::L, &["L", "localityName"]),
    (oids::ST, &["ST", "S", "stateOrProvinceName"]),
    (oids::STREET, &["STREET", "streetAddress"]),
    (oids::O, &["O", "organizationName"]),
    (oids::OU, &["OU", "organizationalUnitName"]),
    (oids::TITLE, &["title"]),
    (oids::DESCRIPTION, &["description"]),
    (oids::BUSINESS_CATEGORY, &["businessCategory"]),
    (oids::POSTAL_CODE, &["postalCode"]),
    (oids::NAME, &["name"]),
    (oids::GIVEN_NAME, &["GN", "givenName"]),
    (oids::INITIALS, &["initials"]),
    (oids::GENERATION_QUALIFIER, &["generationQualifier"]),
    (oids::DN_QUALIFIER, &["dnQualifier"]),
    (oids::PSEUDONYM, &["pseudonym"]),
    (oids::ORGANIZATION_IDENTIFIER, &["organizationIdentifier"]),
    (oids::DC, &["DC", "domainComponent"]),
    (oids::UID, &["UID", "userId"]),
    (oids::EMAIL_ADDRESS, &["emailAddress", "E", "email"]),
    (
        oids::JURISDICTION_C,
        &["jurisdictionC", "jurisdictionCountryName"],
    ),
    (
        oids::JURISDICTION_ST,
        &["jurisdictionST", "jurisdictionStateOrProvinceName"],
    ),
    (
        oids::JURISDICTION_L,
        &["jurisdictionL", "jurisdictionLocalityName"],
    ),
];

/// The name printed for an attribute type: the short name, or the dotted OID.
pub fn type_name(oid: &ObjectIdentifier) -> String {
    TYPES
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, names)| names[0].to_string())
        .unwrap_or_else(|| oid.to_string())
}

/// Resolve an attribute type: a known name (any case), a dotted OID, or `OID.` + dotted OID.
pub fn parse_type(t: &str) -> Result<ObjectIdentifier, DnError> {
    if t.is_empty() {
        return Err(DnError::EmptyType);
    }
    let dotted = match t.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("oid.") => &t[4..],
        _ => t,
    };
    if dotted.starts_with(|c: char| c.is_ascii_digit()) {
        return dotted_oid(dotted).ok_or_else(|| DnError::UnknownType(t.to_string()));
    }
    TYPES
        .iter()
        .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(t)))
        .map(|(o, _)| *o)
        .ok_or_else(|| DnError::UnknownType(t.to_string()))
}

/// A dotted OID (RFC 4512 numericoid: no empty arc, no leading zero) in its one DER
/// encoding, built here because const-oid 0.9's string parser wraps arcs past u32, reads an
/// empty arc as 0, and mis-encodes arcs whose base-128 digits start `1, 0` (such as 128).
/// `None` also for OIDs that could not come from a certificate (decoded by const-oid).
fn dotted_oid(dotted: &str) -> Option<ObjectIdentifier> {
    let arcs = dotted
        .split('.')
        .map(|a| {
            let canonical = !a.is_empty() && (a == "0" || !a.starts_with('0'));
            canonical.then(|| a.parse::<u32>().ok()).flatten()
        })
        .collect::<Option<Vec<u32>>>()?;
    let oid = ObjectIdentifier::from_bytes(&der_of_arcs(&arcs)?).ok()?;
    (oid.to_string() == dotted).then_some(oid)
}

/// The one DER encoding of an OID's arcs; `None` for a root const-oid cannot hold.
fn der_of_arcs(arcs: &[u32]) -> Option<Vec<u8>> {
    let [first @ 0..=2, second @ 0..=39, rest @ ..] = arcs else {
        return None;
    };
    let mut der = vec![u8::try_from(first * 40 + second).ok()?];
    for &arc in rest {
        let digits = (1..5).take_while(|i| arc >> (7 * i) != 0).count();
        for i in (1..=digits).rev() {
            der.push(0x80 | (arc >> (7 * i)) as u8 & 0x7f);
        }
        der.push(arc as u8 & 0x7f);
    }
    Some(der)
}

/// Decode the content octets of a directory string of universal tag `tag`; `None` when the
/// tag is not a string type or the bytes do not decode.
fn decode_directory_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String; NumericString, PrintableString, IA5String, VisibleString are ASCII
        // subsets, read as UTF-8 so a sloppy CA's non-ASCII bytes still compare sanely.
        0x0C | 0x12 | 0x13 | 0x16 | 0x1A => String::from_utf8(content.to_vec()).ok(),
        // TeletexString: in practice Latin-1.
        0x14 => Some(content.iter().map(|&b| char::from(b)).collect()),
        // UniversalString: UTF-32BE.
        0x1C => {
            if content.len() % 4 != 0 {
                return None;
            }
            content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        // BMPString: UTF-16BE.
        0x1E => {
            if content.len() % 2 != 0 {
                return None;
            }
            let units = content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// Split one complete DER TLV into (first tag octet, content); `None` unless `der` is
/// exactly one well-formed TLV. Hand-written because `der` rejects UniversalString's tag.
fn split_tlv(der: &[u8]) -> Option<(u8, &[u8])> {
    let (&tag, mut rest) = der.split_first()?;
    if tag & 0x1F == 0x1F {
        // High tag number: base-128 continuation octets.
        loop {
            let (&b, r) = rest.split_first()?;
            rest = r;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&first, r) = rest.split_first()?;
    rest = r;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, r) = rest.split_at(n);
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    (rest.len() == len).then_some((tag, rest))
}

/// A `#hex` value (without the `#`): DER, kept as text when it is a directory string.
fn hex_value(h: &str) -> Result<AttrValue, DnError> {
    let bad = || DnError::BadHex(h.to_string());
    if h.is_empty() || h.len() % 2 != 0 {
        return Err(bad());
    }
    let bytes = (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let (tag, content) = split_tlv(&bytes).ok_or_else(bad)?;
    Ok(match decode_directory_string(tag, content) {
        Some(t) => AttrValue::Text(t),
        None => AttrValue::Der(bytes),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn escape_rfc4514(t: &str, escape_non_ascii: bool, out: &mut String) {
    let n = t.chars().count();
    for (i, c) in t.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == n && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c.is_control() || (escape_non_ascii && !c.is_ascii()) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

struct Rfc4514Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Rfc4514Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek();
        if b.is_some() {
            self.pos += 1;
        }
        b
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// `type=value`, stopping before the `,` or `+` that ends it.
    fn attribute(&mut self) -> Result<Attribute, DnError> {
        self.skip_spaces();
        let start = self.pos;
        let rest = &self.s[start..];
        let eq = rest.find(['=', ',', '+']);
        let Some(eq) = eq.filter(|&i| rest.as_bytes()[i] == b'=') else {
            let end = eq.unwrap_or(rest.len());
            return Err(DnError::MissingEquals(rest[..end].to_string()));
        };
        let oid = parse_type(rest[..eq].trim_end_matches(' '))?;
        self.pos = start + eq + 1;
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') {
            self.pos += 1;
            let hstart = self.pos;
            while !matches!(self.peek(), None | Some(b',' | b'+')) {
                self.pos += 1;
            }
            hex_value(self.s[hstart..self.pos].trim_end_matches(' '))?
        } else {
            AttrValue::Text(self.string_value()?)
        };
        Ok(Attribute { oid, value })
    }

    fn string_value(&mut self) -> Result<String, DnError> {
        let start = self.pos;
        let mut buf: Vec<u8> = Vec::new();
        // Length of `buf` without trailing unescaped spaces.
        let mut keep = 0;
        loop {
            let at = self.pos;
            match self.peek() {
                None | Some(b',' | b'+') => break,
                Some(b'\\') => {
                    self.pos += 1;
                    match self.next_byte() {
                        Some(
                            c @ (b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' | b'=' | b'#'
                            | b' '),
                        ) => buf.push(c),
                        Some(h) => {
                            let lo = self.next_byte();
                            match (hex_digit(h), lo.and_then(hex_digit)) {
                                (Some(h), Some(l)) => buf.push(h << 4 | l),
                                _ => return Err(DnError::BadEscape(at)),
                            }
                        }
                        None => return Err(DnError::BadEscape(at)),
                    }
                    keep = buf.len();
                }
                Some(c @ (b'"' | b';' | b'<' | b'>')) => {
                    return Err(DnError::Unescaped(char::from(c), at))
                }
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                    if c != b' ' {
                        keep = buf.len();
                    }
                }
            }
        }
        buf.truncate(keep);
        String::from_utf8(buf).map_err(|_| DnError::BadUtf8(start))
    }
}

/// One slash-form attribute, still holding its backslash escapes.
fn slash_attribute(raw: &str) -> Result<Attribute, DnError> {
    // The first unescaped `=` separates type and value; types hold no backslashes.
    let Some(eq) = raw.find(['=', '\\']).filter(|&i| raw.as_bytes()[i] == b'=') else {
        return Err(if raw.is_empty() {
            DnError::EmptyType
        } else {
            DnError::MissingEquals(unescape_slash(raw))
        });
    };
    let oid = parse_type(raw[..eq].trim_matches(' '))?;
    let v = &raw[eq + 1..];
    let value = match v.strip_prefix('#') {
        Some(h) => hex_value(h)?,
        None => AttrValue::Text(unescape_slash(v)),
    };
    Ok(Attribute { oid, value })
}

/// Remove the backslashes kept by `parse_slash` (which already checked none is dangling).
fn unescape_slash(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{Any, SetOfVec};
    use der::Tag;
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }
    fn text(oid: ObjectIdentifier, v: &str) -> Attribute {
        Attribute {
            oid,
            value: AttrValue::Text(v.to_string()),
        }
    }
    /// A Name built from (oid, tag, content) per RDN, in encoding order.
    fn name(rdns: &[&[(ObjectIdentifier, Tag, &[u8])]]) -> Name {
        RdnSequence(
            rdns.iter()
                .map(|rdn| {
                    let atvs = rdn
                        .iter()
                        .map(|(oid, tag, v)| AttributeTypeAndValue {
                            oid: *oid,
                            value: Any::new(*tag, v.to_vec()).unwrap(),
                        })
                        .collect::<Vec<_>>();
                    RelativeDistinguishedName(SetOfVec::try_from(atvs).unwrap())
                })
                .collect(),
        )
    }

    #[test]
    fn escaped_comma_stays_in_the_value() {
        let d = dn(r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US");
        assert_eq!(d.rdns().len(), 3);
        assert_eq!(d.rdns()[0].0, vec![text(oids::C, "US")]);
        assert_eq!(d.rdns()[1].0, vec![text(oids::O, "DocuSign, Inc.")]);
        assert_eq!(d.rdns()[2].0, vec![text(oids::CN, "demo.docusign.net")]);
    }

    #[test]
    fn every_special_escape_unescapes() {
        let d = dn(r#"CN=\,\+\"\\\<\>\;\=\#\ x\ "#);
        assert_eq!(d.rdns()[0].0, vec![text(oids::CN, r#",+"\<>;=# x "#)]);
        assert_eq!(dn(r"CN=\#x").rdns()[0].0, vec![text(oids::CN, "#x")]);
    }

    #[test]
    fn hex_pair_escapes_are_utf8_bytes() {
        assert_eq!(
            dn(r"CN=caf\C3\A9").rdns()[0].0,
            vec![text(oids::CN, "café")]
        );
        assert_eq!(dn(r"CN=caf\c3\a9"), dn("CN=café"));
        assert_eq!(dn(r"CN=a\2Cb").rdns()[0].0, vec![text(oids::CN, "a,b")]);
        assert_eq!(Dn::parse(r"CN=\C3"), Err(DnError::BadUtf8(3)));
    }

    #[test]
    fn hash_hex_string_values_compare_as_text() {
        // 0x13 PrintableString "US", 0x0C UTF8String "Acme", 0x1E BMPString "é"
        assert_eq!(dn("CN=#0c0441636d65,C=#13025553"), dn("CN=Acme,C=US"));
        assert_eq!(dn("CN=#1e0200e9"), dn("CN=é"));
        // UniversalString (UTF-32BE), which the der crate cannot parse itself.
        assert_eq!(dn("CN=#1c0400000041"), dn("CN=A"));
        // An INTEGER is not a string: kept as DER and printed back as #hex.
        let d = dn("CN=#020101");
        assert_eq!(d.rdns()[0].0[0].value, AttrValue::Der(vec![2, 1, 1]));
        assert_eq!(d.to_rfc4514(), "CN=#020101");
        assert_ne!(d, dn(r"CN=\#020101"));
    }

    #[test]
    fn bad_hex_values_are_errors() {
        for bad in [
            "CN=#",
            "CN=#0",
            "CN=#zz",
            "CN=#0c05414243",
            "CN=#0c01414243",
        ] {
            assert!(matches!(Dn::parse(bad), Err(DnError::BadHex(_))), "{bad}");
        }
    }

    #[test]
    fn slash_form_is_encoding_order_with_literal_commas() {
        let d = dn("/C=US/O=DocuSign, Inc./CN=demo.docusign.net");
        assert_eq!(d.rdns()[0].0, vec![text(oids::C, "US")]);
        assert_eq!(d.rdns()[1].0, vec![text(oids::O, "DocuSign, Inc.")]);
        assert_eq!(d.rdns()[2].0, vec![text(oids::CN, "demo.docusign.net")]);
        assert_eq!(d, dn(r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US"));
        assert_eq!(
            dn(r"/CN=a\/b\+c").rdns()[0].0,
            vec![text(oids::CN, "a/b+c")]
        );
        assert_eq!(dn("/CN=x=y").rdns()[0].0, vec![text(oids::CN, "x=y")]);
    }

    #[test]
    fn slash_form_plus_makes_a_multi_valued_rdn() {
        assert_eq!(dn("/C=US/CN=a+UID=7"), dn("UID=7+CN=a,C=US"));
        assert_eq!(dn("/C=US/CN=a+UID=7").rdns().len(), 2);
    }

    #[test]
    fn spaces_after_commas_are_tolerated() {
        assert_eq!(dn("CN=a, O=b,  C=US"), dn("CN=a,O=b,C=US"));
        // Unescaped trailing spaces are trimmed; escaped ones are kept.
        assert_eq!(dn("CN=a ,O=b"), dn("CN=a,O=b"));
        assert_ne!(dn(r"CN=a\ ,O=b"), dn("CN=a,O=b"));
        // Spaces inside a value are exact.
        assert_ne!(dn("CN=a b"), dn("CN=a  b"));
    }

    #[test]
    fn type_names_are_case_insensitive_and_oids_work() {
        let d = dn("CN=x");
        for s in [
            "cn=x",
            "Cn=x",
            "commonName=x",
            "2.5.4.3=x",
            "OID.2.5.4.3=x",
            "oid.2.5.4.3=x",
        ] {
            assert_eq!(dn(s), d, "{s}");
        }
        assert_eq!(dn("E=a@b"), dn("emailAddress=a@b"));
        assert_eq!(dn("SN=Doe").rdns()[0].0[0].oid, oids::SURNAME);
        assert_eq!(dn("GN=Jo"), dn("givenName=Jo"));
        assert_eq!(
            dn("organizationIdentifier=x").rdns()[0].0[0].oid,
            oids::ORGANIZATION_IDENTIFIER
        );
        assert_eq!(
            dn("jurisdictionC=US").rdns()[0].0[0].oid,
            oids::JURISDICTION_C
        );
        assert_eq!(dn("1.2.3.4=x").to_rfc4514(), "1.2.3.4=x");
        assert_eq!(Dn::parse("XYZ=1"), Err(DnError::UnknownType("XYZ".into())));
    }

    #[test]
    fn values_are_case_sensitive() {
        assert_ne!(dn("CN=Acme"), dn("CN=acme"));
    }

    #[test]
    fn string_encoding_does_not_matter() {
        let cn = oids::CN;
        let utf8 = name(&[
            &[(oids::C, Tag::PrintableString, b"US")],
            &[(cn, Tag::Utf8String, b"Acme")],
        ]);
        let printable = name(&[
            &[(oids::C, Tag::Utf8String, b"US")],
            &[(cn, Tag::PrintableString, b"Acme")],
        ]);
        let bmp = name(&[
            &[(oids::C, Tag::Ia5String, b"US")],
            &[(cn, Tag::BmpString, b"\0A\0c\0m\0e")],
        ]);
        let teletex = name(&[
            &[(oids::C, Tag::VisibleString, b"US")],
            &[(cn, Tag::TeletexString, b"Acme")],
        ]);
        let want = dn("CN=Acme,C=US");
        assert_eq!(Dn::from_name(&utf8), want);
        assert_eq!(Dn::from_name(&printable), want);
        assert_eq!(Dn::from_name(&bmp), want);
        assert_eq!(Dn::from_name(&teletex), want);
        // TeletexString is read as Latin-1.
        let latin1 = name(&[&[(cn, Tag::TeletexString, b"caf\xe9")]]);
        assert_eq!(Dn::from_name(&latin1), dn("CN=café"));
    }

    #[test]
    fn non_string_values_keep_their_der() {
        let n = name(&[&[(oids::CN, Tag::Integer, b"\x01")]]);
        let d = Dn::from_name(&n);
        assert_eq!(d.rdns()[0].0[0].value, AttrValue::Der(vec![2, 1, 1]));
        assert_eq!(d, dn("CN=#020101"));
    }

    #[test]
    fn rcgen_printable_and_utf8_subjects_are_equal() {
        use der::Decode;
        use rcgen::{CertificateParams, DnType, DnValue, KeyPair, PrintableString};
        let key = KeyPair::generate().unwrap();
        let subject = |v: DnValue| {
            let mut p = CertificateParams::new(vec![]).unwrap();
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name.push(DnType::CountryName, "US");
            p.distinguished_name.push(DnType::CommonName, v);
            let cert = p.self_signed(&key).unwrap();
            let c = x509_cert::Certificate::from_der(cert.der()).unwrap();
            Dn::from_name(&c.tbs_certificate.subject)
        };
        let a = subject(DnValue::PrintableString(
            PrintableString::try_from("Acme Co").unwrap(),
        ));
        let b = subject(DnValue::Utf8String("Acme Co".into()));
        assert_eq!(a, b);
        assert_eq!(a, dn("CN=Acme Co,C=US"));
    }

    #[test]
    fn multi_valued_rdns_are_sets_but_rdn_order_matters() {
        assert_eq!(dn("CN=a+UID=1,O=b"), dn("UID=1+CN=a,O=b"));
        assert_eq!(dn("cn=a+uid=1,o=b").rdns()[1].0.len(), 2);
        assert_ne!(dn("CN=a+UID=1,O=b"), dn("CN=a,UID=1,O=b"));
        assert_ne!(dn("CN=a,O=b"), dn("O=b,CN=a"));
        assert_ne!(dn("CN=a+CN=a"), dn("CN=a+CN=b"));
        assert_ne!(dn("CN=a,O=b"), dn("CN=a,O=b,C=US"));
    }

    #[test]
    fn escaped_comma_in_cn_is_one_attribute() {
        let d = dn(r"CN=x\, O=Acme");
        assert_eq!(d.rdns().len(), 1);
        assert_eq!(d.rdns()[0].0, vec![text(oids::CN, "x, O=Acme")]);
        assert_eq!(d.text_values(&oids::O).count(), 0);
        assert_eq!(d.to_rfc4514(), r"CN=x\, O=Acme");
        // And such a value from a certificate prints escaped, never as two attributes.
        let n = name(&[&[(oids::CN, Tag::Utf8String, b"x, O=Acme")]]);
        assert_eq!(Dn::from_name(&n).to_rfc4514(), r"CN=x\, O=Acme");
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert_eq!(Dn::parse(""), Err(DnError::Empty));
        assert_eq!(Dn::parse("  "), Err(DnError::Empty));
        assert_eq!(Dn::parse("/"), Err(DnError::Empty));
        assert_eq!(Dn::parse("CN"), Err(DnError::MissingEquals("CN".into())));
        assert_eq!(Dn::parse("CN=a,O"), Err(DnError::MissingEquals("O".into())));
        assert_eq!(Dn::parse("=a"), Err(DnError::EmptyType));
        assert_eq!(Dn::parse("CN=a,"), Err(DnError::MissingEquals("".into())));
        assert_eq!(Dn::parse("CN=a\\"), Err(DnError::BadEscape(4)));
        assert_eq!(Dn::parse("CN=a\\x"), Err(DnError::BadEscape(4)));
        assert_eq!(Dn::parse("CN=a\\4"), Err(DnError::BadEscape(4)));
        assert_eq!(Dn::parse("CN=a;O=b"), Err(DnError::Unescaped(';', 4)));
        assert_eq!(Dn::parse("CN=\"a\""), Err(DnError::Unescaped('"', 3)));
        assert!(matches!(Dn::parse("1.2.x=a"), Err(DnError::UnknownType(_))));
        assert_eq!(Dn::parse("/CN=a//O=b"), Err(DnError::EmptyType));
        assert_eq!(Dn::parse("/CN=a/"), Err(DnError::EmptyType));
        assert_eq!(Dn::parse("/CN"), Err(DnError::MissingEquals("CN".into())));
        assert_eq!(Dn::parse("/CN=a\\"), Err(DnError::BadEscape(5)));
        assert_eq!(Dn::parse_slash("CN=a"), Err(DnError::NoLeadingSlash));
    }

    #[test]
    fn printing_escapes_and_orders() {
        let d = dn("/C=US/O=Acme, Inc./CN=x");
        assert_eq!(d.to_rfc4514(), r"CN=x,O=Acme\, Inc.,C=US");
        assert_eq!(d.to_slash(), "/C=US/O=Acme, Inc./CN=x");
        assert_eq!(d.to_string(), d.to_rfc4514());
        let weird = Dn::from_rdns(vec![Rdn(vec![text(oids::CN, " #a+b;<c>\"d\\e\u{1}é ")])]);
        assert_eq!(weird.to_rfc4514(), r#"CN=\ #a\+b\;\<c\>\"d\\e\01\C3\A9\ "#);
        assert_eq!(
            weird.to_rfc4514_utf8(),
            "CN=\\ #a\\+b\\;\\<c\\>\\\"d\\\\e\\01é\\ "
        );
        assert_eq!(dn("CN=a+UID=b,O=c").to_rfc4514(), "CN=a+UID=b,O=c");
        assert_eq!(
            dn("STREET=1 Main,SN=Doe,E=a@b").to_rfc4514(),
            "STREET=1 Main,SN=Doe,emailAddress=a@b"
        );
    }

    #[test]
    fn printed_forms_round_trip() {
        let samples = [
            r"CN=demo.docusign.net,O=DocuSign\, Inc.,C=US",
            r#"CN=\ lead\#and trail\ ,OU=a\+b\;c\<\>\\\",DC=example,DC=com"#,
            r"CN=#020101+UID=x/y,O=caf\C3\A9",
            r"CN=\#not hex,1.2.3.4=#0c0141",
            r"CN=a\0Ab,serialNumber=1234,title=Dr",
            r"CN=/slash\+plus",
        ];
        for s in samples {
            let d = dn(s);
            assert_eq!(Dn::parse_rfc4514(&d.to_rfc4514()).unwrap(), d, "{s}");
            assert_eq!(Dn::parse_rfc4514(&d.to_rfc4514_utf8()).unwrap(), d, "{s}");
            assert_eq!(Dn::parse_slash(&d.to_slash()).unwrap(), d, "{s}");
        }
    }

    // Found by fuzzing (fuzz/fuzz_targets/dn.rs): const-oid's dotted parser wraps arcs past
    // u32 (`2.5.4.4294967299` became CN), reads an empty arc as 0 and a leading zero away,
    // and builds OIDs that it cannot print back (a panic in `to_rfc4514`).
    #[test]
    fn dotted_types_are_canonical_oids_that_print() {
        for t in [
            "2.5.4.4294967299",
            "2..5.4.3",
            "2.5.4.03",
            "2.5.4.",
            ".2.5.4.3",
            "2.5.4.3a",
            "2.5.4.4294967295",
            "2.0.0.34.4224.4225534534",
            "OID.2.5.4.99999999999",
        ] {
            assert_eq!(parse_type(t), Err(DnError::UnknownType(t.into())), "{t}");
        }
        assert_eq!(parse_type("2.5.4.3"), Ok(oids::CN));
        assert_eq!(parse_type("oid.2.5.4.3"), Ok(oids::CN));
        assert_eq!(parse_type("0.9.2342.19200300.100.1.25"), Ok(oids::DC));
        let d = dn("1.3.6.1.4.1.268435455=x");
        assert_eq!(dn(&d.to_rfc4514()), d);
    }

    // Found by fuzzing (fuzz/fuzz_targets/identity.rs): an attribute type encoded with a
    // redundant 0x80 octet printed as the plain OID but compared unequal to it, so the
    // subject header of such a certificate, pasted as a `subject:` rule, never matched.
    #[test]
    fn padded_oid_encodings_are_not_der() {
        let cn_padded = ObjectIdentifier::from_bytes(&[0x55, 0x04, 0x80, 0x03]).unwrap();
        let d = Dn::from_name(&name(&[&[(cn_padded, Tag::Utf8String, b"x")]]));
        assert!(!d.types_are_der());
        assert!(dn("CN=x,1.2.1879047053=y,2.5.4.99=z").types_are_der());
    }

    // Found by fuzzing (fuzz/fuzz_targets/dn.rs, rule.rs, identity.rs): const-oid 0.9 encodes
    // an arc whose base-128 digits start `1, 0` (128, 16384..16511, 2097152..2113535, ...)
    // wrongly, so `1.2.128=x` printed as another OID and never equalled the same type from a
    // certificate; and a certificate's large arc printed as a type no rule could name.
    #[test]
    fn dotted_types_with_any_arc_encode_as_der_does() {
        for (t, der) in [
            ("1.2.128", &[0x2a, 0x81, 0x00][..]),
            ("1.2.16384", &[0x2a, 0x81, 0x80, 0x00]),
            ("1.2.2102309", &[0x2a, 0x81, 0x80, 0xa8, 0x25]),
            ("2.5.4.99", &[0x55, 0x04, 0x63]),
            // An arc past 2^28 that const-oid decodes (and so a certificate may carry).
            ("1.2.1879047053", &[0x2a, 0x86, 0xff, 0xff, 0xf7, 0x0d]),
        ] {
            let oid = parse_type(t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(oid.as_bytes(), der, "{t}");
            assert_eq!(type_name(&oid), t);
            let from_cert = ObjectIdentifier::from_bytes(der).unwrap();
            let d = Dn::from_name(&name(&[&[(from_cert, Tag::Utf8String, b"x")]]));
            assert_eq!(d, dn(&format!("{t}=x")), "{t}");
        }
    }
}
