//! The management API for scheduled maintenance (`/api/v1/maintenances`, admin to change,
//! reader to read) and for the alerts maintenance held back (`/api/v1/suppressed`).
//! Maintenance is planned, so it is published without a draft; every change is in the
//! audit log instead.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;

use super::Approvals;
use crate::auth::Tokens;
use crate::config::Role;
use crate::error::{parse_json, ApiError};
use crate::group::suppressed::Suppressions;
use crate::ingest::read_json_body;
use crate::publish::{MaintenanceError, MaintenancePatch, NewMaintenance};

#[derive(Clone)]
pub struct MaintenanceApi {
    pub approvals: Approvals,
    pub suppressions: Suppressions,
    pub tokens: Tokens,
    pub max_body: usize,
}

pub fn router(state: MaintenanceApi) -> Router {
    Router::new()
        .route(
            "/api/v1/maintenances",
            get(list_maintenances).post(create_maintenance),
        )
        .route(
            "/api/v1/maintenances/{id}",
            get(get_maintenance)
                .patch(update_maintenance)
                .delete(delete_maintenance),
        )
        .route("/api/v1/suppressed", get(list_suppressed))
        .with_state(state)
}

impl From<MaintenanceError> for ApiError {
    fn from(e: MaintenanceError) -> Self {
        match e {
            MaintenanceError::NotFound(_) => ApiError::not_found(e.to_string()),
            MaintenanceError::Conflict(m) => ApiError::conflict(m),
            MaintenanceError::Invalid(m) => ApiError::unprocessable(m),
            MaintenanceError::Store(e) => e.into(),
        }
    }
}

async fn list_maintenances(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let all = s.approvals.public().maintenances()?;
    Ok(Json(json!({ "maintenances": all })).into_response())
}

async fn get_maintenance(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let m = s
        .approvals
        .public()
        .maintenance(&id)?
        .ok_or_else(|| ApiError::not_found(format!("maintenance {id} does not exist")))?;
    Ok(Json(m).into_response())
}

async fn create_maintenance(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let mut req: NewMaintenance = parse_json(&bytes)?;
    // Public text passes the same redaction as every draft.
    let redactor = s.approvals.drafts().redactor();
    req.title = redactor.redact(&req.title);
    req.body = redactor.redact(&req.body);
    let m = s
        .approvals
        .public()
        .create_maintenance(req, &caller.name, Utc::now())
        .await?;
    tracing::info!(maintenance = %m.id, status = %m.status, "maintenance scheduled");
    Ok((StatusCode::CREATED, Json(m)).into_response())
}

async fn update_maintenance(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let mut patch: MaintenancePatch = parse_json(&bytes)?;
    let redactor = s.approvals.drafts().redactor();
    patch.title = patch.title.map(|t| redactor.redact(&t));
    patch.body = patch.body.map(|b| redactor.redact(&b));
    let m = s
        .approvals
        .public()
        .update_maintenance(&id, patch, &caller.name, Utc::now())
        .await?;
    Ok(Json(m).into_response())
}

async fn delete_maintenance(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let m = s
        .approvals
        .public()
        .delete_maintenance(&id, &caller.name, Utc::now())
        .await?;
    Ok(Json(json!({ "deleted": m })).into_response())
}

async fn list_suppressed(
    State(s): State<MaintenanceApi>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let all = s.suppressions.list()?;
    Ok(Json(json!({ "suppressed": all })).into_response())
}
