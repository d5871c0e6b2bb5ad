//! Block Kit: how drafts, decisions, reminders and nudges look in Slack. Pure functions of
//! the records, so the worker can redraw a message from the store at any time.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::draft::{Draft, DraftKind};
use crate::publish::Incident;
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};

mod drafts;
mod modals;
mod prompts;
pub use drafts::{decision_line, draft_ephemeral, draft_message, stale};
pub use modals::{edit_modal, reject_modal};
pub use prompts::{mentions, nudge, reminder, status_list, HELP};

pub const APPROVE: &str = "sg_approve";
pub const EDIT: &str = "sg_edit";
pub const REJECT: &str = "sg_reject";
pub const NUDGE: &str = "sg_nudge_draft";
/// Modal callback ids.
pub const EDIT_VIEW: &str = "sg_edit";
pub const REJECT_VIEW: &str = "sg_reject";

/// Section text may hold 3000 characters; leave room for the wrapping.
const SECTION_MAX: usize = 2800;
const ALERT_LINKS_MAX: usize = 5;

/// Names components for people; the catalog knows them.
pub type Names<'a> = &'a dyn Fn(&str) -> String;

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// How a Slack user appears as an actor in drafts and the audit log.
pub fn slack_actor(user_id: &str, name: &str) -> String {
    let name = if name.trim().is_empty() {
        user_id
    } else {
        name.trim()
    };
    format!("{name} (slack:{user_id})")
}

/// A Slack user as a mention, anyone else by name.
pub fn mention_actor(actor: &str) -> String {
    if let Some(id) = actor
        .strip_suffix(')')
        .and_then(|a| a.rsplit_once("(slack:"))
        .map(|(_, id)| id)
    {
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return format!("<@{id}>");
        }
    }
    escape(actor)
}

/// `D-12:3`: the draft and the revision a button was drawn for.
pub fn draft_ref(draft: &Draft) -> String {
    format!("{}:{}", draft.id, draft.revision)
}

pub fn parse_ref(value: &str) -> Option<(String, u32)> {
    let (id, rev) = value.rsplit_once(':')?;
    let rev = rev.parse().ok()?;
    (!id.is_empty()).then(|| (id.to_string(), rev))
}

/// "40 s", "12 min", "2 h 5 min".
pub fn human(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ if secs % 3600 < 60 => format!("{} h", secs / 3600),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

fn kind_words(kind: DraftKind) -> &'static str {
    match kind {
        DraftKind::NewIncident => "new incident",
        DraftKind::Update => "update",
        DraftKind::Resolution => "resolution",
    }
}

pub(super) fn time(at: DateTime<Utc>) -> String {
    // Slack shows this in each reader's own time zone; the fallback is UTC.
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// The incident's permalink on the public page (`GET /incidents/{id}`).
pub fn incident_link(public_url: &str, incident_id: &str) -> String {
    // Ids are `INC-n`; anything else is escaped rather than trusted inside a link.
    let path: String = incident_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "<{}/incidents/{}|{}>",
        public_url.trim_end_matches('/'),
        path,
        escape(incident_id)
    )
}

/// A one-line ephemeral answer.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_ref("D-12:3"), Some(("D-12".to_string(), 3)));
        assert_eq!(parse_ref("D-12"), None);
        assert_eq!(parse_ref(":3"), None);
        assert_eq!(parse_ref("D-1:x"), None);
    }

    #[test]
    fn slack_users_are_mentioned_and_others_named() {
        let actor = slack_actor("U123", "alice");
        assert_eq!(actor, "alice (slack:U123)");
        assert_eq!(mention_actor(&actor), "<@U123>");
        assert_eq!(mention_actor("oncall-bot"), "oncall-bot");
        assert_eq!(
            mention_actor("<b> (slack:<x>)"),
            "&lt;b&gt; (slack:&lt;x&gt;)"
        );
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(human(Duration::seconds(40)), "40 s");
        assert_eq!(human(Duration::seconds(12 * 60 + 5)), "12 min");
        assert_eq!(human(Duration::seconds(7200)), "2 h");
        assert_eq!(human(Duration::seconds(7500)), "2 h 5 min");
    }

    #[test]
    fn incident_links_are_page_permalinks() {
        assert_eq!(
            incident_link("https://status.example.com/", "INC-7"),
            "<https://status.example.com/incidents/INC-7|INC-7>"
        );
        assert_eq!(
            incident_link("https://status.example.com", "a|b>c"),
            "<https://status.example.com/incidents/a%7Cb%3Ec|a|b&gt;c>"
        );
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate("äöü", 3), "äöü");
        assert_eq!(truncate("äöüß", 3), "äö…");
    }
}
