//! Dead-man's switch on the alert feed. Alertmanager's always-firing watchdog alert must
//! arrive at least every `watchdog.interval`; every delivery counts, including the
//! unchanged re-sends that dedupe otherwise ignores. When it stops, approvers are told
//! (drafts API banner, metric, `/readyz` detail, audit log) rather than letting the page
//! keep saying "operational" on a feed that died.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::alert::Alert;
use crate::audit::{Audit, AuditEntry};
use crate::catalog::Matcher;
use crate::config::WatchdogConfig;
use crate::signals::{Signals, WatchdogState};
use crate::store::{Store, Table};

/// Records heartbeats; cheap to clone into the ingest handlers.
#[derive(Clone)]
pub struct Heartbeat {
    matchers: Arc<Vec<Matcher>>,
    last_millis: Arc<AtomicI64>,
    started_millis: i64,
    /// With several replicas, heartbeats reach any of them: each is also written here,
    /// where the replica running the watchdog reads it.
    shared: Option<Table>,
}

const SHARED_KEY: &str = "watchdog/last_seen";

impl Heartbeat {
    pub fn new(config: &WatchdogConfig, now: DateTime<Utc>) -> Result<Heartbeat, String> {
        let mut matchers = Vec::new();
        for text in &config.matchers {
            matchers.extend(
                Matcher::parse(text).map_err(|e| format!("watchdog.match: `{text}`: {e}"))?,
            );
        }
        if matchers.is_empty() {
            return Err(
                "watchdog.match: give at least one matcher, e.g. 'alertname=\"Watchdog\"'".into(),
            );
        }
        Ok(Heartbeat {
            matchers: Arc::new(matchers),
            // Until one full interval has passed nobody can tell whether the feed is alive.
            last_millis: Arc::new(AtomicI64::new(now.timestamp_millis())),
            started_millis: now.timestamp_millis(),
            shared: None,
        })
    }

    /// Shares heartbeats through `store` when replicas share it.
    pub fn shared_through(mut self, store: &Store) -> crate::store::Result<Heartbeat> {
        if store.is_shared() {
            self.shared = Some(store.table("meta")?);
        }
        Ok(self)
    }

    /// Takes in heartbeats other replicas received.
    fn catch_up(&self) {
        if let Some(table) = &self.shared {
            match table.get::<i64>(SHARED_KEY) {
                Ok(Some(millis)) => {
                    self.last_millis.fetch_max(millis, Ordering::Relaxed);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the shared watchdog heartbeat"),
            }
        }
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        alert.is_firing() && self.matchers.iter().all(|m| m.matches(&alert.labels))
    }

    /// Counts a delivery as a heartbeat if any of its alerts is the watchdog.
    pub fn beat_if_matching(&self, alerts: &[Alert], now: DateTime<Utc>) {
        if alerts.iter().any(|a| self.matches(a)) {
            let before = self
                .last_millis
                .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
            if let Some(table) = self
                .shared
                .as_ref()
                .filter(|_| before < now.timestamp_millis())
            {
                if let Err(e) = table.put(SHARED_KEY, &now.timestamp_millis()) {
                    tracing::warn!(error = %e, "cannot share a watchdog heartbeat with the other replicas");
                }
            }
        }
    }

    /// Whether a heartbeat arrived since start (not just the start itself).
    pub fn heard(&self) -> bool {
        self.last_millis.load(Ordering::Relaxed) > self.started_millis
    }

    pub fn last_seen(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_millis.load(Ordering::Relaxed))
            .unwrap_or_default()
    }
}

impl crate::ingest::alertmanager::Heartbeat for Heartbeat {
    fn delivered(&self, alerts: &[Alert], now: DateTime<Utc>) {
        self.beat_if_matching(alerts, now);
    }
}

pub struct Watchdog {
    pub heartbeat: Heartbeat,
    pub interval: Duration,
    pub signals: Signals,
    pub audit: Audit,
    pub store: Store,
    /// With several replicas every one watches (its `/readyz` and banners say so), but only
    /// the holder of this lease writes the change to the audit log.
    pub recorder_lease: Option<crate::store::Fence>,
}

impl Watchdog {
    /// Checks a few times per interval until `shutdown`.
    pub async fn run(&mut self, shutdown: CancellationToken) {
        let step = (self.interval / 4).clamp(Duration::from_millis(100), Duration::from_secs(5));
        let mut silent = false;
        loop {
            let now = Utc::now();
            self.heartbeat.catch_up();
            let last = self.heartbeat.last_seen();
            let quiet_for = (now - last).to_std().unwrap_or_default();
            let now_silent = quiet_for > self.interval;
            if now_silent != silent {
                silent = now_silent;
                self.record(silent, last, now).await;
            }
            self.signals.set_watchdog(WatchdogState {
                configured: true,
                silent,
                last_seen: Some(last),
                interval_seconds: self.interval.as_secs(),
                heard: self.heartbeat.heard(),
            });
            tokio::select! {
                _ = tokio::time::sleep(step) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    async fn record(&self, silent: bool, last: DateTime<Utc>, now: DateTime<Utc>) {
        let action = if silent {
            "watchdog_silent"
        } else {
            "watchdog_resumed"
        };
        if silent {
            tracing::error!(last_seen = %last, "watchdog alert stopped arriving: the alert feed may be dead");
        } else {
            tracing::info!("watchdog alert arrives again");
        }
        let entry = AuditEntry::new(now, "statusgate", action).detail(json!({"last_seen": last}));
        let write = || {
            self.store
                .transaction(&[self.audit.table()], |tx| self.audit.append_in(tx, &entry))
        };
        let written = match &self.recorder_lease {
            None => write(),
            Some(fence) if fence.current().is_some() => {
                crate::store::fence_scope(fence.clone(), async { write() }).await
            }
            // Another replica holds the lease and records it.
            Some(_) => return,
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "could not record the watchdog change");
        }
    }
}
