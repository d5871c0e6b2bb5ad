//! Nothing acknowledged is lost: SIGTERM finishes in-flight requests, a full disk answers
//! 503 and recovers, and `kill -9` under load duplicates nothing.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_loses_nothing_acknowledged() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut s = Server::start(Options::default());
    let acked = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (http, url, acked) = (s.http.clone(), s.url.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let body = am_payload(vec![am_alert(
                    &format!("sd{w}-{i}"),
                    "web",
                    "critical",
                    true,
                    T0,
                )]);
                let r = http
                    .post(format!("{url}/webhooks/alertmanager"))
                    .bearer_auth(AM_TOKEN)
                    .json(&body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 200 => {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
        }));
    }
    wait_until(
        "some deliveries acknowledged",
        Duration::from_secs(10),
        async || acked.load(Ordering::SeqCst) >= 40,
    )
    .await;
    s.signal_term();
    for w in workers {
        w.await.unwrap();
    }
    let status = s.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    let acked = acked.load(Ordering::SeqCst);
    s.restart_stopped();
    let ingested = s
        .audit()
        .await
        .iter()
        .filter(|e| e["action"] == "ingest")
        .count();
    assert_eq!(ingested, acked, "every acknowledged delivery is stored");
}

/// A real full disk (a small tmpfs): ingest answers 503 so senders retry, `/readyz` says
/// why, nothing is acknowledged that was not stored, and it recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_makes_ingest_answer_503_and_recovers_when_space_returns() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = output_within(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
            .arg(mount.path()),
        Duration::from_secs(30),
    )
    .is_ok_and(|o| o.status.success());
    if !mounted {
        skip_or_fail(
            "the full-disk test",
            "cannot mount a tmpfs here (needs root)",
        );
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = output_within(
                Command::new("umount").arg("-l").arg(&self.0),
                Duration::from_secs(30),
            );
        }
    }
    let _guard = Unmount(mount.path().to_path_buf());
    let data = mount.path().join("data");
    let s = Server::start(Options {
        data_dir: Some(data.clone()),
        ..Options::default()
    });
    assert_eq!(
        s.post_alertmanager(&am_payload(vec![am_alert(
            "df0", "web", "critical", true, T0
        )]))
        .await
        .0,
        200
    );
    // Leave less than the reserve free.
    let free = {
        let out = output_within(
            Command::new("df")
                .args(["-B1", "--output=avail"])
                .arg(mount.path()),
            Duration::from_secs(30),
        )
        .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let filler = mount.path().join("filler");
    let out = output_within(
        Command::new("fallocate")
            .arg("-l")
            .arg((free - (4 << 20)).to_string())
            .arg(&filler),
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "df1", "web", "critical", true, T0,
        )]))
        .await;
    assert_eq!(status, 503, "{body}");
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 503);
    assert!(
        ready["checks"]["storage"]["reason"]
            .as_str()
            .unwrap()
            .contains("almost full"),
        "{ready}"
    );
    assert_eq!(s.get("/healthz", None).await.0, 200, "no restart needed");
    std::fs::remove_file(&filler).unwrap();
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "df1", "web", "critical", true, T0,
        )]))
        .await;
    assert_eq!((status, body["new"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(s.get("/readyz", None).await.0, 200);
    let ingests = s
        .audit()
        .await
        .iter()
        .filter(|e| e["action"] == "ingest")
        .count();
    assert_eq!(ingests, 2, "the refused delivery left nothing behind");
}

/// `kill -9` at three moments under load: every delivery that got a 2xx is on record after
/// the restarts, and the incident is drafted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_alert_and_duplicates_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let mut s = Server::start(Options {
        group_wait: "100ms",
        ..Options::default()
    });
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..4 {
            let (http, url, acked, stop) =
                (s.http.clone(), s.url.clone(), acked.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let fp = format!("k{round}w{w}n{i}");
                    let body = am_payload(vec![am_alert(&fp, "api-gateway", "critical", true, T0)]);
                    match http
                        .post(format!("{url}/webhooks/alertmanager"))
                        .bearer_auth(AM_TOKEN)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().as_u16() == 200 => acked.lock().unwrap().push(fp),
                        _ => break,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        s.crash_and_restart();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 30,
        "the load got going ({} acknowledged)",
        acked.len()
    );
    let (status, body) = s
        .get("/api/v1/alerts?state=all&limit=1000", Some(READER))
        .await;
    assert_eq!(status, 200, "{body}");
    let recorded: std::collections::HashSet<String> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alert"]["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert!(acked.len() < 1000, "raise the limit");
    for fp in &acked {
        assert!(recorded.contains(fp), "acknowledged alert {fp} lost");
    }
    let (status, one) = s
        .get(&format!("/api/v1/alerts/am:{}", acked[0]), Some(READER))
        .await;
    assert_eq!(
        (status, &one["routing"]["outcome"]),
        (200, &json!("mapped")),
        "{one}"
    );
    assert_eq!(s.get("/api/v1/alerts/am:nope", Some(READER)).await.0, 404);
    let draft = s
        .wait_draft("the incident", |d| d["state"] == "pending")
        .await;
    wait_until(
        "every alert in the draft",
        Duration::from_secs(15),
        async || {
            s.drafts("pending").await.first().is_some_and(|d| {
                d["alerts"]
                    .as_array()
                    .is_some_and(|a| a.len() >= acked.len())
            })
        },
    )
    .await;
    assert_eq!(
        s.drafts("").await.len(),
        1,
        "one draft for one incident: {draft}"
    );
}
