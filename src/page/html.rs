//! What the HTML templates see: plain view models built from one snapshot of the public
//! state. Every string is escaped by the templates (`render_html`); nothing here is HTML.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::slo::{self, Level};
use super::statuspage;
use super::uptime::{self, Uptime};
use crate::config::PageConfig;
use crate::publish::{Incident, Maintenance, PublicComponent};
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

/// Incidents and maintenances per page of `/history`.
pub const HISTORY_PAGE: usize = 10;

/// One consistent reading of the public state, from which every page is rendered.
pub struct Snapshot {
    pub components: Vec<PublicComponent>,
    /// Newest first.
    pub incidents: Vec<Incident>,
    /// Latest window first.
    pub maintenances: Vec<Maintenance>,
    pub uptime: BTreeMap<String, Uptime>,
    /// Components with an objective, by id.
    pub levels: BTreeMap<String, Level>,
    pub indicator: Impact,
    pub updated_at: DateTime<Utc>,
}

impl Snapshot {
    /// The component `id`, unless it is unknown or internal.
    pub fn public_component(&self, id: &str) -> Option<&PublicComponent> {
        self.components
            .iter()
            .find(|c| c.info.id == id && c.info.public)
    }

    /// Scheduled maintenances, soonest first.
    pub fn upcoming(&self) -> Vec<&Maintenance> {
        let mut list: Vec<&Maintenance> = self
            .maintenances
            .iter()
            .filter(|m| m.status == IncidentStatus::Scheduled)
            .collect();
        list.sort_by_key(|m| m.scheduled_for);
        list
    }
}

/// How the page's own links are written: under `/a/{audience}` with the reader's `?key=`
/// on an audience page (so a browser or feed reader that came by link stays in), plain on
/// the public page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Links {
    /// Path prefix: `""` or `/a/{audience}`.
    pub base: String,
    /// Query to append to a link without one: `""` or `?key=…`.
    pub q: String,
    /// The same for a link that has a query already: `""` or `&key=…`.
    pub and: String,
    /// The audience's name, shown beside the page name.
    pub audience: Option<String>,
}

#[derive(Serialize)]
pub struct IndexView<'a> {
    page: &'a PageConfig,
    link: &'a Links,
    indicator: &'static str,
    headline: &'static str,
    icon: &'static str,
    incidents: Vec<EventView>,
    in_progress: Vec<EventView>,
    upcoming: Vec<EventView>,
    groups: Vec<GroupView>,
    days: u32,
    updated_at: String,
    updated_at_iso: String,
}

/// A component group (a `<details>` that shows its worst member's status), or the
/// components with no group (`name: None`).
#[derive(Serialize)]
struct GroupView {
    name: Option<String>,
    slug: String,
    status: &'static str,
    status_label: &'static str,
    icon: &'static str,
    /// Open when a member is not operational, so trouble is never folded away.
    open: bool,
    components: Vec<ComponentView>,
    #[serde(skip)]
    worst: ComponentStatus,
}

#[derive(Serialize)]
struct ComponentView {
    id: String,
    name: String,
    description: Option<String>,
    status: &'static str,
    status_label: &'static str,
    icon: &'static str,
    uptime: String,
    uptime_label: String,
    days: Vec<DayView>,
    slo: Option<SloView>,
}

/// A component's objective, its availability and the error budget left, in words, with
/// the budget-burn chart's points (an inline SVG; no script).
#[derive(Serialize)]
struct SloView {
    /// `plenty`, `low`, `exhausted` or `collecting`: the colour.
    state: &'static str,
    availability: String,
    target: String,
    window: String,
    budget_percent: String,
    budget_minutes: String,
    /// The days the availability is over: `3 days (30-day window)`.
    over: String,
    collecting: bool,
    points: String,
    label: String,
}

impl SloView {
    fn new(name: &str, l: &Level) -> SloView {
        let window = uptime::days_text(l.slo.window_days);
        let (availability, budget_percent, budget_minutes) = match (
            l.availability(),
            l.budget_remaining(),
            l.remaining_minutes(),
        ) {
            (Some(a), Some(_), Some(m)) if m < 0.0 => (
                format!("{a}%"),
                "0%".into(),
                format!("overspent by {} min", -m),
            ),
            (Some(a), Some(r), Some(m)) => (
                format!("{a}%"),
                format!("{}%", (r * 1000.0).floor() / 10.0),
                format!("{m} of {} min", l.budget_minutes()),
            ),
            _ => ("collecting".into(), "collecting".into(), String::new()),
        };
        let over = if l.days == l.slo.window_days {
            window.clone()
        } else {
            format!(
                "{} ({}-day window)",
                uptime::days_text(l.days),
                l.slo.window_days
            )
        };
        let label = if l.collecting() {
            format!("{name}: service level data is still being collected")
        } else {
            format!(
                "{name}: {availability} availability over {} of a {}-day window (target {}%), {budget_percent} of the error budget left",
                uptime::days_text(l.days),
                l.slo.window_days,
                l.slo.target
            )
        };
        SloView {
            state: l.state(),
            availability,
            target: format!("{}%", l.slo.target),
            window,
            budget_percent,
            budget_minutes,
            over,
            collecting: l.collecting(),
            points: slo::chart_points(l),
            label,
        }
    }
}

