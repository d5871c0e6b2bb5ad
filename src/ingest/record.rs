//! Recording deliveries durably: alerts whose state changed go into the inbox in the same
//! transaction that remembers them, and the caller acknowledges only after the group commit.
//! A repeat (retry, HA replica, `repeat_interval`) finds nothing new and writes nothing.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Notify;

use super::{Alert, Source};
use crate::audit::{Audit, AuditEntry};
use crate::store::{Result, Store, StoreError, Table, Tx, TxAbort};

pub const ALERTS_TABLE: &str = "alerts";
pub const INBOX_TABLE: &str = "inbox";
/// What replicas announce to each other when alerts wait for the pipeline.
pub const INBOX_TOPIC: &str = "inbox";

/// An inbox entry: the key of an alert whose state changed (data directories written by
/// earlier versions hold whole alerts, still read).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum InboxItem {
    Key(String),
    Alert(Box<Alert>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    pub new: usize,
    pub duplicates: usize,
    /// The named delivery was recorded before (by another replica, at the same moment):
    /// nothing was written.
    pub repeat: bool,
}

/// Durable hand-off from ingest to the pipeline.
#[derive(Clone)]
pub struct Recorder {
    store: Store,
    alerts: Table,
    inbox: Table,
    audit: Audit,
    wake: Arc<Notify>,
}

