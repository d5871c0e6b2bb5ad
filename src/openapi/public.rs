//! The public page's machine-readable documents. `page::router` serves them from one
//! rendered snapshot through closures, which carry no `#[utoipa::path]`, so their paths are
//! described here; the route test holds this list to the router like every other.
//!
//! The `/api/v2` shapes are Atlassian Statuspage's public API v2 (so its widgets and
//! clients work unchanged); `uptime.json` is statusgate's own.

use serde_json::{json, Map, Value};

const ATOM: &str = "application/atom+xml; charset=utf-8";
const RSS: &str = "application/rss+xml; charset=utf-8";
const SVG: &str = "image/svg+xml; charset=utf-8";

/// `(path, summary, content type, schema, tag)` of each document.
fn documents() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Value,
    &'static str,
)> {
    let json_type = "application/json";
    // Feeds and badges: public text, described only by their content type.
    let text = |path, summary, content_type| {
        (
            path,
            summary,
            content_type,
            json!({"type": "string"}),
            "public",
        )
    };
    // Every document carries the page it belongs to, first among its required fields.
    let with_page = |required: &[&str], properties: Value| {
        let mut all = Map::new();
        all.insert(
            "page".into(),
            json!({"$ref": "#/components/schemas/SpPage"}),
        );
        if let Value::Object(p) = properties {
            all.extend(p);
        }
        let required: Vec<&str> = std::iter::once("page")
            .chain(required.iter().copied())
            .collect();
        json!({"type": "object", "required": required, "properties": all})
    };
    let page_and = |key: &str, items: &str| {
        with_page(
            &[key],
            json!({key: {"type": "array", "items": {"$ref": format!("#/components/schemas/{items}")}}}),
        )
    };
    vec![
        (
            "/api/v2/summary.json",
            "Page, overall status, components, unresolved incidents and upcoming or active maintenance",
            json_type,
            with_page(
                &["status", "components", "incidents", "scheduled_maintenances"],
                json!({
                    "status": {"$ref": "#/components/schemas/SpStatus"},
                    "components": {"type": "array", "items": {"$ref": "#/components/schemas/SpComponent"}},
                    "incidents": {"type": "array", "items": {"$ref": "#/components/schemas/SpIncident"}},
                    "scheduled_maintenances": {"type": "array", "items": {"$ref": "#/components/schemas/SpMaintenance"}},
                }),
            ),
            "statuspage",
        ),
        (
            "/api/v2/status.json",
            "The page's overall indicator",
            json_type,
            with_page(
                &["status"],
                json!({
                    "status": {"$ref": "#/components/schemas/SpStatus"},
                }),
            ),
            "statuspage",
        ),
        (
            "/api/v2/components.json",
            "Every public component, and one entry per component group",
            json_type,
            page_and("components", "SpComponent"),
            "statuspage",
        ),
        (
            "/api/v2/incidents.json",
            "The 50 most recent incidents",
            json_type,
            page_and("incidents", "SpIncident"),
            "statuspage",
        ),
        (
            "/api/v2/incidents/unresolved.json",
            "Incidents not yet resolved",
            json_type,
            page_and("incidents", "SpIncident"),
            "statuspage",
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            "Recent and upcoming maintenance",
            json_type,
            page_and("scheduled_maintenances", "SpMaintenance"),
            "statuspage",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "Maintenance scheduled and not started",
            json_type,
            page_and("scheduled_maintenances", "SpMaintenance"),
            "statuspage",
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "Maintenance in progress or verifying",
            json_type,
            page_and("scheduled_maintenances", "SpMaintenance"),
            "statuspage",
        ),
        (
            "/api/v2/uptime.json",
            "Daily uptime per public component over the last 90 days (statusgate's own document)",
            json_type,
            with_page(
                &["days", "components"],
                json!({
                    "days": {"type": "integer", "description": "How many days each history covers"},
                    "components": {"type": "array", "items": {
                        "type": "object",
                        "required": ["id", "name", "uptime_percent", "days_with_data", "days"],
                        "properties": {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "uptime_percent": {"type": ["number", "null"], "description": "Over the days with history; null before any history exists"},
                            "days_with_data": {"type": "integer", "description": "How many days `uptime_percent` is over (a day counts whole once the component exists in it)"},
                            "days": {"type": "array", "items": {"type": "object"}, "description": "Oldest first"},
                        },
                    }},
                }),
            ),
            "statuspage",
        ),
        (
            "/api/v2/slo.json",
            "Every public component with a service level objective: availability and error budget left (statusgate's own document)",
            json_type,
            with_page(
                &["components"],
                json!({
                    "components": {"type": "array", "items": {
                        "allOf": [{"$ref": "#/components/schemas/Slo"}],
                        "type": "object",
                        "required": ["id", "name", "state", "days", "budget_minutes", "budget_remaining_minutes"],
                        "properties": {
                            "id": {"type": "string"},
                            "name": {"type": "string"},
                            "state": {"type": "string", "enum": ["plenty", "low", "exhausted", "collecting"], "description": "`low`: under 25% of the budget left"},
                            "days": {"type": "integer", "description": "Days of the window with history"},
                            "budget_minutes": {"type": "number", "description": "The whole window's budget, (100 − target)% of it"},
                            "budget_remaining_minutes": {"type": ["number", "null"], "description": "Negative when overspent; null while collecting"},
                        },
                    }},
                }),
            ),
            "statuspage",
        ),
        text("/history.atom", "Published updates as an Atom feed", ATOM),
        text("/history.rss", "Published updates as an RSS 2.0 feed", RSS),
        text("/badge.svg", "The page's overall status as an SVG badge", SVG),
        text("/components/{id}/badge.svg", "One public component's status as an SVG badge", SVG),
    ]
}

