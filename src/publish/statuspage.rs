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

use super::event::{Approved, EventKind};
use super::outbox::{Choice, Outbox};
use super::target::{retry_after, Failure, Outcome};
use crate::config::Secret;
use crate::draft::Conflict;

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

/// One incident update as the page lists it.
#[derive(Debug, Clone)]
struct PageUpdate {
    id: String,
    status: String,
    body: String,
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
        let path = format!("/pages/{}/incidents/{id}", self.page_id);
        let answer = self
            .call(
                reqwest::Method::PATCH,
                &path,
                Some(json!({ "incident": incident })),
            )
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
        let path = format!("/pages/{}/incidents", self.page_id);
        let created = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(json!({ "incident": incident })),
            )
            .await?;
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

/// A time as Statuspage's window fields are compared: UTC, milliseconds (as it writes them).
fn utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads a window time in any offset Statuspage writes it (the page's own time zone).
fn read_time(v: &Value) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(utc(t.with_timezone(&chrono::Utc)))
}

fn store(e: crate::store::StoreError) -> Failure {
    Failure::transient(None, e.to_string(), None)
}

/// Reads an incident as Statuspage returns it: the newest update's body, and the status of
/// each component statusgate maps.
fn read_shown(v: &Value, mapped: &BTreeMap<String, String>) -> Shown {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let updates = v["incident_updates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Statuspage lists updates newest first; order by time anyway.
    let newest = updates.iter().max_by(|a, b| {
        let t = |u: &Value| u["created_at"].as_str().unwrap_or_default().to_string();
        t(a).cmp(&t(b))
    });
    let ids: Vec<&String> = mapped.values().collect();
    Shown {
        name: text("name"),
        status: text("status"),
        impact: text("impact"),
        body: newest
            .and_then(|u| u["body"].as_str())
            .unwrap_or_default()
            .to_string(),
        components: v["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let id = c["id"].as_str()?.to_string();
                ids.contains(&&id)
                    .then(|| (id, c["status"].as_str().unwrap_or_default().to_string()))
            })
            .collect(),
        scheduled_for: read_time(&v["scheduled_for"]),
        scheduled_until: read_time(&v["scheduled_until"]),
    }
}

/// The incident's updates, newest first.
fn read_updates(v: &Value) -> Vec<PageUpdate> {
    let mut out: Vec<(String, PageUpdate)> = v["incident_updates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| {
            let text = |k: &str| u[k].as_str().unwrap_or_default().to_string();
            Some((
                text("created_at"),
                PageUpdate {
                    id: u["id"].as_str()?.to_string(),
                    status: text("status"),
                    body: text("body"),
                },
            ))
        })
        .collect();
    out.sort_by(|a, b| b.0.cmp(&a.0));
    out.into_iter().map(|(_, u)| u).collect()
}

/// The update ids in an answer that carries the incident; `None` when it does not.
fn update_ids(v: &Value) -> Option<Vec<String>> {
    v["incident_updates"].as_array()?;
    Some(read_updates(v).into_iter().map(|u| u.id).collect())
}

/// The text of the newest update a person posted since statusgate's last write, if any.
/// Steps Statuspage's own clock makes on a scheduled maintenance are no person's.
fn posted_by_hand(
    known: Option<&[String]>,
    page: &[PageUpdate],
    base: &Shown,
    scheduled: bool,
) -> Option<String> {
    match known {
        Some(known) => page
            .iter()
            .filter(|u| !known.contains(&u.id))
            .find(|u| !(scheduled && automatic("status", &u.status)))
            .map(|u| u.body.clone()),
        None => page
            .first()
            .filter(|u| u.body != base.body && !(scheduled && automatic("status", &u.status)))
            .map(|u| u.body.clone()),
    }
}

/// Values Statuspage's own clock writes into a scheduled maintenance (the auto flags move
/// it to `in_progress` and `completed`, and its components with it): seeing one is no sign
/// of a person's hand.
fn automatic(field: &str, value: &str) -> bool {
    match field {
        "status" => matches!(value, "in_progress" | "completed"),
        f if f.starts_with("components.") => {
            matches!(value, "under_maintenance" | "operational")
        }
        _ => false,
    }
}

