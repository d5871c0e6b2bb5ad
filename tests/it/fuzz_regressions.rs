//! Replays every input the fuzzers (`bench/fuzz`) ever kept, plus the seed fixtures,
//! through the same parsers, so a crash found once stays fixed. None may panic. Each
//! target's corpus is committed (tests/fixtures/fuzz/<target>/); an empty one fails here.

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{HeaderMap, HeaderValue};
use statusgate::catalog::{Catalog, Matcher};
use statusgate::config::Secret;

use crate::harness::repo_path;

/// Every fuzz target; each has a committed corpus under tests/fixtures/fuzz/<target>/.
const TARGETS: [&str; 6] = [
    "alertmanager_payload",
    "pagerduty_event",
    "mapping_file",
    "matcher",
    "signatures",
    "slack_interaction",
];

/// The committed corpus of `target` (its minimised seeds and every crash kept), then the
/// files in `seeds`. An empty or missing corpus fails the test: a replay of nothing would
/// pass whatever the parsers do.
fn inputs(target: &str, seeds: &[&str]) -> Vec<Vec<u8>> {
    assert!(TARGETS.contains(&target), "{target} is not in TARGETS");
    let corpus = files(&repo_path(&format!("tests/fixtures/fuzz/{target}")));
    assert!(
        !corpus.is_empty(),
        "tests/fixtures/fuzz/{target}/ holds no inputs: commit a minimised corpus for it"
    );
    let mut out = corpus;
    for dir in seeds {
        out.extend(files(&repo_path(dir)));
    }
    out
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect()
}

/// Every directory under tests/fixtures/fuzz/ is a target the replay knows: a corpus
/// kept for a renamed or new target would otherwise be silently skipped.
#[test]
fn every_fuzz_target_has_a_corpus_and_every_corpus_a_target() {
    let dir = repo_path("tests/fixtures/fuzz");
    let mut dirs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets = TARGETS.map(String::from).to_vec();
    targets.sort();
    assert_eq!(dirs, targets);
    // The fuzz crate's own list of targets.
    let manifest = std::fs::read_to_string(repo_path("fuzz/Cargo.toml")).unwrap();
    let mut declared: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_string())
        .filter(|n| n != "statusgate-fuzz")
        .collect();
    declared.sort();
    assert_eq!(declared, targets, "fuzz/Cargo.toml and TARGETS disagree");
    for t in TARGETS {
        assert!(!inputs(t, &[]).is_empty());
    }
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
        // The fast YAML reader reads each as serde_norway does, or leaves it to it.
        assert!(statusgate::catalog::agrees_with_reference(f), "{f:?}");
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
    let interactions = inputs("slack_interaction", &[]);
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
