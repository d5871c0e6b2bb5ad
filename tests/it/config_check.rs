//! `statusgate check` refuses what `serve` would refuse, each problem with `file:line`;
//! keys DESIGN.md marks optional can be left out.

use std::process::Command;

use crate::harness::*;

fn run(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(repo_path(""));
    for k in [
        "STATUSGATE_CONFIG",
        "STATUSGATE_MAPPINGS",
        "STATUSGATE_ADMIN_TOKEN",
        "STATUSGATE_PUBLIC_URL",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run statusgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_problem_serve_would_refuse_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sg.yaml");
    std::fs::write(
        &cfg,
        "listen: 127.0.0.1:0
watchdog:
  interval: 0s
reconcile:
  alertmanagers:
    - url: alertmanager:9093
    - url: http://am-2:9093
      bearer_token_file: /nonexistent/am-token
smtp:
  host: mail.example.com
",
    )
    .unwrap();
    let (code, out, err) = run(&["check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{out}{err}");
    for want in [
        "sg.yaml:3: watchdog.interval: must be more than 0s",
        "sg.yaml:6: reconcile.alertmanagers.1.url: `alertmanager:9093`",
        "sg.yaml:8: reconcile.alertmanagers.2.bearer_token_file: cannot read secret file /nonexistent/am-token",
        "sg.yaml:9: smtp.from: missing",
    ] {
        assert!(
            err.lines().any(|l| l.contains(want)),
            "missing `{want}` in:\n{err}"
        );
    }
    assert!(err.contains("4 problem(s) found"), "{err}");
}

/// `watchdog: {}`, a reconcile section without `interval` and smtp without `host` are
/// complete: the documented defaults fill them in, and the server starts with them.
#[tokio::test(flavor = "multi_thread")]
async fn optional_keys_may_be_left_out_and_the_server_starts() {
    let s = Server::start(Options {
        extra_config: "watchdog: {}
reconcile:
  alertmanagers: [{url: 'http://127.0.0.1:9'}]
smtp: {from: status@example.com}
"
        .into(),
        ..Options::default()
    });
    let (code, out, err) = run(
        &["check", "--config", s.config_path().to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["checks"]["watchdog"]["ok"], true, "{ready}");
    assert!(
        ready["checks"]["watchdog"]["reason"] != "not configured",
        "{ready}"
    );
}

/// Reconcile credentials have the environment form every secret has.
#[test]
fn reconcile_credentials_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sg.yaml");
    std::fs::write(
        &cfg,
        "reconcile:\n  alertmanagers:\n    - url: http://am:9093\n      basic_auth: {username: statusgate}\n",
    )
    .unwrap();
    let (code, _, err) = run(&["check", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("sg.yaml:4: reconcile.alertmanagers.1.basic_auth: no password")
            && err.contains("STATUSGATE_RECONCILE_1_PASSWORD"),
        "{err}"
    );
    let (code, out, err) = run(
        &["check", "--config", cfg.to_str().unwrap()],
        &[("STATUSGATE_RECONCILE_1_PASSWORD", "s3cret")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("s3cret") && !err.contains("s3cret"));
}

/// A route on `source` behaves in `statusgate test` as it does live: a `source` label an
/// Alertmanager alert carries is replaced by `alertmanager`.
#[test]
fn statusgate_test_treats_a_source_label_as_live_ingest_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t.yaml"),
        "components:\n  - {id: api, name: API}\nroutes:\n  - name: blackbox\n    match: ['source=\"blackbox\"']\n    components: [api]\ntests:\n  - name: live never sees source=blackbox\n    labels: {source: blackbox}\n    expect: {}\n",
    )
    .unwrap();
    let (code, out, err) = run(&["test", dir.path().to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
}
