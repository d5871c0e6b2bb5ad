//! JSON request bodies: content type, encoding and size are checked before parsing, and a
//! body must be a JSON object (serde would otherwise take `[1]` for a struct).

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::read::{read_body, read_json_body};
use super::{parse_json, ApiError};

/// The largest body a router takes (`max_body`), after gzip decompression.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON object body parsed as `T`: 400 broken JSON or bad UTF-8, 413 too large, 415
/// wrong content type or encoding, 422 wrong shape (anything but an object, wrong types,
/// missing or unknown fields).
pub struct JsonBody<T>(pub T);

/// Like [`JsonBody`], but an empty body (whatever its content type) is `T::default()`:
/// for endpoints whose every field is optional.
pub struct JsonOrEmpty<T>(pub T);

/// `FromRequest` for a body extractor (JSON here, forms in `form.rs`): the router's limit,
/// then `$read` does the rest and `$wrap` wraps what it read.
macro_rules! from_body {
    ($ty:ty, $wrap:path, [$($generics:tt)*], $read:path) => {
        impl<$($generics)* S> FromRequest<S> for $ty
        where
            BodyLimit: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
                let BodyLimit(max) = BodyLimit::from_ref(state);
                $read(req, max).await.map($wrap)
            }
        }
    };
}
pub(super) use from_body;

from_body!(JsonBody<T>, JsonBody, [T: DeserializeOwned,], object);
from_body!(JsonOrEmpty<T>, JsonOrEmpty, [T: DeserializeOwned + Default,], object_or_default);

async fn object<T: DeserializeOwned>(req: Request, max: usize) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    parse_object(&read_json_body(&parts.headers, body, max).await?)
}

async fn object_or_default<T: DeserializeOwned + Default>(
    req: Request,
    max: usize,
) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    // `curl -X POST` sends no content type and `curl -d ''` a form one; both say
    // "nothing to add". Only a body with something in it must be JSON.
    let bytes = read_body(&parts.headers, body, max).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mime = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(mime) {
        return Err(super::BodyError::ContentType(if mime.is_empty() {
            "none".into()
        } else {
            mime.into()
        })
        .into());
    }
    parse_object(&bytes)
}

/// `application/json` or `application/<anything>+json`, parameters ignored.
pub(super) fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a body that must be a JSON object: broken JSON is 400; an array, string, number,
/// `true`, `false` or `null` is 422, as is an object of the wrong shape.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that `[1,` stays a 400 and only well-formed JSON is judged by shape.
    parse_json::<serde::de::IgnoredAny>(bytes)?;
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::unprocessable(
            "JSON has the wrong shape: the body must be a JSON object",
        ));
    }
    parse_json(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // Only parsed.
    struct Approve {
        revision: u32,
    }

    #[test]
    fn only_an_object_is_taken_for_a_struct() {
        assert!(parse_object::<Approve>(br#" {"revision": 1}"#).is_ok());
        for body in [
            "[1]",
            "1",
            "\"x\"",
            "null",
            "true",
            r#"{"revision": "1"}"#,
            "{}",
        ] {
            let e = parse_object::<Approve>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status.as_u16(), 422, "{body}: {}", e.message);
        }
        let e = parse_object::<Approve>(br#"{"revision": 1, "x": 2}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422, "unknown fields stay refused");
        for body in ["[1,", "{", "", "\u{7f}"] {
            let e = parse_object::<Approve>(body.as_bytes()).unwrap_err();
            assert_eq!(e.status.as_u16(), 400, "{body:?}: {}", e.message);
        }
        let e = parse_object::<Approve>(b"\xff").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }

    #[test]
    fn json_content_types() {
        for ct in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json(ct), "{ct}");
        }
        for ct in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
        ] {
            assert!(!is_json(ct), "{ct}");
        }
    }
}
