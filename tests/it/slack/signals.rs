//! The storm breaker and the watchdog, told in the main channel: one message per episode,
//! its end told in the message and its thread, nothing posted twice across restarts,
//! nothing lost while Slack is down.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::fake::*;

fn twelve_components() -> String {
    let mut yaml = String::from("components:\n");
    for i in 0..12 {
        yaml += &format!("  - {{id: c{i}, name: Service {i}}}\n");
    }
    // Spare components, never in the storm, for `slack_barrier`'s drafts.
    yaml += "  - {id: x0, name: Spare 0}\n  - {id: x1, name: Spare 1}\n";
    yaml += "routes:\n";
    for i in 0..2 {
        yaml +=
            &format!("  - name: x{i}\n    match: ['service=\"x{i}\"']\n    components: [x{i}]\n");
    }
    for i in 0..12 {
        yaml +=
            &format!("  - name: r{i}\n    match: ['service=\"s{i}\"']\n    components: [c{i}]\n");
    }
    yaml
}

fn text(c: &Call) -> String {
    c.body["text"].as_str().unwrap_or("").to_string()
}

/// Successful posts and updates whose text contains `needle`.
fn about(slack: &FakeSlack, method: &str, needle: &str) -> Vec<Call> {
    slack.ok_calls(method, |b| {
        b["text"].as_str().unwrap_or("").contains(needle)
    })
}

