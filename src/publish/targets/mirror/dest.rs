//! Where a mirror writes: an S3-compatible bucket or a directory. Either way a reader sees
//! an old file or the whole new one, never half of it: S3 stores an object only once its
//! single PUT is complete; in a directory a file is written beside its place and renamed
//! over it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, PutOptions, PutPayload, RetryConfig,
};

use super::super::Failure;
use crate::config::{MirrorS3Config, Secret};

/// What temporary files in a directory mirror are called; a sync sweeps leftovers of a stop.
const TEMP_MARK: &str = ".statusgate-tmp-";

#[derive(Clone)]
pub enum Dest {
    S3 {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        /// `bucket at endpoint`, for messages (never a key).
        shown: String,
    },
    Dir(PathBuf),
}

impl Dest {
    pub fn s3(c: &MirrorS3Config, key_id: &Secret, secret: &Secret) -> Result<Dest, String> {
        let options = ClientOptions::new()
            .with_allow_http(c.endpoint.starts_with("http://"))
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(30));
        let store = AmazonS3Builder::new()
            .with_endpoint(c.endpoint.trim_end_matches('/'))
            .with_bucket_name(&c.bucket)
            .with_region(&c.region)
            .with_access_key_id(key_id.expose())
            .with_secret_access_key(secret.expose())
            .with_virtual_hosted_style_request(!c.path_style)
            .with_client_options(options)
            // The outbox retries with its own backoff and circuit breaker.
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| format!("s3: {e}"))?;
        let mut prefix = c.prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Ok(Dest::S3 {
            store: Arc::new(store),
            prefix,
            shown: format!(
                "bucket {} at {}",
                c.bucket,
                super::super::display_url(&c.endpoint)
            ),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Dest::S3 { shown, .. } => shown.clone(),
            Dest::Dir(d) => format!("directory {}", d.display()),
        }
    }

    /// Clears what an interrupted sync left (temporary files in a directory).
    pub async fn prepare(&self) -> Result<(), Failure> {
        let Dest::Dir(root) = self else {
            return Ok(());
        };
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|e| io_failure(root, e))?;
        let root = root.clone();
        tokio::task::spawn_blocking(move || sweep(&root))
            .await
            .map_err(|e| Failure::transient(None, e.to_string(), None))?
            .map_err(|e| Failure::transient(None, e, None))
    }

    /// Every file there now (paths relative to the mirror's root), so a file removed by
    /// hand or a bucket emptied is written again.
    pub async fn list(&self) -> Result<BTreeSet<String>, Failure> {
        match self {
            Dest::S3 { store, prefix, .. } => {
                use futures::TryStreamExt;
                let root = object_store::path::Path::from(prefix.trim_end_matches('/'));
                let root = (!prefix.is_empty()).then_some(&root);
                let metas: Vec<object_store::ObjectMeta> = store
                    .list(root)
                    .try_collect()
                    .await
                    .map_err(|e| s3_failure("listing", e))?;
                Ok(metas
                    .into_iter()
                    .filter_map(|m| {
                        m.location
                            .as_ref()
                            .strip_prefix(prefix.as_str())
                            .map(str::to_string)
                    })
                    .collect())
            }
            Dest::Dir(root) => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || files_under(&root))
                    .await
                    .map_err(|e| Failure::transient(None, e.to_string(), None))?
                    .map_err(|e| Failure::transient(None, e, None))
            }
        }
    }

    /// Writes one whole file at `path` (`api/v2/summary.json`).
    pub async fn put(&self, path: &str, body: Bytes, content_type: &str) -> Result<(), Failure> {
        match self {
            Dest::S3 { store, prefix, .. } => {
                let attributes = Attributes::from_iter([
                    (Attribute::ContentType, content_type.to_string()),
                    // Readers revalidate, so a bucket website follows the mirror at once.
                    (Attribute::CacheControl, "public, no-cache".to_string()),
                ]);
                let opts = PutOptions {
                    attributes,
                    ..PutOptions::default()
                };
                let key = object_store::path::Path::from(format!("{prefix}{path}"));
                store
                    .put_opts(&key, PutPayload::from(body), opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| s3_failure(path, e))
            }
            Dest::Dir(root) => {
                let target = root.join(path);
                let dir = target.parent().unwrap_or(root).to_path_buf();
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| io_failure(&dir, e))?;
                let file_name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let temp = dir.join(format!(".{file_name}{TEMP_MARK}{}", uuid::Uuid::new_v4()));
                let t = temp.clone();
                let written = tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&t)?;
                    f.write_all(&body)?;
                    // On disk before it takes the name: a crash leaves the old file or this one.
                    f.sync_all()?;
                    std::fs::rename(&t, &target)
                })
                .await
                .map_err(|e| Failure::transient(None, e.to_string(), None))?;
                if let Err(e) = written {
                    let _ = tokio::fs::remove_file(&temp).await;
                    return Err(io_failure(&dir, e));
                }
                Ok(())
            }
        }
    }

    /// Removes a file the page no longer has; one already gone is fine.
    pub async fn delete(&self, path: &str) -> Result<(), Failure> {
        match self {
            Dest::S3 { store, prefix, .. } => {
                let key = object_store::path::Path::from(format!("{prefix}{path}"));
                match store.delete(&key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(s3_failure(path, e)),
                }
            }
            Dest::Dir(root) => {
                let target = root.join(path);
                match tokio::fs::remove_file(&target).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(io_failure(&target, e)),
                }
            }
        }
    }
}

/// Every file under `root` but temporary ones, as `a/b/c` paths.
fn files_under(root: &Path) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(_) if !entry.file_name().to_string_lossy().contains(TEMP_MARK) => {
                    if let Ok(rel) = path.strip_prefix(root) {
                        let parts: Vec<String> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy().into_owned())
                            .collect();
                        out.insert(parts.join("/"));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Removes temporary files under `root` that a stop left behind.
fn sweep(root: &Path) -> Result<(), String> {
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let temp = entry.file_name().to_string_lossy().contains(TEMP_MARK);
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(path),
                Ok(_) if temp => {
                    let _ = std::fs::remove_file(&path);
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::transient(None, format!("{}: {e}", path.display()), None)
}

/// A store error as the outbox knows failures: refused credentials cannot heal by
/// themselves; anything else (an unreachable store, a 5xx) may.
fn s3_failure(path: &str, e: object_store::Error) -> Failure {
    use object_store::Error as E;
    // The error text of a request names the endpoint and key, never the credentials.
    let message = format!("{path}: {e}");
    match e {
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Failure::permanent(403, message),
        _ => Failure::transient(None, message, None),
    }
}
