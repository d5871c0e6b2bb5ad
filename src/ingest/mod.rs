//! Ingest: authenticate, bound, parse and durably record what alert sources send, then
//! hand the changes to the pipeline. One file per source.

pub mod alertmanager;
mod body;
mod record;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use body::{read_json_body, BodyError};
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
    /// Alerts Alertmanager left out of the delivery this one came in (`max_alerts`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated: u64,
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
