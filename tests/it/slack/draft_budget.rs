//! A spent `limits.drafts_per_hour` is told in the main channel once, however often the
//! held drafts are retried.

use super::fake::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_draft_budget_is_one_notice_in_the_main_channel() {
    let t = start("limits:\n  drafts_per_hour: 1\n").await;
    let s = &t.server;
    for (fp, service) in [("db1", "api-gateway"), ("db2", "web")] {
        let (code, body) = s
            .post_alertmanager(&am_payload(vec![am_alert(
                fp, service, "critical", true, T0,
            )]))
            .await;
        assert_eq!(code, 200, "{body}");
        // The first takes the budget; the second is held.
        if fp == "db1" {
            s.wait_draft("the draft the budget allows", |d| {
                d["components"].get("api").is_some()
            })
            .await;
        }
    }
    let notice = t
        .slack
        .wait_call(s, "draft budget notice", "chat.postMessage", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .contains("draft budget is spent")
        })
        .await;
    assert_eq!(notice.body["channel"], "C0DEFAULT");
    let shown = notice.body["blocks"].to_string();
    assert!(
        shown.contains("<@U0APPROVER>"),
        "approvers are told: {shown}"
    );
    assert!(shown.contains("Web app"), "names what waits: {shown}");
    // A third held incident joins the same episode: the banner shows it, and no second
    // notice is posted (the message is updated at most every 30 s).
    let (code, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "db3", "payments", "critical", true, T0,
        )]))
        .await;
    assert_eq!(code, 200, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, list) = s.get("/api/v1/drafts", Some(ADMIN)).await;
        let held = list["banners"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["kind"] == "drafts_per_hour").cloned())
            .unwrap_or_default();
        if held["components"] == serde_json::json!(["payments", "web"]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let posted = t.slack.ok_calls("chat.postMessage", |b| {
        b["text"]
            .as_str()
            .unwrap_or("")
            .contains("draft budget is spent")
    });
    assert_eq!(posted.len(), 1, "{posted:#?}");
}
