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
const SYSTEM: &str = "statusgate";

mod manual;
mod rules;
pub use manual::{ManualDraftError, ManualUpdate};

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
}

/// What an automatic revision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    /// Only the alerts behind it (and notes about them).
    Alerts,
    Revision,
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

/// A table and the writes to make in it, inside a draft's commit.
pub type ExtraWrites<'a> = (
    &'a Table,
    &'a dyn Fn(&crate::store::Tx<'_>) -> std::result::Result<(), TxAbort>,
);

/// The draft stage.
#[derive(Clone)]
pub struct Drafts {
    notices: tokio::sync::broadcast::Sender<DraftNotice>,
    store: Store,
    drafts: Table,
    ledgers: Table,
    audit: Audit,
    templates: Arc<Templates>,
    redactor: Arc<Redactor>,
    min_update_interval: Duration,
    expiry: Duration,
    per_hour: Option<crate::limits::DirectLimit>,
    per_hour_n: u32,
}

impl Drafts {
    pub fn open(
        store: &Store,
        templates: Arc<Templates>,
        redactor: Arc<Redactor>,
        min_update_interval: Duration,
        expiry: Duration,
    ) -> Result<Drafts> {
        Ok(Drafts {
            notices: tokio::sync::broadcast::channel(1024).0,
            store: store.clone(),
            drafts: store.table(DRAFTS_TABLE)?,
            ledgers: store.table(LEDGER_TABLE)?,
            audit: Audit::open(store)?,
            templates,
            redactor,
            min_update_interval,
            expiry,
            per_hour: None,
            per_hour_n: 0,
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

    /// Every draft, newest first, optionally in one state.
    pub fn list(&self, state: Option<DraftState>) -> Result<Vec<Draft>> {
        let mut all: Vec<Draft> = self
            .drafts
            .scan::<Draft>()?
            .into_iter()
            .map(|(_, d)| d)
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
    /// out now.
    pub fn tick(&self, catalog: &Catalog, now: DateTime<Utc>) -> Result<Vec<DraftEvent>> {
        let mut events = Vec::new();
        for (_, mut ledger) in self.ledgers.scan::<Ledger>()? {
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
                }
                continue;
            }
            let due = ledger
                .last_published_at
                .is_none_or(|last| now >= after(last, self.min_update_interval));
            if let (Some(snap), true) = (ledger.deferred.take(), due) {
                events.extend(self.propose(&snap, catalog, now)?);
            }
        }
        Ok(events)
    }

    /// When `tick` has work next.
    pub fn next_deadline(&self) -> Result<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for (_, ledger) in self.ledgers.scan::<Ledger>()? {
            let due = if let Some(draft) = self.pending_of(&ledger)? {
                Some(after(draft.updated_at, self.expiry))
            } else if ledger.deferred.is_some() {
                Some(
                    ledger
                        .last_published_at
                        .map_or(Utc::now(), |l| after(l, self.min_update_interval)),
                )
            } else {
                None
            };
            next = match (next, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next)
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

    fn create(
        &self,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Draft> {
        let number = self.store.counter("draft")?;
        let (snap, internal) = &super::public_view(snap, catalog);
        let (title, body, components) = self.text(kind, snap, ledger, catalog)?;
        let worst = components
            .values()
            .copied()
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let mut draft = Draft {
            id: format!("D-{number}"),
            incident_id: ledger.incident_id.clone(),
            group_id: snap.group_id.clone(),
            kind,
            state: DraftState::Pending,
            revision: 1,
            title,
            body,
            incident_status: default_status(kind, ledger),
            impact: if kind == DraftKind::Resolution {
                ledger_impact(ledger)
            } else {
                worst.impact()
            },
            components,
            internal_components: internal.clone(),
            alerts: snap.alerts.iter().map(DraftAlert::from).collect(),
            flapping: snap.flapping,
            created_at: now,
            updated_at: now,
            edited_fields: Default::default(),
            reason: None,
            history: Vec::new(),
            revisions: Vec::new(),
            notes: notes(snap, internal, catalog),
            suggestions: Vec::new(),
            conflict: None,
        };
        draft.incident_status = suggested_status(kind, ledger, snap);
        if let Some(update) = responders_update(kind, snap, ledger) {
            draft.body = self.redactor.redact(update.text);
        }
        draft.log(
            now,
            SYSTEM,
            "created",
            format!("{} from {} alert(s)", kind.as_str(), snap.alerts.len()),
        );
        Ok(draft)
    }

    /// Revises a pending draft and writes what changed.
    fn commit_change(
        &self,
        mut draft: Draft,
        ledger: &Ledger,
        kind: DraftKind,
        snap: &Snapshot,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Vec<DraftEvent>> {
        match self.revise(&mut draft, kind, snap, ledger, catalog, now)? {
            Change::None => Ok(Vec::new()),
            Change::Alerts => {
                // The ingest audit entries already say which alerts arrived.
                self.commit(&draft, Some(ledger), None, &[])?;
                Ok(vec![DraftEvent::AlertsUpdated(draft)])
            }
            Change::Revision => {
                self.commit(&draft, Some(ledger), None, &[revised_entry(&draft, now)])?;
                Ok(vec![DraftEvent::Revised(draft)])
            }
        }
    }

    /// Brings a pending draft up to date with the group; fields a person edited stay.
    /// Returns whether anything changed.
    fn revise(
        &self,
        draft: &mut Draft,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) -> Result<Change> {
        let (snap, internal) = &super::public_view(snap, catalog);
        let (title, body, components) = self.text(kind, snap, ledger, catalog)?;
        let edited = |f: &str| draft.edited_fields.contains(f);
        let worst = components
            .values()
            .copied()
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let mut next = draft.clone();
        next.kind = kind;
        next.alerts = snap.alerts.iter().map(DraftAlert::from).collect();
        next.flapping = snap.flapping;
        next.internal_components = internal.clone();
        next.notes = notes(snap, internal, catalog);
        if !edited("title") {
            next.title = title;
        }
        if !edited("body") {
            next.body = body;
        }
        if !edited("components") {
            next.components = components;
        }
        if !edited("impact") && kind != DraftKind::Resolution {
            next.impact = worst.impact();
        }
        if !edited("incident_status") || kind == DraftKind::Resolution {
            next.incident_status = suggested_status(kind, ledger, snap);
        }
        if let Some(update) = responders_update(kind, snap, ledger) {
            let (at, text) = (update.at, self.redactor.redact(update.text));
            if !edited("body") {
                next.body = text;
            } else if !next
                .suggestions
                .iter()
                .any(|s| s.at == at && s.text == text)
            {
                next.suggestions.push(super::Suggestion {
                    at,
                    source: Source::Pagerduty,
                    text,
                });
            }
        }
        if next == *draft {
            return Ok(Change::None);
        }
        // A revision is what an approver reads and approves; more alerts behind the same
        // text and statuses are not a new revision (and must not cost one per alert).
        let same_public = next.kind == draft.kind
            && next.title == draft.title
            && next.body == draft.body
            && next.components == draft.components
            && next.incident_status == draft.incident_status
            && next.impact == draft.impact
            && next.flapping == draft.flapping;
        if same_public {
            let (revision, revisions, history, updated_at) = (
                draft.revision,
                std::mem::take(&mut draft.revisions),
                std::mem::take(&mut draft.history),
                draft.updated_at,
            );
            *draft = next;
            draft.revision = revision;
            draft.revisions = revisions;
            draft.history = history;
            draft.updated_at = updated_at;
            return Ok(Change::Alerts);
        }
        let what = changes(draft, &next);
        draft.next_revision(SYSTEM, now);
        let (revision, revisions, history) = (
            draft.revision,
            std::mem::take(&mut draft.revisions),
            std::mem::take(&mut draft.history),
        );
        *draft = next;
        draft.revision = revision;
        draft.revisions = revisions;
        draft.history = history;
        draft.updated_at = now;
        draft.log(now, SYSTEM, "revised", what);
        Ok(Change::Revision)
    }

    fn text(
        &self,
        kind: DraftKind,
        snap: &Snapshot,
        ledger: &Ledger,
        catalog: &Catalog,
    ) -> Result<(String, String, BTreeMap<String, ComponentStatus>)> {
        let previous =
            (!ledger.published_components.is_empty()).then_some(&ledger.published_components);
        let mut ctx = text_context(kind, snap, catalog, &self.redactor, previous);
        let mut components = snap.components.clone();
        if kind == DraftKind::Resolution {
            // Resolve everything the public saw, not only what the last alerts named.
            for id in ledger.published_components.keys() {
                if catalog.component(id).is_none_or(|c| c.public) {
                    components.insert(id.clone(), ComponentStatus::Operational);
                }
            }
            let names: Vec<String> = components
                .keys()
                .map(|id| {
                    catalog
                        .component(id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| id.clone())
                })
                .collect();
            ctx.component_names = super::render::join_names(&names);
            ctx.plural = names.len() > 1;
        }
        let ids: Vec<String> = ctx.components.iter().map(|c| c.id.clone()).collect();
        let (mut title, body) = self
            .templates
            .draft_text(kind, &ids, &ctx)
            .map_err(StoreError::Io)
            .or_else(|e| {
                tracing::error!(error = %e, "draft template failed; using plain text");
                Ok::<_, StoreError>((ctx.component_names.clone(), String::new()))
            })?;
        if kind != DraftKind::NewIncident {
            // A template never renames a published incident: it keeps its public name.
            if let Some(public_name) = ledger.title.as_ref().filter(|t| !t.is_empty()) {
                title = public_name.clone();
            }
        }
        Ok((
            self.redactor.redact(&title),
            self.redactor.redact(&body),
            components,
        ))
    }

    /// Writes a draft, its ledger (or removes the ledger) and audit entries atomically,
    /// then makes it durable.
    pub fn commit(
        &self,
        draft: &Draft,
        ledger: Option<&Ledger>,
        remove_ledger: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        self.commit_with(draft, ledger, remove_ledger, audit, None)
    }

    /// As [`Drafts::commit`], with more writes of the caller's in the same transaction
    /// (approval writes its outbox entries this way).
    pub fn commit_with(
        &self,
        draft: &Draft,
        ledger: Option<&Ledger>,
        remove_ledger: Option<&str>,
        audit: &[AuditEntry],
        extra: Option<ExtraWrites<'_>>,
    ) -> Result<()> {
        let mut tables = vec![&self.drafts, &self.ledgers, self.audit.table()];
        if let Some((t, _)) = &extra {
            tables.push(t);
        }
        let outcome = self.store.transaction(&tables, |tx| {
            if let Some((_, write)) = &extra {
                write(tx)?;
            }
            tx.put(&self.drafts, &draft.id, draft)?;
            if let Some(l) = ledger {
                tx.put(&self.ledgers, &l.group_id, l)?;
            }
            if let Some(id) = remove_ledger {
                tx.remove(&self.ledgers, id)?;
            }
            for e in audit {
                self.audit.append_in(tx, e)?;
            }
            Ok(())
        })?;
        outcome.map_err(|e| match e {
            TxAbort::Store(e) => e,
            TxAbort::Rejected(r) => StoreError::Io(r),
        })?;
        // Nobody listening is fine.
        let _ = self.notices.send(DraftNotice {
            draft: draft.clone(),
            actions: audit.iter().map(|e| e.action.clone()).collect(),
        });
        Ok(())
    }

    fn commit_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.ledgers.put(&ledger.group_id, ledger)
    }

    /// Saves a ledger (approval records publication in it).
    pub fn save_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.commit_ledger(ledger)
    }
}

fn default_status(kind: DraftKind, ledger: &Ledger) -> IncidentStatus {
    match kind {
        DraftKind::NewIncident => IncidentStatus::Investigating,
        DraftKind::Update => ledger
            .incident_status
            .filter(|s| !s.is_closed())
            .unwrap_or(IncidentStatus::Investigating),
        DraftKind::Resolution => IncidentStatus::Resolved,
    }
}

/// The incident status to propose: the usual one, moved by what responders did in
/// PagerDuty. An acknowledgement suggests `identified` where the public still reads
/// `investigating`; with every acknowledgement withdrawn, `identified` goes back to
/// `investigating`. A status a person chose later (`monitoring`) stays.
fn suggested_status(kind: DraftKind, ledger: &Ledger, snap: &Snapshot) -> IncidentStatus {
    let base = default_status(kind, ledger);
    if kind == DraftKind::Resolution {
        return base;
    }
    let acks: Vec<bool> = snap
        .alerts
        .iter()
        .filter(|a| a.is_firing())
        .filter_map(|a| a.acknowledged())
        .collect();
    if acks.is_empty() {
        return base;
    }
    match (acks.iter().any(|a| *a), base) {
        (true, IncidentStatus::Investigating) => IncidentStatus::Identified,
        (false, IncidentStatus::Identified) => IncidentStatus::Investigating,
        _ => base,
    }
}

/// The newest status update responders wrote (in PagerDuty) that arrived since the
/// incident was last published: the text for an open incident's next public update.
/// None for resolutions.
fn responders_update<'a>(
    kind: DraftKind,
    snap: &'a Snapshot,
    ledger: &Ledger,
) -> Option<StatusUpdate<'a>> {
    if kind == DraftKind::Resolution {
        return None;
    }
    snap.alerts
        .iter()
        .filter_map(|a| a.status_update())
        .filter(|u| ledger.last_published_at.is_none_or(|p| u.received_at > p))
        .max_by_key(|u| u.at)
}

fn ledger_impact(ledger: &Ledger) -> crate::vocab::Impact {
    ledger
        .published_components
        .values()
        .copied()
        .max()
        .unwrap_or(ComponentStatus::Operational)
        .impact()
}

fn revised_entry(draft: &Draft, now: DateTime<Utc>) -> AuditEntry {
    AuditEntry::new(now, SYSTEM, "draft_revised")
        .draft(&draft.id, draft.revision)
        .detail(json!({"kind": draft.kind, "components": draft.components}))
}

/// "components, body": what a revision changed, for the history.
fn changes(before: &Draft, after: &Draft) -> String {
    let mut out = Vec::new();
    if before.kind != after.kind {
        out.push(format!("now a {}", after.kind.as_str()));
    }
    if before.components != after.components {
        out.push("components".to_string());
    }
    if before.alerts != after.alerts {
        out.push("alerts".to_string());
    }
    if before.flapping != after.flapping {
        out.push(
            if after.flapping {
                "flapping"
            } else {
                "no longer flapping"
            }
            .to_string(),
        );
    }
    if before.suggestions != after.suggestions {
        out.push("suggestions".to_string());
    }
    if before.incident_status != after.incident_status {
        out.push(format!("status {}", after.incident_status.as_str()));
    }
    if before.title != after.title {
        out.push("title".to_string());
    }
    if before.body != after.body {
        out.push("body".to_string());
    }
    out.join(", ")
}

fn humanize(d: Duration) -> String {
    crate::config::Dur(d.to_std().unwrap_or_default()).to_string()
}
