//! The public records. Field names follow Atlassian Statuspage where they overlap.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Publication;
use crate::vocab::{ComponentStatus, Impact, IncidentStatus, Slo};

/// A component as the catalog declares it (only what may be public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentInfo {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    pub position: usize,
    pub public: bool,
    pub depends_on: Vec<String>,
    /// Only on these audiences' pages; empty: on the public page (when `public`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Its service level objective, if it declares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
}

impl ComponentInfo {
    /// Whether a reader of `audience`'s page (`None`: the public page) sees this component:
    /// never an internal one, an audience's own only on its page.
    pub fn visible_to(&self, audience: Option<&str>) -> bool {
        self.public
            && (self.audiences.is_empty()
                || audience.is_some_and(|a| self.audiences.iter().any(|x| x == a)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ComponentState {
    pub status: ComponentStatus,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for ComponentState {
    fn default() -> Self {
        ComponentState {
            status: ComponentStatus::Operational,
            updated_at: None,
        }
    }
}

/// A component with its current public status.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PublicComponent {
    #[serde(flatten)]
    pub info: ComponentInfo,
    pub status: ComponentStatus,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AffectedComponent {
    pub code: String,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

/// One entry of an incident's public timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IncidentUpdate {
    /// `<draft id>-r<revision>`: what makes publishing idempotent.
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub display_at: DateTime<Utc>,
    pub affected_components: Vec<AffectedComponent>,
    pub draft_id: String,
    pub revision: u32,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: String,
    pub number: u64,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The status this incident gives each component it affects.
    pub components: BTreeMap<String, ComponentStatus>,
    /// Newest last.
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    pub(super) fn new(number: u64, p: &Publication) -> Self {
        Incident {
            id: format!("INC-{number}"),
            number,
            name: p.title.clone(),
            status: p.status,
            impact: p.impact,
            created_at: p.at,
            updated_at: p.at,
            started_at: p.started_at,
            monitoring_at: None,
            resolved_at: None,
            components: BTreeMap::new(),
            updates: Vec::new(),
        }
    }

    pub(super) fn apply(&mut self, p: &Publication) {
        self.name = p.title.clone();
        self.status = p.status;
        self.impact = p.impact;
        self.updated_at = p.at;
        if p.status == IncidentStatus::Monitoring && self.monitoring_at.is_none() {
            self.monitoring_at = Some(p.at);
        }
        if p.status.is_closed() {
            self.resolved_at.get_or_insert(p.at);
        } else {
            self.resolved_at = None;
        }
        for (id, s) in &p.components {
            self.components.insert(id.clone(), *s);
        }
    }
}

/// One change of a component's public status; the uptime history is made of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub at: DateTime<Utc>,
    pub component: String,
    pub from: ComponentStatus,
    pub to: ComponentStatus,
    pub incident_id: String,
}
