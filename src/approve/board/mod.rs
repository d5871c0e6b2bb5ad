//! The internal board at `/internal`: the web counterpart of the Slack message, for staff.
//! Every component (internal ones too), every open incident (internal-only ones too),
//! pending drafts with their alerts as received, the storm, watchdog and target banners,
//! and recent audit. Approvers edit, approve, reject and declare incidents there with the
//! API's revision rule; readers see the same board without the buttons.
//!
//! Server-rendered HTML that works without JavaScript. Browsers sign in with an API token
//! (`session`); tools send the token as a bearer. Every form of a browser session carries
//! the session's CSRF token.

mod handlers;
pub mod session;
mod view;

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::api::ApiState;
use super::{Approvals, ApproveError};
use crate::audit::Audit;
use crate::config::Config;
use crate::draft::Templates;
use crate::http::{ApiError, Tokens};
use crate::publish::outbox::health::Health;
use crate::signals::Signals;
use crate::store::{Store, StoreError};
pub use session::Sessions;

const STYLE: &str = include_str!("../../../templates/board/style.css");

#[derive(Clone)]
pub struct BoardState {
    /// What the management API has: the board decides through the same approvals.
    pub api: ApiState,
    pub sessions: Sessions,
    /// External targets' breakers, for the target banners.
    pub health: Option<Health>,
    pub templates: Arc<Templates>,
    pub page_name: String,
}

crate::edge_state!(BoardState, via api);

/// What the board takes from the rest of the service.
pub struct Wiring {
    pub approvals: Approvals,
    pub tokens: Tokens,
    pub signals: Signals,
    pub health: Health,
    pub templates: Arc<Templates>,
}

/// The board as `internal_board` says: its routes, or none when it is off.
pub fn configured(config: &Config, store: &Store, w: Wiring) -> Result<Router, StoreError> {
    if !config.internal_board.enabled {
        return Ok(Router::new());
    }
    let secure = config.public_url.starts_with("https://");
    let api = ApiState {
        approvals: w.approvals,
        audit: Audit::open(store)?,
        tokens: w.tokens,
        max_body: config.max_body.0,
        signals: w.signals,
    };
    Ok(router(BoardState {
        api,
        sessions: Sessions::open(store, config.internal_board.session.as_std(), secure)?,
        health: Some(w.health),
        templates: w.templates,
        page_name: config.page.name.clone(),
    }))
}

pub fn router(state: BoardState) -> Router {
    Router::new()
        .route("/internal", get(handlers::board))
        .route("/internal/", get(handlers::board))
        .route("/internal/board.css", get(style))
        .route(
            "/internal/login",
            get(handlers::login_form).post(handlers::login),
        )
        .route("/internal/logout", post(handlers::logout))
        .route("/internal/incidents", post(handlers::declare))
        .route("/internal/incidents/{id}/resolve", post(handlers::resolve))
        .route("/internal/drafts/{id}", get(handlers::draft_page))
        .route("/internal/drafts/{id}/edit", post(handlers::edit))
        .route("/internal/drafts/{id}/approve", post(handlers::approve))
        .route("/internal/drafts/{id}/reject", post(handlers::reject))
        .layer(axum::middleware::map_response(staff_headers))
        .with_state(state)
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// Staff pages are never cached, framed, or allowed to load anything from elsewhere.
async fn staff_headers(mut response: Response) -> Response {
    crate::http::fixed_headers(
        response.headers_mut(),
        &[
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
    );
    response
}

/// Why a board request was not served: sign in first, or an error page with its status.
#[derive(Debug)]
pub enum BoardError {
    SignIn,
    Page { status: StatusCode, message: String },
}

impl BoardError {
    pub fn forbidden(m: impl Into<String>) -> Self {
        BoardError::Page {
            status: StatusCode::FORBIDDEN,
            message: m.into(),
        }
    }
}

impl From<ApiError> for BoardError {
    fn from(e: ApiError) -> Self {
        BoardError::Page {
            status: e.status,
            message: e.message,
        }
    }
}

impl From<StoreError> for BoardError {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ApproveError> for BoardError {
    fn from(e: ApproveError) -> Self {
        ApiError::from(e).into()
    }
}

/// Escapes text for HTML (the error page is the one page not made by a template).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

impl IntoResponse for BoardError {
    fn into_response(self) -> Response {
        match self {
            BoardError::SignIn => Redirect::to("/internal/login").into_response(),
            BoardError::Page { status, message } => {
                let html = format!(
                    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                     <title>{code} · Internal board</title><link rel=\"stylesheet\" href=\"/internal/board.css\"><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\"></head>\
                     <body><main><h1>{code}</h1><p class=\"notice notice-error\" role=\"alert\">{message}</p>\
                     <p><a href=\"/internal\">Back to the board</a></p></main></body></html>",
                    code = status.as_u16(),
                    message = escape(&message),
                );
                let mut r = (status, axum::response::Html(html)).into_response();
                if status == StatusCode::UNAUTHORIZED {
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                }
                if let StatusCode::SERVICE_UNAVAILABLE = status {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                r
            }
        }
    }
}

impl BoardState {
    /// A page from `templates/board/<name>.hbs` with `status`.
    fn page(&self, name: &str, status: StatusCode, data: &Value) -> Response {
        match self.templates.render_html(&format!("board/{name}"), data) {
            Ok(html) => (status, axum::response::Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "board template failed");
                BoardError::Page {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "the board could not be drawn; see the server log".into(),
                }
                .into_response()
            }
        }
    }
}
