//! Moving all state between stores (sled → PostgreSQL when going to several replicas, and
//! back): one portable file of JSON lines, a header and then one record a line, in the same
//! form on both engines.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

/// The format version of the file; a file of a newer format is refused.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    statusgate_export: u32,
    /// Ids handed out so far: new ones after an import come after these.
    ids: u64,
    engine: String,
    exported_at: String,
}

#[derive(Serialize, Deserialize)]
struct Line {
    table: String,
    key: String,
    value: serde_json::Value,
}

/// Written to stderr after an import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: usize,
    pub tables: usize,
}

/// Keys that describe a store rather than its state.
pub(super) fn is_local(table: &str, key: &str) -> bool {
    // The readiness probe and the change counters replicas poll each other by.
    table == "meta" && (key == "probe" || key.starts_with("version/"))
}

/// Writes every record; returns how many.
pub fn export(store: &Store, out: &mut impl Write) -> Result<usize, StoreError> {
    let io = |e: std::io::Error| StoreError::Io(format!("cannot write the export: {e}"));
    let header = Header {
        statusgate_export: FORMAT,
        ids: store.next_id()?,
        engine: store.engine().to_string(),
        exported_at: chrono::Utc::now().to_rfc3339(),
    };
    serde_json::to_writer(&mut *out, &header).map_err(|e| StoreError::Io(e.to_string()))?;
    out.write_all(b"\n").map_err(io)?;
    let mut n = 0;
    for (table, key, value) in store.dump()? {
        if is_local(&table, &key) {
            continue;
        }
        serde_json::to_writer(&mut *out, &Line { table, key, value })
            .map_err(|e| StoreError::Io(e.to_string()))?;
        out.write_all(b"\n").map_err(io)?;
        n += 1;
    }
    out.flush().map_err(io)?;
    Ok(n)
}

/// Loads an export into an empty store. Refuses a store that holds state (an import never
/// merges) and a file that is not an export, naming the line that is wrong.
pub async fn import(store: &Store, input: impl BufRead) -> Result<ImportSummary, StoreError> {
    if !store.is_empty()? {
        return Err(StoreError::Io(
            "the store already holds state; import only into an empty one".into(),
        ));
    }
    let mut lines = input.lines();
    let first = lines
        .next()
        .ok_or_else(|| StoreError::Io("the export is empty".into()))?
        .map_err(|e| StoreError::Io(format!("cannot read the export: {e}")))?;
    let header: Header = serde_json::from_str(&first)
        .map_err(|e| StoreError::Io(format!("line 1 is not an export header: {e}")))?;
    if header.statusgate_export > FORMAT {
        return Err(StoreError::Io(format!(
            "the export is format {}, newer than this statusgate reads ({FORMAT})",
            header.statusgate_export
        )));
    }
    let mut summary = ImportSummary::default();
    let mut tables = std::collections::BTreeSet::new();
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| StoreError::Io(format!("cannot read the export: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Line = serde_json::from_str(&line)
            .map_err(|e| StoreError::Io(format!("line {}: {e}", i + 2)))?;
        store.load(&record.table, &record.key, &record.value)?;
        tables.insert(record.table);
        summary.records += 1;
    }
    store.raise_ids(header.ids)?;
    store.durable().await?;
    summary.tables = tables.len();
    Ok(summary)
}
