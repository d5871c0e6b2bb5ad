//! Which entries belong to a draft or to a thread, kept beside the entries. The done table
//! grows with every publication to every subscriber; finding one draft's entries must not
//! read all of it, and a draft's state is worked out again after every delivery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use serde::de::IgnoredAny;

use super::event::Message;
use super::Entry;
use crate::store::{Result, Store, StoreError, Table, Tx, TxAbort, Writes};

/// Entries indexed per transaction while rebuilding.
const REBUILD_CHUNK: usize = 1_000;

pub const OUTBOX_INDEX_TABLE: &str = "outbox_index";
/// The id up to which every stored entry is known to be indexed.
const INDEXED_THROUGH: &str = "indexed-through";

#[derive(Clone)]
pub(super) struct EntryIndex {
    table: Table,
    /// Set once this process has indexed every entry already stored (data written before
    /// the index existed, or imported); until then lookups read the entries themselves.
    complete: Arc<AtomicBool>,
}

/// What an index key names.
#[derive(Clone, Copy)]
pub(super) enum Owner<'a> {
    Draft(&'a str),
    Thread(&'a str),
}

impl Owner<'_> {
    fn prefix(self) -> String {
        match self {
            Owner::Draft(d) => format!("d/{d}/"),
            Owner::Thread(t) => format!("t/{t}/"),
        }
    }

    pub(super) fn owns(self, e: &Entry) -> bool {
        match self {
            Owner::Draft(d) => e.draft_id.as_deref() == Some(d),
            Owner::Thread(t) => e.thread == t,
        }
    }
}

/// A mirror's timed sync is not kept once done and never looked up: not indexed.
fn keys(e: &Entry) -> impl Iterator<Item = String> + '_ {
    let kept = e.message != Message::MirrorRefresh;
    let thread = Owner::Thread(&e.thread).prefix() + &e.id;
    let draft = e
        .draft_id
        .as_deref()
        .map(|d| Owner::Draft(d).prefix() + &e.id);
    std::iter::once(thread).chain(draft).filter(move |_| kept)
}

