//! HTTP for outgoing delivery: subscribers (admin), the public confirm and unsubscribe
//! links, and per draft its deliveries, an admin's retry and an admin's choice on a
//! conflict.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use utoipa::{OpenApi, ToSchema};

use super::outbox::decide::Decisions;
use super::outbox::health::Health;
use super::outbox::{Attempt, Choice, Entry, EntryState, Outbox};
use super::subscribers::{Channel, Subscriber, SubscriberState};
use super::targets::webhook::SigningKey;
use super::PublicState;
use crate::draft::{Conflict, Draft, Drafts};
use crate::http::Tokens;
use crate::http::{
    endpoint, Admin, ApiError, ById, Caller, DraftId, ErrorBody, JsonBody, NoDraft, NoSubscriber,
    OrMissing, Path, Reader, SubscriberId,
};
use crate::vocab::DraftState;

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
    /// The configured audience ids a subscriber may be bound to.
    pub audiences: Vec<String>,
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

/// The OpenAPI description of this router's operations.
#[derive(OpenApi)]
#[openapi(paths(
    list_subscribers,
    add_subscriber,
    get_subscriber,
    delete_subscriber,
    deliveries,
    retry,
    resolve_conflict
))]
pub struct ApiDoc;

/// A subscriber as the API shows it (`Subscriber::view`): never its secret.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON `Subscriber::view` writes; only its schema is used.
struct SubscriberView {
    id: String,
    /// `webhook` or `email`.
    #[schema(rename = "type")]
    kind: String,
    /// For a webhook subscriber.
    #[schema(nullable = false)]
    url: Option<String>,
    /// For an email subscriber.
    #[schema(nullable = false)]
    email: Option<String>,
    /// Only these components; all when null.
    components: Option<Vec<String>>,
    /// Only the components of these groups (besides `components`).
    groups: Option<Vec<String>>,
    /// Receives what this audience's page shows; null: what the public page shows.
    audience: Option<String>,
    state: SubscriberState,
    created_at: chrono::DateTime<Utc>,
    created_by: String,
    confirmed_at: Option<chrono::DateTime<Utc>>,
    /// Why it was disabled.
    reason: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct SubscriberList {
    subscribers: Vec<SubscriberView>,
}

/// A draft's deliveries to external targets.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Deliveries {
    draft_id: String,
    state: DraftState,
    conflict: Option<Conflict>,
    deliveries: Vec<Delivery>,
}

/// One outbox entry of a draft.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Delivery {
    id: String,
    /// The same on every attempt: `<draft>-r<revision>/<target>`.
    key: String,
    /// A publisher's name, or `subscriber:<id>`.
    target: String,
    state: EntryState,
    attempts: u32,
    last_error: Option<String>,
    /// Set while pending.
    next_attempt_at: Option<chrono::DateTime<Utc>>,
    conflict: Option<Conflict>,
    choice: Option<Choice>,
    created_at: chrono::DateTime<Utc>,
    finished_at: Option<chrono::DateTime<Utc>>,
    note: Option<String>,
    /// The target's circuit breaker (`closed`, `open`, `half_open`), when it has one.
    breaker: Option<String>,
    /// The latest attempts, oldest first.
    log: Vec<Attempt>,
}

crate::edge_state!(PublishApi);

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
        .route("/api/v1/drafts/{id}/deliveries", get(deliveries))
        .route("/api/v1/drafts/{id}/retry", post(retry))
        .route(
            "/api/v1/drafts/{id}/resolve-conflict",
            post(resolve_conflict),
        )
        .with_state(state.clone())
        .merge(super::subscribers::links::router(state))
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum NewSubscriber {
    /// Signed webhooks (Standard Webhooks); active at once.
    Webhook {
        /// `http://` or `https://`.
        url: String,
        /// `whsec_<base64 key>`.
        secret: String,
        /// Only these components (at least one); all when absent.
        components: Option<Vec<String>>,
        /// Only the components of these groups (besides `components`).
        groups: Option<Vec<String>>,
        /// An audience id: receive what its page shows (the public incidents and its own).
        audience: Option<String>,
    },
    /// Email; active once the address follows its confirm link. Needs `smtp:`.
    Email {
        email: String,
        /// Only these components (at least one); all when absent.
        components: Option<Vec<String>>,
        /// Only the components of these groups (besides `components`).
        groups: Option<Vec<String>>,
        /// An audience id: receive what its page shows (the public incidents and its own).
        audience: Option<String>,
    },
}

endpoint! {
    /// Adds a subscriber.
    post("/api/v1/subscribers", tag = "subscribers", request_body = NewSubscriber, responses(
        (status = 201, description = "The subscriber (email: pending confirmation, a confirm link sent)", body = SubscriberView),
        (status = 409, description = "The address is already a subscriber (the answer carries `subscriber`)", body = ErrorBody),
    ))
    async fn add_subscriber(
        caller: Caller<Admin>,
        State(s): State<PublishApi>,
        JsonBody(req): JsonBody<NewSubscriber>,
    ) {
        let subscriber = subscribe(&s, &caller.name, req).await?;
        Ok((StatusCode::CREATED, Json(subscriber.view())).into_response())
    }
}

