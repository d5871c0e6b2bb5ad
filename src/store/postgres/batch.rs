//! [`Store::read_then_write`](crate::store::Store::read_then_write) on PostgreSQL: the
//! reads in one pipelined exchange (BEGIN, key locks, SELECT), the writes and the commit in
//! a second one, each run on the database runtime as a whole rather than one statement at a
//! time, so a group commit of the ingest path costs two round trips.

use deadpool_postgres::Object;

use super::{
    backoff, by_key, classify, is_retryable, text, PgStore, PgTx, LOCK_KEYS, MAX_ATTEMPTS,
    READ_KEYS,
};
use crate::store::{Result, TxAbort, Writes};

/// Puts (a key) and appends (no key: the next id, taken in order as unnest yields the
/// rows) of any tables, in one statement.
const WRITE_ALL: &str = "INSERT INTO statusgate_records (tbl, key, value)
     SELECT t, COALESCE(k, lpad(nextval('statusgate_ids')::text, 20, '0')), v
     FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, k, v)
     ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value";

/// The rows of one [`WRITE_ALL`]: tables, keys (none for an append) and values.
type WriteRows = (Vec<&'static str>, Vec<Option<String>>, Vec<String>);

fn write_rows(writes: Writes) -> Result<WriteRows> {
    let n = writes.puts.len() + writes.appends.len();
    let (mut tables, mut keys, mut values) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((table, key), bytes) in writes.puts {
        tables.push(table);
        keys.push(Some(key));
        values.push(text(bytes)?);
    }
    for (table, bytes) in writes.appends {
        tables.push(table);
        keys.push(None);
        values.push(text(bytes)?);
    }
    Ok((tables, keys, values))
}

impl PgStore {
    pub(crate) async fn read_then_write<R>(
        &self,
        table: &'static str,
        keys: &[String],
        decide: impl Fn(Vec<Option<Vec<u8>>>) -> std::result::Result<(Writes, R), TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (client, found) = self.read_locked(table, keys.to_vec()).await?;
            let (writes, result) = match decide(found) {
                Ok(decided) => decided,
                Err(abort) => {
                    self.end(client, "ROLLBACK").await?;
                    return Ok(Err(abort));
                }
            };
            let written = match write_rows(writes) {
                Ok(rows) => self.write_and_commit(client, rows).await,
                Err(e) => self.end(client, "ROLLBACK").await.and(Err(e)),
            };
            match written {
                Ok(()) => return Ok(Ok(result)),
                Err(e) if is_retryable(&e) && attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// BEGIN, the key locks and the read, sent together; the connection stays in the
    /// transaction.
    async fn read_locked(
        &self,
        table: &'static str,
        keys: Vec<String>,
    ) -> Result<(Object, Vec<Option<Vec<u8>>>)> {
        let pg = self.clone();
        self.spawn(async move {
            let client = pg.client().await?;
            let lock = client.prepare_cached(LOCK_KEYS).await.map_err(classify)?;
            let read = client.prepare_cached(READ_KEYS).await.map_err(classify)?;
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&table, &keys];
            let (begun, locked, found) = tokio::join!(
                client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
                client.query(&lock, &args),
                client.query(&read, &args),
            );
            match begun.and(locked).and(found) {
                Ok(found) => Ok((client, by_key(&keys, found))),
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(classify(e))
                }
            }
        })
        .await
    }

    /// The writes and COMMIT, sent together. A failed write makes the COMMIT a rollback.
    async fn write_and_commit(&self, client: Object, rows: WriteRows) -> Result<()> {
        self.spawn(async move {
            let (tables, keys, values) = rows;
            let write = client.prepare_cached(WRITE_ALL).await;
            let write = match write {
                Ok(w) => w,
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(classify(e));
                }
            };
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] = [&tables, &keys, &values];
            let (written, committed) = tokio::join!(
                client.execute(&write, &args),
                client.batch_execute("COMMIT"),
            );
            match written.and(committed) {
                Ok(()) => Ok(()),
                Err(e) => {
                    if e.code().is_none() {
                        // Not returned to the pool in an unknown state.
                        drop(Object::take(client));
                    }
                    Err(classify(e))
                }
            }
        })
        .await
    }

    async fn end(&self, client: Object, statement: &'static str) -> Result<()> {
        self.spawn(async move {
            client.batch_execute(statement).await.map_err(|e| {
                drop(Object::take(client));
                classify(e)
            })
        })
        .await
    }
}

impl PgTx {
    /// [`Writes`] inside an open transaction (the fenced path): one statement.
    pub(crate) fn write_all(&self, writes: Writes) -> std::result::Result<(), TxAbort> {
        let (tables, keys, values) = write_rows(writes)?;
        if tables.is_empty() {
            return Ok(());
        }
        self.run(
            WRITE_ALL,
            vec![Box::new(tables), Box::new(keys), Box::new(values)],
        )
        .map(|_| ())
    }
}
