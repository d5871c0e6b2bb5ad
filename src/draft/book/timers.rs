//! When the draft timers (expiry, deferred updates, held drafts) next have work, so that a
//! pass with nothing due reads no ledger: with many open incidents, reading and decoding
//! every ledger on each pass put that cost on every step of the pipeline.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use super::Ledger;
use crate::group::after;

/// The earliest moment any ledger may need the timers, as far as this process knows. Every
/// ledger write here lowers it to that ledger's deadline; a change it cannot see (another
/// replica's write, a decided draft) makes it unknown, and the next pass reads every
/// ledger. Too early costs a read; too late would hold back an expiry, so it errs early.
#[derive(Default)]
pub(super) struct Timers(Mutex<Next>);

#[derive(Default)]
struct Next {
    /// Nothing is due before this; `None` while unknown.
    quiet_until: Option<DateTime<Utc>>,
    /// While a pass reads the ledgers: the earliest deadline written meanwhile (`MAX_UTC`:
    /// nothing written yet), merged with what the pass found when it ends.
    written_during_pass: Option<DateTime<Utc>>,
}

impl Timers {
    fn next(&self) -> std::sync::MutexGuard<'_, Next> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether no ledger can need the timers at `now`.
    pub(super) fn quiet(&self, now: DateTime<Utc>) -> bool {
        self.next().quiet_until.is_some_and(|t| now < t)
    }

    /// A ledger was written with this deadline.
    pub(super) fn note(&self, due: Option<DateTime<Utc>>) {
        let Some(due) = due else { return };
        let mut next = self.next();
        if let Some(t) = &mut next.quiet_until {
            *t = (*t).min(due);
        }
        if let Some(written) = &mut next.written_during_pass {
            *written = (*written).min(due);
        }
    }

    /// Something changed that no deadline describes: read every ledger next time.
    pub(super) fn forget(&self) {
        self.note(Some(DateTime::<Utc>::MIN_UTC));
        self.next().quiet_until = None;
    }

    /// A pass over every ledger begins; until it ends, nothing is known.
    pub(super) fn begin_pass(&self) {
        let mut next = self.next();
        next.quiet_until = None;
        next.written_during_pass = Some(DateTime::<Utc>::MAX_UTC);
    }

    /// The pass found `found` the earliest deadline of the ledgers it read (`None`: none).
    pub(super) fn end_pass(&self, found: Option<DateTime<Utc>>) {
        let mut next = self.next();
        let written = next.written_during_pass.take();
        next.quiet_until = earlier(found, written).or(Some(DateTime::<Utc>::MAX_UTC));
    }
}

/// When the timers may next have work for `ledger`, given the pending draft's last known
/// `updated_at` (`None`: unknown, so now). `None` when they never will: no pending draft and
/// nothing deferred.
pub(super) fn ledger_due(
    ledger: &Ledger,
    pending_updated: Option<DateTime<Utc>>,
    expiry: Duration,
    min_update_interval: Duration,
) -> Option<DateTime<Utc>> {
    let expires = ledger.pending.as_ref().map(|_| match pending_updated {
        Some(at) => after(at, expiry),
        None => DateTime::<Utc>::MIN_UTC,
    });
    let released = ledger.deferred.as_ref().map(|_| {
        match (ledger.held_since, ledger.last_published_at) {
            // A held draft is tried on every pass until the hourly budget lets it go.
            (Some(_), _) | (None, None) => DateTime::<Utc>::MIN_UTC,
            (None, Some(last)) => after(last, min_update_interval),
        }
    });
    earlier(expires, released)
}

/// The earlier of two deadlines, either of which may be absent.
pub(super) fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn a_pass_knows_until_the_earliest_deadline_and_a_write_lowers_it() {
        let timers = Timers::default();
        assert!(!timers.quiet(t(0)), "unknown before the first pass");
        timers.begin_pass();
        timers.end_pass(Some(t(100)));
        assert!(timers.quiet(t(99)));
        assert!(!timers.quiet(t(100)));
        timers.note(Some(t(50)));
        assert!(!timers.quiet(t(50)));
        timers.note(None);
        assert!(
            timers.quiet(t(49)),
            "a ledger with nothing due changes nothing"
        );
        timers.forget();
        assert!(!timers.quiet(t(0)));
    }

    #[test]
    fn a_write_during_a_pass_is_not_lost_when_the_pass_ends() {
        let timers = Timers::default();
        timers.begin_pass();
        timers.note(Some(t(10)));
        timers.end_pass(Some(t(100)));
        assert!(!timers.quiet(t(10)));
        assert!(timers.quiet(t(9)));

        timers.begin_pass();
        timers.forget();
        timers.end_pass(None);
        assert!(!timers.quiet(t(0)), "forgotten during the pass");

        timers.begin_pass();
        timers.end_pass(None);
        assert!(timers.quiet(t(1_000_000)), "no ledger: nothing is ever due");
    }

    #[test]
    fn a_ledger_is_due_at_its_expiry_its_deferred_release_or_at_once() {
        let hour = Duration::hours(1);
        let five = Duration::minutes(5);
        let mut l = Ledger {
            pending: Some("d1".into()),
            pending_seen: Some(("d1".into(), t(0))),
            ..Ledger::default()
        };
        assert_eq!(ledger_due(&l, l.seen_pending(), hour, five), Some(t(3600)));
        l.pending_seen = Some(("d0".into(), t(0)));
        assert_eq!(l.seen_pending(), None, "seen for another draft");
        assert_eq!(
            ledger_due(&l, None, hour, five),
            Some(DateTime::<Utc>::MIN_UTC)
        );
        l.pending = None;
        assert_eq!(ledger_due(&l, None, hour, five), None);
        l.deferred = Some(crate::group::Snapshot {
            group_id: "g".into(),
            components: Default::default(),
            alerts: Vec::new(),
            flapping: false,
            started_at: t(0),
            resolved_at: None,
            storm: false,
            caused_by: Default::default(),
        });
        l.last_published_at = Some(t(0));
        assert_eq!(ledger_due(&l, None, hour, five), Some(t(300)));
        l.held_since = Some(t(0));
        assert_eq!(
            ledger_due(&l, None, hour, five),
            Some(DateTime::<Utc>::MIN_UTC)
        );
    }
}
