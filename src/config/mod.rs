//! Configuration: embedded defaults, then an optional YAML file, then environment variables
//! (DESIGN.md "Configuration reference"). Unknown keys are errors with file, line and the
//! nearest valid key; secrets are resolved from the environment or files only.

mod duration;
mod place;
mod publishing;
mod resolve;
pub mod secret;
mod sections;
mod slack;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use duration::{parse_duration, parse_size, ByteSize, Dur};
pub use publishing::*;
pub use secret::Secret;
pub use sections::*;

use crate::vocab::ComponentStatus;

/// The whole configuration file. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub storage: StorageConfig,
    pub mappings: PathBuf,
    pub templates: PathBuf,
    pub public_url: String,
    pub max_body: ByteSize,
    pub shutdown_timeout: Dur,
    pub auth: AuthConfig,
    pub sources: SourcesConfig,
    pub grouping: GroupingConfig,
    pub redaction: RedactionConfig,
    pub limits: LimitsConfig,
    pub storm: StormConfig,
    pub watchdog: Option<WatchdogConfig>,
    pub reconcile: Option<ReconcileConfig>,
    pub page: PageConfig,
    pub uptime: BTreeMap<ComponentStatus, f64>,
    pub slack: Option<SlackConfig>,
    pub delivery: DeliveryConfig,
    pub publishers: Vec<PublisherConfig>,
    pub smtp: Option<SmtpConfig>,
    pub audiences: Vec<AudienceConfig>,
    pub internal_board: InternalBoardConfig,

    /// Secrets resolved at load time; never part of the file.
    #[serde(skip)]
    pub secrets: Secrets,
    /// Whether `templates` was set explicitly (a missing explicit directory is an error;
    /// the default directory may be absent, then the embedded templates serve).
    #[serde(skip)]
    pub templates_explicit: bool,
    /// The file this came from and its text, so problems found later (by the stages that
    /// build themselves from these values) can name their line too.
    #[serde(skip)]
    origin: Option<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./data".into(),
            storage: StorageConfig::default(),
            mappings: "./mappings".into(),
            templates: "./templates".into(),
            public_url: "http://127.0.0.1:8080".into(),
            max_body: ByteSize(1 << 20),
            shutdown_timeout: Dur::secs(30),
            auth: AuthConfig::default(),
            sources: SourcesConfig::default(),
            grouping: GroupingConfig::default(),
            redaction: RedactionConfig::default(),
            limits: LimitsConfig::default(),
            storm: StormConfig::default(),
            watchdog: None,
            reconcile: None,
            page: PageConfig::default(),
            uptime: BTreeMap::new(),
            slack: None,
            delivery: DeliveryConfig::default(),
            publishers: Vec::new(),
            smtp: None,
            audiences: Vec::new(),
            internal_board: InternalBoardConfig::default(),
            secrets: Secrets::default(),
            templates_explicit: false,
            origin: None,
        }
    }
}

/// Secrets resolved from the environment and files.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Management tokens: name, role, secret.
    pub tokens: Vec<(String, Role, Secret)>,
    pub alertmanager_token: Option<Secret>,
    pub alertmanager_basic: Option<(String, Secret)>,
    pub pagerduty_secrets: Vec<Secret>,
    /// Slack's signing secret (verifies requests from Slack).
    pub slack_signing_secret: Option<Secret>,
    /// Slack's bot token (`xoxb-…`, for Web API calls).
    pub slack_bot_token: Option<Secret>,
    /// Per publisher name: the Statuspage API key, the webhook's `whsec_` secret or an S3
    /// mirror's secret access key.
    pub publishers: BTreeMap<String, Secret>,
    /// Per S3 mirror publisher: the access key id (its secret key is in `publishers`).
    pub mirror_key_ids: BTreeMap<String, Secret>,
    pub smtp_password: Option<Secret>,
    /// `storage.url` as resolved (it may carry a password); `None`: sled.
    pub storage_url: Option<Secret>,
    /// Per `reconcile.alertmanagers` entry, in order: its `Authorization` header value.
    pub reconcile: Vec<Option<Secret>>,
    /// Per audience id: the token its page is read with.
    pub audiences: BTreeMap<String, Secret>,
}

