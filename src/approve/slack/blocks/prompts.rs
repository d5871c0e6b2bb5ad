//! Messages not drawn for one draft's buttons: who is asked to decide, reminders, nudges
//! for quiet incidents, and `/status` with its help.

use super::*;

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
    listing(&mut lines, "Pending drafts", drafts, |d| {
        format!(
            "• *{}* rev {} · {} · {} · waiting {}",
            d.id,
            d.revision,
            kind_words(d.kind),
            escape(&truncate(&d.title, 120)),
            human(now - d.created_at)
        )
    });
    listing(&mut lines, "Open incidents", incidents, |i| {
        format!(
            "• *{}* · {} · {} · impact {} · last update {} ago",
            i.id,
            escape(&truncate(&i.name, 120)),
            i.status.label(),
            i.impact.as_str(),
            human(now - i.updated_at)
        )
    });
    let text = lines.join("\n");
    json!({"response_type": "ephemeral", "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(&text, SECTION_MAX)}}]})
}

/// A titled list of at most 20 lines, or the title and "none".
fn listing<T>(lines: &mut Vec<String>, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        lines.push(format!("*{title}:* none"));
    } else {
        lines.push(format!("*{title} ({})*", items.len()));
        lines.extend(items.iter().take(20).map(line));
    }
}

pub const HELP: &str = "*/status* — pending drafts and open incidents\n\
*/status approve D-12* — show the draft, with a button to approve what you read\n\
*/status edit D-12* — edit it in a form\n\
*/status reject D-12 reason…* — reject it\n\
*/status update INC-4 text…* — draft a public update for an open incident (approved like any draft)\n\
*/status declare api major_outage text…* — draft a new incident no alert reported\n\
*/status resolve INC-4 [text…]* — draft the resolution of an incident no alert will resolve\n\
*/status help* — this text";
