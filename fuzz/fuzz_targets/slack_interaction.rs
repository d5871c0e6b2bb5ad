//! Slack interaction bodies (`payload=<url-encoded JSON>`): parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = statusgate::approve::slack::parse_interaction(data);
});
