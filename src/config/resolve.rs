//! Resolving secrets from the environment and files, every problem with its key path.

use base64::Engine;

use super::secret::{self, Secret};
use super::{Config, PublisherConfig, Role, Secrets};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Reads every secret; problems (an unreadable or empty file, a secret that is
    /// needed and missing) come back as `key.path: what is wrong`, all of them at once.
    pub(super) fn resolve_secrets(&self, env: Env<'_>) -> (Secrets, Vec<String>) {
        let mut problems = Vec::new();
        let mut secrets = Secrets::default();
        // Problems found here; `problems` belongs to `get` while it is in use.
        let mut missing = Vec::new();
        let mut get = |path: &str, name: &str, file: Option<&std::path::Path>| {
            secret::resolve(env, name, file).unwrap_or_else(|e| {
                problems.push(format!("{path}: {e}"));
                None
            })
        };
        for t in &self.auth.tokens {
            match secret::read_secret_file(&t.token_file) {
                Ok(s) => secrets.tokens.push((t.name.clone(), t.role, s)),
                Err(e) => missing.push(format!("auth.tokens.{}.token_file: {e}", t.name)),
            }
        }
        if let Some(admin) = get("STATUSGATE_ADMIN_TOKEN", "STATUSGATE_ADMIN_TOKEN", None) {
            secrets.tokens.push(("admin".into(), Role::Admin, admin));
        }
        let am = &self.sources.alertmanager;
        secrets.alertmanager_token = get(
            "sources.alertmanager.token_file",
            "STATUSGATE_ALERTMANAGER_TOKEN",
            am.token_file.as_deref(),
        );
        if let Some(basic) = &am.basic {
            match get(
                "sources.alertmanager.basic.password_file",
                "STATUSGATE_ALERTMANAGER_PASSWORD",
                basic.password_file.as_deref(),
            ) {
                Some(pw) => secrets.alertmanager_basic = Some((basic.username.clone(), pw)),
                None => missing.push(
                    "sources.alertmanager.basic: no password (password_file or STATUSGATE_ALERTMANAGER_PASSWORD[_FILE])"
                        .to_string(),
                ),
            }
        }
        if let Some(list) = get(
            "sources.pagerduty.secrets_file",
            "STATUSGATE_PAGERDUTY_SECRETS",
            self.sources.pagerduty.secrets_file.as_deref(),
        ) {
            secrets.pagerduty_secrets = list
                .expose()
                .split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect();
        }
        let slack = self.slack.as_ref();
        secrets.slack_signing_secret = get(
            "slack.signing_secret_file",
            "STATUSGATE_SLACK_SIGNING_SECRET",
            slack.and_then(|s| s.signing_secret_file.as_deref()),
        );
        secrets.slack_bot_token = get(
            "slack.bot_token_file",
            "STATUSGATE_SLACK_BOT_TOKEN",
            slack.and_then(|s| s.bot_token_file.as_deref()),
        );
        for p in &self.publishers {
            let (key, env_name) = match p {
                PublisherConfig::Statuspage { .. } => ("api_key_file", p.secret_env()),
                PublisherConfig::Webhook { .. } => ("secret_file", p.secret_env()),
                // A directory mirror needs no secret.
                PublisherConfig::Mirror { s3: None, .. } => continue,
                PublisherConfig::Mirror { s3: Some(s3), .. } => {
                    let env_name = format!("STATUSGATE_PUBLISHER_{}_ACCESS_KEY_ID", p.env_name());
                    let path = format!("publishers.{}.s3.access_key_id_file", p.name());
                    let file = s3.access_key_id_file.as_deref();
                    match get(&path, &env_name, file) {
                        Some(id) => {
                            secrets.mirror_key_ids.insert(p.name().to_string(), id);
                        }
                        None if file.is_none() => missing.push(format!(
                            "publishers.{}.s3: no access key id (access_key_id_file, or {env_name}[_FILE])",
                            p.name()
                        )),
                        None => {}
                    }
                    ("s3.secret_access_key_file", p.secret_env())
                }
            };
            let path = format!("publishers.{}.{key}", p.name());
            let Some(secret) = get(&path, &env_name, p.secret_file()) else {
                if p.secret_file().is_none() {
                    missing.push(format!(
                        "publishers.{}: no secret ({key}, or {env_name}[_FILE])",
                        p.name()
                    ));
                }
                continue;
            };
            secrets.publishers.insert(p.name().to_string(), secret);
        }
        if let Some(smtp) = &self.smtp {
            secrets.smtp_password = get(
                "smtp.password_file",
                "STATUSGATE_SMTP_PASSWORD",
                smtp.password_file.as_deref(),
            );
            if smtp.username.is_some() && secrets.smtp_password.is_none() {
                missing.push(
                    "smtp.username: a username needs a password (password_file or STATUSGATE_SMTP_PASSWORD[_FILE])"
                        .into(),
                );
            }
        }
        if let Some(r) = &self.reconcile {
            for (i, am) in r.alertmanagers.iter().enumerate() {
                let n = i + 1;
                let at = format!("reconcile.alertmanagers.{n}");
                let password_env = format!("STATUSGATE_RECONCILE_{n}_PASSWORD");
                let bearer_env = format!("STATUSGATE_RECONCILE_{n}_BEARER_TOKEN");
                let authorization = if let Some(basic) = &am.basic_auth {
                    match get(
                        &format!("{at}.basic_auth.password_file"),
                        &password_env,
                        basic.password_file.as_deref(),
                    ) {
                        Some(pw) => {
                            let pair = format!("{}:{}", basic.username, pw.expose());
                            Some(Secret::new(format!(
                                "Basic {}",
                                base64::engine::general_purpose::STANDARD.encode(pair)
                            )))
                        }
                        None => {
                            if basic.password_file.is_none() {
                                missing.push(format!(
                                    "{at}.basic_auth: no password (password_file, or {password_env}[_FILE])"
                                ));
                            }
                            None
                        }
                    }
                } else {
                    get(
                        &format!("{at}.bearer_token_file"),
                        &bearer_env,
                        am.bearer_token_file.as_deref(),
                    )
                    .map(|t| Secret::new(format!("Bearer {}", t.expose())))
                };
                secrets.reconcile.push(authorization);
            }
        }
        for a in &self.audiences {
            let env_name = a.token_env();
            let path = format!("audiences.{}.token_file", a.id);
            match get(&path, &env_name, a.token_file.as_deref()) {
                Some(token) => drop(secrets.audiences.insert(a.id.clone(), token)),
                None if a.token_file.is_none() => missing.push(format!(
                    "audiences.{}: no token (token_file, or {env_name}[_FILE])",
                    a.id
                )),
                None => {}
            }
        }
        secrets.storage_url = get(
            "storage.url_file",
            "STATUSGATE_STORAGE_URL",
            self.storage.url_file.as_deref(),
        )
        .or_else(|| self.storage.url.clone().map(Secret::new));
        problems.extend(missing);
        (secrets, problems)
    }
}
