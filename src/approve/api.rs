//! The management API under `/api/v1`: drafts, incidents, components, audit.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::budget::DraftView;
use super::incident_drafts::create_incident_draft;
use super::{Approvals, ApproveError, DraftPatch};
use crate::audit::Audit;
use crate::audit::Positioned;
use crate::draft::Draft;
use crate::http::Tokens;
use crate::http::{
    endpoint, ApiError, Approver, ById, Caller, DraftId, ErrorBody, IncidentId, JsonBody,
    JsonOrEmpty, NoDraft, NoIncident, OrMissing, Query, Reader,
};
use crate::publish::{Incident, PublicComponent};
use crate::vocab::DraftState;

#[derive(Clone)]
pub struct ApiState {
    pub approvals: Approvals,
    pub audit: Audit,
    pub tokens: Tokens,
    pub max_body: usize,
    pub signals: crate::signals::Signals,
}

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_drafts,
        get_draft,
        edit_draft,
        approve_draft,
        reject_draft,
        list_incidents,
        get_incident,
        list_components,
        list_audit
    ),
    components(schemas(AuditAction))
)]
pub struct ApiDoc;

crate::edge_state!(ApiState);

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/drafts", get(list_drafts))
        .route("/api/v1/drafts/{id}", get(get_draft).patch(edit_draft))
        .route("/api/v1/drafts/{id}/approve", post(approve_draft))
        .route("/api/v1/drafts/{id}/reject", post(reject_draft))
        .route(
            "/api/v1/incidents",
            get(list_incidents).post(super::declare::declare_incident),
        )
        .route("/api/v1/incidents/{id}", get(get_incident))
        .route("/api/v1/incidents/{id}/drafts", post(create_incident_draft))
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

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DraftQuery {
    /// Only drafts in this state; all when absent or empty.
    #[param(value_type = Option<DraftState>)]
    state: Option<String>,
    /// At most this many alerts per draft, the first in the draft's order; every draft's
    /// `alert_count` still counts them all. A list during a storm of thousands of alerts
    /// stays small with `alerts=0`.
    alerts: Option<usize>,
}

/// What `GET /api/v1/drafts` answers.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct DraftList {
    drafts: Vec<DraftView>,
    /// What approvers must know now: an open storm breaker, a silent watchdog.
    banners: Vec<Banner>,
}

/// A notice for approvers (`signals::Signals::banners`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON `Signals::banners` writes.
struct Banner {
    /// `storm_breaker_open` or `watchdog_silent`; further fields depend on it.
    kind: String,
    message: String,
}

/// What `POST /api/v1/drafts/{id}/approve` answers.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Approved {
    draft: Draft,
    /// The incident as published.
    incident: Incident,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct IncidentList {
    incidents: Vec<Incident>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct ComponentList {
    components: Vec<PublicComponent>,
}

/// One page of the audit log, newest first.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct AuditPage {
    entries: Vec<Positioned>,
    /// Pass as `before` for the next page; null on the last one.
    next_before: Option<String>,
}

endpoint! {
    /// Drafts, newest first, with the approvers' banners.
    get("/api/v1/drafts", tag = "drafts", params(DraftQuery), responses(
        (status = 200, description = "Drafts, newest first", body = DraftList),
        (status = 422, description = "Unknown state word", body = ErrorBody),
    ))
    async fn list_drafts(
        _caller: Caller<Reader>,
        State(s): State<ApiState>,
        Query(q): Query<DraftQuery>,
    ) {
        let state = match q.state.as_deref() {
            None | Some("") => None,
            Some(word) => Some(
                word.parse::<DraftState>()
                    .map_err(|e| ApiError::unprocessable(e.to_string()))?,
            ),
        };
        let drafts: Vec<DraftView> = s
            .approvals
            .drafts()
            .list(state)?
            .into_iter()
            .map(|d| s.approvals.view_trimmed(d, q.alerts))
            .collect();
        Ok(Json(json!({ "drafts": drafts, "banners": s.signals.banners() })).into_response())
    }
}

endpoint! {
    /// One draft, with its alerts, history, earlier revisions and the error budgets it affects.
    get("/api/v1/drafts/{id}", tag = "drafts", params(DraftId), responses(
        (status = 200, description = "The draft", body = DraftView),
        NoDraft,
    ))
    async fn get_draft(ById(_, s, id): ById<Reader, ApiState>) {
        let draft = s.approvals.drafts().get(&id)?.or_missing("draft", &id)?;
        Ok(Json(s.approvals.view(draft)).into_response())
    }
}

