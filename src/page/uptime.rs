//! Uptime from the append-only history of component status changes: per component and
//! per UTC day, the time spent in each status, the downtime it amounts to (each status
//! counts with its configured share, `uptime:` in the config), and the uptime percentage.
//! Everything is derived from the stored history and the clock, so the numbers are the
//! same after a restart. Days before a component first appeared have no data; a day counts
//! whole once the component exists in it (the part of today not yet lived counts as up), so
//! a short outage on a first day is weighed against that day, not against a minute.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::publish::StatusChange;
use crate::vocab::ComponentStatus;

/// How many days the page shows.
pub const DAYS: u32 = 90;

/// Milliseconds in a UTC day.
pub const DAY_MS: i64 = 86_400_000;

/// The share of time counted as downtime, per status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shares([f64; 5]);

impl Shares {
    pub fn from_config(config: &Config) -> Self {
        Shares(ComponentStatus::ALL.map(|s| config.downtime_share(s)))
    }

    pub fn of(&self, status: ComponentStatus) -> f64 {
        self.0[status as usize]
    }
}

impl Default for Shares {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// One UTC day of one component.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    /// Milliseconds in each status, indexed by `ComponentStatus as usize`.
    pub millis: [i64; 5],
    /// Weighted downtime, in milliseconds.
    pub downtime: f64,
    /// The worst status seen that day; `None` when there is no data.
    pub worst: Option<ComponentStatus>,
    /// Milliseconds the day counts for: all of it once the component exists in it, none
    /// before.
    pub counted: i64,
}

impl Day {
    /// Milliseconds measured so far (today: up to now).
    pub fn observed(&self) -> i64 {
        self.millis.iter().sum()
    }

    pub fn has_data(&self) -> bool {
        self.counted > 0
    }

    pub fn minutes(&self, status: ComponentStatus) -> f64 {
        self.millis[status as usize] as f64 / 60_000.0
    }

    pub fn uptime_percent(&self) -> Option<f64> {
        percent(self.counted, self.downtime)
    }
}

/// One component over the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct Uptime {
    /// Oldest first; always `DAYS` entries.
    pub days: Vec<Day>,
}

impl Uptime {
    /// The uptime over the days with data; `None` with no data at all.
    pub fn percent(&self) -> Option<f64> {
        let counted = self.days.iter().map(|d| d.counted).sum();
        percent(counted, self.downtime())
    }

    /// How many days the figure is over.
    pub fn days_with_data(&self) -> u32 {
        self.days.iter().filter(|d| d.has_data()).count() as u32
    }

    /// Weighted downtime over the whole window, in milliseconds.
    pub fn downtime(&self) -> f64 {
        self.days.iter().map(|d| d.downtime).sum()
    }

    /// `99.98% uptime over 3 days`, or `no data`.
    pub fn headline(&self) -> String {
        match self.percent() {
            Some(p) => format!(
                "{} uptime over {}",
                format_percent(p),
                days_text(self.days_with_data())
            ),
            None => "no data".into(),
        }
    }
}

