//! Group commit: every caller waits for a flush that started after its write; one flush
//! serves all callers that arrived while the previous one ran. A flush that never ends
//! (sled waits forever after some I/O failures) fails its callers after [`FLUSH_TIMEOUT`]
//! instead of holding them, so every request gets an answer.

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
    /// When the running flush started (ms since the epoch), 0 while idle.
    busy_since: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Self {
        Self::start_with(move || {
            db.flush()
                .map(|_| ())
                .map_err(|e| StoreError::Io(e.to_string()))
        })
    }

    /// With the flush given (tests give one that hangs).
    fn start_with(flush: impl Fn() -> Result<(), StoreError> + Send + 'static) -> Self {
        let (requests, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = flushes.clone();
        let busy_since = Arc::new(AtomicU64::new(0));
        let busy = busy_since.clone();
        // A plain thread: flushing blocks, and it must also work outside a runtime's
        // blocking pool limits. It ends when the store (the sender) is dropped.
        let thread = std::thread::Builder::new()
            .name("statusgate-flush".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut waiters = vec![first];
                    while let Ok(w) = rx.try_recv() {
                        waiters.push(w);
                    }
                    busy.store(now_ms(), Ordering::Relaxed);
                    let result = flush();
                    busy.store(0, Ordering::Relaxed);
                    counter.fetch_add(1, Ordering::Relaxed);
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
            })
            .ok();
        GroupCommit {
            requests: Some(requests),
            flushes,
            busy_since,
            thread,
        }
    }

    /// True while a flush has run longer than [`FLUSH_TIMEOUT`]: sled is wedged.
    pub(super) fn is_stuck(&self) -> bool {
        let since = self.busy_since.load(Ordering::Relaxed);
        since != 0 && now_ms().saturating_sub(since) > FLUSH_TIMEOUT.as_millis() as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A flush that hangs (as sled's does after some I/O failures) is answered with an
    /// error after the timeout, later callers are answered at once, and when flushes
    /// finish again callers are served again.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_hanging_flush_is_answered_and_a_finished_one_serves_again() {
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = released.clone();
        let commit = GroupCommit::start_with(move || {
            while !r.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        });
        let started = std::time::Instant::now();
        let first = commit.wait().await;
        assert!(
            matches!(first, Err(StoreError::Unconfirmed(_))),
            "{first:?}"
        );
        assert!(started.elapsed() < FLUSH_TIMEOUT + Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(commit.is_stuck());
        let started = std::time::Instant::now();
        assert!(commit.wait().await.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered at once"
        );
        released.store(true, Ordering::Relaxed);
        for _ in 0..100 {
            if !commit.is_stuck() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!commit.is_stuck());
        commit.wait().await.unwrap();
    }
}
