//! The embedded engine: sled in `data_dir`, one node. Writes are made durable by group
//! commit; free space is kept back because sled cannot recover from a full disk.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::commit::GroupCommit;
use super::space::Space;
use super::{seq_key, Result, StoreError, Table, TableEngine, Tx, TxAbort, TxEngine};

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

/// Trees that hold no table of the stages' (sled's own default tree).
const INTERNAL_TREES: &[&[u8]] = &[b"__sled__default"];

#[derive(Clone)]
pub(super) struct SledStore {
    db: sled::Db,
    commit: Arc<GroupCommit>,
    space: Arc<Space>,
    /// Set when sled itself failed a write; only reopening (a restart) clears it.
    failed: Arc<AtomicBool>,
}

impl SledStore {
    pub(super) fn open(dir: &Path, reserve: u64) -> Result<SledStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("cannot create {}: {e}", dir.display())))?;
        let db = sled::Config::new()
            .path(dir)
            // sled's default cache is 1 GiB; hot data (drafts, groups, recent alerts) is small.
            .cache_capacity(32 << 20)
            // Durability comes from explicit group commits, not from this timer.
            .flush_every_ms(Some(1000))
            .open()?;
        // sled keeps its log in `db`; read access is enough to sync it.
        let log = dir.join("db");
        let file = std::fs::File::open(&log)
            .map_err(|e| StoreError::Io(format!("cannot open {}: {e}", log.display())))?;
        let commit = Arc::new(GroupCommit::start(db.clone(), file));
        Ok(SledStore {
            db,
            commit,
            space: Arc::new(Space::new(dir, reserve)),
            failed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(super) fn check_space(&self) -> Result<()> {
        self.space.check()
    }

    pub(super) fn started(&self) {
        self.space.enforce();
    }

    pub(super) fn is_healthy(&self) -> bool {
        !self.failed.load(Ordering::Relaxed) && !self.commit.is_stuck()
    }

    fn note(&self, e: &StoreError) {
        if matches!(e, StoreError::Io(_)) {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn tree(&self, name: &str) -> Result<SledTable> {
        Ok(SledTable {
            tree: self.db.open_tree(name)?,
            space: self.space.clone(),
        })
    }

    pub(super) async fn durable(&self) -> Result<()> {
        let r = self.commit.wait().await;
        if let Err(e) = &r {
            self.note(e);
        }
        r
    }

    pub(super) fn next_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    pub(super) fn transaction<R>(
        &self,
        tables: &[&Table],
        f: impl Fn(&Tx<'_>) -> std::result::Result<R, TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        let mut trees: Vec<&sled::Tree> = Vec::new();
        let mut names: Vec<&'static str> = Vec::new();
        for t in tables {
            match &t.inner {
                TableEngine::Sled(s) => {
                    trees.push(&s.tree);
                    names.push(t.name);
                }
                TableEngine::Postgres(_) => {
                    return Err(StoreError::Io(format!(
                        "table `{}` belongs to another store",
                        t.name
                    )))
                }
            }
        }
        let outcome = trees.as_slice().transaction(|txs| {
            let tx = Tx {
                inner: TxEngine::Sled(SledTx {
                    names: &names,
                    trees: txs,
                }),
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

    pub(super) fn counter(&self, name: &str) -> Result<u64> {
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

    pub(super) fn flushes(&self) -> u64 {
        self.commit.flushes()
    }

    pub(super) fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// The stages' tables in name order (the order an export lists them in).
    fn user_trees(&self) -> Vec<(String, sled::Tree)> {
        let mut trees: Vec<(String, sled::Tree)> = self
            .db
            .tree_names()
            .into_iter()
            .filter(|n| !INTERNAL_TREES.contains(&n.as_ref()))
            .filter_map(|n| {
                let name = String::from_utf8(n.to_vec()).ok()?;
                let tree = self.db.open_tree(&n).ok()?;
                Some((name, tree))
            })
            .collect();
        trees.sort_by(|a, b| a.0.cmp(&b.0));
        trees
    }

    pub(super) fn dump(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let mut out = Vec::new();
        for (name, tree) in self.user_trees() {
            for item in tree.iter() {
                let (k, v) = item?;
                let key = String::from_utf8_lossy(&k).into_owned();
                let value = super::decode(&name, &key, &v)?;
                out.push((name.clone(), key, value));
            }
        }
        Ok(out)
    }

    pub(super) fn is_empty(&self) -> Result<bool> {
        for (name, tree) in self.user_trees() {
            for key in tree.iter().keys() {
                if !super::export::is_local(&name, &String::from_utf8_lossy(&key?)) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    pub(super) fn load(&self, table: &str, key: &str, value: &serde_json::Value) -> Result<()> {
        let bytes = super::encode(value)?;
        self.db.open_tree(table)?.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    pub(super) fn raise_ids(&self, floor: u64) -> Result<()> {
        while self.db.generate_id()? < floor {}
        Ok(())
    }
}

#[derive(Clone)]
pub(super) struct SledTable {
    tree: sled::Tree,
    space: Arc<Space>,
}

type Raw = Vec<(String, Vec<u8>)>;

fn pair(item: sled::Result<(sled::IVec, sled::IVec)>) -> Result<(String, Vec<u8>)> {
    let (k, v) = item?;
    Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
}

impl SledTable {
    pub(super) fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    pub(super) fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.space.check()?;
        self.tree.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    pub(super) fn remove_all(&self, keys: &[String]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.as_bytes());
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    pub(super) fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.tree.contains_key(key.as_bytes())?)
    }

    pub(super) fn len(&self) -> usize {
        self.tree.len()
    }

    pub(super) fn scan_prefix(&self, prefix: &str) -> Result<Raw> {
        self.tree.scan_prefix(prefix.as_bytes()).map(pair).collect()
    }

    pub(super) fn iter_from(
        &self,
        after: Option<&str>,
    ) -> impl Iterator<Item = Result<(String, Vec<u8>)>> + '_ {
        use std::ops::Bound;
        let start = match after {
            Some(k) => Bound::Excluded(k.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.tree
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .map(pair)
    }

    pub(super) fn first(&self, limit: usize) -> Result<Raw> {
        self.tree.iter().take(limit).map(pair).collect()
    }

    pub(super) fn scan_back(&self, before: Option<&str>, limit: usize) -> Result<Raw> {
        let iter = match before {
            Some(b) => self.tree.range(..b.as_bytes().to_vec()),
            None => self.tree.range::<Vec<u8>, _>(..),
        };
        iter.rev().take(limit).map(pair).collect()
    }
}

pub(super) struct SledTx<'a> {
    names: &'a [&'static str],
    trees: &'a [TransactionalTree],
}

impl SledTx<'_> {
    fn tree(&self, table: &str) -> std::result::Result<&TransactionalTree, TxAbort> {
        let i = self.names.iter().position(|n| *n == table).ok_or_else(|| {
            TxAbort::Store(StoreError::Io(format!(
                "table `{table}` is not part of this transaction"
            )))
        })?;
        Ok(&self.trees[i])
    }

    pub(super) fn get(
        &self,
        table: &str,
        key: &str,
    ) -> std::result::Result<Option<Vec<u8>>, TxAbort> {
        let tree = self.tree(table)?;
        Ok(tree
            .get(key.as_bytes())
            .map_err(tx_err)?
            .map(|v| v.to_vec()))
    }

    pub(super) fn put(
        &self,
        table: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<(), TxAbort> {
        self.tree(table)?
            .insert(key.as_bytes(), bytes)
            .map_err(tx_err)?;
        Ok(())
    }

    pub(super) fn remove(&self, table: &str, key: &str) -> std::result::Result<(), TxAbort> {
        self.tree(table)?.remove(key.as_bytes()).map_err(tx_err)?;
        Ok(())
    }

    pub(super) fn append(
        &self,
        table: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<String, TxAbort> {
        let tree = self.tree(table)?;
        let key = seq_key(
            tree.generate_id()
                .map_err(|e| TxAbort::Store(StoreError::from(e)))?,
        );
        tree.insert(key.as_bytes(), bytes).map_err(tx_err)?;
        Ok(key)
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
