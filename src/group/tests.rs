//! Grouping timelines, with the clock in the test's hands.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::alert::{AlertStatus, Source};
use crate::config::{Dur, FlapConfig};
use crate::vocab::ComponentStatus::*;

const CATALOG: &str = r#"
components:
  - {id: api, name: Public API, group: Core}
  - {id: web, name: Web app, group: Core}
  - {id: pay, name: Payments, group: Commerce}
routes:
  - name: api
    match: ['service="api"']
    components: [api]
    status: {critical: major_outage, warning: degraded_performance}
  - name: web
    match: ['service="web"']
    components: [web]
  - name: pay
    match: ['service="pay"']
    components: [pay]
  - name: staging
    match: ['env="staging"']
    ignore: true
"#;

fn catalog() -> Catalog {
    Catalog::from_sources(&[("test.yaml".into(), CATALOG.into())]).unwrap()
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap() + Duration::seconds(secs)
}

/// The test catalog and a grouper with nothing in it (storm breaker off).
fn fresh() -> (Catalog, Grouper) {
    (catalog(), Grouper::new(config(), storm_off(), vec![]))
}

fn config() -> GroupingConfig {
    GroupingConfig {
        group_by: GroupBy::Components,
        group_wait: Dur::secs(30),
        resolve_wait: Dur::secs(300),
        flap: FlapConfig {
            transitions: 4,
            window: Dur::secs(600),
        },
        min_update_interval: Dur::secs(0),
        draft_expiry: Dur::secs(3600),
    }
}

fn storm_off() -> StormConfig {
    StormConfig {
        max_incidents: 0,
        window: Dur::secs(600),
    }
}

fn alert(fp: &str, service: &str, severity: &str, firing: bool, starts: i64) -> Alert {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighErrorRate"),
        ("service", service),
        ("severity", severity),
        ("source", "alertmanager"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Alert {
        key: format!("am:{fp}"),
        source: Source::Alertmanager,
        fingerprint: fp.into(),
        status: if firing {
            AlertStatus::Firing
        } else {
            AlertStatus::Resolved
        },
        labels,
        annotations: BTreeMap::new(),
        starts_at: t(starts),
        ends_at: None,
        generator_url: String::new(),
        received_at: t(starts),
        truncated: 0,
        changed_at: None,
    }
}

/// The one effect, which must be a resolution.
/// The resolution `g` drafts at `now`; its group goes with it.
fn resolves(g: &mut Grouper, now: DateTime<Utc>) -> Snapshot {
    let s = match g.tick(now).as_slice() {
        [Effect::Resolve(s)] => s.clone(),
        other => panic!("expected a resolution, got {other:?}"),
    };
    assert_eq!(g.groups().count(), 0);
    s
}

fn opened(effects: &[Effect]) -> Vec<&Snapshot> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Open(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn an_alert_that_fires_for_seconds_drafts_nothing() {
    let (c, mut g) = fresh();
    assert!(g
        .observe(alert("a", "api", "critical", true, 0), &c, t(0))
        .is_empty());
    let effects = g.observe(alert("a", "api", "critical", false, 0), &c, t(10));
    assert!(matches!(effects.as_slice(), [Effect::Dropped { .. }]));
    assert!(g.tick(t(60)).is_empty());
    assert_eq!(g.groups().count(), 0);
}

#[test]
fn the_first_draft_waits_for_group_wait_and_joins_alerts_for_the_same_component() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "warning", true, 0), &c, t(0));
    g.observe(alert("b", "api", "critical", true, 5), &c, t(5));
    g.observe(alert("w", "web", "critical", true, 6), &c, t(6));
    assert!(g.tick(t(29)).is_empty(), "nothing before group_wait");
    assert_eq!(g.next_deadline(), Some(t(30)));
    let effects = g.tick(t(30));
    let open = opened(&effects);
    assert_eq!(open.len(), 1, "{effects:?}");
    assert_eq!(
        open[0].components,
        BTreeMap::from([("api".to_string(), MajorOutage)])
    );
    assert_eq!(open[0].alerts.len(), 2);
    let effects = g.tick(t(36));
    assert_eq!(
        opened(&effects)[0].components,
        BTreeMap::from([("web".to_string(), PartialOutage)])
    );
}

