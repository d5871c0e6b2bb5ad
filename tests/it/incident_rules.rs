//! Incident lifecycle rules (DESIGN.md "Grouping rules"): internal components stay
//! internal, a returning alert still resolves, resolutions keep the public name,
//! escalations are not held back, the hourly draft budget is announced once, and an
//! incomplete Alertmanager notification says so.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

async fn approve_draft(s: &Server, d: &Value) -> Value {
    let (code, body) = s
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(code, 200, "{body}\n{}", s.log());
    body
}

async fn fire(s: &Server, fp: &str, service: &str, severity: &str, firing: bool) {
    fire_at(s, fp, service, severity, firing, T0).await
}

async fn fire_at(s: &Server, fp: &str, service: &str, severity: &str, firing: bool, at: &str) {
    let (code, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            fp, service, severity, firing, at,
        )]))
        .await;
    assert_eq!(code, 200, "{body}");
}

// Item 2: resolved, back within resolve_wait, resolved for good → a resolution.
#[tokio::test(flavor = "multi_thread")]
async fn an_alert_that_came_back_and_resolved_for_good_is_resolved() {
    let s = Server::start(Options {
        resolve_wait: "2s",
        ..Options::default()
    });
    fire(&s, "back1", "api-gateway", "critical", true).await;
    let d = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    approve_draft(&s, &d).await;
    fire(&s, "back1", "api-gateway", "critical", false).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Back: a new occurrence, with a new startsAt, as Prometheus sends it.
    let again = "2026-11-30T12:05:00Z";
    fire_at(&s, "back1", "api-gateway", "critical", true, again).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    fire_at(&s, "back1", "api-gateway", "critical", false, again).await;
    let r = s
        .wait_draft("resolution after the alert came back", |d| {
            d["kind"] == "resolution"
        })
        .await;
    assert_eq!(r["components"], json!({"api": "operational"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reopened_pagerduty_incident_that_resolves_again_is_resolved() {
    use crate::pagerduty::{deliver, event, fixture, start, SECRET};
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let d = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    approve_draft(s, &d).await;
    deliver(s, &fixture("incident.resolved"), "accepted").await;
    deliver(s, &fixture("incident.reopened"), "accepted").await;
    let again = event(
        "incident.resolved",
        "01DEN1KZZZRESOLVEDAGAIN0001",
        "Q0CHKOUT42AB7X",
        "2026-11-30T12:55:00.000Z",
    );
    deliver(s, &again, "accepted").await;
    let r = s
        .wait_draft("resolution after reopen", |d| d["kind"] == "resolution")
        .await;
    assert_eq!(r["components"], json!({"payments": "operational"}));
}

/// The harness catalog with the shipped shape of an internal database: the API depends on
/// it, and an internal queue nothing public depends on.
const INTERNAL_CATALOG: &str = r#"
components:
  - {id: api, name: Public API, group: Core platform, depends_on: [database]}
  - {id: web, name: Web app, group: Core platform}
  - {id: payments, name: Payments, group: Commerce}
  - {id: database, name: Primary database, public: false}
  - {id: queue, name: Job queue, public: false}
routes:
  - name: api
    match: ['service=~"api-gateway|api-.*"']
    components: [api]
    status: {critical: major_outage, warning: degraded_performance}
  - name: web
    match: ['service="web"']
    components: [web]
  - name: payments
    match: ['service="payments"']
    components: [payments]
  - name: database
    match: ['service="postgres"']
    components: [database]
    status: {critical: major_outage, warning: degraded_performance}
  - name: queue
    match: ['service="rabbitmq"']
    components: [queue]
    default_status: major_outage
"#;

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn no_internal_name(what: &str, text: &str) {
    for name in ["Primary database", "database", "Job queue"] {
        assert!(!text.contains(name), "{what} names {name:?}:\n{text}");
    }
}

// Item 1: an alert on an internal component reaches the public only as trouble of the
// public components that depend on it, and never by name.
#[tokio::test(flavor = "multi_thread")]
async fn internal_components_never_reach_the_page_the_json_a_webhook_or_an_email() {
    use crate::fake_http::{spawn, Recorder};
    use crate::publish_email::{smtp_sink, Mail};
    let sink = smtp_sink().await;
    let receiver = Recorder::default();
    let hook = spawn(receiver.handler(200)).await;
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("hook");
    std::fs::write(&secret_file, HOOK_SECRET).unwrap();
    let s = Server::start(Options {
        catalog: INTERNAL_CATALOG.to_string(),
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\npublishers:\n  - {{name: ops-events, type: webhook, url: '{}/hook', secret_file: {}}}\nsmtp:\n  host: 127.0.0.1\n  port: {}\n  from: 'Example Status <status@example.com>'\n",
            hook.url,
            secret_file.display(),
            sink.port
        ),
        ..Options::default()
    });
    let mails = || -> Vec<Mail> {
        sink.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| Mail::parse(m))
            .collect()
    };
    // An email subscriber for every component, confirmed.
    let (code, sub) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": "ops@example.net"})),
        )
        .await;
    assert_eq!(code, 201, "{sub}");
    let confirm = eventually("the confirm mail", Duration::from_secs(20), async || {
        mails().into_iter().next()
    })
    .await;
    let link = confirm
        .link("http://status.example.com/subscribers/confirm?token=")
        .replace("http://status.example.com", &s.url);
    assert_eq!(s.http.post(&link).send().await.unwrap().status(), 200);

    fire(&s, "db1", "postgres", "critical", true).await;
    let d = s
        .wait_draft("a draft for the API through the database", |d| {
            d["kind"] == "new_incident"
        })
        .await;
    assert_eq!(
        d["components"],
        json!({"api": "degraded_performance"}),
        "{d}"
    );
    assert_eq!(
        d["internal_components"],
        json!({"database": "major_outage"})
    );
    assert_eq!(d["impact"], "minor", "{d}");
    no_internal_name("the draft title", d["title"].as_str().unwrap());
    // Nor can a person put it on the page by hand.
    let (code, refused) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{}", d["id"].as_str().unwrap()),
            Some(ADMIN),
            Some(
                json!({"components": {"api": "degraded_performance", "database": "major_outage"}}),
            ),
        )
        .await;
    assert_eq!(code, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("internal"),
        "{refused}"
    );
    no_internal_name("the draft body", d["body"].as_str().unwrap());
    let published = approve_draft(&s, &d).await;
    let draft_id = published["draft"]["id"].as_str().unwrap().to_string();

    let (_, html) = s.text("/").await;
    no_internal_name("the page", &html);
    assert!(html.contains("Public API"));
    for path in [
        "/api/v2/summary.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
    ] {
        let (code, body) = s.get(path, None).await;
        assert_eq!(code, 200);
        no_internal_name(path, &body.to_string());
    }
    let (_, status) = s.get("/api/v2/status.json", None).await;
    assert_eq!(status["status"]["indicator"], "minor", "{status}");

    let hooked = eventually(
        "the webhook delivery",
        Duration::from_secs(20),
        async || receiver.requests().into_iter().next(),
    )
    .await;
    let payload = String::from_utf8_lossy(&hooked.body).to_string();
    assert!(payload.contains("api"), "{payload}");
    no_internal_name("the webhook payload", &payload);
    let mail = eventually("the incident mail", Duration::from_secs(20), async || {
        mails().into_iter().nth(1)
    })
    .await;
    no_internal_name("the mail", &mail.text);
    no_internal_name("the mail subject", mail.header("subject").unwrap_or(""));
    let (_, deliveries) = s
        .get(
            &format!("/api/v1/drafts/{draft_id}/deliveries"),
            Some(READER),
        )
        .await;
    assert!(!deliveries["deliveries"].as_array().unwrap().is_empty());
}

