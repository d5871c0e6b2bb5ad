//! The ordinary course: approved drafts create, update and resolve the Statuspage incident
//! once each; and `check-remote` lists the page's components and the unmapped ones.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_drafts_create_update_and_resolve_the_statuspage_incident_once_each() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;

    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(body["deliveries"][0]["state"], "delivered", "{body}");
    assert_eq!(body["deliveries"][0]["target"], "hosted");
    let posts = fake.calls("POST");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].0, "/pages/pg1/incidents");
    let inc = &posts[0].1["incident"];
    assert_eq!(inc["name"], created["title"]);
    assert_eq!(inc["body"], created["body"]);
    assert_eq!(inc["status"], "investigating");
    assert_eq!(inc["impact_override"], "critical");
    assert_eq!(inc["component_ids"], json!(["cmp_api"]));
    assert_eq!(inc["components"], json!({"cmp_api": "major_outage"}));
    assert_eq!(inc["deliver_notifications"], true);
    assert!(
        inc["metadata"]["statusgate"]["incident"].is_string(),
        "{inc}"
    );
    let sp_id = fake.incidents()[0]["id"].as_str().unwrap().to_string();

    // An update: the page reads the incident back, then sends only what changed.
    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert_eq!(patches[0].0, format!("/pages/pg1/incidents/{sp_id}"));
    let p = &patches[0].1["incident"];
    assert_eq!(p["components"], json!({"cmp_api": "degraded_performance"}));
    assert_eq!(p["impact_override"], "minor");
    assert_eq!(p["body"], update["body"]);
    // The update keeps the incident's public name, so the name is not sent again.
    assert_eq!(update["title"], created["title"]);
    assert!(
        p.get("name").is_none(),
        "the update renamed the incident: {p}"
    );
    assert!(
        p.get("status").is_none(),
        "unchanged status sent again: {p}"
    );
    let gets_before = fake.calls("GET").len();
    assert!(gets_before >= 1, "no read-back before the update");

    // A publish that changes nothing there sends nothing.
    fire(&s, &[("f3", "warning", true)]).await;
    let again = s
        .wait_draft("another update", |d| {
            d["kind"] == "update" && d["state"] == "pending"
        })
        .await;
    let id = again["id"].as_str().unwrap();
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({
                "title": update["title"], "body": update["body"],
                "components": update["components"], "impact": update["impact"],
                "incident_status": update["incident_status"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let calls_before = fake.with(|st| st.calls.len());
    let (status, body) = s.approve(id, edited["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let body = settled(&s, id).await;
    assert_eq!(body["deliveries"][0]["state"], "unchanged", "{body}");
    assert_eq!(
        fake.with(|st| st.calls.len()),
        calls_before,
        "a repeat reached Statuspage"
    );

    // Resolution resolves it.
    fire(&s, &[("f2", "warning", false), ("f3", "warning", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 2, "{patches:?}");
    let p = &patches[1].1["incident"];
    assert_eq!(p["status"], "resolved");
    assert_eq!(p["components"], json!({"cmp_api": "operational"}));

    let incidents = fake.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["status"], "resolved");
    assert_eq!(
        incidents[0]["incident_updates"].as_array().unwrap().len(),
        3
    );
    assert_eq!(fake.calls("POST").len(), 1);
    // Never faster than one request a second (the documented limit per key).
    let times = fake.with(|st| st.times.clone());
    assert!(times.len() >= 5, "{} requests", times.len());
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(950),
            "two requests {gap:?} apart"
        );
    }
    let audit = s.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "publish" && e["detail"]["target"] == "hosted"),
        "no audit entry for the delivery"
    );
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics
            .contains("statusgate_publish_attempts_total{target=\"hosted\",outcome=\"success\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "statusgate_publish_attempts_total{target=\"hosted\",outcome=\"unchanged\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_remote_lists_the_page_components_and_reports_unmapped_ones() {
    let sp = FakeStatuspage::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, KEY).unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(mappings.join("m.yaml"), CATALOG).unwrap();
    let config = dir.path().join("c.yaml");
    let write = |publisher: String| {
        std::fs::write(
            &config,
            format!("mappings: {}\npublishers:\n{publisher}", mappings.display()),
        )
        .unwrap()
    };
    let run = |config: std::path::PathBuf| {
        tokio::task::spawn_blocking(move || {
            let mut cmd = std::process::Command::new(binary());
            cmd.args(["check", "--remote", "--config"])
                .arg(&config)
                .env_remove("STATUSGATE_CONFIG");
            output_within(&mut cmd, Duration::from_secs(60)).unwrap()
        })
    };
    write(publisher_config(&sp.server.url, &key).replace("web: cmp_web, ", ""));
    let out = run(config.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("page pg1 has 4 component(s)"), "{stdout}");
    assert!(stdout.contains("cmp_api  API: mapped from api"), "{stdout}");
    assert!(stdout.contains("cmp_web  Website: unmapped"), "{stdout}");
    assert!(
        stdout.contains("cmp_docs  Documentation: unmapped"),
        "{stdout}"
    );
    assert!(sp
        .fake
        .calls("GET")
        .iter()
        .any(|(p, _)| p.starts_with("/pages/pg1/components")));

    // A mapping to a component the page does not have fails the check.
    write(publisher_config(&sp.server.url, &key).replace("cmp_web", "cmp_gone"));
    let out = run(config.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("`web` maps to `cmp_gone`, which page pg1 does not have"),
        "{stderr}"
    );
}
