//! `statusgate check` judges a mirror's configuration as `serve` does, with `file:line`,
//! and never prints its keys.

use std::process::Command;

use crate::harness::*;

fn check(config: &str, envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sg.yaml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["check", "--config", cfg.to_str().unwrap()])
        .current_dir(repo_path(""));
    for k in [
        "STATUSGATE_CONFIG",
        "STATUSGATE_MAPPINGS",
        "STATUSGATE_ADMIN_TOKEN",
    ] {
        cmd.env_remove(k);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = output_within(&mut cmd, std::time::Duration::from_secs(60)).expect("run check");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_refuses_a_mirror_without_one_target_or_without_keys() {
    let (code, out) = check(
        "publishers:\n  - name: mirror\n    type: mirror\n    dir: /srv/m\n    s3: {bucket: b}\n  - name: nowhere\n    type: mirror\n    stale_after: 0s\n  - name: bucket\n    type: mirror\n    s3: {bucket: '', endpoint: 's3.example.com'}\n",
        &[],
    );
    assert_eq!(code, 1, "{out}");
    for want in [
        "sg.yaml:2: publishers.mirror: give either `s3` or `dir`, not both",
        "publishers.nowhere: a mirror needs `s3:",
        "publishers.nowhere.stale_after: must be at least 1s",
        "publishers.bucket.s3.bucket: must not be empty",
        "publishers.bucket.s3.endpoint: `s3.example.com` must start with http:// or https://",
        "publishers.bucket.s3: no access key id (access_key_id_file, or STATUSGATE_PUBLISHER_BUCKET_ACCESS_KEY_ID[_FILE])",
        "STATUSGATE_PUBLISHER_BUCKET_SECRET_ACCESS_KEY",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
}

#[test]
fn check_accepts_a_mirror_with_keys_from_the_environment_and_never_prints_them() {
    let (code, out) = check(
        "publishers:\n  - name: mirror\n    type: mirror\n    s3: {endpoint: 'http://127.0.0.1:9', bucket: status, path_style: true}\n  - name: local\n    type: mirror\n    dir: ./target/mirror-check\n",
        &[
            ("STATUSGATE_PUBLISHER_MIRROR_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID"),
            ("STATUSGATE_PUBLISHER_MIRROR_SECRET_ACCESS_KEY", "very-secret-access-key"),
            ("STATUSGATE_ADMIN_TOKEN", "admin-token-for-check"),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("AKIAEXAMPLEKEYID") && !out.contains("very-secret-access-key"),
        "{out}"
    );
}
