//! Signatures: protocols.md's test vector, rotation, header formats; the endpoint is off
//! without a secret.

use sha2::{Digest, Sha256};

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_limit_a_subscription_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pagerduty.secrets");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let s = Server::start(Options {
        catalog: format!("{CATALOG}{PD_ROUTES}"),
        extra_config: format!(
            "sources:\n  pagerduty:\n    secrets_file: {}\nlimits: {{ingest: {{per_second: 1, burst: 2}}}}\n",
            file.display()
        ),
        ..Options::default()
    });
    let ping = fixture("pagey.ping");
    let mut codes = Vec::new();
    for i in 0..4 {
        let mut e = ping.clone();
        e["event"]["id"] = serde_json::json!(format!("01RATELIMIT{i}"));
        let body = serde_json::to_vec(&e).unwrap();
        let sig = sign(SECRET, &body);
        let r = s
            .http
            .post(format!("{}/webhooks/pagerduty", s.url))
            .header("content-type", "application/json")
            .header("x-webhook-subscription", "PSUB0042")
            .header("x-pagerduty-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
        codes.push(r.status().as_u16());
    }
    assert_eq!(codes, vec![200, 200, 429, 429], "PagerDuty retries 429");
}
