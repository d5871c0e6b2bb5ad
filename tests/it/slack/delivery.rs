//! Getting messages to Slack: outages, restarts, rate limits, reminders and nudges.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let tried = t.slack.calls("chat.postMessage").len();
    t.server.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !t.slack.calls("chat.postMessage")[tried..]
        .iter()
        .any(|c| c.body["text"].as_str().unwrap_or("").contains("D-1"))
    {
        assert!(
            Instant::now() < deadline,
            "the restarted server did not try D-1 again\n{}",
            t.server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    slack_barrier(s, &t.slack, "web", "posted-once").await;
    let posted = |id: &str| {
        t.slack
            .ok_calls("chat.postMessage", |b| {
                b["text"].as_str().unwrap_or("").contains(id)
            })
            .len()
    };
    assert_eq!((posted("D-1"), posted("D-2")), (1, 1));

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    // At most one per remind_interval: more than remind_after later, still one. (The
    // barrier's draft is D-2.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slack_barrier(s, slack, "web", "reminded").await;
    assert_eq!(
        slack
            .ok_calls("chat.postMessage", |b| !b["thread_ts"].is_null()
                && b["text"].as_str().unwrap_or("").contains("D-1"))
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
    assert!(replaced.body["text"].as_str().unwrap().contains("D-3"));
    // The new draft is posted; one nudge per interval only.
    slack
        .wait_call(s, "D-3 posted", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-3")
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
