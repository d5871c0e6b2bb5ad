//! Cadence: a pending draft older than `remind_after` gets a reminder in its thread
//! mentioning the approvers (then at most one per `remind_interval`); an open incident with
//! no public update for `nudge_after` gets a nudge with a button that drafts a "still
//! investigating" update (at most one per `nudge_interval`). Both stop once the draft is
//! decided or the incident is resolved.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::blocks;
use super::client::{Patience, SlackError};
use super::sync::{Message, SyncError};
use super::Slack;
use crate::vocab::DraftState;

/// The last nudge for an incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Nudge {
    pub incident_id: String,
    pub at: DateTime<Utc>,
    pub channel: String,
    pub ts: String,
}

/// Sends the reminders and nudges that are due at `now`.
pub async fn run(slack: &Slack, now: DateTime<Utc>) -> Result<(), SyncError> {
    let inner = &slack.inner;
    let drafts = inner.approvals.drafts();
    let mut wrote = false;
    for (_, mut m) in inner.messages.scan::<Message>()? {
        if m.state != DraftState::Pending {
            continue;
        }
        // Reading every pending draft each second would cost the number of open ones.
        let too_soon = |created: DateTime<Utc>| now - created < inner.remind_after;
        if m.draft_created_at.is_some_and(too_soon)
            || m.reminded_at
                .is_some_and(|t| now - t < inner.remind_interval)
        {
            continue;
        }
        let Some(draft) = drafts.get(&m.draft_id)? else {
            continue;
        };
        if draft.state != DraftState::Pending {
            continue;
        }
        // Messages posted before they kept the draft's age learn it here.
        let waited = now - draft.created_at;
        if too_soon(draft.created_at) {
            continue;
        }
        let text = blocks::reminder(&draft, waited, &slack.mentions());
        post(
            slack,
            json!({"channel": m.channel, "thread_ts": m.ts, "text": text}),
            &m.channel,
        )
        .await?;
        m.reminded_at = Some(now);
        m.reminders += 1;
        inner.messages.put(&m.draft_id, &m)?;
        wrote = true;
        tracing::info!(draft = %draft.id, reminders = m.reminders, "reminded approvers in Slack");
    }

    let quiet_incidents: Vec<_> = inner
        .approvals
        .public()
        .unresolved()?
        .into_iter()
        .filter_map(|incident| {
            let last = incident
                .updates
                .last()
                .map_or(incident.updated_at, |u| u.created_at);
            let quiet = now - last;
            (quiet >= inner.nudge_after).then_some((incident, quiet))
        })
        .collect();
    // Read only when some incident is quiet long enough for a nudge.
    let waiting: HashSet<String> = if quiet_incidents.is_empty() {
        HashSet::new()
    } else {
        drafts
            .list(Some(DraftState::Pending))?
            .into_iter()
            .filter_map(|d| d.incident_id)
            .collect()
    };
    for (incident, quiet) in quiet_incidents {
        // A pending draft has reminders of its own.
        if waiting.contains(&incident.id) {
            continue;
        }
        let previous: Option<Nudge> = inner.nudges.get(&incident.id)?;
        if previous.is_some_and(|n| now - n.at < inner.nudge_interval) {
            continue;
        }
        let channel = slack.channel_for(incident.components.keys());
        let (text, blocks) = blocks::nudge(&incident, quiet, &slack.mentions(), &inner.public_url);
        let answer = post(
            slack,
            json!({"channel": channel, "text": text, "blocks": blocks}),
            &channel,
        )
        .await?;
        let nudge = Nudge {
            incident_id: incident.id.clone(),
            at: now,
            channel: answer["channel"].as_str().unwrap_or(&channel).to_string(),
            ts: answer["ts"].as_str().unwrap_or_default().to_string(),
        };
        inner.nudges.put(&incident.id, &nudge)?;
        wrote = true;
        tracing::info!(incident = %incident.id, quiet_s = quiet.num_seconds(), "nudged approvers about a quiet incident");
    }
    if wrote {
        inner.store.durable().await?;
    }
    Ok(())
}

async fn post(
    slack: &Slack,
    body: serde_json::Value,
    channel: &str,
) -> Result<serde_json::Value, SlackError> {
    slack
        .inner
        .client
        .call(
            "chat.postMessage",
            &body,
            Some(channel),
            Patience::BACKGROUND,
        )
        .await
}
