//! The board's pages and forms. Every change answers with a redirect (so a reload does not
//! send it twice) or, when refused, with the page again and what went wrong.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::session::{cookie_value, Change, Viewer};
use super::{BoardError, BoardState};
use crate::approve::declare::NewIncident;
use crate::approve::incident_drafts::UpdateRequest;
use crate::approve::{ApproveError, DraftPatch};
use crate::http::{ApiError, Form, Path, Query};
use crate::vocab::{ComponentStatus, Impact, IncidentStatus};

/// What the last change did, named in the redirect so the page can say so.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    done: Option<String>,
    draft: Option<String>,
    incident: Option<String>,
}

/// Ids as the board writes them (`D-12`, `INC-4`); anything else is dropped.
fn id_only(v: &Option<String>) -> String {
    v.as_deref()
        .filter(|s| {
            s.len() <= 40
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        })
        .unwrap_or("")
        .to_string()
}

impl Done {
    fn notice(&self) -> Option<Value> {
        let (draft, incident) = (id_only(&self.draft), id_only(&self.incident));
        let text = match self.done.as_deref()? {
            "approved" => format!("Approved {draft}: published as {incident}."),
            "rejected" => format!("Rejected {draft}. Nothing was published."),
            "edited" => format!("Saved a new revision of {draft}. Read it once more, then approve it."),
            "declared" => format!("Drafted {draft}. Nothing is public until it is approved."),
            "resolution" => format!("Drafted {draft}, the resolution of {incident}. Nothing is public until it is approved."),
            "signed_out" => "Signed out.".to_string(),
            _ => return None,
        };
        Some(json!({"kind": "ok", "text": text}))
    }
}

fn error_notice(text: impl Into<String>) -> Value {
    json!({"kind": "error", "text": text.into()})
}

fn with_viewer(s: &BoardState, v: &Viewer, mut data: Value, notice: Option<Value>) -> Value {
    if let Some(obj) = data.as_object_mut() {
        obj.insert("page_name".into(), json!(s.page_name));
        obj.insert(
            "viewer".into(),
            json!({"name": v.name, "role": format!("{:?}", v.role).to_lowercase(),
                "can_decide": v.may_decide(), "session": v.cookie.is_some()}),
        );
        obj.insert("csrf".into(), json!(v.csrf.clone().unwrap_or_default()));
        obj.insert("notice".into(), notice.unwrap_or(Value::Null));
    }
    data
}

pub(super) async fn board(
    viewer: Viewer,
    State(s): State<BoardState>,
    done: Result<Query<Done>, ApiError>,
) -> Result<Response, BoardError> {
    let notice = done.ok().and_then(|Query(d)| d.notice());
    let data = with_viewer(&s, &viewer, s.board_view()?, notice);
    Ok(s.page("board", StatusCode::OK, &data))
}

pub(super) async fn draft_page(
    viewer: Viewer,
    State(s): State<BoardState>,
    id: Result<Path<String>, ApiError>,
    done: Result<Query<Done>, ApiError>,
) -> Result<Response, BoardError> {
    let Path(id) = id?;
    let notice = done.ok().and_then(|Query(d)| d.notice());
    draft_with(&s, &viewer, &id, StatusCode::OK, notice)
}

/// The draft page as the draft is now, with `notice` and `status`.
fn draft_with(
    s: &BoardState,
    viewer: &Viewer,
    id: &str,
    status: StatusCode,
    notice: Option<Value>,
) -> Result<Response, BoardError> {
    let draft = s
        .api
        .approvals
        .drafts()
        .get(id)?
        .ok_or_else(|| ApiError::not_found(format!("draft {id} does not exist")))?;
    let data = with_viewer(s, viewer, json!({"draft": s.draft_view(&draft)}), notice);
    Ok(s.page("draft", status, &data))
}

/// Where a change that leaves draft `id` to read next sends the browser: that draft's page,
/// saying what was `done`.
fn after(id: &str, done: &str) -> String {
    format!("/internal/drafts/{id}?done={done}&draft={id}")
}

