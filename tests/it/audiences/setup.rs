//! What the audience tests share: a catalog with public, internal and two tenants'
//! components, the tenants' configuration, and small steps.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

pub const ACME_TOKEN: &str = "acme-token-for-tests";
pub const GLOBEX_TOKEN: &str = "globex-token-for-tests";

pub const TENANTS: &str = r#"
components:
  - {id: api, name: Public API, group: Core platform}
  - {id: web, name: Web app, group: Core platform}
  - {id: core-ledger, name: Ledger store, public: false}
  - {id: acme-vault, name: Acme vault, group: Dedicated, audiences: [acme]}
  - {id: globex-vault, name: Globex vault, group: Dedicated, audiences: [globex]}
routes:
  - name: api
    match: ['service="api"']
    components: [api]
    status: {warning: degraded_performance}
  - name: ledger
    match: ['service="ledger"']
    components: [core-ledger]
  - name: acme
    match: ['service="acme"']
    components: [acme-vault]
    status: {critical: major_outage}
  - name: globex
    match: ['service="globex"']
    components: [globex-vault]
  - name: shared
    match: ['service="shared"']
    components: [web, acme-vault]
"#;

/// The `audiences:` section for acme and globex (tokens in files of the returned dir).
pub fn audience_config() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let acme = dir.path().join("acme.token");
    let globex = dir.path().join("globex.token");
    std::fs::write(&acme, ACME_TOKEN).unwrap();
    std::fs::write(&globex, GLOBEX_TOKEN).unwrap();
    let extra = format!(
        "audiences:\n  - {{id: acme, name: Acme Corp, token_file: {}}}\n  - {{id: globex, name: Globex, token_file: {}}}\n",
        acme.display(),
        globex.display()
    );
    (dir, extra)
}

/// The key of an audience's link, as `statusgate audience-link` prints it.
pub fn link_key(s: &Server, audience: &str) -> String {
    let out = output_within(
        std::process::Command::new(binary())
            .args(["audience-link", audience, "--config"])
            .arg(s.config_path())
            .env_remove("STATUSGATE_CONFIG"),
        Duration::from_secs(30),
    )
    .unwrap();
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{link} {:?}", out.stderr);
    let prefix = format!("http://status.example.com/a/{audience}/?key=");
    link.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link}"))
        .to_string()
}

/// One firing alert for `service`, alone in its delivery.
pub async fn fire(s: &Server, fingerprint: &str, service: &str, severity: &str) {
    let alert = am_alert(fingerprint, service, severity, true, "2026-11-30T12:00:00Z");
    let (status, body) = s.post_alertmanager(&am_payload(vec![alert])).await;
    assert_eq!(status, 200, "{body}");
}

/// Approves the pending new-incident draft for `component` through the API; returns it.
pub async fn approve_for(s: &Server, component: &str) -> Value {
    let d = s
        .wait_draft(component, |d| {
            d["state"] == "pending" && d["components"].get(component).is_some()
        })
        .await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, body) = s.approve(&id, d["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    d
}

/// Polls a JSON document of the page until `ok` holds.
pub async fn eventually_json(s: &Server, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = s.get(path, None).await;
        if status == 200 && ok(&body) {
            return body;
        }
        if Instant::now() > deadline {
            panic!("{path} never held: {body:#}\n{}", s.log());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
