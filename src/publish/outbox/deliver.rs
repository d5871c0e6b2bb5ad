//! The delivery worker: sends outbox entries to their targets, in order per incident and
//! target, retrying with backoff; marks drafts `failed` or `conflict` when a publisher
//! cannot take them, and `published` again once it has.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::draft_state::{refresh_draft, refresh_draft_with};
use super::health::{bounded, later, Health};
use super::schedule;
use crate::audit::AuditEntry;
use crate::config::DeliveryConfig;
use crate::draft::Drafts;
use crate::metrics::Metrics;
use crate::publish::outbox::{Attempt, Entry, EntryState, Outbox};
use crate::publish::subscribers::{Channel, Subscriber, SubscriberState};
use crate::publish::targets::mirror::{self, Mirror, Surface};
use crate::publish::targets::statuspage::Statuspage;
use crate::publish::targets::webhook::{SigningKey, WebhookSender};
use crate::publish::targets::{Failure, FailureKind, Outcome, Targets};
use crate::publish::PublicState;
use crate::store::{Claim, Result, Tx};
use crate::vocab::DraftState;

const SYSTEM: &str = "statusgate";

/// Where one entry goes, resolved when it is sent.
enum Resolved {
    Statuspage(Statuspage),
    Webhook {
        url: String,
        key: SigningKey,
        only: Option<Vec<String>>,
        audience: Option<String>,
    },
    Email(Subscriber, String),
    Mirror(Mirror),
    Gone(String),
}

#[derive(Clone)]
pub struct Worker {
    pub outbox: Outbox,
    pub targets: Targets,
    pub public: PublicState,
    pub drafts: Drafts,
    pub lock: Arc<Mutex<()>>,
    pub metrics: Arc<Metrics>,
    pub delivery: DeliveryConfig,
    pub health: Health,
    pub sender: WebhookSender,
    pub public_url: String,
    pub page_name: String,
    /// The configured audiences: an audience's subscribers get links to its page.
    pub audiences: Arc<Vec<crate::publish::audience::Audience>>,
    /// How long a replica may stall holding its claim on entries before the database ends it.
    pub claim_stall: Duration,
    /// The page as files, for mirrors (set by the wiring, which can reach the page).
    pub surface: Option<Arc<dyn Surface>>,
}