/// A configuration problem, with the place it was found when known.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Defaults, then `path` (if any), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, &|k| std::env::var(k).ok())
    }

    /// As [`Config::load`], with the environment given (tests use a map).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| env("STATUSGATE_CONFIG").map(PathBuf::from));
        let (mut config, text) = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
                (Self::parse(&text, &p.display().to_string())?, text)
            }
            None => (Config::default(), String::new()),
        };
        config.templates_explicit =
            path.is_some() && config.templates != Config::default().templates;
        config.apply_env(env)?;
        let mut problems = config.problems();
        let (secrets, more) = config.resolve_secrets(env);
        problems.extend(more);
        if !problems.is_empty() {
            let file = path
                .as_ref()
                .map(|p| (p.display().to_string(), text.as_str()));
            let placed: Vec<String> = problems
                .iter()
                .map(|p| locate(p, file.as_ref().map(|(f, t)| (f.as_str(), *t)), env))
                .collect();
            return Err(ConfigError(placed.join("\n")));
        }
        config.secrets = secrets;
        config.origin = path.map(|p| (p.display().to_string(), text));
        Ok(config)
    }

    /// Parses YAML text; errors name the file, the line and the nearest valid key.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_norway::from_str(text).map_err(|e| ConfigError(describe_yaml_error(file, &e)))
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        if let Some(v) = get("STATUSGATE_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("STATUSGATE_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("STATUSGATE_MAPPINGS") {
            self.mappings = v.into();
        }
        if let Some(v) = get("STATUSGATE_TEMPLATES") {
            self.templates = v.into();
            self.templates_explicit = true;
        }
        if let Some(v) = get("STATUSGATE_PUBLIC_URL") {
            self.public_url = v;
        }
        let dur = |name: &str, v: String| {
            parse_duration(&v)
                .map(Dur)
                .map_err(|e| ConfigError(format!("{name}: {e}")))
        };
        if let Some(v) = get("STATUSGATE_GROUP_WAIT") {
            self.grouping.group_wait = dur("STATUSGATE_GROUP_WAIT", v)?;
        }
        if let Some(v) = get("STATUSGATE_RESOLVE_WAIT") {
            self.grouping.resolve_wait = dur("STATUSGATE_RESOLVE_WAIT", v)?;
        }
        if let Some(v) = get("STATUSGATE_SHUTDOWN_TIMEOUT") {
            self.shutdown_timeout = dur("STATUSGATE_SHUTDOWN_TIMEOUT", v)?;
        }
        if let Some(v) = get("STATUSGATE_MAX_BODY") {
            self.max_body = ByteSize(
                parse_size(&v).map_err(|e| ConfigError(format!("STATUSGATE_MAX_BODY: {e}")))?,
            );
        }
        self.apply_slack_env(env)?;
        Ok(())
    }

    /// `STATUSGATE_SLACK_*` overrides; setting any of them (or a Slack secret) turns the
    /// section on even when the file has none.
    fn apply_slack_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        const KEYS: [&str; 9] = [
            "STATUSGATE_SLACK_CHANNEL",
            "STATUSGATE_SLACK_APPROVERS",
            "STATUSGATE_SLACK_API_URL",
            "STATUSGATE_SLACK_REMIND_AFTER",
            "STATUSGATE_SLACK_NUDGE_AFTER",
            "STATUSGATE_SLACK_SIGNING_SECRET",
            "STATUSGATE_SLACK_SIGNING_SECRET_FILE",
            "STATUSGATE_SLACK_BOT_TOKEN",
            "STATUSGATE_SLACK_BOT_TOKEN_FILE",
        ];
        if self.slack.is_none() && KEYS.iter().any(|k| get(k).is_some()) {
            self.slack = Some(SlackConfig::default());
        }
        let Some(slack) = self.slack.as_mut() else {
            return Ok(());
        };
        if let Some(v) = get("STATUSGATE_SLACK_CHANNEL") {
            slack.channel = Some(v.trim().to_string());
        }
        if let Some(v) = get("STATUSGATE_SLACK_APPROVERS") {
            slack.approvers = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(v) = get("STATUSGATE_SLACK_API_URL") {
            slack.api_url = Some(v.trim().to_string());
        }
        for (name, field) in [
            ("STATUSGATE_SLACK_REMIND_AFTER", &mut slack.remind_after),
            ("STATUSGATE_SLACK_NUDGE_AFTER", &mut slack.nudge_after),
        ] {
            if let Some(v) = get(name) {
                *field = Some(Dur(
                    parse_duration(&v).map_err(|e| ConfigError(format!("{name}: {e}")))?
                ));
            }
        }
        Ok(())
    }

    /// Prefixes a `key.path: …` problem found after loading (a stage refusing a value it
    /// reads, e.g. `watchdog.match` or a webhook key) with `file:line`, as the loader does.
    pub fn place(&self, problem: &str) -> String {
        let file = self.origin.as_ref().map(|(f, t)| (f.as_str(), t.as_str()));
        locate(problem, file, &|_| None)
    }

    /// The share of a minute counted as downtime for a component in `status`.
    pub fn downtime_share(&self, status: ComponentStatus) -> f64 {
        if let Some(v) = self.uptime.get(&status) {
            return *v;
        }
        match status {
            ComponentStatus::MajorOutage => 1.0,
            ComponentStatus::PartialOutage => 0.3,
            _ => 0.0,
        }
    }
}