// Item 1: an incident that touches no public component is never proposed; approvers see
// it in the audit log with its internal components.
#[tokio::test(flavor = "multi_thread")]
async fn an_internal_only_incident_is_never_proposed_for_the_page() {
    let s = Server::start(Options {
        catalog: INTERNAL_CATALOG.to_string(),
        ..Options::default()
    });
    fire(&s, "q1", "rabbitmq", "critical", true).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let entry = loop {
        let found = s
            .audit()
            .await
            .into_iter()
            .find(|e| e["action"] == "internal_incident");
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "no internal_incident entry\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        entry["detail"]["internal_components"],
        json!({"queue": "major_outage"})
    );
    // A public alert after it is drafted; the internal one never was.
    fire(&s, "w1", "web", "critical", true).await;
    s.wait_draft("web", |d| d["components"].get("web").is_some())
        .await;
    let all = s.drafts("").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["status"]["indicator"], "none");
}

// Item 3: a title a person chose is the incident's name until a person changes it.
#[tokio::test(flavor = "multi_thread")]
async fn update_and_resolution_keep_the_title_a_person_approved() {
    let s = Server::start(Options::default());
    fire(&s, "t1", "api-gateway", "warning", true).await;
    let d = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    let name = "Some API requests are slow";
    let (code, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{}", d["id"].as_str().unwrap()),
            Some(ADMIN),
            Some(json!({"title": name})),
        )
        .await;
    assert_eq!(code, 200, "{edited}");
    let published = approve_draft(&s, &edited).await;
    let incident = published["incident"]["id"].as_str().unwrap().to_string();

    // Worse: the update keeps the name.
    fire(&s, "t2", "api-gateway", "critical", true).await;
    let u = s.wait_draft("update", |d| d["kind"] == "update").await;
    assert_eq!(u["title"], name, "{u}");
    assert_eq!(u["components"], json!({"api": "major_outage"}));
    approve_draft(&s, &u).await;

    let (code, body) = s
        .post_alertmanager(&am_payload(vec![
            am_alert("t1", "api-gateway", "warning", false, T0),
            am_alert("t2", "api-gateway", "critical", false, T0),
        ]))
        .await;
    assert_eq!(code, 200, "{body}");
    let r = s
        .wait_draft("resolution", |d| d["kind"] == "resolution")
        .await;
    assert_eq!(r["title"], name, "{r}");
    approve_draft(&s, &r).await;

    let (_, inc) = s
        .get(&format!("/api/v1/incidents/{incident}"), Some(READER))
        .await;
    assert_eq!(inc["name"], name, "{inc}");
    assert_eq!(inc["status"], "resolved");
    for path in ["/history".to_string(), format!("/incidents/{incident}")] {
        let (code, html) = s.text(&path).await;
        assert_eq!(code, 200, "{path}");
        assert!(html.contains(name), "{path}: {html}");
        assert!(!html.contains("Resolved: Public API"), "{path} renamed");
    }
}

