//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};

use crate::catalog::CatalogHandle;
use crate::http::endpoint;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct OpsState {
    pub store: Store,
    pub catalog: CatalogHandle,
    pub metrics: Arc<Metrics>,
    pub signals: crate::signals::Signals,
    /// Chat delivery: detail only, never readiness.
    pub chat: crate::approve::slack::Chat,
    /// External publishers' health (detail only; never decides readiness).
    pub targets: Option<crate::publish::outbox::health::Health>,
    /// Which once-only work this replica runs (detail only).
    pub leases: crate::store::Leases,
    /// Service levels, for the error budget gauge.
    pub levels: Option<crate::page::slo::Levels>,
}

/// The OpenAPI description of the operations endpoints.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct ApiDoc;

/// What `/healthz` answers.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Health {
    ok: bool,
    /// Why not, when not.
    #[schema(nullable = false)]
    reason: Option<String>,
}

/// What `/readyz` answers. Only storage and the catalog decide `ready`; the rest is detail.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Readiness {
    ready: bool,
    /// `storage`, `catalog`, `watchdog`, `storm`, and `slack` and `targets` when configured.
    checks: ReadinessChecks,
}

#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct ReadinessChecks {
    storage: Check,
    catalog: CatalogCheck,
    watchdog: WatchdogCheck,
    /// The storm breaker's state.
    storm: serde_json::Value,
    /// Chat delivery, when Slack is configured.
    #[schema(nullable = false)]
    slack: Option<serde_json::Value>,
    /// External publishers' and subscribers' circuit breakers.
    #[schema(nullable = false)]
    targets: Option<serde_json::Value>,
    /// Who runs each kind of once-only work: `engine`, this `replica`, and per `work` whether
    /// this replica holds its lease and who does.
    leases: serde_json::Value,
}

/// One readiness check.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct Check {
    ok: bool,
    reason: Option<String>,
}

/// The catalog in force; `reason` tells of a refused reload.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct CatalogCheck {
    ok: bool,
    reason: Option<String>,
    components: usize,
    routes: usize,
}

/// The dead-man's switch on the alert feed (detail only).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON the handler writes; only its schema is used.
struct WatchdogCheck {
    ok: bool,
    reason: Option<String>,
    /// When configured: the last watchdog alert.
    #[schema(required = false)]
    last_seen: Option<chrono::DateTime<chrono::Utc>>,
}

pub fn router(state: OpsState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

endpoint! {
    /// Process up: it answers HTTP. Storage trouble is `/readyz`'s to report, and it passes by
    /// itself (DESIGN.md "Operations"); a liveness probe failing on it would restart the pod
    /// for nothing.
    get("/healthz", tag = "operations", responses(
        (status = 200, description = "Up", body = Health),
    ))
    async fn healthz() {
        Ok(Json(json!({"ok": true})).into_response())
    }
}

endpoint! {
    /// Ready for traffic: storage writable and a catalog loaded; the rest is detail.
    get("/readyz", tag = "operations", responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready (storage)", body = Readiness),
    ))
    async fn readyz(State(s): State<OpsState>) {
        Ok(readiness(&s).await)
    }
}

/// The readiness report, 503 when storage cannot be written.
async fn readiness(s: &OpsState) -> Response {
    let storage = match tokio::time::timeout(Duration::from_secs(2), s.store.probe()).await {
        Ok(Ok(())) => json!({"ok": true, "reason": null}),
        Ok(Err(e)) => json!({"ok": false, "reason": e.to_string()}),
        Err(_) => json!({"ok": false, "reason": "storage did not answer within 2s"}),
    };
    let catalog = s.catalog.current();
    let catalog_check = json!({
        "ok": true,
        "reason": s.catalog.last_error().map(|e| format!("last reload refused, previous catalog in force: {e}")),
        "components": catalog.components().len(),
        "routes": catalog.route_count(),
    });
    // Detail only: a silent feed must not take the pod out of its Service, or the very
    // webhooks it waits for could not arrive.
    let w = s.signals.watchdog();
    let watchdog = if w.configured {
        json!({
            "ok": !w.silent,
            "reason": w.silent.then(|| format!("no watchdog alert for more than {}s", w.interval_seconds)),
            "last_seen": w.last_seen,
        })
    } else {
        json!({"ok": true, "reason": "not configured"})
    };
    let storm = s.signals.storm();
    let ready = storage["ok"] == true;
    let mut body = json!({
        "ready": ready,
        "checks": { "storage": storage, "catalog": catalog_check, "watchdog": watchdog, "storm": storm },
    });
    if let Some(slack) = s.chat.check() {
        body["checks"]["slack"] = slack;
    }
    if let Some(t) = &s.targets {
        body["checks"]["targets"] = t.report();
    }
    body["checks"]["leases"] = json!({
        "ok": true,
        "reason": null,
        "engine": s.store.engine(),
        "replica": s.leases.holder(),
        "work": s.leases.views(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

endpoint! {
    /// Prometheus metrics (names in DESIGN.md "Operations").
    get("/metrics", tag = "operations", responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
    ))
    async fn metrics(State(s): State<OpsState>) {
        Ok(exposition(&s))
    }
}

/// Refreshes the gauges read at scrape time, then renders every metric.
fn exposition(s: &OpsState) -> Response {
    for lease in s.leases.views() {
        s.metrics.lease_held(&lease.work, lease.held);
    }
    if let Some(levels) = &s.levels {
        match levels.all(chrono::Utc::now()) {
            Ok(all) => {
                let left: Vec<(String, f64)> = all
                    .iter()
                    .filter_map(|(id, l)| Some((id.clone(), l.budget_remaining()?)))
                    .collect();
                s.metrics.error_budgets(&left);
            }
            Err(e) => tracing::warn!(error = %e, "could not compute error budgets for /metrics"),
        }
    }
    let text = s.metrics.render(s.store.size_on_disk(), &s.signals);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        // prometheus-client writes OpenMetrics (HELP on the family name, `# EOF`).
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
