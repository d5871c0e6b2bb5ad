//! The sections of the configuration file, each with its defaults (DESIGN.md
//! "Configuration reference").

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::publishing::yes;
use super::{ByteSize, Dur};

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

/// `watchdog:`; an empty section (`watchdog: {}`) watches for `alertname="Watchdog"`
/// every 5 minutes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchdogConfig {
    #[serde(rename = "match")]
    pub matchers: Vec<String>,
    pub interval: Dur,
}

impl Default for WatchdogConfig {
    fn default() -> Self {
        WatchdogConfig {
            matchers: vec![r#"alertname="Watchdog""#.into()],
            interval: Dur::secs(300),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileConfig {
    #[serde(default = "default_reconcile_interval")]
    pub interval: Dur,
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerEndpoint>,
}

fn default_reconcile_interval() -> Dur {
    Dur::secs(60)
}

/// `storage:`: sled in `data_dir`, or PostgreSQL shared by several replicas.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `postgres://…`; absent: sled in `data_dir`. A URL with a password belongs in
    /// `url_file` or `STATUSGATE_STORAGE_URL[_FILE]`.
    pub url: Option<String>,
    pub url_file: Option<PathBuf>,
    /// Replicas: a lapsed lease is taken over after this.
    pub lease: Dur,
    /// sled: free space kept back; never more than a tenth of the volume.
    pub reserve: ByteSize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: None,
            url_file: None,
            lease: Dur::secs(15),
            reserve: ByteSize(crate::store::DEFAULT_RESERVE as usize),
        }
    }
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

/// A tenant page at `/a/{id}/` (DESIGN.md "Audiences"): the public page plus the
/// components whose mapping names this audience, read with the audience's token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceConfig {
    pub id: String,
    /// Shown on the audience's page beside the page name; the id when absent.
    pub name: Option<String>,
    /// Or `STATUSGATE_AUDIENCE_<ID>_TOKEN[_FILE]`.
    pub token_file: Option<PathBuf>,
}

impl AudienceConfig {
    /// The environment variable that holds this audience's token (`acme-eu` →
    /// `STATUSGATE_AUDIENCE_ACME_EU_TOKEN`).
    pub fn token_env(&self) -> String {
        format!("STATUSGATE_AUDIENCE_{}_TOKEN", env_word(&self.id))
    }

    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// A name as environment variables write it (publishers', audiences'): upper-cased,
/// anything but ASCII letters and digits as `_`.
pub(super) fn env_word(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
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

/// `internal_board:` the staff board at `/internal`. Written `internal_board: true|false`
/// (DESIGN's short form) or as a section `{enabled, session}`.
#[derive(Debug, Clone, PartialEq)]
pub struct InternalBoardConfig {
    pub enabled: bool,
    /// How long a sign-in lasts; the session ends then even if it is in use.
    pub session: Dur,
}

impl Default for InternalBoardConfig {
    fn default() -> Self {
        InternalBoardConfig {
            enabled: true,
            session: Dur::secs(12 * 3600),
        }
    }
}

/// The long form's fields; unknown keys are refused like everywhere else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InternalBoardFields {
    #[serde(default = "yes")]
    enabled: bool,
    session: Option<Dur>,
}

impl<'de> Deserialize<'de> for InternalBoardConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = InternalBoardConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or a section {enabled, session}")
            }
            fn visit_bool<E: serde::de::Error>(self, enabled: bool) -> Result<Self::Value, E> {
                Ok(InternalBoardConfig {
                    enabled,
                    ..InternalBoardConfig::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let f = InternalBoardFields::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(InternalBoardConfig {
                    enabled: f.enabled,
                    session: f
                        .session
                        .unwrap_or_else(|| InternalBoardConfig::default().session),
                })
            }
        }
        d.deserialize_any(Either)
    }
}
