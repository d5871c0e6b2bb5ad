//! Keeps each draft's Slack message in step with the draft. What a message shows (revision
//! and state) is stored beside it, so "needs an update" is simply a difference between the
//! draft and that record: durable by construction, after a restart too. Notices of
//! committed changes wake the worker; when Slack fails it backs off and later catches up
//! from the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::blocks;
use super::client::{Edit, SlackError};
use super::notices::Notices;
use super::Slack;
use crate::draft::{Draft, DraftNotice};
use crate::store::StoreError;
use crate::vocab::DraftState;

/// The Slack message of one draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub draft_id: String,
    /// The channel id Slack answered with.
    pub channel: String,
    pub ts: String,
    /// What the message shows.
    pub revision: u32,
    pub state: DraftState,
    pub posted_at: DateTime<Utc>,
    #[serde(default)]
    pub reminded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reminders: u32,
    /// When the draft was made: reminders are counted from it, and a message of a draft
    /// too young for one is passed over without reading the draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_created_at: Option<DateTime<Utc>>,
}

/// Why a round of delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Slack(#[from] SlackError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often the drafts that can still change are compared with the store even without
/// notices, as a safety net.
const FULL_CHECK: Duration = Duration::from_secs(60);
/// Reminders and nudges are checked this often.
const TICK: Duration = Duration::from_secs(1);

/// The background task that posts and updates messages, reminders and nudges.
pub struct Worker {
    slack: Slack,
    notices: broadcast::Receiver<DraftNotice>,
    /// Storm breaker and watchdog episodes.
    signal_notices: Notices,
    enabled_at: DateTime<Utc>,
    /// A comparison with the store is due.
    behind: bool,
    /// Notices may have been missed (at start, after a lag or a failure, on taking the
    /// lease): every draft ever is compared, not only those that can still change.
    lost: bool,
    /// The drafts seen open (pending, approved, in conflict), through a notice or a
    /// comparison, and not seen decided since: one decided meanwhile is compared once
    /// more, for its final state.
    last_open: BTreeSet<String>,
    failures: u32,
    retry_at: Option<Instant>,
    last_full: Instant,
    /// When reminders and nudges were last checked.
    reminders_at: Option<Instant>,
    /// Drafts Slack refused outright, at the revision and state refused; tried again when
    /// the draft changes or after a restart, not in a loop.
    refused: HashMap<String, (u32, DraftState)>,
    /// Another replica changed a draft (its notice never reaches this process).
    elsewhere: Arc<tokio::sync::Notify>,
}

impl Worker {
    /// Notified when another replica changed a draft: the messages catch up at once rather
    /// than at the next full check.
    pub fn changes_elsewhere(&self) -> Arc<tokio::sync::Notify> {
        self.elsewhere.clone()
    }

