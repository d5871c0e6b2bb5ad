//! An audience page in a real browser (headless Chromium, as `browser.rs`): its link opens
//! it, groups fold and unfold without JavaScript, links keep the key. The screenshots go to
//! target/browser-screenshots; with `STATUSGATE_DOCS_SCREENSHOTS=1` also to docs/, where
//! the README shows them.

use std::process::Command;

use super::setup::*;
use crate::browser::missing_tools;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_page_reads_right_in_a_real_browser_at_phone_and_desktop_widths() {
    if let Some(why) = missing_tools() {
        skip_or_fail("the audience page browser test", &why);
        return;
    }
    let (_tokens, audiences) = audience_config();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: format!("{audiences}page:\n  name: Example Status\n"),
        ..Options::default()
    });
    fire(&s, "f-acme", "acme", "critical").await;
    let draft = approve_for(&s, "acme-vault").await;
    let title = draft["title"].as_str().unwrap().to_string();
    let key = link_key(&s, "acme");
    let shots = repo_path("target/browser-screenshots");
    let out = output_within(
        Command::new("node")
            .arg(repo_path("tests/browser/audience.mjs"))
            .arg(format!("{}/a/acme/?key={key}", s.url))
            .arg(&shots)
            .args([title.as_str(), "Acme Corp", "Acme vault", "Core platform"]),
        std::time::Duration::from_secs(180),
    )
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser checks failed:\n{stdout}\n{stderr}"
    );
    for width in ["phone", "desktop"] {
        let shot = shots.join(format!("audience-{width}.png"));
        assert!(shot.exists(), "{}", shot.display());
        if std::env::var("STATUSGATE_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::copy(&shot, repo_path(&format!("docs/audience-{width}.png"))).unwrap();
        }
    }
}
