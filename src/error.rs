//! The error type moved to the HTTP edge ([`crate::http`]); this path stays for the modules
//! that name it here.

pub use crate::http::{parse_json, ApiError};
