//! More alerts than usual: the storm breaker, ingest over its rate limit answering 503 to a
//! real Alertmanager, and truncated alert groups noted for approvers.

use super::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    wait_until("breaker closes", Duration::from_secs(10), async || {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    wait_until(
        "all ten alerts delivered despite 503s",
        Duration::from_secs(40),
        async || {
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
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
