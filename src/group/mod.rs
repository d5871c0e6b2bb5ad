//! Group: folds mapped alerts into incidents-in-the-making and decides *when* something is
//! worth a draft: `group_wait` before the first, `resolve_wait` before a resolution, flapping
//! alerts held. A pure state machine: time is a parameter, so tests control the clock.

mod state;
pub mod suppressed;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::catalog::{Catalog, Routing};
use crate::config::{GroupBy, GroupingConfig, StormConfig};
use crate::vocab::ComponentStatus;

pub use state::{Group, Phase, Tracked};

/// What the grouping decided; the draft stage turns these into drafts.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// `group_wait` passed with alerts still firing: draft a new incident.
    Open(Snapshot),
    /// What an open incident is about changed (alerts joined or resolved, statuses moved,
    /// flapping started or stopped).
    Update(Snapshot),
    /// Everything stayed resolved for `resolve_wait`: draft the resolution.
    Resolve(Snapshot),
    /// Gone before `group_wait`: nothing is drafted.
    Dropped { group_id: String },
    /// An alert no route maps.
    Unmapped { alertname: String },
    /// An alert an `ignore` route took.
    Ignored { route: String },
    /// More incidents would open within `storm.window` than `storm.max_incidents`: new
    /// ones now fold into the storm group.
    BreakerOpened { group_id: String, folded: usize },
    /// A whole window passed without a new incident.
    BreakerClosed,
    /// A new alert for components in a maintenance window: recorded, never drafted.
    /// `components` are the ones it would have affected; the others (if any) go on as usual.
    Suppressed {
        alert: Alert,
        components: BTreeMap<String, ComponentStatus>,
    },
}

/// What a group is about, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub group_id: String,
    /// Worst proposed status per component, over alerts still firing (or held as flapping).
    pub components: BTreeMap<String, ComponentStatus>,
    /// Every alert behind the group, firing or resolved, one per key.
    pub alerts: Vec<Alert>,
    pub flapping: bool,
    pub started_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The storm breaker's "multiple services affected" group.
    #[serde(default)]
    pub storm: bool,
    /// Components folded in because they depend on one in a major outage: component →
    /// the component it depends on.
    #[serde(default)]
    pub caused_by: BTreeMap<String, String>,
}

impl Snapshot {
    /// The parts whose change is worth a new draft revision: components, which alerts fire,
    /// flapping, what responders said (an acknowledgement, a status update), and how many
    /// alerts Alertmanager left out.
    fn essence(&self) -> (BTreeMap<String, ComponentStatus>, Vec<AlertEssence>, bool) {
        (
            self.components.clone(),
            self.alerts
                .iter()
                .map(|a| {
                    (
                        a.key.clone(),
                        a.is_firing(),
                        a.acknowledged(),
                        a.status_update().map(|u| u.at),
                        // A later notification that Alertmanager truncated: approvers must
                        // learn that the alert list is incomplete.
                        a.truncated,
                    )
                })
                .collect(),
            self.flapping,
        )
    }
}

/// The storm breaker: counts would-be new incidents over a sliding window.
#[derive(Debug, Default)]
struct Breaker {
    openings: Vec<DateTime<Utc>>,
    storm_group: Option<String>,
    since: Option<DateTime<Utc>>,
}
type AlertEssence = (String, bool, Option<bool>, Option<DateTime<Utc>>, u64);

/// All open groups.
pub struct Grouper {
    config: GroupingConfig,
    storm: StormConfig,
    breaker: Breaker,
    groups: BTreeMap<String, Group>,
    by_alert: HashMap<String, String>,
    changed: BTreeSet<String>,
    removed: BTreeSet<String>,
    /// Open groups whose alerts changed since `take_updates` last looked.
    dirty: BTreeSet<String>,
}

impl Grouper {
    /// Starts again from `groups` as stored (another replica may have moved them on).
    pub fn reload(&mut self, groups: Vec<Group>) {
        *self = Grouper::new(self.config.clone(), self.storm.clone(), groups);
    }

