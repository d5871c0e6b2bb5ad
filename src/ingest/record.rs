//! Recording deliveries durably: alerts whose state changed go into the inbox in the same
//! transaction that remembers them, and the caller acknowledges only after the group commit.
//! A repeat (retry, HA replica, `repeat_interval`) finds nothing new and writes nothing.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, Notify};

use super::{Alert, Source};
use crate::audit::{Audit, AuditEntry};
use crate::store::{Result, Store, StoreError, Table, Tx, TxAbort, Writes};

pub const ALERTS_TABLE: &str = "alerts";
pub const INBOX_TABLE: &str = "inbox";
/// What replicas announce to each other when alerts wait for the pipeline.
pub const INBOX_TOPIC: &str = "inbox";

/// An inbox entry: the keys of the alerts whose state one commit changed (data directories
/// written by earlier versions hold an entry per alert, a key or a whole alert, still read).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum InboxItem {
    Key(String),
    Keys(Vec<String>),
    Alert(Box<Alert>),
}

/// What the pipeline takes in one step: the inbox entries it read, to remove them when it
/// stores what it made of them, and the alerts they name, oldest first.
#[derive(Debug, Default)]
pub struct Taken {
    pub entries: Vec<String>,
    pub alerts: Vec<Alert>,
    /// The limit stopped the reading: more entries wait.
    pub more: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordOutcome {
    pub new: usize,
    pub duplicates: usize,
    /// The named delivery was recorded before (by another replica, at the same moment):
    /// nothing was written.
    pub repeat: bool,
    /// How many deliveries were committed in the same transaction (this one included).
    pub batch: usize,
}

/// Durable hand-off from ingest to the pipeline.
#[derive(Clone)]
pub struct Recorder {
    store: Store,
    alerts: Table,
    inbox: Table,
    audit: Audit,
    wake: Arc<Notify>,
    /// Deliveries waiting for the next group commit (started on first use).
    batch: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
}

/// One delivery to record: alerts from one source, with what to keep about the request.
pub struct Delivery {
    source: Source,
    alerts: Vec<Alert>,
    detail: serde_json::Value,
    now: DateTime<Utc>,
}

impl Delivery {
    pub fn new(
        source: Source,
        alerts: Vec<Alert>,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Self {
        Delivery {
            source,
            alerts,
            detail,
            now,
        }
    }
}

/// A delivery waiting to be committed with the others that arrived meanwhile.
struct Job {
    delivery: Delivery,
    done: oneshot::Sender<Result<RecordOutcome>>,
}

/// Most deliveries committed in one transaction; more wait for the next.
const MAX_BATCH_ALERTS: usize = 10_000;

impl Recorder {
    pub fn open(store: &Store) -> Result<Recorder> {
        Ok(Recorder {
            store: store.clone(),
            alerts: store.table(ALERTS_TABLE)?,
            inbox: store.table(INBOX_TABLE)?,
            audit: Audit::open(store)?,
            wake: Arc::new(Notify::new()),
            batch: Arc::new(OnceLock::new()),
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

    /// Records one delivery; returns once it is durable. Deliveries that arrive while a
    /// commit is under way are committed together in the next transaction (a group commit):
    /// one round of statements and one flush serve them all, so durable acknowledgements
    /// do not cost a transaction each.
    pub async fn record(
        &self,
        source: Source,
        alerts: Vec<Alert>,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        let (done, outcome) = oneshot::channel();
        let job = Job {
            delivery: Delivery::new(source, alerts, detail, now),
            done,
        };
        let queue = self.batch.get_or_init(|| {
            let (queue, jobs) = mpsc::unbounded_channel();
            self.store.spawn_near(self.clone().commit_batches(jobs));
            queue
        });
        queue
            .send(job)
            .map_err(|_| StoreError::Io("the recorder has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Io("the recorder has stopped".into()))?
    }

    /// Commits whatever deliveries are waiting, one transaction at a time.
    async fn commit_batches(self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = jobs.recv().await {
            let mut size = first.delivery.alerts.len();
            let mut batch = vec![first];
            while size < MAX_BATCH_ALERTS {
                match jobs.try_recv() {
                    Ok(job) => {
                        size += job.delivery.alerts.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            let deliveries: Vec<&Delivery> = batch.iter().map(|j| &j.delivery).collect();
            let outcomes = self.commit_batch(&deliveries).await;
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                // A caller that gave up (its client went away) needs no answer.
                let _ = job.done.send(outcome);
            }
        }
    }

    /// Records one delivery in the caller's own transaction, so that a lease holder's
    /// fence covers it (reconciliation: a paused former holder must not write).
    pub async fn record_here(&self, delivery: Delivery) -> Result<RecordOutcome> {
        self.commit_batch(&[&delivery]).await.remove(0)
    }

    /// One transaction for every delivery of `batch`; an outcome for each, in order. The
    /// alerts it names are read first and the writes decided from them, so that on
    /// PostgreSQL the whole batch costs two round trips.
    async fn commit_batch(&self, batch: &[&Delivery]) -> Vec<Result<RecordOutcome>> {
        let deliveries: Vec<&[Alert]> = batch.iter().map(|j| j.alerts.as_slice()).collect();
        let keys = keys_of(&deliveries);
        let written = self
            .store
            .read_then_write(
                &[&self.alerts, &self.inbox, self.audit.table()],
                &self.alerts,
                &keys,
                |stored: Vec<Option<Alert>>| {
                    let mut writes = Writes::default();
                    let outs = self.decide(&mut writes, &deliveries, stored)?;
                    for (job, out) in batch.iter().zip(&outs).filter(|(_, o)| o.new > 0) {
                        let mut d = job.detail.clone();
                        if let Some(obj) = d.as_object_mut() {
                            obj.insert("alerts".into(), json!(job.alerts.len()));
                            obj.insert("new".into(), json!(out.new));
                        }
                        let entry =
                            AuditEntry::new(job.now, job.source.as_str(), "ingest").detail(d);
                        writes.append(self.audit.table(), &entry)?;
                    }
                    Ok((writes, outs))
                },
            )
            .await;
        let committed = match written {
            Ok(Ok(outs)) => {
                let new = outs.iter().map(|o| o.new).sum();
                self.committed(Ok(RecordOutcome {
                    new,
                    ..RecordOutcome::default()
                }))
                .await
                .map(|_| outs)
            }
            Ok(Err(abort)) => self.committed(Err(abort)).await.map(|_| Vec::new()),
            Err(e) => Err(e),
        };
        match committed {
            Ok(outs) => outs
                .into_iter()
                .map(|out| {
                    Ok(RecordOutcome {
                        batch: batch.len(),
                        ..out
                    })
                })
                .collect(),
            Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
        }
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
            let out = self.write_alerts(tx, &[alerts])?.remove(0);
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
    /// pipeline wakes for anything new, and the caller waits for the flush (even a pure
    /// repeat: the first copy may still be in flight).
    ///
    /// The pipeline here starts while the flush runs: what it writes is ordered after these
    /// writes in the store's log, so it is never durable without them. A crash inside the
    /// flush loses the unacknowledged delivery and what was drafted from it together, and
    /// the sender's retry drafts it again, as after any crash before an acknowledgement.
    async fn committed(
        &self,
        outcome: std::result::Result<RecordOutcome, TxAbort>,
    ) -> Result<RecordOutcome> {
        let outcome = outcome?;
        if outcome.new > 0 {
            self.wake.notify_one();
        }
        self.store.durable().await?;
        if outcome.new > 0 {
            // The pipeline may run on another replica (a shared store, whose commit was
            // durable before this).
            self.store.announce(INBOX_TOPIC, false);
        }
        Ok(outcome)
    }

    /// Remembers the alerts whose state changed and queues them for the pipeline, in the
    /// caller's transaction; an outcome per delivery.
    fn write_alerts(
        &self,
        tx: &Tx<'_>,
        deliveries: &[&[Alert]],
    ) -> std::result::Result<Vec<RecordOutcome>, TxAbort> {
        let keys = keys_of(deliveries);
        let stored = tx.get_many::<Alert>(&self.alerts, &keys)?;
        let mut writes = Writes::default();
        let outs = self.decide(&mut writes, deliveries, stored)?;
        tx.write(writes)?;
        Ok(outs)
    }

    /// Decides, from the alerts as stored (one per alert of `deliveries`, in order), which
    /// changed state: those are remembered and queued for the pipeline. An outcome per
    /// delivery, taken in order (a key twice sees its earlier copy).
    fn decide(
        &self,
        writes: &mut Writes,
        deliveries: &[&[Alert]],
        stored: Vec<Option<Alert>>,
    ) -> std::result::Result<Vec<RecordOutcome>, TxAbort> {
        let mut stored = stored.into_iter();
        // Each alert's state as this batch leaves it: the delivered alert itself, borrowed
        // (a copy per alert would cost a tree of labels each on the acknowledged path), or
        // a stored one whose clock moved on.
        let mut now: std::collections::BTreeMap<&str, Cow<'_, Alert>> =
            std::collections::BTreeMap::new();
        let mut outs = Vec::with_capacity(deliveries.len());
        // Only the keys: the pipeline reads the state as it stands when it gets there.
        let mut changed = Vec::new();
        for alerts in deliveries {
            let mut out = RecordOutcome::default();
            for alert in alerts.iter() {
                let stored = stored.next().flatten();
                let known = match now.get(alert.key.as_str()) {
                    Some(k) => Some(k.as_ref()),
                    None => stored.as_ref(),
                };
                if let Some(k) = known.filter(|k| alert.adds_nothing_to(k)) {
                    // Nothing new, but a later event time still moves the alert's clock on,
                    // so that an older event arriving after this one is recognised as late.
                    if let Some(at) = alert.changed_at.filter(|at| k.changed_at < Some(*at)) {
                        let mut k = k.clone();
                        k.changed_at = Some(at);
                        now.insert(&alert.key, Cow::Owned(k));
                    }
                    out.duplicates += 1;
                    continue;
                }
                now.insert(&alert.key, Cow::Borrowed(alert));
                changed.push(alert.key.clone());
                out.new += 1;
            }
            outs.push(out);
        }
        for (key, alert) in &now {
            writes.put(&self.alerts, key, alert.as_ref())?;
        }
        if self.store.is_shared() {
            // A key per entry on PostgreSQL, which earlier versions can read: during a
            // rolling upgrade the pipeline may still run on a replica of one. They cannot
            // read `Keys`; this version reads both, so the next can write `Keys` there too.
            for key in changed {
                writes.append(&self.inbox, &InboxItem::Key(key))?;
            }
        } else if !changed.is_empty() {
            // One entry for the whole commit on sled (one process, so one version): sled
            // copies a whole tree node per write, and an entry per alert cost a 100-alert
            // webhook a hundred copies.
            writes.append(&self.inbox, &InboxItem::Keys(changed))?;
        }
        Ok(outs)
    }

    /// Inbox entries waiting for the pipeline, oldest first, until they name `limit` alerts,
    /// found or gone (an entry is taken whole), with each alert as it stands now: several
    /// changes of one alert queued meanwhile are seen as its latest state. A key whose alert
    /// is gone names nothing; its entry is still taken, to be removed.
    pub fn pending(&self, limit: usize) -> Result<Taken> {
        /// An alert of the batch: read from the alerts table, or held by an old entry.
        enum Slot {
            Stored,
            Held(Box<Alert>),
        }
        let mut taken = Taken::default();
        let mut keys = Vec::new();
        let mut slots = Vec::new();
        // An entry names at least one alert: `limit` entries and one more (to know whether
        // more wait) is all a step reads, in one round trip on PostgreSQL.
        let rows = limit.saturating_add(1);
        for item in self.inbox.entries_paged::<InboxItem>(None, Some(rows))? {
            if slots.len() >= limit {
                taken.more = true;
                break;
            }
            let (seq, item) = item?;
            taken.entries.push(seq);
            match item {
                InboxItem::Key(key) => {
                    keys.push(key);
                    slots.push(Slot::Stored);
                }
                InboxItem::Keys(named) => {
                    slots.extend(named.iter().map(|_| Slot::Stored));
                    keys.extend(named);
                }
                InboxItem::Alert(alert) => slots.push(Slot::Held(alert)),
            }
        }
        // The alerts the entries name, read together: one round trip on PostgreSQL.
        let mut stored = self.alerts.get_many::<Alert>(&keys)?.into_iter();
        taken.alerts = slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Stored => stored.next().flatten(),
                Slot::Held(alert) => Some(*alert),
            })
            .collect();
        Ok(taken)
    }

    /// The inbox, for the pipeline to remove what it took in the transaction that stores
    /// what it made of it.
    pub fn inbox(&self) -> &Table {
        &self.inbox
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

/// The keys of every alert of `deliveries`, in order: what the recorder reads before
/// deciding what changed.
fn keys_of(deliveries: &[&[Alert]]) -> Vec<String> {
    deliveries
        .iter()
        .flat_map(|alerts| alerts.iter().map(|a| a.key.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::alert::AlertStatus;

    fn alert(fp: &str) -> Alert {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        Alert {
            key: format!("am:{fp}"),
            source: Source::Alertmanager,
            fingerprint: fp.into(),
            status: AlertStatus::Firing,
            labels: BTreeMap::from([("alertname".to_string(), fp.to_string())]),
            annotations: BTreeMap::new(),
            starts_at: at,
            ends_at: None,
            generator_url: String::new(),
            received_at: at,
            truncated: 0,
            changed_at: None,
        }
    }

    /// Deliveries that wait while a commit runs share the next one, and each still gets
    /// its own outcome and audit entry.
    #[tokio::test(flavor = "current_thread")]
    async fn waiting_deliveries_share_one_commit_and_keep_their_own_outcomes() {
        let (_dir, store) = Store::temporary();
        let recorder = Recorder::open(&store).unwrap();
        // On one thread, every record() queues its delivery before the committer runs.
        let deliveries = (0..20).map(|i| {
            let alerts = vec![alert(&format!("a{i}")), alert(&format!("a{}", (i + 1) % 5))];
            recorder.record(Source::Alertmanager, alerts, json!({}), Utc::now())
        });
        let outcomes = futures::future::join_all(deliveries).await;
        let outcomes: Vec<RecordOutcome> = outcomes.into_iter().map(|o| o.unwrap()).collect();
        assert!(outcomes.iter().all(|o| o.batch == 20), "{outcomes:?}");
        // Decided in order: each sees what the deliveries before it in the batch wrote.
        let seen: Vec<(usize, usize)> = outcomes.iter().map(|o| (o.new, o.duplicates)).collect();
        assert_eq!(seen[..6], [(2, 0), (1, 1), (1, 1), (1, 1), (0, 2), (1, 1)]);
        let new: usize = outcomes.iter().map(|o| o.new).sum();
        assert_eq!(new, 20);
        // On sled, one inbox entry for the whole commit, naming each alert it changed.
        let taken = recorder.pending(100).unwrap();
        assert_eq!((taken.entries.len(), taken.alerts.len()), (1, 20));
        let audit = Audit::open(&store)
            .unwrap()
            .list(None, 100, None, None)
            .unwrap();
        // One ingest entry per delivery that brought something new (all but the fifth).
        assert_eq!(audit.len(), 19);
        // A later delivery is a commit of its own.
        let later = recorder
            .record(
                Source::Alertmanager,
                vec![alert("b")],
                json!({}),
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!((later.new, later.batch), (1, 1));
    }

    /// Entries written by earlier versions (a key or a whole alert each) are still taken,
    /// in order among this version's; a key whose alert is gone names nothing but its entry
    /// is taken, to be removed; the limit counts named alerts and takes an entry whole.
    #[tokio::test(flavor = "current_thread")]
    async fn earlier_inbox_entries_are_taken_in_order_and_the_limit_takes_entries_whole() {
        let (_dir, store) = Store::temporary();
        let recorder = Recorder::open(&store).unwrap();
        let old = alert("old");
        recorder.alerts.put(&old.key, &old).unwrap();
        let earlier = [
            InboxItem::Key(old.key.clone()),
            InboxItem::Key("am:gone".into()),
            InboxItem::Alert(Box::new(alert("held"))),
        ];
        store
            .transaction(&[&recorder.inbox], |tx| {
                tx.append_many(&recorder.inbox, &earlier)
            })
            .unwrap()
            .unwrap();
        let new = vec![alert("n1"), alert("n2")];
        let out = recorder
            .record(Source::Alertmanager, new, json!({}), Utc::now())
            .await
            .unwrap();
        assert_eq!(out.new, 2);

        let all = recorder.pending(100).unwrap();
        let names: Vec<&str> = all.alerts.iter().map(|a| a.fingerprint.as_str()).collect();
        assert_eq!(names, ["old", "held", "n1", "n2"]);
        assert_eq!((all.entries.len(), all.more), (4, false));

        // The limit counts the alerts entries name, found or gone.
        let some = recorder.pending(2).unwrap();
        assert_eq!(
            (some.entries.len(), some.alerts.len(), some.more),
            (2, 1, true)
        );
        let whole = recorder.pending(4).unwrap();
        assert_eq!(
            (whole.entries.len(), whole.alerts.len(), whole.more),
            (4, 4, false)
        );
    }
}
