//! A draft's message in every state, with its buttons, and the ephemeral answers that
//! show a draft again.

use super::*;

/// The message for a draft, in any state: fallback text and blocks. `budget`: one line per
/// error budget the draft affects (`approve::budget::lines`).
pub fn draft_message(
    draft: &Draft,
    names: Names<'_>,
    public_url: &str,
    budget: &[String],
) -> (String, Value) {
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
    if pending && !budget.is_empty() {
        let text = format!(
            ":chart_with_downwards_trend: *Error budget* (as of posting)\n{}",
            escape(&budget.join("\n"))
        );
        blocks.push(json!({"type": "context", "block_id": "error_budget", "elements": [{"type": "mrkdwn", "text": truncate(&text, 2900)}]}));
    }
    if let Some(line) = change_line(draft) {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}));
    }
    if pending {
        blocks.push(action_buttons(draft));
    } else if matches!(draft.state, DraftState::Conflict | DraftState::Failed) {
        blocks.extend(crate::approve::slack::trouble::blocks(draft));
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
    // " by <who> on <when>" of the last such action, if any.
    let by = |action: &str| {
        last(&[action])
            .map(|h| format!(" by {} on {}", mention_actor(&h.actor), time(h.at)))
            .unwrap_or_default()
    };
    match draft.state {
        DraftState::Published | DraftState::Approved => {
            let by = by("approved");
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
            let by = by("rejected");
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
pub fn stale(current: &Draft, names: Names<'_>, public_url: &str, budget: &[String]) -> Value {
    draft_ephemeral(
        &format!(
            ":warning: {} changed before your approval: it is now at revision {}. Nothing was published. Read the newest text below; approve it if it is right.",
            current.id, current.revision
        ),
        current,
        names,
        public_url,
        budget,
    )
}

/// An ephemeral message with a note above a draft (with its buttons while it is pending).
pub fn draft_ephemeral(
    note: &str,
    draft: &Draft,
    names: Names<'_>,
    public_url: &str,
    budget: &[String],
) -> Value {
    let (text, blocks) = draft_message(draft, names, public_url, budget);
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
