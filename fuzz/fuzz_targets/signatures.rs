//! Signature headers from PagerDuty and Slack: checking them never panics, whatever the
//! header holds. The input is split into a header value and a body.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use statusgate::config::Secret;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let secrets = [Secret::new("fuzz-secret")];
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(header) {
        headers.insert("x-pagerduty-signature", v.clone());
        headers.insert("x-slack-signature", v.clone());
        headers.insert("x-slack-request-timestamp", v);
    }
    let _ = statusgate::ingest::pagerduty::signature::verify(&secrets, &headers, body);
    let _ = statusgate::approve::slack::verify::verify(&secrets[0], &headers, body, 1_700_000_000);
});
