//! Scheduled maintenance reaches external targets through the outbox: one scheduled
//! incident on Statuspage that follows the window, signed `maintenance.*` webhooks, mails
//! to the subscribers of its components; repeats send nothing, hand edits are not
//! overwritten, a cancellation is reflected, and a `kill -9` duplicates nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::fake_http::{spawn, FakeServer, Recorder, Request};
use crate::fake_statuspage::{publisher_config, FakeStatuspage, Fault, Running, KEY};
use crate::harness::*;
use crate::page::ts;
use crate::publish_email::{smtp_sink, Mail, SmtpSink};
use crate::publish_webhook::verify;

const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Setup {
    s: Server,
    sp: Running,
    hook: Recorder,
    sink: SmtpSink,
    _hook_server: FakeServer,
    _keys: tempfile::TempDir,
}

/// Statuspage (`hosted`), a signed webhook publisher (`ops-events`) and SMTP.
async fn setup() -> Setup {
    let sp = FakeStatuspage::start().await;
    let hook = Recorder::default();
    let hook_server = spawn(hook.handler(200)).await;
    let sink = smtp_sink().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("statuspage.key");
    std::fs::write(&key_file, KEY).unwrap();
    let hook_file = keys.path().join("hook");
    std::fs::write(&hook_file, HOOK_SECRET).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\n  give_up_after: 1h\npublishers:\n{}  - {{name: ops-events, type: webhook, url: '{}/hook', secret_file: {}}}\n\
             smtp:\n  host: 127.0.0.1\n  port: {}\n  from: 'Example Status <status@example.com>'\n",
            publisher_config(&sp.server.url, &key_file),
            hook_server.url,
            hook_file.display(),
            sink.port,
        ),
        ..Options::default()
    });
    Setup {
        s,
        sp,
        hook,
        sink,
        _hook_server: hook_server,
        _keys: keys,
    }
}

fn mails_to(sink: &SmtpSink, to: &str) -> Vec<Mail> {
    sink.messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| Mail::parse(m))
        .filter(|m| m.header("to") == Some(to))
        .collect()
}

/// Subscribes an email address for `components` and follows its confirm link.
async fn subscribe_mail(s: &Server, sink: &SmtpSink, email: &str, components: &[&str]) {
    let (status, sub) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": email, "components": components})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let confirm = eventually("the confirm mail", Duration::from_secs(20), async || {
        mails_to(sink, email).into_iter().next()
    })
    .await;
    let link = confirm
        .link("http://status.example.com/subscribers/confirm?token=")
        .replace("http://status.example.com", &s.url);
    let r = s.http.post(link).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

async fn create(s: &Server, body: Value) -> String {
    let (status, m) = s
        .send("POST", "/api/v1/maintenances", Some(ADMIN), Some(body))
        .await;
    assert_eq!(status, 201, "{m}");
    m["id"].as_str().unwrap().to_string()
}

