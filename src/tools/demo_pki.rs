//! The demo's throwaway PKI: a CA, a server certificate for localhost and two clients of
//! that CA (one the demo's rule allows, one it does not), written as PEM files.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, Ia5String, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// What the in-process client needs when curl is missing (the files hold the same).
pub(super) struct Pki {
    pub(super) ca_der: Vec<u8>,
    pub(super) allowed: ClientCert,
    pub(super) denied: ClientCert,
}

pub(super) struct ClientCert {
    pub(super) cert_der: Vec<u8>,
    pub(super) key_der: Vec<u8>,
}

/// The PKI could not be made or written (the message says which step).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PkiError(String);

fn setup(what: impl std::fmt::Display, e: impl std::fmt::Display) -> PkiError {
    PkiError(format!("{what}: {e}"))
}

/// One RDN per attribute, given in RFC 4514 order (most specific first, as printed).
fn dn(rfc4514_order: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    // The DER order is the reverse of the RFC 4514 string.
    for (ty, v) in rfc4514_order.iter().rev() {
        dn.push(ty.clone(), *v);
    }
    dn
}

fn validity(p: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(days);
}

fn write_file(dir: &Path, name: &str, contents: &str, private: bool) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let path = dir.join(name);
    let err = |e: std::io::Error| setup(format!("cannot write {}", path.display()), e);
    let mode = if private { 0o600 } else { 0o644 };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&path)
        .map_err(err)?;
    // `mode` only applies to new files; a re-used --dir may hold older ones.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)
}

/// Sign `params` with the CA; write `<name>.pem` and `<name>.key` (PKCS#8).
fn issue(
    dir: &Path,
    name: &str,
    params: CertificateParams,
    ca: &Certificate,
    ca_key: &KeyPair,
) -> Result<ClientCert, PkiError> {
    let key =
        KeyPair::generate().map_err(|e| setup(format!("cannot generate the {name} key"), e))?;
    let cert = params
        .signed_by(&key, ca, ca_key)
        .map_err(|e| setup(format!("cannot sign the {name} certificate"), e))?;
    write_file(dir, &format!("{name}.pem"), &cert.pem(), false)?;
    write_file(dir, &format!("{name}.key"), &key.serialize_pem(), true)?;
    Ok(ClientCert {
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    })
}

fn client_params(subject: &[(DnType, &str)]) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(subject);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    validity(&mut p, 365);
    p
}

/// The demo CA, a server certificate for localhost/127.0.0.1, and two clients of that CA.
pub(super) fn write_pki(dir: &Path) -> Result<Pki, PkiError> {
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn(&[
        (DnType::CommonName, "certgate demo CA"),
        (DnType::OrganizationName, "certgate demo"),
    ]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca_params, 2 * 365);
    let ca_key = KeyPair::generate().map_err(|e| setup("cannot generate the CA key", e))?;
    let ca = ca_params
        .self_signed(&ca_key)
        .map_err(|e| setup("cannot sign the CA certificate", e))?;
    write_file(dir, "ca.pem", &ca.pem(), false)?;

    let mut server = CertificateParams::default();
    server.distinguished_name = dn(&[(DnType::CommonName, "localhost")]);
    server.subject_alt_names = vec![
        SanType::DnsName(Ia5String::try_from("localhost").map_err(|e| setup("server SAN", e))?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    validity(&mut server, 365);
    issue(dir, "server", server, &ca, &ca_key)?;

    let allowed = issue(
        dir,
        "allowed",
        client_params(&[
            (DnType::CommonName, "demo.docusign.net"),
            (DnType::OrganizationName, "DocuSign, Inc."),
            (DnType::CountryName, "US"),
        ]),
        &ca,
        &ca_key,
    )?;
    let denied = issue(
        dir,
        "denied",
        client_params(&[
            (DnType::CommonName, "intruder.example"),
            (DnType::OrganizationName, "Someone Else"),
            (DnType::CountryName, "US"),
        ]),
        &ca,
        &ca_key,
    )?;
    Ok(Pki {
        ca_der: ca.der().to_vec(),
        allowed,
        denied,
    })
}
