//! The V3 webhook body: one `event` envelope whose `data` depends on `event_type`. Parsing
//! is lenient (PagerDuty adds fields and event types); what statusgate cannot use is
//! described, not refused.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{
    ANNOTATION_STATUS, ANNOTATION_STATUS_UPDATE, ANNOTATION_STATUS_UPDATE_AT,
    ANNOTATION_STATUS_UPDATE_RECEIVED_AT,
};
use crate::ingest::{Alert, AlertStatus, Source};

/// The longest event id remembered; PagerDuty's are 26–36 characters.
const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, Deserialize)]
struct Envelope {
    event: Event,
}

/// One outbound event.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    #[serde(default)]
    pub resource_type: String,
    #[serde(default)]
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub agent: Option<Value>,
    #[serde(default)]
    pub data: Value,
}

impl Event {
    /// `occurred_at`, when present and readable.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.occurred_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }

    /// Who did it, as PagerDuty names them (for the audit log).
    pub fn agent(&self) -> Option<&str> {
        self.agent.as_ref()?.get("summary")?.as_str()
    }

    /// The incident the event is about, whatever the shape of its data.
    pub fn incident_id(&self) -> Option<&str> {
        let data = &self.data;
        if data.get("type").and_then(Value::as_str) == Some("incident") {
            return data.get("id").and_then(Value::as_str);
        }
        data.get("incident")?.get("id")?.as_str()
    }
}

/// Reads the envelope; the error says, for the audit log, why the body is unusable.
pub fn parse(body: &[u8]) -> Result<Event, String> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => format!("not a V3 webhook event: {e}"),
            _ => format!("body is not JSON: {e}"),
        }
    })?;
    let event = envelope.event;
    if event.id.trim().is_empty() || event.id.len() > MAX_ID_LEN {
        return Err("event.id is empty or too long".into());
    }
    Ok(event)
}

/// An incident as `data` carries it for `data.type == "incident"`.
#[derive(Debug, Clone, Deserialize)]
struct Incident {
    id: String,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    service: Option<Reference>,
    #[serde(default)]
    escalation_policy: Option<Reference>,
    #[serde(default)]
    priority: Option<Reference>,
    #[serde(default)]
    urgency: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Reference {
    #[serde(default)]
    id: String,
    #[serde(default)]
    summary: String,
}

/// What an event means for statusgate.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// The incident as it now stands (`data.type == "incident"`).
    Incident(Box<Alert>),
    /// A status update written for the incident.
    StatusUpdate { incident: String, text: String },
    /// Names the incident but changes nothing a status page shows (notes, responders).
    Note { incident: String },
    /// Nothing statusgate uses; the reason goes to the audit log.
    Unused(String),
}

/// Interprets one event. `severity` maps urgency to the `severity` label.
pub fn meaning(event: &Event, severity: &BTreeMap<String, String>, now: DateTime<Utc>) -> Meaning {
    let data_type = event.data.get("type").and_then(Value::as_str).unwrap_or("");
    if !event.event_type.starts_with("incident.") {
        return Meaning::Unused(match event.event_type.as_str() {
            "pagey.ping" => "ping".to_string(),
            other => format!("event type `{other}` is not about an incident"),
        });
    }
    match (event.event_type.as_str(), data_type) {
        (_, "incident") => match serde_json::from_value::<Incident>(event.data.clone()) {
            Ok(incident) if !incident.id.trim().is_empty() => {
                Meaning::Incident(Box::new(incident_alert(event, &incident, severity, now)))
            }
            Ok(_) => Meaning::Unused("the incident has no id".into()),
            Err(e) => Meaning::Unused(format!("incident data has the wrong shape: {e}")),
        },
        ("incident.status_update_published", _) => {
            let text = event
                .data
                .get("message")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("");
            match event.incident_id() {
                Some(id) if !text.is_empty() => Meaning::StatusUpdate {
                    incident: id.to_string(),
                    text: text.to_string(),
                },
                Some(_) => Meaning::Unused("the status update has no text".into()),
                None => Meaning::Unused("the status update names no incident".into()),
            }
        }
        ("incident.annotated", _)
        | ("incident.responder.added", _)
        | ("incident.responder.replied", _) => match event.incident_id() {
            Some(id) => Meaning::Note {
                incident: id.to_string(),
            },
            None => Meaning::Unused(format!("{} names no incident", event.event_type)),
        },
        (other, _) => Meaning::Unused(format!("event type `{other}` is not used")),
    }
}

