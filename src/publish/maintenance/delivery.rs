//! Scheduled maintenance through the outbox: every change of a maintenance (scheduled,
//! changed, started, completed, cancelled — by a person or by the clock) is frozen as an
//! [`Approved`] of a maintenance [`EventKind`] and queued for every external target in the
//! same store transaction as the change itself, so the outbox's guarantees hold for it as
//! for incidents: ordered per maintenance, retried, exactly once in effect.
//!
//! A maintenance has no draft to show how delivery went, so its record carries it
//! ([`MaintenanceDelivery`]): a failure or a hand edit on a target is shown there and in
//! the audit log, and an admin settles it through `/api/v1/maintenances/{id}/…`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Maintenance;
use crate::audit::AuditEntry;
use crate::draft::Conflict;
use crate::publish::outbox::event::{Approved, EventKind, Schedule};
use crate::publish::outbox::{Entry, EntryState, Outbox};
use crate::publish::{Moved, PublicState};
use crate::store::{Result, Table, Tx, TxAbort};
use crate::vocab::{ComponentStatus, Impact};

/// One change of a maintenance, frozen when it was made.
pub type Noted = (EventKind, Maintenance);

/// The outbox thread of a maintenance: its entries go out in order.
pub fn thread(maintenance_id: &str) -> String {
    format!("maintenance/{maintenance_id}")
}

/// The event a clock or status step makes (audit action in, event kind out).
pub fn kind_of_step(action: &str) -> EventKind {
    match action {
        "maintenance_started" => EventKind::MaintenanceStarted,
        "maintenance_completed" => EventKind::MaintenanceCompleted,
        _ => EventKind::MaintenanceUpdated,
    }
}

/// Where delivery to external targets stands for one maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Changes are queued or being sent.
    Delivering,
    /// Every publisher has every change.
    Delivered,
    /// A publisher gave up (or refused for good); an admin can retry.
    Failed,
    /// A publisher's copy was changed by hand; an admin chooses overwrite or theirs.
    Conflict,
}

/// Delivery to the configured publishers (subscribers are not counted: one unreachable
/// subscriber is not the maintenance's problem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceDelivery {
    pub state: DeliveryState,
    pub reason: Option<String>,
    pub conflict: Option<Conflict>,
    pub updated_at: DateTime<Utc>,
}

/// Entries planned for a maintenance change, written in the change's own transaction.
pub struct Queued {
    outbox: Option<Outbox>,
    entries: Vec<Entry>,
}

impl Queued {
    /// The outbox tables, to include in the transaction (none without an outbox).
    pub fn tables(&self) -> Vec<&Table> {
        self.outbox
            .as_ref()
            .map(|o| o.tables().to_vec())
            .unwrap_or_default()
    }

    pub fn write_in(&self, tx: &Tx<'_>) -> std::result::Result<(), TxAbort> {
        match &self.outbox {
            Some(o) => o.write_in(tx, &self.entries),
            None => Ok(()),
        }
    }

    /// Tells the delivery worker, once the transaction is durable.
    pub fn wake(&self) {
        if let (Some(o), false) = (&self.outbox, self.entries.is_empty()) {
            o.wake();
        }
    }

    fn to_publishers(&self) -> bool {
        self.entries
            .iter()
            .any(|e| !e.target.starts_with("subscriber:"))
    }
}

impl PublicState {
    /// Connects maintenance to the outbox (once, when delivery is wired).
    pub fn attach_outbox(&self, outbox: Outbox) {
        if self.outbox.set(outbox).is_err() {
            tracing::warn!("the outbox was attached twice; keeping the first");
        }
    }

