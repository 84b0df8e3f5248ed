//! Watching the file inputs: the *directories* of every file input (so Kubernetes' `..data`
//! symlink swaps are seen), debounced, plus SIGHUP. The only module that imports notify.

use std::path::{Path, PathBuf};
use tracing::warn;

/// One watched directory and which names in it matter (`None`: every entry, for a
/// directory input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub dir: PathBuf,
    pub names: Option<Vec<std::ffi::OsString>>,
}

impl WatchSpec {
    /// Does a change to `path` concern an input? Names starting with `..` always do: that
    /// is how Kubernetes swaps a Secret volume (`..data` -> `..2024_…`).
    pub fn concerns(&self, path: &std::path::Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        if parent != self.dir {
            return false;
        }
        match &self.names {
            None => true,
            Some(names) => {
                name.to_string_lossy().starts_with("..") || names.iter().any(|n| n == name)
            }
        }
    }
}

/// Directories to watch for the file inputs `paths`: the parent of every file (for that
/// file's name), and every directory input itself (for all its entries).
pub fn watch_specs<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<WatchSpec> {
    let mut specs: Vec<WatchSpec> = Vec::new();
    for p in paths {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let (dir, name) = if abs.is_dir() {
            (abs, None)
        } else {
            match (abs.parent(), abs.file_name()) {
                (Some(d), Some(n)) => (d.to_path_buf(), Some(n.to_os_string())),
                _ => continue,
            }
        };
        match specs.iter_mut().find(|s| s.dir == dir) {
            Some(spec) => match (&mut spec.names, name) {
                (Some(names), Some(n)) => {
                    if !names.contains(&n) {
                        names.push(n)
                    }
                }
                (names, _) => *names = None,
            },
            None => specs.push(WatchSpec {
                dir,
                names: name.map(|n| vec![n]),
            }),
        }
    }
    specs
}

/// Watches and the SIGHUP handler, installed before the first material is read so that no
/// change and no signal between start-up and the watch loop is lost.
pub struct Watching {
    rx: tokio::sync::mpsc::UnboundedReceiver<()>,
    _watcher: Option<notify::RecommendedWatcher>,
    hup: Option<tokio::signal::unix::Signal>,
}

/// Register a watch on every input directory and install the SIGHUP handler. Must be called
/// inside the runtime; events queue until `watch` runs.
pub fn start_watching<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Watching {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let specs = watch_specs(paths);
    let filter = specs.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let relevant = !matches!(ev.kind, notify::EventKind::Access(_))
                && ev
                    .paths
                    .iter()
                    .any(|p| filter.iter().any(|s| s.concerns(p)));
            if relevant {
                let _ = tx.send(());
            }
        }
    };
    let watcher = match notify::recommended_watcher(handler) {
        Ok(mut w) => {
            for spec in &specs {
                if let Err(e) =
                    notify::Watcher::watch(&mut w, &spec.dir, notify::RecursiveMode::NonRecursive)
                {
                    warn!(dir = %spec.dir.display(), error = %e, "cannot watch directory; use SIGHUP to reload");
                }
            }
            Some(w)
        }
        Err(e) => {
            warn!(error = %e, "file watching unavailable; use SIGHUP to reload");
            None
        }
    };
    let hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot install the SIGHUP handler");
            None
        }
    };
    Watching {
        rx,
        _watcher: watcher,
        hup,
    }
}

impl Watching {
    /// The next reason to reload: a burst of file events once it has been quiet for
    /// `DEBOUNCE` (writers often touch files several times: write, chmod, rename), or
    /// SIGHUP. `None` once the watcher is gone.
    pub async fn next(&mut self) -> Option<&'static str> {
        tokio::select! {
            ev = self.rx.recv() => {
                ev?;
                loop {
                    match tokio::time::timeout(DEBOUNCE, self.rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return None,
                        Err(_) => return Some("file change"),
                    }
                }
            }
            _ = async { match self.hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending::<()>().await } } => {
                Some("SIGHUP")
            }
        }
    }
}

/// Quiet time after the last file event before reloading.
const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(300);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn file_inputs_concern_only_their_names_and_kubernetes_swaps() {
        let spec = WatchSpec {
            dir: PathBuf::from("/etc/certgate"),
            names: Some(vec!["ca.pem".into()]),
        };
        assert!(spec.concerns(Path::new("/etc/certgate/ca.pem")));
        assert!(spec.concerns(Path::new("/etc/certgate/..data")));
        assert!(spec.concerns(Path::new("/etc/certgate/..2026_11_23_10_00_00.123")));
        assert!(!spec.concerns(Path::new("/etc/certgate/certgate.log")));
        assert!(!spec.concerns(Path::new("/etc/other/ca.pem")));
    }

    #[test]
    fn directory_inputs_concern_every_entry() {
        let spec = WatchSpec {
            dir: PathBuf::from("/etc/trust.d"),
            names: None,
        };
        assert!(spec.concerns(Path::new("/etc/trust.d/new-ca.pem")));
        assert!(!spec.concerns(Path::new("/etc/trust.d/sub/x.pem")));
    }
}
