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

use super::client::{Patience, SlackError};
use super::notice_blocks;
use super::sync::{Message, SyncError};
use super::Slack;
use crate::signals::Signals;
use crate::store::{Store, StoreError, Table};

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

    /// Posts and updates what the notices need, oldest first.
    pub async fn deliver(&mut self, slack: &Slack, now: DateTime<Utc>) -> Result<(), SyncError> {
        for mut n in self.all()? {
            if n.kind == NoticeKind::Storm
                && n.draft_link.is_none()
                && (n.is_open() || n.due(now).is_some())
            {
                self.find_draft(slack, &mut n).await?;
            }
            let Some(due) = n.due(now) else { continue };
            if self.refused.get(&n.id) == Some(&n.version) {
                continue;
            }
            match self.send(slack, &mut n, due, now).await {
                Ok(()) => {}
                Err(SyncError::Slack(SlackError::Refused(code))) => {
                    tracing::error!(notice = %n.id, error = %code, "Slack refused a storm or watchdog notice; fix the Slack settings (channel, scopes, token)");
                    slack.failed(&format!("Slack refused the notice {}: {code}", n.id), false);
                    self.refused.insert(n.id.clone(), n.version);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        slack: &Slack,
        n: &mut Notice,
        due: Due,
        now: DateTime<Utc>,
    ) -> Result<(), SyncError> {
        let names = |id: &str| slack.name(id);
        let (text, blocks) =
            notice_blocks::message(n, &names, &slack.mentions(), &slack.inner.storm);
        let client = &slack.inner.client;
        match (due, n.message.clone()) {
            (Due::Post, _) | (_, None) => {
                let channel = slack.inner.channel.clone();
                let answer = client
                    .call(
                        "chat.postMessage",
                        &json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false, "unfurl_media": false}),
                        Some(&channel),
                        Patience::BACKGROUND,
                    )
                    .await?;
                let Some(ts) = answer["ts"].as_str() else {
                    return Err(SlackError::Refused(
                        "chat.postMessage answered without a ts".into(),
                    )
                    .into());
                };
                n.message = Some(Posted {
                    channel: answer["channel"].as_str().unwrap_or(&channel).to_string(),
                    ts: ts.to_string(),
                    version: n.version,
                    at: now,
                    // Posted after the fact: the message itself tells the end.
                    closed_told: !n.is_open(),
                });
                tracing::info!(notice = %n.id, "posted the notice to Slack");
            }
            (Due::Update | Due::Close, Some(mut m)) => {
                let r = client
                    .call(
                        "chat.update",
                        &json!({"channel": m.channel, "ts": m.ts, "text": text, "blocks": blocks}),
                        Some(&m.channel),
                        Patience::BACKGROUND,
                    )
                    .await;
                match r {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.code(),
                            Some("message_not_found" | "cant_update_message" | "channel_not_found")
                        ) =>
                    {
                        tracing::warn!(notice = %n.id, error = %e, "the notice's Slack message is gone; posting it again");
                        n.message = None;
                        self.table.put(&n.id, n)?;
                        return Box::pin(self.send(slack, n, Due::Post, now)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
                if due == Due::Close {
                    // An edit notifies nobody; the end goes to the thread and the channel.
                    let reply = notice_blocks::closed_reply(n);
                    client
                        .call(
                            "chat.postMessage",
                            &json!({"channel": m.channel, "thread_ts": m.ts, "reply_broadcast": true, "text": reply}),
                            Some(&m.channel),
                            Patience::BACKGROUND,
                        )
                        .await?;
                    m.closed_told = true;
                }
                m.version = n.version;
                m.at = now;
                n.message = Some(m);
                tracing::info!(notice = %n.id, closed = due == Due::Close, "updated the notice in Slack");
            }
        }
        self.table.put(&n.id, n)?;
        slack.inner.store.durable().await?;
        Ok(())
    }

    /// Finds the storm group's draft and a link to its message, once they exist.
    async fn find_draft(&mut self, slack: &Slack, n: &mut Notice) -> Result<(), SyncError> {
        let Some(group) = &n.group_id else {
            return Ok(());
        };
        let draft_id = match &n.draft_id {
            Some(id) => id.clone(),
            None => {
                let drafts = slack.inner.approvals.drafts().list(None)?;
                // Newest first: the storm group's latest draft.
                let Some(d) = drafts.into_iter().find(|d| &d.group_id == group) else {
                    return Ok(());
                };
                d.id
            }
        };
        let message: Option<Message> = slack.inner.messages.get(&draft_id)?;
        let link = match message.filter(|_| !self.no_permalink) {
            Some(m) => match slack
                .inner
                .client
                .call_form(
                    "chat.getPermalink",
                    &[("channel", &m.channel), ("message_ts", &m.ts)],
                    Patience::BACKGROUND,
                )
                .await
            {
                Ok(v) => v["permalink"].as_str().map(String::from),
                Err(e @ SlackError::Refused(_)) => {
                    tracing::warn!(error = %e, "no link to the storm draft's message; the notice names the draft instead");
                    self.no_permalink = true;
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        if n.draft_id.as_deref() != Some(&draft_id) || link.is_some() {
            n.draft_id = Some(draft_id);
            n.draft_link = link;
            n.version += 1;
            self.table.put(&n.id, n)?;
        }
        Ok(())
    }
}

/// The notices to write and to forget, given what the signals say. `None` for a signal
/// not reported since start: nothing is known about it yet.
pub fn plan(
    all: &[Notice],
    storm: Option<&crate::signals::StormState>,
    watchdog: Option<&crate::signals::WatchdogState>,
    watchdog_configured: bool,
    now: DateTime<Utc>,
) -> (Vec<Notice>, Vec<String>) {
    let mut changed: Vec<Notice> = Vec::new();
    if let Some(storm) = storm {
        let open_id = storm
            .open
            .then_some(storm.group_id.as_ref())
            .flatten()
            .map(|g| format!("storm:{g}"));
        for n in all
            .iter()
            .filter(|n| n.kind == NoticeKind::Storm && n.is_open())
        {
            if Some(&n.id) == open_id.as_ref() {
                if n.components != storm.components {
                    let mut n = n.clone();
                    n.components = storm.components.clone();
                    n.version += 1;
                    changed.push(n);
                }
            } else {
                let mut n = n.clone();
                n.close(now, None);
                changed.push(n);
            }
        }
        // A closed episode stays closed: its group no longer collects.
        if let Some(id) = open_id.filter(|id| !all.iter().any(|n| &n.id == id)) {
            changed.push(Notice {
                id,
                kind: NoticeKind::Storm,
                opened_at: storm.since.unwrap_or(now),
                closed_at: None,
                note: None,
                group_id: storm.group_id.clone(),
                components: storm.components.clone(),
                draft_id: None,
                draft_link: None,
                last_seen: None,
                heard: false,
                interval_seconds: 0,
                version: 1,
                message: None,
            });
        }
    }
    let open_watchdog = all
        .iter()
        .filter(|n| n.kind == NoticeKind::Watchdog && n.is_open());
    match watchdog {
        // A silence that outlived a restart is the same episode.
        Some(w)
            if w.silent
                && all
                    .iter()
                    .all(|n| n.kind != NoticeKind::Watchdog || !n.is_open()) =>
        {
            changed.push(Notice {
                id: format!("watchdog:{}", now.timestamp_millis()),
                kind: NoticeKind::Watchdog,
                opened_at: now,
                closed_at: None,
                note: None,
                group_id: None,
                components: Vec::new(),
                draft_id: None,
                draft_link: None,
                last_seen: w.last_seen,
                heard: w.heard,
                interval_seconds: w.interval_seconds,
                version: 1,
                message: None,
            });
        }
        Some(w) if w.silent => {}
        // Only a heartbeat since start proves the feed alive; right after a restart
        // "not silent" just means the interval has not passed yet.
        Some(w) if w.heard => {
            for n in open_watchdog {
                let mut n = n.clone();
                n.close(w.last_seen.unwrap_or(now), None);
                changed.push(n);
            }
        }
        Some(_) => {}
        None if !watchdog_configured => {
            for n in open_watchdog {
                let mut n = n.clone();
                n.close(now, Some("the watchdog is no longer configured"));
                changed.push(n);
            }
        }
        None => {}
    }
    let forget = all
        .iter()
        .filter(|n| {
            n.closed_at.is_some_and(|c| now - c > KEEP)
                && n.message.as_ref().is_some_and(|m| m.closed_told)
        })
        .map(|n| n.id.clone())
        .collect();
    (changed, forget)
}

/// The draft-budget notices to write: one episode from the first held draft until none
/// is held, its components kept up to date. `None`: not reported since start.
pub fn plan_held(
    all: &[Notice],
    held: Option<&crate::signals::HeldDrafts>,
    now: DateTime<Utc>,
) -> Vec<Notice> {
    let Some(held) = held else {
        return Vec::new();
    };
    let open = all
        .iter()
        .find(|n| n.kind == NoticeKind::DraftBudget && n.is_open());
    match (open, held.held) {
        (None, true) => {
            let since = held.since.unwrap_or(now);
            vec![Notice {
                id: format!("drafts_per_hour:{}", since.timestamp_millis()),
                kind: NoticeKind::DraftBudget,
                opened_at: since,
                closed_at: None,
                note: None,
                group_id: held.group_ids.first().cloned(),
                components: held.components.clone(),
                draft_id: None,
                draft_link: None,
                last_seen: None,
                heard: false,
                interval_seconds: u64::from(held.per_hour),
                version: 1,
                message: None,
            }]
        }
        (Some(n), true) if n.components != held.components => {
            let mut n = n.clone();
            n.components = held.components.clone();
            n.version += 1;
            vec![n]
        }
        (Some(n), false) => {
            let mut n = n.clone();
            n.close(now, None);
            vec![n]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::{StormState, WatchdogState};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn storm(open: bool, components: &[&str]) -> StormState {
        StormState {
            open,
            since: Some(t(0)),
            group_id: open.then(|| "G-1".to_string()),
            components: components.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn watchdog(silent: bool, heard: bool, last: i64) -> WatchdogState {
        WatchdogState {
            configured: true,
            silent,
            last_seen: Some(t(last)),
            interval_seconds: 60,
            heard,
        }
    }

    fn apply(all: &mut Vec<Notice>, changed: Vec<Notice>) {
        for c in changed {
            match all.iter_mut().find(|n| n.id == c.id) {
                Some(n) => *n = c,
                None => all.push(c),
            }
        }
    }

    fn posted(n: &mut Notice, at: DateTime<Utc>) {
        n.message = Some(Posted {
            channel: "C1".into(),
            ts: "1.1".into(),
            version: n.version,
            at,
            closed_told: false,
        });
    }

    #[test]
    fn one_storm_is_one_notice_whose_updates_wait_and_whose_end_does_not() {
        let mut all = Vec::new();
        let (c, _) = plan(&all, Some(&storm(true, &["a"])), None, false, t(1));
        assert_eq!(c.len(), 1);
        apply(&mut all, c);
        assert_eq!(all[0].due(t(1)), Some(Due::Post));
        posted(&mut all[0], t(1));
        // The same state again changes nothing.
        assert!(plan(&all, Some(&storm(true, &["a"])), None, false, t(2))
            .0
            .is_empty());
        let (c, _) = plan(&all, Some(&storm(true, &["a", "b"])), None, false, t(2));
        apply(&mut all, c);
        assert_eq!(all.len(), 1, "components joining are the same notice");
        assert_eq!(all[0].due(t(2)), None, "component updates are rate-limited");
        assert_eq!(all[0].due(t(31)), Some(Due::Update));
        let (c, _) = plan(&all, Some(&storm(false, &[])), None, false, t(3));
        apply(&mut all, c);
        assert_eq!(all[0].closed_at, Some(t(3)));
        assert_eq!(all[0].components, vec!["a", "b"], "the end keeps the list");
        assert_eq!(
            all[0].due(t(3)),
            Some(Due::Close),
            "the end is told at once"
        );
        // Closed stays closed, even if the old group is reported open again.
        assert!(plan(&all, Some(&storm(true, &["a"])), None, false, t(4))
            .0
            .is_empty());
    }

    #[test]
    fn a_silent_watchdog_survives_a_restart_and_only_a_heartbeat_ends_it() {
        let mut all = Vec::new();
        // Unreported: nothing known, nothing done.
        assert!(plan(&all, None, None, true, t(0)).0.is_empty());
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 0)), true, t(90));
        apply(&mut all, c);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].last_seen, Some(t(0)));
        // After a restart: not silent yet, but nothing heard either.
        assert!(
            plan(&all, None, Some(&watchdog(false, false, 100)), true, t(100))
                .0
                .is_empty()
        );
        // Silent again after the restart: the same episode, not a second one.
        assert!(
            plan(&all, None, Some(&watchdog(true, false, 100)), true, t(200))
                .0
                .is_empty()
        );
        let (c, _) = plan(&all, None, Some(&watchdog(false, true, 250)), true, t(251));
        apply(&mut all, c);
        assert_eq!(all[0].closed_at, Some(t(250)));
        // A new silence is a new episode.
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 250)), true, t(400));
        apply(&mut all, c);
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn an_unconfigured_watchdog_ends_its_episode_and_old_ones_are_forgotten() {
        let mut all = Vec::new();
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 0)), true, t(90));
        apply(&mut all, c);
        let (c, _) = plan(&all, None, None, false, t(100));
        apply(&mut all, c);
        assert!(all[0].note.is_some());
        all[0].message = Some(Posted {
            channel: "C1".into(),
            ts: "1.1".into(),
            version: all[0].version,
            at: t(101),
            closed_told: true,
        });
        let (_, forget) = plan(
            &all,
            None,
            None,
            false,
            t(101) + KEEP + Duration::seconds(1),
        );
        assert_eq!(forget, vec![all[0].id.clone()]);
    }

    #[test]
    fn a_spent_draft_budget_is_one_notice_until_nothing_is_held() {
        let held = |on: bool, components: &[&str]| crate::signals::HeldDrafts {
            held: on,
            since: Some(t(1)),
            group_ids: vec!["g1".into()],
            components: components.iter().map(|c| c.to_string()).collect(),
            per_hour: 30,
        };
        assert!(
            plan_held(&[], None, t(1)).is_empty(),
            "nothing reported yet"
        );
        let opened = plan_held(&[], Some(&held(true, &["web"])), t(1));
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].kind, NoticeKind::DraftBudget);
        assert!(opened[0].is_open());
        // Retries change nothing; more components held update the same notice.
        assert!(plan_held(&opened, Some(&held(true, &["web"])), t(2)).is_empty());
        let grown = plan_held(&opened, Some(&held(true, &["pay", "web"])), t(3));
        assert_eq!(
            (grown[0].id.as_str(), grown[0].version),
            (opened[0].id.as_str(), 2)
        );
        let closed = plan_held(&grown, Some(&held(false, &[])), t(4));
        assert_eq!(closed[0].closed_at, Some(t(4)));
        assert!(plan_held(&closed, Some(&held(false, &[])), t(5)).is_empty());
    }
}
