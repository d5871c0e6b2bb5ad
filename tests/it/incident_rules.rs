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
