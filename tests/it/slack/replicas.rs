//! Slack with several replicas: a draft decided on a replica that does not run the Slack
//! work still updates its message at once, not at the next full check.

use std::time::Duration;

use super::fake::*;
use crate::postgres_cluster::cluster;
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
