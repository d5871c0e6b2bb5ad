//! Deciding in Slack: buttons, the edit form, stale revisions, who may decide.

use serde_json::{json, Value};

use super::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_approved_in_slack_and_its_message_follows() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    let posted = slack
        .wait_call(s, "draft D-1", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
        })
        .await;
    assert_eq!(posted.body["channel"], "C0DEFAULT");
    let blocks = &posted.body["blocks"];
    let text = blocks.to_string();
    let d = draft(s, "D-1").await;
    assert!(text.contains(d["title"].as_str().unwrap()), "{text}");
    assert!(text.contains("Public API: Major outage"), "{text}");
    assert!(text.contains("critical"), "{text}");
    // Internal: the alert and its source link are shown to approvers in chat.
    assert!(
        text.contains("http://prometheus.internal:9090/graph?g0.expr=x"),
        "{text}"
    );
    assert!(text.contains("HighErrorRate"), "{text}");
    let values = buttons(blocks);
    assert_eq!(
        values,
        [
            ("sg_approve".to_string(), "D-1:1".to_string()),
            ("sg_edit".to_string(), "D-1:1".to_string()),
            ("sg_reject".to_string(), "D-1:1".to_string())
        ]
    );
    let (status, body) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The decision is recorded before Slack gets its answer.
    let d = draft(s, "D-1").await;
    assert_eq!(d["state"], "published", "{d}");
    let incident = d["incident_id"].as_str().unwrap().to_string();
    let audit = s.audit().await;
    let approve = audit.iter().find(|e| e["action"] == "approve").unwrap();
    assert_eq!(approve["actor"], "alice (slack:U0APPROVER)");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"][0]["id"], incident.as_str());

    let update = slack
        .wait_call(s, "message shows the publication", "chat.update", |b| {
            b["blocks"].to_string().contains("and published")
        })
        .await;
    assert_eq!(update.body["channel"], "C0DEFAULT");
    // The message Slack has for this draft is the one updated.
    assert_eq!(update.body["ts"], "1700000000.000001");
    let shown = update.body["blocks"].to_string();
    assert!(shown.contains("<@U0APPROVER>"), "{shown}");
    assert!(
        shown.contains(&format!(
            "<http://status.example.com/incidents/{incident}|{incident}>"
        )),
        "{shown}"
    );
    assert!(
        buttons(&update.body["blocks"]).is_empty(),
        "buttons must go: {shown}"
    );
    // One message per draft.
    assert_eq!(slack.ok_calls("chat.postMessage", |_| true).len(), 1);

    // Pressing Approve again says it is done, and changes nothing.
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let answer = slack
        .wait_call(s, "already published", "response_url", |b| {
            b["text"].as_str().unwrap_or("").contains("published")
        })
        .await;
    assert_eq!(answer.body["response_type"], "ephemeral");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_in_a_modal_make_a_revision_and_stale_approvals_are_refused() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;
    let before = draft(s, "D-1").await;

    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_edit", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let opened = slack
        .wait_call(s, "edit modal", "views.open", |_| true)
        .await;
    assert_eq!(opened.body["trigger_id"], "trigger-1");
    let view = &opened.body["view"];
    assert_eq!(view["callback_id"], "sg_edit");
    assert_eq!(view["private_metadata"], "D-1:1");
    let blocks = view["blocks"].as_array().unwrap();
    let block = |id: &str| {
        blocks
            .iter()
            .find(|b| b["block_id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(block("title")["element"]["initial_value"], before["title"]);
    assert_eq!(block("body")["element"]["initial_value"], before["body"]);
    assert_eq!(
        block("impact")["element"]["initial_option"]["value"],
        "critical"
    );
    assert_eq!(
        block("incident_status")["element"]["initial_option"]["value"],
        "investigating"
    );
    assert_eq!(
        block("component:api")["element"]["initial_option"]["value"],
        "major_outage"
    );

    // A form that would empty the title is sent back with the reason on that field.
    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("  "), "body": text_input("x")}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_action"], "errors");
    assert!(answer["errors"]["title"].is_string(), "{answer}");
    assert_eq!(draft(s, "D-1").await["revision"], 1);

    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({
                "title": text_input("Checkout API errors"),
                "body": text_input("Some API requests fail. We are on it."),
                "incident_status": select("identified"),
                "impact": select("major"),
                "component:api": select("partial_outage"),
            }),
        ),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, ""),
        "an empty 200 closes the modal"
    );
    let d = draft(s, "D-1").await;
    assert_eq!(d["revision"], 2);
    assert_eq!(d["title"], "Checkout API errors");
    assert_eq!(d["body"], "Some API requests fail. We are on it.");
    assert_eq!(d["incident_status"], "identified");
    assert_eq!(d["impact"], "major");
    assert_eq!(d["components"], json!({"api": "partial_outage"}));
    let edit = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "edited")
        .unwrap()
        .clone();
    assert_eq!(edit["actor"], "alice (slack:U0APPROVER)");

    // The same message is redrawn, saying what changed.
    let redrawn = slack
        .wait_call(s, "revision 2", "chat.update", |b| {
            b["text"].as_str().unwrap_or("").contains("revision 2")
        })
        .await;
    let shown = redrawn.body["blocks"].to_string();
    assert!(shown.contains("edited by <@U0APPROVER>"), "{shown}");
    assert!(shown.contains("title"), "{shown}");
    assert_eq!(buttons(&redrawn.body["blocks"])[0].1, "D-1:2");
    assert_eq!(slack.ok_calls("chat.postMessage", |_| true).len(), 1);

    // Approving the revision on screen before the redraw is refused, with the newest text.
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let stale = slack
        .wait_call(s, "stale answer", "response_url", |_| true)
        .await;
    assert_eq!(stale.body["response_type"], "ephemeral");
    assert_eq!(stale.body["replace_original"], false);
    let shown = stale.body["blocks"].to_string();
    assert!(shown.contains("revision 2"), "{shown}");
    assert!(
        shown.contains("Some API requests fail. We are on it."),
        "{shown}"
    );
    assert!(buttons(&stale.body["blocks"]).contains(&("sg_approve".into(), "D-1:2".into())));
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert!(summary["incidents"].as_array().unwrap().is_empty());

    // Editing from the old form after the change is refused in the form.
    let (_, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("Old")}),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["errors"]["title"]
            .as_str()
            .unwrap()
            .contains("revision 2"),
        "{answer}"
    );

    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:2", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let d = s.wait_draft_state("D-1", "published").await;
    assert_eq!(d["revision"], 2);
    let (_, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(summary["incidents"][0]["name"], "Checkout API errors");

    // Reject goes through a form with a reason.
    fire(s, "f2", "payments").await;
    let posted = slack
        .wait_call(s, "payments draft", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;
    assert_eq!(
        posted.body["channel"], "C0COMMERCE",
        "component group routes to its channel"
    );
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_reject", "D-2:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    slack
        .wait_call(s, "reject modal", "views.open", |b| {
            b["view"]["callback_id"] == "sg_reject"
        })
        .await;
    let (status, body) = interact(
        s,
        &submission(
            APPROVER,
            "sg_reject",
            "D-2:1",
            json!({"reason": text_input("test alert, not real")}),
        ),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, ""));
    let d = draft(s, "D-2").await;
    assert_eq!(d["state"], "rejected");
    assert_eq!(d["reason"], "test alert, not real");
    let update = slack
        .wait_call(s, "rejected message", "chat.update", |b| {
            b["blocks"].to_string().contains("Rejected")
        })
        .await;
    assert_eq!(update.body["channel"], "C0COMMERCE");
    assert!(update.body["blocks"]
        .to_string()
        .contains("test alert, not real"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_approvers_decide_and_refusals_are_audited() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;

    let (status, _) = interact(
        s,
        &button(STRANGER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let refusal = slack
        .wait_call(s, "refusal", "response_url", |_| true)
        .await;
    assert_eq!(refusal.body["response_type"], "ephemeral");
    assert!(
        refusal.body["text"]
            .as_str()
            .unwrap()
            .contains("Only approvers"),
        "{:?}",
        refusal.body
    );
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    // The stranger cannot edit through a form either, nor reject by command.
    let (_, body) = interact(
        s,
        &submission(
            STRANGER,
            "sg_edit",
            "D-1:1",
            json!({"title": text_input("pwned")}),
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["errors"]["title"]
            .as_str()
            .unwrap()
            .contains("Only approvers"),
        "{answer}"
    );
    let answer = command(s, STRANGER, "reject D-1 nope", &slack.response_url()).await;
    assert!(
        answer["text"].as_str().unwrap().contains("Only approvers"),
        "{answer}"
    );
    let d = draft(s, "D-1").await;
    assert_eq!(
        (d["state"].as_str(), d["revision"].as_u64()),
        (Some("pending"), Some(1))
    );

    let refused: Vec<Value> = s
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "refused")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:#?}");
    for e in &refused {
        assert_eq!(e["actor"], "mallory (slack:U0STRANGER)");
        assert_eq!(e["detail"]["user_id"], STRANGER);
    }
    assert_eq!(refused.iter().filter(|e| e["draft_id"] == "D-1").count(), 2);

    // A member of the approver user group may approve.
    let (status, _) = interact(
        s,
        &button(GROUPIE, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let d = draft(s, "D-1").await;
    assert_eq!(d["state"], "published", "{d}");
    let lookup = slack.ok_calls("usergroups.users.list", |_| true);
    assert!(!lookup.is_empty());
    assert_eq!(lookup[0].body["usergroup"], "S0ONCALL");
    let audit = s.audit().await;
    assert!(audit
        .iter()
        .any(|e| e["action"] == "approve" && e["actor"] == "gary (slack:U0GROUPIE)"));
}
