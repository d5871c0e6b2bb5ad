//! From a firing alert to a published incident and back to operational.

use serde_json::{json, Value};

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

async fn summary(s: &Server) -> Value {
    let (status, body) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(status, 200);
    body
}

fn component<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no component {id} in {summary}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_is_drafted_approved_published_and_resolved() {
    let s = Server::start(Options::default());
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "f1",
            "api-gateway",
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!((status, body["new"].as_u64()), (200, Some(1)), "{body}");

    let draft = s
        .wait_draft("new incident for api", |d| {
            d["kind"] == "new_incident" && d["state"] == "pending"
        })
        .await;
    assert_eq!(draft["components"], json!({"api": "major_outage"}));
    assert_eq!(draft["impact"], "critical");
    assert_eq!(draft["incident_status"], "investigating");
    assert_eq!(draft["revision"], 1);
    assert_eq!(draft["incident_id"], Value::Null);
    assert_eq!(draft["flapping"], false);
    assert_eq!(draft["alerts"].as_array().unwrap().len(), 1);
    assert!(
        draft["title"].as_str().unwrap().contains("Public API"),
        "{draft}"
    );
    for field in ["id", "created_at", "updated_at", "history", "body"] {
        assert!(!draft[field].is_null(), "draft lacks {field}: {draft}");
    }

    // Nothing public before a human approved it.
    let before = summary(&s).await;
    assert_eq!(before["status"]["indicator"], "none");
    assert_eq!(component(&before, "api")["status"], "operational");
    assert!(before["incidents"].as_array().unwrap().is_empty());
    let (_, html) = s.text("/").await;
    assert!(!html.contains(draft["title"].as_str().unwrap()));

    let id = draft["id"].as_str().unwrap();
    let (status, approved) = s.approve(id, 1).await;
    assert_eq!(status, 200, "{approved}");
    let incident_id = approved["incident"]["id"].as_str().unwrap().to_string();
    assert_eq!(approved["draft"]["state"], "published");
    assert_eq!(approved["draft"]["incident_id"], incident_id.as_str());

    let after = summary(&s).await;
    assert_eq!(after["status"]["indicator"], "critical");
    assert_eq!(component(&after, "api")["status"], "major_outage");
    let incidents = after["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["id"], incident_id.as_str());
    assert_eq!(incidents[0]["status"], "investigating");
    assert_eq!(incidents[0]["incident_updates"][0]["body"], draft["body"]);
    let (_, html) = s.text("/").await;
    assert!(html.contains("Major outage"), "{html}");
    assert!(html.contains(&incident_id));
    // The public page never shows labels or internal hostnames.
    assert!(!after.to_string().contains("api-7.internal"));
    assert!(!html.contains("api-7.internal") && !html.contains("HighErrorRate"));
    // The internal database component is never public.
    assert!(after["components"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "database"));

    let (status, _) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "f1",
            "api-gateway",
            "critical",
            false,
            T0,
        )]))
        .await;
    assert_eq!(status, 200);
    let resolution = s
        .wait_draft("resolution", |d| {
            d["kind"] == "resolution" && d["state"] == "pending"
        })
        .await;
    assert_eq!(resolution["incident_id"], incident_id.as_str());
    assert_eq!(resolution["incident_status"], "resolved");
    assert_eq!(resolution["components"], json!({"api": "operational"}));
    let (status, body) = s.approve(resolution["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");

    let done = summary(&s).await;
    assert_eq!(done["status"]["indicator"], "none");
    assert_eq!(done["status"]["description"], "All Systems Operational");
    assert_eq!(component(&done, "api")["status"], "operational");
    assert!(done["incidents"].as_array().unwrap().is_empty());
    let (_, all) = s.get("/api/v2/incidents.json", None).await;
    let inc = &all["incidents"][0];
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["incident_updates"].as_array().unwrap().len(), 2);
    assert!(inc["resolved_at"].is_string());

    let actions: Vec<String> = s
        .audit()
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in ["ingest", "draft_created", "approve", "publish"] {
        assert!(
            actions.iter().any(|x| x == a),
            "audit lacks {a}: {actions:?}"
        );
    }
    let approve = s
        .audit()
        .await
        .into_iter()
        .rev()
        .find(|e| e["action"] == "approve")
        .unwrap();
    assert_eq!(approve["actor"], "admin");
    assert_eq!(approve["draft_id"], id);
    assert_eq!(approve["revision"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_a_stale_revision_is_refused_with_the_newest_text() {
    let s = Server::start(Options::default());
    s.post_alertmanager(&am_payload(vec![am_alert(
        "s1", "payments", "critical", true, T0,
    )]))
    .await;
    let draft = s.wait_draft("payments", |d| d["state"] == "pending").await;
    let id = draft["id"].as_str().unwrap();
    let path = format!("/api/v1/drafts/{id}");
    let (status, edited) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"body": "Card payments are failing.", "incident_status": "identified"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["revision"], 2);
    assert_eq!(
        edited["history"].as_array().unwrap().last().unwrap()["actor"],
        "admin"
    );

    let (status, body) = s.approve(id, 1).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["current_revision"], 2);
    assert_eq!(body["draft"]["body"], "Card payments are failing.");
    assert!(body["error"].as_str().unwrap().contains("revision 2"));

    // A misspelt field must not silently drop an edit.
    let (status, body) = s
        .send("PATCH", &path, Some(ADMIN), Some(json!({"bdy": "x"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("bdy"));
    let (status, _) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"components": {"nope": "major_outage"}})),
        )
        .await;
    assert_eq!(status, 422);

    let (status, body) = s.approve(id, 2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incident"]["status"], "identified");
    let (status, _) = s.approve(id, 2).await;
    assert_eq!(status, 409, "a published draft cannot be approved twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_read_and_who_may_approve() {
    let s = Server::start(Options::default());
    s.post_alertmanager(&am_payload(vec![am_alert(
        "r1", "web", "critical", true, T0,
    )]))
    .await;
    let draft = s.wait_draft("web", |d| d["state"] == "pending").await;
    let id = draft["id"].as_str().unwrap();
    let (status, body) = s.get("/api/v1/drafts", None).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    assert_eq!(s.get("/api/v1/drafts", Some("wrong")).await.0, 401);
    assert_eq!(s.get("/api/v1/drafts", Some(READER)).await.0, 200);
    assert_eq!(s.get("/api/v1/audit", Some(READER)).await.0, 200);
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/approve"),
            Some(READER),
            Some(json!({"revision": 1})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/reject"),
            Some(ADMIN),
            Some(json!({"reason": "test alert, not real"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "rejected");
    assert_eq!(body["reason"], "test alert, not real");
    assert_eq!(s.get("/api/v1/drafts/D-999", Some(READER)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_text_is_redacted_and_edits_are_redacted_too() {
    let s = Server::start(Options::default());
    let mut alert = am_alert("x1", "api-gateway", "critical", true, T0);
    alert["annotations"]["public_summary"] = json!(
        "Errors from 10.1.2.3 and db-3.internal.acme.net; token 4f9a0c3e1b2d4f9a0c3e1b2d4f9a0c3e1b2d; see https://status.example.com"
    );
    s.post_alertmanager(&am_payload(vec![alert])).await;
    let draft = s.wait_draft("redacted", |d| d["state"] == "pending").await;
    let body = draft["body"].as_str().unwrap();
    assert!(body.contains("[redacted]"), "{body}");
    for secret in ["10.1.2.3", "db-3.internal", "4f9a0c3e1b2d4f9a0c3e1b2d"] {
        assert!(!body.contains(secret), "{secret} leaked into {body}");
    }
    assert!(
        body.contains("https://status.example.com"),
        "public URLs stay: {body}"
    );
    let id = draft["id"].as_str().unwrap();
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"body": "Mail ops@acme.com or see 192.168.0.9"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(edited["body"], "Mail [redacted] or see [redacted]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_deliveries_change_nothing() {
    let s = Server::start(Options::default());
    let payload = am_payload(vec![am_alert("d1", "api-gateway", "warning", true, T0)]);
    let (_, first) = s.post_alertmanager(&payload).await;
    assert_eq!(first["new"], 1);
    for _ in 0..3 {
        let (status, again) = s.post_alertmanager(&payload).await;
        assert_eq!(status, 200);
        assert_eq!(
            (again["new"].as_u64(), again["duplicates"].as_u64()),
            (Some(0), Some(1))
        );
    }
    let draft = s.wait_draft("one draft", |d| d["state"] == "pending").await;
    // A later alert's draft comes after anything the repeats could have caused: once it
    // exists, a second draft or revision from them would be visible too.
    s.post_alertmanager(&am_payload(vec![am_alert(
        "d2", "web", "critical", true, T0,
    )]))
    .await;
    s.wait_draft("the later alert's draft", |d| {
        d["components"]["web"].is_string()
    })
    .await;
    let drafts = s.drafts("").await;
    assert_eq!(drafts.len(), 2, "{drafts:?}");
    assert_eq!(
        s.get(
            &format!("/api/v1/drafts/{}", draft["id"].as_str().unwrap()),
            Some(ADMIN)
        )
        .await
        .1["revision"],
        1
    );
    let audit = s.audit().await;
    let count = |action: &str| audit.iter().filter(|e| e["action"] == action).count();
    assert_eq!(
        (count("ingest"), count("draft_created")),
        (2, 2),
        "the repeats were audited as new: {audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_a_kill_9() {
    let mut s = Server::start(Options {
        group_wait: "1s",
        ..Options::default()
    });
    s.post_alertmanager(&am_payload(vec![am_alert(
        "k1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    // Killed before group_wait: the acknowledged alert must still become a draft.
    s.crash_and_restart();
    let draft = s
        .wait_draft("after kill -9", |d| d["state"] == "pending")
        .await;
    s.restart();
    let same = s
        .wait_draft("after restart", |d| d["state"] == "pending")
        .await;
    assert_eq!(draft["id"], same["id"]);
    let (status, body) = s.approve(same["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    s.restart();
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(
        s.drafts("").await.len(),
        1,
        "no duplicate drafts after restarts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_mapping_file_on_reload_keeps_the_old_catalog() {
    let s = Server::start(Options::default());
    std::fs::write(
        s.mappings_dir().join("20-broken.yaml"),
        "routes:\n  - name: x\n    match: ['service=~\"(\"']\n    components: [api]\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, ready) = s.get("/readyz", None).await;
        if ready["checks"]["catalog"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("20-broken.yaml:3"))
        {
            assert_eq!(
                ready["ready"], true,
                "the old catalog still serves: {ready}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reload error not reported: {ready}\n{}",
            s.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.post_alertmanager(&am_payload(vec![am_alert(
        "m1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    let d = s
        .wait_draft("old catalog maps it", |d| d["state"] == "pending")
        .await;
    assert_eq!(d["components"], json!({"api": "major_outage"}));
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_catalog_reloads_total{outcome=\"failure\"}"),
        "{metrics}"
    );
    // Fixed: the new route takes effect without a restart.
    std::fs::write(
        s.mappings_dir().join("20-broken.yaml"),
        "components:\n  - {id: search, name: Search}\nroutes:\n  - name: search\n    match: ['service=\"search\"']\n    components: [search]\n",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, c) = s.get("/api/v1/components", Some(READER)).await;
        if c["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "search")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fixed file not loaded\n{}",
            s.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(ready["checks"]["catalog"]["reason"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_unknown_paths_answer_as_documented() {
    let s = Server::start(Options::default());
    assert_eq!(s.get("/healthz", None).await.0, 200);
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 200);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["checks"]["storage"]["ok"], true);
    s.post_alertmanager(&am_payload(vec![am_alert(
        "u1",
        "unknown-svc",
        "critical",
        true,
        T0,
    )]))
    .await;
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains(
            "statusgate_webhooks_received_total{source=\"alertmanager\",outcome=\"accepted\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("statusgate_alerts_ingested_total{source=\"alertmanager\"} 1"));
    assert!(metrics.contains("statusgate_store_bytes"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !s
        .text("/metrics")
        .await
        .1
        .contains("statusgate_unmapped_alerts_total{alertname=\"HighErrorRate\"} 1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "unmapped alert not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = s.get("/api/v1/nope", Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, html) = s.text("/nope").await;
    assert_eq!(status, 404);
    assert!(html.contains("<h1>Not found</h1>"));
    let r = s.http.get(format!("{}/", s.url)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let again = s
        .http
        .get(format!("{}/", s.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
    let j = s
        .http
        .get(format!("{}/api/v2/status.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(j.headers()["access-control-allow-origin"], "*");
}

/// `statusgate_alert_to_draft_seconds` observes each alert once, when a draft first shows
/// it: the alert that opens an incident (drafted when its group_wait ends) and a later one
/// added to the pending draft.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_to_draft_latency_is_observed_once_per_alert_that_reaches_a_draft() {
    let s = Server::start(Options::default());
    let observed = || async {
        let (_, metrics) = s.text("/metrics").await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("statusgate_alert_to_draft_seconds_count "))
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    // The draft is visible a moment before the pipeline observes it.
    let settle = |n| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while observed().await != Some(n) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(observed().await, Some(n));
    };
    let alert = |fp| am_payload(vec![am_alert(fp, "api-gateway", "critical", true, T0)]);
    assert_eq!(s.post_alertmanager(&alert("m1")).await.0, 200);
    s.wait_draft("new incident for api", |d| d["state"] == "pending")
        .await;
    settle(1).await;
    assert_eq!(s.post_alertmanager(&alert("m2")).await.0, 200);
    s.wait_draft("both alerts on the draft", |d| {
        d["alerts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    settle(2).await;
    // A repeat reaches no draft again.
    assert_eq!(s.post_alertmanager(&alert("m2")).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(observed().await, Some(2));
}

/// A revision is what approvers read: another alert behind the same text and statuses is
/// listed on the draft without making a new revision (a storm of alerts for one outage
/// must not turn into thousands of revisions, nor invalidate an approval in progress).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_alerts_behind_the_same_text_do_not_make_a_new_revision() {
    let s = Server::start(Options::default());
    s.post_alertmanager(&am_payload(vec![am_alert(
        "same1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    let draft = s.wait_draft("first", |d| d["state"] == "pending").await;
    assert_eq!(draft["revision"], 1);
    for i in 2..=5 {
        s.post_alertmanager(&am_payload(vec![am_alert(
            &format!("same{i}"),
            "api-core",
            "critical",
            true,
            T0,
        )]))
        .await;
    }
    let draft = s
        .wait_draft("five alerts", |d| {
            d["alerts"].as_array().is_some_and(|a| a.len() == 5)
        })
        .await;
    assert_eq!(draft["revision"], 1, "{draft}");
    assert_eq!(draft["alert_count"], 5, "{draft}");
    // A list can leave the alerts out and still say how many there are.
    for (cap, shown) in [(0, 0), (2, 2), (9, 5)] {
        let (status, body) = s
            .get(&format!("/api/v1/drafts?alerts={cap}"), Some(ADMIN))
            .await;
        assert_eq!(status, 200, "{body}");
        let listed = &body["drafts"][0];
        assert_eq!(listed["id"], draft["id"], "{body}");
        assert_eq!(
            listed["alerts"].as_array().map(Vec::len),
            Some(shown),
            "{body}"
        );
        assert_eq!(listed["alert_count"], 5, "{body}");
    }
    let (status, body) = s.get("/api/v1/drafts?alerts=-1", Some(ADMIN)).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = s.approve(draft["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    // A change customers would read is a new revision of the one pending draft.
    s.post_alertmanager(&am_payload(vec![am_alert(
        "pay1", "payments", "warning", true, T0,
    )]))
    .await;
    let pending = s
        .wait_draft("payments draft", |d| {
            d["state"] == "pending" && d["components"]["payments"].is_string()
        })
        .await;
    assert_eq!(pending["revision"], 1, "{pending}");
    assert_eq!(pending["components"], json!({"payments": "partial_outage"}));
    s.post_alertmanager(&am_payload(vec![am_alert(
        "pay2", "payments", "critical", true, T0,
    )]))
    .await;
    let worse = s
        .wait_draft("payments made worse", |d| {
            d["components"]["payments"] == "major_outage"
        })
        .await;
    assert_eq!(worse["id"], pending["id"], "{worse}");
    assert_eq!(worse["revision"], 2, "{worse}");
    assert_eq!(s.drafts("pending").await.len(), 1);
}

/// `draft_expiry` counts from a draft's last change: an edit by hand gives the responder
/// the whole expiry again, and a draft nobody touches expires on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_draft_expires_counted_from_its_last_edit() {
    use std::time::{Duration, Instant};
    let s = Server::start(Options {
        extra_config: "  draft_expiry: 8s\n".into(),
        ..Options::default()
    });
    s.post_alertmanager(&am_payload(vec![am_alert(
        "exp1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    let draft = s.wait_draft("pending", |d| d["state"] == "pending").await;
    // The draft was created no later than now.
    let seen = Instant::now();
    let id = draft["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"body": "We are looking into errors on the public API."})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    // More than 8 s after the draft was created, less than 8 s after the edit.
    tokio::time::sleep((seen + Duration::from_secs(10)).saturating_duration_since(Instant::now()))
        .await;
    assert!(
        seen.elapsed() < Duration::from_millis(11500),
        "the test itself ran late"
    );
    s.draft_in_state(&id, "pending").await;
    let expired = s.wait_draft_state(&id, "expired").await;
    assert!(
        expired["reason"].as_str().unwrap_or("").contains("expired"),
        "{expired}"
    );
    assert!(
        seen.elapsed() >= Duration::from_millis(11900),
        "expired {:?} after it was seen, before 8 s had passed since the edit",
        seen.elapsed()
    );
    let audit = s.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "draft_expired" && e["draft_id"] == id.as_str()),
        "{audit:?}"
    );
}
