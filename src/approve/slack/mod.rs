//! Slack: drafts are posted to a channel as messages with **Approve & publish**, **Edit** and
//! **Reject** buttons, kept in step with every revision and decision; `/status` answers in
//! chat; pending drafts and quiet incidents get reminders. The storm breaker and a silent
//! watchdog are told in the main channel; a publish conflict or failure is shown on the
//! draft's message with the admin's choices. Every request from Slack is
//! verified with the signing secret before it is parsed, and only configured approvers
//! decide. Slack being down never blocks the pipeline: messages are brought up to date
//! from the store once it answers again.

mod blocks;
mod client;
mod commands;
mod interactions;
mod notice_blocks;
pub mod notices;
mod reminders;
mod sync;
mod trouble;
pub mod verify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub use client::{Client, Patience, SlackError};
pub use interactions::parse_interaction;
pub use sync::Worker;

use super::Approvals;
use crate::audit::{Audit, AuditEntry};
use crate::config::{Config, Secret, StormConfig};
use crate::http::ApiError;
use crate::metrics::Metrics;
use crate::publish::outbox::decide::Decisions;
use crate::signals::Signals;
use crate::store::{Store, Table};

/// Per draft: the Slack message that shows it and what it last showed.
pub const MESSAGES_TABLE: &str = "slack_messages";
/// Per open incident: the last nudge.
pub const NUDGES_TABLE: &str = "slack_nudges";
/// When chat was first switched on (drafts decided before then are not posted).
pub const STATE_TABLE: &str = "slack_state";

/// How long group membership from `usergroups.users.list` is trusted, and how long a stale
/// copy still serves while Slack cannot be asked.
const GROUP_FRESH: Duration = Duration::from_secs(300);
const GROUP_STALE_OK: Duration = Duration::from_secs(3600);

/// Whether chat is on.
#[derive(Clone)]
pub enum Chat {
    /// No Slack settings at all.
    Off,
    /// Some settings but not enough to run; says what is missing.
    Incomplete(String),
    On(Slack),
}

impl Chat {
    /// The `/readyz` detail (never decides readiness).
    pub fn check(&self) -> Option<Value> {
        match self {
            Chat::Off => None,
            Chat::Incomplete(why) => Some(json!({"ok": false, "reason": why})),
            Chat::On(s) => Some(s.health()),
        }
    }
}

/// What chat hears about and acts on besides drafts.
pub struct Wiring {
    /// The storm breaker and the watchdog, told in the main channel.
    pub signals: Signals,
    /// Conflict and retry decisions, the same as the admin API's.
    pub decisions: Decisions,
}