#[test]
fn unmapped_and_ignored_alerts_are_reported_and_not_grouped() {
    let (c, mut g) = fresh();
    let e = g.observe(alert("x", "mystery", "critical", true, 0), &c, t(0));
    assert_eq!(
        e,
        vec![Effect::Unmapped {
            alertname: "HighErrorRate".into()
        }]
    );
    let mut staging = alert("s", "api", "critical", true, 0);
    staging.labels.insert("env".into(), "staging".into());
    let c2 = Catalog::from_sources(&[(
        "t.yaml".into(),
        CATALOG.replace("  - name: api\n", "  - name: staging-first\n    match: ['env=\"staging\"']\n    ignore: true\n  - name: api\n"),
    )])
    .unwrap();
    let e = g.observe(staging, &c2, t(0));
    assert_eq!(
        e,
        vec![Effect::Ignored {
            route: "staging-first".into()
        }]
    );
    assert_eq!(g.groups().count(), 0);
}

#[test]
fn resolution_waits_for_resolve_wait_and_a_returning_alert_keeps_the_incident_open() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    assert_eq!(opened(&g.tick(t(30))).len(), 1);
    assert!(g
        .observe(alert("a", "api", "critical", false, 0), &c, t(100))
        .is_empty());
    assert!(g.tick(t(399)).is_empty());
    // Back before resolve_wait ran out: no resolution, no new draft (nothing changed).
    assert!(g
        .observe(alert("a", "api", "critical", true, 390), &c, t(390))
        .is_empty());
    assert!(g.tick(t(1000)).is_empty());
    g.observe(alert("a", "api", "critical", false, 390), &c, t(1000));
    let s = resolves(&mut g, t(1300));
    assert_eq!(
        s.components,
        BTreeMap::from([("api".to_string(), Operational)])
    );
    assert_eq!(s.resolved_at, Some(t(1000)));
}

#[test]
fn a_change_in_what_the_incident_is_about_is_an_update() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "warning", true, 0), &c, t(0));
    g.tick(t(30));
    let e = g.observe(alert("a2", "api", "critical", true, 40), &c, t(40));
    match e.as_slice() {
        [Effect::Update(s)] => assert_eq!(s.components["api"], MajorOutage),
        other => panic!("expected an update, got {other:?}"),
    }
    // The same delivery again changes nothing.
    assert!(g
        .observe(alert("a2", "api", "critical", true, 40), &c, t(41))
        .is_empty());
}

#[test]
fn a_flapping_alert_is_held_and_says_so_until_it_calms_down() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    g.tick(t(30));
    // resolved → firing → resolved → firing: four flips within the window (the first
    // firing is not one).
    g.observe(alert("a", "api", "critical", false, 0), &c, t(40));
    g.observe(alert("a", "api", "critical", true, 50), &c, t(50));
    g.observe(alert("a", "api", "critical", false, 50), &c, t(60));
    let e = g.observe(alert("a", "api", "critical", true, 70), &c, t(70));
    match e.as_slice() {
        [Effect::Update(s)] => assert!(s.flapping, "{s:?}"),
        other => panic!("expected a flapping update, got {other:?}"),
    }
    g.observe(alert("a", "api", "critical", false, 70), &c, t(80));
    // Held: resolve_wait passes but the incident stays open while it flaps.
    assert!(g.tick(t(400)).is_empty());
    assert_eq!(g.groups().count(), 1);
    // Calm for a whole window from the last transition (t=80): released, then resolved
    // after resolve_wait.
    let e = g.tick(t(680));
    assert!(e.is_empty(), "{e:?}");
    assert!(matches!(g.tick(t(980)).as_slice(), [Effect::Resolve(_)]));
}

