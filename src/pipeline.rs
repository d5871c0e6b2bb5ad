//! The one place that says which stage feeds which: recorded alerts go through the catalog
//! and grouping into drafts, in order, and grouping's timers run here too. The clock moves
//! scheduled maintenance here as well, and the components in a window are handed to
//! grouping as plain data, so that grouping never reaches into publishing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::catalog::CatalogHandle;
use crate::draft::{DraftEvent, Drafts};
use crate::group::suppressed::Suppressions;
use crate::group::{Effect, Group, Grouper};
use crate::ingest::Recorder;
use crate::metrics::Metrics;
use crate::publish::PublicState;
use crate::store::{Result, Store, Table};

pub const GROUPS_TABLE: &str = "groups";
/// How long a step waits after taking alerts before it looks for more.
const GATHER: Duration = Duration::from_millis(2);
/// How often the drafts' timers run while alerts keep arriving (at once when idle).
const DRAFT_TIMERS_EVERY: chrono::TimeDelta = chrono::TimeDelta::milliseconds(100);

pub struct Pipeline {
    pub store: Store,
    pub recorder: Recorder,
    pub groups: Table,
    pub grouper: Grouper,
    pub drafts: Drafts,
    pub catalog: CatalogHandle,
    pub lock: Arc<Mutex<()>>,
    pub metrics: Arc<Metrics>,
    pub signals: crate::signals::Signals,
    pub audit: crate::audit::Audit,
    pub maintenance: MaintenanceClock,
    /// When the drafts' timers last ran.
    pub draft_timers_at: Option<chrono::DateTime<Utc>>,
}

/// Scheduled maintenance as the pipeline sees it: the clock that moves windows, the
/// components in one right now, and the alerts held back because of them.
pub struct MaintenanceClock {
    public: PublicState,
    suppressions: Suppressions,
    /// Component → the maintenances covering it, as of the last step.
    current: BTreeMap<String, Vec<String>>,
    /// Whether held alerts were checked against the current windows (also after a start).
    checked: bool,
    /// Every maintenance write bumps the public state's version (also from other replicas).
    changes: tokio::sync::watch::Receiver<u64>,
    /// The version the maintenances were last read at, and their earliest next window edge
    /// then: until either moves, `current` still holds and nothing is read. A store keeps
    /// every maintenance ever scheduled, so reading them all on every step would make each
    /// step slower with every week of history.
    read: Option<(u64, Option<chrono::DateTime<Utc>>)>,
}

impl MaintenanceClock {
    pub fn new(public: PublicState, store: &Store) -> Result<Self> {
        Ok(MaintenanceClock {
            changes: public.changes(),
            public,
            suppressions: Suppressions::open(store)?,
            current: BTreeMap::new(),
            checked: false,
            read: None,
        })
    }

    /// Whether what was read at `version` still holds at `now`.
    fn still_holds(&self, version: u64, now: chrono::DateTime<Utc>) -> bool {
        matches!(self.read, Some((v, next)) if v == version && next.is_none_or(|t| now < t))
    }

    fn components(&self) -> BTreeSet<String> {
        self.current.keys().cloned().collect()
    }
}

impl Pipeline {
    /// Loads the persisted groups.
    pub fn load_groups(store: &Store) -> Result<(Table, Vec<Group>)> {
        let table = store.table(GROUPS_TABLE)?;
        let groups = table.values()?;
        Ok((table, groups))
    }

