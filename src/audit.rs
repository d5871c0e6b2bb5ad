//! The audit log: every step, append-only. Entries are written in the same transaction as
//! the change they describe, so the log never claims what did not happen.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Result, Store, Table, Tx, TxAbort};

pub const AUDIT_TABLE: &str = "audit";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// A token's name, a chat user, or a source (`alertmanager`, `pagerduty`, `statusgate`).
    pub actor: String,
    pub action: String,
    pub draft_id: Option<String>,
    pub revision: Option<u32>,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn new(at: DateTime<Utc>, actor: &str, action: &str) -> Self {
        AuditEntry {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            draft_id: None,
            revision: None,
            detail: serde_json::Value::Null,
        }
    }

    pub fn draft(mut self, id: &str, revision: u32) -> Self {
        self.draft_id = Some(id.to_string());
        self.revision = Some(revision);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Reads and appends audit entries.
#[derive(Clone)]
pub struct Audit {
    table: Table,
}

/// An audit entry with its position, for paging.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Positioned {
    pub seq: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

impl Audit {
    pub fn open(store: &Store) -> Result<Audit> {
        Ok(Audit {
            table: store.table(AUDIT_TABLE)?,
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Appends inside a transaction that includes the audit table.
    pub fn append_in(&self, tx: &Tx<'_>, entry: &AuditEntry) -> std::result::Result<(), TxAbort> {
        tx.append(&self.table, entry).map(|_| ())
    }

    /// Newest first, `limit` at most, before position `before`, optionally for one draft.
    pub fn list(
        &self,
        before: Option<&str>,
        limit: usize,
        draft_id: Option<&str>,
        action: Option<&str>,
    ) -> Result<Vec<Positioned>> {
        let mut out = Vec::new();
        let mut cursor = before.map(str::to_string);
        // Filtering happens while paging back, in bounded steps.
        loop {
            let page = self.table.scan_back::<AuditEntry>(cursor.as_deref(), 500)?;
            let Some((last, _)) = page.last() else { break };
            cursor = Some(last.clone());
            for (seq, entry) in page {
                if draft_id.is_some_and(|d| entry.draft_id.as_deref() != Some(d)) {
                    continue;
                }
                if action.is_some_and(|a| entry.action != a) {
                    continue;
                }
                out.push(Positioned { seq, entry });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}
