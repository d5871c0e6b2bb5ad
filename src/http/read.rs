//! Reading a request body safely: content type, encoding and size are checked before any
//! parsing; a gzip body is bounded after decompression.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

use super::ApiError;

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
    /// The sender stalled: transient, so the answer makes it retry (503 + `Retry-After`;
    /// Alertmanager treats every 4xx as permanent, PagerDuty counts them towards disabling).
    #[error("the body did not arrive within {0} seconds; try again")]
    TimedOut(u64),
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
            BodyError::TimedOut(_) => return ApiError::unavailable(e.to_string(), 1),
        };
        ApiError::new(status, e.to_string())
    }
}

/// Reads at most `max` bytes. Past the limit the rest is read and dropped (up to a bound)
/// so that the sender sees a clean 413 rather than a reset connection.
async fn read_bounded(body: Body, max: usize, declared: Option<usize>) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    const DRAIN_LIMIT: usize = 16 << 20;
    const READ_TIMEOUT_SECS: u64 = 5;
    let mut body = body;
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0).min(max));
    let mut seen = 0usize;
    let drain = tokio::time::timeout(std::time::Duration::from_secs(READ_TIMEOUT_SECS), async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen <= max {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        Ok::<(), BodyError>(())
    });
    match drain.await {
        Ok(r) => r?,
        Err(_) if seen > max => {}
        Err(_) => return Err(BodyError::TimedOut(READ_TIMEOUT_SECS)),
    }
    if seen > max || declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge(max));
    }
    Ok(buf.freeze())
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
    if !super::body::is_json(content_type) {
        return Err(BodyError::ContentType(if content_type.is_empty() {
            "none".into()
        } else {
            content_type.into()
        }));
    }
    read_body(headers, body, max).await
}

/// Reads at most `max` bytes exactly as they came, neither decoded nor judged: for a
/// signature over the bytes on the wire, checked before anything else.
pub async fn read_raw(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, BodyError> {
    read_bounded(body, max, declared_length(headers)).await
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// Reads at most `max` bytes (after gzip decompression) whatever the content type: for
/// senders whose authenticity is checked on the raw bytes before anything else is judged.
pub async fn read_body(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, BodyError> {
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
    let raw = read_bounded(body, max, declared_length(headers)).await?;
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
