//! The one way certgate reads an input file (certificates, keys, CRLs, and the files of
//! `inspect` and `check`): only a regular file (symlinks followed, so Kubernetes' `..data`
//! layout works), never a FIFO, socket or device; at most a size limit per kind of file; and
//! within a deadline, on a thread of its own, so a file on a hung filesystem costs a reload
//! error instead of a stuck process. Also: PEM framing errors in words.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest certificate, key or rules file read: a bundle of every public CA is under 1 MiB.
pub const CERT_LIMIT: u64 = 16 * 1024 * 1024;
/// Largest CRL file read: CRLs of public CAs reach millions of entries (about 33 bytes
/// each in PEM); 256 MiB holds over 7 million.
pub const CRL_LIMIT: u64 = 256 * 1024 * 1024;
/// Longest one file may take to read before it counts as unreadable.
pub const READ_DEADLINE: Duration = Duration::from_secs(15);

/// Why a file was not read. The caller names the flag and the path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error(
        "it is {kind}, not a regular file: certgate reads only regular files (or symlinks to them)"
    )]
    NotRegular { kind: &'static str },
    #[error("it is {size} bytes, over the {} MiB limit for this kind of file", limit / (1024 * 1024))]
    TooLarge { size: u64, limit: u64 },
    #[error("reading it took longer than {}s (a hung or very slow filesystem?)", .0.as_secs())]
    Timeout(Duration),
}

/// What a non-regular file is, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

/// `Ok` when `meta` (of the file, symlinks followed) is a regular file within `limit`.
fn check(meta: &std::fs::Metadata, limit: u64) -> Result<(), FileError> {
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    Ok(())
}

/// Read a whole regular file of at most `limit` bytes, on the calling thread.
fn read_now(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    check(&std::fs::metadata(path).map_err(FileError::Io)?, limit)?;
    // O_NONBLOCK: if the path was swapped for a FIFO since the check, open() must not wait
    // for a writer; the check of the opened file below then refuses it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(FileError::Io)?;
    let meta = file.metadata().map_err(FileError::Io)?;
    check(&meta, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > limit {
        // It grew while being read.
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Read a whole regular file of at most `limit` bytes within `READ_DEADLINE`.
pub fn read(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_within(path, limit, READ_DEADLINE)
}

fn read_within(path: &Path, limit: u64, deadline: Duration) -> Result<Vec<u8>, FileError> {
    let owned: PathBuf = path.to_owned();
    within(deadline, move || read_now(&owned, limit))
}

/// Run `f` on a thread of its own and wait at most `deadline` for it. A read stuck in the
/// kernel cannot be cancelled: its thread is left behind, and the caller goes on.
fn within<T: Send + 'static>(
    deadline: Duration,
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, FileError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("certgate-read".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Err(FileError::Io(e));
    }
    match rx.recv_timeout(deadline) {
        Ok(r) => r,
        Err(_) => Err(FileError::Timeout(deadline)),
    }
}

/// A PEM framing error in words an operator can act on (pki-types prints byte lists).
pub fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    match e {
        E::MissingSectionEnd { end_marker } => {
            let label = text(end_marker);
            format!(
                "a PEM block -----BEGIN {label}----- has no -----END {label}----- line: the file is truncated (copied or written only in part?)"
            )
        }
        E::IllegalSectionStart { line } => format!(
            "malformed PEM line {:?}: a block must start with a line -----BEGIN LABEL-----",
            text(line)
        ),
        E::Base64Decode(why) => {
            format!("a PEM block's body is not valid base64 ({why}): the file is damaged")
        }
        E::Io(io) => format!("cannot read: {io}"),
        E::NoItemsFound => "holds no PEM block of the expected kind".to_string(),
        E::SectionTooLarge => "a PEM block is larger than 256 MB".to_string(),
        other => format!("bad PEM: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_and_other_kinds_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.pem");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read(&f, 16).unwrap(), b"hello");
        assert!(matches!(
            read(dir.path(), 16),
            Err(FileError::NotRegular {
                kind: "a directory"
            })
        ));
        assert!(matches!(
            read(Path::new("/dev/zero"), 16),
            Err(FileError::NotRegular {
                kind: "a character device"
            })
        ));
        let link = dir.path().join("zero.pem");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read(&link, 16), Err(FileError::NotRegular { .. })));
        assert!(matches!(
            read(&f, 4),
            Err(FileError::TooLarge { size: 5, limit: 4 })
        ));
        assert!(matches!(
            read(&dir.path().join("missing"), 4),
            Err(FileError::Io(_))
        ));
    }

    #[test]
    fn a_read_that_does_not_finish_in_time_is_an_error() {
        let slow = within(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        });
        assert!(matches!(slow, Err(FileError::Timeout(_))));
        assert!(within(Duration::from_secs(5), || Ok(1)).is_ok());
    }

    #[test]
    fn pem_errors_are_words_not_byte_lists() {
        use rustls::pki_types::pem::Error as E;
        let p = pem_problem(&E::MissingSectionEnd {
            end_marker: b"CERTIFICATE".to_vec(),
        });
        assert!(
            p.contains("-----END CERTIFICATE-----") && p.contains("truncated"),
            "{p}"
        );
        assert!(!p.contains("[67"), "{p}");
        let p = pem_problem(&E::IllegalSectionStart {
            line: b"-----BEGIN X".to_vec(),
        });
        assert!(p.contains("-----BEGIN X"), "{p}");
    }
}
