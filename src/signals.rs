//! Operational signals the approvers must see: the storm breaker, the watchdog and drafts
//! held by the hourly budget. Set by
//! the pipeline and the watchdog task; read by the drafts API (as banners), `/readyz`
//! (as detail) and `/metrics`; chat subscribes to changes.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StormState {
    pub open: bool,
    pub since: Option<DateTime<Utc>>,
    /// The group every new incident folds into while the breaker is open.
    pub group_id: Option<String>,
    pub components: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WatchdogState {
    pub configured: bool,
    pub silent: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub interval_seconds: u64,
    /// A heartbeat arrived since this process started: until then "not silent" only means
    /// that a full interval has not passed yet.
    pub heard: bool,
}

/// New drafts held because `limits.drafts_per_hour` is spent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeldDrafts {
    pub held: bool,
    /// When the oldest held draft was first held.
    pub since: Option<DateTime<Utc>>,
    /// The groups waiting (held new incidents fold into one).
    pub group_ids: Vec<String>,
    pub components: Vec<String>,
    pub per_hour: u32,
}

#[derive(Debug, Default)]
struct Inner {
    storm: Reported<StormState>,
    watchdog: Reported<WatchdogState>,
    held: Reported<HeldDrafts>,
}

/// One signal and whether it has been reported at least once (by the pipeline or the
/// watchdog task); before that the default says nothing.
#[derive(Debug, Default)]
struct Reported<T> {
    value: T,
    reported: bool,
}

impl<T: Clone + PartialEq> Reported<T> {
    /// Takes a report; true when it was the first or changed something.
    fn set(&mut self, value: T) -> bool {
        let changed = !self.reported || self.value != value;
        (self.value, self.reported) = (value, true);
        changed
    }

    fn if_reported(&self) -> Option<T> {
        self.reported.then(|| self.value.clone())
    }
}

#[derive(Clone)]
pub struct Signals {
    inner: Arc<RwLock<Inner>>,
    changes: Arc<watch::Sender<()>>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            inner: Arc::default(),
            changes: Arc::new(watch::channel(()).0),
        }
    }
}

impl Signals {
    /// Wakes on every change of either signal (and on the first report of each).
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    /// The storm breaker, once the pipeline has reported it since start.
    pub fn storm_reported(&self) -> Option<StormState> {
        self.read(|i| i.storm.if_reported())
    }

    /// The watchdog, once its task has reported since start.
    pub fn watchdog_reported(&self) -> Option<WatchdogState> {
        self.read(|i| i.watchdog.if_reported())
    }

    fn read<T: Default>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        self.inner.read().map(|i| f(&i)).unwrap_or_default()
    }

    /// Applies a report under the lock; listeners hear of it when it was the first or
    /// changed something.
    fn report(&self, apply: impl FnOnce(&mut Inner) -> bool) {
        let changed = self.inner.write().is_ok_and(|mut i| apply(&mut i));
        if changed {
            self.changes.send_replace(());
        }
    }

    pub fn storm(&self) -> StormState {
        self.read(|i| i.storm.value.clone())
    }

    pub fn set_storm(&self, storm: StormState) {
        self.report(|i| i.storm.set(storm));
    }

    /// The drafts held by `limits.drafts_per_hour`, once the pipeline has reported.
    pub fn held_reported(&self) -> Option<HeldDrafts> {
        self.read(|i| i.held.if_reported())
    }

    pub fn held(&self) -> HeldDrafts {
        self.read(|i| i.held.value.clone())
    }

    pub fn set_held(&self, held: HeldDrafts) {
        self.report(|i| i.held.set(held));
    }

    pub fn watchdog(&self) -> WatchdogState {
        self.read(|i| i.watchdog.value.clone())
    }

    pub fn set_watchdog(&self, w: WatchdogState) {
        self.report(|i| i.watchdog.set(w));
    }

    /// What approvers must know before they trust the drafts list.
    pub fn banners(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let storm = self.storm();
        if storm.open {
            out.push(json!({
                "kind": "storm_breaker_open",
                "message": format!(
                    "Alert storm: new incidents are folded into one \"multiple services affected\" draft ({} components so far).",
                    storm.components.len()
                ),
                "since": storm.since,
                "group_id": storm.group_id,
                "components": storm.components,
            }));
        }
        let held = self.held();
        if held.held {
            out.push(json!({
                "kind": "drafts_per_hour",
                "message": format!(
                    "The draft budget (limits.drafts_per_hour: {}) is spent: new incidents wait and fold into one draft, drafted as soon as the budget allows.",
                    held.per_hour
                ),
                "since": held.since,
                "group_ids": held.group_ids,
                "components": held.components,
            }));
        }
        let w = self.watchdog();
        if w.silent {
            out.push(json!({
                "kind": "watchdog_silent",
                "message": "The watchdog alert stopped arriving: the alert feed may be dead, so \"operational\" on the page may be wrong.",
                "last_seen": w.last_seen,
                "interval_seconds": w.interval_seconds,
            }));
        }
        out
    }
}
