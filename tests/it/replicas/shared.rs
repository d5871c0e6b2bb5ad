//! Three replicas, one database: the same notification delivered to several replicas counts
//! once, every replica shows the same drafts and page, and an approval is a compare-and-set.

use std::time::{Duration, Instant};

use super::*;

const T0: &str = "2026-12-06T09:00:00Z";

async fn etag_and_body(s: &Server, path: &str) -> (String, String) {
    let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (etag, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_takes_any_request_and_every_page_follows_a_publish() {
    let Some((_, r)) = replicas(3, "") else {
        return;
    };
    let http = reqwest::Client::new();
    // An HA Alertmanager pair and a retry: the same notification at every replica.
    let payload = am_payload(vec![
        am_alert("s1", "api-gateway", "critical", true, T0),
        am_alert("s2", "api-gateway", "critical", true, T0),
    ]);
    for s in &r {
        assert_eq!(post_alerts(&http, &s.url, &payload).await, 200);
    }
    let draft = r[2]
        .wait_draft("one draft for the incident", |d| {
            d["kind"] == "new_incident"
        })
        .await;
    assert_eq!(draft["alerts"].as_array().unwrap().len(), 2, "{draft}");
    // Every replica lists the same drafts; the later deliveries created nothing.
    let ingests = r[0]
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "ingest")
        .count();
    assert_eq!(
        ingests, 1,
        "the repeats were recognised on the other replicas"
    );
    for s in &r {
        let drafts = new_incident_drafts(s).await;
        assert_eq!(drafts.len(), 1, "{drafts:?}");
        assert_eq!(drafts[0]["id"], draft["id"]);
    }

    // Approved on one replica, published on every replica's page within a second.
    let id = draft["id"].as_str().unwrap();
    let (before, _) = etag_and_body(&r[0], "/api/v2/summary.json").await;
    let (status, body) = r[1].approve(id, 1).await;
    assert_eq!(status, 200, "{body}");
    let approved_at = Instant::now();
    for s in &r {
        loop {
            let (_, summary) = s.get("/api/v2/summary.json", None).await;
            if summary["incidents"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
            {
                break;
            }
            assert!(
                approved_at.elapsed() < Duration::from_secs(1),
                "{} still shows no incident after 1s",
                s.url
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The same state renders the same: ETags agree across replicas.
    let pages = [
        etag_and_body(&r[0], "/api/v2/summary.json").await,
        etag_and_body(&r[1], "/api/v2/summary.json").await,
        etag_and_body(&r[2], "/api/v2/summary.json").await,
    ];
    assert_ne!(pages[0].0, before);
    assert!(pages.iter().all(|p| p.0 == pages[0].0), "{pages:?}");
    let (status, incident) = r[2]
        .get(
            &format!(
                "/api/v1/incidents/{}",
                body["incident"]["id"].as_str().unwrap()
            ),
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200, "{incident}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_of_one_draft_on_two_replicas_publish_once() {
    let receiver = Receiver::start().await;
    let Some((_, r)) = replicas(2, &receiver.config) else {
        return;
    };
    let http = reqwest::Client::new();
    let payload = am_payload(vec![am_alert("c1", "web", "critical", true, T0)]);
    assert_eq!(post_alerts(&http, &r[0].url, &payload).await, 200);
    let draft = r[1]
        .wait_draft("web outage", |d| d["state"] == "pending")
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    // Both at once, on different replicas: a compare-and-set, one wins.
    let (a, b) = tokio::join!(r[0].approve(&id, 1), r[1].approve(&id, 1));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (_, incidents) = r[0].get("/api/v1/incidents", Some(ADMIN)).await;
    assert_eq!(
        incidents["incidents"].as_array().unwrap().len(),
        1,
        "{incidents}"
    );
    receiver.wait_events(1, Duration::from_secs(15)).await;
    // A later publication, so that a second copy of the first would have arrived by then.
    let resolved = am_payload(vec![am_alert("c1", "web", "critical", false, T0)]);
    assert_eq!(post_alerts(&http, &r[1].url, &resolved).await, 200);
    let resolution = r[0]
        .wait_draft("resolution", |d| {
            d["kind"] != "new_incident" && d["state"] == "pending"
        })
        .await;
    let (status, body) = r[0]
        .approve(
            resolution["id"].as_str().unwrap(),
            resolution["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = receiver.wait_events(2, Duration::from_secs(15)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !receiver
        .events()
        .iter()
        .any(|(_, e)| e["type"] == "incident.resolved")
    {
        assert!(Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created = receiver
        .events()
        .into_iter()
        .filter(|(_, e)| e["type"] == "incident.created")
        .count();
    assert_eq!(created, 1, "{:?}", receiver.events());
}

/// Only the replica that holds the pipeline runs the draft timers, and they read the
/// ledgers only when one may be due: a draft declared on another replica must still reach
/// them, and expire on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_declared_on_a_replica_without_the_pipeline_expires_on_time() {
    let Some(c) = crate::postgres_cluster::cluster() else {
        return;
    };
    let url = c.database();
    let r: Vec<Server> = (0..2)
        .map(|_| {
            Server::start(Options {
                storage_url: Some(url.clone()),
                extra_config: format!(
                    "  draft_expiry: 3s\nstorage:\n  lease: {}s\n",
                    LEASE.as_secs()
                ),
                ..Options::default()
            })
        })
        .collect();
    let holder = wait_holder(&r, &[0, 1], "pipeline", LEASE * 3).await;
    // The holder's timers have read the empty book by now, and found nothing ever due.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let elsewhere = &r[1 - holder];
    let (status, d) = elsewhere
        .send(
            "POST",
            "/api/v1/incidents",
            Some(ADMIN),
            Some(
                serde_json::json!({"body": "Card payments fail at our payment provider.",
                                    "components": {"payments": "major_outage"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    let id = d["id"].as_str().unwrap_or_default();
    let declared = Instant::now();
    let expired = r[holder].wait_draft_state(id, "expired").await;
    assert!(
        declared.elapsed() >= Duration::from_millis(2900),
        "expired before its 3 s were over: {expired}"
    );
}
