//! A transaction whose reads are named before it starts: read some keys of one table,
//! decide, write. It is the shape of the acknowledged ingest path, and on PostgreSQL it
//! costs two round trips however many records it reads and writes (the statements of each
//! half are pipelined), without blocking a runtime thread while the database answers.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, Engine, Result, Store, Table, Tx, TxAbort, TxEngine};

/// What a [`Store::read_then_write`] decided to write.
#[derive(Default, Clone)]
pub struct Writes {
    /// Records by table and key: a key written twice keeps its last value.
    pub(super) puts: BTreeMap<(&'static str, String), Vec<u8>>,
    /// Values appended under the next sequence keys, in order.
    pub(super) appends: Vec<(&'static str, Vec<u8>)>,
}

impl Writes {
    pub fn put<T: Serialize>(&mut self, table: &Table, key: &str, value: &T) -> Result<()> {
        self.puts
            .insert((table.name, key.to_string()), encode(value)?);
        Ok(())
    }

    pub fn append<T: Serialize>(&mut self, table: &Table, value: &T) -> Result<()> {
        self.appends.push((table.name, encode(value)?));
        Ok(())
    }

    fn apply(self, tx: &TxEngine<'_>) -> std::result::Result<(), TxAbort> {
        match tx {
            TxEngine::Sled(tx) => {
                for ((table, key), bytes) in self.puts {
                    tx.put(table, &key, bytes)?;
                }
                for (table, bytes) in self.appends {
                    tx.append(table, bytes)?;
                }
                Ok(())
            }
            TxEngine::Postgres(tx) => tx.write_all(self),
        }
    }
}

impl Store {
    /// Reads `keys` of `read` (locking them against concurrent writers on PostgreSQL), lets
    /// `decide` choose the writes from what it found, and commits them atomically over
    /// `tables`. `decide` may run more than once on conflicts, so it must have no effects
    /// outside its result.
    pub async fn read_then_write<T: DeserializeOwned, R>(
        &self,
        tables: &[&Table],
        read: &Table,
        keys: &[String],
        decide: impl Fn(Vec<Option<T>>) -> std::result::Result<(Writes, R), TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        match &self.engine {
            // A fenced writer keeps the transaction that checks its fence.
            Engine::Postgres(pg) if self.effective_fence().is_none() => {
                pg.read_then_write(read.name, keys, |raw| {
                    let found = keys
                        .iter()
                        .zip(raw)
                        .map(|(k, bytes)| bytes.map(|b| decode(read.name, k, &b)).transpose())
                        .collect::<Result<Vec<Option<T>>>>()?;
                    decide(found)
                })
                .await
            }
            _ => self.transaction(tables, |tx| {
                let (writes, result) = decide(tx.get_many(read, keys)?)?;
                writes.apply(&tx.inner)?;
                Ok(result)
            }),
        }
    }
}

impl Tx<'_> {
    /// Makes `writes` in this transaction.
    pub fn write(&self, writes: Writes) -> std::result::Result<(), TxAbort> {
        writes.apply(&self.inner)
    }
}
