//! Block Kit: how drafts, decisions, reminders and nudges look in Slack. Pure functions of
//! the records, so the worker can redraw a message from the store at any time.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::draft::{Draft, DraftKind};
use crate::publish::Incident;
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};

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

/// The message for a draft, in any state: fallback text and blocks.
pub fn draft_message(draft: &Draft, names: Names<'_>, public_url: &str) -> (String, Value) {
    let pending = draft.state == DraftState::Pending;
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&draft.title, 150), "emoji": false}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
            "*{}* · {} · revision {} · {}{}",
            draft.id,
            kind_words(draft.kind),
            draft.revision,
            state_words(draft.state),
            draft.incident_id.as_deref().map(|i| format!(" · {}", incident_link(public_url, i))).unwrap_or_default(),
        )}]}),
    ];
    blocks.extend(draft_body_blocks(draft, names));
    if let Some(line) = change_line(draft) {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}));
    }
    if pending {
        blocks.push(action_buttons(draft));
    } else if matches!(draft.state, DraftState::Conflict | DraftState::Failed) {
        blocks.extend(super::trouble::blocks(draft));
    } else {
        blocks.push(json!({"type": "section", "block_id": "decision", "text": {"type": "mrkdwn", "text": decision_line(draft, public_url)}}));
    }
    let text = format!(
        "Draft {} ({}, revision {}): {} — {}",
        draft.id,
        kind_words(draft.kind),
        draft.revision,
        draft.title,
        state_words(draft.state)
    );
    (text, Value::Array(blocks))
}

/// Body, proposed statuses and the alerts behind it: what an approver reads.
fn draft_body_blocks(draft: &Draft, names: Names<'_>) -> Vec<Value> {
    let body = if draft.body.trim().is_empty() {
        "_(no body)_".to_string()
    } else {
        let quoted: Vec<String> = escape(&draft.body)
            .lines()
            .map(|l| format!("> {l}"))
            .collect();
        truncate(&quoted.join("\n"), SECTION_MAX)
    };
    let components = if draft.components.is_empty() {
        "none".to_string()
    } else {
        draft
            .components
            .iter()
            .map(|(id, s)| format!("{}: {}", escape(&names(id)), s.label()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut blocks = vec![
        json!({"type": "section", "block_id": "body", "text": {"type": "mrkdwn", "text": body}}),
        json!({"type": "section", "block_id": "fields", "fields": [
            {"type": "mrkdwn", "text": format!("*Components*\n{}", truncate(&components, 1900))},
            {"type": "mrkdwn", "text": format!("*Impact*\n{}\n*Incident status*\n{}", draft.impact.as_str(), draft.incident_status.label())},
        ]}),
    ];
    if draft.flapping {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": ":warning: Flapping: the alerts behind this keep recovering and failing again."}]}));
    }
    // What the approver must know and customers never read: alerts left out of a truncated
    // notification, internal components affected.
    for note in &draft.notes {
        let text = format!(":information_source: {}", escape(note));
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&text, 1900)}]}));
    }
    if !draft.alerts.is_empty() {
        let firing = draft
            .alerts
            .iter()
            .filter(|a| a.status == crate::ingest::AlertStatus::Firing)
            .count();
        let mut links: Vec<String> = draft
            .alerts
            .iter()
            .take(ALERT_LINKS_MAX)
            .map(|a| {
                let name = a
                    .labels
                    .get("alertname")
                    .or_else(|| a.labels.get("pd_service"))
                    .cloned()
                    .unwrap_or_else(|| a.fingerprint.clone());
                let url = a.generator_url.trim();
                if url.starts_with("http://") || url.starts_with("https://") {
                    format!(
                        "<{}|{}>",
                        url.replace('|', "%7C").replace('>', "%3E"),
                        escape(&name)
                    )
                } else {
                    escape(&name)
                }
            })
            .collect();
        if draft.alerts.len() > ALERT_LINKS_MAX {
            links.push(format!("and {} more", draft.alerts.len() - ALERT_LINKS_MAX));
        }
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(&format!(
            "{} alert{} ({} firing), internal: {}",
            draft.alerts.len(),
            if draft.alerts.len() == 1 { "" } else { "s" },
            firing,
            links.join(" · ")
        ), 2900)}]}),
        );
    }
    blocks
}

/// "Revision 3: edited by @alice (title, body)", from the draft's history.
fn change_line(draft: &Draft) -> Option<String> {
    if draft.revision <= 1 {
        return None;
    }
    let h = draft.history.iter().rev().find(|h| {
        h.revision == draft.revision && (h.action == "revised" || h.action == "edited")
    })?;
    let what = h.detail.split(';').next().unwrap_or("").trim();
    Some(format!(
        ":pencil2: Revision {}: {} by {}{}",
        draft.revision,
        h.action,
        mention_actor(&h.actor),
        if what.is_empty() {
            String::new()
        } else {
            format!(" (changed: {})", escape(what))
        }
    ))
}

