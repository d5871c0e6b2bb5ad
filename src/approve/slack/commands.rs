//! `POST /slack/commands`: the `/status` slash command. Answers are ephemeral (only the
//! person who asked sees them) and come back in the HTTP answer, well inside Slack's
//! 3 seconds; deciding needs an approver, as in the message buttons.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::Value;

use super::blocks::{self, slack_actor};
use super::interactions::{open_modal, pending};
use super::{Access, SignedForm, Slack};
use crate::approve::declare::NewIncident;
use crate::approve::incident_drafts::UpdateRequest;
use crate::http::{endpoint, ApiError};
use crate::vocab::{ComponentStatus, DraftState, IncidentStatus};

endpoint! {
    /// Slack's slash command URL (`/status …`).
    post("/slack/commands", tag = "chat", operation_id = "slack_commands", security(("slack_signature" = [])), request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Slack's slash command fields (`user_id`, `text`, …); `ssl_check=1` is answered without a signature"), responses(
        (status = 200, description = "An ephemeral Slack message (JSON) or an empty body"),
        super::Refusals,
    ))
    pub(super) async fn handle(State(slack): State<Slack>, SignedForm(form): SignedForm<true>) {
        Ok(command(&slack, &form).await)
    }
}

/// Does what the command in a signed form asks.
async fn command(slack: &Slack, form: &[(String, String)]) -> Response {
    let field = |k: &str| {
        form.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    if field("ssl_check") == Some("1") {
        return StatusCode::OK.into_response();
    }
    let Some(user_id) = field("user_id").filter(|u| !u.is_empty()) else {
        return ApiError::bad_request("missing the `user_id` field").into_response();
    };
    let actor = slack_actor(user_id, field("user_name").unwrap_or(""));
    let text = field("text").unwrap_or("").trim();
    let (word, rest) = text
        .split_once(char::is_whitespace)
        .map_or((text, ""), |(w, r)| (w, r.trim()));
    let ctx = Ctx {
        slack,
        user_id,
        actor: &actor,
        trigger_id: field("trigger_id"),
    };
    match word.to_ascii_lowercase().as_str() {
        "" | "list" => ctx.list(),
        "help" => reply(blocks::ephemeral(blocks::HELP)),
        "approve" => ctx.approve(rest).await,
        "reject" => ctx.reject(rest).await,
        "edit" => ctx.edit(rest).await,
        "update" => ctx.update(rest).await,
        "declare" => ctx.declare(rest).await,
        "resolve" => ctx.resolve(rest).await,
        other => reply(blocks::ephemeral(&format!(
            "I do not know `{}`.\n{}",
            blocks::escape(other),
            blocks::HELP
        ))),
    }
}

fn reply(body: Value) -> Response {
    Json(body).into_response()
}

fn say(text: &str) -> Response {
    reply(blocks::ephemeral(text))
}

/// `d-12` and `12` both mean `D-12`; `inc-4` and `4` mean `INC-4`.
fn normalize(id: &str, prefix: &str) -> String {
    let upper = id.trim().to_ascii_uppercase();
    if !upper.is_empty() && upper.chars().all(|c| c.is_ascii_digit()) {
        format!("{prefix}-{upper}")
    } else {
        upper
    }
}

struct Ctx<'a> {
    slack: &'a Slack,
    user_id: &'a str,
    actor: &'a str,
    trigger_id: Option<&'a str>,
}

impl Ctx<'_> {
    fn list(&self) -> Response {
        let inner = &self.slack.inner;
        let drafts = inner.approvals.drafts().list(Some(DraftState::Pending));
        let incidents = inner.approvals.public().unresolved();
        match (drafts, incidents) {
            (Ok(d), Ok(i)) => reply(blocks::status_list(&d, &i, Utc::now())),
            (Err(e), _) | (_, Err(e)) => {
                say(&format!("Storage is unavailable ({e}); try again shortly."))
            }
        }
    }

    async fn allowed(&self, what: &str, draft: Option<(&str, u32)>) -> Result<(), Response> {
        match self
            .slack
            .access(self.user_id, self.actor, what, draft)
            .await
        {
            Access::Allowed => Ok(()),
            Access::Refused(why) => Err(say(&why)),
        }
    }

    /// Shows the draft with an Approve button for the revision shown: nobody approves
    /// text they have not seen.
    async fn approve(&self, rest: &str) -> Response {
        let Some(id) = rest.split_whitespace().next().map(|i| normalize(i, "D")) else {
            return say("Which draft? `/status approve D-12`");
        };
        if let Err(r) = self.allowed("approve", None).await {
            return r;
        }
        match pending(self.slack, &id) {
            Ok(d) => {
                let names = |c: &str| self.slack.name(c);
                reply(blocks::draft_ephemeral(
                    &format!(
                        "Read revision {} of {}; press *Approve & publish* if it is right.",
                        d.revision, d.id
                    ),
                    &d,
                    &names,
                    &self.slack.inner.public_url,
                    &self.slack.budget_lines(&d),
                ))
            }
            Err(msg) => say(&msg),
        }
    }

    async fn reject(&self, rest: &str) -> Response {
        let (id, reason) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(i, r)| (i, r.trim()));
        if id.is_empty() {
            return say("Which draft? `/status reject D-12 reason…`");
        }
        let id = normalize(id, "D");
        if let Err(r) = self.allowed("reject", None).await {
            return r;
        }
        let reason = (!reason.is_empty()).then(|| reason.to_string());
        match self
            .slack
            .inner
            .approvals
            .reject(&id, reason, self.actor)
            .await
        {
            Ok(d) => say(&format!(
                "Rejected {} (revision {}). Nothing was published.",
                d.id, d.revision
            )),
            Err(e) => say(&format!("Not rejected: {e}")),
        }
    }

    async fn edit(&self, rest: &str) -> Response {
        let Some(id) = rest.split_whitespace().next().map(|i| normalize(i, "D")) else {
            return say("Which draft? `/status edit D-12`");
        };
        if let Err(r) = self.allowed("edit", None).await {
            return r;
        }
        match open_modal(self.slack, &id, "edit", self.trigger_id).await {
            // The form is the answer; an empty 200 adds no message.
            Ok(()) => StatusCode::OK.into_response(),
            Err(msg) => say(&msg),
        }
    }

    async fn update(&self, rest: &str) -> Response {
        let (id, text) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(i, t)| (i, t.trim()));
        if id.is_empty() || text.is_empty() {
            return say("Give the incident and the text: `/status update INC-4 We found the cause and are rolling out a fix.`");
        }
        let id = normalize(id, "INC");
        if let Err(r) = self.allowed("draft updates for", None).await {
            return r;
        }
        let req = UpdateRequest {
            body: Some(text.to_string()),
            ..UpdateRequest::default()
        };
        match self.slack.inner.approvals.draft_update(&id, req, self.actor).await {
            Ok(d) => say(&format!(
                "Drafted {} for {}. It is posted for approval like any draft; nothing is public yet.",
                d.id, id
            )),
            Err(e) => say(&format!("No update drafted: {e}")),
        }
    }
}

