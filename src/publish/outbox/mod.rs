//! The outbox: one durable entry per external target for every approval, written in the
//! approval's own transaction, so an approved draft is queued for every target or for none.
//! Entries wait in `outbox` while they have work left and move to `outbox_done` when they
//! are finished; every attempt is recorded in the entry.
//!
//! Inside: the entries and their store (here), [`event`] (what an entry asks a target to
//! show), the [`deliver`] worker that empties the outbox, [`decide`] (an admin's retry or
//! choice on a conflict) and [`health`] (per-target circuit breakers and backoff);
//! [`delivery`] wires them from the configuration. The targets themselves are in
//! [`super::targets`].

pub mod decide;
pub mod deliver;
mod draft_state;
pub mod event;
pub mod health;
mod index;
mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use self::event::{Approved, Message};
pub use self::index::OUTBOX_INDEX_TABLE;
use self::index::{EntryIndex, Owner};
use super::audience::Visibility;
use super::subscribers::{Channel, Subscriber, SubscriberState, Subscribers};
use crate::audit::{Audit, AuditEntry};
use crate::draft::{Conflict, Draft};
use crate::store::{seq_key, Result, Store, StoreError, Table, Tx, TxAbort};

pub const OUTBOX_TABLE: &str = "outbox";
pub const OUTBOX_DONE_TABLE: &str = "outbox_done";
pub const RECORDS_TABLE: &str = "publish_records";
/// Attempts kept in an entry (the count goes on).
const ATTEMPTS_KEPT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Waiting for (another) attempt.
    Pending,
    Delivered,
    /// Nothing on the target would change; nothing was sent.
    Unchanged,
    /// A later entry for the same incident and target carried this one's change.
    Coalesced,
    /// Gave up (or the target refused it for good); an admin can retry.
    Failed,
    /// The target was changed by hand; waits for an admin's choice.
    Conflict,
    /// The target went away (subscriber deleted, endpoint gone).
    Dropped,
}

impl EntryState {
    /// Entries in these states stay in the active table.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Failed | Self::Conflict)
    }
}

/// What an admin chose for a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// Write ours over the hand edit.
    Overwrite,
    /// Keep the hand edit; send only the rest.
    Theirs,
}

/// One try at delivering an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// success, unchanged, retry, failure, conflict
    pub outcome: String,
    pub status: Option<u16>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the outbox (delivery order).
    pub id: String,
    /// The same for every attempt of this delivery: `<draft>-r<revision>/<target>`.
    pub key: String,
    pub target: String,
    /// One statusgate incident (its group): entries of a thread go out in order.
    pub thread: String,
    pub draft_id: Option<String>,
    pub message: Message,
    pub state: EntryState,
    pub created_at: DateTime<Utc>,
    /// Give-up time counts from here (an admin's retry starts it again).
    pub since: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: u32,
    #[serde(default)]
    pub log: Vec<Attempt>,
    pub last_error: Option<String>,
    pub conflict: Option<Conflict>,
    pub choice: Option<Choice>,
    /// Signed webhooks: the events, frozen at the first attempt, and how many went out.
    #[serde(default)]
    pub events: Vec<serde_json::Value>,
    #[serde(default)]
    pub sent: usize,
    pub finished_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl Entry {
    /// An admin's retry: pending again at once, with a fresh give-up clock.
    pub fn retry_now(&mut self, now: DateTime<Utc>) {
        self.state = EntryState::Pending;
        self.since = now;
        self.next_attempt_at = now;
    }

    /// An admin's answer to a conflict: pending again at once, carrying the choice.
    pub fn settle_with(&mut self, choice: Choice, now: DateTime<Utc>) {
        self.state = EntryState::Pending;
        self.choice = Some(choice);
        self.conflict = None;
        self.next_attempt_at = now;
    }

    pub fn new(
        id: String,
        target: &str,
        thread: &str,
        draft_id: Option<&str>,
        message: Message,
        now: DateTime<Utc>,
    ) -> Entry {
        let key = match (&message, draft_id) {
            (Message::Publication(a), _) => format!("{}-r{}/{target}", a.draft_id, a.revision),
            (_, Some(d)) => format!("{d}/{target}"),
            (Message::ConfirmSubscription, None) => format!("confirm/{target}"),
            (Message::MirrorRefresh, None) => format!("refresh-{id}/{target}"),
        };
        Entry {
            id,
            key,
            target: target.to_string(),
            thread: thread.to_string(),
            draft_id: draft_id.map(str::to_string),
            message,
            state: EntryState::Pending,
            created_at: now,
            since: now,
            next_attempt_at: now,
            attempts: 0,
            log: Vec::new(),
            last_error: None,
            conflict: None,
            choice: None,
            events: Vec::new(),
            sent: 0,
            finished_at: None,
            note: None,
        }
    }

    pub fn record(&mut self, attempt: Attempt) {
        if attempt.outcome != "success" && attempt.outcome != "unchanged" {
            self.last_error = Some(attempt.detail.clone());
        }
        self.log.push(attempt);
        if self.log.len() > ATTEMPTS_KEPT {
            let excess = self.log.len() - ATTEMPTS_KEPT;
            self.log.drain(..excess);
        }
    }

    pub fn publication(&self) -> Option<&Approved> {
        self.message.publication()
    }
}