impl EntryIndex {
    pub(super) fn open(store: &Store) -> Result<EntryIndex> {
        Ok(EntryIndex {
            table: store.table(OUTBOX_INDEX_TABLE)?,
            complete: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(super) fn table(&self) -> &Table {
        &self.table
    }

    pub(super) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Indexes `e` in the caller's transaction, which must include [`EntryIndex::table`].
    pub(super) fn add_in(&self, tx: &Tx<'_>, e: &Entry) -> std::result::Result<(), TxAbort> {
        for key in keys(e) {
            tx.put(&self.table, &key, &())?;
        }
        Ok(())
    }

    /// The ids of the entries `owner` has, in id order. A prefix also matches longer names
    /// (thread `a` and thread `a/b`): only keys with one segment after it count, as entry
    /// ids have no slash.
    pub(super) fn ids(&self, owner: Owner<'_>) -> Result<Vec<String>> {
        let prefix = owner.prefix();
        Ok(self
            .table
            .scan_prefix::<IgnoredAny>(&prefix)?
            .into_iter()
            .filter_map(|(key, _)| {
                let id = key.get(prefix.len()..)?;
                (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
            })
            .collect())
    }

    /// Indexes the entries stored before this process started that no earlier pass
    /// indexed (written by a version without the index, or imported), then serves lookups
    /// from the index. `entries(after)` gives the stored entries with ids after `after`, in
    /// id order. A pass remembers how far it got, so the next start reads only what is
    /// newer; it stops short of the last minutes, where an entry with a smaller id may
    /// still be being written by a replica of an earlier version.
    pub(super) fn rebuild<I: Iterator<Item = Result<Entry>>>(
        &self,
        store: &Store,
        entries: impl FnOnce(Option<&str>) -> Result<I>,
    ) -> Result<()> {
        let after: Option<String> = self.table.get(INDEXED_THROUGH)?;
        let settled_before = Utc::now() - chrono::Duration::minutes(10);
        let mut through = after.clone();
        let mut writes = Writes::default();
        let mut pending = 0;
        for e in entries(after.as_deref())? {
            let e = e?;
            if e.created_at < settled_before && through.as_deref() < Some(e.id.as_str()) {
                through = Some(e.id.clone());
            }
            for key in keys(&e) {
                writes.put(&self.table, &key, &())?;
            }
            pending += 1;
            if pending == REBUILD_CHUNK {
                self.write(store, std::mem::take(&mut writes))?;
                pending = 0;
            }
        }
        if let Some(through) = through.filter(|t| Some(t) != after.as_ref()) {
            writes.put(&self.table, INDEXED_THROUGH, &through)?;
        }
        self.write(store, writes)?;
        self.complete.store(true, Ordering::Release);
        Ok(())
    }

    fn write(&self, store: &Store, writes: Writes) -> Result<()> {
        store
            .transaction(&[&self.table], |tx| tx.write(writes.clone()))?
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::super::{Entry, EntryState, Outbox};
    use super::*;
    use crate::publish::subscribers::Subscribers;

    fn entry(id: &str, thread: &str, draft: Option<&str>, message: Message) -> Entry {
        Entry::new(id.into(), "status", thread, draft, message, Utc::now())
    }

    fn ids(entries: Vec<Entry>) -> Vec<String> {
        entries.into_iter().map(|e| e.id).collect()
    }

    /// Entries written by a version without the index (straight into the tables) are found
    /// by reading everything until the index is rebuilt, and through the index after; new
    /// and finished entries are found either way, in id order, and a thread's lookup does
    /// not take a longer thread name that starts with it.
    #[test]
    fn lookups_agree_before_and_after_the_index_is_rebuilt() {
        let (_dir, store) = Store::temporary();
        let outbox = Outbox::open(&store, Subscribers::open(&store).unwrap(), vec![]).unwrap();
        let active = store.table(super::super::OUTBOX_TABLE).unwrap();
        let done = store.table(super::super::OUTBOX_DONE_TABLE).unwrap();
        let publication = || Message::ConfirmSubscription;
        let old = |id: &str, draft: &str| {
            let mut e = entry(id, "g1", Some(draft), publication());
            e.created_at = Utc::now() - chrono::Duration::hours(1);
            e.state = EntryState::Delivered;
            e
        };
        // Before the index existed: one open and one finished entry of draft d1.
        let mut old_open = old("0003", "d1");
        old_open.state = EntryState::Pending;
        active.put("0003", &old_open).unwrap();
        done.put("0001", &old("0001", "d1")).unwrap();
        // Written now, through the outbox: another draft in a thread whose name starts
        // with g1's, and a mirror's timed sync (never indexed).
        let now = [
            entry("0002", "g1/x", Some("d2"), publication()),
            entry("0004", "g1", Some("d1"), publication()),
            entry("0005", "mirror/m", None, Message::MirrorRefresh),
        ];
        store
            .transaction(&outbox.tables(), |tx| outbox.write_in(tx, &now))
            .unwrap()
            .unwrap();
        let mut finished = now[1].clone();
        finished.state = EntryState::Delivered;
        outbox.settle(&[finished], &[]).unwrap();

        let expect = |outbox: &Outbox| {
            assert_eq!(
                ids(outbox.for_draft("d1").unwrap()),
                ["0001", "0003", "0004"]
            );
            assert_eq!(ids(outbox.for_draft("d2").unwrap()), ["0002"]);
            assert_eq!(
                ids(outbox.for_thread("g1").unwrap()),
                ["0001", "0003", "0004"]
            );
            assert_eq!(ids(outbox.for_thread("g1/x").unwrap()), ["0002"]);
            assert!(outbox.for_draft("nothing").unwrap().is_empty());
        };
        assert!(!outbox.index.is_complete());
        // The index alone knows only what was written through it so far.
        assert_eq!(outbox.index.ids(Owner::Draft("d1")).unwrap(), ["0004"]);
        expect(&outbox);
        outbox.rebuild_index().unwrap();
        assert!(outbox.index.is_complete());
        expect(&outbox);
        // The finished entry is read from the done table, in its final state.
        let d1 = outbox.for_draft("d1").unwrap();
        assert_eq!(d1[2].state, EntryState::Delivered);
        // The mirror's sync left no index row behind.
        assert!(outbox
            .index
            .ids(Owner::Thread("mirror/m"))
            .unwrap()
            .is_empty());
    }
}
