//! The tables of one transaction as the stages write them, on either engine.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, postgres, sled_engine, StoreError, Table};

/// The tables of one transaction, addressed by the tables passed to [`Store::transaction`].
pub struct Tx<'a> {
    pub(super) inner: TxEngine<'a>,
}

pub(super) enum TxEngine<'a> {
    Sled(sled_engine::SledTx<'a>),
    Postgres(&'a postgres::PgTx),
}

impl Tx<'_> {
    pub fn get<T: DeserializeOwned>(
        &self,
        table: &Table,
        key: &str,
    ) -> std::result::Result<Option<T>, TxAbort> {
        let raw = match &self.inner {
            TxEngine::Sled(tx) => tx.get(table.name, key)?,
            TxEngine::Postgres(tx) => tx.get(table.name, key)?,
        };
        Ok(raw
            .map(|bytes| decode(table.name, key, &bytes))
            .transpose()?)
    }

    pub fn put<T: Serialize>(
        &self,
        table: &Table,
        key: &str,
        value: &T,
    ) -> std::result::Result<(), TxAbort> {
        let bytes = encode(value)?;
        match &self.inner {
            TxEngine::Sled(tx) => tx.put(table.name, key, bytes),
            TxEngine::Postgres(tx) => tx.put(table.name, key, bytes),
        }
    }

    pub fn remove(&self, table: &Table, key: &str) -> std::result::Result<(), TxAbort> {
        match &self.inner {
            TxEngine::Sled(tx) => tx.remove(table.name, key),
            TxEngine::Postgres(tx) => tx.remove(table.name, key),
        }
    }

    /// Removes several keys at once (one statement on PostgreSQL).
    pub fn remove_many(&self, table: &Table, keys: &[String]) -> std::result::Result<(), TxAbort> {
        match &self.inner {
            TxEngine::Sled(tx) => keys.iter().try_for_each(|k| tx.remove(table.name, k)),
            TxEngine::Postgres(tx) => tx.remove_many(table.name, keys),
        }
    }

    /// Several keys at once, in the order given (one round trip on PostgreSQL).
    pub fn get_many<T: DeserializeOwned>(
        &self,
        table: &Table,
        keys: &[String],
    ) -> std::result::Result<Vec<Option<T>>, TxAbort> {
        let raw = match &self.inner {
            TxEngine::Sled(tx) => keys
                .iter()
                .map(|k| tx.get(table.name, k))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            TxEngine::Postgres(tx) => tx.get_many(table.name, keys)?,
        };
        keys.iter()
            .zip(raw)
            .map(|(k, bytes)| Ok(bytes.map(|b| decode(table.name, k, &b)).transpose()?))
            .collect()
    }

    /// Writes several records (distinct keys) at once.
    pub fn put_many<T: Serialize>(
        &self,
        table: &Table,
        records: &[(&str, &T)],
    ) -> std::result::Result<(), TxAbort> {
        let encoded = records
            .iter()
            .map(|(k, v)| Ok((k.to_string(), encode(v)?)))
            .collect::<std::result::Result<Vec<_>, StoreError>>()?;
        match &self.inner {
            TxEngine::Sled(tx) => {
                for (k, bytes) in encoded {
                    tx.put(table.name, &k, bytes)?;
                }
                Ok(())
            }
            TxEngine::Postgres(tx) => tx.put_many(table.name, encoded),
        }
    }

    /// Appends several values in order; their keys.
    pub fn append_many<T: Serialize>(
        &self,
        table: &Table,
        values: &[T],
    ) -> std::result::Result<Vec<String>, TxAbort> {
        let encoded = values
            .iter()
            .map(encode)
            .collect::<std::result::Result<Vec<_>, StoreError>>()?;
        match &self.inner {
            TxEngine::Sled(tx) => encoded
                .into_iter()
                .map(|bytes| tx.append(table.name, bytes))
                .collect(),
            TxEngine::Postgres(tx) => tx.append_many(table.name, encoded),
        }
    }

    /// Appends to an append-only table under the next sequence key, which it returns.
    pub fn append<T: Serialize>(
        &self,
        table: &Table,
        value: &T,
    ) -> std::result::Result<String, TxAbort> {
        let bytes = encode(value)?;
        match &self.inner {
            TxEngine::Sled(tx) => tx.append(table.name, bytes),
            TxEngine::Postgres(tx) => tx.append(table.name, bytes),
        }
    }
}

/// Why a transaction stopped: a storage failure, or a reason of the caller's own that
/// leaves everything unwritten.
#[derive(Debug, Clone)]
pub enum TxAbort {
    Store(StoreError),
    Rejected(String),
}

impl From<StoreError> for TxAbort {
    fn from(e: StoreError) -> Self {
        TxAbort::Store(e)
    }
}

/// A transaction's abort as the store error it stands for, for callers that have no
/// answer of their own to a rejection.
impl From<TxAbort> for StoreError {
    fn from(e: TxAbort) -> Self {
        match e {
            TxAbort::Store(e) => e,
            TxAbort::Rejected(r) => StoreError::Io(r),
        }
    }
}
