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

/// The walkthrough pasted line by line as written: the first block starts the server in
/// its own shell; every later line runs in a second shell that has only the `export`s the
/// README gives it there (never the server's), so a line that needs a token it was not
/// given gets 401 and fails here.
#[test]
fn the_readme_walkthrough_works_pasted_line_by_line() {
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let section = readme
        .split("## Five-minute walkthrough")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a walkthrough");
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(blocks.len() >= 4, "{blocks:?}");
    let bin = binary().display().to_string();
    let data = tempfile::tempdir().unwrap();
    const OURS: [&str; 6] = [
        "STATUSGATE_ADMIN_TOKEN",
        "STATUSGATE_ALERTMANAGER_TOKEN",
        "STATUSGATE_GROUP_WAIT",
        "STATUSGATE_CONFIG",
        "STATUSGATE_MAPPINGS",
        "STATUSGATE_TOKEN",
    ];

    // Terminal one: the server in the foreground (`exec`, so killing the shell stops it).
    let server_script = blocks[0].replace("cargo run --", &format!("exec {bin}"));
    let mut server = Command::new("sh");
    server
        .arg("-c")
        .arg(&server_script)
        .current_dir(repo_path(""))
        .env("STATUSGATE_LISTEN", "127.0.0.1:0")
        .env("STATUSGATE_DATA_DIR", data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for k in OURS {
        server.env_remove(k);
    }
    let mut child = server.spawn().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            crate::harness::reap(&mut self.0);
        }
    }
    let stdout = child.stdout.take().unwrap();
    let _child = Kill(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_default();
    let url = line
        .trim()
        .strip_prefix("statusgate listening on ")
        .unwrap_or_else(|| panic!("the walkthrough's server did not start: {line:?}"))
        .to_string();

    // Terminal two: each line in a fresh shell with the exports pasted there so far.
    let mut exports = String::new();
    let mut ran = 0;
    for line in blocks[1..].iter().flat_map(|b| b.lines()) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("export ") {
            exports.push_str(line);
            exports.push('\n');
            continue;
        }
        let script = format!(
            "{exports}{}",
            line.replace("cargo run --", &bin)
                .replace("http://127.0.0.1:8080", &url)
        );
        let approve_by_cli = line.contains("drafts approve");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(&script).current_dir(repo_path(""));
            for k in OURS {
                cmd.env_remove(k);
            }
            let out = cmd.output().unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert!(
                !stdout.contains("\"error\"") && !stderr.contains("401"),
                "`{line}` failed as pasted:\n{stdout}{stderr}"
            );
            // The curl approval already published D-1; the CLI's alternative may only
            // say so, never that it lacks a token.
            assert!(
                out.status.success() || approve_by_cli,
                "`{line}` failed as pasted:\n{stdout}{stderr}"
            );
            // The pending list is empty until the group wait has passed.
            let waiting = line.contains("state=pending") && !stdout.contains("D-1");
            if !waiting {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no pending draft after 30s: {stdout}"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} lines ran");
}
