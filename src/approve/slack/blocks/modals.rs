//! The edit and reject modals.

use super::*;

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
