//! The PostgreSQL engine on one replica: the state lives in the database (and survives the
//! replica), migrations, moving state between engines, and a database that goes away.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::*;
use crate::postgres_cluster::{cluster, private};

const T0: &str = "2026-12-06T08:00:00Z";

fn on(url: &str) -> Options {
    Options {
        storage_url: Some(url.to_string()),
        ..Options::default()
    }
}

/// An approved incident and a pending draft: enough state to compare two stores by.
async fn make_state(s: &Server) {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "a1",
            "api-gateway",
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    let d = s
        .wait_draft("api outage", |d| d["state"] == "pending")
        .await;
    let (status, body) = s.approve(d["id"].as_str().unwrap(), 1).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "w1", "web", "critical", true, T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    s.wait_draft("web outage", |d| {
        d["state"] == "pending" && d["components"].get("web").is_some()
    })
    .await;
}

/// What a reader and an approver see, for comparing two stores.
async fn visible_state(s: &Server) -> Value {
    let mut out = json!({});
    for path in [
        "/api/v1/drafts?state=",
        "/api/v1/incidents",
        "/api/v1/components",
        "/api/v2/incidents.json",
        "/api/v2/summary.json",
    ] {
        let (status, body) = s.get(path, Some(ADMIN)).await;
        assert_eq!(status, 200, "{path}: {body}");
        out[path] = body;
    }
    let mut audit = s.audit().await;
    // A replica's start-up leaves its own entries; compare what the state holds.
    audit.retain(|e| e["action"] != "started");
    out["audit"] = json!(audit);
    if let Some(summary) = out.get_mut("/api/v2/summary.json") {
        summary["page"]["updated_at"] = Value::Null;
    }
    out
}

fn records(url: &str) -> usize {
    count(url, "SELECT count(*) FROM statusgate_records")
}

fn count(url: &str, sql: &str) -> usize {
    let c = cluster().expect("cluster");
    let db = url.rsplit('/').next().unwrap();
    c.psql(db, sql).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_incidents_and_audit_live_in_postgres_and_survive_the_replica() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let mut s = Server::start(on(&url));
    make_state(&s).await;
    let before = visible_state(&s).await;
    assert!(records(&url) > 5, "state is in PostgreSQL");
    // What the pipeline took leaves the inbox with the groups it went into.
    let inbox = "SELECT count(*) FROM statusgate_records WHERE tbl = 'inbox'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&url, inbox) > 0 {
        assert!(Instant::now() < deadline, "the inbox never emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        count(
            &url,
            "SELECT count(*) FROM statusgate_records WHERE tbl = 'groups'"
        ) > 0,
        "the groups are stored"
    );
    // A replica killed and replaced (not even its temp dir is the same) loses nothing.
    s.crash_and_restart();
    let other = Server::start(on(&url));
    assert_eq!(visible_state(&other).await, before);
    let (status, body) = other.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
}

fn statusgate(args: &[&str], config: &std::path::Path, url: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .arg("--config")
        .arg(config)
        .env_remove("STATUSGATE_STORAGE_URL");
    if let Some(u) = url {
        cmd.env("STATUSGATE_STORAGE_URL", u);
    }
    output_within(&mut cmd, Duration::from_secs(60)).expect("statusgate runs")
}

/// `statusgate import` of `input` into the store of `config` (or of `url`): whether it
/// succeeded, and what it said on stderr.
fn import(url: Option<&str>, config: &std::path::Path, input: &[u8]) -> (bool, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["import", "--config"])
        .arg(config)
        .env_remove("STATUSGATE_STORAGE_URL");
    if let Some(u) = url {
        cmd.env("STATUSGATE_STORAGE_URL", u);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input).unwrap();
    let status = wait_child(&mut child, Duration::from_secs(60), "import");
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err)
}

