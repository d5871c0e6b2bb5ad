//! `POST /webhooks/alertmanager`: Alertmanager's webhook payload, version "4".

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Alert, AlertStatus, Recorder, Source};
use crate::config::Secret;
use crate::http::read_json_body;
use crate::http::{parse_json, ApiError};
use crate::limits::{client_key, retry_after_secs, KeyedLimit};
use crate::metrics::Metrics;

/// The webhook body. Unknown keys are ignored (newer Alertmanagers add some).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    #[serde(default)]
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    pub alerts: Vec<PayloadAlert>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayloadAlert {
    pub status: PayloadStatus,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<FixedOffset>,
    #[serde(default)]
    pub ends_at: Option<DateTime<FixedOffset>>,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PayloadStatus {
    Firing,
    Resolved,
}

impl Payload {
    /// Checks what serde cannot and turns the payload into alerts.
    pub fn into_alerts(self, received_at: DateTime<Utc>) -> Result<Vec<Alert>, String> {
        if self.version != "4" {
            return Err(format!(
                "unsupported payload version `{}` (statusgate reads Alertmanager's version \"4\")",
                self.version
            ));
        }
        let mut out = Vec::with_capacity(self.alerts.len());
        for (i, a) in self.alerts.into_iter().enumerate() {
            if a.labels.is_empty() {
                return Err(format!("alerts[{i}] has no labels"));
            }
            let fingerprint = if a.fingerprint.trim().is_empty() {
                fingerprint_of(&a.labels)
            } else {
                a.fingerprint.trim().to_string()
            };
            // Alertmanager writes the zero time for "not ended".
            let ends_at = a
                .ends_at
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| t.timestamp() > 0);
            let mut labels = a.labels;
            Source::Alertmanager.stamp(&mut labels);
            out.push(Alert {
                key: format!("am:{fingerprint}"),
                source: Source::Alertmanager,
                fingerprint,
                status: match a.status {
                    PayloadStatus::Firing => AlertStatus::Firing,
                    PayloadStatus::Resolved => AlertStatus::Resolved,
                },
                labels,
                annotations: a.annotations,
                starts_at: a.starts_at.with_timezone(&Utc),
                ends_at,
                generator_url: a.generator_url,
                received_at,
                truncated: self.truncated_alerts,
                changed_at: None,
            });
        }
        Ok(out)
    }
}

/// A stable fingerprint from labels, for payloads posted by hand without one.
pub fn fingerprint_of(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xfe]);
    }
    hex::encode(&h.finalize()[..8])
}

/// How Alertmanager must authenticate: bearer token, basic auth, either, or (when neither
/// is configured) not at all.
#[derive(Clone, Default)]
pub struct SourceAuth {
    pub bearer: Option<Secret>,
    pub basic: Option<(String, Secret)>,
}

impl SourceAuth {
    pub fn is_open(&self) -> bool {
        self.bearer.is_none() && self.basic.is_none()
    }

    /// Checks the credentials; returns which one was used (`None` when auth is off).
    pub fn check(&self, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
        if self.is_open() {
            return Ok(None);
        }
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?;
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        let scheme = scheme.to_ascii_lowercase();
        let ok = match scheme.as_str() {
            "bearer" => self
                .bearer
                .as_ref()
                .is_some_and(|t| t.matches(credentials.trim().as_bytes())),
            "basic" => self.basic.as_ref().is_some_and(|(user, pass)| {
                base64::engine::general_purpose::STANDARD
                    .decode(credentials.trim())
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .and_then(|pair| {
                        pair.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    })
                    .is_some_and(|(u, p)| {
                        // Evaluate both comparisons: no early exit on a wrong user name.
                        let user_ok = Secret::new(user.clone()).matches(u.as_bytes());
                        let pass_ok = pass.matches(p.as_bytes());
                        user_ok & pass_ok
                    })
            }),
            _ => false,
        };
        if ok {
            Ok(Some(format!("cred:{scheme}")))
        } else {
            Err(ApiError::unauthorized("invalid credentials"))
        }
    }
}

#[derive(Clone)]
pub struct AlertmanagerIngest {
    pub recorder: Recorder,
    pub auth: SourceAuth,
    pub max_body: usize,
    pub metrics: Arc<Metrics>,
    pub limit: KeyedLimit,
    pub trusted_header: Option<String>,
    /// Told of every delivery (the watchdog's heartbeat, given by the wiring).
    pub watchdog: Option<Arc<dyn Heartbeat>>,
}