/// Sets `min_update_interval` (the harness writes 0s) and restarts.
fn with_min_update_interval(s: &mut Server, interval: &str) {
    let path = s.config_path();
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "min_update_interval: 0s",
        &format!("min_update_interval: {interval}"),
    );
    std::fs::write(&path, config).unwrap();
    s.restart();
}

// Item 4: worse is drafted at once; only updates that do not make it worse wait.
#[tokio::test(flavor = "multi_thread")]
async fn an_escalation_is_drafted_at_once_and_only_an_improvement_waits() {
    let mut s = Server::start(Options::default());
    with_min_update_interval(&mut s, "5m");
    fire(&s, "e1", "api-gateway", "warning", true).await;
    let d = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    assert_eq!(d["components"], json!({"api": "degraded_performance"}));
    approve_draft(&s, &d).await;

    fire(&s, "e2", "api-gateway", "critical", true).await;
    let u = s
        .wait_draft("the escalation, within seconds", |d| {
            d["kind"] == "update" && d["state"] == "pending"
        })
        .await;
    assert_eq!(u["components"], json!({"api": "major_outage"}));
    assert_eq!(u["impact"], "critical");
    approve_draft(&s, &u).await;

    // Better again (the critical alert clears): held for min_update_interval. A later
    // alert for another component proves the pipeline went past it.
    fire(&s, "e2", "api-gateway", "critical", false).await;
    fire(&s, "w1", "web", "critical", true).await;
    s.wait_draft("web", |d| d["components"].get("web").is_some())
        .await;
    let pending: Vec<Value> = s
        .drafts("pending")
        .await
        .into_iter()
        .filter(|d| d["components"].get("api").is_some())
        .collect();
    assert!(
        pending.is_empty(),
        "an improvement did not wait: {pending:#?}"
    );
}

// Item 8: the approver learns that Alertmanager left alerts out, also when a later
// notification for alerts already known says so.
#[tokio::test(flavor = "multi_thread")]
async fn truncated_alerts_are_noted_in_the_draft() {
    let s = Server::start(Options::default());
    fire(&s, "x1", "api-gateway", "critical", true).await;
    s.wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    let mut payload = am_payload(vec![am_alert("x1", "api-gateway", "critical", true, T0)]);
    payload["truncatedAlerts"] = json!(7);
    let (code, body) = s.post_alertmanager(&payload).await;
    assert_eq!(code, 200, "{body}");
    let d = s
        .wait_draft("a note about the 7 alerts left out", |d| {
            d["notes"].as_array().is_some_and(|n| {
                n.iter()
                    .any(|n| n.as_str().unwrap_or("").contains("left 7 alert"))
            })
        })
        .await;
    // Context for the approver, not text for customers.
    assert!(!d["body"].as_str().unwrap().contains("left 7"));
}

async fn rate_limited(s: &Server) -> f64 {
    let (_, text) = s.text("/metrics").await;
    text.lines()
        .find(|l| l.starts_with("statusgate_rate_limited_total{scope=\"drafts\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

// Item 6: a spent draft budget is told once, counted once per held draft, and what is held
// folds into one draft.
#[tokio::test(flavor = "multi_thread")]
async fn a_spent_draft_budget_is_told_once_and_held_incidents_fold_into_one_draft() {
    let s = Server::start(Options {
        extra_config: "limits:\n  drafts_per_hour: 1\n".into(),
        ..Options::default()
    });
    fire(&s, "b1", "api-gateway", "critical", true).await;
    s.wait_draft("the one draft the budget allows", |d| {
        d["kind"] == "new_incident"
    })
    .await;
    fire(&s, "b2", "web", "critical", true).await;
    fire(&s, "b3", "payments", "critical", true).await;
    // The banner names both waiting components, in one held group.
    let deadline = Instant::now() + Duration::from_secs(15);
    let banner = loop {
        let (_, body) = s.get("/api/v1/drafts", Some(ADMIN)).await;
        let found = body["banners"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["kind"] == "drafts_per_hour").cloned())
            .filter(|b| b["components"] == json!(["payments", "web"]));
        if let Some(b) = found {
            break b;
        }
        assert!(
            Instant::now() < deadline,
            "no banner: {body:#}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(banner["group_ids"].as_array().unwrap().len(), 1, "{banner}");
    assert_eq!(rate_limited(&s).await, 2.0, "one count per held draft");
    // Retried every second, but counted and told once.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(rate_limited(&s).await, 2.0, "retries were counted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let told: Vec<Value> = s
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "drafts_rate_limited")
        .collect();
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(s.drafts("").await.len(), 1);
}
