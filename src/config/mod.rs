//! Configuration: embedded defaults, then an optional YAML file, then environment variables
//! (DESIGN.md "Configuration reference"). Unknown keys are errors with file, line and the
//! nearest valid key; secrets are resolved from the environment or files only.

mod duration;
pub mod secret;
mod slack;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use duration::{parse_duration, parse_size, ByteSize, Dur};
pub use secret::Secret;

use crate::vocab::ComponentStatus;

/// The whole configuration file. Every key is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
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

    /// Secrets resolved at load time; never part of the file.
    #[serde(skip)]
    pub secrets: Secrets,
    /// Whether `templates` was set explicitly (a missing explicit directory is an error;
    /// the default directory may be absent, then the embedded templates serve).
    #[serde(skip)]
    pub templates_explicit: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./data".into(),
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
            secrets: Secrets::default(),
            templates_explicit: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub tokens: Vec<TokenConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    pub token_file: PathBuf,
}

/// What a management token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Reader,
    Approver,
    Admin,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourcesConfig {
    pub alertmanager: AlertmanagerSource,
    pub pagerduty: PagerDutySource,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertmanagerSource {
    pub token_file: Option<PathBuf>,
    pub basic: Option<BasicAuthConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    pub username: String,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutySource {
    pub secrets_file: Option<PathBuf>,
    pub severity: BTreeMap<String, String>,
}

impl Default for PagerDutySource {
    fn default() -> Self {
        PagerDutySource {
            secrets_file: None,
            severity: [("high", "critical"), ("low", "warning")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// How alerts are folded into incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Alerts whose component sets overlap share one incident.
    #[default]
    Components,
    /// Alerts for components of the same catalog `group` share one incident.
    ComponentGroup,
    /// Everything open is one incident.
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupingConfig {
    pub group_by: GroupBy,
    pub group_wait: Dur,
    pub resolve_wait: Dur,
    pub flap: FlapConfig,
    pub min_update_interval: Dur,
    pub draft_expiry: Dur,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            group_by: GroupBy::Components,
            group_wait: Dur::secs(30),
            resolve_wait: Dur::secs(300),
            flap: FlapConfig::default(),
            min_update_interval: Dur::secs(300),
            draft_expiry: Dur::secs(4 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlapConfig {
    pub transitions: usize,
    pub window: Dur,
}

impl Default for FlapConfig {
    fn default() -> Self {
        FlapConfig {
            transitions: 4,
            window: Dur::secs(600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    pub internal_domains: Vec<String>,
    pub patterns: Vec<String>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            internal_domains: ["internal", "local", "lan", "corp", "svc.cluster.local"]
                .into_iter()
                .map(String::from)
                .collect(),
            patterns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub ingest: RateConfig,
    pub public: RateConfig,
    /// The management API, per client; separate so a page crowd cannot lock responders out.
    pub api: RateConfig,
    pub drafts_per_hour: u32,
    /// Behind a proxy: the header that carries the client address (e.g. `X-Forwarded-For`;
    /// its last entry is used). Without it, every client behind the proxy shares a limit.
    pub client_ip_header: Option<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            ingest: RateConfig {
                per_second: 100,
                burst: 500,
            },
            public: RateConfig {
                per_second: 200,
                burst: 1000,
            },
            api: RateConfig {
                per_second: 50,
                burst: 200,
            },
            drafts_per_hour: 30,
            client_ip_header: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StormConfig {
    pub max_incidents: usize,
    pub window: Dur,
}

impl Default for StormConfig {
    fn default() -> Self {
        StormConfig {
            max_incidents: 5,
            window: Dur::secs(600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    #[serde(rename = "match")]
    pub matchers: Vec<String>,
    pub interval: Dur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    pub interval: Dur,
    pub alertmanagers: Vec<AlertmanagerEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerEndpoint {
    pub url: String,
    pub basic_auth: Option<BasicAuthConfig>,
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageConfig {
    pub name: String,
    pub logo_url: Option<String>,
    pub accent_color: String,
    pub links: Vec<PageLink>,
}

impl Default for PageConfig {
    fn default() -> Self {
        PageConfig {
            name: "Status".into(),
            logo_url: None,
            accent_color: "#0b7".into(),
            links: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageLink {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub channel: Option<String>,
    #[serde(default)]
    pub approvers: Vec<String>,
    pub api_url: Option<String>,
    pub signing_secret_file: Option<PathBuf>,
    pub bot_token_file: Option<PathBuf>,
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
    #[serde(default)]
    pub approver_groups: Vec<String>,
    pub remind_after: Option<Dur>,
    pub remind_interval: Option<Dur>,
    pub nudge_after: Option<Dur>,
    pub nudge_interval: Option<Dur>,
    pub rate: Option<RateConfig>,
}

impl Default for SlackConfig {
    /// An empty section: what the `STATUSGATE_SLACK_*` variables fill in when the file has
    /// no `slack:` at all.
    fn default() -> Self {
        SlackConfig {
            channel: None,
            approvers: Vec::new(),
            api_url: None,
            signing_secret_file: None,
            bot_token_file: None,
            channels: BTreeMap::new(),
            approver_groups: Vec::new(),
            remind_after: None,
            remind_interval: None,
            nudge_after: None,
            nudge_interval: None,
            rate: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    pub backoff: BackoffConfig,
    pub give_up_after: Dur,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            backoff: BackoffConfig::default(),
            give_up_after: Dur::secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffConfig {
    pub initial: Dur,
    pub max: Dur,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Dur::secs(1),
            max: Dur::secs(300),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum PublisherConfig {
    Statuspage {
        name: String,
        #[serde(default = "default_statuspage_url")]
        base_url: String,
        page_id: String,
        api_key_file: Option<PathBuf>,
        #[serde(default)]
        components: BTreeMap<String, String>,
        #[serde(default = "yes")]
        deliver_notifications: bool,
    },
    Webhook {
        name: String,
        url: String,
        secret_file: Option<PathBuf>,
    },
}

impl PublisherConfig {
    pub fn name(&self) -> &str {
        match self {
            PublisherConfig::Statuspage { name, .. } | PublisherConfig::Webhook { name, .. } => {
                name
            }
        }
    }

    /// The environment variable that holds this publisher's secret:
    /// `STATUSGATE_PUBLISHER_<NAME>_API_KEY` (Statuspage) or `…_SECRET` (webhook), with the
    /// name upper-cased and anything but letters and digits as `_`.
    pub fn secret_env(&self) -> String {
        let name: String = self
            .name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        match self {
            PublisherConfig::Statuspage { .. } => format!("STATUSGATE_PUBLISHER_{name}_API_KEY"),
            PublisherConfig::Webhook { .. } => format!("STATUSGATE_PUBLISHER_{name}_SECRET"),
        }
    }

    fn secret_file(&self) -> Option<&Path> {
        match self {
            PublisherConfig::Statuspage { api_key_file, .. } => api_key_file.as_deref(),
            PublisherConfig::Webhook { secret_file, .. } => secret_file.as_deref(),
        }
    }
}

fn default_statuspage_url() -> String {
    "https://api.statuspage.io/v1".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub starttls: bool,
    pub from: String,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

fn default_smtp_port() -> u16 {
    25
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
    /// Per publisher name: the Statuspage API key or the webhook's `whsec_` secret.
    pub publishers: BTreeMap<String, Secret>,
    pub smtp_password: Option<Secret>,
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
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
                Self::parse(&text, &p.display().to_string())?
            }
            None => Config::default(),
        };
        config.templates_explicit =
            path.is_some() && config.templates != Config::default().templates;
        config.apply_env(env)?;
        config.validate()?;
        config.secrets = config.resolve_secrets(env)?;
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

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen: `{}` is not an address:port (e.g. 127.0.0.1:8080)",
                self.listen
            ));
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            problems.push(format!(
                "public_url: `{}` must start with http:// or https://",
                self.public_url
            ));
        }
        if self.max_body.0 < 1024 {
            problems.push("max_body: must be at least 1KiB".into());
        }
        if self.grouping.flap.transitions < 2 {
            problems.push("grouping.flap.transitions: must be at least 2".into());
        }
        for p in &self.redaction.patterns {
            if let Err(e) = regex::Regex::new(p) {
                problems.push(format!("redaction.patterns: invalid regex `{p}`: {e}"));
            }
        }
        for (status, share) in &self.uptime {
            if !(0.0..=1.0).contains(share) {
                problems.push(format!("uptime.{status}: {share} is not between 0 and 1"));
            }
        }
        for (urgency, severity) in &self.sources.pagerduty.severity {
            if !matches!(urgency.as_str(), "high" | "low") {
                problems.push(format!(
                    "sources.pagerduty.severity: unknown urgency `{urgency}` (PagerDuty's urgencies are high and low)"
                ));
            }
            if severity.trim().is_empty() {
                problems.push(format!(
                    "sources.pagerduty.severity.{urgency}: the severity must not be empty"
                ));
            }
        }
        let mut publishers = std::collections::BTreeSet::new();
        for p in &self.publishers {
            let name = p.name();
            if name.trim().is_empty() {
                problems.push("publishers: every publisher needs a `name`".into());
            } else if !publishers.insert(name) {
                problems.push(format!("publishers: duplicate name `{name}`"));
            }
            let (key, url) = match p {
                PublisherConfig::Statuspage {
                    base_url, page_id, ..
                } => {
                    if page_id.trim().is_empty() {
                        problems.push(format!("publishers.{name}.page_id: must not be empty"));
                    }
                    ("base_url", base_url)
                }
                PublisherConfig::Webhook { url, .. } => ("url", url),
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "publishers.{name}.{key}: `{url}` must start with http:// or https://"
                ));
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                problems.push(format!(
                    "smtp.from: `{}` is not an email address",
                    smtp.from
                ));
            }
            if smtp.host.trim().is_empty() {
                problems.push("smtp.host: must not be empty".into());
            }
        }
        if self.delivery.backoff.initial.as_std().is_zero()
            || self.delivery.backoff.max < self.delivery.backoff.initial
        {
            problems
                .push("delivery.backoff: initial must be above 0 and max at least initial".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for t in &self.auth.tokens {
            if !names.insert(t.name.as_str()) {
                problems.push(format!("auth.tokens: duplicate token name `{}`", t.name));
            }
        }
        if let Some(w) = &self.watchdog {
            for m in &w.matchers {
                if let Err(e) = crate::catalog::Matcher::parse(m) {
                    problems.push(format!("watchdog.match: `{m}`: {e}"));
                }
            }
            if w.interval.as_std().is_zero() {
                problems.push("watchdog.interval: must be more than 0s".into());
            }
        }
        if let Some(slack) = &self.slack {
            problems.extend(slack.problems());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems.join("\n")))
        }
    }

    fn resolve_secrets(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secrets, ConfigError> {
        let err = |e: String| ConfigError(e);
        let mut secrets = Secrets::default();
        for t in &self.auth.tokens {
            let s = secret::read_secret_file(&t.token_file)
                .map_err(|e| err(format!("auth.tokens[{}]: {e}", t.name)))?;
            secrets.tokens.push((t.name.clone(), t.role, s));
        }
        if let Some(admin) = secret::resolve(env, "STATUSGATE_ADMIN_TOKEN", None).map_err(err)? {
            secrets.tokens.push(("admin".into(), Role::Admin, admin));
        }
        secrets.alertmanager_token = secret::resolve(
            env,
            "STATUSGATE_ALERTMANAGER_TOKEN",
            self.sources.alertmanager.token_file.as_deref(),
        )
        .map_err(err)?;
        if let Some(basic) = &self.sources.alertmanager.basic {
            let password = secret::resolve(
                env,
                "STATUSGATE_ALERTMANAGER_PASSWORD",
                basic.password_file.as_deref(),
            )
            .map_err(err)?
            .ok_or_else(|| {
                err("sources.alertmanager.basic: no password (password_file or STATUSGATE_ALERTMANAGER_PASSWORD[_FILE])".into())
            })?;
            secrets.alertmanager_basic = Some((basic.username.clone(), password));
        }
        if let Some(list) = secret::resolve(
            env,
            "STATUSGATE_PAGERDUTY_SECRETS",
            self.sources.pagerduty.secrets_file.as_deref(),
        )
        .map_err(err)?
        {
            secrets.pagerduty_secrets = list
                .expose()
                .split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .collect();
        }
        let slack = self.slack.as_ref();
        secrets.slack_signing_secret = secret::resolve(
            env,
            "STATUSGATE_SLACK_SIGNING_SECRET",
            slack.and_then(|s| s.signing_secret_file.as_deref()),
        )
        .map_err(|e| err(format!("slack.signing_secret_file: {e}")))?;
        secrets.slack_bot_token = secret::resolve(
            env,
            "STATUSGATE_SLACK_BOT_TOKEN",
            slack.and_then(|s| s.bot_token_file.as_deref()),
        )
        .map_err(|e| err(format!("slack.bot_token_file: {e}")))?;
        for p in &self.publishers {
            let secret = secret::resolve(env, &p.secret_env(), p.secret_file())
                .map_err(|e| err(format!("publishers.{}: {e}", p.name())))?
                .ok_or_else(|| {
                    let file = match p {
                        PublisherConfig::Statuspage { .. } => "api_key_file",
                        PublisherConfig::Webhook { .. } => "secret_file",
                    };
                    err(format!(
                        "publishers.{}: no secret ({file}, or {}[_FILE])",
                        p.name(),
                        p.secret_env()
                    ))
                })?;
            if let PublisherConfig::Webhook { .. } = p {
                crate::publish::targets::webhook::SigningKey::parse(secret.expose())
                    .map_err(|e| err(format!("publishers.{}: {e}", p.name())))?;
            }
            secrets.publishers.insert(p.name().to_string(), secret);
        }
        if let Some(smtp) = &self.smtp {
            secrets.smtp_password = secret::resolve(
                env,
                "STATUSGATE_SMTP_PASSWORD",
                smtp.password_file.as_deref(),
            )
            .map_err(err)?;
            if smtp.username.is_some() && secrets.smtp_password.is_none() {
                return Err(err(
                    "smtp: a username needs a password (password_file or STATUSGATE_SMTP_PASSWORD[_FILE])"
                        .into(),
                ));
            }
        }
        Ok(secrets)
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
mod tests;