/// Reads the Slack settings. With none, chat is off; with some but not a bot token, a
/// signing secret and a channel, it is off and says why.
pub fn setup(
    config: &Config,
    store: &Store,
    approvals: Approvals,
    metrics: Arc<Metrics>,
    wiring: Wiring,
) -> crate::store::Result<(Chat, Option<Worker>)> {
    let Some(cfg) = config.slack.as_ref() else {
        return Ok((Chat::Off, None));
    };
    let mut missing = Vec::new();
    if config.secrets.slack_bot_token.is_none() {
        missing.push("a bot token (STATUSGATE_SLACK_BOT_TOKEN[_FILE] or slack.bot_token_file)");
    }
    if config.secrets.slack_signing_secret.is_none() {
        missing.push(
            "a signing secret (STATUSGATE_SLACK_SIGNING_SECRET[_FILE] or slack.signing_secret_file)",
        );
    }
    if cfg.channel.is_none() {
        missing.push("a channel (STATUSGATE_SLACK_CHANNEL or slack.channel)");
    }
    let (Some(token), Some(secret), Some(channel), true) = (
        config.secrets.slack_bot_token.clone(),
        config.secrets.slack_signing_secret.clone(),
        cfg.channel.clone(),
        missing.is_empty(),
    ) else {
        return Ok((
            Chat::Incomplete(format!("Slack is off: missing {}", missing.join(", "))),
            None,
        ));
    };
    if cfg.approvers.is_empty() && cfg.approver_groups.is_empty() {
        tracing::warn!("slack: no approvers or approver_groups; nobody can approve in chat");
    }
    let client = Client::new(
        cfg.api_url(),
        token,
        cfg.rate(),
        config.delivery.backoff.clone(),
        metrics,
    );
    let chrono = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let notices = approvals.drafts().subscribe();
    let state = store.table(STATE_TABLE)?;
    let enabled_at = match state.get::<DateTime<Utc>>("enabled_at")? {
        Some(t) => t,
        None => {
            let now = Utc::now();
            state.put("enabled_at", &now)?;
            now
        }
    };
    let slack = Slack {
        inner: Arc::new(Inner {
            secret,
            client,
            audit: Audit::open(store)?,
            store: store.clone(),
            messages: store.table(MESSAGES_TABLE)?,
            nudges: store.table(NUDGES_TABLE)?,
            approvals,
            channel,
            channels: cfg.channels.clone(),
            approvers: cfg.approvers.clone(),
            groups: cfg.approver_groups.clone(),
            remind_after: chrono(cfg.remind_after()),
            remind_interval: chrono(cfg.remind_interval()),
            nudge_after: chrono(cfg.nudge_after()),
            nudge_interval: chrono(cfg.nudge_interval()),
            public_url: config.public_url.trim_end_matches('/').to_string(),
            max_body: config.max_body.0,
            storm: config.storm.clone(),
            decisions: wiring.decisions,
            group_cache: Mutex::new(HashMap::new()),
            health: Mutex::new(Health::default()),
        }),
    };
    let signal_notices = notices::Notices::new(store, wiring.signals, config.watchdog.is_some())?;
    let worker = Worker::new(slack.clone(), notices, signal_notices, enabled_at);
    Ok((Chat::On(slack), Some(worker)))
}

/// The OpenAPI description of the chat endpoints.
#[derive(utoipa::OpenApi)]
#[openapi(paths(interactions::handle, commands::handle))]
pub struct ApiDoc;

/// The refusals both Slack endpoints share, for their `responses(…)`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Describes the answers `read_signed` and `router` give.
enum Refusals {
    #[response(status = 400, description = "A form without the fields Slack sends")]
    NotSlacksForm(crate::http::ErrorBody),
    #[response(status = 401, description = "Bad or stale signature")]
    BadSignature(crate::http::ErrorBody),
    #[response(
        status = 404,
        description = "Slack is not configured (the reason says what is missing)"
    )]
    Off(crate::http::ErrorBody),
    #[response(status = 413, description = "Larger than `max_body`")]
    TooLarge(crate::http::ErrorBody),
    #[response(status = 415, description = "Not a form")]
    NotAForm(crate::http::ErrorBody),
}

/// `POST /slack/interactions` and `POST /slack/commands`; a JSON 404 saying why while chat
/// is off.
pub fn router(chat: &Chat) -> Router {
    match chat {
        Chat::On(slack) => Router::new()
            .route("/slack/interactions", post(interactions::handle))
            .route("/slack/commands", post(commands::handle))
            .with_state(slack.clone()),
        Chat::Off | Chat::Incomplete(_) => {
            let why = match chat {
                Chat::Incomplete(why) => why.clone(),
                _ => "Slack is not configured".to_string(),
            };
            let off = move || {
                let why = why.clone();
                async move { ApiError::not_found(why) }
            };
            Router::new()
                .route("/slack/interactions", post(off.clone()))
                .route("/slack/commands", post(off))
        }
    }
}

/// A request whose signature held, or Slack's unsigned certificate check.
enum Inbound {
    Form(Vec<(String, String)>),
    SslCheck,
}

/// The fields of a form Slack signed. `CERTIFICATE_CHECK`: whether Slack's unsigned
/// certificate check may come to this URL; it gets its empty 200 before the handler runs.
pub(super) struct SignedForm<const CERTIFICATE_CHECK: bool>(pub Vec<(String, String)>);

impl<const CERTIFICATE_CHECK: bool> FromRequest<Slack> for SignedForm<CERTIFICATE_CHECK> {
    type Rejection = Response;

