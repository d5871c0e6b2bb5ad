//! Values a stage judges when it builds itself (the watchdog's matchers, a webhook's
//! signing key) are still refused by `check` and by `serve` at start, with `file:line`.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args).current_dir(repo_path(""));
    for k in [
        "STATUSGATE_CONFIG",
        "STATUSGATE_MAPPINGS",
        "STATUSGATE_ADMIN_TOKEN",
        "STATUSGATE_PUBLIC_URL",
        "STATUSGATE_DATA_DIR",
    ] {
        cmd.env_remove(k);
    }
    cmd
}

fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("statusgate did not exit within 15s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `check` and `serve` on one file: both must fail and name `want` on stderr.
fn both_refuse(config: &str, secret: Option<&str>, want: &[&str], never: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sg.yaml");
    let key = dir.path().join("hook.key");
    std::fs::write(&key, secret.unwrap_or("")).unwrap();
    let text = config
        .replace("{data}", &dir.path().join("data").display().to_string())
        .replace("{key}", &key.display().to_string());
    std::fs::write(&cfg, text).unwrap();
    let cfg = cfg.to_str().unwrap();

    let out = command(&["check", "--config", cfg]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "check: {err}");
    for w in want {
        assert!(
            err.lines().any(|l| l.contains(w)),
            "check: no `{w}` in:\n{err}"
        );
    }
    if let Some(never) = never {
        assert!(!err.contains(never), "check shows `{never}`: {err}");
    }

    let mut child = command(&["serve", "--config", cfg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "serve started: {err}");
    for w in want {
        assert!(err.contains(w), "serve: no `{w}` in:\n{err}");
    }
    if let Some(never) = never {
        assert!(!err.contains(never), "serve shows `{never}`: {err}");
    }
}

#[test]
fn a_watchdog_matcher_the_matcher_refuses_is_named_with_its_line() {
    both_refuse(
        "listen: 127.0.0.1:0\ndata_dir: {data}\nwatchdog:\n  interval: 5m\n  match: ['alertname=~\"(\"']\n",
        None,
        &["sg.yaml:5: watchdog.match: `alertname=~\"(\"`"],
        None,
    );
}

#[test]
fn a_webhook_key_that_is_not_whsec_is_refused_without_showing_it() {
    both_refuse(
        "listen: 127.0.0.1:0\ndata_dir: {data}\npublishers:\n  - name: ops-events\n    type: webhook\n    url: 'http://127.0.0.1:9/hook'\n    secret_file: {key}\n",
        Some("hunter2\n"),
        &["sg.yaml:7: publishers.ops-events.secret_file:", "whsec_"],
        Some("hunter2"),
    );
}
