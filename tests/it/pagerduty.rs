//! PagerDuty V3 webhooks through the real server: signatures (protocols.md's test vector),
//! every incident event type, dedupe, out-of-order delivery, grouping with Alertmanager
//! alerts, and what acknowledgements and status updates do to drafts.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::harness::*;

/// protocols.md §2: the go-pagerduty test vector.
const VECTOR_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
const VECTOR_GOOD: &str = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
const VECTOR_BAD: &str = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

/// The subscription secret most tests sign with, and the one it replaced.
const SECRET: &str = "pd-current-secret-Zm9vYmFyYmF6cXV4";
const OLD_SECRET: &str = "pd-retired-secret-cXV4YmF6YmFyZm9v";

/// PagerDuty routes added to the harness catalog, shaped like mappings/40-pagerduty.yaml.
const PD_ROUTES: &str = r#"
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
struct Pd {
    s: Server,
    _secrets: tempfile::TempDir,
}

fn start(secrets: &str) -> Pd {
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
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body` as PagerDuty does, with the given signature headers (none: no header).
async fn post_raw(s: &Server, body: Vec<u8>, signatures: &[&str]) -> (u16, Value) {
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
async fn post(s: &Server, event: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let sig = sign(SECRET, &body);
    post_raw(s, body, &[&sig]).await
}

/// Posts and expects a 2xx with the given `status` word.
async fn deliver(s: &Server, event: &Value, expect: &str) -> Value {
    let (code, body) = post(s, event).await;
    assert_eq!(code, 200, "{body}\n{}", s.log());
    assert_eq!(body["status"], expect, "{body}");
    body
}

fn fixture(name: &str) -> Value {
    let path = repo_path(&format!("tests/fixtures/pagerduty/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A fixture for another incident, event id and time.
fn event(name: &str, event_id: &str, incident: &str, occurred_at: &str) -> Value {
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

fn with_service(mut e: Value, id: &str, name: &str) -> Value {
    e["event"]["data"]["service"]["id"] = json!(id);
    e["event"]["data"]["service"]["summary"] = json!(name);
    e
}

async fn pd_audit(s: &Server) -> Vec<Value> {
    s.audit()
        .await
        .into_iter()
        .filter(|e| e["actor"] == "pagerduty")
        .collect()
}

async fn metric(s: &Server, line_start: &str) -> f64 {
    let (_, text) = s.text("/metrics").await;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Drafts (any state) for the payments component.
async fn payments_drafts(s: &Server) -> Vec<Value> {
    s.drafts("")
        .await
        .into_iter()
        .filter(|d| d["components"].get("payments").is_some())
        .collect()
}

/// Lets the pipeline take what was recorded and run its timers for `ms`.
async fn settle(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

async fn wait_for(what: &str, s: &Server, pred: impl Fn(&Value) -> bool) -> Value {
    s.wait_draft(what, pred).await
}

#[tokio::test]
async fn signatures_follow_the_documented_vector_rotation_and_formats() {
    // The vector's secret plus a retired one: rotation means several at once.
    let pd = start(&format!("{OLD_SECRET}, {VECTOR_SECRET}"));
    let s = &pd.s;
    let body = std::fs::read(repo_path("tests/fixtures/pagerduty/test-vector.json")).unwrap();
    assert_eq!(body.len(), 1655);
    assert_eq!(
        hex::encode(Sha256::digest(&body)),
        "6ef42c69dbbc0feaff02e04ca31f497cb2bcbecf1a038a636f114cd7cdd2e23a"
    );
    assert_eq!(sign(VECTOR_SECRET, &body), VECTOR_GOOD);

    // Refused before anything is recorded.
    let (code, err) = post_raw(s, body.clone(), &[VECTOR_BAD]).await;
    assert_eq!(code, 401, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("no signature"),
        "{err}"
    );
    let (code, err) = post_raw(s, body.clone(), &[]).await;
    assert_eq!(code, 401);
    assert!(err["error"].as_str().unwrap().contains("missing"), "{err}");
    let mut altered = body.clone();
    let i = altered.len() / 2;
    altered[i] = if altered[i] == b'a' { b'b' } else { b'a' };
    let (code, _) = post_raw(s, altered, &[VECTOR_GOOD]).await;
    assert_eq!(code, 401);
    let (code, _) = post_raw(s, body.clone(), &["v0=abcdef"]).await;
    assert_eq!(code, 401);
    assert!(pd_audit(s).await.is_empty(), "a refused body was recorded");

    // Several signatures, only the second valid (as during PagerDuty's rotation).
    let both = format!("{VECTOR_BAD},{VECTOR_GOOD}");
    let (code, first) = post_raw(s, body.clone(), &[&both]).await;
    assert_eq!(code, 200, "{first}");
    // API Service is mapped by no route: answered, recorded, ignored.
    assert_eq!(first["status"], "ignored", "{first}");
    let audit = pd_audit(s).await;
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["action"], "ignored");
    assert_eq!(audit[0]["detail"]["event_id"], "01BWDWL3NYY7LUFPZCC28QUCMK");
    assert_eq!(audit[0]["detail"]["incident"], "PGR0VU2");

    // Upper-case hex, spaces around commas, repeated headers: all authentic (and the same
    // event again, so a duplicate).
    let upper = format!("v1={}", VECTOR_GOOD[3..].to_uppercase());
    let spaced = format!("  {VECTOR_BAD} ,   {VECTOR_GOOD}  ");
    for headers in [
        vec![upper.as_str()],
        vec![&spaced],
        vec![VECTOR_BAD, VECTOR_GOOD],
    ] {
        let (code, r) = post_raw(s, body.clone(), &headers).await;
        assert_eq!(
            (code, r["status"].as_str()),
            (200, Some("duplicate")),
            "{headers:?}: {r}"
        );
    }

    // The retired secret still verifies while it is configured.
    let ping = serde_json::to_vec(&fixture("pagey.ping")).unwrap();
    let (code, r) = post_raw(s, ping.clone(), &[&sign(OLD_SECRET, &ping)]).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("ignored")), "{r}");
    let (code, _) = post_raw(s, ping.clone(), &[&sign("never-configured", &ping)]).await;
    assert_eq!(code, 401);

    // Size comes before the signature.
    let huge = vec![b' '; 70 * 1024];
    let (code, err) = post_raw(s, huge, &[]).await;
    assert_eq!(code, 413, "{err}");

    assert_eq!(
        metric(
            s,
            "statusgate_webhooks_received_total{source=\"pagerduty\",outcome=\"unauthorized\"}"
        )
        .await,
        5.0
    );
    assert_eq!(
        metric(
            s,
            "statusgate_webhooks_received_total{source=\"pagerduty\",outcome=\"ignored\"}"
        )
        .await,
        2.0
    );
    assert!(!s.log().contains(VECTOR_SECRET) && !s.log().contains(OLD_SECRET));
}

#[tokio::test]
async fn without_a_secret_the_endpoint_is_off() {
    let s = Server::start(Options::default());
    let body = serde_json::to_vec(&fixture("incident.triggered")).unwrap();
    let sig = sign(SECRET, &body);
    let (code, err) = post_raw(&s, body, &[&sig]).await;
    assert_eq!(code, 404, "{err}");
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("STATUSGATE_PAGERDUTY_SECRETS"));
}

#[tokio::test]
async fn every_event_type_is_taken_and_a_mapped_incident_is_drafted() {
    let pd = start(SECRET);
    let s = &pd.s;
    // A ping when the subscription is created: 2xx, recorded, ignored.
    deliver(s, &fixture("pagey.ping"), "ignored").await;
    deliver(s, &fixture("service.updated"), "ignored").await;

    let triggered = deliver(s, &fixture("incident.triggered"), "accepted").await;
    assert_eq!(triggered["new"], 1);
    let draft = wait_for("new incident for payments", s, |d| {
        d["kind"] == "new_incident" && d["components"]["payments"] == "major_outage"
    })
    .await;
    assert_eq!(draft["incident_status"], "investigating");
    assert_eq!(draft["impact"], "critical");
    let alert = &draft["alerts"][0];
    assert_eq!(alert["fingerprint"], "pd:Q0CHKOUT42AB7X");
    assert_eq!(alert["source"], "pagerduty");
    for (k, v) in [
        ("source", "pagerduty"),
        ("pd_incident_id", "Q0CHKOUT42AB7X"),
        ("pd_service", "Checkout API"),
        ("pd_service_id", "PCHK001"),
        ("pd_priority", "P1"),
        ("pd_urgency", "high"),
        ("pd_escalation_policy", "Payments On-Call"),
        ("severity", "critical"),
    ] {
        assert_eq!(alert["labels"][k], v, "label {k}: {alert}");
    }
    assert_eq!(
        alert["generator_url"],
        "https://acme.pagerduty.com/incidents/Q0CHKOUT42AB7X"
    );

    // The rest of an incident's life, in order. Each is authentic and usable: 2xx.
    for name in [
        "incident.priority_updated",
        "incident.escalated",
        "incident.reassigned",
        "incident.acknowledged",
        "incident.annotated",
        "incident.responder.added",
        "incident.status_update_published",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
    ] {
        deliver(s, &fixture(name), "accepted").await;
    }
    let audit = pd_audit(s).await;
    let types: Vec<&str> = audit
        .iter()
        .rev()
        .filter_map(|e| e["detail"]["event_type"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "pagey.ping",
            "service.updated",
            "incident.triggered",
            "incident.priority_updated",
            "incident.escalated",
            "incident.reassigned",
            "incident.acknowledged",
            "incident.annotated",
            "incident.responder.added",
            "incident.status_update_published",
            "incident.unacknowledged",
            "incident.resolved",
            "incident.reopened",
        ]
    );
    let note = audit
        .iter()
        .find(|e| e["detail"]["event_type"] == "incident.annotated")
        .unwrap();
    assert_eq!(note["action"], "ingest");
    assert_eq!(note["detail"]["agent"], "Earline Greenholt");
    // A note is internal: its text is not kept.
    assert!(!note.to_string().contains("auth-gw-2"), "{note}");

    // Reopened within resolve_wait: still one incident, firing, no resolution drafted.
    settle(900).await;
    let drafts = payments_drafts(s).await;
    assert_eq!(drafts.len(), 1, "{drafts:#?}");
    assert_eq!(drafts[0]["state"], "pending");
    assert_eq!(drafts[0]["alerts"][0]["status"], "firing");
    // The status update published in PagerDuty is the draft's body.
    assert!(
        drafts[0]["body"]
            .as_str()
            .unwrap()
            .starts_with("Card payments are failing for some customers."),
        "{}",
        drafts[0]["body"]
    );
}

#[tokio::test]
async fn unmapped_unknown_and_unreadable_deliveries_are_answered_and_recorded_as_ignored() {
    let pd = start(SECRET);
    let s = &pd.s;
    let tooling = with_service(
        event(
            "incident.triggered",
            "EV-TOOL-1",
            "QTOOLING1",
            "2026-11-30T12:00:00Z",
        ),
        "PTOOL01",
        "Internal tooling",
    );
    let r = deliver(s, &tooling, "ignored").await;
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("pd-internal-tooling"),
        "{r}"
    );
    let nowhere = with_service(
        event(
            "incident.triggered",
            "EV-NOWHERE-1",
            "QNOWHERE1",
            "2026-11-30T12:00:00Z",
        ),
        "PNOPE01",
        "Nobody maps me",
    );
    let r = deliver(s, &nowhere, "ignored").await;
    assert!(r["reason"].as_str().unwrap().contains("no route"), "{r}");
    // Events that name only an incident never seen.
    for (name, id) in [
        ("incident.annotated", "EV-NOTE-1"),
        ("incident.status_update_published", "EV-SU-1"),
        ("incident.responder.added", "EV-RESP-1"),
    ] {
        let r = deliver(
            s,
            &event(name, id, "QNEVERSEEN", "2026-11-30T12:01:00Z"),
            "ignored",
        )
        .await;
        assert!(r["reason"].as_str().unwrap().contains("never saw"), "{r}");
    }
    // An event type statusgate does not know.
    let mut future = fixture("incident.triggered");
    future["event"]["id"] = json!("EV-FUTURE-1");
    future["event"]["event_type"] = json!("incident.custom_field_values.updated");
    future["event"]["data"] =
        json!({"incident": {"id": "Q0CHKOUT42AB7X"}, "type": "incident_field_values"});
    deliver(s, &future, "ignored").await;
    // Authentic but not JSON, or not an event: still 2xx.
    for body in [b"{not json".to_vec(), br#"{"hello":"world"}"#.to_vec()] {
        let sig = sign(SECRET, &body);
        let (code, r) = post_raw(s, body, &[&sig]).await;
        assert_eq!((code, r["status"].as_str()), (200, Some("ignored")), "{r}");
    }

    settle(800).await;
    assert!(s.drafts("").await.is_empty(), "{:#?}", s.drafts("").await);
    let audit = pd_audit(s).await;
    assert_eq!(audit.len(), 8, "{audit:#?}");
    assert!(audit.iter().all(|e| e["action"] == "ignored"), "{audit:#?}");
    assert_eq!(
        metric(
            s,
            "statusgate_webhooks_received_total{source=\"pagerduty\",outcome=\"ignored\"}"
        )
        .await,
        8.0
    );
    // Unmapped incidents are counted by service, not by title.
    assert_eq!(
        metric(
            s,
            "statusgate_unmapped_alerts_total{alertname=\"Nobody maps me\"}"
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let pd = start(SECRET);
    let s = &pd.s;
    let triggered = fixture("incident.triggered");
    deliver(s, &triggered, "accepted").await;
    let draft = wait_for("new incident", s, |d| d["kind"] == "new_incident").await;
    let audit_before = pd_audit(s).await.len();
    for _ in 0..3 {
        deliver(s, &triggered, "duplicate").await;
    }
    // The same state under another event id (a second subscription): taken, nothing new.
    let mut copy = triggered.clone();
    copy["event"]["id"] = json!("01DEN1HNLBC1VITK192ETJ1MPK");
    let r = deliver(s, &copy, "accepted").await;
    assert_eq!(r["new"], 0);
    settle(600).await;
    assert_eq!(pd_audit(s).await.len(), audit_before + 1);
    let (_, now) = s
        .get(
            &format!("/api/v1/drafts/{}", draft["id"].as_str().unwrap()),
            Some(ADMIN),
        )
        .await;
    assert_eq!(now["revision"], draft["revision"]);
    assert_eq!(payments_drafts(s).await.len(), 1);
    assert_eq!(
        metric(
            s,
            "statusgate_webhooks_received_total{source=\"pagerduty\",outcome=\"duplicate\"}"
        )
        .await,
        3.0
    );
    // Remembered across a restart.
    let mut s = pd.s;
    s.restart();
    deliver(&s, &triggered, "duplicate").await;
}

#[tokio::test]
async fn a_late_event_does_not_reopen_a_resolved_incident() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = wait_for("new incident", s, |d| d["kind"] == "new_incident").await;
    let (code, body) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{body}");

    // PagerDuty delivers out of order: resolved (12:40) overtakes acknowledged (12:03) and
    // an escalation (12:02) that was retried.
    deliver(s, &fixture("incident.resolved"), "accepted").await;
    let late_ack = deliver(s, &fixture("incident.acknowledged"), "accepted").await;
    assert_eq!(late_ack["new"], 0, "a late event changed the incident");
    let late = deliver(s, &fixture("incident.escalated"), "accepted").await;
    assert_eq!(late["new"], 0);
    let resolution = wait_for("resolution", s, |d| d["kind"] == "resolution").await;
    assert_eq!(resolution["components"], json!({"payments": "operational"}));
    assert_eq!(resolution["incident_status"], "resolved");
    // A late trigger, for the same incident, after the resolution was drafted.
    let late_trigger = event(
        "incident.triggered",
        "01DEN1HNLBC1VITK192ETJ1XYZ",
        "Q0CHKOUT42AB7X",
        "2026-11-30T12:00:00.000Z",
    );
    assert_eq!(deliver(s, &late_trigger, "accepted").await["new"], 0);
    settle(900).await;
    let drafts = payments_drafts(s).await;
    assert_eq!(drafts.len(), 2, "{drafts:#?}");
    assert!(drafts.iter().all(|d| d["kind"] != "update"), "{drafts:#?}");

    // A real reopen (later than the resolution) opens it again.
    deliver(s, &fixture("incident.reopened"), "accepted").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = payments_drafts(s)
            .await
            .into_iter()
            .filter(|d| d["kind"] != "resolution")
            .count();
        if open == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reopen drafted nothing\n{}",
            s.log()
        );
        settle(50).await;
    }
}

#[tokio::test]
async fn an_alertmanager_alert_and_a_pagerduty_incident_for_one_component_are_one_incident() {
    let pd = start(SECRET);
    let s = &pd.s;
    let (code, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            "pay1",
            "payments",
            "warning",
            true,
            "2026-11-30T11:59:30Z",
        )]))
        .await;
    assert_eq!(code, 200, "{body}");
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = wait_for("one draft for both", s, |d| {
        d["alerts"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    settle(500).await;
    let drafts = s.drafts("").await;
    assert_eq!(drafts.len(), 1, "{drafts:#?}");
    let mut sources: Vec<&str> = draft["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["source"].as_str().unwrap())
        .collect();
    sources.sort();
    assert_eq!(sources, ["alertmanager", "pagerduty"]);
    // The worse of the two proposals: PagerDuty's P1 high-urgency incident.
    assert_eq!(draft["components"], json!({"payments": "major_outage"}));

    // A PagerDuty incident on another service (routed by id) joins nothing.
    let web = with_service(
        event(
            "incident.triggered",
            "EV-WEB-1",
            "QWEB0001",
            "2026-11-30T12:00:05Z",
        ),
        "PWEB001",
        "Storefront",
    );
    deliver(s, &web, "accepted").await;
    wait_for("web incident", s, |d| d["components"].get("web").is_some()).await;
    assert_eq!(s.drafts("").await.len(), 2);
}

#[tokio::test]
async fn acknowledgements_and_status_updates_shape_the_next_update_draft() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = wait_for("new incident", s, |d| d["kind"] == "new_incident").await;
    let (code, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{approved}");

    deliver(s, &fixture("incident.acknowledged"), "accepted").await;
    let update = wait_for("update after ack", s, |d| d["kind"] == "update").await;
    assert_eq!(update["incident_status"], "identified");
    assert_eq!(update["state"], "pending");
    // Suggested, never published by itself.
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"][0]["status"], "investigating");
    let id = update["id"].as_str().unwrap().to_string();

    // A status update revises the pending draft's body, redacted.
    let mut su = fixture("incident.status_update_published");
    su["event"]["data"]["message"] =
        json!("Payments fail on db-3.internal; failing over to the second processor.");
    deliver(s, &su, "accepted").await;
    let revised = wait_for("body from the status update", s, |d| {
        d["id"] == id.as_str()
            && d["body"]
                .as_str()
                .is_some_and(|b| b.contains("failing over"))
    })
    .await;
    assert!(
        !revised["body"].as_str().unwrap().contains("db-3.internal"),
        "{revised}"
    );
    assert_eq!(revised["incident_status"], "identified");
    assert_eq!(revised["suggestions"], json!([]));

    // Once a person wrote the body, PagerDuty's text is offered beside it.
    let (code, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"body": "We have found the cause and are fixing it."})),
        )
        .await;
    assert_eq!(code, 200, "{edited}");
    let next = event(
        "incident.status_update_published",
        "01DEN1K6F1HX0D9QZ8B4S7W2EW",
        "Q0CHKOUT42AB7X",
        "2026-11-30T12:10:00.000Z",
    );
    let mut next = next;
    next["event"]["data"]["message"] = json!("Failover complete; error rates are falling.");
    deliver(s, &next, "accepted").await;
    let offered = wait_for("suggestion", s, |d| {
        d["id"] == id.as_str() && d["suggestions"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(
        offered["body"],
        "We have found the cause and are fixing it."
    );
    assert_eq!(offered["suggestions"][0]["source"], "pagerduty");
    assert_eq!(
        offered["suggestions"][0]["text"],
        "Failover complete; error rates are falling."
    );
    assert_eq!(offered["suggestions"][0]["at"], "2026-11-30T12:10:00Z");
    // An older status update arriving late offers nothing.
    let mut stale = event(
        "incident.status_update_published",
        "01DEN1K6F1HX0D9QZ8B4S7W2EX",
        "Q0CHKOUT42AB7X",
        "2026-11-30T12:06:00.000Z",
    );
    stale["event"]["data"]["message"] = json!("An old note.");
    deliver(s, &stale, "ignored").await;

    // Unacknowledged: back to investigating.
    deliver(s, &fixture("incident.unacknowledged"), "accepted").await;
    let back = wait_for("investigating again", s, |d| {
        d["id"] == id.as_str() && d["incident_status"] == "investigating"
    })
    .await;
    assert_eq!(back["suggestions"].as_array().unwrap().len(), 1);
    assert_eq!(back["state"], "pending");
}

#[tokio::test]
async fn a_service_change_re_routes_the_incident() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = wait_for("new incident", s, |d| d["kind"] == "new_incident").await;
    assert_eq!(draft["components"], json!({"payments": "major_outage"}));
    let id = draft["id"].as_str().unwrap().to_string();

    // Moved to the storefront's service (routed by service id).
    let moved = with_service(
        event(
            "incident.reassigned",
            "EV-MOVE-1",
            "Q0CHKOUT42AB7X",
            "2026-11-30T12:06:00.000Z",
        ),
        "PWEB001",
        "Storefront",
    );
    let mut moved = moved;
    moved["event"]["event_type"] = json!("incident.service_updated");
    deliver(s, &moved, "accepted").await;
    let revised = wait_for("re-routed to web", s, |d| {
        d["id"] == id.as_str() && d["components"].get("web").is_some()
    })
    .await;
    assert_eq!(revised["components"], json!({"web": "partial_outage"}));

    // Moved to a service no public component stands for: nothing left to say, and the
    // unapproved draft is withdrawn. Taken as a change, not ignored.
    let away = with_service(
        event(
            "incident.reassigned",
            "EV-MOVE-2",
            "Q0CHKOUT42AB7X",
            "2026-11-30T12:07:00.000Z",
        ),
        "PTOOL01",
        "Internal tooling",
    );
    deliver(s, &away, "accepted").await;
    wait_for("withdrawn", s, |d| {
        d["id"] == id.as_str() && d["state"] == "expired"
    })
    .await;
}