/// A configured publisher, as the outbox needs to know it.
#[derive(Debug, Clone)]
pub struct PublisherRef {
    pub name: String,
}

/// What replicas announce to each other when outbox work was queued.
pub const OUTBOX_TOPIC: &str = "outbox";

#[derive(Clone)]
pub struct Outbox {
    store: Store,
    active: Table,
    done: Table,
    records: Table,
    audit: Audit,
    index: EntryIndex,
    subscribers: Subscribers,
    publishers: Arc<Vec<PublisherRef>>,
    wake: Arc<Notify>,
    /// The catalog's components as the page has them: who sees what.
    catalog: Arc<std::sync::RwLock<Vec<super::ComponentInfo>>>,
}

impl Outbox {
    pub fn open(
        store: &Store,
        subscribers: Subscribers,
        publishers: Vec<PublisherRef>,
    ) -> Result<Outbox> {
        Ok(Outbox {
            store: store.clone(),
            active: store.table(OUTBOX_TABLE)?,
            done: store.table(OUTBOX_DONE_TABLE)?,
            records: store.table(RECORDS_TABLE)?,
            audit: Audit::open(store)?,
            index: EntryIndex::open(store)?,
            subscribers,
            publishers: Arc::new(publishers),
            wake: Arc::new(Notify::new()),
            catalog: Arc::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn subscribers(&self) -> &Subscribers {
        &self.subscribers
    }

    /// Wakes delivery here when another replica queued work.
    pub fn follow_other_replicas(&self) {
        let wake = self.wake.clone();
        self.store
            .on_announce(OUTBOX_TOPIC, move || wake.notify_one());
    }

    /// The tables approval writes into (see [`Outbox::write_in`]).
    pub fn tables(&self) -> [&Table; 2] {
        [&self.active, self.index.table()]
    }

    /// Tells the delivery worker there is new work.
    pub fn wake(&self) {
        self.wake.notify_one();
        // The replica running delivery may be another one.
        self.store.announce(OUTBOX_TOPIC, false);
    }

    pub fn notified(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// The entries an approval of `draft` queues: one per publisher, one per subscriber
    /// whose components it touches.
    pub fn plan(&self, draft: &Draft, actor: &str, now: DateTime<Utc>) -> Result<Vec<Entry>> {
        let approved = Approved::from_draft(draft, actor, now);
        let infos = self.infos();
        let mut out = Vec::new();
        // Publishers are public: they get what the public page shows.
        if let Some(public) = approved.seen_by(&Visibility::new(&infos, None)) {
            for p in self.publishers.iter() {
                out.push(Entry::new(
                    seq_key(self.store.next_id()?),
                    &p.name,
                    &draft.group_id,
                    Some(&draft.id),
                    Message::Publication(public.clone()),
                    now,
                ));
            }
        }
        for s in self.subscribers.list()? {
            if s.state != SubscriberState::Active {
                continue;
            }
            let seen = Visibility::new(&infos, s.audience.as_deref());
            let Some(theirs) = approved.seen_by(&seen) else {
                continue;
            };
            if !s.wants(theirs.components.keys(), &infos) {
                continue;
            }
            out.push(Entry::new(
                seq_key(self.store.next_id()?),
                &s.target(),
                &draft.group_id,
                Some(&draft.id),
                Message::Publication(theirs),
                now,
            ));
        }
        Ok(out)
    }

    /// The entries one maintenance change queues: one per publisher, one per subscriber
    /// whose components it touches (email subscribers only for the changes worth a mail).
    pub fn plan_maintenance(
        &self,
        approved: &Approved,
        components: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<Entry>> {
        let thread = super::maintenance::delivery::thread(&approved.draft_id);
        let infos = self.infos();
        let mut out = Vec::new();
        let mut add = |target: &str, a: Approved| -> Result<()> {
            out.push(Entry::new(
                seq_key(self.store.next_id()?),
                target,
                &thread,
                None,
                Message::Publication(a),
                now,
            ));
            Ok(())
        };
        // As for incidents: a change is seen only by those who see one of its components.
        let touched = |seen: &Visibility| {
            seen.touches(components)
                .then(|| approved.seen_by(seen))
                .flatten()
        };
        if let Some(public) = touched(&Visibility::new(&infos, None)) {
            for p in self.publishers.iter() {
                add(&p.name, public.clone())?;
            }
        }
        for s in self.subscribers.list()? {
            let mails = matches!(s.channel, Channel::Email { .. });
            if s.state != SubscriberState::Active || (mails && !approved.kind.mails()) {
                continue;
            }
            let seen = Visibility::new(&infos, s.audience.as_deref());
            let Some(theirs) = touched(&seen) else {
                continue;
            };
            let mine: Vec<&String> = components.iter().filter(|c| seen.component(c)).collect();
            if !s.wants(mine.into_iter(), &infos) {
                continue;
            }
            add(&s.target(), theirs)?;
        }
        Ok(out)
    }

    /// The catalog's components as they stand.
    pub fn infos(&self) -> Vec<super::ComponentInfo> {
        self.catalog.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Writes planned entries inside a caller's transaction that includes
    /// [`Outbox::tables`].
    pub fn write_in(&self, tx: &Tx<'_>, entries: &[Entry]) -> std::result::Result<(), TxAbort> {
        for e in entries {
            tx.put(&self.active, &e.id, e)?;
            self.index.add_in(tx, e)?;
        }
        Ok(())
    }

    /// Queues the confirm mail for a new email subscriber, with the subscriber itself.
    pub fn add_subscriber(&self, s: &Subscriber, now: DateTime<Utc>) -> Result<()> {
        let confirm = match (&s.channel, s.state) {
            (Channel::Email { .. }, SubscriberState::PendingConfirmation) => Some(Entry::new(
                seq_key(self.store.next_id()?),
                &s.target(),
                &format!("subscription/{}", s.id),
                None,
                Message::ConfirmSubscription,
                now,
            )),
            _ => None,
        };
        let subs = self.subscribers.table();
        let entry = AuditEntry::new(now, &s.created_by, "subscriber_added")
            .detail(serde_json::json!({"subscriber": s.id}));
        let outcome = self.store.transaction(
            &[subs, &self.active, self.index.table(), self.audit.table()],
            |tx| {
                tx.put(subs, &s.id, s)?;
                if let Some(c) = &confirm {
                    tx.put(&self.active, &c.id, c)?;
                    self.index.add_in(tx, c)?;
                }
                self.audit.append_in(tx, &entry)
            },
        )?;
        outcome?;
        self.wake();
        Ok(())
    }

    /// Removes a subscriber and drops what was still queued for it.
    pub fn remove_subscriber(&self, id: &str, actor: &str, now: DateTime<Utc>) -> Result<()> {
        let target = format!("subscriber:{id}");
        let queued: Vec<Entry> = self
            .active()?
            .into_iter()
            .filter(|e| e.target == target)
            .collect();
        let subs = self.subscribers.table();
        let entry = AuditEntry::new(now, actor, "subscriber_removed")
            .detail(serde_json::json!({"subscriber": id, "dropped": queued.len()}));
        let outcome = self.store.transaction(
            &[subs, &self.active, &self.done, self.audit.table()],
            |tx| {
                tx.remove(subs, id)?;
                for e in &queued {
                    let mut e = e.clone();
                    e.state = EntryState::Dropped;
                    e.finished_at = Some(now);
                    e.note = Some("subscriber removed".into());
                    tx.remove(&self.active, &e.id)?;
                    tx.put(&self.done, &e.id, &e)?;
                }
                self.audit.append_in(tx, &entry)
            },
        )?;
        outcome.map_err(StoreError::from)
    }

    /// Entries with work left or waiting for an admin, in delivery order.
    pub fn active(&self) -> Result<Vec<Entry>> {
        Ok(self.active.scan()?.into_iter().map(|(_, e)| e).collect())
    }

    /// Every entry of one draft, finished or not, in delivery order.
    pub fn for_draft(&self, draft_id: &str) -> Result<Vec<Entry>> {
        self.owned_by(Owner::Draft(draft_id))
    }

    /// Every entry of one thread (an incident's group, a maintenance), finished or not, in
    /// delivery order.
    pub fn for_thread(&self, thread: &str) -> Result<Vec<Entry>> {
        self.owned_by(Owner::Thread(thread))
    }

    /// The entries of `owner`, finished or not, in delivery order: found through the
    /// index, or by reading every entry until this process has completed the index.
    fn owned_by(&self, owner: Owner<'_>) -> Result<Vec<Entry>> {
        let mut out: Vec<Entry> = if self.index.is_complete() {
            let ids = self.index.ids(owner)?;
            let open = self.active.get_many::<Entry>(&ids)?;
            let missing: Vec<String> = ids
                .iter()
                .zip(&open)
                .filter(|(_, e)| e.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            let finished = self.done.get_many::<Entry>(&missing)?;
            // An id without an entry: the entry's own write did not happen (crash).
            open.into_iter().chain(finished).flatten().collect()
        } else {
            self.active
                .scan::<Entry>()?
                .into_iter()
                .chain(self.done.scan::<Entry>()?)
                .map(|(_, e)| e)
                .filter(|e| owner.owns(e))
                .collect()
        };
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Indexes the entries stored before this process started; lookups use the index
    /// from then on.
    pub fn rebuild_index(&self) -> Result<()> {
        self.index.rebuild(&self.store, |after| {
            let open = self.active.iter_from::<Entry>(after)?;
            Ok(open.chain(self.done.iter_from::<Entry>(after)?))
        })
    }

    /// Saves an entry that still has work left (or waits for an admin). Not indexed
    /// again: what an entry belongs to never changes, and entries are indexed when they
    /// are queued (the mirror's timed syncs, the only ones queued here, never are).
    pub fn save(&self, e: &Entry) -> Result<()> {
        self.active.put(&e.id, e)
    }

    /// Saves entries; finished ones move to the done table, with their audit entries, all
    /// in one transaction.
    pub fn settle(&self, entries: &[Entry], audit: &[AuditEntry]) -> Result<()> {
        let outcome = self.store.transaction(&self.settle_tables(), |tx| {
            self.settle_in(tx, entries, audit)
        })?;
        outcome.map_err(StoreError::from)
    }

    /// The tables [`Outbox::settle_in`] writes.
    pub fn settle_tables(&self) -> [&Table; 4] {
        [
            &self.active,
            &self.done,
            self.index.table(),
            self.audit.table(),
        ]
    }

    /// [`Outbox::settle`] in the caller's transaction, which includes
    /// [`Outbox::settle_tables`].
    pub fn settle_in(
        &self,
        tx: &Tx<'_>,
        entries: &[Entry],
        audit: &[AuditEntry],
    ) -> std::result::Result<(), TxAbort> {
        for e in entries {
            // Entries queued by an earlier version are indexed as they finish.
            self.index.add_in(tx, e)?;
            if e.state.is_open() {
                tx.put(&self.active, &e.id, e)?;
            } else {
                tx.remove(&self.active, &e.id)?;
                // A mirror's timed sync, once done, is worth no record (one every ten
                // minutes would pile up).
                if e.message != Message::MirrorRefresh {
                    tx.put(&self.done, &e.id, e)?;
                }
            }
        }
        for a in audit {
            self.audit.append_in(tx, a)?;
        }
        Ok(())
    }

    /// Per-target memory of what statusgate last wrote there.
    pub fn record<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.records.get(key)
    }

    pub fn put_record<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.records.put(key, value)
    }

    /// The records table, to write a record inside a caller's transaction.
    pub fn records_table(&self) -> &Table {
        &self.records
    }

    /// Open entries per target, for health reports.
    pub fn pending_by_target(&self) -> Result<BTreeMap<String, usize>> {
        let mut out = BTreeMap::new();
        for e in self.active()? {
            if e.state == EntryState::Pending {
                *out.entry(e.target).or_insert(0) += 1;
            }
        }
        Ok(out)
    }
}

/// Outgoing delivery, wired from the configuration: the outbox approval writes into, the
/// worker that empties it, and the target health `/readyz` reports.
pub struct Delivery {
    pub outbox: Outbox,
    pub worker: deliver::Worker,
    pub health: health::Health,
}

/// Builds the publishers the configuration names. Fails on anything unusable, at start.
pub fn delivery(
    config: &crate::config::Config,
    store: &Store,
    public: crate::publish::PublicState,
    drafts: crate::draft::Drafts,
    lock: Arc<tokio::sync::Mutex<()>>,
    metrics: Arc<crate::metrics::Metrics>,
) -> std::result::Result<Delivery, String> {
    let targets = crate::publish::targets::from_config(config)?;
    let names: Vec<String> = config
        .publishers
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let subscribers = Subscribers::open(store).map_err(|e| e.to_string())?;
    let mut outbox = Outbox::open(
        store,
        subscribers,
        names
            .iter()
            .map(|n| PublisherRef { name: n.clone() })
            .collect(),
    )
    .map_err(|e| e.to_string())?;
    outbox.catalog = public.catalog.clone();
    // Off the start path: with a long history the first pass reads every entry once.
    let indexing = outbox.clone();
    std::thread::Builder::new()
        .name("statusgate-outbox-index".into())
        .spawn(move || {
            if let Err(e) = indexing.rebuild_index() {
                tracing::warn!(error = %e, "could not index the outbox; lookups read every entry");
            }
        })
        .map_err(|e| format!("cannot start the outbox indexer: {e}"))?;
    public.attach_outbox(outbox.clone());
    let health = health::Health::new(
        names,
        config.delivery.backoff.clone(),
        metrics.clone(),
        outbox.clone(),
    );
    let worker = deliver::Worker {
        outbox: outbox.clone(),
        targets,
        public,
        drafts,
        lock,
        metrics,
        delivery: config.delivery.clone(),
        health: health.clone(),
        sender: crate::publish::targets::webhook::WebhookSender::new()?,
        public_url: config.public_url.clone(),
        page_name: config.page.name.clone(),
        audiences: Arc::new(crate::publish::audience::Audience::from_config(config)),
        claim_stall: config.storage.lease.0,
        surface: None,
    };
    Ok(Delivery {
        outbox,
        worker,
        health,
    })
}
