//! What a file given by mistake is, and the openssl command that turns it into what certgate
//! reads: a PKCS#12 archive or a PKCS#7 bundle where PEM certificates belong, a CSR or a key
//! instead of a certificate, an encrypted key, a server chain with the CA first. Called by
//! `load.rs` only on its error paths.

use super::der_walk::{contents, Reader, INTEGER, OID, SEQUENCE};
use std::path::Path;

/// `1.2.840.113549.1.7` (PKCS#7 content types) as DER OID contents, without the last arc.
const PKCS7_ARC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

/// PEM labels present in `bytes` (`CERTIFICATE`, `PKCS7`, ...).
fn pem_labels(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .filter_map(|l| l.strip_suffix("-----"))
        .map(str::to_string)
        .collect()
}

/// A DER PKCS#12 PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-*, ... }, ... }.
fn is_pkcs12(der: &[u8]) -> bool {
    let mut r = Reader::new(der);
    let Ok(pfx) = r.expect(SEQUENCE, "") else {
        return false;
    };
    let mut p = Reader::inside(der, pfx);
    let version_ok = matches!(p.expect(INTEGER, ""), Ok(v) if contents(der, v) == [3]);
    let content_ok = match p.expect(SEQUENCE, "") {
        Ok(ci) => {
            let mut c = Reader::inside(der, ci);
            matches!(c.expect(OID, ""), Ok(o) if contents(der, o).starts_with(PKCS7_ARC))
        }
        Err(_) => false,
    };
    version_ok && content_ok
}

/// A DER PKCS#7 ContentInfo: SEQUENCE { OID pkcs7-signedData, [0] ... }.
fn is_pkcs7(der: &[u8]) -> bool {
    let mut r = Reader::new(der);
    let Ok(ci) = r.expect(SEQUENCE, "") else {
        return false;
    };
    let mut c = Reader::inside(der, ci);
    matches!(c.expect(OID, ""), Ok(o) if contents(der, o).starts_with(PKCS7_ARC))
}

/// Why a file given to `flag` holds no usable certificate, when it is a known other kind.
pub(crate) fn not_certificates(flag: &str, file: &Path, bytes: &[u8]) -> Option<String> {
    let f = file.display();
    let labels = pem_labels(bytes);
    let has = |l: &str| labels.iter().any(|x| x == l);
    if has("CERTIFICATE") {
        return None;
    }
    let server = flag == "--server-cert";
    if has("PKCS7") || (!labels.is_empty() && labels.iter().all(|l| l.contains("PKCS7"))) {
        return Some(format!(
            "is a PKCS#7 bundle (.p7b), not PEM certificates: convert it with `openssl pkcs7 -in {f} -print_certs -out certs.pem` and give certs.pem to {flag}"
        ));
    }
    if has("CERTIFICATE REQUEST") || has("NEW CERTIFICATE REQUEST") {
        return Some(
            "is a certificate signing request (CSR), not a certificate: give the certificate that the CA issued for it".into(),
        );
    }
    if labels.iter().any(|l| l.ends_with("PRIVATE KEY")) {
        return Some(if server {
            "holds a private key, not a certificate: were --server-cert and --server-key swapped?"
                .into()
        } else {
            "holds a private key, not a certificate: give the CA's certificate (and keep private keys out of trust files)".into()
        });
    }
    if labels.is_empty() && is_pkcs12(bytes) {
        return Some(if server {
            format!(
                "is a PKCS#12 archive (.p12/.pfx), not a PEM chain: extract the chain with `openssl pkcs12 -in {f} -clcerts -nokeys -out server.pem` (then append the intermediates: `openssl pkcs12 -in {f} -cacerts -nokeys >> server.pem`) and the key with `openssl pkcs12 -in {f} -nocerts -nodes -out server.key`"
            )
        } else {
            format!(
                "is a PKCS#12 archive (.p12/.pfx), not PEM certificates: extract the CA certificates with `openssl pkcs12 -in {f} -cacerts -nokeys -out ca.pem` and give ca.pem to {flag}"
            )
        });
    }
    if labels.is_empty() && is_pkcs7(bytes) {
        return Some(format!(
            "is a DER PKCS#7 bundle (.p7b), not certificates: convert it with `openssl pkcs7 -inform DER -in {f} -print_certs -out certs.pem` and give certs.pem to {flag}"
        ));
    }
    None
}

/// Why a `--server-key` file holds no key certgate can use, when it is a known other kind.
pub(crate) fn key_problem(file: &Path, bytes: &[u8]) -> Option<String> {
    let f = file.display();
    let labels = pem_labels(bytes);
    let text = String::from_utf8_lossy(bytes);
    if labels.iter().any(|l| l == "ENCRYPTED PRIVATE KEY")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Some(format!(
            "the private key is encrypted (passphrase-protected), and certgate cannot ask for a passphrase: decrypt it once with `openssl pkey -in {f} -out server.key` (it asks for the passphrase), keep server.key readable by certgate only, and give it to --server-key"
        ));
    }
    if labels.is_empty() && is_pkcs12(bytes) {
        return Some(format!(
            "is a PKCS#12 archive (.p12/.pfx), not a PEM key: extract the key with `openssl pkcs12 -in {f} -nocerts -nodes -out server.key`"
        ));
    }
    if labels.iter().any(|l| l == "CERTIFICATE") {
        return Some(
            "holds a certificate, not a private key: were --server-cert and --server-key swapped?"
                .into(),
        );
    }
    None
}

/// A server chain whose first certificate does not match the key but a later one does.
pub(crate) fn chain_order(
    cert_file: &Path,
    key_file: &Path,
    first: &str,
    matching: usize,
    matching_subject: &str,
) -> String {
    let f = cert_file.display();
    format!(
        "certificate 1 in the file ({first}) does not match --server-key {}, but certificate {} ({matching_subject}) does: the file must hold the leaf first, then its intermediates (the CA that issued the leaf, and so on up); reorder the PEM blocks (list them with `openssl crl2pkcs7 -nocrl -certfile {f} | openssl pkcs7 -print_certs -noout`, then e.g. `cat leaf.pem intermediate.pem > {f}`)",
        key_file.display(),
        matching + 1
    )
}
