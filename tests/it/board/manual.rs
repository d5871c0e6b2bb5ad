//! Incidents no alert reported, and resolutions no alert will bring: drafted by a person
//! over the API or on the board, approved like any draft, and in the audit log.

use serde_json::{json, Value};

use super::*;

async fn approve(s: &Server, d: &Value) -> Value {
    let (status, body) = s
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_incident_has_no_alerts_and_reaches_the_page_only_once_approved() {
    let s = Server::start(Options::default());
    let declare = |token, body: Value| s.send("POST", "/api/v1/incidents", Some(token), Some(body));
    let (status, _) = declare(
        READER,
        json!({"body": "x", "components": {"api": "major_outage"}}),
    )
    .await;
    assert_eq!(status, 403);
    for (bad, why) in [
        (
            json!({"body": "x", "components": {"database": "major_outage"}}),
            "internal",
        ),
        (
            json!({"body": "x", "components": {"nope": "major_outage"}}),
            "unknown component",
        ),
        (json!({"body": "x"}), "title"),
        (
            json!({"body": "x", "components": {"api": "major_outage"}, "incident_status": "resolved"}),
            "open",
        ),
        (
            json!({"body": "x", "components": {"api": "major_outage"}, "titel": "typo"}),
            "titel",
        ),
    ] {
        let (status, body) = declare(ADMIN, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap_or("").contains(why),
            "{bad}: {body}"
        );
    }
    let (status, d) = declare(
        ADMIN,
        json!({"body": "Card payments fail at our payment provider; see ops@example.com.",
               "components": {"payments": "major_outage"}}),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["kind"], "new_incident");
    assert_eq!(d["state"], "pending");
    assert_eq!(d["alerts"], json!([]));
    assert_eq!(d["title"], "Major outage: Payments");
    assert_eq!(d["impact"], "critical");
    assert_eq!(d["incident_status"], "investigating");
    assert!(
        !d["body"].as_str().unwrap().contains("ops@example.com"),
        "redacted: {d}"
    );
    let id = d["id"].as_str().unwrap();
    let audit = s.audit().await;
    let created = audit
        .iter()
        .find(|e| e["action"] == "draft_created" && e["draft_id"] == id)
        .unwrap_or_else(|| panic!("no draft_created for {id}: {audit:?}"));
    assert_eq!(created["actor"], "admin");
    assert_eq!(created["detail"]["manual"], true);
    // The draft is in the store and audited: the page still knows nothing of it.
    let (_, page) = s.text("/").await;
    assert!(!page.contains("Major outage: Payments"), "{page}");

    let approved = approve(&s, &d).await;
    let incident = approved["incident"]["id"].as_str().unwrap().to_string();
    let (_, page) = s.text("/").await;
    assert!(page.contains("Major outage: Payments"), "{page}");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(
        summary["incidents"][0]["name"], "Major outage: Payments",
        "{summary}"
    );
    let audit = s.audit().await;
    for action in ["approve", "publish"] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"] == action && e["draft_id"] == id),
            "no {action} for {id}: {audit:?}"
        );
    }

    // No alert will resolve it: a person drafts the resolution, and it waits for approval.
    let path = format!("/api/v1/incidents/{incident}/drafts");
    let (status, r) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"incident_status": "resolved"})),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["kind"], "resolution");
    assert_eq!(r["components"], json!({"payments": "operational"}));
    assert!(r["body"].as_str().unwrap().contains("resolved"), "{r}");
    let (_, unresolved) = s.get("/api/v2/incidents/unresolved.json", None).await;
    assert_eq!(
        unresolved["incidents"].as_array().unwrap().len(),
        1,
        "not before approval"
    );
    approve(&s, &r).await;
    let (_, unresolved) = s.get("/api/v2/incidents/unresolved.json", None).await;
    assert_eq!(unresolved["incidents"], json!([]), "{unresolved}");
    let (_, components) = s.get("/api/v2/components.json", None).await;
    let payments = components["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Payments")
        .cloned()
        .unwrap();
    assert_eq!(payments["status"], "operational", "{components}");
}

const INTERNAL_CATALOG: &str = r#"
components:
  - {id: api, name: Public API}
  - {id: database, name: Primary database, public: false}
routes:
  - name: db
    match: ['service="postgres"']
    components: [database]
    status: {critical: major_outage}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_declares_incidents_drafts_resolutions_and_shows_internal_only_ones() {
    let s = Server::start(Options {
        catalog: INTERNAL_CATALOG.into(),
        ..Options::default()
    });
    let b = Board::new(&s);
    let (cookie, _) = b.sign_in(ADMIN).await;
    let (html, csrf) = b.board(As::Cookie(&cookie)).await;
    assert!(html.contains("Declare incident"), "{html}");

    // An internal-only incident: on the board, never drafted.
    let (status, _) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "db1",
            "postgres",
            "critical",
            true,
            "2026-11-30T12:00:00Z",
        )]))
        .await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (html, _) = b.board(As::Cookie(&cookie)).await;
        if html.contains("Internal only") {
            assert!(html.contains("Primary database: Major outage"), "{html}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no internal-only incident:\n{html}\n{}",
            s.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let a = b
        .post(
            "/internal/incidents",
            As::Cookie(&cookie),
            &[
                ("csrf", &csrf),
                ("component", "api"),
                ("status", "partial_outage"),
                ("title", "Login provider outage"),
                ("body", "Sign-in through our provider fails."),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let back = a.location().to_string();
    let id = a
        .location()
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let d = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(
        (d["kind"].as_str(), d["state"].as_str()),
        (Some("new_incident"), Some("pending")),
        "{d}"
    );
    assert_eq!(d["alerts"], json!([]));
    assert_eq!(d["components"], json!({"api": "partial_outage"}));
    assert_eq!(d["title"], "Login provider outage");
    // The redirect lands on the new draft, saying what happened.
    let page = b.get(&back, As::Cookie(&cookie)).await;
    assert!(
        page.body.contains("Drafted ") && page.body.contains("declared by hand"),
        "{}",
        page.body
    );
    let approved = approve(&s, &d).await;
    let incident = approved["incident"]["id"].as_str().unwrap().to_string();

    let (html, csrf) = b.board(As::Cookie(&cookie)).await;
    let resolve = format!("/internal/incidents/{incident}/resolve");
    assert!(html.contains(&resolve), "{html}");
    let a = b
        .post(
            &resolve,
            As::Cookie(&cookie),
            &[("csrf", &csrf), ("body", "The provider fixed it.")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let r = s
        .wait_draft("the resolution", |d| {
            d["kind"] == "resolution" && d["state"] == "pending"
        })
        .await;
    assert_eq!(r["incident_id"], incident.as_str());
    assert_eq!(r["body"], "The provider fixed it.");
    assert_eq!(r["components"], json!({"api": "operational"}));
    assert_eq!(r["history"][0]["actor"], "admin");
}