    /// Runs until `shutdown`; finishes the step in progress first.
    pub async fn run(&mut self, shutdown: CancellationToken) {
        let wake = self.recorder.wake();
        let mut failures = 0u32;
        loop {
            let mut done = Stepped::default();
            match self.step().await {
                Ok(stepped) => {
                    failures = 0;
                    done = stepped;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(error = %e, "pipeline step failed; will retry");
                }
            }
            let wait = if failures > 0 {
                Duration::from_millis(250u64.saturating_mul(1 << failures.min(6)))
            } else if done.more {
                // A backlog: go on at once, but still look at the shutdown token between
                // batches (what is left stays in the inbox for the next start).
                Duration::ZERO
            } else {
                self.next_wait()
            };
            if done.took && !done.more {
                // Alerts are streaming in: let the next ones gather for a moment, so that one
                // step serves several commits instead of one each. An alert after a quiet
                // spell is taken at once.
                tokio::select! {
                    _ = tokio::time::sleep(GATHER) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        if let Err(e) = self.store.durable().await {
            tracing::error!(error = %e, "final flush failed");
        }
    }

    fn next_wait(&self) -> Duration {
        // Draft expiry and deferred updates are checked at least once a second.
        let cap = Duration::from_secs(1);
        match self.grouper.next_deadline() {
            Some(at) => (at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(cap),
            None => cap,
        }
    }

    /// Takes everything recorded so far, then runs the timers. Under a stream of alerts the
    /// drafts' own timers (expiry, deferred updates, held drafts) run every
    /// [`DRAFT_TIMERS_EVERY`] rather than after every batch: when one is due they read
    /// every ledger, and a busy step would otherwise pay that per webhook.
    pub async fn step(&mut self) -> Result<Stepped> {
        self.advance_maintenance().await?;
        let stepped = self.take_batch().await?;
        let took = stepped.took;
        let lock = self.lock.clone();
        let _guard = lock.lock().await;
        let catalog = self.catalog.current();
        let now = Utc::now();
        let effects = self.grouper.tick(now);
        // A new incident is drafted here once its group_wait is over: every alert behind it
        // reaches a draft for the first time.
        let drafted = self.handle(&effects, &catalog, now)?;
        let created = drafted.iter().filter(|d| d.created);
        self.measure(created.flat_map(|d| d.snapshot.alerts.iter().map(|a| a.received_at)));
        handed_over(&drafted).await;
        self.persist_groups()?;
        let due = self
            .draft_timers_at
            .is_none_or(|at| now - at >= DRAFT_TIMERS_EVERY);
        if !took || due || effects.iter().any(touches_drafts) {
            let events = self.drafts.tick(&catalog, now)?;
            self.count(&events);
            self.settle_held(now)?;
            self.persist_groups()?;
            self.draft_timers_at = Some(now);
        }
        self.signals.set_storm(self.grouper.storm_state());
        // No flush here: sled's log is ordered, so these writes are never durable without
        // the ingest writes before them, and a lost suffix is replayed from the inbox.
        Ok(stepped)
    }

    /// Takes up to one batch of recorded alerts. Grouping sees every alert; drafting sees
    /// each group's latest state once per batch, so a flood of alerts for one incident
    /// costs one draft write per batch, not one per alert.
    async fn take_batch(&mut self) -> Result<Stepped> {
        const BATCH: usize = 1024;
        let taken = self.recorder.pending(BATCH)?;
        if taken.entries.is_empty() {
            return Ok(Stepped::default());
        }
        let lock = self.lock.clone();
        let _guard = lock.lock().await;
        let catalog = self.catalog.current();
        let now = Utc::now();
        let held = self.maintenance.components();
        let mut effects = Vec::new();
        let mut arrivals = Vec::with_capacity(taken.alerts.len());
        let took = !taken.alerts.is_empty();
        for alert in taken.alerts {
            arrivals.push((alert.key.clone(), alert.received_at));
            effects.extend(self.grouper.observe_during(alert, &catalog, now, &held));
        }
        effects.extend(self.grouper.take_updates());
        let effects = latest_per_group(effects);
        let drafted = self.handle(&effects, &catalog, now)?;
        handed_over(&drafted).await;
        // Of this batch, the alerts a draft now shows (those still in group_wait are
        // measured when their draft is created).
        let shown: std::collections::HashSet<&str> = drafted
            .iter()
            .flat_map(|d| d.snapshot.alerts.iter().map(|a| a.key.as_str()))
            .collect();
        self.measure(
            arrivals
                .iter()
                .filter(|(key, _)| shown.contains(key.as_str()))
                .map(|(_, received)| *received),
        );
        if effects.iter().any(touches_drafts) {
            self.settle_held(now)?;
        }
        self.persist_groups_taking(&taken.entries)?;
        Ok(Stepped {
            more: taken.more,
            took,
        })
    }

    /// `statusgate_alert_to_draft_seconds`: from each alert's arrival to now.
    fn measure(&self, received: impl Iterator<Item = chrono::DateTime<Utc>>) {
        let done = Utc::now();
        for at in received {
            let seconds = (done - at).num_microseconds().unwrap_or(0) as f64 / 1e6;
            self.metrics.alert_to_draft(seconds);
        }
    }

    /// Applies grouping decisions; returns the snapshots a draft was created or changed
    /// for.
    fn handle<'e>(
        &self,
        effects: &'e [Effect],
        catalog: &Catalog,
        now: chrono::DateTime<Utc>,
    ) -> Result<Vec<Drafted<'e>>> {
        let mut drafted = Vec::new();
        for effect in effects {
            match effect {
                Effect::Unmapped { alertname } => {
                    tracing::debug!(alertname = %alertname, "no route maps this alert");
                    self.metrics.unmapped(alertname);
                }
                Effect::Ignored { route } => tracing::debug!(route = %route, "ignored by route"),
                Effect::BreakerOpened { group_id, folded } => {
                    tracing::warn!(group = %group_id, folded, "storm breaker open: new incidents fold into one draft");
                    self.record(
                        "storm_breaker_opened",
                        serde_json::json!({"group_id": group_id, "folded": folded}),
                        now,
                    )?;
                }
                Effect::BreakerClosed => {
                    tracing::info!("storm breaker closed");
                    self.record("storm_breaker_closed", serde_json::Value::Null, now)?;
                }
                Effect::Dropped { group_id } => {
                    tracing::info!(group = %group_id, "alerts resolved within group_wait; nothing drafted")
                }
                Effect::Suppressed { alert, components } => {
                    let mut ids: Vec<String> = components
                        .keys()
                        .filter_map(|c| self.maintenance.current.get(c))
                        .flatten()
                        .cloned()
                        .collect();
                    ids.sort();
                    ids.dedup();
                    tracing::info!(alert = %alert.key, maintenances = ?ids, "alert suppressed by scheduled maintenance");
                    self.maintenance
                        .suppressions
                        .record(alert, components, ids, now)?;
                }
                Effect::Open(snapshot) | Effect::Update(snapshot) | Effect::Resolve(snapshot) => {
                    let events = self.drafts.apply(effect, catalog, now)?;
                    let created = events.iter().any(|e| matches!(e, DraftEvent::Created(_)));
                    let changed = events.iter().any(|e| {
                        matches!(e, DraftEvent::Revised(_) | DraftEvent::AlertsUpdated(_))
                    });
                    if created || changed {
                        drafted.push(Drafted { snapshot, created });
                    }
                    self.count(&events);
                }
            }
        }
        Ok(drafted)
    }

    /// New incidents held by `limits.drafts_per_hour` fold into one group (one draft once
    /// the budget allows), and the approvers are told once per episode: the audit log
    /// here, the banner and the chat notice through the signal.
    fn settle_held(&mut self, now: chrono::DateTime<Utc>) -> Result<()> {
        let mut held = self.drafts.held(now)?;
        let new: Vec<String> = held
            .iter()
            .filter(|l| l.incident_id.is_none() && l.pending.is_none())
            .map(|l| l.group_id.clone())
            .collect();
        if let [into, rest @ ..] = new.as_slice() {
            if !rest.is_empty() {
                if let Some(snap) = self.grouper.fold(into, rest) {
                    if let Some(ledger) = held.iter().find(|l| &l.group_id == into) {
                        tracing::info!(group = %into, folded = rest.len(), "held new incidents fold into one draft");
                        self.drafts.fold_held(ledger, rest, snap)?;
                    }
                    held = self.drafts.held(now)?;
                }
            }
        }
        let mut components: Vec<String> = held
            .iter()
            .filter_map(|l| l.deferred.as_ref())
            .flat_map(|s| s.components.keys().cloned())
            .collect();
        components.sort();
        components.dedup();
        let state = crate::signals::HeldDrafts {
            held: !held.is_empty(),
            since: held.iter().filter_map(|l| l.held_since).min(),
            group_ids: held.iter().map(|l| l.group_id.clone()).collect(),
            components,
            per_hour: self.drafts.per_hour(),
        };
        if state.held && !self.signals.held().held {
            tracing::warn!(groups = ?state.group_ids, "drafts_per_hour spent: new drafts wait; telling the approvers");
            self.record(
                "drafts_rate_limited",
                serde_json::json!({"group_ids": state.group_ids, "components": state.components, "per_hour": state.per_hour}),
                now,
            )?;
        }
        self.signals.set_held(state);
        Ok(())
    }

    fn record(
        &self,
        action: &str,
        detail: serde_json::Value,
        now: chrono::DateTime<Utc>,
    ) -> Result<()> {
        let entry = crate::audit::AuditEntry::new(now, "statusgate", action).detail(detail);
        self.store
            .transaction(&[self.audit.table()], |tx| self.audit.append_in(tx, &entry))?
            .map_err(|e| crate::store::StoreError::Io(format!("{e:?}")))
    }

    /// Moves maintenance windows by the clock, and hands alerts held by a window that has
    /// closed back to grouping, as new.
    async fn advance_maintenance(&mut self) -> Result<()> {
        let now = Utc::now();
        // Taken before the read: a write racing with it bumps the version again.
        let version = *self.maintenance.changes.borrow_and_update();
        if self.maintenance.checked && self.maintenance.still_holds(version, now) {
            return Ok(());
        }
        let public = &self.maintenance.public;
        // Read once; read again only after the clock moved a window.
        let mut maintenances = public.maintenances()?;
        if maintenances.iter().any(|m| m.is_due(now)) {
            public.tick_maintenances(now).await?;
            maintenances = public.maintenances()?;
        }
        let next = maintenances.iter().filter_map(|m| m.next_due()).min();
        self.maintenance.read = Some((version, next));
        let current = crate::publish::maintenance::under_maintenance_in(&maintenances);
        if current == self.maintenance.current && self.maintenance.checked {
            return Ok(());
        }
        self.maintenance.current = current;
        let lock = self.lock.clone();
        let _guard = lock.lock().await;
        let held = self.maintenance.components();
        let released = self
            .maintenance
            .suppressions
            .release(|c| held.contains(c), now)?;
        let catalog = self.catalog.current();
        for alert in released {
            tracing::info!(alert = %alert.key, "maintenance over; a suppressed alert still fires and is grouped");
            let effects = self.grouper.observe_during(alert, &catalog, now, &held);
            self.handle(&effects, &catalog, now)?;
        }
        self.persist_groups()?;
        self.maintenance.checked = true;
        Ok(())
    }

    fn count(&self, events: &[DraftEvent]) {
        for e in events {
            let (event, draft) = match e {
                DraftEvent::RateLimited { group_id } => {
                    tracing::info!(group = %group_id, "drafts_per_hour spent; this draft waits");
                    self.metrics.rate_limited("drafts");
                    continue;
                }
                DraftEvent::InternalOnly {
                    group_id,
                    internal_components,
                } => {
                    tracing::info!(group = %group_id, internal = ?internal_components, "internal components only; nothing proposed for the status page");
                    continue;
                }
                DraftEvent::AlertsUpdated(d) => {
                    tracing::debug!(draft = %d.id, alerts = d.alerts.len(), "more alerts behind a draft");
                    continue;
                }
                DraftEvent::Created(d) => ("created", d),
                DraftEvent::Revised(d) => ("revised", d),
                DraftEvent::Withdrawn(d) => ("withdrawn", d),
                DraftEvent::Expired(d) => ("expired", d),
            };
            tracing::info!(draft = %draft.id, revision = draft.revision, kind = draft.kind.as_str(), event, "draft");
            self.metrics.draft(event);
        }
    }

    fn persist_groups(&mut self) -> Result<()> {
        self.persist_groups_taking(&[])
    }

    /// Grouping's changes and the removal of the inbox entries `taken`, in one transaction:
    /// alerts leave the inbox exactly when the groups that hold them are stored. On
    /// PostgreSQL that is one round of statements per step, not a transaction per group
    /// and another for the inbox.
    fn persist_groups_taking(&mut self, taken: &[String]) -> Result<()> {
        let (changed, removed) = self.grouper.changes();
        if changed.is_empty() && removed.is_empty() && taken.is_empty() {
            return Ok(());
        }
        let records: Vec<(&str, &Group)> = changed.iter().map(|g| (g.id.as_str(), *g)).collect();
        let inbox = self.recorder.inbox();
        self.store.transaction(&[&self.groups, inbox], |tx| {
            if !records.is_empty() {
                tx.put_many(&self.groups, &records)?;
            }
            tx.remove_many(&self.groups, &removed)?;
            tx.remove_many(inbox, taken)
        })??;
        self.grouper.persisted();
        Ok(())
    }
}

/// Lets the workers that new or changed drafts woke (Slack, the outbox) start before the
/// rest of the step: a task woken from here waits in this worker thread's next-task slot,
/// which no other thread takes, so without a yield a draft's approval request would wait
/// for the draft timers, held drafts and grouping's writes.
async fn handed_over<T>(drafted: &[T]) {
    if !drafted.is_empty() {
        tokio::task::yield_now().await;
    }
}

/// What one step of the pipeline found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stepped {
    /// More alerts wait than one batch took.
    pub more: bool,
    /// The step took alerts from the inbox.
    pub took: bool,
}

/// A grouping snapshot that a draft was created from (or revised to show).
struct Drafted<'e> {
    snapshot: &'e crate::group::Snapshot,
    created: bool,
}

