//! Atlassian Statuspage's public API v2 shapes, so existing widgets and consumers work
//! unchanged against statusgate.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::publish::{AffectedComponent, Incident, Maintenance, PublicComponent};
use crate::vocab::{ComponentStatus, Impact};

/// ISO 8601 with milliseconds, as Statuspage writes times.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::String(time(t))).unwrap_or(Value::Null)
}

pub struct PageMeta {
    pub id: String,
    pub name: String,
    pub url: String,
    pub updated_at: DateTime<Utc>,
}

pub fn page(meta: &PageMeta) -> Value {
    json!({
        "id": meta.id,
        "name": meta.name,
        "url": meta.url,
        "time_zone": "Etc/UTC",
        "updated_at": time(meta.updated_at),
    })
}

/// `none`, `minor`, `major`, `critical` — the worst current state.
pub fn indicator(components: &[PublicComponent], unresolved: &[Incident]) -> Impact {
    let from_components = components
        .iter()
        .filter(|c| c.info.public)
        .map(|c| match c.status {
            ComponentStatus::MajorOutage => Impact::Critical,
            ComponentStatus::PartialOutage => Impact::Major,
            ComponentStatus::DegradedPerformance => Impact::Minor,
            ComponentStatus::UnderMaintenance => Impact::Maintenance,
            ComponentStatus::Operational => Impact::None,
        });
    let from_incidents = unresolved.iter().map(|i| i.impact);
    from_components
        .chain(from_incidents)
        .max()
        .unwrap_or(Impact::None)
}

pub fn status(indicator: Impact) -> Value {
    let description = match indicator {
        Impact::None => "All Systems Operational",
        Impact::Maintenance => "Service Under Maintenance",
        Impact::Minor => "Minor Service Outage",
        Impact::Major => "Partial System Outage",
        Impact::Critical => "Major Service Outage",
    };
    json!({ "indicator": indicator.as_str(), "description": description })
}

fn slug(text: &str) -> String {
    let s: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

pub fn group_id(name: &str) -> String {
    format!("group-{}", slug(name))
}

/// Components and their groups, in Statuspage's flat list (groups carry child ids).
pub fn components(list: &[PublicComponent], page_id: &str, created: DateTime<Utc>) -> Vec<Value> {
    let public: Vec<&PublicComponent> = list.iter().filter(|c| c.info.public).collect();
    let mut out = Vec::new();
    let mut groups: Vec<(String, Vec<&PublicComponent>)> = Vec::new();
    for c in &public {
        if let Some(g) = &c.info.group {
            match groups.iter_mut().find(|(n, _)| n == g) {
                Some((_, members)) => members.push(c),
                None => groups.push((g.clone(), vec![c])),
            }
        }
    }
    let mut position = 0;
    for c in &public {
        position += 1;
        out.push(component(c, page_id, created, position));
    }
    for (name, members) in groups {
        position += 1;
        let worst = members
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(ComponentStatus::Operational);
        let updated = members
            .iter()
            .filter_map(|c| c.updated_at)
            .max()
            .unwrap_or(created);
        out.push(json!({
            "id": group_id(&name),
            "name": name,
            "status": worst.as_str(),
            "created_at": time(created),
            "updated_at": time(updated),
            "position": position,
            "description": Value::Null,
            "showcase": false,
            "start_date": Value::Null,
            "group_id": Value::Null,
            "page_id": page_id,
            "group": true,
            "only_show_if_degraded": false,
            "components": members.iter().map(|c| c.info.id.clone()).collect::<Vec<_>>(),
        }));
    }
    out
}

fn component(c: &PublicComponent, page_id: &str, created: DateTime<Utc>, position: usize) -> Value {
    json!({
        "id": c.info.id,
        "name": c.info.name,
        "status": c.status.as_str(),
        "created_at": time(created),
        "updated_at": time(c.updated_at.unwrap_or(created)),
        "position": position,
        "description": c.info.description,
        "showcase": true,
        "start_date": Value::Null,
        "group_id": c.info.group.as_deref().map(group_id),
        "page_id": page_id,
        "group": false,
        "only_show_if_degraded": false,
    })
}

/// An update's `affected_components`, public components only; `null` when none.
fn affected(changes: &[AffectedComponent], list: &[PublicComponent]) -> Value {
    let out: Vec<Value> = changes
        .iter()
        .filter(|a| list.iter().any(|c| c.info.id == a.code && c.info.public))
        .map(|a| {
            json!({
                "code": a.code,
                "name": a.name,
                "old_status": a.old_status.as_str(),
                "new_status": a.new_status.as_str(),
            })
        })
        .collect();
    if out.is_empty() {
        Value::Null
    } else {
        Value::Array(out)
    }
}

/// The public ones among `ids`, in Statuspage's shape.
fn shown<'a>(
    ids: impl Iterator<Item = &'a String>,
    list: &[PublicComponent],
    page_id: &str,
    at: DateTime<Utc>,
) -> Vec<Value> {
    ids.filter_map(|id| list.iter().find(|c| &c.info.id == id && c.info.public))
        .map(|c| component(c, page_id, at, c.info.position + 1))
        .collect()
}

