//! Keeps the catalog current: reloads mapping files when they change (file watcher) or on
//! SIGHUP. A broken file on reload is logged with its place and reason, and the catalog in
//! force stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogHandle};
use crate::metrics::Metrics;

/// Loads the catalog at start. A missing default directory is an empty catalog (every
/// alert unmapped, said loudly); anything broken refuses to start.
pub fn initial_load(path: &Path, required: bool, audiences: &[String]) -> Result<Catalog, String> {
    if !path.exists() && !required {
        tracing::warn!(path = %path.display(), "no mappings found; every alert will be unmapped");
        return Ok(Catalog::empty());
    }
    Catalog::load_for(path, audiences).map_err(|e| e.to_string())
}

pub struct Reloader {
    pub path: PathBuf,
    /// The configured audiences, which `audiences:` entries in mapping files must name.
    pub audiences: Vec<String>,
    pub handle: CatalogHandle,
    /// Told of each catalog that loads, before it is in force (the wiring keeps the page's
    /// components in step with it).
    pub on_load: Arc<dyn Fn(&Catalog) + Send + Sync>,
    pub metrics: Arc<Metrics>,
}

impl Reloader {
    pub fn reload(&self) {
        match Catalog::load_for(&self.path, &self.audiences) {
            Ok(catalog) => {
                let routes = catalog.route_count();
                let components = catalog.components().len();
                (self.on_load)(&catalog);
                self.handle.set(catalog);
                self.metrics.catalog_reload(true);
                tracing::info!(routes, components, "catalog reloaded");
            }
            Err(e) => {
                for p in &e.problems {
                    tracing::error!(problem = %p, "catalog reload refused; the previous catalog stays in force");
                }
                self.handle.refuse(e.to_string());
                self.metrics.catalog_reload(false);
            }
        }
    }

    /// Starts watching the mapping files. Done before the service reports ready, so that
    /// no edit made after that moment is missed.
    pub fn watch(&self) -> Watch {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watch_tx = tx.clone();
        let mut watcher =
            match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Ok(ev) = res {
                    if !ev.kind.is_access() {
                        let _ = watch_tx.send(());
                    }
                }
            }) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "file watcher unavailable; reload with SIGHUP");
                    None
                }
            };
        // Watch the directory (a ConfigMap swaps a symlink inside it), or a file's parent.
        let target = if self.path.is_dir() {
            self.path.clone()
        } else {
            self.path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        if let Some(w) = watcher.as_mut() {
            if let Err(e) = w.watch(&target, RecursiveMode::Recursive) {
                tracing::warn!(error = %e, path = %target.display(), "cannot watch mappings; reload with SIGHUP");
            }
        }
        Watch {
            _watcher: watcher,
            tx,
            rx,
        }
    }

    /// Reloads on file changes and SIGHUP until `shutdown`.
    pub async fn run(self, watch: Watch, shutdown: CancellationToken) {
        let Watch {
            _watcher,
            tx,
            mut rx,
        } = watch;
        #[cfg(unix)]
        {
            let hup_tx = tx.clone();
            let token = shutdown.clone();
            tokio::spawn(async move {
                let Ok(mut hup) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = hup.recv() => { let _ = hup_tx.send(()); }
                        _ = token.cancelled() => break,
                    }
                }
            });
        }
        drop(tx);
        loop {
            tokio::select! {
                got = rx.recv() => {
                    if got.is_none() { break; }
                    // Editors and ConfigMap updates write in several steps: let them settle.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    while rx.try_recv().is_ok() {}
                    self.reload();
                }
                _ = shutdown.cancelled() => break,
            }
        }
    }
}

/// A running file watch; dropping it stops watching.
pub struct Watch {
    _watcher: Option<notify::RecommendedWatcher>,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
    rx: tokio::sync::mpsc::UnboundedReceiver<()>,
}
