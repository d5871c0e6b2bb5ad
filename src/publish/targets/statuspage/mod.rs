//! Atlassian Statuspage (manage API v1) as a target.
//!
//! Statuspage has no idempotency keys, so exactly-once rests on what statusgate remembers
//! per incident: the Statuspage incident id once known, what it last wrote there, and the
//! write in flight. A create is marked as started (durably) before it is sent; after an
//! ambiguous failure the next attempt first looks for the incident by its `metadata` tag, so
//! a retried create becomes an update. Every update reads the incident back first: fields
//! a person changed by hand since statusgate's last write are not overwritten (a conflict),
//! and a publish that changes nothing there sends nothing.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod compare;

use compare::{compare, posted_by_hand, read_shown, read_updates, update_ids, utc, PageUpdate};

use crate::config::Secret;
use crate::draft::Conflict;
use crate::publish::outbox::event::{Approved, EventKind};
use crate::publish::outbox::{Choice, Outbox};
use crate::publish::targets::{retry_after, Failure, Outcome};

/// One Statuspage page, as configured.
#[derive(Clone)]
pub struct Statuspage {
    pub name: String,
    base_url: String,
    page_id: String,
    key: Secret,
    /// statusgate component id → Statuspage component id.
    components: BTreeMap<String, String>,
    deliver_notifications: bool,
    http: reqwest::Client,
    limiter: Arc<DefaultDirectRateLimiter>,
}

/// The documented limit: one request per second per API key.
pub fn key_limiter() -> Arc<DefaultDirectRateLimiter> {
    Arc::new(RateLimiter::direct(Quota::per_second(NonZeroU32::MIN)))
}

/// What an incident shows on the page, in Statuspage's words and ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    pub name: String,
    pub status: String,
    pub impact: String,
    pub body: String,
    pub components: BTreeMap<String, String>,
    /// A scheduled maintenance's window (UTC, milliseconds, so that Statuspage's own
    /// formatting compares equal).
    #[serde(default)]
    pub scheduled_for: Option<String>,
    #[serde(default)]
    pub scheduled_until: Option<String>,
}

/// What statusgate knows about one of its incidents on one page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Record {
    incident_id: Option<String>,
    /// A create was sent and its answer not seen.
    create_started: bool,
    /// What statusgate last wrote (and saw land).
    written: Option<Shown>,
    /// A write sent but not yet confirmed.
    in_flight: Option<Shown>,
    /// The ids of the incident's updates after statusgate's last confirmed write: any other
    /// is one a person posted. `None` (records from before, or an answer without them):
    /// a newest update whose text is not statusgate's is taken as a person's.
    #[serde(default)]
    updates: Option<Vec<String>>,
}

/// A component on the page (for `statusgate check --remote`).
#[derive(Debug, Clone, Deserialize)]
pub struct RemoteComponent {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub group: bool,
}

