//! The one error type at the HTTP edge: a status and a JSON body `{"error": …}` written
//! for a human. Causes of 5xx are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::store::StoreError;

/// One constructor per plain status: `ApiError::conflict("…")` rather than spelling the
/// status out at every call.
macro_rules! statuses {
    ($($name:ident => $status:ident,)*) => {$(
        pub fn $name(m: impl Into<String>) -> Self {
            Self::new(StatusCode::$status, m)
        }
    )*};
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub extra: Option<Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }
    statuses! {
        bad_request => BAD_REQUEST,
        unauthorized => UNAUTHORIZED,
        forbidden => FORBIDDEN,
        not_found => NOT_FOUND,
        conflict => CONFLICT,
        unprocessable => UNPROCESSABLE_ENTITY,
    }
    /// 503 with `Retry-After`: the sender should try again (Alertmanager retries only 5xx).
    pub fn unavailable(m: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, m);
        e.retry_after = Some(retry_after);
        e
    }
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
        self
    }
}

/// `From<$error> for ApiError` for a subsystem's error enum: each listed variant answers
/// its status with the error's own words; `Store` is storage's 503.
#[macro_export]
macro_rules! error_statuses {
    ($error:ident { $($variant:ident => $status:ident,)* }) => {
        impl From<$error> for $crate::http::ApiError {
            fn from(e: $error) -> Self {
                match e {
                    $error::Store(e) => e.into(),
                    $(e @ $error::$variant { .. } => Self::$status(e.to_string()),)*
                }
            }
        }
    };
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failed");
        ApiError::unavailable("storage is unavailable; try again shortly", 5)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let (Some(Value::Object(extra)), Some(obj)) = (self.extra, body.as_object_mut()) {
            for (k, v) in extra {
                obj.insert(k, v);
            }
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Parses a JSON body: broken syntax or bad UTF-8 is 400, the wrong shape is 422.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::bad_request(format!(
            "body is not valid UTF-8: {e}"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::unprocessable(format!("JSON has the wrong shape: {e}")),
            _ => ApiError::bad_request(format!("body is not valid JSON: {e}")),
        }
    })
}
