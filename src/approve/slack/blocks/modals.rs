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
    let shown = |s: IncidentStatus| (s.as_str(), s.label());
    blocks.push(select(
        "incident_status",
        "Incident status",
        &statuses,
        draft.incident_status,
        shown,
    ));
    let impacts = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];
    let shown = |i: Impact| (i.as_str(), i.as_str());
    blocks.push(select("impact", "Impact", &impacts, draft.impact, shown));
    // `under_maintenance` is set by scheduled maintenance, not by incidents.
    let component_statuses: Vec<ComponentStatus> = ComponentStatus::ALL
        .into_iter()
        .filter(|s| *s != ComponentStatus::UnderMaintenance)
        .collect();
    let shown = |s: ComponentStatus| (s.as_str(), s.label());
    for (id, status) in &draft.components {
        let label = truncate(&names(id), 2000);
        let block_id = format!("component:{id}");
        blocks.push(select(
            &block_id,
            &label,
            &component_statuses,
            *status,
            shown,
        ));
    }
    modal(EDIT_VIEW, draft, ("Edit", "Save revision"), json!(blocks))
}

/// A modal about one draft: `verb` heads it (with the draft id), `submit` labels its button.
fn modal(callback_id: &str, draft: &Draft, (verb, submit): (&str, &str), blocks: Value) -> Value {
    json!({
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": draft_ref(draft),
        "title": {"type": "plain_text", "text": truncate(&format!("{verb} {}", draft.id), 24)},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    })
}

/// A select of `options`, `current` picked; `shown` gives an option's value and label.
fn select<T: Copy>(
    block_id: &str,
    label: &str,
    options: &[T],
    current: T,
    shown: impl Fn(T) -> (&'static str, &'static str),
) -> Value {
    let option = |o: T| {
        let (value, label) = shown(o);
        json!({"text": {"type": "plain_text", "text": label}, "value": value})
    };
    let options: Vec<Value> = options.iter().map(|o| option(*o)).collect();
    json!({"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
        "element": {"type": "static_select", "action_id": "value", "options": options,
            "initial_option": option(current)}})
}

/// Asks for an (optional) reason before rejecting.
pub fn reject_modal(draft: &Draft) -> Value {
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{}*\nNothing will be published. The next change of the alerts makes a new draft.", escape(&draft.title))}},
        {"type": "input", "block_id": "reason", "optional": true, "label": {"type": "plain_text", "text": "Reason"},
         "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500}},
    ]);
    modal(REJECT_VIEW, draft, ("Reject", "Reject"), blocks)
}
