//! Claims: keys (outbox entries) held by one replica at a time, each a row locked with
//! `FOR UPDATE SKIP LOCKED` in a transaction that stays open while the work runs.

use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_postgres::Object;

use super::{classify, PgStore};
use crate::store::Result;

/// An open claim; dropping it ends the transaction and frees its keys.
pub(crate) struct PgClaim {
    store: PgStore,
    scope: String,
    keys: Vec<String>,
    client: Option<Object>,
}

impl PgStore {
    /// Claims whichever of `keys` in `scope` no other replica holds; `None` when it holds
    /// them all. A claim whose holder stalls for `stall` (a paused process) is ended by the
    /// server.
    pub(crate) fn claim(
        &self,
        scope: &str,
        keys: &[String],
        stall: Duration,
    ) -> Result<Option<(PgClaim, BTreeSet<String>)>> {
        let (pg, scope, keys) = (self.clone(), scope.to_string(), keys.to_vec());
        let timeout = format!("{}ms", stall.as_millis().max(1000));
        let claimed = self.block(async move {
            let client = pg.client().await?;
            // The rows exist only while some replica works on them (see Drop).
            client
                .execute(
                    "INSERT INTO statusgate_claims (scope, key) SELECT $1, unnest($2::text[]) \
                     ON CONFLICT DO NOTHING",
                    &[&scope, &keys],
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
                    "SELECT key FROM statusgate_claims WHERE scope = $1 AND key = ANY($2) \
                     FOR UPDATE SKIP LOCKED",
                    &[&scope, &keys],
                )
                .await
                .map_err(classify)?;
            if rows.is_empty() {
                client.batch_execute("ROLLBACK").await.map_err(classify)?;
                return Ok(None);
            }
            let held: BTreeSet<String> = rows.iter().map(|r| r.get(0)).collect();
            Ok(Some((client, scope, held)))
        })?;
        Ok(claimed.map(|(client, scope, held)| {
            let claim = PgClaim {
                store: self.clone(),
                scope,
                keys: held.iter().cloned().collect(),
                client: Some(client),
            };
            (claim, held)
        }))
    }
}

impl Drop for PgClaim {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let (scope, keys) = (
                std::mem::take(&mut self.scope),
                std::mem::take(&mut self.keys),
            );
            // Not awaited: the connection goes back to the pool once the claim is ended
            // (or is dropped when the server already ended it). Deleting the rows under
            // the lock keeps the table as small as the work in flight.
            self.store.inner.handle.spawn(async move {
                let ended = async {
                    client
                        .execute(
                            "DELETE FROM statusgate_claims WHERE scope = $1 AND key = ANY($2)",
                            &[&scope, &keys],
                        )
                        .await?;
                    client.batch_execute("COMMIT").await
                };
                if ended.await.is_err() {
                    drop(Object::take(client));
                }
            });
        }
    }
}