/// A decision on draft `id`: done, a redirect to `to`; refused, as [`refused`] says.
fn redirect_or_refused(
    s: &BoardState,
    viewer: &Viewer,
    id: &str,
    seen: u32,
    to: Result<String, ApproveError>,
) -> Result<Response, BoardError> {
    match to {
        Ok(to) => Ok(Redirect::to(&to).into_response()),
        Err(e) => refused(s, viewer, id, seen, e),
    }
}

/// A refused decision on draft `id`: a stale revision shows the current one (409), a bad
/// value the draft with the reason (422); anything else is an error page.
fn refused(
    s: &BoardState,
    viewer: &Viewer,
    id: &str,
    seen: u32,
    e: ApproveError,
) -> Result<Response, BoardError> {
    match e {
        ApproveError::Stale { current } => {
            let text = format!(
                "{} changed while you read it: it is now at revision {}, you saw revision {seen}. Nothing was done; read it again below.",
                current.id, current.revision
            );
            draft_with(
                s,
                viewer,
                id,
                StatusCode::CONFLICT,
                Some(error_notice(text)),
            )
        }
        ApproveError::Invalid(m) => draft_with(
            s,
            viewer,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error_notice(m)),
        ),
        e => Err(e.into()),
    }
}

fn revision(form: &Form) -> Result<u32, BoardError> {
    form.get("revision")
        .and_then(|r| r.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::unprocessable("the form has no revision; reload the draft and try again")
                .into()
        })
}

fn word<T: std::str::FromStr>(form: &Form, name: &str) -> Result<Option<T>, BoardError>
where
    T::Err: std::fmt::Display,
{
    match form.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e: T::Err| ApiError::unprocessable(format!("{name}: {e}")).into()),
    }
}

fn text(form: &Form, name: &str) -> Option<String> {
    form.get(name)
        .map(|v| v.replace("\r\n", "\n"))
        .filter(|v| !v.trim().is_empty())
}

pub(super) async fn edit(
    State(s): State<BoardState>,
    Change { viewer, id, form }: Change,
) -> Result<Response, BoardError> {
    let seen = revision(&form)?;
    let mut components = BTreeMap::new();
    for (name, value) in &form.0 {
        if let Some(c) = name.strip_prefix("component.") {
            let status: ComponentStatus = value
                .parse()
                .map_err(|e| ApiError::unprocessable(format!("{c}: {e}")))?;
            components.insert(c.to_string(), status);
        }
    }
    if let (Some(c), Some(st)) = (
        text(&form, "add_component"),
        word::<ComponentStatus>(&form, "add_status")?,
    ) {
        components.insert(c.trim().to_string(), st);
    }
    let patch = DraftPatch {
        title: form.get("title").map(str::to_string),
        body: form.get("body").map(|b| b.replace("\r\n", "\n")),
        // A tool posting only some fields leaves the components as they are.
        components: (!components.is_empty()).then_some(components),
        incident_status: word(&form, "incident_status")?,
        impact: word(&form, "impact")?,
        revision: Some(seen),
    };
    let edited = s.api.approvals.edit(&id, patch, &viewer.name).await;
    let to = edited.map(|d| after(&d.id, "edited"));
    redirect_or_refused(&s, &viewer, &id, seen, to)
}

pub(super) async fn approve(
    State(s): State<BoardState>,
    Change { viewer, id, form }: Change,
) -> Result<Response, BoardError> {
    let seen = revision(&form)?;
    let approved = s.api.approvals.approve(&id, seen, &viewer.name).await;
    let to = approved.map(|(d, incident)| {
        format!(
            "/internal?done=approved&draft={}&incident={}",
            d.id, incident.id
        )
    });
    redirect_or_refused(&s, &viewer, &id, seen, to)
}

