//! Reading trust material and the server's key from disk: files or directories, PEM or DER,
//! each file checked to parse, every error naming the flag and the file.

use super::files::{self, FileError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{flag} {path}: cannot read: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: FileError,
    },
    #[error("{flag} {path}: {problem}")]
    Invalid {
        flag: &'static str,
        path: PathBuf,
        problem: String,
    },
    #[error("--server-key {key} does not match the certificate in --server-cert {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("trust bundle {0:?} has no trust anchor")]
    EmptyBundle(String),
    #[error("--crl {path}: {source}")]
    Crl {
        path: PathBuf,
        #[source]
        source: super::crl::CrlError,
    },
    #[error("--client-ca-hints {choice}: the names of the {count} CAs it advertises take {bytes} bytes, more than a TLS CertificateRequest can carry (65535 bytes, less room for its other fields); advertise fewer with --client-ca-hints none (clients then offer any certificate they have; verification is unchanged) or --client-ca-hints bundle:NAME")]
    HintsTooLarge {
        choice: String,
        count: usize,
        bytes: usize,
    },
}

/// SHA-256 over length-prefixed parts.
pub(crate) fn digest_of<'a>(parts: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The server's own chain and key, checked to match, with a digest of both files.
pub fn load_server_key(
    cert: &Path,
    key: &Path,
) -> Result<(Arc<CertifiedKey>, [u8; 32]), TrustError> {
    let chain: Vec<CertificateDer<'static>> = read_certs("--server-cert", cert)?
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let bytes = read_file("--server-key", key, files::CERT_LIMIT)?;
    let key_invalid = |problem: String| TrustError::Invalid {
        flag: "--server-key",
        path: key.to_owned(),
        problem,
    };
    if let Some(problem) = super::diagnose::key_problem(key, &bytes) {
        return Err(key_invalid(problem));
    }
    let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        key_invalid(format!(
            "no PEM private key (PKCS#8, SEC1 or PKCS#1) found: {e}"
        ))
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| TrustError::Invalid {
            flag: "--server-key",
            path: key.to_owned(),
            problem: format!("unsupported private key: {e}"),
        })?;
    let digest = digest_of(
        chain
            .iter()
            .map(|c| c.as_ref())
            .chain(std::iter::once(&bytes[..])),
    );
    let ck = CertifiedKey::new(chain.clone(), signing.clone());
    if ck.keys_match().is_err() {
        // A chain with the CA first: say which certificate the key belongs to.
        let matching = chain.iter().position(|c| {
            CertifiedKey::new(vec![c.clone()], signing.clone())
                .keys_match()
                .is_ok()
        });
        let subject = |c: &CertificateDer<'_>| {
            use der::Decode;
            x509_cert::Certificate::from_der(c.as_ref())
                .map(|x| super::dn::Dn::from_name(&x.tbs_certificate.subject).to_rfc4514())
                .unwrap_or_else(|_| "unparsable".into())
        };
        return Err(match matching {
            Some(i) if i > 0 => TrustError::Invalid {
                flag: "--server-cert",
                path: cert.to_owned(),
                problem: super::diagnose::chain_order(
                    cert,
                    key,
                    &subject(&chain[0]),
                    i,
                    &subject(&chain[i]),
                ),
            },
            _ => TrustError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
        });
    }
    Ok((Arc::new(ck), digest))
}

