//! A local stand-in for Atlassian Statuspage's manage API v1: the request and answer shapes
//! of its documentation (`OAuth` key, `{"incident": {…}}` bodies, 201 on create, incident
//! updates newest first, `{"message": …}` errors). It records every call and fails on
//! demand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::fake_http::{spawn, FakeServer, Reply, Request};

pub const KEY: &str = "sp-test-key";
pub const PAGE: &str = "pg1";

/// What the next matching request meets.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds).
    Status(u16, Option<u64>),
    /// Do the work, then drop the connection without answering.
    ApplyThenDrop,
    /// Do the work, answer late.
    ApplyThenLate(Duration),
}

#[derive(Default)]
pub struct State {
    pub incidents: Vec<Value>,
    pub components: Vec<Value>,
    /// Every request: method, path, body.
    pub calls: Vec<(String, String, Value)>,
    /// Faults for requests whose method is the first element (`*` for any).
    pub faults: VecDeque<(String, Fault)>,
    /// Every request fails with this status while set.
    pub down: Option<u16>,
    /// When each POST arrived.
    pub post_times: Vec<std::time::Instant>,
    /// When each request arrived.
    pub times: Vec<std::time::Instant>,
    next_id: u64,
}

#[derive(Clone)]
pub struct FakeStatuspage {
    pub state: Arc<Mutex<State>>,
}

pub struct Running {
    pub fake: FakeStatuspage,
    pub server: FakeServer,
}

impl FakeStatuspage {
    pub async fn start() -> Running {
        let mut state = State::default();
        for (id, name) in [
            ("cmp_api", "API"),
            ("cmp_web", "Website"),
            ("cmp_pay", "Payments"),
            ("cmp_docs", "Documentation"),
        ] {
            state.components.push(json!({
                "id": id, "name": name, "status": "operational", "page_id": PAGE,
                "group": false, "position": 1, "description": null,
            }));
        }
        let fake = FakeStatuspage {
            state: Arc::new(Mutex::new(state)),
        };
        let me = fake.clone();
        let server = spawn(Arc::new(move |req: &Request| me.handle(req))).await;
        Running { fake, server }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn calls(&self, method: &str) -> Vec<(String, Value)> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|(m, _, _)| m == method)
                .map(|(_, p, b)| (p.clone(), b.clone()))
                .collect()
        })
    }

    pub fn incidents(&self) -> Vec<Value> {
        self.with(|s| s.incidents.clone())
    }

    pub fn fault(&self, method: &str, fault: Fault) {
        self.with(|s| s.faults.push_back((method.to_string(), fault)));
    }

    /// A person posts an incident update in Statuspage's own UI (or with their own key):
    /// a new update, newest first, and the incident takes its status. Nothing of it goes
    /// through statusgate, so it is not in `calls`.
    pub fn post_update_by_hand(&self, incident: usize, status: &str, body: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.with(|s| {
            let inc = &mut s.incidents[incident];
            let id = inc["id"].as_str().unwrap_or_default().to_string();
            let n = inc["incident_updates"].as_array().map_or(0, Vec::len) + 1;
            inc["status"] = json!(status);
            inc["updated_at"] = json!(now);
            if let Some(list) = inc["incident_updates"].as_array_mut() {
                list.insert(
                    0,
                    json!({
                        "id": format!("upd-{id}-{n}"), "status": status, "body": body,
                        "created_at": now, "incident_id": id,
                    }),
                );
            }
        });
    }

    fn handle(&self, req: &Request) -> Reply {
        let mut s = self.state.lock().unwrap();
        s.calls
            .push((req.method.clone(), req.path.clone(), req.json()));
        s.times.push(req.at);
        if req.method == "POST" {
            s.post_times.push(req.at);
        }
        if req.header("authorization") != Some(&format!("OAuth {KEY}")) {
            return Reply::json(401, json!({"message": "Could not authenticate"}));
        }
        if let Some(status) = s.down {
            return Reply::json(status, json!({"message": "Service unavailable"}));
        }
        let fault = match s.faults.front() {
            Some((m, _)) if m == "*" || *m == req.method => s.faults.pop_front().map(|(_, f)| f),
            _ => None,
        };
        if let Some(Fault::Status(status, retry)) = &fault {
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            if let Some(r) = retry {
                headers.push(("retry-after".into(), r.to_string()));
            }
            return Reply::Respond {
                status: *status,
                headers,
                body: json!({"message": "Rate limit exceeded"}).to_string(),
            };
        }
        let answer = route(&mut s, req);
        match fault {
            Some(Fault::ApplyThenDrop) => Reply::Drop,
            Some(Fault::ApplyThenLate(d)) => Reply::Late(d, Box::new(answer)),
            _ => answer,
        }
    }
}

