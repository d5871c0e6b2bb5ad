//! Scheduled maintenance: planned, not inferred from alerts, so it is published without a
//! draft (DESIGN.md invariants) and recorded in the audit log instead. The clock moves it
//! through `scheduled → in_progress → completed`; during a window its components show
//! `under_maintenance` unless an incident makes them worse. Every change, the clock's
//! included, is queued for external targets in the same transaction.
//!
//! Inside: the maintenance record, its clock and its changes (here), [`delivery`] (each
//! change queued in the outbox, and how its delivery stands) and [`api`] (HTTP for a
//! maintenance's deliveries; scheduling itself is in `approve::maintenance`).

pub mod api;
pub mod delivery;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::delivery::{kind_of_step, MaintenanceDelivery, Noted};
use super::outbox::event::EventKind;
use super::{AffectedComponent, Incident, PublicState};
use crate::audit::AuditEntry;
use crate::store::{StoreError, TxAbort};
use crate::vocab::IncidentStatus;

pub const MAINTENANCES_TABLE: &str = "maintenances";

const MAX_TITLE: usize = 255;
const MAX_BODY: usize = 25_000;

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

/// What an admin asks for when scheduling a maintenance.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    #[serde(alias = "name")]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(alias = "start")]
    pub scheduled_for: DateTime<Utc>,
    #[serde(alias = "end")]
    pub scheduled_until: DateTime<Utc>,
}

/// A change; absent fields stay as they are. A `body` adds an update to the timeline.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenancePatch {
    #[serde(alias = "name")]
    pub title: Option<String>,
    pub body: Option<String>,
    pub components: Option<Vec<String>>,
    #[serde(alias = "start")]
    pub scheduled_for: Option<DateTime<Utc>>,
    #[serde(alias = "end")]
    pub scheduled_until: Option<DateTime<Utc>>,
    /// `in_progress` (start early), `verifying`, or `completed` (finish early).
    pub status: Option<IncidentStatus>,
}

/// Why a maintenance request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("maintenance {0} does not exist")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn check_text(title: Option<&str>, body: Option<&str>) -> Result<(), MaintenanceError> {
    if let Some(t) = title {
        if t.trim().is_empty() {
            return Err(MaintenanceError::Invalid("title must not be empty".into()));
        }
        if t.chars().count() > MAX_TITLE {
            return Err(MaintenanceError::Invalid(format!(
                "title is longer than {MAX_TITLE} characters"
            )));
        }
    }
    if body.is_some_and(|b| b.chars().count() > MAX_BODY) {
        return Err(MaintenanceError::Invalid(format!(
            "body is longer than {MAX_BODY} characters"
        )));
    }
    Ok(())
}

impl PublicState {
    /// Every maintenance, the latest window first.
    pub fn maintenances(&self) -> crate::store::Result<Vec<Maintenance>> {
        let mut all: Vec<Maintenance> = self
            .maintenances
            .scan::<Maintenance>()?
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        all.sort_by(|a, b| {
            b.scheduled_for
                .cmp(&a.scheduled_for)
                .then(b.number.cmp(&a.number))
        });
        Ok(all)
    }

    pub fn maintenance(&self, id: &str) -> crate::store::Result<Option<Maintenance>> {
        self.maintenances.get(id)
    }

