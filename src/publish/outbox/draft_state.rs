//! A published draft's state, worked out from its publishers' entries: `conflict` while one
//! waits for an admin, `failed` while one gave up, `published` otherwise.

use chrono::Utc;
use serde_json::json;
use tokio::sync::Mutex;

use super::{Entry, EntryState, Outbox};
use crate::audit::AuditEntry;
use crate::draft::{Drafts, ExtraWrites};
use crate::store::Result;
use crate::vocab::DraftState;

/// Sets the draft's state from its entries as stored; used by the delivery worker and by
/// the API after an admin's decision.
pub async fn refresh_draft(
    outbox: &Outbox,
    drafts: &Drafts,
    lock: &Mutex<()>,
    draft_id: &str,
    actor: &str,
) -> Result<()> {
    if refresh_draft_with(outbox, drafts, lock, draft_id, actor, &[], None).await? {
        outbox.store().durable().await?;
    }
    Ok(())
}

/// Sets the draft's state from its entries as they will be once `settling` (entries not
/// yet written) is written, with `with` in the same transaction. Returns whether it wrote:
/// when the state does not change, nothing is written, `with` neither. Not made durable.
pub async fn refresh_draft_with(
    outbox: &Outbox,
    drafts: &Drafts,
    lock: &Mutex<()>,
    draft_id: &str,
    actor: &str,
    settling: &[Entry],
    with: Option<ExtraWrites<'_>>,
) -> Result<bool> {
    let mut entries: Vec<Entry> = outbox.for_draft(draft_id)?;
    for e in settling {
        match entries.iter_mut().find(|stored| stored.id == e.id) {
            Some(stored) => *stored = e.clone(),
            None if e.draft_id.as_deref() == Some(draft_id) => entries.push(e.clone()),
            None => {}
        }
    }
    entries.retain(|e| !e.target.starts_with("subscriber:"));
    let conflict = entries
        .iter()
        .find(|e| e.state == EntryState::Conflict)
        .and_then(|e| e.conflict.clone());
    let failed = entries.iter().find(|e| e.state == EntryState::Failed);
    let (state, reason) = match (&conflict, failed) {
        (Some(c), _) => (
            DraftState::Conflict,
            Some(format!(
                "{}: {} was changed by hand; an admin chooses overwrite or theirs",
                c.target, c.field
            )),
        ),
        (None, Some(e)) => (
            DraftState::Failed,
            Some(format!(
                "{}: {}",
                e.target,
                e.last_error.clone().unwrap_or_default()
            )),
        ),
        (None, None) => (DraftState::Published, None),
    };
    let _guard = lock.lock().await;
    let Some(mut draft) = drafts.get(draft_id)? else {
        return Ok(false);
    };
    if !matches!(
        draft.state,
        DraftState::Published | DraftState::Failed | DraftState::Conflict
    ) || (draft.state == state && draft.conflict == conflict)
    {
        return Ok(false);
    }
    let now = Utc::now();
    let action = match state {
        DraftState::Conflict => "publish_conflict",
        DraftState::Failed => "publish_failed",
        _ => "published",
    };
    let detail = reason
        .clone()
        .unwrap_or_else(|| "delivered to every target".into());
    draft.state = state;
    draft.reason = reason;
    draft.conflict = conflict.clone();
    draft.updated_at = now;
    draft.log(now, actor, action, detail.clone());
    let entry = AuditEntry::new(now, actor, action)
        .draft(&draft.id, draft.revision)
        .detail(json!({"state": state, "detail": detail, "conflict": conflict}));
    match with {
        Some(with) => drafts.commit_with(&draft, &[entry], with)?,
        None => drafts.commit(&draft, None, None, &[entry])?,
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::draft::{Draft, Redactor, Templates};
    use crate::publish::outbox::event::Message;
    use crate::publish::subscribers::Subscribers;
    use crate::store::{Store, Tx, TxAbort};

    /// A failed delivery and the `failed` state it gives its draft are one write: when the
    /// transaction fails, neither is there; when it commits, both are.
    #[tokio::test]
    async fn a_delivery_outcome_and_the_draft_state_it_gives_are_written_together() {
        let (_dir, store) = Store::temporary();
        let templates = Arc::new(Templates::load(None).unwrap());
        let redactor = Arc::new(Redactor::new(&Default::default()));
        let drafts = Drafts::open(
            &store,
            templates,
            redactor,
            chrono::Duration::zero(),
            chrono::Duration::hours(1),
        )
        .unwrap();
        let outbox = Outbox::open(&store, Subscribers::open(&store).unwrap(), vec![]).unwrap();
        outbox.rebuild_index().unwrap();
        let draft: Draft = serde_json::from_value(json!({
            "id": "D-1", "incident_id": "I-1", "group_id": "g1", "kind": "new_incident",
            "state": "published", "revision": 1, "title": "API down", "body": "",
            "incident_status": "investigating", "impact": "major", "components": {},
            "alerts": [], "flapping": false,
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .unwrap();
        drafts.commit(&draft, None, None, &[]).unwrap();
        let queued = Entry::new(
            "0001".into(),
            "hosted",
            "g1",
            Some("D-1"),
            Message::ConfirmSubscription,
            Utc::now(),
        );
        store
            .transaction(&outbox.tables(), |tx| {
                outbox.write_in(tx, std::slice::from_ref(&queued))
            })
            .unwrap()
            .unwrap();
        let mut failed = queued.clone();
        failed.state = EntryState::Failed;
        failed.last_error = Some("answered 500".into());
        let settling = std::slice::from_ref(&failed);
        let lock = Mutex::new(());
        let tables = outbox.settle_tables();
        let state_now = || {
            let d = drafts.get("D-1").unwrap().unwrap();
            let e = outbox.for_draft("D-1").unwrap().remove(0);
            (d.state, e.state)
        };

        let refresh =
            |with| refresh_draft_with(&outbox, &drafts, &lock, "D-1", "system", settling, with);
        let refuse = |_: &Tx<'_>| Err(TxAbort::Rejected("refused".into()));
        assert!(refresh(Some((&tables, &refuse))).await.is_err());
        assert_eq!(state_now(), (DraftState::Published, EntryState::Pending));

        let settle = |tx: &Tx<'_>| outbox.settle_in(tx, settling, &[]);
        let wrote = refresh(Some((&tables, &settle))).await.unwrap();
        assert!(wrote);
        assert_eq!(state_now(), (DraftState::Failed, EntryState::Failed));
        let d = drafts.get("D-1").unwrap().unwrap();
        assert_eq!(d.reason.as_deref(), Some("hosted: answered 500"));
    }
}
