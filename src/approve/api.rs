//! The management API under `/api/v1`: drafts, incidents, components, audit.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Approvals, ApproveError, DraftPatch};
use crate::audit::Audit;
use crate::auth::Tokens;
use crate::config::Role;
use crate::error::{parse_json, ApiError};
use crate::ingest::read_json_body;
use crate::vocab::DraftState;

#[derive(Clone)]
pub struct ApiState {
    pub approvals: Approvals,
    pub audit: Audit,
    pub tokens: Tokens,
    pub max_body: usize,
    pub signals: crate::signals::Signals,
}

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/drafts", get(list_drafts))
        .route("/api/v1/drafts/{id}", get(get_draft).patch(edit_draft))
        .route("/api/v1/drafts/{id}/approve", post(approve_draft))
        .route("/api/v1/drafts/{id}/reject", post(reject_draft))
        .route("/api/v1/incidents", get(list_incidents))
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/components", get(list_components))
        .route("/api/v1/audit", get(list_audit))
        .with_state(state)
}

impl From<ApproveError> for ApiError {
    fn from(e: ApproveError) -> Self {
        match e {
            ApproveError::NotFound(_) => ApiError::not_found(e.to_string()),
            ApproveError::NotPending { .. } => ApiError::conflict(e.to_string()),
            ApproveError::Stale { ref current } => {
                let draft = serde_json::to_value(current).unwrap_or_default();
                ApiError::conflict(e.to_string()).with(json!({
                    "current_revision": current.revision,
                    "draft": draft,
                }))
            }
            ApproveError::Invalid(m) => ApiError::unprocessable(m),
            ApproveError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftQuery {
    state: Option<String>,
}

async fn list_drafts(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<DraftQuery>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some(word) => Some(
            word.parse::<DraftState>()
                .map_err(|e| ApiError::unprocessable(e.to_string()))?,
        ),
    };
    let drafts = s.approvals.drafts().list(state)?;
    Ok(Json(json!({ "drafts": drafts, "banners": s.signals.banners() })).into_response())
}

async fn get_draft(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let draft = s
        .approvals
        .drafts()
        .get(&id)?
        .ok_or_else(|| ApiError::not_found(format!("draft {id} does not exist")))?;
    Ok(Json(draft).into_response())
}

async fn edit_draft(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Approver)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let patch: DraftPatch = parse_json(&bytes)?;
    let draft = s.approvals.edit(&id, patch, &caller.name).await?;
    Ok(Json(draft).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    revision: u32,
}

async fn approve_draft(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Approver)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let req: ApproveBody = parse_json(&bytes)?;
    let (draft, incident) = s.approvals.approve(&id, req.revision, &caller.name).await?;
    Ok(Json(json!({ "draft": draft, "incident": incident })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: Option<String>,
}

async fn reject_draft(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Approver)?;
    // A reason is optional, and so is a body at all.
    let empty = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .is_some_and(|v| v == "0")
        || headers.get(axum::http::header::CONTENT_TYPE).is_none();
    let req: RejectBody = if empty {
        RejectBody::default()
    } else {
        let bytes = read_json_body(&headers, body, s.max_body).await?;
        if bytes.is_empty() {
            RejectBody::default()
        } else {
            parse_json(&bytes)?
        }
    };
    let draft = s.approvals.reject(&id, req.reason, &caller.name).await?;
    Ok(Json(draft).into_response())
}

async fn list_incidents(
    State(s): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let incidents = s.approvals.public().incidents()?;
    Ok(Json(json!({ "incidents": incidents })).into_response())
}

async fn get_incident(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let incident = s
        .approvals
        .public()
        .incident(&id)?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} does not exist")))?;
    Ok(Json(incident).into_response())
}

async fn list_components(
    State(s): State<ApiState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let components = s.approvals.public().components()?;
    Ok(Json(json!({ "components": components })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<usize>,
    before: Option<String>,
    draft_id: Option<String>,
    action: Option<String>,
}

async fn list_audit(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let entries = s.audit.list(
        q.before.as_deref(),
        limit,
        q.draft_id.as_deref(),
        q.action.as_deref(),
    )?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq.clone()))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next_before": next })).into_response())
}
