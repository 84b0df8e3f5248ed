//! Key files for `--verify-key NAME=PATH`: one file, or a directory whose files are one key
//! each (hidden names such as Kubernetes' `..data` skipped; symlinks followed). HMAC secrets
//! are the file's bytes with one trailing newline removed; public keys are PEM
//! SubjectPublicKeyInfo or JWK/JWKS JSON. A key's name is its file name without the
//! extension, or a JWK's `kid`. Parsing is PURE ([`parse_key_file`]); [`load`] reads files.

use crate::payload::Scheme;
use aws_lc_rs::signature;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rustls_pki_types::pem::{PemObject, SectionKind};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum RsaPublic {
    /// SubjectPublicKeyInfo DER.
    Der(Vec<u8>),
    /// From a JWK: big-endian modulus and exponent.
    Components { n: Vec<u8>, e: Vec<u8> },
}

#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// An HMAC secret (never printed).
    Secret(Vec<u8>),
    /// SubjectPublicKeyInfo DER, or the raw 32 bytes.
    Ed25519(Vec<u8>),
    /// SubjectPublicKeyInfo DER, or the uncompressed SEC1 point.
    Ec { curve: Curve, public: Vec<u8> },
    /// `rs256`: the JWK said `"alg": "RS256"` (RSASSA-PKCS1-v1_5 with SHA-256).
    Rsa { public: RsaPublic, rs256: bool },
}

impl KeyMaterial {
    /// What the key is, in words (for logs and `check`).
    pub fn describe(&self) -> String {
        match self {
            KeyMaterial::Secret(s) => format!("HMAC secret ({} bytes)", s.len()),
            KeyMaterial::Ed25519(_) => "Ed25519 public key".into(),
            KeyMaterial::Ec { curve, .. } => format!("ECDSA {} public key", curve.name()),
            KeyMaterial::Rsa { rs256: true, .. } => "RSA public key (RS256)".into(),
            KeyMaterial::Rsa { .. } => "RSA public key".into(),
        }
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The name a `keyid` selects and `X-Signature-Verified` reports.
    pub name: String,
    pub material: KeyMaterial,
}

/// The keys of one route; any of them may verify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    pub fn new(keys: Vec<Key>) -> KeySet {
        KeySet { keys }
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }
    /// The keys called `name` (a file and a JWK may share a name: each is tried).
    pub fn named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Key> + 's {
        self.keys.iter().filter(move |k| k.name == name)
    }
    /// Every HMAC secret, with its key's name.
    pub fn secrets(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.keys.iter().filter_map(|k| match &k.material {
            KeyMaterial::Secret(s) => Some((k.name.as_str(), s.as_slice())),
            _ => None,
        })
    }
    /// The names, comma-separated (for log lines).
    pub fn names(&self) -> String {
        let mut names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        names.dedup();
        names.join(", ")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("--verify-key {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--verify-key {path}: the file is empty; put the key in it")]
    Empty { path: PathBuf },
    #[error("--verify-key {path}: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("--verify-key {path}: the directory holds no key file (hidden files are skipped)")]
    NoKeys { path: PathBuf },
}

/// The name of a key read from `path`: the file name without its extension.
pub fn key_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The file's bytes minus one trailing newline (`\n` or `\r\n`).
fn strip_one_newline(bytes: &[u8]) -> &[u8] {
    let b = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if b.len() < bytes.len() {
        b.strip_suffix(b"\r").unwrap_or(b)
    } else {
        b
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"-----BEGIN")
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().starts_with(b"{")
}

