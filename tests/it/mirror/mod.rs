//! The mirror publisher: the public page as static files in an S3-compatible bucket (moto's
//! server, from the venv `.ci/install` makes) or a directory served by a static file server.

mod check;
mod dir;
mod s3;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Where `.ci/install` puts moto's server; `MOTO_SERVER` overrides.
fn moto_binary() -> Option<PathBuf> {
    let path = std::env::var("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_path("target/moto-venv/bin/moto_server"));
    path.exists().then_some(path)
}

/// A child process killed when dropped.
pub struct Process {
    child: Option<Child>,
}

impl Process {
    fn spawn(cmd: &mut Command) -> Process {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a helper process");
        Process { child: Some(child) }
    }

    /// `kill -9` and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            wait_child(&mut c, Duration::from_secs(10), "helper process");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            reap(&mut c);
        }
    }
}

/// Waits until something answers HTTP at `url`.
pub async fn wait_http(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(url).send().await.is_err() {
        assert!(Instant::now() < deadline, "nothing answers at {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// moto's S3 server on `port`, with `bucket` made.
pub async fn moto(port: u16, bucket: &str) -> Process {
    let bin = moto_binary().expect("moto");
    let p = Process::spawn(Command::new(bin).args(["-H", "127.0.0.1", "-p", &port.to_string()]));
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_http(&endpoint).await;
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("create the bucket");
    assert!(
        r.status().is_success(),
        "creating the bucket: {}",
        r.status()
    );
    p
}

/// Whether moto is installed; says why not otherwise (a skip, or a failure in CI).
pub fn have_moto(what: &str) -> bool {
    match moto_binary() {
        Some(_) => true,
        None => {
            skip_or_fail(
                what,
                "target/moto-venv/bin/moto_server is missing (.ci/install makes it)",
            );
            false
        }
    }
}

/// An alert for `service`, approved: returns the draft as published (with its incident id).
pub async fn publish_incident(s: &Server, fingerprint: &str, service: &str) -> Value {
    s.post_alertmanager(&am_payload(vec![am_alert(
        fingerprint,
        service,
        "critical",
        true,
        "2026-12-06T12:00:00Z",
    )]))
    .await;
    let draft = s
        .wait_draft("a pending draft", |d| {
            d["state"] == "pending" && d["alerts"][0]["fingerprint"] == fingerprint
        })
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    let (status, body) = s.approve(&id, draft["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    s.wait_draft("the draft published", |d| {
        d["id"] == id.as_str() && d["incident_id"].is_string()
    })
    .await
}

/// Waits until the audit log says the mirror holds `draft`'s publication (its sync is
/// over, not merely begun).
pub async fn wait_mirrored(s: &Server, draft: &Value) {
    eventually(
        "the publication recorded on the mirror",
        Duration::from_secs(60),
        || {
            let id = draft["id"].clone();
            async move {
                s.audit()
                    .await
                    .iter()
                    .any(|a| {
                        a["action"] == "publish"
                            && a["draft_id"] == id
                            && a["detail"]["target"] == "mirror"
                            && (a["detail"]["outcome"] == "success"
                                || a["detail"]["outcome"] == "unchanged")
                    })
                    .then_some(())
            }
        },
    )
    .await;
}

/// The mirror's HTML additions (policy, "as of" time, script) taken out again.
pub fn without_stamp(html: &str) -> String {
    let end_mark = "<script src=\"/assets/mirror.js\" defer></script>\n";
    match (
        html.find("<meta http-equiv=\"Content-Security-Policy\""),
        html.find(end_mark),
    ) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &html[..a], &html[b + end_mark.len()..]),
        _ => html.to_string(),
    }
}

/// The "as of" time a mirrored page carries.
pub fn as_of(html: &str) -> chrono::DateTime<chrono::Utc> {
    let start = html
        .find("<meta name=\"statusgate-as-of\" content=\"")
        .expect("an as-of time")
        + "<meta name=\"statusgate-as-of\" content=\"".len();
    let end = start + html[start..].find('"').unwrap();
    chrono::DateTime::parse_from_rfc3339(&html[start..end])
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Paths of the public page every mirror of the test catalog holds.
pub fn expected_paths(incident: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "index.html",
        "history/index.html",
        "404.html",
        "history.atom",
        "history.rss",
        "badge.svg",
        "favicon.svg",
        "assets/style.css",
        "assets/mirror.js",
        "components/api/badge.svg",
        "components/web/badge.svg",
        "components/payments/badge.svg",
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
        "api/v2/uptime.json",
        "api/v2/slo.json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!("incidents/{incident}/index.html"));
    v.sort();
    v
}

/// The live URL path a mirrored file stands for.
pub fn live_path(file: &str) -> String {
    match file {
        "index.html" => "/".into(),
        f if f.ends_with("/index.html") => format!("/{}", f.trim_end_matches("/index.html")),
        f => format!("/{f}"),
    }
}
