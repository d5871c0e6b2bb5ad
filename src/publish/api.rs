//! HTTP for outgoing delivery: subscribers (admin), the public confirm and unsubscribe
//! links, and per draft its deliveries, an admin's retry and an admin's choice on a
//! conflict.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::decide::Decisions;
use super::health::Health;
use super::outbox::{Choice, EntryState, Outbox};
use super::subscribers::{Channel, LinkPurpose, Subscriber, SubscriberState};
use super::webhook::SigningKey;
use super::PublicState;
use crate::auth::Tokens;
use crate::config::Role;
use crate::draft::Drafts;
use crate::error::{parse_json, ApiError};
use crate::ingest::read_json_body;

#[derive(Clone)]
pub struct PublishApi {
    pub outbox: Outbox,
    pub drafts: Drafts,
    pub public: PublicState,
    pub lock: Arc<Mutex<()>>,
    pub tokens: Tokens,
    pub health: Health,
    pub max_body: usize,
    pub page_name: String,
    pub email_enabled: bool,
}

impl PublishApi {
    /// The admin decisions this API shares with chat.
    pub fn decisions(&self) -> Decisions {
        Decisions {
            outbox: self.outbox.clone(),
            drafts: self.drafts.clone(),
            lock: self.lock.clone(),
            health: self.health.clone(),
        }
    }
}

pub fn router(state: PublishApi) -> Router {
    Router::new()
        .route(
            "/api/v1/subscribers",
            get(list_subscribers).post(add_subscriber),
        )
        .route(
            "/api/v1/subscribers/{id}",
            get(get_subscriber).delete(delete_subscriber),
        )
        .route("/subscribers/confirm", get(confirm_page).post(confirm))
        .route(
            "/subscribers/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/api/v1/drafts/{id}/deliveries", get(deliveries))
        .route("/api/v1/drafts/{id}/retry", post(retry))
        .route(
            "/api/v1/drafts/{id}/resolve-conflict",
            post(resolve_conflict),
        )
        .with_state(state)
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum NewSubscriber {
    Webhook {
        url: String,
        secret: String,
        components: Option<Vec<String>>,
    },
    Email {
        email: String,
        components: Option<Vec<String>>,
    },
}

async fn add_subscriber(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let req: NewSubscriber = parse_json(&bytes)?;
    let (channel, components, state) = match req {
        NewSubscriber::Webhook {
            url,
            secret,
            components,
        } => {
            let parsed = reqwest::Url::parse(url.trim())
                .map_err(|e| ApiError::unprocessable(format!("url: not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ApiError::unprocessable(
                    "url: must be an http:// or https:// URL",
                ));
            }
            SigningKey::parse(&secret)
                .map_err(|e| ApiError::unprocessable(format!("secret: {e}")))?;
            let channel = Channel::Webhook {
                url: parsed.to_string(),
                secret: secret.trim().to_string(),
            };
            (channel, components, SubscriberState::Active)
        }
        NewSubscriber::Email { email, components } => {
            if !s.email_enabled {
                return Err(ApiError::unprocessable(
                    "email subscribers need `smtp:` in the configuration",
                ));
            }
            let email = email.trim().to_string();
            email.parse::<lettre::Address>().map_err(|e| {
                ApiError::unprocessable(format!("email: `{email}` is not an address: {e}"))
            })?;
            let taken = s.outbox.subscribers().list()?.into_iter().find(|x| {
                matches!(&x.channel, Channel::Email { email: e } if e.eq_ignore_ascii_case(&email))
            });
            if let Some(existing) = taken {
                return Err(ApiError::conflict(format!(
                    "{email} is already subscriber {}",
                    existing.id
                ))
                .with(json!({"subscriber": existing.view()})));
            }
            (
                Channel::Email { email },
                components,
                SubscriberState::PendingConfirmation,
            )
        }
    };
    if let Some(list) = &components {
        if list.is_empty() {
            return Err(ApiError::unprocessable(
                "components: name at least one component, or leave it out for all",
            ));
        }
        for c in list {
            if s.public.component_info(c).is_none_or(|i| !i.public) {
                return Err(ApiError::unprocessable(format!(
                    "components: unknown component `{c}`"
                )));
            }
        }
    }
    let now = Utc::now();
    let subscriber = Subscriber {
        id: s.outbox.subscribers().next_id()?,
        channel,
        components,
        state,
        created_at: now,
        created_by: caller.name.clone(),
        confirmed_at: None,
        reason: None,
    };
    s.outbox.add_subscriber(&subscriber, now)?;
    s.outbox.store().durable().await?;
    Ok((StatusCode::CREATED, Json(subscriber.view())).into_response())
}

async fn list_subscribers(
    State(s): State<PublishApi>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Admin)?;
    let all: Vec<_> = s
        .outbox
        .subscribers()
        .list()?
        .iter()
        .map(Subscriber::view)
        .collect();
    Ok(Json(json!({ "subscribers": all })).into_response())
}