    async fn from_request(req: Request, slack: &Slack) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        match slack
            .read_signed(&parts.headers, body, CERTIFICATE_CHECK)
            .await
        {
            Ok(Inbound::Form(form)) => Ok(SignedForm(form)),
            // Slack's certificate check carries no signature; it only wants a 200.
            Ok(Inbound::SslCheck) => Err(StatusCode::OK.into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The chat integration. Cheap to clone.
#[derive(Clone)]
pub struct Slack {
    inner: Arc<Inner>,
}

struct Inner {
    secret: Secret,
    client: Client,
    approvals: Approvals,
    audit: Audit,
    store: Store,
    messages: Table,
    nudges: Table,
    channel: String,
    channels: BTreeMap<String, String>,
    approvers: Vec<String>,
    groups: Vec<String>,
    remind_after: chrono::Duration,
    remind_interval: chrono::Duration,
    nudge_after: chrono::Duration,
    nudge_interval: chrono::Duration,
    public_url: String,
    max_body: usize,
    /// For the storm notice's wording.
    storm: StormConfig,
    decisions: Decisions,
    group_cache: Mutex<HashMap<String, (Instant, HashSet<String>)>>,
    health: Mutex<Health>,
}

/// How delivery to Slack is doing, for `/readyz`.
#[derive(Debug, Default, Clone)]
struct Health {
    last_ok: Option<DateTime<Utc>>,
    last_error: Option<String>,
    behind: bool,
}

/// Whether a Slack user may decide.
enum Access {
    Allowed,
    Refused(String),
}

impl Slack {
    fn health(&self) -> Value {
        let h = self
            .inner
            .health
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default();
        json!({
            "ok": h.last_error.is_none(),
            "reason": h.last_error,
            "channel": self.inner.channel,
            "behind": h.behind,
            "last_success_at": h.last_ok,
        })
    }

    fn delivered(&self, behind: bool) {
        if let Ok(mut h) = self.inner.health.lock() {
            h.last_ok = Some(Utc::now());
            h.last_error = None;
            h.behind = behind;
        }
    }

    fn failed(&self, error: &str, behind: bool) {
        if let Ok(mut h) = self.inner.health.lock() {
            h.last_error = Some(error.to_string());
            h.behind = behind;
        }
    }

    /// A component's name for people.
    fn name(&self, id: &str) -> String {
        self.inner.approvals.component_name(id)
    }

    /// One line per error budget a pending draft affects, for its message.
    fn budget_lines(&self, draft: &crate::draft::Draft) -> Vec<String> {
        let budget = self.inner.approvals.error_budget(draft);
        crate::approve::budget::lines(&budget, &|id| self.name(id))
    }

    /// The channel for drafts about these components: the first one whose catalog group
    /// has a channel of its own, else the default.
    fn channel_for<'a>(&self, components: impl IntoIterator<Item = &'a String>) -> String {
        let public = self.inner.approvals.public();
        components
            .into_iter()
            .filter_map(|id| public.component_info(id).and_then(|c| c.group))
            .find_map(|g| self.inner.channels.get(&g).cloned())
            .unwrap_or_else(|| self.inner.channel.clone())
    }

    fn mentions(&self) -> String {
        blocks::mentions(&self.inner.approvers, &self.inner.groups)
    }

    /// Reads a request from Slack and checks its signature over the raw bytes before
    /// anything in it is parsed: whatever its content type, an unsigned or badly signed
    /// request is 401. The one exception is Slack's own certificate check (`ssl_check=1`,
    /// unsigned, form-encoded), which gets its empty 200 when `ssl_check` is allowed.
    async fn read_signed(
        &self,
        headers: &HeaderMap,
        body: Body,
        ssl_check: bool,
    ) -> Result<Inbound, ApiError> {
        let bytes = crate::http::read_raw(headers, body, self.inner.max_body).await?;
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| ct.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if let Err(e) = verify::verify(&self.inner.secret, headers, &bytes, Utc::now().timestamp())
        {
            let certificate_check = ssl_check
                && is_form
                && serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                    .is_ok_and(|f| f.iter().any(|(k, v)| k == "ssl_check" && v == "1"));
            if certificate_check {
                return Ok(Inbound::SslCheck);
            }
            tracing::warn!(error = %e, "refused a request claiming to be from Slack");
            return Err(ApiError::unauthorized(e.to_string()));
        }
        let encoded = headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if !is_form || encoded {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/x-www-form-urlencoded, without Content-Encoding",
            ));
        }
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::bad_request(format!("body is not a form: {e}")))?;
        Ok(Inbound::Form(form))
    }

    /// Whether `user_id` may approve, reject or edit; a refusal is audited.
    async fn access(
        &self,
        user_id: &str,
        actor: &str,
        action: &str,
        draft: Option<(&str, u32)>,
    ) -> Access {
        let reason = match self.is_approver(user_id).await {
            Ok(true) => return Access::Allowed,
            Ok(false) => {
                let who = self.mentions();
                if who.is_empty() {
                    "Only approvers may do that, and none are configured (`slack.approvers`).".to_string()
                } else {
                    format!("Only approvers may {action} drafts; ask {who}.")
                }
            }
            Err(e) => format!(
                "Your approver group membership cannot be checked with Slack right now ({e}); try again shortly."
            ),
        };
        let mut entry = AuditEntry::new(Utc::now(), actor, "refused").detail(json!({
            "via": "slack",
            "user_id": user_id,
            "attempted": action,
            "reason": reason,
        }));
        if let Some((id, rev)) = draft {
            entry = entry.draft(id, rev);
        }
        let audit = &self.inner.audit;
        match self
            .inner
            .store
            .transaction(&[audit.table()], |tx| audit.append_in(tx, &entry))
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = ?e, "could not audit a refused Slack action"),
            Err(e) => tracing::error!(error = %e, "could not audit a refused Slack action"),
        }
        tracing::info!(
            user = user_id,
            action,
            "refused a Slack user who is not an approver"
        );
        Access::Refused(reason)
    }

    async fn is_approver(&self, user_id: &str) -> Result<bool, SlackError> {
        if self.inner.approvers.iter().any(|a| a == user_id) {
            return Ok(true);
        }
        let mut failure = None;
        for group in &self.inner.groups {
            match self.group_members(group).await {
                Ok(members) if members.contains(user_id) => return Ok(true),
                Ok(_) => {}
                Err(e) => failure = Some(e),
            }
        }
        failure.map_or(Ok(false), Err)
    }

    async fn group_members(&self, group: &str) -> Result<HashSet<String>, SlackError> {
        let cached = self
            .inner
            .group_cache
            .lock()
            .ok()
            .and_then(|c| c.get(group).cloned());
        if let Some((at, members)) = &cached {
            if at.elapsed() < GROUP_FRESH {
                return Ok(members.clone());
            }
        }
        match self
            .inner
            .client
            .call(
                "usergroups.users.list",
                &[("usergroup", group)],
                None,
                Patience::INTERACTIVE,
            )
            .await
        {
            Ok(v) => {
                let members: HashSet<String> = v["users"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|u| u.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Ok(mut c) = self.inner.group_cache.lock() {
                    c.insert(group.to_string(), (Instant::now(), members.clone()));
                }
                Ok(members)
            }
            Err(e) => match cached {
                Some((at, members)) if at.elapsed() < GROUP_STALE_OK => {
                    tracing::warn!(group, error = %e, "using cached approver group membership");
                    Ok(members)
                }
                _ => Err(e),
            },
        }
    }

    /// Answers through `response_url` in the background: the 3-second ack never waits.
    fn reply(&self, response_url: Option<&str>, body: Value) {
        let Some(url) = response_url.map(str::to_string) else {
            return;
        };
        let client = self.inner.client.clone();
        tokio::spawn(async move {
            if let Err(e) = client.respond(&url, &body).await {
                tracing::warn!(error = %e, "could not answer through Slack's response_url");
            }
        });
    }
}