/// The alert an incident becomes: labels as DESIGN.md fixes them, so the catalog's
/// matchers route it like any alert.
fn incident_alert(
    event: &Event,
    incident: &Incident,
    severity: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Alert {
    let id = incident.id.trim().to_string();
    let occurred = event.occurred_at();
    let service = incident.service.clone().unwrap_or_default();
    let policy = incident.escalation_policy.clone().unwrap_or_default();
    let urgency = incident.urgency.trim().to_ascii_lowercase();
    let mut labels = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        labels.insert(k.to_string(), v.to_string());
    };
    put("pd_incident_id", &id);
    put("pd_service", service.summary.trim());
    put("pd_service_id", service.id.trim());
    put(
        "pd_priority",
        incident
            .priority
            .as_ref()
            .map(|p| p.summary.trim())
            .unwrap_or(""),
    );
    put("pd_urgency", &urgency);
    put("pd_escalation_policy", policy.summary.trim());
    put("severity", &severity_of(&urgency, severity));
    Source::Pagerduty.stamp(&mut labels);

    let status = match incident.status.as_str() {
        "resolved" => AlertStatus::Resolved,
        "triggered" | "acknowledged" => AlertStatus::Firing,
        _ if event.event_type == "incident.resolved" => AlertStatus::Resolved,
        _ => AlertStatus::Firing,
    };
    let pd_status = match (incident.status.as_str(), status) {
        (s @ ("triggered" | "acknowledged" | "resolved"), _) => s,
        (_, AlertStatus::Resolved) => "resolved",
        (_, AlertStatus::Firing) if event.event_type == "incident.acknowledged" => "acknowledged",
        (_, AlertStatus::Firing) => "triggered",
    };
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), incident.title.trim().to_string());
    annotations.insert(ANNOTATION_STATUS.to_string(), pd_status.to_string());
    if let Some(n) = incident.number {
        annotations.insert("pd_incident_number".to_string(), n.to_string());
    }
    let starts_at = incident
        .created_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .or(occurred)
        .unwrap_or(now);
    Alert {
        key: format!("pd:{id}"),
        source: Source::Pagerduty,
        fingerprint: format!("pd:{id}"),
        status,
        labels,
        annotations,
        starts_at,
        ends_at: (status == AlertStatus::Resolved).then(|| occurred.unwrap_or(now)),
        generator_url: incident.html_url.trim().to_string(),
        received_at: now,
        changed_at: occurred,
        truncated: 0,
    }
}

/// `severity` for an urgency: the configured mapping, else the documented default, else
/// the urgency itself.
fn severity_of(urgency: &str, configured: &BTreeMap<String, String>) -> String {
    if let Some(s) = configured.get(urgency) {
        return s.clone();
    }
    match urgency {
        "high" => "critical".into(),
        "low" => "warning".into(),
        other => other.into(),
    }
}

