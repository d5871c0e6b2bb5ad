//! Group commit: every caller waits for a flush that started after its write; one flush
//! (and one `fdatasync`) serves all callers that arrived while the previous one ran. A
//! flush that never ends (sled waits forever after some I/O failures) fails its callers
//! after [`FLUSH_TIMEOUT`] instead of holding them, so every request gets an answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// How long a caller waits for a flush before answering "unavailable".
pub(super) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}

type Waiter = oneshot::Sender<Result<(), StoreError>>;

pub(super) struct GroupCommit {
    requests: Option<mpsc::UnboundedSender<Waiter>>,
    flushes: Arc<AtomicU64>,
    /// When the running flush, and the running sync, started (ms since the epoch), 0 while
    /// idle.
    busy_since: [Arc<AtomicU64>; 2],
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for GroupCommit {
    /// Stops the flusher and waits for it, so the database is closed (and its lock
    /// released) when the last handle goes.
    fn drop(&mut self) {
        self.requests.take();
        // A flush that never ends would hold the shutdown forever; leave that thread be.
        if self.is_stuck() {
            return;
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Callers whose writes one flush covered, and how that flush ended.
type Flushed = (Vec<Waiter>, Result<(), StoreError>);

impl GroupCommit {
    /// Flushes `db`, then syncs `file` (sled's log): sled's flush writes its buffers with
    /// `sync_file_range`, which neither flushes the device's write cache nor commits the
    /// file's grown size, so a power cut could lose what it acknowledged. `fdatasync` does
    /// both.
    pub(super) fn start(db: sled::Db, file: std::fs::File) -> Self {
        Self::start_with(
            move || {
                db.flush()
                    .map(|_| ())
                    .map_err(|e| StoreError::Io(e.to_string()))
            },
            move || {
                file.sync_data()
                    .map_err(|e| StoreError::Io(format!("cannot sync the store's log: {e}")))
            },
        )
    }

    /// With the flush and the sync given (tests give ones that hang). Two plain threads, a
    /// stage each, so that the next group's flush runs while the previous group's sync
    /// waits for the disk: blocking calls, which must also work outside a runtime's
    /// blocking pool limits. They end when the store (the sender) is dropped.
    fn start_with(
        flush: impl Fn() -> Result<(), StoreError> + Send + 'static,
        sync: impl Fn() -> Result<(), StoreError> + Send + 'static,
    ) -> Self {
        let (requests, rx) = mpsc::unbounded_channel::<Waiter>();
        let (flushed, to_sync) = mpsc::unbounded_channel::<Flushed>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = flushes.clone();
        let busy_since = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
        let [flushing, syncing] = busy_since.clone();
        let flusher = stage("statusgate-flush", rx, flushing, move |waiters| {
            flushed.send((waiters, flush())).is_ok()
        });
        // One sync serves every group flushed before it started.
        let syncer = stage("statusgate-sync", to_sync, syncing, move |groups| {
            let synced = sync();
            counter.fetch_add(1, Ordering::Relaxed);
            for (waiters, flushed) in groups {
                let result = flushed.and_then(|_| synced.clone());
                for w in waiters {
                    let _ = w.send(result.clone());
                }
            }
            true
        });
        GroupCommit {
            requests: Some(requests),
            flushes,
            busy_since,
            threads: flusher.into_iter().chain(syncer).collect(),
        }
    }

    /// True while a flush or a sync has run longer than [`FLUSH_TIMEOUT`]: the store is
    /// wedged.
    pub(super) fn is_stuck(&self) -> bool {
        self.busy_since.iter().any(|busy| {
            let since = busy.load(Ordering::Relaxed);
            since != 0 && now_ms().saturating_sub(since) > FLUSH_TIMEOUT.as_millis() as u64
        })
    }

    pub(super) async fn wait(&self) -> Result<(), StoreError> {
        if self.is_stuck() {
            return Err(StoreError::Unconfirmed(
                "storage stopped confirming writes (a flush did not finish)".into(),
            ));
        }
        let (tx, rx) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(|| StoreError::Io("flusher stopped".into()))?
            .send(tx)
            .map_err(|_| StoreError::Io("flusher stopped".into()))?;
        match tokio::time::timeout(FLUSH_TIMEOUT, rx).await {
            Ok(r) => r.map_err(|_| StoreError::Io("flusher stopped".into()))?,
            Err(_) => Err(StoreError::Unconfirmed(format!(
                "storage did not confirm the write within {}s",
                FLUSH_TIMEOUT.as_secs()
            ))),
        }
    }

    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

/// A thread that handles what arrives on `rx` in groups (all that came while it handled
/// the previous one), with `busy` set to when it started each; it ends when `rx` closes or
/// `handle` says to stop.
fn stage<T: Send + 'static>(
    name: &str,
    mut rx: mpsc::UnboundedReceiver<T>,
    busy: Arc<AtomicU64>,
    mut handle: impl FnMut(Vec<T>) -> bool + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut group = vec![first];
                while let Ok(more) = rx.try_recv() {
                    group.push(more);
                }
                busy.store(now_ms(), Ordering::Relaxed);
                let go_on = handle(group);
                busy.store(0, Ordering::Relaxed);
                if !go_on {
                    break;
                }
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A stage that waits until `released` is set (as sled's flush does after some I/O
    /// failures, or a sync on a dying disk).
    fn held(released: &Arc<AtomicBool>) -> impl Fn() -> Result<(), StoreError> + Send + 'static {
        let released = released.clone();
        move || {
            while !released.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        }
    }

    /// A flush or a sync that hangs is answered with an error after the timeout, later
    /// callers are answered at once, and when it finishes callers are served again.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_hanging_flush_or_sync_is_answered_and_a_finished_one_serves_again() {
        for hanging in ["flush", "sync"] {
            let released = Arc::new(AtomicBool::new(false));
            let commit = if hanging == "flush" {
                GroupCommit::start_with(held(&released), || Ok(()))
            } else {
                GroupCommit::start_with(|| Ok(()), held(&released))
            };
            let started = std::time::Instant::now();
            let first = commit.wait().await;
            assert!(
                matches!(first, Err(StoreError::Unconfirmed(_))),
                "{hanging}: {first:?}"
            );
            assert!(started.elapsed() < FLUSH_TIMEOUT + Duration::from_secs(2));
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(commit.is_stuck(), "{hanging}");
            let started = std::time::Instant::now();
            assert!(commit.wait().await.is_err());
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{hanging}: answered at once"
            );
            released.store(true, Ordering::Relaxed);
            for _ in 0..100 {
                if !commit.is_stuck() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!commit.is_stuck(), "{hanging}");
            commit.wait().await.unwrap();
        }
    }

    /// A caller is told of a failed sync even though its flush succeeded, and of a failed
    /// flush even though the sync after it succeeded; each stage runs once per group.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_flush_or_sync_fails_its_callers() {
        let failing =
            |stage: &'static str| move || Err::<(), _>(StoreError::Io(format!("{stage} failed")));
        let commit = GroupCommit::start_with(|| Ok(()), failing("sync"));
        let e = commit.wait().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            StoreError::Io("sync failed".into()).to_string()
        );
        let syncs = Arc::new(AtomicU64::new(0));
        let counted = syncs.clone();
        let commit = GroupCommit::start_with(failing("flush"), move || {
            counted.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        let e = commit.wait().await.unwrap_err();
        assert_eq!(
            e.to_string(),
            StoreError::Io("flush failed".into()).to_string()
        );
        assert_eq!(syncs.load(Ordering::Relaxed), 1);
        assert_eq!(commit.flushes(), 1);
    }
}
