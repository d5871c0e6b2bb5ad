//! Publish: applies an approved draft to the public state that the built-in page serves —
//! incidents with their timelines, component statuses, and the append-only history of
//! status changes the uptime bars are computed from, and scheduled maintenance (the one
//! thing published without a draft). Applying is idempotent per draft revision, so a
//! publish interrupted by a crash is simply applied again.
//!
//! External targets (Atlassian Statuspage, signed webhooks, subscribers) are fed through
//! the [`outbox`]: approval queues one entry per target in its own transaction and the
//! [`outbox::deliver`] worker sends them, exactly once in effect.
//!
//! Where things are:
//! - here and in `model`: the public state the page reads, and applying an approved draft
//!   to it;
//! - [`outbox`]: the durable queue to external targets, its delivery worker, an admin's
//!   decisions on a delivery, and per-target health;
//! - [`targets`]: each external target (Atlassian Statuspage, signed webhooks, email) and
//!   what every target answers;
//! - [`subscribers`]: the page's webhook and email subscribers and their link pages;
//! - [`maintenance`]: scheduled maintenance, its delivery and its API;
//! - [`api`]: HTTP for subscribers and a draft's deliveries.

pub mod api;
pub mod audience;
pub mod maintenance;
mod model;
pub mod outbox;
pub mod subscribers;
pub mod targets;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::audit::Audit;
use crate::store::{Result, Store, StoreError, Table, TxAbort};
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

pub use maintenance::{Maintenance, MaintenanceError, MaintenancePatch, NewMaintenance};
pub use model::{
    AffectedComponent, ComponentInfo, Incident, IncidentUpdate, PublicComponent, StatusChange,
};

pub const INCIDENTS_TABLE: &str = "incidents";
pub const COMPONENTS_TABLE: &str = "public_components";
pub const HISTORY_TABLE: &str = "status_history";
pub const FIRST_SEEN_TABLE: &str = "component_first_seen";

/// What approval hands to publishing: exactly what a person approved.
#[derive(Debug, Clone)]
pub struct Publication {
    pub draft_id: String,
    pub revision: u32,
    pub incident_id: Option<String>,
    pub title: String,
    pub body: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
    pub started_at: DateTime<Utc>,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// The built-in page's state.
#[derive(Clone)]
pub struct PublicState {
    store: Store,
    incidents: Table,
    statuses: Table,
    history: Table,
    first_seen: Table,
    maintenances: Table,
    audit: Audit,
    catalog: Arc<RwLock<Vec<ComponentInfo>>>,
    version: Arc<watch::Sender<u64>>,
    /// Serialises every write to component statuses: incidents and maintenance both move
    /// them, and each computes the new status from what the other left.
    write: Arc<tokio::sync::Mutex<()>>,
    /// Where maintenance changes are queued for external targets (set once delivery is
    /// wired; shared by every clone).
    outbox: Arc<OnceLock<outbox::Outbox>>,
}

/// What replicas announce to each other when the public state changed.
pub const PUBLIC_TOPIC: &str = "public";

impl PublicState {
    pub fn open(store: &Store) -> Result<PublicState> {
        let (tx, _) = watch::channel(0);
        Ok(PublicState {
            store: store.clone(),
            incidents: store.table(INCIDENTS_TABLE)?,
            statuses: store.table(COMPONENTS_TABLE)?,
            history: store.table(HISTORY_TABLE)?,
            first_seen: store.table(FIRST_SEEN_TABLE)?,
            maintenances: store.table(maintenance::MAINTENANCES_TABLE)?,
            audit: Audit::open(store)?,
            catalog: Arc::new(RwLock::new(Vec::new())),
            version: Arc::new(tx),
            write: Arc::new(tokio::sync::Mutex::new(())),
            outbox: Arc::new(OnceLock::new()),
        })
    }

    /// Ticks on every change, so readers can cache until then.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Marks the public state as changed, so every cached rendering is made again.
    pub fn bump(&self) {
        self.bump_local();
        // Other replicas render from the same store and follow within a second.
        self.store.announce(PUBLIC_TOPIC, true);
    }

