//! How storm, watchdog and draft-budget notices look in Slack. Pure functions of the notice record, so
//! the message can be redrawn from the store at any time.

use chrono::Duration;
use serde_json::{json, Value};

use super::blocks::{escape, human, time, truncate, Names};
use super::notices::{Notice, NoticeKind};
use crate::config::StormConfig;

/// The notice's message: fallback text and blocks.
pub fn message(
    n: &Notice,
    names: Names<'_>,
    mentions: &str,
    storm: &StormConfig,
) -> (String, Value) {
    let mut blocks = Vec::new();
    if n.message.is_none() && n.closed_at.is_some() {
        blocks.push(context(
            "Posted after the fact: Slack could not be reached while this happened.",
        ));
    }
    let text = match n.kind {
        NoticeKind::Storm => storm_blocks(n, names, mentions, storm, &mut blocks),
        NoticeKind::Watchdog => watchdog_blocks(n, mentions, &mut blocks),
        NoticeKind::DraftBudget => budget_blocks(n, names, mentions, &mut blocks),
    };
    (text, Value::Array(blocks))
}

/// The thread reply (shown in the channel too) when an episode ends.
pub fn closed_reply(n: &Notice) -> String {
    let lasted = n
        .closed_at
        .map(|c| human(c - n.opened_at))
        .unwrap_or_default();
    match (n.kind, &n.note) {
        (NoticeKind::Storm, _) => format!(
            ":white_check_mark: The storm breaker closed after {lasted}: new incidents get their own drafts again."
        ),
        (NoticeKind::DraftBudget, _) => format!(
            ":white_check_mark: The draft budget allows drafts again after {lasted}: what was held is drafted."
        ),
        (NoticeKind::Watchdog, Some(note)) => format!(
            ":information_source: No longer watching for the watchdog alert: {}.",
            escape(note)
        ),
        (NoticeKind::Watchdog, None) => format!(
            ":white_check_mark: The watchdog alert arrives again, after {} without it: the alert feed is alive.",
            n.closed_at
                .map(|c| human(c - silent_since(n)))
                .unwrap_or_default()
        ),
    }
}

/// The silence began after the last heartbeat, before it was noticed.
fn silent_since(n: &Notice) -> chrono::DateTime<chrono::Utc> {
    n.last_seen.unwrap_or(n.opened_at).min(n.opened_at)
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}})
}

fn context(text: &str) -> Value {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2900)}]})
}

/// A titled, counted list; `none` stands for an empty one.
fn counted(title: &str, items: &[String], none: &str) -> Value {
    let listed = if items.is_empty() {
        none.to_string()
    } else {
        items.join(", ")
    };
    section(&format!("*{title} ({})*\n{listed}", items.len()))
}

fn who(mentions: &str) -> String {
    if mentions.is_empty() {
        String::new()
    } else {
        format!("{mentions} ")
    }
}

fn storm_blocks(
    n: &Notice,
    names: Names<'_>,
    mentions: &str,
    storm: &StormConfig,
    blocks: &mut Vec<Value>,
) -> String {
    let components: Vec<String> = n.components.iter().map(|c| escape(&names(c))).collect();
    let draft = match (&n.draft_id, &n.draft_link) {
        (Some(id), Some(link)) => format!(
            "The draft: <{}|{}>.",
            link.replace('|', "%7C").replace('>', "%3E"),
            escape(id)
        ),
        (Some(id), None) => format!("The draft: *{}*.", escape(id)),
        (None, _) => "The draft is posted here for approval once its alerts are grouped.".into(),
    };
    let window = human(storm.window.as_chrono());
    let (headline, listed, text) = match n.closed_at {
        None => (
            format!(
                "{}:cyclone: *Alert storm: the storm breaker is open* (since {}).\nMore than {} incidents would have opened within {window}, so new incidents now fold into one \u{201c}Multiple services affected\u{201d} draft instead of one draft each. Approve, edit or reject it like any draft.",
                who(mentions),
                time(n.opened_at),
                storm.max_incidents,
            ),
            "Components so far",
            format!(
                "Alert storm: the storm breaker is open; {} components so far fold into one draft",
                components.len()
            ),
        ),
        Some(closed) => (
            format!(
                ":white_check_mark: *The storm breaker closed* on {} after {} (open since {}). New incidents get their own drafts again; the storm's incident stays open until its alerts resolve.",
                time(closed),
                human(closed - n.opened_at),
                time(n.opened_at),
            ),
            "Components affected",
            format!(
                "The storm breaker closed; {} components were affected",
                components.len()
            ),
        ),
    };
    blocks.push(section(&headline));
    blocks.push(counted(listed, &components, "none yet"));
    blocks.push(context(&draft));
    text
}

/// `interval_seconds` carries the budget (`limits.drafts_per_hour`) for this kind.
fn budget_blocks(n: &Notice, names: Names<'_>, mentions: &str, blocks: &mut Vec<Value>) -> String {
    let components: Vec<String> = n.components.iter().map(|c| escape(&names(c))).collect();
    match n.closed_at {
        None => {
            blocks.push(section(&format!(
                "{}:hourglass: *The draft budget is spent* (since {}): at most {} new drafts an hour (`limits.drafts_per_hour`). New incidents wait and fold into one draft, posted here as soon as the budget allows.",
                who(mentions),
                time(n.opened_at),
                n.interval_seconds,
            )));
            blocks.push(counted("Waiting", &components, ""));
            format!(
                "The draft budget is spent: {} components wait for a draft",
                components.len()
            )
        }
        Some(closed) => {
            blocks.push(section(&format!(
                ":white_check_mark: *The draft budget allows drafts again* since {} (spent since {}). What waited is drafted.",
                time(closed),
                time(n.opened_at),
            )));
            "The draft budget allows drafts again".into()
        }
    }
}

fn watchdog_blocks(n: &Notice, mentions: &str, blocks: &mut Vec<Value>) -> String {
    let every = human(Duration::seconds(
        i64::try_from(n.interval_seconds).unwrap_or(i64::MAX / 1000),
    ));
    let seen = match (n.last_seen, n.heard) {
        (Some(at), true) => format!("Last seen {} (expected at least every {every}).", time(at)),
        (Some(at), false) => format!(
            "None has arrived since statusgate started on {} (expected at least every {every}).",
            time(at)
        ),
        (None, _) => format!("Expected at least every {every}."),
    };
    match n.closed_at {
        None => {
            blocks.push(section(&format!(
                "{}:rotating_light: *The watchdog alert stopped arriving.* The alert feed may be dead: new alerts may not reach statusgate, so \u{201c}operational\u{201d} on the status page may be wrong.\n{seen}",
                who(mentions)
            )));
            blocks.push(context(
                "Check Alertmanager, its route for the watchdog alert and the webhook to statusgate (address and token). This message says so when the alert arrives again.",
            ));
            "The watchdog alert stopped arriving: the alert feed may be dead and \"operational\" on the status page may be wrong".into()
        }
        Some(closed) => {
            let how = match &n.note {
                Some(note) => format!(
                    ":information_source: *The watchdog alert was silent* from {} until {}, when {}.",
                    time(silent_since(n)),
                    time(closed),
                    escape(note)
                ),
                None => format!(
                    ":white_check_mark: *The watchdog alert was silent* from {} and arrives again since {} ({} without it). The alert feed is alive.",
                    time(silent_since(n)),
                    time(closed),
                    human(closed - silent_since(n))
                ),
            };
            blocks.push(section(&format!("{how}\n{seen}")));
            "The watchdog alert was silent and arrives again".into()
        }
    }
}