/// Checks a new subscriber and adds it (durably): an email address must parse and not be
/// taken, a webhook's URL and secret must be usable, and what it chose must exist.
async fn subscribe(
    s: &PublishApi,
    actor: &str,
    req: NewSubscriber,
) -> Result<Subscriber, ApiError> {
    let (channel, components, groups, audience, state) = match req {
        NewSubscriber::Webhook {
            url,
            secret,
            components,
            groups,
            audience,
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
            (
                channel,
                components,
                groups,
                audience,
                SubscriberState::Active,
            )
        }
        NewSubscriber::Email {
            email,
            components,
            groups,
            audience,
        } => {
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
                groups,
                audience,
                SubscriberState::PendingConfirmation,
            )
        }
    };
    if let Some(a) = &audience {
        if !s.audiences.contains(a) {
            return Err(ApiError::unprocessable(format!(
                "audience: unknown audience `{a}`"
            )));
        }
    }
    let seen = s.public.visibility(audience.as_deref());
    let infos = s.outbox.infos();
    super::subscribers::check_choice(&seen, &infos, components.as_deref(), groups.as_deref())
        .map_err(ApiError::unprocessable)?;
    let now = Utc::now();
    let subscriber = Subscriber {
        id: s.outbox.subscribers().next_id()?,
        channel,
        components,
        groups,
        audience,
        state,
        created_at: now,
        created_by: actor.to_string(),
        confirmed_at: None,
        reason: None,
    };
    s.outbox.add_subscriber(&subscriber, now)?;
    s.outbox.store().durable().await?;
    Ok(subscriber)
}

endpoint! {
    /// Every subscriber.
    get("/api/v1/subscribers", tag = "subscribers", responses(
        (status = 200, description = "Subscribers", body = SubscriberList),
    ))
    async fn list_subscribers(_caller: Caller<Admin>, State(s): State<PublishApi>) {
        let all: Vec<_> = s
            .outbox
            .subscribers()
            .list()?
            .iter()
            .map(Subscriber::view)
            .collect();
        Ok(Json(json!({ "subscribers": all })).into_response())
    }
}

/// The subscriber `/subscribers/{id}` names; 404 when there is none. Like [`Path`], listed
/// after the [`Caller`], so that an unauthenticated request learns nothing but 401.
struct Named(Subscriber);

impl FromRequestParts<PublishApi> for Named {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &PublishApi) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, s).await?;
        let sub = s
            .outbox
            .subscribers()
            .get(&id)?
            .or_missing("subscriber", &id)?;
        Ok(Named(sub))
    }
}

endpoint! {
    /// One subscriber.
    get("/api/v1/subscribers/{id}", tag = "subscribers", params(SubscriberId), responses(
        (status = 200, description = "The subscriber", body = SubscriberView),
        NoSubscriber,
    ))
    async fn get_subscriber(_caller: Caller<Admin>, Named(sub): Named) {
        Ok(Json(sub.view()).into_response())
    }
}

endpoint! {
    /// Removes a subscriber; its pending deliveries are dropped.
    delete("/api/v1/subscribers/{id}", tag = "subscribers", params(SubscriberId), responses(
        (status = 204, description = "Removed"),
        NoSubscriber,
    ))
    async fn delete_subscriber(
        caller: Caller<Admin>,
        State(s): State<PublishApi>,
        Named(sub): Named,
    ) {
        s.outbox
            .remove_subscriber(&sub.id, &caller.name, Utc::now())?;
        s.outbox.store().durable().await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

endpoint! {
    /// A draft's deliveries to each external target, with their attempts.
    get("/api/v1/drafts/{id}/deliveries", tag = "deliveries", params(DraftId), responses(
        (status = 200, description = "Deliveries", body = Deliveries),
        NoDraft,
    ))
    async fn deliveries(ById(_, s, id): ById<Reader, PublishApi>) {
        let draft = s.drafts.get(&id)?.or_missing("draft", &id)?;
        let entries = s.outbox.for_draft(&id)?;
        let report = s.health.report();
        let list: Vec<_> = entries.iter().map(|e| delivery_view(e, &report)).collect();
        Ok(Json(json!({
            "draft_id": id,
            "state": draft.state,
            "conflict": draft.conflict,
            "deliveries": list,
        }))
        .into_response())
    }
}

/// One outbox entry as the delivery endpoints show it (drafts' and maintenances'), with
/// its target's circuit breaker from `report` (`Health::report`).
pub(crate) fn delivery_view(e: &Entry, report: &Value) -> Value {
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
}

endpoint! {
    /// Retries a draft's failed deliveries (after `delivery.give_up_after`, or a target's
    /// permanent refusal).
    post("/api/v1/drafts/{id}/retry", tag = "deliveries", params(DraftId), responses(
        (status = 200, description = "The draft, its failed deliveries pending again", body = Draft),
        NoDraft,
        (status = 409, description = "Nothing failed to retry", body = ErrorBody),
    ))
    async fn retry(ById(caller, s, id): ById<Admin, PublishApi>) {
        let draft = s.decisions().retry(&id, &caller.name).await?;
        Ok(Json(draft).into_response())
    }
}

// Shared with maintenances' conflicts: the document has one `ResolveBody`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// `overwrite` the hand edit on the target, or keep `theirs` and send the rest.
    pub(crate) choice: Choice,
}

endpoint! {
    /// Settles a conflict with a hand edit on an external target.
    post("/api/v1/drafts/{id}/resolve-conflict", tag = "deliveries", params(DraftId), request_body = ResolveBody, responses(
        (status = 200, description = "The draft, its held deliveries pending again", body = Draft),
        NoDraft,
        (status = 409, description = "The draft has no conflict", body = ErrorBody),
    ))
    async fn resolve_conflict(
        ById(caller, s, id): ById<Admin, PublishApi>,
        JsonBody(req): JsonBody<ResolveBody>,
    ) {
        let draft = s
            .decisions()
            .resolve_conflict(&id, req.choice, &caller.name)
            .await?;
        Ok(Json(draft).into_response())
    }
}