    /// Marks the public state as changed here only (another replica changed it).
    pub fn bump_local(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// The components the catalog declares now (called at start and on every reload).
    /// A component seen for the first time is remembered with the time, so that uptime
    /// says "no data" for the days before it existed rather than 100%.
    pub fn sync_components(&self, infos: Vec<ComponentInfo>) {
        let now = Utc::now();
        for info in &infos {
            match self.first_seen.contains(&info.id) {
                Ok(true) => {}
                Ok(false) => {
                    if let Err(e) = self.first_seen.put(&info.id, &now) {
                        tracing::warn!(component = %info.id, error = %e, "could not record when a component appeared");
                    }
                }
                Err(e) => {
                    tracing::warn!(component = %info.id, error = %e, "could not read when a component appeared")
                }
            }
        }
        if let Ok(mut c) = self.catalog.write() {
            *c = infos;
        }
        self.bump();
    }

    /// When each component first appeared in the catalog.
    pub fn first_seen(&self) -> Result<BTreeMap<String, DateTime<Utc>>> {
        Ok(self
            .first_seen
            .scan::<DateTime<Utc>>()?
            .into_iter()
            .collect())
    }

    pub fn component_info(&self, id: &str) -> Option<ComponentInfo> {
        self.catalog
            .read()
            .ok()
            .and_then(|c| c.iter().find(|i| i.id == id).cloned())
    }

    /// Every catalog component with its current public status, in catalog order.
    pub fn components(&self) -> Result<Vec<PublicComponent>> {
        self.components_where(|_| true)
    }

    /// The components `wanted` picks from the catalog, with their state: only theirs is
    /// read, so a question about one incident's components costs no more in a catalog of
    /// thousands.
    pub fn components_where(
        &self,
        wanted: impl Fn(&ComponentInfo) -> bool,
    ) -> Result<Vec<PublicComponent>> {
        let infos: Vec<ComponentInfo> = self
            .catalog
            .read()
            .map(|c| c.iter().filter(|i| wanted(i)).cloned().collect())
            .unwrap_or_default();
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            let state: Option<model::ComponentState> = self.statuses.get(&info.id)?;
            let state = state.unwrap_or_default();
            out.push(PublicComponent {
                status: state.status,
                updated_at: state.updated_at,
                info,
            });
        }
        Ok(out)
    }

    pub fn incident(&self, id: &str) -> Result<Option<Incident>> {
        self.incidents.get(id)
    }

    /// Incidents, newest first.
    pub fn incidents(&self) -> Result<Vec<Incident>> {
        newest_first(&self.incidents, |i: &Incident| (i.created_at, i.number))
    }

    pub fn unresolved(&self) -> Result<Vec<Incident>> {
        Ok(self
            .incidents()?
            .into_iter()
            .filter(|i| !i.status.is_closed())
            .collect())
    }

    /// Status changes of every component, oldest first.
    pub fn history(&self) -> Result<Vec<StatusChange>> {
        self.history.values()
    }

