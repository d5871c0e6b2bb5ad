//! A PagerDuty event redelivered to another replica sharing the database changes nothing,
//! even when both copies arrive at once.

use std::time::{Duration, Instant};

use super::*;
use crate::postgres_cluster::cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_to_two_replicas_at_once_counts_once() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pagerduty.secrets");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let replica = || {
        Server::start(Options {
            catalog: format!("{CATALOG}{PD_ROUTES}"),
            extra_config: format!(
                "storage:\n  lease: 3s\nsources:\n  pagerduty:\n    secrets_file: {}\n",
                file.display()
            ),
            storage_url: Some(url.clone()),
            ..Options::default()
        })
    };
    let (a, b) = (replica(), replica());
    let triggered = fixture("incident.triggered");
    let ((sa, ra), (sb, rb)) = tokio::join!(post(&a, &triggered), post(&b, &triggered));
    assert_eq!((sa, sb), (200, 200), "{ra} {rb}");
    let mut words = [
        ra["status"].as_str().unwrap_or(""),
        rb["status"].as_str().unwrap_or(""),
    ];
    words.sort();
    assert_eq!(words, ["accepted", "duplicate"], "{ra} {rb}");
    // A third copy later, at either replica: still a duplicate.
    deliver(&b, &triggered, "duplicate").await;
    deliver(&a, &triggered, "duplicate").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let drafts: Vec<Value> = a
            .drafts("")
            .await
            .into_iter()
            .filter(|d| d["components"].get("payments").is_some())
            .collect();
        if !drafts.is_empty() {
            assert_eq!(drafts.len(), 1, "{drafts:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no draft");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ingested = pd_audit(&b).await.len();
    assert_eq!(ingested, 1, "one delivery recorded");
}
