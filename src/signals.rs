//! Operational signals the approvers must see: the storm breaker and the watchdog. Set by
//! the pipeline and the watchdog task; read by the drafts API (as banners), `/readyz`
//! (as detail) and `/metrics`.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

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
}

#[derive(Debug, Default)]
struct Inner {
    storm: StormState,
    watchdog: WatchdogState,
}

#[derive(Clone, Default)]
pub struct Signals {
    inner: Arc<RwLock<Inner>>,
}

impl Signals {
    pub fn storm(&self) -> StormState {
        self.inner
            .read()
            .map(|i| i.storm.clone())
            .unwrap_or_default()
    }

    pub fn set_storm(&self, storm: StormState) {
        if let Ok(mut i) = self.inner.write() {
            i.storm = storm;
        }
    }

    pub fn watchdog(&self) -> WatchdogState {
        self.inner
            .read()
            .map(|i| i.watchdog.clone())
            .unwrap_or_default()
    }

    pub fn set_watchdog(&self, w: WatchdogState) {
        if let Ok(mut i) = self.inner.write() {
            i.watchdog = w;
        }
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
