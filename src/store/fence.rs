//! Fencing tokens. On a shared store, work that must happen once (the pipeline, outbox
//! delivery, …) runs on the replica holding its lease. The lease keeper updates the fence;
//! the worker's copy of the store checks it on every write — in the same transaction on
//! PostgreSQL — so a replica paused past its lease and then resumed writes nothing.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use super::StoreError;

/// What the lease keeper last confirmed: the epoch and when this replica's hold ends by
/// its own clock (measured from before the confirming call was sent, so never late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub epoch: i64,
    pub until: Instant,
}

/// Why a fenced operation may not go ahead.
#[derive(Debug, Clone, thiserror::Error)]
#[error("lease on `{work}` is not held by this replica")]
pub struct FenceError {
    pub work: String,
}

/// One kind of work's lease as this replica sees it. Cheap to clone.
#[derive(Clone)]
pub struct Fence {
    work: &'static str,
    holder: Arc<str>,
    state: Arc<Mutex<Option<Held>>>,
    changes: watch::Sender<Option<i64>>,
    /// The work's writes may commit without waiting for the disk (see
    /// [`Work::replays_its_input`](super::Work::replays_its_input)).
    lazy_commit: bool,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence").field("work", &self.work).finish()
    }
}

impl Fence {
    pub fn new(work: &'static str, holder: Arc<str>) -> Fence {
        Fence {
            work,
            holder,
            state: Arc::new(Mutex::new(None)),
            changes: watch::Sender::new(None),
            lazy_commit: false,
        }
    }

    /// This fence, for work whose writes may commit without waiting for the disk.
    pub fn with_lazy_commit(mut self) -> Fence {
        self.lazy_commit = true;
        self
    }

    pub fn lazy_commit(&self) -> bool {
        self.lazy_commit
    }

    pub fn work(&self) -> &'static str {
        self.work
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The epoch held now, if the hold has not run out by this replica's clock.
    pub fn current(&self) -> Option<i64> {
        let held = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        held.filter(|h| h.until > Instant::now()).map(|h| h.epoch)
    }

    /// Checks before a step and before every call to an external target: the lease is
    /// still this replica's by its own clock.
    pub fn check(&self) -> Result<i64, FenceError> {
        self.current().ok_or_else(|| FenceError {
            work: self.work.to_string(),
        })
    }

    pub(super) fn check_local(&self) -> Result<(), StoreError> {
        self.check()
            .map(|_| ())
            .map_err(|e| StoreError::Fenced { work: e.work })
    }

    /// The lease keeper confirmed (or lost, with `None`) the hold.
    pub fn set(&self, held: Option<Held>) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = held;
        let epoch = held.map(|h| h.epoch);
        self.changes.send_if_modified(|old| {
            let changed = *old != epoch;
            *old = epoch;
            changed
        });
    }

    /// Waits until this replica holds the lease; returns its epoch.
    pub async fn held(&self) -> i64 {
        let mut rx = self.changes.subscribe();
        loop {
            if let Some(epoch) = self.current() {
                return epoch;
            }
            // Woken by a change, or re-check as the local deadline may pass unannounced.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), rx.changed()).await;
        }
    }

    /// Resolves when the hold of `epoch` ends (lost, taken over or lapsed).
    pub async fn lost(&self, epoch: i64) {
        let mut rx = self.changes.subscribe();
        loop {
            if self.current() != Some(epoch) {
                return;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), rx.changed()).await;
        }
    }
}

tokio::task_local! {
    /// The lease the running worker holds: its store writes are fenced by it.
    static WORKING_UNDER: Fence;
}

/// The fence of the worker running on this task, if any.
pub fn current() -> Option<Fence> {
    WORKING_UNDER.try_with(|f| f.clone()).ok()
}

/// Runs `fut` with every store write it makes fenced by `fence`.
pub async fn scope<F: std::future::Future>(fence: Fence, fut: F) -> F::Output {
    WORKING_UNDER.scope(fence, fut).await
}

/// `fut`, to be spawned as a task of its own, under the fence of the calling task (task
/// locals do not follow `spawn` by themselves).
pub fn inherit<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
    let fence = current();
    async move {
        match fence {
            Some(f) => WORKING_UNDER.scope(f, fut).await,
            None => fut.await,
        }
    }
}

/// Checked before every call to an external target (Statuspage, a webhook, Slack): a
/// worker whose lease ran out, say after a pause, sends nothing more.
pub fn check_before_call() -> Result<(), FenceError> {
    match current() {
        Some(f) => f.check().map(|_| ()),
        None => Ok(()),
    }
}
