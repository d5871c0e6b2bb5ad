//! A hand edit on Statuspage is not overwritten: a conflict until an admin chooses.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_on_statuspage_is_a_conflict_until_an_admin_chooses() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    settled(&s, created["id"].as_str().unwrap()).await;

    // Someone renames the incident in Statuspage's own UI.
    fake.with(|st| st.incidents[0]["name"] = json!("Hand-written name"));
    fire(&s, DEGRADE).await;
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
    settled(&s, &id).await;
    let d = s.draft_in_state(&id, "conflict").await;
    assert_eq!(
        d["conflict"],
        json!({"target": "hosted", "field": "name", "ours": "API slower than usual", "theirs": "Hand-written name"})
    );
    assert!(fake.calls("PATCH").is_empty(), "wrote over a hand edit");
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");

    // Only admins choose, and only between the two choices.
    let path = format!("/api/v1/drafts/{id}/resolve-conflict");
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

    // Theirs: the hand-written name stays; the rest of the update goes out.
    let (status, body) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&s, &id).await;
    let d = s.draft_in_state(&id, "published").await;
    assert_eq!(d["conflict"], Value::Null);
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].1["incident"].get("name").is_none());
    assert_eq!(
        patches[0].1["incident"]["components"],
        json!({"cmp_api": "degraded_performance"})
    );
    assert_eq!(fake.incidents()[0]["name"], "Hand-written name");
    let (status, _) = s
        .send(
            "POST",
            &path,
            Some(ADMIN),
            Some(json!({"choice": "theirs"})),
        )
        .await;
    assert_eq!(status, 409, "no conflict left to resolve");

    // Another hand edit, this time of a component; the admin overwrites it.
    fake.with(|st| st.components[0]["status"] = json!("operational"));
    fire(&s, &[("f3", "critical", true)]).await;
    let next = approve_next(&s, "update").await;
    let next_id = next["id"].as_str().unwrap().to_string();
    settled(&s, &next_id).await;
    let d = s.draft_in_state(&next_id, "conflict").await;
    assert_eq!(d["conflict"]["field"], "components.cmp_api");
    assert_eq!(d["conflict"]["ours"], "major_outage");
    assert_eq!(d["conflict"]["theirs"], "operational");
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{next_id}/resolve-conflict"),
            Some(ADMIN),
            Some(json!({"choice": "overwrite"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    settled(&s, &next_id).await;
    s.draft_in_state(&next_id, "published").await;
    assert_eq!(
        fake.with(|st| st.components[0]["status"].clone()),
        "major_outage"
    );
    let actions: Vec<Value> = s
        .audit()
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert!(actions.contains(&json!("publish_conflict")), "{actions:?}");
    assert!(actions.contains(&json!("conflict_resolved")), "{actions:?}");
}