async fn patch(s: &Server, id: &str, body: Value) -> Value {
    let (status, m) = s
        .send(
            "PATCH",
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{m}");
    m
}

/// Waits until at least `n` deliveries of the maintenance exist and none is pending.
async fn settled(s: &Server, id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let (status, body) = s
            .get(
                &format!("/api/v1/maintenances/{id}/deliveries"),
                Some(READER),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let list = body["deliveries"].as_array().cloned().unwrap_or_default();
        if list.len() >= n && list.iter().all(|d| d["state"] != "pending") {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries of {id} did not settle: {body:#}\n{}",
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn maintenance(s: &Server, id: &str) -> Value {
    let (status, m) = s
        .get(&format!("/api/v1/maintenances/{id}"), Some(READER))
        .await;
    assert_eq!(status, 200, "{m}");
    m
}

/// Waits for the maintenance record's delivery state.
async fn delivery_state(s: &Server, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = maintenance(s, id).await;
        if m["delivery"]["state"] == want {
            return m;
        }
        assert!(Instant::now() < deadline, "delivery never {want}: {m:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .with_timezone(&Utc)
}

fn types(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_is_one_scheduled_incident_on_statuspage_that_follows_its_window() {
    let Setup {
        s,
        sp,
        hook,
        sink,
        _hook_server,
        _keys,
    } = setup().await;
    let fake = &sp.fake;
    subscribe_mail(&s, &sink, "pay@example.net", &["payments"]).await;
    subscribe_mail(&s, &sink, "api@example.net", &["api"]).await;

    let start = ts(chrono::Duration::seconds(9));
    let end = ts(chrono::Duration::seconds(13));
    let id = create(
        &s,
        json!({"title": "Payments database upgrade", "body": "Payments may be slow.", "components": ["payments"],
               "scheduled_for": start, "scheduled_until": end}),
    )
    .await;
    let list = settled(&s, &id, 3).await;
    let targets: Vec<&str> = list.iter().map(|d| d["target"].as_str().unwrap()).collect();
    assert_eq!(targets.len(), 3, "{targets:?}");
    assert!(targets.contains(&"hosted") && targets.contains(&"ops-events"));
    assert!(list.iter().all(|d| d["state"] == "delivered"), "{list:?}");
    assert!(list.iter().all(|d| d["event"] == "maintenance.scheduled"));

    // Created once, as a scheduled incident with its window and the auto flags.
    let posts = fake.calls("POST");
    assert_eq!(posts.len(), 1, "{posts:?}");
    let inc = &posts[0].1["incident"];
    assert_eq!(inc["name"], "Payments database upgrade");
    assert_eq!(inc["status"], "scheduled");
    assert_eq!(inc["impact_override"], "maintenance");
    assert_eq!(inc["body"], "Payments may be slow.");
    assert_eq!(time(&inc["scheduled_for"]), time(&json!(start)));
    assert_eq!(time(&inc["scheduled_until"]), time(&json!(end)));
    assert_eq!(inc["scheduled_auto_in_progress"], true);
    assert_eq!(inc["scheduled_auto_completed"], true);
    assert_eq!(inc["component_ids"], json!(["cmp_pay"]));
    assert_eq!(inc["metadata"]["statusgate"]["maintenance"], id.as_str());
    let m = delivery_state(&s, &id, "delivered").await;
    assert_eq!(m["delivery"]["conflict"], Value::Null);

    // A change updates the same incident with only what changed.
    let later = ts(chrono::Duration::seconds(15));
    patch(
        &s,
        &id,
        json!({"title": "Payments database upgrade (extended)", "scheduled_until": later}),
    )
    .await;
    settled(&s, &id, 5).await;
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    let p = &patches[0].1["incident"];
    assert_eq!(p["name"], "Payments database upgrade (extended)");
    assert_eq!(time(&p["scheduled_until"]), time(&json!(later)));
    assert!(p.get("status").is_none(), "{p}");
    assert!(p.get("scheduled_for").is_none(), "{p}");

    // The same change again sends nothing anywhere.
    let calls = fake.with(|st| st.calls.len());
    let hooks = hook.requests().len();
    patch(
        &s,
        &id,
        json!({"title": "Payments database upgrade (extended)"}),
    )
    .await;
    let list = settled(&s, &id, 7).await;
    let repeat: Vec<&Value> = list
        .iter()
        .filter(|d| d["target"] == "hosted" || d["target"] == "ops-events")
        .skip(4)
        .collect();
    assert_eq!(repeat.len(), 2, "{list:?}");
    assert!(repeat.iter().all(|d| d["state"] == "unchanged"), "{list:?}");
    assert_eq!(
        fake.with(|st| st.calls.len()),
        calls,
        "a repeat reached Statuspage"
    );
    assert_eq!(hook.requests().len(), hooks, "a repeat reached the webhook");

    // The clock starts and completes it; the Statuspage incident follows.
    eventually(
        "in progress on Statuspage",
        Duration::from_secs(20),
        async || {
            let i = fake.incidents();
            (i[0]["status"] == "in_progress"
                && fake.with(|st| st.components[2]["status"] == "under_maintenance"))
            .then_some(())
        },
    )
    .await;
    eventually(
        "completed on Statuspage",
        Duration::from_secs(25),
        async || {
            let i = fake.incidents();
            (i[0]["status"] == "completed"
                && fake.with(|st| st.components[2]["status"] == "operational"))
            .then_some(())
        },
    )
    .await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    let updates = fake.incidents()[0]["incident_updates"]
        .as_array()
        .unwrap()
        .len();
    // A rename adds no update; the status steps do.
    assert_eq!(updates, 3, "scheduled, started, completed");

    // Signed events, in order, each under its own webhook-id.
    let got = eventually("the webhook events", Duration::from_secs(20), async || {
        let r = hook.requests();
        (r.len() >= 6).then_some(r)
    })
    .await;
    for r in &got {
        verify(HOOK_SECRET, r).unwrap();
    }
    assert_eq!(
        types(&got),
        [
            "maintenance.scheduled",
            "maintenance.updated",
            "maintenance.started",
            "component.updated",
            "maintenance.completed",
            "component.updated"
        ]
    );
    let ids: HashSet<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids.len(), got.len(), "a webhook-id was reused");
    let scheduled = &got[0].json()["data"]["maintenance"];
    assert_eq!(scheduled["id"], id.as_str());
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(scheduled["impact"], "maintenance");
    assert_eq!(scheduled["components"][0]["id"], "payments");
    assert_eq!(time(&scheduled["scheduled_for"]), time(&json!(start)));
    assert_eq!(
        got[3].json()["data"]["component"],
        json!({"id": "payments", "name": "Payments", "status": "under_maintenance", "old_status": "operational"})
    );

    // Mail for scheduled, started, completed — to the payments subscriber only.
    let mails = eventually(
        "three maintenance mails",
        Duration::from_secs(20),
        async || {
            let m = mails_to(&sink, "pay@example.net");
            (m.len() >= 4).then_some(m)
        },
    )
    .await;
    let subjects: Vec<String> = mails[1..]
        .iter()
        .map(|m| m.header("subject").unwrap_or_default().to_string())
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(
        subjects[0].contains("Scheduled maintenance: Payments database upgrade"),
        "{subjects:?}"
    );
    assert!(subjects[1].contains("Maintenance started"), "{subjects:?}");
    assert!(
        subjects[2].contains("Maintenance completed"),
        "{subjects:?}"
    );
    assert!(
        mails[1].text.contains("Payments may be slow."),
        "{}",
        mails[1].text
    );
    assert!(mails[1].text.contains("- Payments"), "{}", mails[1].text);
    assert!(mails[1].header("list-unsubscribe-post").is_some());
    assert_eq!(
        mails_to(&sink, "api@example.net").len(),
        1,
        "only the confirm mail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_holds_a_maintenance_in_conflict_and_a_cancellation_completes_it() {
    let Setup {
        s,
        sp,
        hook,
        _hook_server,
        _keys,
        ..
    } = setup().await;
    let fake = &sp.fake;
    let id = create(
        &s,
        json!({"title": "API gateway upgrade", "components": ["api"],
               "scheduled_for": ts(chrono::Duration::hours(1)), "scheduled_until": ts(chrono::Duration::hours(2))}),
    )
    .await;
    settled(&s, &id, 2).await;

    // Someone renames it in Statuspage's own UI; our next rename must not overwrite it.
    fake.with(|st| st.incidents[0]["name"] = json!("Hand-written name"));
    patch(&s, &id, json!({"title": "API gateway and DNS upgrade"})).await;
    let m = delivery_state(&s, &id, "conflict").await;
    assert_eq!(
        m["delivery"]["conflict"],
        json!({"target": "hosted", "field": "name", "ours": "API gateway and DNS upgrade", "theirs": "Hand-written name"})
    );
    assert!(
        m["delivery"]["reason"]
            .as_str()
            .unwrap()
            .contains("resolve-conflict"),
        "{m}"
    );
    assert!(fake.calls("PATCH").is_empty(), "wrote over a hand edit");
    let audit = s.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "publish_conflict"
                && e["detail"]["maintenance_id"] == id.as_str()),
        "no audit entry for the conflict"
    );

    // Only an admin chooses, and only between the two choices.
    let path = format!("/api/v1/maintenances/{id}/resolve-conflict");
    let (status, _) = s
        .send(
            "POST",
            &path,
            Some(READER),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"choice": "mine"})))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].is_string());
    let (status, body) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&s, &id, 4).await;
    let m = delivery_state(&s, &id, "delivered").await;
    assert_eq!(m["delivery"]["conflict"], Value::Null);
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");
    let (status, _) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 409, "no conflict left");

    // Cancelled: completed on Statuspage with a note, and a maintenance.cancelled event.
    let (status, _) = s
        .send(
            "DELETE",
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let list = settled(&s, &id, 6).await;
    assert!(
        list.iter()
            .any(|d| d["event"] == "maintenance.cancelled" && d["state"] == "delivered"),
        "{list:?}"
    );
    let incidents = fake.incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["status"], "completed");
    let newest = &incidents[0]["incident_updates"][0];
    assert!(
        newest["body"].as_str().unwrap().contains("cancelled"),
        "{newest}"
    );
    let got = eventually(
        "the cancellation event",
        Duration::from_secs(20),
        async || {
            let r = hook.requests();
            (types(&r).last().map(String::as_str) == Some("maintenance.cancelled")).then_some(r)
        },
    )
    .await;
    assert_eq!(
        types(&got),
        [
            "maintenance.scheduled",
            "maintenance.updated",
            "maintenance.cancelled"
        ]
    );
    let cancelled = &got[2].json()["data"]["maintenance"];
    assert_eq!(cancelled["id"], id.as_str());
    assert_eq!(cancelled["status"], "completed");
    // The deliveries of a cancelled maintenance stay readable; an unknown one is a 404.
    let (status, body) = s
        .get(
            &format!("/api/v1/maintenances/{id}/deliveries"),
            Some(READER),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["delivery"]["state"], "delivered", "{body}");
    let (status, body) = s
        .get("/api/v1/maintenances/MNT-999/deliveries", Some(READER))
        .await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_a_maintenance_is_still_created_once() {
    let Setup {
        mut s,
        sp,
        hook,
        _hook_server,
        _keys,
        ..
    } = setup().await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::ApplyThenLate(Duration::from_secs(30)));
    let id = create(
        &s,
        json!({"title": "Storage migration", "components": ["web"],
               "scheduled_for": ts(chrono::Duration::hours(1)), "scheduled_until": ts(chrono::Duration::hours(2))}),
    )
    .await;
    eventually(
        "the create to reach Statuspage",
        Duration::from_secs(20),
        async || (!fake.incidents().is_empty()).then_some(()),
    )
    .await;
    // Statuspage has made the incident; statusgate has not seen the answer. kill -9.
    s.crash_and_restart();
    settled(&s, &id, 2).await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    assert!(
        fake.calls("GET")
            .iter()
            .any(|(p, _)| p.ends_with("/incidents/upcoming")),
        "did not look for the scheduled incident first"
    );
    delivery_state(&s, &id, "delivered").await;

    // Later changes go to that incident.
    let (status, _) = s
        .send(
            "DELETE",
            &format!("/api/v1/maintenances/{id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    settled(&s, &id, 4).await;
    assert_eq!(fake.incidents().len(), 1);
    assert_eq!(fake.incidents()[0]["status"], "completed");
    assert_eq!(fake.calls("POST").len(), 1);
    // Whatever the webhook saw twice, it saw under the same webhook-id.
    let got = hook.requests();
    let scheduled: HashSet<&str> = got
        .iter()
        .filter(|r| r.json()["type"] == "maintenance.scheduled")
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(scheduled.len(), 1, "{:?}", types(&got));
    assert_eq!(
        types(&got).last().map(String::as_str),
        Some("maintenance.cancelled")
    );
}
