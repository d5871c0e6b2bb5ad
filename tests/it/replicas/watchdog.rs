//! The watchdog with several replicas: heartbeats reach whichever replica Alertmanager
//! picks, every replica reports the feed, and a silence is recorded once.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_at_one_replica_keep_every_replica_calm_and_a_silence_is_recorded_once() {
    let config = "watchdog: {match: ['alertname=\"Watchdog\"'], interval: 3s}\n";
    let Some((_, r)) = replicas(2, config) else {
        return;
    };
    let http = reqwest::Client::new();
    let watchdog = am_payload(vec![json!({
        "status": "firing", "labels": {"alertname": "Watchdog", "severity": "none"},
        "startsAt": "2026-12-06T10:00:00Z", "fingerprint": "wd"})]);
    // Heartbeats only ever reach replica 0, for longer than the interval.
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(5) {
        assert_eq!(post_alerts(&http, &r[0].url, &watchdog).await, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for s in &r {
            let (_, ready) = s.get("/readyz", None).await;
            assert_eq!(
                ready["checks"]["watchdog"]["ok"], true,
                "{}: {ready}",
                s.url
            );
        }
    }
    // The feed stops: both replicas say so, and the audit log has it once.
    let deadline = Instant::now() + Duration::from_secs(20);
    for s in &r {
        while s.get("/readyz", None).await.1["checks"]["watchdog"]["ok"] != false {
            assert!(
                Instant::now() < deadline,
                "{} never noticed the silence",
                s.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let silent = r[1]
            .audit()
            .await
            .into_iter()
            .filter(|e| e["action"] == "watchdog_silent")
            .count();
        if silent > 0 {
            assert_eq!(silent, 1, "recorded by each replica");
            break;
        }
        assert!(Instant::now() < deadline, "the silence was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It comes back through the other replica; recorded once as well.
    assert_eq!(post_alerts(&http, &r[1].url, &watchdog).await, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = r[0].audit().await;
        let resumed = audit
            .iter()
            .filter(|e| e["action"] == "watchdog_resumed")
            .count();
        let calm = r[0].get("/readyz", None).await.1["checks"]["watchdog"]["ok"] == true;
        if resumed > 0 && calm {
            assert_eq!(resumed, 1);
            let silent = audit
                .iter()
                .filter(|e| e["action"] == "watchdog_silent")
                .count();
            assert_eq!(silent, 1);
            break;
        }
        assert!(Instant::now() < deadline, "never resumed: {audit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
