//! Draft: turns grouping decisions into drafts people approve: customer-language text from
//! templates, redacted, with the alerts behind it. One pending draft per incident; later
//! changes make a new revision of it rather than a second draft.

mod book;
pub mod preview;
pub mod redact;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus, Source};
use crate::catalog::Catalog;
use crate::group::Snapshot;
use crate::vocab::{ComponentStatus, DraftState, Impact, IncidentStatus};

pub use book::{
    DraftEvent, DraftNotice, Drafts, ExtraWrites, Ledger, ManualDraftError, ManualIncident,
    ManualUpdate, DRAFTS_TABLE, DRAFTS_TOPIC, LEDGER_TABLE,
};
pub use redact::Redactor;
pub use render::Templates;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftKind {
    NewIncident,
    Update,
    Resolution,
}

impl DraftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftKind::NewIncident => "new_incident",
            DraftKind::Update => "update",
            DraftKind::Resolution => "resolution",
        }
    }
}

/// One alert behind a draft (for approvers only; never public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DraftAlert {
    pub fingerprint: String,
    pub source: Source,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
}

impl From<&Alert> for DraftAlert {
    fn from(a: &Alert) -> Self {
        DraftAlert {
            fingerprint: a.fingerprint.clone(),
            source: a.source,
            status: a.status,
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            generator_url: a.generator_url.clone(),
        }
    }
}

/// Who did what to a draft, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub revision: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// An earlier revision's text, kept so approvers can see what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revision {
    pub revision: u32,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub title: String,
    pub body: String,
    pub incident_status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
}

/// A proposed public update, waiting for (or past) a human decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Draft {
    pub id: String,
    pub incident_id: Option<String>,
    pub group_id: String,
    pub kind: DraftKind,
    pub state: DraftState,
    pub revision: u32,
    pub title: String,
    pub body: String,
    pub incident_status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
    /// Internal components (`public: false`) the alerts name, with their status: context
    /// for the approver, never published. Their trouble reaches `components` only through
    /// the public components that depend on them.
    #[serde(default)]
    pub internal_components: BTreeMap<String, ComponentStatus>,
    pub alerts: Vec<DraftAlert>,
    pub flapping: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Fields a person edited; automatic revisions leave those alone.
    #[serde(default)]
    pub edited_fields: BTreeSet<String>,
    /// Why the draft ended as it did (rejection reason, expiry, withdrawal).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub revisions: Vec<Revision>,
    /// What approvers should know about the alerts behind it (e.g. an incomplete list).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Text a source offered for the body after a person had edited it (a PagerDuty
    /// status update), for the approver to take or leave. Redacted.
    #[serde(default)]
    pub suggestions: Vec<Suggestion>,
    /// A hand edit on an external target that this draft would overwrite; the draft waits
    /// in state `conflict` until an admin chooses.
    #[serde(default)]
    pub conflict: Option<Conflict>,
}

/// Text offered for a draft's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// When the source wrote it.
    pub at: DateTime<Utc>,
    /// `pagerduty`.
    pub source: Source,
    pub text: String,
}

/// What an external target shows that differs from what statusgate last wrote there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conflict {
    pub target: String,
    pub field: String,
    pub ours: String,
    pub theirs: String,
}

impl Draft {
    /// Moves to the next revision, keeping the current text in `revisions`.
    pub fn next_revision(&mut self, actor: &str, now: DateTime<Utc>) {
        self.revisions.push(Revision {
            revision: self.revision,
            at: self.updated_at,
            actor: self
                .history
                .last()
                .map(|h| h.actor.clone())
                .unwrap_or_else(|| actor.to_string()),
            title: self.title.clone(),
            body: self.body.clone(),
            incident_status: self.incident_status,
            impact: self.impact,
            components: self.components.clone(),
        });
        self.revision += 1;
        self.updated_at = now;
    }

    pub fn log(&mut self, at: DateTime<Utc>, actor: &str, action: &str, detail: impl Into<String>) {
        self.history.push(HistoryEntry {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            revision: self.revision,
            detail: detail.into(),
        });
    }
}

/// The most an internal component's trouble proposes for a public component that depends
/// on it (DESIGN.md "Grouping rules"); a route naming the public component may say worse.
pub const THROUGH_DEPENDENCY: ComponentStatus = ComponentStatus::DegradedPerformance;

