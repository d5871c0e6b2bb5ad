//! Page: the public status page statusgate serves itself — HTML and Statuspage-compatible
//! JSON. It reads only what publishing wrote (approved drafts) and never shows labels,
//! hostnames or anything else internal. Responses are rendered once per change and served
//! from memory with an ETag, since a status page is read by thousands exactly when it
//! matters.

pub mod badge;
pub mod feed;
pub mod html;
pub mod statuspage;
pub mod uptime;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::PageConfig;
use crate::draft::Templates;
use crate::error::ApiError;
use crate::publish::{Incident, Maintenance, PublicState, StatusChange};
use crate::vocab::{Impact, IncidentStatus};

use html::Snapshot;
use uptime::Shares;

/// Content Security Policy: no script at all, styles only from our own stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Pages rendered on demand (history pages, permalinks, component badges) kept per
/// rendering; bounded so that odd URLs cannot grow memory.
const EXTRA_CACHE: usize = 512;

#[derive(Clone)]
pub struct PageState {
    pub public: PublicState,
    pub templates: Arc<Templates>,
    pub page: PageConfig,
    pub public_url: String,
    shares: Shares,
    cache: Arc<RwLock<Option<Arc<Rendered>>>>,
    /// One renderer at a time: during an outage thousands of readers arrive together.
    rendering: Arc<Mutex<()>>,
}

/// One response body with its validators.
#[derive(Clone)]
struct Doc {
    body: Bytes,
    etag: String,
    last_modified: String,
}

/// Everything the public endpoints serve, rendered for one version of the public state
/// and one minute of the clock (uptime figures move with time).
struct Rendered {
    version: u64,
    stale_after: DateTime<Utc>,
    docs: HashMap<&'static str, Doc>,
    snapshot: Snapshot,
    extra: Mutex<HashMap<String, Option<Doc>>>,
}

impl PageState {
    pub fn new(
        public: PublicState,
        templates: Arc<Templates>,
        page: PageConfig,
        public_url: String,
    ) -> Self {
        PageState {
            public,
            templates,
            page,
            public_url: public_url.trim_end_matches('/').to_string(),
            shares: Shares::default(),
            cache: Arc::new(RwLock::new(None)),
            rendering: Arc::new(Mutex::new(())),
        }
    }

    /// Counts downtime with these shares (the `uptime:` configuration).
    pub fn with_shares(mut self, shares: Shares) -> Self {
        self.shares = shares;
        self
    }

