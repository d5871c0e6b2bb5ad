//! The persisted state of one group and of each alert in it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

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
    /// Changed only through [`Group::insert`], [`Group::update`] and [`Group::calm_flapping`],
    /// which keep the tally in step.
    alerts: BTreeMap<String, Tracked>,
    /// What the alerts add up to per component, kept up to date alert by alert: every new
    /// alert asks which group covers its components, and working that out from every alert
    /// made a storm into one group cost the whole group per alert.
    #[serde(skip)]
    tally: TallyCell,
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

/// Per component: how many alerts name it, and how many active ones propose each status.
#[derive(Debug, Clone, Default)]
struct Tally {
    named: BTreeMap<String, usize>,
    active: BTreeMap<String, BTreeMap<ComponentStatus, usize>>,
}

impl Tally {
    fn of<'t>(alerts: impl Iterator<Item = &'t Tracked>) -> Self {
        let mut tally = Tally::default();
        for t in alerts {
            tally.add(t);
        }
        tally
    }

    fn add(&mut self, t: &Tracked) {
        for c in t.components.keys() {
            *self.named.entry(c.clone()).or_default() += 1;
        }
        if t.active() {
            for (c, s) in &t.components {
                *self
                    .active
                    .entry(c.clone())
                    .or_default()
                    .entry(*s)
                    .or_default() += 1;
            }
        }
    }

    fn remove(&mut self, t: &Tracked) {
        for c in t.components.keys() {
            if let Some(n) = self.named.get_mut(c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.named.remove(c);
                }
            }
        }
        if t.active() {
            for (c, s) in &t.components {
                let Some(statuses) = self.active.get_mut(c) else {
                    continue;
                };
                if let Some(n) = statuses.get_mut(s) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        statuses.remove(s);
                    }
                }
                if statuses.is_empty() {
                    self.active.remove(c);
                }
            }
        }
    }
}

/// The tally, worked out from the alerts on first use (a group read from storage starts
/// without one). Derived data: two groups with the same alerts are equal whatever it holds.
#[derive(Debug, Clone, Default)]
struct TallyCell(OnceLock<Tally>);

impl PartialEq for TallyCell {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Group {
    pub fn forming(id: String, now: DateTime<Utc>) -> Self {
        Group {
            id,
            phase: Phase::Forming { since: now },
            opened_at: now,
            alerts: BTreeMap::new(),
            tally: TallyCell::default(),
            last_emitted: None,
            storm: false,
            storm_closed: false,
        }
    }

    fn tally(&self) -> &Tally {
        self.tally.0.get_or_init(|| Tally::of(self.alerts.values()))
    }

    pub fn alerts(&self) -> &BTreeMap<String, Tracked> {
        &self.alerts
    }

    /// Gives the alerts up (to fold them into another group).
    pub fn into_alerts(self) -> BTreeMap<String, Tracked> {
        self.alerts
    }

    /// Adds an alert, or replaces the one with its key.
    pub fn insert(&mut self, tracked: Tracked) {
        if let Some(tally) = self.tally.0.get_mut() {
            tally.add(&tracked);
        }
        let old = self.alerts.insert(tracked.alert.key.clone(), tracked);
        if let (Some(old), Some(tally)) = (old, self.tally.0.get_mut()) {
            tally.remove(&old);
        }
    }

    /// Changes the alert with `key`, if the group has it.
    pub fn update(&mut self, key: &str, change: impl FnOnce(&mut Tracked)) {
        let Some(t) = self.alerts.get_mut(key) else {
            return;
        };
        match self.tally.0.get_mut() {
            Some(tally) => {
                tally.remove(t);
                change(t);
                tally.add(t);
            }
            None => change(t),
        }
    }

    pub fn any_active(&self) -> bool {
        !self.tally().active.is_empty()
    }

    /// Every component an alert of the group names, once each, in order.
    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.tally().named.keys().map(String::as_str)
    }

    /// When this group's next timer falls due: the end of `group_wait` while forming, of
    /// `resolve_wait` while resolving, or a flapping alert's calm window
    /// ([`Group::calm_flapping`]).
    pub fn next_timer(
        &self,
        group_wait: Duration,
        resolve_wait: Duration,
        flap_window: Duration,
    ) -> Option<DateTime<Utc>> {
        let phase = match self.phase {
            Phase::Forming { since } => Some(after(since, group_wait)),
            Phase::Resolving { since } => Some(after(since, resolve_wait)),
            Phase::Open => None,
        };
        let calm = self.alerts.values().filter(|t| t.flapping).map(|t| {
            t.transitions
                .last()
                .map_or(DateTime::<Utc>::MIN_UTC, |last| after(*last, flap_window))
        });
        phase.into_iter().chain(calm).min()
    }

    /// Releases alerts that stopped flapping a whole window ago. True if any changed.
    pub fn calm_flapping(&mut self, now: DateTime<Utc>, window: Duration) -> bool {
        let calm: Vec<String> = self
            .alerts
            .values()
            .filter(|t| t.flapping)
            .filter(|t| {
                t.transitions
                    .last()
                    .is_none_or(|last| after(*last, window) <= now)
            })
            .map(|t| t.alert.key.clone())
            .collect();
        for key in &calm {
            self.update(key, |t| {
                t.flapping = false;
                t.transitions.clear();
            });
        }
        !calm.is_empty()
    }

    /// Worst proposed status per component over alerts still firing (or held).
    pub fn active_components(&self) -> BTreeMap<String, ComponentStatus> {
        self.tally()
            .active
            .iter()
            .filter_map(|(c, statuses)| Some((c.clone(), *statuses.keys().next_back()?)))
            .collect()
    }

    /// The worst status an active alert proposes for `component`, if any does.
    pub fn active_status(&self, component: &str) -> Option<ComponentStatus> {
        self.tally()
            .active
            .get(component)
            .and_then(|statuses| statuses.keys().next_back().copied())
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
