//! Scheduled maintenance: planned, not inferred from alerts, so it is published without a
//! draft (DESIGN.md invariants) and recorded in the audit log instead. The clock moves it
//! through `scheduled → in_progress → completed`; during a window its components show
//! `under_maintenance` unless an incident makes them worse. Every change, the clock's
//! included, is queued for external targets in the same transaction.
//!
//! Inside: the maintenance record and its clock (here), `changes` (scheduling, changing,
//! cancelling and the clock's tick, each written in one transaction), [`delivery`] (each
//! change queued in the outbox, and how its delivery stands) and [`api`] (HTTP for a
//! maintenance's deliveries; scheduling itself is in `approve::maintenance`).

pub mod api;
mod changes;
pub mod delivery;

pub use self::changes::{MaintenanceError, MaintenancePatch, NewMaintenance};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use self::delivery::{kind_of_step, MaintenanceDelivery, Noted};
use super::outbox::event::EventKind;
use super::{AffectedComponent, PublicState};
use crate::vocab::IncidentStatus;

pub const MAINTENANCES_TABLE: &str = "maintenances";

/// One maintenance window, as the page and the management API show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Maintenance {
    /// `MNT-<n>`.
    pub id: String,
    pub number: u64,
    pub name: String,
    /// `scheduled`, `in_progress`, `verifying` or `completed`.
    pub status: IncidentStatus,
    pub components: Vec<String>,
    pub scheduled_for: DateTime<Utc>,
    pub scheduled_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_by: String,
    /// Newest last.
    pub updates: Vec<MaintenanceUpdate>,
    /// Counts changes, so that each one's delivery to external targets has its own key.
    #[serde(default)]
    pub revision: u32,
    /// How delivery to external targets stands (none configured: null). A maintenance has
    /// no draft, so a failure or a hand edit on a target (`conflict`) is shown here.
    #[serde(default)]
    pub delivery: Option<MaintenanceDelivery>,
}

/// One entry of a maintenance's public timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceUpdate {
    /// `<maintenance id>-u<n>`, stable for feeds.
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub affected_components: Vec<AffectedComponent>,
    pub actor: String,
}

impl Maintenance {
    /// In its window (the clock or a person started it, nobody finished it).
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            IncidentStatus::InProgress | IncidentStatus::Verifying
        )
    }

    /// The clock must move it: its window has begun, or ended while it is still open.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.next_due().is_some_and(|at| now >= at)
    }

    /// When the clock must next move it (see [`Maintenance::is_due`]); None once it is over.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        if self.status == IncidentStatus::Scheduled {
            Some(self.scheduled_for)
        } else if self.is_active() {
            Some(self.scheduled_until)
        } else {
            None
        }
    }

    fn add_update(&mut self, status: IncidentStatus, body: String, at: DateTime<Utc>, actor: &str) {
        let n = self.updates.len() + 1;
        self.updates.push(MaintenanceUpdate {
            id: format!("{}-u{n}", self.id),
            status,
            body,
            created_at: at,
            affected_components: Vec::new(),
            actor: actor.to_string(),
        });
        self.status = status;
        self.updated_at = at;
        match status {
            IncidentStatus::InProgress => {
                self.started_at.get_or_insert(at);
            }
            IncidentStatus::Completed => {
                self.completed_at.get_or_insert(at);
            }
            _ => {}
        }
    }

    /// Takes the next step the clock allows, if any: its audit action and the time it
    /// counts from (the window's edge, not the possibly later tick).
    fn step(&mut self, now: DateTime<Utc>) -> Option<(&'static str, DateTime<Utc>)> {
        if self.status == IncidentStatus::Scheduled && now >= self.scheduled_for {
            let at = self.scheduled_for.max(self.created_at);
            self.add_update(
                IncidentStatus::InProgress,
                "Scheduled maintenance is in progress.".into(),
                at,
                "statusgate",
            );
            return Some(("maintenance_started", at));
        }
        if self.is_active() && now >= self.scheduled_until {
            let at = self
                .scheduled_until
                .max(self.started_at.unwrap_or(self.created_at));
            self.add_update(
                IncidentStatus::Completed,
                "The scheduled maintenance has been completed.".into(),
                at,
                "statusgate",
            );
            return Some(("maintenance_completed", at));
        }
        None
    }

    /// Every step the clock allows; returns their audit actions.
    #[cfg(test)]
    fn advance(&mut self, now: DateTime<Utc>) -> Vec<&'static str> {
        self.advance_noting(now, &mut Vec::new())
    }

    /// Every step the clock allows, each noted for external targets.
    fn advance_noting(&mut self, now: DateTime<Utc>, noted: &mut Vec<Noted>) -> Vec<&'static str> {
        let mut steps = Vec::new();
        while let Some((action, _)) = self.step(now) {
            noted.push(self.note(kind_of_step(action)));
            steps.push(action);
        }
        steps
    }

    /// Freezes this change for external targets under the next change number.
    pub(super) fn note(&mut self, kind: EventKind) -> Noted {
        self.revision += 1;
        (kind, self.clone())
    }
}

