//! A rolling restart of every replica under ingest load: nothing acknowledged is lost and
//! no incident gets a second draft.

use std::time::{Duration, Instant};

use super::*;

const T0: &str = "2026-12-06T10:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_nothing_and_drafts_once() {
    let Some((_, mut r)) = replicas(3, "") else {
        return;
    };
    let proxy = Proxy::start(&r).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let (url, stop) = (proxy.url.clone(), stop.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                // A new connection per request, so the proxy spreads them.
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut acknowledged = Vec::new();
            let mut refused = 0;
            let mut i = 0;
            while !stop.is_cancelled() {
                let fp = format!("r{i}");
                let payload = am_payload(vec![am_alert(&fp, "api-gateway", "critical", true, T0)]);
                match post_alerts(&http, &url, &payload).await {
                    200 => acknowledged.push(fp),
                    // A replica stopping mid-request, or none listening for a moment.
                    0 | 503 => refused += 1,
                    other => panic!("answer {other}"),
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (acknowledged, refused)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    for i in 0..r.len() {
        r[i].restart();
        proxy.route_to(&r);
        // The restarted replica serves before the next one goes.
        let (status, _) = r[i].get("/readyz", None).await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let (acknowledged, refused) = load.await.unwrap();
    assert!(
        acknowledged.len() > 20,
        "load ran: {} acknowledged, {refused} refused",
        acknowledged.len()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let drafted = drafted_fingerprints(&r[0]).await;
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|f| !drafted.contains(*f))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged but never drafted: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drafts = new_incident_drafts(&r[0]).await;
    assert_eq!(
        drafts.len(),
        1,
        "one incident, one new-incident draft: {drafts:#?}"
    );
}
