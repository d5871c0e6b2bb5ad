//! Alerts held back because their components were in a maintenance window: kept so that
//! people can see what was not drafted and why, and so that an alert still firing when
//! the window closes is grouped after all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::alert::Alert;
use crate::audit::{Audit, AuditEntry};
use crate::store::{Result, Store, Table};
use crate::vocab::ComponentStatus;

pub const SUPPRESSED_TABLE: &str = "suppressed";

/// Records older than this (since their last delivery) are forgotten.
const KEEP_DAYS: i64 = 30;

/// One alert suppressed by maintenance, with its latest delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuppressedAlert {
    /// The alert's key (`am:<fingerprint>`, `pd:<incident id>`).
    pub key: String,
    pub alertname: String,
    /// The latest delivery (labels included: this is the management API, not the page).
    pub alert: Alert,
    /// The statuses it would have proposed for the components in maintenance.
    pub components: BTreeMap<String, ComponentStatus>,
    /// The maintenances whose windows held it.
    pub maintenances: Vec<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub deliveries: u32,
    /// Whether the latest delivery said it is firing.
    pub firing: bool,
    /// When it was handed back to grouping because the window closed while it fired.
    pub released_at: Option<DateTime<Utc>>,
}

/// The store of suppressed alerts.
#[derive(Clone)]
pub struct Suppressions {
    store: Store,
    table: Table,
    audit: Audit,
}

impl Suppressions {
    pub fn open(store: &Store) -> Result<Suppressions> {
        Ok(Suppressions {
            store: store.clone(),
            table: store.table(SUPPRESSED_TABLE)?,
            audit: Audit::open(store)?,
        })
    }

    /// Newest delivery first.
    pub fn list(&self) -> Result<Vec<SuppressedAlert>> {
        let mut all: Vec<SuppressedAlert> = self.table.values()?;
        all.sort_by(|a, b| b.last_at.cmp(&a.last_at).then(a.key.cmp(&b.key)));
        Ok(all)
    }

    /// Records one suppressed delivery. A resolution is recorded only for an alert already
    /// held (it marks it as no longer firing); the first delivery is audited.
    pub fn record(
        &self,
        alert: &Alert,
        components: &BTreeMap<String, ComponentStatus>,
        maintenances: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let known: Option<SuppressedAlert> = self.table.get(&alert.key)?;
        let fresh = known.as_ref().is_none_or(|k| k.released_at.is_some());
        if fresh && !alert.is_firing() {
            return Ok(());
        }
        let mut rec = match known {
            Some(k) if !fresh => k,
            _ => SuppressedAlert {
                key: alert.key.clone(),
                alertname: alert.alertname().to_string(),
                alert: alert.clone(),
                components: BTreeMap::new(),
                maintenances: Vec::new(),
                first_at: now,
                last_at: now,
                deliveries: 0,
                firing: true,
                released_at: None,
            },
        };
        rec.alert = alert.clone();
        rec.firing = alert.is_firing();
        rec.last_at = now;
        rec.deliveries = rec.deliveries.saturating_add(1);
        for (c, s) in components {
            rec.components.insert(c.clone(), *s);
        }
        for m in maintenances {
            if !rec.maintenances.contains(&m) {
                rec.maintenances.push(m);
            }
        }
        let entry = fresh.then(|| {
            AuditEntry::new(now, alert.source.as_str(), "alert_suppressed").detail(json!({
                "alert": alert.key,
                "alertname": rec.alertname,
                "components": rec.components,
                "maintenances": rec.maintenances,
            }))
        });
        self.write(&rec, entry)
    }

    /// Firing alerts whose components are no longer all in maintenance: marked released
    /// and returned, for grouping to take them as new.
    pub fn release(
        &self,
        in_maintenance: impl Fn(&str) -> bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>> {
        let mut out = Vec::new();
        for (key, mut rec) in self.table.scan::<SuppressedAlert>()? {
            if rec.last_at + chrono::Duration::days(KEEP_DAYS) < now {
                self.table.remove(&key)?;
                continue;
            }
            if rec.released_at.is_some() || !rec.firing {
                continue;
            }
            if rec.components.keys().all(|c| in_maintenance(c)) {
                continue;
            }
            rec.released_at = Some(now);
            let entry = AuditEntry::new(now, "statusgate", "alert_released").detail(json!({
                "alert": rec.key,
                "alertname": rec.alertname,
                "components": rec.components,
                "maintenances": rec.maintenances,
            }));
            self.write(&rec, Some(entry))?;
            out.push(rec.alert);
        }
        Ok(out)
    }

    fn write(&self, rec: &SuppressedAlert, entry: Option<AuditEntry>) -> Result<()> {
        let outcome = self
            .store
            .transaction(&[&self.table, self.audit.table()], |tx| {
                tx.put(&self.table, &rec.key, rec)?;
                if let Some(e) = &entry {
                    self.audit.append_in(tx, e)?;
                }
                Ok(())
            })?;
        Ok(outcome?)
    }
}
