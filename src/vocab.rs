//! The status words shared by every stage. They are Atlassian Statuspage's words, so users
//! and tools need no mapping (DESIGN.md "Vocabulary").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a component is doing right now, as customers read it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        Self::Operational,
        Self::UnderMaintenance,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// Words for people ("Partial outage").
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// How bad it is; the derived `Ord` ranks maintenance below any outage on purpose.
    pub fn severity(self) -> u8 {
        self as u8
    }

    /// The impact an incident with this worst component status has by default.
    pub fn impact(self) -> Impact {
        match self {
            Self::Operational => Impact::None,
            Self::UnderMaintenance => Impact::Maintenance,
            Self::DegradedPerformance => Impact::Minor,
            Self::PartialOutage => Impact::Major,
            Self::MajorOutage => Impact::Critical,
        }
    }
}

/// Where an incident (or a maintenance) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Verifying => "Verifying",
            Self::Completed => "Completed",
        }
    }

    /// True once nothing more will happen to the incident or maintenance.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Resolved | Self::Completed)
    }
}

/// How much of the service an incident affects.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Impact {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maintenance => "maintenance",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

/// Where a draft stands on its way to (or away from) the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DraftState {
    Pending,
    Approved,
    Published,
    Rejected,
    Expired,
    Failed,
    Conflict,
}

impl DraftState {
    /// The states a draft leaves for good once decided (published, rejected, expired,
    /// withdrawn or failed): until then it can still change.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Approved | Self::Conflict)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Conflict => "conflict",
        }
    }
}

/// An unknown status word, with the words that would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{word}` (expected one of: {expected})")]
pub struct UnknownWord {
    pub kind: &'static str,
    pub word: String,
    pub expected: &'static str,
}

macro_rules! from_str_via_serde {
    ($ty:ty, $kind:literal, $expected:literal) => {
        impl FromStr for $ty {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
                    UnknownWord {
                        kind: $kind,
                        word: s.to_string(),
                        expected: $expected,
                    }
                })
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

from_str_via_serde!(
    ComponentStatus,
    "component status",
    "operational, degraded_performance, partial_outage, major_outage, under_maintenance"
);
from_str_via_serde!(
    IncidentStatus,
    "incident status",
    "investigating, identified, monitoring, resolved, scheduled, in_progress, verifying, completed"
);
from_str_via_serde!(
    Impact,
    "impact",
    "none, minor, major, critical, maintenance"
);
from_str_via_serde!(
    DraftState,
    "draft state",
    "pending, approved, published, rejected, expired, failed, conflict"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_words_say_what_is_allowed() {
        for s in ComponentStatus::ALL {
            assert_eq!(s.as_str().parse::<ComponentStatus>().unwrap(), s);
        }
        let err = "down".parse::<ComponentStatus>().unwrap_err();
        assert!(err.to_string().contains("major_outage"), "{err}");
        assert!(ComponentStatus::MajorOutage > ComponentStatus::PartialOutage);
        assert!(ComponentStatus::DegradedPerformance > ComponentStatus::UnderMaintenance);
    }
}

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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

    /// The one rule for the `source` label, live and in `statusgate test`: it names the
    /// sender and nothing else. A `source` label a sender put in its payload is overwritten,
    /// so a route on `source="pagerduty"` is never reached by an Alertmanager alert that
    /// happens to carry such a label.
    pub fn stamp(self, labels: &mut std::collections::BTreeMap<String, String>) {
        labels.insert("source".into(), self.as_str().into());
    }

    /// The sender a `statusgate test` stands for: its `source` label when that names a
    /// sender, else Alertmanager (whose alerts, live, lose any `source` label of their own).
    pub fn of_test(labels: &std::collections::BTreeMap<String, String>) -> Source {
        match labels.get("source").map(String::as_str) {
            Some("pagerduty") => Source::Pagerduty,
            _ => Source::Alertmanager,
        }
    }
}

/// A component's service level objective (`slo:` in its mapping file): the share of time
/// it should be available, in percent, over a rolling window of whole UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Slo {
    /// Percent, in (0, 100): `99.95`.
    pub target: f64,
    /// Days, from 1 to 365.
    pub window_days: u32,
}

impl Slo {
    /// The window as written in mapping files and JSON: `30d`.
    pub fn window(&self) -> String {
        format!("{}d", self.window_days)
    }
}
