//! HTML form bodies (`application/x-www-form-urlencoded`), for the server-rendered forms
//! of the internal board: size and content type checked before parsing, like JSON bodies.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header;

use super::body::from_body;
use super::read::read_body;
use super::{ApiError, BodyError, BodyLimit};

/// A form's fields in order, repeated names kept: 413 too large, 415 not a form, 400 not
/// decodable.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

from_body!(Form, Form, [], fields);

async fn fields(req: Request, max: usize) -> Result<Vec<(String, String)>, ApiError> {
    let (parts, body) = req.into_parts();
    let mime = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = mime.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type must be application/x-www-form-urlencoded (got `{}`)",
                if mime.is_empty() { "none" } else { mime }
            ),
        ));
    }
    let bytes = read_body(&parts.headers, body, max)
        .await
        .map_err(ApiError::from)?;
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::from(BodyError::Read(format!("not a form: {e}"))))
}