fn action_buttons(draft: &Draft) -> Value {
    let value = draft_ref(draft);
    json!({"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
         "text": {"type": "plain_text", "text": "Approve & publish"},
         "confirm": {
            "title": {"type": "plain_text", "text": "Publish to the status page?"},
            "text": {"type": "mrkdwn", "text": format!("Revision {} of {} goes public as written.", draft.revision, draft.id)},
            "confirm": {"type": "plain_text", "text": "Publish"},
            "deny": {"type": "plain_text", "text": "Not yet"}}},
        {"type": "button", "action_id": EDIT, "value": value, "text": {"type": "plain_text", "text": "Edit"}},
        {"type": "button", "action_id": REJECT, "style": "danger", "value": value, "text": {"type": "plain_text", "text": "Reject"}},
    ]})
}

fn state_words(state: DraftState) -> &'static str {
    match state {
        DraftState::Pending => "waiting for approval",
        DraftState::Approved => "approved, publishing",
        DraftState::Published => "published",
        DraftState::Rejected => "rejected",
        DraftState::Expired => "expired",
        DraftState::Failed => "failed",
        DraftState::Conflict => "conflict",
    }
}

/// Who decided what, when; with the published incident's link.
pub fn decision_line(draft: &Draft, public_url: &str) -> String {
    let last = |actions: &[&str]| {
        draft
            .history
            .iter()
            .rev()
            .find(|h| actions.contains(&h.action.as_str()))
    };
    match draft.state {
        DraftState::Published | DraftState::Approved => {
            let by = last(&["approved"])
                .map(|h| format!(" by {} on {}", mention_actor(&h.actor), time(h.at)))
                .unwrap_or_default();
            let link = draft
                .incident_id
                .as_deref()
                .map(|i| format!(" as {}", incident_link(public_url, i)))
                .unwrap_or_default();
            if draft.state == DraftState::Published {
                format!(":white_check_mark: *Approved*{by} and published{link}.")
            } else {
                format!(":hourglass_flowing_sand: *Approved*{by}; publishing{link}.")
            }
        }
        DraftState::Rejected => {
            let by = last(&["rejected"])
                .map(|h| format!(" by {} on {}", mention_actor(&h.actor), time(h.at)))
                .unwrap_or_default();
            let reason = draft
                .reason
                .as_deref()
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default();
            format!(":no_entry_sign: *Rejected*{by}{reason}")
        }
        DraftState::Expired => {
            let when = last(&["expired", "withdrawn"])
                .map(|h| format!(" on {}", time(h.at)))
                .unwrap_or_default();
            let reason = draft.reason.as_deref().unwrap_or("nobody decided in time");
            format!(
                ":hourglass: *Closed without publishing*{when}: {}",
                escape(reason)
            )
        }
        DraftState::Failed | DraftState::Conflict => format!(
            ":warning: *{}*{}",
            state_words(draft.state),
            draft
                .reason
                .as_deref()
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default()
        ),
        DraftState::Pending => String::new(),
    }
}

/// Ephemeral answer to an approval of an old revision: the newest text, to approve again.
pub fn stale(current: &Draft, names: Names<'_>, public_url: &str) -> Value {
    draft_ephemeral(
        &format!(
            ":warning: {} changed before your approval: it is now at revision {}. Nothing was published. Read the newest text below; approve it if it is right.",
            current.id, current.revision
        ),
        current,
        names,
        public_url,
    )
}

/// An ephemeral message with a note above a draft (with its buttons while it is pending).
pub fn draft_ephemeral(note: &str, draft: &Draft, names: Names<'_>, public_url: &str) -> Value {
    let (text, blocks) = draft_message(draft, names, public_url);
    let mut all = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": note}})];
    if let Value::Array(b) = blocks {
        all.extend(b);
    }
    json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": text,
        "blocks": all,
    })
}

/// A one-line ephemeral answer.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

/// The edit modal, filled with the draft as it stands.
pub fn edit_modal(draft: &Draft, names: Names<'_>) -> Value {
    let mut blocks = vec![
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
            "Editing revision {} of {}. Saving makes revision {}; nothing is published until someone approves it.",
            draft.revision, draft.id, draft.revision + 1
        )}]}),
        json!({"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
               "element": {"type": "plain_text_input", "action_id": "value", "initial_value": truncate(&draft.title, 255), "max_length": 255}}),
    ];
    // Slack's text inputs hold at most 3000 characters; a longer body is edited over the API.
    if draft.body.chars().count() <= 3000 {
        blocks.push(json!({"type": "input", "block_id": "body", "label": {"type": "plain_text", "text": "Message to customers"},
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": true, "initial_value": draft.body, "max_length": 3000}}));
    } else {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "The body is longer than Slack's 3000-character limit for a form; edit it over the API (`PATCH /api/v1/drafts/{id}`)."}]}));
    }
    let statuses = [
        IncidentStatus::Investigating,
        IncidentStatus::Identified,
        IncidentStatus::Monitoring,
        IncidentStatus::Resolved,
    ];
    blocks.push(select(
        "incident_status",
        "Incident status",
        statuses.iter().map(|s| (s.as_str(), s.label())),
        draft.incident_status.as_str(),
        draft.incident_status.label(),
    ));
    let impacts = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];
    blocks.push(select(
        "impact",
        "Impact",
        impacts.iter().map(|i| (i.as_str(), i.as_str())),
        draft.impact.as_str(),
        draft.impact.as_str(),
    ));
    let component_statuses = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
    ];
    for (id, status) in &draft.components {
        blocks.push(select(
            &format!("component:{id}"),
            &truncate(&names(id), 2000),
            component_statuses.iter().map(|s| (s.as_str(), s.label())),
            status.as_str(),
            status.label(),
        ));
    }
    json!({
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": draft_ref(draft),
        "title": {"type": "plain_text", "text": truncate(&format!("Edit {}", draft.id), 24)},
        "submit": {"type": "plain_text", "text": "Save revision"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    })
}

