//! Checks of the values themselves, after parsing and the environment.

use std::net::SocketAddr;

use super::{Config, PublisherConfig};

impl Config {
    /// Everything wrong with the values, each as `key.path: what is wrong` (the loader adds
    /// the file and line).
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            problems.push(format!(
                "listen: `{}` is not an address:port (e.g. 127.0.0.1:8080)",
                self.listen
            ));
        }
        if let Err(e) = http_url(&self.public_url) {
            problems.push(format!("public_url: `{}` {e}", self.public_url));
        }
        if let Some(url) = &self.storage.url {
            problems.extend(storage_url_problem(url).map(|e| format!("storage.url: {e}")));
        }
        if self.storage.lease.0 < std::time::Duration::from_secs(3) {
            problems.push("storage.lease: must be at least 3s (it is renewed every third)".into());
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
                PublisherConfig::Mirror {
                    s3,
                    dir,
                    stale_after,
                    ..
                } => {
                    problems.extend(mirror_problems(
                        name,
                        s3.as_ref(),
                        dir.as_deref(),
                        *stale_after,
                    ));
                    match s3 {
                        Some(s3) => ("s3.endpoint", &s3.endpoint),
                        None => continue,
                    }
                }
            };
            if let Err(e) = http_url(url) {
                problems.push(format!("publishers.{name}.{key}: `{url}` {e}"));
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.from.trim().is_empty() {
                problems.push(
                    "smtp.from: missing: the address subscriber emails come from (e.g. status@example.com)"
                        .into(),
                );
            } else if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
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
        let mut audiences = std::collections::BTreeSet::new();
        for a in &self.audiences {
            // The id is a path segment (`/a/{id}/`) and part of an environment variable name.
            let well_formed = !a.id.is_empty()
                && a.id.len() <= 64
                && a.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !well_formed {
                problems.push(format!(
                    "audiences: id `{}` may only contain lowercase letters, digits, `-` and `_`",
                    a.id
                ));
            } else if !audiences.insert(a.id.as_str()) {
                problems.push(format!("audiences: duplicate id `{}`", a.id));
            }
        }
        let session = self.internal_board.session.as_std();
        if session < std::time::Duration::from_secs(5)
            || session > std::time::Duration::from_secs(30 * 24 * 3600)
        {
            problems.push("internal_board.session: must be between 5s and 30d".into());
        }
        if let Some(w) = &self.watchdog {
            if w.interval.as_std().is_zero() {
                problems.push("watchdog.interval: must be more than 0s".into());
            }
        }
        if let Some(r) = &self.reconcile {
            if r.alertmanagers.is_empty() {
                problems.push(
                    "reconcile.alertmanagers: missing: name at least one Alertmanager (- url: http://alertmanager:9093)"
                        .into(),
                );
            }
            if r.interval.as_std().is_zero() {
                problems.push("reconcile.interval: must be more than 0s".into());
            }
            for (i, am) in r.alertmanagers.iter().enumerate() {
                if let Err(e) = http_url(&am.url) {
                    problems.push(format!(
                        "reconcile.alertmanagers.{}.url: `{}` {e}",
                        i + 1,
                        am.url
                    ));
                }
                if am.basic_auth.is_some() && am.bearer_token_file.is_some() {
                    problems.push(format!(
                        "reconcile.alertmanagers.{}.basic_auth: give basic_auth or bearer_token_file, not both",
                        i + 1
                    ));
                }
            }
        }
        if let Some(url) = &self.page.logo_url {
            if let Err(e) = http_url(url) {
                problems.push(format!("page.logo_url: `{url}` {e}"));
            }
        }
        for (i, link) in self.page.links.iter().enumerate() {
            if let Err(e) = http_url(&link.url) {
                problems.push(format!("page.links.{}.url: `{}` {e}", i + 1, link.url));
            }
        }
        if let Some(slack) = &self.slack {
            problems.extend(slack.problems());
        }
        problems
    }
}

/// An absolute http(s) URL with a host; what is wrong otherwise.
/// What is wrong with a mirror's target: exactly one of `s3` and `dir`, a bucket name, a
/// staleness that can be told apart from the refresh.
fn mirror_problems(
    name: &str,
    s3: Option<&super::MirrorS3Config>,
    dir: Option<&std::path::Path>,
    stale_after: super::Dur,
) -> Vec<String> {
    let mut out = Vec::new();
    match (s3, dir) {
        (Some(_), Some(_)) => out.push(format!(
            "publishers.{name}: give either `s3` or `dir`, not both"
        )),
        (None, None) => out.push(format!(
            "publishers.{name}: a mirror needs `s3: {{endpoint, bucket, …}}` or `dir: /path`"
        )),
        _ => {}
    }
    if let Some(s3) = s3 {
        if s3.bucket.trim().is_empty() {
            out.push(format!("publishers.{name}.s3.bucket: must not be empty"));
        }
        if s3.region.trim().is_empty() {
            out.push(format!("publishers.{name}.s3.region: must not be empty"));
        }
        if s3.prefix.starts_with('/') || s3.prefix.contains("..") {
            out.push(format!(
                "publishers.{name}.s3.prefix: `{}` must be a relative key prefix such as `status/`",
                s3.prefix
            ));
        }
    }
    if dir.is_some_and(|d| d.as_os_str().is_empty()) {
        out.push(format!("publishers.{name}.dir: must not be empty"));
    }
    if stale_after.as_std() < std::time::Duration::from_secs(1) {
        out.push(format!(
            "publishers.{name}.stale_after: must be at least 1s"
        ));
    }
    out
}

pub(super) fn http_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Err("must start with http:// or https://".into())
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Err("has no host".into()),
        Ok(_) => Ok(()),
        Err(_) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            Err("must start with http:// or https://".into())
        }
        Err(e) => Err(format!("is not a URL: {e}")),
    }
}

/// What is wrong with a storage URL written in the configuration, never echoing it (it
/// may hold a password).
pub(super) fn storage_url_problem(url: &str) -> Option<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Some("must start with postgres:// (absent: sled in data_dir)".into());
    }
    let authority = url.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    let userinfo = authority.split(['/', '?']).next().unwrap_or("");
    if userinfo
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
    {
        return Some(
            "holds a password; give the URL in storage.url_file or STATUSGATE_STORAGE_URL[_FILE]"
                .into(),
        );
    }
    if url.parse::<tokio_postgres::Config>().is_err() {
        return Some("is not a PostgreSQL connection URL".into());
    }
    None
}