/// One of `incident_updates`; it is displayed when it was written unless set otherwise.
fn update(incident_id: &str, id: &str, status: &str, body: &str, at: DateTime<Utc>) -> Value {
    json!({
        "id": id,
        "status": status,
        "body": body,
        "incident_id": incident_id,
        "created_at": time(at),
        "updated_at": time(at),
        "display_at": time(at),
        "affected_components": Value::Null,
        "deliver_notifications": true,
        "custom_tweet": Value::Null,
        "tweet_id": Value::Null,
    })
}

pub fn incident(i: &Incident, list: &[PublicComponent], page_id: &str, base_url: &str) -> Value {
    let comps = shown(i.components.keys(), list, page_id, i.created_at);
    let updates: Vec<Value> = i
        .updates
        .iter()
        .rev()
        .map(|u| {
            let mut v = update(&i.id, &u.id, u.status.as_str(), &u.body, u.created_at);
            v["display_at"] = time(u.display_at).into();
            v["affected_components"] = affected(&u.affected_components, list);
            v
        })
        .collect();
    json!({
        "id": i.id,
        "name": i.name,
        "status": i.status.as_str(),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "monitoring_at": opt_time(i.monitoring_at),
        "resolved_at": opt_time(i.resolved_at),
        "impact": i.impact.as_str(),
        "shortlink": format!("{}/incidents/{}", base_url.trim_end_matches('/'), i.id),
        "started_at": time(i.started_at),
        "page_id": page_id,
        "incident_updates": updates,
        "components": comps,
    })
}

/// A scheduled maintenance in Statuspage's shape: an incident with `impact: maintenance`
/// and its window in `scheduled_for`/`scheduled_until`.
pub fn maintenance(
    m: &Maintenance,
    list: &[PublicComponent],
    page_id: &str,
    base_url: &str,
) -> Value {
    let comps = shown(m.components.iter(), list, page_id, m.created_at);
    let updates: Vec<Value> = m
        .updates
        .iter()
        .rev()
        .map(|u| {
            let mut v = update(&m.id, &u.id, u.status.as_str(), &u.body, u.created_at);
            v["affected_components"] = affected(&u.affected_components, list);
            v
        })
        .collect();
    json!({
        "id": m.id,
        "name": m.name,
        "status": m.status.as_str(),
        "created_at": time(m.created_at),
        "updated_at": time(m.updated_at),
        "monitoring_at": Value::Null,
        "resolved_at": opt_time(m.completed_at),
        "impact": Impact::Maintenance.as_str(),
        "shortlink": format!("{}/incidents/{}", base_url.trim_end_matches('/'), m.id),
        "started_at": time(m.started_at.unwrap_or(m.scheduled_for)),
        "page_id": page_id,
        "incident_updates": updates,
        "components": comps,
        "scheduled_for": time(m.scheduled_for),
        "scheduled_until": time(m.scheduled_until),
    })
}
