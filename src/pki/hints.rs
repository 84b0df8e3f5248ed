//! `--client-ca-hints`: which anchors' names the TLS CertificateRequest carries, checked to
//! fit in it (rustls writes the 16-bit length unchecked in release builds).

use super::load::TrustError;
use rustls::pki_types::TrustAnchor;
use rustls::DistinguishedName;

/// Which CA names the CertificateRequest carries (`--client-ca-hints`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientCaHints {
    /// Every configured anchor.
    #[default]
    All,
    /// None: clients offer any certificate they have.
    None,
    /// The anchors of these bundles (`default` is `--trust`).
    Bundles(Vec<String>),
}

impl std::fmt::Display for ClientCaHints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCaHints::All => f.write_str("all"),
            ClientCaHints::None => f.write_str("none"),
            ClientCaHints::Bundles(b) => {
                let v: Vec<String> = b.iter().map(|n| format!("bundle:{n}")).collect();
                f.write_str(&v.join(","))
            }
        }
    }
}

/// What the hints may take: a CertificateRequest's list of names has a 16-bit length, and in
/// TLS 1.3 it shares a 16-bit extensions block with the signature algorithms; 256 bytes are
/// kept for those.
pub const MAX_HINT_BYTES: usize = 65_535 - 256;

/// The anchors' subjects that `choice` advertises, deduplicated, checked to fit in a
/// CertificateRequest.
pub(crate) fn select<'a>(
    bundles: impl Iterator<Item = (&'a str, &'a [TrustAnchor<'static>])>,
    choice: &ClientCaHints,
) -> Result<Vec<DistinguishedName>, TrustError> {
    let chosen = |name: &str| match choice {
        ClientCaHints::All => true,
        ClientCaHints::None => false,
        ClientCaHints::Bundles(names) => names.iter().any(|n| n == name),
    };
    let mut hints: Vec<DistinguishedName> = Vec::new();
    for (_, anchors) in bundles.filter(|(name, _)| chosen(name)) {
        for a in anchors {
            let hint = DistinguishedName::in_sequence(a.subject.as_ref());
            if !hints.iter().any(|h| h.as_ref() == hint.as_ref()) {
                hints.push(hint);
            }
        }
    }
    let bytes: usize = hints.iter().map(|h| h.as_ref().len() + 2).sum();
    if bytes > MAX_HINT_BYTES {
        return Err(TrustError::HintsTooLarge {
            choice: choice.to_string(),
            count: hints.len(),
            bytes,
        });
    }
    Ok(hints)
}
