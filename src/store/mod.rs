//! Durable storage. The stages see one small interface — named tables of JSON documents keyed
//! by strings, atomic transactions over several tables, counters — and two engines implement
//! it: sled in `data_dir` for one node (the default) and PostgreSQL for several replicas
//! (`storage.url`). The store knows no stage and no transport.

mod batch;
mod commit;
mod export;
mod fence;
mod lease;
mod postgres;
mod sled_engine;
mod space;
mod tx;

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use batch::Writes;
pub use export::{export, import, ImportSummary};
pub use fence::{check_before_call, inherit, scope as fence_scope, Fence, FenceError, Held};
pub use lease::{LeaseView, Leases, Work};
pub use postgres::{migrate, SCHEMA_VERSION};
pub use space::{Space, Volume, DEFAULT_RESERVE};
use tx::TxEngine;
pub use tx::{Tx, TxAbort};

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
    /// The database server cannot be reached (PostgreSQL down, a failover): unhealthy until
    /// a later call reaches it again; nothing needs a restart.
    #[error("database unreachable: {0}")]
    Unreachable(String),
    /// This replica's lease on the work lapsed or was taken over: the write was refused so
    /// that a paused former holder cannot undo the new holder's work.
    #[error("lease on `{work}` is no longer held by this replica")]
    Fenced { work: String },
    #[error("stored record `{key}` in `{table}` is unreadable: {reason}")]
    Corrupt {
        table: String,
        key: String,
        reason: String,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which engine holds the state: on sled, `S` is the database or one of its trees; on
/// PostgreSQL the one pool serves the store and every table by name.
#[derive(Clone)]
enum Engine<S = sled_engine::SledStore> {
    Sled(S),
    Postgres(postgres::PgStore),
}

/// A table's engine.
type TableEngine = Engine<sled_engine::SledTable>;

/// The database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    /// Set on a worker's copy: every write it makes checks that the lease is still its own.
    fence: Option<Fence>,
}

impl Store {
    /// Opens (or creates) the sled database in `dir` with the default reserve.
    pub fn open(dir: &Path) -> Result<Store> {
        Self::open_with_reserve(dir, DEFAULT_RESERVE)
    }

