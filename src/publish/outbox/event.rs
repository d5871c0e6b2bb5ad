//! What an approval asks external targets to show, and the event names receivers see.
//!
//! Incidents and scheduled maintenance share one shape: a maintenance is an incident with a
//! window ([`Schedule`]) and maintenance statuses, as Atlassian Statuspage models it, so
//! maintenance drafts slot in as [`EventKind`] variants of their own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::draft::{Draft, DraftKind};
use crate::publish::AffectedComponent;
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

/// The kind of change an approval publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    IncidentCreated,
    IncidentUpdated,
    IncidentResolved,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceUpdated,
    MaintenanceCompleted,
    /// A scheduled maintenance deleted before it started.
    MaintenanceCancelled,
}

impl EventKind {
    /// The Standard Webhooks event `type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::IncidentCreated => "incident.created",
            Self::IncidentUpdated => "incident.updated",
            Self::IncidentResolved => "incident.resolved",
            Self::MaintenanceScheduled => "maintenance.scheduled",
            Self::MaintenanceStarted => "maintenance.started",
            Self::MaintenanceUpdated => "maintenance.updated",
            Self::MaintenanceCompleted => "maintenance.completed",
            Self::MaintenanceCancelled => "maintenance.cancelled",
        }
    }

    pub fn is_maintenance(self) -> bool {
        matches!(
            self,
            Self::MaintenanceScheduled
                | Self::MaintenanceStarted
                | Self::MaintenanceUpdated
                | Self::MaintenanceCompleted
                | Self::MaintenanceCancelled
        )
    }

    /// Whether email subscribers hear of it: a maintenance being planned, starting, ending
    /// or called off; text edits in between would be noise in an inbox.
    pub fn mails(self) -> bool {
        !matches!(self, Self::MaintenanceUpdated)
    }

    /// The kind of an incident draft's publication.
    pub fn of_draft(kind: DraftKind, status: IncidentStatus) -> EventKind {
        match (kind, status.is_closed()) {
            (DraftKind::Resolution, _) | (_, true) => Self::IncidentResolved,
            (DraftKind::NewIncident, false) => Self::IncidentCreated,
            (DraftKind::Update, false) => Self::IncidentUpdated,
        }
    }
}

/// A maintenance window, as Statuspage's scheduled incidents carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub scheduled_for: DateTime<Utc>,
    pub scheduled_until: DateTime<Utc>,
    /// Let the target move it to `in_progress` at `scheduled_for` by itself.
    pub auto_in_progress: bool,
    /// Let the target complete it at `scheduled_until` by itself.
    pub auto_completed: bool,
}

/// Exactly what a person approved, frozen at approval: retries send this, not whatever
/// the draft says later. A maintenance change (planned, so published without a draft) is
/// frozen the same way when it is saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approved {
    pub kind: EventKind,
    /// The draft; for a maintenance, the maintenance id.
    pub draft_id: String,
    /// The draft's revision; for a maintenance, its change number.
    pub revision: u32,
    pub title: String,
    pub body: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub components: BTreeMap<String, ComponentStatus>,
    #[serde(default)]
    pub schedule: Option<Schedule>,
    /// Component statuses this change moved on the built-in page (maintenance only; an
    /// incident's are read from its public timeline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<AffectedComponent>,
    pub approved_by: String,
    pub approved_at: DateTime<Utc>,
}

impl Approved {
    pub fn from_draft(draft: &Draft, actor: &str, at: DateTime<Utc>) -> Approved {
        Approved {
            kind: EventKind::of_draft(draft.kind, draft.incident_status),
            draft_id: draft.id.clone(),
            revision: draft.revision,
            title: draft.title.clone(),
            body: draft.body.clone(),
            status: draft.incident_status,
            impact: draft.impact,
            components: draft.components.clone(),
            schedule: None,
            affected: Vec::new(),
            approved_by: actor.to_string(),
            approved_at: at,
        }
    }

    /// This change as `seen` shows it (only components its reader sees), or `None` when
    /// it concerns none of them: an audience's incident never reaches the public's
    /// targets or another audience's subscribers.
    pub fn seen_by(&self, seen: &crate::publish::audience::Visibility) -> Option<Approved> {
        if !seen.touches(self.components.keys()) {
            return None;
        }
        let mut a = self.clone();
        a.components.retain(|id, _| seen.component(id));
        a.affected.retain(|c| seen.component(&c.code));
        Some(a)
    }

    /// A digest of what a target would show; equal digests mean a repeat that changes
    /// nothing there.
    pub fn digest(&self, components: Option<&[String]>) -> String {
        let shown: BTreeMap<&String, &ComponentStatus> = self
            .components
            .iter()
            .filter(|(id, _)| components.is_none_or(|only| only.contains(id)))
            .collect();
        let value = serde_json::json!({
            "title": self.title,
            "body": self.body,
            "status": self.status,
            "impact": self.impact,
            "components": shown,
            "schedule": self.schedule,
        });
        hex::encode(Sha256::digest(value.to_string().as_bytes()))
    }
}

/// What an outbox entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// An approved incident or maintenance change.
    Publication(Approved),
    /// The double opt-in mail to a new email subscriber.
    ConfirmSubscription,
    /// A mirror's sync with nothing published (uptime bars move, the "as of" time ages).
    MirrorRefresh,
}

impl Message {
    pub fn publication(&self) -> Option<&Approved> {
        match self {
            Message::Publication(a) => Some(a),
            Message::ConfirmSubscription | Message::MirrorRefresh => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_kinds_map_to_event_types() {
        use IncidentStatus::*;
        let t = |k, s| EventKind::of_draft(k, s).type_name();
        assert_eq!(t(DraftKind::NewIncident, Investigating), "incident.created");
        assert_eq!(t(DraftKind::Update, Monitoring), "incident.updated");
        assert_eq!(t(DraftKind::Update, Resolved), "incident.resolved");
        assert_eq!(t(DraftKind::Resolution, Resolved), "incident.resolved");
        assert!(EventKind::MaintenanceStarted.is_maintenance());
        assert!(EventKind::MaintenanceCancelled.is_maintenance());
        assert_eq!(
            EventKind::MaintenanceCancelled.type_name(),
            "maintenance.cancelled"
        );
        assert!(!EventKind::MaintenanceUpdated.mails() && EventKind::MaintenanceStarted.mails());
        assert_eq!(
            EventKind::MaintenanceCompleted.type_name(),
            "maintenance.completed"
        );
    }
}
