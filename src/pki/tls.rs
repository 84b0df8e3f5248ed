//! The one place for TLS policy: builds the rustls `ServerConfig` (versions, ALPN, no
//! session resumption) around certgate's client-certificate verifier.
//!
//! The verifier delegates to `TrustStore::verify` (webpki) and leaves a note in a
//! task-local slot so the accept loop learns, without verifying twice, which bundles the
//! chain verified against or why it was refused.

use crate::pki::trust::{TrustStore, VerifyFailure};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use std::cell::RefCell;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Required,
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinTls {
    V12,
    V13,
}

#[derive(Debug, Clone, Copy)]
pub struct TlsOptions {
    pub client_auth: ClientAuth,
    pub min_tls: MinTls,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// What the verifier learned during one handshake.
#[derive(Debug, Default)]
pub struct HandshakeNote {
    /// Bundles the client chain verified against, and the verified path's intermediates.
    pub verified: Option<crate::pki::trust::Verified>,
    /// Why the chain was refused, and the presented leaf.
    pub failure: Option<(VerifyFailure, CertificateDer<'static>)>,
    /// The leaf whose key did not verify the client's handshake signature (CertificateVerify)
    /// although its chain did.
    pub bad_handshake_signature: Option<CertificateDer<'static>>,
}

tokio::task_local! {
    /// Set by the accept loop around each handshake; read after it.
    pub static HANDSHAKE_NOTE: RefCell<HandshakeNote>;
}

fn note(f: impl FnOnce(&mut HandshakeNote)) {
    let _ = HANDSHAKE_NOTE.try_with(|n| f(&mut n.borrow_mut()));
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

#[derive(Debug)]
struct Verifier {
    trust: Arc<TrustStore>,
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        // With no anchor at all (every route public) there is nothing to ask for.
        !self.trust.is_empty()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.trust.hints()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.trust.verify_path(end_entity, intermediates, now) {
            Ok(verified) => {
                note(|n| n.verified = Some(verified));
                Ok(ClientCertVerified::assertion())
            }
            Err(f) => {
                let err = f.to_rustls();
                note(|n| n.failure = Some((f, end_entity.clone().into_owned())));
                Err(err)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
            .inspect_err(|_| note(|n| n.bad_handshake_signature = Some(cert.clone().into_owned())))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
            .inspect_err(|_| note(|n| n.bad_handshake_signature = Some(cert.clone().into_owned())))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Build the server config: TLS 1.2+ (or 1.3 only), ALPN h2 + http/1.1, certgate's
/// verifier, and no session resumption at all — neither tickets nor a session cache — so a
/// client is always verified against the trust in force at its handshake.
pub fn server_config(
    cert: Arc<CertifiedKey>,
    trust: Arc<TrustStore>,
    opts: TlsOptions,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = match opts.min_tls {
        MinTls::V12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinTls::V13 => &[&rustls::version::TLS13],
    };
    let verifier = Arc::new(Verifier {
        trust,
        mandatory: opts.client_auth == ClientAuth::Required,
        algs: provider.signature_verification_algorithms,
    });
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(FixedCert(cert)));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    Ok(Arc::new(cfg))
}
