//! Service levels on the page (DESIGN.md "Service levels on the page"): a component's `slo`
//! in its mapping file, its availability and error budget in the JSON, the HTML, a pending
//! draft and `/metrics`; and the honest 90-day bars (days before a component existed are
//! no data; the headline says how many days it is over).

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::*;

/// `api` has an objective with a one-day window, so a second of outage is a visible share
/// of its budget (0.1% of 1440 minutes = 1.44 minutes); `web` has none.
const SLO_CATALOG: &str = r#"
components:
  - {id: api, name: Public API, group: Core platform, slo: {target: 99.9, window: 1d}}
  - {id: web, name: Web app, group: Core platform}
routes:
  - name: api
    match: ['service=~"api-.*"']
    components: [api]
    status: {critical: major_outage, warning: degraded_performance}
"#;

fn slo_server() -> Server {
    Server::start(Options {
        catalog: SLO_CATALOG.into(),
        ..Options::default()
    })
}

/// Fires a critical `api` alert and returns its pending new-incident draft.
async fn pending_outage(s: &Server) -> Value {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "slo-1",
            "api-gateway",
            "critical",
            true,
            "2026-11-30T12:00:00Z",
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    s.wait_draft("the api outage", |d| {
        d["state"] == "pending" && d["components"]["api"] == "major_outage"
    })
    .await
}

