//! A pending draft's Slack message tells the approver where each affected service level
//! objective stands: the error budget left and what the incident burned.

use super::fake::*;

const CATALOG: &str = r#"
components:
  - {id: api, name: Public API, slo: {target: 99.9, window: 1d}}
  - {id: web, name: Web app}
routes:
  - name: api
    match: ['service="api-gateway"']
    components: [api]
    status: {critical: major_outage}
  - name: web
    match: ['service="web"']
    components: [web]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_draft_message_shows_the_error_budget_of_an_affected_objective() {
    let t = start_with("", CATALOG, "").await;
    let s = &t.server;
    for (fp, service) in [("eb1", "api-gateway"), ("eb2", "web")] {
        let (code, body) = s
            .post_alertmanager(&am_payload(vec![am_alert(
                fp, service, "critical", true, T0,
            )]))
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let api = t
        .slack
        .wait_call(s, "the api draft", "chat.postMessage", |b| {
            b["blocks"].to_string().contains("Public API: Major outage")
        })
        .await;
    let shown = api.body["blocks"].to_string();
    // Nothing published yet: the whole 1.44-minute budget, and at a major outage it lasts
    // exactly that long.
    assert!(shown.contains("*Error budget*"), "{shown}");
    assert!(
        shown.contains("Public API (99.9% over 1d): 100% left (1.44 of 1.44 min); this incident burned 0 min (0%); at the proposed status it lasts 1.44 min more"),
        "{shown}"
    );
    let web = t
        .slack
        .wait_call(s, "the web draft", "chat.postMessage", |b| {
            b["blocks"].to_string().contains("Web app: ")
        })
        .await;
    let shown = web.body["blocks"].to_string();
    assert!(
        !shown.contains("Error budget"),
        "no objective, no budget: {shown}"
    );
}
