//! Approved drafts reach Atlassian Statuspage exactly once: created, updated, resolved;
//! repeats send nothing; hand edits are not overwritten; outages, lost answers and a
//! `kill -9` duplicate nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fake_http::eventually;
use crate::fake_statuspage::{publisher_config, FakeStatuspage, Fault, Running, KEY};
use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

pub struct Setup {
    pub s: Server,
    pub sp: Running,
    _keys: tempfile::TempDir,
}

pub async fn setup(give_up_after: &str) -> Setup {
    setup_with(give_up_after, "1s").await
}

/// `setup` with another longest backoff (which also bounds a `Retry-After`).
pub async fn setup_with(give_up_after: &str, backoff_max: &str) -> Setup {
    let sp = FakeStatuspage::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("statuspage.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: {backoff_max}}}\n  give_up_after: {give_up_after}\npublishers:\n{}",
            publisher_config(&sp.server.url, &key_file)
        ),
        ..Options::default()
    });
    Setup { s, sp, _keys: keys }
}

/// Posts API alerts: (fingerprint, severity, firing).
pub async fn fire(s: &Server, alerts: &[(&str, &str, bool)]) {
    let alerts = alerts
        .iter()
        .map(|(fp, severity, firing)| am_alert(fp, "api-gateway", severity, *firing, T0))
        .collect();
    let (status, body) = s.post_alertmanager(&am_payload(alerts)).await;
    assert_eq!(status, 200, "{body}");
}

/// The first alert cleared while a warning for the same component fires: the API goes from
/// a major outage to degraded performance.
pub const DEGRADE: &[(&str, &str, bool)] = &[("f1", "critical", false), ("f2", "warning", true)];

/// Waits for the pending draft of `kind` and approves it as it is.
pub async fn approve_next(s: &Server, kind: &str) -> Value {
    let d = s
        .wait_draft(kind, |d| d["kind"] == kind && d["state"] == "pending")
        .await;
    let (status, body) = s
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
    body["draft"].clone()
}

