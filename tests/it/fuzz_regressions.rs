//! Replays every input the fuzzers (`bench/fuzz`) ever kept, plus the seed fixtures,
//! through the same parsers, so a crash found once stays fixed. None may panic.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue};
use statusgate::catalog::{Catalog, Matcher};
use statusgate::config::Secret;

use crate::harness::repo_path;

fn inputs(target: &str, seeds: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let dir = repo_path(&format!("tests/fixtures/fuzz/{target}"));
    for dir in std::iter::once(dir).chain(seeds.iter().map(|s| repo_path(s))) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_file() {
                out.push(std::fs::read(e.path()).unwrap());
            }
        }
    }
    out
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

#[test]
fn kept_fuzz_inputs_and_fixtures_never_panic_the_parsers() {
    let payloads = inputs("alertmanager_payload", &["examples"]);
    assert!(!payloads.is_empty());
    for p in &payloads {
        if let Ok(p) = statusgate::http::parse_json::<statusgate::ingest::alertmanager::Payload>(p)
        {
            let _ = p.into_alerts(chrono::Utc::now());
        }
    }
    for e in inputs("pagerduty_event", &["tests/fixtures/pagerduty"]) {
        let _ = statusgate::ingest::pagerduty::parse(&e);
    }
    let files = inputs("mapping_file", &["mappings", "tests/fixtures/catalog"]);
    assert!(files.len() > 10);
    for f in files.iter().filter_map(|f| text(f)) {
        if let Ok(c) = Catalog::from_sources(&[("f.yaml".to_string(), f.to_string())]) {
            let _ = c.route(&BTreeMap::new());
            let _ = c.run_tests();
        }
    }
    for m in inputs("matcher", &[]).iter().filter_map(|m| text(m)) {
        if let Ok(ms) = Matcher::parse(m) {
            for m in ms {
                let _ = m.matches(&BTreeMap::new());
            }
        }
    }
    let interactions = inputs("slack_interaction", &["tests/fixtures/slack"]);
    for i in &interactions {
        let _ = statusgate::approve::slack::parse_interaction(i);
    }
    let block_actions = format!(
        "payload={}",
        urlencode(
            r#"{"type":"block_actions","user":{"id":"U1","username":"ann"},"actions":[{"action_id":"approve","value":"D-1:2"}]}"#
        )
    );
    assert_eq!(
        statusgate::approve::slack::parse_interaction(block_actions.as_bytes()).as_deref(),
        Ok("block_actions")
    );
    let secret = Secret::new("fuzz-secret");
    for s in inputs("signatures", &[]) {
        let split = s.iter().position(|b| *b == b'\n').unwrap_or(s.len());
        let (header, body) = s.split_at(split);
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(header) {
            headers.insert("x-pagerduty-signature", v.clone());
            headers.insert("x-slack-signature", v.clone());
            headers.insert("x-slack-request-timestamp", v);
        }
        let _ = statusgate::ingest::pagerduty::signature::verify(
            std::slice::from_ref(&secret),
            &headers,
            body,
        );
        let _ = statusgate::approve::slack::verify::verify(&secret, &headers, body, 1_700_000_000);
    }
    assert!(Path::new(&repo_path("tests/fixtures/fuzz")).is_dir());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
