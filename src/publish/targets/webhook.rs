//! Signed outgoing webhooks, exactly as the Standard Webhooks specification says, so
//! receivers verify them with its existing libraries: `webhook-id` (the same on every
//! retry of one event), `webhook-timestamp` and `webhook-signature` (fresh on each attempt),
//! `v1,<base64 HMAC-SHA256(key, id.timestamp.body)>` with the key base64-decoded from
//! `whsec_…`. Redirects are not followed; 410 Gone disables the endpoint.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use serde_json::{json, Value};

use crate::publish::outbox::event::Approved;
use crate::publish::targets::Failure;
use crate::publish::{AffectedComponent, Incident};

/// Standard Webhooks signing keys (the bytes behind each `whsec_`). Several keys mean a
/// rotation in progress: every attempt is signed with each, so receivers holding either
/// the old or the new key verify it.
#[derive(Clone)]
pub struct SigningKey(Vec<Vec<u8>>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} key(s), ***)", self.0.len())
    }
}

impl SigningKey {
    /// Parses one or more `whsec_<base64>` keys, separated by line breaks, spaces or commas
    /// (a secret file holds one a line). Each must be 24 to 64 bytes, as the specification
    /// asks.
    pub fn parse(secret: &str) -> Result<SigningKey, String> {
        let mut keys = Vec::new();
        for (n, one) in secret
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let which = if n == 0 {
                String::new()
            } else {
                format!(" (key {})", n + 1)
            };
            let b64 = one.strip_prefix("whsec_").ok_or_else(|| {
                format!("a webhook secret must start with `whsec_` (Standard Webhooks){which}")
            })?;
            let key = B64
                .decode(b64)
                .map_err(|e| format!("the part after `whsec_` is not base64{which}: {e}"))?;
            if !(24..=64).contains(&key.len()) {
                return Err(format!(
                    "a webhook key must be 24 to 64 bytes; this one is {}{which}",
                    key.len()
                ));
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err("a webhook secret must start with `whsec_` (Standard Webhooks)".into());
        }
        Ok(SigningKey(keys))
    }

    /// The `webhook-signature` header value for one attempt: `v1,<sig>` for each key,
    /// separated by single spaces.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let sigs: Vec<String> = self
            .0
            .iter()
            .filter_map(|key| {
                // HMAC takes keys of any length; this cannot fail.
                let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
            })
            .collect();
        sigs.join(" ")
    }
}

/// Sends signed events to one endpoint.
#[derive(Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
}

impl WebhookSender {
    pub fn new() -> Result<WebhookSender, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("statusgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WebhookSender { http })
    }

    /// POSTs one event. `Err` says whether another attempt can help.
    pub async fn send(
        &self,
        url: &str,
        key: &SigningKey,
        id: &str,
        body: &[u8],
    ) -> Result<u16, Failure> {
        Failure::check_lease()?;
        let ts = chrono::Utc::now().timestamp();
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", key.sign(id, ts, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(Failure::network)?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(status),
            410 => Err(Failure::gone(
                status,
                "the endpoint answered 410 Gone; it is disabled",
            )),
            // Every other answer is a failure the next attempt may get past (3xx included:
            // redirects are not followed).
            _ => Err(Failure::transient(
                Some(status),
                format!("the endpoint answered {status}"),
                crate::publish::targets::retry_after(response.headers()),
            )),
        }
    }
}

/// The events one publication makes: the incident event, then `component.updated` for each
/// component whose public status it changed (only `only` components, when given).
pub fn events(
    a: &Approved,
    incident: &Incident,
    affected: &[AffectedComponent],
    name_of: &dyn Fn(&str) -> String,
    only: Option<&[String]>,
    page: (&str, &str),
) -> Vec<Value> {
    let mut data = subject(a, &incident.id, 'r', name_of, only, page);
    data["created_at"] = json!(incident.created_at);
    data["started_at"] = json!(incident.started_at);
    let key = if a.kind.is_maintenance() {
        "maintenance"
    } else {
        "incident"
    };
    announce(a, key, data, affected, ("incident_id", &incident.id), only)
}

