//! PagerDuty V3 webhooks through the real server: signatures (protocols.md's test vector),
//! every incident event type, dedupe, out-of-order delivery, grouping with Alertmanager
//! alerts, and what acknowledgements and status updates do to drafts. Shared helpers here.

mod lifecycle;
mod replicas;
mod signatures;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::harness::*;

/// protocols.md §2: the go-pagerduty test vector.
pub(super) const VECTOR_SECRET: &str =
    "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
pub(super) const VECTOR_GOOD: &str =
    "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
pub(super) const VECTOR_BAD: &str =
    "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

/// The subscription secret most tests sign with, and the one it replaced.
pub(super) const SECRET: &str = "pd-current-secret-Zm9vYmFyYmF6cXV4";
pub(super) const OLD_SECRET: &str = "pd-retired-secret-cXV4YmF6YmFyZm9v";

/// PagerDuty routes added to the harness catalog, shaped like mappings/40-pagerduty.yaml.
pub(super) const PD_ROUTES: &str = r#"
  - name: pd-internal-tooling
    match: ['source="pagerduty"', 'pd_service="Internal tooling"']
    ignore: true
  - name: pd-checkout-high-priority
    match: ['source="pagerduty"', 'pd_service="Checkout API"', 'pd_priority=~"P1|P2"']
    components: [payments]
    status: {critical: major_outage, warning: partial_outage}
  - name: pd-checkout
    match: ['source="pagerduty"', 'pd_service="Checkout API"']
    components: [payments]
    default_status: degraded_performance
  - name: pd-web-by-id
    match: ['source="pagerduty"', 'pd_service_id="PWEB001"']
    components: [web]
"#;

/// A server that takes PagerDuty webhooks signed with any of `secrets` (comma-separated,
/// as in STATUSGATE_PAGERDUTY_SECRETS), from a secrets file.
pub(super) struct Pd {
    pub(super) s: Server,
    _secrets: tempfile::TempDir,
}

pub(super) fn start(secrets: &str) -> Pd {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pagerduty.secrets");
    std::fs::write(&file, format!("{secrets}\n")).unwrap();
    let s = Server::start(Options {
        catalog: format!("{CATALOG}{PD_ROUTES}"),
        extra_config: format!(
            "sources:\n  pagerduty:\n    secrets_file: {}\n",
            file.display()
        ),
        ..Options::default()
    });
    Pd { s, _secrets: dir }
}

/// `v1=<hex>` computed here, independently of the server.
pub(super) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` as PagerDuty does, with the given signature headers (none: no header).
pub(super) async fn post_raw(s: &Server, body: Vec<u8>, signatures: &[&str]) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}/webhooks/pagerduty", s.url))
        .header("content-type", "application/json")
        .header("user-agent", "PagerDuty-Webhook/V3.0")
        .header("x-webhook-id", "c6a3f1e0-7d2b-4c8e-9f14-0b5d6e7a8c9d")
        .header("x-webhook-subscription", "PSUB0042")
        .body(body);
    for sig in signatures {
        req = req.header("x-pagerduty-signature", *sig);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, json)
}

/// Signs and POSTs one event.
pub(super) async fn post(s: &Server, event: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let sig = sign(SECRET, &body);
    post_raw(s, body, &[&sig]).await
}

/// Posts and expects a 2xx with the given `status` word.
pub(super) async fn deliver(s: &Server, event: &Value, expect: &str) -> Value {
    let (code, body) = post(s, event).await;
    assert_eq!(code, 200, "{body}\n{}", s.log());
    assert_eq!(body["status"], expect, "{body}");
    body
}

pub(super) fn fixture(name: &str) -> Value {
    let path = repo_path(&format!("tests/fixtures/pagerduty/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A fixture for another incident, event id and time.
pub(super) fn event(name: &str, event_id: &str, incident: &str, occurred_at: &str) -> Value {
    let mut e = fixture(name);
    let original = e["event"]["data"]["id"]
        .as_str()
        .filter(|_| e["event"]["data"]["type"] == "incident")
        .or_else(|| e["event"]["data"]["incident"]["id"].as_str())
        .unwrap_or("")
        .to_string();
    let text = serde_json::to_string(&e)
        .unwrap()
        .replace(&original, incident);
    e = serde_json::from_str(&text).unwrap();
    e["event"]["id"] = json!(event_id);
    e["event"]["occurred_at"] = json!(occurred_at);
    e
}

pub(super) fn with_service(mut e: Value, id: &str, name: &str) -> Value {
    e["event"]["data"]["service"]["id"] = json!(id);
    e["event"]["data"]["service"]["summary"] = json!(name);
    e
}

pub(super) async fn pd_audit(s: &Server) -> Vec<Value> {
    s.audit()
        .await
        .into_iter()
        .filter(|e| e["actor"] == "pagerduty")
        .collect()
}

/// Drafts (any state) for the payments component.
pub(super) async fn payments_drafts(s: &Server) -> Vec<Value> {
    s.drafts("")
        .await
        .into_iter()
        .filter(|d| d["components"].get("payments").is_some())
        .collect()
}

/// Returns once the pipeline has done everything the deliveries sent before it could cause.
/// An Alertmanager alert for `api` (no PagerDuty route maps to it) sent now waits out
/// group_wait; approved and resolved, it waits out resolve_wait. Its resolution draft
/// therefore exists only after any draft or resolution due from earlier deliveries, so a
/// check for "nothing was drafted" made afterwards cannot pass merely because the server
/// was slow.
pub(super) async fn barrier(s: &Server, tag: &str) {
    let fp = format!("barrier-{tag}");
    let alert = |firing| am_alert(&fp, "api-gateway", "critical", firing, T0);
    let (code, body) = s.post_alertmanager(&am_payload(vec![alert(true)])).await;
    assert_eq!(code, 200, "{body}");
    let has_marker = |d: &Value| {
        d["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["fingerprint"] == fp.as_str()))
    };
    let d = s
        .wait_draft(&format!("barrier {tag}"), |d| {
            d["state"] == "pending" && has_marker(d)
        })
        .await;
    let (code, body) = s
        .approve(d["id"].as_str().unwrap(), d["revision"].as_u64().unwrap())
        .await;
    assert_eq!(code, 200, "{body}");
    let incident = body["incident"]["id"].clone();
    s.post_alertmanager(&am_payload(vec![alert(false)])).await;
    s.wait_draft(&format!("barrier {tag} resolved"), |d| {
        d["kind"] == "resolution" && d["incident_id"] == incident
    })
    .await;
}

/// Drafts other than the barrier's (which are all for `api`).
pub(super) async fn drafts_but_barriers(s: &Server) -> Vec<Value> {
    s.drafts("")
        .await
        .into_iter()
        .filter(|d| d["components"].get("api").is_none())
        .collect()
}

const T0: &str = "2026-11-30T12:00:00Z";
