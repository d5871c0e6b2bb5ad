//! Page: the public status page statusgate serves itself — HTML and Statuspage-compatible
//! JSON. It reads only what publishing wrote (approved drafts) and never shows labels,
//! hostnames or anything else internal. Responses are rendered once per change and served
//! from memory with an ETag, since a status page is read by thousands exactly when it
//! matters.

pub mod statuspage;

use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::PageConfig;
use crate::draft::Templates;
use crate::error::ApiError;
use crate::publish::{Incident, PublicComponent, PublicState};
use crate::vocab::{ComponentStatus, Impact};

/// Content Security Policy: no script at all, styles only from our own stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Clone)]
pub struct PageState {
    pub public: PublicState,
    pub templates: Arc<Templates>,
    pub page: PageConfig,
    pub public_url: String,
    cache: Arc<RwLock<Option<Rendered>>>,
}

/// Everything the public endpoints serve, rendered for one version of the public state.
struct Rendered {
    version: u64,
    etag: String,
    last_modified: String,
    html: Bytes,
    summary: Bytes,
    status: Bytes,
    components: Bytes,
    incidents: Bytes,
    unresolved: Bytes,
    maintenances: Bytes,
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
            public_url,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    fn current(&self) -> Result<Arc<RenderedRef>, ApiError> {
        let version = *self.public.changes().borrow();
        if let Ok(cache) = self.cache.read() {
            if let Some(r) = cache.as_ref().filter(|r| r.version == version) {
                return Ok(Arc::new(RenderedRef::from(r)));
            }
        }
        let rendered = self.render(version)?;
        let out = Arc::new(RenderedRef::from(&rendered));
        if let Ok(mut cache) = self.cache.write() {
            *cache = Some(rendered);
        }
        Ok(out)
    }

    fn render(&self, version: u64) -> Result<Rendered, ApiError> {
        let components = self.public.components()?;
        let incidents = self.public.incidents()?;
        let unresolved: Vec<Incident> = incidents
            .iter()
            .filter(|i| !i.status.is_closed())
            .cloned()
            .collect();
        let updated_at = components
            .iter()
            .filter_map(|c| c.updated_at)
            .chain(incidents.iter().map(|i| i.updated_at))
            .max()
            .unwrap_or_else(|| DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default());
        let meta = statuspage::PageMeta {
            id: page_id(&self.page.name),
            name: self.page.name.clone(),
            url: self.public_url.clone(),
            updated_at,
        };
        let indicator = statuspage::indicator(&components, &unresolved);
        let page = statuspage::page(&meta);
        let status = statuspage::status(indicator);
        let comps = statuspage::components(&components, &meta.id, updated_at);
        let inc = |list: &[Incident]| -> Vec<Value> {
            list.iter()
                .take(50)
                .map(|i| statuspage::incident(i, &components, &meta.id, &self.public_url))
                .collect()
        };
        let summary = json!({
            "page": page,
            "components": comps,
            "incidents": inc(&unresolved),
            "scheduled_maintenances": [],
            "status": status,
        });
        let to_bytes = |v: &Value| Bytes::from(serde_json::to_vec(v).unwrap_or_default());
        let html_data = HtmlPage::new(&self.page, indicator, &components, &unresolved, updated_at);
        let html = self
            .templates
            .render_html("page/index", &html_data)
            .map_err(|e| {
                tracing::error!(error = %e, "status page template failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the status page could not be rendered",
                )
            })?;
        let summary_bytes = to_bytes(&summary);
        let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&summary_bytes)[..12]));
        Ok(Rendered {
            version,
            etag,
            last_modified: updated_at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            html: Bytes::from(html),
            status: to_bytes(&json!({"page": page, "status": status})),
            components: to_bytes(&json!({"page": page, "components": comps})),
            incidents: to_bytes(&json!({"page": page, "incidents": inc(&incidents)})),
            unresolved: to_bytes(&json!({"page": page, "incidents": inc(&unresolved)})),
            maintenances: to_bytes(&json!({"page": page, "scheduled_maintenances": []})),
            summary: summary_bytes,
        })
    }
}

/// Cheap clones of the cached bodies (Bytes share their buffer).
struct RenderedRef {
    etag: String,
    last_modified: String,
    html: Bytes,
    summary: Bytes,
    status: Bytes,
    components: Bytes,
    incidents: Bytes,
    unresolved: Bytes,
    maintenances: Bytes,
}

impl From<&Rendered> for RenderedRef {
    fn from(r: &Rendered) -> Self {
        RenderedRef {
            etag: r.etag.clone(),
            last_modified: r.last_modified.clone(),
            html: r.html.clone(),
            summary: r.summary.clone(),
            status: r.status.clone(),
            components: r.components.clone(),
            incidents: r.incidents.clone(),
            unresolved: r.unresolved.clone(),
            maintenances: r.maintenances.clone(),
        }
    }
}