/// A copy of `config` in `to` whose `data_dir` is `to`'s instead of `from`'s.
fn config_moved_to(
    config: &std::path::Path,
    from: &std::path::Path,
    to: &std::path::Path,
) -> std::path::PathBuf {
    let moved = to.join("c.yaml");
    let original = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        &moved,
        original.replace(
            &from.join("data").display().to_string(),
            &to.join("data").display().to_string(),
        ),
    )
    .unwrap();
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_runs_once_and_a_newer_schema_is_refused() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "mappings: ./mappings\n").unwrap();
    let out = statusgate(&["migrate"], &config, Some(&url));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("from version 0 to 2"),
        "{err}"
    );
    let out = statusgate(&["migrate"], &config, Some(&url));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("nothing to do"),
        "{err}"
    );

    let db = url.rsplit('/').next().unwrap();
    c.psql(db, "UPDATE statusgate_schema SET version = 99")
        .unwrap();
    let out = statusgate(&["migrate"], &config, Some(&url));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("version 99, newer"),
        "{err}"
    );
    // A replica refuses to start on it rather than guessing.
    let out = output_within(
        Command::new(binary())
            .args(["serve", "--config"])
            .arg(&config)
            .env("STATUSGATE_STORAGE_URL", &url)
            .env("STATUSGATE_LISTEN", "127.0.0.1:0")
            .env("STATUSGATE_DATA_DIR", dir.path().join("data")),
        Duration::from_secs(60),
    )
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("newer than this statusgate"),
        "{err}"
    );
    // The password of a URL is never printed.
    let out = statusgate(
        &["migrate"],
        &config,
        Some(&format!("postgres://u:s3cret-pw@127.0.0.1:1/{db}")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("s3cret-pw"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_config_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "mappings: ./mappings\nstorage:\n  url: postgres://sg:hunter2@db/statusgate\n",
    )
    .unwrap();
    let out = statusgate(&["check"], &config, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("storage.url") && err.contains("url_file"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// sled → PostgreSQL → sled: the same drafts, incidents, history and audit, and the export
/// files agree record for record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_move_all_state_between_engines() {
    let Some(c) = cluster() else { return };
    let sled_dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(Options {
        data_dir: Some(sled_dir.path().join("data")),
        ..Options::default()
    });
    make_state(&first).await;
    let before = visible_state(&first).await;
    first.stop();
    let config = first.config_path();
    let out = statusgate(&["export"], &config, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_sled = out.stdout;

    let url = c.database();
    let (ok, err) = import(Some(&url), &config, &from_sled);
    assert!(ok && err.contains("imported"), "{err}");
    // An import never merges into a store that holds state.
    let (ok, err) = import(Some(&url), &config, &from_sled);
    assert!(!ok && err.contains("already holds state"), "{err}");

    let on_pg = Server::start(on(&url));
    assert_eq!(visible_state(&on_pg).await, before);
    drop(on_pg);
    let out = statusgate(&["export"], &config, Some(&url));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_pg = out.stdout;

    let back = tempfile::tempdir().unwrap();
    let back_config = config_moved_to(&config, sled_dir.path(), back.path());
    let (ok, err) = import(None, &back_config, &from_pg);
    assert!(ok, "{err}");
    let out = statusgate(&["export"], &back_config, None);
    let round_trip = out.stdout;
    let body = |file: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(file)
            .lines()
            .skip(1)
            .map(|l| serde_json::from_str(l).unwrap())
            // The replica started on PostgreSQL wrote its own audit entries.
            .filter(|l: &Value| !(l["table"] == "audit" && l["value"]["action"] == "started"))
            .collect()
    };
    let sled_records = body(&from_sled);
    assert!(sled_records.len() > 5, "{sled_records:?}");
    for (what, file) in [
        ("sled → PostgreSQL", &from_pg),
        ("PostgreSQL → sled", &round_trip),
    ] {
        let records = body(file);
        let first_difference = records.iter().zip(&sled_records).find(|(a, b)| a != b);
        assert_eq!(first_difference, None, "{what}");
        assert_eq!(records.len(), sled_records.len(), "{what}");
    }
    let back_server = Server::start(Options {
        data_dir: Some(back.path().join("data")),
        ..Options::default()
    });
    assert_eq!(visible_state(&back_server).await, before);
}

/// A store from before the open-drafts index (here: an export without its table) lists its
/// pending and approved drafts as before once a server starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_written_before_the_open_drafts_index_are_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(Options {
        data_dir: Some(dir.path().join("data")),
        ..Options::default()
    });
    make_state(&first).await;
    let pending = first.drafts("pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    first.stop();
    let out = statusgate(&["export"], &first.config_path(), None);
    assert!(out.status.success());
    let export = String::from_utf8_lossy(&out.stdout);
    assert!(export.contains("\"table\":\"drafts_open\""), "{export}");
    let older: String = export
        .lines()
        .filter(|l| !l.contains("\"table\":\"drafts_open\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let back = tempfile::tempdir().unwrap();
    let config = config_moved_to(&first.config_path(), dir.path(), back.path());
    let (ok, err) = import(None, &config, older.as_bytes());
    assert!(ok, "{err}");
    let second = Server::start(Options {
        data_dir: Some(back.path().join("data")),
        ..Options::default()
    });
    assert_eq!(second.drafts("pending").await, pending);
    let published = second.drafts("published").await;
    assert_eq!(published.len(), 1, "{published:?}");
}

/// PostgreSQL gone for a while under ingest: only 2xx and 503 + Retry-After, the page keeps
/// serving, readiness says why, and the replica recovers by itself with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_with_retry_after_and_heals_by_itself() {
    let Some(c) = private() else { return };
    let url = c.database();
    let s = Server::start(on(&url));
    let (status, _) = s.text("/").await;
    assert_eq!(status, 200);
    let mut acknowledged = Vec::new();
    let post = |i: usize| {
        let payload = am_payload(vec![am_alert(
            &format!("o{i}"),
            "api-gateway",
            "critical",
            true,
            T0,
        )]);
        let s = &s;
        async move {
            let r = s
                .http
                .post(format!("{}/webhooks/alertmanager", s.url))
                .bearer_auth(AM_TOKEN)
                .json(&payload)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").is_some();
            (status, retry)
        }
    };
    let (status, _) = post(0).await;
    assert_eq!(status, 200);
    acknowledged.push(0);
    c.stop();
    let down_at = Instant::now();
    let mut refused = 0;
    let mut i = 1;
    while down_at.elapsed() < Duration::from_secs(10) {
        let (status, retry) = post(i).await;
        match status {
            200 => acknowledged.push(i),
            503 => {
                assert!(retry, "503 without Retry-After");
                refused += 1;
            }
            other => panic!("answer {other} while the database is down"),
        }
        if i == 2 {
            let (status, body) = s.get("/readyz", None).await;
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["checks"]["storage"]["ok"], false, "{body}");
            // The page keeps serving its last rendering.
            let (status, page) = s.text("/").await;
            assert_eq!(status, 200, "{page}");
        }
        i += 1;
    }
    assert!(refused > 0, "every request refused while down");
    c.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = post(i).await;
        if status == 200 {
            acknowledged.push(i);
            break;
        }
        assert!(Instant::now() < deadline, "no recovery\n{}", s.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = s.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    // Every acknowledged alert reaches a draft.
    let want: Vec<String> = acknowledged.iter().map(|i| format!("o{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let drafts = s.drafts("").await;
        let names: Vec<String> = drafts
            .iter()
            .flat_map(|d| d["alerts"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["fingerprint"].as_str().map(str::to_string))
            .collect();
        if want.iter().all(|w| names.contains(w)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lost: {want:?} vs {names:?}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// On PostgreSQL the recorder keeps one inbox entry per changed alert, in the form earlier
/// versions read: during a rolling upgrade the pipeline may still run on a replica of one.
/// (On sled, one process and so one version, one entry names a whole commit's alerts.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_entries_stay_readable_by_earlier_replicas_on_postgres() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let store = statusgate::store::Store::connect(&url).await.unwrap();
    let recorder = statusgate::ingest::Recorder::open(&store).unwrap();
    let at = chrono::Utc::now();
    let alert = |fp: &str| statusgate::alert::Alert {
        key: format!("am:{fp}"),
        source: statusgate::vocab::Source::Alertmanager,
        fingerprint: fp.into(),
        status: statusgate::alert::AlertStatus::Firing,
        labels: [("alertname".to_string(), fp.to_string())].into(),
        annotations: Default::default(),
        starts_at: at,
        ends_at: None,
        generator_url: String::new(),
        received_at: at,
        truncated: 0,
        changed_at: None,
    };
    let alerts = vec![alert("a"), alert("b"), alert("c")];
    let out = recorder
        .record(
            statusgate::vocab::Source::Alertmanager,
            alerts,
            json!({}),
            at,
        )
        .await
        .unwrap();
    assert_eq!(out.new, 3);
    let keys = "SELECT count(*) FROM statusgate_records WHERE tbl = 'inbox' AND left(value::text, 1) = '\"'";
    assert_eq!(count(&url, keys), 3, "an entry per alert, each a key");
    let taken = recorder.pending(100).unwrap();
    assert_eq!(
        (taken.entries.len(), taken.alerts.len(), taken.more),
        (3, 3, false)
    );
    // A step reads its limit and one more entry in one page; the rest waits.
    let taken = recorder.pending(2).unwrap();
    assert_eq!(
        (taken.entries.len(), taken.alerts.len(), taken.more),
        (2, 2, true)
    );
    // Pages smaller than what is read follow one another in key order.
    let inbox = store.table("inbox").unwrap();
    let paged: Vec<String> = inbox
        .entries_paged::<Value>(None, Some(2))
        .unwrap()
        .map(|e| e.unwrap().0)
        .collect();
    assert_eq!(paged, all_keys(&inbox));
    assert_eq!(paged.len(), 3);
}

fn all_keys(inbox: &statusgate::store::Table) -> Vec<String> {
    inbox
        .entries_from::<Value>(None)
        .unwrap()
        .map(|e| e.unwrap().0)
        .collect()
}
