//! Slack's Web API: `POST {api_url}/{method}` with the bot token. Calls that post to a
//! channel wait for that channel's rate limiter (Slack allows about one message a second per
//! channel); 429 is retried after its `Retry-After`, 5xx and network errors with exponential
//! backoff and jitter (`delivery.backoff`). Slack reports most errors as HTTP 200 with
//! `{"ok": false, "error": "<code>"}`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use serde_json::Value;

use crate::config::{BackoffConfig, RateConfig, Secret};
use crate::metrics::Metrics;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack refused the request itself (`channel_not_found`, `invalid_auth`, …): the
    /// same request will fail again.
    #[error("Slack refused the call: {0}")]
    Refused(String),
    /// Slack was unreachable, failing or rate limiting: try again later.
    #[error("Slack is unavailable: {reason}")]
    Unavailable {
        reason: String,
        /// At least this long before the next try (Slack's `Retry-After`).
        retry_after: Option<Duration>,
    },
}

impl SlackError {
    fn unavailable(reason: impl Into<String>) -> Self {
        SlackError::Unavailable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// The error code Slack gave, if it refused the call.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Refused(c) => Some(c),
            SlackError::Unavailable { .. } => None,
        }
    }
}

/// How hard one call tries.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Longest single wait between attempts; a longer `Retry-After` ends the call instead,
    /// and the caller tries again later.
    pub max_wait: Duration,
    /// Per request.
    pub timeout: Duration,
}

impl Patience {
    /// Background delivery: a few tries in the call, then the worker's own backoff.
    pub const BACKGROUND: Patience = Patience {
        attempts: 4,
        max_wait: Duration::from_secs(30),
        timeout: Duration::from_secs(10),
    };
    /// Inside Slack's 3-second answer window: one quick try.
    pub const INTERACTIVE: Patience = Patience {
        attempts: 1,
        max_wait: Duration::ZERO,
        timeout: Duration::from_millis(1500),
    };
}

/// How an edit of a posted message went.
pub enum Edit {
    Done,
    /// The message or its channel is gone (Slack's error says which).
    Gone(SlackError),
}

/// What a call sends: a JSON body, or form fields (read methods such as
/// `usergroups.users.list`).
pub enum Payload<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

impl<'a> From<&'a Value> for Payload<'a> {
    fn from(body: &'a Value) -> Self {
        Payload::Json(body)
    }
}

impl<'a, const N: usize> From<&'a [(&'a str, &'a str); N]> for Payload<'a> {
    fn from(fields: &'a [(&'a str, &'a str); N]) -> Self {
        Payload::Form(fields)
    }
}

/// The Web API client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Secret,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    backoff: BackoffConfig,
    metrics: Arc<Metrics>,
}

