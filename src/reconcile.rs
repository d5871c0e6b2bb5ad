//! Reconciliation: every `reconcile.interval`, and at start-up, statusgate reads the alerts
//! each configured Alertmanager holds (`GET /api/v2/alerts`, silenced and inhibited
//! included) and repairs what webhooks missed — deliveries lost while statusgate was down,
//! and resolutions a silence swallowed (a silenced alert never sends its resolution).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::{ReconcileConfig, Secret};
use crate::ingest::{Alert, AlertStatus, Delivery, Recorder, Source};

/// One alert as Alertmanager's API v2 lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: DateTime<FixedOffset>,
    fingerprint: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    status: ApiStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiStatus {
    #[serde(default)]
    state: String,
    #[serde(default)]
    silenced_by: Vec<String>,
    #[serde(default)]
    inhibited_by: Vec<String>,
}

struct Endpoint {
    url: String,
    authorization: Option<Secret>,
}

pub struct Reconciler {
    endpoints: Vec<Endpoint>,
    interval: Duration,
    recorder: Recorder,
    http: reqwest::Client,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub listed: usize,
    pub repaired_firing: usize,
    pub repaired_resolved: usize,
    pub unreachable: usize,
}

impl Reconciler {
    /// `authorizations`: per Alertmanager, in order, its `Authorization` header value
    /// (resolved with the other secrets, from the environment or files).
    pub fn new(
        config: &ReconcileConfig,
        authorizations: &[Option<Secret>],
        recorder: Recorder,
    ) -> Result<Reconciler, String> {
        let mut endpoints = Vec::new();
        for (i, am) in config.alertmanagers.iter().enumerate() {
            endpoints.push(Endpoint {
                url: am.url.trim_end_matches('/').to_string(),
                authorization: authorizations.get(i).cloned().flatten(),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Reconciler {
            endpoints,
            interval: config.interval.as_std().max(Duration::from_secs(1)),
            recorder,
            http,
        })
    }

    /// One pass now, then one every interval, until `shutdown`.
    pub async fn run(&mut self, shutdown: CancellationToken) {
        loop {
            match self.once().await {
                Ok(p) if p.repaired_firing + p.repaired_resolved > 0 => tracing::info!(
                    listed = p.listed,
                    firing = p.repaired_firing,
                    resolved = p.repaired_resolved,
                    "reconciliation repaired what webhooks missed"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "reconciliation could not record its findings")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                _ = shutdown.cancelled() => break,
            }
        }
    }

    pub async fn once(&self) -> Result<Pass, crate::store::StoreError> {
        let started = Utc::now();
        let mut pass = Pass::default();
        let mut listed: Vec<Alert> = Vec::new();
        for ep in &self.endpoints {
            match self.fetch(ep).await {
                Ok(alerts) => listed.extend(alerts),
                Err(e) => {
                    pass.unreachable += 1;
                    tracing::warn!(alertmanager = %ep.url, error = %e, "reconciliation: Alertmanager unreachable");
                }
            }
        }
        pass.listed = listed.len();
        let present: HashSet<String> = listed.iter().map(|a| a.key.clone()).collect();
        let detail = json!({"via": "reconcile"});
        let outcome = self
            .recorder
            .record_here(Delivery::new(
                Source::Alertmanager,
                listed,
                detail.clone(),
                started,
            ))
            .await?;
        pass.repaired_firing = outcome.new;
        // Resolve only on a complete picture, and never an alert that arrived after the
        // lists were read.
        if pass.unreachable == 0 && !self.endpoints.is_empty() {
            let gone: Vec<Alert> = self
                .recorder
                .known_firing(Source::Alertmanager)?
                .into_iter()
                .filter(|a| !present.contains(&a.key) && a.received_at < started)
                .map(|mut a| {
                    a.status = AlertStatus::Resolved;
                    a.ends_at = Some(started);
                    a.received_at = started;
                    a
                })
                .collect();
            if !gone.is_empty() {
                let outcome = self
                    .recorder
                    .record_here(Delivery::new(Source::Alertmanager, gone, detail, started))
                    .await?;
                pass.repaired_resolved = outcome.new;
            }
        }
        Ok(pass)
    }

    async fn fetch(&self, ep: &Endpoint) -> Result<Vec<Alert>, String> {
        let url = format!(
            "{}/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true",
            ep.url
        );
        let mut req = self.http.get(&url);
        if let Some(a) = &ep.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a.expose());
        }
        let response = req.send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let items: Vec<ApiAlert> = response
            .json()
            .await
            .map_err(|e| format!("unexpected answer: {e}"))?;
        let now = Utc::now();
        Ok(items.into_iter().map(|a| to_alert(a, now)).collect())
    }
}

fn to_alert(a: ApiAlert, now: DateTime<Utc>) -> Alert {
    let mut labels = a.labels;
    labels.insert("source".into(), "alertmanager".into());
    let mut annotations = a.annotations;
    // Marked for approvers: silenced or inhibited alerts are real, but someone chose quiet.
    if a.status.state == "suppressed" {
        annotations.insert("alertmanager_state".into(), "suppressed".into());
        if !a.status.silenced_by.is_empty() {
            annotations.insert(
                "alertmanager_silenced_by".into(),
                a.status.silenced_by.join(","),
            );
        }
        if !a.status.inhibited_by.is_empty() {
            annotations.insert(
                "alertmanager_inhibited_by".into(),
                a.status.inhibited_by.join(","),
            );
        }
    }
    Alert {
        key: format!("am:{}", a.fingerprint),
        source: Source::Alertmanager,
        fingerprint: a.fingerprint,
        status: AlertStatus::Firing,
        labels,
        annotations,
        starts_at: a.starts_at.with_timezone(&Utc),
        ends_at: None,
        generator_url: a.generator_url,
        received_at: now,
        truncated: 0,
        changed_at: None,
    }
}

impl crate::store::Work for Reconciler {
    fn run(&mut self, stop: CancellationToken) -> impl std::future::Future<Output = ()> + Send {
        Reconciler::run(self, stop)
    }
}
