//! One rendering of every public document from one snapshot of the public state: the
//! page, the Statuspage JSON, uptime, feeds and the badge, each with its validators.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::html::{self, Snapshot};
use super::{badge, feed, slo, statuspage, uptime, PageState, EXTRA_CACHE};
use crate::http::ApiError;
use crate::publish::{Incident, Maintenance, StatusChange};
use crate::vocab::{Impact, IncidentStatus};

/// One response body with its validators.
#[derive(Clone)]
pub(super) struct Doc {
    pub body: Bytes,
    pub etag: String,
    pub last_modified: String,
}

/// Everything the public endpoints serve, rendered for one version of the public state
/// and one minute of the clock (uptime figures move with time).
pub(super) struct Rendered {
    pub version: u64,
    pub stale_after: DateTime<Utc>,
    pub docs: HashMap<&'static str, Doc>,
    pub snapshot: Snapshot,
    pub extra: Mutex<HashMap<String, Option<Doc>>>,
}

impl PageState {
    fn snapshot(&self, now: DateTime<Utc>) -> Result<Snapshot, ApiError> {
        // One code path for every page: the public one is the audience with nothing of its own.
        let seen = self.public.visibility(self.audience_id());
        let components = seen.components(self.public.components()?);
        let incidents: Vec<Incident> = self
            .public
            .incidents()?
            .iter()
            .filter_map(|i| seen.incident(i))
            .collect();
        let maintenances: Vec<Maintenance> = self
            .public
            .maintenances()?
            .iter()
            .filter_map(|m| seen.maintenance(m))
            .collect();
        let history = self.public.history()?;
        let first_seen = self.public.first_seen()?;
        let mut by_component: BTreeMap<&str, Vec<&StatusChange>> = BTreeMap::new();
        for c in &history {
            by_component
                .entry(c.component.as_str())
                .or_default()
                .push(c);
        }
        let uptime = components
            .iter()
            .filter(|c| c.info.public)
            .map(|c| {
                let changes = by_component
                    .get(c.info.id.as_str())
                    .cloned()
                    .unwrap_or_default();
                let u = uptime::compute(
                    &changes,
                    first_seen.get(&c.info.id).copied(),
                    c.status,
                    now,
                    uptime::DAYS,
                    &self.shares,
                );
                (c.info.id.clone(), u)
            })
            .collect();
        let levels = slo::levels(&components, &history, &first_seen, now, &self.shares);
        let unresolved: Vec<Incident> = incidents
            .iter()
            .filter(|i| !i.status.is_closed())
            .cloned()
            .collect();
        let mut indicator = statuspage::indicator(&components, &unresolved);
        if maintenances.iter().any(Maintenance::is_active) {
            indicator = indicator.max(Impact::Maintenance);
        }
        let updated_at = components
            .iter()
            .filter_map(|c| c.updated_at)
            .chain(incidents.iter().map(|i| i.updated_at))
            .chain(maintenances.iter().map(|m| m.updated_at))
            .max()
            .unwrap_or_else(|| DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default());
        Ok(Snapshot {
            components,
            incidents,
            maintenances,
            uptime,
            levels,
            indicator,
            updated_at,
        })
    }