impl Client {
    pub fn new(
        base: String,
        token: Secret,
        rate: RateConfig,
        backoff: BackoffConfig,
        metrics: Arc<Metrics>,
    ) -> Client {
        let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        Client {
            http: reqwest::Client::builder()
                .user_agent(concat!("statusgate/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            base,
            token,
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
            backoff,
            metrics,
        }
    }

    /// Calls a Web API method. `channel` names the channel whose rate limit the call
    /// counts against (posting and updating messages).
    pub async fn call<'a>(
        &self,
        method: &str,
        payload: impl Into<Payload<'a>>,
        channel: Option<&str>,
        patience: Patience,
    ) -> Result<Value, SlackError> {
        self.send(method, payload.into(), channel, patience).await
    }

    /// Posts a message (links and media not unfurled) and returns where it went: the
    /// channel Slack names (an id, where `channel` may be a name) and its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(String, String), SlackError> {
        let body = serde_json::json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false, "unfurl_media": false});
        let answer = self
            .call(
                "chat.postMessage",
                &body,
                Some(channel),
                Patience::BACKGROUND,
            )
            .await?;
        let Some(ts) = answer["ts"].as_str() else {
            return Err(SlackError::Refused(
                "chat.postMessage answered without a ts".into(),
            ));
        };
        let channel = answer["channel"].as_str().unwrap_or(channel);
        Ok((channel.to_string(), ts.to_string()))
    }

    /// Replaces a posted message's text and blocks. A message (or channel) someone deleted
    /// is [`Edit::Gone`], for the caller to post afresh.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<Edit, SlackError> {
        let body =
            serde_json::json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks});
        match self
            .call("chat.update", &body, Some(channel), Patience::BACKGROUND)
            .await
        {
            Ok(_) => Ok(Edit::Done),
            Err(e)
                if matches!(
                    e.code(),
                    Some("message_not_found" | "cant_update_message" | "channel_not_found")
                ) =>
            {
                Ok(Edit::Gone(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Answers through an interaction's `response_url` (no token: the URL is the
    /// credential). Slack allows five uses in 30 minutes.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SlackError> {
        let r = self
            .http
            .post(response_url)
            .timeout(Duration::from_secs(10))
            .json(body)
            .send()
            .await
            .map_err(|e| SlackError::unavailable(e.without_url().to_string()));
        let outcome = match r {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_server_error() || r.status().as_u16() == 429 => Err(
                SlackError::unavailable(format!("response_url answered {}", r.status())),
            ),
            Ok(r) => Err(SlackError::Refused(format!(
                "response_url answered {}",
                r.status()
            ))),
            Err(e) => Err(e),
        };
        self.metrics
            .slack_call("response_url", if outcome.is_ok() { "ok" } else { "error" });
        outcome
    }

    async fn send(
        &self,
        method: &str,
        payload: Payload<'_>,
        channel: Option<&str>,
        patience: Patience,
    ) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.base);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if let Some(c) = channel {
                self.limiter.until_key_ready(&c.to_string()).await;
            }
            // A Slack worker whose lease ran out posts nothing more.
            if let Err(e) = crate::store::check_before_call() {
                return Err(SlackError::unavailable(e.to_string()));
            }
            let outcome = self.once(&url, &payload, patience.timeout).await;
            let label = match &outcome {
                Ok(_) => "ok",
                Err(SlackError::Refused(_)) => "refused",
                Err(SlackError::Unavailable {
                    retry_after: Some(_),
                    ..
                }) => "rate_limited",
                Err(SlackError::Unavailable { .. }) => "unavailable",
            };
            self.metrics.slack_call(method, label);
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(e @ SlackError::Refused(_)) => return Err(e),
                Err(e) => e,
            };
            let wait = match &err {
                SlackError::Unavailable {
                    retry_after: Some(d),
                    ..
                } => *d,
                _ => self.backoff_for(attempt),
            };
            if attempt >= patience.attempts || wait > patience.max_wait {
                return Err(err);
            }
            tracing::debug!(method, attempt, wait_ms = wait.as_millis() as u64, error = %err, "Slack call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn once(
        &self,
        url: &str,
        payload: &Payload<'_>,
        timeout: Duration,
    ) -> Result<Value, SlackError> {
        let req = self
            .http
            .post(url)
            .timeout(timeout)
            .header(AUTHORIZATION, format!("Bearer {}", self.token.expose()));
        let req = match payload {
            // Slack wants the charset spelled out on JSON bodies.
            Payload::Json(v) => req
                .header("content-type", "application/json; charset=utf-8")
                .body(serde_json::to_vec(v).unwrap_or_default()),
            Payload::Form(f) => req.form(f),
        };
        let r = req
            .send()
            .await
            .map_err(|e| SlackError::unavailable(e.without_url().to_string()))?;
        let status = r.status();
        if status.as_u16() == 429 {
            let secs = r
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(1)
                // Bounded: a huge value would overflow the time arithmetic of the retry.
                .min(
                    crate::publish::outbox::health::bounded(&self.backoff, Duration::MAX)
                        .as_secs()
                        .max(1),
                );
            return Err(SlackError::Unavailable {
                reason: format!("rate limited; Retry-After {secs}s"),
                retry_after: Some(Duration::from_secs(secs)),
            });
        }
        if status.is_server_error() {
            return Err(SlackError::unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(SlackError::Refused(format!("HTTP {status}")));
        }
        let v: Value = r
            .json()
            .await
            .map_err(|e| SlackError::unavailable(format!("unreadable answer: {e}")))?;
        if v["ok"] == true {
            return Ok(v);
        }
        let code = v["error"].as_str().unwrap_or("unknown_error").to_string();
        // Slack's own trouble, not the request's.
        if matches!(
            code.as_str(),
            "internal_error"
                | "fatal_error"
                | "service_unavailable"
                | "request_timeout"
                | "ratelimited"
        ) {
            return Err(SlackError::unavailable(code));
        }
        Err(SlackError::Refused(code))
    }

    /// Exponential with full jitter between half and all of the step, capped at `max`.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt)
    }
}
