//! An incident's life: every event type, ignored deliveries, dedupe, out-of-order
//! delivery, mixed-source grouping, acknowledgements, status updates and service moves.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_is_taken_and_a_mapped_incident_is_drafted() {
    let pd = start(SECRET);
    let s = &pd.s;
    // A ping when the subscription is created: 2xx, recorded, ignored.
    deliver(s, &fixture("pagey.ping"), "ignored").await;
    deliver(s, &fixture("service.updated"), "ignored").await;

    let triggered = deliver(s, &fixture("incident.triggered"), "accepted").await;
    assert_eq!(triggered["new"], 1);
    let draft = s
        .wait_draft("new incident for payments", |d| {
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
    barrier(s, "1").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

    barrier(s, "2").await;
    let drafts = drafts_but_barriers(s).await;
    assert!(drafts.is_empty(), "{drafts:#?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_event_changes_nothing() {
    let pd = start(SECRET);
    let s = &pd.s;
    let triggered = fixture("incident.triggered");
    deliver(s, &triggered, "accepted").await;
    let draft = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    let audit_before = pd_audit(s).await.len();
    for _ in 0..3 {
        deliver(s, &triggered, "duplicate").await;
    }
    // The same state under another event id (a second subscription): taken, nothing new.
    let mut copy = triggered.clone();
    copy["event"]["id"] = json!("01DEN1HNLBC1VITK192ETJ1MPK");
    let r = deliver(s, &copy, "accepted").await;
    assert_eq!(r["new"], 0);
    barrier(s, "3").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_event_does_not_reopen_a_resolved_incident() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
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
    let resolution = s
        .wait_draft("resolution", |d| d["kind"] == "resolution")
        .await;
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
    barrier(s, "4").await;
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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let draft = s
        .wait_draft("one draft for both", |d| {
            d["alerts"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    barrier(s, "5").await;
    let drafts = drafts_but_barriers(s).await;
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
    s.wait_draft("web incident", |d| d["components"].get("web").is_some())
        .await;
    assert_eq!(drafts_but_barriers(s).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_and_status_updates_shape_the_next_update_draft() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
    let (code, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(code, 200, "{approved}");

    deliver(s, &fixture("incident.acknowledged"), "accepted").await;
    let update = s
        .wait_draft("update after ack", |d| d["kind"] == "update")
        .await;
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
    let revised = s
        .wait_draft("body from the status update", |d| {
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
    let offered = s
        .wait_draft("suggestion", |d| {
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
    let back = s
        .wait_draft("investigating again", |d| {
            d["id"] == id.as_str() && d["incident_status"] == "investigating"
        })
        .await;
    assert_eq!(back["suggestions"].as_array().unwrap().len(), 1);
    assert_eq!(back["state"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_change_re_routes_the_incident() {
    let pd = start(SECRET);
    let s = &pd.s;
    deliver(s, &fixture("incident.triggered"), "accepted").await;
    let draft = s
        .wait_draft("new incident", |d| d["kind"] == "new_incident")
        .await;
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
    let revised = s
        .wait_draft("re-routed to web", |d| {
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
    s.wait_draft("withdrawn", |d| {
        d["id"] == id.as_str() && d["state"] == "expired"
    })
    .await;
}
