//! The `slack` section's defaults and checks (DESIGN.md "Configuration reference").

use std::time::Duration;

use super::{RateConfig, SlackConfig};

/// Slack's Web API, unless `api_url` points elsewhere (tests use a local server).
pub const DEFAULT_SLACK_API: &str = "https://slack.com/api";

impl SlackConfig {
    pub fn api_url(&self) -> String {
        self.api_url
            .as_deref()
            .unwrap_or(DEFAULT_SLACK_API)
            .trim_end_matches('/')
            .to_string()
    }

    /// A pending draft gets its first reminder after this long.
    pub fn remind_after(&self) -> Duration {
        self.remind_after.map_or(Duration::from_secs(600), |d| d.0)
    }

    pub fn remind_interval(&self) -> Duration {
        self.remind_interval
            .map_or(Duration::from_secs(600), |d| d.0)
    }

    /// An open incident without a public update for this long gets a nudge.
    pub fn nudge_after(&self) -> Duration {
        self.nudge_after.map_or(Duration::from_secs(1800), |d| d.0)
    }

    pub fn nudge_interval(&self) -> Duration {
        self.nudge_interval
            .map_or(Duration::from_secs(1800), |d| d.0)
    }

    /// `chat.*` calls per channel: Slack allows about one message a second per channel.
    pub fn rate(&self) -> RateConfig {
        self.rate.unwrap_or(RateConfig {
            per_second: 1,
            burst: 3,
        })
    }

    /// What is wrong with the section, one line per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let api = self.api_url();
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            out.push(format!(
                "slack.api_url: `{api}` must start with http:// or https://"
            ));
        }
        if self.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            out.push("slack.channel: must not be empty".into());
        }
        for (group, channel) in &self.channels {
            if channel.trim().is_empty() {
                out.push(format!("slack.channels.{group}: must not be empty"));
            }
        }
        for id in &self.approvers {
            if !looks_like_id(id, &['U', 'W']) {
                out.push(format!(
                    "slack.approvers: `{id}` is not a Slack user id (U… or W…; names change, ids do not)"
                ));
            }
        }
        for id in &self.approver_groups {
            if !looks_like_id(id, &['S']) {
                out.push(format!(
                    "slack.approver_groups: `{id}` is not a Slack user group id (S…)"
                ));
            }
        }
        for (key, d) in [
            ("remind_after", self.remind_after()),
            ("remind_interval", self.remind_interval()),
            ("nudge_after", self.nudge_after()),
            ("nudge_interval", self.nudge_interval()),
        ] {
            if d < Duration::from_secs(1) {
                out.push(format!("slack.{key}: must be at least 1s"));
            }
        }
        let rate = self.rate();
        if rate.per_second == 0 || rate.burst == 0 {
            out.push("slack.rate: per_second and burst must be at least 1".into());
        }
        out
    }
}

fn looks_like_id(id: &str, prefixes: &[char]) -> bool {
    id.len() >= 2
        && id.starts_with(prefixes)
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{load_text, load_with_file};
    use super::super::{Config, Secret};

    fn holds(secret: &Option<Secret>, value: &[u8]) -> bool {
        secret.as_ref().is_some_and(|s| s.matches(value))
    }

    #[test]
    fn environment_turns_slack_on_and_overrides_the_file() {
        let env = |k: &str| match k {
            "STATUSGATE_SLACK_CHANNEL" => Some("C0ENV".to_string()),
            "STATUSGATE_SLACK_APPROVERS" => Some("U01, U02,".to_string()),
            "STATUSGATE_SLACK_REMIND_AFTER" => Some("2m".to_string()),
            "STATUSGATE_SLACK_BOT_TOKEN" => Some("xoxb-1".to_string()),
            "STATUSGATE_SLACK_SIGNING_SECRET" => Some("shh".to_string()),
            _ => None,
        };
        let c = Config::load_with_env(None, &env).unwrap();
        let slack = c.slack.as_ref().unwrap();
        assert_eq!(slack.channel.as_deref(), Some("C0ENV"));
        assert_eq!(slack.approvers, ["U01", "U02"]);
        assert_eq!(slack.remind_after().as_secs(), 120);
        assert_eq!(slack.nudge_after().as_secs(), 1800);
        assert_eq!(slack.api_url(), "https://slack.com/api");
        assert!(holds(&c.secrets.slack_bot_token, b"xoxb-1"));
        assert!(holds(&c.secrets.slack_signing_secret, b"shh"));
    }

    #[test]
    fn secrets_come_from_files_named_in_the_config() {
        let text = "slack: {channel: C1, bot_token_file: {file}}\n";
        let c = load_with_file(text, "xoxb-file\n", &|_| None).unwrap();
        assert!(holds(&c.secrets.slack_bot_token, b"xoxb-file"));
        assert!(c.secrets.slack_signing_secret.is_none());
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let err = load_text(
            "slack: {channel: C1, approvers: [alice], approver_groups: [U1], api_url: ftp://x, remind_interval: 0s}\n",
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "slack.approvers: `alice`",
            "slack.approver_groups: `U1`",
            "slack.api_url",
            "slack.remind_interval",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
