//! Keeping watch: the watchdog and its heartbeats, reconciliation of what was missed while
//! down, and metrics scraped by a real Prometheus.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_watchdog_is_raised_and_repeats_count_as_heartbeats() {
    let s = Server::start(Options {
        // Ten times the heartbeat period below: a loaded machine may delay a few.
        extra_config: "watchdog: {match: ['alertname=\"Watchdog\"'], interval: 3s}\n".into(),
        ..Options::default()
    });
    let watchdog = am_payload(vec![json!({
        "status": "firing", "labels": {"alertname": "Watchdog", "severity": "none"},
        "startsAt": T0, "fingerprint": "wd"})]);
    // The same delivery again and again (what repeat_interval sends) keeps it alive, for
    // longer than the interval.
    let since = std::time::Instant::now();
    while since.elapsed() < Duration::from_secs(5) {
        assert_eq!(s.post_alertmanager(&watchdog).await.0, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, ready) = s.get("/readyz", None).await;
        assert_eq!(ready["checks"]["watchdog"]["ok"], true, "{ready}");
    }
    wait_until("watchdog raised", Duration::from_secs(20), async || {
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
    wait_until("watchdog back", Duration::from_secs(5), async || {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
        skip_or_fail(
            "the Prometheus scrape test",
            "/usr/bin/prometheus is not installed (apt-get install prometheus)",
        );
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
    crate::harness::reap(&mut prom);
    assert_eq!(value, "2");
}
