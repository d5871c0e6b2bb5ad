//! Publishing that needs a person, decided in chat: a conflict with a hand edit on
//! Statuspage (Overwrite / Take theirs) and a delivery that gave up (Retry), produced by
//! the real delivery path against the Statuspage stand-in.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::fake::*;
use crate::fake_statuspage::{publisher_config, FakeStatuspage, Running, KEY};
use crate::publish_statuspage::{approve_next, settled, DEGRADE};

struct Both {
    t: Setup,
    sp: Running,
    _keys: tempfile::TempDir,
}

async fn start_both(give_up_after: &str) -> Both {
    let sp = FakeStatuspage::start().await;
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("statuspage.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let t = start_with(
        &format!(
            "publishers:\n{}",
            publisher_config(&sp.server.url, &key_file)
        ),
        CATALOG,
        &format!("  give_up_after: {give_up_after}\n"),
    )
    .await;
    Both { t, sp, _keys: keys }
}

async fn fire_api(s: &Server, alerts: &[(&str, &str, bool)]) {
    let alerts = alerts
        .iter()
        .map(|(fp, severity, firing)| am_alert(fp, "api-gateway", severity, *firing, T0))
        .collect();
    let (status, body) = s.post_alertmanager(&am_payload(alerts)).await;
    assert_eq!(status, 200, "{body}");
}

