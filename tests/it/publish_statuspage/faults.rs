//! Statuspage down, rate-limiting, losing answers, or the service killed mid-delivery:
//! everything still arrives once and in order, or the draft fails until an admin retries.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuspage_down_for_a_while_then_back_gets_everything_once_in_order() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.with(|st| st.down = Some(503));

    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let created_id = created["id"].as_str().unwrap().to_string();
    // Retried while down, and said so.
    let body = eventually("retries while down", Duration::from_secs(20), async || {
        let n = fake.with(|st| st.calls.len());
        (n >= 3).then_some(n)
    })
    .await;
    assert!(body >= 3);
    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(
        ready["ready"], true,
        "a dead target made statusgate unready: {ready}"
    );
    let hosted = &ready["checks"]["targets"]["targets"]["hosted"];
    assert!(
        hosted["consecutive_failures"].as_u64().unwrap() >= 1,
        "{ready}"
    );
    assert!(
        hosted["last_error"].as_str().unwrap().contains("503"),
        "{ready}"
    );
    let (_, deliveries) = s
        .get(
            &format!("/api/v1/drafts/{created_id}/deliveries"),
            Some(READER),
        )
        .await;
    let first = &deliveries["deliveries"][0];
    assert_eq!(first["state"], "pending");
    assert!(first["attempts"].as_u64().unwrap() >= 1, "{deliveries}");
    assert!(first["last_error"].as_str().unwrap().contains("503"));

    // Back, after a last "slow down" with Retry-After.
    fake.with(|st| {
        st.down = None;
        st.calls.clear();
    });
    fake.fault("*", Fault::Status(429, Some(1)));
    let limited_at = eventually("the 429", Duration::from_secs(20), async || {
        fake.with(|st| (!st.calls.is_empty()).then(Instant::now))
    })
    .await;
    settled(&s, &created_id).await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let incidents = fake.incidents();
    assert_eq!(incidents.len(), 1, "duplicated: {incidents:?}");
    // The 429 held everything for the second it asked for.
    let next = fake.with(|st| st.post_times.last().copied()).unwrap();
    assert!(
        next - limited_at >= Duration::from_millis(900),
        "{:?}",
        next - limited_at
    );
    // The queued update was folded into the create: the page shows the latest state.
    let posts = fake.calls("POST");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0].1["incident"]["components"],
        json!({"cmp_api": "degraded_performance"})
    );
    s.wait_draft_state(&created_id, "published").await;
    let (_, deliveries) = s
        .get(
            &format!("/api/v1/drafts/{created_id}/deliveries"),
            Some(READER),
        )
        .await;
    assert_eq!(
        deliveries["deliveries"][0]["state"], "coalesced",
        "{deliveries}"
    );

    // In order afterwards: the resolution comes after, and only once.
    fire(&s, &[("f2", "warning", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    assert_eq!(fake.incidents()[0]["status"], "resolved");
    assert_eq!(fake.calls("POST").len(), 1);
    let (_, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains("statusgate_publish_attempts_total{target=\"hosted\",outcome=\"retry\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_429_retry_after_is_honoured() {
    // Retry-After is honoured up to the longest backoff.
    let Setup { s, sp, _keys } = setup_with("1h", "5s").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::Status(429, Some(2)));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    settled(&s, created["id"].as_str().unwrap()).await;
    let times: Vec<Instant> = sp_times(&sp);
    assert_eq!(times.len(), 2, "one refused create, one accepted");
    let gap = times[1] - times[0];
    assert!(
        gap >= Duration::from_millis(1900),
        "retried after {gap:?}, asked for 2s"
    );
    assert_eq!(fake.incidents().len(), 1);
}

fn sp_times(sp: &Running) -> Vec<Instant> {
    sp.fake.with(|st| st.post_times.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_found_and_not_made_twice() {
    let Setup { s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::ApplyThenDrop);
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    let log = body["deliveries"][0]["log"].as_array().unwrap().clone();
    assert!(log.len() >= 2, "{body}");
    assert!(
        fake.calls("GET")
            .iter()
            .any(|(p, _)| p.ends_with("/incidents/unresolved")),
        "did not look for the incident first"
    );
    // Later updates go to the incident the lost create made.
    fire(&s, DEGRADE).await;
    let update = approve_next(&s, "update").await;
    settled(&s, update["id"].as_str().unwrap()).await;
    let id = fake.incidents()[0]["id"].as_str().unwrap().to_string();
    let patches = fake.calls("PATCH");
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].0, format!("/pages/pg1/incidents/{id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delivery_and_restarted_still_delivers_exactly_once() {
    let Setup { mut s, sp, _keys } = setup("1h").await;
    let fake = &sp.fake;
    fake.fault("POST", Fault::ApplyThenLate(Duration::from_secs(30)));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    eventually(
        "the create to reach Statuspage",
        Duration::from_secs(20),
        async || (!fake.incidents().is_empty()).then_some(()),
    )
    .await;
    // Statuspage has made the incident; statusgate has not seen the answer. kill -9.
    s.crash_and_restart();
    let body = settled(&s, created["id"].as_str().unwrap()).await;
    assert_eq!(fake.calls("POST").len(), 1, "created twice");
    assert_eq!(fake.incidents().len(), 1);
    assert!(
        ["delivered", "unchanged"].contains(&body["deliveries"][0]["state"].as_str().unwrap()),
        "{body}"
    );
    fire(&s, &[("f1", "critical", false)]).await;
    let resolution = approve_next(&s, "resolution").await;
    settled(&s, resolution["id"].as_str().unwrap()).await;
    assert_eq!(fake.incidents().len(), 1);
    assert_eq!(fake.incidents()[0]["status"], "resolved");
    assert_eq!(fake.calls("POST").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_gives_up_fails_the_draft_until_an_admin_retries() {
    let Setup { s, sp, _keys } = setup("1s").await;
    let fake = &sp.fake;
    fake.with(|st| st.down = Some(500));
    fire(&s, &[("f1", "critical", true)]).await;
    let created = approve_next(&s, "new_incident").await;
    let id = created["id"].as_str().unwrap().to_string();
    let d = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let d = draft(&s, &id).await;
            if d["state"] == "failed" {
                break d;
            }
            assert!(Instant::now() < deadline, "never failed: {d}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let reason = d["reason"].as_str().unwrap();
    assert!(reason.starts_with("hosted: gave up after"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    let (status, _) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(READER),
            None,
        )
        .await;
    assert_eq!(status, 403);
    fake.with(|st| st.down = None);
    let (status, body) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "published");
    settled(&s, &id).await;
    assert_eq!(fake.incidents().len(), 1);
    let (status, _) = s
        .send(
            "POST",
            &format!("/api/v1/drafts/{id}/retry"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(status, 409, "nothing left to retry");
}