/// A snapshot as the public may see it, and the internal components taken out of it.
/// Internal trouble is proposed, at most as [`THROUGH_DEPENDENCY`], for the public components
/// that depend on the internal one (directly or through other internal ones); nothing in
/// the returned snapshot names an internal component.
pub fn public_view(
    snap: &Snapshot,
    catalog: &Catalog,
) -> (Snapshot, BTreeMap<String, ComponentStatus>) {
    let internal_id = |id: &str| catalog.component(id).is_some_and(|c| !c.public);
    let (internal, mut public): (BTreeMap<_, _>, BTreeMap<_, _>) = snap
        .components
        .iter()
        .map(|(c, s)| (c.clone(), *s))
        .partition(|(c, _)| internal_id(c));
    for (id, status) in &internal {
        // A resolution names every component operational; maintenance is no trouble.
        let through = match status {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => {
                ComponentStatus::Operational
            }
            s => (*s).min(THROUGH_DEPENDENCY),
        };
        for dependant in public_dependants(catalog, id) {
            let e = public.entry(dependant).or_insert(through);
            *e = (*e).max(through);
        }
    }
    let mut view = snap.clone();
    view.components = public;
    view.caused_by
        .retain(|c, up| !internal_id(c) && !internal_id(up));
    (view, internal)
}

/// Public components that depend on `id`, directly or through internal components.
fn public_dependants(catalog: &Catalog, id: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::from([id.to_string()]);
    let mut queue = vec![id.to_string()];
    while let Some(current) = queue.pop() {
        for c in catalog.components() {
            if !c.depends_on.contains(&current) || !seen.insert(c.id.clone()) {
                continue;
            }
            if c.public {
                out.insert(c.id.clone());
            } else {
                queue.push(c.id.clone());
            }
        }
    }
    out
}

/// Notes for approvers about the alerts behind a snapshot.
pub fn notes_for(snap: &Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    let truncated = snap.alerts.iter().map(|a| a.truncated).max().unwrap_or(0);
    if truncated > 0 {
        notes.push(format!(
            "Alertmanager left {truncated} alert(s) of this group out of its notification (max_alerts): the alert list is incomplete. Configure `reconcile` to fetch them."
        ));
    }
    if snap.components.is_empty() && !snap.alerts.is_empty() {
        notes.push(
            "Internal components only: nothing public is affected, so nothing is proposed for the status page."
                .to_string(),
        );
    }
    if snap.storm {
        notes.push("Storm breaker: several incidents were folded into this one draft.".to_string());
    }
    notes
}

/// How many alerts templates see in `alerts` (`alert_count` has them all).
pub const TEMPLATE_ALERTS: usize = 20;

