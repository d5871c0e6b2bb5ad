//! Slack with several replicas: a draft decided on a replica that does not run the Slack
//! work still updates its message at once, not at the next full check; a click while the
//! database is down gets a clear answer.

use std::time::{Duration, Instant};

use super::fake::*;
use crate::postgres_cluster::{cluster, private};
use crate::replicas::wait_holder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_on_another_replica_updates_the_message_at_once() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let lease = "storage:\n  lease: 3s\n";
    let first = start_on(lease, CATALOG, "", Some(url.clone())).await;
    let second = Server::start(Options {
        extra_config: slack_config(&first.slack.url, first._secrets.path(), lease, ""),
        storage_url: Some(url),
        ..Options::default()
    });
    let r = [first.server, second];
    let slack = first.slack;
    let (status, body) = r[0]
        .post_alertmanager(&am_payload(vec![am_alert(
            "s1",
            "api-gateway",
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    let draft = r[0]
        .wait_draft("api outage", |d| d["state"] == "pending")
        .await;
    let holder = wait_holder(&r, &[0, 1], "slack", Duration::from_secs(10)).await;
    slack
        .wait_call(&r[holder], "the draft posted", "chat.postMessage", |_| true)
        .await;
    // Approved through the API of the replica that does not run the Slack work.
    let other = 1 - holder;
    let (status, body) = r[other].approve(draft["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    // Well within the one-minute full check.
    slack
        .wait_call(
            &r[holder],
            "message shows the publication",
            "chat.update",
            |b| b["blocks"].to_string().contains("and published"),
        )
        .await;
}

/// A responder who clicks while the database is down is told to try again, and the same
/// click works once it is back, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_while_the_database_is_down_is_told_to_try_again() {
    let Some(c) = private() else { return };
    let t = start_on("", CATALOG, "", Some(c.database())).await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft D-1", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
        })
        .await;
    c.stop();
    let click = button(APPROVER, "sg_approve", "D-1:1", &slack.response_url());
    let (status, body) = interact(s, &click).await;
    assert_eq!(status, 200, "Slack must get its answer in time: {body}");
    let answer = slack
        .wait_call(s, "the try-again answer", "response_url", |b| {
            b["text"]
                .as_str()
                .unwrap_or("")
                .to_lowercase()
                .contains("try again")
        })
        .await;
    assert_eq!(answer.body["response_type"], "ephemeral", "{}", answer.body);
    let told = answer.body["text"].as_str().unwrap_or("");
    assert!(told.contains("storage is unavailable"), "{told}");
    c.restart();
    // The store comes back by itself; the same click then approves.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = s.get("/readyz", None).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {body}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = interact(s, &click).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(draft(s, "D-1").await["state"], "published");
    slack
        .wait_call(s, "message shows the publication", "chat.update", |b| {
            b["blocks"].to_string().contains("and published")
        })
        .await;
}
