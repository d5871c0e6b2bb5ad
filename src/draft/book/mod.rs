//! The drafts and, per incident in the making, its ledger: which draft is pending, which
//! public incident it belongs to, what was last published.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{text_context, Draft, DraftAlert, DraftKind, Redactor, Templates};
use crate::alert::{Source, StatusUpdate};
use crate::audit::{Audit, AuditEntry};
use crate::catalog::Catalog;
use crate::group::{after, Effect, Snapshot};
use crate::store::{Result, Store, StoreError, Table, TxAbort};
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};
use rules::{notes, worsens};

pub const DRAFTS_TABLE: &str = "drafts";
pub const LEDGER_TABLE: &str = "draft_ledger";
/// Draft id → state, for the drafts still open (pending, approved, in conflict): what the
/// board, the API and Slack list on every view, read without reading every draft ever made.
pub const OPEN_TABLE: &str = "drafts_open";
/// In [`OPEN_TABLE`]: the index covers the drafts written before it existed.
const OPEN_BUILT: &str = "~built";

/// States listed through [`OPEN_TABLE`].
fn is_open(state: DraftState) -> bool {
    state.is_open()
}
const SYSTEM: &str = "statusgate";

mod commit;
pub use commit::DRAFTS_TOPIC;
mod compose;
mod manual;
mod rules;
mod timers;
use compose::ledger_impact;
pub use manual::{ManualDraftError, ManualIncident, ManualUpdate};

/// Per group: where its drafts stand and what the public already saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    pub group_id: String,
    pub incident_id: Option<String>,
    pub pending: Option<String>,
    pub incident_status: Option<IncidentStatus>,
    pub published_components: BTreeMap<String, ComponentStatus>,
    pub last_published_at: Option<DateTime<Utc>>,
    /// An update held back by `min_update_interval`.
    pub deferred: Option<Snapshot>,
    /// The incident's public name: the title last approved. Update and resolution drafts
    /// propose it rather than their template's title.
    #[serde(default)]
    pub title: Option<String>,
    /// Since when a new draft waits for `limits.drafts_per_hour`; set once per hold, so
    /// that the hold is counted and told once however often it is retried.
    #[serde(default)]
    pub held_since: Option<DateTime<Utc>>,
    /// The group touches internal components only (recorded once, for the audit log).
    #[serde(default)]
    pub internal_only: bool,
    /// An internal-only group's components and their status, and since when: what the
    /// internal board shows staff.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub internal_components: BTreeMap<String, ComponentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_since: Option<DateTime<Utc>>,
    /// The pending draft and its `updated_at` when this ledger was last written with it. An
    /// edit writes the draft alone, so the draft may have changed since, never before: until
    /// this time plus the expiry, the draft timers need not read the draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_seen: Option<(String, DateTime<Utc>)>,
}

impl Ledger {
    /// The pending draft's `updated_at` this ledger was last written with, if it is still
    /// the pending one.
    fn seen_pending(&self) -> Option<DateTime<Utc>> {
        match (&self.pending, &self.pending_seen) {
            (Some(id), Some((seen, at))) if id == seen => Some(*at),
            _ => None,
        }
    }

    /// Whether the pending draft certainly has not expired by `now`.
    fn pending_fresh(&self, now: DateTime<Utc>, expiry: Duration) -> bool {
        self.seen_pending()
            .is_some_and(|at| now < after(at, expiry))
    }
}

/// What happened to drafts, for metrics and notifications.
#[derive(Debug, Clone)]
pub enum DraftEvent {
    Created(Draft),
    Revised(Draft),
    Withdrawn(Draft),
    Expired(Draft),
    /// More alerts behind a pending draft, with nothing customers would read changed: the
    /// alert list is updated in place, without a new revision.
    AlertsUpdated(Draft),
    /// `limits.drafts_per_hour` was spent: held, and drafted once the budget allows. Sent
    /// once per held draft, not per retry.
    RateLimited {
        group_id: String,
    },
    /// A group that touches internal components only: nothing is proposed for a public
    /// surface. Sent once per group.
    InternalOnly {
        group_id: String,
        internal_components: BTreeMap<String, ComponentStatus>,
    },
}