pub(super) async fn reject(
    State(s): State<BoardState>,
    Change { viewer, id, form }: Change,
) -> Result<Response, BoardError> {
    let d = s
        .api
        .approvals
        .reject(&id, text(&form, "reason"), &viewer.name)
        .await?;
    Ok(Redirect::to(&format!("/internal?done=rejected&draft={}", d.id)).into_response())
}

pub(super) async fn declare(
    viewer: Viewer,
    State(s): State<BoardState>,
    form: Result<Form, ApiError>,
) -> Result<Response, BoardError> {
    let form = form?;
    viewer.check_change(&form)?;
    let mut components = BTreeMap::new();
    if let Some(c) = text(&form, "component") {
        let status =
            word::<ComponentStatus>(&form, "status")?.unwrap_or(ComponentStatus::MajorOutage);
        components.insert(c.trim().to_string(), status);
    }
    let req = NewIncident {
        title: text(&form, "title"),
        body: text(&form, "body").unwrap_or_default(),
        components,
        incident_status: word::<IncidentStatus>(&form, "incident_status")?,
        impact: word::<Impact>(&form, "impact")?,
    };
    let d = s.api.approvals.declare(req, &viewer.name).await?;
    Ok(Redirect::to(&after(&d.id, "declared")).into_response())
}

pub(super) async fn resolve(
    State(s): State<BoardState>,
    Change { viewer, id, form }: Change,
) -> Result<Response, BoardError> {
    let req = UpdateRequest {
        body: text(&form, "body"),
        incident_status: Some(IncidentStatus::Resolved),
        ..UpdateRequest::default()
    };
    let d = s
        .api
        .approvals
        .draft_update(&id, req, &viewer.name)
        .await
        .map_err(ApiError::from)?;
    let to = format!("{}&incident={id}", after(&d.id, "resolution"));
    Ok(Redirect::to(&to).into_response())
}

pub(super) async fn login_form(
    State(s): State<BoardState>,
    done: Result<Query<Done>, ApiError>,
) -> Response {
    let notice = done.ok().and_then(|Query(d)| d.notice());
    s.page(
        "login",
        StatusCode::OK,
        &json!({"page_name": s.page_name, "notice": notice}),
    )
}

/// Whether a browser's `Origin` (sent with every form POST) is this server. A sign-in form
/// posted from another site would sign the victim in as someone else (login CSRF); there is
/// no session yet whose CSRF token could stop it. Tools send no `Origin`.
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    !host.is_empty() && origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host))
}

pub(super) async fn login(
    State(s): State<BoardState>,
    headers: axum::http::HeaderMap,
    form: Result<Form, ApiError>,
) -> Result<Response, BoardError> {
    if !same_origin(&headers) {
        return Err(BoardError::forbidden(
            "this sign-in form was sent from another site; sign in on the board itself",
        ));
    }
    let form = form?;
    let token = form.get("token").unwrap_or("").trim();
    if token.is_empty() || s.api.tokens.by_token(token).is_none() {
        let data = json!({"page_name": s.page_name,
            "notice": error_notice("That token is not one statusgate knows. Use an API token from auth.tokens or STATUSGATE_ADMIN_TOKEN.")});
        return Ok(s.page("login", StatusCode::UNAUTHORIZED, &data));
    }
    let signed_in = s.sessions.start(token, Utc::now())?;
    let mut r = Redirect::to("/internal").into_response();
    if let Ok(v) = HeaderValue::from_str(&signed_in.cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

pub(super) async fn logout(
    viewer: Viewer,
    State(s): State<BoardState>,
    headers: axum::http::HeaderMap,
    form: Result<Form, ApiError>,
) -> Result<Response, BoardError> {
    let form = form?;
    viewer.check_csrf(&form)?;
    if let Some(value) = cookie_value(&headers) {
        s.sessions.end(&value)?;
    }
    let mut r = Redirect::to("/internal/login?done=signed_out").into_response();
    if let Ok(v) = HeaderValue::from_str(&s.sessions.cleared()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}
