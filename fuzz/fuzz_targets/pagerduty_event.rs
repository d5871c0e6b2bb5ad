//! PagerDuty V3 webhook bodies: the event parser never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = statusgate::ingest::pagerduty::parse(data);
});
