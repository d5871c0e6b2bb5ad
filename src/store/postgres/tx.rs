//! One open PostgreSQL transaction behind the stages' synchronous `Tx`: each statement
//! moves the connection to the database runtime and back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use deadpool_postgres::Object;

use super::{
    by_key, classify, first_value, is_retryable, key_args, text, Args, PgStore, FENCE_CHECK, GET,
    LOCK_KEYS, READ_KEYS, REMOVE_KEYS, UPSERT,
};
use crate::store::{seq_key, Fence, Result, StoreError, TxAbort};

/// One open transaction. Its connection moves to the database runtime for each call and
/// back, since the caller's closure is synchronous.
pub(crate) struct PgTx {
    store: PgStore,
    client: Mutex<Option<Object>>,
    /// A statement hit a serialization conflict: the whole closure runs again.
    pub(crate) conflict: AtomicBool,
}

impl PgTx {
    pub(crate) fn begin(store: &PgStore, fence: Option<&Fence>) -> Result<PgTx> {
        let fenced = fence.map(|f| (f.work().to_string(), f.holder().to_string(), f.current()));
        let begin = if fence.is_some_and(Fence::lazy_commit) {
            "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit TO OFF"
        } else {
            "BEGIN ISOLATION LEVEL READ COMMITTED"
        };
        let pg = store.clone();
        let client = store.block(async move {
            let client = pg.client().await?;
            let Some((work, holder, epoch)) = fenced else {
                client.batch_execute(begin).await.map_err(classify)?;
                return Ok(client);
            };
            let Some(epoch) = epoch else {
                return Err(StoreError::Fenced { work });
            };
            // BEGIN and the fence check go together: one round trip.
            let check = client.prepare_cached(FENCE_CHECK).await.map_err(classify)?;
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&work, &holder, &epoch];
            let (begun, held) =
                tokio::join!(client.batch_execute(begin), client.query(&check, &args));
            match begun.and(held) {
                Ok(rows) if !rows.is_empty() => Ok(client),
                outcome => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(outcome.err().map_or(StoreError::Fenced { work }, classify))
                }
            }
        })?;
        Ok(PgTx {
            store: store.clone(),
            client: Mutex::new(Some(client)),
            conflict: AtomicBool::new(false),
        })
    }

    /// One statement inside the transaction.
    pub(crate) fn run(
        &self,
        sql: &'static str,
        args: Args,
    ) -> std::result::Result<Vec<tokio_postgres::Row>, TxAbort> {
        let client = self
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| TxAbort::Store(StoreError::Io("transaction already ended".into())))?;
        let (client, r) = self
            .store
            .block(async move {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a.as_ref() as _).collect();
                let r = match client.prepare_cached(sql).await {
                    Ok(statement) => client.query(&statement, &refs).await.map_err(classify),
                    Err(e) => Err(classify(e)),
                };
                Ok((client, r))
            })
            .map_err(TxAbort::Store)?;
        *self.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(client);
        if let Err(e) = &r {
            if is_retryable(e) {
                self.conflict.store(true, Ordering::Relaxed);
            }
        }
        r.map_err(TxAbort::Store)
    }

    /// Commits (or rolls back); the connection goes back to the pool only when clean.
    pub(crate) fn finish(self, commit: bool) -> Result<()> {
        let Some(client) = self.client.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Err(StoreError::Io("transaction already ended".into()));
        };
        let statement = if commit { "COMMIT" } else { "ROLLBACK" };
        self.store.block(async move {
            match client.batch_execute(statement).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    // Not returned to the pool in an unknown state.
                    drop(Object::take(client));
                    Err(classify(e))
                }
            }
        })
    }

    pub(crate) fn get(
        &self,
        table: &'static str,
        key: &str,
    ) -> std::result::Result<Option<Vec<u8>>, TxAbort> {
        self.lock_keys(table, &[key.to_string()])?;
        Ok(first_value(&self.run(GET, key_args(table, key))?))
    }

    /// Locks keys for the rest of the transaction, in key order (so that two transactions
    /// locking several keys cannot wait on each other in a cycle). Its own statement: the
    /// read after it sees what an earlier holder committed.
    fn lock_keys(&self, table: &'static str, keys: &[String]) -> std::result::Result<(), TxAbort> {
        self.run(LOCK_KEYS, vec![Box::new(table), Box::new(keys.to_vec())])
            .map(|_| ())
    }

    pub(crate) fn put(
        &self,
        table: &'static str,
        key: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), TxAbort> {
        self.run(
            UPSERT,
            vec![
                Box::new(table),
                Box::new(key.to_string()),
                Box::new(text(bytes)?),
            ],
        )
        .map(|_| ())
    }

    pub(crate) fn remove(
        &self,
        table: &'static str,
        key: &str,
    ) -> std::result::Result<(), TxAbort> {
        self.run(
            "DELETE FROM statusgate_records WHERE tbl = $1 AND key = $2",
            key_args(table, key),
        )
        .map(|_| ())
    }

    pub(crate) fn remove_many(
        &self,
        table: &'static str,
        keys: &[String],
    ) -> std::result::Result<(), TxAbort> {
        if keys.is_empty() {
            return Ok(());
        }
        self.run(REMOVE_KEYS, vec![Box::new(table), Box::new(keys.to_vec())])
            .map(|_| ())
    }

    pub(crate) fn get_many(
        &self,
        table: &'static str,
        keys: &[String],
    ) -> std::result::Result<Vec<Option<Vec<u8>>>, TxAbort> {
        self.lock_keys(table, keys)?;
        let found = self.run(READ_KEYS, vec![Box::new(table), Box::new(keys.to_vec())])?;
        Ok(by_key(keys, found))
    }

    pub(crate) fn put_many(
        &self,
        table: &'static str,
        records: Vec<(String, Vec<u8>)>,
    ) -> std::result::Result<(), TxAbort> {
        if records.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::with_capacity(records.len());
        let mut values = Vec::with_capacity(records.len());
        for (k, v) in records {
            keys.push(k);
            values.push(text(v)?);
        }
        self.run(
            "INSERT INTO statusgate_records (tbl, key, value)
             SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS u(k, v)
             ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value",
            vec![Box::new(table), Box::new(keys), Box::new(values)],
        )
        .map(|_| ())
    }

    pub(crate) fn append_many(
        &self,
        table: &'static str,
        values: Vec<Vec<u8>>,
    ) -> std::result::Result<Vec<String>, TxAbort> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let values = values.into_iter().map(text).collect::<Result<Vec<_>>>()?;
        // unnest yields the values in order, and each row takes the next id as it is made.
        let rows = self.run(
            "INSERT INTO statusgate_records (tbl, key, value)
             SELECT $1, lpad(nextval('statusgate_ids')::text, 20, '0'), v
             FROM unnest($2::text[]) WITH ORDINALITY AS u(v, n)
             RETURNING key",
            vec![Box::new(table), Box::new(values)],
        )?;
        let mut keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        keys.sort();
        Ok(keys)
    }

    pub(crate) fn append(
        &self,
        table: &'static str,
        bytes: Vec<u8>,
    ) -> std::result::Result<String, TxAbort> {
        let rows = self.run(
            "INSERT INTO statusgate_records (tbl, key, value)
             VALUES ($1, lpad(nextval('statusgate_ids')::text, 20, '0'), $2)
             RETURNING key",
            vec![Box::new(table), Box::new(text(bytes)?)],
        )?;
        let key: String = rows
            .first()
            .map(|r| r.get(0))
            .ok_or_else(|| TxAbort::Store(StoreError::Io("append returned no key".into())))?;
        debug_assert_eq!(key.len(), seq_key(0).len());
        Ok(key)
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        // A transaction left open (a panic in the closure) must not go back to the pool.
        if let Some(client) = self.client.lock().unwrap_or_else(|e| e.into_inner()).take() {
            drop(Object::take(client));
        }
    }
}
