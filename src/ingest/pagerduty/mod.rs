//! `POST /webhooks/pagerduty`: PagerDuty V3 webhooks. Size and signature come first (413,
//! 401); every authentic delivery then gets a 2xx, because PagerDuty disables a
//! subscription after three refused deliveries. What cannot be used is recorded as
//! `ignored`. An incident becomes the alert `pd:<incident id>`; its events are applied in
//! `occurred_at` order, and event ids are remembered so that retries change nothing.

mod event;
mod seen;
pub mod signature;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub use event::{parse, Event, Meaning};
pub use seen::{SeenEvents, SEEN_TABLE};

use super::{Alert, Recorder};
use crate::audit::AuditEntry;
use crate::config::Secret;
use crate::http::read_body;
use crate::http::ApiError;
use crate::metrics::Metrics;

pub use crate::alert::pagerduty::{
    ANNOTATION_STATUS, ANNOTATION_STATUS_UPDATE, ANNOTATION_STATUS_UPDATE_AT,
    ANNOTATION_STATUS_UPDATE_RECEIVED_AT,
};

const SOURCE: &str = "pagerduty";

/// Why labels would reach no component (`None`: some route maps them). Given by the
/// wiring, so that ingest can record an unmapped incident as ignored.
pub type Unrouted = Arc<dyn Fn(&BTreeMap<String, String>) -> Option<String> + Send + Sync>;

#[derive(Clone)]
pub struct PagerDutyIngest {
    pub recorder: Recorder,
    /// Empty: the endpoint is off (404).
    pub secrets: Arc<Vec<Secret>>,
    /// Urgency → `severity` label (`sources.pagerduty.severity`).
    pub severity: BTreeMap<String, String>,
    pub unrouted: Unrouted,
    pub seen: Arc<SeenEvents>,
    pub max_body: usize,
    pub metrics: Arc<Metrics>,
    /// One delivery at a time: an event is merged with the incident as last seen, and two
    /// merges must not interleave.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    /// Per subscription (`X-Webhook-Subscription`); PagerDuty retries a 429.
    pub limit: crate::limits::KeyedLimit,
}

/// The OpenAPI description of the PagerDuty webhook.
#[derive(utoipa::OpenApi)]
#[openapi(paths(receive))]
pub struct ApiDoc;

/// How an authentic delivery was taken.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Answer {
    /// `accepted`, `ignored` (recorded, not usable: the reason says why) or `duplicate`.
    status: String,
    /// With `accepted`: alerts whose state changed.
    #[schema(nullable = false)]
    new: Option<usize>,
    /// With `ignored`.
    #[schema(nullable = false)]
    reason: Option<String>,
}

pub fn router(state: PagerDutyIngest) -> Router {
    Router::new()
        .route("/webhooks/pagerduty", post(receive))
        .with_state(state)
}

/// How one authentic delivery ended.
enum Taken {
    Accepted { new: usize },
    Ignored(String),
    Duplicate,
}