#[derive(Serialize)]
struct DayView {
    class: &'static str,
    title: String,
}

/// An incident or a maintenance, for the page, its permalink and the history.
#[derive(Serialize)]
pub struct EventView {
    id: String,
    name: String,
    kind: &'static str,
    impact: &'static str,
    status: &'static str,
    status_label: &'static str,
    closed: bool,
    components: Vec<String>,
    window: Option<WindowView>,
    started: TimeView,
    ended: Option<TimeView>,
    updates: Vec<UpdateView>,
}

#[derive(Serialize)]
struct WindowView {
    from: TimeView,
    until: TimeView,
}

#[derive(Serialize)]
struct TimeView {
    text: String,
    iso: String,
}

#[derive(Serialize)]
struct UpdateView {
    id: String,
    status: &'static str,
    status_label: &'static str,
    body: String,
    at: TimeView,
}

impl UpdateView {
    fn new(id: &str, status: IncidentStatus, body: &str, when: DateTime<Utc>) -> UpdateView {
        UpdateView {
            id: id.to_string(),
            status: status.as_str(),
            status_label: status.label(),
            body: body.to_string(),
            at: at(when),
        }
    }
}

#[derive(Serialize)]
pub struct EventPage<'a> {
    page: &'a PageConfig,
    link: &'a Links,
    event: EventView,
}

#[derive(Serialize)]
pub struct HistoryPage<'a> {
    page: &'a PageConfig,
    link: &'a Links,
    events: Vec<EventView>,
    number: usize,
    pages: usize,
    newer: Option<usize>,
    older: Option<usize>,
}

fn at(t: DateTime<Utc>) -> TimeView {
    TimeView {
        text: t.format("%Y-%m-%d %H:%M UTC").to_string(),
        iso: statuspage::time(t),
    }
}

/// Marks that tell statuses apart without colour.
pub fn icon(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => "✓",
        ComponentStatus::UnderMaintenance => "⚙",
        ComponentStatus::DegradedPerformance => "◐",
        ComponentStatus::PartialOutage => "▲",
        ComponentStatus::MajorOutage => "✕",
    }
}

/// The banner in words for people.
pub fn headline(indicator: Impact) -> &'static str {
    match indicator {
        Impact::None => "All systems operational",
        Impact::Maintenance => "Scheduled maintenance in progress",
        Impact::Minor => "Some systems are degraded",
        Impact::Major => "Partial outage",
        Impact::Critical => "Major outage",
    }
}

fn banner_icon(indicator: Impact) -> &'static str {
    match indicator {
        Impact::None => "✓",
        Impact::Maintenance => "⚙",
        Impact::Minor => "◐",
        Impact::Major => "▲",
        Impact::Critical => "✕",
    }
}

fn names(snapshot: &Snapshot, ids: impl Iterator<Item = String>) -> Vec<String> {
    ids.filter_map(|id| snapshot.public_component(&id).map(|c| c.info.name.clone()))
        .collect()
}

pub fn incident_view(snapshot: &Snapshot, i: &Incident) -> EventView {
    EventView {
        id: i.id.clone(),
        name: i.name.clone(),
        kind: "Incident",
        impact: i.impact.as_str(),
        status: i.status.as_str(),
        status_label: i.status.label(),
        closed: i.status.is_closed(),
        components: names(snapshot, i.components.keys().cloned()),
        window: None,
        started: at(i.started_at.min(i.created_at)),
        ended: i.resolved_at.map(at),
        updates: i
            .updates
            .iter()
            .rev()
            .map(|u| UpdateView::new(&u.id, u.status, &u.body, u.display_at))
            .collect(),
    }
}

pub fn maintenance_view(snapshot: &Snapshot, m: &Maintenance) -> EventView {
    EventView {
        id: m.id.clone(),
        name: m.name.clone(),
        kind: "Maintenance",
        impact: Impact::Maintenance.as_str(),
        status: m.status.as_str(),
        status_label: m.status.label(),
        closed: m.status.is_closed(),
        components: names(snapshot, m.components.iter().cloned()),
        window: Some(WindowView {
            from: at(m.scheduled_for),
            until: at(m.scheduled_until),
        }),
        started: at(m.started_at.unwrap_or(m.scheduled_for)),
        ended: m.completed_at.map(at),
        updates: m
            .updates
            .iter()
            .rev()
            .map(|u| UpdateView::new(&u.id, u.status, &u.body, u.created_at))
            .collect(),
    }
}

