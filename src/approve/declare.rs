//! Incidents declared by a person rather than by alerts (a vendor outage, a security
//! incident, a customer report): `POST /api/v1/incidents`, the board's form, chat's
//! `/status declare` and `statusgate incidents declare`. The draft is approved like any
//! other.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use utoipa::OpenApi;

use super::api::ApiState;
use super::{Approvals, ApproveError};
use crate::draft::{render::join_names, Draft, ManualIncident};
use crate::http::{endpoint, Approver, Caller, ErrorBody, JsonBody};
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

/// A new incident. `body` is required; the title defaults to "<worst status>: <components>",
/// the status to `investigating` and the impact to what the worst component status means.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    pub title: Option<String>,
    pub body: String,
    /// Public components only; absent or empty for an incident no component stands for.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentStatus>,
    pub incident_status: Option<IncidentStatus>,
    pub impact: Option<Impact>,
}

impl Approvals {
    /// Drafts a new incident with no alerts behind it.
    pub async fn declare(&self, req: NewIncident, actor: &str) -> Result<Draft, ApproveError> {
        let invalid = |m: &str| ApproveError::Invalid(m.to_string());
        let _guard = self.lock.lock().await;
        super::incident_words(req.incident_status, req.impact).map_err(ApproveError::Invalid)?;
        let status = req.incident_status.unwrap_or(IncidentStatus::Investigating);
        if status.is_closed() {
            return Err(invalid(
                "a declared incident starts open (investigating, identified or monitoring); resolve it later with POST /api/v1/incidents/{id}/drafts",
            ));
        }
        self.check_components(&req.components, false)
            .map_err(ApproveError::Invalid)?;
        let worst = req.components.values().copied().max();
        let names = self.component_names(&req.components);
        let title = match (req.title, worst) {
            (Some(t), _) => t,
            (None, Some(w)) => format!("{}: {}", w.label(), join_names(&names)),
            (None, None) => return Err(invalid("give a title, or the components it affects")),
        };
        super::check_title(&title).map_err(ApproveError::Invalid)?;
        if !super::body_fits(&req.body) {
            return Err(invalid("body must be 1 to 25000 characters"));
        }
        let impact = req
            .impact
            .or(worst.map(ComponentStatus::impact))
            .unwrap_or(Impact::Minor);
        let incident = ManualIncident {
            title,
            body: req.body,
            incident_status: status,
            impact,
            components: req.components,
        };
        let draft = self.drafts.manual_incident(incident, actor, Utc::now())?;
        self.metrics.draft("created");
        Ok(draft)
    }
}

/// The OpenAPI description of this router's operation.
#[derive(OpenApi)]
#[openapi(paths(declare_incident), components(schemas(NewIncident)))]
pub struct ApiDoc;

endpoint! {
    /// Declares an incident no alert reported: a `new_incident` draft with no alerts, approved
    /// like any other draft before anything is public.
    post("/api/v1/incidents", tag = "incidents", request_body = NewIncident, responses(
        (status = 201, description = "The pending new-incident draft", body = Draft),
        (status = 422, description = "Unknown or internal component, a maintenance word, a resolved status, or no title and no components", body = ErrorBody),
    ))
    pub(super) async fn declare_incident(
        caller: Caller<Approver>,
        State(s): State<ApiState>,
        JsonBody(req): JsonBody<NewIncident>,
    ) {
        let draft = s.approvals.declare(req, &caller.name).await?;
        Ok((StatusCode::CREATED, Json(draft)).into_response())
    }
}
