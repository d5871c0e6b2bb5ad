//! The board in a real browser: headless Chromium (Debian's package) driven by Playwright
//! (`tests/browser/board.mjs`). Skips where Chromium or the node modules are missing,
//! unless `STATUSGATE_REQUIRE_E2E=1`. With `STATUSGATE_UPDATE_DOCS=1` the screenshots it
//! takes replace docs/board-desktop.png and docs/board-phone.png.

use std::process::Command;
use std::time::Duration;

use crate::browser::missing_tools;
use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

/// The test catalog, with a route to the internal database for an internal-only incident.
fn catalog() -> String {
    format!(
        "{CATALOG}  - name: db\n    match: ['service=\"postgres\"']\n    components: [database]\n    status: {{critical: major_outage}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responders_sign_in_edit_approve_and_sign_out_in_a_real_browser() {
    if let Some(why) = missing_tools() {
        skip_or_fail("the board's real-browser test", &why);
        return;
    }
    let s = Server::start(Options {
        catalog: catalog(),
        extra_config: "page:\n  name: Acme Status\n".into(),
        ..Options::default()
    });
    // An open incident, an internal-only one, and a draft waiting for approval.
    let fire = |fp: &'static str, service: &'static str| {
        let payload = am_payload(vec![am_alert(fp, service, "critical", true, T0)]);
        let s = &s;
        async move { s.post_alertmanager(&payload).await }
    };
    assert_eq!(fire("w1", "web").await.0, 200);
    let web = s.wait_draft("web", |d| d["state"] == "pending").await;
    let (status, body) = s.approve(web["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fire("db1", "postgres").await.0, 200);
    assert_eq!(fire("a1", "api-gateway").await.0, 200);
    let api = s
        .wait_draft("api", |d| {
            d["state"] == "pending" && d["components"].get("api").is_some()
        })
        .await;
    let id = api["id"].as_str().unwrap().to_string();

    let shots = repo_path("target/browser-screenshots");
    let out = output_within(
        Command::new("node")
            .arg(repo_path("tests/browser/board.mjs"))
            .args([
                s.url.as_str(),
                ADMIN,
                READER,
                id.as_str(),
                "api-7.internal:9100",
            ])
            .env("STATUSGATE_SCREENSHOTS", &shots),
        Duration::from_secs(180),
    )
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "board checks failed:\n{stdout}\n{stderr}\n{}",
        s.log()
    );

    // What the browser did is what the server recorded.
    let d = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(d["state"], "published", "{d}");
    assert_eq!(d["revision"], 3);
    assert_eq!(d["title"], "Payment API errors");
    let audit = s.audit().await;
    let approvals: Vec<_> = audit
        .iter()
        .filter(|e| e["action"] == "approve" && e["draft_id"] == id.as_str())
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["revision"], 3);
    assert!(
        !audit.iter().any(|e| e["action"] == "reject"),
        "the forged reject went through"
    );

    for name in ["board-desktop.png", "board-phone.png"] {
        let shot = shots.join(name);
        assert!(shot.exists(), "{name} was not written");
        if std::env::var("STATUSGATE_UPDATE_DOCS").as_deref() == Ok("1") {
            std::fs::copy(&shot, repo_path("docs").join(name)).unwrap();
        }
    }
}
