//! Prometheus metrics, with the names DESIGN.md "Operations" fixes.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Distinct alert names tracked for unmapped alerts; the rest count as `other`.
const UNMAPPED_NAMES_MAX: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceOutcome {
    source: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertnameLabel {
    alertname: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetOutcome {
    target: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkLabel {
    work: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodOutcome {
    method: String,
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    slack_calls: Family<MethodOutcome, Counter>,
    webhooks: Family<SourceOutcome, Counter>,
    alerts: Family<SourceLabel, Counter>,
    unmapped: Family<AlertnameLabel, Counter>,
    unmapped_names: Mutex<HashSet<String>>,
    drafts: Family<EventLabel, Counter>,
    first_update: Histogram,
    alert_to_draft: Histogram,
    approval_wait: Histogram,
    publish: Family<TargetOutcome, Counter>,
    reloads: Family<OutcomeLabel, Counter>,
    rate_limited: Family<ScopeLabel, Counter>,
    storm_open: Gauge,
    watchdog_silent: Gauge,
    store_bytes: Gauge,
    breaker_open: Family<TargetLabel, Gauge>,
    lease_held: Family<WorkLabel, Gauge>,
    error_budget: Family<ComponentLabel, Gauge<f64, AtomicU64>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabel {
    scope: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let webhooks = Family::<SourceOutcome, Counter>::default();
        registry.register(
            "statusgate_webhooks_received",
            "Webhook deliveries by source and outcome (accepted, unauthorized, rejected, unavailable, ignored, duplicate)",
            webhooks.clone(),
        );
        let alerts = Family::<SourceLabel, Counter>::default();
        registry.register(
            "statusgate_alerts_ingested",
            "Alert state changes recorded (repeats not counted)",
            alerts.clone(),
        );
        let unmapped = Family::<AlertnameLabel, Counter>::default();
        registry.register(
            "statusgate_unmapped_alerts",
            "Alerts no catalog route maps, by alertname (at most 100 names, then `other`)",
            unmapped.clone(),
        );
        let drafts = Family::<EventLabel, Counter>::default();
        registry.register(
            "statusgate_drafts",
            "Draft lifecycle events (created, revised, approved, rejected, expired, withdrawn)",
            drafts.clone(),
        );
        let first_update = Histogram::new(exponential_buckets(15.0, 2.0, 10));
        registry.register(
            "statusgate_time_to_first_update_seconds",
            "Time from an incident's first alert to its first published update",
            first_update.clone(),
        );
        let alert_to_draft = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "statusgate_alert_to_draft_seconds",
            "Time from an alert's arrival to the draft (or revision) that reflects it",
            alert_to_draft.clone(),
        );
        let approval_wait = Histogram::new(exponential_buckets(5.0, 2.0, 12));
        registry.register(
            "statusgate_draft_approval_wait_seconds",
            "Time a draft waited from creation to approval",
            approval_wait.clone(),
        );
        let publish = Family::<TargetOutcome, Counter>::default();
        registry.register(
            "statusgate_publish_attempts",
            "Publish attempts by target and outcome (success, unchanged, retry, failure, conflict)",
            publish.clone(),
        );
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "statusgate_catalog_reloads",
            "Catalog loads by outcome (success, failure)",
            reloads.clone(),
        );
        let rate_limited = Family::<ScopeLabel, Counter>::default();
        registry.register(
            "statusgate_rate_limited",
            "Requests refused by a rate limit, by scope (ingest, public, api, drafts)",
            rate_limited.clone(),
        );
        let storm_open = Gauge::default();
        registry.register(
            "statusgate_storm_breaker_open",
            "1 while the storm breaker folds new incidents into one draft",
            storm_open.clone(),
        );
        let watchdog_silent = Gauge::default();
        registry.register(
            "statusgate_watchdog_silent",
            "1 while the watchdog alert has not arrived within its interval",
            watchdog_silent.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "statusgate_store_bytes",
            "Bytes the store uses on disk",
            store_bytes.clone(),
        );
        let slack_calls = Family::<MethodOutcome, Counter>::default();
        registry.register(
            "statusgate_slack_api_calls",
            "Slack Web API calls by method and outcome (ok, refused, rate_limited, unavailable, error)",
            slack_calls.clone(),
        );
        let breaker_open = Family::<TargetLabel, Gauge>::default();
        registry.register(
            "statusgate_publish_breaker_open",
            "Whether a publisher's circuit breaker is open (1) after repeated failures",
            breaker_open.clone(),
        );
        let lease_held = Family::<WorkLabel, Gauge>::default();
        registry.register(
            "statusgate_lease_held",
            "Whether this replica holds the lease of a kind of once-only work (always 1 on sled)",
            lease_held.clone(),
        );
        let error_budget = Family::<ComponentLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "statusgate_error_budget_remaining_ratio",
            "Share of a component's error budget left over its objective's window (below 0 when overspent; absent while collecting)",
            error_budget.clone(),
        );
        Metrics {
            error_budget,
            registry,
            slack_calls,
            webhooks,
            alerts,
            unmapped,
            unmapped_names: Mutex::new(HashSet::new()),
            drafts,
            first_update,
            alert_to_draft,
            approval_wait,
            publish,
            reloads,
            rate_limited,
            storm_open,
            watchdog_silent,
            store_bytes,
            breaker_open,
            lease_held,
        }
    }

    pub fn lease_held(&self, work: &str, held: bool) {
        self.lease_held
            .get_or_create(&WorkLabel { work: work.into() })
            .set(i64::from(held));
    }

    /// The error budget left per component with an objective (read at scrape time);
    /// components no longer listed drop out.
    pub fn error_budgets(&self, left: &[(String, f64)]) {
        self.error_budget.clear();
        for (component, ratio) in left {
            self.error_budget
                .get_or_create(&ComponentLabel {
                    component: component.clone(),
                })
                .set(*ratio);
        }
    }

    pub fn publish_breaker(&self, target: &str, open: bool) {
        self.breaker_open
            .get_or_create(&TargetLabel {
                target: target.into(),
            })
            .set(i64::from(open));
    }

    pub fn webhook(&self, source: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&SourceOutcome {
                source: source.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn alerts_ingested(&self, source: &str, n: u64) {
        self.alerts
            .get_or_create(&SourceLabel {
                source: source.into(),
            })
            .inc_by(n);
    }

    pub fn unmapped(&self, alertname: &str) {
        let name = match self.unmapped_names.lock() {
            Ok(mut names) => {
                if names.contains(alertname) || names.len() < UNMAPPED_NAMES_MAX {
                    names.insert(alertname.to_string());
                    alertname.to_string()
                } else {
                    "other".to_string()
                }
            }
            Err(_) => "other".to_string(),
        };
        self.unmapped
            .get_or_create(&AlertnameLabel { alertname: name })
            .inc();
    }

    pub fn draft(&self, event: &str) {
        self.drafts
            .get_or_create(&EventLabel {
                event: event.into(),
            })
            .inc();
    }

    pub fn first_update(&self, seconds: f64) {
        self.first_update.observe(seconds.max(0.0));
    }

    pub fn alert_to_draft(&self, seconds: f64) {
        self.alert_to_draft.observe(seconds.max(0.0));
    }

    pub fn approval_wait(&self, seconds: f64) {
        self.approval_wait.observe(seconds.max(0.0));
    }

    pub fn publish(&self, target: &str, outcome: &str) {
        self.publish
            .get_or_create(&TargetOutcome {
                target: target.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn catalog_reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&OutcomeLabel {
                outcome: if ok { "success" } else { "failure" }.into(),
            })
            .inc();
    }

    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited
            .get_or_create(&ScopeLabel {
                scope: scope.into(),
            })
            .inc();
    }

    pub fn slack_call(&self, method: &str, outcome: &str) {
        self.slack_calls
            .get_or_create(&MethodOutcome {
                method: method.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The text exposition, with gauges read at scrape time.
    pub fn render(&self, store_bytes: u64, signals: &crate::signals::Signals) -> String {
        self.store_bytes.set(store_bytes as i64);
        self.storm_open.set(i64::from(signals.storm().open));
        self.watchdog_silent
            .set(i64::from(signals.watchdog().silent));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }
}