fn select<'a>(
    block_id: &str,
    label: &str,
    options: impl Iterator<Item = (&'a str, &'a str)>,
    initial: &str,
    initial_label: &str,
) -> Value {
    let options: Vec<Value> = options
        .map(|(v, l)| json!({"text": {"type": "plain_text", "text": l}, "value": v}))
        .collect();
    json!({"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
        "element": {"type": "static_select", "action_id": "value", "options": options,
            "initial_option": {"text": {"type": "plain_text", "text": initial_label}, "value": initial}}})
}

/// Asks for an (optional) reason before rejecting.
pub fn reject_modal(draft: &Draft) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": draft_ref(draft),
        "title": {"type": "plain_text", "text": truncate(&format!("Reject {}", draft.id), 24)},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*\nNothing will be published. The next change of the alerts makes a new draft.", escape(&draft.title))}},
            {"type": "input", "block_id": "reason", "optional": true, "label": {"type": "plain_text", "text": "Reason"},
             "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500}},
        ],
    })
}

/// "<@U1> <@U2> <!subteam^S1>": who is asked to decide.
pub fn mentions(approvers: &[String], groups: &[String]) -> String {
    approvers
        .iter()
        .map(|u| format!("<@{u}>"))
        .chain(groups.iter().map(|g| format!("<!subteam^{g}>")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reminder posted in a pending draft's thread.
pub fn reminder(draft: &Draft, waited: Duration, mentions: &str) -> String {
    let who = if mentions.is_empty() {
        String::new()
    } else {
        format!("{mentions} ")
    };
    format!(
        "{who}:bell: {} has been waiting {} for approval (revision {}). Approve, edit or reject it above.",
        draft.id,
        human(waited),
        draft.revision
    )
}

/// The nudge for an open incident nobody has updated publicly for a while.
pub fn nudge(
    incident: &Incident,
    quiet: Duration,
    mentions: &str,
    public_url: &str,
) -> (String, Value) {
    let text = format!(
        "{} has had no public update for {}",
        incident.id,
        human(quiet)
    );
    let who = if mentions.is_empty() {
        String::new()
    } else {
        format!("{mentions} ")
    };
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": format!(
            "{who}:speech_balloon: {} *{}* ({}) has had no public update for {}. Customers are waiting to hear from us.",
            incident_link(public_url, &incident.id),
            escape(&incident.name),
            incident.status.label(),
            human(quiet)
        )}},
        {"type": "actions", "block_id": "nudge", "elements": [
            {"type": "button", "action_id": NUDGE, "value": incident.id,
             "text": {"type": "plain_text", "text": "Draft a \u{201c}still investigating\u{201d} update"}}
        ]},
    ]);
    (text, blocks)
}

/// `/status`: pending drafts and open incidents.
pub fn status_list(drafts: &[Draft], incidents: &[Incident], now: DateTime<Utc>) -> Value {
    let mut lines = Vec::new();
    if drafts.is_empty() {
        lines.push("*Pending drafts:* none".to_string());
    } else {
        lines.push(format!("*Pending drafts ({})*", drafts.len()));
        for d in drafts.iter().take(20) {
            lines.push(format!(
                "• *{}* rev {} · {} · {} · waiting {}",
                d.id,
                d.revision,
                kind_words(d.kind),
                escape(&truncate(&d.title, 120)),
                human(now - d.created_at)
            ));
        }
    }
    if incidents.is_empty() {
        lines.push("*Open incidents:* none".to_string());
    } else {
        lines.push(format!("*Open incidents ({})*", incidents.len()));
        for i in incidents.iter().take(20) {
            lines.push(format!(
                "• *{}* · {} · {} · impact {} · last update {} ago",
                i.id,
                escape(&truncate(&i.name, 120)),
                i.status.label(),
                i.impact.as_str(),
                human(now - i.updated_at)
            ));
        }
    }
    let text = lines.join("\n");
    json!({"response_type": "ephemeral", "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, SECTION_MAX)}}]})
}

pub const HELP: &str = "*/status* — pending drafts and open incidents\n\
*/status approve D-12* — show the draft, with a button to approve what you read\n\
*/status edit D-12* — edit it in a form\n\
*/status reject D-12 reason…* — reject it\n\
*/status update INC-4 text…* — draft a public update for an open incident (approved like any draft)\n\
*/status help* — this text";

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