fn watchdog_alert() -> Value {
    am_payload(vec![json!({
        "status": "firing",
        "labels": {"alertname": "Watchdog", "severity": "none"},
        "annotations": {},
        "startsAt": T0,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.internal:9090/graph",
        "fingerprint": "watchdog",
    })])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_is_one_notice_then_a_close_and_a_restart_posts_nothing_again() {
    let mut t = start_with(
        "storm: {max_incidents: 3, window: 3s}\n",
        &twelve_components(),
        "",
    )
    .await;
    for batch in 0..4 {
        let alerts = (0..3)
            .map(|j| {
                let i = batch * 3 + j;
                am_alert(&format!("st{i}"), &format!("s{i}"), "critical", true, T0)
            })
            .collect();
        let (status, body) = t.server.post_alertmanager(&am_payload(alerts)).await;
        assert_eq!(status, 200, "{body}");
    }
    let s = &t.server;
    let opened = t
        .slack
        .wait_call(s, "storm notice", "chat.postMessage", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .contains("storm breaker is open")
        })
        .await;
    assert_eq!(opened.body["channel"], "C0DEFAULT", "the main channel");
    let shown = opened.body["blocks"].to_string();
    assert!(
        shown.contains("<@U0APPROVER>"),
        "approvers are told: {shown}"
    );
    assert!(shown.contains("<!subteam^S0ONCALL>"), "{shown}");
    assert!(shown.contains("fold into one"), "{shown}");

    // The storm draft is one draft, posted for approval like any other.
    let storm_draft = s
        .wait_draft("storm draft", |d| {
            d["title"] == "Multiple services affected"
        })
        .await;
    let draft_post = t
        .slack
        .wait_call(s, "storm draft message", "chat.postMessage", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .contains(storm_draft["id"].as_str().unwrap_or("?"))
        })
        .await;

    // A calm window closes the breaker: the notice is updated and its thread says so.
    let closed = t
        .slack
        .wait_call(s, "storm notice closed", "chat.update", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .contains("storm breaker closed")
        })
        .await;
    let ts = closed.body["ts"].as_str().unwrap().to_string();
    let shown = closed.body["blocks"].to_string();
    assert!(shown.contains("Components affected (12)"), "{shown}");
    for i in 0..12 {
        assert!(shown.contains(&format!("Service {i}")), "{shown}");
    }
    // A link to the storm draft's own message, as Slack's permalink gives it.
    let permalinks = t.slack.ok_calls("chat.getPermalink", |_| true);
    assert!(!permalinks.is_empty(), "asked Slack for the draft's link");
    assert_eq!(permalinks[0].body["channel"], draft_post.body["channel"]);
    assert!(
        shown.contains("https://acme.slack.com/archives/C0DEFAULT/p1700000000"),
        "{shown}"
    );
    let reply = t
        .slack
        .wait_call(s, "closing reply", "chat.postMessage", |b| {
            b["thread_ts"] == json!(ts)
        })
        .await;
    assert_eq!(reply.body["reply_broadcast"], true);
    assert!(text(&reply).contains("closed"), "{:?}", reply.body);

    // One notice for twelve components, not one per alert; updates are few.
    assert_eq!(about(&t.slack, "chat.postMessage", "Alert storm").len(), 1);
    let updates = t
        .slack
        .ok_calls("chat.update", |b| b["ts"] == json!(ts))
        .len();
    assert!((1..=2).contains(&updates), "{updates} updates");

    // A restart tells nothing again.
    let before = t.slack.fake.calls.lock().unwrap().len();
    t.server.restart();
    slack_barrier(&t.server, &t.slack, "x0", "restart").await;
    let calls = t.slack.fake.calls.lock().unwrap().clone();
    let again: Vec<&Call> = calls[before..]
        .iter()
        .filter(|c| {
            c.body.to_string().contains("storm breaker") || c.body["thread_ts"] == json!(ts)
        })
        .collect();
    assert!(again.is_empty(), "told again after a restart: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watchdog_is_raised_in_slack_once_across_restarts_and_its_return_is_told() {
    // Heartbeats every 300 ms against a 5 s interval: a loaded machine may delay a few
    // without the feed looking silent.
    let mut t = start_with(
        "watchdog: {match: ['alertname=\"Watchdog\"'], interval: 5s}\n",
        &twelve_components(),
        "",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(t.server.post_alertmanager(&watchdog_alert()).await.0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let warned = t
        .slack
        .wait_call(&t.server, "watchdog warning", "chat.postMessage", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .contains("watchdog alert stopped arriving")
        })
        .await;
    assert_eq!(warned.body["channel"], "C0DEFAULT");
    let shown = warned.body["blocks"].to_string();
    assert!(shown.contains("<@U0APPROVER>"), "{shown}");
    assert!(shown.contains("operational"), "{shown}");
    assert!(shown.contains("may be dead"), "{shown}");
    assert!(shown.contains("Last seen <!date^"), "{shown}");

    // Restarted while still silent: the same episode, not a second warning.
    t.server.restart();
    let (status, ready) = t.server.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.server.get("/readyz", None).await.1["checks"]["watchdog"]["ok"] != false {
        assert!(
            Instant::now() < deadline,
            "not silent again after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    slack_barrier(&t.server, &t.slack, "x0", "silent").await;
    assert_eq!(
        about(&t.slack, "chat.postMessage", "stopped arriving").len(),
        1,
        "warned twice for one silence"
    );

    // The feed returns: the warning is updated and its thread says so.
    assert_eq!(t.server.post_alertmanager(&watchdog_alert()).await.0, 200);
    let resumed = t
        .slack
        .wait_call(&t.server, "watchdog resumed", "chat.update", |b| {
            b["text"].as_str().unwrap_or("").contains("arrives again")
        })
        .await;
    let ts = resumed.body["ts"].clone();
    assert!(resumed.body["blocks"].to_string().contains("alive"));
    let reply = t
        .slack
        .wait_call(&t.server, "resumed reply", "chat.postMessage", |b| {
            b["thread_ts"] == ts
        })
        .await;
    assert!(text(&reply).contains("arrives again"), "{:?}", reply.body);

    // Another restart with the feed alive: nothing new is told.
    let before = t.slack.fake.calls.lock().unwrap().len();
    t.server.restart();
    let alive = heartbeats(&t.server);
    slack_barrier(&t.server, &t.slack, "x1", "alive").await;
    alive.abort();
    let calls = t.slack.fake.calls.lock().unwrap().clone();
    let again: Vec<&Call> = calls[before..]
        .iter()
        .filter(|c| c.body.to_string().contains("watchdog"))
        .collect();
    assert!(again.is_empty(), "told again after a restart: {again:?}");
}

/// Posts the watchdog alert every 300 ms until aborted.
fn heartbeats(s: &Server) -> tokio::task::JoinHandle<()> {
    let (url, http) = (s.url.clone(), s.http.clone());
    tokio::spawn(async move {
        loop {
            let _ = http
                .post(format!("{url}/webhooks/alertmanager"))
                .bearer_auth(AM_TOKEN)
                .json(&watchdog_alert())
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_that_came_and_went_while_slack_was_down_is_posted_once_it_is_back() {
    // A 3 s interval against 300 ms heartbeats (below): margin for a loaded machine.
    let t = start_with(
        "watchdog: {match: ['alertname=\"Watchdog\"'], interval: 3s}\n",
        &twelve_components(),
        "",
    )
    .await;
    let (s, slack) = (&t.server, &t.slack);
    slack.fake.down.store(true, Ordering::SeqCst);
    // No heartbeat: silent after the interval; Slack is tried and fails.
    let deadline = Instant::now() + Duration::from_secs(10);
    while slack.calls("chat.postMessage").is_empty() {
        assert!(Instant::now() < deadline, "never tried Slack\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The feed returns before Slack does.
    assert_eq!(s.post_alertmanager(&watchdog_alert()).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.get("/readyz", None).await.1["checks"]["watchdog"]["ok"] != true {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Keep the feed alive, so this is one episode.
    let alive = heartbeats(s);
    // Let the round of tries that began during the silence run out first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    slack.fake.down.store(false, Ordering::SeqCst);
    let posted = slack
        .wait_call(s, "the silence, after the fact", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("was silent")
        })
        .await;
    let shown = posted.body["blocks"].to_string();
    assert!(shown.contains("Posted after the fact"), "{shown}");
    assert!(
        shown.contains("None has arrived since statusgate started"),
        "{shown}"
    );
    slack_barrier(s, slack, "x0", "after").await;
    alive.abort();
    let watchdog_posts = slack.ok_calls("chat.postMessage", |b| b.to_string().contains("watchdog"));
    assert_eq!(watchdog_posts.len(), 1, "{watchdog_posts:?}");
    assert!(
        slack
            .ok_calls("chat.update", |b| b.to_string().contains("watchdog"))
            .is_empty(),
        "nothing left to update"
    );
}