/// Parse one key file's bytes for `scheme`. `path` names the file in errors and gives
/// keys their default name.
pub fn parse_key_file(scheme: Scheme, path: &Path, bytes: &[u8]) -> Result<Vec<Key>, KeyError> {
    let invalid = |detail: String| KeyError::Invalid {
        path: path.to_path_buf(),
        detail,
    };
    if bytes.trim_ascii().is_empty() {
        return Err(KeyError::Empty {
            path: path.to_path_buf(),
        });
    }
    let name = key_name(path);
    let secret = |bytes: &[u8]| {
        vec![Key {
            name: name.clone(),
            material: KeyMaterial::Secret(strip_one_newline(bytes).to_vec()),
        }]
    };
    match scheme {
        Scheme::Docusign | Scheme::Github | Scheme::Stripe => {
            if looks_like_pem(bytes) {
                return Err(invalid(format!(
                    "holds a PEM block, but --verify {scheme} needs the HMAC secret as the sender shows it"
                )));
            }
            Ok(secret(bytes))
        }
        Scheme::StandardWebhooks => {
            if looks_like_pem(bytes) {
                let keys = parse_pem(&name, bytes).map_err(invalid)?;
                return only(keys, &[KeyKind::Ed25519], scheme).map_err(invalid);
            }
            let text = std::str::from_utf8(bytes)
                .map_err(|_| invalid("is neither whsec_… text nor a PEM key".into()))?
                .trim();
            if let Some(b64) = text.strip_prefix("whpk_") {
                let raw = STANDARD
                    .decode(b64)
                    .map_err(|e| invalid(format!("whpk_ key is not base64: {e}")))?;
                let material = ed25519_raw(&raw).map_err(invalid)?;
                return Ok(vec![Key { name, material }]);
            }
            let b64 = text.strip_prefix("whsec_").unwrap_or(text);
            let raw = STANDARD.decode(b64).map_err(|e| {
                invalid(format!(
                    "expected whsec_BASE64 (the secret as the sender shows it), whpk_BASE64 or a PEM Ed25519 public key: {e}"
                ))
            })?;
            if raw.is_empty() {
                return Err(invalid("the whsec_ secret is empty".into()));
            }
            Ok(vec![Key {
                name,
                material: KeyMaterial::Secret(raw),
            }])
        }
        Scheme::HttpSignature => {
            if looks_like_pem(bytes) {
                parse_pem(&name, bytes).map_err(invalid)
            } else if looks_like_json(bytes) {
                parse_jwk_json(&name, bytes, true).map_err(invalid)
            } else {
                Ok(secret(bytes))
            }
        }
        Scheme::Upvest => {
            let keys = if looks_like_pem(bytes) {
                parse_pem(&name, bytes)
            } else if looks_like_json(bytes) {
                parse_jwk_json(&name, bytes, false)
            } else {
                Err("expected Upvest's public key as PEM or the JWKS that GET /auth/verify_keys returns".into())
            }
            .map_err(invalid)?;
            only(keys, &[KeyKind::Ed25519, KeyKind::Ec], scheme).map_err(invalid)
        }
    }
}

#[derive(PartialEq)]
enum KeyKind {
    Ed25519,
    Ec,
}

fn only(keys: Vec<Key>, kinds: &[KeyKind], scheme: Scheme) -> Result<Vec<Key>, String> {
    for k in &keys {
        let kind = match k.material {
            KeyMaterial::Ed25519(_) => Some(KeyKind::Ed25519),
            KeyMaterial::Ec { .. } => Some(KeyKind::Ec),
            _ => None,
        };
        if !kind.is_some_and(|kind| kinds.contains(&kind)) {
            return Err(format!(
                "holds an {}, which --verify {scheme} does not use",
                k.material.describe()
            ));
        }
    }
    Ok(keys)
}

/// Every `PUBLIC KEY` block of a PEM file, its type found by aws-lc-rs.
fn parse_pem(name: &str, bytes: &[u8]) -> Result<Vec<Key>, String> {
    let mut keys = Vec::new();
    for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes) {
        let (kind, der) = section.map_err(|e| format!("not valid PEM: {e}"))?;
        match kind {
            SectionKind::PublicKey => keys.push(Key {
                name: name.to_string(),
                material: classify_spki(&der)?,
            }),
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                return Err(
                    "holds a private key; give certgate only the sender's public key (openssl pkey -pubout)"
                        .into(),
                )
            }
            SectionKind::Certificate => {
                return Err(
                    "holds a certificate; extract its public key (openssl x509 -pubkey -noout)"
                        .into(),
                )
            }
            _ => {}
        }
    }
    if keys.is_empty() {
        return Err("holds no PEM PUBLIC KEY block".into());
    }
    Ok(keys)
}

