//! The edges of the HTTP contract: what a request gets before any endpoint's own logic
//! runs — authentication order, body and query parsing, slow senders, cross-origin
//! answers, Slack's signature — and the lines the process writes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

/// Sends `head` and then `body` over a raw connection and reads the answer's status line
/// and headers (lowercased) and body.
async fn raw(s: &Server, head: &str, body: &[u8]) -> (u16, String) {
    let addr = s.url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut out))
        .await
        .expect("an answer within 20s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text.to_lowercase())
}

async fn request(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s.http.request(method, format!("{}{path}", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status} {path}: not JSON: {text:?}"));
    (status, headers, value)
}

/// A draft for the api component, approved and published; returns the incident id.
async fn published_incident(s: &Server) -> String {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "edge1",
            "api-gateway",
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    let draft = s
        .wait_draft("the api draft", |d| d["state"] == "pending")
        .await;
    let (status, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    approved["incident"]["id"].as_str().unwrap().to_string()
}

// Item 10: a stalled body is transient, so the sender must retry (Alertmanager retries only
// 5xx; PagerDuty counts 4xx towards disabling the subscription).
#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stalls_past_the_read_timeout_gets_503_with_retry_after() {
    let s = Server::start(Options::default());
    let addr = s.url.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /webhooks/alertmanager HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {AM_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 400\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    // A tenth of the body, then nothing: the server must give up by itself.
    let (status, answer) = raw(&s, &head, b"{\"version\": \"4\", \"alerts\"").await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("retry-after:"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "it waited for the body"
    );
}

// Item 11: authentication first, then JSON errors for query strings, paths and methods.
#[tokio::test(flavor = "multi_thread")]
async fn bad_query_strings_paths_and_methods_get_json_errors_after_authentication() {
    let s = Server::start(Options::default());
    for path in [
        "/api/v1/drafts?stat=pending",
        "/api/v1/audit?limit=abc",
        "/api/v1/alerts?limit=abc",
        "/api/v1/drafts/%FF",
    ] {
        let (status, headers, body) = request(&s, "GET", path, None, None, "").await;
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }
    for path in [
        "/api/v1/drafts?stat=pending",
        "/api/v1/drafts?state=pending&x=1",
        "/api/v1/audit?limit=abc",
        "/api/v1/alerts?limit=abc",
    ] {
        let (status, _, body) = request(&s, "GET", path, Some(READER), None, "").await;
        assert_eq!(status, 422, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("query string"),
            "{path}: {body}"
        );
    }
    let (status, _, body) = request(&s, "GET", "/api/v1/drafts/%FF", Some(READER), None, "").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].is_string(), "{body}");
    // The good forms still work.
    let (status, _, _) = request(&s, "GET", "/api/v1/audit?limit=5", Some(READER), None, "").await;
    assert_eq!(status, 200);

    // Methods a path does not take: JSON, with `Allow`.
    for (method, path) in [
        ("PUT", "/api/v1/drafts"),
        ("DELETE", "/api/v1/audit"),
        ("GET", "/webhooks/alertmanager"),
    ] {
        let (status, headers, body) = request(&s, method, path, Some(READER), None, "").await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert!(body["error"].as_str().unwrap().contains(method), "{body}");
        assert!(
            headers.contains_key("allow"),
            "{method} {path}: {headers:?}"
        );
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{headers:?}"
        );
    }
}

// Item 12: serde takes a JSON array for a struct (`[1]` is `{"revision": 1}`); the edge
// does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_management_body_that_is_not_a_json_object_is_422() {
    let s = Server::start(Options::default());
    let ct = Some("application/json");
    for (method, path, body) in [
        ("POST", "/api/v1/drafts/no-such-draft/approve", "[1]"),
        ("PATCH", "/api/v1/drafts/no-such-draft", "[\"title\"]"),
        ("POST", "/api/v1/drafts/no-such-draft/reject", "[\"why\"]"),
        ("POST", "/api/v1/maintenances", "\"x\""),
        ("POST", "/api/v1/subscribers", "null"),
        ("POST", "/api/v1/drafts/no-such-draft/approve", "1"),
    ] {
        let (status, _, answer) = request(&s, method, path, Some(ADMIN), ct, body).await;
        assert_eq!(status, 422, "{method} {path} {body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("JSON object"),
            "{answer}"
        );
    }
    // Broken JSON stays 400; an object with an unknown field stays 422; the object form is
    // judged by the endpoint (here: no such draft).
    let approve = "/api/v1/drafts/no-such-draft/approve";
    let (status, _, _) = request(&s, "POST", approve, Some(ADMIN), ct, "[1,").await;
    assert_eq!(status, 400);
    let body = r#"{"revision": 1, "revison": 2}"#;
    let (status, _, _) = request(&s, "POST", approve, Some(ADMIN), ct, body).await;
    assert_eq!(status, 422);
    let body = r#"{"revision": 1}"#;
    let (status, _, answer) = request(&s, "POST", approve, Some(ADMIN), ct, body).await;
    assert_eq!(status, 404, "{answer}");
}