/// Publishes the draft; returns the incident id.
async fn publish(s: &Server, draft: &Value) -> String {
    let (status, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    approved["incident"]["id"].as_str().unwrap().to_string()
}

fn component<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no component {id} in {list:#}"))
}

fn number(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_shows_availability_and_budget_in_the_json_the_page_and_metrics() {
    let s = slo_server();
    // Before anything happened: the whole budget, on the page and to Prometheus.
    let (_, slo) = s.get("/api/v2/slo.json", None).await;
    let api = component(&slo["components"], "api");
    assert_eq!(api["budget_remaining"], 1.0, "{slo:#}");
    assert_eq!(api["state"], "plenty");
    let draft = pending_outage(&s).await;
    publish(&s, &draft).await;
    // Let the outage burn a visible part of the 86.4-second budget.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, comps) = s.get("/api/v2/components.json", None).await;
    assert_eq!(status, 200);
    let api = component(&comps["components"], "api");
    let slo = &api["slo"];
    assert_eq!(slo["target"], 99.9, "{api:#}");
    assert_eq!(slo["window"], "1d");
    let availability = number(&slo["availability"], "availability");
    let left = number(&slo["budget_remaining"], "budget_remaining");
    // Over one whole day: 1.5 s of 86 400 s down is 99.998%; of the budget, ~1.7% gone.
    assert!(
        availability < 100.0 && availability > 99.99,
        "{availability}"
    );
    assert!(left < 0.995 && left > 0.5, "{left}");
    assert!(
        component(&comps["components"], "web").get("slo").is_none(),
        "a component without an objective has no slo field: {comps:#}"
    );

    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    let summary_slo = &component(&summary["components"], "api")["slo"];
    assert_eq!(summary_slo["target"], 99.9, "{summary:#}");
    assert_eq!(summary_slo["window"], "1d");
    assert!(summary_slo["budget_remaining"]
        .as_f64()
        .is_some_and(|r| r < 1.0));

    let (status, slo) = s.get("/api/v2/slo.json", None).await;
    assert_eq!(status, 200);
    let list = slo["components"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only components with an objective: {slo:#}");
    let api = &list[0];
    assert_eq!(api["id"], "api");
    assert_eq!(api["name"], "Public API");
    assert_eq!(api["budget_minutes"], 1.44);
    assert_eq!(api["days"], 1);
    assert!(number(&api["budget_remaining_minutes"], "minutes left") < 1.44);
    assert_eq!(api["state"], "plenty");

    let (_, html) = s.text("/").await;
    assert!(html.contains("class=\"slo slo-plenty\""), "{html}");
    assert!(
        html.contains(&format!(
            "<span class=\"slo-figure\">{availability}%</span> availability over 1 day"
        )),
        "{html}"
    );
    assert!(html.contains("target 99.9%"), "{html}");
    assert!(html.contains("error budget left"), "{html}");
    assert!(html.contains(" of 1.44 min)"), "{html}");
    assert!(
        html.contains("<svg class=\"burn\""),
        "an inline chart: {html}"
    );
    assert!(html.contains("<polyline points=\""), "{html}");
    assert!(!html.contains("<script"), "no script is needed: {html}");

    let (_, metrics) = s.text("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("statusgate_error_budget_remaining_ratio{component=\"api\"}"))
        .unwrap_or_else(|| panic!("no error budget gauge:\n{metrics}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value < 1.0 && value > 0.5, "{line}");
    assert!(
        !metrics.contains("statusgate_error_budget_remaining_ratio{component=\"web\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_draft_shows_the_budget_left_and_what_its_incident_burned() {
    let s = slo_server();
    let draft = pending_outage(&s).await;
    let (status, full) = s
        .get(
            &format!("/api/v1/drafts/{}", draft["id"].as_str().unwrap()),
            Some(READER),
        )
        .await;
    assert_eq!(status, 200, "{full}");
    // Nothing is published yet: the whole budget is left, and at a major outage it lasts
    // exactly the budget (1.44 minutes).
    let b = &full["error_budget"]["api"];
    assert_eq!(b["target"], 99.9, "{full:#}");
    assert_eq!(b["window"], "1d");
    assert_eq!(b["budget_remaining"], 1.0);
    assert_eq!(b["budget_minutes"], 1.44);
    assert_eq!(b["burned_by_incident_minutes"], 0.0);
    assert_eq!(b["lasts_minutes_at_proposed_status"], 1.44);
    assert_eq!(
        draft["error_budget"], full["error_budget"],
        "the list says the same"
    );
    // And so does the internal board, in words.
    let board = s
        .http
        .get(format!(
            "{}/internal/drafts/{}",
            s.url,
            draft["id"].as_str().unwrap()
        ))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(board.contains("Error budget:"), "{board}");
    assert!(
        board.contains("(99.9% over 1d): 100% left (1.44 of 1.44 min)"),
        "{board}"
    );

    let incident = publish(&s, &draft).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The resolution a person drafts: what this incident burned while it was on the page.
    let (status, resolution) = s
        .send(
            "POST",
            &format!("/api/v1/incidents/{incident}/drafts"),
            Some(ADMIN),
            Some(json!({"incident_status": "resolved"})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {resolution}");
    let id = resolution["id"]
        .as_str()
        .or_else(|| resolution["draft"]["id"].as_str())
        .unwrap_or_else(|| panic!("no draft id in {resolution}"))
        .to_string();
    let (_, full) = s.get(&format!("/api/v1/drafts/{id}"), Some(READER)).await;
    let b = &full["error_budget"]["api"];
    let burned = number(&b["burned_by_incident_minutes"], "burned minutes");
    let share = number(&b["burned_by_incident"], "burned share");
    // 1.5 s and more of 86.4 s.
    assert!((0.02..1.44).contains(&burned), "{full:#}");
    assert!(share > 0.015 && share < 1.0, "{full:#}");
    let left = number(&b["budget_remaining"], "budget left");
    assert!(
        (left + share - 1.0).abs() < 0.01,
        "left {left} burned {share}"
    );
    // A resolution proposes operational again, which spends nothing: no time limit.
    assert_eq!(full["kind"], "resolution", "{full:#}");
    assert_eq!(
        b["lasts_minutes_at_proposed_status"],
        Value::Null,
        "{full:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_before_a_fresh_start_are_no_data_and_the_headline_says_over_how_many_days() {
    // The harness's catalog: no objectives, only the bars.
    let s = Server::start(Options::default());
    let draft = pending_outage(&s).await;
    publish(&s, &draft).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (_, uptime) = s.get("/api/v2/uptime.json", None).await;
    let web = component(&uptime["components"], "web");
    let api = component(&uptime["components"], "api");
    // Half a second of outage against the whole day, not against the seconds since the
    // start (which made it about 70%).
    let pct = number(&api["uptime_percent"], "api uptime");
    assert!((99.99..100.0).contains(&pct), "{api:#}");
    for c in [web, api] {
        assert_eq!(c["days_with_data"], 1, "{c:#}");
        let days = c["days"].as_array().unwrap();
        assert_eq!(days.len(), 90);
        assert!(
            days[..89]
                .iter()
                .all(|d| d["status"].is_null() && d["uptime_percent"].is_null()),
            "days before the start have no data: {c:#}"
        );
    }
    assert_eq!(web["uptime_percent"], 100.0);

    let (_, html) = s.text("/").await;
    assert!(
        html.contains("<span class=\"figure\">100% uptime over 1 day</span>"),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<span class=\"figure\">{}% uptime over 1 day</span>",
            pct
        )),
        "{html}"
    );
    // 89 grey days per public component (api, web, payments).
    assert_eq!(html.matches("class=\"day day-none\"").count(), 3 * 89);
}

#[test]
fn check_refuses_a_bad_slo_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(
        mappings.join("core.yaml"),
        "components:
  - id: api
    name: Public API
    slo: {target: 100, window: 30d}
  - id: web
    slo:
      target: 99.9
      window: 2y
",
    )
    .unwrap();
    let cfg = dir.path().join("sg.yaml");
    std::fs::write(&cfg, format!("mappings: {}\n", mappings.display())).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["check", "--config", cfg.to_str().unwrap()])
        .env_remove("STATUSGATE_MAPPINGS")
        .env_remove("STATUSGATE_CONFIG");
    let out = output_within(&mut cmd, Duration::from_secs(30)).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for want in [
        "core.yaml:4: `slo.target` must be a percentage above 0 and below 100, not 100",
        "core.yaml:8: `slo.window` must be whole days from 1d to 365d (such as 30d), not `2y`",
    ] {
        assert!(err.contains(want), "missing `{want}` in:\n{err}");
    }
}
