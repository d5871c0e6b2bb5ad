//! Ingest: authenticate, bound, parse and durably record what alert sources send, then
//! hand the changes to the pipeline. One file per source.

pub mod alertmanager;
mod body;
pub mod pagerduty;
mod record;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use body::{read_body, read_json_body, BodyError};
pub use record::{RecordOutcome, Recorder, INBOX_TABLE};

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Alertmanager,
    Pagerduty,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Pagerduty => "pagerduty",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// One alert as every later stage sees it, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// When the source says this state came about (PagerDuty's `occurred_at`). Sources that
    /// report it are ordered by it rather than by `starts_at` and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
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
            (AlertStatus::Firing, AlertStatus::Firing) => true,
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
    /// `incident.status_update_published`), with when it was written.
    pub fn status_update(&self) -> Option<(DateTime<Utc>, &str)> {
        let text = self.annotations.get(pagerduty::ANNOTATION_STATUS_UPDATE)?;
        let at = self
            .annotations
            .get(pagerduty::ANNOTATION_STATUS_UPDATE_AT)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?;
        Some((at.with_timezone(&Utc), text.as_str()))
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