impl Recorder {
    pub fn open(store: &Store) -> Result<Recorder> {
        Ok(Recorder {
            store: store.clone(),
            alerts: store.table(ALERTS_TABLE)?,
            inbox: store.table(INBOX_TABLE)?,
            audit: Audit::open(store)?,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Wakes the pipeline here when another replica recorded alerts.
    pub fn follow_other_replicas(&self) {
        let wake = self.wake.clone();
        self.store
            .on_announce(INBOX_TOPIC, move || wake.notify_one());
    }

    /// Wakes the pipeline when something was recorded.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Records one delivery; returns once it is durable.
    pub async fn record(
        &self,
        source: Source,
        alerts: &[Alert],
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        let outcome =
            self.store
                .transaction(&[&self.alerts, &self.inbox, self.audit.table()], |tx| {
                    let out = self.write_alerts(tx, alerts)?;
                    if out.new > 0 {
                        let mut d = detail.clone();
                        if let Some(obj) = d.as_object_mut() {
                            obj.insert("alerts".into(), json!(alerts.len()));
                            obj.insert("new".into(), json!(out.new));
                        }
                        self.audit.append_in(
                            tx,
                            &AuditEntry::new(now, source.as_str(), "ingest").detail(d),
                        )?;
                    }
                    Ok(out)
                })?;
        self.committed(outcome).await
    }

    /// Records one delivery from a source that names its deliveries (PagerDuty's event id):
    /// the alerts as [`Recorder::record`] does, the audit entry that describes the delivery
    /// (always written, with the alert counts added to its detail) and the delivery id in
    /// `seen`, in one transaction; returns once it is durable.
    pub async fn record_delivery(
        &self,
        alerts: &[Alert],
        entry: AuditEntry,
        seen: Option<(&Table, &str, DateTime<Utc>)>,
    ) -> Result<RecordOutcome> {
        let mut tables = vec![&self.alerts, &self.inbox, self.audit.table()];
        if let Some((table, _, _)) = seen {
            tables.push(table);
        }
        let outcome = self.store.transaction(&tables, |tx| {
            // Checked again here, in the transaction: the caller's check may have raced with
            // the same delivery at another replica.
            if let Some((table, id, _)) = seen {
                if tx.get::<serde_json::Value>(table, id)?.is_some() {
                    return Ok(RecordOutcome {
                        repeat: true,
                        ..RecordOutcome::default()
                    });
                }
            }
            let out = self.write_alerts(tx, alerts)?;
            let mut entry = entry.clone();
            if let Some(obj) = entry.detail.as_object_mut() {
                obj.insert("alerts".into(), json!(alerts.len()));
                obj.insert("new".into(), json!(out.new));
            }
            self.audit.append_in(tx, &entry)?;
            if let Some((table, id, at)) = seen {
                tx.put(table, id, &at)?;
            }
            Ok(out)
        })?;
        self.committed(outcome).await
    }

    /// After a recording transaction: a refusal inside it becomes a storage error, the
    /// caller waits for the flush (even a pure repeat: the first copy may still be in
    /// flight), and the pipeline wakes for anything new.
    async fn committed(
        &self,
        outcome: std::result::Result<RecordOutcome, TxAbort>,
    ) -> Result<RecordOutcome> {
        let outcome = outcome.map_err(|e| match e {
            TxAbort::Store(e) => e,
            TxAbort::Rejected(r) => StoreError::Io(r),
        })?;
        self.store.durable().await?;
        if outcome.new > 0 {
            self.wake.notify_one();
            // The pipeline may run on another replica.
            self.store.announce(INBOX_TOPIC, false);
        }
        Ok(outcome)
    }

    /// Remembers the alerts whose state changed and queues them for the pipeline.
    fn write_alerts(
        &self,
        tx: &Tx<'_>,
        alerts: &[Alert],
    ) -> std::result::Result<RecordOutcome, TxAbort> {
        let mut out = RecordOutcome::default();
        // Read all at once, decide in order (a key twice in one delivery sees its first
        // copy), write all at once: a few round trips per delivery on PostgreSQL.
        let keys: Vec<String> = alerts.iter().map(|a| a.key.clone()).collect();
        let stored: Vec<Option<Alert>> = tx.get_many(&self.alerts, &keys)?;
        let mut now: std::collections::BTreeMap<&str, Alert> = std::collections::BTreeMap::new();
        let mut queued = Vec::new();
        for (alert, stored) in alerts.iter().zip(stored) {
            let known = now.get(alert.key.as_str()).cloned().or(stored);
            if let Some(k) = known.as_ref().filter(|k| alert.adds_nothing_to(k)) {
                // Nothing new, but a later event time still moves the alert's clock on, so
                // that an older event arriving after this one is recognised as late.
                if let Some(at) = alert.changed_at.filter(|at| k.changed_at < Some(*at)) {
                    let mut k = k.clone();
                    k.changed_at = Some(at);
                    now.insert(&alert.key, k);
                }
                out.duplicates += 1;
                continue;
            }
            now.insert(&alert.key, alert.clone());
            // Only the key: the pipeline reads the state as it stands when it gets there,
            // and sled copies whole tree nodes on write, so small entries keep ingest fast.
            queued.push(InboxItem::Key(alert.key.clone()));
            out.new += 1;
        }
        let writes: Vec<(&str, &Alert)> = now.iter().map(|(k, a)| (*k, a)).collect();
        tx.put_many(&self.alerts, &writes)?;
        tx.append_many(&self.inbox, &queued)?;
        Ok(out)
    }

    /// Alerts waiting for the pipeline, oldest first, each as it stands now. Several
    /// changes of one alert queued meanwhile are seen as its latest state.
    pub fn pending(&self, limit: usize) -> Result<Vec<(String, Alert)>> {
        let mut out = Vec::new();
        for (seq, item) in self.inbox.first::<InboxItem>(limit)? {
            match item {
                InboxItem::Key(key) => match self.alerts.get::<Alert>(&key)? {
                    Some(alert) => out.push((seq, alert)),
                    // Nothing to take; drop the entry.
                    None => self.inbox.remove(&seq)?,
                },
                InboxItem::Alert(alert) => out.push((seq, *alert)),
            }
        }
        Ok(out)
    }

    /// The pipeline took all of these (one atomic write).
    pub fn done_all(&self, keys: &[String]) -> Result<()> {
        self.inbox.remove_all(keys)
    }

    /// The pipeline took these.
    pub fn done(&self, key: &str) -> Result<()> {
        self.inbox.remove(key)
    }

    /// Up to `limit` recorded alerts that `keep` accepts, in key order, after key `after`.
    pub fn all(
        &self,
        limit: usize,
        keep: fn(&Alert) -> bool,
        after: Option<&str>,
    ) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        for a in self.alerts.iter_from::<Alert>(after)? {
            let a = a?;
            if keep(&a) {
                out.push(a);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Alerts from `source` whose last recorded state is firing.
    pub fn known_firing(&self, source: Source) -> Result<Vec<Alert>> {
        let prefix = match source {
            Source::Alertmanager => "am:",
            Source::Pagerduty => "pd:",
        };
        Ok(self
            .alerts
            .scan_prefix::<Alert>(prefix)?
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a.is_firing())
            .collect())
    }

    /// The last recorded state of every alert, for reconciliation and inspection.
    pub fn known(&self, key: &str) -> Result<Option<Alert>> {
        self.alerts.get(key)
    }
}
