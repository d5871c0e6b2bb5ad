//! Every change of a maintenance: scheduled, changed, cancelled (or finished early) by a
//! person, or moved by the clock. Each is checked, then written with the component statuses
//! it moves, its audit entries and its outbox entries in one transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::delivery::{kind_of_step, Noted, Queued};
use super::{active, Maintenance};
use crate::audit::AuditEntry;
use crate::publish::outbox::event::EventKind;
use crate::publish::{Incident, PublicState};
use crate::store::{StoreError, Table, Tx, TxAbort};
use crate::vocab::IncidentStatus;

const MAX_TITLE: usize = 255;
const MAX_BODY: usize = 25_000;

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
        let tables = vec![&self.maintenances, self.audit.table()];
        self.write_queued(tables, &queued, |tx| {
            tx.remove(&self.maintenances, id)?;
            self.audit.append_in(tx, &entry)
        })
        .await?;
        Ok(m)
    }

    /// Moves every maintenance whose time has come. Returns how many moved.
    pub async fn tick_maintenances(&self, now: DateTime<Utc>) -> crate::store::Result<usize> {
        // Cheap check first: most ticks move nothing and need no lock.
        if !self.maintenances()?.iter().any(|m| m.is_due(now)) {
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
        for (id, state) in self
            .statuses
            .scan::<crate::publish::model::ComponentState>()?
        {
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
        let tables = vec![
            &self.maintenances,
            &self.statuses,
            &self.history,
            self.audit.table(),
        ];
        self.write_queued(tables, &queued, |tx| {
            for m in &changed {
                tx.put(&self.maintenances, &m.id, m)?;
            }
            moved.write(self, tx)?;
            for e in &audit {
                self.audit.append_in(tx, e)?;
            }
            Ok(())
        })
        .await
    }

    /// Writes a change and the deliveries it queued in one transaction, makes it durable,
    /// then wakes the deliveries and the page.
    async fn write_queued(
        &self,
        mut tables: Vec<&Table>,
        queued: &Queued,
        write: impl Fn(&Tx<'_>) -> std::result::Result<(), TxAbort>,
    ) -> Result<(), StoreError> {
        tables.extend(queued.tables());
        let outcome = self.store.transaction(&tables, |tx| {
            write(tx)?;
            queued.write_in(tx)
        })?;
        outcome?;
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