/// `1 day`, `3 days`.
pub fn days_text(n: u32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// Rounded *down* to hundredths, so that any downtime at all never shows as 100%.
fn percent(observed: i64, downtime: f64) -> Option<f64> {
    if observed <= 0 {
        return None;
    }
    let up = 100.0 * (observed as f64 - downtime) / observed as f64;
    Some(((up * 100.0) + 1e-7).floor().max(0.0) / 100.0)
}

/// Computes `days` UTC days ending today (the last one partial, up to `now`).
///
/// `changes` are this component's status changes in any order; `first_seen` is when it
/// appeared in the catalog; `current` is its status now (used when it never changed).
pub fn compute(
    changes: &[&StatusChange],
    first_seen: Option<DateTime<Utc>>,
    current: ComponentStatus,
    now: DateTime<Utc>,
    days: u32,
    shares: &Shares,
) -> Uptime {
    let mut changes: Vec<&StatusChange> = changes.to_vec();
    changes.sort_by_key(|c| c.at);
    // It existed from its first appearance or its first recorded change, whichever is
    // earlier (history written before appearances were recorded still counts).
    let existed = match (first_seen, changes.first().map(|c| c.at)) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(now),
    };
    let status_at = |t: DateTime<Utc>| -> ComponentStatus {
        match changes.iter().rev().find(|c| c.at <= t) {
            Some(c) => c.to,
            None => changes.first().map(|c| c.from).unwrap_or(current),
        }
    };
    let today = now.date_naive();
    let mut out = Vec::with_capacity(days as usize);
    for back in (0..days).rev() {
        let date = today - Duration::days(i64::from(back));
        let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let next = midnight + Duration::days(1);
        // The day counts (whole, from midnight) once the component exists in a part of it
        // already lived.
        let start = midnight;
        let end = next.min(now);
        let mut day = Day {
            date,
            millis: [0; 5],
            downtime: 0.0,
            worst: None,
            counted: 0,
        };
        if existed < next && midnight.max(existed) < now {
            day.counted = DAY_MS;
            let mut at = start;
            let mut status = status_at(start);
            let inside = changes.iter().filter(|c| c.at > start && c.at < end);
            for c in inside.chain(std::iter::once(&&StatusChange {
                at: end,
                component: String::new(),
                from: status,
                to: status,
                incident_id: String::new(),
            })) {
                let ms = (c.at - at).num_milliseconds();
                if ms > 0 {
                    day.millis[status as usize] += ms;
                    day.downtime += ms as f64 * shares.of(status);
                    day.worst = Some(day.worst.map_or(status, |w| w.max(status)));
                }
                at = c.at;
                status = c.to;
            }
        }
        out.push(day);
    }
    Uptime { days: out }
}