    fn current(&self) -> Result<Arc<Rendered>, ApiError> {
        let version = *self.public.changes().borrow();
        let cached = || self.cache.read().ok().and_then(|c| c.clone());
        let previous = cached();
        let fresh = |r: &Rendered| r.version == version && Utc::now() < r.stale_after;
        if let Some(r) = previous.as_ref().filter(|r| fresh(r)) {
            return Ok(r.clone());
        }
        let _guard = match self.rendering.try_lock() {
            Ok(g) => g,
            Err(_) => match previous.filter(|r| r.version == version) {
                // Only the clock moved and someone is already rendering: the previous
                // rendering is right about everything but a minute of uptime.
                Some(r) => return Ok(r),
                None => self.rendering.lock().unwrap_or_else(|p| p.into_inner()),
            },
        };
        // Someone else may have rendered while this one waited.
        let previous = cached();
        if let Some(r) = previous.as_ref().filter(|r| fresh(r)) {
            return Ok(r.clone());
        }
        let rendered = Arc::new(self.render(version, Utc::now(), previous.as_deref())?);
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(rendered.clone());
        }
        Ok(rendered)
    }

    fn snapshot(&self, now: DateTime<Utc>) -> Result<Snapshot, ApiError> {
        let components = self.public.components()?;
        let incidents = self.public.incidents()?;
        let maintenances = self.public.maintenances()?;
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
            indicator,
            updated_at,
        })
    }

    fn render(
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
        let comps = statuspage::components(&s.components, &meta.id, s.updated_at);
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
        let mut upcoming: Vec<&Maintenance> = s
            .maintenances
            .iter()
            .filter(|m| m.status == IncidentStatus::Scheduled)
            .collect();
        upcoming.sort_by_key(|m| m.scheduled_for);
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
                    "days": u.map(|u| u.days.iter().map(uptime::day_json).collect::<Vec<_>>()).unwrap_or_default(),
                })
            }).collect::<Vec<_>>(),
        });
        let html = self.html("page/index", &html::index(&self.page, &s))?;
        let entries = feed::entries(&s.incidents, &s.maintenances, &self.public_url);
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

    fn html<T: serde::Serialize>(&self, name: &str, data: &T) -> Result<String, ApiError> {
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
    fn extra(
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

const JSON: &str = "application/json; charset=utf-8";

pub fn router(state: PageState) -> Router {
    let json_route = |name: &'static str| {
        get(move |s: State<PageState>, h: HeaderMap| async move {
            serve(&s, &h, name, JSON, Kind::Json)
        })
    };
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/history", get(history))
        .route("/incidents/{id}", get(event_page))
        .route(
            "/history.atom",
            get(|s: State<PageState>, h: HeaderMap| async move {
                serve(
                    &s,
                    &h,
                    "atom",
                    "application/atom+xml; charset=utf-8",
                    Kind::Feed,
                )
            }),
        )
        .route(
            "/history.rss",
            get(|s: State<PageState>, h: HeaderMap| async move {
                serve(
                    &s,
                    &h,
                    "rss",
                    "application/rss+xml; charset=utf-8",
                    Kind::Feed,
                )
            }),
        )
        .route(
            "/badge.svg",
            get(|s: State<PageState>, h: HeaderMap| async move {
                serve(&s, &h, "badge", SVG, Kind::Image)
            }),
        )
        .route("/components/{id}/badge.svg", get(component_badge))
        .route("/assets/style.css", get(style))
        .route("/favicon.svg", get(favicon))
        .route("/api/v2/summary.json", json_route("summary"))
        .route("/api/v2/status.json", json_route("status"))
        .route("/api/v2/components.json", json_route("components"))
        .route("/api/v2/incidents.json", json_route("incidents"))
        .route(
            "/api/v2/incidents/unresolved.json",
            json_route("unresolved"),
        )
        .route(
            "/api/v2/scheduled-maintenances.json",
            json_route("maintenances"),
        )
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            json_route("upcoming"),
        )
        .route(
            "/api/v2/scheduled-maintenances/active.json",
            json_route("active"),
        )
        .route("/api/v2/uptime.json", json_route("uptime"))
        .with_state(state)
}

const SVG: &str = "image/svg+xml; charset=utf-8";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Html,
    Json,
    Feed,
    Image,
}

fn serve(
    s: &PageState,
    headers: &HeaderMap,
    name: &str,
    content_type: &'static str,
    kind: Kind,
) -> Response {
    match s.current() {
        Ok(r) => match r.docs.get(name) {
            Some(d) => cached(headers, d, content_type, kind),
            None => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unknown document").into_response()
            }
        },
        Err(e) => e.into_response(),
    }
}

async fn index(State(s): State<PageState>, headers: HeaderMap) -> Response {
    serve(&s, &headers, "html", HTML, Kind::Html)
}

const HTML: &str = "text/html; charset=utf-8";

#[derive(serde::Deserialize)]
struct HistoryQuery {
    page: Option<String>,
}

async fn history(
    State(s): State<PageState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let number = match q.page.as_deref().map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) => n,
        Some(Err(_)) => return not_found_html(&s.templates, &s.page),
    };
    on_demand(
        &s,
        &headers,
        format!("history/{number}"),
        HTML,
        Kind::Html,
        |snap| {
            html::history(&s.page, snap, number)
                .map(|v| s.html("page/history", &v).map(Bytes::from))
                .transpose()
        },
    )
}

