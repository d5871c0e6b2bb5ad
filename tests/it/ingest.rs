//! Bad input gets a clear error, loses nothing, and never a 500.

use std::io::Write;

use serde_json::{json, Value};

use crate::harness::*;

const T0: &str = "2026-11-30T12:00:00Z";

/// Name, headers, body, expected status, a word the error must mention.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

async fn raw(s: &Server, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut req = s
        .http
        .post(format!("{}/webhooks/alertmanager", s.url))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text:?}"));
    (status, json)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_its_documented_status() {
    let s = Server::start(Options::default());
    let bearer = format!("Bearer {AM_TOKEN}");
    let auth = ("authorization", bearer.as_str());
    let json_ct = ("content-type", "application/json");
    let good = serde_json::to_vec(&am_payload(vec![am_alert(
        "b1",
        "api-gateway",
        "critical",
        true,
        T0,
    )]))
    .unwrap();
    let big_alert = am_alert("big", "api-gateway", "critical", true, T0);
    let mut huge = am_payload(vec![big_alert]);
    huge["alerts"][0]["annotations"]["description"] = json!("x".repeat(100 * 1024));
    let huge = serde_json::to_vec(&huge).unwrap();
    let mut nested = String::new();
    for _ in 0..10_000 {
        nested.push('[');
    }
    let cases: Vec<Case> = vec![
        ("no auth", vec![json_ct], good.clone(), 401, "Authorization"),
        (
            "wrong token",
            vec![json_ct, ("authorization", "Bearer nope")],
            good.clone(),
            401,
            "invalid",
        ),
        (
            "basic not configured",
            vec![json_ct, ("authorization", "Basic dTpw")],
            good.clone(),
            401,
            "invalid",
        ),
        (
            "form body",
            vec![auth, ("content-type", "application/x-www-form-urlencoded")],
            good.clone(),
            415,
            "application/json",
        ),
        (
            "no content type",
            vec![auth],
            good.clone(),
            415,
            "Content-Type",
        ),
        (
            "brotli",
            vec![auth, json_ct, ("content-encoding", "br")],
            good.clone(),
            415,
            "br",
        ),
        ("too large", vec![auth, json_ct], huge.clone(), 413, "limit"),
        (
            "gzip bomb",
            vec![auth, json_ct, ("content-encoding", "gzip")],
            gzip(&huge),
            413,
            "limit",
        ),
        (
            "not gzip",
            vec![auth, json_ct, ("content-encoding", "gzip")],
            good.clone(),
            400,
            "gzip",
        ),
        (
            "broken JSON",
            vec![auth, json_ct],
            b"{\"version\": \"4\", ".to_vec(),
            400,
            "JSON",
        ),
        ("empty body", vec![auth, json_ct], Vec::new(), 400, "JSON"),
        (
            "bad UTF-8",
            vec![auth, json_ct],
            b"{\"version\": \"4\xff\"}".to_vec(),
            400,
            "UTF-8",
        ),
        (
            "deep nesting",
            vec![auth, json_ct],
            nested.into_bytes(),
            422,
            "shape",
        ),
        (
            "wrong version",
            vec![auth, json_ct],
            serde_json::to_vec(&json!({"version": "3", "alerts": []})).unwrap(),
            422,
            "version",
        ),
        (
            "missing alerts",
            vec![auth, json_ct],
            br#"{"version": "4"}"#.to_vec(),
            422,
            "alerts",
        ),
        (
            "wrong type",
            vec![auth, json_ct],
            br#"{"version": "4", "alerts": "many"}"#.to_vec(),
            422,
            "shape",
        ),
        (
            "bad time",
            vec![auth, json_ct],
            serde_json::to_vec(&am_payload(vec![am_alert(
                "t",
                "web",
                "critical",
                true,
                "yesterday",
            )]))
            .unwrap(),
            422,
            "shape",
        ),
        (
            "bad status",
            vec![auth, json_ct],
            serde_json::to_vec(&am_payload(vec![
                json!({"status": "burning", "labels": {"a": "b"}, "startsAt": T0}),
            ]))
            .unwrap(),
            422,
            "burning",
        ),
        (
            "duplicate keys",
            vec![auth, json_ct],
            br#"{"version": "4", "version": "4", "alerts": []}"#.to_vec(),
            422,
            "duplicate",
        ),
    ];
    for (name, headers, body, want, mention) in cases {
        let (status, body) = raw(&s, &headers, body).await;
        assert_eq!(status, want, "{name}: {body}");
        let msg = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no error field in {body}"));
        assert!(
            msg.contains(mention),
            "{name}: `{msg}` should mention {mention}"
        );
    }
    // Nothing of that was stored, and the server is fine.
    assert!(s.audit().await.iter().all(|e| e["action"] != "ingest"));
    let (status, ok) = raw(&s, &[auth, json_ct], good.clone()).await;
    assert_eq!((status, ok["new"].as_u64()), (200, Some(1)));
    let (status, ok) = raw(
        &s,
        &[auth, json_ct, ("content-encoding", "gzip")],
        gzip(&good),
    )
    .await;
    assert_eq!(
        (status, ok["duplicates"].as_u64()),
        (200, Some(1)),
        "gzip body accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_labels_and_basic_auth_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "sources:\n  alertmanager:\n    basic: {{username: am, password_file: {}}}\n",
            pw.display()
        ),
        ..Options::default()
    });
    let mut alert = am_alert("u1", "api-gateway", "critical", true, T0);
    alert["labels"]["équipe"] = json!("plateforme ☁️");
    let payload = serde_json::to_vec(&am_payload(vec![alert])).unwrap();
    use base64::Engine;
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("am:s3cret")
    );
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("am:wrong")
    );
    let ct = ("content-type", "application/json; charset=utf-8");
    assert_eq!(
        raw(&s, &[ct, ("authorization", bad.as_str())], payload.clone())
            .await
            .0,
        401
    );
    let (status, body) = raw(&s, &[ct, ("authorization", good.as_str())], payload.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The bearer token still works alongside basic auth.
    let bearer = format!("Bearer {AM_TOKEN}");
    assert_eq!(
        raw(&s, &[ct, ("authorization", bearer.as_str())], payload)
            .await
            .0,
        200
    );
    let d = s.wait_draft("unicode", |d| d["state"] == "pending").await;
    assert_eq!(d["alerts"][0]["labels"]["équipe"], "plateforme ☁️");
}

/// A known alert that comes twice in one delivery (or in two deliveries committed
/// together) is a duplicate both times, on either engine: each copy is compared with the
/// state as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_alert_twice_in_one_delivery_is_two_duplicates() {
    let s = Server::start(Options::default());
    let alert = am_alert("twice", "api-gateway", "critical", true, T0);
    let (status, ok) = s.post_alertmanager(&am_payload(vec![alert.clone()])).await;
    assert_eq!((status, ok["new"].as_u64()), (200, Some(1)), "{ok}");
    let (status, ok) = s
        .post_alertmanager(&am_payload(vec![alert.clone(), alert]))
        .await;
    assert_eq!(
        (status, ok["new"].as_u64(), ok["duplicates"].as_u64()),
        (200, Some(0), Some(2)),
        "{ok}"
    );
}