    pub fn new(config: GroupingConfig, storm: StormConfig, groups: Vec<Group>) -> Self {
        let mut g = Grouper {
            config,
            storm,
            breaker: Breaker::default(),
            groups: BTreeMap::new(),
            by_alert: HashMap::new(),
            changed: BTreeSet::new(),
            removed: BTreeSet::new(),
            dirty: BTreeSet::new(),
        };
        for group in groups {
            // A storm group that outlived a restart keeps collecting while it is open.
            if group.storm && !group.storm_closed {
                g.breaker.storm_group = Some(group.id.clone());
                g.breaker.since = Some(group.opened_at);
                g.breaker.openings = vec![Utc::now()];
            }
            for key in group.alerts().keys() {
                g.by_alert.insert(key.clone(), group.id.clone());
            }
            g.groups.insert(group.id.clone(), group);
        }
        g
    }

    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Groups changed and ids of groups removed since the last [`Grouper::persisted`], for
    /// persisting. They stay pending until the caller says they are stored: a write that
    /// fails leaves them to the next one (retaking the same alerts may change nothing, and
    /// would not mark them again).
    pub fn changes(&self) -> (Vec<&Group>, Vec<String>) {
        let changed = self
            .changed
            .iter()
            .filter_map(|id| self.groups.get(id))
            .collect();
        (changed, self.removed.iter().cloned().collect())
    }

    /// The changes [`Grouper::changes`] returned are stored.
    pub fn persisted(&mut self) {
        self.changed.clear();
        self.removed.clear();
    }

    /// Takes one alert delivery.
    pub fn observe(&mut self, alert: Alert, catalog: &Catalog, now: DateTime<Utc>) -> Vec<Effect> {
        let mut effects = self.observe_during(alert, catalog, now, &BTreeSet::new());
        effects.extend(self.take_updates());
        effects
    }

    /// Takes one alert delivery while `maintenance` components are in a maintenance
    /// window. A new alert does not draft anything for those components (it is reported
    /// as [`Effect::Suppressed`]); alerts already part of an open group carry on, so an
    /// incident that was public before the window can still be updated and resolved.
    pub fn observe_during(
        &mut self,
        alert: Alert,
        catalog: &Catalog,
        now: DateTime<Utc>,
        maintenance: &BTreeSet<String>,
    ) -> Vec<Effect> {
        let routing = catalog.route(&alert.labels);
        let mut effects = Vec::new();
        let group_id = match self.by_alert.get(&alert.key).cloned() {
            Some(id) => {
                let flap = &self.config.flap;
                if let Some(group) = self.groups.get_mut(&id) {
                    let key = alert.key.clone();
                    group.update(&key, |t| {
                        // Labels can change under one key (a PagerDuty incident moved to
                        // another service): the alert follows its new route, and one no
                        // route maps any more proposes nothing.
                        t.components = match &routing {
                            Routing::Mapped { components, .. } => components.clone(),
                            Routing::Unmapped | Routing::Ignored { .. } => BTreeMap::new(),
                        };
                        t.record(alert, now, flap.transitions, flap.window.as_chrono());
                    });
                }
                id
            }
            None => {
                let mut components = match routing {
                    Routing::Mapped { components, .. } => components,
                    Routing::Unmapped => {
                        effects.push(Effect::Unmapped {
                            alertname: alert.metric_name().to_string(),
                        });
                        return effects;
                    }
                    Routing::Ignored { route } => {
                        effects.push(Effect::Ignored { route });
                        return effects;
                    }
                };
                let held: BTreeMap<String, ComponentStatus> = components
                    .iter()
                    .filter(|(c, _)| maintenance.contains(*c))
                    .map(|(c, s)| (c.clone(), *s))
                    .collect();
                if !held.is_empty() {
                    components.retain(|c, _| !held.contains_key(c));
                    effects.push(Effect::Suppressed {
                        alert: alert.clone(),
                        components: held,
                    });
                    if components.is_empty() {
                        return effects;
                    }
                }
                if !alert.is_firing() {
                    // A resolution for an alert never seen firing (or long closed).
                    return effects;
                }
                let (joined, upstream) = match self.inhibiting_group(&components, catalog) {
                    Some((id, upstream)) => (Some(id), Some(upstream)),
                    None => (self.join_target(&components, catalog), None),
                };
                let id = match joined {
                    Some(id) => id,
                    None => self.open_group(now, &mut effects),
                };
                self.by_alert.insert(alert.key.clone(), id.clone());
                if let Some(group) = self.groups.get_mut(&id) {
                    let mut tracked = Tracked::new(alert, components);
                    tracked.caused_by = upstream;
                    group.insert(tracked);
                }
                id
            }
        };
        self.changed.insert(group_id.clone());
        effects.extend(self.settle(&group_id, now));
        effects
    }