impl Statuspage {
    pub fn new(
        name: &str,
        base_url: &str,
        page_id: &str,
        key: Secret,
        components: BTreeMap<String, String>,
        deliver_notifications: bool,
        limiter: Arc<DefaultDirectRateLimiter>,
    ) -> Result<Statuspage, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("statusgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Statuspage {
            name: name.to_string(),
            base_url: base_url.trim_end_matches('/').to_string(),
            page_id: page_id.to_string(),
            key,
            components,
            deliver_notifications,
            http,
            limiter,
        })
    }

    /// What `want` looks like on this page (components without a mapping are left out).
    pub fn shown(&self, want: &Approved) -> Shown {
        Shown {
            name: want.title.clone(),
            status: want.status.as_str().to_string(),
            impact: want.impact.as_str().to_string(),
            body: want.body.clone(),
            components: want
                .components
                .iter()
                .filter_map(|(ours, s)| {
                    self.components
                        .get(ours)
                        .map(|theirs| (theirs.clone(), s.as_str().to_string()))
                })
                .collect(),
            scheduled_for: want.schedule.as_ref().map(|s| utc(s.scheduled_for)),
            scheduled_until: want.schedule.as_ref().map(|s| utc(s.scheduled_until)),
        }
    }

    /// Makes the page show `want` for statusgate incident `thread`.
    pub async fn deliver(
        &self,
        outbox: &Outbox,
        thread: &str,
        want: &Approved,
        choice: Option<Choice>,
    ) -> Result<Outcome, Failure> {
        let key = format!("statuspage/{}/{thread}", self.name);
        let mut rec: Record = outbox.record(&key).map_err(store)?.unwrap_or_default();
        let desired = self.shown(want);

        if rec.incident_id.is_none() && rec.create_started {
            // The last create got no answer: it may have landed.
            if let Some(id) = self.find_tagged(thread, want.schedule.is_some()).await? {
                tracing::info!(target_name = %self.name, incident = %id, "found the incident an unanswered create made");
                rec.incident_id = Some(id);
                rec.written = rec.in_flight.take();
                rec.create_started = false;
                rec.updates = None;
                self.save(outbox, &key, &rec).await?;
            }
        }

        if rec.incident_id.is_none() && want.kind == EventKind::MaintenanceCancelled {
            // Called off before the page ever showed it: there is nothing to cancel there.
            if rec.create_started || rec.in_flight.is_some() {
                rec.create_started = false;
                rec.in_flight = None;
                self.save(outbox, &key, &rec).await?;
            }
            return Ok(Outcome::Unchanged);
        }

        let Some(id) = rec.incident_id.clone() else {
            rec.create_started = true;
            rec.in_flight = Some(desired.clone());
            self.save(outbox, &key, &rec).await?;
            let (id, updates) = match self.create(thread, want, &desired).await {
                Ok(created) => created,
                Err(f) => {
                    // A 4xx answer means nothing was created; anything else may have.
                    if !f.ambiguous && f.status.is_some_and(|s| (400..500).contains(&s)) {
                        rec.create_started = false;
                        rec.in_flight = None;
                        self.save(outbox, &key, &rec).await?;
                    }
                    return Err(f);
                }
            };
            rec.incident_id = Some(id.clone());
            rec.written = Some(desired);
            rec.in_flight = None;
            rec.create_started = false;
            rec.updates = updates;
            self.save(outbox, &key, &rec).await?;
            return Ok(Outcome::Sent(format!("created incident {id}")));
        };

        let written = rec.written.clone().unwrap_or_default();
        if rec.in_flight.is_none() && desired == written {
            return Ok(Outcome::Unchanged);
        }
        let Some((theirs, page_updates)) = self.incident(&id).await? else {
            if choice == Some(Choice::Overwrite) {
                // Deleted by hand and an admin wants it back: start a new one.
                self.save(outbox, &key, &Record::default()).await?;
                return Box::pin(self.deliver(outbox, thread, want, None)).await;
            }
            if choice == Some(Choice::Theirs) {
                return Ok(Outcome::Unchanged);
            }
            return Ok(Outcome::Conflict(Conflict {
                target: self.name.clone(),
                field: "incident".into(),
                ours: id,
                theirs: "deleted".into(),
            }));
        };
        let mut base = written;
        let scheduled = want.schedule.is_some();
        let current_ids = || Some(page_updates.iter().map(|u| u.id.clone()).collect());
        if let Some(flight) = rec.in_flight.take() {
            // The last write got no answer; if the page shows it, it landed (and the update
            // it made is statusgate's).
            if theirs == flight {
                base = flight;
                rec.updates = current_ids();
            }
        }
        let posted = posted_by_hand(rec.updates.as_deref(), &page_updates, &base, scheduled);
        let plan = compare(
            &desired,
            &base,
            &theirs,
            choice,
            scheduled,
            posted.as_deref(),
        );
        if let Some((field, ours, their)) = plan.conflicts.into_iter().next() {
            rec.written = Some(base);
            self.save(outbox, &key, &rec).await?;
            return Ok(Outcome::Conflict(Conflict {
                target: self.name.clone(),
                field,
                ours,
                theirs: their,
            }));
        }
        if plan.patch.is_empty() {
            rec.written = Some(plan.next);
            // Whatever the page shows now is settled (no hand edit, or the admin took it).
            rec.updates = current_ids();
            self.save(outbox, &key, &rec).await?;
            return Ok(Outcome::Unchanged);
        }
        rec.written = Some(base);
        rec.in_flight = Some(plan.next.clone());
        self.save(outbox, &key, &rec).await?;
        let fields: Vec<String> = plan.patch.keys().cloned().collect();
        let mut incident = plan.patch;
        if incident.contains_key("components") {
            incident.insert(
                "component_ids".into(),
                json!(desired.components.keys().collect::<Vec<_>>()),
            );
        }
        incident.insert(
            "deliver_notifications".into(),
            json!(self.deliver_notifications),
        );
        let answer = self
            .write(reqwest::Method::PATCH, &format!("/{id}"), json!(incident))
            .await?;
        rec.written = Some(plan.next);
        rec.in_flight = None;
        rec.updates = update_ids(&answer);
        self.save(outbox, &key, &rec).await?;
        Ok(Outcome::Sent(format!(
            "updated incident {id}: {}",
            fields.join(", ")
        )))
    }

    async fn create(
        &self,
        thread: &str,
        want: &Approved,
        shown: &Shown,
    ) -> Result<(String, Option<Vec<String>>), Failure> {
        let mut incident = json!({
            "name": shown.name,
            "status": shown.status,
            "impact_override": shown.impact,
            "body": shown.body,
            "component_ids": shown.components.keys().collect::<Vec<_>>(),
            "components": shown.components,
            "deliver_notifications": self.deliver_notifications,
            "metadata": {"statusgate": {"incident": thread, "draft": want.draft_id}},
        });
        if want.kind.is_maintenance() {
            incident["metadata"]["statusgate"] =
                json!({"incident": thread, "maintenance": want.draft_id});
        }
        if let Some(s) = &want.schedule {
            incident["scheduled_for"] = json!(s.scheduled_for);
            incident["scheduled_until"] = json!(s.scheduled_until);
            incident["scheduled_auto_in_progress"] = json!(s.auto_in_progress);
            incident["scheduled_auto_completed"] = json!(s.auto_completed);
        }
        let created = self.write(reqwest::Method::POST, "", incident).await?;
        let id = created["id"].as_str().map(str::to_string).ok_or_else(|| {
            Failure::permanent(201, "Statuspage's answer to a create has no `id`")
        })?;
        Ok((id, update_ids(&created)))
    }

    /// The incident as the page shows it now; `None` when it no longer exists.
    async fn incident(&self, id: &str) -> Result<Option<(Shown, Vec<PageUpdate>)>, Failure> {
        let path = format!("/pages/{}/incidents/{id}", self.page_id);
        match self.call(reqwest::Method::GET, &path, None).await {
            Ok(v) => Ok(Some((read_shown(&v, &self.components), read_updates(&v)))),
            Err(f) if f.status == Some(404) => Ok(None),
            Err(f) => Err(f),
        }
    }

    /// An incident statusgate tagged for `thread`: unresolved ones first (for a maintenance,
    /// upcoming and active ones), then recent ones.
    async fn find_tagged(
        &self,
        thread: &str,
        maintenance: bool,
    ) -> Result<Option<String>, Failure> {
        let first = if maintenance {
            vec!["upcoming", "active_maintenance"]
        } else {
            vec!["unresolved"]
        };
        let paths = first
            .into_iter()
            .map(|l| format!("/pages/{}/incidents/{l}", self.page_id))
            .chain([format!("/pages/{}/incidents?limit=100", self.page_id)]);
        for path in paths {
            let list = self.call(reqwest::Method::GET, &path, None).await?;
            let found = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["metadata"]["statusgate"]["incident"].as_str() == Some(thread));
            if let Some(id) = found.and_then(|i| i["id"].as_str()) {
                return Ok(Some(id.to_string()));
            }
        }
        Ok(None)
    }

    /// Every component on the page (all result pages).
    pub async fn list_components(&self) -> Result<Vec<RemoteComponent>, Failure> {
        let mut out = Vec::new();
        for page in 1..=50 {
            let path = format!(
                "/pages/{}/components?per_page=100&page={page}",
                self.page_id
            );
            let v = self.call(reqwest::Method::GET, &path, None).await?;
            let batch: Vec<RemoteComponent> = serde_json::from_value(v)
                .map_err(|e| Failure::permanent(200, format!("unexpected component list: {e}")))?;
            let n = batch.len();
            out.extend(batch);
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// The page id and our component mapping (for reports).
    pub fn mapping(&self) -> (&str, &BTreeMap<String, String>) {
        (&self.page_id, &self.components)
    }

    /// Sends `incident` to the page's incidents (`rest` names one: `/<id>`).
    async fn write(
        &self,
        method: reqwest::Method,
        rest: &str,
        incident: Value,
    ) -> Result<Value, Failure> {
        let path = format!("/pages/{}/incidents{rest}", self.page_id);
        let body = json!({ "incident": incident });
        self.call(method, &path, Some(body)).await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        self.limiter.until_ready().await;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("OAuth {}", self.key.expose()),
            );
        if let Some(b) = body {
            req = req.json(&b);
        }
        Failure::check_lease()?;
        let response = req.send().await.map_err(Failure::network)?;
        let status = response.status().as_u16();
        let wait = retry_after(response.headers());
        let text = response.text().await.map_err(Failure::network)?;
        if (200..300).contains(&status) {
            return Ok(if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).map_err(|e| {
                    Failure::transient(
                        Some(status),
                        format!("{method} {path}: answer is not JSON: {e}"),
                        None,
                    )
                })?
            });
        }
        let said = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.get("message")
                    .or_else(|| v.get("error"))
                    .and_then(|m| m.as_str().map(str::to_string))
            })
            .unwrap_or_default();
        let message = format!("{method} {path}: Statuspage answered {status} {said}")
            .trim()
            .to_string();
        Err(match status {
            408 | 420 | 425 | 429 | 500..=599 => Failure::transient(Some(status), message, wait),
            _ => Failure::permanent(status, message),
        })
    }

    async fn save(&self, outbox: &Outbox, key: &str, rec: &Record) -> Result<(), Failure> {
        outbox.put_record(key, rec).map_err(store)?;
        outbox.store().durable().await.map_err(store)
    }
}

fn store(e: crate::store::StoreError) -> Failure {
    Failure::transient(None, e.to_string(), None)
}