/// Something that wants to see every delivery, repeats included: they are what proves the
/// feed alive. The watchdog implements it; ingest knows it only as this.
pub trait Heartbeat: Send + Sync {
    fn delivered(&self, alerts: &[Alert], now: DateTime<Utc>);
}

/// The OpenAPI description of the Alertmanager webhook.
#[derive(utoipa::OpenApi)]
#[openapi(paths(receive))]
pub struct ApiDoc;

/// What an accepted delivery is answered with.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Accepted {
    /// `ok`.
    status: String,
    /// Alerts in the delivery.
    alerts: usize,
    /// Alerts whose state changed.
    new: usize,
    /// Alerts already known in this state (retries, HA replicas, re-sends).
    duplicates: usize,
}

pub fn router(state: AlertmanagerIngest) -> Router {
    Router::new()
        .route("/webhooks/alertmanager", post(receive))
        .with_state(state)
}

/// Alertmanager's webhook (payload version 4). Answered 2xx only once the alerts are
/// durable; a repeated delivery changes nothing. Overload and storage trouble are 503 with
/// `Retry-After`, never a 4xx: Alertmanager drops a notification answered 4xx.
#[utoipa::path(
    post,
    path = "/webhooks/alertmanager",
    operation_id = "alertmanager_webhook",
    tag = "ingest",
    request_body = Payload,
    responses(
        (status = 200, description = "Recorded", body = Accepted),
        (status = 400, description = "Not JSON", body = crate::http::ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = crate::http::ErrorBody),
        (status = 413, description = "Larger than `max_body` (after decompression)", body = crate::http::ErrorBody),
        (status = 415, description = "Not `application/json`, or an unknown `Content-Encoding`", body = crate::http::ErrorBody),
        (status = 422, description = "Not a version 4 payload, or fields of the wrong type", body = crate::http::ErrorBody),
        (status = 503, description = "Over the ingest rate limit, or storage unavailable: retry after `Retry-After`", body = crate::http::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("alertmanager_bearer" = []), ("alertmanager_basic" = [])),
)]
#[tracing::instrument(skip_all, fields(source = "alertmanager"))]
async fn receive(State(s): State<AlertmanagerIngest>, req: axum::extract::Request) -> Response {
    let client = client_key(&req, s.trusted_header.as_deref());
    let (parts, body) = req.into_parts();
    let outcome = handle(&s, &parts.headers, &client, body).await;
    let label = match &outcome {
        Ok(_) => "accepted",
        Err(e) if e.status == StatusCode::UNAUTHORIZED => "unauthorized",
        Err(e) if e.status.is_server_error() => "unavailable",
        Err(_) => "rejected",
    };
    s.metrics.webhook("alertmanager", label);
    match outcome {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(status = e.status.as_u16(), error = %e.message, "alertmanager webhook refused");
            e.into_response()
        }
    }
}

async fn handle(
    s: &AlertmanagerIngest,
    headers: &HeaderMap,
    client: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let who = s.auth.check(headers)?;
    // Per sender: the credential when there is one, else the client address. Over the
    // limit Alertmanager must retry, and it retries only 5xx.
    let key = who.unwrap_or_else(|| format!("addr:{client}"));
    if let Err(wait) = s.limit.check(&key) {
        s.metrics.rate_limited("ingest");
        return Err(ApiError::unavailable(
            "rate limit exceeded; retry later (nothing was recorded)",
            retry_after_secs(wait),
        ));
    }
    let bytes = read_json_body(headers, body, s.max_body).await?;
    let payload: Payload = parse_json(&bytes)?;
    let now = Utc::now();
    let detail = json!({
        "receiver": payload.receiver,
        "group_key": payload.group_key,
        "truncated_alerts": payload.truncated_alerts,
    });
    let truncated = payload.truncated_alerts;
    let alerts = payload.into_alerts(now).map_err(ApiError::unprocessable)?;
    if let Some(w) = &s.watchdog {
        // Every delivery counts, repeats included: they are what proves the feed is alive.
        w.delivered(&alerts, now);
    }
    let count = alerts.len();
    let outcome = s
        .recorder
        .record(Source::Alertmanager, alerts, detail, now)
        .await?;
    s.metrics
        .alerts_ingested("alertmanager", outcome.new as u64);
    if truncated > 0 {
        tracing::warn!(
            truncated,
            "Alertmanager truncated this group (max_alerts); some alerts were not sent"
        );
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "status": "ok",
            "alerts": count,
            "new": outcome.new,
            "duplicates": outcome.duplicates,
        })),
    )
        .into_response())
}
