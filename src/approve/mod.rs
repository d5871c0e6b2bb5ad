//! Approve: the only road to a public surface. People edit, approve or reject drafts; an
//! approval of the revision they saw publishes it. Every step is in the audit log.

pub mod api;
pub mod board;
pub mod budget;
pub mod declare;
pub mod incident_drafts;
pub mod maintenance;
pub mod slack;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::audit::AuditEntry;
use crate::draft::{Draft, DraftKind, Drafts};
use crate::metrics::Metrics;
use crate::page::slo::Levels;
use crate::page::uptime::Shares;
use crate::publish::outbox::Outbox;
use crate::publish::{Incident, PublicState, Publication};
use crate::store::StoreError;
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};

/// Backoff of the background retry of a page publish that failed after its approval.
const FINISH_FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
const FINISH_LONGEST_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a decision could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("draft {0} does not exist")]
    NotFound(String),
    #[error("draft {id} is {state}, not pending")]
    NotPending { id: String, state: &'static str },
    #[error("draft {} is at revision {}; you saw an older one. Read it again before approving", .current.id, .current.revision)]
    Stale { current: Box<Draft> },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An edit; absent fields stay as they are. Unknown fields are refused, so a misspelt
/// field cannot silently drop an edit.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub components: Option<BTreeMap<String, ComponentStatus>>,
    pub incident_status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    /// When given, the edit applies only to this revision (409 otherwise).
    pub revision: Option<u32>,
}

/// `"<field> is longer than <max> characters"` when `text` is.
fn too_long(field: &str, text: Option<&str>, max: usize) -> Option<String> {
    text.filter(|t| t.chars().count() > max)
        .map(|_| format!("{field} is longer than {max} characters"))
}

/// Drafts are incidents: the maintenance words (`scheduled`, `in_progress`, `verifying`,
/// `completed`, impact `maintenance`) belong to scheduled maintenance, which has no drafts.
pub fn incident_words(
    status: Option<IncidentStatus>,
    impact: Option<Impact>,
) -> Result<(), String> {
    if let Some(s) = status.filter(|s| {
        !matches!(
            s,
            IncidentStatus::Investigating
                | IncidentStatus::Identified
                | IncidentStatus::Monitoring
                | IncidentStatus::Resolved
        )
    }) {
        return Err(format!(
            "incident_status `{}` is for maintenance; an incident is investigating, identified, monitoring or resolved",
            s.as_str()
        ));
    }
    if impact == Some(Impact::Maintenance) {
        return Err(
            "impact `maintenance` is for scheduled maintenance; an incident's impact is none, minor, major or critical"
                .into(),
        );
    }
    Ok(())
}

#[derive(Clone)]
pub struct Approvals {
    drafts: Drafts,
    public: PublicState,
    metrics: Arc<Metrics>,
    /// Serialises every change to drafts (shared with the pipeline).
    lock: Arc<Mutex<()>>,
    /// External targets' deliveries, queued in the approval's own transaction.
    outbox: Option<Outbox>,
    /// Service levels, for the error budget a draft affects.
    levels: Levels,
}

impl Approvals {
    pub fn new(
        drafts: Drafts,
        public: PublicState,
        metrics: Arc<Metrics>,
        lock: Arc<Mutex<()>>,
    ) -> Self {
        Approvals {
            levels: Levels::new(public.clone(), Shares::default()),
            drafts,
            public,
            metrics,
            lock,
            outbox: None,
        }
    }

    /// Counts downtime with these shares (the `uptime:` configuration), as the page does.
    pub fn with_shares(mut self, shares: Shares) -> Self {
        self.levels = Levels::new(self.public.clone(), shares);
        self
    }

    pub fn levels(&self) -> &Levels {
        &self.levels
    }

    /// Queues a delivery to every external target with each approval.
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    pub fn drafts(&self) -> &Drafts {
        &self.drafts
    }

    pub fn public(&self) -> &PublicState {
        &self.public
    }

    fn load_pending(&self, id: &str) -> Result<Draft, ApproveError> {
        let draft = self
            .drafts
            .get(id)?
            .ok_or_else(|| ApproveError::NotFound(id.to_string()))?;
        if draft.state != DraftState::Pending {
            return Err(ApproveError::NotPending {
                id: id.to_string(),
                state: draft.state.as_str(),
            });
        }
        Ok(draft)
    }

