//! `POST /slack/interactions`: button presses (`block_actions`) and modal submissions
//! (`view_submission`). Slack wants an answer within 3 seconds: the decision is recorded
//! before the answer when it fits in that time (it normally does), and reported through
//! `response_url` when it does not; messages are redrawn by the worker afterwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::blocks::{self, parse_ref, slack_actor};
use super::client::Patience;
use super::{Access, SignedForm, Slack};
use crate::approve::incident_drafts::UpdateRequest;
use crate::approve::{ApproveError, DraftPatch};
use crate::draft::Draft;
use crate::http::{endpoint, ApiError};
use crate::vocab::DraftState;

/// How long after the request arrived the answer goes out, with or without the approval
/// (Slack gives up after 3 seconds).
pub(super) const ACK_BUDGET: Duration = Duration::from_millis(2500);

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<User>,
    trigger_id: Option<String>,
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<Action>,
    view: Option<View>,
}

#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub name: String,
}

impl User {
    fn actor(&self) -> String {
        slack_actor(
            &self.id,
            if self.username.is_empty() {
                &self.name
            } else {
                &self.username
            },
        )
    }
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct View {
    #[serde(default)]
    callback_id: String,
    #[serde(default)]
    private_metadata: String,
    #[serde(default)]
    state: ViewState,
}

#[derive(Debug, Default, Deserialize)]
struct ViewState {
    #[serde(default)]
    values: BTreeMap<String, BTreeMap<String, Value>>,
}

impl ViewState {
    fn input(&self, block: &str) -> Option<&Value> {
        self.values.get(block).and_then(|m| m.get("value"))
    }
    /// A text input's value; `Some("")` when the block is there but empty.
    fn text(&self, block: &str) -> Option<String> {
        self.input(block)
            .map(|v| v["value"].as_str().unwrap_or("").to_string())
    }
    fn selected(&self, block: &str) -> Option<&str> {
        self.input(block)?["selected_option"]["value"].as_str()
    }

    /// The option picked in a select, parsed; one not in the list is an error for the
    /// block, with `hint`.
    fn picked<T: std::str::FromStr>(
        &self,
        block: &str,
        hint: &str,
    ) -> Result<Option<T>, (String, String)> {
        self.selected(block)
            .map(|v| v.parse().map_err(|_| (block.to_string(), hint.to_string())))
            .transpose()
    }
}

endpoint! {
    /// Slack's interactivity request URL: the buttons on draft messages and the edit modal.
    post("/slack/interactions", tag = "chat", operation_id = "slack_interactions", security(("slack_signature" = [])), request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Slack's `payload` field: a block action or a view submission"), responses(
        (status = 200, description = "Handled; an empty body, or the modal's errors as Slack expects them"),
        super::Refusals,
    ))
    pub(super) async fn handle(State(slack): State<Slack>, SignedForm(form): SignedForm<false>) {
        let Some(raw) = form.iter().find(|(k, _)| k == "payload").map(|(_, v)| v) else {
            return Err(ApiError::bad_request("missing the `payload` field"));
        };
        Ok(interaction(&slack, raw).await)
    }
}

/// Does what the interaction in a signed form's `payload` asks.
async fn interaction(slack: &Slack, raw: &str) -> Response {
    let payload: Payload = match serde_json::from_str(raw) {
        Ok(p) => p,
        Err(e) => {
            return ApiError::bad_request(format!("payload is not Slack interaction JSON: {e}"))
                .into_response()
        }
    };
    let Some(user) = payload.user.as_ref() else {
        return ApiError::bad_request("payload has no user").into_response();
    };
    match payload.kind.as_str() {
        "block_actions" => block_action(slack, &payload, user).await,
        "view_submission" => view_submission(slack, &payload, user).await,
        // view_closed, shortcuts, …: nothing to do, but Slack wants its 200.
        _ => StatusCode::OK.into_response(),
    }
}