    /// The outbox entries for `noted` changes. `moved` is what the last of them does to
    /// component statuses; earlier ones (a window created already open) show the statuses
    /// as they were. Also marks the changed maintenances as delivering.
    pub(super) fn plan_maintenance(
        &self,
        noted: &[Noted],
        moved: Option<&Moved>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued> {
        let Some(outbox) = self.outbox.get() else {
            return Ok(Queued {
                outbox: None,
                entries: Vec::new(),
            });
        };
        let mut entries = Vec::new();
        for (i, (kind, m)) in noted.iter().enumerate() {
            let last = i + 1 == noted.len();
            let components: Vec<String> = m
                .components
                .iter()
                .filter(|c| self.component_info(c).is_some_and(|info| info.public))
                .cloned()
                .collect();
            let mut statuses = BTreeMap::new();
            for c in &components {
                let after = moved
                    .filter(|_| last)
                    .and_then(|mv| mv.states.iter().find(|(id, _)| id == c))
                    .map(|(_, s)| s.status);
                let status = match after {
                    Some(s) => s,
                    None => {
                        self.statuses
                            .get::<crate::publish::model::ComponentState>(c)?
                            .unwrap_or_default()
                            .status
                    }
                };
                statuses.insert(c.clone(), status);
            }
            let affected = match moved.filter(|_| last) {
                Some(mv) => mv
                    .affected
                    .iter()
                    .filter(|a| components.contains(&a.code))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let approved = approved(m, *kind, statuses, affected, actor, now);
            entries.extend(outbox.plan_maintenance(&approved, &components, now)?);
        }
        Ok(Queued {
            outbox: Some(outbox.clone()),
            entries,
        })
    }

    /// Marks changed maintenances as delivering when publishers have new work (a failure
    /// or conflict stays shown until it is settled).
    pub(super) fn mark_delivering(
        &self,
        changed: &mut [Maintenance],
        queued: &Queued,
        now: DateTime<Utc>,
    ) {
        if !queued.to_publishers() {
            return;
        }
        for m in changed {
            let keep = m.delivery.as_ref().is_some_and(|d| {
                matches!(d.state, DeliveryState::Failed | DeliveryState::Conflict)
            });
            if !keep {
                m.delivery = Some(MaintenanceDelivery {
                    state: DeliveryState::Delivering,
                    reason: None,
                    conflict: None,
                    updated_at: now,
                });
            }
        }
    }
}

/// What one maintenance change asks external targets to show. Statuspage moves the window
/// by itself too (the auto flags), so it keeps time even while statusgate is stopped.
fn approved(
    m: &Maintenance,
    kind: EventKind,
    components: BTreeMap<String, ComponentStatus>,
    affected: Vec<crate::publish::AffectedComponent>,
    actor: &str,
    at: DateTime<Utc>,
) -> Approved {
    Approved {
        kind,
        draft_id: m.id.clone(),
        revision: m.revision,
        title: m.name.clone(),
        body: m.updates.last().map(|u| u.body.clone()).unwrap_or_default(),
        status: m.status,
        impact: Impact::Maintenance,
        components,
        schedule: Some(Schedule {
            scheduled_for: m.scheduled_for,
            scheduled_until: m.scheduled_until,
            auto_in_progress: true,
            auto_completed: true,
        }),
        affected,
        approved_by: actor.to_string(),
        approved_at: at,
    }
}

/// Sets a maintenance's delivery state from its publishers' entries, and records a change
/// of it in the audit log. A cancelled (deleted) maintenance keeps it in the outbox's
/// records, so the deliveries API still tells.
pub async fn refresh(
    outbox: &Outbox,
    public: &PublicState,
    maintenance_id: &str,
    actor: &str,
) -> Result<()> {
    let entries: Vec<Entry> = outbox
        .for_thread(&thread(maintenance_id))?
        .into_iter()
        .filter(|e| !e.target.starts_with("subscriber:"))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let conflict = entries
        .iter()
        .find(|e| e.state == EntryState::Conflict)
        .and_then(|e| e.conflict.clone());
    let failed = entries.iter().find(|e| e.state == EntryState::Failed);
    let pending = entries.iter().any(|e| e.state == EntryState::Pending);
    let (state, reason) = match (&conflict, failed, pending) {
        (Some(c), _, _) => (
            DeliveryState::Conflict,
            Some(format!(
                "{}: {} was changed by hand; an admin chooses overwrite or theirs (POST /api/v1/maintenances/{maintenance_id}/resolve-conflict)",
                c.target, c.field
            )),
        ),
        (None, Some(e), _) => (
            DeliveryState::Failed,
            Some(format!(
                "{}: {} (an admin can retry: POST /api/v1/maintenances/{maintenance_id}/retry)",
                e.target,
                e.last_error.clone().unwrap_or_default()
            )),
        ),
        (None, None, true) => (DeliveryState::Delivering, None),
        (None, None, false) => (DeliveryState::Delivered, None),
    };
    let next = MaintenanceDelivery {
        state,
        reason: reason.clone(),
        conflict: conflict.clone(),
        updated_at: now,
    };
    let _write = public.write.lock().await;
    let key = record_key(maintenance_id);
    let before: Option<MaintenanceDelivery> = outbox.record(&key)?;
    let same =
        |d: &MaintenanceDelivery| d.state == state && d.conflict == conflict && d.reason == reason;
    let stored = public.maintenance(maintenance_id)?;
    let stored_same = stored
        .as_ref()
        .is_none_or(|m| m.delivery.as_ref().is_some_and(same));
    if before.as_ref().is_some_and(same) && stored_same {
        return Ok(());
    }
    let was_trouble = before
        .as_ref()
        .is_some_and(|d| matches!(d.state, DeliveryState::Failed | DeliveryState::Conflict));
    let action = match state {
        DeliveryState::Conflict => Some("publish_conflict"),
        DeliveryState::Failed => Some("publish_failed"),
        DeliveryState::Delivered if was_trouble => Some("published"),
        _ => None,
    };
    let audit = action
        .filter(|_| !before.as_ref().is_some_and(same))
        .map(|a| {
            AuditEntry::new(now, actor, a).detail(json!({
                "maintenance_id": maintenance_id,
                "state": state,
                "detail": reason.clone().unwrap_or_else(|| "delivered to every target".into()),
                "conflict": conflict,
            }))
        });
    let updated = stored.map(|mut m| {
        m.delivery = Some(next.clone());
        m
    });
    let records = outbox.records_table();
    let outcome = public.store.transaction(
        &[records, &public.maintenances, public.audit.table()],
        |tx| {
            tx.put(records, &key, &next)?;
            if let Some(m) = &updated {
                tx.put(&public.maintenances, &m.id, m)?;
            }
            if let Some(a) = &audit {
                public.audit.append_in(tx, a)?;
            }
            Ok(())
        },
    )?;
    outcome?;
    public.store.durable().await?;
    if updated.is_some() {
        public.bump();
    }
    Ok(())
}

/// Where a maintenance's delivery state is kept (it outlives a cancelled maintenance).
pub fn record_key(maintenance_id: &str) -> String {
    format!("maintenance_delivery/{maintenance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_steps_map_to_event_names() {
        assert_eq!(
            kind_of_step("maintenance_started").type_name(),
            "maintenance.started"
        );
        assert_eq!(
            kind_of_step("maintenance_completed").type_name(),
            "maintenance.completed"
        );
        assert_eq!(
            kind_of_step("maintenance_verifying").type_name(),
            "maintenance.updated"
        );
        assert_eq!(thread("MNT-3"), "maintenance/MNT-3");
    }
}