    /// A person's component statuses for an incident: every component known (and public,
    /// unless `internal_ok`), and none `under_maintenance`, which only maintenance sets.
    fn check_components(
        &self,
        components: &BTreeMap<String, ComponentStatus>,
        internal_ok: bool,
    ) -> Result<(), String> {
        for (id, status) in components {
            match self.public.component_info(id) {
                None => return Err(format!("unknown component `{id}`")),
                Some(c) if !c.public && !internal_ok => {
                    return Err(format!(
                        "component `{id}` is internal (public: false) and never published; set the public components that depend on it"
                    ))
                }
                Some(_) => {}
            }
            if *status == ComponentStatus::UnderMaintenance {
                return Err(
                    "under_maintenance is set by scheduled maintenance, not by incidents".into(),
                );
            }
        }
        Ok(())
    }

    /// The components' names as the page shows them (the id of one it does not know), for
    /// titles and texts a person did not write.
    fn component_names(&self, components: &BTreeMap<String, ComponentStatus>) -> Vec<String> {
        components
            .keys()
            .map(|id| self.component_name(id))
            .collect()
    }

    /// A component's name as the page shows it, or its id when the catalog does not know it.
    pub fn component_name(&self, id: &str) -> String {
        self.public
            .component_info(id)
            .map_or_else(|| id.to_string(), |c| c.name)
    }