/// The key type of a SubjectPublicKeyInfo: the first verifier that accepts it.
fn classify_spki(der: &[u8]) -> Result<KeyMaterial, String> {
    use signature::ParsedPublicKey;
    if ParsedPublicKey::new(&signature::ED25519, der).is_ok() {
        return Ok(KeyMaterial::Ed25519(der.to_vec()));
    }
    for (alg, curve) in [
        (&signature::ECDSA_P256_SHA256_FIXED, Curve::P256),
        (&signature::ECDSA_P384_SHA384_FIXED, Curve::P384),
        (&signature::ECDSA_P521_SHA512_FIXED, Curve::P521),
    ] {
        if ParsedPublicKey::new(alg, der).is_ok() {
            return Ok(KeyMaterial::Ec {
                curve,
                public: der.to_vec(),
            });
        }
    }
    if ParsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA512, der).is_ok() {
        return Ok(KeyMaterial::Rsa {
            public: RsaPublic::Der(der.to_vec()),
            rs256: false,
        });
    }
    Err("the PUBLIC KEY is not Ed25519, ECDSA P-256/P-384/P-521 or RSA of 2048 to 8192 bits".into())
}

fn ed25519_raw(raw: &[u8]) -> Result<KeyMaterial, String> {
    if raw.len() != 32 || signature::ParsedPublicKey::new(&signature::ED25519, raw).is_err() {
        return Err(format!(
            "an Ed25519 public key is 32 bytes, this one is {}",
            raw.len()
        ));
    }
    Ok(KeyMaterial::Ed25519(raw.to_vec()))
}

/// A JWK or a JWKS (`{"keys": [...]}`), RFC 7517/7518/8037. `oct` keys (HMAC secrets) only
/// where `allow_secret`.
fn parse_jwk_json(name: &str, bytes: &[u8], allow_secret: bool) -> Result<Vec<Key>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let jwks: Vec<&serde_json::Value> = match value.get("keys") {
        Some(serde_json::Value::Array(keys)) => keys.iter().collect(),
        Some(_) => return Err("\"keys\" is not an array".into()),
        None => vec![&value],
    };
    if jwks.is_empty() {
        return Err("the JWKS has no keys".into());
    }
    jwks.iter()
        .enumerate()
        .map(|(i, jwk)| parse_jwk(name, jwk, allow_secret).map_err(|e| format!("key {i}: {e}")))
        .collect()
}

fn parse_jwk(file_name: &str, jwk: &serde_json::Value, allow_secret: bool) -> Result<Key, String> {
    let field = |f: &str| jwk.get(f).and_then(|v| v.as_str());
    let b64 = |f: &str| -> Result<Vec<u8>, String> {
        let text = field(f).ok_or_else(|| format!("has no \"{f}\""))?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| format!("\"{f}\" is not base64url: {e}"))
    };
    if jwk.get("d").is_some() {
        return Err("is a private JWK (it has \"d\"); give certgate only the public key".into());
    }
    let name = match field("kid") {
        Some(kid) if !kid.is_empty() => kid.to_string(),
        _ => file_name.to_string(),
    };
    let material = match field("kty") {
        Some("OKP") => match field("crv") {
            Some("Ed25519") => ed25519_raw(&b64("x")?)?,
            other => return Err(format!("OKP curve {other:?} is not supported (Ed25519 is)")),
        },
        Some("EC") => {
            let curve = match field("crv") {
                Some("P-256") => Curve::P256,
                Some("P-384") => Curve::P384,
                Some("P-521") => Curve::P521,
                other => return Err(format!("EC curve {other:?} is not supported")),
            };
            let (x, y) = (b64("x")?, b64("y")?);
            let width = match curve {
                Curve::P256 => 32,
                Curve::P384 => 48,
                Curve::P521 => 66,
            };
            if x.len() != width || y.len() != width {
                return Err(format!(
                    "{} coordinates are {width} bytes each",
                    curve.name()
                ));
            }
            let mut point = Vec::with_capacity(1 + 2 * width);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let alg: &'static signature::EcdsaVerificationAlgorithm = match curve {
                Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED,
                Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED,
                Curve::P521 => &signature::ECDSA_P521_SHA512_FIXED,
            };
            signature::ParsedPublicKey::new(alg, &point)
                .map_err(|_| format!("the point is not on {}", curve.name()))?;
            KeyMaterial::Ec {
                curve,
                public: point,
            }
        }
        Some("RSA") => {
            let (n, e) = (b64("n")?, b64("e")?);
            if n.len() < 256 {
                return Err("RSA keys under 2048 bits are refused".into());
            }
            let rs256 = match field("alg") {
                None | Some("PS512") => false,
                Some("RS256") => true,
                Some(other) => {
                    return Err(format!("RSA alg {other} is not supported (PS512 or RS256)"))
                }
            };
            KeyMaterial::Rsa {
                public: RsaPublic::Components { n, e },
                rs256,
            }
        }
        Some("oct") if allow_secret => KeyMaterial::Secret(b64("k")?),
        other => return Err(format!("kty {other:?} is not supported")),
    };
    Ok(Key { name, material })
}

