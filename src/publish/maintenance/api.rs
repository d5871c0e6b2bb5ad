//! HTTP for a maintenance's deliveries to external targets: what went where
//! (`GET /api/v1/maintenances/{id}/deliveries`, reader), an admin's retry after a failure
//! and an admin's choice on a hand edit (`POST …/retry`, `POST …/resolve-conflict`). They
//! answer for a cancelled maintenance too, as long as something was queued for it.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::delivery::{record_key, refresh, thread, MaintenanceDelivery};
use crate::audit::AuditEntry;
use crate::http::Tokens;
use crate::http::{
    Admin, ApiError, Caller, ErrorBody, JsonBody, MaintenanceId, NoMaintenance, OrMissing, Path,
    Reader,
};
use crate::publish::outbox::health::Health;
use crate::publish::outbox::{Choice, Entry, EntryState, Outbox};
use crate::publish::PublicState;
use utoipa::{OpenApi, ToSchema};

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(paths(deliveries, retry, resolve_conflict))]
pub struct ApiDoc;

/// A maintenance's deliveries to external targets.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct MaintenanceDeliveries {
    maintenance_id: String,
    delivery: Option<MaintenanceDelivery>,
    /// One outbox entry per change and target, with its attempts.
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<Value>,
}

#[derive(Clone)]
pub struct MaintenanceDeliveryApi {
    pub outbox: Outbox,
    pub public: PublicState,
    pub tokens: Tokens,
    pub health: Health,
    pub max_body: usize,
}

crate::edge_state!(MaintenanceDeliveryApi);

pub fn router(state: MaintenanceDeliveryApi) -> Router {
    Router::new()
        .route("/api/v1/maintenances/{id}/deliveries", get(deliveries))
        .route("/api/v1/maintenances/{id}/retry", post(retry))
        .route(
            "/api/v1/maintenances/{id}/resolve-conflict",
            post(resolve_conflict),
        )
        .with_state(state)
}

/// The maintenance's entries, or 404 when it neither exists nor ever queued anything.
fn entries(s: &MaintenanceDeliveryApi, id: &str) -> Result<Vec<Entry>, ApiError> {
    let list = s.outbox.for_thread(&thread(id))?;
    if list.is_empty() {
        s.public.maintenance(id)?.or_missing("maintenance", id)?;
    }
    Ok(list)
}

fn delivery(s: &MaintenanceDeliveryApi, id: &str) -> Result<Option<MaintenanceDelivery>, ApiError> {
    Ok(s.outbox.record(&record_key(id))?)
}

fn view(e: &Entry, report: &Value) -> Value {
    json!({
        "id": e.id,
        "key": e.key,
        "target": e.target,
        "event": e.publication().map(|p| p.kind.type_name()),
        "state": e.state,
        "attempts": e.attempts,
        "last_error": e.last_error,
        "next_attempt_at": (e.state == EntryState::Pending).then_some(e.next_attempt_at),
        "conflict": e.conflict,
        "choice": e.choice,
        "created_at": e.created_at,
        "finished_at": e.finished_at,
        "note": e.note,
        "breaker": report["targets"].get(&e.target).map(|t| t["state"].clone()),
        "log": e.log,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/maintenances/{id}/deliveries",
    operation_id = "maintenance_deliveries",
    tag = "maintenance",
    params(MaintenanceId),
    responses(
        (status = 200, description = "Delivery state and entries", body = MaintenanceDeliveries),
        NoMaintenance,
    ),
    security(("bearer" = ["reader"])),
)]
async fn deliveries(
    _caller: Caller<Reader>,
    State(s): State<MaintenanceDeliveryApi>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let list = entries(&s, &id)?;
    let report = s.health.report();
    Ok(Json(json!({
        "maintenance_id": id,
        "delivery": delivery(&s, &id)?,
        "deliveries": list.iter().map(|e| view(e, &report)).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/maintenances/{id}/retry",
    operation_id = "retry_maintenance",
    tag = "maintenance",
    params(MaintenanceId),
    responses(
        (status = 200, description = "The maintenance, its failed deliveries pending again", body = crate::publish::maintenance::Maintenance),
        NoMaintenance,
        (status = 409, description = "Nothing failed to retry", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])),
)]
async fn retry(
    caller: Caller<Admin>,
    State(s): State<MaintenanceDeliveryApi>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // One decision at a time, shared with drafts' retries and conflicts.
    let _one = crate::publish::outbox::decide::DECIDING.lock().await;
    let mut failed: Vec<Entry> = entries(&s, &id)?
        .into_iter()
        .filter(|e| e.state == EntryState::Failed)
        .collect();
    if failed.is_empty() {
        return Err(ApiError::conflict(format!(
            "maintenance {id} has no failed delivery to retry"
        )));
    }
    let now = Utc::now();
    for e in &mut failed {
        e.retry_now(now);
        s.health.reset(&e.target);
    }
    let targets: Vec<&str> = failed.iter().map(|e| e.target.as_str()).collect();
    let audit = AuditEntry::new(now, &caller.name, "retry")
        .detail(json!({"maintenance_id": id, "targets": targets}));
    s.outbox.settle(&failed, &[audit])?;
    s.outbox.store().durable().await?;
    refresh(&s.outbox, &s.public, &id, &caller.name).await?;
    s.outbox.wake();
    answer(&s, &id)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `overwrite` (send ours) or `theirs` (keep the hand edit).
    choice: Choice,
}

#[utoipa::path(
    post,
    path = "/api/v1/maintenances/{id}/resolve-conflict",
    operation_id = "resolve_maintenance_conflict",
    tag = "maintenance",
    params(MaintenanceId),
    request_body = ResolveBody,
    responses(
        (status = 200, description = "The maintenance, its held deliveries pending again", body = crate::publish::maintenance::Maintenance),
        NoMaintenance,
        (status = 409, description = "The maintenance has no conflict", body = ErrorBody),
    ),
    security(("bearer" = ["admin"])),
)]
async fn resolve_conflict(
    caller: Caller<Admin>,
    State(s): State<MaintenanceDeliveryApi>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResolveBody>,
) -> Result<Response, ApiError> {
    let _one = crate::publish::outbox::decide::DECIDING.lock().await;
    let mut held: Vec<Entry> = entries(&s, &id)?
        .into_iter()
        .filter(|e| e.state == EntryState::Conflict)
        .collect();
    let Some(conflict) = held.first().and_then(|e| e.conflict.clone()) else {
        return Err(ApiError::conflict(format!(
            "maintenance {id} has no conflict to resolve"
        )));
    };
    let now = Utc::now();
    for e in &mut held {
        e.settle_with(req.choice, now);
    }
    let audit = AuditEntry::new(now, &caller.name, "conflict_resolved")
        .detail(json!({"maintenance_id": id, "choice": req.choice, "conflict": conflict}));
    s.outbox.settle(&held, &[audit])?;
    s.outbox.store().durable().await?;
    refresh(&s.outbox, &s.public, &id, &caller.name).await?;
    s.outbox.wake();
    answer(&s, &id)
}

/// The maintenance as it now stands, or (cancelled) its delivery state alone.
fn answer(s: &MaintenanceDeliveryApi, id: &str) -> Result<Response, ApiError> {
    Ok(match s.public.maintenance(id)? {
        Some(m) => Json(m).into_response(),
        None => Json(json!({"maintenance_id": id, "delivery": delivery(s, id)?})).into_response(),
    })
}