/// Whether an effect may change what drafts hold (an alert no route maps, or one a route
/// ignores, changes nothing there).
fn touches_drafts(effect: &Effect) -> bool {
    !matches!(effect, Effect::Unmapped { .. } | Effect::Ignored { .. })
}

/// Keeps, of several `Update`s for one group, only the last (each carries the group's whole
/// state); every other effect keeps its place.
fn latest_per_group(effects: Vec<Effect>) -> Vec<Effect> {
    let mut last_update = std::collections::HashMap::new();
    for (i, e) in effects.iter().enumerate() {
        if let Effect::Update(s) = e {
            last_update.insert(s.group_id.clone(), i);
        }
    }
    effects
        .into_iter()
        .enumerate()
        .filter(|(i, e)| match e {
            Effect::Update(s) => last_update.get(&s.group_id) == Some(i),
            _ => true,
        })
        .map(|(_, e)| e)
        .collect()
}

impl crate::store::Work for Pipeline {
    fn run(&mut self, stop: CancellationToken) -> impl std::future::Future<Output = ()> + Send {
        Pipeline::run(self, stop)
    }

    /// Another replica grouped and drafted while this one did not hold the lease: the open
    /// groups and the maintenance clock start again from the store.
    fn reload(&mut self) -> Result<()> {
        let (_, groups) = Pipeline::load_groups(&self.store)?;
        self.grouper.reload(groups);
        self.drafts.forget_timers();
        self.maintenance.current.clear();
        self.maintenance.checked = false;
        self.maintenance.read = None;
        Ok(())
    }

    /// Grouping and drafting follow from the inbox, which keeps an alert until the step that
    /// took it has been written.
    fn replays_its_input(&self) -> bool {
        true
    }
}
