//! Which episodes to open, update, close and forget, from what the signals say: pure
//! decisions, written to the store by `Notices::observe`.

use super::*;

/// The notices to write and to forget, given what the signals say. `None` for a signal
/// not reported since start: nothing is known about it yet.
pub fn plan(
    all: &[Notice],
    storm: Option<&crate::signals::StormState>,
    watchdog: Option<&crate::signals::WatchdogState>,
    watchdog_configured: bool,
    now: DateTime<Utc>,
) -> (Vec<Notice>, Vec<String>) {
    let mut changed: Vec<Notice> = Vec::new();
    if let Some(storm) = storm {
        let open_id = storm
            .open
            .then_some(storm.group_id.as_ref())
            .flatten()
            .map(|g| format!("storm:{g}"));
        for n in all
            .iter()
            .filter(|n| n.kind == NoticeKind::Storm && n.is_open())
        {
            if Some(&n.id) == open_id.as_ref() {
                if n.components != storm.components {
                    let mut n = n.clone();
                    n.components = storm.components.clone();
                    n.version += 1;
                    changed.push(n);
                }
            } else {
                let mut n = n.clone();
                n.close(now, None);
                changed.push(n);
            }
        }
        // A closed episode stays closed: its group no longer collects.
        if let Some(id) = open_id.filter(|id| !all.iter().any(|n| &n.id == id)) {
            changed.push(Notice {
                id,
                kind: NoticeKind::Storm,
                opened_at: storm.since.unwrap_or(now),
                closed_at: None,
                note: None,
                group_id: storm.group_id.clone(),
                components: storm.components.clone(),
                draft_id: None,
                draft_link: None,
                last_seen: None,
                heard: false,
                interval_seconds: 0,
                version: 1,
                message: None,
            });
        }
    }
    let open_watchdog = all
        .iter()
        .filter(|n| n.kind == NoticeKind::Watchdog && n.is_open());
    match watchdog {
        // A silence that outlived a restart is the same episode.
        Some(w)
            if w.silent
                && all
                    .iter()
                    .all(|n| n.kind != NoticeKind::Watchdog || !n.is_open()) =>
        {
            changed.push(Notice {
                id: format!("watchdog:{}", now.timestamp_millis()),
                kind: NoticeKind::Watchdog,
                opened_at: now,
                closed_at: None,
                note: None,
                group_id: None,
                components: Vec::new(),
                draft_id: None,
                draft_link: None,
                last_seen: w.last_seen,
                heard: w.heard,
                interval_seconds: w.interval_seconds,
                version: 1,
                message: None,
            });
        }
        Some(w) if w.silent => {}
        // Only a heartbeat since start proves the feed alive; right after a restart
        // "not silent" just means the interval has not passed yet.
        Some(w) if w.heard => {
            for n in open_watchdog {
                let mut n = n.clone();
                n.close(w.last_seen.unwrap_or(now), None);
                changed.push(n);
            }
        }
        Some(_) => {}
        None if !watchdog_configured => {
            for n in open_watchdog {
                let mut n = n.clone();
                n.close(now, Some("the watchdog is no longer configured"));
                changed.push(n);
            }
        }
        None => {}
    }
    let forget = all
        .iter()
        .filter(|n| {
            n.closed_at.is_some_and(|c| now - c > KEEP)
                && n.message.as_ref().is_some_and(|m| m.closed_told)
        })
        .map(|n| n.id.clone())
        .collect();
    (changed, forget)
}