/// The files a path stands for: the file itself, or a directory's `*.pem`/`*.crt`
/// (or `exts`) entries in name order. Hidden entries (Kubernetes' `..data`) are skipped;
/// symlinks to files are followed.
pub(crate) fn files_of(
    flag: &'static str,
    path: &Path,
    exts: &[&str],
) -> Result<Vec<PathBuf>, TrustError> {
    let read_err = |p: &Path, e: std::io::Error| TrustError::Read {
        flag,
        path: p.to_owned(),
        source: FileError::Io(e),
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| read_err(path, e))?;
    let mut files = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let ext_ok = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)));
        // A dangling symlink is skipped (material may be arriving); any other entry with a
        // matching name is read, and refused there if it is not a regular file (a FIFO in
        // place of a CA file must not silently remove that CA).
        if ext_ok && p.exists() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Read one input file for `flag` through `files::read` (regular files only, at most
/// `limit` bytes, within a deadline).
pub(crate) fn read_file(
    flag: &'static str,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>, TrustError> {
    files::read(path, limit).map_err(|source| TrustError::Read {
        flag,
        path: path.to_owned(),
        source,
    })
}

pub(crate) fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The DER CRLs of a PEM (several allowed, other blocks ignored) or DER file, or of a
/// directory's `*.pem`/`*.crl`/`*.der` files. An empty directory holds none (CRLs may arrive
/// later).
pub(crate) fn read_crls(path: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, TrustError> {
    let flag = "--crl";
    let mut out = Vec::new();
    for file in files_of(flag, path, &["pem", "crl", "der"])? {
        let bytes = read_file(flag, &file, files::CRL_LIMIT)?;
        let invalid = |problem: String| TrustError::Invalid {
            flag,
            path: file.clone(),
            problem,
        };
        let before = out.len();
        if looks_like_pem(&bytes) {
            for der in super::crl::pem_crls(&bytes).map_err(&invalid)? {
                out.push((file.clone(), der));
            }
        } else if !bytes.is_empty() {
            out.push((file.clone(), bytes));
        }
        if out.len() == before {
            return Err(invalid(
                "holds no CRL (expected PEM blocks \"-----BEGIN X509 CRL-----\" or one DER CRL)"
                    .into(),
            ));
        }
    }
    Ok(out)
}

/// Certificates from a PEM (several allowed) or DER file, or a directory of them.
pub fn read_certs(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<(PathBuf, CertificateDer<'static>)>, TrustError> {
    read_certs_in(flag, path, false)
}

/// As `read_certs`; with `empty_dir_ok` a directory without certificate files gives none
/// (`--intermediates`: material may arrive later).
pub(crate) fn read_certs_in(
    flag: &'static str,
    path: &Path,
    empty_dir_ok: bool,
) -> Result<Vec<(PathBuf, CertificateDer<'static>)>, TrustError> {
    let mut out = Vec::new();
    for file in files_of(flag, path, &["pem", "crt", "cer"])? {
        let bytes = read_file(flag, &file, files::CERT_LIMIT)?;
        // A known other kind of file (PKCS#12, PKCS#7, CSR, key) is named as such.
        let invalid = |problem: String| TrustError::Invalid {
            flag,
            path: file.clone(),
            problem: super::diagnose::not_certificates(flag, &file, &bytes).unwrap_or(problem),
        };
        let before = out.len();
        if looks_like_pem(&bytes) {
            for c in CertificateDer::pem_slice_iter(&bytes) {
                let c = c.map_err(|e| invalid(files::pem_problem(&e)))?;
                x509_check(&c).map_err(&invalid)?;
                out.push((file.clone(), c));
            }
        } else if !bytes.is_empty() {
            let c = CertificateDer::from(bytes.clone());
            x509_check(&c).map_err(&invalid)?;
            out.push((file.clone(), c));
        }
        if out.len() == before {
            return Err(invalid("holds no certificate".into()));
        }
    }
    if out.is_empty() && !empty_dir_ok {
        return Err(TrustError::Invalid {
            flag,
            path: path.to_owned(),
            problem: "directory holds no *.pem or *.crt certificate file".into(),
        });
    }
    Ok(out)
}

pub(crate) fn x509_check(c: &CertificateDer<'_>) -> Result<(), String> {
    use der::Decode;
    x509_cert::Certificate::from_der(c.as_ref())
        .map(|_| ())
        .map_err(|e| format!("not a valid X.509 certificate: {e}"))
}
