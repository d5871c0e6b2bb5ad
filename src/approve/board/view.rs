//! What the board's templates see: plain data, every string escaped by the templates
//! (`render_html`). Staff views: labels, hostnames and internal components as received.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::BoardState;
use crate::draft::Draft;
use crate::store::StoreError;
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};

/// How many audit entries the board shows.
const RECENT_AUDIT: usize = 25;

/// Statuses a person may give a component in an incident (maintenance sets the other).
const INCIDENT_COMPONENT_STATUSES: [ComponentStatus; 4] = [
    ComponentStatus::Operational,
    ComponentStatus::DegradedPerformance,
    ComponentStatus::PartialOutage,
    ComponentStatus::MajorOutage,
];
const INCIDENT_STATUSES: [IncidentStatus; 4] = [
    IncidentStatus::Investigating,
    IncidentStatus::Identified,
    IncidentStatus::Monitoring,
    IncidentStatus::Resolved,
];
const IMPACTS: [Impact; 4] = [Impact::None, Impact::Minor, Impact::Major, Impact::Critical];

pub fn time(t: DateTime<Utc>) -> Value {
    json!({
        "iso": t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "text": t.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

fn options<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>, selected: &str) -> Value {
    items
        .into_iter()
        .map(
            |(value, label)| json!({"value": value, "label": label, "selected": value == selected}),
        )
        .collect()
}

pub fn component_options(selected: Option<ComponentStatus>) -> Value {
    let selected = selected.map_or("", |s| s.as_str());
    options(
        INCIDENT_COMPONENT_STATUSES.map(|s| (s.as_str(), s.label())),
        selected,
    )
}

fn status_options(selected: IncidentStatus) -> Value {
    options(
        INCIDENT_STATUSES.map(|s| (s.as_str(), s.label())),
        selected.as_str(),
    )
}

fn impact_options(selected: Impact) -> Value {
    options(IMPACTS.map(|i| (i.as_str(), i.as_str())), selected.as_str())
}

impl BoardState {
    fn name(&self, id: &str) -> String {
        self.api.approvals.component_name(id)
    }

    fn statuses(&self, m: &BTreeMap<String, ComponentStatus>) -> Value {
        m.iter()
            .map(|(id, s)| {
                json!({"id": id, "name": self.name(id), "status": s.as_str(),
                    "status_label": s.label(), "options": component_options(Some(*s))})
            })
            .collect()
    }

    /// One draft as staff see it: text, proposed statuses, and the alerts as received.
    pub fn draft_view(&self, d: &Draft) -> Value {
        let alerts: Vec<Value> = d
            .alerts
            .iter()
            .map(|a| {
                json!({
                    "fingerprint": a.fingerprint,
                    "source": a.source.as_str(),
                    "status": format!("{:?}", a.status).to_lowercase(),
                    "labels": a.labels.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                    "annotations": a.annotations.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                    "starts_at": time(a.starts_at),
                    // Only web links: anything else (`javascript:`) is not offered as one.
                    "generator_url": (a.generator_url.starts_with("http://")
                        || a.generator_url.starts_with("https://"))
                        .then_some(&a.generator_url),
                })
            })
            .collect();
        let others: Vec<Value> = self
            .api
            .approvals
            .public()
            .components()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.info.public && !d.components.contains_key(&c.info.id))
            .map(|c| json!({"id": c.info.id, "name": c.info.name}))
            .collect();
        json!({
            "id": d.id,
            "revision": d.revision,
            "kind": d.kind.as_str(),
            "kind_label": d.kind.as_str().replace('_', " "),
            "state": d.state.as_str(),
            "pending": d.state == DraftState::Pending,
            "incident_id": d.incident_id,
            "title": d.title,
            "body": d.body,
            "incident_status": d.incident_status.as_str(),
            "incident_status_label": d.incident_status.label(),
            "impact": d.impact.as_str(),
            "components": self.statuses(&d.components),
            "internal_components": self.statuses(&d.internal_components),
            "other_components": others,
            "new_component_options": component_options(None),
            "status_options": status_options(d.incident_status),
            "impact_options": impact_options(d.impact),
            "error_budget": crate::approve::budget::lines(
                &self.api.approvals.error_budget(d),
                &|id: &str| self.name(id),
            ),
            "alerts": alerts,
            "alert_count": d.alerts.len(),
            "manual": d.alerts.is_empty(),
            "notes": d.notes,
            "flapping": d.flapping,
            "created_at": time(d.created_at),
            "updated_at": time(d.updated_at),
            "reason": d.reason,
            "history": d.history.iter().rev().map(|h| json!({
                "at": time(h.at), "actor": h.actor, "action": h.action,
                "revision": h.revision, "detail": h.detail,
            })).collect::<Vec<_>>(),
        })
    }

    /// Storm, draft budget and watchdog banners, and a banner per troubled target.
    fn banners(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .api
            .signals
            .banners()
            .into_iter()
            .map(|b| json!({"kind": b["kind"], "message": b["message"]}))
            .collect();
        if let Some(health) = &self.health {
            let report = health.report();
            if let Some(targets) = report["targets"].as_object() {
                for (name, t) in targets {
                    if t["state"] == "closed" {
                        continue;
                    }
                    out.push(json!({
                        "kind": "target",
                        "message": format!(
                            "Publishing to {name} is {}: {} update(s) waiting. Last error: {}",
                            t["state"].as_str().unwrap_or("in trouble"),
                            t["pending"],
                            t["last_error"].as_str().unwrap_or("none recorded"),
                        ),
                    }));
                }
            }
        }
        out
    }

    /// Everything on `/internal`.
    pub fn board_view(&self) -> Result<Value, StoreError> {
        let public = self.api.approvals.public();
        let pending = self
            .api
            .approvals
            .drafts()
            .list(Some(DraftState::Pending))?;
        let internal = self.api.approvals.drafts().internal_incidents()?;
        // Internal components have no public status: show what open work says of them.
        let mut internal_status: BTreeMap<String, ComponentStatus> = BTreeMap::new();
        let trouble = internal
            .iter()
            .flat_map(|l| l.internal_components.iter())
            .chain(pending.iter().flat_map(|d| d.internal_components.iter()));
        for (id, s) in trouble {
            let e = internal_status.entry(id.clone()).or_insert(*s);
            *e = (*e).max(*s);
        }
        let components: Vec<Value> = public
            .components()?
            .into_iter()
            .map(|c| {
                let status = if c.info.public {
                    c.status
                } else {
                    internal_status
                        .get(&c.info.id)
                        .copied()
                        .unwrap_or(ComponentStatus::Operational)
                };
                json!({"id": c.info.id, "name": c.info.name, "group": c.info.group,
                    "public": c.info.public, "status": status.as_str(), "status_label": status.label()})
            })
            .collect();
        let declarable: Vec<Value> = public
            .components()?
            .into_iter()
            .filter(|c| c.info.public)
            .map(|c| json!({"id": c.info.id, "name": c.info.name}))
            .collect();
        let incidents: Vec<Value> = public
            .unresolved()?
            .into_iter()
            .map(|i| {
                let pending_draft = pending
                    .iter()
                    .find(|d| d.incident_id.as_deref() == Some(i.id.as_str()))
                    .map(|d| d.id.clone());
                json!({"id": i.id, "name": i.name, "status_label": i.status.label(),
                    "impact": i.impact.as_str(), "components": self.statuses(&i.components),
                    "started_at": time(i.started_at), "updated_at": time(i.updated_at),
                    "pending_draft": pending_draft})
            })
            .collect();
        let internal: Vec<Value> = internal
            .iter()
            .map(|l| {
                json!({"group_id": l.group_id, "components": self.statuses(&l.internal_components),
                    "since": l.internal_since.map(time)})
            })
            .collect();
        let audit: Vec<Value> = self
            .api
            .audit
            .list(None, RECENT_AUDIT, None, None)?
            .into_iter()
            .map(|p| {
                let e = p.entry;
                json!({"at": time(e.at), "actor": e.actor, "action": e.action,
                    "draft_id": e.draft_id, "revision": e.revision})
            })
            .collect();
        Ok(json!({
            "refresh": !pending.is_empty(),
            "draft_count": pending.len(),
            "banners": self.banners(),
            "drafts": pending.iter().map(|d| self.draft_view(d)).collect::<Vec<_>>(),
            "incidents": incidents,
            "internal_incidents": internal,
            "components": components,
            "audit": audit,
            "declare": {
                "components": declarable,
                "component_options": component_options(Some(ComponentStatus::MajorOutage)),
                "status_options": status_options(IncidentStatus::Investigating),
            },
        }))
    }
}