/// A PagerDuty V3 webhook subscription's deliveries. After the size limit and the
/// signature, every authentic delivery gets a 2xx, even one statusgate cannot use:
/// PagerDuty disables a subscription after repeated non-2xx answers.
#[utoipa::path(
    post,
    path = "/webhooks/pagerduty",
    operation_id = "pagerduty_webhook",
    tag = "ingest",
    request_body(content = Object, description = "A PagerDuty V3 webhook event (`{\"event\": {…}}`)"),
    responses(
        (status = 200, description = "Taken", body = Answer),
        (status = 401, description = "No valid `v1=` signature", body = crate::http::ErrorBody),
        (status = 404, description = "Off: no secret configured", body = crate::http::ErrorBody),
        (status = 413, description = "Larger than `max_body`", body = crate::http::ErrorBody),
        (status = 429, description = "Over the subscription's rate limit; PagerDuty retries", body = crate::http::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Storage unavailable; PagerDuty retries", body = crate::http::ErrorBody),
    ),
    security(("pagerduty_signature" = [])),
)]
#[tracing::instrument(skip_all, fields(source = "pagerduty"))]
async fn receive(State(s): State<PagerDutyIngest>, headers: HeaderMap, body: Body) -> Response {
    if s.secrets.is_empty() {
        return ApiError::not_found(
            "PagerDuty webhooks are off: no secret is configured (STATUSGATE_PAGERDUTY_SECRETS)",
        )
        .into_response();
    }
    let outcome = handle(&s, &headers, body).await;
    let label = match &outcome {
        Ok(Taken::Accepted { .. }) => "accepted",
        Ok(Taken::Ignored(_)) => "ignored",
        Ok(Taken::Duplicate) => "duplicate",
        Err(e) if e.status == StatusCode::UNAUTHORIZED => "unauthorized",
        Err(e) if e.status.is_server_error() => "unavailable",
        Err(_) => "rejected",
    };
    s.metrics.webhook(SOURCE, label);
    match outcome {
        Ok(Taken::Accepted { new }) => {
            s.metrics.alerts_ingested(SOURCE, new as u64);
            (
                StatusCode::OK,
                Json(json!({"status": "accepted", "new": new})),
            )
                .into_response()
        }
        Ok(Taken::Ignored(reason)) => {
            tracing::debug!(reason = %reason, "pagerduty delivery ignored");
            (
                StatusCode::OK,
                Json(json!({"status": "ignored", "reason": reason})),
            )
                .into_response()
        }
        Ok(Taken::Duplicate) => {
            (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response()
        }
        Err(e) => {
            tracing::info!(status = e.status.as_u16(), error = %e.message, "pagerduty webhook refused");
            e.into_response()
        }
    }
}

async fn handle(s: &PagerDutyIngest, headers: &HeaderMap, body: Body) -> Result<Taken, ApiError> {
    let raw = read_body(headers, body, s.max_body).await?;
    signature::verify(&s.secrets, headers, &raw)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    let subscription = headers
        .get("x-webhook-subscription")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    if let Err(wait) = s.limit.check(&format!("pd:{subscription}")) {
        s.metrics.rate_limited("ingest");
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded; retry later (nothing was recorded)",
        );
        e.retry_after = Some(crate::limits::retry_after_secs(wait));
        return Err(e);
    }
    // Authentic from here on: anything but a storage failure is answered with a 2xx.
    let _one_at_a_time = s.lock.lock().await;
    let now = Utc::now();
    if let Err(e) = s.seen.prune_if_due(now) {
        tracing::warn!(error = %e, "could not forget old PagerDuty event ids");
    }
    let webhook_id = headers
        .get("x-webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let event = match event::parse(&raw) {
        Ok(e) => e,
        Err(reason) => {
            let entry = AuditEntry::new(now, SOURCE, "ignored")
                .detail(json!({"reason": reason, "webhook_id": webhook_id}));
            s.recorder.record_delivery(&[], entry, None).await?;
            return Ok(Taken::Ignored(reason));
        }
    };
    if s.seen.contains(&event.id, now)? {
        return Ok(Taken::Duplicate);
    }
    let mut detail = json!({
        "event_id": event.id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
    });
    if let (Some(agent), Some(obj)) = (event.agent(), detail.as_object_mut()) {
        obj.insert("agent".into(), json!(agent));
    }
    let (alerts, ignored) = match interpret(s, &event, now)? {
        Outcome::Change { alert, incident } => {
            add(&mut detail, "incident", json!(incident));
            let reason = routing_problem(s, &alert)?;
            (vec![alert], reason)
        }
        Outcome::Noted { known, incident } => {
            add(&mut detail, "incident", json!(incident));
            add(&mut detail, "effect", json!("none"));
            (Vec::new(), routing_problem(s, &known)?)
        }
        Outcome::Unused { incident, reason } => {
            if let Some(id) = incident {
                add(&mut detail, "incident", json!(id));
            }
            (Vec::new(), Some(reason))
        }
    };
    let seen = Some((s.seen.table(), event.id.as_str(), now));
    match ignored {
        Some(reason) => {
            add(&mut detail, "reason", json!(reason));
            let entry = AuditEntry::new(now, SOURCE, "ignored").detail(detail);
            let outcome = s.recorder.record_delivery(&alerts, entry, seen).await?;
            if outcome.repeat {
                return Ok(Taken::Duplicate);
            }
            Ok(Taken::Ignored(reason))
        }
        None => {
            let entry = AuditEntry::new(now, SOURCE, "ingest").detail(detail);
            let outcome = s.recorder.record_delivery(&alerts, entry, seen).await?;
            if outcome.repeat {
                return Ok(Taken::Duplicate);
            }
            Ok(Taken::Accepted { new: outcome.new })
        }
    }
}

