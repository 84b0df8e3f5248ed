//! Client-side PKI made the way operators make it: with the `openssl` command line. Roots are
//! `openssl req -x509`, intermediates and leaves are signed by `openssl ca` (so the CA keeps an
//! `index.txt`), leaves are revoked with `openssl ca -revoke` and CRLs are `openssl ca -gencrl`.
//!
//! Used by the test files that check certgate against such material (`mod openssl_pki;`); the
//! server side (`support::Pki`) stays rcgen. Every command is bounded by openssl itself (no
//! prompts: `-batch`, keys unencrypted unless asked for).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{pem_to_der, Leaf};

/// Runs `openssl ARGS` in `dir`; panics with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Key algorithm of a generated key.
#[derive(Clone, Copy, Debug)]
pub enum Key {
    P256,
    /// prime192v1: a curve rustls' verifier does not accept.
    P192,
    Rsa(u32),
}

impl Key {
    fn genpkey_args(self) -> Vec<String> {
        match self {
            Key::P256 => vec![
                "-algorithm".into(),
                "EC".into(),
                "-pkeyopt".into(),
                "ec_paramgen_curve:P-256".into(),
            ],
            Key::P192 => vec![
                "-algorithm".into(),
                "EC".into(),
                "-pkeyopt".into(),
                "ec_paramgen_curve:prime192v1".into(),
            ],
            Key::Rsa(bits) => vec![
                "-algorithm".into(),
                "RSA".into(),
                "-pkeyopt".into(),
                format!("rsa_keygen_bits:{bits}"),
            ],
        }
    }
}