/// `3 min`, `<1 min`, `2 h 5 min`.
fn human_minutes(minutes: f64) -> String {
    if minutes > 0.0 && minutes < 1.0 {
        return "<1 min".into();
    }
    let m = minutes.round() as i64;
    if m >= 60 {
        format!("{} h {} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

/// The text of a day's cell: its date, the time in each status worse than operational,
/// and the uptime — so the bar is readable without colour.
pub fn describe(day: &Day) -> String {
    let date = day.date.format("%-d %b %Y");
    let Some(pct) = day.uptime_percent() else {
        return format!("{date}: no data");
    };
    let parts: Vec<String> = ComponentStatus::ALL
        .iter()
        .rev()
        .filter(|s| **s != ComponentStatus::Operational && day.millis[**s as usize] > 0)
        .map(|s| {
            format!(
                "{} {}",
                human_minutes(day.minutes(*s)),
                s.label().to_lowercase()
            )
        })
        .collect();
    let what = if parts.is_empty() {
        "no incidents".to_string()
    } else {
        parts.join(", ")
    };
    format!("{date}: {what}; {} uptime", format_percent(pct))
}

/// `99.95%`, `100%`.
pub fn format_percent(p: f64) -> String {
    let s = format!("{p:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One day as JSON: minutes per status (only those with time), downtime minutes, uptime.
pub fn day_json(day: &Day) -> Value {
    let mut minutes = Map::new();
    for s in ComponentStatus::ALL {
        if day.millis[s as usize] > 0 {
            minutes.insert(s.as_str().into(), json!(round2(day.minutes(s))));
        }
    }
    json!({
        "date": day.date.to_string(),
        "status": day.worst.map(|s| s.as_str()),
        "minutes": minutes,
        "downtime_minutes": round2(day.downtime / 60_000.0),
        "uptime_percent": day.uptime_percent(),
    })
}

/// Also the fixtures of the SLO tests, which read the same kind of history.
#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use chrono::TimeZone;
    use ComponentStatus::*;

    /// A moment in March 2026.
    pub(in crate::page) fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap()
    }

    /// The component `api` going from `from` to `to` at `t`.
    pub(in crate::page) fn change(
        t: DateTime<Utc>,
        from: ComponentStatus,
        to: ComponentStatus,
    ) -> StatusChange {
        StatusChange {
            at: t,
            component: "api".into(),
            from,
            to,
            incident_id: "INC-1".into(),
        }
    }

    /// Down with `status` from `start` until `end`, operational before and after.
    pub(in crate::page) fn outage(
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        status: ComponentStatus,
    ) -> [StatusChange; 2] {
        [
            change(start, Operational, status),
            change(end, status, Operational),
        ]
    }

    fn run(
        changes: &[StatusChange],
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        days: u32,
    ) -> Uptime {
        let refs: Vec<&StatusChange> = changes.iter().collect();
        compute(
            &refs,
            Some(first),
            Operational,
            now,
            days,
            &Shares::default(),
        )
    }

    #[test]
    fn an_outage_across_midnight_is_split_exactly_between_the_two_days() {
        let history = outage(at(10, 23, 30), at(11, 0, 45), MajorOutage);
        let u = run(&history, at(1, 0, 0), at(12, 0, 0), 3);
        let [d10, d11, d12] = &u.days[..] else {
            panic!()
        };
        assert_eq!(d10.minutes(MajorOutage), 30.0);
        assert_eq!(d11.minutes(MajorOutage), 45.0);
        assert_eq!(d10.worst, Some(MajorOutage));
        assert_eq!(d11.worst, Some(MajorOutage));
        // 30 of 1440 minutes down: 97.916…% shown as 97.91 (rounded down).
        assert_eq!(d10.uptime_percent(), Some(97.91));
        assert_eq!(d11.uptime_percent(), Some(96.87));
        // Today has not begun yet at exactly midnight: no data.
        assert_eq!(d12.uptime_percent(), None);
        assert_eq!(d12.worst, None);
    }

    #[test]
    fn partial_outage_counts_with_its_share_and_degraded_and_maintenance_not_at_all() {
        let history = [
            change(at(10, 1, 0), Operational, PartialOutage),
            change(at(10, 2, 40), PartialOutage, DegradedPerformance),
            change(at(10, 3, 0), DegradedPerformance, UnderMaintenance),
            change(at(10, 5, 0), UnderMaintenance, Operational),
        ];
        let u = run(&history, at(1, 0, 0), at(11, 0, 0), 2);
        let d = &u.days[0];
        assert_eq!(d.minutes(PartialOutage), 100.0);
        assert_eq!(d.minutes(DegradedPerformance), 20.0);
        assert_eq!(d.minutes(UnderMaintenance), 120.0);
        assert_eq!(d.minutes(Operational), 1200.0);
        assert_eq!(d.downtime, 100.0 * 0.3 * 60_000.0);
        assert_eq!(d.worst, Some(PartialOutage));
        // 30 weighted minutes of 1440.
        assert_eq!(d.uptime_percent(), Some(97.91));
        assert!(
            describe(d).contains("1 h 40 min partial outage"),
            "{}",
            describe(d)
        );
        assert!(describe(d).contains("2 h 0 min under maintenance"));
    }

    #[test]
    fn shares_come_from_the_configuration() {
        let mut config = Config::default();
        config.uptime.insert(DegradedPerformance, 0.5);
        config.uptime.insert(PartialOutage, 1.0);
        let shares = Shares::from_config(&config);
        let history = outage(at(10, 0, 0), at(10, 12, 0), DegradedPerformance);
        let refs: Vec<&StatusChange> = history.iter().collect();
        let u = compute(
            &refs,
            Some(at(1, 0, 0)),
            Operational,
            at(11, 0, 0),
            2,
            &shares,
        );
        assert_eq!(u.days[0].uptime_percent(), Some(75.0));
    }

    #[test]
    fn days_before_a_component_appeared_have_no_data_not_full_uptime() {
        let u = run(&[], at(10, 12, 0), at(11, 12, 0), 5);
        let pct: Vec<Option<f64>> = u.days.iter().map(Day::uptime_percent).collect();
        assert_eq!(pct, vec![None, None, None, Some(100.0), Some(100.0)]);
        // The day it appeared counts whole; today is measured up to now.
        assert_eq!(u.days[3].minutes(Operational), 1440.0);
        assert_eq!(u.days[4].minutes(Operational), 720.0);
        assert_eq!(u.days[4].counted, DAY_MS);
        assert_eq!(describe(&u.days[0]), "7 Mar 2026: no data");
        assert_eq!(u.days[0].worst, None);
        assert_eq!(u.percent(), Some(100.0));
        assert_eq!(u.days_with_data(), 2);
        assert_eq!(u.headline(), "100% uptime over 2 days");
    }

    #[test]
    fn a_short_outage_just_after_a_fresh_start_is_weighed_against_the_whole_day() {
        // Started at 13:00, down for 20 seconds at 13:01, read at 13:02. Counted from the
        // start this was 20 s of 120 s (83%); against the day it is 20 s of 86 400 s.
        let start = at(10, 13, 1);
        let history = outage(start, start + Duration::seconds(20), MajorOutage);
        let u = run(&history, at(10, 13, 0), at(10, 13, 2), DAYS);
        assert_eq!(u.days.len(), 90);
        assert!(u.days[..89]
            .iter()
            .all(|d| !d.has_data() && d.worst.is_none()));
        // 1 − 20/86 400 = 99.9768…%, shown rounded down.
        assert_eq!(u.percent(), Some(99.97));
        assert_eq!(u.days[89].uptime_percent(), Some(99.97));
        assert_eq!(u.days_with_data(), 1);
        assert_eq!(u.headline(), "99.97% uptime over 1 day");
        assert_eq!(day_json(&u.days[89])["uptime_percent"], 99.97);
    }

    #[test]
    fn an_outage_still_going_counts_up_to_now_and_the_window_figure_weighs_every_day() {
        let history = [change(at(10, 18, 0), Operational, MajorOutage)];
        let u = run(&history, at(1, 0, 0), at(11, 6, 0), 2);
        assert_eq!(u.days[0].minutes(MajorOutage), 360.0);
        assert_eq!(u.days[1].minutes(MajorOutage), 360.0);
        assert_eq!(u.days[1].observed(), 360 * 60_000);
        // Today counts whole: 360 minutes down of 1440.
        assert_eq!(u.days[1].uptime_percent(), Some(75.0));
        // 720 minutes down of two whole days.
        assert_eq!(u.percent(), Some(75.0));
    }

    #[test]
    fn history_from_before_the_window_sets_the_status_it_starts_with() {
        // Down since long before the window, recorded out of order.
        let history = [
            change(at(10, 6, 0), MajorOutage, Operational),
            change(at(2, 0, 0), Operational, MajorOutage),
        ];
        let u = run(&history, at(1, 0, 0), at(11, 0, 0), 3);
        assert_eq!(u.days[0].date, NaiveDate::from_ymd_opt(2026, 3, 9).unwrap());
        assert_eq!(u.days[0].minutes(MajorOutage), 1440.0);
        assert_eq!(u.days[1].minutes(MajorOutage), 360.0);
        assert_eq!(u.days[1].minutes(Operational), 1080.0);
    }

    #[test]
    fn a_tiny_outage_never_rounds_up_to_full_uptime() {
        let start = at(10, 1, 0);
        let history = outage(start, start + Duration::seconds(5), MajorOutage);
        let u = run(&history, at(1, 0, 0), at(11, 0, 0), 2);
        assert_eq!(u.days[0].uptime_percent(), Some(99.99));
        assert!(describe(&u.days[0]).contains("<1 min major outage"));
        let j = day_json(&u.days[0]);
        assert_eq!(j["status"], "major_outage");
        assert_eq!(j["minutes"]["major_outage"], 0.08);
        assert_eq!(j["uptime_percent"], 99.99);
    }

    #[test]
    fn percentages_print_without_needless_zeros() {
        assert_eq!(format_percent(100.0), "100%");
        assert_eq!(format_percent(99.5), "99.5%");
        assert_eq!(format_percent(99.95), "99.95%");
    }
}
