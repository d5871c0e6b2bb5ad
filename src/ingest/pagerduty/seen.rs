//! Event ids already taken, remembered for 72 hours (PagerDuty retries for up to 48), so a
//! retry or the same event through a second subscription changes nothing.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::store::{Result, Store, Table};

pub const SEEN_TABLE: &str = "pagerduty_events";

/// How long an event id is remembered.
pub fn retention() -> Duration {
    Duration::hours(72)
}

/// How often old ids are swept out.
fn prune_every() -> Duration {
    Duration::minutes(10)
}

pub struct SeenEvents {
    table: Table,
    last_prune: Mutex<Option<DateTime<Utc>>>,
}

impl SeenEvents {
    pub fn open(store: &Store) -> Result<SeenEvents> {
        Ok(SeenEvents {
            table: store.table(SEEN_TABLE)?,
            last_prune: Mutex::new(None),
        })
    }

    /// The table ids are written to (in the transaction that records the delivery).
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Whether `id` was taken within the retention period.
    pub fn contains(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(self
            .table
            .get::<DateTime<Utc>>(id)?
            .is_some_and(|at| at + retention() > now))
    }

    /// Forgets ids past the retention period, at most once per `prune_every`. Returns how
    /// many were removed.
    pub fn prune_if_due(&self, now: DateTime<Utc>) -> Result<usize> {
        {
            let Ok(mut last) = self.last_prune.lock() else {
                return Ok(0);
            };
            if last.is_some_and(|at| at + prune_every() > now) {
                return Ok(0);
            }
            *last = Some(now);
        }
        self.prune(now)
    }

    fn prune(&self, now: DateTime<Utc>) -> Result<usize> {
        let mut removed = 0;
        for (id, at) in self.table.scan::<DateTime<Utc>>()? {
            if at + retention() <= now {
                self.table.remove(&id)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_forgotten_after_72_hours() {
        let (_dir, store) = Store::temporary();
        let seen = SeenEvents::open(&store).unwrap();
        let t0 = "2026-11-30T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        seen.table().put("old", &t0).unwrap();
        seen.table()
            .put("new", &(t0 + Duration::hours(70)))
            .unwrap();
        let later = t0 + Duration::hours(72);
        assert!(!seen.contains("old", later).unwrap());
        assert!(seen.contains("new", later).unwrap());
        assert!(!seen.contains("never", later).unwrap());
        assert_eq!(seen.prune_if_due(later).unwrap(), 1);
        assert_eq!(seen.table().len(), 1);
        // Not again within ten minutes.
        seen.table().put("old", &t0).unwrap();
        assert_eq!(seen.prune_if_due(later + Duration::minutes(1)).unwrap(), 0);
        assert_eq!(seen.prune_if_due(later + Duration::minutes(11)).unwrap(), 1);
    }
}