async fn block_action(slack: &Slack, p: &Payload, user: &User) -> Response {
    let Some(action) = p.actions.first() else {
        return StatusCode::OK.into_response();
    };
    let started = Instant::now();
    let actor = user.actor();
    let url = p.response_url.as_deref();
    match action.action_id.as_str() {
        blocks::APPROVE => {
            let Some((id, rev)) = parse_ref(&action.value) else {
                slack.reply(
                    url,
                    blocks::ephemeral("This button is malformed; use `/status approve <draft>`."),
                );
                return StatusCode::OK.into_response();
            };
            if let Access::Refused(why) = slack
                .access(&user.id, &actor, "approve", Some((&id, rev)))
                .await
            {
                slack.reply(url, blocks::ephemeral(&why));
                return StatusCode::OK.into_response();
            }
            let approvals = slack.inner.approvals.clone();
            let mut task =
                tokio::spawn(
                    async move { approvals.approve(&id, rev, &actor).await.map(|(d, _)| d) },
                );
            // A slow group lookup above eats into the same 3 seconds.
            let budget = ACK_BUDGET.saturating_sub(started.elapsed());
            match tokio::time::timeout(budget, &mut task).await {
                Ok(done) => report_approval(slack, done, url),
                Err(_) => {
                    let (slack, url) = (slack.clone(), url.map(str::to_string));
                    tokio::spawn(async move {
                        let done = task.await;
                        report_approval(&slack, done, url.as_deref());
                    });
                }
            }
        }
        blocks::EDIT | blocks::REJECT => {
            let what = if action.action_id == blocks::EDIT {
                "edit"
            } else {
                "reject"
            };
            let Some((id, rev)) = parse_ref(&action.value) else {
                slack.reply(url, blocks::ephemeral("This button is malformed."));
                return StatusCode::OK.into_response();
            };
            if let Access::Refused(why) =
                slack.access(&user.id, &actor, what, Some((&id, rev))).await
            {
                slack.reply(url, blocks::ephemeral(&why));
                return StatusCode::OK.into_response();
            }
            if let Err(msg) = open_modal(slack, &id, what, p.trigger_id.as_deref()).await {
                slack.reply(url, blocks::ephemeral(&msg));
            }
        }
        super::trouble::OVERWRITE | super::trouble::THEIRS | super::trouble::RETRY => {
            super::trouble::press(
                slack,
                &action.action_id,
                &action.value,
                &user.id,
                actor,
                url,
                started,
            )
            .await;
        }
        blocks::NUDGE => {
            let incident = action.value.clone();
            if let Access::Refused(why) = slack
                .access(&user.id, &actor, "draft updates for", None)
                .await
            {
                slack.reply(url, blocks::ephemeral(&why));
                return StatusCode::OK.into_response();
            }
            match slack
                .inner
                .approvals
                .draft_update(&incident, UpdateRequest::default(), &actor)
                .await
            {
                Ok(d) => slack.reply(
                    url,
                    json!({"replace_original": true, "text": format!("{} drafted {} for {}", actor, d.id, incident),
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": format!(
                            ":memo: {} drafted {} (\u{201c}still investigating\u{201d}) for {}. It is posted for approval.",
                            blocks::mention_actor(&actor), d.id, incident)}}]}),
                ),
                Err(e) => slack.reply(url, blocks::ephemeral(&format!("No update drafted: {e}"))),
            }
        }
        _ => {}
    }
    StatusCode::OK.into_response()
}

/// Opens the edit or reject form for the draft as it stands now.
pub(super) async fn open_modal(
    slack: &Slack,
    id: &str,
    what: &str,
    trigger_id: Option<&str>,
) -> Result<(), String> {
    let draft = pending(slack, id)?;
    let Some(trigger) = trigger_id else {
        return Err("Slack sent no trigger_id, so no form can open.".into());
    };
    let names = |c: &str| slack.name(c);
    let view = if what == "edit" {
        blocks::edit_modal(&draft, &names)
    } else {
        blocks::reject_modal(&draft)
    };
    slack
        .inner
        .client
        .call(
            "views.open",
            &json!({"trigger_id": trigger, "view": view}),
            None,
            Patience::INTERACTIVE,
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("The form could not open: {e}"))
}

/// The draft if it is pending, else a sentence saying why not.
pub(super) fn pending(slack: &Slack, id: &str) -> Result<Draft, String> {
    let draft = slack
        .inner
        .approvals
        .drafts()
        .get(id)
        .map_err(|e| format!("Storage is unavailable ({e}); try again shortly."))?
        .ok_or_else(|| format!("Draft {id} does not exist."))?;
    if draft.state != DraftState::Pending {
        return Err(format!(
            "{id} is {} already. {}",
            draft.state.as_str(),
            blocks::decision_line(&draft, &slack.inner.public_url)
        ));
    }
    Ok(draft)
}

fn report_approval(
    slack: &Slack,
    done: Result<Result<Draft, ApproveError>, tokio::task::JoinError>,
    url: Option<&str>,
) {
    let names = |c: &str| slack.name(c);
    match done {
        Ok(Ok(d)) => {
            tracing::info!(draft = %d.id, revision = d.revision, "approved in Slack");
        }
        Ok(Err(ApproveError::Stale { current })) => {
            slack.reply(
                url,
                blocks::stale(
                    &current,
                    &names,
                    &slack.inner.public_url,
                    &slack.budget_lines(&current),
                ),
            );
        }
        Ok(Err(e @ ApproveError::NotPending { .. })) => {
            slack.reply(url, blocks::ephemeral(&e.to_string()));
        }
        // The database is down or failing over: nothing was decided, and pressing again
        // once it is back works, so say that rather than pass the bare error on.
        Ok(Err(ApproveError::Store(e))) => slack.reply(
            url,
            blocks::ephemeral(&format!(
                "Not approved: storage is unavailable ({e}); nothing changed. Try again shortly."
            )),
        ),
        Ok(Err(e)) => slack.reply(url, blocks::ephemeral(&format!("Not approved: {e}"))),
        Err(e) => {
            tracing::error!(error = %e, "approval task failed");
            slack.reply(
                url,
                blocks::ephemeral("Not approved: an internal error; try again."),
            );
        }
    }
}