    /// Folds the open groups `others` into `into` (new incidents held back by the draft
    /// budget become one "multiple services affected" incident). Returns the folded
    /// group's snapshot, or None if `into` is not an open group.
    pub fn fold(&mut self, into: &str, others: &[String]) -> Option<Snapshot> {
        if !self.groups.contains_key(into) {
            return None;
        }
        let mut moved = Vec::new();
        for id in others.iter().filter(|id| id.as_str() != into) {
            if let Some(g) = self.groups.remove(id) {
                moved.push(g);
                self.changed.remove(id);
                self.dirty.remove(id);
                self.removed.insert(id.clone());
            }
        }
        let group = self.groups.get_mut(into)?;
        for g in moved {
            group.opened_at = group.opened_at.min(g.opened_at);
            for (key, t) in g.into_alerts() {
                self.by_alert.insert(key, into.to_string());
                group.insert(t);
            }
        }
        group.storm = true;
        // Not the breaker's group: it collects nothing more after a restart.
        group.storm_closed = true;
        let snap = group.snapshot(None);
        group.last_emitted = Some(snap.clone());
        self.changed.insert(into.to_string());
        Some(snap)
    }

    /// The breaker as approvers should see it.
    pub fn storm_state(&self) -> crate::signals::StormState {
        let Some(id) = &self.breaker.storm_group else {
            return crate::signals::StormState::default();
        };
        let mut components: Vec<String> = self
            .groups
            .get(id)
            .map(|g| g.component_ids().map(String::from).collect())
            .unwrap_or_default();
        components.sort();
        components.dedup();
        crate::signals::StormState {
            open: true,
            since: self.breaker.since,
            group_id: Some(id.clone()),
            components,
        }
    }

    /// A new incident would open: a new group, or the storm group while the breaker is open.
    fn open_group(&mut self, now: DateTime<Utc>, effects: &mut Vec<Effect>) -> String {
        let window = self.storm.window.as_chrono();
        self.breaker.openings.retain(|t| after(*t, window) > now);
        self.breaker.openings.push(now);
        if let Some(id) = self.breaker.storm_group.clone() {
            if self.groups.contains_key(&id) {
                return id;
            }
        }
        let over =
            self.storm.max_incidents > 0 && self.breaker.openings.len() > self.storm.max_incidents;
        let id = new_group_id(now);
        let mut group = Group::forming(id.clone(), now);
        if over {
            group.storm = true;
            // Incidents still waiting out group_wait fold in too: one draft, not six.
            let forming: Vec<String> = self
                .groups
                .values()
                .filter(|g| matches!(g.phase, Phase::Forming { .. }))
                .map(|g| g.id.clone())
                .collect();
            for fid in &forming {
                if let Some(f) = self.groups.remove(fid) {
                    group.opened_at = group.opened_at.min(f.opened_at);
                    for (key, t) in f.into_alerts() {
                        self.by_alert.insert(key, id.clone());
                        group.insert(t);
                    }
                    self.changed.remove(fid);
                    self.removed.insert(fid.clone());
                }
            }
            group.phase = Phase::Forming {
                since: group.opened_at,
            };
            self.breaker.storm_group = Some(id.clone());
            self.breaker.since = Some(now);
            effects.push(Effect::BreakerOpened {
                group_id: id.clone(),
                folded: forming.len(),
            });
        }
        self.groups.insert(id.clone(), group);
        id
    }

    /// The group of an open major outage that a component of the new alert depends on
    /// (directly or further up), with that component.
    fn inhibiting_group(
        &self,
        components: &BTreeMap<String, ComponentStatus>,
        catalog: &Catalog,
    ) -> Option<(String, String)> {
        let mut upstream: Vec<String> = Vec::new();
        let mut queue: Vec<String> = components.keys().cloned().collect();
        while let Some(c) = queue.pop() {
            for dep in catalog
                .component(&c)
                .map(|c| c.depends_on.clone())
                .unwrap_or_default()
            {
                if !upstream.contains(&dep) && !components.contains_key(&dep) {
                    upstream.push(dep.clone());
                    queue.push(dep);
                }
            }
        }
        if upstream.is_empty() {
            return None;
        }
        self.groups
            .values()
            .filter_map(|g| {
                upstream
                    .iter()
                    .find(|u| g.active_status(u) == Some(ComponentStatus::MajorOutage))
                    .map(|u| (g.opened_at, g.id.clone(), u.clone()))
            })
            .min()
            .map(|(_, id, u)| (id, u))
    }