/// The newest successful update of draft `id`'s message, among the chat.update calls
/// after the first `since`, whose blocks match `pred`.
async fn shown(
    slack: &FakeSlack,
    s: &Server,
    id: &str,
    since: usize,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = slack
            .calls("chat.update")
            .into_iter()
            .skip(since)
            .filter(|c| {
                c.status == 200
                    && c.body["text"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with(&format!("Draft {id} "))
            })
            .rev()
            .find(|c| pred(&c.body["blocks"].to_string()));
        if let Some(c) = found {
            return c.body;
        }
        assert!(
            Instant::now() < deadline,
            "{id}'s message never showed {what}\ncalls: {:#?}\n{}",
            slack.calls("chat.update"),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn replies_since(slack: &FakeSlack, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let all = slack.calls("response_url");
        if all.len() > n {
            return all[n..]
                .iter()
                .map(|c| c.body["text"].as_str().unwrap_or("").to_string())
                .collect();
        }
        assert!(Instant::now() < deadline, "no answer through response_url");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_shows_ours_and_theirs_and_approvers_choose_in_slack() {
    let Both { t, sp, _keys } = start_both("1h").await;
    let (s, slack, fake) = (&t.server, &t.slack, &sp.fake);
    fire_api(s, &[("f1", "critical", true)]).await;
    let created = approve_next(s, "new_incident").await;
    settled(s, created["id"].as_str().unwrap()).await;

    // Someone renames the incident in Statuspage's own UI; the next update conflicts.
    fake.with(|st| st.incidents[0]["name"] = json!("Hand-written name"));
    fire_api(s, DEGRADE).await;
    let d = s
        .wait_draft("update", |d| {
            d["kind"] == "update" && d["state"] == "pending"
        })
        .await;
    let id = d["id"].as_str().unwrap().to_string();
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"title": "API slower than usual"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, _) = s.approve(&id, edited["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200);
    let body = shown(slack, s, &id, 0, "the conflict", |b| {
        b.contains("Conflict on hosted")
    })
    .await;
    let blocks = body["blocks"].to_string();
    assert!(blocks.contains("`name`"), "{blocks}");
    assert!(blocks.contains("> API slower than usual"), "ours: {blocks}");
    assert!(blocks.contains("> Hand-written name"), "theirs: {blocks}");
    let value = format!("{id}:2");
    let found = buttons(&body["blocks"]);
    assert!(
        found.contains(&("sg_conflict_overwrite".into(), value.clone())),
        "{found:?}"
    );
    assert!(
        found.contains(&("sg_conflict_theirs".into(), value.clone())),
        "{found:?}"
    );

    // Someone who is not an approver is refused, audited, and nothing changes.
    let n = slack.calls("response_url").len();
    let url = slack.response_url();
    let (status, _) = interact(s, &button(STRANGER, "sg_conflict_theirs", &value, &url)).await;
    assert_eq!(status, 200);
    let said = replies_since(slack, n).await;
    assert!(said[0].contains("Only approvers"), "{said:?}");
    assert_eq!(draft(s, &id).await["state"], "conflict");
    let audit = s.audit().await;
    assert!(audit.iter().any(|e| e["action"] == "refused"
        && e["draft_id"] == id.as_str()
        && e["detail"]["attempted"] == "resolve conflicts on"));

    // Take theirs: the hand-written name stays; the rest of the update goes out.
    let updates = slack.calls("chat.update").len();
    let n = slack.calls("response_url").len();
    let (status, _) = interact(s, &button(APPROVER, "sg_conflict_theirs", &value, &url)).await;
    assert_eq!(status, 200);
    let said = replies_since(slack, n).await;
    assert!(said[0].contains("hand edit stays"), "{said:?}");
    settled(s, &id).await;
    assert_eq!(draft(s, &id).await["state"], "published");
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].1["incident"].get("name").is_none());
    let body = shown(slack, s, &id, updates, "published", |b| {
        b.contains("published")
    })
    .await;
    assert!(
        buttons(&body["blocks"]).is_empty(),
        "no buttons once decided"
    );
    let audit = s.audit().await;
    let resolved = audit
        .iter()
        .find(|e| e["action"] == "conflict_resolved")
        .expect("audited");
    assert_eq!(resolved["actor"], "alice (slack:U0APPROVER)");
    assert_eq!(resolved["detail"]["choice"], "theirs");

    // Pressed again: the conflict is gone, nothing happens twice.
    let n = slack.calls("response_url").len();
    interact(s, &button(APPROVER, "sg_conflict_overwrite", &value, &url)).await;
    let said = replies_since(slack, n).await;
    assert!(said[0].contains("no conflict to resolve"), "{said:?}");
    assert_eq!(fake.calls("PATCH").len(), 1);

    // A hand edit of a component; an approver overwrites it from Slack.
    fake.with(|st| st.components[0]["status"] = json!("operational"));
    fire_api(s, &[("f3", "critical", true)]).await;
    let next = approve_next(s, "update").await;
    let next_id = next["id"].as_str().unwrap().to_string();
    let body = shown(slack, s, &next_id, 0, "the conflict", |b| {
        b.contains("Conflict on hosted")
    })
    .await;
    let blocks = body["blocks"].to_string();
    assert!(blocks.contains("`components.cmp_api`"), "{blocks}");
    assert!(
        blocks.contains("> major_outage") && blocks.contains("> operational"),
        "{blocks}"
    );
    let (_, overwrite) = buttons(&body["blocks"])
        .into_iter()
        .find(|(a, _)| a == "sg_conflict_overwrite")
        .expect("an Overwrite button");
    let (status, _) = interact(
        s,
        &button(GROUPIE, "sg_conflict_overwrite", &overwrite, &url),
    )
    .await;
    assert_eq!(status, 200);
    settled(s, &next_id).await;
    assert_eq!(draft(s, &next_id).await["state"], "published");
    assert_eq!(
        fake.with(|st| st.components[0]["status"].clone()),
        "major_outage",
        "ours was written over the hand edit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_shows_why_and_retry_in_slack_delivers_it() {
    let Both { t, sp, _keys } = start_both("1s").await;
    let (s, slack, fake) = (&t.server, &t.slack, &sp.fake);
    fake.with(|st| st.down = Some(500));
    fire_api(s, &[("f1", "critical", true)]).await;
    let created = approve_next(s, "new_incident").await;
    let id = created["id"].as_str().unwrap().to_string();
    let body = shown(slack, s, &id, 0, "the failure", |b| {
        b.contains("Publishing failed")
    })
    .await;
    let blocks = body["blocks"].to_string();
    assert!(blocks.contains("hosted: gave up after"), "{blocks}");
    assert!(blocks.contains("500"), "{blocks}");
    let (_, value) = buttons(&body["blocks"])
        .into_iter()
        .find(|(a, _)| a == "sg_retry")
        .expect("a Retry button");
    let url = slack.response_url();

    let n = slack.calls("response_url").len();
    interact(s, &button(STRANGER, "sg_retry", &value, &url)).await;
    assert!(replies_since(slack, n).await[0].contains("Only approvers"));
    assert_eq!(draft(s, &id).await["state"], "failed");

    fake.with(|st| st.down = None);
    let updates = slack.calls("chat.update").len();
    let n = slack.calls("response_url").len();
    interact(s, &button(APPROVER, "sg_retry", &value, &url)).await;
    let said = replies_since(slack, n).await;
    assert!(said[0].contains("sent again"), "{said:?}");
    settled(s, &id).await;
    assert_eq!(draft(s, &id).await["state"], "published");
    assert_eq!(fake.incidents().len(), 1, "delivered once");
    let body = shown(slack, s, &id, updates, "published", |b| {
        b.contains("published")
    })
    .await;
    assert!(buttons(&body["blocks"]).is_empty());
    assert!(s
        .audit()
        .await
        .iter()
        .any(|e| e["action"] == "retry" && e["actor"] == "alice (slack:U0APPROVER)"));
}
