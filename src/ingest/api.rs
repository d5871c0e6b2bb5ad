//! `GET /api/v1/alerts[/{key}]`: what statusgate received, as recorded — the first thing an
//! operator asks when a page did not change ("did the alert even arrive, and where did the
//! catalog send it?"). Readers may look.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Alert, Recorder};
use crate::catalog::CatalogHandle;
use crate::catalog::Routing;
use crate::http::ErrorBody;
use crate::http::Tokens;
use crate::http::{endpoint, ApiError, ById, Caller, Query, Reader};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(paths(list_alerts, get_alert))]
pub struct ApiDoc;

/// One recorded alert and where the catalog sends it now.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handlers write; only its schema is used.
struct AlertView {
    alert: Alert,
    /// `{"outcome": "mapped", "components": {…}, "routes": […]}`, `{"outcome": "ignored",
    /// "route": …}` or `{"outcome": "unmapped"}`.
    #[schema(value_type = Object)]
    routing: serde_json::Value,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct AlertList {
    alerts: Vec<AlertView>,
}

#[derive(Clone)]
pub struct AlertsApi {
    pub recorder: Recorder,
    pub tokens: Tokens,
    pub catalog: CatalogHandle,
}

impl axum::extract::FromRef<AlertsApi> for Tokens {
    fn from_ref(s: &AlertsApi) -> Self {
        s.tokens.clone()
    }
}

pub fn router(state: AlertsApi) -> Router {
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/{key}", get(get_alert))
        .with_state(state)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `firing` (default), `resolved` or `all`.
    state: Option<String>,
    limit: Option<usize>,
    /// Only keys after this one (the last key of the previous page).
    after: Option<String>,
}

fn routing(catalog: &CatalogHandle, alert: &Alert) -> serde_json::Value {
    match catalog.current().route(&alert.labels) {
        Routing::Mapped { components, routes } => {
            json!({"outcome": "mapped", "components": components, "routes": routes})
        }
        Routing::Ignored { route } => json!({"outcome": "ignored", "route": route}),
        Routing::Unmapped => json!({"outcome": "unmapped"}),
    }
}

endpoint! {
    get("/api/v1/alerts", tag = "alerts", params(ListQuery), responses(
        (status = 200, description = "Recorded alerts in key order", body = AlertList),
        (status = 422, description = "Unknown state or parameter", body = ErrorBody),
    ))
    async fn list_alerts(
        _caller: Caller<Reader>,
        State(s): State<AlertsApi>,
        Query(q): Query<ListQuery>,
    ) {
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let keep: fn(&Alert) -> bool = match q.state.as_deref().unwrap_or("firing") {
            "firing" => |a| a.is_firing(),
            "resolved" => |a| !a.is_firing(),
            "all" => |_| true,
            other => {
                return Err(ApiError::unprocessable(format!(
                    "unknown state `{other}` (firing, resolved or all)"
                )))
            }
        };
        let alerts: Vec<serde_json::Value> = s
            .recorder
            .all(limit, keep, q.after.as_deref())?
            .into_iter()
            .map(|a| {
                let r = routing(&s.catalog, &a);
                json!({"alert": a, "routing": r})
            })
            .collect();
        Ok(Json(json!({ "alerts": alerts })).into_response())
    }
}

endpoint! {
    get("/api/v1/alerts/{key}", tag = "alerts", params(("key" = String, Path, description = "am:<fingerprint> or pd:<incident id>")), responses(
        (status = 200, description = "The alert as last recorded", body = AlertView),
        (status = 404, description = "Never received", body = ErrorBody),
    ))
    async fn get_alert(ById(_, s, key): ById<Reader, AlertsApi>) {
        let alert = s.recorder.known(&key)?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no alert `{key}` was received (keys are am:<fingerprint> or pd:<incident id>)"
            ))
        })?;
        let r = routing(&s.catalog, &alert);
        Ok(Json(json!({"alert": alert, "routing": r})).into_response())
    }
}
