//! Integration tests: the real server, spawned on a random port, driven over HTTP.

mod alertmanager_e2e;
mod browser;
mod cli;
mod harness;
mod ingest;
mod lifecycle;
mod maintenance;
mod page;
