//! Trust material as operators (and whoever can write to a mounted Secret) hand it over:
//! PEM or DER files of anchors, intermediates and CRLs, the server chain and key, and
//! `certgate inspect`'s reader; and a client chain verified against loaded material.
//!
//! Input: byte 0 picks the role of the rest, which is written to a file (the loaders read
//! files); the other inputs of that role are fixed, openssl-made material from
//! fuzz/fixtures. Nothing may panic; a refused file is an error value.
#![no_main]

use certgate::pki::load::load_server_key;
use certgate::pki::trust::{TrustSources, TrustStore, DEFAULT_BUNDLE};
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, UnixTime};
use std::path::PathBuf;
use std::sync::OnceLock;

const ROOT: &[u8] = include_bytes!("../fixtures/root.pem");
const INT: &[u8] = include_bytes!("../fixtures/int.pem");
const LEAF: &[u8] = include_bytes!("../fixtures/leaf.pem");
const LEAF_KEY: &[u8] = include_bytes!("../fixtures/leaf.pkcs8.key");
const INT_CRL: &[u8] = include_bytes!("../fixtures/int.crl.pem");

struct Dir {
    input: PathBuf,
    root: PathBuf,
    int: PathBuf,
    leaf: PathBuf,
    leaf_key: PathBuf,
    int_crl: PathBuf,
}

fn dir() -> &'static Dir {
    static DIR: OnceLock<Dir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("certgate-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        let put = |name: &str, bytes: &[u8]| {
            let p = d.join(name);
            std::fs::write(&p, bytes).expect("write fixture");
            p
        };
        Dir {
            input: d.join("input.pem"),
            root: put("root.pem", ROOT),
            int: put("int.pem", INT),
            leaf: put("leaf.pem", LEAF),
            leaf_key: put("leaf.key", LEAF_KEY),
            int_crl: put("int.crl.pem", INT_CRL),
        }
    })
}

fn sources(trust: &PathBuf, intermediates: &[&PathBuf], crls: &[&PathBuf]) -> TrustSources {
    TrustSources {
        bundles: vec![(DEFAULT_BUNDLE.to_string(), vec![trust.clone()])],
        intermediates: intermediates.iter().map(|p| (*p).clone()).collect(),
        crls: crls.iter().map(|p| (*p).clone()).collect(),
        ..TrustSources::default()
    }
}

fn der_of(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem).expect("fixture PEM")
}

/// The root as anchor, the intermediate, and the intermediate's CRL (which revokes the
/// fixture leaf, so the revocation path runs too), loaded once.
fn fixed_store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| {
        let d = dir();
        TrustStore::load(&sources(&d.root, &[&d.int], &[&d.int_crl])).expect("fixtures load")
    })
}

/// Exercise a loaded store the way the handshake does.
fn use_store(store: &TrustStore, leaf: &CertificateDer<'_>, presented: &[CertificateDer<'_>]) {
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000));
    if let Err(e) = store.verify(leaf, presented, now) {
        let _ = (e.label(), e.to_string(), e.to_rustls());
    }
    let _ = (
        store.trust_digest(),
        store.crl_digest(),
        store.hints().len(),
    );
    for (_, issuer) in store.crl_next_updates() {
        let _ = issuer.len();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&role, content)) = data.split_first() else {
        return;
    };
    let d = dir();
    std::fs::write(&d.input, content).expect("write input");
    let leaf = der_of(LEAF);
    let int = der_of(INT);
    match role % 8 {
        // --trust FILE
        0 => {
            if let Ok(store) = TrustStore::load(&sources(&d.input, &[&d.int], &[])) {
                use_store(&store, &leaf, &[]);
            }
        }
        // --intermediates FILE
        1 => {
            if let Ok(store) = TrustStore::load(&sources(&d.root, &[&d.input], &[])) {
                use_store(&store, &leaf, &[]);
            }
        }
        // --crl FILE (beside the intermediate's real CRL)
        2 => {
            let src = sources(&d.root, &[&d.int], &[&d.input, &d.int_crl]);
            if let Ok(store) = TrustStore::load(&src) {
                use_store(&store, &leaf, &[int.clone()]);
            }
        }
        // --server-cert FILE
        3 => {
            let _ = load_server_key(&d.input, &d.leaf_key);
        }
        // --server-key FILE
        4 => {
            let _ = load_server_key(&d.leaf, &d.input);
        }
        // certgate inspect FILE
        5 => {
            if let Ok((certs, _)) = certgate::tools::inspect::read_file(&d.input) {
                for c in &certs {
                    let _ = certgate::tools::inspect::describe(c, 1_800_000_000);
                }
            }
        }
        // a client's leaf (DER), as the handshake receives it
        6 => use_store(
            fixed_store(),
            &CertificateDer::from(content),
            &[int.clone()],
        ),
        // an intermediate the client sends after a good leaf
        _ => use_store(
            fixed_store(),
            &leaf,
            &[CertificateDer::from(content), int.clone()],
        ),
    }
});
