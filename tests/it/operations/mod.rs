//! Storm control, rate limits, the watchdog, reconciliation, metrics and shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::alertmanager_e2e::{alertmanager_available, Alertmanager};
use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

async fn eventually<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn forty_components() -> String {
    let mut yaml = String::from("components:\n");
    for i in 0..40 {
        yaml += &format!("  - {{id: c{i}, name: Service {i}}}\n");
    }
    yaml += "routes:\n";
    for i in 0..40 {
        yaml +=
            &format!("  - name: r{i}\n    match: ['service=\"s{i}\"']\n    components: [c{i}]\n");
    }
    yaml
}

#[tokio::test]
async fn an_alert_storm_makes_one_draft_and_the_breaker_shows_then_closes() {
    let s = Server::start(Options {
        catalog: forty_components(),
        group_wait: "1s",
        extra_config: "storm: {max_incidents: 5, window: 3s}\n".into(),
        ..Options::default()
    });
    for batch in 0..20 {
        let alerts: Vec<Value> = (0..10)
            .map(|j| {
                let i = batch * 10 + j;
                am_alert(
                    &format!("storm{i}"),
                    &format!("s{}", i % 40),
                    "critical",
                    true,
                    T0,
                )
            })
            .collect();
        let (status, body) = s.post_alertmanager(&am_payload(alerts)).await;
        assert_eq!(status, 200, "{body}");
    }
    let draft = s
        .wait_draft("storm draft", |d| d["state"] == "pending")
        .await;
    assert_eq!(draft["components"].as_object().unwrap().len(), 40);
    assert_eq!(draft["title"], "Multiple services affected");
    assert_eq!(draft["alerts"].as_array().unwrap().len(), 200);
    let (_, list) = s.get("/api/v1/drafts", Some(ADMIN)).await;
    assert_eq!(
        list["drafts"].as_array().unwrap().len(),
        1,
        "at most one storm draft"
    );
    assert_eq!(list["banners"][0]["kind"], "storm_breaker_open", "{list}");
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_storm_breaker_open 1"),
        "{metrics}"
    );
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(ready["checks"]["storm"]["open"], true);
    // The storm passes: a whole window without new incidents closes the breaker.
    eventually("breaker closes", 10, || async {
        s.text("/metrics")
            .await
            .1
            .contains("statusgate_storm_breaker_open 0")
    })
    .await;
    let (_, list) = s.get("/api/v1/drafts", Some(ADMIN)).await;
    assert!(list["banners"].as_array().unwrap().is_empty(), "{list}");
    let actions: Vec<Value> = s
        .audit()
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert!(
        actions.contains(&json!("storm_breaker_opened"))
            && actions.contains(&json!("storm_breaker_closed"))
    );
}

#[tokio::test]
async fn over_its_limit_alertmanager_gets_503_and_a_real_alertmanager_delivers_everything() {
    let s = Server::start(Options {
        extra_config:
            "limits: {ingest: {per_second: 1, burst: 2}, public: {per_second: 1, burst: 3}}\n"
                .into(),
        ..Options::default()
    });
    let payload = |i: usize| {
        am_payload(vec![am_alert(
            &format!("rl{i}"),
            "api-gateway",
            "critical",
            true,
            T0,
        )])
    };
    assert_eq!(s.post_alertmanager(&payload(0)).await.0, 200);
    assert_eq!(s.post_alertmanager(&payload(1)).await.0, 200);
    let r = s
        .http
        .post(format!("{}/webhooks/alertmanager", s.url))
        .bearer_auth(AM_TOKEN)
        .json(&payload(2))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        503,
        "Alertmanager retries 5xx, drops 4xx"
    );
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("rate limit"));

    // Readers have their own budget: a flood on the page gets 429, and does not touch ingest.
    let mut limited = 0;
    for _ in 0..10 {
        let r = s.http.get(format!("{}/", s.url)).send().await.unwrap();
        if r.status().as_u16() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            limited += 1;
        }
    }
    assert!(
        limited >= 6,
        "public limit not enforced ({limited} of 10 refused)"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        s.post_alertmanager(&payload(3)).await.0,
        200,
        "ingest unaffected by the page flood"
    );
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_rate_limited_total{scope=\"ingest\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("statusgate_rate_limited_total{scope=\"public\"}"));

    if !alertmanager_available() {
        return;
    }
    // Ten notifications at once from a real Alertmanager, most refused at first: it
    // retries until every one is in.
    let am = Alertmanager::start(&format!("{}/webhooks/alertmanager", s.url), AM_TOKEN);
    let alerts: Vec<Value> = (0..10)
        .map(|i| json!({"labels": {"alertname": format!("Burst{i}"), "service": "api-gateway", "severity": "critical"}, "startsAt": T0}))
        .collect();
    am.post_alerts(Value::Array(alerts)).await;
    eventually("all ten alerts delivered despite 503s", 40, || async {
        s.drafts("").await.iter().any(|d| {
            d["alerts"].as_array().is_some_and(|a| {
                a.iter()
                    .filter(|a| {
                        a["labels"]["alertname"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("Burst"))
                    })
                    .count()
                    == 10
            })
        })
    })
    .await;
}