/// The maintenances whose window is open.
pub fn active(all: &[Maintenance]) -> Vec<&Maintenance> {
    all.iter().filter(|m| m.is_active()).collect()
}

impl PublicState {
    /// Every maintenance, the latest window first.
    pub fn maintenances(&self) -> crate::store::Result<Vec<Maintenance>> {
        super::newest_first(&self.maintenances, |m: &Maintenance| {
            (m.scheduled_for, m.number)
        })
    }

    pub fn maintenance(&self, id: &str) -> crate::store::Result<Option<Maintenance>> {
        self.maintenances.get(id)
    }

    /// Components in an open maintenance window, each with the maintenances covering it.
    pub fn under_maintenance(&self) -> crate::store::Result<BTreeMap<String, Vec<String>>> {
        Ok(under_maintenance_in(&self.maintenances()?))
    }
}

/// [`PublicState::under_maintenance`] of maintenances already read.
pub fn under_maintenance_in(maintenances: &[Maintenance]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in maintenances.iter().filter(|m| m.is_active()) {
        for c in &m.components {
            out.entry(c.clone()).or_default().push(m.id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn window(start: DateTime<Utc>, minutes: i64) -> Maintenance {
        let mut m = Maintenance {
            id: "MNT-1".into(),
            number: 1,
            name: "Database upgrade".into(),
            status: IncidentStatus::Scheduled,
            components: vec!["api".into()],
            scheduled_for: start,
            scheduled_until: start + Duration::minutes(minutes),
            created_at: start - Duration::hours(1),
            updated_at: start - Duration::hours(1),
            started_at: None,
            completed_at: None,
            created_by: "admin".into(),
            updates: Vec::new(),
            revision: 0,
            delivery: None,
        };
        m.add_update(
            IncidentStatus::Scheduled,
            "planned".into(),
            m.created_at,
            "admin",
        );
        m
    }

    #[test]
    fn the_clock_moves_a_maintenance_through_its_states_at_the_window_edges() {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        let mut m = window(start, 30);
        assert!(m.advance(start - Duration::seconds(1)).is_empty());
        assert_eq!(m.status, IncidentStatus::Scheduled);
        assert_eq!(m.next_due(), Some(start));
        assert_eq!(m.advance(start), vec!["maintenance_started"]);
        assert_eq!(m.status, IncidentStatus::InProgress);
        assert_eq!(m.started_at, Some(start));
        assert_eq!(m.next_due(), Some(start + Duration::minutes(30)));
        assert!(m.advance(start + Duration::minutes(29)).is_empty());
        assert_eq!(
            m.advance(start + Duration::minutes(31)),
            vec!["maintenance_completed"]
        );
        assert_eq!(m.status, IncidentStatus::Completed);
        assert_eq!(
            m.next_due(),
            None,
            "over: the clock has nothing left to move"
        );
        // Completion is dated at the window's end, not at the late tick.
        assert_eq!(m.completed_at, Some(start + Duration::minutes(30)));
        assert_eq!(m.updates.len(), 3);
        assert_eq!(m.updates[2].id, "MNT-1-u3");
    }

    #[test]
    fn a_window_missed_entirely_while_stopped_starts_and_completes_in_one_tick() {
        let start = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        let mut m = window(start, 30);
        let steps = m.advance(start + Duration::hours(5));
        assert_eq!(steps, vec!["maintenance_started", "maintenance_completed"]);
        assert_eq!(m.started_at, Some(start));
        assert_eq!(m.completed_at, Some(start + Duration::minutes(30)));
    }
}
