//! A real Alertmanager HA pair, each member sending to a different replica, and a third
//! sender through the round-robin proxy: one draft per incident, every alert in it.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::alertmanager_e2e::{alertmanager_available, Alertmanager};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_ha_pair_sending_to_different_replicas_makes_one_draft() {
    if !alertmanager_available() {
        return;
    }
    let Some((_, r)) = replicas(3, "") else {
        return;
    };
    let proxy = Proxy::start(&r).await;
    let pair = Alertmanager::start_pair(
        [
            &format!("{}/webhooks/alertmanager", r[0].url),
            &format!("{}/webhooks/alertmanager", r[1].url),
        ],
        AM_TOKEN,
    );
    let now = chrono::Utc::now();
    let alerts: Vec<Value> = (0..6)
        .map(|i| {
            json!({
                "labels": {"alertname": "HighErrorRate", "service": "api-gateway", "env": "prod",
                           "severity": "critical", "instance": format!("api-{i}:9100")},
                "annotations": {"summary": "5xx above 5%"},
                "startsAt": now.to_rfc3339(),
            })
        })
        .collect();
    // Prometheus sends every alert to every Alertmanager of the pair.
    for am in &pair {
        am.post_alerts(json!(alerts)).await;
    }
    // And something else delivers the same alerts again through the Service.
    let am_view = pair[0].alerts().await;
    let fingerprints: Vec<String> = am_view
        .iter()
        .filter_map(|a| a["fingerprint"].as_str().map(str::to_string))
        .collect();
    assert_eq!(fingerprints.len(), 6, "{am_view:?}");
    let again: Vec<Value> = am_view
        .iter()
        .map(|a| {
            json!({"status": "firing", "labels": a["labels"], "annotations": a["annotations"],
                   "startsAt": a["startsAt"], "endsAt": "0001-01-01T00:00:00Z",
                   "generatorURL": "", "fingerprint": a["fingerprint"]})
        })
        .collect();
    let http = reqwest::Client::new();
    assert_eq!(
        post_alerts(&http, &proxy.url, &am_payload(again)).await,
        200
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let drafted = drafted_fingerprints(&r[2]).await;
        if fingerprints.iter().all(|f| drafted.contains(f)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every alert drafted: {drafted:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in &r {
        let drafts = new_incident_drafts(s).await;
        assert_eq!(drafts.len(), 1, "one draft for the incident: {drafts:#?}");
        assert_eq!(drafts[0]["alerts"].as_array().unwrap().len(), 6);
    }
}
