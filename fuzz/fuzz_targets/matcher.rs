//! Alertmanager matcher syntax: parsing never panics, and what parses can be evaluated.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use statusgate::catalog::Matcher;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(matchers) = Matcher::parse(text) {
        let labels: BTreeMap<String, String> =
            [("alertname".to_string(), text.to_string())].into_iter().collect();
        for m in matchers {
            let _ = m.matches(&labels);
        }
    }
});