fn errors(block: &str, message: &str) -> Response {
    Json(json!({"response_action": "errors", "errors": {block: message}})).into_response()
}

async fn view_submission(slack: &Slack, p: &Payload, user: &User) -> Response {
    let Some(view) = p.view.as_ref() else {
        return ApiError::bad_request("view_submission without a view").into_response();
    };
    let actor = user.actor();
    let (first_block, what) = match view.callback_id.as_str() {
        blocks::EDIT_VIEW => ("title", "edit"),
        blocks::REJECT_VIEW => ("reason", "reject"),
        _ => return StatusCode::OK.into_response(),
    };
    let Some((id, rev)) = parse_ref(&view.private_metadata) else {
        return errors(
            first_block,
            "This form is malformed; close it and start again.",
        );
    };
    if let Access::Refused(why) = slack.access(&user.id, &actor, what, Some((&id, rev))).await {
        return errors(first_block, &why);
    }
    let draft = match pending(slack, &id) {
        Ok(d) => d,
        Err(msg) => return errors(first_block, &msg),
    };
    if what == "reject" {
        let reason = view.state.text("reason").filter(|r| !r.trim().is_empty());
        return match slack.inner.approvals.reject(&id, reason, &actor).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(e) => errors("reason", &format!("Not rejected: {e}")),
        };
    }
    if draft.revision != rev {
        return errors(
            "title",
            &format!(
                "{id} changed while you edited (now revision {}). Cancel, then press Edit again to start from the newest text.",
                draft.revision
            ),
        );
    }
    let patch = match patch_from(&draft, &view.state) {
        Ok(Some(p)) => p,
        // Nothing changed: close the form, make no revision.
        Ok(None) => return StatusCode::OK.into_response(),
        Err((block, msg)) => return errors(&block, &msg),
    };
    match slack.inner.approvals.edit(&id, patch, &actor).await {
        Ok(d) => {
            tracing::info!(draft = %d.id, revision = d.revision, "edited in Slack");
            StatusCode::OK.into_response()
        }
        Err(ApproveError::Invalid(m)) => {
            let block = if m.contains("component") {
                draft
                    .components
                    .keys()
                    .next()
                    .map_or("title".to_string(), |c| format!("component:{c}"))
            } else if m.contains("body") {
                "body".to_string()
            } else {
                "title".to_string()
            };
            errors(&block, &m)
        }
        Err(e) => errors("title", &format!("Not saved: {e}")),
    }
}

/// The fields the form changed, or which block is wrong. Only changed fields are sent, so
/// fields left alone keep following the alerts.
fn patch_from(draft: &Draft, state: &ViewState) -> Result<Option<DraftPatch>, (String, String)> {
    let bad = |b: &str, m: &str| Err((b.to_string(), m.to_string()));
    let mut patch = DraftPatch {
        revision: Some(draft.revision),
        ..DraftPatch::default()
    };
    let mut changed = false;
    match state.text("title") {
        Some(t) if t.trim().is_empty() => return bad("title", "A title is required."),
        Some(t) if t.trim() != draft.title => {
            patch.title = Some(t);
            changed = true;
        }
        _ => {}
    }
    match state.text("body") {
        Some(b) if b.trim().is_empty() => {
            return bad("body", "Write the message customers will read.")
        }
        Some(b) if b.trim() != draft.body => {
            patch.body = Some(b);
            changed = true;
        }
        _ => {}
    }
    let status = state.picked("incident_status", "Pick a status from the list.")?;
    if let Some(s) = status.filter(|s| *s != draft.incident_status) {
        patch.incident_status = Some(s);
        changed = true;
    }
    let impact = state.picked("impact", "Pick an impact from the list.")?;
    if let Some(i) = impact.filter(|i| *i != draft.impact) {
        patch.impact = Some(i);
        changed = true;
    }
    let mut components = draft.components.clone();
    for (id, status) in components.iter_mut() {
        let block = format!("component:{id}");
        if let Some(s) = state.picked(&block, "Pick a status from the list.")? {
            *status = s;
        }
    }
    if components != draft.components {
        patch.components = Some(components);
        changed = true;
    }
    Ok(changed.then_some(patch))
}

/// Parses an interaction request body (`payload=<url-encoded JSON>`) the way the handler
/// does after the signature check, reading what the handler reads; for fuzzing and tests.
/// Returns the interaction type.
pub fn parse_interaction(body: &[u8]) -> Result<String, String> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| format!("not a form: {e}"))?;
    let raw = form
        .iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or("missing the `payload` field")?;
    let p: Payload = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    for a in &p.actions {
        let _ = (a.action_id.as_str(), super::blocks::parse_ref(&a.value));
    }
    if let Some(v) = &p.view {
        let _ = (v.callback_id.as_str(), v.private_metadata.as_str());
        for block in ["title", "body", "incident_status", "impact", "reason"] {
            let _ = (v.state.text(block), v.state.selected(block));
        }
    }
    Ok(p.kind)
}
