//! Starts the real `statusgate` binary on a random port with a fresh data directory, and
//! talks HTTP to it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
pub use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN: &str = "admin-token-for-tests";
pub const READER: &str = "reader-token-for-tests";
pub const AM_TOKEN: &str = "alertmanager-token-for-tests";

/// A small catalog the lifecycle tests rely on.
pub const CATALOG: &str = r#"
components:
  - {id: api, name: Public API, group: Core platform}
  - {id: web, name: Web app, group: Core platform}
  - {id: payments, name: Payments, group: Commerce}
  - {id: database, name: Primary database, public: false}
routes:
  - name: staging-is-not-public
    match: ['env="staging"']
    ignore: true
  - name: api
    match: ['service=~"api-gateway|api-.*"']
    components: [api]
    status: {critical: major_outage, warning: degraded_performance}
  - name: web
    match: ['service="web"']
    components: [web]
  - name: payments
    match: ['service="payments"']
    components: [payments]
    status: {critical: major_outage}
"#;

pub struct Options {
    pub group_wait: &'static str,
    pub resolve_wait: &'static str,
    pub extra_config: String,
    pub catalog: String,
    /// Where the data lives (default: inside the test's temp dir).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of sled (default: a fresh database when the suite runs on
    /// PostgreSQL and no data directory is given, else sled).
    pub storage_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            group_wait: "300ms",
            resolve_wait: "500ms",
            extra_config: String::new(),
            catalog: CATALOG.to_string(),
            data_dir: None,
            storage_url: None,
        }
    }
}

pub struct Server {
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database this server keeps its state in; `None`: sled.
    pub storage_url: Option<String>,
    child: Option<Child>,
    pub http: reqwest::Client,
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_statusgate"))
}

impl Server {
    pub fn start(opts: Options) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mappings = dir.path().join("mappings");
        std::fs::create_dir_all(&mappings).unwrap();
        std::fs::write(mappings.join("10-test.yaml"), &opts.catalog).unwrap();
        std::fs::write(dir.path().join("reader.token"), READER).unwrap();
        let config = format!(
            "listen: 127.0.0.1:0\ndata_dir: {data}\nmappings: {mappings}\nmax_body: 64KiB\nshutdown_timeout: 10s\n\
             public_url: http://status.example.com\n\
             auth:\n  tokens:\n    - {{name: reader-bot, role: reader, token_file: {reader}}}\n\
             grouping:\n  group_wait: {gw}\n  resolve_wait: {rw}\n  min_update_interval: 0s\n{extra}",
            data = opts.data_dir.clone().unwrap_or_else(|| dir.path().join("data")).display(),
            mappings = mappings.display(),
            reader = dir.path().join("reader.token").display(),
            gw = opts.group_wait,
            rw = opts.resolve_wait,
            extra = opts.extra_config,
        );
        let storage_url = opts.storage_url.clone().or_else(|| {
            let on_postgres =
                super::postgres_cluster::suite_on_postgres() && opts.data_dir.is_none();
            on_postgres
                .then(super::postgres_cluster::cluster)
                .flatten()
                .map(|c| c.database())
        });
        // On PostgreSQL a replica killed with -9 leaves its leases behind until they lapse;
        // tests that restart one wait a short lease, not the 15s default.
        let config = if storage_url.is_some() && !opts.extra_config.contains("storage:") {
            format!("{config}\nstorage:\n  lease: 3s\n")
        } else {
            config
        };
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        let mut server = Server {
            url: String::new(),
            dir,
            storage_url,
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        };
        server.launch();
        server
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn mappings_dir(&self) -> PathBuf {
        self.dir.path().join("mappings")
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--config"])
            .arg(self.config_path())
            .env("STATUSGATE_ADMIN_TOKEN", ADMIN)
            .env("STATUSGATE_ALERTMANAGER_TOKEN", AM_TOKEN)
            .env("RUST_LOG", "info,statusgate=debug")
            .env_remove("STATUSGATE_LISTEN")
            .env_remove("STATUSGATE_CONFIG")
            .env_remove("STATUSGATE_STORAGE_URL")
            .envs(
                self.storage_url
                    .iter()
                    .map(|u| ("STATUSGATE_STORAGE_URL", u)),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start statusgate");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let url = line
            .trim()
            .strip_prefix("statusgate listening on ")
            .unwrap_or_else(|| panic!("statusgate did not start: {line:?}\n{}", self.log()))
            .to_string();
        self.url = url;
        self.child = Some(child);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// SIGTERM, wait for a clean exit, start again on a new port with the same data.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(status.success(), "unclean exit: {status:?}\n{}", self.log());
        self.launch();
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id() as i32;
        unsafe_kill(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("statusgate did not stop within 15s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id (for SIGSTOP/SIGCONT in the replica tests).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`, without starting again.
    pub fn kill_hard(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        wait_child(
            &mut child,
            Duration::from_secs(10),
            "statusgate after kill -9",
        );
    }

    /// Starts again after `stop` (same data, new port).
    pub fn restart_stopped(&mut self) {
        self.launch();
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        if let Some(c) = &self.child {
            unsafe_kill(c.id() as i32, "TERM");
        }
    }

    /// Waits for the process to exit (after `signal_term`).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        wait_child(
            &mut child,
            Duration::from_secs(30),
            "statusgate after SIGTERM",
        )
    }

    /// `kill -9`, then start again with the same data.
    pub fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        wait_child(
            &mut child,
            Duration::from_secs(10),
            "statusgate after kill -9",
        );
        self.launch();
    }

    pub async fn post_alertmanager(&self, payload: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/webhooks/alertmanager", self.url))
            .bearer_auth(AM_TOKEN)
            .json(payload)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nlog:\n{}", self.log()));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn text(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn approve(&self, id: &str, revision: u64) -> (u16, Value) {
        self.send(
            "POST",
            &format!("/api/v1/drafts/{id}/approve"),
            Some(ADMIN),
            Some(json!({ "revision": revision })),
        )
        .await
    }

    pub async fn drafts(&self, state: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/api/v1/drafts?state={state}"), Some(ADMIN))
            .await;
        assert_eq!(status, 200, "{body}");
        body["drafts"].as_array().cloned().unwrap_or_default()
    }

    /// Draft `id`, which must be in `state` now: a delivery's outcome and the state it
    /// gives its draft are written together, so once the deliveries are settled the draft
    /// shows it.
    pub async fn draft_in_state(&self, id: &str, state: &str) -> Value {
        let (status, d) = self.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["state"], state, "draft {id}: {d}\n{}", self.log());
        d
    }

