//! Query strings and path parameters, refused as JSON like every other error. List them
//! after [`super::Caller`] so that an unauthenticated request learns nothing but 401.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A query string parsed as `T`: an unknown parameter (with `deny_unknown_fields`) or a
/// value of the wrong type is 422.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(raw)
            .map(Query)
            .map_err(|e| ApiError::unprocessable(format!("query string: {e}")))
    }
}

/// Path parameters parsed as `T`: one that cannot be decoded (bad percent-encoding, not
/// UTF-8) is 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "path parameter: {}",
                e.body_text()
            ))),
        }
    }
}
