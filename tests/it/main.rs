//! Integration tests: the real server, spawned on a random port, driven over HTTP.

mod alertmanager_e2e;
mod architecture;
mod browser;
mod cli;
mod config_check;
mod config_stages;
mod edge;
mod fake_http;
mod fake_statuspage;
mod fuzz_regressions;
mod harness;
mod incident_rules;
mod ingest;
mod lifecycle;
mod maintenance;
mod maintenance_publish;
mod openapi;
mod operations;
mod page;
mod pagerduty;
mod publish_email;
mod publish_safety;
mod publish_statuspage;
mod publish_webhook;
mod slack;
mod storage_faults;