/// Adds the public documents' paths and schemas to `doc` (an OpenAPI document as JSON).
pub fn add_to(doc: &mut Value) {
    let mut paths = Map::new();
    for (path, summary, content_type, schema, tag) in documents() {
        let mut op = json!({
            "tags": [tag],
            "summary": summary,
            "operationId": operation_id(path),
            "responses": {
                "200": {
                    "description": summary,
                    "headers": {
                        "ETag": {"schema": {"type": "string"}},
                        "Last-Modified": {"schema": {"type": "string"}},
                    },
                    "content": {content_type: {"schema": schema}},
                },
                "304": {"description": "Unchanged since `If-None-Match` / `If-Modified-Since`"},
                "429": {
                    "description": "Over the public rate limit (`limits.public`)",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                },
            },
        });
        if path.contains("{id}") {
            op["parameters"] = json!([{
                "name": "id", "in": "path", "required": true,
                "description": "Component id (from the catalog)",
                "schema": {"type": "string"},
            }]);
            op["responses"]["404"] = json!({"description": "No such public component"});
        }
        paths.insert(path.to_string(), json!({ "get": op }));
    }
    if let Some(all) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        all.extend(paths);
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.extend(schemas_v2());
    }
}

fn operation_id(path: &str) -> String {
    let mut id = String::from("public");
    for part in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if part.is_empty() || part == "id" {
            continue;
        }
        id.push('_');
        id.push_str(part);
    }
    id
}

