//! When the delivery worker has work: the group of entries due next on each thread of a
//! target, and the timer that has mirrors re-sync even when nothing is queued.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::publish::outbox::{Entry, EntryState};
use crate::publish::targets::mirror::Mirror;

/// The mirrors' refresh timer, at the shortest interval any mirror asks for; none without
/// mirrors. The first tick comes at once, so a start syncs them.
pub(super) fn mirror_timer<'a>(
    mirrors: impl Iterator<Item = &'a Mirror>,
) -> Option<tokio::time::Interval> {
    mirrors
        .map(Mirror::refresh_every)
        .min()
        .map(|every: Duration| {
            let mut t = tokio::time::interval(every);
            // After a long pause, one sync, not a burst of them.
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        })
}

/// The next tick of the mirrors' timer; never, without mirrors.
pub(super) async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Per thread of a target's open entries, the group due next: the first pending entry, or
/// with `coalesce` every pending entry up to the first that waits for an admin. A conflict
/// holds its thread; failed entries do not.
pub(super) fn due(entries: &[Entry], coalesce: bool) -> Vec<Vec<Entry>> {
    let mut threads: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    let mut order = Vec::new();
    for e in entries {
        if !threads.contains_key(e.thread.as_str()) {
            order.push(e.thread.as_str());
        }
        threads.entry(e.thread.as_str()).or_default().push(e);
    }
    let mut out = Vec::new();
    for t in order {
        let mut group = Vec::new();
        for e in &threads[t] {
            match e.state {
                EntryState::Failed => continue,
                EntryState::Pending => {
                    group.push((*e).clone());
                    if !coalesce {
                        break;
                    }
                }
                _ => break,
            }
        }
        if !group.is_empty() {
            out.push(group);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::outbox::event::Message;
    use chrono::Utc;

    fn entry(id: &str, thread: &str, state: EntryState) -> Entry {
        let mut e = Entry::new(
            id.into(),
            "t",
            thread,
            None,
            Message::ConfirmSubscription,
            Utc::now(),
        );
        e.state = state;
        e
    }

    #[test]
    fn each_thread_goes_in_order_and_a_conflict_holds_its_thread() {
        use EntryState::*;
        let entries = vec![
            entry("1", "a", Pending),
            entry("2", "b", Conflict),
            entry("3", "a", Pending),
            entry("4", "b", Pending),
            entry("5", "c", Failed),
            entry("6", "c", Pending),
        ];
        let ids = |groups: Vec<Vec<Entry>>| -> Vec<Vec<String>> {
            groups
                .into_iter()
                .map(|g| g.into_iter().map(|e| e.id).collect())
                .collect()
        };
        assert_eq!(ids(due(&entries, false)), [vec!["1"], vec!["6"]]);
        assert_eq!(ids(due(&entries, true)), [vec!["1", "3"], vec!["6"]]);
    }
}