/// Keys the environment can set, with their variables: a problem with such a key names
/// the variable when it is set, since the file's line is not where the value came from.
const ENV_KEYS: [(&str, &str); 13] = [
    ("listen", "STATUSGATE_LISTEN"),
    ("data_dir", "STATUSGATE_DATA_DIR"),
    ("mappings", "STATUSGATE_MAPPINGS"),
    ("templates", "STATUSGATE_TEMPLATES"),
    ("public_url", "STATUSGATE_PUBLIC_URL"),
    ("max_body", "STATUSGATE_MAX_BODY"),
    ("shutdown_timeout", "STATUSGATE_SHUTDOWN_TIMEOUT"),
    ("grouping.group_wait", "STATUSGATE_GROUP_WAIT"),
    ("grouping.resolve_wait", "STATUSGATE_RESOLVE_WAIT"),
    ("slack.channel", "STATUSGATE_SLACK_CHANNEL"),
    ("slack.approvers", "STATUSGATE_SLACK_APPROVERS"),
    ("slack.api_url", "STATUSGATE_SLACK_API_URL"),
    ("slack.remind_after", "STATUSGATE_SLACK_REMIND_AFTER"),
];

/// Prefixes a `key.path: …` problem with where the value came from: `file:line`, or the
/// environment variable that set it.
fn locate(
    problem: &str,
    file: Option<(&str, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> String {
    let Some(path) = place::path_of(problem) else {
        return problem.to_string();
    };
    if path
        .chars()
        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
    {
        return problem.to_string();
    }
    if let Some((_, var)) = ENV_KEYS.iter().find(|(key, var)| {
        (path == *key || path.starts_with(&format!("{key}.")))
            && env(var).is_some_and(|v| !v.trim().is_empty())
    }) {
        return format!("{var}: {problem}");
    }
    match file {
        Some((name, text)) => match place::line_of(text, path) {
            Some(line) => format!("{name}:{line}: {problem}"),
            None => format!("{name}: {problem}"),
        },
        None => problem.to_string(),
    }
}

/// Turns a serde YAML error into `file:line: reason`, adding the nearest valid key to an
/// "unknown field" message.
pub fn describe_yaml_error(file: &str, e: &serde_norway::Error) -> String {
    let mut msg = e.to_string();
    // serde_norway appends " at line L column C"; the place goes in front instead.
    if let Some(i) = msg.find(" at line ") {
        msg.truncate(i);
    }
    if let Some(hint) = nearest_key_hint(&msg) {
        msg = format!("{msg}; did you mean `{hint}`?");
    }
    match e.location() {
        Some(loc) => format!("{file}:{}: {msg}", loc.line()),
        None => format!("{file}: {msg}"),
    }
}

/// From "unknown field `x`, expected one of `a`, `b`" picks the expected key closest to `x`.
fn nearest_key_hint(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `").or_else(|| {
        msg.find("unknown field `")
            .map(|i| &msg[i + "unknown field `".len()..])
    })?;
    let (unknown, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    candidates
        .into_iter()
        .map(|c| (edit_distance(unknown, c), c))
        .filter(|(d, c)| *d <= (c.len().max(unknown.len()) / 2).max(1))
        .min()
        .map(|(_, c)| c.to_string())
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
pub(crate) mod tests;