    /// Applies one approved draft revision. Returns the incident as it now stands.
    pub async fn publish(&self, p: &Publication) -> Result<Incident> {
        let _write = self.write.lock().await;
        let mut incident = match &p.incident_id {
            Some(id) => self.incidents.get::<Incident>(id)?.ok_or_else(|| {
                StoreError::Io(format!(
                    "incident {id} named by draft {} does not exist",
                    p.draft_id
                ))
            })?,
            None => {
                // A retried first publish finds the incident it already made.
                match self.find_by_draft(&p.draft_id)? {
                    Some(i) => i,
                    None => {
                        let n = self.store.counter("incident")?;
                        Incident::new(n, p)
                    }
                }
            }
        };
        let update_id = format!("{}-r{}", p.draft_id, p.revision);
        if incident.updates.iter().any(|u| u.id == update_id) {
            return Ok(incident);
        }
        incident.apply(p);
        let mut open: Vec<Incident> = self
            .unresolved()?
            .into_iter()
            .filter(|o| o.id != incident.id)
            .collect();
        if !incident.status.is_closed() {
            open.push(incident.clone());
        }
        let maintenances = self.maintenances()?;
        let active = maintenance::active(&maintenances);
        let touched: Vec<String> = incident.components.keys().cloned().collect();
        let moved = self.move_statuses(&touched, &open, &active, p.at, &incident.id)?;
        let affected = moved.affected.clone();
        incident.updates.push(IncidentUpdate {
            id: update_id,
            status: p.status,
            body: p.body.clone(),
            created_at: p.at,
            display_at: p.at,
            affected_components: affected,
            draft_id: p.draft_id.clone(),
            revision: p.revision,
            actor: p.actor.clone(),
        });
        let outcome =
            self.store
                .transaction(&[&self.incidents, &self.statuses, &self.history], |tx| {
                    tx.put(&self.incidents, &incident.id, &incident)?;
                    moved.write(self, tx)?;
                    Ok(())
                })?;
        outcome?;
        self.store.durable().await?;
        self.bump();
        Ok(incident)
    }

    /// What each of `ids` should show now: the worst status any open incident gives it,
    /// and `under_maintenance` during a window unless an incident makes it worse.
    fn move_statuses(
        &self,
        ids: &[String],
        open: &[Incident],
        active: &[&Maintenance],
        at: DateTime<Utc>,
        cause: &str,
    ) -> Result<Moved> {
        let mut moved = Moved::default();
        for id in ids {
            let old: model::ComponentState = self.statuses.get(id)?.unwrap_or_default();
            let mut status = ComponentStatus::Operational;
            for i in open {
                if let Some(s) = i.components.get(id) {
                    status = status.max(*s);
                }
            }
            if active.iter().any(|m| m.components.contains(id)) {
                status = status.max(ComponentStatus::UnderMaintenance);
            }
            if status == old.status {
                continue;
            }
            let name = self
                .component_info(id)
                .map(|c| c.name)
                .unwrap_or_else(|| id.clone());
            moved.changes.push(StatusChange {
                at,
                component: id.clone(),
                from: old.status,
                to: status,
                incident_id: cause.to_string(),
            });
            moved.affected.push(AffectedComponent {
                code: id.clone(),
                name,
                old_status: old.status,
                new_status: status,
            });
            moved.states.push((
                id.clone(),
                model::ComponentState {
                    status,
                    updated_at: Some(at),
                },
            ));
        }
        Ok(moved)
    }

    fn find_by_draft(&self, draft_id: &str) -> Result<Option<Incident>> {
        Ok(self
            .incidents()?
            .into_iter()
            .find(|i| i.updates.iter().any(|u| u.draft_id == draft_id)))
    }
}

/// Component statuses that move together with one change of an incident or maintenance.
#[derive(Default)]
struct Moved {
    changes: Vec<StatusChange>,
    affected: Vec<AffectedComponent>,
    states: Vec<(String, model::ComponentState)>,
}

impl Moved {
    /// Writes inside a transaction that includes the statuses and history tables.
    fn write(
        &self,
        public: &PublicState,
        tx: &crate::store::Tx<'_>,
    ) -> std::result::Result<(), TxAbort> {
        for (id, state) in &self.states {
            tx.put(&public.statuses, id, state)?;
        }
        for c in &self.changes {
            tx.append(&public.history, c)?;
        }
        Ok(())
    }
}

/// Every record of `table`, newest first by `key` (a time, then a number for ties).
fn newest_first<T: serde::de::DeserializeOwned, K: Ord>(
    table: &Table,
    key: impl Fn(&T) -> K,
) -> Result<Vec<T>> {
    let mut all: Vec<T> = table.values()?;
    all.sort_by_key(|v| std::cmp::Reverse(key(v)));
    Ok(all)
}
