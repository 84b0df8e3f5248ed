//! Test helpers: a request builder, key sets, signers, and the RFC 9421 Appendix B.1 test
//! keys (published in the RFC for exactly this use).

use crate::payload::keys::{Key, KeyMaterial, KeySet};
use crate::payload::Request;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::{hmac, signature};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

/// RFC 9421 B.1.2 test-key-rsa-pss, public.
pub const RFC_RSA_PSS_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----
";

/// RFC 9421 B.1.2 test-key-rsa-pss, private (PKCS#8 with the RSASSA-PSS OID).
pub const RFC_RSA_PSS_PRIV: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADALBgkqhkiG9w0BAQoEggSqMIIEpgIBAAKCAQEAr4tmm3r20Wd/Pbqv
P1s2+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry5
3mm+oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7Oyr
FAHqgDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUA
AN5WUtzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw
9lq4aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oy
c6XI2wIDAQABAoIBAQCUB8ip+kJiiZVKF8AqfB/aUP0jTAqOQewK1kKJ/iQCXBCq
pbo360gvdt05H5VZ/RDVkEgO2k73VSsbulqezKs8RFs2tEmU+JgTI9MeQJPWcP6X
aKy6LIYs0E2cWgp8GADgoBs8llBq0UhX0KffglIeek3n7Z6Gt4YFge2TAcW2WbN4
XfK7lupFyo6HHyWRiYHMMARQXLJeOSdTn5aMBP0PO4bQyk5ORxTUSeOciPJUFktQ
HkvGbym7KryEfwH8Tks0L7WhzyP60PL3xS9FNOJi9m+zztwYIXGDQuKM2GDsITeD
2mI2oHoPMyAD0wdI7BwSVW18p1h+jgfc4dlexKYRAoGBAOVfuiEiOchGghV5vn5N
RDNscAFnpHj1QgMr6/UG05RTgmcLfVsI1I4bSkbrIuVKviGGf7atlkROALOG/xRx
DLadgBEeNyHL5lz6ihQaFJLVQ0u3U4SB67J0YtVO3R6lXcIjBDHuY8SjYJ7Ci6Z6
vuDcoaEujnlrtUhaMxvSfcUJAoGBAMPsCHXte1uWNAqYad2WdLjPDlKtQJK1diCm
rqmB2g8QE99hDOHItjDBEdpyFBKOIP+NpVtM2KLhRajjcL9Ph8jrID6XUqikQuVi
4J9FV2m42jXMuioTT13idAILanYg8D3idvy/3isDVkON0X3UAVKrgMEne0hJpkPL
FYqgetvDAoGBAKLQ6JZMbSe0pPIJkSamQhsehgL5Rs51iX4m1z7+sYFAJfhvN3Q/
OGIHDRp6HjMUcxHpHw7U+S1TETxePwKLnLKj6hw8jnX2/nZRgWHzgVcY+sPsReRx
NJVf+Cfh6yOtznfX00p+JWOXdSY8glSSHJwRAMog+hFGW1AYdt7w80XBAoGBAImR
NUugqapgaEA8TrFxkJmngXYaAqpA0iYRA7kv3S4QavPBUGtFJHBNULzitydkNtVZ
3w6hgce0h9YThTo/nKc+OZDZbgfN9s7cQ75x0PQCAO4fx2P91Q+mDzDUVTeG30mE
t2m3S0dGe47JiJxifV9P3wNBNrZGSIF3mrORBVNDAoGBAI0QKn2Iv7Sgo4T/XjND
dl2kZTXqGAk8dOhpUiw/HdM3OGWbhHj2NdCzBliOmPyQtAr770GITWvbAI+IRYyF
S7Fnk6ZVVVHsxjtaHy1uJGFlaZzKR4AGNaUTOJMs6NadzCmGPAxNQQOCqoUjn4XR
rOjr9w349JooGXhOxbu8nOxX
-----END PRIVATE KEY-----
";

/// RFC 9421 B.1.3 test-key-ecc-p256, public.
pub const RFC_ECC_P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----
";

