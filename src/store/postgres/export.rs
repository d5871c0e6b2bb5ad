//! `statusgate export` and `import` on PostgreSQL: every record out, and records loaded into
//! an empty database with the id sequence raised past them.

use super::{PgStore, UPSERT};
use crate::store::Result;

impl PgStore {
    pub(in crate::store) fn dump(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let rows = self.query(
            "SELECT tbl, key, value FROM statusgate_records ORDER BY tbl, key",
            vec![],
        )?;
        rows.into_iter()
            .map(|r| {
                let (table, key, value): (String, String, String) = (r.get(0), r.get(1), r.get(2));
                let value = crate::store::decode(&table, &key, value.as_bytes())?;
                Ok((table, key, value))
            })
            .collect()
    }

    pub(in crate::store) fn is_empty(&self) -> Result<bool> {
        let rows = self.query(
            "SELECT 1 FROM statusgate_records WHERE NOT (tbl = 'meta' AND key = 'probe') LIMIT 1",
            vec![],
        )?;
        Ok(rows.is_empty())
    }

    pub(in crate::store) fn load(
        &self,
        table: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        self.query(
            UPSERT,
            vec![
                Box::new(table.to_string()),
                Box::new(key.to_string()),
                Box::new(value.to_string()),
            ],
        )
        .map(|_| ())
    }

    pub(in crate::store) fn raise_ids(&self, floor: u64) -> Result<()> {
        self.query(
            "SELECT setval('statusgate_ids', GREATEST($1, (SELECT last_value FROM statusgate_ids)))",
            vec![Box::new(floor.min(i64::MAX as u64) as i64)],
        )
        .map(|_| ())
    }
}