/// The incident as last seen, with a status update written for it. `None` when an update
/// at least as new is already there.
pub fn with_status_update(
    known: &Alert,
    text: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Alert> {
    if known.status_update().is_some_and(|prev| prev.at >= at) {
        return None;
    }
    let mut alert = known.clone();
    alert
        .annotations
        .insert(ANNOTATION_STATUS_UPDATE.to_string(), text.to_string());
    alert.annotations.insert(
        ANNOTATION_STATUS_UPDATE_AT.to_string(),
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    alert.annotations.insert(
        ANNOTATION_STATUS_UPDATE_RECEIVED_AT.to_string(),
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    alert.received_at = now;
    // Not a change of state: the incident's own clock stays where it is.
    Some(alert)
}

/// Carries what only earlier events told (the latest status update) into a newer state of
/// the incident.
pub fn carry_over(alert: &mut Alert, known: &Alert) {
    for key in [
        ANNOTATION_STATUS_UPDATE,
        ANNOTATION_STATUS_UPDATE_AT,
        ANNOTATION_STATUS_UPDATE_RECEIVED_AT,
    ] {
        if let Some(v) = known.annotations.get(key) {
            alert.annotations.insert(key.to_string(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> BTreeMap<String, String> {
        crate::config::PagerDutySource::default().severity
    }

    fn event(json: &str) -> Event {
        parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn the_test_vector_is_an_incident_with_every_label() {
        let text = include_str!("../../../tests/fixtures/pagerduty/test-vector.json");
        let e = event(text);
        assert_eq!(e.event_type, "incident.priority_updated");
        let now = Utc::now();
        let Meaning::Incident(alert) = meaning(&e, &defaults(), now) else {
            panic!("not an incident");
        };
        assert_eq!(alert.key, "pd:PGR0VU2");
        assert_eq!(alert.fingerprint, "pd:PGR0VU2");
        assert_eq!(alert.source, Source::Pagerduty);
        assert_eq!(alert.status, AlertStatus::Firing);
        let l = |k: &str| alert.labels.get(k).map(String::as_str);
        assert_eq!(l("source"), Some("pagerduty"));
        assert_eq!(l("pd_incident_id"), Some("PGR0VU2"));
        assert_eq!(l("pd_service"), Some("API Service"));
        assert_eq!(l("pd_service_id"), Some("PF9KMXH"));
        assert_eq!(l("pd_priority"), Some("P1"));
        assert_eq!(l("pd_urgency"), Some("high"));
        assert_eq!(l("pd_escalation_policy"), Some("Default"));
        assert_eq!(l("severity"), Some("critical"));
        assert_eq!(l("alertname"), None);
        assert_eq!(
            alert.annotations.get("summary").map(String::as_str),
            Some("A little bump in the road")
        );
        assert_eq!(alert.acknowledged(), Some(false));
        assert_eq!(
            alert.generator_url,
            "https://acme.pagerduty.com/incidents/PGR0VU2"
        );
        assert_eq!(
            alert.changed_at.map(|t| t.to_rfc3339()),
            Some("2021-04-26T17:36:27.458+00:00".to_string())
        );
        // No created_at in this payload: the event time stands in.
        assert_eq!(alert.starts_at, alert.changed_at.unwrap());
    }

    #[test]
    fn an_unset_priority_is_empty_and_low_urgency_is_a_warning() {
        let e = event(
            r#"{"event":{"id":"E1","event_type":"incident.triggered","resource_type":"incident",
            "occurred_at":"2026-11-30T12:00:00Z","agent":null,"client":null,
            "data":{"id":"P1","type":"incident","status":"triggered","title":"t","urgency":"low",
            "priority":null,"service":{"id":"S","summary":"Svc"}}}}"#,
        );
        let Meaning::Incident(a) = meaning(&e, &defaults(), Utc::now()) else {
            panic!()
        };
        assert_eq!(a.labels["pd_priority"], "");
        assert_eq!(a.labels["severity"], "warning");
        assert_eq!(a.labels["pd_escalation_policy"], "");
        let custom = [("low".to_string(), "info".to_string())].into();
        let Meaning::Incident(a) = meaning(&e, &custom, Utc::now()) else {
            panic!()
        };
        assert_eq!(a.labels["severity"], "info");
    }

    #[test]
    fn events_that_name_only_the_incident_are_told_apart() {
        let note = event(
            r#"{"event":{"id":"E2","event_type":"incident.annotated","resource_type":"incident",
            "occurred_at":"2026-11-30T12:00:00Z","data":{"incident":{"id":"P1","type":"incident_reference"},
            "id":"N1","content":"db-3 restarted","type":"incident_note"}}}"#,
        );
        assert_eq!(
            meaning(&note, &defaults(), Utc::now()),
            Meaning::Note {
                incident: "P1".into()
            }
        );
        let update = event(
            r#"{"event":{"id":"E3","event_type":"incident.status_update_published","resource_type":"incident",
            "occurred_at":"2026-11-30T12:00:00Z","data":{"incident":{"id":"P1"},"id":"U1",
            "message":" A fix is being rolled out. ","trimmed":false,"type":"incident_status_update"}}}"#,
        );
        assert_eq!(
            meaning(&update, &defaults(), Utc::now()),
            Meaning::StatusUpdate {
                incident: "P1".into(),
                text: "A fix is being rolled out.".into()
            }
        );
        let ping = event(
            r#"{"event":{"id":"E4","event_type":"pagey.ping","resource_type":"pagey",
            "occurred_at":"2026-11-30T12:00:00Z","data":{"message":"Hello from your friend Pagey!","type":"ping"}}}"#,
        );
        assert_eq!(
            meaning(&ping, &defaults(), Utc::now()),
            Meaning::Unused("ping".into())
        );
        let bridge = event(
            r#"{"event":{"id":"E5","event_type":"incident.conference_bridge.updated","resource_type":"incident",
            "data":{"incident":{"id":"P1"},"type":"incident_conference_bridge"}}}"#,
        );
        assert!(matches!(
            meaning(&bridge, &defaults(), Utc::now()),
            Meaning::Unused(_)
        ));
    }

    #[test]
    fn unusable_bodies_say_why() {
        assert!(parse(b"not json").unwrap_err().contains("not JSON"));
        assert!(parse(br#"{"event":{"event_type":"x"}}"#)
            .unwrap_err()
            .contains("not a V3 webhook event"));
        assert!(parse(br#"{"event":{"id":"","event_type":"x"}}"#).is_err());
        let odd = event(
            r#"{"event":{"id":"E6","event_type":"incident.triggered","data":{"type":"incident","id":7}}}"#,
        );
        assert!(matches!(
            meaning(&odd, &defaults(), Utc::now()),
            Meaning::Unused(r) if r.contains("wrong shape")
        ));
    }

    #[test]
    fn status_updates_only_move_forward() {
        let e = event(include_str!(
            "../../../tests/fixtures/pagerduty/test-vector.json"
        ));
        let Meaning::Incident(known) = meaning(&e, &defaults(), Utc::now()) else {
            panic!()
        };
        let t1 = "2026-11-30T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let t2 = "2026-11-30T12:05:00Z".parse::<DateTime<Utc>>().unwrap();
        let now = Utc::now();
        let first = with_status_update(&known, "first", t2, now).unwrap();
        let update = first.status_update().unwrap();
        assert_eq!((update.at, update.text), (t2, "first"));
        assert_eq!(
            update.received_at.timestamp_millis(),
            now.timestamp_millis()
        );
        assert_eq!(first.changed_at, known.changed_at);
        assert!(with_status_update(&first, "older", t1, Utc::now()).is_none());
        let mut next = (*known).clone();
        carry_over(&mut next, &first);
        assert_eq!(next.status_update(), first.status_update());
    }
}