/// The events one maintenance change makes: `maintenance.<scheduled|updated|started|
/// completed|cancelled>`, then `component.updated` for each component whose public status
/// it moved (only `only` components, when given). Built from the frozen change alone, so a
/// cancelled maintenance's events go out after its record is gone.
pub fn maintenance_events(
    a: &Approved,
    name_of: &dyn Fn(&str) -> String,
    only: Option<&[String]>,
    page: (&str, &str),
) -> Vec<Value> {
    let data = subject(a, &a.draft_id, 'c', name_of, only, page);
    let named = ("maintenance_id", a.draft_id.as_str());
    announce(a, "maintenance", data, &a.affected, named, only)
}

fn shown(only: Option<&[String]>, id: &str) -> bool {
    only.is_none_or(|o| o.iter().any(|c| c == id))
}

fn timestamp(a: &Approved) -> String {
    a.approved_at
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The incident or maintenance object an event carries; `update` tells an incident's update
/// ids (`-r<revision>`) from a maintenance change's (`-c<revision>`). `page` is the reader's
/// page and the `?key=` that opens it (empty for the public page).
fn subject(
    a: &Approved,
    id: &str,
    update: char,
    name_of: &dyn Fn(&str) -> String,
    only: Option<&[String]>,
    (page, key): (&str, &str),
) -> Value {
    let components: Vec<Value> = a
        .components
        .iter()
        .filter(|(id, _)| shown(only, id))
        .map(|(id, s)| json!({"id": id, "name": name_of(id), "status": s}))
        .collect();
    let mut data = json!({
        "id": id,
        "name": a.title,
        "status": a.status,
        "impact": a.impact,
        "url": format!("{}/incidents/{id}{key}", page.trim_end_matches('/')),
        "components": components,
        "update": {
            "id": format!("{}-{update}{}", a.draft_id, a.revision),
            "status": a.status,
            "body": a.body,
            "created_at": timestamp(a),
        },
    });
    if let Some(s) = &a.schedule {
        data["scheduled_for"] = json!(s.scheduled_for);
        data["scheduled_until"] = json!(s.scheduled_until);
    }
    data
}

/// The subject's event under `data.<key>`, then one `component.updated` per shown component
/// it moved, each naming the subject by `named` (field, id).
fn announce(
    a: &Approved,
    key: &str,
    data: Value,
    affected: &[AffectedComponent],
    named: (&str, &str),
    only: Option<&[String]>,
) -> Vec<Value> {
    let timestamp = timestamp(a);
    let mut out =
        vec![json!({"type": a.kind.type_name(), "timestamp": timestamp, "data": {key: data}})];
    for c in affected.iter().filter(|c| shown(only, &c.code)) {
        let mut data = json!({
            "component": {"id": c.code, "name": c.name, "status": c.new_status, "old_status": c.old_status},
        });
        data[named.0] = json!(named.1);
        out.push(json!({"type": "component.updated", "timestamp": timestamp, "data": data}));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specification_test_vector() {
        // protocols.md §5 (Standard Webhooks reference library `test_sign`).
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = key.sign(
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn several_keys_sign_with_each_for_rotation() {
        let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        let one = |s: &str| SigningKey::parse(s).unwrap().sign(id, 1649367553, body);
        let both = SigningKey::parse(&format!("{old}\n{new}\n"))
            .unwrap()
            .sign(id, 1649367553, body);
        assert_eq!(both, format!("{} {}", one(old), one(new)));
        assert!(both.starts_with("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw= v1,"));
        // A list in one value works too; a bad key anywhere is refused with its place.
        assert_eq!(
            SigningKey::parse(&format!("{old}, {new}"))
                .unwrap()
                .sign(id, 1649367553, body),
            both
        );
        let err = SigningKey::parse(&format!("{old}\nhunter2")).unwrap_err();
        assert!(err.contains("key 2"), "{err}");
        assert!(SigningKey::parse("  \n ").is_err());
    }

    #[test]
    fn refuses_secrets_that_are_not_whsec_keys() {
        assert!(SigningKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(SigningKey::parse("whsec_not base64!").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err());
        assert!(!format!(
            "{:?}",
            SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
        )
        .contains("C2F"));
    }
}
