//! Audience pages at `/a/{id}/`: the page router mounted again for each configured
//! audience, behind a guard that admits the audience's token (bearer) or its link key
//! (`?key=`). Anyone else gets exactly the 404 an unknown path gets, so audience ids
//! cannot be probed.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::{index, not_found_html, router, PageState};
use crate::http::fixed_headers;
use crate::publish::audience::Audience;

/// One router serving every audience's page; `layer` wraps each (the public rate limit),
/// inside the guard so that a refused request costs nothing and says nothing.
pub fn audience_routers(
    page: &PageState,
    audiences: Vec<Audience>,
    layer: impl Fn(Router) -> Router,
) -> Router {
    let mut out = Router::new();
    for audience in audiences {
        let base = format!("/a/{}", audience.id);
        let state = page.for_audience(audience);
        let pages = Router::new()
            // Nesting serves `/a/{id}`; the trailing-slash form is the documented address.
            .route(&format!("{base}/"), get(index))
            .with_state(state.clone())
            .nest(&base, router(state.clone()));
        out = out.merge(layer(pages).layer(axum::middleware::from_fn_with_state(state, guard)));
    }
    out
}

/// Admits the audience's readers; their answers are private (never kept by a shared
/// cache). Everyone else gets the page's ordinary 404.
async fn guard(State(s): State<PageState>, req: Request<Body>, next: Next) -> Response {
    let Some(audience) = s.audience.as_deref() else {
        return not_found_html(&s.templates, &s.page);
    };
    let bearer = bearer(req.headers());
    let key = req.uri().query().and_then(key_param);
    if !audience.admits(bearer.as_deref(), key.as_deref()) {
        return not_found_html(&s.templates, &s.page);
    }
    let mut response = next.run(req).await;
    fixed_headers(
        response.headers_mut(),
        &[(header::CACHE_CONTROL, "private, no-cache")],
    );
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_string())
}

fn key_param(query: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v)
}
