//! The OpenAPI document at `/api/openapi.json`: valid OpenAPI 3, every route in it, and
//! the real answers shaped as it says.

mod routes;
mod schema;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::harness::*;

/// Routes deliberately left out of the document: they serve people, not programs.
const UNDOCUMENTED: &[&str] = &[
    // The status page's HTML pages.
    "/",
    "/index.html",
    "/history",
    "/incidents/{id}",
    // Static assets of those pages.
    "/assets/style.css",
    "/favicon.svg",
    // The internal board: HTML pages and forms for staff.
    "/internal",
    "/internal/",
    "/internal/board.css",
    "/internal/login",
    "/internal/logout",
    "/internal/incidents",
    "/internal/incidents/{id}/resolve",
    "/internal/drafts/{id}",
    "/internal/drafts/{id}/edit",
    "/internal/drafts/{id}/approve",
    "/internal/drafts/{id}/reject",
];

async fn fetch_document(s: &Server) -> Value {
    let r = s
        .http
        .get(format!("{}/api/openapi.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "no token is needed for the document");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let text = r.text().await.unwrap();
    let spec = oas3::from_json(&text).unwrap_or_else(|e| panic!("not OpenAPI 3.1: {e}"));
    assert!(spec.openapi.starts_with("3.1"), "version {}", spec.openapi);
    assert!(spec.paths.as_ref().is_some_and(|p| p.len() > 30));
    serde_json::from_str(&text).unwrap()
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((path.clone(), method.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_and_says_who_may_do_what() {
    let s = Server::start(Options::default());
    let doc = fetch_document(&s).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let roles = ["reader", "approver", "admin"];
    for (path, method) in documented(&doc) {
        let op = &doc["paths"][&path][&method];
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| t.len() == 1),
            "{method} {path}: one tag"
        );
        if path.starts_with("/api/v1/") {
            let needed = op["security"][0]["bearer"][0].as_str().unwrap_or_default();
            assert!(
                roles.contains(&needed),
                "{method} {path}: no role in {}",
                op["security"]
            );
            assert_eq!(
                op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }
    // Spot checks against DESIGN.md's roles.
    let role = |p: &str, m: &str| doc["paths"][p][m]["security"][0]["bearer"][0].clone();
    assert_eq!(role("/api/v1/drafts", "get"), "reader");
    assert_eq!(role("/api/v1/drafts/{id}/approve", "post"), "approver");
    assert_eq!(role("/api/v1/subscribers", "post"), "admin");
    assert_eq!(role("/api/v1/maintenances", "post"), "admin");
    // Vocabulary words as DESIGN.md spells them.
    let words = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
    assert_eq!(
        words("DraftState"),
        json!([
            "pending",
            "approved",
            "published",
            "rejected",
            "expired",
            "failed",
            "conflict"
        ])
    );
    assert_eq!(
        words("ComponentStatus"),
        json!([
            "operational",
            "under_maintenance",
            "degraded_performance",
            "partial_outage",
            "major_outage"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_in_the_source_is_documented_and_every_documented_route_exists() {
    let s = Server::start(Options::default());
    let doc = fetch_document(&s).await;
    let documented = documented(&doc);
    let mut served = BTreeSet::new();
    let mut missing = Vec::new();
    for route in routes::scan(&repo_path("src")) {
        for method in &route.methods {
            served.insert((route.path.clone(), method.clone()));
            if !UNDOCUMENTED.contains(&route.path.as_str())
                && !documented.contains(&(route.path.clone(), method.clone()))
            {
                missing.push(format!(
                    "{} {} ({})",
                    method.to_uppercase(),
                    route.path,
                    route.at
                ));
            }
        }
    }
    assert!(
        served.len() > 40,
        "the scan found too few routes: {served:?}"
    );
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document (annotate the handler with #[utoipa::path] and list it in its module's ApiDoc):\n{}",
        missing.join("\n")
    );
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
    for path in UNDOCUMENTED {
        assert!(
            served.iter().any(|(p, _)| p == path),
            "{path} is allowed to be undocumented but is no longer served; drop it from the list"
        );
    }
}

/// Checks one real answer against what the document says `method template` answers with
/// `status`. Success answers are strict: a field the document does not name fails.
fn conforms(doc: &Value, method: &str, template: &str, status: u16, body: &Value) {
    let response = &doc["paths"][template][method]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which the document does not list: {body}"
    );
    let Some(schema) = response["content"]["application/json"].get("schema") else {
        assert!(
            body.is_null(),
            "{method} {template} {status}: undocumented body {body}"
        );
        return;
    };
    let errors = schema::check(doc, schema, body, status < 400);
    assert!(
        errors.is_empty(),
        "{method} {template} {status} differs from the document:\n{}\nbody: {body:#}",
        errors.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_answers_have_the_documented_shapes() {
    let s = Server::start(Options::default());
    let doc = fetch_document(&s).await;
    let call = |method: &'static str,
                template: &'static str,
                path: String,
                token: Option<&'static str>,
                body: Option<Value>| {
        let s = &s;
        let doc = &doc;
        async move {
            let (status, answer) = s.send(&method.to_uppercase(), &path, token, body).await;
            conforms(doc, method, template, status, &answer);
            (status, answer)
        }
    };

    for p in ["/healthz", "/readyz"] {
        let (status, body) = s.get(p, None).await;
        conforms(&doc, "get", p, status, &body);
    }
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "f1",
            "api-gateway",
            "critical",
            true,
            "2026-11-30T12:00:00Z",
        )]))
        .await;
    conforms(&doc, "post", "/webhooks/alertmanager", status, &body);
    let (status, _) = call("post", "/api/v1/subscribers", "/api/v1/subscribers".into(), Some(ADMIN),
        Some(json!({"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "components": ["api"]}))).await;
    assert_eq!(status, 201);

    let draft = s
        .wait_draft("new incident", |d| d["state"] == "pending")
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    let (status, _) = call(
        "get",
        "/api/v1/drafts",
        "/api/v1/drafts?state=pending".into(),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 200);
    call(
        "get",
        "/api/v1/drafts/{id}",
        format!("/api/v1/drafts/{id}"),
        Some(READER),
        None,
    )
    .await;
    let (status, _) = call(
        "patch",
        "/api/v1/drafts/{id}",
        format!("/api/v1/drafts/{id}"),
        Some(ADMIN),
        Some(json!({"title": "Public API errors"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, stale) = call(
        "post",
        "/api/v1/drafts/{id}/approve",
        format!("/api/v1/drafts/{id}/approve"),
        Some(ADMIN),
        Some(json!({"revision": 1})),
    )
    .await;
    assert_eq!((status, stale["current_revision"].as_u64()), (409, Some(2)));
    let (status, approved) = call(
        "post",
        "/api/v1/drafts/{id}/approve",
        format!("/api/v1/drafts/{id}/approve"),
        Some(ADMIN),
        Some(json!({"revision": 2})),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let incident = approved["incident"]["id"].as_str().unwrap().to_string();
    let (status, deliveries) = call(
        "get",
        "/api/v1/drafts/{id}/deliveries",
        format!("/api/v1/drafts/{id}/deliveries"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        !deliveries["deliveries"].as_array().unwrap().is_empty(),
        "{deliveries}"
    );
    call(
        "post",
        "/api/v1/drafts/{id}/retry",
        format!("/api/v1/drafts/{id}/retry"),
        Some(ADMIN),
        None,
    )
    .await;

    call(
        "get",
        "/api/v1/incidents",
        "/api/v1/incidents".into(),
        Some(READER),
        None,
    )
    .await;
    call(
        "get",
        "/api/v1/incidents/{id}",
        format!("/api/v1/incidents/{incident}"),
        Some(READER),
        None,
    )
    .await;
    call(
        "get",
        "/api/v1/components",
        "/api/v1/components".into(),
        Some(READER),
        None,
    )
    .await;
    let (_, audit) = call(
        "get",
        "/api/v1/audit",
        "/api/v1/audit?limit=3".into(),
        Some(READER),
        None,
    )
    .await;
    assert!(audit["next_before"].is_string(), "{audit}");
    let (status, update) = call(
        "post",
        "/api/v1/incidents/{id}/drafts",
        format!("/api/v1/incidents/{incident}/drafts"),
        Some(ADMIN),
        Some(json!({"incident_status": "identified"})),
    )
    .await;
    assert_eq!(status, 201, "{update}");
    let update_id = update["id"].as_str().unwrap();
    call(
        "post",
        "/api/v1/drafts/{id}/reject",
        format!("/api/v1/drafts/{update_id}/reject"),
        Some(ADMIN),
        None,
    )
    .await;

    let (status, m) = call("post", "/api/v1/maintenances", "/api/v1/maintenances".into(), Some(ADMIN), Some(json!({
        "title": "Database upgrade", "body": "Short read-only window.", "components": ["payments"],
        "scheduled_for": "2099-01-01T02:00:00Z", "scheduled_until": "2099-01-01T03:00:00Z",
    }))).await;
    assert_eq!(status, 201, "{m}");
    let mid = m["id"].as_str().unwrap();
    call(
        "get",
        "/api/v1/maintenances",
        "/api/v1/maintenances".into(),
        Some(READER),
        None,
    )
    .await;
    call(
        "get",
        "/api/v1/maintenances/{id}",
        format!("/api/v1/maintenances/{mid}"),
        Some(READER),
        None,
    )
    .await;
    call(
        "patch",
        "/api/v1/maintenances/{id}",
        format!("/api/v1/maintenances/{mid}"),
        Some(ADMIN),
        Some(json!({"body": "Moved."})),
    )
    .await;
    call(
        "get",
        "/api/v1/suppressed",
        "/api/v1/suppressed".into(),
        Some(READER),
        None,
    )
    .await;
    for p in [
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
        "/api/v2/uptime.json",
    ] {
        call("get", p, p.into(), None, None).await;
    }
    let (status, _) = call(
        "delete",
        "/api/v1/maintenances/{id}",
        format!("/api/v1/maintenances/{mid}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (_, subs) = call(
        "get",
        "/api/v1/subscribers",
        "/api/v1/subscribers".into(),
        Some(ADMIN),
        None,
    )
    .await;
    let sid = subs["subscribers"][0]["id"].as_str().unwrap();
    call(
        "get",
        "/api/v1/subscribers/{id}",
        format!("/api/v1/subscribers/{sid}"),
        Some(ADMIN),
        None,
    )
    .await;
    let (status, _) = call(
        "delete",
        "/api/v1/subscribers/{id}",
        format!("/api/v1/subscribers/{sid}"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Errors: the shared answers are listed too.
    let (status, _) = call("get", "/api/v1/drafts", "/api/v1/drafts".into(), None, None).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        "post",
        "/api/v1/subscribers",
        "/api/v1/subscribers".into(),
        Some(READER),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        "patch",
        "/api/v1/drafts/{id}",
        format!("/api/v1/drafts/{id}"),
        Some(ADMIN),
        Some(json!({"titel": "typo"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = call(
        "get",
        "/api/v1/drafts/{id}",
        "/api/v1/drafts/D-999".into(),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(status, 404);
}