#[test]
fn an_alert_that_came_back_within_resolve_wait_and_resolved_for_good_resolves() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    assert_eq!(opened(&g.tick(t(30))).len(), 1);
    // Resolved, back 20 s later (well within resolve_wait), resolved for good 20 s after.
    g.observe(alert("a", "api", "critical", false, 0), &c, t(40));
    g.observe(alert("a", "api", "critical", true, 60), &c, t(60));
    let e = g.observe(alert("a", "api", "critical", false, 60), &c, t(80));
    assert!(
        e.iter()
            .all(|e| !matches!(e, Effect::Update(s) if s.flapping)),
        "coming back once is not flapping: {e:?}"
    );
    assert!(g.tick(t(379)).is_empty(), "resolve_wait counts from t=80");
    let s = resolves(&mut g, t(380));
    assert!(!s.flapping);
    assert_eq!(s.resolved_at, Some(t(80)));
}

#[test]
fn group_state_survives_a_round_trip_through_storage() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    let (changed, _) = g.changes();
    let json = serde_json::to_string(&changed).unwrap();
    let restored: Vec<Group> = serde_json::from_str(&json).unwrap();
    let mut g2 = Grouper::new(config(), storm_off(), restored);
    assert_eq!(opened(&g2.tick(t(30))).len(), 1);
    // The restored index knows the alert: its resolution finds the group.
    g2.observe(alert("a", "api", "critical", false, 0), &c, t(40));
    assert!(matches!(g2.tick(t(340)).as_slice(), [Effect::Resolve(_)]));
}

#[test]
fn group_by_component_group_folds_siblings_and_all_folds_everything() {
    let c = catalog();
    let mut cfg = config();
    cfg.group_by = GroupBy::ComponentGroup;
    let mut g = Grouper::new(cfg.clone(), storm_off(), vec![]);
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    g.observe(alert("w", "web", "critical", true, 1), &c, t(1));
    g.observe(alert("p", "pay", "critical", true, 2), &c, t(2));
    assert_eq!(
        opened(&g.tick(t(40))).len(),
        2,
        "Core together, Commerce apart"
    );
    cfg.group_by = GroupBy::All;
    let mut g = Grouper::new(cfg, storm_off(), vec![]);
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    g.observe(alert("p", "pay", "critical", true, 2), &c, t(2));
    assert_eq!(opened(&g.tick(t(40))).len(), 1);
}

fn many_components(n: usize) -> Catalog {
    let mut yaml = String::from("components:\n");
    for i in 0..n {
        yaml += &format!("  - {{id: c{i}, name: Component {i}}}\n");
    }
    yaml += "routes:\n";
    for i in 0..n {
        yaml +=
            &format!("  - name: r{i}\n    match: ['service=\"s{i}\"']\n    components: [c{i}]\n");
    }
    Catalog::from_sources(&[("many.yaml".into(), yaml)]).unwrap()
}

#[test]
fn a_storm_folds_into_one_group_and_the_breaker_closes_after_a_calm_window() {
    let c = many_components(40);
    let storm = StormConfig {
        max_incidents: 5,
        window: Dur::secs(600),
    };
    let mut g = Grouper::new(config(), storm, vec![]);
    let mut opened = 0;
    for i in 0..200 {
        let service = format!("s{}", i % 40);
        for e in g.observe(
            alert(&format!("a{i}"), &service, "critical", true, i),
            &c,
            t(i / 10),
        ) {
            if matches!(e, Effect::BreakerOpened { .. }) {
                opened += 1;
            }
        }
    }
    assert_eq!(opened, 1, "the breaker opens once");
    let state = g.storm_state();
    assert!(state.open);
    assert_eq!(state.components.len(), 40);
    let drafts = opened_all(&g.tick(t(60)));
    assert_eq!(drafts.len(), 1, "one storm draft for 40 components");
    assert!(drafts[0].storm);
    assert_eq!(drafts[0].components.len(), 40);
    // A new component alert while open folds in too.
    assert!(matches!(g.tick(t(100)).as_slice(), []));
    // A whole calm window: the breaker closes; the storm incident stays open.
    let e = g.tick(t(19 + 600));
    assert!(e.contains(&Effect::BreakerClosed), "{e:?}");
    assert!(!g.storm_state().open);
    assert_eq!(g.groups().count(), 1);
}

