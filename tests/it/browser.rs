//! The status page in a real browser: headless Chromium (Debian's package) driven by
//! Playwright loads it with an active incident and a maintenance in progress, at a phone
//! and a desktop width. Skips where Chromium or the node modules are missing, unless
//! `STATUSGATE_REQUIRE_E2E=1`.

use std::process::Command;

use chrono::{SecondsFormat, Utc};
use serde_json::json;

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

pub(crate) fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !repo_path("tests/browser/node_modules/playwright-core").exists() {
        return Some(
            "tests/browser/node_modules is missing (npm ci --prefix tests/browser)".into(),
        );
    }
    if output_within(
        Command::new("node").arg("--version"),
        std::time::Duration::from_secs(30),
    )
    .is_err()
    {
        return Some("node is missing".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reads_right_in_a_real_browser_at_phone_and_desktop_widths() {
    if let Some(why) = missing_tools() {
        skip_or_fail("the real-browser test", &why);
        return;
    }
    let s = Server::start(Options {
        extra_config: "page:\n  name: Acme Status\n  links: [{title: Support, url: https://example.com/support}]\n".into(),
        ..Options::default()
    });
    s.post_alertmanager(&am_payload(vec![am_alert(
        "f1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .await;
    let draft = s.wait_draft("api draft", |d| d["state"] == "pending").await;
    let (status, body) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let title = draft["title"].as_str().unwrap().to_string();
    let now = Utc::now();
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/maintenances",
            Some(ADMIN),
            Some(json!({
                "title": "Payments database upgrade",
                "body": "Card payments may take a few seconds longer.",
                "components": ["payments"],
                "scheduled_for": (now - chrono::Duration::minutes(5)).to_rfc3339_opts(SecondsFormat::Secs, true),
                "scheduled_until": (now + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true),
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let out = output_within(
        Command::new("node")
            .arg(repo_path("tests/browser/page.mjs"))
            .arg(format!("{}/", s.url))
            .args([
                title.as_str(),
                "Payments database upgrade",
                "Maintenance in progress",
                "Major outage",
                "Public API",
                "Under maintenance",
            ])
            .env(
                "STATUSGATE_SCREENSHOTS",
                repo_path("target/browser-screenshots"),
            ),
        std::time::Duration::from_secs(180),
    )
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
    assert!(repo_path("target/browser-screenshots/status-phone.png").exists());
    assert!(repo_path("target/browser-screenshots/status-desktop.png").exists());
}
