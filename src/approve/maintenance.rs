//! The management API for scheduled maintenance (`/api/v1/maintenances`, admin to change,
//! reader to read) and for the alerts maintenance held back (`/api/v1/suppressed`).
//! Maintenance is planned, so it is published without a draft; every change is in the
//! audit log instead.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use super::Approvals;
use crate::group::suppressed::SuppressedAlert;
use crate::group::suppressed::Suppressions;
use crate::http::Tokens;
use crate::http::{
    endpoint, Admin, ById, Caller, ErrorBody, JsonBody, MaintenanceId, NoMaintenance, OrMissing,
    Reader,
};
use crate::publish::{Maintenance, MaintenanceError, MaintenancePatch, NewMaintenance};

#[derive(Clone)]
pub struct MaintenanceApi {
    pub approvals: Approvals,
    pub suppressions: Suppressions,
    pub tokens: Tokens,
    pub max_body: usize,
}

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(paths(
    list_maintenances,
    get_maintenance,
    create_maintenance,
    update_maintenance,
    delete_maintenance,
    list_suppressed
))]
pub struct ApiDoc;

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct MaintenanceList {
    maintenances: Vec<Maintenance>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct DeletedMaintenance {
    /// The maintenance as it was.
    deleted: Maintenance,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct SuppressedList {
    suppressed: Vec<SuppressedAlert>,
}

crate::edge_state!(MaintenanceApi);

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

crate::error_statuses!(MaintenanceError {
    NotFound => not_found,
    Conflict => conflict,
    Invalid => unprocessable,
});

endpoint! {
    /// Every maintenance, scheduled, active and past.
    get("/api/v1/maintenances", tag = "maintenance", responses(
        (status = 200, description = "Maintenances", body = MaintenanceList),
    ))
    async fn list_maintenances(_caller: Caller<Reader>, State(s): State<MaintenanceApi>) {
        let all = s.approvals.public().maintenances()?;
        Ok(Json(json!({ "maintenances": all })).into_response())
    }
}

endpoint! {
    /// One maintenance with its timeline.
    get("/api/v1/maintenances/{id}", tag = "maintenance", params(MaintenanceId), responses(
        (status = 200, description = "The maintenance", body = Maintenance),
        NoMaintenance,
    ))
    async fn get_maintenance(ById(_, s, id): ById<Reader, MaintenanceApi>) {
        let m = s
            .approvals
            .public()
            .maintenance(&id)?
            .or_missing("maintenance", &id)?;
        Ok(Json(m).into_response())
    }
}

endpoint! {
    /// Schedules maintenance. It is published at once, without a draft (planned work); the
    /// change is in the audit log. Title and body are redacted like drafts. `name`, `start`
    /// and `end` are accepted for `title`, `scheduled_for` and `scheduled_until`.
    post("/api/v1/maintenances", tag = "maintenance", request_body = NewMaintenance, responses(
        (status = 201, description = "The scheduled maintenance", body = Maintenance),
    ))
    async fn create_maintenance(
        caller: Caller<Admin>,
        State(s): State<MaintenanceApi>,
        JsonBody(mut req): JsonBody<NewMaintenance>,
    ) {
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
}

endpoint! {
    /// Changes a maintenance; a `body` adds an update to its timeline, a `status` starts or
    /// finishes it early.
    patch("/api/v1/maintenances/{id}", tag = "maintenance", params(MaintenanceId), request_body = MaintenancePatch, responses(
        (status = 200, description = "The maintenance as changed", body = Maintenance),
        NoMaintenance,
        (status = 409, description = "Completed, or moving the start of one that has started", body = ErrorBody),
    ))
    async fn update_maintenance(
        ById(caller, s, id): ById<Admin, MaintenanceApi>,
        JsonBody(mut patch): JsonBody<MaintenancePatch>,
    ) {
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
}

endpoint! {
    /// Cancels a maintenance that has not started and removes it from the page.
    delete("/api/v1/maintenances/{id}", tag = "maintenance", params(MaintenanceId), responses(
        (status = 200, description = "Deleted", body = DeletedMaintenance),
        NoMaintenance,
        (status = 409, description = "Only a scheduled maintenance can be deleted", body = ErrorBody),
    ))
    async fn delete_maintenance(ById(caller, s, id): ById<Admin, MaintenanceApi>) {
        let m = s
            .approvals
            .public()
            .delete_maintenance(&id, &caller.name, Utc::now())
            .await?;
        Ok(Json(json!({ "deleted": m })).into_response())
    }
}

endpoint! {
    /// Alerts that maintenance held back from drafting, with their latest delivery.
    get("/api/v1/suppressed", tag = "maintenance", responses(
        (status = 200, description = "Suppressed alerts", body = SuppressedList),
    ))
    async fn list_suppressed(_caller: Caller<Reader>, State(s): State<MaintenanceApi>) {
        let all = s.suppressions.list()?;
        Ok(Json(json!({ "suppressed": all })).into_response())
    }
}
