//! Claims: work on one key (the deliveries to one target) held by one replica at a time,
//! taken with `FOR UPDATE SKIP LOCKED` in a transaction that stays open while the work runs.

use std::time::Duration;

use deadpool_postgres::Object;

use super::{classify, PgStore};
use crate::store::Result;

/// An open claim; dropping it ends the transaction and frees the key.
pub(crate) struct PgClaim {
    store: PgStore,
    client: Option<Object>,
}

impl PgStore {
    /// Claims `key` in `scope` unless another replica holds it (`None`). A claim whose
    /// holder stalls for `stall` (a paused process) is ended by the server.
    pub(crate) fn claim(&self, scope: &str, key: &str, stall: Duration) -> Result<Option<PgClaim>> {
        let (pg, scope, key) = (self.clone(), scope.to_string(), key.to_string());
        let timeout = format!("{}ms", stall.as_millis().max(1000));
        let client = self.block(async move {
            let client = pg.client().await?;
            client
                .execute(
                    "INSERT INTO statusgate_claims (scope, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&scope, &key],
                )
                .await
                .map_err(classify)?;
            client
                .batch_execute(&format!(
                    "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '{timeout}'"
                ))
                .await
                .map_err(classify)?;
            let rows = client
                .query(
                    "SELECT 1 FROM statusgate_claims WHERE scope = $1 AND key = $2 FOR UPDATE SKIP LOCKED",
                    &[&scope, &key],
                )
                .await
                .map_err(classify)?;
            if rows.is_empty() {
                client.batch_execute("ROLLBACK").await.map_err(classify)?;
                return Ok(None);
            }
            Ok(Some(client))
        })?;
        Ok(client.map(|c| PgClaim {
            store: self.clone(),
            client: Some(c),
        }))
    }
}

impl Drop for PgClaim {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Not awaited: the connection goes back to the pool once the claim is ended
            // (or is dropped when the server already ended it).
            self.store.inner.handle.spawn(async move {
                if client.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(client));
                }
            });
        }
    }
}