    /// Draft `id` once it is in `state` (10 s at most).
    pub async fn wait_draft_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, d) = self.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await;
            assert_eq!(status, 200, "{d}");
            if d["state"] == state {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "draft {id} never became {state}: {d}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a draft matching `pred` exists.
    pub async fn wait_draft(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(d) = self.drafts("").await.into_iter().find(|d| pred(d)) {
                return d;
            }
            if Instant::now() > deadline {
                panic!(
                    "no draft: {what}\ndrafts: {:#}\nlog:\n{}",
                    json!(self.drafts("").await),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole audit log, newest first.
    pub async fn audit(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut before = String::new();
        loop {
            let path = format!("/api/v1/audit?limit=1000{before}");
            let (_, body) = self.get(&path, Some(ADMIN)).await;
            out.extend(body["entries"].as_array().cloned().unwrap_or_default());
            match body["next_before"].as_str() {
                Some(next) => before = format!("&before={next}"),
                None => return out,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            reap(&mut c);
        }
    }
}

/// Waits at most `limit` for `child` to exit; past it, kills it and fails the test, so a
/// hung process fails the run instead of stalling it.
pub fn wait_child(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                reap(child);
                panic!("{what} did not exit within {limit:?}");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Reaps a child that was just killed, giving up after a few seconds (never panics: used
/// in `Drop`).
pub fn reap(child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `Command::output` with a time limit: a tool that hangs fails the test.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let what = format!("{:?}", cmd.get_program());
    let status = wait_child(&mut child, limit, &what);
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn unsafe_kill(pid: i32, signal: &str) {
    let _ = output_within(
        Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
        Duration::from_secs(10),
    );
}

/// An Alertmanager webhook payload (version 4) with the given alerts.
pub fn am_payload(alerts: Vec<Value>) -> Value {
    let status = if alerts.iter().any(|a| a["status"] == "firing") {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "version": "4",
        "groupKey": "{}/{env=\"prod\"}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "statusgate",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"env": "prod"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.internal:9093",
        "alerts": alerts,
    })
}

pub fn am_alert(
    fingerprint: &str,
    service: &str,
    severity: &str,
    firing: bool,
    starts_at: &str,
) -> Value {
    json!({
        "status": if firing { "firing" } else { "resolved" },
        "labels": {"alertname": "HighErrorRate", "service": service, "env": "prod", "severity": severity, "instance": "api-7.internal:9100"},
        "annotations": {"summary": "5xx above 5% on api-7.internal"},
        "startsAt": starts_at,
        "endsAt": if firing { "0001-01-01T00:00:00Z" } else { "2026-11-30T12:10:00Z" },
        "generatorURL": "http://prometheus.internal:9090/graph?g0.expr=x",
        "fingerprint": fingerprint,
    })
}

/// The value of the first `/metrics` line that starts with `line_start` (0 when absent).
pub async fn metric(s: &Server, line_start: &str) -> f64 {
    let (_, text) = s.text("/metrics").await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Polls `probe` every 50 ms until it gives a value; fails the test, naming `what`, once
/// `limit` has passed. Every test that waits for something to happen waits with this.
pub async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// [`eventually`] for a condition.
pub async fn wait_until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    eventually(what, limit, async || check().await.then_some(())).await
}

/// A test that cannot run on this machine. With `STATUSGATE_REQUIRE_E2E=1` (CI) that is a
/// failure; otherwise it is said on stderr, so a run shows what it did not test. The caller
/// returns after this.
pub fn skip_or_fail(what: &str, why: &str) {
    if std::env::var("STATUSGATE_REQUIRE_E2E").as_deref() == Ok("1") {
        panic!("STATUSGATE_REQUIRE_E2E=1 but {what} cannot run: {why}");
    }
    // Straight to the process's stderr: the test harness captures eprintln! of passing
    // tests, and a skip must show in every run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}: {why}");
}

/// A port nothing listens on now, for a child process to bind.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