fn opened_all(effects: &[Effect]) -> Vec<Snapshot> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Open(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn alerts_on_a_component_that_depends_on_one_in_major_outage_join_its_incident() {
    let yaml = r#"
components:
  - {id: db, name: Database}
  - {id: api, name: Public API, depends_on: [db]}
  - {id: checkout, name: Checkout, depends_on: [api]}
routes:
  - name: db
    match: ['service="db"']
    components: [db]
    status: {critical: major_outage, warning: degraded_performance}
  - name: api
    match: ['service="api"']
    components: [api]
  - name: checkout
    match: ['service="checkout"']
    components: [checkout]
"#;
    let c = Catalog::from_sources(&[("dep.yaml".into(), yaml.into())]).unwrap();
    let mut g = Grouper::new(config(), storm_off(), vec![]);
    g.observe(alert("d", "db", "critical", true, 0), &c, t(0));
    g.observe(alert("k", "checkout", "critical", true, 5), &c, t(5));
    let drafts = opened_all(&g.tick(t(40)));
    assert_eq!(
        drafts.len(),
        1,
        "checkout folds into the database outage (two levels up)"
    );
    assert_eq!(
        drafts[0].caused_by.get("checkout").map(String::as_str),
        Some("db")
    );
    // Only a major outage inhibits: a degraded database does not swallow the API.
    let mut g = Grouper::new(config(), storm_off(), vec![]);
    g.observe(alert("d", "db", "warning", true, 0), &c, t(0));
    g.observe(alert("a", "api", "critical", true, 5), &c, t(5));
    assert_eq!(opened_all(&g.tick(t(40))).len(), 2);
}

#[test]
fn new_alerts_for_components_in_maintenance_are_suppressed_not_grouped() {
    let cat = catalog();
    let mut g = Grouper::new(config(), storm_off(), Vec::new());
    let maint: BTreeSet<String> = ["api".to_string()].into_iter().collect();
    let effects = g.observe_during(alert("a1", "api", "critical", true, 0), &cat, t(0), &maint);
    assert!(
        matches!(&effects[..], [Effect::Suppressed { components, .. }] if components.get("api") == Some(&MajorOutage)),
        "{effects:?}"
    );
    assert_eq!(g.groups().count(), 0);
    assert!(g.tick(t(60)).is_empty(), "nothing is drafted for it");

    // Other components are not affected by the window.
    let effects = g.observe_during(alert("w1", "web", "critical", true, 0), &cat, t(1), &maint);
    assert!(effects.is_empty(), "{effects:?}");
    assert!(matches!(&g.tick(t(60))[..], [Effect::Open(s)] if s.components.contains_key("web")));
}

#[test]
fn an_alert_already_in_an_open_group_keeps_updating_it_during_maintenance() {
    let cat = catalog();
    let mut g = Grouper::new(config(), storm_off(), Vec::new());
    g.observe(alert("a1", "api", "critical", true, 0), &cat, t(0));
    assert!(matches!(&g.tick(t(30))[..], [Effect::Open(_)]));
    let maint: BTreeSet<String> = ["api".to_string()].into_iter().collect();
    let effects = g.observe_during(
        alert("a1", "api", "critical", false, 0),
        &cat,
        t(40),
        &maint,
    );
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Suppressed { .. })),
        "{effects:?}"
    );
    assert!(matches!(&g.tick(t(400))[..], [Effect::Resolve(_)]));
}

