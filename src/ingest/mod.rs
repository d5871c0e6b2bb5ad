//! Ingest: authenticate, bound, parse and durably record what alert sources send, then
//! hand the changes to the pipeline. One file per source.

pub mod alertmanager;
pub mod api;
pub mod pagerduty;
mod record;

pub use crate::alert::{Alert, AlertStatus, StatusUpdate};
pub use crate::vocab::Source;
pub use record::{Delivery, RecordOutcome, Recorder, Taken, INBOX_TABLE};
