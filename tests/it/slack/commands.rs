//! The `/status` slash command, and the API's way of drafting incident updates.

use serde_json::json;

use super::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_command_lists_shows_rejects_and_drafts_updates() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    fire(s, "f1", "api-gateway").await;
    slack
        .wait_call(s, "draft", "chat.postMessage", |_| true)
        .await;

    let list = command(s, STRANGER, "", &slack.response_url()).await;
    let text = list["text"].as_str().unwrap();
    assert!(
        text.contains("D-1") && text.contains("Open incidents:* none"),
        "{text}"
    );
    let help = command(s, APPROVER, "help", &slack.response_url()).await;
    assert!(help["text"]
        .as_str()
        .unwrap()
        .contains("/status update INC-4"));
    let unknown = command(s, APPROVER, "frobnicate", &slack.response_url()).await;
    assert!(unknown["text"]
        .as_str()
        .unwrap()
        .contains("I do not know `frobnicate`"));

    // `approve` shows the text with a button for the revision shown; it does not approve.
    let shown = command(s, APPROVER, "approve d-1", &slack.response_url()).await;
    assert_eq!(shown["response_type"], "ephemeral");
    assert!(buttons(&shown["blocks"]).contains(&("sg_approve".into(), "D-1:1".into())));
    assert_eq!(draft(s, "D-1").await["state"], "pending");
    let (status, _) = interact(
        s,
        &button(APPROVER, "sg_approve", "D-1:1", &slack.response_url()),
    )
    .await;
    assert_eq!(status, 200);
    let incident = draft(s, "D-1").await["incident_id"]
        .as_str()
        .unwrap()
        .to_string();

    let answer = command(s, APPROVER, "update INC-99 hello", &slack.response_url()).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("INC-99 does not exist"),
        "{answer}"
    );
    let answer = command(
        s,
        APPROVER,
        &format!("update {incident}   We found the cause and are rolling out a fix."),
        &slack.response_url(),
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("Drafted D-2"),
        "{answer}"
    );
    let d = draft(s, "D-2").await;
    assert_eq!(d["kind"], "update");
    assert_eq!(d["incident_id"], incident.as_str());
    assert_eq!(d["body"], "We found the cause and are rolling out a fix.");
    assert_eq!(d["components"], json!({"api": "major_outage"}));
    assert!(d["history"][0]["actor"]
        .as_str()
        .unwrap()
        .contains("slack:U0APPROVER"));
    slack
        .wait_call(s, "update draft posted", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-2")
        })
        .await;

    // One pending draft per incident, over the API as in chat.
    let path = format!("/api/v1/incidents/{incident}/drafts");
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"body": "more"})))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("D-2"), "{body}");
    let (status, _) = s
        .send("POST", &path, Some(READER), Some(json!({"body": "more"})))
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .send("POST", &path, Some(ADMIN), Some(json!({"bdy": "typo"})))
        .await;
    assert_eq!(status, 422, "{body}");

    let answer = command(
        s,
        APPROVER,
        "reject D-2 wrong incident",
        &slack.response_url(),
    )
    .await;
    assert!(
        answer["text"].as_str().unwrap().contains("Rejected D-2"),
        "{answer}"
    );
    assert_eq!(draft(s, "D-2").await["reason"], "wrong incident");
    // With nothing pending, the API drafts the templated update.
    // An empty request (no body, no content type) asks for the template, as `{}` does.
    let (status, body) = s.send("POST", &path, Some(ADMIN), None).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["body"]
            .as_str()
            .unwrap()
            .contains("still investigating"),
        "{body}"
    );
    assert_eq!(body["history"][0]["actor"], "admin");
    let list = command(s, APPROVER, "list", &slack.response_url()).await;
    assert!(list["text"].as_str().unwrap().contains(&incident), "{list}");
}
