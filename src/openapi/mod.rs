//! The OpenAPI 3.1 document of statusgate's HTTP interface, served at
//! `GET /api/openapi.json`.
//!
//! Each router module documents its own handlers with `#[utoipa::path]` in an `ApiDoc`
//! beside its `router()`; this module merges them, describes the public page's documents
//! (served by closures, see [`public`]), and adds what every endpoint of a kind shares:
//! the bearer scheme, and the error answers that authentication, body parsing, rate
//! limits and storage give. A test compares the document with every `.route(…)` in the
//! source, so a route cannot be added without it.

pub mod public;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{endpoint, fixed_headers, ErrorBody};

/// The security schemes: management tokens, and the credentials of each ingest source.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            http(
                HttpAuthScheme::Bearer,
                "A management API token (`auth.tokens`, or the bootstrap admin \
                 `STATUSGATE_ADMIN_TOKEN`). Roles: `reader` reads; `approver` also \
                 edits, approves and rejects; `admin` also manages maintenance, \
                 subscribers and retries. The role an operation needs is listed in \
                 its security requirement. Unknown or missing token: 401; a role \
                 too low: 403.",
            ),
        );
        components.add_security_scheme(
            "alertmanager_bearer",
            http(
                HttpAuthScheme::Bearer,
                "`STATUSGATE_ALERTMANAGER_TOKEN`, as Alertmanager's `http_config.authorization` sends it.",
            ),
        );
        components.add_security_scheme(
            "alertmanager_basic",
            http(
                HttpAuthScheme::Basic,
                "`sources.alertmanager.basic`, as Alertmanager's `http_config.basic_auth` sends it.",
            ),
        );
        components.add_security_scheme(
            "pagerduty_signature",
            signature_header(
                "X-PagerDuty-Signature",
                "`v1=<hex HMAC-SHA256(secret, body)>`, several comma-separated during secret rotation (`STATUSGATE_PAGERDUTY_SECRETS`).",
            ),
        );
        components.add_security_scheme(
            "slack_signature",
            signature_header(
                "X-Slack-Signature",
                "Slack's request signature (`v0=<hex HMAC-SHA256(signing secret, v0:timestamp:body)>`) with `X-Slack-Request-Timestamp`.",
            ),
        );
    }
}

fn http(scheme: HttpAuthScheme, description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(scheme)
            .description(Some(description))
            .build(),
    )
}

fn signature_header(name: &str, description: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
        name,
        description,
    )))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "statusgate",
        description = "Alerts in, human-approved status page updates out. Management API \
                       under `/api/v1` (bearer tokens with roles), ingest webhooks, \
                       operations endpoints, and the public Statuspage-compatible `/api/v2`. \
                       Errors are JSON `{\"error\": \"…\"}`.",
    ),
    paths(openapi_json),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "drafts", description = "Proposed public updates and the decisions on them"),
        (name = "incidents", description = "Published incidents"),
        (name = "components", description = "Components and their public status"),
        (name = "audit", description = "The append-only audit log"),
        (name = "maintenance", description = "Scheduled maintenance and the alerts it held back"),
        (name = "subscribers", description = "Webhook and email subscribers"),
        (name = "deliveries", description = "Outbox deliveries of a draft to external targets"),
        (name = "ingest", description = "Webhooks from Alertmanager and PagerDuty"),
        (name = "chat", description = "Slack interactivity and slash commands"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
        (name = "public", description = "Feeds, badges and subscription links (no auth)"),
        (name = "statuspage", description = "The public read-only API, field-compatible with Atlassian Statuspage's v2 (no auth)"),
    )
)]
struct Root;

/// The whole document, as served.
pub fn document() -> Value {
    let mut doc = Root::openapi();
    doc.merge(crate::approve::api::ApiDoc::openapi());
    doc.merge(crate::approve::incident_drafts::ApiDoc::openapi());
    doc.merge(crate::approve::declare::ApiDoc::openapi());
    doc.merge(crate::approve::maintenance::ApiDoc::openapi());
    doc.merge(crate::approve::slack::ApiDoc::openapi());
    doc.merge(crate::publish::api::ApiDoc::openapi());
    doc.merge(crate::publish::subscribers::links::ApiDoc::openapi());
    doc.merge(crate::ingest::alertmanager::ApiDoc::openapi());
    doc.merge(crate::ingest::pagerduty::ApiDoc::openapi());
    doc.merge(crate::ops::ApiDoc::openapi());
    doc.merge(crate::ingest::api::ApiDoc::openapi());
    doc.merge(crate::publish::maintenance::api::ApiDoc::openapi());
    let mut value = serde_json::to_value(doc).unwrap_or(Value::Null);
    public::add_to(&mut value);
    add_shared_responses(&mut value);
    value
}