    /// Advances timers to `now`.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(id) = self.breaker.storm_group.clone() {
            let window = self.storm.window.as_chrono();
            let calm = self
                .breaker
                .openings
                .last()
                .is_none_or(|t| after(*t, window) <= now);
            if calm || !self.groups.contains_key(&id) {
                self.breaker = Breaker::default();
                if let Some(g) = self.groups.get_mut(&id) {
                    // Still an incident; it just stops collecting new ones.
                    g.storm_closed = true;
                    self.changed.insert(id.clone());
                }
                effects.push(Effect::BreakerClosed);
            }
        }
        let (gw, rw) = (
            self.config.group_wait.as_chrono(),
            self.config.resolve_wait.as_chrono(),
        );
        let window = self.config.flap.window.as_chrono();
        // Only groups with a timer due are touched: with many open incidents, copying every
        // id on each step cost every alert the number of open groups.
        let due: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.next_timer(gw, rw, window).is_some_and(|at| now >= at))
            .map(|g| g.id.clone())
            .collect();
        for id in due {
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            if group.calm_flapping(now, window) {
                self.changed.insert(id.clone());
                effects.extend(self.settle(&id, now));
            }
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            match group.phase {
                Phase::Forming { since } if now >= after(since, gw) && group.any_active() => {
                    group.phase = Phase::Open;
                    let snap = group.snapshot(None);
                    group.last_emitted = Some(snap.clone());
                    self.changed.insert(id.clone());
                    effects.push(Effect::Open(snap));
                }
                Phase::Resolving { since } if now >= after(since, rw) => {
                    let snap = group.snapshot(Some(since));
                    effects.push(Effect::Resolve(snap));
                    self.remove(&id);
                }
                _ => {}
            }
        }
        effects.extend(self.take_updates());
        effects
    }

    /// When the next timer falls due, if any.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let gw = self.config.group_wait.as_chrono();
        let rw = self.config.resolve_wait.as_chrono();
        let window = self.config.flap.window.as_chrono();
        self.groups
            .values()
            .filter_map(|g| g.next_timer(gw, rw, window))
            .min()
    }

    /// Re-evaluates one group after a change.
    fn settle(&mut self, id: &str, now: DateTime<Utc>) -> Vec<Effect> {
        let Some(group) = self.groups.get_mut(id) else {
            return Vec::new();
        };
        let active = group.any_active();
        match group.phase {
            Phase::Forming { .. } if !active => {
                self.remove(id);
                return vec![Effect::Dropped {
                    group_id: id.to_string(),
                }];
            }
            Phase::Open if !active => group.phase = Phase::Resolving { since: now },
            Phase::Resolving { .. } if active => group.phase = Phase::Open,
            _ => {}
        }
        if group.phase == Phase::Open {
            // Compared with what drafting last saw in `take_updates`, once per batch: a
            // snapshot per alert would cost the whole group for every alert of a storm.
            self.dirty.insert(id.to_string());
        }
        Vec::new()
    }

    /// `Update`s for the open groups that changed since the last call, one per group.
    pub fn take_updates(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let Some(group) = self.groups.get_mut(&id) else {
                continue;
            };
            if group.phase != Phase::Open {
                continue;
            }
            let snap = group.snapshot(None);
            let changed = group
                .last_emitted
                .as_ref()
                .is_none_or(|prev| prev.essence() != snap.essence());
            if changed {
                group.last_emitted = Some(snap.clone());
                self.changed.insert(id);
                out.push(Effect::Update(snap));
            }
        }
        out
    }

    /// The open group a new alert for `components` joins, by the configured `group_by`.
    fn join_target(
        &self,
        components: &BTreeMap<String, ComponentStatus>,
        catalog: &Catalog,
    ) -> Option<String> {
        let catalog_group = |c: &str| catalog.component(c).and_then(|c| c.group.clone());
        self.groups
            .values()
            .filter(|g| match self.config.group_by {
                GroupBy::All => true,
                GroupBy::Components => g.component_ids().any(|c| components.contains_key(c)),
                GroupBy::ComponentGroup => g.component_ids().any(|c| {
                    components.contains_key(c)
                        || components.keys().any(|n| {
                            let ours = catalog_group(n);
                            ours.is_some() && ours == catalog_group(c)
                        })
                }),
            })
            .min_by_key(|g| (g.opened_at, g.id.clone()))
            .map(|g| g.id.clone())
    }

    fn remove(&mut self, id: &str) {
        if let Some(group) = self.groups.remove(id) {
            for key in group.alerts().keys() {
                self.by_alert.remove(key);
            }
        }
        self.changed.remove(id);
        self.removed.insert(id.to_string());
    }
}

fn new_group_id(now: DateTime<Utc>) -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("g-{}-{}", now.format("%Y%m%d%H%M%S"), &rand[..8])
}

/// `since + d`, saturating instead of panicking on absurd configurations.
pub(crate) fn after(since: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    since
        .checked_add_signed(d)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
