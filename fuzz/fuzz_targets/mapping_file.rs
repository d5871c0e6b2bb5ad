//! Mapping files: loading and validating any text never panics, a catalog that loads
//! can route and run its tests, and the fast YAML reader reads every text as
//! `serde_norway` does (or leaves it to it).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use statusgate::catalog::Catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert!(statusgate::catalog::agrees_with_reference(text), "{text:?}");
    if let Ok(c) = Catalog::from_sources(&[("fuzz.yaml".to_string(), text.to_string())]) {
        let labels: BTreeMap<String, String> =
            [("service".to_string(), "api".to_string())].into_iter().collect();
        let _ = c.route(&labels);
        let _ = c.run_tests();
    }
});
