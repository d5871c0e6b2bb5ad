//! Updates for a published incident drafted by a person rather than by alerts:
//! `POST /api/v1/incidents/{id}/drafts` and chat's `/status update` and nudge button.
//! The draft is approved like any other.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::OpenApi;

use super::api::ApiState;
use super::Approvals;
use crate::draft::{render::join_names, Draft, ManualDraftError, ManualUpdate};
use crate::http::{endpoint, Approver, ById, ErrorBody, IncidentId, JsonOrEmpty, NoIncident};
use crate::store::StoreError;
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

/// What a person asks for; absent fields keep what the incident shows now, and an absent
/// body is the "still investigating" template's text.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub title: Option<String>,
    pub body: Option<String>,
    pub incident_status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
    pub components: Option<BTreeMap<String, ComponentStatus>>,
}

/// Why no update was drafted.
#[derive(Debug, thiserror::Error)]
pub enum UpdateDraftError {
    #[error("incident {0} does not exist")]
    UnknownIncident(String),
    #[error("incident {0} is resolved; there is nothing more to update")]
    Closed(String),
    #[error(
        "incident {incident} already has draft {draft} pending; edit or decide that one instead"
    )]
    AlreadyPending { incident: String, draft: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

crate::error_statuses!(UpdateDraftError {
    UnknownIncident => not_found,
    Closed => conflict,
    AlreadyPending => conflict,
    Invalid => unprocessable,
});

impl Approvals {
    /// Drafts an update for an open published incident.
    pub async fn draft_update(
        &self,
        incident_id: &str,
        req: UpdateRequest,
        actor: &str,
    ) -> Result<Draft, UpdateDraftError> {
        let _guard = self.lock.lock().await;
        let incident = self
            .public
            .incident(incident_id)?
            .ok_or_else(|| UpdateDraftError::UnknownIncident(incident_id.to_string()))?;
        if incident.status.is_closed() {
            return Err(UpdateDraftError::Closed(incident.id));
        }
        super::incident_words(req.incident_status, req.impact)
            .map_err(UpdateDraftError::Invalid)?;
        let status = req.incident_status.unwrap_or(incident.status);
        // A resolution gives every component back unless the person says otherwise.
        let components = req.components.unwrap_or_else(|| {
            let mut c = incident.components.clone();
            if status.is_closed() {
                c.values_mut()
                    .for_each(|s| *s = ComponentStatus::Operational);
            }
            c
        });
        self.check_components(&components, true)
            .map_err(UpdateDraftError::Invalid)?;
        let title = req.title.unwrap_or_else(|| incident.name.clone());
        super::check_title(&title).map_err(UpdateDraftError::Invalid)?;
        if let Some(b) = &req.body {
            if !super::body_fits(b) {
                return Err(UpdateDraftError::Invalid(
                    "body must be 1 to 25000 characters (leave it out for the \"still investigating\" text)".into(),
                ));
            }
        }
        let names = self.component_names(&components);
        let update = ManualUpdate {
            incident_id: incident.id.clone(),
            title,
            body: req.body,
            incident_status: status,
            impact: req.impact.unwrap_or(incident.impact),
            components,
            component_names: join_names(&names),
        };
        let draft = self
            .drafts
            .manual_update(update, actor, Utc::now())
            .map_err(|e| match e {
                ManualDraftError::AlreadyPending(draft) => UpdateDraftError::AlreadyPending {
                    incident: incident.id.clone(),
                    draft,
                },
                ManualDraftError::Store(e) => UpdateDraftError::Store(e),
            })?;
        self.metrics.draft("created");
        Ok(draft)
    }
}

/// The OpenAPI description of this router's operation.
#[derive(OpenApi)]
#[openapi(paths(create_incident_draft))]
pub struct ApiDoc;

endpoint! {
    /// Drafts an update for an open published incident, approved like any other draft. An
    /// empty body drafts the "still investigating" text.
    post("/api/v1/incidents/{id}/drafts", tag = "incidents", params(IncidentId), request_body(content = Option<UpdateRequest>, description = "Absent fields keep what the incident shows now"), responses(
        (status = 201, description = "The pending update draft", body = Draft),
        NoIncident,
        (status = 409, description = "The incident is resolved, or already has a pending draft", body = ErrorBody),
    ))
    pub(super) async fn create_incident_draft(
        ById(caller, s, id): ById<Approver, ApiState>,
        JsonOrEmpty(req): JsonOrEmpty<UpdateRequest>,
    ) {
        let draft = s.approvals.draft_update(&id, req, &caller.name).await?;
        Ok((StatusCode::CREATED, Json(draft)).into_response())
    }
}