/// What one event does to its incident.
enum Outcome {
    /// The incident's new state.
    Change { alert: Alert, incident: String },
    /// Names a known incident without changing it (notes, responders): taken, recorded.
    Noted { known: Alert, incident: String },
    /// Nothing to act on.
    Unused {
        incident: Option<String>,
        reason: String,
    },
}

fn interpret(s: &PagerDutyIngest, event: &Event, now: DateTime<Utc>) -> Result<Outcome, ApiError> {
    let known = |id: &str| s.recorder.known(&format!("pd:{id}"));
    let unused = |incident: String, reason: String| Outcome::Unused {
        incident: Some(incident),
        reason,
    };
    Ok(match event::meaning(event, &s.severity, now) {
        Meaning::Incident(alert) => {
            let mut alert = *alert;
            let incident = alert.fingerprint.trim_start_matches("pd:").to_string();
            if let Some(k) = known(&incident)? {
                event::carry_over(&mut alert, &k);
            }
            Outcome::Change { alert, incident }
        }
        Meaning::StatusUpdate { incident, text } => match known(&incident)? {
            None => unused(incident, never_seen()),
            Some(k) => {
                let at = event.occurred_at().unwrap_or(now);
                match event::with_status_update(&k, &text, at, now) {
                    Some(alert) => Outcome::Change { alert, incident },
                    None => unused(incident, "a newer status update is already recorded".into()),
                }
            }
        },
        Meaning::Note { incident } => match known(&incident)? {
            Some(known) => Outcome::Noted { known, incident },
            None => unused(incident, never_seen()),
        },
        Meaning::Unused(reason) => Outcome::Unused {
            incident: event.incident_id().map(str::to_string),
            reason,
        },
    })
}

fn never_seen() -> String {
    "names an incident statusgate never saw".to_string()
}

/// Why the incident would reach no component, unless it already did (then a change of
/// service is a re-route the pipeline must see).
fn routing_problem(s: &PagerDutyIngest, alert: &Alert) -> Result<Option<String>, ApiError> {
    let Some(reason) = (s.unrouted)(&alert.labels) else {
        return Ok(None);
    };
    let was_routed = s
        .recorder
        .known(&alert.key)?
        .is_some_and(|k| (s.unrouted)(&k.labels).is_none());
    Ok((!was_routed).then_some(reason))
}

fn add(detail: &mut Value, key: &str, value: Value) {
    if let Some(obj) = detail.as_object_mut() {
        obj.insert(key.into(), value);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{load_text, load_with_file};
    use crate::config::Config;

    #[test]
    fn secrets_come_comma_separated_from_the_environment_or_a_file() {
        let env = |k: &str| {
            (k == "STATUSGATE_PAGERDUTY_SECRETS").then(|| " new-secret , old-secret ,".to_string())
        };
        let c = Config::load_with_env(None, &env).unwrap();
        let s = &c.secrets.pagerduty_secrets;
        assert_eq!(s.len(), 2);
        assert!(s[0].matches(b"new-secret") && s[1].matches(b"old-secret"));

        let text = "sources:\n  pagerduty:\n    secrets_file: {file}\n";
        let c = load_with_file(text, "from-file\n", &|_| None).unwrap();
        assert!(c.secrets.pagerduty_secrets[0].matches(b"from-file"));
        // The environment overrides the file.
        let c = load_with_file(text, "from-file\n", &env).unwrap();
        assert_eq!(c.secrets.pagerduty_secrets.len(), 2);
    }

    #[test]
    fn severity_names_only_pagerduty_urgencies() {
        let severity = |map: &str| {
            load_text(
                &format!("sources:\n  pagerduty:\n    severity: {map}\n"),
                &|_| None,
            )
        };
        let err = severity("{hihg: critical, low: warning}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown urgency `hihg`"), "{err}");
        let c = severity("{high: major, low: minor}").unwrap();
        assert_eq!(c.sources.pagerduty.severity["high"], "major");
    }
}
