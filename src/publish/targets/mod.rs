//! What every external target answers: delivered, nothing to change, a conflict with a hand
//! edit, or a failure that says whether another attempt can help.
//!
//! Inside, one module per kind of target: [`statuspage`] (Atlassian Statuspage's manage
//! API), [`webhook`] (Standard Webhooks, for configured publishers and subscribers alike)
//! [`email`] (subscribers over SMTP) and [`mirror`] (the page as static files); `send` is how the delivery worker hands one
//! outbox entry to a webhook or a mailbox. [`from_config`] builds the configured ones.

pub mod email;
pub mod mirror;
mod send;
pub mod statuspage;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::HeaderMap;

use self::email::Mailer;
use self::statuspage::Statuspage;
use self::webhook::SigningKey;
use crate::draft::Conflict;

/// Whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Network errors, timeouts, 5xx, 420/429: try again later.
    Transient,
    /// The target refused the request itself (bad key, bad payload): retrying the same
    /// request cannot help; an admin can retry after fixing the cause.
    Permanent,
    /// The endpoint is gone for good (410); it is disabled.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub status: Option<u16>,
    pub message: String,
    /// What the target asked for (`Retry-After`).
    pub retry_after: Option<Duration>,
    /// The request may have taken effect although no answer came (a timeout or a dropped
    /// connection after the request was sent).
    pub ambiguous: bool,
}

impl Failure {
    pub fn transient(
        status: Option<u16>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        Failure {
            kind: FailureKind::Transient,
            status,
            message: message.into(),
            retry_after,
            ambiguous: false,
        }
    }

    /// Before every call: a replica whose outbox lease ran out (a pause, a partition) sends
    /// nothing more; the entry stays for the new holder.
    pub fn check_lease() -> Result<(), Self> {
        crate::store::check_before_call().map_err(|e| Failure::transient(None, e.to_string(), None))
    }

    pub fn permanent(status: u16, message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Permanent,
            status: Some(status),
            message: message.into(),
            retry_after: None,
            ambiguous: false,
        }
    }

    pub fn gone(status: u16, message: impl Into<String>) -> Self {
        Failure {
            kind: FailureKind::Gone,
            status: Some(status),
            message: message.into(),
            retry_after: None,
            ambiguous: false,
        }
    }

    /// A request that got no answer. Only a failure to connect is known not to have
    /// reached the target.
    pub fn network(e: reqwest::Error) -> Self {
        // reqwest names the URL in its errors, and a webhook URL often carries a token.
        let e = e.without_url();
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "connection failed"
        };
        let mut f = Self::transient(None, format!("{what}: {}", source_chain(&e)), None);
        f.ambiguous = !e.is_connect();
        f
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The configured publishers, ready to send.
#[derive(Clone, Default)]
pub struct Targets {
    pub statuspages: BTreeMap<String, Statuspage>,
    pub webhooks: BTreeMap<String, (String, SigningKey)>,
    pub mailer: Option<Mailer>,
    pub mirrors: BTreeMap<String, mirror::Mirror>,
}

/// The configured publishers with their secrets; Statuspage publishers that share an API
/// key share its rate limit.
pub fn from_config(config: &crate::config::Config) -> std::result::Result<Targets, String> {
    use crate::config::PublisherConfig;
    let mut out = Targets::default();
    let mut limiters = std::collections::HashMap::new();
    for p in &config.publishers {
        let secret = || {
            config
                .secrets
                .publishers
                .get(p.name())
                .ok_or_else(|| format!("publishers.{}: no secret configured", p.name()))
        };
        match p {
            PublisherConfig::Statuspage {
                name,
                base_url,
                page_id,
                components,
                deliver_notifications,
                ..
            } => {
                let secret = secret()?;
                let limiter = limiters
                    .entry(secret.expose().to_string())
                    .or_insert_with(statuspage::key_limiter)
                    .clone();
                let sp = statuspage::Statuspage::new(
                    name,
                    base_url,
                    page_id,
                    secret.clone(),
                    components.clone(),
                    *deliver_notifications,
                    limiter,
                )?;
                out.statuspages.insert(name.clone(), sp);
            }
            PublisherConfig::Webhook { name, url, .. } => {
                let key = webhook::SigningKey::parse(secret()?.expose())
                    .map_err(|e| config.place(&format!("publishers.{name}.secret_file: {e}")))?;
                out.webhooks.insert(name.clone(), (url.clone(), key));
            }
            PublisherConfig::Mirror {
                name,
                s3,
                dir,
                stale_after,
            } => {
                let dest = match (s3, dir) {
                    (Some(s3), None) => {
                        let id = config.secrets.mirror_key_ids.get(name).ok_or_else(|| {
                            format!("publishers.{name}.s3: no access key id configured")
                        })?;
                        mirror::Dest::s3(s3, id, secret()?)
                            .map_err(|e| config.place(&format!("publishers.{name}.{e}")))?
                    }
                    (None, Some(dir)) => mirror::Dest::Dir(dir.clone()),
                    _ => return Err(format!("publishers.{name}: give either `s3` or `dir`")),
                };
                out.mirrors.insert(
                    name.clone(),
                    mirror::Mirror::new(name, dest, stale_after.as_std()),
                );
            }
        }
    }
    if let Some(smtp) = &config.smtp {
        out.mailer = Some(email::Mailer::new(
            smtp,
            config.secrets.smtp_password.as_ref(),
        )?);
    }
    Ok(out)
}

/// What a delivery did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Written; the detail says what (for the audit log).
    Sent(String),
    /// The target already shows this; nothing was sent.
    Unchanged,
    /// The target was changed by hand where this would write.
    Conflict(Conflict),
}

/// A target or subscriber URL as it may be shown or logged: scheme, host (and port) and
/// path only. Query strings, user info and fragments often carry tokens.
pub fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}{}", u.scheme(), u.path())
        }
        // Not a URL: nothing of it is safe to show.
        Err(_) => "(invalid URL)".to_string(),
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .ok()?
        }
    };
    // Whatever the sender says; the worker bounds it further by `delivery.backoff.max`.
    Some(wait.min(super::outbox::health::LONGEST_WAIT))
}

/// A reqwest error with its causes ("error sending request: connection reset").
fn source_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_query_userinfo_or_fragment() {
        assert_eq!(
            display_url("https://user:pw@hooks.example.com:8443/in/abc?token=s3cret#frag"),
            "https://hooks.example.com:8443/in/abc"
        );
        assert_eq!(
            display_url("http://127.0.0.1/hook"),
            "http://127.0.0.1/hook"
        );
        assert_eq!(display_url("not a url?token=x"), "(invalid URL)");
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        h.insert(
            reqwest::header::RETRY_AFTER,
            u64::MAX.to_string().parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(super::super::outbox::health::LONGEST_WAIT)
        );
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
