//! Where approved updates go out (DESIGN.md "Configuration reference"): the
//! `publishers:`, how their deliveries are retried, and the mail server that subscriber
//! emails are sent through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::sections::env_word;
use super::Dur;

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

impl BackoffConfig {
    /// The delay before attempt `n + 1` after `n` failures: exponential from `initial`,
    /// capped at `max`, with jitter (half fixed, half random) so that many retries do not
    /// fall in step.
    pub fn delay(&self, failures: u32) -> std::time::Duration {
        let initial = self
            .initial
            .as_std()
            .max(std::time::Duration::from_millis(1));
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        let d = initial
            .saturating_mul(factor)
            .min(self.max.as_std().max(initial));
        let half = d / 2;
        half + half.mul_f64(rand::random::<f64>())
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
    /// The whole public page as static files, in a bucket or a directory.
    Mirror {
        name: String,
        s3: Option<MirrorS3Config>,
        dir: Option<PathBuf>,
        #[serde(default = "ten_minutes")]
        stale_after: Dur,
    },
}

/// An S3-compatible bucket the mirror writes to (signature v4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorS3Config {
    #[serde(default = "default_s3_endpoint")]
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "default_s3_region")]
    pub region: String,
    /// Written before every path (`status/` puts the page under `status/index.html`).
    #[serde(default)]
    pub prefix: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key` (MinIO, Ceph, moto).
    #[serde(default)]
    pub path_style: bool,
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key_file: Option<PathBuf>,
}

fn default_s3_endpoint() -> String {
    "https://s3.amazonaws.com".into()
}
fn default_s3_region() -> String {
    "us-east-1".into()
}
fn ten_minutes() -> Dur {
    Dur::secs(600)
}

impl PublisherConfig {
    pub fn name(&self) -> &str {
        match self {
            PublisherConfig::Statuspage { name, .. }
            | PublisherConfig::Webhook { name, .. }
            | PublisherConfig::Mirror { name, .. } => name,
        }
    }

    /// The environment variable that holds this publisher's secret:
    /// `STATUSGATE_PUBLISHER_<NAME>_API_KEY` (Statuspage), `…_SECRET` (webhook) or
    /// `…_SECRET_ACCESS_KEY` (S3 mirror), with the name as [`Self::env_name`] writes it.
    pub fn secret_env(&self) -> String {
        let name = self.env_name();
        match self {
            PublisherConfig::Statuspage { .. } => format!("STATUSGATE_PUBLISHER_{name}_API_KEY"),
            PublisherConfig::Webhook { .. } => format!("STATUSGATE_PUBLISHER_{name}_SECRET"),
            PublisherConfig::Mirror { .. } => {
                format!("STATUSGATE_PUBLISHER_{name}_SECRET_ACCESS_KEY")
            }
        }
    }

    /// The name as it appears in environment variables: upper-cased, anything but letters
    /// and digits as `_`.
    pub fn env_name(&self) -> String {
        env_word(self.name())
    }

    pub(super) fn secret_file(&self) -> Option<&Path> {
        match self {
            PublisherConfig::Statuspage { api_key_file, .. } => api_key_file.as_deref(),
            PublisherConfig::Webhook { secret_file, .. } => secret_file.as_deref(),
            PublisherConfig::Mirror { s3, .. } => s3
                .as_ref()
                .and_then(|s| s.secret_access_key_file.as_deref()),
        }
    }
}

fn default_statuspage_url() -> String {
    "https://api.statuspage.io/v1".into()
}
pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default = "default_smtp_host")]
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub starttls: bool,
    /// Required; empty when the file leaves it out (validation names it).
    #[serde(default)]
    pub from: String,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

fn default_smtp_host() -> String {
    "localhost".into()
}

fn default_smtp_port() -> u16 {
    25
}
