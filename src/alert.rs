//! The alert as every stage sees it, whatever its source: ingest makes them, grouping,
//! drafting and reconciling read them. Plain data, so those stages need not import ingest.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::vocab::Source;

/// The annotations a PagerDuty incident carries into its alert.
pub mod pagerduty {
    /// The incident's PagerDuty status (`triggered`, `acknowledged`, `resolved`).
    pub const ANNOTATION_STATUS: &str = "pd_status";
    /// The latest status update's text, and when it was published (RFC 3339).
    pub const ANNOTATION_STATUS_UPDATE: &str = "pd_status_update";
    pub const ANNOTATION_STATUS_UPDATE_AT: &str = "pd_status_update_at";
    /// When statusgate received that status update (RFC 3339).
    pub const ANNOTATION_STATUS_UPDATE_RECEIVED_AT: &str = "pd_status_update_received_at";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// A status update written for an alert by its responders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusUpdate<'a> {
    /// When the source says it was written (orders updates).
    pub at: DateTime<Utc>,
    /// When statusgate received it (compared with publication times, on the same clock).
    pub received_at: DateTime<Utc>,
    pub text: &'a str,
}

/// One alert as every later stage sees it, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// Source-scoped identity: `am:<fingerprint>` or `pd:<incident id>`.
    pub key: String,
    pub source: Source,
    pub fingerprint: String,
    pub status: AlertStatus,
    /// Labels, with `source` added.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    pub received_at: DateTime<Utc>,
    /// Alerts Alertmanager left out of the delivery this one came in (`max_alerts`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: u64,
    /// When the source says this state came about (PagerDuty's `occurred_at`). Sources that
    /// report it are ordered by it rather than by `starts_at` and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Alert {
    pub fn is_firing(&self) -> bool {
        self.status == AlertStatus::Firing
    }

    pub fn alertname(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Whether this delivery says nothing new about the alert already recorded: the same
    /// state, or an older one that arrives late (retries, HA replicas, reordering).
    pub fn adds_nothing_to(&self, recorded: &Alert) -> bool {
        if self.source == Source::Pagerduty {
            return self.pagerduty_adds_nothing_to(recorded);
        }
        if self.starts_at < recorded.starts_at {
            return true;
        }
        if self.starts_at > recorded.starts_at {
            return false;
        }
        match (recorded.status, self.status) {
            // Unless Alertmanager now leaves a different number of alerts out of the group:
            // the approver must learn that the list is incomplete.
            (AlertStatus::Firing, AlertStatus::Firing) => self.truncated == recorded.truncated,
            // A firing delivery for an occurrence already resolved is a late retry: a real
            // re-fire starts a new occurrence with a new startsAt.
            (AlertStatus::Resolved, AlertStatus::Firing) => true,
            (AlertStatus::Firing, AlertStatus::Resolved) => false,
            (AlertStatus::Resolved, AlertStatus::Resolved) => self.ends_at <= recorded.ends_at,
        }
    }
}

impl Alert {
    /// A PagerDuty incident keeps its `created_at` for life while its state moves back and
    /// forth (acknowledged, reopened), so its events are ordered by `occurred_at`: an older
    /// one arriving late is stale. Equal or missing times go in arrival order.
    fn pagerduty_adds_nothing_to(&self, recorded: &Alert) -> bool {
        if let (Some(new), Some(old)) = (self.changed_at, recorded.changed_at) {
            if new < old {
                return true;
            }
        }
        self.status == recorded.status
            && self.labels == recorded.labels
            && self.annotations == recorded.annotations
            && self.starts_at == recorded.starts_at
            && self.generator_url == recorded.generator_url
    }

    /// Whether a responder has taken the alert on: `Some` only for sources that say so
    /// (a PagerDuty incident's acknowledgement), `None` otherwise.
    pub fn acknowledged(&self) -> Option<bool> {
        if self.source != Source::Pagerduty {
            return None;
        }
        self.annotations
            .get(pagerduty::ANNOTATION_STATUS)
            .map(|s| s == "acknowledged")
    }

    /// The latest status update responders wrote for the alert (PagerDuty's
    /// `incident.status_update_published`).
    pub fn status_update(&self) -> Option<StatusUpdate<'_>> {
        let text = self.annotations.get(pagerduty::ANNOTATION_STATUS_UPDATE)?;
        let time = |key: &str| {
            self.annotations
                .get(key)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let at = time(pagerduty::ANNOTATION_STATUS_UPDATE_AT)?;
        Some(StatusUpdate {
            at,
            received_at: time(pagerduty::ANNOTATION_STATUS_UPDATE_RECEIVED_AT).unwrap_or(at),
            text,
        })
    }

    /// A short name for counting alerts nobody maps: `alertname`, or for a PagerDuty
    /// incident its service (incident titles would exhaust the metric's bounded names).
    pub fn metric_name(&self) -> &str {
        match self.source {
            Source::Pagerduty => self
                .labels
                .get("pd_service")
                .map(String::as_str)
                .unwrap_or(""),
            Source::Alertmanager => self.alertname(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pd(status: AlertStatus, changed: &str, pd_status: &str) -> Alert {
        let at = changed.parse::<DateTime<Utc>>().ok();
        Alert {
            key: "pd:P1".into(),
            source: Source::Pagerduty,
            fingerprint: "pd:P1".into(),
            status,
            labels: [("source".to_string(), "pagerduty".to_string())].into(),
            annotations: [(
                pagerduty::ANNOTATION_STATUS.to_string(),
                pd_status.to_string(),
            )]
            .into(),
            starts_at: "2026-11-30T12:00:00Z".parse().unwrap(),
            ends_at: None,
            generator_url: String::new(),
            received_at: Utc::now(),
            changed_at: at,
            truncated: 0,
        }
    }

    #[test]
    fn pagerduty_events_are_ordered_by_when_they_happened() {
        use AlertStatus::*;
        let triggered = pd(Firing, "2026-11-30T12:00:00Z", "triggered");
        let acked = pd(Firing, "2026-11-30T12:03:00Z", "acknowledged");
        let resolved = pd(Resolved, "2026-11-30T12:40:00Z", "resolved");
        let reopened = pd(Firing, "2026-11-30T12:50:00Z", "triggered");
        // An acknowledgement is news although the alert fires on, and so is a reopen.
        assert!(!acked.adds_nothing_to(&triggered));
        assert!(!reopened.adds_nothing_to(&resolved));
        // Late events are stale, whatever their status.
        assert!(triggered.adds_nothing_to(&resolved));
        assert!(acked.adds_nothing_to(&resolved));
        // The same state again is nothing new; a tie in time goes by arrival.
        assert!(acked.clone().adds_nothing_to(&acked));
        let same_time = pd(Resolved, "2026-11-30T12:03:00Z", "resolved");
        assert!(!same_time.adds_nothing_to(&acked));
        // Without a time, arrival order.
        let mut untimed = pd(Firing, "", "triggered");
        untimed.changed_at = None;
        assert!(!untimed.adds_nothing_to(&resolved));
        assert_eq!(acked.acknowledged(), Some(true));
        assert_eq!(triggered.acknowledged(), Some(false));
    }
}