fn route(s: &mut State, req: &Request) -> Reply {
    let prefix = format!("/pages/{PAGE}");
    let Some(rest) = req.path.strip_prefix(&prefix) else {
        return Reply::json(404, json!({"message": "Page not found"}));
    };
    let (path, _query) = rest.split_once('?').unwrap_or((rest, ""));
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match (req.method.as_str(), path) {
        ("GET", "/components") => Reply::json(200, Value::Array(s.components.clone())),
        ("GET", "/incidents/unresolved") => {
            let open: Vec<Value> = s
                .incidents
                .iter()
                .filter(|i| i["status"] != "resolved" && i["status"] != "completed")
                .map(|i| with_components(s, i))
                .collect();
            Reply::json(200, Value::Array(open))
        }
        ("GET", "/incidents/upcoming") => maintenances(s, &["scheduled"]),
        ("GET", "/incidents/active_maintenance") => maintenances(s, &["in_progress", "verifying"]),
        ("GET", "/incidents") => {
            let all: Vec<Value> = s.incidents.iter().map(|i| with_components(s, i)).collect();
            Reply::json(200, Value::Array(all))
        }
        ("POST", "/incidents") => {
            let body = req.json()["incident"].clone();
            if body["name"].as_str().is_none_or(str::is_empty) {
                return Reply::json(422, json!({"message": "Name can't be blank"}));
            }
            s.next_id += 1;
            let id = format!("inc{}", s.next_id);
            apply_components(s, &body);
            let incident = json!({
                "id": id,
                "name": body["name"],
                "status": body["status"],
                "impact": body["impact_override"],
                "created_at": now,
                "updated_at": now,
                "page_id": PAGE,
                "metadata": body["metadata"],
                "component_ids": body["component_ids"],
                "scheduled_for": body["scheduled_for"],
                "scheduled_until": body["scheduled_until"],
                "scheduled_auto_in_progress": body["scheduled_auto_in_progress"],
                "scheduled_auto_completed": body["scheduled_auto_completed"],
                "incident_updates": [{
                    "id": format!("upd-{id}-1"), "status": body["status"], "body": body["body"],
                    "created_at": now, "incident_id": id,
                }],
            });
            s.incidents.push(incident.clone());
            Reply::json(201, with_components(s, &incident))
        }
        (method, p) if p.starts_with("/incidents/") => {
            let id = &p["/incidents/".len()..];
            let Some(i) = s.incidents.iter().position(|x| x["id"] == id) else {
                return Reply::json(404, json!({"message": "Incident not found"}));
            };
            match method {
                "GET" => Reply::json(200, with_components(s, &s.incidents[i].clone())),
                "PATCH" => {
                    let body = req.json()["incident"].clone();
                    apply_components(s, &body);
                    let inc = &mut s.incidents[i];
                    for (from, to) in [
                        ("name", "name"),
                        ("status", "status"),
                        ("impact_override", "impact"),
                        ("component_ids", "component_ids"),
                        ("scheduled_for", "scheduled_for"),
                        ("scheduled_until", "scheduled_until"),
                    ] {
                        if !body[from].is_null() {
                            inc[to] = body[from].clone();
                        }
                    }
                    inc["updated_at"] = json!(now);
                    if !body["body"].is_null() || !body["status"].is_null() {
                        let n = inc["incident_updates"].as_array().map_or(0, Vec::len) + 1;
                        let update = json!({
                            "id": format!("upd-{id}-{n}"), "status": inc["status"],
                            "body": body["body"].as_str().unwrap_or(""), "created_at": now, "incident_id": id,
                        });
                        if let Some(list) = inc["incident_updates"].as_array_mut() {
                            list.insert(0, update);
                        }
                    }
                    let inc = inc.clone();
                    Reply::json(200, with_components(s, &inc))
                }
                _ => Reply::json(405, json!({"message": "Method not allowed"})),
            }
        }
        _ => Reply::json(404, json!({"message": "Not found"})),
    }
}

/// Scheduled incidents (maintenance) in one of `statuses`, as `/upcoming` and
/// `/active_maintenance` list them.
fn maintenances(s: &State, statuses: &[&str]) -> Reply {
    let list: Vec<Value> = s
        .incidents
        .iter()
        .filter(|i| {
            !i["scheduled_for"].is_null()
                && statuses.iter().any(|st| i["status"].as_str() == Some(st))
        })
        .map(|i| with_components(s, i))
        .collect();
    Reply::json(200, Value::Array(list))
}

fn apply_components(s: &mut State, body: &Value) {
    if let Some(map) = body["components"].as_object() {
        for (id, status) in map {
            if let Some(c) = s.components.iter_mut().find(|c| c["id"] == id.as_str()) {
                c["status"] = status.clone();
            }
        }
    }
}

/// Incidents come back with full component objects, as the API returns them.
fn with_components(s: &State, incident: &Value) -> Value {
    let mut out = incident.clone();
    let ids: Vec<&str> = incident["component_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out["components"] = Value::Array(
        s.components
            .iter()
            .filter(|c| c["id"].as_str().is_some_and(|id| ids.contains(&id)))
            .cloned()
            .collect(),
    );
    if let Some(o) = out.as_object_mut() {
        o.remove("component_ids");
    }
    out
}

/// statusgate configuration for this fake: the `hosted` publisher.
pub fn publisher_config(url: &str, key_file: &std::path::Path) -> String {
    format!(
        "  - name: hosted\n    type: statuspage\n    base_url: {url}\n    page_id: {PAGE}\n    api_key_file: {}\n    components: {{api: cmp_api, web: cmp_web, payments: cmp_pay}}\n",
        key_file.display()
    )
}
