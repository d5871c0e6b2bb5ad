//! `statusgate incidents declare|resolve|list` against a running server.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

async fn run(args: &[&str], url: &str) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("STATUSGATE_URL", url)
        .env("STATUSGATE_TOKEN", ADMIN);
    let out = tokio::task::spawn_blocking(move || output_within(&mut cmd, Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("run statusgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_declares_and_resolves_incidents_through_approval() {
    let s = Server::start(Options::default());
    let (code, _, err) = run(
        &[
            "incidents",
            "declare",
            "--component",
            "web",
            "--body",
            "x",
            "--component",
            "api",
        ],
        &s.url,
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("ID=STATUS"), "{err}");
    let (code, out, err) = run(
        &[
            "incidents",
            "declare",
            "--component",
            "web=degraded_performance",
            "--body",
            "Pages load slowly for some customers.",
            "--status",
            "identified",
        ],
        &s.url,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("drafted D-1 revision 1 (new_incident)"),
        "{out}"
    );
    let (_, d) = s.get("/api/v1/drafts/D-1", Some(ADMIN)).await;
    assert_eq!(d["alerts"], json!([]));
    assert_eq!(d["incident_status"], "identified");
    assert_eq!(d["components"], json!({"web": "degraded_performance"}));
    let (_, page) = s.text("/").await;
    assert!(
        !page.contains("Degraded performance: Web app"),
        "not before approval"
    );
    let (status, approved) = s.approve("D-1", 1).await;
    assert_eq!(status, 200, "{approved}");
    let incident = approved["incident"]["id"].as_str().unwrap().to_string();

    let (code, out, _) = run(&["incidents", "list"], &s.url).await;
    assert_eq!(code, 0);
    assert!(out.contains(&incident) && out.contains("Web app"), "{out}");
    let (code, out, err) = run(&["incidents", "resolve", &incident], &s.url).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("drafted D-2") && out.contains("resolution"),
        "{out}"
    );
    let (code, _, err) = run(&["incidents", "resolve", "INC-404"], &s.url).await;
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
    let (status, _) = s.approve("D-2", 1).await;
    assert_eq!(status, 200);
    let (_, i) = s
        .get(&format!("/api/v1/incidents/{incident}"), Some(ADMIN))
        .await;
    assert_eq!(i["status"], "resolved", "{i}");
    let audit = s.audit().await;
    assert!(audit.iter().any(|e| e["action"] == "draft_created"
        && e["draft_id"] == "D-2"
        && e["actor"] == "admin"));
}