#[test]
fn held_groups_fold_into_one_multiple_services_group() {
    let (c, mut g) = fresh();
    g.observe(alert("w", "web", "critical", true, 0), &c, t(0));
    g.observe(alert("p", "pay", "critical", true, 5), &c, t(5));
    let open = opened_all(&g.tick(t(40)));
    assert_eq!(open.len(), 2);
    let (into, other) = (open[0].group_id.clone(), open[1].group_id.clone());
    let snap = g.fold(&into, std::slice::from_ref(&other)).unwrap();
    assert!(snap.storm, "drafted as multiple services affected");
    assert_eq!(
        snap.components.keys().collect::<Vec<_>>(),
        vec!["pay", "web"]
    );
    assert_eq!(g.groups().count(), 1);
    let (_, removed) = g.changes();
    assert_eq!(removed, vec![other]);
    g.persisted();
    // A later change of a folded alert updates the one group.
    let e = g.observe(alert("p", "pay", "critical", false, 5), &c, t(50));
    assert!(
        matches!(e.as_slice(), [Effect::Update(s)] if s.group_id == into),
        "{e:?}"
    );
    // And the breaker does not take it for its own group after a restart.
    let restored = Grouper::new(config(), storm_off(), g.groups().cloned().collect());
    assert!(!restored.storm_state().open);
}

/// What a group's alerts add up to, worked out from scratch.
fn recount(g: &Group) -> (BTreeMap<String, ComponentStatus>, BTreeSet<String>, bool) {
    let mut active: BTreeMap<String, ComponentStatus> = BTreeMap::new();
    let mut named = BTreeSet::new();
    for t in g.alerts().values() {
        named.extend(t.components.keys().cloned());
        if t.active() {
            for (c, s) in &t.components {
                let worst = active.entry(c.clone()).or_insert(*s);
                *worst = (*worst).max(*s);
            }
        }
    }
    let any = !active.is_empty();
    (active, named, any)
}

/// The per-component tally each group keeps alert by alert agrees with a count from
/// scratch after every kind of change: new alerts, status and severity changes, an alert
/// moving to another component, flapping and calming down, resolution, and a group read
/// back from storage.
#[test]
fn the_running_tally_of_a_group_matches_its_alerts_after_every_change() {
    let (c, mut g) = fresh();
    let services = ["api", "web", "pay", "nowhere"];
    let severities = ["critical", "warning"];
    let mut state = 7u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut now = 0;
    for step in 0..600 {
        now += 1 + next(20) as i64;
        let fp = format!("a{}", next(12));
        let service = services[next(4) as usize];
        let severity = severities[next(2) as usize];
        let firing = next(3) > 0;
        g.observe(alert(&fp, service, severity, firing, now), &c, t(now));
        if step % 7 == 0 {
            g.tick(t(now));
        }
        for group in g.groups() {
            let (active, named, any) = recount(group);
            assert_eq!(group.active_components(), active, "step {step}");
            assert_eq!(
                group
                    .component_ids()
                    .map(String::from)
                    .collect::<BTreeSet<_>>(),
                named,
                "step {step}"
            );
            assert_eq!(group.any_active(), any, "step {step}");
            let stored: Group =
                serde_json::from_str(&serde_json::to_string(group).unwrap()).unwrap();
            assert_eq!(
                stored.active_components(),
                active,
                "step {step}, from storage"
            );
        }
    }
    // The run went through the states it means to check.
    assert!(g.groups().count() > 0);
}

#[test]
fn changes_stay_pending_until_they_are_persisted() {
    let (c, mut g) = fresh();
    g.observe(alert("a", "api", "critical", true, 0), &c, t(0));
    let (changed, _) = g.changes();
    assert_eq!(changed.len(), 1);
    let id = changed[0].id.clone();
    // The write failed: the same delivery taken again changes nothing in the group, and
    // the group must still be written next time.
    g.observe(alert("a", "api", "critical", true, 0), &c, t(1));
    let (changed, _) = g.changes();
    assert_eq!(changed.iter().map(|g| &g.id).collect::<Vec<_>>(), vec![&id]);
    g.persisted();
    let (changed, removed) = g.changes();
    assert!(changed.is_empty() && removed.is_empty());
}
