//! Body reading lives at the HTTP edge ([`crate::http`]); ingest uses it from there.

pub use crate::http::{read_body, read_json_body, BodyError};
