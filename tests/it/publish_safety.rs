//! Publishing stays safe when the world misbehaves: a page publish that failed after its
//! approval still reaches the page without a restart, a person's own update at Statuspage
//! is never talked over, a receiver cannot stall or hammer delivery with its `Retry-After`,
//! URLs with tokens are never shown whole, and signing keys rotate.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";
/// statusgate's storage reserve (`store::SPACE_RESERVE`): writes are refused below it.
const RESERVE: u64 = 16 << 20;

/// A small real filesystem (tmpfs), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.0.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Fills the disk until `left` bytes are free.
    fn fill_to(&self, left: u64) {
        let filler = self.0.path().join("filler");
        let _ = std::fs::remove_file(&filler);
        let size = self.free().saturating_sub(left);
        let status = Command::new("fallocate")
            .arg("-l")
            .arg(size.to_string())
            .arg(&filler)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn unfill(&self) {
        std::fs::remove_file(self.0.path().join("filler")).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

async fn draft(s: &Server, id: &str) -> Value {
    let (status, d) = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
    assert_eq!(status, 200, "{d}");
    d
}

/// The approval commits, then the page publish meets a full disk: the approval's own write
/// (an alert with a long annotation makes the draft large) takes the last space above the
/// reserve. Once space returns, the page shows it without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn an_approved_draft_whose_page_publish_failed_reaches_the_page_without_restart() {
    let Some(disk) = Tmpfs::mount() else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let s = Server::start(Options {
        data_dir: Some(disk.0.path().join("data")),
        ..Options::default()
    });
    // Many alerts with long annotations (each delivery under the body limit) make a
    // draft of some 400 KB.
    let words = "the gateway answers slowly and the cause is under investigation ";
    for batch in 0..8 {
        let alerts = (0..7)
            .map(|n| {
                let mut a = am_alert(
                    &format!("big{batch}-{n}"),
                    "api-gateway",
                    "critical",
                    true,
                    T0,
                );
                a["annotations"]["description"] = json!(words.repeat(7_000 / words.len()));
                a
            })
            .collect();
        let (status, body) = s.post_alertmanager(&am_payload(alerts)).await;
        assert_eq!(status, 200, "{body}");
    }
    let d = s
        .wait_draft("new incident with every alert", |d| {
            d["kind"] == "new_incident"
                && d["state"] == "pending"
                && d["alerts"].as_array().map_or(0, Vec::len) == 56
        })
        .await;
    let id = d["id"].as_str().unwrap().to_string();
    let revision = d["revision"].as_u64().unwrap();

    // Just enough room for the approval to be taken, not for the publish after it. A
    // background write may take the room first; then the approval is refused (the draft
    // stays pending) and the disk is set again.
    let mut failed = None;
    for _ in 0..5 {
        disk.fill_to(RESERVE + (128 << 10));
        let (status, body) = s.approve(&id, revision).await;
        assert_ne!(
            status, 200,
            "the publish did not meet the full disk: {body}"
        );
        let state = draft(&s, &id).await["state"].clone();
        if state == "approved" {
            failed = Some((status, body));
            break;
        }
        assert_eq!(state, "pending", "{body}");
        disk.unfill();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, body) = failed.expect("the approval never committed before the disk filled");
    assert_eq!(status, 503, "{body}");
    let (_, summary) = s.get("/api/v2/incidents.json", None).await;
    assert_eq!(summary["incidents"], json!([]), "published on a full disk?");

    // Space returns; no restart, no admin action.
    disk.unfill();
    let deadline = Instant::now() + Duration::from_secs(30);
    let d = loop {
        let d = draft(&s, &id).await;
        if d["state"] == "published" {
            break d;
        }
        assert!(
            Instant::now() < deadline,
            "the approved draft never reached the page: it is {}\n{}",
            d["state"],
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let incident_id = d["incident_id"].as_str().unwrap().to_string();
    let (_, incidents) = s.get("/api/v2/incidents.json", None).await;
    let listed = incidents["incidents"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{incidents}");
    assert_eq!(listed[0]["id"], incident_id.as_str());
    assert_eq!(s.get("/healthz", None).await.0, 200);
    assert!(
        s.audit()
            .await
            .iter()
            .any(|e| e["action"] == "publish" && e["draft_id"] == id.as_str()),
        "no audit entry for the publish"
    );
}