/// The draft-budget notices to write: one episode from the first held draft until none
/// is held, its components kept up to date. `None`: not reported since start.
pub fn plan_held(
    all: &[Notice],
    held: Option<&crate::signals::HeldDrafts>,
    now: DateTime<Utc>,
) -> Vec<Notice> {
    let Some(held) = held else {
        return Vec::new();
    };
    let open = all
        .iter()
        .find(|n| n.kind == NoticeKind::DraftBudget && n.is_open());
    match (open, held.held) {
        (None, true) => {
            let since = held.since.unwrap_or(now);
            vec![Notice {
                id: format!("drafts_per_hour:{}", since.timestamp_millis()),
                kind: NoticeKind::DraftBudget,
                opened_at: since,
                closed_at: None,
                note: None,
                group_id: held.group_ids.first().cloned(),
                components: held.components.clone(),
                draft_id: None,
                draft_link: None,
                last_seen: None,
                heard: false,
                interval_seconds: u64::from(held.per_hour),
                version: 1,
                message: None,
            }]
        }
        (Some(n), true) if n.components != held.components => {
            let mut n = n.clone();
            n.components = held.components.clone();
            n.version += 1;
            vec![n]
        }
        (Some(n), false) => {
            let mut n = n.clone();
            n.close(now, None);
            vec![n]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::{StormState, WatchdogState};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn storm(open: bool, components: &[&str]) -> StormState {
        StormState {
            open,
            since: Some(t(0)),
            group_id: open.then(|| "G-1".to_string()),
            components: components.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn watchdog(silent: bool, heard: bool, last: i64) -> WatchdogState {
        WatchdogState {
            configured: true,
            silent,
            last_seen: Some(t(last)),
            interval_seconds: 60,
            heard,
        }
    }

    fn apply(all: &mut Vec<Notice>, changed: Vec<Notice>) {
        for c in changed {
            match all.iter_mut().find(|n| n.id == c.id) {
                Some(n) => *n = c,
                None => all.push(c),
            }
        }
    }

    fn posted(n: &mut Notice, at: DateTime<Utc>) {
        n.message = Some(Posted {
            channel: "C1".into(),
            ts: "1.1".into(),
            version: n.version,
            at,
            closed_told: false,
        });
    }

    #[test]
    fn one_storm_is_one_notice_whose_updates_wait_and_whose_end_does_not() {
        let mut all = Vec::new();
        let (c, _) = plan(&all, Some(&storm(true, &["a"])), None, false, t(1));
        assert_eq!(c.len(), 1);
        apply(&mut all, c);
        assert_eq!(all[0].due(t(1)), Some(Due::Post));
        posted(&mut all[0], t(1));
        // The same state again changes nothing.
        assert!(plan(&all, Some(&storm(true, &["a"])), None, false, t(2))
            .0
            .is_empty());
        let (c, _) = plan(&all, Some(&storm(true, &["a", "b"])), None, false, t(2));
        apply(&mut all, c);
        assert_eq!(all.len(), 1, "components joining are the same notice");
        assert_eq!(all[0].due(t(2)), None, "component updates are rate-limited");
        assert_eq!(all[0].due(t(31)), Some(Due::Update));
        let (c, _) = plan(&all, Some(&storm(false, &[])), None, false, t(3));
        apply(&mut all, c);
        assert_eq!(all[0].closed_at, Some(t(3)));
        assert_eq!(all[0].components, vec!["a", "b"], "the end keeps the list");
        assert_eq!(
            all[0].due(t(3)),
            Some(Due::Close),
            "the end is told at once"
        );
        // Closed stays closed, even if the old group is reported open again.
        assert!(plan(&all, Some(&storm(true, &["a"])), None, false, t(4))
            .0
            .is_empty());
    }

    #[test]
    fn a_silent_watchdog_survives_a_restart_and_only_a_heartbeat_ends_it() {
        let mut all = Vec::new();
        // Unreported: nothing known, nothing done.
        assert!(plan(&all, None, None, true, t(0)).0.is_empty());
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 0)), true, t(90));
        apply(&mut all, c);
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].last_seen, Some(t(0)));
        // After a restart: not silent yet, but nothing heard either.
        assert!(
            plan(&all, None, Some(&watchdog(false, false, 100)), true, t(100))
                .0
                .is_empty()
        );
        // Silent again after the restart: the same episode, not a second one.
        assert!(
            plan(&all, None, Some(&watchdog(true, false, 100)), true, t(200))
                .0
                .is_empty()
        );
        let (c, _) = plan(&all, None, Some(&watchdog(false, true, 250)), true, t(251));
        apply(&mut all, c);
        assert_eq!(all[0].closed_at, Some(t(250)));
        // A new silence is a new episode.
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 250)), true, t(400));
        apply(&mut all, c);
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn an_unconfigured_watchdog_ends_its_episode_and_old_ones_are_forgotten() {
        let mut all = Vec::new();
        let (c, _) = plan(&all, None, Some(&watchdog(true, true, 0)), true, t(90));
        apply(&mut all, c);
        let (c, _) = plan(&all, None, None, false, t(100));
        apply(&mut all, c);
        assert!(all[0].note.is_some());
        all[0].message = Some(Posted {
            channel: "C1".into(),
            ts: "1.1".into(),
            version: all[0].version,
            at: t(101),
            closed_told: true,
        });
        let (_, forget) = plan(
            &all,
            None,
            None,
            false,
            t(101) + KEEP + Duration::seconds(1),
        );
        assert_eq!(forget, vec![all[0].id.clone()]);
    }

    #[test]
    fn a_spent_draft_budget_is_one_notice_until_nothing_is_held() {
        let held = |on: bool, components: &[&str]| crate::signals::HeldDrafts {
            held: on,
            since: Some(t(1)),
            group_ids: vec!["g1".into()],
            components: components.iter().map(|c| c.to_string()).collect(),
            per_hour: 30,
        };
        assert!(
            plan_held(&[], None, t(1)).is_empty(),
            "nothing reported yet"
        );
        let opened = plan_held(&[], Some(&held(true, &["web"])), t(1));
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].kind, NoticeKind::DraftBudget);
        assert!(opened[0].is_open());
        // Retries change nothing; more components held update the same notice.
        assert!(plan_held(&opened, Some(&held(true, &["web"])), t(2)).is_empty());
        let grown = plan_held(&opened, Some(&held(true, &["pay", "web"])), t(3));
        assert_eq!(
            (grown[0].id.as_str(), grown[0].version),
            (opened[0].id.as_str(), 2)
        );
        let closed = plan_held(&grown, Some(&held(false, &[])), t(4));
        assert_eq!(closed[0].closed_at, Some(t(4)));
        assert!(plan_held(&closed, Some(&held(false, &[])), t(5)).is_empty());
    }
}
