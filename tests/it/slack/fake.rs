//! The stand-in for Slack: a local server stands in for Slack's Web API (answering as Slack does: HTTP 200
//! with `{"ok": …}`, 429 with `Retry-After`, 500 while "down") and records every call;
//! requests from "Slack" are signed as Slack signs them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use statusgate::approve::slack::verify::sign;

pub(super) use crate::harness::*;

pub(super) const T0: &str = "2026-11-30T12:00:00Z";
/// Slack's documented example secret (protocols.md §3), used as this server's secret.
pub(super) const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub(super) const BOT: &str = "xoxb-test-token";
pub(super) const APPROVER: &str = "U0APPROVER";
pub(super) const GROUPIE: &str = "U0GROUPIE";
pub(super) const STRANGER: &str = "U0STRANGER";

#[derive(Debug, Clone)]
pub(super) struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
    /// What the fake answered: 200, 429 or 500.
    pub status: u16,
}

#[derive(Clone, Default)]
pub(super) struct Fake {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub down: Arc<AtomicBool>,
    pub rate_limit_next: Arc<AtomicU32>,
    ts: Arc<AtomicU64>,
}

pub(super) struct FakeSlack {
    pub url: String,
    pub fake: Fake,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let fake = Fake::default();
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/response/{n}", post(response_url))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeSlack { url, fake }
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.fake
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Successful calls of `method` matching `pred`.
    pub fn ok_calls(&self, method: &str, pred: impl Fn(&Value) -> bool) -> Vec<Call> {
        self.calls(method)
            .into_iter()
            .filter(|c| c.status == 200 && pred(&c.body))
            .collect()
    }