    pub(super) fn new(
        slack: Slack,
        notices: broadcast::Receiver<DraftNotice>,
        signal_notices: Notices,
        enabled_at: DateTime<Utc>,
    ) -> Worker {
        Worker {
            slack,
            notices,
            signal_notices,
            enabled_at,
            behind: true,
            lost: true,
            last_open: BTreeSet::new(),
            failures: 0,
            retry_at: None,
            last_full: Instant::now(),
            reminders_at: None,
            refused: HashMap::new(),
            elsewhere: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(&mut self, shutdown: CancellationToken) {
        loop {
            // Episodes are recorded whatever Slack is doing, so none is lost while it is down.
            if let Err(e) = self.signal_notices.observe(Utc::now()).await {
                tracing::error!(error = %e, "could not record a storm or watchdog change; trying again");
            }
            if !self.backing_off() {
                if self.behind || self.last_full.elapsed() >= FULL_CHECK {
                    let r = self.catch_up().await;
                    self.outcome(r);
                }
                if !self.behind {
                    let r = self.signal_notices.deliver(&self.slack, Utc::now()).await;
                    self.outcome(r);
                }
                // Reminders read every pending draft and open incident: once a TICK, not
                // once per notice, so a burst of draft changes is not a burst of scans.
                let due = self.reminders_at.is_none_or(|at| at.elapsed() >= TICK);
                if !self.behind && due {
                    let r = super::reminders::run(&self.slack, Utc::now()).await;
                    self.reminders_at = Some(Instant::now());
                    self.outcome(r);
                }
            }
            let wait = match self.retry_at {
                Some(at) => at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(10)),
                None => TICK,
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                notice = self.notices.recv() => match notice {
                    Ok(n) if !self.backing_off() => {
                        let r = self.sync_id(&n.draft.id).await;
                        self.outcome(r);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => self.notices_lost(),
                    Err(RecvError::Closed) => {
                        shutdown.cancelled().await;
                        break;
                    }
                },
                _ = self.signal_notices.changed() => {}
                _ = self.elsewhere.notified() => self.behind = true,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn backing_off(&self) -> bool {
        self.retry_at.is_some_and(|t| Instant::now() < t)
    }

    fn outcome(&mut self, r: Result<(), SyncError>) {
        match r {
            Ok(()) => {
                if self.failures > 0 {
                    tracing::info!("Slack answers again; messages are up to date");
                }
                self.failures = 0;
                self.retry_at = None;
                self.slack.delivered(self.behind);
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.notices_lost();
                let mut wait = self.slack.inner.client.backoff_for(self.failures);
                if let SyncError::Slack(SlackError::Unavailable {
                    retry_after: Some(d),
                    ..
                }) = &e
                {
                    wait = wait.max(*d);
                }
                self.retry_at = Some(Instant::now() + wait);
                tracing::warn!(error = %e, failures = self.failures, retry_in_ms = wait.as_millis() as u64, "Slack delivery failed; drafts are safe and will be brought up to date");
                self.slack.failed(&e.to_string(), true);
            }
        }
    }

    fn notices_lost(&mut self) {
        self.behind = true;
        self.lost = true;
    }

    /// Compares drafts with their messages, oldest first, and brings them up to date: every
    /// draft when notices were lost, otherwise those that can still change (open now) and
    /// those seen open that have been decided since. The history of drafts only grows, so
    /// comparing all of it on every change another replica announces (each pipeline step
    /// during a storm) or every minute would cost more each day. A draft made and
    /// decided on another replica between two comparisons is never posted: nobody could
    /// have acted on it.
    async fn catch_up(&mut self) -> Result<(), SyncError> {
        let book = self.slack.inner.approvals.drafts();
        let drafts = if self.lost {
            let mut all = book.list(None)?;
            // Listed newest first.
            all.reverse();
            all
        } else {
            let open = book.list_open()?;
            let open_ids: BTreeSet<&String> = open.iter().map(|d| &d.id).collect();
            let left: Vec<String> = self
                .last_open
                .iter()
                .filter(|id| !open_ids.contains(id))
                .cloned()
                .collect();
            let mut drafts = open;
            drafts.extend(book.get_many(&left)?);
            drafts.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            drafts
        };
        for draft in drafts {
            self.sync(&draft).await?;
        }
        self.behind = false;
        self.lost = false;
        self.last_full = Instant::now();
        Ok(())
    }

    async fn sync_id(&mut self, id: &str) -> Result<(), SyncError> {
        // The notice may be older than the store; the store is the truth.
        match self.slack.inner.approvals.drafts().get(id)? {
            Some(d) => self.sync(&d).await,
            None => Ok(()),
        }
    }

    async fn sync(&mut self, draft: &Draft) -> Result<(), SyncError> {
        // A draft seen open, through a notice or a comparison, is compared again once it
        // has left the open states, even if that change is only announced by another
        // replica.
        if draft.state.is_open() {
            self.last_open.insert(draft.id.clone());
        } else {
            self.last_open.remove(&draft.id);
        }
        let messages = &self.slack.inner.messages;
        let existing: Option<Message> = messages.get(&draft.id)?;
        match &existing {
            Some(m) if m.revision == draft.revision && m.state == draft.state => return Ok(()),
            // Decided before chat was switched on: history, not news.
            None if draft.state != DraftState::Pending && draft.updated_at < self.enabled_at => {
                return Ok(())
            }
            _ => {}
        }
        if self.refused.get(&draft.id) == Some(&(draft.revision, draft.state)) {
            return Ok(());
        }
        let result = match existing {
            Some(m) => self.update(draft, m).await,
            None => self.post(draft).await,
        };
        match result {
            Err(SyncError::Slack(SlackError::Refused(code))) => {
                tracing::error!(draft = %draft.id, error = %code, "Slack refused the draft's message; fix the Slack settings (channel, scopes, token)");
                self.slack.failed(
                    &format!("Slack refused the message for {}: {code}", draft.id),
                    false,
                );
                self.refused
                    .insert(draft.id.clone(), (draft.revision, draft.state));
                Ok(())
            }
            other => other,
        }
    }

    async fn post(&self, draft: &Draft) -> Result<(), SyncError> {
        let slack = &self.slack;
        let channel = slack.channel_for(draft.components.keys());
        let names = |id: &str| slack.name(id);
        let budget = slack.budget_lines(draft);
        let (text, blocks) = blocks::draft_message(draft, &names, &slack.inner.public_url, &budget);
        let (channel, ts) = slack
            .inner
            .client
            .post_message(&channel, &text, &blocks)
            .await?;
        let message = Message {
            draft_id: draft.id.clone(),
            channel,
            ts,
            revision: draft.revision,
            state: draft.state,
            posted_at: Utc::now(),
            reminded_at: None,
            reminders: 0,
            draft_created_at: Some(draft.created_at),
        };
        slack.inner.messages.put(&draft.id, &message)?;
        slack.inner.store.durable().await?;
        tracing::info!(draft = %draft.id, channel = %message.channel, ts = %message.ts, "posted the draft to Slack");
        Ok(())
    }

    async fn update(&self, draft: &Draft, mut message: Message) -> Result<(), SyncError> {
        let slack = &self.slack;
        let names = |id: &str| slack.name(id);
        let budget = slack.budget_lines(draft);
        let (text, blocks) = blocks::draft_message(draft, &names, &slack.inner.public_url, &budget);
        let edit = slack
            .inner
            .client
            .update_message(&message.channel, &message.ts, &text, &blocks)
            .await?;
        // Someone deleted the message (or its channel): post it afresh.
        if let Edit::Gone(e) = edit {
            tracing::warn!(draft = %draft.id, error = %e, "the draft's Slack message is gone; posting it again");
            slack.inner.messages.remove(&draft.id)?;
            return self.post(draft).await;
        }
        message.revision = draft.revision;
        message.state = draft.state;
        slack.inner.messages.put(&draft.id, &message)?;
        slack.inner.store.durable().await?;
        tracing::info!(draft = %draft.id, revision = draft.revision, state = draft.state.as_str(), "updated the draft's Slack message");
        Ok(())
    }
}

impl crate::store::Work for Worker {
    fn run(&mut self, stop: CancellationToken) -> impl std::future::Future<Output = ()> + Send {
        Worker::run(self, stop)
    }

    /// Another replica held the lease: its notices never reached this one.
    fn reload(&mut self) -> crate::store::Result<()> {
        self.notices_lost();
        Ok(())
    }
}
