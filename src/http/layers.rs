//! What axum and the per-router layers answer by themselves, brought in line with the
//! contract.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Paths whose errors are JSON (the rest is the HTML page).
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/webhooks/") || path.starts_with("/slack/")
}

/// Middleware over the whole router: a 405 on an API path becomes JSON (its `Allow` kept),
/// and every `/api/v2` answer (429 and 5xx included) carries
/// `Access-Control-Allow-Origin: *`, or a widget sees a CORS error instead of the status.
pub async fn edges(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let mut response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED && is_api(&path) {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        )
        .into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    if path.starts_with("/api/v2/") {
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

/// A JSON 404 for an API path nobody serves.
pub fn not_found(req: &Request<Body>) -> Response {
    ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.uri().path()
    ))
    .into_response()
}

/// Whether a request for `path` gets JSON errors.
pub fn wants_json(path: &str) -> bool {
    is_api(path)
}

/// Sets headers whose values are fixed text, replacing any already there.
pub fn fixed_headers(h: &mut axum::http::HeaderMap, fixed: &[(header::HeaderName, &'static str)]) {
    for (name, value) in fixed {
        h.insert(name.clone(), HeaderValue::from_static(value));
    }
}