/// What templates see. Every string in it has been redacted.
#[derive(Debug, Clone, Serialize)]
pub struct TextContext {
    pub kind: &'static str,
    pub components: Vec<ComponentContext>,
    pub component_names: String,
    pub plural: bool,
    pub worst_status: &'static str,
    pub worst_status_label: &'static str,
    pub impact: &'static str,
    pub flapping: bool,
    pub storm: bool,
    pub alert_count: usize,
    pub firing_count: usize,
    pub recovered_names: String,
    pub recovered_plural: bool,
    /// The first `public_summary` annotation of the alerts, if any.
    pub summary: Option<String>,
    /// Components affected because they depend on one in a major outage.
    pub dependencies: Vec<DependencyContext>,
    pub started_at: String,
    pub alerts: Vec<AlertContext>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentContext {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub status: &'static str,
    pub status_label: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DependencyContext {
    pub name: String,
    pub depends_on: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertContext {
    pub alertname: String,
    pub status: &'static str,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Builds the template context for a snapshot; `previous` is what the incident said before
/// (to name what recovered).
pub fn text_context(
    kind: DraftKind,
    snap: &Snapshot,
    catalog: &Catalog,
    redactor: &Redactor,
    previous: Option<&BTreeMap<String, ComponentStatus>>,
) -> TextContext {
    let name = |id: &str| {
        catalog
            .component(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let order = |id: &str| {
        catalog
            .component(id)
            .map(|c| c.position)
            .unwrap_or(usize::MAX)
    };
    let mut ids: Vec<&String> = snap.components.keys().collect();
    ids.sort_by_key(|id| (order(id), (*id).clone()));
    let components: Vec<ComponentContext> = ids
        .iter()
        .map(|id| {
            let status = snap.components[*id];
            ComponentContext {
                id: (*id).clone(),
                name: name(id),
                group: catalog.component(id).and_then(|c| c.group.clone()),
                status: status.as_str(),
                status_label: status.label(),
            }
        })
        .collect();
    let names: Vec<String> = components.iter().map(|c| c.name.clone()).collect();
    let worst = snap
        .components
        .values()
        .copied()
        .max()
        .unwrap_or(ComponentStatus::Operational);
    let recovered: Vec<String> = previous
        .map(|prev| {
            prev.iter()
                .filter(|(id, s)| {
                    **s != ComponentStatus::Operational
                        && snap
                            .components
                            .get(*id)
                            .is_none_or(|now| *now == ComponentStatus::Operational)
                })
                .map(|(id, _)| name(id))
                .collect()
        })
        .unwrap_or_default();
    let redact_map = |m: &BTreeMap<String, String>| {
        m.iter()
            .map(|(k, v)| (k.clone(), redactor.redact(v)))
            .collect::<BTreeMap<_, _>>()
    };
    TextContext {
        kind: kind.as_str(),
        component_names: render::join_names(&names),
        plural: names.len() > 1,
        components,
        worst_status: worst.as_str(),
        worst_status_label: worst.label(),
        impact: worst.impact().as_str(),
        flapping: snap.flapping,
        storm: snap.storm,
        dependencies: snap
            .caused_by
            .iter()
            .map(|(c, up)| DependencyContext {
                name: name(c),
                depends_on: name(up),
            })
            .collect(),
        alert_count: snap.alerts.len(),
        firing_count: snap.alerts.iter().filter(|a| a.is_firing()).count(),
        recovered_plural: recovered.len() > 1,
        recovered_names: render::join_names(&recovered),
        summary: snap
            .alerts
            .iter()
            .filter(|a| a.is_firing())
            .find_map(|a| a.annotations.get("public_summary"))
            .map(|s| redactor.redact(s)),
        started_at: snap.started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        // Templates name a few alerts at most; redacting thousands on every revision of a
        // storm draft would be most of its cost.
        alerts: snap
            .alerts
            .iter()
            .take(TEMPLATE_ALERTS)
            .map(|a| AlertContext {
                alertname: redactor.redact(a.alertname()),
                status: match a.status {
                    AlertStatus::Firing => "firing",
                    AlertStatus::Resolved => "resolved",
                },
                labels: redact_map(&a.labels),
                annotations: redact_map(&a.annotations),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ComponentStatus::*;

    const CATALOG: &str = r#"
components:
  - {id: api, name: Public API, depends_on: [db]}
  - {id: search, name: Search, depends_on: [cache]}
  - {id: web, name: Web app, depends_on: [api]}
  - {id: db, name: Primary database, public: false}
  - {id: cache, name: Cache, public: false, depends_on: [db]}
routes:
  - name: db
    match: ['service="postgres"']
    components: [db]
"#;

    fn snap(components: &[(&str, ComponentStatus)]) -> Snapshot {
        Snapshot {
            group_id: "g".into(),
            components: components
                .iter()
                .map(|(c, s)| (c.to_string(), *s))
                .collect(),
            alerts: Vec::new(),
            flapping: false,
            started_at: Utc::now(),
            resolved_at: None,
            storm: false,
            caused_by: BTreeMap::from([("api".to_string(), "db".to_string())]),
        }
    }

    fn map(v: &[(&str, ComponentStatus)]) -> BTreeMap<String, ComponentStatus> {
        v.iter().map(|(c, s)| (c.to_string(), *s)).collect()
    }

    #[test]
    fn internal_trouble_reaches_public_dependants_as_degraded_performance_at_most() {
        let catalog = Catalog::from_sources(&[("t.yaml".into(), CATALOG.into())]).unwrap();
        let (public, internal) = public_view(&snap(&[("db", MajorOutage)]), &catalog);
        // Through the internal cache to search too; not on to web (api's own dependant).
        assert_eq!(
            public.components,
            map(&[
                ("api", DegradedPerformance),
                ("search", DegradedPerformance)
            ])
        );
        assert_eq!(internal, map(&[("db", MajorOutage)]));
        assert!(public.caused_by.is_empty(), "names the database");
    }

    #[test]
    fn a_route_that_names_the_public_component_may_say_worse() {
        let catalog = Catalog::from_sources(&[("t.yaml".into(), CATALOG.into())]).unwrap();
        let (public, _) = public_view(
            &snap(&[("db", DegradedPerformance), ("api", PartialOutage)]),
            &catalog,
        );
        assert_eq!(public.components["api"], PartialOutage);
        assert_eq!(public.components["search"], DegradedPerformance);
    }

    #[test]
    fn a_resolution_gives_the_dependants_back_too() {
        let catalog = Catalog::from_sources(&[("t.yaml".into(), CATALOG.into())]).unwrap();
        let (public, internal) = public_view(&snap(&[("db", Operational)]), &catalog);
        assert_eq!(
            public.components,
            map(&[("api", Operational), ("search", Operational)])
        );
        assert_eq!(internal, map(&[("db", Operational)]));
    }
}
