//! Loading, layering and checking configuration.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn no_file_gives_the_embedded_defaults() {
    let c = Config::load_with_env(None, &no_env).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.grouping.group_wait, Dur::secs(30));
    assert_eq!(c.max_body, ByteSize(1 << 20));
}

#[test]
fn unknown_keys_name_the_line_and_the_nearest_key() {
    let err = Config::parse(
        "listen: 127.0.0.1:9\ngrouping:\n  group_wiat: 5s\n",
        "sg.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("sg.yaml:3: "), "{err}");
    assert!(err.contains("unknown field `group_wiat`"), "{err}");
    assert!(err.contains("did you mean `group_wait`?"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "listen: 127.0.0.1:1\ngrouping: {group_wait: 1m}\n").unwrap();
    let env = |k: &str| match k {
        "STATUSGATE_LISTEN" => Some("127.0.0.1:2".to_string()),
        "STATUSGATE_GROUP_WAIT" => Some("2s".to_string()),
        "STATUSGATE_ADMIN_TOKEN" => Some("s3cret".to_string()),
        _ => None,
    };
    let c = Config::load_with_env(Some(&file), &env).unwrap();
    assert_eq!(c.listen, "127.0.0.1:2");
    assert_eq!(c.grouping.group_wait, Dur::secs(2));
    assert_eq!(c.secrets.tokens[0].1, Role::Admin);
    assert!(c.secrets.tokens[0].2.matches(b"s3cret"));
}

#[test]
fn publisher_secrets_come_from_env_or_files_and_webhook_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    let key = dir.path().join("sp.key");
    std::fs::write(&key, "sp-key-from-file\n").unwrap();
    std::fs::write(
        &file,
        format!(
            "publishers:\n  - {{name: hosted-page, type: statuspage, page_id: p1, api_key_file: {}}}\n  - {{name: ops.events, type: webhook, url: 'http://127.0.0.1:1/h'}}\n",
            key.display()
        ),
    )
    .unwrap();
    let good = |k: &str| {
        (k == "STATUSGATE_PUBLISHER_OPS_EVENTS_SECRET")
            .then(|| "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_string())
    };
    let c = Config::load_with_env(Some(&file), &good).unwrap();
    assert_eq!(
        c.secrets.publishers["hosted-page"].expose(),
        "sp-key-from-file"
    );
    let err = Config::load_with_env(Some(&file), &no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("publishers.ops.events: no secret"), "{err}");
    assert!(
        err.contains("STATUSGATE_PUBLISHER_OPS_EVENTS_SECRET"),
        "{err}"
    );
    let bad =
        |k: &str| (k == "STATUSGATE_PUBLISHER_OPS_EVENTS_SECRET").then(|| "hunter2".to_string());
    let err = Config::load_with_env(Some(&file), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("whsec_"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn bad_values_are_refused_with_their_key() {
    let err = Config::parse("grouping: {group_wait: 5 minutes}", "f")
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid duration"), "{err}");
    let err = Config::parse("auth: {tokens: [{name: a, role: god, token_file: x}]}", "f")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `god`"), "{err}");
}
