//! Scheduled maintenance over HTTP: the admin API, the clock moving windows, component
//! statuses during a window, and alerts suppressed by it.

use serde_json::json;

use crate::harness::*;
use crate::page::{create_maintenance, open_incident, ts, T0};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_moves_by_the_clock_on_the_page_in_json_in_the_feed_and_in_the_audit_log() {
    // The checks made before the window opens, and those made while it is open, each take
    // a few requests: windows of 5 s and 10 s leave a loaded machine several times that.
    let s = Server::start(Options::default());
    let m = create_maintenance(
        &s,
        json!({"title": "Payments database upgrade", "body": "Payments may be slow.", "components": ["payments"],
               "scheduled_for": ts(chrono::Duration::seconds(5)), "scheduled_until": ts(chrono::Duration::seconds(15))}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(m["status"], "scheduled");
    let (_, upcoming) = s
        .get("/api/v2/scheduled-maintenances/upcoming.json", None)
        .await;
    assert_eq!(upcoming["scheduled_maintenances"][0]["id"], id.as_str());
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(
        summary["status"]["indicator"], "none",
        "upcoming is not in progress"
    );
    let (_, html) = s.text("/").await;
    assert!(html.contains("Scheduled maintenance") && html.contains("Payments database upgrade"));
    let etag_before = s
        .http
        .get(format!("{}/", s.url))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();

    wait_until("in progress", Duration::from_secs(15), async || {
        let (_, a) = s
            .get("/api/v2/scheduled-maintenances/active.json", None)
            .await;
        a["scheduled_maintenances"][0]["status"] == "in_progress"
    })
    .await;
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["status"]["indicator"], "maintenance");
    let payments = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "payments")
        .unwrap()
        .clone();
    assert_eq!(payments["status"], "under_maintenance");
    let (_, html) = s.text("/").await;
    assert!(html.contains("Maintenance in progress"), "{html}");
    assert!(html.contains("Scheduled maintenance in progress"));
    let etag_during = s
        .http
        .get(format!("{}/", s.url))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    assert_ne!(
        etag_before, etag_during,
        "the clock moved the page without any request changing it"
    );

    wait_until("completed", Duration::from_secs(15), async || {
        let (_, m) = s
            .get(&format!("/api/v1/maintenances/{id}"), Some(ADMIN))
            .await;
        m["status"] == "completed"
    })
    .await;
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["status"]["indicator"], "none");
    assert!(summary["scheduled_maintenances"]
        .as_array()
        .unwrap()
        .is_empty());
    let (_, all) = s.get("/api/v2/scheduled-maintenances.json", None).await;
    let done = &all["scheduled_maintenances"][0];
    assert_eq!(done["status"], "completed");
    assert!(done["resolved_at"].is_string());
    let statuses: Vec<&str> = done["incident_updates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["completed", "in_progress", "scheduled"],
        "newest first"
    );
    let (_, atom) = s.text("/history.atom").await;
    assert_eq!(atom.matches("<entry>").count(), 3);
    let (_, uptime) = s.get("/api/v2/uptime.json", None).await;
    let payments = uptime["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "payments")
        .unwrap()
        .clone();
    let today = payments["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["status"], "under_maintenance", "{today}");
    assert_eq!(
        today["uptime_percent"], 100.0,
        "maintenance is not downtime by default"
    );

    let actions: Vec<String> = s
        .audit()
        .await
        .iter()
        .filter(|e| e["detail"]["maintenance_id"] == id.as_str())
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "maintenance_created",
        "maintenance_started",
        "maintenance_completed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_during_maintenance_shows_the_worse_status_and_maintenance_returns_after_it() {
    let s = Server::start(Options::default());
    let incident = open_incident(&s, "f1", "api-gateway").await;
    create_maintenance(
        &s,
        json!({"title": "API work", "components": ["api"], "scheduled_for": ts(chrono::Duration::seconds(-1)),
               "scheduled_until": ts(chrono::Duration::hours(1))}),
    )
    .await;
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    let api = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "api")
        .unwrap()
        .clone();
    assert_eq!(
        api["status"], "major_outage",
        "the incident is worse than maintenance"
    );
    assert_eq!(summary["status"]["indicator"], "critical");
    s.post_alertmanager(&am_payload(vec![am_alert(
        "f1",
        "api-gateway",
        "critical",
        false,
        T0,
    )]))
    .await;
    let draft = s
        .wait_draft("resolution", |d| {
            d["kind"] == "resolution" && d["state"] == "pending"
        })
        .await;
    let (status, body) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incident"]["id"], incident.as_str());
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    let api = summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "api")
        .unwrap()
        .clone();
    assert_eq!(api["status"], "under_maintenance");
    assert_eq!(summary["status"]["indicator"], "maintenance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_in_a_maintenance_window_are_suppressed_and_drafted_if_still_firing_after_it() {
    let s = Server::start(Options::default());
    let m = create_maintenance(
        &s,
        json!({"title": "API work", "components": ["api"], "scheduled_for": ts(chrono::Duration::seconds(-1)),
               "scheduled_until": ts(chrono::Duration::minutes(10))}),
    )
    .await;
    assert_eq!(
        m["status"], "in_progress",
        "a window that has begun starts at once"
    );
    let (status, _) = s
        .post_alertmanager(&am_payload(vec![
            am_alert("s1", "api-gateway", "critical", true, T0),
            am_alert("w1", "web", "critical", true, T0),
        ]))
        .await;
    assert_eq!(status, 200);
    // The web alert is outside the window and is drafted as usual; the API one is not.
    let web = s
        .wait_draft("web draft", |d| d["components"].get("web").is_some())
        .await;
    assert!(web["components"].get("api").is_none(), "{web}");
    wait_until(
        "suppression recorded",
        Duration::from_secs(15),
        async || {
            let (_, body) = s.get("/api/v1/suppressed", Some(READER)).await;
            body["suppressed"].as_array().is_some_and(|a| !a.is_empty())
        },
    )
    .await;
    let (_, body) = s.get("/api/v1/suppressed", Some(READER)).await;
    let held = &body["suppressed"][0];
    assert_eq!(held["key"], "am:s1");
    assert_eq!(held["components"], json!({"api": "major_outage"}));
    assert_eq!(held["maintenances"], json!([m["id"]]));
    assert_eq!(held["firing"], true);
    assert!(held["released_at"].is_null());
    // A later alert's draft is made after the suppressed one would have been.
    s.post_alertmanager(&am_payload(vec![am_alert(
        "p1", "payments", "critical", true, T0,
    )]))
    .await;
    s.wait_draft("later payments draft", |d| {
        d["components"].get("payments").is_some()
    })
    .await;
    assert!(
        !s.drafts("")
            .await
            .iter()
            .any(|d| d["components"].get("api").is_some()),
        "no draft for a component in maintenance"
    );
    assert!(s
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "alert_suppressed"));

    // The test closes the window itself rather than racing a short one against a slow
    // machine.
    let (status, body) = s
        .send(
            "PATCH",
            &format!("/api/v1/maintenances/{}", m["id"].as_str().unwrap()),
            Some(ADMIN),
            Some(json!({"status": "completed"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Still firing when the window closes: grouped as new, drafted after group_wait.
    let after = s
        .wait_draft("api draft after the window", |d| {
            d["components"].get("api").is_some()
        })
        .await;
    assert_eq!(after["components"]["api"], "major_outage");
    let (_, body) = s.get("/api/v1/suppressed", Some(READER)).await;
    assert!(body["suppressed"][0]["released_at"].is_string(), "{body}");
    assert!(s
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "alert_released"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_api_checks_roles_input_and_state() {
    let s = Server::start(Options::default());
    let good = json!({"title": "Work", "components": ["api"], "scheduled_for": ts(chrono::Duration::hours(1)),
                      "scheduled_until": ts(chrono::Duration::hours(2))});
    let (status, _) = s
        .send("POST", "/api/v1/maintenances", None, Some(good.clone()))
        .await;
    assert_eq!(status, 401);
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/maintenances",
            Some(READER),
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, list) = s.get("/api/v1/maintenances", Some(READER)).await;
    assert_eq!(
        (status, list["maintenances"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    let r = s
        .http
        .post(format!("{}/api/v1/maintenances", s.url))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for (bad, says) in [
        (
            json!({"title": "x", "scheduled_for": ts(chrono::Duration::hours(1)), "scheduled_until": ts(chrono::Duration::hours(2)), "components": ["api"], "colour": "red"}),
            "colour",
        ),
        (
            json!({"title": "x", "scheduled_for": "tomorrow", "scheduled_until": ts(chrono::Duration::hours(2))}),
            "wrong shape",
        ),
        (
            json!({"title": "x", "scheduled_for": ts(chrono::Duration::hours(1)), "scheduled_until": ts(chrono::Duration::hours(2)), "components": ["nope"]}),
            "unknown component `nope`",
        ),
        (
            json!({"title": "x", "scheduled_for": ts(chrono::Duration::hours(2)), "scheduled_until": ts(chrono::Duration::hours(1))}),
            "after scheduled_for",
        ),
        (
            json!({"title": "x", "scheduled_for": ts(chrono::Duration::hours(-2)), "scheduled_until": ts(chrono::Duration::hours(-1))}),
            "in the past",
        ),
        (
            json!({"title": "  ", "scheduled_for": ts(chrono::Duration::hours(1)), "scheduled_until": ts(chrono::Duration::hours(2))}),
            "title must not be empty",
        ),
    ] {
        let (status, body) = s
            .send("POST", "/api/v1/maintenances", Some(ADMIN), Some(bad))
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{body}");
    }
    let (_, list) = s.get("/api/v1/maintenances", Some(READER)).await;
    assert!(
        list["maintenances"].as_array().unwrap().is_empty(),
        "nothing half-made"
    );

    let m = create_maintenance(&s, good).await;
    let id = m["id"].as_str().unwrap();
    let path = format!("/api/v1/maintenances/{id}");
    let (status, patched) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"title": "Network work", "body": "Now with more detail."})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "Network work");
    assert_eq!(patched["updates"].as_array().unwrap().len(), 2);
    let (status, _) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"status": "verifying"})),
        )
        .await;
    assert_eq!(status, 422, "scheduled cannot jump to verifying");
    let (status, body) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"status": "in_progress"})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("in_progress")),
        "{body}"
    );
    let (status, body) = s.send("DELETE", &path, Some(ADMIN), None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = s
        .send(
            "PATCH",
            &path,
            Some(ADMIN),
            Some(json!({"status": "completed"})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("completed")),
        "{body}"
    );
    let (status, _) = s
        .send("PATCH", &path, Some(ADMIN), Some(json!({"title": "again"})))
        .await;
    assert_eq!(status, 409);

    let other = create_maintenance(
        &s,
        json!({"title": "Cancelled", "scheduled_for": ts(chrono::Duration::hours(3)), "scheduled_until": ts(chrono::Duration::hours(4))}),
    )
    .await;
    let (status, _) = s
        .send(
            "DELETE",
            &format!("/api/v1/maintenances/{}", other["id"].as_str().unwrap()),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = s.get("/api/v1/maintenances", Some(READER)).await;
    assert_eq!(list["maintenances"].as_array().unwrap().len(), 1);
    let actions: Vec<String> = s
        .audit()
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "maintenance_created",
        "maintenance_updated",
        "maintenance_started",
        "maintenance_completed",
        "maintenance_deleted",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}
