//! The persisted state of one group and of each alert in it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{after, Snapshot};
use crate::alert::Alert;
use crate::vocab::ComponentStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum Phase {
    /// Waiting out `group_wait` since the first alert.
    Forming { since: DateTime<Utc> },
    /// Drafted; alerts still firing.
    Open,
    /// Everything resolved since `since`; waiting out `resolve_wait`.
    Resolving { since: DateTime<Utc> },
}

/// One incident in the making.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    #[serde(flatten)]
    pub phase: Phase,
    pub opened_at: DateTime<Utc>,
    pub alerts: BTreeMap<String, Tracked>,
    /// What was last handed to drafting, to tell a real change from a repeat.
    pub last_emitted: Option<Snapshot>,
    /// Made by the storm breaker: "multiple services affected".
    #[serde(default)]
    pub storm: bool,
    /// The breaker closed; the storm group no longer collects new incidents.
    #[serde(default)]
    pub storm_closed: bool,
}

/// One alert inside a group, with what it proposes and how it has been behaving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracked {
    pub alert: Alert,
    pub components: BTreeMap<String, ComponentStatus>,
    /// Times of recent firing/resolved flips, within the flap window. The first firing is
    /// not a flip: an alert that comes back once and then resolves for good is not flapping.
    pub transitions: Vec<DateTime<Utc>>,
    /// Held: treated as firing until it has been calm for a whole flap window.
    pub flapping: bool,
    /// Folded into this group because its component depends on this one, in major outage.
    #[serde(default)]
    pub caused_by: Option<String>,
}

impl Tracked {
    pub fn new(alert: Alert, components: BTreeMap<String, ComponentStatus>) -> Self {
        Tracked {
            alert,
            components,
            transitions: Vec::new(),
            flapping: false,
            caused_by: None,
        }
    }

    /// Counts as firing for the incident: firing, or held because it flaps, and still
    /// routed to some component.
    pub fn active(&self) -> bool {
        (self.alert.is_firing() || self.flapping) && !self.components.is_empty()
    }

    /// Takes a new delivery of this alert; a change of status is a transition.
    pub fn record(&mut self, alert: Alert, now: DateTime<Utc>, limit: usize, window: Duration) {
        if alert.status != self.alert.status {
            self.transitions.push(now);
            self.transitions.retain(|t| after(*t, window) > now);
            if self.transitions.len() >= limit {
                self.flapping = true;
            }
        }
        self.alert = alert;
    }
}

impl Group {
    pub fn forming(id: String, now: DateTime<Utc>) -> Self {
        Group {
            id,
            phase: Phase::Forming { since: now },
            opened_at: now,
            alerts: BTreeMap::new(),
            last_emitted: None,
            storm: false,
            storm_closed: false,
        }
    }

    pub fn any_active(&self) -> bool {
        self.alerts.values().any(Tracked::active)
    }

    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.alerts
            .values()
            .flat_map(|t| t.components.keys().map(String::as_str))
    }

    /// Releases alerts that stopped flapping a whole window ago. True if any changed.
    pub fn calm_flapping(&mut self, now: DateTime<Utc>, window: Duration) -> bool {
        let mut changed = false;
        for t in self.alerts.values_mut().filter(|t| t.flapping) {
            if t.transitions
                .last()
                .is_none_or(|last| after(*last, window) <= now)
            {
                t.flapping = false;
                t.transitions.clear();
                changed = true;
            }
        }
        changed
    }

    /// Worst proposed status per component over alerts still firing (or held).
    pub fn active_components(&self) -> BTreeMap<String, ComponentStatus> {
        let mut components: BTreeMap<String, ComponentStatus> = BTreeMap::new();
        for t in self.alerts.values().filter(|t| t.active()) {
            for (c, s) in &t.components {
                let e = components.entry(c.clone()).or_insert(*s);
                *e = (*e).max(*s);
            }
        }
        components
    }

    pub fn snapshot(&self, resolved_at: Option<DateTime<Utc>>) -> Snapshot {
        let mut components = self.active_components();
        // A resolution names the components it gives back.
        if resolved_at.is_some() {
            for t in self.alerts.values() {
                for c in t.components.keys() {
                    components.insert(c.clone(), ComponentStatus::Operational);
                }
            }
        }
        let mut caused_by = BTreeMap::new();
        for t in self.alerts.values().filter(|t| t.active()) {
            if let Some(up) = &t.caused_by {
                for c in t.components.keys() {
                    caused_by.insert(c.clone(), up.clone());
                }
            }
        }
        Snapshot {
            group_id: self.id.clone(),
            storm: self.storm,
            caused_by,
            components,
            alerts: self.alerts.values().map(|t| t.alert.clone()).collect(),
            flapping: self.alerts.values().any(|t| t.flapping),
            started_at: self.opened_at,
            resolved_at,
        }
    }
}
