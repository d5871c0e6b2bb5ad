//! Slack, end to end: the real server, a local stand-in for Slack's Web API that records
//! every call and answers as Slack does, and requests signed as Slack signs them.

mod approval;
mod commands;
mod conflicts;
mod declare;
mod delivery;
mod draft_budget;
mod error_budget;
mod fake;
mod replicas;
mod signals;
mod signing;
