//! The replica running delivery dies or stalls: another takes over within the lease, the
//! external page gets one incident, each event keeps one webhook-id, and a stalled replica
//! that wakes up again sends and writes nothing.

use std::time::{Duration, Instant};

use super::*;
use crate::fake_statuspage::{publisher_config, FakeStatuspage, Fault, KEY};
use crate::publish_statuspage::settled;

const T0: &str = "2026-12-06T09:30:00Z";

struct Targets {
    statuspage: crate::fake_statuspage::Running,
    receiver: Receiver,
    config: String,
    _keys: tempfile::TempDir,
}

async fn targets() -> Targets {
    let statuspage = FakeStatuspage::start().await;
    let receiver = Receiver::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("sp");
    std::fs::write(&key_file, KEY).unwrap();
    let config = format!(
        "{}{}",
        receiver.config,
        publisher_config(&statuspage.server.url, &key_file)
    );
    Targets {
        statuspage,
        receiver,
        config,
        _keys: keys,
    }
}

/// One webhook-id per event: redeliveries repeat the id, never a new id for the same event.
fn one_id_per_event(events: &[(String, Value)]) {
    let mut ids: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for (id, event) in events {
        let key = format!("{}/{}", event["type"], event["data"]);
        ids.entry(key).or_default().insert(id.clone());
    }
    for (event, ids) in ids {
        assert_eq!(ids.len(), 1, "{event} went out under {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_delivering_replica_mid_publish_sends_once_and_another_takes_over() {
    let t = targets().await;
    let Some((_, mut r)) = replicas(3, &t.config) else {
        return;
    };
    let http = reqwest::Client::new();
    let payload = am_payload(vec![am_alert("k1", "api-gateway", "critical", true, T0)]);
    assert_eq!(post_alerts(&http, &r[0].url, &payload).await, 200);
    let draft = r[0]
        .wait_draft("api outage", |d| d["state"] == "pending")
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    let h = wait_holder(&r, &[0, 1, 2], "outbox", LEASE * 3).await;
    let other = (h + 1) % 3;
    // Statuspage takes the incident but the answer never reaches the holder.
    t.statuspage
        .fake
        .fault("POST", Fault::ApplyThenLate(Duration::from_secs(30)));
    let (status, body) = r[other].approve(&id, 1).await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.statuspage.fake.calls("POST").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the holder never called Statuspage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    r[h].kill_hard();
    let killed = Instant::now();
    let alive: Vec<usize> = (0..3).filter(|i| *i != h).collect();
    let next = wait_holder(&r, &alive, "outbox", LEASE + Duration::from_secs(5)).await;
    let took = killed.elapsed();
    assert!(
        took <= LEASE + Duration::from_secs(2),
        "takeover took {took:?}"
    );
    // Who holds the lease is visible to Prometheus too, on every replica.
    for &i in &alive {
        let held = metric(&r[i], "statusgate_lease_held{work=\"outbox\"}").await;
        assert_eq!(held, if i == next { 1.0 } else { 0.0 }, "replica {i}");
    }
    let deliveries = settled(&r[next], &id).await;
    assert!(
        deliveries["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            // The new holder finds the incident the killed one created: nothing to send.
            .all(|d| d["state"] == "delivered" || d["state"] == "unchanged"),
        "{deliveries}"
    );
    assert_eq!(
        t.statuspage.fake.incidents().len(),
        1,
        "one incident at Statuspage"
    );
    let events = t.receiver.wait_events(1, Duration::from_secs(10)).await;
    one_id_per_event(&events);
    // The survivors go on: the next publication is delivered too, once.
    let resolved = am_payload(vec![am_alert("k1", "api-gateway", "critical", false, T0)]);
    assert_eq!(post_alerts(&http, &r[alive[0]].url, &resolved).await, 200);
    let d = r[alive[1]]
        .wait_draft("resolution", |d| {
            d["kind"] != "new_incident" && d["state"] == "pending"
        })
        .await;
    let (status, body) = r[alive[1]]
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&r[alive[0]], d["id"].as_str().unwrap()).await;
    assert_eq!(t.statuspage.fake.incidents().len(), 1);
    assert_eq!(t.statuspage.fake.incidents()[0]["status"], "resolved");
    one_id_per_event(&t.receiver.events());
    r.remove(h);
}

/// SIGSTOP past the lease: another replica takes over and publishes; after SIGCONT the old
/// holder finds its lease gone and neither writes nor sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_lease_writes_and_sends_nothing_when_it_resumes() {
    let t = targets().await;
    let Some((_, r)) = replicas(2, &t.config) else {
        return;
    };
    let http = reqwest::Client::new();
    let a = wait_holder(&r, &[0, 1], "pipeline", LEASE * 3).await;
    let b = 1 - a;
    let outbox = wait_holder(&r, &[0, 1], "outbox", LEASE * 3).await;
    let paused = r[a].pid() as i32;
    unsafe {
        libc::kill(paused, libc::SIGSTOP);
    }
    // While A sleeps, alerts arrive at B; B takes the pipeline over and drafts.
    let payload = am_payload(vec![am_alert("p1", "payments", "critical", true, T0)]);
    assert_eq!(post_alerts(&http, &r[b].url, &payload).await, 200);
    let draft = r[b]
        .wait_draft("payments outage drafted by the new holder", |d| {
            d["state"] == "pending"
        })
        .await;
    wait_holder(&r, &[b], "pipeline", LEASE * 3).await;
    if outbox == a {
        wait_holder(&r, &[b], "outbox", LEASE * 3).await;
    }
    let (status, body) = r[b].approve(draft["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    settled(&r[b], draft["id"].as_str().unwrap()).await;
    let before_resume = (
        t.statuspage.fake.calls("POST").len() + t.statuspage.fake.calls("PATCH").len(),
        t.receiver.events().len(),
        r[b].audit().await.len(),
        new_incident_drafts(&r[b]).await.len(),
    );
    unsafe {
        libc::kill(paused, libc::SIGCONT);
    }
    // A answers again and reports that it holds nothing: the positive event to wait for.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = r[a].get("/readyz", None).await;
        let held = body["checks"]["leases"]["work"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w["held"] == true)
            .count();
        if status == 200 && held == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "A still claims leases: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A later change goes through B; by the time it is published, anything A would have
    // written or sent after waking would be there too.
    let resolved = am_payload(vec![am_alert("p1", "payments", "critical", false, T0)]);
    assert_eq!(post_alerts(&http, &r[b].url, &resolved).await, 200);
    let d = r[b]
        .wait_draft("resolution", |d| {
            d["kind"] != "new_incident" && d["state"] == "pending"
        })
        .await;
    let (status, body) = r[b]
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&r[b], d["id"].as_str().unwrap()).await;
    let after = (
        t.statuspage.fake.calls("POST").len() + t.statuspage.fake.calls("PATCH").len(),
        t.receiver.events().len(),
        new_incident_drafts(&r[b]).await.len(),
    );
    assert_eq!(
        t.statuspage.fake.incidents().len(),
        1,
        "{:?}",
        t.statuspage.fake.incidents()
    );
    assert_eq!(after.2, before_resume.3, "no second draft for the incident");
    // Exactly the resolution went out after the resume: one Statuspage write and one
    // event per target, nothing from A.
    assert_eq!(after.0, before_resume.0 + 1, "Statuspage writes");
    one_id_per_event(&t.receiver.events());
    let _ = before_resume.2;
}
