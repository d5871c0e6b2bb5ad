//! Signed webhooks (Standard Webhooks) to publishers and subscribers, verified by a receiver
//! that checks the specification's test vector first.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::fake_http::{spawn, Recorder, Request};
use crate::harness::*;
use crate::publish_statuspage::{approve_next, fire, settled};

const PUBLISHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SUBSCRIBER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// A receiver's check, written from the specification alone.
fn signature(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let key = B64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

pub(crate) fn verify(secret: &str, req: &Request) -> Result<(), String> {
    let id = req.header("webhook-id").ok_or("no webhook-id")?;
    let ts = req
        .header("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let sigs = req
        .header("webhook-signature")
        .ok_or("no webhook-signature")?;
    let t: i64 = ts.parse().map_err(|_| "timestamp is not a number")?;
    if (chrono::Utc::now().timestamp() - t).abs() > 300 {
        return Err("timestamp outside the 5 minute tolerance".into());
    }
    let expected = signature(secret, id, ts, &req.body);
    if sigs.split(' ').any(|s| s == expected) {
        Ok(())
    } else {
        Err(format!("no valid signature in {sigs}"))
    }
}

#[test]
fn the_receiver_check_agrees_with_the_specification_test_vector() {
    assert_eq!(
        signature(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            br#"{"email":"test@example.com","username":"test_user"}"#
        ),
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
}

async fn subscribe(s: &Server, body: Value) -> (u16, Value) {
    s.send("POST", "/api/v1/subscribers", Some(ADMIN), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_verify_and_a_redelivery_keeps_its_webhook_id() {
    let publisher = Recorder::default();
    publisher.then(503, &[("retry-after", "1")]);
    let hook = spawn(publisher.handler(200)).await;
    let api_sub = Recorder::default();
    let api_hook = spawn(api_sub.handler(204)).await;
    let pay_sub = Recorder::default();
    let pay_hook = spawn(pay_sub.handler(200)).await;
    let gone_sub = Recorder::default();
    let gone_hook = spawn(gone_sub.handler(410)).await;

    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("hook");
    std::fs::write(&secret_file, PUBLISHER_SECRET).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\npublishers:\n  - {{name: ops-events, type: webhook, url: '{}/hook', secret_file: {}}}\n",
            hook.url,
            secret_file.display()
        ),
        ..Options::default()
    });

    // Bad subscriptions are refused with a reason, and only admins subscribe.
    let good = json!({"type": "webhook", "url": format!("{}/in", api_hook.url), "secret": SUBSCRIBER_SECRET, "components": ["api"]});
    let (status, _) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(READER),
            Some(good.clone()),
        )
        .await;
    assert_eq!(status, 403);
    for (bad, why) in [
        (
            json!({"type": "webhook", "url": "http://x.example/in", "secret": "hunter2"}),
            "secret",
        ),
        (
            json!({"type": "webhook", "url": "ftp://x.example/in", "secret": SUBSCRIBER_SECRET}),
            "url",
        ),
        (
            json!({"type": "webhook", "url": "http://x.example/in", "secret": SUBSCRIBER_SECRET, "components": ["nope"]}),
            "nope",
        ),
        (
            json!({"type": "webhook", "url": "http://x.example/in", "secret": SUBSCRIBER_SECRET, "component": ["api"]}),
            "component",
        ),
        (json!({"type": "pigeon"}), "pigeon"),
        (json!({"type": "email", "email": "a@example.com"}), "smtp"),
    ] {
        let (status, body) = subscribe(&s, bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    let r = s
        .http
        .post(format!("{}/api/v1/subscribers", s.url))
        .bearer_auth(ADMIN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let (status, api) = subscribe(&s, good).await;
    assert_eq!(status, 201, "{api}");
    assert_eq!(api["state"], "active");
    assert!(!api.to_string().contains("whsec_"), "secret shown: {api}");
    let (status, pay) = subscribe(
        &s,
        json!({"type": "webhook", "url": format!("{}/in", pay_hook.url), "secret": SUBSCRIBER_SECRET, "components": ["payments"]}),
    )
    .await;
    assert_eq!(status, 201, "{pay}");
    let (status, gone) = subscribe(
        &s,
        json!({"type": "webhook", "url": format!("{}/in", gone_hook.url), "secret": SUBSCRIBER_SECRET}),
    )
    .await;
    assert_eq!(status, 201, "{gone}");

    fire(&s, &[("f1", "critical", true)]).await;
    let draft = approve_next(&s, "new_incident").await;
    let deliveries = settled(&s, draft["id"].as_str().unwrap()).await;
    let targets: Vec<&str> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["target"].as_str().unwrap())
        .collect();
    let api_id = api["id"].as_str().unwrap();
    let gone_id = gone["id"].as_str().unwrap();
    assert!(targets.contains(&"ops-events"), "{targets:?}");
    assert!(targets.contains(&format!("subscriber:{api_id}").as_str()));
    assert!(
        !targets.contains(&format!("subscriber:{}", pay["id"].as_str().unwrap()).as_str()),
        "a payments-only subscriber got an API incident: {targets:?}"
    );

    let got = eventually(
        "three requests at the publisher",
        Duration::from_secs(20),
        async || {
            let r = publisher.requests();
            (r.len() >= 3).then_some(r)
        },
    )
    .await;
    for req in &got {
        verify(PUBLISHER_SECRET, req).unwrap();
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert!(
            verify(SUBSCRIBER_SECRET, req).is_err(),
            "signed with the wrong key"
        );
    }
    // The refused attempt and its redelivery: one webhook-id, a fresh timestamp and signature.
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert_ne!(
        got[0].header("webhook-timestamp"),
        got[1].header("webhook-timestamp")
    );
    assert_ne!(
        got[0].header("webhook-signature"),
        got[1].header("webhook-signature")
    );
    assert_eq!(got[0].body, got[1].body);
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(900),
        "Retry-After ignored"
    );
    assert_ne!(got[1].header("webhook-id"), got[2].header("webhook-id"));
    let created = got[1].json();
    assert_eq!(created["type"], "incident.created");
    assert!(created["timestamp"].as_str().unwrap().ends_with('Z'));
    let incident = &created["data"]["incident"];
    assert_eq!(incident["id"], draft["incident_id"]);
    assert_eq!(incident["name"], draft["title"]);
    assert_eq!(incident["status"], "investigating");
    assert_eq!(incident["impact"], "critical");
    assert_eq!(incident["update"]["body"], draft["body"]);
    assert_eq!(incident["components"][0]["id"], "api");
    assert_eq!(incident["components"][0]["status"], "major_outage");
    let component = got[2].json();
    assert_eq!(component["type"], "component.updated");
    assert_eq!(
        component["data"]["component"],
        json!({"id": "api", "name": "Public API", "status": "major_outage", "old_status": "operational"})
    );

    // The subscriber gets the same events, signed with its own key.
    let sub_got = eventually(
        "two requests at the subscriber",
        Duration::from_secs(20),
        async || {
            let r = api_sub.requests();
            (r.len() >= 2).then_some(r)
        },
    )
    .await;
    for req in &sub_got {
        verify(SUBSCRIBER_SECRET, req).unwrap();
    }
    assert_eq!(sub_got[0].json()["type"], "incident.created");
    assert!(pay_sub.requests().is_empty());

    // 410 Gone disables the endpoint instead of retrying it.
    assert_eq!(gone_sub.requests().len(), 1);
    let (_, g) = s
        .get(&format!("/api/v1/subscribers/{gone_id}"), Some(ADMIN))
        .await;
    assert_eq!(g["state"], "disabled", "{g}");
    assert!(g["reason"].as_str().unwrap().contains("410"));

    // The resolution goes out as incident.resolved, after everything before it.
    fire(&s, &[("f1", "critical", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    let all = publisher.requests();
    let types: Vec<String> = all
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "incident.created",
            "incident.created",
            "component.updated",
            "incident.resolved",
            "component.updated"
        ],
    );
    assert_eq!(all[3].json()["data"]["incident"]["status"], "resolved");

    // Subscribers are listed without secrets and can be removed.
    let (status, list) = s.get("/api/v1/subscribers", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(list["subscribers"].as_array().unwrap().len(), 3);
    assert!(!list.to_string().contains("whsec_"));
    let (status, _) = s.get("/api/v1/subscribers", Some(READER)).await;
    assert_eq!(status, 403);
    let (status, _) = s
        .send(
            "DELETE",
            &format!("/api/v1/subscribers/{api_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = s
        .get(&format!("/api/v1/subscribers/{api_id}"), Some(ADMIN))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].is_string());
}
