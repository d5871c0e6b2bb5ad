//! Drafts whose publishing needs a person: a **conflict** with a hand edit on a target
//! (shown with ours and theirs, and **Overwrite** / **Take theirs**) and a delivery that
//! gave up (**Retry**). The buttons take the same decisions as the admin API
//! (`resolve-conflict`, `retry`); in chat, configured approvers decide.

use std::time::Instant;

use serde_json::{json, Value};

use super::blocks::{self, draft_ref, escape, parse_ref, truncate};
use super::{Access, Slack};
use crate::draft::Draft;
use crate::publish::outbox::decide::DecideError;
use crate::publish::outbox::Choice;
use crate::vocab::DraftState;

pub const OVERWRITE: &str = "sg_conflict_overwrite";
pub const THEIRS: &str = "sg_conflict_theirs";
pub const RETRY: &str = "sg_retry";

/// A value shown side by side with the other; long bodies are cut, the API has them whole.
const VALUE_MAX: usize = 1200;

/// What the message of a draft in state `conflict` or `failed` shows below the draft.
pub fn blocks(draft: &Draft) -> Vec<Value> {
    let value = draft_ref(draft);
    match draft.state {
        DraftState::Conflict => {
            let detail = match &draft.conflict {
                Some(c) => format!(
                    ":warning: *Conflict on {}*: `{}` was changed by hand there since statusgate last wrote it, so nothing was written over it.\n*Ours (this draft)*\n{}\n*Theirs (on {})*\n{}",
                    escape(&c.target),
                    escape(&c.field).replace('`', "'"),
                    quote(&c.ours),
                    escape(&c.target),
                    quote(&c.theirs),
                ),
                None => format!(
                    ":warning: *Conflict*: {}",
                    escape(draft.reason.as_deref().unwrap_or("a target was changed by hand"))
                ),
            };
            let target = draft
                .conflict
                .as_ref()
                .map_or("the target".to_string(), |c| escape(&c.target));
            vec![
                json!({"type": "section", "block_id": "conflict", "text": {"type": "mrkdwn", "text": truncate(&detail, 2900)}}),
                json!({"type": "actions", "block_id": "resolve", "elements": [
                    {"type": "button", "action_id": OVERWRITE, "style": "danger", "value": value,
                     "text": {"type": "plain_text", "text": "Overwrite"},
                     "confirm": {
                        "title": {"type": "plain_text", "text": "Write over the hand edit?"},
                        "text": {"type": "mrkdwn", "text": format!("Ours replaces what was written by hand on {target}.")},
                        "confirm": {"type": "plain_text", "text": "Overwrite"},
                        "deny": {"type": "plain_text", "text": "Not yet"}}},
                    {"type": "button", "action_id": THEIRS, "value": value,
                     "text": {"type": "plain_text", "text": "Take theirs"}},
                ]}),
                json!({"type": "context", "elements": [{"type": "mrkdwn", "text":
                    "*Overwrite* writes ours over the hand edit; *Take theirs* keeps it and sends the rest of the update. Approvers choose here; admins also over the API (`POST /api/v1/drafts/{id}/resolve-conflict`)."}]}),
            ]
        }
        DraftState::Failed => vec![
            json!({"type": "section", "block_id": "failed", "text": {"type": "mrkdwn", "text": truncate(&format!(
                ":x: *Publishing failed*: {}",
                escape(draft.reason.as_deref().unwrap_or("a delivery gave up"))
            ), 2900)}}),
            json!({"type": "actions", "block_id": "retry", "elements": [
                {"type": "button", "action_id": RETRY, "style": "primary", "value": value,
                 "text": {"type": "plain_text", "text": "Retry"}},
            ]}),
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text":
                "*Retry* sends the failed deliveries again now. Approvers retry here; admins also over the API (`POST /api/v1/drafts/{id}/retry`)."}]}),
        ],
        _ => Vec::new(),
    }
}

fn quote(text: &str) -> String {
    if text.is_empty() {
        return "> _(empty)_".into();
    }
    truncate(&escape(text), VALUE_MAX)
        .lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A press of Overwrite, Take theirs or Retry. Answers through `response_url`; the message
/// itself is redrawn by the worker once the draft changes.
pub(super) async fn press(
    slack: &Slack,
    action_id: &str,
    value: &str,
    user_id: &str,
    actor: String,
    url: Option<&str>,
    started: Instant,
) {
    let (what, choice) = match action_id {
        OVERWRITE => ("resolve conflicts on", Some(Choice::Overwrite)),
        THEIRS => ("resolve conflicts on", Some(Choice::Theirs)),
        _ => ("retry", None),
    };
    let Some((id, rev)) = parse_ref(value) else {
        slack.reply(url, blocks::ephemeral("This button is malformed."));
        return;
    };
    if let Access::Refused(why) = slack.access(user_id, &actor, what, Some((&id, rev))).await {
        slack.reply(url, blocks::ephemeral(&why));
        return;
    }
    let decisions = slack.inner.decisions.clone();
    let task_id = id.clone();
    let mut task = tokio::spawn(async move {
        match choice {
            Some(c) => decisions.resolve_conflict(&task_id, c, &actor).await,
            None => decisions.retry(&task_id, &actor).await,
        }
    });
    let budget = super::interactions::ACK_BUDGET.saturating_sub(started.elapsed());
    match tokio::time::timeout(budget, &mut task).await {
        Ok(done) => report(slack, &id, choice, done, url),
        // Slack stops waiting after 3 seconds; the outcome follows through response_url.
        Err(_) => {
            let (slack, url) = (slack.clone(), url.map(str::to_string));
            tokio::spawn(async move {
                let done = task.await;
                report(&slack, &id, choice, done, url.as_deref());
            });
        }
    }
}

fn report(
    slack: &Slack,
    id: &str,
    choice: Option<Choice>,
    done: Result<Result<Draft, DecideError>, tokio::task::JoinError>,
    url: Option<&str>,
) {
    let text = match done {
        Ok(Ok(d)) => {
            tracing::info!(draft = %d.id, ?choice, "decided in Slack");
            match choice {
                Some(Choice::Overwrite) => format!(
                    ":white_check_mark: {id}: ours will be written over the hand edit; publishing continues."
                ),
                Some(Choice::Theirs) => format!(
                    ":white_check_mark: {id}: the hand edit stays; the rest of the update is sent."
                ),
                None => format!(":arrows_counterclockwise: {id}: the failed deliveries are sent again now."),
            }
        }
        Ok(Err(e @ (DecideError::Nothing(_) | DecideError::NotFound(_)))) => {
            format!("Nothing done: {}", escape(&e.to_string()))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, draft = id, "a decision from Slack failed");
            format!(
                "Nothing done: {}; try again shortly.",
                escape(&e.to_string())
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "decision task failed");
            "Nothing done: an internal error; try again.".to_string()
        }
    };
    slack.reply(url, blocks::ephemeral(&text));
}
