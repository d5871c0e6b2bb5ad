//! HTTP for a maintenance's deliveries to external targets: what went where
//! (`GET /api/v1/maintenances/{id}/deliveries`, reader), an admin's retry after a failure
//! and an admin's choice on a hand edit (`POST …/retry`, `POST …/resolve-conflict`). They
//! answer for a cancelled maintenance too, as long as something was queued for it.

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::delivery::{record_key, refresh, thread, MaintenanceDelivery};
use crate::audit::AuditEntry;
use crate::http::Tokens;
use crate::http::{
    endpoint, Admin, ApiError, ById, ErrorBody, JsonBody, MaintenanceId, NoMaintenance, OrMissing,
    Reader,
};
use crate::publish::api::{delivery_view, ResolveBody};
use crate::publish::outbox::health::Health;
use crate::publish::outbox::{Entry, EntryState, Outbox};
use crate::publish::PublicState;
use utoipa::{OpenApi, ToSchema};

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(paths(
    maintenance_deliveries,
    retry_maintenance,
    resolve_maintenance_conflict
))]
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
        .route(
            "/api/v1/maintenances/{id}/deliveries",
            get(maintenance_deliveries),
        )
        .route("/api/v1/maintenances/{id}/retry", post(retry_maintenance))
        .route(
            "/api/v1/maintenances/{id}/resolve-conflict",
            post(resolve_maintenance_conflict),
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

/// An entry as a draft's deliveries show it, and which change of the maintenance it sends.
fn view(e: &Entry, report: &Value) -> Value {
    let mut v = delivery_view(e, report);
    v["event"] = json!(e.publication().map(|p| p.kind.type_name()));
    v
}

endpoint! {
    get("/api/v1/maintenances/{id}/deliveries", tag = "maintenance", params(MaintenanceId), responses(
        (status = 200, description = "Delivery state and entries", body = MaintenanceDeliveries),
        NoMaintenance,
    ))
    async fn maintenance_deliveries(ById(_, s, id): ById<Reader, MaintenanceDeliveryApi>) {
        let list = entries(&s, &id)?;
        let report = s.health.report();
        Ok(Json(json!({
            "maintenance_id": id,
            "delivery": delivery(&s, &id)?,
            "deliveries": list.iter().map(|e| view(e, &report)).collect::<Vec<_>>(),
        }))
        .into_response())
    }
}

endpoint! {
    post("/api/v1/maintenances/{id}/retry", tag = "maintenance", params(MaintenanceId), responses(
        (status = 200, description = "The maintenance, its failed deliveries pending again", body = crate::publish::maintenance::Maintenance),
        NoMaintenance,
        (status = 409, description = "Nothing failed to retry", body = ErrorBody),
    ))
    async fn retry_maintenance(ById(caller, s, id): ById<Admin, MaintenanceDeliveryApi>) {
        decide(&s, &id, &caller.name, EntryState::Failed, |failed, now| {
            if failed.is_empty() {
                return Err(ApiError::conflict(format!(
                    "maintenance {id} has no failed delivery to retry"
                )));
            }
            for e in failed.iter_mut() {
                e.retry_now(now);
                s.health.reset(&e.target);
            }
            let targets: Vec<&str> = failed.iter().map(|e| e.target.as_str()).collect();
            Ok(AuditEntry::new(now, &caller.name, "retry")
                .detail(json!({"maintenance_id": id, "targets": targets})))
        })
        .await
    }
}

endpoint! {
    post("/api/v1/maintenances/{id}/resolve-conflict", tag = "maintenance", params(MaintenanceId), request_body = ResolveBody, responses(
        (status = 200, description = "The maintenance, its held deliveries pending again", body = crate::publish::maintenance::Maintenance),
        NoMaintenance,
        (status = 409, description = "The maintenance has no conflict", body = ErrorBody),
    ))
    async fn resolve_maintenance_conflict(
        ById(caller, s, id): ById<Admin, MaintenanceDeliveryApi>,
        JsonBody(req): JsonBody<ResolveBody>,
    ) {
        decide(&s, &id, &caller.name, EntryState::Conflict, |held, now| {
            let Some(conflict) = held.first().and_then(|e| e.conflict.clone()) else {
                return Err(ApiError::conflict(format!(
                    "maintenance {id} has no conflict to resolve"
                )));
            };
            for e in held.iter_mut() {
                e.settle_with(req.choice, now);
            }
            Ok(AuditEntry::new(now, &caller.name, "conflict_resolved")
                .detail(json!({"maintenance_id": id, "choice": req.choice, "conflict": conflict})))
        })
        .await
    }
}

/// An admin's decision on the maintenance's entries in `state`: `choose` changes them and
/// writes the audit entry (or refuses, when there is nothing to decide); then they are
/// stored, the maintenance's delivery record refreshed and the outbox woken.
async fn decide(
    s: &MaintenanceDeliveryApi,
    id: &str,
    actor: &str,
    state: EntryState,
    choose: impl FnOnce(&mut [Entry], DateTime<Utc>) -> Result<AuditEntry, ApiError>,
) -> Result<Response, ApiError> {
    // One decision at a time, shared with drafts' retries and conflicts.
    let _one = crate::publish::outbox::decide::DECIDING.lock().await;
    let mut chosen: Vec<Entry> = entries(s, id)?
        .into_iter()
        .filter(|e| e.state == state)
        .collect();
    let audit = choose(&mut chosen, Utc::now())?;
    s.outbox.settle(&chosen, &[audit])?;
    s.outbox.store().durable().await?;
    refresh(&s.outbox, &s.public, id, actor).await?;
    s.outbox.wake();
    answer(s, id)
}

/// The maintenance as it now stands, or (cancelled) its delivery state alone.
fn answer(s: &MaintenanceDeliveryApi, id: &str) -> Result<Response, ApiError> {
    Ok(match s.public.maintenance(id)? {
        Some(m) => Json(m).into_response(),
        None => Json(json!({"maintenance_id": id, "delivery": delivery(s, id)?})).into_response(),
    })
}