async fn get_subscriber(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Admin)?;
    let sub = s
        .outbox
        .subscribers()
        .get(&id)?
        .ok_or_else(|| ApiError::not_found(format!("subscriber {id} does not exist")))?;
    Ok(Json(sub.view()).into_response())
}

async fn delete_subscriber(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    if s.outbox.subscribers().get(&id)?.is_none() {
        return Err(ApiError::not_found(format!(
            "subscriber {id} does not exist"
        )));
    }
    s.outbox.remove_subscriber(&id, &caller.name, Utc::now())?;
    s.outbox.store().durable().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn confirm_page(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    match s
        .outbox
        .subscribers()
        .check_token(&token, LinkPurpose::Confirm)
    {
        None => invalid_link(&s),
        Some(_) => html(
            StatusCode::OK,
            &s.page_name,
            "Confirm your subscription",
            &format!(
                "<p>Receive status updates from {} at this address?</p>{}",
                esc(&s.page_name),
                form("/subscribers/confirm", &token, "Confirm subscription")
            ),
        ),
    }
}

async fn confirm(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let Some(id) = s
        .outbox
        .subscribers()
        .check_token(&token, LinkPurpose::Confirm)
    else {
        return invalid_link(&s);
    };
    let result = async {
        let Some(mut sub) = s.outbox.subscribers().get(&id)? else {
            return Ok(false);
        };
        if sub.state == SubscriberState::PendingConfirmation {
            sub.state = SubscriberState::Active;
            sub.confirmed_at = Some(Utc::now());
            s.outbox.subscribers().put(&sub)?;
            s.outbox.store().durable().await?;
        }
        Ok::<_, crate::store::StoreError>(true)
    }
    .await;
    match result {
        Ok(true) => html(
            StatusCode::OK,
            &s.page_name,
            "Subscription confirmed",
            "<p>You will receive an email when the status changes. Every email has a link to unsubscribe.</p>",
        ),
        Ok(false) => invalid_link(&s),
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn unsubscribe_page(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    match s
        .outbox
        .subscribers()
        .check_token(&token, LinkPurpose::Unsubscribe)
    {
        None => invalid_link(&s),
        Some(_) => html(
            StatusCode::OK,
            &s.page_name,
            "Unsubscribe",
            &format!(
                "<p>Stop receiving status updates from {}?</p>{}",
                esc(&s.page_name),
                form("/subscribers/unsubscribe", &token, "Unsubscribe")
            ),
        ),
    }
}

/// The link's form and RFC 8058 one-click (`List-Unsubscribe=One-Click`) both POST here.
async fn unsubscribe(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let Some(id) = s
        .outbox
        .subscribers()
        .check_token(&token, LinkPurpose::Unsubscribe)
    else {
        return invalid_link(&s);
    };
    let result = async {
        if s.outbox.subscribers().get(&id)?.is_some() {
            s.outbox
                .remove_subscriber(&id, "unsubscribe link", Utc::now())?;
            s.outbox.store().durable().await?;
        }
        Ok::<_, crate::store::StoreError>(())
    }
    .await;
    match result {
        Ok(()) => html(
            StatusCode::OK,
            &s.page_name,
            "Unsubscribed",
            "<p>This address will receive no more status updates.</p>",
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn invalid_link(s: &PublishApi) -> Response {
    html(
        StatusCode::NOT_FOUND,
        &s.page_name,
        "Link not valid",
        "<p>This link is not valid, or the subscription no longer exists.</p>",
    )
}

fn form(action: &str, token: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}?token={}\"><button type=\"submit\">{}</button></form>",
        esc(token),
        esc(button)
    )
}

fn esc(s: &str) -> String {
    handlebars::html_escape(s)
}

fn html(status: StatusCode, page: &str, title: &str, body: &str) -> Response {
    let text = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t} · {p}</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head>\
         <body><main><h1>{t}</h1>{body}<p><a href=\"/\">{p}</a></p></main></body></html>",
        t = esc(title),
        p = esc(page),
    );
    let mut r = (status, text).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn deliveries(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.tokens.authenticate(&headers)?.require(Role::Reader)?;
    let draft = s
        .drafts
        .get(&id)?
        .ok_or_else(|| ApiError::not_found(format!("draft {id} does not exist")))?;
    let entries = s.outbox.for_draft(&id)?;
    let report = s.health.report();
    let list: Vec<_> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "key": e.key,
                "target": e.target,
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
        })
        .collect();
    Ok(Json(json!({
        "draft_id": id,
        "state": draft.state,
        "conflict": draft.conflict,
        "deliveries": list,
    }))
    .into_response())
}

async fn retry(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let draft = s.decisions().retry(&id, &caller.name).await?;
    Ok(Json(draft).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    choice: Choice,
}

async fn resolve_conflict(
    State(s): State<PublishApi>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = s.tokens.authenticate(&headers)?;
    caller.require(Role::Admin)?;
    let bytes = read_json_body(&headers, body, s.max_body).await?;
    let req: ResolveBody = parse_json(&bytes)?;
    let draft = s
        .decisions()
        .resolve_conflict(&id, req.choice, &caller.name)
        .await?;
    Ok(Json(draft).into_response())
}