/// Waits until every delivery of the draft is finished (or waits for an admin).
pub async fn settled(s: &Server, draft_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = s
            .get(
                &format!("/api/v1/drafts/{draft_id}/deliveries"),
                Some(READER),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let list = body["deliveries"].as_array().cloned().unwrap_or_default();
        if !list.is_empty() && list.iter().all(|d| d["state"] != "pending") {
            return body;
        }
        if Instant::now() > deadline {
            panic!(
                "deliveries of {draft_id} did not settle: {body:#}\n{}",
                s.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn draft(s: &Server, id: &str) -> Value {
    let (status, d) = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");
    d
}

#[tokio::test]
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

#[tokio::test]
async fn a_hand_edit_on_statuspage_is_a_conflict_until_an_admin_chooses() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    settled(&s, created["id"].as_str().unwrap()).await;

    // Someone renames the incident in Statuspage's own UI.
    fake.with(|st| st.incidents[0]["name"] = json!("Hand-written name"));
    fire(&s, DEGRADE).await;
    let d = s
        .wait_draft("update", |d| {
            d["kind"] == "update" && d["state"] == "pending"
        })
        .await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"title": "API slower than usual"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, _) = s.approve(&id, edited["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200);
    settled(&s, &id).await;
    let d = draft(&s, &id).await;
    assert_eq!(d["state"], "conflict", "{d}");
    assert_eq!(
        d["conflict"],
        json!({"target": "hosted", "field": "name", "ours": "API slower than usual", "theirs": "Hand-written name"})
    );
    assert!(fake.calls("PATCH").is_empty(), "wrote over a hand edit");
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");

    // Only admins choose, and only between the two choices.
    let path = format!("/api/v1/drafts/{id}/resolve-conflict");
    let (status, _) = s
        .send(
            "POST",
            &path,
            Some(READER),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"choice": "mine"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].is_string());

    // Theirs: the hand-written name stays; the rest of the update goes out.
    let (status, body) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&s, &id).await;
    let d = draft(&s, &id).await;
    assert_eq!(d["state"], "published", "{d}");
    assert_eq!(d["conflict"], Value::Null);
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].1["incident"].get("name").is_none());
    assert_eq!(
        patches[0].1["incident"]["components"],
        json!({"cmp_api": "degraded_performance"})
    );
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");
    let (status, _) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 409, "no conflict left to resolve");

    // Another hand edit, this time of a component; the admin overwrites it.
    fake.with(|st| st.components[0]["status"] = json!("operational"));
    fire(&s, &[("f3", "critical", true)]).await;
    let next = approve_next(&s, "update").await;
    let next_id = next["id"].as_str().unwrap().to_string();
    settled(&s, &next_id).await;
    let d = draft(&s, &next_id).await;
    assert_eq!(d["state"], "conflict", "{d}");
    assert_eq!(d["conflict"]["field"], "components.cmp_api");
    assert_eq!(d["conflict"]["ours"], "major_outage");
    assert_eq!(d["conflict"]["theirs"], "operational");
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{next_id}/resolve-conflict"),
            Some(ADMIN),
            Some(json!({"choice": "overwrite"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&s, &next_id).await;
    assert_eq!(draft(&s, &next_id).await["state"], "published");
    assert_eq!(
        fake.with(|st| st.components[0]["status"].clone()),
        "major_outage"
    );
    let actions: Vec<Value> = s
        .audit()
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert!(actions.contains(&json!("publish_conflict")), "{actions:?}");
    assert!(actions.contains(&json!("conflict_resolved")), "{actions:?}");
}

#[tokio::test]
async fn statuspage_down_for_a_while_then_back_gets_everything_once_in_order() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.with(|st| st.down = Some(503));

    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let created_id = created["id"].as_str().unwrap().to_string();
    // Retried while down, and said so.
    let body = eventually("retries while down", 20, || {
        let n = fake.with(|st| st.calls.len());
        (n >= 3).then_some(n)
    })
    .await;
    assert!(body >= 3);
    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(
        ready["ready"], true,
        "a dead target made statusgate unready: {ready}"
    );
    let hosted = &ready["checks"]["targets"]["targets"]["hosted"];
    assert!(
        hosted["consecutive_failures"].as_u64().unwrap() >= 1,
        "{ready}"
    );
    assert!(
        hosted["last_error"].as_str().unwrap().contains("503"),
        "{ready}"
    );
    let (_, deliveries) = s
        .get(
            &format!("/api/v1/drafts/{created_id}/deliveries"),
            Some(READER),
        )
        .await;
    let first = &deliveries["deliveries"][0];
    assert_eq!(first["state"], "pending");
    assert!(first["attempts"].as_u64().unwrap() >= 1, "{deliveries}");
    assert!(first["last_error"].as_str().unwrap().contains("503"));

    // Back, after a last "slow down" with Retry-After.
    fake.with(|st| {
        st.down = None;
        st.calls.clear();
    });
    fake.fault("*", Fault::Status(429, Some(1)));
    let limited_at = eventually("the 429", 20, || {
        fake.with(|st| (!st.calls.is_empty()).then(Instant::now))
    })
    .await;
    settled(&s, &created_id).await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let incidents = fake.incidents();
    assert_eq!(incidents.len(), 1, "duplicated: {incidents:?}");
    // The 429 held everything for the second it asked for.
    let next = fake.with(|st| st.post_times.last().copied()).unwrap();
    assert!(
        next - limited_at >= Duration::from_millis(900),
        "{:?}",
        next - limited_at
    );
    // The queued update was folded into the create: the page shows the latest state.
    let posts = fake.calls("POST");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0].1["incident"]["components"],
        json!({"cmp_api": "degraded_performance"})
    );
    let d = draft(&s, &created_id).await;
    assert_eq!(d["state"], "published");
    let (_, deliveries) = s
        .get(
            &format!("/api/v1/drafts/{created_id}/deliveries"),
            Some(READER),
        )
        .await;
    assert_eq!(
        deliveries["deliveries"][0]["state"], "coalesced",
        "{deliveries}"
    );

    // In order afterwards: the resolution comes after, and only once.
    fire(&s, &[("f2", "warning", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    assert_eq!(fake.incidents()[0]["status"], "resolved");
    assert_eq!(fake.calls("POST").len(), 1);
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_publish_attempts_total{target=\"hosted\",outcome=\"retry\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_429_retry_after_is_honoured() {
    // Retry-After is honoured up to the longest backoff.
    let Setup { s, sp, _keys } = setup_with("1h", "5s").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::Status(429, Some(2)));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    settled(&s, created["id"].as_str().unwrap()).await;
    let times: Vec<Instant> = sp_times(&sp);
    assert_eq!(times.len(), 2, "one refused create, one accepted");
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, asked for 2s"
    );
    assert_eq!(fake.incidents().len(), 1);
}

fn sp_times(sp: &Running) -> Vec<Instant> {
    sp.fake.with(|st| st.post_times.clone())
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_and_not_made_twice() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::ApplyThenDrop);
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    let log = body["deliveries"][0]["log"].as_array().unwrap().clone();
    assert!(log.len() >= 2, "{body}");
    assert!(
        fake.calls("GET")
            .iter()
            .any(|(p, _)| p.ends_with("/incidents/unresolved")),
        "did not look for the incident first"
    );
    // Later updates go to the incident the lost create made.
    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let id = fake.incidents()[0]["id"].as_str().unwrap().to_string();
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].0, format!("/pages/pg1/incidents/{id}"));
}

#[tokio::test]
async fn killed_mid_delivery_and_restarted_still_delivers_exactly_once() {
    let Setup { mut s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::ApplyThenLate(Duration::from_secs(30)));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    eventually("the create to reach Statuspage", 20, || {
        (!fake.incidents().is_empty()).then_some(())
    })
    .await;
    // Statuspage has made the incident; statusgate has not seen the answer. kill -9.
    s.crash_and_restart();
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    assert!(
        ["delivered", "unchanged"].contains(&body["deliveries"][0]["state"].as_str().unwrap()),
        "{body}"
    );
    fire(&s, &[("f1", "critical", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    assert_eq!(fake.incidents().len(), 1);
    assert_eq!(fake.incidents()[0]["status"], "resolved");
    assert_eq!(fake.calls("POST").len(), 1);
}

#[tokio::test]
async fn a_delivery_that_gives_up_fails_the_draft_until_an_admin_retries() {
    let Setup { s, sp, _keys } = setup("1s").await;
    let fake = &sp.fake;
    fake.with(|st| st.down = Some(500));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let id = created["id"].as_str().unwrap().to_string();
    let d = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let d = draft(&s, &id).await;
            if d["state"] == "failed" {
                break d;
            }
            assert!(Instant::now() < deadline, "never failed: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let reason = d["reason"].as_str().unwrap();
    assert!(reason.starts_with("hosted: gave up after"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    let (status, _) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(status, 403);
    fake.with(|st| st.down = None);
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "published");
    settled(&s, &id).await;
    assert_eq!(fake.incidents().len(), 1);
    let (status, _) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 409, "nothing left to retry");
}

#[tokio::test]
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
            std::process::Command::new(binary())
                .args(["check", "--remote", "--config"])
                .arg(&config)
                .env_remove("STATUSGATE_CONFIG")
                .output()
                .unwrap()
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