async fn event_page(
    State(s): State<PageState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    on_demand(
        &s,
        &headers,
        format!("event/{id}"),
        HTML,
        Kind::Html,
        |snap| {
            html::event(&s.page, snap, &id)
                .map(|v| s.html("page/incident", &v).map(Bytes::from))
                .transpose()
        },
    )
}

async fn component_badge(
    State(s): State<PageState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    on_demand(
        &s,
        &headers,
        format!("badge/{id}"),
        SVG,
        Kind::Image,
        |snap| {
            Ok(snap
                .components
                .iter()
                .find(|c| c.info.id == id && c.info.public)
                .map(|c| {
                    Bytes::from(badge::svg(
                        &c.info.name,
                        &c.status.label().to_lowercase(),
                        c.status.as_str(),
                    ))
                }))
        },
    )
}

fn on_demand(
    s: &PageState,
    headers: &HeaderMap,
    key: String,
    content_type: &'static str,
    kind: Kind,
    make: impl FnOnce(&Snapshot) -> Result<Option<Bytes>, ApiError>,
) -> Response {
    let r = match s.current() {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match s.extra(&r, key, make) {
        Ok(Some(d)) => cached(headers, &d, content_type, kind),
        Ok(None) => not_found_html(&s.templates, &s.page),
        Err(e) => e.into_response(),
    }
}

/// `If-None-Match` wins over `If-Modified-Since` (RFC 9110 §13.2.2).
fn not_modified(headers: &HeaderMap, d: &Doc) -> bool {
    if let Some(v) = headers.get(header::IF_NONE_MATCH) {
        return v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == d.etag || t == "*")
        });
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(&v.replace("GMT", "+0000")).ok());
    let modified = DateTime::parse_from_rfc2822(&d.last_modified.replace("GMT", "+0000")).ok();
    matches!((since, modified), (Some(s), Some(m)) if m <= s)
}

fn cached(headers: &HeaderMap, d: &Doc, content_type: &'static str, kind: Kind) -> Response {
    let mut response = if not_modified(headers, d) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, d.body.clone()).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&d.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&d.last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    match kind {
        Kind::Json | Kind::Feed | Kind::Image => {
            // Widgets, feed readers and badges are embedded on other sites.
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            if kind == Kind::Image {
                // An SVG opened directly must not run anything.
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'"),
                );
            }
        }
        Kind::Html => security_headers(h),
    }
    response
}

/// Headers every HTML page carries.
pub fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn style(State(s): State<PageState>) -> Response {
    let accent = if is_css_color(&s.page.accent_color) {
        s.page.accent_color.clone()
    } else {
        "#0b7".to_string()
    };
    let css = format!(
        ":root {{ --accent: {accent}; }}\n{}",
        include_str!("../../templates/page/style.css")
    );
    let mut response = css.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A dot in the accent colour, so browsers do not ask for a missing `/favicon.ico`.
async fn favicon(State(s): State<PageState>) -> Response {
    let fill = if is_css_color(&s.page.accent_color) {
        s.page.accent_color.as_str()
    } else {
        "#0b7"
    };
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="{fill}"/></svg>"#
    );
    let mut response = svg.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(SVG));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Only `#rgb`/`#rrggbb` reaches the stylesheet: config text must not become CSS.
fn is_css_color(c: &str) -> bool {
    c.strip_prefix('#').is_some_and(|h| {
        (h.len() == 3 || h.len() == 6) && h.chars().all(|ch| ch.is_ascii_hexdigit())
    })
}

/// The HTML 404 page, for page paths nobody serves.
pub fn not_found_html(templates: &Templates, page: &PageConfig) -> Response {
    let html = templates
        .render_html("page/not_found", &json!({"page": page}))
        .unwrap_or_else(|_| "<!doctype html><title>Not found</title><h1>Not found</h1>".into());
    let mut response = (StatusCode::NOT_FOUND, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(response.headers_mut());
    response
}
