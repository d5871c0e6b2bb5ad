//! The storm breaker and the watchdog, told to the approvers in the main channel. Each
//! episode (one opening of the breaker, one silence of the watchdog) is a record in the
//! store, written when the signal changes whatever Slack is doing; its message is then
//! posted and kept up to date from that record. So a restart never posts an episode
//! twice, and an episode that came and went while Slack was down is still posted once
//! Slack answers, as a record of what happened.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use super::client::{Edit, Patience, SlackError};
use super::notice_blocks;
use super::sync::{Message, SyncError};
use super::Slack;
use crate::signals::Signals;
use crate::store::{Store, StoreError, Table};

mod deliver;
mod episodes;
pub use episodes::{plan, plan_held};

/// Per episode: what happened and the message that shows it.
pub const NOTICES_TABLE: &str = "slack_notices";

/// Components joining a storm are shown at most this often; the breaker opening and
/// closing, and the watchdog, are shown at once.
const STORM_UPDATE_EVERY: Duration = Duration::seconds(30);
/// Finished episodes that Slack has seen are forgotten after this long.
const KEEP: Duration = Duration::days(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Storm,
    Watchdog,
    /// New drafts held because `limits.drafts_per_hour` is spent.
    DraftBudget,
}

/// One episode of a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// `storm:<group id>`, `watchdog:<unix ms it went silent>` or
    /// `drafts_per_hour:<unix ms of the first hold>`.
    pub id: String,
    pub kind: NoticeKind,
    pub opened_at: DateTime<Utc>,
    /// When the breaker closed or the watchdog alert arrived again.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it ended, when not by the condition passing.
    #[serde(default)]
    pub note: Option<String>,
    /// Storm: the group new incidents fold into, and its components so far.
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub components: Vec<String>,
    /// Storm: the draft of the storm group, and a link to its Slack message.
    #[serde(default)]
    pub draft_id: Option<String>,
    #[serde(default)]
    pub draft_link: Option<String>,
    /// Watchdog: the last heartbeat before the silence, and whether one had arrived
    /// since statusgate started (if not, `last_seen` is the start).
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub heard: bool,
    #[serde(default)]
    pub interval_seconds: u64,
    /// Bumped whenever the message should change.
    pub version: u32,
    #[serde(default)]
    pub message: Option<Posted>,
}

/// The notice's message in Slack and what it shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
    pub version: u32,
    pub at: DateTime<Utc>,
    /// The end of the episode has been told (in the message and its thread).
    pub closed_told: bool,
}

/// What a notice's message needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Post,
    Update,
    /// Update the message to its final form and say so in its thread.
    Close,
}

impl Notice {
    fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    fn close(&mut self, at: DateTime<Utc>, note: Option<&str>) {
        self.closed_at = Some(at.max(self.opened_at));
        self.note = note.map(String::from);
        self.version += 1;
    }

    /// What the message needs at `now`, if anything.
    pub fn due(&self, now: DateTime<Utc>) -> Option<Due> {
        let Some(m) = &self.message else {
            return Some(Due::Post);
        };
        if !self.is_open() {
            return (!m.closed_told).then_some(Due::Close);
        }
        if m.version >= self.version {
            return None;
        }
        match self.kind {
            NoticeKind::Watchdog => Some(Due::Update),
            NoticeKind::Storm | NoticeKind::DraftBudget => {
                (now - m.at >= STORM_UPDATE_EVERY).then_some(Due::Update)
            }
        }
    }
}

/// Watches the signals and keeps their notices; owned by the sync worker.
pub struct Notices {
    table: Table,
    store: Store,
    signals: Signals,
    changes: Option<watch::Receiver<()>>,
    watchdog_configured: bool,
    /// Notices Slack refused outright, at the version refused: tried again when they
    /// change or after a restart, not in a loop.
    refused: HashMap<String, u32>,
    /// Slack would not make permalinks (a missing scope): stop asking until a restart.
    no_permalink: bool,
}

impl Notices {
    pub(super) fn new(
        store: &Store,
        signals: Signals,
        watchdog_configured: bool,
    ) -> Result<Notices, StoreError> {
        Ok(Notices {
            table: store.table(NOTICES_TABLE)?,
            store: store.clone(),
            changes: Some(signals.subscribe()),
            signals,
            watchdog_configured,
            refused: HashMap::new(),
            no_permalink: false,
        })
    }

    /// Resolves when a signal changes; never, once the signals are gone.
    pub async fn changed(&mut self) {
        let closed = match &mut self.changes {
            Some(rx) => rx.changed().await.is_err(),
            None => true,
        };
        if closed {
            self.changes = None;
            std::future::pending::<()>().await;
        }
    }

    fn all(&self) -> Result<Vec<Notice>, StoreError> {
        let mut all: Vec<Notice> = self.table.scan()?.into_iter().map(|(_, n)| n).collect();
        all.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Records what the signals say now; durable before it returns.
    pub async fn observe(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let all = self.all()?;
        let (mut changed, forget) = plan(
            &all,
            self.signals.storm_reported().as_ref(),
            self.signals.watchdog_reported().as_ref(),
            self.watchdog_configured,
            now,
        );
        changed.extend(plan_held(&all, self.signals.held_reported().as_ref(), now));
        if changed.is_empty() && forget.is_empty() {
            return Ok(());
        }
        for n in &changed {
            match n.kind {
                NoticeKind::Storm if n.is_open() && n.version == 1 => {
                    tracing::info!(notice = %n.id, "storm breaker open: telling the approvers in Slack")
                }
                NoticeKind::Watchdog if n.is_open() => {
                    tracing::info!(notice = %n.id, "watchdog silent: telling the approvers in Slack")
                }
                NoticeKind::DraftBudget if n.is_open() && n.version == 1 => {
                    tracing::info!(notice = %n.id, "drafts_per_hour spent: telling the approvers in Slack")
                }
                _ => {}
            }
            self.table.put(&n.id, n)?;
        }
        for id in &forget {
            self.table.remove(id)?;
        }
        self.store.durable().await
    }
}