    /// A fresh sled database in a temporary directory, for unit tests; the directory goes
    /// when the returned guard drops.
    #[cfg(test)]
    pub fn temporary() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path()).expect("sled store in a temporary directory");
        (dir, store)
    }

    /// Opens (or creates) the sled database in `dir`, keeping `reserve` bytes free (never
    /// more than a tenth of the volume). A volume with less free opens all the same: writes
    /// are refused until space returns, so the service can say so instead of exiting.
    pub fn open_with_reserve(dir: &Path, reserve: u64) -> Result<Store> {
        Ok(Store {
            engine: Engine::Sled(sled_engine::SledStore::open(dir, reserve)?),
            fence: None,
        })
    }

    /// Connects to PostgreSQL at `url` and brings its schema up to date (under an advisory
    /// lock, so replicas starting together migrate once). Refuses a schema newer than this
    /// version knows. An unreachable server is an error here: start-up waits for it.
    pub async fn connect(url: &str) -> Result<Store> {
        let pg = postgres::PgStore::connect(url).await?;
        pg.migrate().await?;
        Ok(Store {
            engine: Engine::Postgres(pg),
            fence: None,
        })
    }

    /// "sled" or "postgres", for logs and `/readyz`.
    pub fn engine(&self) -> &'static str {
        match &self.engine {
            Engine::Sled(_) => "sled",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// True when several replicas may share this store (leases matter).
    pub fn is_shared(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// Starts a long-lived task beside the engine's own I/O: on PostgreSQL, on the runtime
    /// that drives the connections, so that a task which mostly waits for the database
    /// (the group committer) does not cross between runtimes on every round trip.
    pub fn spawn_near<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.engine {
            Engine::Sled(_) => drop(tokio::spawn(task)),
            Engine::Postgres(pg) => pg.spawn_task(task),
        }
    }

    /// This store, with every write checked against `fence` in the same transaction.
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            engine: self.engine.clone(),
            fence: Some(fence),
        }
    }

    /// The fence writes are checked against: this copy's own, else the running worker's.
    fn effective_fence(&self) -> Option<Fence> {
        self.fence.clone().or_else(fence::current)
    }

    /// Refuses writes while free space (bytes or inodes) is below the reserve.
    pub fn check_space(&self) -> Result<()> {
        match &self.engine {
            Engine::Sled(s) => s.check_space(),
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Start-up is over: from now on writes keep the reserve. Until then the few small
    /// start-up writes go through, so that a volume with too little space starts (not
    /// ready, ingest refused) and recovers once space returns, instead of exiting.
    pub fn started(&self) {
        if let Engine::Sled(s) = &self.engine {
            s.started();
        }
    }

    /// False once sled failed a write or a flush never finished (only a restart clears
    /// that), or while PostgreSQL cannot be reached (the next successful call clears it).
    pub fn is_healthy(&self) -> bool {
        match &self.engine {
            Engine::Sled(s) => s.is_healthy(),
            Engine::Postgres(p) => p.is_healthy(),
        }
    }

    /// A named table; created on first use.
    pub fn table(&self, name: &'static str) -> Result<Table> {
        let inner = match &self.engine {
            Engine::Sled(s) => TableEngine::Sled(s.tree(name)?),
            Engine::Postgres(p) => TableEngine::Postgres(p.clone()),
        };
        Ok(Table {
            name,
            inner,
            fence: self.fence.clone(),
        })
    }

    /// Waits until every write made before the call is on disk. With sled, concurrent
    /// callers share one flush (group commit); PostgreSQL commits are durable already.
    pub async fn durable(&self) -> Result<()> {
        match &self.engine {
            Engine::Sled(s) => s.durable().await,
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// A unique, increasing number (survives restarts).
    pub fn next_id(&self) -> Result<u64> {
        match &self.engine {
            Engine::Sled(s) => s.next_id(),
            Engine::Postgres(p) => p.next_id(),
        }
    }

    /// Runs `f` atomically over several tables. `f` may run more than once on conflicts
    /// (also with other replicas), so it must not have side effects outside the transaction.
    pub fn transaction<R>(
        &self,
        tables: &[&Table],
        f: impl Fn(&Tx<'_>) -> std::result::Result<R, TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        match &self.engine {
            Engine::Sled(s) => {
                s.check_space()?;
                if let Some(fence) = self.effective_fence() {
                    fence.check_local()?;
                }
                s.transaction(tables, f)
            }
            Engine::Postgres(p) => p.transaction(self.effective_fence().as_ref(), f),
        }
    }

    /// The next value of a named counter (1, 2, 3, …), for human-friendly ids.
    pub fn counter(&self, name: &str) -> Result<u64> {
        match &self.engine {
            Engine::Sled(s) => s.counter(name),
            Engine::Postgres(p) => p.counter(name),
        }
    }

    /// Flushes done so far (group commit shares them between writers; 0 on PostgreSQL).
    pub fn flushes(&self) -> u64 {
        match &self.engine {
            Engine::Sled(s) => s.flushes(),
            Engine::Postgres(_) => 0,
        }
    }

    /// Bytes used on disk (sled) or by the database (PostgreSQL).
    pub fn size_on_disk(&self) -> u64 {
        match &self.engine {
            Engine::Sled(s) => s.size_on_disk(),
            Engine::Postgres(p) => p.size_on_disk(),
        }
    }

    /// Writes and confirms a probe record: readiness means "can take a write now".
    pub async fn probe(&self) -> Result<()> {
        if let Engine::Postgres(p) = &self.engine {
            return p.probe().await;
        }
        self.check_space()?;
        let meta = self.table("meta")?;
        meta.put("probe", &chrono::Utc::now().to_rfc3339())?;
        self.durable().await
    }

    /// Tells every replica sharing this store about `topic` (nothing to tell on sled: there
    /// is one). A `versioned` topic is also found by polling, for replicas that missed it.
    pub fn announce(&self, topic: &'static str, versioned: bool) {
        if let Engine::Postgres(p) = &self.engine {
            p.announce(topic, versioned);
        }
    }

    /// Runs `callback` whenever any replica announces `topic` (never on sled).
    pub fn on_announce(&self, topic: &'static str, callback: impl Fn() + Send + Sync + 'static) {
        if let Engine::Postgres(p) = &self.engine {
            p.on_announce(topic, std::sync::Arc::new(callback));
        }
    }

    /// Claims those of `keys` in `scope` that no other replica holds, for as long as the
    /// returned [`Claim`] lives; `None` when others hold them all. On sled there is one
    /// process and every key is granted. A claim held by a replica that stalls for `stall`
    /// is ended by the database.
    pub fn claim(
        &self,
        scope: &str,
        keys: &[String],
        stall: std::time::Duration,
    ) -> Result<Option<Claim>> {
        match &self.engine {
            Engine::Sled(_) => Ok(Some(Claim {
                keys: keys.iter().cloned().collect(),
                _held: None,
            })),
            Engine::Postgres(p) => Ok(p.claim(scope, keys, stall)?.map(|(held, keys)| Claim {
                keys,
                _held: Some(held),
            })),
        }
    }

    /// Every record of every table, for `statusgate export`.
    pub(crate) fn dump(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        match &self.engine {
            Engine::Sled(s) => s.dump(),
            Engine::Postgres(p) => p.dump(),
        }
    }

    /// True when no table holds a record (imports go only into an empty store).
    pub(crate) fn is_empty(&self) -> Result<bool> {
        match &self.engine {
            Engine::Sled(s) => s.is_empty(),
            Engine::Postgres(p) => p.is_empty(),
        }
    }

    /// Writes one record as exported, raising id and counter floors so that new ids
    /// follow the imported ones.
    pub(crate) fn load(&self, table: &str, key: &str, value: &serde_json::Value) -> Result<()> {
        match &self.engine {
            Engine::Sled(s) => s.load(table, key, value),
            Engine::Postgres(p) => p.load(table, key, value),
        }
    }

    pub(crate) fn raise_ids(&self, floor: u64) -> Result<()> {
        match &self.engine {
            Engine::Sled(s) => s.raise_ids(floor),
            Engine::Postgres(p) => p.raise_ids(floor),
        }
    }
}

/// Keys held by this replica; dropping it lets others take them.
pub struct Claim {
    keys: std::collections::BTreeSet<String>,
    _held: Option<postgres::PgClaim>,
}

impl Claim {
    pub fn holds(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
}

/// One named table of JSON documents keyed by strings.
#[derive(Clone)]
pub struct Table {
    name: &'static str,
    inner: TableEngine,
    fence: Option<Fence>,
}

impl Table {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw = match &self.inner {
            TableEngine::Sled(t) => t.get(key)?,
            TableEngine::Postgres(p) => p.get(self.name, key)?,
        };
        raw.map(|bytes| decode(self.name, key, &bytes)).transpose()
    }

    /// Several records, in the order of `keys` (one round trip on PostgreSQL).
    pub fn get_many<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<Option<T>>> {
        let raw = match &self.inner {
            TableEngine::Sled(t) => keys.iter().map(|k| t.get(k)).collect::<Result<Vec<_>>>()?,
            TableEngine::Postgres(p) => p.get_many(self.name, keys)?,
        };
        keys.iter()
            .zip(raw)
            .map(|(key, raw)| raw.map(|bytes| decode(self.name, key, &bytes)).transpose())
            .collect()
    }

    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let bytes = encode(value)?;
        match &self.inner {
            TableEngine::Sled(t) => {
                self.check_fence()?;
                t.put(key, bytes)
            }
            TableEngine::Postgres(p) => {
                p.put(self.effective_fence().as_ref(), self.name, key, bytes)
            }
        }
    }

    pub fn remove(&self, key: &str) -> Result<()> {
        self.remove_all(&[key.to_string()])
    }

    /// Removes several keys in one atomic batch.
    pub fn remove_all(&self, keys: &[String]) -> Result<()> {
        match &self.inner {
            TableEngine::Sled(t) => {
                self.check_fence()?;
                t.remove_all(keys)
            }
            TableEngine::Postgres(p) => {
                p.remove_all(self.effective_fence().as_ref(), self.name, keys)
            }
        }
    }

    fn effective_fence(&self) -> Option<Fence> {
        self.fence.clone().or_else(fence::current)
    }

    fn check_fence(&self) -> Result<()> {
        match &self.effective_fence() {
            Some(f) => f.check_local(),
            None => Ok(()),
        }
    }

    pub fn contains(&self, key: &str) -> Result<bool> {
        match &self.inner {
            TableEngine::Sled(t) => t.contains(key),
            TableEngine::Postgres(p) => Ok(p.get(self.name, key)?.is_some()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.inner {
            TableEngine::Sled(t) => t.len(),
            TableEngine::Postgres(p) => p.len(self.name).unwrap_or(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record in key order. A record that does not decode is an error, not skipped:
    /// silently losing data is worse than failing loudly.
    pub fn scan<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>> {
        self.scan_prefix("")
    }

    /// Every record's value in key order, for callers that do not need the keys.
    pub fn values<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        Ok(self.scan()?.into_iter().map(|(_, v)| v).collect())
    }

    pub fn scan_prefix<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        self.range(Range::Prefix(prefix))
    }

    /// Records with keys after `after` (all when `None`), in key order, decoded lazily.
    pub fn iter_from<T: DeserializeOwned + 'static>(
        &self,
        after: Option<&str>,
    ) -> Result<Box<dyn Iterator<Item = Result<T>> + '_>> {
        Ok(Box::new(
            self.entries_from(after)?
                .map(|item| item.map(|(_, value)| value)),
        ))
    }

    /// As [`Table::iter_from`], each record with its key.
    pub fn entries_from<T: DeserializeOwned>(&self, after: Option<&str>) -> Result<Entries<'_, T>> {
        self.entries_paged(after, None)
    }

    /// As [`Table::entries_from`], fetching `rows` records per round trip on PostgreSQL (a
    /// default page when `None`): a caller that knows how many it will read reads them in
    /// one.
    pub fn entries_paged<T: DeserializeOwned>(
        &self,
        after: Option<&str>,
        rows: Option<usize>,
    ) -> Result<Entries<'_, T>> {
        let decoded = move |item: Result<(String, Vec<u8>)>| {
            item.and_then(|(k, v)| decode(self.name, &k, &v).map(|value| (k, value)))
        };
        match &self.inner {
            TableEngine::Sled(t) => Ok(Box::new(t.iter_from(after).map(decoded))),
            TableEngine::Postgres(p) => {
                // Pages of rows, fetched as the caller goes on.
                let pages = postgres::Pages::new(p.clone(), self.name, after, rows);
                Ok(Box::new(pages.map(decoded)))
            }
        }
    }

    /// The first `limit` records in key order.
    pub fn first<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<(String, T)>> {
        self.range(Range::First(limit))
    }

    /// The last `limit` records with keys below `before` (all when `None`), newest first.
    pub fn scan_back<T: DeserializeOwned>(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>> {
        self.range(Range::Before(before, limit))
    }

    fn range<T: DeserializeOwned>(&self, range: Range<'_>) -> Result<Vec<(String, T)>> {
        let raw = match &self.inner {
            TableEngine::Sled(t) => match range {
                Range::Prefix(prefix) => t.scan_prefix(prefix)?,
                Range::First(limit) => t.first(limit)?,
                Range::Before(before, limit) => t.scan_back(before, limit)?,
            },
            TableEngine::Postgres(p) => p.scan(self.name, range)?,
        };
        self.decode_all(raw)
    }

    fn decode_all<T: DeserializeOwned>(
        &self,
        raw: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<(String, T)>> {
        raw.into_iter()
            .map(|(k, v)| {
                let value = decode(self.name, &k, &v)?;
                Ok((k, value))
            })
            .collect()
    }
}

/// Which rows of a table a scan returns.
pub(crate) enum Range<'a> {
    Prefix(&'a str),
    First(usize),
    Before(Option<&'a str>, usize),
}

/// Records with their keys, in key order, decoded as they are read.
pub type Entries<'a, T> = Box<dyn Iterator<Item = Result<(String, T)>> + 'a>;

/// Keys for append-only tables: zero-padded so that string order is numeric order.
pub fn seq_key(n: u64) -> String {
    format!("{n:020}")
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
mod tests;
