//! The command line, as users run it.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(repo_path(""));
    cmd.env_remove("STATUSGATE_CONFIG")
        .env_remove("STATUSGATE_MAPPINGS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = output_within(&mut cmd, Duration::from_secs(60)).expect("run statusgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_accepts_the_shipped_defaults_and_reports_problems_with_their_place() {
    let (code, out, err) = run(&["check"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok:"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), "components:\n  - {id: api, name: API}\nroutes:\n  - name: r\n    match: ['service=\"x\"']\n    components: [ap1]\n").unwrap();
    let (code, _, err) = run(
        &["check"],
        &[("STATUSGATE_MAPPINGS", dir.path().to_str().unwrap())],
    );
    assert_eq!(code, 1);
    assert!(err.contains("a.yaml:6") && err.contains("ap1"), "{err}");

    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "listen: 127.0.0.1:8080\ngroupping:\n  group_wait: 5s\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("c.yaml:2") && err.contains("did you mean `grouping`"),
        "{err}"
    );
}

#[test]
fn mapping_tests_pass_on_the_example_catalog_and_fail_loudly() {
    let (code, out, err) = run(&["test", "mappings"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" 0 failed"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        "components:\n  - {id: api, name: API}\nroutes:\n  - name: r\n    match: ['service=\"api\"']\n    components: [api]\ntests:\n  - name: wrong expectation\n    labels: {service: api}\n    expect: {api: major_outage}\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", dir.path().to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL") && out.contains("wrong expectation") && out.contains("partial_outage"),
        "{out}"
    );
}

#[test]
fn render_previews_a_draft_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let payload = dir.path().join("p.json");
    let mut alert = am_alert(
        "r1",
        "api-gateway",
        "critical",
        true,
        "2026-11-30T12:00:00Z",
    );
    alert["annotations"]["public_summary"] = json!("Requests from 10.0.0.8 fail.");
    std::fs::write(
        &payload,
        serde_json::to_vec(&am_payload(vec![alert])).unwrap(),
    )
    .unwrap();
    let (code, out, err) = run(&["render", "--payload", payload.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("api: major_outage"), "{out}");
    assert!(
        out.contains("[redacted]") && !out.contains("10.0.0.8"),
        "{out}"
    );
    let (code, out, _) = run(
        &["render", "--json", "--payload", payload.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["drafts"][0]["components"]["api"], "major_outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_commands_work_against_a_running_server() {
    let s = Server::start(Options::default());
    s.post_alertmanager(&am_payload(vec![am_alert(
        "c1",
        "web",
        "critical",
        true,
        "2026-11-30T12:00:00Z",
    )]))
    .await;
    let draft = s.wait_draft("web", |d| d["state"] == "pending").await;
    let id = draft["id"].as_str().unwrap().to_string();
    let url = s.url.clone();
    let env = [
        ("STATUSGATE_URL", url.as_str()),
        ("STATUSGATE_TOKEN", ADMIN),
    ];
    let (code, out, err) = tokio::task::spawn_blocking({
        let env = env.map(|(k, v)| (k.to_string(), v.to_string()));
        move || {
            run(
                &["drafts", "list"],
                &env.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id), "{out}");
    let id2 = id.clone();
    let (code, out, err) = tokio::task::spawn_blocking({
        let env = env.map(|(k, v)| (k.to_string(), v.to_string()));
        move || {
            run(
                &["drafts", "approve", &id2, "--revision", "1"],
                &env.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("published as INC-"), "{out}");
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        run(
            &["drafts", "show", "D-404"],
            &[
                ("STATUSGATE_URL", url.as_str()),
                ("STATUSGATE_TOKEN", ADMIN),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
}

/// The README's Alertmanager snippet must pass `amtool check-config`, and its sample alert
/// must map to a shipped component.
#[test]
fn the_readme_walkthrough_is_valid() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let yaml = readme
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README has an alertmanager.yml snippet");
    assert!(yaml.contains("/webhooks/alertmanager") && yaml.contains("send_resolved: true"));
    let amtool = std::path::Path::new("/usr/bin/amtool");
    if amtool.exists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(&file, yaml).unwrap();
        let out = output_within(
            Command::new(amtool).arg("check-config").arg(&file),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        skip_or_fail(
            "amtool check-config of the printed receiver",
            "/usr/bin/amtool is not installed (apt-get install prometheus-alertmanager)",
        );
    }
    let (code, out, err) = run(
        &["render", "--json", "--payload", "examples/alert.json"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["drafts"][0]["components"]["api"], "major_outage", "{out}");
}
