//! Alertmanager webhook bodies: parsing and turning them into alerts never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use statusgate::ingest::alertmanager::Payload;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = statusgate::http::parse_json::<Payload>(data) {
        let _ = p.into_alerts(chrono::Utc::now());
    }
});
