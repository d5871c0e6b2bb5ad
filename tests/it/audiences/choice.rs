//! Subscribers choose whole groups, at creation or on their confirm page, without an admin.

use serde_json::json;

use super::setup::*;
use crate::fake_http::{spawn, Recorder};
use crate::harness::*;
use crate::publish_email::{smtp_sink, Mail};
use crate::publish_statuspage::settled;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_picks_groups_on_its_confirm_page_and_hears_only_of_them() {
    let core = Recorder::default();
    let core_hook = spawn(core.handler(200)).await;
    let sink = smtp_sink().await;
    let (_tokens, audiences) = audience_config();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: format!(
            "{audiences}delivery:\n  backoff: {{initial: 100ms, max: 1s}}\n\
             smtp:\n  host: 127.0.0.1\n  port: {}\n  from: 'Example Status <status@example.com>'\n",
            sink.port
        ),
        ..Options::default()
    });
    // A whole group at creation; a group the reader cannot see is unknown to it.
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "webhook", "url": format!("{}/in", core_hook.url), "secret": SECRET, "groups": ["Core platform"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["groups"], json!(["Core platform"]));
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "webhook", "url": format!("{}/in", core_hook.url), "secret": SECRET, "groups": ["Dedicated"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Dedicated"));

    let (status, sub) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "email", "email": "ops@acme.example", "audience": "acme"})),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    let id = sub["id"].as_str().unwrap().to_string();
    let mails = || -> Vec<Mail> {
        sink.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| Mail::parse(m))
            .collect()
    };
    let confirm = eventually("the confirm mail", Duration::from_secs(20), async || {
        mails().into_iter().next()
    })
    .await;
    let link = confirm
        .link("http://status.example.com/subscribers/confirm?token=")
        .replace("http://status.example.com", &s.url);
    let page = s
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"group\" value=\"Dedicated\"")
            && page.contains("name=\"scope\" value=\"all\" checked"),
        "{page}"
    );
    // Something this reader cannot see is refused, and nothing changes.
    let post = |form: &'static str| {
        s.http
            .post(&link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let r = post("scope=some&component=globex-vault").await.unwrap();
    assert_eq!(r.status(), 422);
    let (_, still) = s
        .get(&format!("/api/v1/subscribers/{id}"), Some(ADMIN))
        .await;
    assert_eq!(still["state"], "pending_confirmation");
    let r = post("scope=some&group=Dedicated").await.unwrap();
    assert_eq!(r.status(), 200);
    let (_, now) = s
        .get(&format!("/api/v1/subscribers/{id}"), Some(ADMIN))
        .await;
    assert_eq!(now["state"], "active");
    assert_eq!(now["groups"], json!(["Dedicated"]));
    assert_eq!(now["components"], json!(null));
    // The page shows the choice as it stands when the link is followed again.
    let page = s
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"group\" value=\"Dedicated\" checked")
            && page.contains("name=\"scope\" value=\"some\" checked"),
        "{page}"
    );

    fire(&s, "f-api", "api", "warning").await;
    let api = approve_for(&s, "api").await;
    fire(&s, "f-acme", "acme", "critical").await;
    let acme = approve_for(&s, "acme-vault").await;
    settled(&s, api["id"].as_str().unwrap()).await;
    settled(&s, acme["id"].as_str().unwrap()).await;
    let updates: Vec<Mail> = mails()
        .into_iter()
        .filter(|m| !m.text.contains("subscribers/confirm"))
        .collect();
    assert_eq!(updates.len(), 1, "only the Dedicated group's incident");
    assert!(
        updates[0].text.contains("Acme vault"),
        "{}",
        updates[0].text
    );
    let hooks: Vec<String> = core
        .requests()
        .iter()
        .map(|q| String::from_utf8_lossy(&q.body).into_owned())
        .collect();
    assert!(hooks.iter().any(|h| h.contains("Public API")), "{hooks:#?}");
    assert!(!hooks.iter().any(|h| h.contains("acme")), "{hooks:#?}");
}
