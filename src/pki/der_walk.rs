//! A minimal DER walker with absolute offsets (so positions into a kept buffer can be
//! stored), and the signature check over plain byte ranges. Used where a full ASN.1 decode
//! would build a structure per element: a CRL's revoked entries.

use rustls_pki_types::SignatureVerificationAlgorithm;

// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv {
    pub(crate) tag: u8,
    pub(crate) start: usize,
    pub(crate) value: usize,
    pub(crate) end: usize,
}

#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) end: usize,
}

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const CONTEXT_0_CONSTRUCTED: u8 = 0xa0;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            pos: 0,
            end: buf.len(),
        }
    }

    pub(crate) fn inside(buf: &'a [u8], tlv: Tlv) -> Reader<'a> {
        Reader {
            buf,
            pos: tlv.value,
            end: tlv.end,
        }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.buf[self.pos])
    }

    /// One TLV, DER rules: definite, minimal lengths, single-byte tags.
    pub(crate) fn read(&mut self) -> Result<Tlv, &'static str> {
        const BAD: &str = "bad DER length";
        let start = self.pos;
        if start + 2 > self.end {
            return Err("truncated");
        }
        let tag = self.buf[start];
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tag");
        }
        let first = self.buf[start + 1];
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || start + 2 + n > self.end {
                return Err(BAD);
            }
            let mut len = 0usize;
            for &b in &self.buf[start + 2..start + 2 + n] {
                len = (len << 8) | b as usize;
            }
            // Minimal: no leading zero byte, and the long form only for 128 and above.
            if self.buf[start + 2] == 0 || len < 0x80 {
                return Err(BAD);
            }
            (len, 2 + n)
        };
        let value = start + header;
        let end = value.checked_add(len).ok_or(BAD)?;
        if end > self.end {
            return Err("truncated");
        }
        self.pos = end;
        Ok(Tlv {
            tag,
            start,
            value,
            end,
        })
    }

    pub(crate) fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv, &'static str> {
        let t = self.read()?;
        if t.tag == tag {
            Ok(t)
        } else {
            Err(what)
        }
    }
}

pub(crate) fn contents(buf: &[u8], t: Tlv) -> &[u8] {
    &buf[t.value..t.end]
}

/// `2.5.29.x` as DER OID contents.
pub(crate) fn ce(x: u8) -> [u8; 3] {
    [0x55, 0x1d, x]
}

/// Unix seconds of a DER UTCTime or GeneralizedTime TLV.
pub(crate) fn time_of(buf: &[u8], t: Tlv) -> Result<i64, &'static str> {
    use der::Decode;
    let tlv = &buf[t.start..t.end];
    let d = match t.tag {
        UTC_TIME => der::asn1::UtcTime::from_der(tlv)
            .map(|u| u.to_unix_duration())
            .map_err(|_| "bad UTCTime")?,
        GENERALIZED_TIME => der::asn1::GeneralizedTime::from_der(tlv)
            .map(|g| g.to_unix_duration())
            .map_err(|_| "bad GeneralizedTime")?,
        _ => return Err("expected a time"),
    };
    i64::try_from(d.as_secs()).map_err(|_| "time out of range")
}

/// Calls `f(oid, critical, (value start, value end))` for each Extension of an Extensions
/// SEQUENCE. `Err(Ok(e))` is `f`'s error, `Err(Err(w))` a structural problem.
pub(crate) fn for_each_extension<E>(
    buf: &[u8],
    exts: Tlv,
    mut f: impl FnMut(&[u8], bool, (usize, usize)) -> Result<(), E>,
) -> Result<(), Result<E, &'static str>> {
    let mut r = Reader::inside(buf, exts);
    while !r.at_end() {
        let ext = r.expect(SEQUENCE, "bad extension").map_err(Err)?;
        let mut er = Reader::inside(buf, ext);
        let oid = er.expect(OID, "bad extension id").map_err(Err)?;
        let mut critical = false;
        if er.peek() == Some(BOOLEAN) {
            let b = er.read().map_err(Err)?;
            critical = contents(buf, b) == [0xff];
        }
        let value = er
            .expect(OCTET_STRING, "bad extension value")
            .map_err(Err)?;
        if !er.at_end() {
            return Err(Err("trailing data in an extension"));
        }
        f(contents(buf, oid), critical, (value.value, value.end)).map_err(Ok)?;
    }
    Ok(())
}

pub(crate) fn oid_string(oid: &[u8]) -> String {
    const_oid::ObjectIdentifier::from_bytes(oid)
        .map(|o| o.to_string())
        .unwrap_or_else(|_| "(bad OID)".into())
}

/// Split SubjectPublicKeyInfo DER (with its SEQUENCE header) into the algorithm's contents
/// and the key bits.
pub(crate) fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut r = Reader::new(spki);
    let seq = r.expect(SEQUENCE, "").ok()?;
    if !r.at_end() {
        return None;
    }
    let mut inner = Reader::inside(spki, seq);
    let alg = inner.expect(SEQUENCE, "").ok()?;
    let key = inner.expect(BIT_STRING, "").ok()?;
    let bits = contents(spki, key);
    if !inner.at_end() || bits.first() != Some(&0) {
        return None;
    }
    Some((contents(spki, alg), &bits[1..]))
}

/// Does `signature` over `message` verify with `spki` under one of `algs`?
pub(crate) fn signature_ok(
    algs: &[&dyn SignatureVerificationAlgorithm],
    spki: &[u8],
    message: &[u8],
    sig_alg: &[u8],
    signature: &[u8],
) -> bool {
    let Some((key_alg, key)) = split_spki(spki) else {
        return false;
    };
    algs.iter().any(|a| {
        a.signature_alg_id().as_ref() == sig_alg
            && a.public_key_alg_id().as_ref() == key_alg
            && a.verify_signature(key, message, signature).is_ok()
    })
}