impl Worker {
    /// Runs until `shutdown`; deliveries in flight get a few seconds to finish.
    pub async fn run(&mut self, shutdown: CancellationToken) {
        let wake = self.outbox.notified();
        let mut notices = self.drafts.subscribe();
        let mut busy: HashSet<String> = HashSet::new();
        let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut claims: Vec<Weak<Claim>> = Vec::new();
        let mut refresh = schedule::mirror_timer(self.targets.mirrors.values());
        loop {
            let wait = match self.dispatch(&mut busy, &mut running, &mut tasks, &mut claims) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; will retry");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = wake.notified() => {}
                _ = notices.recv() => {}
                Some(done) = tasks.join_next_with_id() => {
                    // Every task that has finished by now, so that a fan-out to many
                    // subscribers costs one pass over the outbox per batch, not per task.
                    let mut done = Some(done);
                    while let Some(finished) = done {
                        let id = match &finished {
                            Ok((id, ())) => *id,
                            Err(e) => {
                                tracing::error!(error = %e, "a delivery task failed");
                                e.id()
                            }
                        };
                        if let Some(t) = running.remove(&id) {
                            busy.remove(&t);
                        }
                        done = tasks.try_join_next_with_id();
                    }
                }
                _ = tokio::time::sleep(wait) => {}
                _ = schedule::tick(&mut refresh) => {
                    if let Err(e) = mirror::queue_syncs(&self.outbox, self.targets.mirrors.keys()) {
                        tracing::error!(error = %e, "could not queue a mirror sync; will retry");
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain)
            .await
            .is_err()
        {
            tracing::warn!("stopping with deliveries in flight; they resume at the next start");
        }
    }

    /// Starts a task for every idle target with due work; returns how long to sleep.
    fn dispatch(
        &self,
        busy: &mut HashSet<String>,
        running: &mut HashMap<tokio::task::Id, String>,
        tasks: &mut JoinSet<()>,
        claims: &mut Vec<Weak<Claim>>,
    ) -> Result<Duration> {
        let now = Utc::now();
        let mut next = now + chrono::Duration::seconds(1);
        let mut by_target: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        // Whether each draft may go out, read once a pass: a publication has an entry for
        // every subscriber.
        let mut ready: HashMap<String, bool> = HashMap::new();
        let mut due: Vec<(String, Vec<Vec<Entry>>)> = Vec::new();
        for e in self.outbox.active()? {
            by_target.entry(e.target.clone()).or_default().push(e);
        }
        for (target, entries) in by_target {
            if busy.contains(&target) {
                continue;
            }
            if running.len() + due.len() >= MAX_IN_FLIGHT {
                // The rest goes out as deliveries finish (each finish wakes the loop).
                next = now;
                break;
            }
            if let Some(until) = self.health.blocked_until(&target, now) {
                next = next.min(until);
                continue;
            }
            // One sync brings a mirror up to date with everything queued before it.
            let coalesce = self.targets.statuspages.contains_key(&target)
                || self.targets.mirrors.contains_key(&target);
            let mut work = Vec::new();
            for group in schedule::due(&entries, coalesce) {
                match self.ready(&group[0], &mut ready)? {
                    false => {}
                    true if group[0].next_attempt_at <= now => work.push(group),
                    true => next = next.min(group[0].next_attempt_at),
                }
            }
            if work.is_empty() {
                continue;
            }
            due.push((target, work));
        }
        // With several replicas, a handover may overlap: the entries are claimed (FOR UPDATE
        // SKIP LOCKED) for the attempt, so no entry is sent by two replicas. One claim
        // serves every target of a pass (on PostgreSQL a claim holds a connection until
        // its last delivery ends; one per target would take the whole pool in a fan-out to
        // many subscribers, leaving none to record the outcomes).
        claims.retain(|c| c.strong_count() > 0);
        if due.is_empty() || claims.len() >= MAX_CLAIMS {
            return Ok(sleep_until(now, next));
        }
        let ids: Vec<String> = due
            .iter()
            .flat_map(|(_, work)| work.iter().flatten().map(|e| e.id.clone()))
            .collect();
        let Some(claim) = self
            .outbox
            .store()
            .claim("outbox", &ids, self.claim_stall)?
        else {
            return Ok(sleep_until(now, next));
        };
        let claim = Arc::new(claim);
        claims.push(Arc::downgrade(&claim));
        for (target, mut work) in due {
            // Only the leading groups this replica holds go out: a target's deliveries stay
            // in order even when another replica holds an earlier one.
            let held = work
                .iter()
                .take_while(|group| group.iter().all(|e| claim.holds(&e.id)))
                .count();
            work.truncate(held);
            if work.is_empty() {
                continue;
            }
            busy.insert(target.clone());
            let worker = self.clone();
            let claim = claim.clone();
            // Deliveries run as tasks of their own, under the worker's lease.
            let handle = tasks.spawn(crate::store::inherit(async move {
                let _claim = claim;
                for group in work {
                    if worker
                        .health
                        .blocked_until(&group[0].target, Utc::now())
                        .is_some()
                    {
                        break;
                    }
                    if let Err(e) = worker.attempt(group).await {
                        tracing::error!(error = %e, "recording a delivery failed; will retry");
                        break;
                    }
                }
            }));
            running.insert(handle.id(), target);
        }
        Ok(sleep_until(now, next))
    }

    /// A publication goes out only once the built-in page has it (and with it the public
    /// incident id); a stop in between is finished by approval's recovery at start.
    fn ready(&self, e: &Entry, known: &mut HashMap<String, bool>) -> Result<bool> {
        let Some(id) = &e.draft_id else {
            return Ok(true);
        };
        if let Some(ready) = known.get(id) {
            return Ok(*ready);
        }
        let ready = self
            .drafts
            .get(id)?
            .is_some_and(|d| d.state != DraftState::Approved && d.incident_id.is_some());
        known.insert(id.clone(), ready);
        Ok(ready)
    }

    fn resolve(&self, target: &str) -> Result<Resolved> {
        if let Some(sp) = self.targets.statuspages.get(target) {
            return Ok(Resolved::Statuspage(sp.clone()));
        }
        if let Some(m) = self.targets.mirrors.get(target) {
            return Ok(Resolved::Mirror(m.clone()));
        }
        if let Some((url, key)) = self.targets.webhooks.get(target) {
            if let Some(reason) = self.health.is_disabled(target) {
                return Ok(Resolved::Gone(reason));
            }
            return Ok(Resolved::Webhook {
                url: url.clone(),
                key: key.clone(),
                only: None,
                audience: None,
            });
        }
        let Some(id) = target.strip_prefix("subscriber:") else {
            return Ok(Resolved::Gone(format!(
                "publisher `{target}` is no longer configured"
            )));
        };
        let Some(s) = self.outbox.subscribers().get(id)? else {
            return Ok(Resolved::Gone("the subscriber was removed".into()));
        };
        match (&s.channel, s.state) {
            (_, SubscriberState::Disabled) => Ok(Resolved::Gone(
                s.reason
                    .clone()
                    .unwrap_or_else(|| "the subscriber is disabled".into()),
            )),
            (Channel::Webhook { url, secret }, _) => match SigningKey::parse(secret) {
                Ok(key) => Ok(Resolved::Webhook {
                    url: url.clone(),
                    key,
                    only: s.only(&self.outbox.infos()),
                    audience: s.audience.clone(),
                }),
                Err(e) => Ok(Resolved::Gone(e)),
            },
            (Channel::Email { email }, _) => {
                let to = email.clone();
                Ok(Resolved::Email(s, to))
            }
        }
    }

    /// One attempt at a group of entries (several only when coalesced for Statuspage).
    async fn attempt(&self, mut group: Vec<Entry>) -> Result<()> {
        let now = Utc::now();
        let target = group[0].target.clone();
        let result = match self.resolve(&target)? {
            Resolved::Gone(reason) => {
                for e in &mut group {
                    e.state = EntryState::Dropped;
                    e.finished_at = Some(now);
                    e.note = Some(reason.clone());
                }
                return self.settle(group, Vec::new()).await;
            }
            Resolved::Statuspage(sp) => {
                let last = group.len() - 1;
                let choice = group.iter().rev().find_map(|e| e.choice);
                match group[last].publication().cloned() {
                    Some(want) => {
                        sp.deliver(&self.outbox, &group[0].thread, &want, choice)
                            .await
                    }
                    None => Err(Failure::permanent(0, "not a publication")),
                }
            }
            Resolved::Webhook {
                url,
                key,
                only,
                audience,
            } => {
                let to = (url.as_str(), &key);
                self.send_webhook(&mut group[0], to, only.as_deref(), audience.as_deref())
                    .await
            }
            Resolved::Email(s, to) => self.send_mail(&group[0], &s, &to).await,
            Resolved::Mirror(m) => match &self.surface {
                Some(surface) => m.deliver(&self.outbox, surface.as_ref()).await,
                None => Err(Failure::transient(
                    None,
                    "the mirror has no page to render",
                    None,
                )),
            },
        };
        self.record(group, result, now).await
    }

    /// Records what an attempt did, moves entries on, and brings drafts up to date.
    async fn record(
        &self,
        mut group: Vec<Entry>,
        result: std::result::Result<Outcome, Failure>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let target = group[0].target.clone();
        let label = if target.starts_with("subscriber:") {
            "subscribers"
        } else {
            target.as_str()
        };
        let mut audit = Vec::new();
        match result {
            Ok(outcome) => {
                self.health.success(&target, now);
                let (state, outcome_word, detail) = match &outcome {
                    Outcome::Sent(d) => (EntryState::Delivered, "success", d.clone()),
                    Outcome::Unchanged => (
                        EntryState::Unchanged,
                        "unchanged",
                        "the target already shows this; nothing sent".to_string(),
                    ),
                    Outcome::Conflict(c) => (
                        EntryState::Conflict,
                        "conflict",
                        format!(
                            "{} was changed by hand on {}: theirs {:?}, ours {:?}",
                            c.field, c.target, c.theirs, c.ours
                        ),
                    ),
                };
                self.metrics.publish(label, outcome_word);
                let last = group.len() - 1;
                let carrier = group[last].key.clone();
                for (i, e) in group.iter_mut().enumerate() {
                    e.attempts += 1;
                    e.record(Attempt {
                        at: now,
                        outcome: outcome_word.into(),
                        status: None,
                        detail: detail.clone(),
                    });
                    if let Outcome::Conflict(c) = &outcome {
                        e.state = EntryState::Conflict;
                        e.conflict = Some(c.clone());
                        e.choice = None;
                        continue;
                    }
                    e.state = if i < last && state == EntryState::Delivered {
                        e.note = Some(format!("sent together with {carrier}"));
                        EntryState::Coalesced
                    } else {
                        state
                    };
                    e.finished_at = Some(now);
                    e.last_error = None;
                    if let Some(p) = e.publication() {
                        let note = e.note.clone().unwrap_or(detail.clone());
                        // A maintenance has no draft; its audit entries name it instead.
                        audit.push(if p.kind.is_maintenance() {
                            AuditEntry::new(now, SYSTEM, "publish").detail(json!({"maintenance_id": p.draft_id, "change": p.revision, "event": p.kind.type_name(), "target": target, "outcome": outcome_word, "detail": note}))
                        } else {
                            AuditEntry::new(now, SYSTEM, "publish")
                                .draft(&p.draft_id, p.revision)
                                .detail(json!({"target": target, "outcome": outcome_word, "detail": note}))
                        });
                    }
                }
            }
            Err(f) => {
                let give_up = now - group[0].since >= self.delivery.give_up_after.as_chrono();
                let outcome_word = match f.kind {
                    FailureKind::Transient if !give_up => "retry",
                    _ => "failure",
                };
                self.metrics.publish(label, outcome_word);
                // The target's own say on when to come back, within statusgate's bounds.
                let asked = f.retry_after.map(|d| bounded(&self.delivery.backoff, d));
                tracing::warn!(target_name = %target, error = %f, outcome = outcome_word, "delivery failed");
                if f.kind == FailureKind::Gone {
                    self.disable(&target, &f.message).await?;
                } else {
                    self.health.failure(&target, now, &f.message, asked);
                }
                let head = &mut group[0];
                head.attempts += 1;
                head.record(Attempt {
                    at: now,
                    outcome: outcome_word.into(),
                    status: f.status,
                    detail: f.message.clone(),
                });
                let streak = head
                    .log
                    .iter()
                    .rev()
                    .take_while(|a| a.at >= head.since && a.outcome == "retry")
                    .count() as u32;
                let wait = self
                    .delivery
                    .backoff
                    .delay(streak.max(1))
                    .max(asked.unwrap_or_default());
                head.next_attempt_at = later(now, wait);
                if outcome_word == "failure" {
                    let reason = if give_up {
                        format!(
                            "gave up after {} attempt(s) over {}: {}",
                            head.attempts, self.delivery.give_up_after, f.message
                        )
                    } else {
                        f.message.clone()
                    };
                    for e in &mut group {
                        if f.kind == FailureKind::Gone && target.starts_with("subscriber:") {
                            e.state = EntryState::Dropped;
                            e.finished_at = Some(now);
                            e.note = Some(reason.clone());
                        } else {
                            e.state = EntryState::Failed;
                            e.last_error = Some(reason.clone());
                        }
                    }
                }
            }
        }
        self.settle(group, audit).await
    }

    /// Records a delivery's outcome. When it decides a draft's state (a publisher's
    /// entry), the state is written in the same transaction, so that nobody reads a
    /// delivery's outcome without the state it gives the draft, even across a crash.
    async fn settle(&self, group: Vec<Entry>, audit: Vec<AuditEntry>) -> Result<()> {
        // A draft's state follows its publishers only: a subscriber's delivery changes
        // nothing there, and a publication goes to every subscriber.
        let drafts: BTreeSet<String> = group
            .iter()
            .filter(|e| !e.target.starts_with("subscriber:"))
            .filter_map(|e| e.draft_id.clone())
            .collect();
        let write = |tx: &Tx<'_>| self.outbox.settle_in(tx, &group, &audit);
        let tables = self.outbox.settle_tables();
        let mut drafts = drafts.into_iter();
        let written_with = match drafts.next() {
            Some(first) => {
                let with = Some((&tables[..], &write as &WriteIn));
                refresh_draft_with(
                    &self.outbox,
                    &self.drafts,
                    &self.lock,
                    &first,
                    SYSTEM,
                    &group,
                    with,
                )
                .await?
            }
            None => false,
        };
        if !written_with {
            self.outbox.settle(&group, &audit)?;
        }
        self.outbox.store().durable().await?;
        // One thread's entries belong to one draft; more would be refreshed after.
        for d in drafts {
            refresh_draft(&self.outbox, &self.drafts, &self.lock, &d, SYSTEM).await?;
        }
        let maintenances: HashSet<String> = group
            .iter()
            .filter(|e| !e.target.starts_with("subscriber:"))
            .filter_map(|e| e.publication())
            .filter(|p| p.kind.is_maintenance())
            .map(|p| p.draft_id.clone())
            .collect();
        for m in maintenances {
            crate::publish::maintenance::delivery::refresh(&self.outbox, &self.public, &m, SYSTEM)
                .await?;
        }
        Ok(())
    }

    /// A webhook endpoint that answered 410: a publisher is disabled until restart, a
    /// subscriber for good.
    async fn disable(&self, target: &str, reason: &str) -> Result<()> {
        tracing::warn!(target_name = target, reason, "disabling a webhook target");
        self.health.disable(target, reason);
        if let Some(id) = target.strip_prefix("subscriber:") {
            if let Some(mut s) = self.outbox.subscribers().get(id)? {
                s.state = SubscriberState::Disabled;
                s.reason = Some(reason.to_string());
                self.outbox.subscribers().put(&s)?;
            }
        }
        Ok(())
    }
}

/// At most this many targets are delivered to at once: in a fan-out to many subscribers,
/// recording each outcome must leave room (database connections, flushes) for ingest.
const MAX_IN_FLIGHT: usize = 64;

/// At most this many claims (passes with deliveries still running) at once: on PostgreSQL
/// each holds a pooled connection.
const MAX_CLAIMS: usize = 4;

/// How long the dispatcher sleeps when its next due work is at `next`.
fn sleep_until(now: DateTime<Utc>, next: DateTime<Utc>) -> Duration {
    (next - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_millis(20))
}

/// Writes made in another stage's transaction.
type WriteIn<'a> = dyn Fn(&Tx<'_>) -> std::result::Result<(), crate::store::TxAbort> + Sync + 'a;

impl crate::store::Work for Worker {
    fn run(&mut self, stop: CancellationToken) -> impl std::future::Future<Output = ()> + Send {
        Worker::run(self, stop)
    }
}
