//! Service levels: a component's availability against its objective (`slo:` in its mapping
//! file) and the error budget left. The arithmetic is the uptime bars' (`uptime::compute`:
//! published status history, `uptime:` shares, whole UTC days once the component exists),
//! over the objective's window, so the two never disagree about what customers were told.
//!
//! The budget is the whole window's, `(100 − target)% × window`; `budget_remaining` is
//! `1 − downtime ÷ budget`, below 0 when overspent. A window with no history yet is
//! "collecting": no availability, no budget figure — never a 100% nobody measured.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::uptime::{self, Shares, Uptime, DAY_MS};
use crate::publish::{PublicComponent, PublicState, StatusChange};
use crate::store::Result;
use crate::vocab::{ComponentStatus, Slo};

/// Below this share of the budget left, the page shows it as running low.
pub const LOW: f64 = 0.25;

/// One component's standing against its objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub slo: Slo,
    /// Days of the window with history.
    pub days: u32,
    /// Weighted downtime in the window, in milliseconds.
    pub downtime: f64,
    /// The budget left (a ratio) at the end of each day of the window, oldest first;
    /// `None` for days before the component existed.
    pub burn: Vec<Option<f64>>,
}

impl Level {
    /// The level from the component's uptime over exactly the objective's window.
    pub fn from_uptime(slo: Slo, u: &Uptime) -> Level {
        let mut level = Level {
            slo,
            days: u.days_with_data(),
            downtime: u.downtime(),
            burn: Vec::with_capacity(u.days.len()),
        };
        let mut spent = 0.0;
        for d in &u.days {
            spent += d.downtime;
            let left = 1.0 - spent / level.budget_ms();
            level.burn.push(d.has_data().then_some(left));
        }
        level
    }

    /// The whole window's error budget, in milliseconds.
    pub fn budget_ms(&self) -> f64 {
        (100.0 - self.slo.target) / 100.0 * f64::from(self.slo.window_days) * DAY_MS as f64
    }

    pub fn collecting(&self) -> bool {
        self.days == 0
    }

    /// Percent over the days with history, rounded down to thousandths (any downtime at
    /// all never shows as 100%); `None` while collecting.
    pub fn availability(&self) -> Option<f64> {
        if self.collecting() {
            return None;
        }
        let counted = f64::from(self.days) * DAY_MS as f64;
        let up = 100.0 * (counted - self.downtime) / counted;
        Some(floor_to(up.max(0.0), 1000.0))
    }

    /// The share of the budget left, rounded down to ten-thousandths; `None` while collecting.
    pub fn budget_remaining(&self) -> Option<f64> {
        (!self.collecting()).then(|| floor_to(1.0 - self.downtime / self.budget_ms(), 10_000.0))
    }

    pub fn budget_minutes(&self) -> f64 {
        round2(self.budget_ms() / 60_000.0)
    }

    /// Minutes of budget left (negative when overspent); `None` while collecting.
    pub fn remaining_minutes(&self) -> Option<f64> {
        (!self.collecting()).then(|| round2((self.budget_ms() - self.downtime) / 60_000.0))
    }

    /// `plenty`, `low` (under 25% left), `exhausted`, or `collecting`: the page's colour.
    pub fn state(&self) -> &'static str {
        match self.budget_remaining() {
            None => "collecting",
            Some(r) if r <= 0.0 => "exhausted",
            Some(r) if r < LOW => "low",
            Some(_) => "plenty",
        }
    }

    /// The `slo` field of a component in `components.json` and `summary.json`.
    pub fn json(&self) -> Value {
        json!({
            "target": self.slo.target,
            "window": self.slo.window(),
            "availability": self.availability(),
            "budget_remaining": self.budget_remaining(),
        })
    }

    /// One entry of `slo.json`.
    pub fn detail_json(&self, c: &PublicComponent) -> Value {
        let mut v = self.json();
        v["id"] = json!(c.info.id);
        v["name"] = json!(c.info.name);
        v["state"] = json!(self.state());
        v["days"] = json!(self.days);
        v["budget_minutes"] = json!(self.budget_minutes());
        v["budget_remaining_minutes"] = json!(self.remaining_minutes());
        v
    }
}

