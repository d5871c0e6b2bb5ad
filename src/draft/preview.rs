//! `statusgate render`: what a payload would draft, without a server or a data directory.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{text_context, DraftKind, Redactor, Templates};
use crate::alert::Alert;
use crate::catalog::Catalog;
use crate::config::{Config, Dur};
use crate::group::{Effect, Grouper};

pub struct Preview {
    pub text: String,
    pub json: Value,
}

/// Routes a payload's alerts (parsed by the wiring, as ingest would) through the catalog
/// and grouping (as if `group_wait` had passed) and renders the drafts they would open.
pub fn preview(config: &Config, alerts: Vec<Alert>, now: DateTime<Utc>) -> Result<Preview, String> {
    let catalog = Catalog::load(&config.mappings).map_err(|e| e.to_string())?;
    let templates = Templates::from_config(config)?;
    let redactor = Redactor::new(&config.redaction);
    let mut grouping = config.grouping.clone();
    grouping.group_wait = Dur::secs(0);
    let mut grouper = Grouper::new(grouping, config.storm.clone(), Vec::new());
    let mut text = String::new();
    let mut notes = Vec::new();
    for alert in alerts {
        let name = alert.alertname().to_string();
        for effect in grouper.observe(alert, &catalog, now) {
            match effect {
                Effect::Unmapped { .. } => {
                    notes.push(json!({"alertname": name, "outcome": "unmapped"}))
                }
                Effect::Ignored { route } => {
                    notes.push(json!({"alertname": name, "outcome": "ignored", "route": route}))
                }
                _ => {}
            }
        }
    }
    let mut drafts = Vec::new();
    for effect in grouper.tick(now) {
        let Effect::Open(snap) = effect else { continue };
        let ctx = text_context(DraftKind::NewIncident, &snap, &catalog, &redactor, None);
        let ids: Vec<String> = ctx.components.iter().map(|c| c.id.clone()).collect();
        let (title, body) = templates.draft_text(DraftKind::NewIncident, &ids, &ctx)?;
        let (title, body) = (redactor.redact(&title), redactor.redact(&body));
        let worst = snap.components.values().copied().max();
        text += &format!("── draft: {title}\n");
        for c in &ctx.components {
            text += &format!("   {}: {}\n", c.id, c.status);
        }
        text += &format!(
            "   impact {}, {} alert(s){}\n\n{body}\n\n",
            worst.map(|w| w.impact().as_str()).unwrap_or("none"),
            snap.alerts.len(),
            if snap.flapping { ", flapping" } else { "" }
        );
        drafts.push(json!({
            "kind": "new_incident",
            "title": title,
            "body": body,
            "incident_status": "investigating",
            "impact": worst.map(|w| w.impact().as_str()).unwrap_or("none"),
            "components": snap.components,
            "alerts": snap.alerts.iter().map(|a| a.fingerprint.clone()).collect::<Vec<_>>(),
        }));
    }
    for n in &notes {
        text += &format!(
            "── {} alert `{}`{}\n",
            n["outcome"].as_str().unwrap_or(""),
            n["alertname"].as_str().unwrap_or(""),
            n["route"]
                .as_str()
                .map(|r| format!(" (route {r})"))
                .unwrap_or_default()
        );
    }
    if drafts.is_empty() && notes.is_empty() {
        text += "nothing would be drafted (no firing alerts)\n";
    }
    Ok(Preview {
        text,
        json: json!({"drafts": drafts, "not_drafted": notes}),
    })
}