pub fn index<'a>(page: &'a PageConfig, link: &'a Links, s: &Snapshot) -> IndexView<'a> {
    let mut groups: Vec<GroupView> = Vec::new();
    for c in s.components.iter().filter(|c| c.info.public) {
        let up = s.uptime.get(&c.info.id);
        let figure = up.and_then(Uptime::percent);
        let item = ComponentView {
            id: c.info.id.clone(),
            name: c.info.name.clone(),
            description: c.info.description.clone(),
            status: c.status.as_str(),
            status_label: c.status.label(),
            icon: icon(c.status),
            uptime: up.map_or_else(|| "no data".into(), Uptime::headline),
            uptime_label: match figure {
                Some(_) => format!(
                    "{}: {} (days before it existed have no data)",
                    c.info.name,
                    up.map(Uptime::headline).unwrap_or_default(),
                ),
                None => format!("{}: no uptime data yet", c.info.name),
            },
            days: up
                .map(|u| {
                    u.days
                        .iter()
                        .map(|d| DayView {
                            class: d.worst.map(|w| w.as_str()).unwrap_or("none"),
                            title: uptime::describe(d),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            slo: s
                .levels
                .get(&c.info.id)
                .map(|l| SloView::new(&c.info.name, l)),
        };
        match groups.iter_mut().find(|g| g.name == c.info.group) {
            Some(g) => {
                g.components.push(item);
                g.worst = g.worst.max(c.status);
            }
            None => groups.push(GroupView {
                name: c.info.group.clone(),
                slug: c
                    .info
                    .group
                    .as_deref()
                    .map(statuspage::group_id)
                    .unwrap_or_default(),
                status: "",
                status_label: "",
                icon: "",
                open: false,
                components: vec![item],
                worst: c.status,
            }),
        }
    }
    for g in &mut groups {
        g.status = g.worst.as_str();
        g.status_label = g.worst.label();
        g.icon = icon(g.worst);
        g.open = g.worst != ComponentStatus::Operational;
    }
    let upcoming = s.upcoming();
    IndexView {
        page,
        link,
        indicator: s.indicator.as_str(),
        headline: headline(s.indicator),
        icon: banner_icon(s.indicator),
        incidents: s
            .incidents
            .iter()
            .filter(|i| !i.status.is_closed())
            .map(|i| incident_view(s, i))
            .collect(),
        in_progress: s
            .maintenances
            .iter()
            .filter(|m| m.is_active())
            .map(|m| maintenance_view(s, m))
            .collect(),
        upcoming: upcoming
            .into_iter()
            .map(|m| maintenance_view(s, m))
            .collect(),
        groups,
        days: uptime::DAYS,
        updated_at: at(s.updated_at).text,
        updated_at_iso: at(s.updated_at).iso,
    }
}

/// The permalink page of an incident or maintenance, if it exists.
pub fn event<'a>(
    page: &'a PageConfig,
    link: &'a Links,
    s: &Snapshot,
    id: &str,
) -> Option<EventPage<'a>> {
    let event = match s.incidents.iter().find(|i| i.id == id) {
        Some(i) => incident_view(s, i),
        None => maintenance_view(s, s.maintenances.iter().find(|m| m.id == id)?),
    };
    Some(EventPage { page, link, event })
}

/// One page of the history (1-based), newest first; `None` past the last page.
pub fn history<'a>(
    page: &'a PageConfig,
    link: &'a Links,
    s: &Snapshot,
    number: usize,
) -> Option<HistoryPage<'a>> {
    let mut all: Vec<(DateTime<Utc>, EventView)> = s
        .incidents
        .iter()
        .map(|i| (i.started_at.min(i.created_at), incident_view(s, i)))
        .chain(
            s.maintenances
                .iter()
                .filter(|m| m.status != IncidentStatus::Scheduled)
                .map(|m| {
                    (
                        m.started_at.unwrap_or(m.scheduled_for),
                        maintenance_view(s, m),
                    )
                }),
        )
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    let pages = all.len().div_ceil(HISTORY_PAGE).max(1);
    if number == 0 || number > pages {
        return None;
    }
    let events = all
        .into_iter()
        .skip((number - 1) * HISTORY_PAGE)
        .take(HISTORY_PAGE)
        .map(|(_, e)| e)
        .collect();
    Some(HistoryPage {
        page,
        link,
        events,
        number,
        pages,
        newer: (number > 1).then(|| number - 1),
        older: (number < pages).then_some(number + 1),
    })
}