fn page_id(name: &str) -> String {
    hex::encode(&Sha256::digest(name.as_bytes())[..6])
}

pub fn router(state: PageState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/style.css", get(style))
        .route(
            "/api/v2/summary.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.summary.clone())),
        )
        .route(
            "/api/v2/status.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.status.clone())),
        )
        .route(
            "/api/v2/components.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.components.clone())),
        )
        .route(
            "/api/v2/incidents.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.incidents.clone())),
        )
        .route(
            "/api/v2/incidents/unresolved.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.unresolved.clone())),
        )
        .route(
            "/api/v2/scheduled-maintenances.json",
            get(|s: State<PageState>, h: HeaderMap| json_doc(s, h, |r| r.maintenances.clone())),
        )
        .with_state(state)
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn cached(
    headers: &HeaderMap,
    r: &RenderedRef,
    content_type: &'static str,
    body: Bytes,
    cors: bool,
) -> Response {
    let mut response = if not_modified(headers, &r.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&r.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&r.last_modified) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, no-cache"),
    );
    if cors {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

async fn json_doc(
    State(s): State<PageState>,
    headers: HeaderMap,
    pick: fn(&RenderedRef) -> Bytes,
) -> Response {
    match s.current() {
        Ok(r) => cached(
            &headers,
            &r,
            "application/json; charset=utf-8",
            pick(&r),
            true,
        ),
        Err(e) => e.into_response(),
    }
}

async fn index(State(s): State<PageState>, headers: HeaderMap) -> Response {
    match s.current() {
        Ok(r) => {
            let body = r.html.clone();
            let mut response = cached(&headers, &r, "text/html; charset=utf-8", body, false);
            security_headers(response.headers_mut());
            response
        }
        Err(e) => e.into_response(),
    }
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

#[derive(Serialize)]
struct HtmlPage<'a> {
    page: &'a PageConfig,
    indicator: &'static str,
    headline: &'static str,
    groups: Vec<HtmlGroup>,
    incidents: Vec<HtmlIncident>,
    updated_at: String,
    updated_at_iso: String,
}

#[derive(Serialize)]
struct HtmlGroup {
    name: Option<String>,
    components: Vec<HtmlComponent>,
}

#[derive(Serialize)]
struct HtmlComponent {
    name: String,
    description: Option<String>,
    status: &'static str,
    status_label: &'static str,
    icon: &'static str,
}

#[derive(Serialize)]
struct HtmlIncident {
    id: String,
    name: String,
    impact: &'static str,
    status_label: &'static str,
    updates: Vec<HtmlUpdate>,
}

#[derive(Serialize)]
struct HtmlUpdate {
    status_label: &'static str,
    body: String,
    at: String,
    at_iso: String,
}

fn icon(status: ComponentStatus) -> &'static str {
    match status {
        ComponentStatus::Operational => "✓",
        ComponentStatus::UnderMaintenance => "🔧",
        ComponentStatus::DegradedPerformance => "◐",
        ComponentStatus::PartialOutage => "▲",
        ComponentStatus::MajorOutage => "✕",
    }
}

fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl<'a> HtmlPage<'a> {
    fn new(
        page: &'a PageConfig,
        indicator: Impact,
        components: &[PublicComponent],
        unresolved: &[Incident],
        updated_at: DateTime<Utc>,
    ) -> Self {
        let mut groups: Vec<HtmlGroup> = Vec::new();
        for c in components.iter().filter(|c| c.info.public) {
            let item = HtmlComponent {
                name: c.info.name.clone(),
                description: c.info.description.clone(),
                status: c.status.as_str(),
                status_label: c.status.label(),
                icon: icon(c.status),
            };
            match groups.iter_mut().find(|g| g.name == c.info.group) {
                Some(g) => g.components.push(item),
                None => groups.push(HtmlGroup {
                    name: c.info.group.clone(),
                    components: vec![item],
                }),
            }
        }
        HtmlPage {
            page,
            indicator: indicator.as_str(),
            headline: match indicator {
                Impact::None => "All systems operational",
                Impact::Maintenance => "Scheduled maintenance in progress",
                Impact::Minor => "Some systems are degraded",
                Impact::Major => "Partial outage",
                Impact::Critical => "Major outage",
            },
            groups,
            incidents: unresolved
                .iter()
                .map(|i| HtmlIncident {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    impact: i.impact.as_str(),
                    status_label: i.status.label(),
                    updates: i
                        .updates
                        .iter()
                        .rev()
                        .map(|u| HtmlUpdate {
                            status_label: u.status.label(),
                            body: u.body.clone(),
                            at: human_time(u.display_at),
                            at_iso: statuspage::time(u.display_at),
                        })
                        .collect(),
                })
                .collect(),
            updated_at: human_time(updated_at),
            updated_at_iso: statuspage::time(updated_at),
        }
    }
}