    pub async fn wait_call(
        &self,
        s: &Server,
        what: &str,
        method: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Call {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(c) = self.ok_calls(method, &pred).into_iter().next() {
                return c;
            }
            if Instant::now() > deadline {
                panic!(
                    "no {method}: {what}\ncalls: {:#?}\nlog:\n{}",
                    self.fake.calls.lock().unwrap(),
                    s.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn response_url(&self) -> String {
        format!("{}/response/1", self.url)
    }
}

pub(super) async fn api(
    State(f): State<Fake>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Value = if json_body {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    } else {
        let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        json!(form)
    };
    let status = if f.down.load(Ordering::SeqCst) {
        500
    } else if f
        .rate_limit_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        429
    } else {
        200
    };
    f.calls.lock().unwrap().push(Call {
        method: method.clone(),
        body: parsed.clone(),
        at: Instant::now(),
        status,
    });
    match status {
        500 => return (StatusCode::INTERNAL_SERVER_ERROR, "upstream trouble").into_response(),
        429 => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response()
        }
        _ => {}
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {BOT}") {
        return Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    let answer = match method.as_str() {
        "chat.postMessage" => {
            let channel = parsed["channel"].as_str().unwrap_or("");
            if !channel.starts_with('C') {
                json!({"ok": false, "error": "channel_not_found"})
            } else {
                let n = f.ts.fetch_add(1, Ordering::SeqCst) + 1;
                json!({"ok": true, "channel": channel, "ts": format!("1700000000.{n:06}"), "message": {"text": parsed["text"]}})
            }
        }
        "chat.update" => json!({"ok": true, "channel": parsed["channel"], "ts": parsed["ts"]}),
        // As Slack answers: a link to the message in the workspace.
        "chat.getPermalink" => match (parsed["channel"].as_str(), parsed["message_ts"].as_str()) {
            (Some(c), Some(ts)) => json!({"ok": true, "channel": c,
                "permalink": format!("https://acme.slack.com/archives/{c}/p{}", ts.replace('.', ""))}),
            _ => json!({"ok": false, "error": "invalid_arguments"}),
        },
        "views.open" => json!({"ok": true, "view": {"id": "V0001"}}),
        "usergroups.users.list" => match parsed["usergroup"].as_str() {
            Some("S0ONCALL") => json!({"ok": true, "users": [GROUPIE]}),
            _ => json!({"ok": false, "error": "no_such_subteam"}),
        },
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    Json(answer).into_response()
}

pub(super) async fn response_url(State(f): State<Fake>, body: axum::body::Bytes) -> Response {
    f.calls.lock().unwrap().push(Call {
        method: "response_url".into(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
        status: 200,
    });
    Json(json!({"ok": true})).into_response()
}

pub(super) struct Setup {
    pub slack: FakeSlack,
    pub server: Server,
    pub _secrets: tempfile::TempDir,
}

pub(super) async fn start(extra: &str) -> Setup {
    start_with(extra, CATALOG, "").await
}

/// `start` with another catalog, and more `delivery:` settings (indented lines).
pub(super) async fn start_with(extra: &str, catalog: &str, delivery: &str) -> Setup {
    start_on(extra, catalog, delivery, None).await
}

/// `start_with` on a PostgreSQL database of the caller's (several replicas).
pub(super) async fn start_on(
    extra: &str,
    catalog: &str,
    delivery: &str,
    storage_url: Option<String>,
) -> Setup {
    let slack = FakeSlack::start().await;
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("signing"), format!("{SECRET}\n")).unwrap();
    std::fs::write(secrets.path().join("bot"), BOT).unwrap();
    let config = slack_config(&slack.url, secrets.path(), extra, delivery);
    let server = Server::start(Options {
        extra_config: config,
        catalog: catalog.to_string(),
        storage_url,
        ..Options::default()
    });
    Setup {
        slack,
        server,
        _secrets: secrets,
    }
}

/// The `slack:` and `delivery:` configuration for the fake, with secrets in `secrets`.
pub(super) fn slack_config(
    api: &str,
    secrets: &std::path::Path,
    extra: &str,
    delivery: &str,
) -> String {
    format!(
        "slack:\n  channel: C0DEFAULT\n  channels: {{Commerce: C0COMMERCE}}\n  approvers: [{APPROVER}]\n  approver_groups: [S0ONCALL]\n  api_url: {api}/api\n  signing_secret_file: {signing}\n  bot_token_file: {bot}\n{extra}delivery:\n  backoff: {{initial: 100ms, max: 400ms}}\n{delivery}",
        signing = secrets.join("signing").display(),
        bot = secrets.join("bot").display(),
    )
}

pub(super) fn now_ts() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// Posts a form to `path` signed as Slack signs it, at timestamp `ts`.
pub(super) async fn post_signed(s: &Server, path: &str, body: &str, ts: &str) -> (u16, String) {
    let r = s
        .http
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", ts)
        .header(
            "x-slack-signature",
            sign(SECRET.as_bytes(), ts, body.as_bytes()),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

pub(super) async fn interact(s: &Server, payload: &Value) -> (u16, String) {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    post_signed(s, "/slack/interactions", &body, &now_ts()).await
}

pub(super) async fn command(s: &Server, user_id: &str, text: &str, response_url: &str) -> Value {
    let body = serde_urlencoded::to_string([
        ("token", "legacy-ignored"),
        ("team_id", "T1"),
        ("channel_id", "C0DEFAULT"),
        ("user_id", user_id),
        (
            "user_name",
            user(user_id)["username"].as_str().unwrap_or(""),
        ),
        ("command", "/status"),
        ("text", text),
        ("response_url", response_url),
        ("trigger_id", "trigger-cmd"),
    ])
    .unwrap();
    let (status, text) = post_signed(s, "/slack/commands", &body, &now_ts()).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

pub(super) fn user(id: &str) -> Value {
    let name = match id {
        APPROVER => "alice",
        GROUPIE => "gary",
        _ => "mallory",
    };
    json!({"id": id, "username": name, "name": name, "team_id": "T1"})
}

pub(super) fn button(user_id: &str, action_id: &str, value: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": "A1",
        "team": {"id": "T1", "domain": "acme"},
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0DEFAULT", "is_ephemeral": false},
        "trigger_id": "trigger-1",
        "channel": {"id": "C0DEFAULT", "name": "status"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": "decide", "value": value, "type": "button", "action_ts": "1700000001.1"}],
    })
}

pub(super) fn submission(user_id: &str, callback: &str, metadata: &str, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "user": user(user_id),
        "team": {"id": "T1"},
        "trigger_id": "trigger-2",
        "view": {"id": "V0001", "callback_id": callback, "private_metadata": metadata, "hash": "h1", "state": {"values": values}},
        "response_urls": [],
    })
}

pub(super) fn text_input(v: &str) -> Value {
    json!({"value": {"type": "plain_text_input", "value": v}})
}

pub(super) fn select(v: &str) -> Value {
    json!({"value": {"type": "static_select", "selected_option": {"value": v}}})
}

/// The values of every button in a message's blocks, by action id.
pub(super) fn buttons(blocks: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for b in blocks.as_array().into_iter().flatten() {
        for e in b["elements"].as_array().into_iter().flatten() {
            if e["type"] == "button" {
                out.push((
                    e["action_id"].as_str().unwrap_or("").into(),
                    e["value"].as_str().unwrap_or("").into(),
                ));
            }
        }
    }
    out
}

pub(super) async fn fire(s: &Server, fingerprint: &str, service: &str) {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            fingerprint,
            service,
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
}

pub(super) async fn draft(s: &Server, id: &str) -> Value {
    let (status, d) = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");
    d
}

/// Returns once Slack has seen everything the server meant to tell it before this call.
/// The Slack worker is one loop: at the top of each turn it records and posts storm and
/// watchdog notices and reminders; between turns it posts or updates the draft it was told
/// of. A fresh draft posted, then rejected and its message updated, means at least one
/// whole turn began after this call, so whatever was due then has been posted: a check
/// for "nothing was told" made afterwards cannot pass merely because the server was slow.
/// `service` must map to a component with no open draft or incident; `tag` makes the
/// fingerprint unique.
pub(super) async fn slack_barrier(s: &Server, slack: &FakeSlack, service: &str, tag: &str) {
    let fp = format!("barrier-{tag}");
    fire(s, &fp, service).await;
    let d = s
        .wait_draft(&format!("barrier draft {fp}, alone"), |d| {
            d["state"] == "pending"
                && d["alerts"].as_array().is_some_and(|a| {
                    a.len() == 1 && a.iter().any(|x| x["fingerprint"] == fp.as_str())
                })
        })
        .await;
    let id = d["id"].as_str().unwrap_or_default().to_string();
    let mentions = |b: &Value| {
        b["text"]
            .as_str()
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .any(|w| w == id)
    };
    slack
        .wait_call(
            s,
            &format!("barrier {id} posted"),
            "chat.postMessage",
            mentions,
        )
        .await;
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/reject"),
            Some(ADMIN),
            Some(json!({"reason": "barrier"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    slack
        .wait_call(s, &format!("barrier {id} rejected"), "chat.update", |b| {
            mentions(b) && b["blocks"].to_string().contains("Rejected")
        })
        .await;
}