    /// Components in an open maintenance window, each with the maintenances covering it.
    pub fn under_maintenance(&self) -> crate::store::Result<BTreeMap<String, Vec<String>>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in self.maintenances()?.iter().filter(|m| m.is_active()) {
            for c in &m.components {
                out.entry(c.clone()).or_default().push(m.id.clone());
            }
        }
        Ok(out)
    }

    fn check_components(&self, ids: &[String]) -> Result<Vec<String>, MaintenanceError> {
        let mut seen = BTreeSet::new();
        for id in ids {
            if self.component_info(id).is_none() {
                return Err(MaintenanceError::Invalid(format!(
                    "unknown component `{id}`"
                )));
            }
            seen.insert(id.clone());
        }
        Ok(seen.into_iter().collect())
    }

    /// Schedules a maintenance and publishes it at once (it is planned, not drafted).
    pub async fn create_maintenance(
        &self,
        req: NewMaintenance,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Maintenance, MaintenanceError> {
        check_text(Some(&req.title), Some(&req.body))?;
        let components = self.check_components(&req.components)?;
        if req.scheduled_until <= req.scheduled_for {
            return Err(MaintenanceError::Invalid(
                "scheduled_until must be after scheduled_for".into(),
            ));
        }
        if req.scheduled_until <= now {
            return Err(MaintenanceError::Invalid(
                "scheduled_until is in the past; a maintenance must end in the future".into(),
            ));
        }
        let _write = self.write.lock().await;
        let number = self.store.counter("maintenance")?;
        let id = format!("MNT-{number}");
        let mut m = Maintenance {
            id: id.clone(),
            number,
            name: req.title.trim().to_string(),
            status: IncidentStatus::Scheduled,
            components,
            scheduled_for: req.scheduled_for,
            scheduled_until: req.scheduled_until,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            created_by: actor.to_string(),
            updates: Vec::new(),
            revision: 0,
            delivery: None,
        };
        let body = match req.body.trim() {
            "" => format!(
                "Maintenance is scheduled from {} to {} (UTC).",
                m.scheduled_for.format("%Y-%m-%d %H:%M"),
                m.scheduled_until.format("%Y-%m-%d %H:%M")
            ),
            b => b.to_string(),
        };
        m.add_update(IncidentStatus::Scheduled, body, now, actor);
        let mut noted = vec![m.note(EventKind::MaintenanceScheduled)];
        let mut audit = vec![AuditEntry::new(now, actor, "maintenance_created").detail(
            json!({"maintenance_id": id, "title": m.name, "components": m.components,
                "scheduled_for": m.scheduled_for, "scheduled_until": m.scheduled_until}),
        )];
        let steps = m.advance_noting(now, &mut noted);
        audit.extend(step_entries(&m, &steps, now));
        self.save(vec![m.clone()], audit, noted, actor, now).await?;
        self.maintenance(&id)?.ok_or(MaintenanceError::NotFound(id))
    }

    /// Changes a maintenance that has not completed.
    pub async fn update_maintenance(
        &self,
        id: &str,
        patch: MaintenancePatch,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Maintenance, MaintenanceError> {
        check_text(patch.title.as_deref(), patch.body.as_deref())?;
        let _write = self.write.lock().await;
        let mut m = self
            .maintenance(id)?
            .ok_or_else(|| MaintenanceError::NotFound(id.to_string()))?;
        if m.status == IncidentStatus::Completed {
            return Err(MaintenanceError::Conflict(format!(
                "maintenance {id} is completed; it can no longer change"
            )));
        }
        let mut fields = Vec::new();
        if let Some(t) = &patch.title {
            m.name = t.trim().to_string();
            fields.push("title");
        }
        if let Some(c) = &patch.components {
            m.components = self.check_components(c)?;
            fields.push("components");
        }
        if let Some(start) = patch.scheduled_for {
            if m.status != IncidentStatus::Scheduled {
                return Err(MaintenanceError::Conflict(format!(
                    "maintenance {id} has started; its start can no longer move"
                )));
            }
            m.scheduled_for = start;
            fields.push("scheduled_for");
        }
        if let Some(end) = patch.scheduled_until {
            m.scheduled_until = end;
            fields.push("scheduled_until");
        }
        if m.scheduled_until <= m.scheduled_for {
            return Err(MaintenanceError::Invalid(
                "scheduled_until must be after scheduled_for".into(),
            ));
        }
        let mut steps = Vec::new();
        if let Some(status) = patch.status {
            fields.push("status");
            let step = match (m.status, status) {
                (from, to) if from == to => None,
                (IncidentStatus::Scheduled, IncidentStatus::InProgress) => {
                    // Starting early moves the window's start to now.
                    m.scheduled_for = now.min(m.scheduled_for);
                    Some("maintenance_started")
                }
                (IncidentStatus::InProgress, IncidentStatus::Verifying) => {
                    Some("maintenance_verifying")
                }
                (IncidentStatus::Verifying, IncidentStatus::InProgress) => {
                    Some("maintenance_resumed")
                }
                (IncidentStatus::InProgress | IncidentStatus::Verifying, IncidentStatus::Completed) => {
                    m.scheduled_until = now.min(m.scheduled_until);
                    Some("maintenance_completed")
                }
                (from, to) => {
                    return Err(MaintenanceError::Invalid(format!(
                        "a maintenance cannot go from {from} to {to} (in_progress, verifying and completed follow in that order; delete a scheduled one to cancel it)"
                    )))
                }
            };
            if let Some(step) = step {
                let body = patch.body.clone().unwrap_or_else(|| match status {
                    IncidentStatus::InProgress => "Scheduled maintenance is in progress.".into(),
                    IncidentStatus::Verifying => {
                        "The maintenance work is done; we are verifying the results.".into()
                    }
                    _ => "The scheduled maintenance has been completed.".into(),
                });
                m.add_update(status, body.trim().to_string(), now, actor);
                steps.push(step);
            }
        } else if let Some(body) = &patch.body {
            let status = m.status;
            m.add_update(status, body.trim().to_string(), now, actor);
        }
        if patch.body.is_some() {
            fields.push("body");
        }
        if fields.is_empty() {
            return Err(MaintenanceError::Invalid(
                "nothing to change: give title, body, components, scheduled_for, scheduled_until or status".into(),
            ));
        }
        m.updated_at = now;
        let mut noted = vec![m.note(
            steps
                .first()
                .map_or(EventKind::MaintenanceUpdated, |s| kind_of_step(s)),
        )];
        let mut audit = vec![AuditEntry::new(now, actor, "maintenance_updated")
            .detail(json!({"maintenance_id": id, "fields": fields}))];
        audit.extend(step_entries(&m, &steps, now));
        let clock = m.advance_noting(now, &mut noted);
        audit.extend(step_entries(&m, &clock, now));
        self.save(vec![m], audit, noted, actor, now).await?;
        self.maintenance(id)?
            .ok_or_else(|| MaintenanceError::NotFound(id.to_string()))
    }

    /// Cancels a maintenance that has not started. One in progress is finished instead
    /// (`status: completed`), so the public record of what happened stays.
    pub async fn delete_maintenance(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Maintenance, MaintenanceError> {
        let _write = self.write.lock().await;
        let m = self
            .maintenance(id)?
            .ok_or_else(|| MaintenanceError::NotFound(id.to_string()))?;
        if m.status != IncidentStatus::Scheduled {
            return Err(MaintenanceError::Conflict(format!(
                "maintenance {id} is {}; only a scheduled one can be deleted (finish one in progress with PATCH {{\"status\": \"completed\"}})",
                m.status
            )));
        }
        let entry = AuditEntry::new(now, actor, "maintenance_deleted")
            .detail(json!({"maintenance_id": id, "title": m.name}));
        // External targets hear that it is called off; on Statuspage it is completed with
        // a note saying so, which keeps its subscribers informed.
        let mut cancelled = m.clone();
        cancelled.add_update(
            IncidentStatus::Completed,
            "This scheduled maintenance has been cancelled.".into(),
            now,
            actor,
        );
        let queued = self.plan_maintenance(
            &[cancelled.note(EventKind::MaintenanceCancelled)],
            None,
            actor,
            now,
        )?;
        let mut tables = vec![&self.maintenances, self.audit.table()];
        tables.extend(queued.table());
        let outcome = self.store.transaction(&tables, |tx| {
            tx.remove(&self.maintenances, id)?;
            self.audit.append_in(tx, &entry)?;
            queued.write_in(tx)
        })?;
        outcome.map_err(abort)?;
        self.store.durable().await?;
        queued.wake();
        self.bump();
        Ok(m)
    }

    /// Moves every maintenance whose time has come. Returns how many moved.
    pub async fn tick_maintenances(&self, now: DateTime<Utc>) -> crate::store::Result<usize> {
        // Cheap check first: most ticks move nothing and need no lock.
        let due = |m: &Maintenance| {
            (m.status == IncidentStatus::Scheduled && now >= m.scheduled_for)
                || (m.is_active() && now >= m.scheduled_until)
        };
        if !self.maintenances()?.iter().any(due) {
            return Ok(0);
        }
        let _write = self.write.lock().await;
        let mut n = 0;
        // One step at a time, each dated at its window edge, so that the status history
        // (and the uptime computed from it) is exact even when the service was stopped
        // across a whole window.
        loop {
            let mut next = None;
            for mut m in self.maintenances()? {
                if let Some((action, at)) = m.step(now) {
                    if next.as_ref().is_none_or(|(_, _, t)| at < *t) {
                        next = Some((m, action, at));
                    }
                }
            }
            let Some((mut m, action, at)) = next else {
                break;
            };
            let audit = step_entries(&m, &[action], now);
            let noted = vec![m.note(kind_of_step(action))];
            self.save(vec![m], audit, noted, "statusgate", at).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes maintenances with the component statuses they move and their audit entries,
    /// in one transaction. Called with the write lock held.
    async fn save(
        &self,
        mut changed: Vec<Maintenance>,
        audit: Vec<AuditEntry>,
        noted: Vec<Noted>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> crate::store::Result<()> {
        let mut all = self.maintenances()?;
        for m in &changed {
            match all.iter_mut().find(|x| x.id == m.id) {
                Some(x) => *x = m.clone(),
                None => all.push(m.clone()),
            }
        }
        let open: Vec<Incident> = self.unresolved()?;
        let mut touched: BTreeSet<String> = BTreeSet::new();
        for m in &changed {
            touched.extend(m.components.iter().cloned());
        }
        // A component dropped from an active maintenance must leave `under_maintenance` too.
        for (id, state) in self.statuses.scan::<super::model::ComponentState>()? {
            if state.status == crate::vocab::ComponentStatus::UnderMaintenance {
                touched.insert(id);
            }
        }
        let touched: Vec<String> = touched.into_iter().collect();
        let cause = changed.first().map(|m| m.id.clone()).unwrap_or_default();
        let moved = self.move_statuses(&touched, &open, &active(&all), now, &cause)?;
        if let Some(last) = changed.first_mut().and_then(|m| m.updates.last_mut()) {
            if !moved.affected.is_empty() {
                last.affected_components = moved.affected.clone();
            }
        }
        let queued = self.plan_maintenance(&noted, Some(&moved), actor, now)?;
        self.mark_delivering(&mut changed, &queued, now);
        let mut tables = vec![
            &self.maintenances,
            &self.statuses,
            &self.history,
            self.audit.table(),
        ];
        tables.extend(queued.table());
        let outcome = self.store.transaction(&tables, |tx| {
            for m in &changed {
                tx.put(&self.maintenances, &m.id, m)?;
            }
            moved.write(self, tx)?;
            for e in &audit {
                self.audit.append_in(tx, e)?;
            }
            queued.write_in(tx)
        })?;
        outcome.map_err(abort)?;
        self.store.durable().await?;
        queued.wake();
        self.bump();
        Ok(())
    }
}

fn step_entries(m: &Maintenance, steps: &[&'static str], now: DateTime<Utc>) -> Vec<AuditEntry> {
    steps
        .iter()
        .map(|action| {
            AuditEntry::new(now, "statusgate", action)
                .detail(json!({"maintenance_id": m.id, "components": m.components}))
        })
        .collect()
}

pub(super) fn abort(e: TxAbort) -> StoreError {
    match e {
        TxAbort::Store(e) => e,
        TxAbort::Rejected(r) => StoreError::Io(r),
    }
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
        assert_eq!(m.advance(start), vec!["maintenance_started"]);
        assert_eq!(m.status, IncidentStatus::InProgress);
        assert_eq!(m.started_at, Some(start));
        assert!(m.advance(start + Duration::minutes(29)).is_empty());
        assert_eq!(
            m.advance(start + Duration::minutes(31)),
            vec!["maintenance_completed"]
        );
        assert_eq!(m.status, IncidentStatus::Completed);
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