/// A draft as just committed, with the audit actions of that commit (`draft_created`,
/// `draft_revised`, `edit`, `approve`, `publish`, `reject`, `draft_expired`, …). Sent after
/// the write is in the store; a slow receiver may miss notices and must catch up from
/// the store (`Drafts::list`).
#[derive(Debug, Clone)]
pub struct DraftNotice {
    pub draft: Draft,
    pub actions: Vec<String>,
}

/// Tables and the writes to make in them, inside a draft's commit.
pub type ExtraWrites<'a> = (
    &'a [&'a Table],
    &'a (dyn Fn(&crate::store::Tx<'_>) -> std::result::Result<(), TxAbort> + Sync),
);

/// The draft stage.
#[derive(Clone)]
pub struct Drafts {
    notices: tokio::sync::broadcast::Sender<DraftNotice>,
    store: Store,
    drafts: Table,
    /// See [`OPEN_TABLE`].
    open: Table,
    ledgers: Table,
    audit: Audit,
    templates: Arc<Templates>,
    redactor: Arc<Redactor>,
    min_update_interval: Duration,
    expiry: Duration,
    per_hour: Option<crate::limits::DirectLimit>,
    per_hour_n: u32,
    timers: Arc<timers::Timers>,
}

impl Drafts {
    pub fn open(
        store: &Store,
        templates: Arc<Templates>,
        redactor: Arc<Redactor>,
        min_update_interval: Duration,
        expiry: Duration,
    ) -> Result<Drafts> {
        let drafts = store.table(DRAFTS_TABLE)?;
        let open = store.table(OPEN_TABLE)?;
        index_open_drafts(&drafts, &open)?;
        Ok(Drafts {
            notices: tokio::sync::broadcast::channel(1024).0,
            store: store.clone(),
            drafts,
            open,
            ledgers: store.table(LEDGER_TABLE)?,
            audit: Audit::open(store)?,
            templates,
            redactor,
            min_update_interval,
            expiry,
            per_hour: None,
            per_hour_n: 0,
            timers: Arc::default(),
        })
    }

    /// Caps how many new drafts are made per hour (revisions are not counted).
    pub fn with_hourly_limit(mut self, n: u32) -> Self {
        self.per_hour = (n > 0).then(|| crate::limits::DirectLimit::per_hour(n));
        self.per_hour_n = n;
        self
    }

    /// Every committed draft change, as it happens.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<DraftNotice> {
        self.notices.subscribe()
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn get(&self, id: &str) -> Result<Option<Draft>> {
        self.drafts.get(id)
    }

    pub fn ledger(&self, group_id: &str) -> Result<Option<Ledger>> {
        self.ledgers.get(group_id)
    }

    /// Drafts in the states a draft leaves for good once decided (pending, approved, in
    /// conflict), read through the open index.
    pub fn list_open(&self) -> Result<Vec<Draft>> {
        self.get_many(&self.open_ids(None)?)
    }

    /// Ids in the open index, in `wanted` only or in any open state.
    fn open_ids(&self, wanted: Option<DraftState>) -> Result<Vec<String>> {
        Ok(self
            .open
            .scan::<serde_json::Value>()?
            .into_iter()
            .filter(|(id, s)| {
                id != OPEN_BUILT && wanted.is_none_or(|w| s.as_str() == Some(w.as_str()))
            })
            .map(|(id, _)| id)
            .collect())
    }

