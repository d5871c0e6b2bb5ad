//! The public status page over HTTP: HTML pages, Statuspage-shaped JSON checked against a
//! real response's shape, feeds validated by an XML parser, badges, caching validators,
//! and scheduled maintenance moved by the clock.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::harness::*;

mod feeds;
mod rendered;
mod requests;
mod shape;

pub(crate) const T0: &str = "2026-11-30T12:00:00Z";

pub(crate) fn ts(offset: chrono::Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Fires an alert for `service`, approves the draft, returns the incident id.
pub(crate) async fn open_incident(s: &Server, fingerprint: &str, service: &str) -> String {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            fingerprint,
            service,
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    let draft = s
        .wait_draft(&format!("draft for {service}"), |d| {
            d["state"] == "pending"
                && d["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["fingerprint"] == fingerprint))
        })
        .await;
    let (status, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    approved["incident"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn create_maintenance(s: &Server, body: Value) -> Value {
    let (status, m) = s
        .send("POST", "/api/v1/maintenances", Some(ADMIN), Some(body))
        .await;
    assert_eq!(status, 201, "{m}");
    m
}