    pub(super) fn render(
        &self,
        version: u64,
        now: DateTime<Utc>,
        previous: Option<&Rendered>,
    ) -> Result<Rendered, ApiError> {
        let s = self.snapshot(now)?;
        let meta = statuspage::PageMeta {
            id: page_id(&self.page.name),
            name: self.page.name.clone(),
            url: self.public_url.clone(),
            updated_at: s.updated_at,
        };
        let page = statuspage::page(&meta);
        let status = statuspage::status(s.indicator);
        let mut comps = statuspage::components(&s.components, &meta.id, s.updated_at);
        // An extra field on components with an objective; Statuspage clients ignore it.
        for c in &mut comps {
            let level = c["id"]
                .as_str()
                .filter(|_| c["group"] == false)
                .and_then(|id| s.levels.get(id));
            if let Some(level) = level {
                c["slo"] = level.json();
            }
        }
        let slo_doc = json!({
            "page": page,
            "components": s.components.iter().filter_map(|c| {
                s.levels.get(&c.info.id).map(|l| l.detail_json(c))
            }).collect::<Vec<_>>(),
        });
        let inc = |list: &mut dyn Iterator<Item = &Incident>| -> Vec<Value> {
            list.take(50)
                .map(|i| statuspage::incident(i, &s.components, &meta.id, &self.public_url))
                .collect()
        };
        let mnt = |list: &mut dyn Iterator<Item = &Maintenance>| -> Vec<Value> {
            list.take(50)
                .map(|m| statuspage::maintenance(m, &s.components, &meta.id, &self.public_url))
                .collect()
        };
        let unresolved = inc(&mut s.incidents.iter().filter(|i| !i.status.is_closed()));
        let upcoming = s.upcoming();
        let active = mnt(&mut s.maintenances.iter().filter(|m| m.is_active()));
        // Statuspage's summary lists maintenances that are upcoming or in progress.
        let current_maintenances = mnt(&mut s
            .maintenances
            .iter()
            .filter(|m| m.is_active() || m.status == IncidentStatus::Scheduled));
        let summary = json!({
            "page": page,
            "components": comps,
            "incidents": unresolved,
            "scheduled_maintenances": current_maintenances,
            "status": status,
        });
        let uptime_doc = json!({
            "page": page,
            "days": uptime::DAYS,
            "components": s.components.iter().filter(|c| c.info.public).map(|c| {
                let u = s.uptime.get(&c.info.id);
                json!({
                    "id": c.info.id,
                    "name": c.info.name,
                    "uptime_percent": u.and_then(uptime::Uptime::percent),
                    "days_with_data": u.map_or(0, uptime::Uptime::days_with_data),
                    "days": u.map(|u| u.days.iter().map(uptime::day_json).collect::<Vec<_>>()).unwrap_or_default(),
                })
            }).collect::<Vec<_>>(),
        });
        let html = self.html("page/index", &html::index(&self.page, &self.links, &s))?;
        let mut entries = feed::entries(&s.incidents, &s.maintenances, &self.public_url);
        // A feed reader subscribed by an audience link follows entry links with its key.
        for e in &mut entries {
            e.link.push_str(&self.links.q);
        }
        let badge_message = match s.indicator {
            Impact::None => "operational",
            Impact::Maintenance => "maintenance",
            Impact::Minor => "degraded",
            Impact::Major => "partial outage",
            Impact::Critical => "major outage",
        };
        let json_bytes = |v: &Value| Bytes::from(serde_json::to_vec(v).unwrap_or_default());
        let bodies: Vec<(&'static str, Bytes)> = vec![
            ("html", Bytes::from(html)),
            ("summary", json_bytes(&summary)),
            (
                "status",
                json_bytes(&json!({"page": page, "status": status})),
            ),
            (
                "components",
                json_bytes(&json!({"page": page, "components": comps})),
            ),
            (
                "incidents",
                json_bytes(&json!({"page": page, "incidents": inc(&mut s.incidents.iter())})),
            ),
            (
                "unresolved",
                json_bytes(&json!({"page": page, "incidents": unresolved})),
            ),
            (
                "maintenances",
                json_bytes(
                    &json!({"page": page, "scheduled_maintenances": mnt(&mut s.maintenances.iter())}),
                ),
            ),
            (
                "upcoming",
                json_bytes(
                    &json!({"page": page, "scheduled_maintenances": mnt(&mut upcoming.into_iter())}),
                ),
            ),
            (
                "active",
                json_bytes(&json!({"page": page, "scheduled_maintenances": active})),
            ),
            ("uptime", json_bytes(&uptime_doc)),
            ("slo", json_bytes(&slo_doc)),
            (
                "atom",
                Bytes::from(feed::atom(
                    &self.page.name,
                    &self.public_url,
                    s.updated_at,
                    &entries,
                )),
            ),
            (
                "rss",
                Bytes::from(feed::rss(
                    &self.page.name,
                    &self.public_url,
                    s.updated_at,
                    &entries,
                )),
            ),
            (
                "badge",
                Bytes::from(badge::svg("status", badge_message, s.indicator.as_str())),
            ),
        ];
        let docs = bodies
            .into_iter()
            .map(|(name, body)| {
                let old = previous.and_then(|p| p.docs.get(name));
                (name, doc(body, old, now))
            })
            .collect();
        // Uptime figures move with the clock, so a rendering lasts at most until the next
        // minute (and the day's bar rolls over at midnight UTC).
        let stale_after =
            now.duration_trunc(Duration::minutes(1)).unwrap_or(now) + Duration::minutes(1);
        Ok(Rendered {
            version,
            stale_after,
            docs,
            snapshot: s,
            extra: Mutex::new(HashMap::new()),
        })
    }

    pub(super) fn html<T: serde::Serialize>(
        &self,
        name: &str,
        data: &T,
    ) -> Result<String, ApiError> {
        self.templates.render_html(name, data).map_err(|e| {
            tracing::error!(error = %e, template = name, "status page template failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the status page could not be rendered",
            )
        })
    }

    /// A page rendered on demand from the current snapshot, cached with it. `None`: no
    /// such page.
    pub(super) fn extra(
        &self,
        r: &Rendered,
        key: String,
        make: impl FnOnce(&Snapshot) -> Result<Option<Bytes>, ApiError>,
    ) -> Result<Option<Doc>, ApiError> {
        if let Some(hit) = r.extra.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(hit);
        }
        let made = make(&r.snapshot)?.map(|body| doc(body, None, r.snapshot.updated_at));
        if let Ok(mut m) = r.extra.lock() {
            if m.len() < EXTRA_CACHE {
                m.insert(key, made.clone());
            }
        }
        Ok(made)
    }
}

/// A body with a content hash as its ETag. `Last-Modified` stays the previous one while
/// the body is unchanged, so validators agree with each other.
fn doc(body: Bytes, old: Option<&Doc>, now: DateTime<Utc>) -> Doc {
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..12]));
    let last_modified = match old {
        Some(o) if o.etag == etag => o.last_modified.clone(),
        _ => http_date(now),
    };
    Doc {
        body,
        etag,
        last_modified,
    }
}

fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn page_id(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}
