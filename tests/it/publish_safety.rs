//! Publishing stays safe when the world misbehaves: a page publish that failed after its
//! approval still reaches the page without a restart, a person's own update at Statuspage
//! is never talked over, a receiver cannot stall or hammer delivery with its `Retry-After`,
//! URLs with tokens are never shown whole, and signing keys rotate.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fake_http::{spawn, Recorder};
use crate::harness::*;
use crate::publish_statuspage::{approve_next, fire, settled, setup, Setup, DEGRADE};

const T0: &str = "2026-11-30T12:00:00Z";
/// statusgate's storage reserve (`storage.reserve`, 16 MiB by default, never more than a
/// tenth of the volume): writes are refused below it. The volume below is large enough for
/// the default to hold.
const RESERVE: u64 = 16 << 20;
const VOLUME: &str = "size=200m";

/// A small real filesystem (tmpfs), unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", VOLUME, "tmpfs"])
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
        skip_or_fail(
            "the failed-publish recovery test",
            "cannot mount a tmpfs here (needs root)",
        );
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
            "the publish did not meet the full disk: the draft is {}",
            body["draft"]["state"]
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

async fn choose(s: &Server, id: &str, choice: &str) {
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/resolve-conflict"),
            Some(ADMIN),
            Some(json!({ "choice": choice })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A person posts their own update at Statuspage: statusgate's next update is a conflict
/// (field `updates`) and writes nothing until an admin chooses.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_a_person_posted_at_statuspage_is_not_talked_over() {
    let setup: Setup = setup("1h").await;
    let (s, fake) = (&setup.s, &setup.sp.fake);
    fire(s, &[("f1", "critical", true)]).await;
    let created = approve_next(s, "new_incident").await;
    settled(s, created["id"].as_str().unwrap()).await;

    let theirs = "A fix is deployed; we are watching the error rate.";
    fake.post_update_by_hand(0, "monitoring", theirs);
    fire(s, DEGRADE).await;
    let update = approve_next(s, "update").await;
    let id = update["id"].as_str().unwrap().to_string();
    settled(s, &id).await;
    let d = s.draft_in_state(&id, "conflict").await;
    assert_eq!(
        d["conflict"],
        json!({"target": "hosted", "field": "updates", "ours": update["body"], "theirs": theirs})
    );
    assert!(
        fake.calls("PATCH").is_empty(),
        "wrote over a person's update"
    );
    let newest = |fake: &crate::fake_statuspage::FakeStatuspage| {
        fake.incidents()[0]["incident_updates"][0].clone()
    };
    assert_eq!(newest(fake)["body"], theirs);

    // Theirs: their update stays the newest; the rest of ours (components) goes out.
    choose(s, &id, "theirs").await;
    settled(s, &id).await;
    s.draft_in_state(&id, "published").await;
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    let p = &patches[0].1["incident"];
    assert!(p.get("body").is_none(), "posted over their update: {p}");
    assert!(p.get("status").is_none(), "changed their status: {p}");
    assert_eq!(p["components"], json!({"cmp_api": "degraded_performance"}));
    assert_eq!(newest(fake)["body"], theirs);
    assert_eq!(fake.incidents()[0]["status"], "monitoring");

    // Another update by hand; this time the admin puts statusgate's on top.
    let again = "Watching for another hour.";
    fake.post_update_by_hand(0, "monitoring", again);
    fire(s, &[("f3", "critical", true)]).await;
    let next = approve_next(s, "update").await;
    let next_id = next["id"].as_str().unwrap().to_string();
    settled(s, &next_id).await;
    let d = s.draft_in_state(&next_id, "conflict").await;
    assert_eq!(d["conflict"]["field"], "updates");
    assert_eq!(d["conflict"]["theirs"], again);
    assert_eq!(fake.calls("PATCH").len(), 1, "wrote before the admin chose");
    choose(s, &next_id, "overwrite").await;
    settled(s, &next_id).await;
    s.draft_in_state(&next_id, "published").await;
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(patches[1].1["incident"]["body"], next["body"]);
    assert_eq!(newest(fake)["body"], next["body"]);
    assert_eq!(
        fake.incidents()[0]["status"],
        next["incident_status"],
        "statusgate's status back"
    );
}

const OLD_KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NEW_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A server with one webhook publisher at `url`, its secret file holding `secret`.
fn with_webhook(url: &str, secret: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hook");
    std::fs::write(&file, secret).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\npublishers:\n  - {{name: ops-events, type: webhook, url: '{url}', secret_file: {}}}\n",
            file.display()
        ),
        ..Options::default()
    });
    (s, dir)
}

