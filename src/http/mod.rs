//! The HTTP edge: what every endpoint would otherwise repeat, done once.
//!
//! - [`Caller<R>`] authenticates a management token and checks its role (401/403 from here
//!   only); list it first among a handler's arguments, because axum runs extractors in
//!   order and nothing else should judge a request before its caller is known;
//! - [`ById<R, S>`] is a caller, the router's state and the `{id}` a path names, together:
//!   what most endpoints about one record take;
//! - [`JsonBody<T>`] and [`JsonOrEmpty<T>`] check content type, encoding and size, then
//!   parse with the documented 400/413/415/422;
//! - [`Query<T>`] and [`Path<T>`] answer JSON 422/400 rather than axum's plain text;
//! - [`ApiError`] is the one error shape, `{"error": …}`, and [`ErrorBody`] its schema;
//! - [`DraftId`], [`NoDraft`] and their kin are what handlers' OpenAPI annotations share;
//! - [`endpoint!`] writes a handler's annotation and signature, its role
//!   stated once;
//! - [`edges`] makes the answers axum writes itself (405) JSON on API paths and lets
//!   widgets read every `/api/v2` answer cross-origin, 429 and 5xx included.

mod auth;
mod body;
mod caller;
mod doc;
mod endpoint;
mod error;
mod form;
mod layers;
mod params;
mod read;

pub use auth::{token_digest, Identity, Tokens};
pub use body::{parse_object, BodyLimit, JsonBody, JsonOrEmpty};
pub use caller::{Admin, Approver, ById, Caller, NeedsRole, Reader};
pub use doc::{
    DraftId, ErrorBody, IncidentId, MaintenanceId, NoDraft, NoIncident, NoMaintenance,
    NoSubscriber, OrMissing, SubscriberId,
};
pub(crate) use endpoint::endpoint;
pub use error::{parse_json, ApiError};
pub use form::Form;
pub use layers::{edges, fixed_headers, not_found, wants_json};
pub use params::{Path, Query};
pub use read::{read_body, read_json_body, read_raw, BodyError};

/// Lets a router's state give the edge its tokens and body limit: `edge_state!(MyState)`
/// for a state with `tokens: Tokens` and `max_body: usize` fields, `edge_state!(MyState,
/// via api)` for one whose field `api` has them.
#[macro_export]
macro_rules! edge_state {
    ($state:ty $(, via $inner:ident)?) => {
        impl axum::extract::FromRef<$state> for $crate::http::Tokens {
            fn from_ref(s: &$state) -> Self {
                s$(.$inner)?.tokens.clone()
            }
        }
        impl axum::extract::FromRef<$state> for $crate::http::BodyLimit {
            fn from_ref(s: &$state) -> Self {
                $crate::http::BodyLimit(s$(.$inner)?.max_body)
            }
        }
    };
}