#[tokio::test]
async fn a_silent_watchdog_is_raised_and_repeats_count_as_heartbeats() {
    let s = Server::start(Options {
        extra_config: "watchdog: {match: ['alertname=\"Watchdog\"'], interval: 1500ms}\n".into(),
        ..Options::default()
    });
    let watchdog = am_payload(vec![json!({
        "status": "firing", "labels": {"alertname": "Watchdog", "severity": "none"},
        "startsAt": T0, "fingerprint": "wd"})]);
    // The same delivery again and again (what repeat_interval sends) keeps it alive.
    for _ in 0..8 {
        assert_eq!(s.post_alertmanager(&watchdog).await.0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, ready) = s.get("/readyz", None).await;
        assert_eq!(ready["checks"]["watchdog"]["ok"], true, "{ready}");
    }
    eventually("watchdog raised", 5, || async {
        s.get("/readyz", None).await.1["checks"]["watchdog"]["ok"] == false
    })
    .await;
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(
        (status, &ready["ready"]),
        (200, &json!(true)),
        "a silent feed never makes the pod unready"
    );
    let (_, list) = s.get("/api/v1/drafts", Some(ADMIN)).await;
    assert_eq!(list["banners"][0]["kind"], "watchdog_silent");
    assert!(s
        .text("/metrics")
        .await
        .1
        .contains("statusgate_watchdog_silent 1"));
    assert!(s
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "watchdog_silent"));
    s.post_alertmanager(&watchdog).await;
    eventually("watchdog back", 5, || async {
        s.text("/metrics")
            .await
            .1
            .contains("statusgate_watchdog_silent 0")
    })
    .await;
    assert!(s
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "watchdog_resumed"));
}