/// A receiver answering 503 with a `Retry-After` of u64::MAX seconds neither panics the
/// delivery (which then retried within milliseconds) nor parks it for ages: the wait is
/// held to `delivery.backoff.max` (1 s here).
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_retry_after_is_bounded_by_the_longest_backoff() {
    let hook = Recorder::default();
    hook.then(503, &[("retry-after", &u64::MAX.to_string())]);
    let server = spawn(hook.handler(200)).await;
    let (s, _dir) = with_webhook(&format!("{}/hook", server.url), NEW_KEY);
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(body["deliveries"][0]["state"], "delivered", "{body}");
    let got = hook.requests();
    assert!(got.len() >= 2, "{} request(s)", got.len());
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "retried {gap:?} after a Retry-After (hammering)"
    );
    assert!(
        gap <= Duration::from_secs(5),
        "waited {gap:?}, longer than the backoff max"
    );
    assert_eq!(
        got[0].header("webhook-id"),
        got[1].header("webhook-id"),
        "a redelivery, not a new event"
    );
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// A rotation: the secret file holds the old and the new key, one a line; every event
/// carries a signature for each, so receivers with either key verify it.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_file_with_several_keys_signs_with_each() {
    let hook = Recorder::default();
    let server = spawn(hook.handler(200)).await;
    let (s, _dir) = with_webhook(
        &format!("{}/hook", server.url),
        &format!("{OLD_KEY}\n{NEW_KEY}\n"),
    );
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    settled(&s, created["id"].as_str().unwrap()).await;
    let got = hook.requests();
    assert!(!got.is_empty());
    for r in &got {
        let sigs: Vec<&str> = r.header("webhook-signature").unwrap().split(' ').collect();
        assert_eq!(sigs.len(), 2, "{sigs:?}");
        assert!(sigs.iter().all(|s| s.starts_with("v1,")), "{sigs:?}");
        crate::publish_webhook::verify(OLD_KEY, r).unwrap();
        crate::publish_webhook::verify(NEW_KEY, r).unwrap();
    }
}

/// Webhook URLs carry tokens: in the subscriber list, the deliveries `reader` may read,
/// `/readyz` and the log, a URL shows scheme, host and path only — also when the request
/// failed and the HTTP client's error would have named the URL.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_urls_never_show_their_query_or_user_info() {
    // A port nobody listens on: every attempt fails to connect.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hook_url = format!("http://127.0.0.1:{closed}/hook?token=publisher-token-123");
    let (s, _dir) = with_webhook(&hook_url, NEW_KEY);
    let sub_url = format!("http://alice:pass-456@127.0.0.1:{closed}/in?key=subscriber-key-789#x");
    let (status, sub) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "webhook", "url": sub_url, "secret": OLD_KEY})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let shown = format!("http://127.0.0.1:{closed}/in");
    assert_eq!(sub["url"], shown.as_str());

    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let id = created["id"].as_str().unwrap();
    // Wait until both targets failed at least once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let deliveries = loop {
        let (status, body) = s
            .get(&format!("/api/v1/drafts/{id}/deliveries"), Some(READER))
            .await;
        assert_eq!(status, 200, "{body}");
        let list = body["deliveries"].as_array().cloned().unwrap_or_default();
        let failed = list
            .iter()
            .filter(|d| d["attempts"].as_u64().unwrap_or(0) >= 1)
            .count();
        if list.len() >= 2 && failed == list.len() {
            break body;
        }
        assert!(Instant::now() < deadline, "no failed attempts: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        deliveries.to_string().contains("could not connect"),
        "{deliveries}"
    );
    let (_, subs) = s.get("/api/v1/subscribers", Some(ADMIN)).await;
    let (_, ready) = s.get("/readyz", None).await;
    let everything = [
        ("deliveries", deliveries.to_string()),
        ("subscribers", subs.to_string()),
        ("readyz", ready.to_string()),
        ("log", s.log()),
    ];
    for (place, text) in everything {
        for secret in [
            "publisher-token-123",
            "subscriber-key-789",
            "pass-456",
            "alice",
        ] {
            assert!(!text.contains(secret), "{secret} shown in {place}: {text}");
        }
    }
}
