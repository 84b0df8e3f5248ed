//! The signature algorithms, and the one place that calls aws-lc-rs to check a signature.
//! Every comparison is constant-time with a length check: HMAC tags through
//! `hmac::verify`, public-key signatures through aws-lc-rs' verifiers.

use crate::payload::keys::{Curve, KeyMaterial, RsaPublic};
use aws_lc_rs::{hmac, signature};

/// The hash of an ECDSA signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// How an ECDSA signature is encoded: RFC 9421 uses `r || s` (fixed width), Upvest's
/// signer (Go's `ecdsa.SignASN1`) the ASN.1 DER sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaEncoding {
    Fixed,
    Asn1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    HmacSha256,
    Ed25519,
    Ecdsa(Curve, Hash),
    RsaPssSha512,
    RsaV15Sha256,
}

impl Alg {
    /// The RFC 9421 registry name (`ecdsa-p521-sha512` and the Upvest ECDSA-with-SHA-512
    /// combinations are certgate's names: the registry has none for them).
    pub fn name(self) -> &'static str {
        match self {
            Alg::HmacSha256 => "hmac-sha256",
            Alg::Ed25519 => "ed25519",
            Alg::Ecdsa(Curve::P256, Hash::Sha256) => "ecdsa-p256-sha256",
            Alg::Ecdsa(Curve::P384, Hash::Sha384) => "ecdsa-p384-sha384",
            Alg::Ecdsa(Curve::P521, Hash::Sha512) => "ecdsa-p521-sha512",
            Alg::Ecdsa(Curve::P256, Hash::Sha512) => "ecdsa-p256-sha512",
            Alg::Ecdsa(Curve::P384, Hash::Sha512) => "ecdsa-p384-sha512",
            Alg::Ecdsa(_, _) => "ecdsa",
            Alg::RsaPssSha512 => "rsa-pss-sha512",
            Alg::RsaV15Sha256 => "rsa-v1_5-sha256",
        }
    }

    /// The algorithm an RFC 9421 `alg` parameter names.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "hmac-sha256" => Alg::HmacSha256,
            "ed25519" => Alg::Ed25519,
            "ecdsa-p256-sha256" => Alg::Ecdsa(Curve::P256, Hash::Sha256),
            "ecdsa-p384-sha384" => Alg::Ecdsa(Curve::P384, Hash::Sha384),
            "ecdsa-p521-sha512" => Alg::Ecdsa(Curve::P521, Hash::Sha512),
            "rsa-pss-sha512" => Alg::RsaPssSha512,
            "rsa-v1_5-sha256" => Alg::RsaV15Sha256,
            _ => return None,
        })
    }
}

/// HMAC-SHA256 over `message` equals `tag` (constant time; a tag of another length fails).
pub fn hmac_sha256_matches(secret: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, message, tag).is_ok()
}

/// HMAC-SHA256 over the concatenation of `parts` equals `tag`.
pub fn hmac_sha256_parts_match(secret: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    let computed = ctx.sign();
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_ref(), tag).is_ok()
}

fn ecdsa_algorithm(
    curve: Curve,
    hash: Hash,
    encoding: EcdsaEncoding,
) -> Option<&'static signature::EcdsaVerificationAlgorithm> {
    use signature::*;
    Some(match (curve, hash, encoding) {
        (Curve::P256, Hash::Sha256, EcdsaEncoding::Fixed) => &ECDSA_P256_SHA256_FIXED,
        (Curve::P256, Hash::Sha256, EcdsaEncoding::Asn1) => &ECDSA_P256_SHA256_ASN1,
        (Curve::P256, Hash::Sha512, EcdsaEncoding::Asn1) => &ECDSA_P256_SHA512_ASN1,
        (Curve::P384, Hash::Sha384, EcdsaEncoding::Fixed) => &ECDSA_P384_SHA384_FIXED,
        (Curve::P384, Hash::Sha384, EcdsaEncoding::Asn1) => &ECDSA_P384_SHA384_ASN1,
        (Curve::P384, Hash::Sha512, EcdsaEncoding::Asn1) => &ECDSA_P384_SHA512_ASN1,
        (Curve::P521, Hash::Sha512, EcdsaEncoding::Fixed) => &ECDSA_P521_SHA512_FIXED,
        (Curve::P521, Hash::Sha512, EcdsaEncoding::Asn1) => &ECDSA_P521_SHA512_ASN1,
        _ => return None,
    })
}