/// What to send, what the page will then show, and where a hand edit stands in the way.
struct Plan {
    patch: serde_json::Map<String, Value>,
    next: Shown,
    conflicts: Vec<(String, String, String)>,
    /// Hand edits of fields statusgate leaves as they are: they stop a write all the same.
    untouched: Vec<(String, String, String)>,
}

/// Field by field: send what statusgate wants changed and leave alone what it does not.
/// Any change a person made since statusgate's last write — an edited field or an update
/// they posted (`posted`, its text) — stops the write as a conflict until the admin chose:
/// `theirs` keeps the person's values and sends the rest, `overwrite` puts statusgate's back.
fn compare(
    desired: &Shown,
    last: &Shown,
    theirs: &Shown,
    choice: Option<Choice>,
    scheduled: bool,
    posted: Option<&str>,
) -> Plan {
    let mut plan = Plan {
        patch: serde_json::Map::new(),
        next: last.clone(),
        conflicts: Vec::new(),
        untouched: Vec::new(),
    };
    if let (Some(their_text), None) = (posted, choice) {
        plan.conflicts.push((
            "updates".to_string(),
            desired.body.clone(),
            their_text.to_string(),
        ));
    }
    let scalar = |field: &str, ours: &str, last: &str, cur: &str, plan: &mut Plan| {
        // Returns the value the page shows afterwards, if statusgate decides it.
        let by_hand = cur != last && !(scheduled && automatic(field, cur));
        if ours == last {
            if !by_hand || cur == ours {
                return None;
            }
            match choice {
                Some(Choice::Theirs) => return Some(cur.to_string()),
                Some(Choice::Overwrite) => {}
                None => {
                    plan.untouched
                        .push((field.to_string(), ours.to_string(), cur.to_string()));
                    return None;
                }
            }
        }
        if cur == ours {
            return Some(ours.to_string());
        }
        if by_hand && ours != last {
            match choice {
                Some(Choice::Theirs) => return Some(cur.to_string()),
                Some(Choice::Overwrite) => {}
                None => {
                    plan.conflicts
                        .push((field.to_string(), ours.to_string(), cur.to_string()));
                    return None;
                }
            }
        }
        let key = if field == "impact" {
            "impact_override"
        } else {
            field
        };
        plan.patch.insert(key.to_string(), json!(ours));
        Some(ours.to_string())
    };
    if let Some(v) = scalar("name", &desired.name, &last.name, &theirs.name, &mut plan) {
        plan.next.name = v;
    }
    if let Some(v) = scalar(
        "status",
        &desired.status,
        &last.status,
        &theirs.status,
        &mut plan,
    ) {
        plan.next.status = v;
    }
    if let Some(v) = scalar(
        "impact",
        &desired.impact,
        &last.impact,
        &theirs.impact,
        &mut plan,
    ) {
        plan.next.impact = v;
    }
    for field in ["scheduled_for", "scheduled_until"] {
        let get = |s: &Shown| {
            if field == "scheduled_for" {
                s.scheduled_for.clone()
            } else {
                s.scheduled_until.clone()
            }
        };
        let Some(ours) = get(desired) else { continue };
        let was = get(last).unwrap_or_default();
        let cur = get(theirs).unwrap_or_default();
        if let Some(v) = scalar(field, &ours, &was, &cur, &mut plan) {
            if field == "scheduled_for" {
                plan.next.scheduled_for = Some(v);
            } else {
                plan.next.scheduled_until = Some(v);
            }
        }
    }
    let mut components = serde_json::Map::new();
    for (id, ours) in &desired.components {
        let was = last.components.get(id).cloned().unwrap_or_default();
        let cur = theirs.components.get(id).cloned().unwrap_or_default();
        let before = plan.patch.len();
        let field = format!("components.{id}");
        if let Some(v) = scalar(&field, ours, &was, &cur, &mut plan) {
            plan.next.components.insert(id.clone(), v);
        }
        if let Some(sent) = (plan.patch.len() > before)
            .then(|| plan.patch.remove(&field))
            .flatten()
        {
            components.insert(id.clone(), sent);
        }
    }
    if !components.is_empty() {
        plan.patch
            .insert("components".into(), Value::Object(components));
    }
    // A new text is a new incident update. After one a person posted: theirs leaves it the
    // newest, overwrite posts statusgate's text on top of it.
    match (posted, choice) {
        (Some(_), Some(Choice::Theirs)) => plan.next.body = theirs.body.clone(),
        (Some(_), Some(Choice::Overwrite)) => {
            plan.patch.insert("body".into(), json!(desired.body));
            plan.next.body = desired.body.clone();
        }
        _ if desired.body != last.body => {
            plan.patch.insert("body".into(), json!(desired.body));
            plan.next.body = desired.body.clone();
        }
        _ => {}
    }
    // Nothing is written over a person's hand; if nothing would be written, their edit
    // simply stands.
    if !plan.patch.is_empty() || !plan.conflicts.is_empty() {
        let untouched = std::mem::take(&mut plan.untouched);
        plan.conflicts.extend(untouched);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(name: &str, status: &str, body: &str, api: &str) -> Shown {
        Shown {
            name: name.into(),
            status: status.into(),
            impact: "major".into(),
            body: body.into(),
            components: [("c1".to_string(), api.to_string())].into(),
            scheduled_for: None,
            scheduled_until: None,
        }
    }

    #[test]
    fn sends_only_the_fields_that_change() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let want = shown("API down", "identified", "Found it", "major_outage");
        let plan = compare(&want, &last, &last, None, false, None);
        assert!(plan.conflicts.is_empty());
        let keys: Vec<&String> = plan.patch.keys().collect();
        assert_eq!(keys, ["body", "status"]);
        assert_eq!(plan.next, want);
    }

    #[test]
    fn a_hand_edit_where_statusgate_would_write_is_a_conflict() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let theirs = shown("Login problems", "investigating", "Looking", "major_outage");
        let want = shown("API slow", "investigating", "Looking", "major_outage");
        let plan = compare(&want, &last, &theirs, None, false, None);
        assert_eq!(
            plan.conflicts,
            [(
                "name".to_string(),
                "API slow".to_string(),
                "Login problems".to_string()
            )]
        );
        // Where statusgate changes nothing, a hand edit stands without a conflict.
        let plan = compare(&last, &last, &theirs, None, false, None);
        assert!(plan.conflicts.is_empty() && plan.patch.is_empty());
        // The admin's choice settles it either way.
        let plan = compare(&want, &last, &theirs, Some(Choice::Theirs), false, None);
        assert!(plan.patch.is_empty());
        assert_eq!(plan.next.name, "Login problems");
        let plan = compare(&want, &last, &theirs, Some(Choice::Overwrite), false, None);
        assert_eq!(plan.patch["name"], "API slow");
    }

    #[test]
    fn an_update_a_person_posted_or_any_hand_edit_stops_the_next_write() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        // A person posted "monitoring" with their own text.
        let theirs = shown("API down", "monitoring", "Fix deployed", "major_outage");
        let want = shown("API down", "identified", "Found it", "major_outage");
        let plan = compare(&want, &last, &theirs, None, false, Some("Fix deployed"));
        assert_eq!(
            plan.conflicts[0],
            (
                "updates".to_string(),
                "Found it".to_string(),
                "Fix deployed".to_string()
            )
        );
        // Theirs: their update stays the newest; nothing is posted over it.
        let plan = compare(
            &want,
            &last,
            &theirs,
            Some(Choice::Theirs),
            false,
            Some("Fix deployed"),
        );
        assert!(plan.conflicts.is_empty());
        assert!(plan.patch.get("body").is_none(), "{:?}", plan.patch);
        assert_eq!(plan.next.body, "Fix deployed");
        // Overwrite: statusgate's update goes on top.
        let plan = compare(
            &want,
            &last,
            &theirs,
            Some(Choice::Overwrite),
            false,
            Some("Fix deployed"),
        );
        assert_eq!(plan.patch["body"], "Found it");
        assert_eq!(plan.patch["status"], "identified");
        // A renamed incident stops an update that would not touch the name.
        let renamed = shown("Login problems", "investigating", "Looking", "major_outage");
        let plan = compare(&want, &last, &renamed, None, false, None);
        assert_eq!(plan.conflicts[0].0, "name");
        assert_eq!(plan.conflicts[0].2, "Login problems");
    }

    #[test]
    fn a_posted_update_is_one_whose_id_statusgate_did_not_see() {
        let u = |id: &str, status: &str, body: &str| PageUpdate {
            id: id.into(),
            status: status.into(),
            body: body.into(),
        };
        let base = shown("API down", "investigating", "Looking", "major_outage");
        let page = [
            u("u2", "monitoring", "Fix deployed"),
            u("u1", "investigating", "Looking"),
        ];
        let known = ["u1".to_string()];
        assert_eq!(
            posted_by_hand(Some(&known), &page, &base, false).as_deref(),
            Some("Fix deployed")
        );
        let all = ["u1".to_string(), "u2".to_string()];
        assert_eq!(posted_by_hand(Some(&all), &page, &base, false), None);
        // Without ids, a newest text that is not statusgate's.
        assert!(posted_by_hand(None, &page, &base, false).is_some());
        assert_eq!(posted_by_hand(None, &page[1..], &base, false), None);
        // Statuspage's clock starting a maintenance is no person's update.
        let page = [
            u("u2", "in_progress", "Started"),
            u("u1", "scheduled", "Looking"),
        ];
        assert_eq!(posted_by_hand(Some(&known), &page, &base, true), None);
    }

    #[test]
    fn component_changes_go_out_as_a_components_object() {
        let last = shown("API down", "investigating", "Looking", "major_outage");
        let want = shown(
            "API down",
            "investigating",
            "Looking",
            "degraded_performance",
        );
        let plan = compare(&want, &last, &last, None, false, None);
        assert_eq!(
            Value::Object(plan.patch),
            json!({"components": {"c1": "degraded_performance"}})
        );
        let theirs = shown("API down", "investigating", "Looking", "operational");
        let plan = compare(&want, &last, &theirs, None, false, None);
        assert_eq!(plan.conflicts[0].0, "components.c1");
    }

    #[test]
    fn a_maintenance_window_moves_and_statuspage_clock_steps_are_no_hand_edits() {
        let mut last = shown("DB upgrade", "scheduled", "Planned", "operational");
        last.scheduled_for = Some("2026-03-01T02:00:00.000Z".into());
        last.scheduled_until = Some("2026-03-01T03:00:00.000Z".into());
        let mut want = last.clone();
        want.scheduled_until = Some("2026-03-01T04:00:00.000Z".into());
        let plan = compare(&want, &last, &last, None, true, None);
        assert_eq!(
            Value::Object(plan.patch),
            json!({"scheduled_until": "2026-03-01T04:00:00.000Z"})
        );
        // Statuspage's auto flags started it by themselves; statusgate's start agrees.
        let mut theirs = last.clone();
        theirs.status = "in_progress".into();
        theirs
            .components
            .insert("c1".into(), "under_maintenance".into());
        let mut started = last.clone();
        started.status = "in_progress".into();
        started
            .components
            .insert("c1".into(), "major_outage".into());
        let plan = compare(&started, &last, &theirs, None, true, None);
        assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
        assert_eq!(plan.patch["components"], json!({"c1": "major_outage"}));
        // The same values on an incident are a person's.
        let plan = compare(&started, &last, &theirs, None, false, None);
        assert_eq!(plan.conflicts[0].0, "components.c1");
        // A window read back in the page's own offset is the same window.
        let v = json!({"scheduled_for": "2026-03-01T03:00:00.000+01:00"});
        assert_eq!(
            read_shown(&v, &BTreeMap::new()).scheduled_for.as_deref(),
            Some("2026-03-01T02:00:00.000Z")
        );
    }

    #[test]
    fn reads_the_newest_update_and_mapped_components() {
        let v = json!({
            "id": "p1", "name": "API down", "status": "identified", "impact": "major",
            "incident_updates": [
                {"body": "second", "created_at": "2026-01-01T00:02:00.000Z"},
                {"body": "first", "created_at": "2026-01-01T00:01:00.000Z"}
            ],
            "components": [{"id": "c1", "status": "major_outage"}, {"id": "other", "status": "partial_outage"}]
        });
        let mapped = [("api".to_string(), "c1".to_string())].into();
        let s = read_shown(&v, &mapped);
        assert_eq!(s.body, "second");
        assert_eq!(s.components.len(), 1);
        assert_eq!(s.components["c1"], "major_outage");
    }
}