endpoint! {
    /// Edits a pending draft: a new revision, edited text redacted, the editor recorded.
    patch("/api/v1/drafts/{id}", tag = "drafts", params(DraftId), request_body = DraftPatch, responses(
        (status = 200, description = "The draft at its new revision", body = Draft),
        NoDraft,
        (status = 409, description = "Not pending, or `revision` is not the current one (the answer carries `current_revision` and `draft`)", body = ErrorBody),
    ))
    async fn edit_draft(
        ById(caller, s, id): ById<Approver, ApiState>,
        JsonBody(patch): JsonBody<DraftPatch>,
    ) {
        let draft = s.approvals.edit(&id, patch, &caller.name).await?;
        Ok(Json(draft).into_response())
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// The revision the approver read; any other is refused with 409.
    revision: u32,
}

endpoint! {
    /// Approves the revision the approver saw and publishes it.
    post("/api/v1/drafts/{id}/approve", tag = "drafts", params(DraftId), request_body = ApproveBody, responses(
        (status = 200, description = "Published: the draft and the incident as published", body = Approved),
        NoDraft,
        (status = 409, description = "Not pending, or a stale revision (the answer carries `current_revision` and `draft`)", body = ErrorBody),
    ))
    async fn approve_draft(
        ById(caller, s, id): ById<Approver, ApiState>,
        JsonBody(req): JsonBody<ApproveBody>,
    ) {
        let (draft, incident) = s.approvals.approve(&id, req.revision, &caller.name).await?;
        Ok(Json(json!({ "draft": draft, "incident": incident })).into_response())
    }
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    /// Why, for the audit log and the other approvers.
    reason: Option<String>,
}

endpoint! {
    /// Rejects a pending draft; nothing is published. The body is optional.
    post("/api/v1/drafts/{id}/reject", tag = "drafts", params(DraftId), request_body(content = Option<RejectBody>, description = "Optional; an empty body rejects without a reason"), responses(
        (status = 200, description = "The rejected draft", body = Draft),
        NoDraft,
        (status = 409, description = "Not pending", body = ErrorBody),
    ))
    async fn reject_draft(
        ById(caller, s, id): ById<Approver, ApiState>,
        JsonOrEmpty(req): JsonOrEmpty<RejectBody>,
    ) {
        let draft = s.approvals.reject(&id, req.reason, &caller.name).await?;
        Ok(Json(draft).into_response())
    }
}

endpoint! {
    /// Every published incident (management view: all fields, non-public components too).
    get("/api/v1/incidents", tag = "incidents", responses(
        (status = 200, description = "Incidents", body = IncidentList),
    ))
    async fn list_incidents(_caller: Caller<Reader>, State(s): State<ApiState>) {
        let incidents = s.approvals.public().incidents()?;
        Ok(Json(json!({ "incidents": incidents })).into_response())
    }
}

endpoint! {
    /// One published incident with its timeline.
    get("/api/v1/incidents/{id}", tag = "incidents", params(IncidentId), responses(
        (status = 200, description = "The incident", body = Incident),
        NoIncident,
    ))
    async fn get_incident(ById(_, s, id): ById<Reader, ApiState>) {
        let incident = s
            .approvals
            .public()
            .incident(&id)?
            .or_missing("incident", &id)?;
        Ok(Json(incident).into_response())
    }
}

endpoint! {
    /// Every catalog component with its current public status.
    get("/api/v1/components", tag = "components", responses(
        (status = 200, description = "Components in catalog order", body = ComponentList),
    ))
    async fn list_components(_caller: Caller<Reader>, State(s): State<ApiState>) {
        let components = s.approvals.public().components()?;
        Ok(Json(json!({ "components": components })).into_response())
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Entries per page, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// `next_before` of the previous page.
    before: Option<String>,
    /// Only entries about this draft.
    draft_id: Option<String>,
    /// Only entries with this action.
    action: Option<AuditAction>,
}

/// Declares the audit actions the code writes, once: the enum the document shows and the
/// query parses, and the word each variant stands for.
macro_rules! audit_actions {
    ($($variant:ident = $word:literal,)*) => {
        /// What an audit entry records (`action`); every word some step of statusgate writes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum AuditAction {
            $(#[serde(rename = $word)] #[schema(rename = $word)] $variant,)*
        }
        impl AuditAction {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)*
                }
            }
        }
    };
}

audit_actions! {
    Ingest = "ingest",
    Ignored = "ignored",
    AlertSuppressed = "alert_suppressed",
    AlertReleased = "alert_released",
    DraftCreated = "draft_created",
    DraftRevised = "draft_revised",
    DraftWithdrawn = "draft_withdrawn",
    DraftExpired = "draft_expired",
    DraftsRateLimited = "drafts_rate_limited",
    InternalIncident = "internal_incident",
    Edit = "edit",
    Approve = "approve",
    Reject = "reject",
    Refused = "refused",
    Publish = "publish",
    Published = "published",
    PublishFailed = "publish_failed",
    PublishConflict = "publish_conflict",
    ConflictResolved = "conflict_resolved",
    Retry = "retry",
    SubscriberAdded = "subscriber_added",
    SubscriberRemoved = "subscriber_removed",
    MaintenanceCreated = "maintenance_created",
    MaintenanceUpdated = "maintenance_updated",
    MaintenanceDeleted = "maintenance_deleted",
    MaintenanceStarted = "maintenance_started",
    MaintenanceVerifying = "maintenance_verifying",
    MaintenanceResumed = "maintenance_resumed",
    MaintenanceCompleted = "maintenance_completed",
    StormBreakerOpened = "storm_breaker_opened",
    StormBreakerClosed = "storm_breaker_closed",
    WatchdogSilent = "watchdog_silent",
    WatchdogResumed = "watchdog_resumed",
}

endpoint! {
    /// The audit log, newest first, a page at a time.
    get("/api/v1/audit", tag = "audit", params(AuditQuery), responses(
        (status = 200, description = "One page of entries", body = AuditPage),
        (status = 422, description = "Unknown action or parameter", body = ErrorBody),
    ))
    async fn list_audit(
        _caller: Caller<Reader>,
        State(s): State<ApiState>,
        Query(q): Query<AuditQuery>,
    ) {
        let limit = q.limit.unwrap_or(100).clamp(1, 1000);
        let entries = s.audit.list(
            q.before.as_deref(),
            limit,
            q.draft_id.as_deref(),
            q.action.map(AuditAction::as_str),
        )?;
        let next = (entries.len() == limit)
            .then(|| entries.last().map(|e| e.seq.clone()))
            .flatten();
        Ok(Json(json!({ "entries": entries, "next_before": next })).into_response())
    }
}
