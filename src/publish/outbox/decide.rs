//! An admin's decisions on a draft's deliveries: retry what gave up, and choose on a
//! conflict with a hand edit. The management API and chat both come here, so a choice
//! means the same wherever it is made.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tokio::sync::Mutex;

use super::draft_state::refresh_draft;
use super::health::Health;
use crate::audit::AuditEntry;
use crate::draft::{Draft, Drafts};
use crate::http::ApiError;
use crate::publish::outbox::{Choice, EntryState, Outbox};
use crate::store::StoreError;
use crate::vocab::DraftState;

/// Decisions are few and quick; taking them one at a time makes a double press (or the
/// API and chat at once) find the first one already done instead of settling twice.
pub(in crate::publish) static DECIDING: Mutex<()> = Mutex::const_new(());

/// Why a decision was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("draft {0} does not exist")]
    NotFound(String),
    /// The draft is not in a state the decision applies to (already resolved, retried…).
    #[error("{0}")]
    Nothing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::NotFound(_) => ApiError::not_found(e.to_string()),
            DecideError::Nothing(m) => ApiError::conflict(m),
            DecideError::Store(s) => ApiError::from(s),
        }
    }
}

/// What deciding needs. Cheap to clone.
#[derive(Clone)]
pub struct Decisions {
    pub outbox: Outbox,
    pub drafts: Drafts,
    /// The drafts lock shared with approvals and delivery.
    pub lock: Arc<Mutex<()>>,
    pub health: Health,
}

impl Decisions {
    /// Sends a draft's failed deliveries again, now, with their targets' breakers reset.
    pub async fn retry(&self, id: &str, actor: &str) -> Result<Draft, DecideError> {
        let _one = DECIDING.lock().await;
        let draft = self.get(id)?;
        let mut entries: Vec<_> = self
            .outbox
            .for_draft(id)?
            .into_iter()
            .filter(|e| e.state == EntryState::Failed)
            .collect();
        if draft.state != DraftState::Failed && entries.is_empty() {
            return Err(DecideError::Nothing(format!(
                "draft {id} is {}; only a failed delivery can be retried",
                draft.state.as_str()
            )));
        }
        let now = Utc::now();
        for e in &mut entries {
            e.retry_now(now);
            self.health.reset(&e.target);
        }
        let targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        let audit = AuditEntry::new(now, actor, "retry")
            .draft(&draft.id, draft.revision)
            .detail(json!({"targets": targets}));
        self.outbox.settle(&entries, &[audit])?;
        self.outbox.store().durable().await?;
        refresh_draft(&self.outbox, &self.drafts, &self.lock, id, actor).await?;
        self.outbox.wake();
        Ok(self.drafts.get(id)?.unwrap_or(draft))
    }

    /// Settles a conflict: write ours over the hand edit, or keep theirs and send the rest.
    pub async fn resolve_conflict(
        &self,
        id: &str,
        choice: Choice,
        actor: &str,
    ) -> Result<Draft, DecideError> {
        let _one = DECIDING.lock().await;
        let draft = self.get(id)?;
        let mine: Vec<_> = self
            .outbox
            .for_draft(id)?
            .into_iter()
            .filter(|e| e.state == EntryState::Conflict)
            .collect();
        if draft.state != DraftState::Conflict || mine.is_empty() {
            return Err(DecideError::Nothing(format!(
                "draft {id} is {}; there is no conflict to resolve",
                draft.state.as_str()
            )));
        }
        // The choice is about the target's incident: it settles every entry held by it.
        let now = Utc::now();
        let mut settled: Vec<_> = self
            .outbox
            .active()?
            .into_iter()
            .filter(|e| {
                e.state == EntryState::Conflict
                    && mine
                        .iter()
                        .any(|m| m.target == e.target && m.thread == e.thread)
            })
            .collect();
        for e in &mut settled {
            e.settle_with(choice, now);
        }
        let audit = AuditEntry::new(now, actor, "conflict_resolved")
            .draft(&draft.id, draft.revision)
            .detail(json!({"choice": choice, "conflict": draft.conflict}));
        self.outbox.settle(&settled, &[audit])?;
        self.outbox.store().durable().await?;
        let mut drafts: Vec<String> = settled.iter().filter_map(|e| e.draft_id.clone()).collect();
        drafts.dedup();
        for d in drafts {
            refresh_draft(&self.outbox, &self.drafts, &self.lock, &d, actor).await?;
        }
        self.outbox.wake();
        Ok(self.drafts.get(id)?.unwrap_or(draft))
    }

    fn get(&self, id: &str) -> Result<Draft, DecideError> {
        self.drafts
            .get(id)?
            .ok_or_else(|| DecideError::NotFound(id.to_string()))
    }
}
