//! Per-target circuit breakers and the backoff between attempts. A target that keeps
//! failing is left alone for a while instead of being hammered; `/readyz` shows each one
//! (as detail only: a dead target never makes statusgate unready).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::BackoffConfig;
use crate::metrics::Metrics;
use crate::publish::outbox::Outbox;

/// Consecutive failures that open a target's breaker.
pub const BREAKER_THRESHOLD: u32 = 5;

#[derive(Debug, Clone, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    disabled: Option<String>,
}

impl Breaker {
    fn state(&self, now: DateTime<Utc>) -> &'static str {
        match (&self.disabled, self.open_until) {
            (Some(_), _) => "disabled",
            (None, Some(t)) if t > now => "open",
            (None, Some(_)) => "half_open",
            (None, None) => "closed",
        }
    }
}

/// Every target's breaker.
#[derive(Clone)]
pub struct Health {
    breakers: Arc<Mutex<BTreeMap<String, Breaker>>>,
    publishers: Arc<Vec<String>>,
    backoff: BackoffConfig,
    metrics: Arc<Metrics>,
    outbox: Outbox,
}

impl Health {
    pub fn new(
        publishers: Vec<String>,
        backoff: BackoffConfig,
        metrics: Arc<Metrics>,
        outbox: Outbox,
    ) -> Health {
        for p in &publishers {
            metrics.publish_breaker(p, false);
        }
        Health {
            breakers: Arc::default(),
            publishers: Arc::new(publishers),
            backoff,
            metrics,
            outbox,
        }
    }

    fn with<R>(&self, target: &str, f: impl FnOnce(&mut Breaker) -> R) -> R {
        let mut map = match self.breakers.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(map.entry(target.to_string()).or_default())
    }

    /// When the target may be tried again (`None`: now).
    pub fn blocked_until(&self, target: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.with(target, |b| b.open_until.filter(|t| *t > now))
    }

    pub fn success(&self, target: &str, now: DateTime<Utc>) {
        let was_open = self.with(target, |b| {
            let was = b.open_until.is_some();
            b.failures = 0;
            b.open_until = None;
            b.last_success_at = Some(now);
            was
        });
        if was_open {
            tracing::info!(target_name = target, "target answers again; breaker closed");
            self.gauge(target, false);
        }
    }

    /// Counts a failure; a `Retry-After` holds the whole target (rate limits are per key).
    pub fn failure(
        &self,
        target: &str,
        now: DateTime<Utc>,
        error: &str,
        retry_after: Option<Duration>,
    ) {
        let opened = self.with(target, |b| {
            b.failures = b.failures.saturating_add(1);
            b.last_error = Some(error.to_string());
            b.last_failure_at = Some(now);
            let mut until = None;
            if b.failures >= BREAKER_THRESHOLD {
                until = Some(later(now, self.backoff.delay(b.failures)));
            }
            if let Some(wait) = retry_after {
                let held = later(now, bounded(&self.backoff, wait));
                until = Some(until.map_or(held, |u: DateTime<Utc>| u.max(held)));
            }
            let opened = until.is_some() && b.open_until.is_none_or(|t| t <= now);
            if until.is_some() {
                b.open_until = until;
            }
            opened && b.failures >= BREAKER_THRESHOLD
        });
        if opened {
            tracing::warn!(
                target_name = target,
                error,
                "target keeps failing; breaker open"
            );
            self.gauge(target, true);
        }
    }

    /// A target that said it is gone (410).
    pub fn disable(&self, target: &str, reason: &str) {
        self.with(target, |b| b.disabled = Some(reason.to_string()));
        self.gauge(target, true);
    }

    pub fn is_disabled(&self, target: &str) -> Option<String> {
        self.with(target, |b| b.disabled.clone())
    }

    /// An admin's retry: try the target again now.
    pub fn reset(&self, target: &str) {
        self.with(target, |b| {
            b.failures = 0;
            b.open_until = None;
        });
        self.gauge(target, false);
    }

    fn gauge(&self, target: &str, open: bool) {
        if self.publishers.iter().any(|p| p == target) {
            self.metrics.publish_breaker(target, open);
        }
    }

    /// `/readyz` detail: every publisher, and subscribers whose breaker is not closed.
    pub fn report(&self) -> Value {
        let now = Utc::now();
        let pending = self.outbox.pending_by_target().unwrap_or_default();
        let map = match self.breakers.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut targets = serde_json::Map::new();
        let mut troubled = Vec::new();
        let names = self
            .publishers
            .iter()
            .cloned()
            .chain(map.keys().filter(|k| k.starts_with("subscriber:")).cloned());
        for name in names {
            let b = map.get(&name).cloned().unwrap_or_default();
            let state = b.state(now);
            if !self.publishers.contains(&name) && state == "closed" {
                continue;
            }
            if state != "closed" {
                troubled.push(format!("{name} is {state}"));
            }
            targets.insert(
                name.clone(),
                json!({
                    "state": state,
                    "consecutive_failures": b.failures,
                    "open_until": b.open_until.filter(|t| *t > now),
                    "last_error": b.disabled.clone().or(b.last_error.clone()),
                    "last_success_at": b.last_success_at,
                    "last_failure_at": b.last_failure_at,
                    "pending": pending.get(&name).copied().unwrap_or(0),
                }),
            );
        }
        json!({
            "ok": troubled.is_empty(),
            "reason": (!troubled.is_empty()).then(|| troubled.join("; ")),
            "targets": targets,
        })
    }
}

/// The longest wait statusgate ever schedules: anything longer (a target's `Retry-After`
/// of years) is a mistake or an attack, and far-off times overflow date arithmetic.
pub const LONGEST_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d.min(LONGEST_WAIT)).unwrap_or(chrono::Duration::zero())
}

/// `now + d` that never overflows (saturates at the far end of the calendar).
pub fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now.checked_add_signed(chrono_dur(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A wait a target asked for, bounded by the longest backoff: a receiver cannot park a
/// delivery for longer than statusgate would wait on its own.
pub fn bounded(cfg: &BackoffConfig, asked: Duration) -> Duration {
    asked.min(cfg.max.as_std().max(cfg.initial.as_std()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    #[test]
    fn backoff_grows_exponentially_with_jitter_up_to_max() {
        let cfg = BackoffConfig {
            initial: Dur(Duration::from_millis(100)),
            max: Dur(Duration::from_secs(1)),
        };
        for (n, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (40, 1000),
        ] {
            let d = cfg.delay(n).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "failure {n}: {d}ms");
        }
    }

    #[test]
    fn waits_a_target_asks_for_are_bounded_and_never_overflow() {
        let cfg = BackoffConfig {
            initial: Dur(Duration::from_millis(100)),
            max: Dur(Duration::from_secs(300)),
        };
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(bounded(&cfg, huge), Duration::from_secs(300));
        assert_eq!(
            bounded(&cfg, Duration::from_secs(7)),
            Duration::from_secs(7)
        );
        let now = Utc::now();
        assert!(later(now, huge) <= now + chrono::Duration::days(7));
        assert_eq!(
            later(DateTime::<Utc>::MAX_UTC, Duration::from_secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