// Item 13: Slack requests are judged by their signature before anything else.
#[tokio::test(flavor = "multi_thread")]
async fn unsigned_requests_to_slack_get_401_whatever_their_content_type() {
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(
        secrets.path().join("signing"),
        "8f742231b10e8888abcd99yyyzzz85a5",
    )
    .unwrap();
    std::fs::write(secrets.path().join("bot"), "xoxb-test").unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "slack:\n  channel: C0DEFAULT\n  approvers: [U0A]\n  api_url: http://127.0.0.1:9/api\n  \
             signing_secret_file: {}\n  bot_token_file: {}\n",
            secrets.path().join("signing").display(),
            secrets.path().join("bot").display()
        ),
        ..Options::default()
    });
    for path in ["/slack/commands", "/slack/interactions"] {
        for (ct, body) in [
            (Some("application/json"), "{\"type\": \"block_actions\"}"),
            (Some("text/plain"), "hello"),
            (None, "payload=%7B%7D"),
            (Some("application/x-www-form-urlencoded"), "%%%\u{1}"),
            (Some("application/x-www-form-urlencoded"), "payload=%7B%7D"),
        ] {
            let (status, _, answer) = request(&s, "POST", path, None, ct, body).await;
            assert_eq!(status, 401, "{path} {ct:?} {body:?}: {answer}");
            assert!(
                answer["error"].as_str().unwrap().contains("X-Slack"),
                "{answer}"
            );
        }
    }
    // Nor does an encoding the server could not decode earn a 415 before the 401.
    let r = s
        .http
        .post(format!("{}/slack/commands", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-encoding", "br")
        .body("\u{1b}\u{2}garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // Slack's own certificate check carries no signature and gets its empty 200.
    let r = s
        .http
        .post(format!("{}/slack/commands", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ssl_check=1&token=xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
}

// Item 14: a widget must see the status, not a CORS error.
#[tokio::test(flavor = "multi_thread")]
async fn every_public_api_answer_carries_allow_origin_including_429() {
    let s = Server::start(Options {
        extra_config: "limits: {public: {per_second: 1, burst: 2}}\n".into(),
        ..Options::default()
    });
    let mut seen_429 = false;
    for _ in 0..10 {
        let r = s
            .http
            .get(format!("{}/api/v2/summary.json", s.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            r.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_string()),
            Some("*".to_string()),
            "status {status}"
        );
        if status == 429 {
            assert!(r.headers().contains_key("retry-after"));
            seen_429 = true;
            break;
        }
    }
    assert!(seen_429, "the limit never answered 429");
    let r = s
        .http
        .get(format!("{}/api/v2/nothing-here.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.headers().contains_key("access-control-allow-origin"));
}

// Items 15 and 16: an empty update is "still investigating"; maintenance words are refused
// on incident drafts.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_update_request_is_accepted_and_maintenance_words_are_refused() {
    let s = Server::start(Options::default());
    let incident = published_incident(&s).await;
    let path = format!("/api/v1/incidents/{incident}/drafts");
    // `curl -X POST` with no body: no content type at all.
    let r = s
        .http
        .post(format!("{}{path}", s.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let draft: Value = r.json().await.unwrap();
    assert_eq!(draft["state"], "pending", "{draft}");
    let id = draft["id"].as_str().unwrap();

    // A body with something in it must still be JSON.
    let (status, _, _) = request(&s, "POST", &path, Some(ADMIN), Some("text/plain"), "hi").await;
    assert!(status == 415, "{status}");

    let draft_path = format!("/api/v1/drafts/{id}");
    let ct = Some("application/json");
    for patch in [
        json!({"incident_status": "scheduled"}),
        json!({"incident_status": "in_progress"}),
        json!({"impact": "maintenance"}),
    ] {
        let (status, _, answer) = request(
            &s,
            "PATCH",
            &draft_path,
            Some(ADMIN),
            ct,
            &patch.to_string(),
        )
        .await;
        assert_eq!(status, 422, "{patch}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("maintenance"),
            "{answer}"
        );
    }
    let (_, after) = s.get(&draft_path, Some(ADMIN)).await;
    assert_eq!(after["revision"], draft["revision"], "nothing was changed");
    let (status, _, answer) = request(
        &s,
        "PATCH",
        &draft_path,
        Some(ADMIN),
        ct,
        &json!({"incident_status": "identified", "impact": "major"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // A hand-written update refuses them too (before it looks for a pending draft).
    let body = json!({"impact": "maintenance"}).to_string();
    let (status, _, answer) = request(&s, "POST", &path, Some(ADMIN), ct, &body).await;
    assert_eq!(status, 422, "{answer}");
}

/// The audit actions named in the OpenAPI document for `GET /api/v1/audit?action=`.
fn documented_actions(doc: &Value) -> Vec<String> {
    let params = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let action = params.iter().find(|p| p["name"] == "action").unwrap();
    let reference = action["schema"]
        .pointer("/$ref")
        .or_else(|| {
            action["schema"]["oneOf"]
                .as_array()
                .and_then(|v| v.iter().find_map(|x| x.get("$ref")))
        })
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no enum schema for `action`: {action}"));
    let name = reference.rsplit('/').next().unwrap();
    doc["components"]["schemas"][name]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is not an enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Every Rust source file under `src/`, as text.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo_path("src"), &mut out);
    out
}

// Item 17: the documented actions are the ones the code writes, and the filter refuses
// any other word rather than answering an empty page.
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_audit_actions_are_the_ones_the_code_writes() {
    let s = Server::start(Options::default());
    let (status, doc) = s.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    let documented = documented_actions(&doc);
    let code = sources();
    // Code that writes an action names it as a string literal outside the list itself.
    for action in &documented {
        let quoted = format!("\"{action}\"");
        let written = code
            .iter()
            .filter(|(path, _)| !path.ends_with("approve/api.rs"))
            .any(|(_, text)| text.contains(&quoted));
        assert!(written, "`{action}` is documented but nothing writes it");
    }
    // And every literal action written with `AuditEntry::new(…, "action")` is documented.
    let literal = regex::Regex::new(r#"AuditEntry::new\([^;]*?,\s*"([a-z_]+)"\s*\)"#).unwrap();
    let mut written = 0;
    for (path, text) in &code {
        for c in literal.captures_iter(text) {
            written += 1;
            assert!(
                documented.contains(&c[1].to_string()),
                "{path} writes `{}`, which the document does not name",
                &c[1]
            );
        }
    }
    assert!(written > 10, "the scan found the audit writes ({written})");
    for gone in ["approved", "rejected", "ingested"] {
        assert!(!documented.contains(&gone.to_string()), "{gone}");
        let (status, body) = s
            .get(&format!("/api/v1/audit?action={gone}"), Some(READER))
            .await;
        assert_eq!(status, 422, "{gone}: {body}");
    }
    // A real action filters.
    published_incident(&s).await;
    let (status, body) = s.get("/api/v1/audit?action=approve", Some(READER)).await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    assert!(
        !entries.is_empty() && entries.iter().all(|e| e["action"] == "approve"),
        "{body}"
    );
}

/// Starts the binary with `--log-format json` and `config`, stdout and stderr piped.
fn start_json_logs(dir: &std::path::Path, config: &str) -> std::process::Child {
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    Command::new(binary())
        .args(["serve", "--log-format", "json", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .env_remove("STATUSGATE_LOG_FORMAT")
        .env_remove("STATUSGATE_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start statusgate")
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("statusgate did not exit within 15s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_all_json(what: &str, text: &str) {
    assert!(!text.trim().is_empty(), "{what} is empty");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line:?}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{what}: {line}"
        );
    }
}

// Item 26: under `--log-format json` every line on stdout and stderr is JSON.
#[test]
fn with_json_logs_every_line_on_stdout_and_stderr_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\ndata_dir: {}\nshutdown_timeout: 5s\n",
        dir.path().join("data").display()
    );
    let mut child = start_json_logs(dir.path(), &config);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = tx.send((line, stdout));
    });
    let (line, mut stdout) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a first line");
    let listening: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
    let url = listening["url"].as_str().expect("the address as a field");
    assert!(
        listening["message"]
            .as_str()
            .unwrap()
            .contains("listening on"),
        "{listening}"
    );
    // Something happens, then a clean stop; every line it wrote is JSON.
    let health = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(reqwest::get(format!("{url}/healthz")))
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    assert_eq!(health, 200);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(wait_exit(&mut child).success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_all_json("stdout", &format!("{line}{rest}"));
    assert_all_json("stderr", &err);
    assert!(err.contains("stopped cleanly"), "{err}");

    // A failure to start is JSON too.
    let bad = format!("{config}no_such_setting: 1\n");
    let mut child = start_json_logs(dir.path(), &bad);
    assert!(!wait_exit(&mut child).success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(out.trim().is_empty(), "{out}");
    assert_all_json("stderr of a failed start", &err);
    assert!(err.contains("no_such_setting"), "{err}");
}