    /// Makes a new revision with a person's changes (redacted, never stored unredacted).
    pub async fn edit(
        &self,
        id: &str,
        patch: DraftPatch,
        actor: &str,
    ) -> Result<Draft, ApproveError> {
        let _guard = self.lock.lock().await;
        let mut draft = self.load_pending(id)?;
        if patch.revision.is_some_and(|r| r != draft.revision) {
            return Err(ApproveError::Stale {
                current: Box::new(draft),
            });
        }
        incident_words(patch.incident_status, patch.impact).map_err(ApproveError::Invalid)?;
        if let Some(components) = &patch.components {
            self.check_components(components, false)
                .map_err(ApproveError::Invalid)?;
        }
        if patch.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ApproveError::Invalid("title must not be empty".into()));
        }
        if let Some(m) = too_long("title", patch.title.as_deref(), 255)
            .or_else(|| too_long("body", patch.body.as_deref(), 25_000))
        {
            return Err(ApproveError::Invalid(m));
        }
        let redactor = self.drafts.redactor();
        let mut next = draft.clone();
        let mut fields = Vec::new();
        let mut redacted = false;
        if let Some(t) = patch.title {
            let clean = redactor.redact(t.trim());
            redacted |= clean != t.trim();
            next.title = clean;
            fields.push("title");
        }
        if let Some(b) = patch.body {
            let clean = redactor.redact(b.trim());
            redacted |= clean != b.trim();
            next.body = clean;
            fields.push("body");
        }
        if let Some(c) = patch.components {
            next.components = c;
            fields.push("components");
        }
        if let Some(s) = patch.incident_status {
            next.incident_status = s;
            fields.push("incident_status");
        }
        if let Some(i) = patch.impact {
            next.impact = i;
            fields.push("impact");
        }
        if fields.is_empty() {
            return Err(ApproveError::Invalid(
                "nothing to change: give title, body, components, incident_status or impact".into(),
            ));
        }
        let now = Utc::now();
        if next.title == draft.title
            && next.body == draft.body
            && next.components == draft.components
            && next.incident_status == draft.incident_status
            && next.impact == draft.impact
        {
            return Ok(draft);
        }
        draft.next_revision(actor, now);
        draft.title = next.title;
        draft.body = next.body;
        draft.components = next.components;
        draft.incident_status = next.incident_status;
        draft.impact = next.impact;
        draft
            .edited_fields
            .extend(fields.iter().map(|f| f.to_string()));
        let detail = if redacted {
            "edited (text redacted)"
        } else {
            "edited"
        };
        draft.log(
            now,
            actor,
            "edited",
            format!("{}; {detail}", fields.join(", ")),
        );
        let entry = AuditEntry::new(now, actor, "edit")
            .draft(&draft.id, draft.revision)
            .detail(json!({"fields": fields, "redacted": redacted}));
        self.drafts
            .decide(&draft, draft.revision - 1, None, &[entry], None)?
            .map_err(changed_meanwhile)?;
        self.metrics.draft("revised");
        Ok(draft)
    }

    /// Approves the revision the person saw and publishes it.
    pub async fn approve(
        &self,
        id: &str,
        revision: u32,
        actor: &str,
    ) -> Result<(Draft, Incident), ApproveError> {
        let _guard = self.lock.lock().await;
        let mut draft = self.load_pending(id)?;
        if revision != draft.revision {
            return Err(ApproveError::Stale {
                current: Box::new(draft),
            });
        }
        let now = Utc::now();
        draft.state = DraftState::Approved;
        draft.updated_at = now;
        draft.log(now, actor, "approved", "");
        let entry = AuditEntry::new(now, actor, "approve").draft(&draft.id, draft.revision);
        match &self.outbox {
            Some(outbox) => {
                // Marked approved and queued for every target at once, or neither.
                let queued = outbox.plan(&draft, actor, now)?;
                let write = |tx: &crate::store::Tx<'_>| outbox.write_in(tx, &queued);
                let tables = outbox.tables();
                self.drafts
                    .decide(&draft, revision, None, &[entry], Some((&tables, &write)))?
                    .map_err(changed_meanwhile)?;
                outbox.wake();
            }
            None => self
                .drafts
                .decide(&draft, revision, None, &[entry], None)?
                .map_err(changed_meanwhile)?,
        }
        self.metrics.draft("approved");
        self.metrics
            .approval_wait((now - draft.created_at).num_milliseconds() as f64 / 1000.0);
        let incident = match self.publish_approved(draft.clone()).await {
            Ok(i) => i,
            Err(e) => {
                // The approval stands and is queued for external targets; the page must not
                // wait for a restart to show it.
                tracing::warn!(draft = %id, error = %e, "approved, but the page publish failed; retrying in the background");
                self.finish_later(id.to_string());
                return Err(e);
            }
        };
        let draft = self.drafts.get(id)?.unwrap_or(draft);
        Ok((draft, incident))
    }

    /// Retries the page publish of an approved draft with backoff until it lands (storage
    /// takes writes again) or the draft is no longer `approved`.
    fn finish_later(&self, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut wait = FINISH_FIRST_WAIT;
            loop {
                tokio::time::sleep(wait).await;
                match me.finish(&id).await {
                    Ok(true) => {
                        tracing::info!(draft = %id, "published an approved draft after a failed publish");
                        return;
                    }
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(draft = %id, error = %e, retry_in_ms = wait.as_millis() as u64, "page publish of an approved draft failed again");
                        wait = wait.saturating_mul(2).min(FINISH_LONGEST_WAIT);
                    }
                }
            }
        });
    }

    /// Publishes `id` if it is still approved and unpublished; false when there is nothing
    /// left to do.
    async fn finish(&self, id: &str) -> Result<bool, ApproveError> {
        let _guard = self.lock.lock().await;
        match self.drafts.get(id)? {
            Some(d) if d.state == DraftState::Approved => {
                self.publish_approved(d).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Publishes an approved draft and records it; safe to repeat after a crash.
    async fn publish_approved(&self, mut draft: Draft) -> Result<Incident, ApproveError> {
        let now = Utc::now();
        let approver = draft
            .history
            .iter()
            .rev()
            .find(|h| h.action == "approved")
            .map(|h| h.actor.clone())
            .unwrap_or_else(|| "statusgate".into());
        let started_at = draft
            .alerts
            .iter()
            .map(|a| a.starts_at)
            .min()
            .unwrap_or(draft.created_at);
        let publication = Publication {
            draft_id: draft.id.clone(),
            revision: draft.revision,
            incident_id: draft.incident_id.clone(),
            title: draft.title.clone(),
            body: draft.body.clone(),
            status: draft.incident_status,
            impact: draft.impact,
            components: draft.components.clone(),
            started_at,
            actor: approver.clone(),
            at: now,
        };
        let incident = match self.public.publish(&publication).await {
            Ok(i) => i,
            Err(e) => {
                self.metrics.publish("page", "failure");
                return Err(e.into());
            }
        };
        self.metrics.publish("page", "success");
        if draft.incident_id.is_none() {
            self.metrics
                .first_update((now - incident.started_at).num_milliseconds() as f64 / 1000.0);
        }
        draft.state = DraftState::Published;
        draft.incident_id = Some(incident.id.clone());
        draft.updated_at = now;
        draft.log(
            now,
            "statusgate",
            "published",
            format!("to the status page as {}", incident.id),
        );
        let entry = AuditEntry::new(now, &approver, "publish")
            .draft(&draft.id, draft.revision)
            .detail(json!({"target": "page", "incident_id": incident.id, "kind": draft.kind}));
        let mut ledger = self.drafts.ledger(&draft.group_id)?;
        if let Some(l) = ledger.as_mut() {
            l.incident_id = Some(incident.id.clone());
            if l.pending.as_deref() == Some(draft.id.as_str()) {
                l.pending = None;
            }
            l.incident_status = Some(draft.incident_status);
            l.title = Some(draft.title.clone());
            l.last_published_at = Some(now);
            for (c, s) in &draft.components {
                l.published_components.insert(c.clone(), *s);
            }
        }
        let closes = draft.kind == DraftKind::Resolution || incident.status.is_closed();
        match (ledger.as_ref(), closes) {
            (Some(_), true) => self
                .drafts
                .commit(&draft, None, Some(&draft.group_id), &[entry])?,
            (l, _) => self.drafts.commit(&draft, l, None, &[entry])?,
        }
        Ok(incident)
    }

    pub async fn reject(
        &self,
        id: &str,
        reason: Option<String>,
        actor: &str,
    ) -> Result<Draft, ApproveError> {
        let _guard = self.lock.lock().await;
        let mut draft = self.load_pending(id)?;
        let now = Utc::now();
        let reason = reason
            .map(|r| self.drafts.redactor().redact(r.trim()))
            .filter(|r| !r.is_empty());
        draft.state = DraftState::Rejected;
        draft.reason = reason.clone();
        draft.updated_at = now;
        draft.log(now, actor, "rejected", reason.clone().unwrap_or_default());
        let mut ledger = self.drafts.ledger(&draft.group_id)?;
        if let Some(l) = ledger.as_mut() {
            if l.pending.as_deref() == Some(draft.id.as_str()) {
                l.pending = None;
            }
        }
        let entry = AuditEntry::new(now, actor, "reject")
            .draft(&draft.id, draft.revision)
            .detail(json!({"reason": reason}));
        let revision = draft.revision;
        self.drafts
            .decide(&draft, revision, ledger.as_ref(), &[entry], None)?
            .map_err(changed_meanwhile)?;
        self.metrics.draft("rejected");
        Ok(draft)
    }

    /// Finishes publishes that a crash interrupted between approval and publication.
    pub async fn recover(&self) -> Result<usize, ApproveError> {
        let _guard = self.lock.lock().await;
        let approved = self.drafts.list(Some(DraftState::Approved))?;
        let n = approved.len();
        for draft in approved {
            tracing::info!(draft = %draft.id, "finishing an interrupted publish");
            self.publish_approved(draft).await?;
        }
        Ok(n)
    }
}

/// A decision that lost a compare-and-set (another replica, or another person, got there
/// first): 409 with what the draft is now.
fn changed_meanwhile(current: Draft) -> ApproveError {
    if current.state == DraftState::Pending {
        ApproveError::Stale {
            current: Box::new(current),
        }
    } else {
        ApproveError::NotPending {
            id: current.id.clone(),
            state: current.state.as_str(),
        }
    }
}

/// A person's title: 1 to 255 characters, what every target takes.
fn check_title(title: &str) -> Result<(), String> {
    if title.trim().is_empty() || title.chars().count() > 255 {
        return Err("title must be 1 to 255 characters".into());
    }
    Ok(())
}

/// Whether a person's body text is 1 to 25000 characters, what every target takes.
fn body_fits(body: &str) -> bool {
    !body.trim().is_empty() && body.chars().count() <= 25_000
}