/// Statuspage v2's objects, as `page::statuspage` writes them.
fn schemas_v2() -> Map<String, Value> {
    let time = json!({"type": "string", "format": "date-time"});
    let time_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let string_or_null = json!({"type": ["string", "null"]});
    let component_status = json!({"$ref": "#/components/schemas/ComponentStatus"});
    let update = json!({
        "type": "object",
        "required": ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components"],
        "properties": {
            "id": {"type": "string"},
            "status": {"$ref": "#/components/schemas/IncidentStatus"},
            "body": {"type": "string"},
            "incident_id": {"type": "string"},
            "created_at": time, "updated_at": time, "display_at": time,
            "affected_components": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["code", "name", "old_status", "new_status"],
                    "properties": {
                        "code": {"type": "string"}, "name": {"type": "string"},
                        "old_status": component_status, "new_status": component_status,
                    },
                },
            },
            "deliver_notifications": {"type": "boolean"},
            "custom_tweet": string_or_null, "tweet_id": string_or_null,
        },
    });
    let incident_properties = json!({
        "id": {"type": "string"},
        "name": {"type": "string"},
        "status": {"$ref": "#/components/schemas/IncidentStatus"},
        "impact": {"$ref": "#/components/schemas/Impact"},
        "created_at": time, "updated_at": time, "started_at": time,
        "monitoring_at": time_or_null, "resolved_at": time_or_null,
        "shortlink": {"type": "string", "format": "uri"},
        "page_id": {"type": "string"},
        "incident_updates": {"type": "array", "items": update, "description": "Newest first"},
        "components": {"type": "array", "items": {"$ref": "#/components/schemas/SpComponent"}},
    });
    let incident_required = json!([
        "id",
        "name",
        "status",
        "impact",
        "created_at",
        "updated_at",
        "started_at",
        "monitoring_at",
        "resolved_at",
        "shortlink",
        "page_id",
        "incident_updates",
        "components"
    ]);
    let mut maintenance_properties = incident_properties.clone();
    maintenance_properties["scheduled_for"] = time.clone();
    maintenance_properties["scheduled_until"] = time.clone();
    let mut maintenance_required = incident_required.clone();
    if let Some(list) = maintenance_required.as_array_mut() {
        list.push(json!("scheduled_for"));
        list.push(json!("scheduled_until"));
    }
    let mut out = Map::new();
    out.insert(
        "SpPage".into(),
        json!({
            "type": "object",
            "required": ["id", "name", "url", "time_zone", "updated_at"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
                "time_zone": {"type": "string"}, "updated_at": time,
            },
        }),
    );
    out.insert(
        "SpStatus".into(),
        json!({
            "type": "object",
            "required": ["indicator", "description"],
            "properties": {
                "indicator": {"type": "string", "enum": ["none", "minor", "major", "critical", "maintenance"]},
                "description": {"type": "string"},
            },
        }),
    );
    out.insert(
        "SpComponent".into(),
        json!({
            "type": "object",
            "description": "A component, or (`group: true`) a component group listing its members' ids in `components`",
            "required": ["id", "name", "status", "created_at", "updated_at", "position", "group", "page_id"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"},
                "status": component_status,
                "created_at": time, "updated_at": time,
                "position": {"type": "integer"},
                "description": string_or_null,
                "showcase": {"type": "boolean"},
                "start_date": string_or_null,
                "group_id": string_or_null,
                "page_id": {"type": "string"},
                "group": {"type": "boolean"},
                "only_show_if_degraded": {"type": "boolean"},
                "components": {"type": "array", "items": {"type": "string"}},
                "slo": {"$ref": "#/components/schemas/Slo"},
            },
        }),
    );
    out.insert(
        "Slo".into(),
        json!({
            "type": "object",
            "description": "statusgate's extra field: the component's service level objective and where it stands (only on components that declare one)",
            "required": ["target", "window", "availability", "budget_remaining"],
            "properties": {
                "target": {"type": "number", "description": "Percent, e.g. 99.95"},
                "window": {"type": "string", "description": "Whole days, e.g. `30d`"},
                "availability": {"type": ["number", "null"], "description": "Percent over the window's days with history, from the published status history with the `uptime` weights; null while collecting"},
                "budget_remaining": {"type": ["number", "null"], "description": "1 − downtime ÷ ((100 − target)% × window); below 0 when overspent; null while collecting"},
            },
        }),
    );
    out.insert(
        "SpIncident".into(),
        json!({"type": "object", "required": incident_required, "properties": incident_properties}),
    );
    out.insert(
        "SpMaintenance".into(),
        json!({"type": "object", "required": maintenance_required, "properties": maintenance_properties}),
    );
    out
}
