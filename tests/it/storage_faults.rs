//! Storage on small and failing volumes, on a real tmpfs: statusgate starts, answers every
//! request (503 + `Retry-After` for ingest while storage cannot take a write), and
//! recovers by itself once the volume is usable again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// `None` (the test is skipped) when mounting is impossible here, unless
    /// STATUSGATE_REQUIRE_E2E=1, which makes that a failure.
    fn mount(options: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if mounted {
            return Some(Tmpfs(dir));
        }
        skip_or_fail(
            &format!("a test on a small volume ({options})"),
            "cannot mount a tmpfs here (needs root)",
        );
        None
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// Posts an Alertmanager payload; status, `Retry-After` and body.
async fn post(s: &Server, payload: &Value) -> (u16, Option<String>, Value) {
    let r = s
        .http
        .post(format!("{}/webhooks/alertmanager", s.url))
        .bearer_auth(AM_TOKEN)
        .json(payload)
        .send()
        .await
        .expect("an answer, not a hang");
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (
        r.status().as_u16(),
        retry,
        r.json().await.unwrap_or(Value::Null),
    )
}

fn alert(id: &str) -> Value {
    am_payload(vec![am_alert(id, "web", "critical", true, T0)])
}

/// A delivery with large records: sled keeps large values in files of their own, so it
/// needs inodes, not only bytes.
fn large_delivery(prefix: &str) -> Value {
    // Nine fit the tests' 64 KiB body limit.
    let alerts = (0..9)
        .map(|i| {
            let mut a = am_alert(&format!("{prefix}{i:04}"), "web", "critical", true, T0);
            a["labels"]["pad"] = Value::String("x".repeat(3300));
            a["annotations"]["description"] = Value::String("y".repeat(3300));
            a
        })
        .collect();
    am_payload(alerts)
}

fn start_on(data: PathBuf) -> Server {
    Server::start(Options {
        data_dir: Some(data),
        extra_config: String::new(),
        ..Options::default()
    })
}

/// 8 MiB and 16 MiB volumes: the reserve is a tenth of the volume, not a fixed 16 MiB that
/// made statusgate exit at start.
#[tokio::test(flavor = "multi_thread")]
async fn a_small_volume_starts_and_takes_alerts() {
    for size in ["8m", "16m"] {
        let Some(fs) = Tmpfs::mount(&format!("size={size}")) else {
            return;
        };
        let s = start_on(fs.path().join("data"));
        let (status, _, body) = post(&s, &alert("small1")).await;
        assert_eq!(status, 200, "{size}: {body}");
        let (status, ready) = s.get("/readyz", None).await;
        assert_eq!(status, 200, "{size}: {ready}");
    }
}

/// A volume with less than the reserve free at start: statusgate starts not ready, ingest
/// answers 503 with `Retry-After`, and both recover once space returns, without a restart.
#[tokio::test(flavor = "multi_thread")]
async fn too_little_space_at_start_means_not_ready_then_recovers() {
    let Some(fs) = Tmpfs::mount("size=8m") else {
        return;
    };
    let filler = fs.path().join("filler");
    let leave = 256 << 10; // below the 0.8 MiB reserve of an 8 MiB volume
    let status = Command::new("fallocate")
        .arg("-l")
        .arg((free_bytes(fs.path()) - leave).to_string())
        .arg(&filler)
        .status()
        .unwrap();
    assert!(status.success());
    let s = start_on(fs.path().join("data"));
    let (status, retry, body) = post(&s, &alert("full1")).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")), "{body}");
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["checks"]["storage"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("almost full")),
        "{ready}"
    );
    assert_eq!(s.get("/healthz", None).await.0, 200);

    std::fs::remove_file(&filler).unwrap();
    let (status, _, body) = post(&s, &alert("full1")).await;
    assert_eq!((status, body["new"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(s.get("/readyz", None).await.0, 200);
}

/// A volume out of inodes (bytes to spare): every delivery gets an answer, 503 with
/// `Retry-After`, `/healthz` keeps answering, and ingest works again once inodes return.
/// Before, sled's flush never finished and the next delivery waited forever.
#[tokio::test(flavor = "multi_thread")]
async fn out_of_inodes_every_delivery_is_answered_and_ingest_recovers() {
    let Some(fs) = Tmpfs::mount("size=64m,nr_inodes=64") else {
        return;
    };
    let s = start_on(fs.path().join("data"));
    assert_eq!(post(&s, &alert("ino0")).await.0, 200);
    let spare = fs.path().join("spare");
    std::fs::create_dir(&spare).unwrap();
    let mut made = Vec::new();
    for i in 0.. {
        let f = spare.join(i.to_string());
        if std::fs::write(&f, b"").is_err() {
            break;
        }
        made.push(f);
    }
    assert!(!made.is_empty());
    for round in 0..3 {
        let answer = tokio::time::timeout(
            Duration::from_secs(15),
            post(&s, &large_delivery(&format!("big{round}-"))),
        )
        .await
        .expect("the delivery was answered");
        let (status, retry, body) = answer;
        assert_eq!((status, retry.as_deref()), (503, Some("5")), "{body}");
        let health = tokio::time::timeout(Duration::from_secs(5), s.get("/healthz", None))
            .await
            .expect("/healthz answered");
        assert_eq!(health.0, 200, "{}", health.1);
    }
    for f in &made {
        std::fs::remove_file(f).unwrap();
    }
    let (status, _, body) = post(&s, &large_delivery("after-")).await;
    assert_eq!((status, body["new"].as_u64()), (200, Some(9)), "{body}");
    let (status, _, body) = post(&s, &alert("ino1")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.get("/healthz", None).await.0, 200);
    assert_eq!(s.get("/readyz", None).await.0, 200);
}
