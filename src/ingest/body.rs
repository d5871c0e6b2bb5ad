//! Reading a request body safely: content type, encoding and size are checked before any
//! parsing; a gzip body is bounded after decompression.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

use crate::error::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BodyError {
    #[error("Content-Type must be application/json (got `{0}`)")]
    ContentType(String),
    #[error("Content-Encoding `{0}` is not supported (use gzip or none)")]
    Encoding(String),
    #[error("body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("body could not be read: {0}")]
    Read(String),
    #[error("body is not valid gzip: {0}")]
    Gzip(String),
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        use axum::http::StatusCode;
        let status = match e {
            BodyError::ContentType(_) | BodyError::Encoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) | BodyError::Gzip(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Checks the headers, then reads at most `max` bytes (after gzip decompression).
pub async fn read_json_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, BodyError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(mime == "application/json"
        || (mime.starts_with("application/") && mime.ends_with("+json")))
    {
        return Err(BodyError::ContentType(if content_type.is_empty() {
            "none".into()
        } else {
            content_type.into()
        }));
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let gzip = match encoding.as_str() {
        "" | "identity" => false,
        "gzip" | "x-gzip" => true,
        other => return Err(BodyError::Encoding(other.into())),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    let raw = axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            BodyError::TooLarge(max)
        } else {
            BodyError::Read(e.to_string())
        }
    })?;
    if !gzip {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_ref())
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(Bytes::from(out))
}
