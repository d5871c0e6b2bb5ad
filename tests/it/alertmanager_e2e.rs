//! The real Alertmanager (Debian's `prometheus-alertmanager`) sending to statusgate.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// True when the test should run; says why when it cannot.
pub fn alertmanager_available() -> bool {
    if Path::new(BINARY).exists() {
        return true;
    }
    skip_or_fail(
        "the real-Alertmanager test",
        &format!("{BINARY} is not installed (apt-get install prometheus-alertmanager)"),
    );
    false
}

pub struct Alertmanager {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        crate::harness::reap(&mut self.child);
    }
}

impl Alertmanager {
    /// Starts Alertmanager with one webhook receiver pointing at `webhook_url`.
    pub fn start(webhook_url: &str, token: &str) -> Alertmanager {
        Self::start_with(
            webhook_url,
            token,
            &["--cluster.listen-address=".to_string()],
        )
    }

    /// An HA pair, gossiping with each other, each sending to its own URL.
    pub fn start_pair(webhooks: [&str; 2], token: &str) -> [Alertmanager; 2] {
        let ports = [free_port(), free_port()];
        let cluster = |me: usize| {
            vec![
                format!("--cluster.listen-address=127.0.0.1:{}", ports[me]),
                format!("--cluster.advertise-address=127.0.0.1:{}", ports[me]),
                format!("--cluster.peer=127.0.0.1:{}", ports[1 - me]),
                "--cluster.gossip-interval=50ms".to_string(),
                "--cluster.pushpull-interval=1s".to_string(),
                "--cluster.settle-timeout=2s".to_string(),
            ]
        };
        [
            Self::start_with(webhooks[0], token, &cluster(0)),
            Self::start_with(webhooks[1], token, &cluster(1)),
        ]
    }

    fn start_with(webhook_url: &str, token: &str, cluster: &[String]) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "route:\n  receiver: statusgate\n  group_by: ['alertname']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: statusgate\n    webhook_configs:\n      - url: {webhook_url}\n        send_resolved: true\n\
             \x20       http_config:\n          authorization:\n            type: Bearer\n            credentials: {token}\n"
        );
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(cluster)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::blocking_get_ok(&format!("{}/-/ready", am.url)).is_err() {
            assert!(
                Instant::now() < deadline,
                "alertmanager did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    pub async fn post_alerts(&self, alerts: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "alertmanager refused alerts: {}",
            r.status()
        );
    }

    pub async fn alerts(&self) -> Vec<Value> {
        reqwest::get(format!("{}/api/v2/alerts", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

mod reqwest {
    pub use ::reqwest::*;
    /// A synchronous readiness probe without pulling in reqwest's blocking client.
    pub fn blocking_get_ok(url: &str) -> std::result::Result<(), ()> {
        let rest = url.strip_prefix("http://").ok_or(())?;
        let (host, path) = rest.split_once('/').ok_or(())?;
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(host).map_err(|_| ())?;
        write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|_| ())?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).map_err(|_| ())?;
        if buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(())
        }
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_what_a_real_alertmanager_sends_and_resolves_when_it_resolves() {
    if !alertmanager_available() {
        return;
    }
    let s = Server::start(Options {
        group_wait: "500ms",
        resolve_wait: "1s",
        ..Options::default()
    });
    let am = Alertmanager::start(&format!("{}/webhooks/alertmanager", s.url), AM_TOKEN);
    let started = chrono::Utc::now() - chrono::Duration::seconds(30);
    let labels = json!({"alertname": "HighErrorRate", "service": "api-gateway", "env": "prod", "severity": "critical", "instance": "10.2.3.4:9100"});
    am.post_alerts(json!([{
        "labels": labels,
        "annotations": {"summary": "5xx above 5%", "public_summary": "Requests to the API fail for some customers."},
        "startsAt": rfc3339(started),
        "generatorURL": "http://prometheus.internal/graph",
    }]))
    .await;

    let draft = s
        .wait_draft("from alertmanager", |d| d["state"] == "pending")
        .await;
    assert_eq!(draft["components"], json!({"api": "major_outage"}));
    assert!(
        draft["body"]
            .as_str()
            .unwrap()
            .contains("Requests to the API fail"),
        "{draft}"
    );
    let am_alerts = am.alerts().await;
    assert_eq!(
        draft["alerts"][0]["fingerprint"], am_alerts[0]["fingerprint"],
        "the draft tracks Alertmanager's own fingerprint"
    );
    assert_eq!(draft["alerts"][0]["labels"]["source"], "alertmanager");
    let ingest = s
        .audit()
        .await
        .into_iter()
        .find(|e| e["action"] == "ingest")
        .unwrap();
    assert_eq!(ingest["actor"], "alertmanager");
    assert_eq!(ingest["detail"]["receiver"], "statusgate");

    let (status, body) = s.approve(draft["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");

    am.post_alerts(json!([{
        "labels": labels,
        "startsAt": rfc3339(started),
        "endsAt": rfc3339(chrono::Utc::now() - chrono::Duration::seconds(1)),
    }]))
    .await;
    let resolution = s
        .wait_draft("resolution from alertmanager", |d| {
            d["kind"] == "resolution"
        })
        .await;
    assert_eq!(resolution["components"], json!({"api": "operational"}));
    assert_eq!(resolution["alerts"][0]["status"], "resolved");
    let (status, _) = s.approve(resolution["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200);
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["status"]["indicator"], "none");
}