/// `openssl genpkey` into `<dir>/<name>.key` (PKCS#8 PEM, unencrypted).
pub fn genkey(dir: &Path, name: &str, key: Key) -> PathBuf {
    let path = dir.join(format!("{name}.key"));
    let mut args: Vec<String> = vec!["genpkey".into()];
    args.extend(key.genpkey_args());
    args.extend(["-out".into(), path.to_str().unwrap().into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &refs);
    path
}

/// An `openssl ca` directory: key, certificate, `index.txt`, `serial`, `crlnumber`, config.
pub struct OsslCa {
    pub name: String,
    pub subject: String,
    /// `<home>/ca.pem`
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// Intermediates from this CA up to (not including) the root, this CA first, as PEM.
    pub chain_pem: String,
    pub home: PathBuf,
}

const CA_CONFIG: &str = r#"[ ca ]
default_ca = cg
[ cg ]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 365
default_crl_days = 7
policy = anything
unique_subject = no
copy_extensions = none
email_in_dn = no
# RFC 5280 5.2.1: CRLs name the key that signed them (tells a re-keyed CA's CRLs apart).
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
[ anything ]
countryName = optional
organizationName = optional
organizationalUnitName = optional
commonName = supplied
emailAddress = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
"#;

fn write(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

impl OsslCa {
    fn prepare(parent: &Path, name: &str) -> PathBuf {
        let home = parent.join(format!("ca-{}", file_name(name)));
        std::fs::create_dir_all(home.join("issued")).unwrap();
        write(&home.join("index.txt"), b"");
        // Serials differ per CA, so two CAs never issue the same serial by accident.
        let serial = format!("{:04X}01\n", 0x1000 + (name.len() as u32 * 131) % 0xEFFF);
        write(&home.join("serial"), serial.as_bytes());
        write(&home.join("crlnumber"), b"01\n");
        write(&home.join("openssl.cnf"), CA_CONFIG.as_bytes());
        home
    }

    /// A self-signed root `/O=Real World Test/CN=<name>` (P-256).
    pub fn root(parent: &Path, name: &str) -> OsslCa {
        Self::root_with_subject(parent, name, &format!("/O=Real World Test/CN={name}"))
    }

    /// A self-signed root with the given OpenSSL-form subject (P-256).
    pub fn root_with_subject(parent: &Path, name: &str, subject: &str) -> OsslCa {
        let home = Self::prepare(parent, name);
        genkey(&home, "ca", Key::P256);
        openssl(
            &home,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                subject,
                "-days",
                "730",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-addext",
                "subjectKeyIdentifier=hash",
                "-out",
                "ca.pem",
            ],
        );
        OsslCa {
            name: name.to_string(),
            subject: subject.to_string(),
            cert_path: home.join("ca.pem"),
            key_path: home.join("ca.key"),
            chain_pem: String::new(),
            home,
        }
    }

    /// An intermediate CA signed by this one with `openssl ca`; `extra_ext` are more
    /// extension lines (e.g. `nameConstraints = critical, permitted;URI:acme.test`).
    pub fn intermediate(&self, name: &str, extra_ext: &[&str]) -> OsslCa {
        let parent = self.home.parent().unwrap();
        let home = Self::prepare(parent, name);
        genkey(&home, "ca", Key::P256);
        let subject = format!("/O=Real World Test/CN={name}");
        openssl(
            &home,
            &[
                "req", "-new", "-key", "ca.key", "-subj", &subject, "-out", "ca.csr",
            ],
        );
        let mut ext = String::from(
            "[ ext ]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n",
        );
        for e in extra_ext {
            ext.push_str(e);
            ext.push('\n');
        }
        let ext_path = home.join("ext.cnf");
        write(&ext_path, ext.as_bytes());
        let cert_path = home.join("ca.pem");
        self.sign(&home.join("ca.csr"), &ext_path, &cert_path);
        let pem = std::fs::read_to_string(&cert_path).unwrap();
        OsslCa {
            name: name.to_string(),
            subject,
            chain_pem: format!("{pem}{}", self.chain_pem),
            cert_path,
            key_path: home.join("ca.key"),
            home,
        }
    }

    /// `openssl ca -batch` signs `csr` with the extensions of section `ext` in `ext_file`.
    fn sign(&self, csr: &Path, ext_file: &Path, out: &Path) {
        openssl(
            &self.home,
            &[
                "ca",
                "-batch",
                "-notext",
                "-config",
                "openssl.cnf",
                "-extfile",
                ext_file.to_str().unwrap(),
                "-extensions",
                "ext",
                "-in",
                csr.to_str().unwrap(),
                "-out",
                out.to_str().unwrap(),
            ],
        );
    }

    /// A client certificate `/O=Real World Test/CN=<name>` (clientAuth) with `key`, SAN lines
    /// `sans` (e.g. `URI:spiffe://acme.test/w`), files in this CA's directory. The chain file
    /// holds the leaf and this CA's intermediates (not the root), as a client sends it.
    pub fn issue(&self, name: &str, key: Key, sans: &[&str]) -> Leaf {
        let dir = self.home.join("leaves");
        std::fs::create_dir_all(&dir).unwrap();
        let base = file_name(name);
        let key_path = genkey(&dir, &base, key);
        let subject = format!("/O=Real World Test/CN={name}");
        let csr = dir.join(format!("{base}.csr"));
        openssl(
            &dir,
            &[
                "req",
                "-new",
                "-key",
                key_path.to_str().unwrap(),
                "-subj",
                &subject,
                "-out",
                csr.to_str().unwrap(),
            ],
        );
        let mut ext = String::from(
            "[ ext ]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\nauthorityKeyIdentifier = keyid\n",
        );
        if !sans.is_empty() {
            ext.push_str(&format!("subjectAltName = {}\n", sans.join(", ")));
        }
        let ext_path = dir.join(format!("{base}.ext"));
        write(&ext_path, ext.as_bytes());
        let cert_path = dir.join(format!("{base}.crt"));
        self.sign(&csr, &ext_path, &cert_path);
        leaf_from_files(name, &cert_path, &key_path, &self.chain_pem)
    }

    /// `openssl ca -revoke` (reason keyCompromise).
    pub fn revoke(&self, cert: &Path) {
        openssl(
            &self.home,
            &[
                "ca",
                "-config",
                "openssl.cnf",
                "-revoke",
                cert.to_str().unwrap(),
                "-crl_reason",
                "keyCompromise",
            ],
        );
    }

    /// `openssl ca -gencrl`: the PEM CRL of everything revoked so far (next update in 7 days).
    pub fn gencrl(&self) -> String {
        let out = self.home.join("crl.pem");
        openssl(
            &self.home,
            &[
                "ca",
                "-config",
                "openssl.cnf",
                "-gencrl",
                "-out",
                out.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(out).unwrap()
    }

    /// `openssl ca -gencrl` with fixed dates (`YYYYMMDDHHMMSSZ`), e.g. a CRL already past its
    /// next update.
    pub fn gencrl_between(&self, last_update: &str, next_update: &str) -> String {
        let out = self.home.join("crl-dated.pem");
        openssl(
            &self.home,
            &[
                "ca",
                "-config",
                "openssl.cnf",
                "-gencrl",
                "-crl_lastupdate",
                last_update,
                "-crl_nextupdate",
                next_update,
                "-out",
                out.to_str().unwrap(),
            ],
        );
        std::fs::read_to_string(out).unwrap()
    }

    /// This CA's certificate as PEM.
    pub fn pem(&self) -> String {
        std::fs::read_to_string(&self.cert_path).unwrap()
    }

    /// The subject as certgate prints it (RFC 4514, most specific first).
    pub fn rfc4514(&self) -> String {
        format!("CN={},O=Real World Test", self.name)
    }
}

/// A `support::Leaf` from openssl-made files (the key is converted to PKCS#8 DER for the
/// Rust client).
pub fn leaf_from_files(name: &str, cert_path: &Path, key_path: &Path, chain_pem: &str) -> Leaf {
    let pem = std::fs::read_to_string(cert_path).unwrap();
    let chain_path = cert_path.with_extension("chain.pem");
    write(&chain_path, format!("{pem}{chain_pem}").as_bytes());
    let key_pem = std::fs::read_to_string(key_path).unwrap();
    let chain_der = pem_blocks(chain_pem)
        .iter()
        .map(|b| pem_to_der(b))
        .collect();
    Leaf {
        name: name.to_string(),
        cert_path: cert_path.to_path_buf(),
        chain_path,
        key_path: key_path.to_path_buf(),
        der: pem_to_der(&pem),
        chain_der,
        key_der: pem_to_der(&key_pem),
        pem,
    }
}

/// The PEM blocks of `text`, each with its BEGIN/END lines.
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            cur = Some(String::new());
        }
        if let Some(c) = cur.as_mut() {
            c.push_str(line);
            c.push('\n');
        }
        if line.starts_with("-----END ") {
            if let Some(c) = cur.take() {
                out.push(c);
            }
        }
    }
    out
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A Kubernetes Secret/ConfigMap volume: `<dir>/<file>` -> `..data/<file>`, `..data` ->
/// `..<generation>`; `publish` writes a new generation and swaps `..data` atomically, as the
/// kubelet does.
pub struct ProjectedVolume {
    pub dir: PathBuf,
    generation: u32,
}

impl ProjectedVolume {
    pub fn new(dir: &Path, files: &[(&str, &[u8])]) -> ProjectedVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut v = ProjectedVolume {
            dir: dir.to_path_buf(),
            generation: 0,
        };
        v.publish(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        v
    }

    /// A new `..<timestamp>` directory with `files`, then `..data` renamed over atomically.
    pub fn publish(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let gen = format!(
            "..2026_12_01_00_00_{:02}.{}",
            self.generation,
            1000 + self.generation
        );
        let gen_dir = self.dir.join(&gen);
        std::fs::create_dir(&gen_dir).unwrap();
        for (name, contents) in files {
            write(&gen_dir.join(name), contents);
        }
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&gen, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}
