//! Approved drafts reach Atlassian Statuspage exactly once: created, updated, resolved;
//! repeats send nothing; hand edits are not overwritten; outages, lost answers and a
//! `kill -9` duplicate nothing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fake_statuspage::{publisher_config, FakeStatuspage, Fault, Running, KEY};
use crate::harness::*;

mod conflicts;
mod faults;
mod lifecycle;

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
