//! Storm control, rate limits, the watchdog, reconciliation, metrics and shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::alertmanager_e2e::{alertmanager_available, Alertmanager};
use crate::harness::*;

mod durability;
mod storms;
mod watch;

const T0: &str = "2026-11-30T12:00:00Z";
