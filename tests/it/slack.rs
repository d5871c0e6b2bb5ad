//! Slack: a local server stands in for Slack's Web API (answering as Slack does: HTTP 200
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

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";
/// Slack's documented example secret (protocols.md §3), used as this server's secret.
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT: &str = "xoxb-test-token";
const APPROVER: &str = "U0APPROVER";
const GROUPIE: &str = "U0GROUPIE";
const STRANGER: &str = "U0STRANGER";

#[derive(Debug, Clone)]
struct Call {
    method: String,
    body: Value,
    at: Instant,
    /// What the fake answered: 200, 429 or 500.
    status: u16,
}

#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    down: Arc<AtomicBool>,
    rate_limit_next: Arc<AtomicU32>,
    ts: Arc<AtomicU64>,
}

struct FakeSlack {
    url: String,
    fake: Fake,
}

impl FakeSlack {
    async fn start() -> FakeSlack {
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

    fn calls(&self, method: &str) -> Vec<Call> {
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
    fn ok_calls(&self, method: &str, pred: impl Fn(&Value) -> bool) -> Vec<Call> {
        self.calls(method)
            .into_iter()
            .filter(|c| c.status == 200 && pred(&c.body))
            .collect()
    }

    async fn wait_call(
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

    fn response_url(&self) -> String {
        format!("{}/response/1", self.url)
    }
}

async fn api(
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
        "views.open" => json!({"ok": true, "view": {"id": "V0001"}}),
        "usergroups.users.list" => match parsed["usergroup"].as_str() {
            Some("S0ONCALL") => json!({"ok": true, "users": [GROUPIE]}),
            _ => json!({"ok": false, "error": "no_such_subteam"}),
        },
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    Json(answer).into_response()
}

async fn response_url(State(f): State<Fake>, body: axum::body::Bytes) -> Response {
    f.calls.lock().unwrap().push(Call {
        method: "response_url".into(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
        status: 200,
    });
    Json(json!({"ok": true})).into_response()
}

struct Setup {
    slack: FakeSlack,
    server: Server,
    _secrets: tempfile::TempDir,
}

async fn start(extra: &str) -> Setup {
    let slack = FakeSlack::start().await;
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("signing"), format!("{SECRET}\n")).unwrap();
    std::fs::write(secrets.path().join("bot"), BOT).unwrap();
    let config = format!(
        "slack:\n  channel: C0DEFAULT\n  channels: {{Commerce: C0COMMERCE}}\n  approvers: [{APPROVER}]\n  approver_groups: [S0ONCALL]\n  api_url: {api}/api\n  signing_secret_file: {signing}\n  bot_token_file: {bot}\n{extra}delivery:\n  backoff: {{initial: 100ms, max: 400ms}}\n",
        api = slack.url,
        signing = secrets.path().join("signing").display(),
        bot = secrets.path().join("bot").display(),
    );
    let server = Server::start(Options {
        extra_config: config,
        ..Options::default()
    });
    Setup {
        slack,
        server,
        _secrets: secrets,
    }
}

fn now_ts() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// Posts a form to `path` signed as Slack signs it, at timestamp `ts`.
async fn post_signed(s: &Server, path: &str, body: &str, ts: &str) -> (u16, String) {
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

async fn interact(s: &Server, payload: &Value) -> (u16, String) {
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    post_signed(s, "/slack/interactions", &body, &now_ts()).await
}

async fn command(s: &Server, user_id: &str, text: &str, response_url: &str) -> Value {
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

fn user(id: &str) -> Value {
    let name = match id {
        APPROVER => "alice",
        GROUPIE => "gary",
        _ => "mallory",
    };
    json!({"id": id, "username": name, "name": name, "team_id": "T1"})
}

fn button(user_id: &str, action_id: &str, value: &str, response_url: &str) -> Value {
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

fn submission(user_id: &str, callback: &str, metadata: &str, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "user": user(user_id),
        "team": {"id": "T1"},
        "trigger_id": "trigger-2",
        "view": {"id": "V0001", "callback_id": callback, "private_metadata": metadata, "hash": "h1", "state": {"values": values}},
        "response_urls": [],
    })
}

fn text_input(v: &str) -> Value {
    json!({"value": {"type": "plain_text_input", "value": v}})
}

fn select(v: &str) -> Value {
    json!({"value": {"type": "static_select", "selected_option": {"value": v}}})
}

/// The values of every button in a message's blocks, by action id.
fn buttons(blocks: &Value) -> Vec<(String, String)> {
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

async fn fire(s: &Server, fingerprint: &str, service: &str) {
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

async fn draft(s: &Server, id: &str) -> Value {
    let (status, d) = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");
    d
}

async fn wait_state(s: &Server, id: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = draft(s, id).await;
        if d["state"] == state {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {state}: {d}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn requests_not_signed_by_slack_are_refused_before_parsing() {
    let t = start("").await;
    let s = &t.server;
    // Slack's documented example: the exact body, timestamp and signature. The signature
    // matches (this server uses the example's secret), so the refusal is for its age alone.
    let vector = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        sign(SECRET.as_bytes(), "1531420618", vector.as_bytes()),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let (status, body) = post_signed(s, "/slack/commands", vector, "1531420618").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replay"), "{body}");
    // The same body signed now is Slack's: `/status` with no text lists.
    let (status, body) = post_signed(s, "/slack/commands", vector, &now_ts()).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Pending drafts:* none"),
        "{answer}"
    );

    for path in ["/slack/interactions", "/slack/commands"] {
        let form = "payload=%7B%7D";
        // A bad signature.
        let r = s
            .http
            .post(format!("{}{path}", s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", now_ts())
            .header(
                "x-slack-signature",
                sign(b"not-the-secret", &now_ts(), form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"].as_str().unwrap().contains("does not match"),
            "{e}"
        );
        // Missing headers.
        for (header, named) in [
            ("x-slack-signature", "X-Slack-Request-Timestamp"),
            ("x-slack-request-timestamp", "X-Slack-Signature"),
        ] {
            let ts = now_ts();
            let r = s
                .http
                .post(format!("{}{path}", s.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    header,
                    if header == "x-slack-signature" {
                        sign(SECRET.as_bytes(), &ts, form.as_bytes())
                    } else {
                        ts
                    },
                )
                .body(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            let e: Value = r.json().await.unwrap();
            assert!(e["error"].as_str().unwrap().contains(named), "{e}");
        }
        // A replay of a correctly signed request, six minutes old.
        let old = (now_ts().parse::<i64>().unwrap() - 360).to_string();
        let (status, body) = post_signed(s, path, form, &old).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("replay"), "{body}");
        // Not a form.
        let r = s
            .http
            .post(format!("{}{path}", s.url))
            .json(&json!({"payload": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415);
    }
    // Slack's certificate check is answered without a signature.
    let r = s
        .http
        .post(format!("{}/slack/commands", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ssl_check=1&token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    // A signed but broken payload is a clear 400, not a crash.
    let (status, body) =
        post_signed(s, "/slack/interactions", "payload=%7Bnot+json", &now_ts()).await;
    assert_eq!(status, 400, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    // Nothing reached Slack's API, and nothing was decided.
    assert!(t.slack.calls("chat.postMessage").is_empty());
    assert!(s.audit().await.is_empty());
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(ready["checks"]["slack"]["channel"], "C0DEFAULT", "{ready}");
}

#[tokio::test]
async fn a_draft_is_approved_in_slack_and_its_message_follows() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    let posted = slack
        .wait_call(s, "draft D-1", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
        })
        .await;
    assert_eq!(posted.body["channel"], "C0DEFAULT");
    let blocks = &posted.body["blocks"];
    let text = blocks.to_string();
    let d = draft(s, "D-1").await;
    assert!(text.contains(d["title"].as_str().unwrap()), "{text}");
    assert!(text.contains("Public API: Major outage"), "{text}");
    assert!(text.contains("critical"), "{text}");
    // Internal: the alert and its source link are shown to approvers in chat.
    assert!(
        text.contains("http://prometheus.internal:9090/graph?g0.expr=x"),
        "{text}"
    );
    assert!(text.contains("HighErrorRate"), "{text}");
    let values = buttons(blocks);
    assert_eq!(
        values,
        [
            ("sg_approve".to_string(), "D-1:1".to_string()),
            ("sg_edit".to_string(), "D-1:1".to_string()),
            ("sg_reject".to_string(), "D-1:1".to_string())
        ]
    );
    let (status, body) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The decision is recorded before Slack gets its answer.
    let d = draft(s, "D-1").await;
    assert_eq!(d["state"], "published", "{d}");
    let incident = d["incident_id"].as_str().unwrap().to_string();
    let audit = s.audit().await;
    let approve = audit.iter().find(|e| e["action"] == "approve").unwrap();
    assert_eq!(approve["actor"], "alice (slack:U0APPROVER)");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"][0]["id"], incident.as_str());

    let update = slack
        .wait_call(s, "message shows the publication", "chat.update", |b| {
            b["blocks"].to_string().contains("and published")
        })
        .await;
    assert_eq!(update.body["channel"], "C0DEFAULT");
    // The message Slack has for this draft is the one updated.
    assert_eq!(update.body["ts"], "1700000000.000001");
    let shown = update.body["blocks"].to_string();
    assert!(shown.contains("<@U0APPROVER>"), "{shown}");
    assert!(
        shown.contains(&format!("http://status.example.com/#{incident}")),
        "{shown}"
    );
    assert!(
        buttons(&update.body["blocks"]).is_empty(),
        "buttons must go: {shown}"
    );
    // One message per draft.
    assert_eq!(slack.ok_calls("chat.postMessage", |_| true).len(), 1);

    // Pressing Approve again says it is done, and changes nothing.
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let answer = slack
        .wait_call(s, "already published", "response_url", |b| {
            b["text"].as_str().unwrap_or("").contains("published")
        })
        .await;
    assert_eq!(answer.body["response_type"], "ephemeral");
}

#[tokio::test]
async fn edits_in_a_modal_make_a_revision_and_stale_approvals_are_refused() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;
    let before = draft(s, "D-1").await;

    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_edit", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let opened = slack
        .wait_call(s, "edit modal", "views.open", |_| true)
        .await;
    assert_eq!(opened.body["trigger_id"], "trigger-1");
    let view = &opened.body["view"];
    assert_eq!(view["callback_id"], "sg_edit");
    assert_eq!(view["private_metadata"], "D-1:1");
    let blocks = view["blocks"].as_array().unwrap();
    let block = |id: &str| {
        blocks
            .iter()
            .find(|b| b["block_id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(block("title")["element"]["initial_value"], before["title"]);
    assert_eq!(block("body")["element"]["initial_value"], before["body"]);
    assert_eq!(
        block("impact")["element"]["initial_option"]["value"],
        "critical"
    );
    assert_eq!(
        block("incident_status")["element"]["initial_option"]["value"],
        "investigating"
    );
    assert_eq!(
        block("component:api")["element"]["initial_option"]["value"],
        "major_outage"
    );

    // A form that would empty the title is sent back with the reason on that field.
    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("  "), "body": text_input("x")}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["title"].is_string(), "{answer}");
    assert_eq!(draft(s, "D-1").await["revision"], 1);

    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({
                "title": text_input("Checkout API errors"),
                "body": text_input("Some API requests fail. We are on it."),
                "incident_status": select("identified"),
                "impact": select("major"),
                "component:api": select("partial_outage"),
            }),
        ),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, ""),
        "an empty 200 closes the modal"
    );
    let d = draft(s, "D-1").await;
    assert_eq!(d["revision"], 2);
    assert_eq!(d["title"], "Checkout API errors");
    assert_eq!(d["body"], "Some API requests fail. We are on it.");
    assert_eq!(d["incident_status"], "identified");
    assert_eq!(d["impact"], "major");
    assert_eq!(d["components"], json!({"api": "partial_outage"}));
    let edit = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "edited")
        .unwrap()
        .clone();
    assert_eq!(edit["actor"], "alice (slack:U0APPROVER)");

    // The same message is redrawn, saying what changed.
    let redrawn = slack
        .wait_call(s, "revision 2", "chat.update", |b| {
            b["text"].as_str().unwrap_or("").contains("revision 2")
        })
        .await;
    let shown = redrawn.body["blocks"].to_string();
    assert!(shown.contains("edited by <@U0APPROVER>"), "{shown}");
    assert!(shown.contains("title"), "{shown}");
    assert_eq!(buttons(&redrawn.body["blocks"])[0].1, "D-1:2");
    assert_eq!(slack.ok_calls("chat.postMessage", |_| true).len(), 1);

    // Approving the revision on screen before the redraw is refused, with the newest text.
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let stale = slack
        .wait_call(s, "stale answer", "response_url", |_| true)
        .await;
    assert_eq!(stale.body["response_type"], "ephemeral");
    assert_eq!(stale.body["replace_original"], false);
    let shown = stale.body["blocks"].to_string();
    assert!(shown.contains("revision 2"), "{shown}");
    assert!(
        shown.contains("Some API requests fail. We are on it."),
        "{shown}"
    );
    assert!(buttons(&stale.body["blocks"]).contains(&("sg_approve".into(), "D-1:2".into())));
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert!(summary["incidents"].as_array().unwrap().is_empty());

    // Editing from the old form after the change is refused in the form.
    let (_, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("Old")}),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["errors"]["title"]
            .as_str()
            .unwrap()
            .contains("revision 2"),
        "{answer}"
    );

    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:2", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let d = wait_state(s, "D-1", "published").await;
    assert_eq!(d["revision"], 2);
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"][0]["name"], "Checkout API errors");

    // Reject goes through a form with a reason.
    fire(s, "f2", "payments").await;
    let posted = slack
        .wait_call(s, "payments draft", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;
    assert_eq!(
        posted.body["channel"], "C0COMMERCE",
        "component group routes to its channel"
    );
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_reject", "D-2:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    slack
        .wait_call(s, "reject modal", "views.open", |b| {
            b["view"]["callback_id"] == "sg_reject"
        })
        .await;
    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_reject",
            "D-2:1",
            json!({"reason": text_input("test alert, not real")}),
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let d = draft(s, "D-2").await;
    assert_eq!(d["state"], "rejected");
    assert_eq!(d["reason"], "test alert, not real");
    let update = slack
        .wait_call(s, "rejected message", "chat.update", |b| {
            b["blocks"].to_string().contains("Rejected")
        })
        .await;
    assert_eq!(update.body["channel"], "C0COMMERCE");
    assert!(update.body["blocks"]
        .to_string()
        .contains("test alert, not real"));
}

#[tokio::test]
async fn only_approvers_decide_and_refusals_are_audited() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;

    let (status, _) = interact(
        s,
        &button(STRANGER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let refusal = slack
        .wait_call(s, "refusal", "response_url", |_| true)
        .await;
    assert_eq!(refusal.body["response_type"], "ephemeral");
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("Only approvers"),
        "{:?}",
        refusal.body
    );
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    // The stranger cannot edit through a form either, nor reject by command.
    let (_, body) = interact(
        s,
        &submission(
            STRANGER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("pwned")}),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["errors"]["title"]
            .as_str()
            .unwrap()
            .contains("Only approvers"),
        "{answer}"
    );
    let answer = command(s, STRANGER, "reject D-1 nope", &slack.response_url()).await;
    assert!(
        answer["text"].as_str().unwrap().contains("Only approvers"),
        "{answer}"
    );
    let d = draft(s, "D-1").await;
    assert_eq!(
        (d["state"].as_str(), d["revision"].as_u64()),
        (Some("pending"), Some(1))
    );

    let refused: Vec<Value> = s
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    for e in &refused {
        assert_eq!(e["actor"], "mallory (slack:U0STRANGER)");
        assert_eq!(e["detail"]["user_id"], STRANGER);
    }
    assert_eq!(refused.iter().filter(|e| e["draft_id"] == "D-1").count(), 2);

    // A member of the approver user group may approve.
    let (status, _) = interact(
        s,
        &button(GROUPIE, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let d = draft(s, "D-1").await;
    assert_eq!(d["state"], "published", "{d}");
    let lookup = slack.ok_calls("usergroups.users.list", |_| true);
    assert!(!lookup.is_empty());
    assert_eq!(lookup[0].body["usergroup"], "S0ONCALL");
    let audit = s.audit().await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "approve" && e["actor"] == "gary (slack:U0GROUPIE)"));
}

#[tokio::test]
async fn drafts_reach_slack_after_an_outage_and_a_restart_with_nothing_lost() {
    let mut t = start("").await;
    t.slack.fake.down.store(true, Ordering::SeqCst);
    fire(&t.server, "f1", "api-gateway").await;
    let d = t
        .server
        .wait_draft("draft while Slack is down", |d| d["state"] == "pending")
        .await;
    // The API still works while Slack is down.
    assert_eq!(d["id"], "D-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.slack.calls("chat.postMessage").is_empty() {
        assert!(
            Instant::now() < deadline,
            "never tried Slack\n{}",
            t.server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fire(&t.server, "f2", "payments").await;
    t.server
        .wait_draft("second draft", |d| d["id"] == "D-2")
        .await;
    let (status, body) = t.server.approve("D-2", 1).await;
    assert_eq!(status, 200, "{body}");
    // Readiness never depends on Slack; the detail says what is wrong.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ready) = t.server.get("/readyz", None).await;
        assert_eq!(ready["ready"], true, "{ready}");
        if ready["checks"]["slack"]["ok"] == false {
            let reason = ready["checks"]["slack"]["reason"].as_str().unwrap();
            assert!(reason.contains("500"), "{ready}");
            assert_eq!(ready["checks"]["slack"]["behind"], true, "{ready}");
            break;
        }
        assert!(Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Restart while Slack is still down: the store remembers what Slack has not seen.
    t.server.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.slack.ok_calls("chat.postMessage", |_| true).is_empty());
    t.slack.fake.down.store(false, Ordering::SeqCst);

    let s = &t.server;
    let first = t
        .slack
        .wait_call(s, "D-1 after the outage", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
        })
        .await;
    assert!(buttons(&first.body["blocks"]).contains(&("sg_approve".into(), "D-1:1".into())));
    let second = t
        .slack
        .wait_call(s, "D-2 after the outage", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;
    // D-2 was approved meanwhile: its message says so, with no buttons.
    assert!(
        second.body["blocks"].to_string().contains("Approved"),
        "{:?}",
        second.body
    );
    assert!(buttons(&second.body["blocks"]).is_empty());
    assert_eq!(second.body["channel"], "C0COMMERCE");
    // Oldest first, and each exactly once.
    assert!(first.at <= second.at);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.slack.ok_calls("chat.postMessage", |_| true).len(), 2);

    let (status, _) = s.approve("D-1", 1).await;
    assert_eq!(status, 200);
    t.slack
        .wait_call(s, "D-1 approved over the API", "chat.update", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
                && b["blocks"].to_string().contains("Approved")
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, ready) = s.get("/readyz", None).await;
        if ready["checks"]["slack"]["ok"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn slacks_rate_limit_is_honoured() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    slack.fake.rate_limit_next.store(1, Ordering::SeqCst);
    fire(s, "f1", "api-gateway").await;
    let posted = slack
        .wait_call(s, "draft after a 429", "chat.postMessage", |_| true)
        .await;
    let calls = slack.calls("chat.postMessage");
    assert_eq!(calls[0].status, 429);
    let waited = posted.at.duration_since(calls[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 not honoured: retried after {waited:?}"
    );
    assert_eq!(slack.ok_calls("chat.postMessage", |_| true).len(), 1);
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_slack_api_calls_total{method=\"chat.postMessage\",outcome=\"rate_limited\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_status_command_lists_shows_rejects_and_drafts_updates() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;

    let list = command(s, STRANGER, "", &slack.response_url()).await;
    let text = list["text"].as_str().unwrap();
    assert!(
        text.contains("D-1") && text.contains("Open incidents:* none"),
        "{text}"
    );
    let help = command(s, APPROVER, "help", &slack.response_url()).await;
    assert!(help["text"]
        .as_str()
        .unwrap()
        .contains("/status update INC-4"));
    let unknown = command(s, APPROVER, "frobnicate", &slack.response_url()).await;
    assert!(unknown["text"]
        .as_str()
        .unwrap()
        .contains("I do not know `frobnicate`"));

    // `approve` shows the text with a button for the revision shown; it does not approve.
    let shown = command(s, APPROVER, "approve d-1", &slack.response_url()).await;
    assert_eq!(shown["response_type"], "ephemeral");
    assert!(buttons(&shown["blocks"]).contains(&("sg_approve".into(), "D-1:1".into())));
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let incident = draft(s, "D-1").await["incident_id"]
        .as_str()
        .unwrap()
        .to_string();

    let answer = command(s, APPROVER, "update INC-99 hello", &slack.response_url()).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("INC-99 does not exist"),
        "{answer}"
    );
    let answer = command(
        s,
        APPROVER,
        &format!("update {incident}   We found the cause and are rolling out a fix."),
        &slack.response_url(),
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("Drafted D-2"),
        "{answer}"
    );
    let d = draft(s, "D-2").await;
    assert_eq!(d["kind"], "update");
    assert_eq!(d["incident_id"], incident.as_str());
    assert_eq!(d["body"], "We found the cause and are rolling out a fix.");
    assert_eq!(d["components"], json!({"api": "major_outage"}));
    assert!(d["history"][0]["actor"]
        .as_str()
        .unwrap()
        .contains("slack:U0APPROVER"));
    slack
        .wait_call(s, "update draft posted", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;

    // One pending draft per incident, over the API as in chat.
    let path = format!("/api/v1/incidents/{incident}/drafts");
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"body": "more"})))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("D-2"), "{body}");
    let (status, _) = s
        .send("POST", &path, Some(READER), Some(json!({"body": "more"})))
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"bdy": "typo"})))
        .await;
    assert_eq!(status, 422, "{body}");

    let answer = command(
        s,
        APPROVER,
        "reject D-2 wrong incident",
        &slack.response_url(),
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("Rejected D-2"),
        "{answer}"
    );
    assert_eq!(draft(s, "D-2").await["reason"], "wrong incident");
    // With nothing pending, the API drafts the templated update.
    let (status, body) = s.send("POST", &path, Some(ADMIN), None).await;
    assert_eq!(status, 415, "a body is JSON: {body}");
    let (status, body) = s.send("POST", &path, Some(ADMIN), Some(json!({}))).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["body"]
            .as_str()
            .unwrap()
            .contains("still investigating"),
        "{body}"
    );
    assert_eq!(body["history"][0]["actor"], "admin");
    let list = command(s, APPROVER, "list", &slack.response_url()).await;
    assert!(list["text"].as_str().unwrap().contains(&incident), "{list}");
}

#[tokio::test]
async fn reminders_and_nudges_keep_approvers_moving() {
    let t = start(
        "  remind_after: 1s\n  remind_interval: 1h\n  nudge_after: 1s\n  nudge_interval: 1h\n",
    )
    .await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    let posted = slack
        .wait_call(s, "draft", "chat.postMessage", |b| b["thread_ts"].is_null())
        .await;
    let reminder = slack
        .wait_call(s, "reminder", "chat.postMessage", |b| {
            !b["thread_ts"].is_null()
        })
        .await;
    let ts = slack.ok_calls("chat.postMessage", |_| true)[0].clone();
    assert_eq!(ts.body["text"], posted.body["text"]);
    assert_eq!(reminder.body["channel"], "C0DEFAULT");
    assert_eq!(reminder.body["thread_ts"], "1700000000.000001");
    let text = reminder.body["text"].as_str().unwrap();
    assert!(
        text.contains("<@U0APPROVER>")
            && text.contains("<!subteam^S0ONCALL>")
            && text.contains("D-1"),
        "{text}"
    );
    // At most one per remind_interval.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        slack
            .ok_calls("chat.postMessage", |b| !b["thread_ts"].is_null())
            .len(),
        1
    );

    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let incident = draft(s, "D-1").await["incident_id"]
        .as_str()
        .unwrap()
        .to_string();
    let nudge = slack
        .wait_call(s, "nudge", "chat.postMessage", |b| {
            buttons(&b["blocks"])
                .iter()
                .any(|(a, _)| a == "sg_nudge_draft")
        })
        .await;
    assert!(
        nudge.body["text"]
            .as_str()
            .unwrap()
            .contains("no public update"),
        "{:?}",
        nudge.body
    );
    assert_eq!(
        buttons(&nudge.body["blocks"]),
        [("sg_nudge_draft".to_string(), incident.clone())]
    );

    // A stranger cannot use the nudge; an approver drafts the templated update with it.
    let (status, _) = interact(
        s,
        &button(STRANGER, "sg_nudge_draft", &incident, &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    slack
        .wait_call(s, "refusal", "response_url", |b| {
            b["text"].as_str().unwrap_or("").contains("Only approvers")
        })
        .await;
    assert!(s.drafts("pending").await.is_empty());
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_nudge_draft", &incident, &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let pending = s.drafts("pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0]["body"]
            .as_str()
            .unwrap()
            .contains("still investigating the issue affecting Public API"),
        "{pending:?}"
    );
    let replaced = slack
        .wait_call(s, "nudge answered", "response_url", |b| {
            b["replace_original"] == true
        })
        .await;
    assert!(replaced.body["text"].as_str().unwrap().contains("D-2"));
    // The new draft is posted; one nudge per interval only.
    slack
        .wait_call(s, "D-2 posted", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;
    assert_eq!(
        slack
            .ok_calls("chat.postMessage", |b| buttons(&b["blocks"])
                .iter()
                .any(|(a, _)| a == "sg_nudge_draft"))
            .len(),
        1
    );
}

#[tokio::test]
async fn half_configured_slack_is_off_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bot"), BOT).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "slack:\n  channel: C0DEFAULT\n  bot_token_file: {}\n",
            dir.path().join("bot").display()
        ),
        ..Options::default()
    });
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 200);
    let reason = ready["checks"]["slack"]["reason"].as_str().unwrap();
    assert!(reason.contains("signing secret"), "{reason}");
    assert!(!reason.contains("bot token"), "{reason}");
    let (status, body) = s
        .send("POST", "/slack/interactions", None, Some(json!({})))
        .await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("signing secret"),
        "{body}"
    );
    assert!(
        s.log().contains("Slack is off: missing a signing secret"),
        "{}",
        s.log()
    );
}
