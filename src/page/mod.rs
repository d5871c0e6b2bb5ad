//! Page: the public status page statusgate serves itself — HTML and Statuspage-compatible
//! JSON. It reads only what publishing wrote (approved drafts) and never shows labels,
//! hostnames or anything else internal. Responses are rendered once per change and served
//! from memory with an ETag, since a status page is read by thousands exactly when it
//! matters.

mod audience;
pub mod badge;
pub mod feed;
pub mod html;
pub mod mirror;
mod render;
pub mod slo;
pub mod statuspage;
pub mod uptime;

use std::sync::{Arc, Mutex, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::PageConfig;
use crate::draft::Templates;
use crate::http::fixed_headers;
use crate::http::ApiError;
use crate::publish::audience::Audience;
use crate::publish::PublicState;

pub use audience::audience_routers;
use html::{Links, Snapshot};
use render::{Doc, Rendered};
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
    /// Whose page this is: `None` for the public page.
    audience: Option<Arc<Audience>>,
    links: Links,
    cache: Arc<RwLock<Option<Arc<Rendered>>>>,
    /// One renderer at a time: during an outage thousands of readers arrive together.
    rendering: Arc<Mutex<()>>,
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
            audience: None,
            links: Links::default(),
            cache: Arc::new(RwLock::new(None)),
            rendering: Arc::new(Mutex::new(())),
        }
    }

    /// Counts downtime with these shares (the `uptime:` configuration).
    pub fn with_shares(mut self, shares: Shares) -> Self {
        self.shares = shares;
        self
    }

    /// The same page for `audience` at `/a/{id}/`: its own rendering and cache, its links
    /// under that path with its key.
    pub fn for_audience(&self, audience: Audience) -> Self {
        let key = audience.key();
        PageState {
            public_url: format!("{}/a/{}", self.public_url, audience.id),
            links: Links {
                base: format!("/a/{}", audience.id),
                q: format!("?key={key}"),
                and: format!("&key={key}"),
                audience: Some(audience.name.clone()),
            },
            audience: Some(Arc::new(audience)),
            cache: Arc::new(RwLock::new(None)),
            rendering: Arc::new(Mutex::new(())),
            ..self.clone()
        }
    }

    pub(crate) fn audience_id(&self) -> Option<&str> {
        self.audience.as_deref().map(|a| a.id.as_str())
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
        .route("/api/v2/slo.json", json_route("slo"))
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
    html_page(
        &s,
        &headers,
        format!("history/{number}"),
        "page/history",
        |snap| html::history(&s.page, &s.links, snap, number),
    )
}

async fn event_page(
    State(s): State<PageState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    html_page(
        &s,
        &headers,
        format!("event/{id}"),
        "page/incident",
        |snap| html::event(&s.page, &s.links, snap, &id),
    )
}

/// An HTML page rendered from the snapshot on its first request; no view is the 404 page.
fn html_page<V: serde::Serialize>(
    s: &PageState,
    headers: &HeaderMap,
    key: String,
    template: &str,
    view: impl FnOnce(&Snapshot) -> Option<V>,
) -> Response {
    on_demand(s, headers, key, HTML, Kind::Html, |snap| {
        view(snap)
            .map(|v| s.html(template, &v).map(Bytes::from))
            .transpose()
    })
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
            Ok(snap.public_component(&id).map(|c| {
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
    fixed_headers(h, &[(header::CACHE_CONTROL, "public, no-cache")]);
    match kind {
        Kind::Json | Kind::Feed | Kind::Image => {
            // Widgets, feed readers and badges are embedded on other sites.
            fixed_headers(
                h,
                &[
                    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
            );
            if kind == Kind::Image {
                // An SVG opened directly must not run anything.
                fixed_headers(
                    h,
                    &[(header::CONTENT_SECURITY_POLICY, "default-src 'none'")],
                );
            }
        }
        Kind::Html => security_headers(h),
    }
    response
}

/// Headers every HTML page carries.
pub fn security_headers(h: &mut HeaderMap) {
    fixed_headers(
        h,
        &[
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
    );
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
    asset(css, "text/css; charset=utf-8", "public, max-age=300")
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
    asset(svg, SVG, "public, max-age=86400")
}

/// A static asset of the page, built from config and cached by browsers for `cache`.
fn asset(body: String, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    fixed_headers(
        response.headers_mut(),
        &[
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
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