/// Read `path` (a file, or a directory of key files) for `scheme`.
pub fn load(scheme: Scheme, path: &Path) -> Result<KeySet, KeyError> {
    let read_err = |source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_dir() {
        let bytes = std::fs::read(path).map_err(read_err)?;
        return Ok(KeySet::new(parse_key_file(scheme, path, &bytes)?));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read_err)?
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut keys = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| KeyError::Read {
            path: file.clone(),
            source,
        })?;
        keys.extend(parse_key_file(scheme, file, &bytes)?);
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys {
            path: path.to_path_buf(),
        });
    }
    Ok(KeySet::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::testutil::{self, RFC_ECC_P256_PUB, RFC_ED25519_PUB, RFC_RSA_PSS_PUB};

    fn parse(scheme: Scheme, file: &str, bytes: &[u8]) -> Result<Vec<Key>, KeyError> {
        parse_key_file(scheme, Path::new(file), bytes)
    }

    #[test]
    fn hmac_secret_loses_exactly_one_trailing_newline() {
        let k = parse(Scheme::Docusign, "/k/docusign-2025.key", b"s3cret\n\n").unwrap();
        assert_eq!(k[0].name, "docusign-2025");
        assert_eq!(k[0].material, KeyMaterial::Secret(b"s3cret\n".to_vec()));
        let k = parse(Scheme::Github, "gh", b"abc\r\n").unwrap();
        assert_eq!(k[0].material, KeyMaterial::Secret(b"abc".to_vec()));
        let k = parse(Scheme::Stripe, "s.txt", b"whsec_abc").unwrap();
        assert_eq!(k[0].material, KeyMaterial::Secret(b"whsec_abc".to_vec()));
    }

    #[test]
    fn empty_or_pem_secret_is_refused() {
        assert!(matches!(
            parse(Scheme::Docusign, "a", b"\n"),
            Err(KeyError::Empty { .. })
        ));
        assert!(matches!(
            parse(Scheme::Github, "a", RFC_ED25519_PUB.as_bytes()),
            Err(KeyError::Invalid { .. })
        ));
    }

    #[test]
    fn standard_webhooks_secret_is_the_decoded_part() {
        let k = parse(
            Scheme::StandardWebhooks,
            "sw.key",
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
        )
        .unwrap();
        let KeyMaterial::Secret(s) = &k[0].material else {
            panic!()
        };
        assert_eq!(
            s,
            &STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
        );
        assert!(parse(Scheme::StandardWebhooks, "sw", b"whsec_***").is_err());
        let k = parse(
            Scheme::StandardWebhooks,
            "pub.pem",
            RFC_ED25519_PUB.as_bytes(),
        )
        .unwrap();
        assert!(matches!(k[0].material, KeyMaterial::Ed25519(_)));
        assert!(parse(Scheme::StandardWebhooks, "p", RFC_ECC_P256_PUB.as_bytes()).is_err());
    }

    #[test]
    fn pem_keys_are_classified() {
        let k = parse(
            Scheme::HttpSignature,
            "test-key-ecc-p256.pem",
            RFC_ECC_P256_PUB.as_bytes(),
        )
        .unwrap();
        assert_eq!(k[0].name, "test-key-ecc-p256");
        assert!(matches!(
            k[0].material,
            KeyMaterial::Ec {
                curve: Curve::P256,
                ..
            }
        ));
        let k = parse(Scheme::HttpSignature, "r.pem", RFC_RSA_PSS_PUB.as_bytes()).unwrap();
        assert!(matches!(
            k[0].material,
            KeyMaterial::Rsa { rs256: false, .. }
        ));
        let k = parse(Scheme::HttpSignature, "e.pem", RFC_ED25519_PUB.as_bytes()).unwrap();
        assert!(matches!(k[0].material, KeyMaterial::Ed25519(_)));
        // Not PEM, not JSON: an HMAC secret.
        let k = parse(Scheme::HttpSignature, "test-shared-secret", b"raw\n").unwrap();
        assert_eq!(k[0].material, KeyMaterial::Secret(b"raw".to_vec()));
    }

    #[test]
    fn private_keys_and_certificates_are_refused() {
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
        let e = parse(Scheme::HttpSignature, "k.pem", private.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("private key"), "{e}");
        let jwk = br#"{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"}"#;
        assert!(parse(Scheme::HttpSignature, "k.json", jwk).is_err());
    }

    #[test]
    fn upvest_jwks_as_their_api_returns_it() {
        // The example response of Upvest's GET /auth/verify_keys.
        let jwks = br#"{"keys":[{"kid":"9ed77463-c18e-4794-ab5c-17423f9b801a","kty":"EC","crv":"P-521",
            "x":"AcYAf5Ou0UvtehpeRvyhnvvrUQvjI4B3VCxfSmxK4gqKJGxO_jTB-nTdrHbBfmZpwmwYR86DppMg43E579K5MQ54",
            "y":"ALkrId77iD0Ye2vBS5bTkLqPH-bo8urTpTXiNc6Ub-VOFbXfJrR0tQ8COvVXXu58BTu8jWV-1mtbjfJpDl3ISbcK"}]}"#;
        let k = parse(Scheme::Upvest, "upvest.json", jwks).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].name, "9ed77463-c18e-4794-ab5c-17423f9b801a");
        assert!(matches!(
            k[0].material,
            KeyMaterial::Ec {
                curve: Curve::P521,
                ..
            }
        ));
        // Upvest never uses HMAC secrets or RSA.
        assert!(parse(Scheme::Upvest, "u", b"secret").is_err());
        assert!(parse(Scheme::Upvest, "u.pem", RFC_RSA_PSS_PUB.as_bytes()).is_err());
        assert!(parse(Scheme::Upvest, "u.json", br#"{"keys":[]}"#).is_err());
    }

    #[test]
    fn jwk_forms() {
        let ed = br#"{"kty":"OKP","crv":"Ed25519","kid":"test-key-ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}"#;
        let k = parse(Scheme::HttpSignature, "x.json", ed).unwrap();
        assert_eq!(k[0].name, "test-key-ed25519");
        let oct = br#"{"kty":"oct","k":"c2VjcmV0"}"#;
        let k = parse(Scheme::HttpSignature, "hm.json", oct).unwrap();
        assert_eq!(k[0].name, "hm");
        assert_eq!(k[0].material, KeyMaterial::Secret(b"secret".to_vec()));
        let off_curve = br#"{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(parse(Scheme::HttpSignature, "x.json", off_curve).is_err());
        let rsa = testutil::rsa_jwk("RS256");
        let k = parse(Scheme::HttpSignature, "r.json", rsa.as_bytes()).unwrap();
        assert!(matches!(
            k[0].material,
            KeyMaterial::Rsa { rs256: true, .. }
        ));
    }

    #[test]
    fn directory_reads_every_visible_file_and_secrets_do_not_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("old.key"), "one\n").unwrap();
        std::fs::write(dir.path().join("new.key"), "two\n").unwrap();
        std::fs::create_dir(dir.path().join("..data")).unwrap();
        std::fs::write(dir.path().join(".hidden"), "three").unwrap();
        let set = load(Scheme::Docusign, dir.path()).unwrap();
        assert_eq!(set.names(), "new, old");
        assert!(!format!("{set:?}").contains("one"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(Scheme::Docusign, empty.path()),
            Err(KeyError::NoKeys { .. })
        ));
        std::fs::write(dir.path().join("bad.pem"), RFC_ED25519_PUB).unwrap();
        let e = load(Scheme::Docusign, dir.path()).unwrap_err();
        assert!(e.to_string().contains("bad.pem"), "{e}");
        assert!(matches!(
            load(Scheme::Docusign, &dir.path().join("absent")),
            Err(KeyError::Read { .. })
        ));
    }
}