/// RFC 9421 B.1.3 test-key-ecc-p256, private (SEC1).
pub const RFC_ECC_P256_PRIV: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFKbhfNZfpDsW43+0+JjUr9K+bTeuxopu653+hBaXGA7oAoGCCqGSM49
AwEHoUQDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lfw0EkjqF7xB4FivAxzic30tMM
4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END EC PRIVATE KEY-----
";

/// RFC 9421 B.1.4 test-key-ed25519, public.
pub const RFC_ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
";

/// RFC 9421 B.1.4 test-key-ed25519, private (PKCS#8).
pub const RFC_ED25519_PRIV: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
";

/// RFC 9421 B.1.5 test-shared-secret, as the RFC prints it (base64 of the key bytes).
pub const RFC_SHARED_SECRET_B64: &str =
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

/// The body of the RFC 9421 test request, and its RFC 9530 sha-512 digest.
pub const RFC_BODY: &[u8] = br#"{"hello": "world"}"#;
pub const RFC_CONTENT_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

pub fn pem_der(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::{PemObject, SectionKind};
    let (_, der) = <(SectionKind, Vec<u8>) as PemObject>::from_pem_slice(pem.as_bytes()).unwrap();
    der
}

pub fn shared_secret() -> Vec<u8> {
    STANDARD.decode(RFC_SHARED_SECRET_B64).unwrap()
}

/// A request under construction. Header strings are leaked: tests only.
#[derive(Clone)]
pub struct Req {
    pub method: &'static str,
    pub authority: &'static str,
    pub target: &'static str,
    pub headers: Vec<(&'static str, &'static [u8])>,
    pub body: &'static [u8],
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

impl Req {
    pub fn post(body: &[u8]) -> Req {
        Req {
            method: "POST",
            authority: "example.com",
            target: "/foo",
            headers: Vec::new(),
            body: Box::leak(body.to_vec().into_boxed_slice()),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((leak(name), leak(value).as_bytes()));
        self
    }
    pub fn target(mut self, target: &str) -> Req {
        self.target = leak(target);
        self
    }
    pub fn method(mut self, method: &str) -> Req {
        self.method = leak(method);
        self
    }
    pub fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
    pub fn replace(self, name: &str, value: &str) -> Req {
        self.without(name).header(name, value)
    }
    pub fn body(mut self, body: &[u8]) -> Req {
        self.body = Box::leak(body.to_vec().into_boxed_slice());
        self
    }
    pub fn request(&self) -> Request<'_> {
        Request {
            method: self.method,
            authority: self.authority,
            target: self.target,
            headers: &self.headers,
            body: self.body,
        }
    }
    /// The RFC 9421 test request (§2.5, Appendix B.2) without signature fields.
    pub fn rfc_test_request() -> Req {
        Req::post(RFC_BODY)
            .target("/foo?param=Value&Pet=dog")
            .header("Host", "example.com")
            .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("Content-Type", "application/json")
            .header("Content-Digest", RFC_CONTENT_DIGEST)
            .header("Content-Length", "18")
    }
}

pub fn secrets(list: &[(&str, &[u8])]) -> KeySet {
    KeySet::new(
        list.iter()
            .map(|(name, s)| Key {
                name: name.to_string(),
                material: KeyMaterial::Secret(s.to_vec()),
            })
            .collect(),
    )
}

pub fn key(name: &str, material: KeyMaterial) -> Key {
    Key {
        name: name.to_string(),
        material,
    }
}

pub fn hmac_raw(secret: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), msg)
        .as_ref()
        .to_vec()
}

pub fn hmac_b64(secret: &[u8], msg: &[u8]) -> String {
    STANDARD.encode(hmac_raw(secret, msg))
}