/// A component status as people type it: the word itself, or its first part
/// (`major`, `partial`, `degraded`).
fn status_word(word: &str) -> Option<ComponentStatus> {
    let w = word.trim().to_ascii_lowercase();
    let full = match w.as_str() {
        "major" => "major_outage",
        "partial" => "partial_outage",
        "degraded" => "degraded_performance",
        other => other,
    };
    full.parse()
        .ok()
        .filter(|s| *s != ComponentStatus::UnderMaintenance)
}

impl Ctx<'_> {
    /// `/status declare <component> <status> <text>`: a new incident with no alerts,
    /// drafted for approval like any other.
    async fn declare(&self, rest: &str) -> Response {
        let mut parts = rest.splitn(3, char::is_whitespace);
        let (component, status, text) = (
            parts.next().unwrap_or("").trim(),
            parts.next().unwrap_or("").trim(),
            parts.next().unwrap_or("").trim(),
        );
        let usage = "Give the component, its status and the text: `/status declare api major_outage Card payments fail at our payment provider.`";
        if component.is_empty() || text.is_empty() {
            return say(usage);
        }
        let Some(status) = status_word(status) else {
            return say(&format!(
                "`{}` is not a status: use operational, degraded_performance, partial_outage or major_outage.\n{usage}",
                blocks::escape(status)
            ));
        };
        if let Err(r) = self.allowed("declare incidents", None).await {
            return r;
        }
        let req = NewIncident {
            body: text.to_string(),
            components: [(component.to_ascii_lowercase(), status)].into(),
            ..NewIncident::default()
        };
        match self.slack.inner.approvals.declare(req, self.actor).await {
            Ok(d) => say(&format!(
                "Drafted {} ({}). It is posted for approval like any draft; nothing is public yet.",
                d.id,
                blocks::escape(&d.title)
            )),
            Err(e) => say(&format!(
                "No incident drafted: {}",
                blocks::escape(&e.to_string())
            )),
        }
    }

    /// `/status resolve INC-4 [text]`: the resolution of an incident no alert will resolve.
    async fn resolve(&self, rest: &str) -> Response {
        let (id, text) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, ""), |(i, t)| (i, t.trim()));
        if id.trim().is_empty() {
            return say("Which incident? `/status resolve INC-4 The provider fixed it.`");
        }
        let id = normalize(id, "INC");
        if let Err(r) = self.allowed("draft resolutions for", None).await {
            return r;
        }
        let req = UpdateRequest {
            body: (!text.is_empty()).then(|| text.to_string()),
            incident_status: Some(IncidentStatus::Resolved),
            ..UpdateRequest::default()
        };
        match self.slack.inner.approvals.draft_update(&id, req, self.actor).await {
            Ok(d) => say(&format!(
                "Drafted {}, the resolution of {id}. It is posted for approval like any draft; nothing is public yet.",
                d.id
            )),
            Err(e) => say(&format!("No resolution drafted: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, status_word};
    use crate::vocab::ComponentStatus;

    #[test]
    fn statuses_are_forgiving_but_never_maintenance() {
        assert_eq!(status_word("major"), Some(ComponentStatus::MajorOutage));
        assert_eq!(
            status_word("Partial_Outage"),
            Some(ComponentStatus::PartialOutage)
        );
        assert_eq!(status_word("under_maintenance"), None);
        assert_eq!(status_word("broken"), None);
    }

    #[test]
    fn ids_are_forgiving() {
        assert_eq!(normalize("d-12", "D"), "D-12");
        assert_eq!(normalize("12", "D"), "D-12");
        assert_eq!(normalize("inc-4", "INC"), "INC-4");
        assert_eq!(normalize("4", "INC"), "INC-4");
    }
}