fn floor_to(x: f64, scale: f64) -> f64 {
    ((x * scale) + 1e-7).floor() / scale
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The level of one component now.
pub fn level(
    slo: Slo,
    changes: &[&StatusChange],
    first_seen: Option<DateTime<Utc>>,
    current: ComponentStatus,
    now: DateTime<Utc>,
    shares: &Shares,
) -> Level {
    let u = uptime::compute(changes, first_seen, current, now, slo.window_days, shares);
    Level::from_uptime(slo, &u)
}

/// The level of every public component that declares an objective, by id.
pub fn levels(
    components: &[PublicComponent],
    history: &[StatusChange],
    first_seen: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
    shares: &Shares,
) -> BTreeMap<String, Level> {
    components
        .iter()
        .filter(|c| c.info.public)
        .filter_map(|c| {
            let slo = c.info.slo?;
            let changes: Vec<&StatusChange> = history
                .iter()
                .filter(|h| h.component == c.info.id)
                .collect();
            let first = first_seen.get(&c.info.id).copied();
            let l = level(slo, &changes, first, c.status, now, shares);
            Some((c.info.id.clone(), l))
        })
        .collect()
}

/// The first moment of an objective's window: midnight UTC, `window_days − 1` days ago.
pub fn window_start(slo: Slo, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.date_naive() - Duration::days(i64::from(slo.window_days) - 1);
    today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// Weighted downtime (ms) between `from` and `now` while a change made by `incident` set
/// the component's status: what that incident has burned.
pub fn incident_downtime(
    changes: &[&StatusChange],
    incident: &str,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    shares: &Shares,
) -> f64 {
    let mut changes: Vec<&StatusChange> = changes.to_vec();
    changes.sort_by_key(|c| c.at);
    let mut total = 0.0;
    for (i, c) in changes.iter().enumerate() {
        if c.incident_id != incident {
            continue;
        }
        let until = changes.get(i + 1).map_or(now, |n| n.at).min(now);
        let ms = (until - c.at.max(from)).num_milliseconds();
        if ms > 0 {
            total += ms as f64 * shares.of(c.to);
        }
    }
    total
}

/// What an incident means for one component's error budget: for the approver of a draft.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentBudget {
    pub target: f64,
    /// `30d`.
    pub window: String,
    /// Percent over the window's days with history; null while collecting.
    pub availability: Option<f64>,
    /// The share of the window's budget left (below 0 when overspent); null while collecting.
    pub budget_remaining: Option<f64>,
    pub budget_remaining_minutes: Option<f64>,
    pub budget_minutes: f64,
    /// Weighted downtime this incident has caused on the page so far, in the window.
    pub burned_by_incident_minutes: f64,
    /// The same as a share of the window's budget.
    pub burned_by_incident: f64,
    /// How long the budget left lasts at the status the draft proposes; null when that
    /// status costs nothing or while collecting.
    pub lasts_minutes_at_proposed_status: Option<f64>,
    /// `plenty`, `low`, `exhausted` or `collecting`.
    pub state: String,
}

/// The public state and the shares: enough to say where every objective stands.
#[derive(Clone)]
pub struct Levels {
    public: PublicState,
    shares: Shares,
}

impl Levels {
    pub fn new(public: PublicState, shares: Shares) -> Self {
        Levels { public, shares }
    }

    /// Every public component with an objective, with its level now.
    pub fn all(&self, now: DateTime<Utc>) -> Result<BTreeMap<String, Level>> {
        let components = self.public.components()?;
        let history = self.public.history()?;
        let first_seen = self.public.first_seen()?;
        Ok(levels(
            &components,
            &history,
            &first_seen,
            now,
            &self.shares,
        ))
    }

    /// For each of `proposed` (component id → status a draft proposes) that has an
    /// objective: the budget left and what `incident` (if published yet) has burned.
    pub fn for_incident(
        &self,
        proposed: &BTreeMap<String, ComponentStatus>,
        incident: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, IncidentBudget>> {
        let wanted = self
            .public
            .components_where(|c| c.slo.is_some() && proposed.contains_key(&c.id))?;
        if wanted.is_empty() {
            return Ok(BTreeMap::new());
        }
        let history = self.public.history()?;
        let first_seen = self.public.first_seen()?;
        let mut out = BTreeMap::new();
        for (id, level) in levels(&wanted, &history, &first_seen, now, &self.shares) {
            let changes: Vec<&StatusChange> =
                history.iter().filter(|h| h.component == id).collect();
            let burned = incident.map_or(0.0, |i| {
                incident_downtime(&changes, i, window_start(level.slo, now), now, &self.shares)
            });
            let share = proposed.get(&id).map_or(0.0, |s| self.shares.of(*s));
            let lasts = level
                .remaining_minutes()
                .filter(|_| share > 0.0)
                .map(|m| round2(m.max(0.0) / share));
            out.insert(
                id,
                IncidentBudget {
                    target: level.slo.target,
                    window: level.slo.window(),
                    availability: level.availability(),
                    budget_remaining: level.budget_remaining(),
                    budget_remaining_minutes: level.remaining_minutes(),
                    budget_minutes: level.budget_minutes(),
                    burned_by_incident_minutes: round2(burned / 60_000.0),
                    burned_by_incident: floor_to(burned / level.budget_ms(), 10_000.0),
                    lasts_minutes_at_proposed_status: lasts,
                    state: level.state().to_string(),
                },
            );
        }
        Ok(out)
    }
}

/// The budget-burn chart's line: `x,y` points in a 100 × 24 box, from full budget at the
/// first day with history to what is left at the end of each day (clamped to the box).
pub fn chart_points(level: &Level) -> String {
    let n = level.burn.len().max(1) as f64;
    let y = |r: f64| 2.0 + 20.0 * (1.0 - r.clamp(0.0, 1.0));
    let mut points = Vec::new();
    for (i, left) in level.burn.iter().enumerate() {
        let Some(left) = left else { continue };
        if points.is_empty() {
            points.push(format!("{:.2},{:.2}", 100.0 * i as f64 / n, y(1.0)));
        }
        points.push(format!("{:.2},{:.2}", 100.0 * (i + 1) as f64 / n, y(*left)));
    }
    points.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::uptime::tests::{at, change, outage};
    use ComponentStatus::*;

    fn slo(target: f64, window_days: u32) -> Slo {
        Slo {
            target,
            window_days,
        }
    }

    fn run(
        s: Slo,
        history: &[StatusChange],
        first: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Level {
        let refs: Vec<&StatusChange> = history.iter().collect();
        level(s, &refs, first, Operational, now, &Shares::default())
    }

    #[test]
    fn an_outage_that_began_before_the_window_counts_only_inside_it() {
        // Window of 7 days read at 10 Mar 12:00: 4 Mar 00:00 to now. Down from 3 Mar 23:00
        // to 4 Mar 01:00: only the 60 minutes on 4 Mar count.
        let history = outage(at(3, 23, 0), at(4, 1, 0), MajorOutage);
        let l = run(slo(99.9, 7), &history, Some(at(1, 0, 0)), at(10, 12, 0));
        assert_eq!(l.days, 7);
        assert_eq!(l.downtime, 60.0 * 60_000.0);
        // Budget: 0.1% of 7 × 1440 minutes = 10.08 minutes; 60 minutes overspends it.
        assert_eq!(l.budget_minutes(), 10.08);
        // 1 − 60/10.08 = −4.952…, rounded down.
        assert_eq!(l.budget_remaining(), Some(-4.9524));
        assert_eq!(l.remaining_minutes(), Some(-49.92));
        assert_eq!(l.state(), "exhausted");
        // 60 of 10 080 minutes: 99.4047…%.
        assert_eq!(l.availability(), Some(99.404));
        assert_eq!(window_start(l.slo, at(10, 12, 0)), at(4, 0, 0));
    }

    #[test]
    fn maintenance_costs_nothing_and_a_partial_outage_weighs_three_tenths() {
        // 30-day window, 99.9%: budget 43.2 minutes. 2 h maintenance, then 100 minutes of
        // partial outage = 30 weighted minutes.
        let history = [
            outage(at(5, 2, 0), at(5, 4, 0), UnderMaintenance),
            outage(at(6, 10, 0), at(6, 11, 40), PartialOutage),
        ]
        .concat();
        let l = run(slo(99.9, 30), &history, Some(at(1, 0, 0)), at(10, 0, 30));
        // 1 to 10 March: 10 days with history.
        assert_eq!(l.days, 10);
        assert_eq!(l.downtime, 30.0 * 60_000.0);
        assert_eq!(l.budget_minutes(), 43.2);
        assert_eq!(l.remaining_minutes(), Some(13.2));
        // 1 − 30/43.2 = 0.30555…
        assert_eq!(l.budget_remaining(), Some(0.3055));
        assert_eq!(l.state(), "plenty");
        // 30 of 14 400 minutes: 99.7916…%.
        assert_eq!(l.availability(), Some(99.791));
        assert_eq!(
            l.json(),
            json!({"target": 99.9, "window": "30d", "availability": 99.791, "budget_remaining": 0.3055})
        );
        // Budget left after each day: full until the 6th, then 0.3055… to the end.
        let known: Vec<f64> = l.burn.iter().flatten().copied().collect();
        assert_eq!(known.len(), 10);
        assert_eq!(known[4], 1.0);
        assert!((known[5] - (1.0 - 30.0 / 43.2)).abs() < 1e-9);
        assert!(l.burn[..20].iter().all(Option::is_none));
    }

    #[test]
    fn under_a_quarter_left_is_low() {
        // 99.95% over 30 days: 21.6 minutes. 17 minutes down leaves 4.6 (21.3%).
        let history = outage(at(9, 8, 0), at(9, 8, 17), MajorOutage);
        let l = run(slo(99.95, 30), &history, Some(at(9, 0, 0)), at(9, 12, 0));
        assert_eq!(l.days, 1);
        assert_eq!(l.remaining_minutes(), Some(4.6));
        assert_eq!(l.budget_remaining(), Some(0.2129));
        assert_eq!(l.state(), "low");
        // Measured against the whole first day: 17 of 1440 minutes.
        assert_eq!(l.availability(), Some(98.819));
    }

    #[test]
    fn a_window_with_no_history_yet_is_collecting_not_full_marks() {
        let l = run(slo(99.9, 30), &[], None, at(10, 0, 0));
        assert!(l.collecting());
        assert_eq!(l.availability(), None);
        assert_eq!(l.budget_remaining(), None);
        assert_eq!(l.remaining_minutes(), None);
        assert_eq!(l.state(), "collecting");
        assert_eq!(l.json()["availability"], Value::Null);
        assert_eq!(chart_points(&l), "");
    }

    #[test]
    fn an_incident_burns_only_while_its_own_change_holds_the_status() {
        let mut other = change(at(9, 10, 30), MajorOutage, PartialOutage);
        other.incident_id = "INC-2".into();
        let history = [
            change(at(9, 10, 0), Operational, MajorOutage),
            other,
            change(at(9, 11, 0), PartialOutage, Operational),
        ];
        let refs: Vec<&StatusChange> = history.iter().collect();
        let shares = Shares::default();
        // 30 minutes at major outage by INC-1; the partial outage is INC-2's.
        let burned = incident_downtime(&refs, "INC-1", at(1, 0, 0), at(9, 12, 0), &shares);
        assert_eq!(burned, 30.0 * 60_000.0);
        let burned = incident_downtime(&refs, "INC-2", at(1, 0, 0), at(9, 12, 0), &shares);
        assert_eq!(burned, 9.0 * 60_000.0);
        // Only the part inside the window counts.
        let burned = incident_downtime(&refs, "INC-1", at(9, 10, 20), at(9, 12, 0), &shares);
        assert_eq!(burned, 10.0 * 60_000.0);
        // Still going: up to now.
        let burned = incident_downtime(&refs[..1], "INC-1", at(1, 0, 0), at(9, 10, 5), &shares);
        assert_eq!(burned, 5.0 * 60_000.0);
    }

    #[test]
    fn the_chart_starts_full_at_the_first_day_with_history() {
        let history = outage(at(9, 8, 0), at(9, 8, 17), MajorOutage);
        let l = run(slo(99.95, 4), &history, Some(at(8, 0, 0)), at(9, 12, 0));
        // Budget 2.88 minutes, 17 spent: the line drops below the box on the last day.
        assert_eq!(chart_points(&l), "50.00,2.00 75.00,2.00 100.00,22.00");
    }
}