pub fn hmac_hex(secret: &[u8], msg: &[u8]) -> String {
    hmac_raw(secret, msg)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A signer for tests.
pub enum Signer {
    Ed25519(signature::Ed25519KeyPair),
    Ecdsa(signature::EcdsaKeyPair),
    Rsa(signature::RsaKeyPair, &'static dyn signature::RsaEncoding),
    Hmac(Vec<u8>),
}

impl Signer {
    pub fn rfc_ed25519() -> Signer {
        Signer::Ed25519(
            signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(RFC_ED25519_PRIV))
                .unwrap(),
        )
    }
    pub fn rfc_p256() -> Signer {
        Signer::Ecdsa(
            signature::EcdsaKeyPair::from_private_key_der(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &pem_der(RFC_ECC_P256_PRIV),
            )
            .unwrap(),
        )
    }
    /// The RSA-PSS test key: its PKCS#8 carries the RSASSA-PSS OID, so the inner PKCS#1
    /// key is taken out of the OCTET STRING.
    pub fn rfc_rsa_pss() -> Signer {
        let der = pem_der(RFC_RSA_PSS_PRIV);
        let inner = pkcs8_inner(&der);
        Signer::Rsa(
            signature::RsaKeyPair::from_der(inner).unwrap(),
            &signature::RSA_PSS_SHA512,
        )
    }
    pub fn ecdsa(alg: &'static signature::EcdsaSigningAlgorithm) -> Signer {
        Signer::Ecdsa(signature::EcdsaKeyPair::generate(alg).unwrap())
    }
    pub fn ed25519() -> Signer {
        Signer::Ed25519(signature::Ed25519KeyPair::generate().unwrap())
    }
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Signer::Ed25519(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Ecdsa(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Signer::Rsa(k, enc) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(*enc, &SystemRandom::new(), msg, &mut out).unwrap();
                out
            }
            Signer::Hmac(s) => hmac_raw(s, msg),
        }
    }
    /// The public half as certgate's key material.
    pub fn material(&self) -> KeyMaterial {
        use aws_lc_rs::signature::KeyPair as _;
        match self {
            Signer::Ed25519(k) => KeyMaterial::Ed25519(k.public_key().as_ref().to_vec()),
            Signer::Ecdsa(k) => {
                let point = k.public_key().as_ref().to_vec();
                let curve = match point.len() {
                    65 => crate::payload::keys::Curve::P256,
                    97 => crate::payload::keys::Curve::P384,
                    _ => crate::payload::keys::Curve::P521,
                };
                KeyMaterial::Ec {
                    curve,
                    public: point,
                }
            }
            Signer::Rsa(k, _) => KeyMaterial::Rsa {
                public: crate::payload::keys::RsaPublic::Components {
                    n: k.public_key()
                        .modulus()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                    e: k.public_key()
                        .exponent()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                },
                rs256: false,
            },
            Signer::Hmac(s) => KeyMaterial::Secret(s.clone()),
        }
    }
}

/// The content of the OCTET STRING of a PKCS#8 PrivateKeyInfo.
fn pkcs8_inner(der: &[u8]) -> &[u8] {
    // (tag, header length, content length) of the TLV at `at`.
    fn tlv(der: &[u8], at: usize) -> (u8, usize, usize) {
        let first = der[at + 1];
        if first < 0x80 {
            return (der[at], 2, first as usize);
        }
        let n = (first & 0x7f) as usize;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (der[at], 2 + n, len)
    }
    let (_, outer_header, _) = tlv(der, 0);
    let mut at = outer_header;
    loop {
        let (tag, header, len) = tlv(der, at);
        if tag == 0x04 {
            return &der[at + header..at + header + len];
        }
        at += header + len;
    }
}

/// A JWK of a fresh RSA key (tests of the JWK `alg` handling).
pub fn rsa_jwk(alg: &str) -> String {
    use aws_lc_rs::signature::KeyPair as _;
    let Signer::Rsa(k, _) = Signer::rfc_rsa_pss() else {
        unreachable!()
    };
    let n = URL_SAFE_NO_PAD.encode(k.public_key().modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(k.public_key().exponent().big_endian_without_leading_zero());
    format!(r#"{{"kty":"RSA","kid":"test-key-rsa-pss","alg":"{alg}","n":"{n}","e":"{e}"}}"#)
}
