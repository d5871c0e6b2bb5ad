//! The pages an emailed subscriber's links open: confirm (double opt-in) and unsubscribe
//! (a link, and RFC 8058 one-click). A GET only shows a button and a POST acts, so mail
//! scanners that prefetch links confirm or unsubscribe nobody.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::http::fixed_headers;
use crate::http::ApiError;
use crate::publish::api::PublishApi;
use crate::publish::subscribers::{LinkPurpose, SubscriberState};
use crate::store::StoreError;

/// The OpenAPI description of these pages.
#[derive(OpenApi)]
#[openapi(paths(confirm_page, confirm, unsubscribe_page, unsubscribe))]
pub struct ApiDoc;

pub fn router(state: PublishApi) -> Router {
    Router::new()
        .route("/subscribers/confirm", get(confirm_page).post(confirm))
        .route(
            "/subscribers/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
        .with_state(state)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TokenQuery {
    /// The token from the link in the email.
    token: Option<String>,
}

/// Each link endpoint is documented alike: public, the token in the query, and an HTML page
/// (`$page` says which) or the link's 404. Only method, path and page differ.
macro_rules! link_endpoint {
    (
        $(#[$doc:meta])*
        $method:ident $path:tt, $page:tt,
        async fn $name:ident $($handler:tt)*
    ) => {
        $(#[$doc])*
        #[utoipa::path(
            $method,
            path = $path,
            tag = "public",
            params(TokenQuery),
            responses(
                (status = 200, description = $page, content_type = "text/html", body = String),
                InvalidLink,
            ),
        )]
        async fn $name $($handler)*
    };
}

link_endpoint! {
    /// The page an emailed confirm link opens: a button that confirms (a GET changes nothing, so mail scanners cannot confirm).
    get "/subscribers/confirm", "A page asking to confirm",
    async fn confirm_page(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
        let title = ("Confirm your subscription", "Confirm subscription");
        let choices = super::choice::form_for(&s, q.token.as_deref());
        ask(&s, q, LinkPurpose::Confirm, title, choices, |page| {
            format!("Receive status updates from {page} at this address?")
        })
    }
}

link_endpoint! {
    /// Confirms an email subscription (double opt-in).
    post "/subscribers/confirm", "Confirmed",
    async fn confirm(State(s): State<PublishApi>, Query(q): Query<TokenQuery>, form: Bytes) -> Response {
        let done = (
            "Subscription confirmed",
            "<p>You will receive an email when the status changes. Every email has a link to unsubscribe. This page's link lets you change what you receive.</p>",
        );
        // The form's choice of components and groups (none sent: keep what there is).
        let chosen = match super::choice::read(&form) {
            Ok(c) => c,
            Err(e) => return html(StatusCode::UNPROCESSABLE_ENTITY, &s.page_name, "Not saved", &format!("<p>{}</p>", esc(&e))),
        };
        let mut refused = None;
        let outcome = act(&s, q, LinkPurpose::Confirm, done, async |id| {
            let Some(mut sub) = s.outbox.subscribers().get(id)? else {
                return Ok(false);
            };
            if let Some(choice) = &chosen {
                if let Err(e) = super::choice::apply(&s, &mut sub, choice) {
                    refused = Some(e);
                    return Ok(true);
                }
            }
            if sub.state == SubscriberState::PendingConfirmation {
                sub.state = SubscriberState::Active;
                sub.confirmed_at = Some(Utc::now());
            }
            s.outbox.subscribers().put(&sub)?;
            s.outbox.store().durable().await?;
            Ok(true)
        })
        .await;
        match refused {
            Some(e) => html(StatusCode::UNPROCESSABLE_ENTITY, &s.page_name, "Not saved", &format!("<p>{}</p>", esc(&e))),
            None => outcome,
        }
    }
}

link_endpoint! {
    /// The page an email's unsubscribe link opens: a button that unsubscribes.
    get "/subscribers/unsubscribe", "A page asking to unsubscribe",
    async fn unsubscribe_page(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
        ask(
            &s,
            q,
            LinkPurpose::Unsubscribe,
            ("Unsubscribe", "Unsubscribe"),
            String::new(),
            |page| format!("Stop receiving status updates from {page}?"),
        )
    }
}

link_endpoint! {
    /// The link's form and RFC 8058 one-click (`List-Unsubscribe=One-Click`) both POST here.
    post "/subscribers/unsubscribe", "Unsubscribed",
    async fn unsubscribe(State(s): State<PublishApi>, Query(q): Query<TokenQuery>) -> Response {
        let done = ("Unsubscribed", "<p>This address will receive no more status updates.</p>");
        act(&s, q, LinkPurpose::Unsubscribe, done, async |id| {
            if s.outbox.subscribers().get(id)?.is_some() {
                s.outbox.remove_subscriber(id, "unsubscribe link", Utc::now())?;
                s.outbox.store().durable().await?;
            }
            Ok(true)
        })
        .await
    }
}

/// A link's POST: `change` the subscriber the token names (false: it no longer exists),
/// then a page (title, text) saying it is done.
async fn act(
    s: &PublishApi,
    q: TokenQuery,
    purpose: LinkPurpose,
    (title, text): (&str, &str),
    change: impl AsyncFnOnce(&str) -> Result<bool, StoreError>,
) -> Response {
    let token = q.token.unwrap_or_default();
    let Some(id) = s.outbox.subscribers().check_token(&token, purpose) else {
        return invalid_link(s);
    };
    match change(&id).await {
        Ok(true) => html(StatusCode::OK, &s.page_name, title, text),
        Ok(false) => invalid_link(s),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A link's page (title, button): it asks, and its button POSTs the token back to the
/// same path.
fn ask(
    s: &PublishApi,
    q: TokenQuery,
    purpose: LinkPurpose,
    (title, button): (&str, &str),
    fields: String,
    question: impl FnOnce(&str) -> String,
) -> Response {
    let token = q.token.unwrap_or_default();
    if s.outbox
        .subscribers()
        .check_token(&token, purpose)
        .is_none()
    {
        return invalid_link(s);
    }
    let action = match purpose {
        LinkPurpose::Confirm => "/subscribers/confirm",
        LinkPurpose::Unsubscribe => "/subscribers/unsubscribe",
    };
    let body = format!(
        "<p>{}</p>{}",
        question(&esc(&s.page_name)),
        form(action, &token, &fields, button)
    );
    html(StatusCode::OK, &s.page_name, title, &body)
}

/// A link's 404, for the document.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "The link is not valid, or the subscription no longer exists",
    content_type = "text/html"
)]
#[allow(dead_code)] // Describes what `invalid_link` answers.
struct InvalidLink(String);

fn invalid_link(s: &PublishApi) -> Response {
    html(
        StatusCode::NOT_FOUND,
        &s.page_name,
        "Link not valid",
        "<p>This link is not valid, or the subscription no longer exists.</p>",
    )
}

/// `fields` is HTML made here (escaped where it holds text).
fn form(action: &str, token: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}?token={}\">{fields}<button type=\"submit\">{}</button></form>",
        esc(token),
        esc(button)
    )
}

pub(super) fn esc(s: &str) -> String {
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
    fixed_headers(
        r.headers_mut(),
        &[
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
    );
    r
}