/// `GET /api/openapi.json`, no auth: it describes the API and exposes no data.
pub fn router() -> Router {
    let body = Bytes::from(document().to_string());
    Router::new()
        .route("/api/openapi.json", get(openapi_json))
        .with_state(body)
}

endpoint! {
    /// This document.
    get("/api/openapi.json", tag = "operations", responses(
        (status = 200, description = "The OpenAPI 3.1 document of this service", content_type = "application/json", body = Object),
    ))
    async fn openapi_json(State(body): State<Bytes>) {
        let mut r = body.into_response();
        // API explorers hosted elsewhere fetch it cross-origin.
        fixed_headers(
            r.headers_mut(),
            &[
                (header::CONTENT_TYPE, "application/json"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
        );
        Ok(r)
    }
}

/// Adds the error answers every operation of a kind shares, so each handler's annotation
/// lists only its own: 401/403 where a token is needed, 400/413/415/422 where a JSON body
/// is read, 429 and 503 on the management API (its rate limit, and storage).
fn add_shared_responses(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !is_method(method) {
                continue;
            }
            let roles = bearer_roles(op);
            let json_body = op
                .pointer("/requestBody/content/application~1json")
                .is_some();
            let query = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(roles) = &roles {
                add(responses, "401", "Missing or unknown token", None);
                if roles.iter().any(|r| r != "reader") {
                    add(
                        responses,
                        "403",
                        "The token's role does not allow this",
                        None,
                    );
                }
            }
            if json_body {
                add(
                    responses,
                    "400",
                    "The body is not JSON (broken syntax, bad UTF-8)",
                    None,
                );
                add(
                    responses,
                    "413",
                    "The body is larger than `max_body` (after decompression)",
                    None,
                );
                add(
                    responses,
                    "415",
                    "Not `application/json`, or an unknown `Content-Encoding`",
                    None,
                );
                add(responses, "422", "JSON of the wrong shape: wrong types, missing or unknown fields, values out of range", None);
            }
            if query && roles.is_some() {
                add(
                    responses,
                    "422",
                    "An unknown query parameter, or a value of the wrong type",
                    None,
                );
            }
            if path.starts_with("/api/v1/") {
                add(
                    responses,
                    "429",
                    "Over the management API's rate limit (`limits.api`)",
                    Some("Seconds to wait"),
                );
                add(
                    responses,
                    "503",
                    "Storage is unavailable",
                    Some("Seconds to wait"),
                );
            }
        }
    }
}

fn is_method(key: &str) -> bool {
    matches!(
        key,
        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
    )
}

/// The roles an operation's `bearer` requirement names, if it has one.
fn bearer_roles(op: &Value) -> Option<Vec<String>> {
    op.get("security")?
        .as_array()?
        .iter()
        .find_map(|req| req.get("bearer"))
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
}

fn add(responses: &mut Map<String, Value>, status: &str, description: &str, retry: Option<&str>) {
    if responses.contains_key(status) {
        return;
    }
    let mut r = json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    });
    if let Some(d) = retry {
        r["headers"] = json!({"Retry-After": {"description": d, "schema": {"type": "integer"}}});
    }
    responses.insert(status.to_string(), r);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let doc = document();
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 50, "suspiciously few references: {}", all.len());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap_or(r);
            assert!(doc.pointer(pointer).is_some(), "dangling reference {r}");
        }
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(
                    ids.insert(id.to_string()),
                    "{method} {path}: operationId `{id}` twice"
                );
            }
        }
    }

    #[test]
    fn shared_answers_follow_the_operation_kind() {
        let doc = document();
        let op = |path: &str, method: &str| doc["paths"][path][method].clone();
        // A reader endpoint: 401, never 403; no body, so no 415.
        let list = op("/api/v1/drafts", "get");
        assert!(list["responses"].get("401").is_some());
        assert!(list["responses"].get("403").is_none());
        assert!(list["responses"].get("415").is_none());
        assert_eq!(list["security"], json!([{"bearer": ["reader"]}]));
        // An approver endpoint with a JSON body.
        let approve = op("/api/v1/drafts/{id}/approve", "post");
        for status in ["401", "403", "400", "413", "415", "422", "429", "503"] {
            assert!(
                approve["responses"].get(status).is_some(),
                "approve lacks {status}"
            );
        }
        assert!(approve["responses"]["429"]["headers"]
            .get("Retry-After")
            .is_some());
        // Unauthenticated operations get no auth answers.
        let health = op("/healthz", "get");
        assert!(health["responses"].get("401").is_none());
        assert!(health.get("security").is_none());
    }
}
