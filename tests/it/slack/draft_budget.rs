//! What approvers must know beyond the draft's text, told in chat: a spent
//! `limits.drafts_per_hour` (once, however often held drafts are retried), and alerts that
//! Alertmanager left out of a notification.

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

#[tokio::test(flavor = "multi_thread")]
async fn the_draft_message_says_that_alertmanager_left_alerts_out() {
    let t = start("").await;
    let s = &t.server;
    let mut payload = am_payload(vec![am_alert("tr1", "api-gateway", "critical", true, T0)]);
    payload["truncatedAlerts"] = serde_json::json!(4);
    let (code, body) = s.post_alertmanager(&payload).await;
    assert_eq!(code, 200, "{body}");
    t.slack
        .wait_call(
            s,
            "the draft, noting 4 alerts left out",
            "chat.postMessage",
            |b| b["blocks"].to_string().contains("left 4 alert(s)"),
        )
        .await;
}
