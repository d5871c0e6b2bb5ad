//! Summary and every v2 document have Statuspage's field names and JSON types, checked
//! against a real response's shape.

use super::*;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Fields Statuspage may send as `null` instead of their usual type.
const NULLABLE: &[&str] = &[
    "description",
    "start_date",
    "group_id",
    "monitoring_at",
    "resolved_at",
    "affected_components",
    "custom_tweet",
    "tweet_id",
];

/// Every field of `fixture` is in `ours` with the same JSON type and vice versa, nested.
fn same_shape(path: &str, ours: &Value, fixture: &Value, problems: &mut Vec<String>) {
    let field = path.rsplit('.').next().unwrap_or("");
    if ours.is_null() || fixture.is_null() {
        if kind(ours) != kind(fixture) && !NULLABLE.contains(&field) {
            problems.push(format!(
                "{path}: {} here, {} in Statuspage",
                kind(ours),
                kind(fixture)
            ));
        }
        return;
    }
    if kind(ours) != kind(fixture) {
        problems.push(format!(
            "{path}: {} here, {} in Statuspage",
            kind(ours),
            kind(fixture)
        ));
        return;
    }
    match (ours, fixture) {
        (Value::Object(a), Value::Object(b)) => {
            let ak: BTreeSet<&String> = a.keys().collect();
            let bk: BTreeSet<&String> = b.keys().collect();
            for missing in bk.difference(&ak) {
                problems.push(format!("{path}.{missing}: missing"));
            }
            for extra in ak.difference(&bk) {
                problems.push(format!("{path}.{extra}: not in Statuspage's response"));
            }
            for k in ak.intersection(&bk) {
                same_shape(&format!("{path}.{k}"), &a[*k], &b[*k], problems);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, item) in a.iter().enumerate() {
                // Compare like with like: a component group with the fixture's group.
                let model = b
                    .iter()
                    .find(|m| m.get("group") == item.get("group"))
                    .or(b.first());
                if let Some(model) = model {
                    same_shape(&format!("{path}[{i}]"), item, model, problems);
                }
            }
        }
        _ => {}
    }
}

fn fixture() -> Value {
    let text =
        std::fs::read_to_string(repo_path("tests/fixtures/statuspage/summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_and_every_v2_document_have_statuspage_s_field_names_and_types() {
    let s = Server::start(Options::default());
    let incident = open_incident(&s, "f1", "api-gateway").await;
    create_maintenance(
        &s,
        json!({"title": "Database upgrade", "body": "Primary database upgrade.", "components": ["payments"],
               "scheduled_for": ts(chrono::Duration::seconds(-5)), "scheduled_until": ts(chrono::Duration::hours(1))}),
    )
    .await;
    create_maintenance(
        &s,
        json!({"title": "Network work", "components": ["web"],
               "start": ts(chrono::Duration::days(2)), "end": ts(chrono::Duration::days(2) + chrono::Duration::hours(1))}),
    )
    .await;

    let (status, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(status, 200);
    let model = fixture();
    let mut problems = Vec::new();
    same_shape("summary", &summary, &model, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}\n{summary:#}");
    // The comparison saw every kind of object, not empty lists.
    assert_eq!(summary["incidents"][0]["id"], incident.as_str());
    assert!(summary["incidents"][0]["incident_updates"][0]["affected_components"].is_array());
    let maints = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maints.len(), 2, "upcoming and in progress: {summary:#}");
    assert!(maints.iter().any(|m| m["status"] == "in_progress"));
    assert!(maints.iter().any(|m| m["status"] == "scheduled"));
    assert!(maints.iter().all(|m| m["impact"] == "maintenance"));
    assert!(summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["group"] == true));
    assert_eq!(summary["status"]["indicator"], "critical");

    for (path, list) in [
        ("/api/v2/incidents.json", "incidents"),
        ("/api/v2/incidents/unresolved.json", "incidents"),
        (
            "/api/v2/scheduled-maintenances.json",
            "scheduled_maintenances",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "scheduled_maintenances",
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "scheduled_maintenances",
        ),
        ("/api/v2/components.json", "components"),
    ] {
        let (status, doc) = s.get(path, None).await;
        assert_eq!(status, 200, "{path}");
        let items = doc[list]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {doc}"));
        assert!(!items.is_empty(), "{path} is empty");
        let mut problems = Vec::new();
        same_shape("page", &doc["page"], &model["page"], &mut problems);
        same_shape(list, &doc[list], &model[list], &mut problems);
        assert!(problems.is_empty(), "{path}: {problems:#?}");
    }
    let (_, upcoming) = s
        .get("/api/v2/scheduled-maintenances/upcoming.json", None)
        .await;
    assert_eq!(
        upcoming["scheduled_maintenances"][0]["name"],
        "Network work"
    );
    let (_, active) = s
        .get("/api/v2/scheduled-maintenances/active.json", None)
        .await;
    assert_eq!(
        active["scheduled_maintenances"][0]["name"],
        "Database upgrade"
    );
    let (_, status_doc) = s.get("/api/v2/status.json", None).await;
    let mut problems = Vec::new();
    same_shape(
        "status",
        &status_doc,
        &json!({"page": model["page"], "status": model["status"]}),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
