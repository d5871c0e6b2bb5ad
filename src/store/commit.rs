//! Group commit: every caller waits for a flush that started after its write; one flush
//! serves all callers that arrived while the previous one ran.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), StoreError>>;

pub(super) struct GroupCommit {
    requests: Option<mpsc::UnboundedSender<Waiter>>,
    flushes: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for GroupCommit {
    /// Stops the flusher and waits for it, so the database is closed (and its lock
    /// released) when the last handle goes.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Self {
        let (requests, mut rx) = mpsc::unbounded_channel::<Waiter>();
        let flushes = Arc::new(AtomicU64::new(0));
        let counter = flushes.clone();
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
                    let result = db
                        .flush()
                        .map(|_| ())
                        .map_err(|e| StoreError::Io(e.to_string()));
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
            thread,
        }
    }

    pub(super) async fn wait(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(|| StoreError::Io("flusher stopped".into()))?
            .send(tx)
            .map_err(|_| StoreError::Io("flusher stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Io("flusher stopped".into()))?
    }

    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}
