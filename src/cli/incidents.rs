//! `statusgate incidents`: declare an incident no alert reported, or draft the resolution
//! of one no alert will resolve, on a running server. Both are drafts, approved like any.

use super::client::{self, shown};
use super::*;

pub(super) fn incidents(server: Server, action: IncidentsAction) -> ExitCode {
    client::run(server, |client| async move {
        match action {
            IncidentsAction::List { json } => {
                shown(client.get("/api/v1/incidents").await, json, |v| {
                    let open: Vec<&Value> = v["incidents"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|i| i["status"] != "resolved" && i["status"] != "completed")
                        .collect();
                    if open.is_empty() {
                        return "no open incidents\n".into();
                    }
                    open.iter()
                        .map(|i| {
                            format!(
                                "{:<8} {:<13} {}\n",
                                i["id"].as_str().unwrap_or(""),
                                i["status"].as_str().unwrap_or(""),
                                i["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
            }
            IncidentsAction::Declare {
                body,
                components,
                title,
                status,
                impact,
            } => {
                let mut map = serde_json::Map::new();
                for c in &components {
                    let Some((id, st)) = c.split_once('=') else {
                        return fail(format!(
                            "--component {c}: write it as ID=STATUS, e.g. api=major_outage"
                        ));
                    };
                    map.insert(id.trim().to_string(), json!(st.trim()));
                }
                let mut req = json!({"body": body, "components": map});
                for (key, value) in [
                    ("title", title),
                    ("incident_status", status),
                    ("impact", impact),
                ] {
                    if let Some(v) = value {
                        req[key] = json!(v);
                    }
                }
                let answer = client.post("/api/v1/incidents", req).await;
                shown(answer, false, |d| {
                    drafted(d, "nothing is public until it is approved")
                })
            }
            IncidentsAction::Resolve { id, body } => {
                let mut req = json!({"incident_status": "resolved"});
                if let Some(b) = body {
                    req["body"] = json!(b);
                }
                let answer = client
                    .post(&format!("/api/v1/incidents/{id}/drafts"), req)
                    .await;
                shown(answer, false, |d| {
                    drafted(d, &format!("the resolution of {id}; approve it to publish"))
                })
            }
        }
    })
}

fn drafted(d: &Value, then: &str) -> String {
    format!(
        "drafted {} revision {} ({}): {}\n{then}: statusgate drafts approve {} --revision {}\n",
        d["id"].as_str().unwrap_or("?"),
        d["revision"],
        d["kind"].as_str().unwrap_or(""),
        d["title"].as_str().unwrap_or(""),
        d["id"].as_str().unwrap_or("?"),
        d["revision"],
    )
}
