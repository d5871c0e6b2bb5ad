//! The draft book's writes: a draft, its ledger and audit entries in one transaction,
//! then the notice to subscribers.

use super::*;

/// What replicas announce to each other when a draft changed.
pub const DRAFTS_TOPIC: &str = "drafts";

/// Why a draft write was refused: the stored draft moved on.
const STALE: &str = "the draft changed meanwhile";

impl Drafts {
    /// Writes a draft, its ledger (or removes the ledger) and audit entries atomically,
    /// then makes it durable.
    pub fn commit(
        &self,
        draft: &Draft,
        ledger: Option<&Ledger>,
        remove_ledger: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        not_written_over(self.write(draft, ledger, remove_ledger, audit, None, None)?)
    }

    /// [`Drafts::commit`] with more writes in the same transaction (a decided draft's state
    /// with the deliveries that decided it).
    pub fn commit_with(
        &self,
        draft: &Draft,
        audit: &[AuditEntry],
        extra: ExtraWrites<'_>,
    ) -> Result<()> {
        not_written_over(self.write(draft, None, None, audit, Some(extra), None)?)
    }

    /// A person's decision or edit of the pending revision `revision`, written only if the
    /// stored draft is still exactly that: a compare-and-set, so that of two approvals on
    /// two replicas one wins and the other learns what the draft is now (`Err`).
    pub fn decide(
        &self,
        draft: &Draft,
        revision: u32,
        ledger: Option<&Ledger>,
        audit: &[AuditEntry],
        extra: Option<ExtraWrites<'_>>,
    ) -> Result<std::result::Result<(), Draft>> {
        self.write(draft, ledger, None, audit, extra, Some(revision))
    }

    /// The one transaction behind every draft write. A pending draft is never written over
    /// a decided one (the pipeline revising what a person just approved elsewhere), and
    /// with `pending_revision` the stored draft must still be pending at that revision.
    fn write(
        &self,
        draft: &Draft,
        ledger: Option<&Ledger>,
        remove_ledger: Option<&str>,
        audit: &[AuditEntry],
        extra: Option<ExtraWrites<'_>>,
        pending_revision: Option<u32>,
    ) -> Result<std::result::Result<(), Draft>> {
        // The ledger as stored: it notes when the pending draft was written, so that the
        // timers need not read the draft until it may have expired.
        let ledger = ledger.map(|l| {
            if l.pending.as_ref() == Some(&draft.id) && draft.state == DraftState::Pending {
                let mut l = l.clone();
                l.pending_seen = Some((draft.id.clone(), draft.updated_at));
                std::borrow::Cow::Owned(l)
            } else {
                std::borrow::Cow::Borrowed(l)
            }
        });
        let found = std::sync::Mutex::new(None);
        let mut tables = vec![&self.drafts, &self.open, &self.ledgers, self.audit.table()];
        if let Some((more, _)) = &extra {
            for t in more.iter().copied() {
                // A table named twice would be two views of one tree in one transaction.
                if !tables.iter().any(|have| have.name() == t.name()) {
                    tables.push(t);
                }
            }
        }
        let outcome = self.store.transaction(&tables, |tx| {
            if let Some(stored) = tx.get::<Draft>(&self.drafts, &draft.id)? {
                let reopened =
                    stored.state != DraftState::Pending && draft.state == DraftState::Pending;
                let moved = pending_revision
                    .is_some_and(|r| stored.state != DraftState::Pending || stored.revision != r);
                if reopened || moved {
                    *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(stored);
                    return Err(TxAbort::Rejected(STALE.into()));
                }
            }
            if let Some((_, write)) = &extra {
                write(tx)?;
            }
            tx.put(&self.drafts, &draft.id, draft)?;
            if is_open(draft.state) {
                tx.put(&self.open, &draft.id, &draft.state)?;
            } else {
                tx.remove(&self.open, &draft.id)?;
            }
            if let Some(l) = &ledger {
                tx.put(&self.ledgers, &l.group_id, &**l)?;
            }
            if let Some(id) = remove_ledger {
                tx.remove(&self.ledgers, id)?;
            }
            for e in audit {
                self.audit.append_in(tx, e)?;
            }
            Ok(())
        })?;
        match outcome {
            Ok(()) => {}
            Err(TxAbort::Rejected(r)) if r == STALE => {
                let current = found.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(current) = current {
                    return Ok(Err(current));
                }
                return Err(StoreError::Io(r));
            }
            Err(TxAbort::Store(e)) => return Err(e),
            Err(TxAbort::Rejected(r)) => return Err(StoreError::Io(r)),
        }
        // After the commit: a timers pass that began before it reads the ledger as it was,
        // and this lowers what that pass concludes.
        if let Some(l) = &ledger {
            self.timers.note(self.due(l, l.seen_pending()));
        }
        if draft.state != DraftState::Pending {
            // A decision may release an update deferred behind the draft.
            self.timers.forget();
        }
        // Replicas that did not make the change learn of it this way.
        self.store.announce(DRAFTS_TOPIC, false);
        // Nobody listening is fine.
        let _ = self.notices.send(DraftNotice {
            draft: draft.clone(),
            actions: audit.iter().map(|e| e.action.clone()).collect(),
        });
        Ok(Ok(()))
    }

    pub(super) fn commit_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.ledgers.put(&ledger.group_id, ledger)?;
        self.timers.note(self.due(ledger, ledger.seen_pending()));
        Ok(())
    }

    /// Saves a ledger (approval records publication in it).
    pub fn save_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.commit_ledger(ledger)
    }
}

/// A write that found a decided draft where it would have put a pending one is an error.
fn not_written_over(written: std::result::Result<(), Draft>) -> Result<()> {
    written.map_err(|current| {
        StoreError::Io(format!(
            "draft {} was decided meanwhile ({}); not written over",
            current.id,
            current.state.as_str()
        ))
    })
}