    /// The drafts of `ids` that exist, in that order.
    pub fn get_many(&self, ids: &[String]) -> Result<Vec<Draft>> {
        Ok(self
            .drafts
            .get_many::<Draft>(ids)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Every draft, newest first, optionally in one state. Open states are read through
    /// [`OPEN_TABLE`]; each draft's own state decides, so an index entry a concurrent
    /// decision made stale costs a read, never a wrong answer.
    pub fn list(&self, state: Option<DraftState>) -> Result<Vec<Draft>> {
        let found = match state {
            Some(wanted) if is_open(wanted) => self.get_many(&self.open_ids(Some(wanted))?)?,
            _ => self.drafts.values::<Draft>()?,
        };
        let mut all: Vec<Draft> = found
            .into_iter()
            .filter(|d| state.is_none_or(|s| d.state == s))
            .collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(all)
    }

    /// Turns one grouping decision into draft changes.
    pub fn apply(
        &self,
        effect: &Effect,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        match effect {
            Effect::Open(snap) | Effect::Update(snap) => self.propose(snap, catalog, now),
            Effect::Resolve(snap) => self.propose_resolution(snap, catalog, now),
            _ => Ok(Vec::new()),
        }
    }

    fn propose(
        &self,
        snap: &Snapshot,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        let mut ledger = self
            .ledgers
            .get::<Ledger>(&snap.group_id)?
            .unwrap_or_else(|| Ledger {
                group_id: snap.group_id.clone(),
                ..Ledger::default()
            });
        if let Some(draft) = self.pending_of(&ledger)? {
            let kind = draft.kind;
            return self.commit_change(draft, &ledger, kind, snap, catalog, now);
        }
        let kind = if ledger.incident_id.is_some() {
            DraftKind::Update
        } else {
            DraftKind::NewIncident
        };
        let (public, internal) = super::public_view(snap, catalog);
        if kind == DraftKind::NewIncident && public.components.is_empty() {
            return self.internal_only(&mut ledger, snap, internal, now);
        }
        // Only updates that do not make things worse wait for `min_update_interval`.
        if kind == DraftKind::Update && !worsens(&public.components, &ledger) {
            if let Some(last) = ledger.last_published_at {
                if now < after(last, self.min_update_interval) {
                    ledger.deferred = Some(snap.clone());
                    self.commit_ledger(&ledger)?;
                    return Ok(Vec::new());
                }
            }
        }
        if self.per_hour.as_ref().is_some_and(|l| !l.check()) {
            ledger.deferred = Some(snap.clone());
            let first = ledger.held_since.is_none();
            ledger.held_since.get_or_insert(now);
            self.commit_ledger(&ledger)?;
            return Ok(if first {
                vec![DraftEvent::RateLimited {
                    group_id: snap.group_id.clone(),
                }]
            } else {
                Vec::new()
            });
        }
        ledger.deferred = None;
        ledger.held_since = None;
        let draft = self.create(kind, snap, &ledger, catalog, now)?;
        ledger.pending = Some(draft.id.clone());
        let entry = AuditEntry::new(now, SYSTEM, "draft_created")
            .draft(&draft.id, draft.revision)
            .detail(json!({"kind": draft.kind, "group_id": snap.group_id, "components": draft.components}));
        self.commit(&draft, Some(&ledger), None, &[entry])?;
        Ok(vec![DraftEvent::Created(draft)])
    }

    fn propose_resolution(
        &self,
        snap: &Snapshot,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        let Some(mut ledger) = self.ledgers.get::<Ledger>(&snap.group_id)? else {
            return Ok(Vec::new());
        };
        ledger.deferred = None;
        let pending = self.pending_of(&ledger)?;
        if ledger.incident_id.is_none() {
            // Nothing public to resolve: withdraw what was never approved.
            let Some(mut draft) = pending else {
                self.ledgers.remove(&snap.group_id)?;
                return Ok(Vec::new());
            };
            draft.state = DraftState::Expired;
            draft.reason =
                Some("withdrawn: every alert resolved before the draft was approved".into());
            draft.updated_at = now;
            draft.log(
                now,
                SYSTEM,
                "withdrawn",
                "every alert resolved before approval",
            );
            let entry = AuditEntry::new(now, SYSTEM, "draft_withdrawn")
                .draft(&draft.id, draft.revision)
                .detail(json!({"reason": draft.reason}));
            self.commit(&draft, None, Some(&snap.group_id), &[entry])?;
            return Ok(vec![DraftEvent::Withdrawn(draft)]);
        }
        if let Some(draft) = pending {
            return self.commit_change(draft, &ledger, DraftKind::Resolution, snap, catalog, now);
        }
        let draft = self.create(DraftKind::Resolution, snap, &ledger, catalog, now)?;
        ledger.pending = Some(draft.id.clone());
        let entry = AuditEntry::new(now, SYSTEM, "draft_created")
            .draft(&draft.id, draft.revision)
            .detail(json!({"kind": draft.kind, "group_id": snap.group_id}));
        self.commit(&draft, Some(&ledger), None, &[entry])?;
        Ok(vec![DraftEvent::Created(draft)])
    }

    /// Expires pending drafts nobody decided on, and releases deferred updates that may go
    /// out now. Reads the ledgers only when one may be due.
    pub fn tick(&self, catalog: &Catalog, now: DateTime<Utc>) -> Result<Vec<DraftEvent>> {
        let mut events = Vec::new();
        if self.timers.quiet(now) {
            return Ok(events);
        }
        self.timers.begin_pass();
        let mut earliest: Option<DateTime<Utc>> = None;
        let mut keep = |due| earliest = timers::earlier(earliest, due);
        for (_, mut ledger) in self.ledgers.scan::<Ledger>()? {
            // Reading every pending draft (alerts and all) on each pass would cost every
            // new draft the number of open ones.
            if ledger.deferred.is_none() && ledger.pending_fresh(now, self.expiry) {
                keep(self.due(&ledger, ledger.seen_pending()));
                continue;
            }
            if let Some(mut draft) = self.pending_of(&ledger)? {
                if now >= after(draft.updated_at, self.expiry) {
                    draft.state = DraftState::Expired;
                    draft.reason = Some(format!(
                        "expired: nobody approved or rejected it within {}",
                        humanize(self.expiry)
                    ));
                    draft.log(now, SYSTEM, "expired", "");
                    ledger.pending = None;
                    let entry = AuditEntry::new(now, SYSTEM, "draft_expired")
                        .draft(&draft.id, draft.revision);
                    self.commit(&draft, Some(&ledger), None, &[entry])?;
                    events.push(DraftEvent::Expired(draft));
                } else {
                    keep(self.due(&ledger, Some(draft.updated_at)));
                }
                continue;
            }
            // No draft pending (or it was decided): only a deferred update may be due.
            ledger.pending = None;
            let due = ledger
                .last_published_at
                .is_none_or(|last| now >= after(last, self.min_update_interval));
            match ledger.deferred.take() {
                Some(snap) if due => events.extend(self.propose(&snap, catalog, now)?),
                deferred => {
                    ledger.deferred = deferred;
                    keep(self.due(&ledger, None));
                }
            }
        }
        self.timers.end_pass(earliest);
        Ok(events)
    }

    /// Another replica or process changed drafts: the timers read every ledger next time.
    pub fn forget_timers(&self) {
        self.timers.forget();
    }

    /// Draft changes on other replicas reach the timers here too.
    pub fn follow_other_replicas(&self) {
        let timers = self.timers.clone();
        self.store
            .on_announce(DRAFTS_TOPIC, move || timers.forget());
    }

    fn due(
        &self,
        ledger: &Ledger,
        pending_updated: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        timers::ledger_due(
            ledger,
            pending_updated,
            self.expiry,
            self.min_update_interval,
        )
    }

    fn pending_of(&self, ledger: &Ledger) -> Result<Option<Draft>> {
        let Some(id) = &ledger.pending else {
            return Ok(None);
        };
        Ok(self
            .drafts
            .get::<Draft>(id)?
            .filter(|d| d.state == DraftState::Pending))
    }
}

fn humanize(d: Duration) -> String {
    crate::config::Dur(d.to_std().unwrap_or_default()).to_string()
}

/// Builds [`OPEN_TABLE`] from the drafts themselves, once per store (a store written by an
/// earlier version has drafts but no index). Replicas starting together may both build it:
/// they write the same entries, and a stale one is filtered when read.
fn index_open_drafts(drafts: &Table, open: &Table) -> Result<()> {
    if open.get::<bool>(OPEN_BUILT)?.is_some() {
        return Ok(());
    }
    for draft in drafts.values::<Draft>()? {
        if is_open(draft.state) {
            open.put(&draft.id, &draft.state)?;
        }
    }
    open.put(OPEN_BUILT, &true)
}
