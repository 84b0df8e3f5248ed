//! Certificates and trust: Distinguished Names, the peer identity, trust anchors and CRLs,
//! the one rustls builder, live material with its reload, and expiry dates. The only layer
//! that imports x509-cert, webpki and notify.

pub mod crl;
pub(crate) mod der_walk;
pub mod describe;
mod diagnose;
pub mod dn;
pub mod expiry;
pub mod files;
pub mod hints;
pub mod identity;
pub mod limits;
pub mod load;
pub mod material;
pub mod revocation;
pub mod tls;
pub mod trust;
pub mod watch;