/// `signature` is a valid `alg` signature of `message` under `key`. A key of another type
/// than `alg` needs never verifies.
pub fn verify(
    alg: Alg,
    key: &KeyMaterial,
    message: &[u8],
    sig: &[u8],
    encoding: EcdsaEncoding,
) -> bool {
    match (alg, key) {
        (Alg::HmacSha256, KeyMaterial::Secret(secret)) => hmac_sha256_matches(secret, message, sig),
        (Alg::Ed25519, KeyMaterial::Ed25519(public)) => {
            signature::UnparsedPublicKey::new(&signature::ED25519, public)
                .verify(message, sig)
                .is_ok()
        }
        (Alg::Ecdsa(curve, hash), KeyMaterial::Ec { curve: c, public }) if curve == *c => {
            match ecdsa_algorithm(curve, hash, encoding) {
                Some(a) => signature::UnparsedPublicKey::new(a, public)
                    .verify(message, sig)
                    .is_ok(),
                None => false,
            }
        }
        (Alg::RsaPssSha512, KeyMaterial::Rsa { public, .. }) => {
            rsa_verify(&signature::RSA_PSS_2048_8192_SHA512, public, message, sig)
        }
        (Alg::RsaV15Sha256, KeyMaterial::Rsa { public, .. }) => {
            rsa_verify(&signature::RSA_PKCS1_2048_8192_SHA256, public, message, sig)
        }
        _ => false,
    }
}

fn rsa_verify(
    params: &'static signature::RsaParameters,
    public: &RsaPublic,
    message: &[u8],
    sig: &[u8],
) -> bool {
    match public {
        RsaPublic::Der(der) => signature::UnparsedPublicKey::new(params, der)
            .verify(message, sig)
            .is_ok(),
        RsaPublic::Components { n, e } => signature::RsaPublicKeyComponents { n, e }
            .verify(params, message, sig)
            .is_ok(),
    }
}

/// Lowercase or uppercase hex to bytes; `None` for anything else (odd length included).
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    bytes
        .chunks(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alg_names_round_trip() {
        for a in [
            Alg::HmacSha256,
            Alg::Ed25519,
            Alg::Ecdsa(Curve::P256, Hash::Sha256),
            Alg::Ecdsa(Curve::P384, Hash::Sha384),
            Alg::Ecdsa(Curve::P521, Hash::Sha512),
            Alg::RsaPssSha512,
            Alg::RsaV15Sha256,
        ] {
            assert_eq!(Alg::from_name(a.name()), Some(a));
        }
        assert_eq!(Alg::from_name("rsa-pss-sha256"), None);
    }

    #[test]
    fn hmac_compare_checks_length() {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"k"), b"m");
        assert!(hmac_sha256_matches(b"k", b"m", tag.as_ref()));
        assert!(!hmac_sha256_matches(b"k", b"m", &tag.as_ref()[..31]));
        assert!(!hmac_sha256_matches(b"k", b"m", b""));
        assert!(hmac_sha256_parts_match(b"k", &[b"", b"m"], tag.as_ref()));
        assert!(!hmac_sha256_parts_match(b"k", &[b"m"], &tag.as_ref()[..1]));
    }

    #[test]
    fn hex_decoding() {
        assert_eq!(hex_decode("00ffA0"), Some(vec![0, 255, 160]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), Some(vec![]));
    }
}
