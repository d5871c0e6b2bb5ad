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
    // Whether a webhook key is a `whsec_` key is the webhook target's to judge (when
    // publishers are built, by `serve` and `check`: tests/it/config_stages.rs).
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

/// A fresh file holding `contents`, there as long as its directory.
fn temp_file(name: &str, contents: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, contents).unwrap();
    (dir, file)
}

/// Loads `text` as a config file (errors name it `sg.yaml`).
pub(crate) fn load_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let (_dir, file) = temp_file("sg.yaml", text);
    Config::load_with_env(Some(&file), env)
        .map_err(|e| ConfigError(e.0.replace(&*file.display().to_string(), "sg.yaml")))
}

/// Loads `text` with `{file}` replaced by the path of a fresh file holding `secret`.
pub(crate) fn load_with_file(
    text: &str,
    secret: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let (_dir, file) = temp_file("secret", secret);
    load_text(&text.replace("{file}", &file.display().to_string()), env)
}

#[test]
fn optional_keys_have_their_documented_defaults() {
    let c = load_text(
        "watchdog: {}\nreconcile:\n  alertmanagers: [{url: http://am:9093}]\nsmtp: {from: status@example.com}\n",
        &no_env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let w = c.watchdog.unwrap();
    assert_eq!(w.matchers, [r#"alertname="Watchdog""#]);
    assert_eq!(w.interval, Dur::secs(300));
    assert_eq!(c.reconcile.unwrap().interval, Dur::secs(60));
    let smtp = c.smtp.unwrap();
    assert_eq!((smtp.host.as_str(), smtp.port), ("localhost", 25));
    assert_eq!(c.storage.reserve, ByteSize(16 << 20));
}

#[test]
fn every_problem_names_its_file_and_line_and_all_are_reported() {
    let err = load_text(
        "listen: 127.0.0.1:1\nsmtp:\n  host: mail\nreconcile:\n  interval: 1m\nwatchdog:\n  interval: 0s\npage:\n  links: [{title: x, url: 'support'}]\n",
        &no_env,
    )
    .unwrap_err()
    .to_string();
    let lines: Vec<&str> = err.lines().collect();
    for want in [
        "sg.yaml:2: smtp.from: missing",
        "sg.yaml:4: reconcile.alertmanagers: missing",
        "sg.yaml:7: watchdog.interval: must be more than 0s",
        "sg.yaml:9: page.links.1.url: `support`",
    ] {
        assert!(lines.iter().any(|l| l.starts_with(want)), "{want}\n{err}");
    }
    let env = |k: &str| (k == "STATUSGATE_PUBLIC_URL").then(|| "status.example.com".to_string());
    let err = load_text("listen: 127.0.0.1:1\n", &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("STATUSGATE_PUBLIC_URL: public_url:"),
        "{err}"
    );
}

#[test]
fn reconcile_credentials_come_from_env_or_files_and_unreadable_files_are_placed() {
    let yaml = "reconcile:\n  alertmanagers:\n    - url: http://a:9093\n      basic_auth: {username: sg}\n    - url: http://b:9093\n";
    let env = |k: &str| match k {
        "STATUSGATE_RECONCILE_1_PASSWORD" => Some("pw".to_string()),
        "STATUSGATE_RECONCILE_2_BEARER_TOKEN" => Some("tok".to_string()),
        _ => None,
    };
    let c = load_text(yaml, &env).unwrap_or_else(|e| panic!("{e}"));
    let auth: Vec<Option<&str>> = c
        .secrets
        .reconcile
        .iter()
        .map(|s| s.as_ref().map(|s| s.expose()))
        .collect();
    assert_eq!(auth, [Some("Basic c2c6cHc="), Some("Bearer tok")]);

    let err = load_text(yaml, &no_env).unwrap_err().to_string();
    assert!(
        err.starts_with("sg.yaml:4: reconcile.alertmanagers.1.basic_auth: no password"),
        "{err}"
    );
    assert!(err.contains("STATUSGATE_RECONCILE_1_PASSWORD"), "{err}");
    let err = load_text(
        "reconcile:\n  alertmanagers:\n    - url: http://a:9093\n      bearer_token_file: /nonexistent/token\n",
        &no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("sg.yaml:4: reconcile.alertmanagers.1.bearer_token_file: cannot read"),
        "{err}"
    );
}

#[test]
fn audiences_need_a_token_and_a_path_safe_unique_id() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "audiences:\n  - {id: acme-eu, name: Acme Corp}\n  - {id: Globex}\n  - {id: acme-eu}\n",
    )
    .unwrap();
    let env = |k: &str| (k == "STATUSGATE_AUDIENCE_ACME_EU_TOKEN").then(|| "t0ken".to_string());
    let err = Config::load_with_env(Some(&file), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("id `Globex` may only contain lowercase letters"),
        "{err}"
    );
    assert!(err.contains("duplicate id `acme-eu`"), "{err}");
    assert!(
        err.contains(
            "audiences.Globex: no token (token_file, or STATUSGATE_AUDIENCE_GLOBEX_TOKEN[_FILE])"
        ),
        "{err}"
    );
    std::fs::write(&file, "audiences:\n  - {id: acme-eu, name: Acme Corp}\n").unwrap();
    let c = Config::load_with_env(Some(&file), &env).unwrap();
    assert_eq!(c.audiences[0].display_name(), "Acme Corp");
    assert!(c.secrets.audiences["acme-eu"].matches(b"t0ken"));
}

#[test]
fn the_internal_board_is_a_switch_or_a_section() {
    let c = Config::parse("internal_board: false\n", "sg.yaml").unwrap();
    assert!(!c.internal_board.enabled);
    assert_eq!(c.internal_board.session, Dur::secs(12 * 3600));
    let c = Config::parse("internal_board: {session: 30m}\n", "sg.yaml").unwrap();
    assert!(c.internal_board.enabled);
    assert_eq!(c.internal_board.session, Dur::secs(1800));
    let err = Config::parse("internal_board:\n  sesion: 30m\n", "sg.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sesion") && err.contains("session"), "{err}");
    let err = Config::parse("internal_board: {session: 2s}\n", "sg.yaml")
        .unwrap()
        .problems()
        .join("\n");
    assert!(err.contains("internal_board.session"), "{err}");
}
