//! Durable storage. sled lives behind this small interface so that a shared backend can be
//! added for several replicas; the store knows no stage and no transport: it stores JSON
//! documents in named tables and makes writes durable with group commit.

mod commit;
mod space;

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use commit::GroupCommit;
pub use space::{Space, Volume, DEFAULT_RESERVE};

/// Why storage failed. Callers answer 503 so that senders retry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage is almost full: {free} bytes free, {reserve} kept in reserve")]
    Full { free: u64, reserve: u64 },
    #[error("storage is almost out of inodes: {free} free, {reserve} kept in reserve")]
    NoInodes { free: u64, reserve: u64 },
    #[error("storage unavailable: {0}")]
    Io(String),
    /// A flush that did not finish in time: unhealthy while it hangs, fine once it ends.
    #[error("storage unavailable: {0}")]
    Unconfirmed(String),
    #[error("stored record `{key}` in `{table}` is unreadable: {reason}")]
    Corrupt {
        table: String,
        key: String,
        reason: String,
    },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    commit: Arc<GroupCommit>,
    space: Arc<Space>,
    /// Set when sled itself failed a write; only reopening (a restart) clears it.
    failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// Opens (or creates) the database in `dir` with the default reserve.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_with_reserve(dir, DEFAULT_RESERVE)
    }

    /// Opens (or creates) the database in `dir`, keeping `reserve` bytes free (never more
    /// than a tenth of the volume). A volume with less free opens all the same: writes are
    /// refused until space returns, so the service can say so instead of exiting.
    pub fn open_with_reserve(dir: &Path, reserve: u64) -> Result<Store> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir)
            // sled's default cache is 1 GiB; hot data (drafts, groups, recent alerts) is small.
            .cache_capacity(32 << 20)
            // Durability comes from explicit group commits, not from a timer.
            .flush_every_ms(Some(1000))
            .open()?;
        let commit = Arc::new(GroupCommit::start(db.clone()));
        Ok(Store {
            db,
            commit,
            space: Arc::new(Space::new(dir, reserve)),
            failed: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Refuses writes while free space (bytes or inodes) is below the reserve.
    pub fn check_space(&self) -> Result<()> {
        self.space.check()
    }

    /// Start-up is over: from now on writes keep the reserve. Until then the few small
    /// start-up writes go through, so that a volume with too little space starts (not
    /// ready, ingest refused) and recovers once space returns, instead of exiting.
    pub fn started(&self) {
        self.space.enforce();
    }

    /// False once sled failed a write or a flush never finished: only reopening the
    /// database (a restart) clears it.
    pub fn is_healthy(&self) -> bool {
        !self.failed.load(std::sync::atomic::Ordering::Relaxed) && !self.commit.is_stuck()
    }

    fn note(&self, e: &StoreError) {
        if matches!(e, StoreError::Io(_)) {
            self.failed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A named table; created on first use.
    pub fn table(&self, name: &'static str) -> Result<Table> {
        Ok(Table {
            name,
            tree: self.db.open_tree(name)?,
            space: self.space.clone(),
        })
    }

    /// Waits until every write made before the call is on disk. Concurrent callers share
    /// one flush (group commit): one flush per request is pathologically slow under load.
    pub async fn durable(&self) -> Result<()> {
        let r = self.commit.wait().await;
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }

    /// A unique, increasing number (survives restarts).
    pub fn next_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Runs `f` atomically over several tables. `f` may run more than once on conflicts,
    /// so it must not have side effects outside the transaction.
    pub fn transaction<R>(
        &self,
        tables: &[&Table],
        f: impl Fn(&Tx<'_>) -> std::result::Result<R, TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        self.check_space()?;
        let trees: Vec<&sled::Tree> = tables.iter().map(|t| &t.tree).collect();
        let names: Vec<&'static str> = tables.iter().map(|t| t.name).collect();
        let outcome = trees.as_slice().transaction(|txs| {
            let tx = Tx {
                names: &names,
                trees: txs,
            };
            f(&tx).map_err(ConflictableTransactionError::Abort)
        });
        match outcome {
            Ok(r) => Ok(Ok(r)),
            Err(TransactionError::Abort(TxAbort::Store(e))) => Err(e),
            Err(TransactionError::Abort(abort)) => Ok(Err(abort)),
            Err(TransactionError::Storage(e)) => {
                let e = StoreError::from(e);
                self.note(&e);
                Err(e)
            }
        }
    }

    /// The next value of a named counter (1, 2, 3, …), for human-friendly ids.
    pub fn counter(&self, name: &str) -> Result<u64> {
        let meta = self.db.open_tree("meta")?;
        let key = format!("counter/{name}");
        let next = meta.update_and_fetch(key.as_bytes(), |old| {
            let n = old
                .and_then(|b| serde_json::from_slice::<u64>(b).ok())
                .unwrap_or(0);
            serde_json::to_vec(&(n + 1)).ok()
        })?;
        next.and_then(|b| serde_json::from_slice::<u64>(&b).ok())
            .ok_or_else(|| StoreError::Io(format!("counter {name} unreadable")))
    }

    /// Flushes done so far (group commit shares them between writers).
    pub fn flushes(&self) -> u64 {
        self.commit.flushes()
    }

    /// Bytes used on disk.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Writes and flushes a probe record: readiness means "can take a write now".
    pub async fn probe(&self) -> Result<()> {
        self.check_space()?;
        let meta = self.table("meta")?;
        meta.put("probe", &chrono::Utc::now().to_rfc3339())?;
        self.durable().await
    }
}

/// One named table of JSON documents keyed by strings.
#[derive(Clone)]
pub struct Table {
    name: &'static str,
    tree: sled::Tree,
    space: Arc<Space>,
}

impl Table {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.tree.get(key.as_bytes())? {
            Some(bytes) => decode(self.name, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.space.check()?;
        self.tree.insert(key.as_bytes(), encode(value)?)?;
        Ok(())
    }

    pub fn remove(&self, key: &str) -> Result<()> {
        self.tree.remove(key.as_bytes())?;
        Ok(())
    }

    /// Removes several keys in one atomic batch.
    pub fn remove_all(&self, keys: &[String]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.as_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    pub fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.tree.contains_key(key.as_bytes())?)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Every record in key order. A record that does not decode is an error, not skipped:
    /// silently losing data is worse than failing loudly.
    pub fn scan<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        self.scan_prefix("")
    }

    pub fn scan_prefix<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let value = decode(self.name, &key, &v)?;
            out.push((key, value));
        }
        Ok(out)
    }

    /// Records with keys after `after` (all when `None`), in key order, decoded lazily.
    pub fn iter_from<T: DeserializeOwned>(
        &self,
        after: Option<&str>,
    ) -> Result<impl Iterator<Item = Result<T>> + '_> {
        use std::ops::Bound;
        let start = match after {
            Some(k) => Bound::Excluded(k.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        Ok(self
            .tree
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .map(move |item| {
                let (k, v) = item?;
                decode(self.name, &String::from_utf8_lossy(&k), &v)
            }))
    }

    /// The first `limit` records in key order.
    pub fn first<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<(String, T)>> {
        let mut out = Vec::new();
        for item in self.tree.iter().take(limit) {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            out.push((key.clone(), decode(self.name, &key, &v)?));
        }
        Ok(out)
    }

    /// The last `limit` records with keys below `before` (all when `None`), newest first.
    pub fn scan_back<T: DeserializeOwned>(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>> {
        let iter = match before {
            Some(b) => self.tree.range(..b.as_bytes().to_vec()),
            None => self.tree.range::<Vec<u8>, _>(..),
        };
        let mut out = Vec::new();
        for item in iter.rev().take(limit) {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            out.push((key.clone(), decode(self.name, &key, &v)?));
        }
        Ok(out)
    }
}

/// Keys for append-only tables: zero-padded so that string order is numeric order.
pub fn seq_key(n: u64) -> String {
    format!("{n:020}")
}

/// The tables of one transaction, addressed by the tables passed to [`Store::transaction`].
pub struct Tx<'a> {
    names: &'a [&'static str],
    trees: &'a [TransactionalTree],
}

impl Tx<'_> {
    fn tree(&self, table: &Table) -> std::result::Result<&TransactionalTree, TxAbort> {
        let i = self
            .names
            .iter()
            .position(|n| *n == table.name)
            .ok_or_else(|| {
                TxAbort::Store(StoreError::Io(format!(
                    "table `{}` is not part of this transaction",
                    table.name
                )))
            })?;
        Ok(&self.trees[i])
    }

    pub fn get<T: DeserializeOwned>(
        &self,
        table: &Table,
        key: &str,
    ) -> std::result::Result<Option<T>, TxAbort> {
        let tree = self.tree(table)?;
        match tree.get(key.as_bytes()).map_err(tx_err)? {
            Some(bytes) => Ok(Some(decode(table.name, key, &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn put<T: Serialize>(
        &self,
        table: &Table,
        key: &str,
        value: &T,
    ) -> std::result::Result<(), TxAbort> {
        let tree = self.tree(table)?;
        tree.insert(key.as_bytes(), encode(value)?)
            .map_err(tx_err)?;
        Ok(())
    }

    pub fn remove(&self, table: &Table, key: &str) -> std::result::Result<(), TxAbort> {
        let tree = self.tree(table)?;
        tree.remove(key.as_bytes()).map_err(tx_err)?;
        Ok(())
    }

    /// Appends to an append-only table under the next sequence key, which it returns.
    pub fn append<T: Serialize>(
        &self,
        table: &Table,
        value: &T,
    ) -> std::result::Result<String, TxAbort> {
        let tree = self.tree(table)?;
        let key = seq_key(
            tree.generate_id()
                .map_err(|e| TxAbort::Store(StoreError::from(e)))?,
        );
        tree.insert(key.as_bytes(), encode(value)?)
            .map_err(tx_err)?;
        Ok(key)
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

fn tx_err(e: sled::transaction::UnabortableTransactionError) -> TxAbort {
    match e {
        sled::transaction::UnabortableTransactionError::Conflict => {
            // Returned to sled so it retries; never surfaces.
            TxAbort::Store(StoreError::Io("transaction conflict".into()))
        }
        sled::transaction::UnabortableTransactionError::Storage(e) => {
            TxAbort::Store(StoreError::Io(e.to_string()))
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Io(format!("cannot encode record: {e}")))
}

fn decode<T: DeserializeOwned>(table: &str, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        table: table.into(),
        key: key.into(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopen_after_a_durable_write() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let t = store.table("things").unwrap();
            t.put("a", &serde_json::json!({"n": 1})).unwrap();
            store.durable().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let t = store.table("things").unwrap();
        let v: serde_json::Value = t.get("a").unwrap().unwrap();
        assert_eq!(v["n"], 1);
    }

    #[tokio::test]
    async fn transactions_write_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = store.table("a").unwrap();
        let b = store.table("b").unwrap();
        let r = store
            .transaction(&[&a, &b], |tx| {
                tx.put(&a, "k", &1)?;
                tx.put(&b, "k", &2)?;
                Err::<(), _>(TxAbort::Rejected("no".into()))
            })
            .unwrap();
        assert!(matches!(r, Err(TxAbort::Rejected(_))));
        assert!(a.get::<i32>("k").unwrap().is_none());
        store
            .transaction(&[&a, &b], |tx| {
                tx.put(&a, "k", &1)?;
                tx.append(&b, &2)?;
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!(a.get::<i32>("k").unwrap(), Some(1));
        assert_eq!(b.scan::<i32>().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn concurrent_waiters_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let t = store.table("t").unwrap();
        let mut handles = Vec::new();
        for i in 0..64 {
            let (store, t) = (store.clone(), t.clone());
            handles.push(tokio::spawn(async move {
                t.put(&i.to_string(), &i).unwrap();
                store.durable().await.unwrap();
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert!(
            store.commit.flushes() < 64,
            "flushes: {}",
            store.commit.flushes()
        );
    }
}