#[tokio::test]
async fn reconciliation_repairs_what_was_missed_while_statusgate_was_down() {
    if !alertmanager_available() {
        return;
    }
    // Alertmanager's webhook points at a port nobody listens on: everything is missed.
    let am = Alertmanager::start("http://127.0.0.1:9/webhooks/alertmanager", AM_TOKEN);
    let labels = json!({"alertname": "HighErrorRate", "service": "api-gateway", "env": "prod", "severity": "critical"});
    let started = chrono::Utc::now() - chrono::Duration::seconds(60);
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    am.post_alerts(json!([{"labels": labels, "startsAt": ts(started)}]))
        .await;
    let mut s = Server::start(Options {
        extra_config: format!(
            "reconcile:\n  interval: 1s\n  alertmanagers:\n    - url: {}\n",
            am.url
        ),
        ..Options::default()
    });
    let draft = s
        .wait_draft("repaired firing alert", |d| d["state"] == "pending")
        .await;
    assert_eq!(draft["components"], json!({"api": "major_outage"}));
    let (status, _) = s.approve(draft["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200);
    // Down while the alert resolves: the resolution is missed too, and repaired.
    s.stop();
    am.post_alerts(json!([{"labels": labels, "startsAt": ts(started), "endsAt": ts(chrono::Utc::now() - chrono::Duration::seconds(1))}]))
        .await;
    s.restart_stopped();
    let resolution = s
        .wait_draft("repaired resolution", |d| d["kind"] == "resolution")
        .await;
    assert_eq!(resolution["components"], json!({"api": "operational"}));
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_metrics() {
    let s = Server::start(Options::default());
    s.post_alertmanager(&am_payload(vec![am_alert(
        "p1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    s.post_alertmanager(&am_payload(vec![am_alert(
        "p1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    let (_, text) = s.text("/metrics").await;
    for name in [
        "statusgate_webhooks_received_total",
        "statusgate_alerts_ingested_total",
        "statusgate_store_bytes",
        "statusgate_storm_breaker_open",
        "statusgate_watchdog_silent",
        "statusgate_time_to_first_update_seconds_bucket",
        "statusgate_draft_approval_wait_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    if !prometheus.exists() {
        if std::env::var("STATUSGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("prometheus/promtool missing and STATUSGATE_REQUIRE_E2E=1");
        }
        eprintln!("SKIPPED: Debian's prometheus package is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = s.url.trim_start_matches("http://");
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: statusgate\n    static_configs: [{{targets: ['{target}']}}]\n"),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut prom = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let query =
        format!("http://127.0.0.1:{port}/api/v1/query?query=statusgate_webhooks_received_total");
    let deadline = Instant::now() + Duration::from_secs(30);
    let value = loop {
        if let Ok(r) = reqwest::get(&query).await {
            if let Ok(v) = r.json::<Value>().await {
                if let Some(v) = v["data"]["result"][0]["value"][1].as_str() {
                    break v.to_string();
                }
            }
        }
        if Instant::now() > deadline {
            let _ = prom.kill();
            panic!("prometheus never scraped statusgate");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = prom.kill();
    let _ = prom.wait();
    assert_eq!(value, "2");
}

#[tokio::test]
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
    eventually("some deliveries acknowledged", 10, || async {
        acked.load(Ordering::SeqCst) >= 40
    })
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

#[tokio::test]
async fn a_truncated_alert_group_is_noted_for_approvers() {
    let s = Server::start(Options::default());
    let mut payload = am_payload(vec![am_alert("tr1", "api-gateway", "critical", true, T0)]);
    payload["truncatedAlerts"] = json!(37);
    assert_eq!(s.post_alertmanager(&payload).await.0, 200);
    let draft = s.wait_draft("truncated", |d| d["state"] == "pending").await;
    let notes = draft["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("left 37 alert(s)")),
        "{draft}"
    );
    let ingest = s
        .audit()
        .await
        .into_iter()
        .find(|e| e["action"] == "ingest")
        .unwrap();
    assert_eq!(ingest["detail"]["truncated_alerts"], 37);
}

/// A real full disk (a small tmpfs): ingest answers 503 so senders retry, `/readyz` says
/// why, nothing is acknowledged that was not stored, and it recovers by itself.
#[tokio::test]
async fn a_full_disk_makes_ingest_answer_503_and_recovers_when_space_returns() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        if std::env::var("STATUSGATE_REQUIRE_E2E").as_deref() == Ok("1") {
            panic!("cannot mount a tmpfs and STATUSGATE_REQUIRE_E2E=1");
        }
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
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
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(mount.path())
            .output()
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
    let status = Command::new("fallocate")
        .arg("-l")
        .arg((free - (4 << 20)).to_string())
        .arg(&filler)
        .status()
        .unwrap();
    assert!(status.success());
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
#[tokio::test]
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
    eventually("every alert in the draft", 15, || async {
        s.drafts("pending").await.first().is_some_and(|d| {
            d["alerts"]
                .as_array()
                .is_some_and(|a| a.len() >= acked.len())
        })
    })
    .await;
    assert_eq!(
        s.drafts("").await.len(),
        1,
        "one draft for one incident: {draft}"
    );
}
