//! The draft book's writes: a draft, its ledger and audit entries in one transaction,
//! then the notice to subscribers.

use super::*;

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

    pub(super) fn commit_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.ledgers.put(&ledger.group_id, ledger)
    }

    /// Saves a ledger (approval records publication in it).
    pub fn save_ledger(&self, ledger: &Ledger) -> Result<()> {
        self.commit_ledger(ledger)
    }
}
