//! What the `#[utoipa::path]` annotations of handlers share: the schema of the error
//! answer, the ids in paths, and the 404 of each thing a path names. Handlers list these
//! by name (`params(DraftId)`, `responses(…, NoDraft)`) and describe only their own
//! answers; the document itself is assembled in [`crate::openapi`].

use utoipa::{IntoParams, IntoResponses, ToSchema};

/// Every error answer: a status and `{"error": "<what is wrong, for a human>"}`. Some add
/// context beside it (a 409 on a stale revision adds `current_revision` and `draft`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the JSON `ApiError` writes; only its schema is used.
pub struct ErrorBody {
    /// What is wrong, for a human.
    pub error: String,
}

/// For each kind of record a path names by `{id}`: its path parameter and its 404.
macro_rules! named_by_id {
    ($($param:ident, $missing:ident: $id:literal, $absent:literal;)*) => {$(
        #[derive(IntoParams)]
        #[into_params(parameter_in = Path)]
        #[allow(dead_code)] // Describes the path; handlers read it with `Path<String>`.
        pub struct $param {
            #[doc = $id]
            id: String,
        }

        #[derive(IntoResponses)]
        #[response(status = 404, description = $absent)]
        #[allow(dead_code)] // Describes the answer `ApiError::not_found` writes.
        pub struct $missing(ErrorBody);
    )*};
}

named_by_id! {
    DraftId, NoDraft: "Draft id", "No such draft";
    IncidentId, NoIncident: "Incident id (`INC-<n>`)", "No such incident";
    MaintenanceId, NoMaintenance: "Maintenance id (`MNT-<n>`)", "No such maintenance";
    SubscriberId, NoSubscriber: "Subscriber id", "No such subscriber";
}

/// `None` is the 404 of the record a path names: `"<what> <id> does not exist"`.
pub trait OrMissing<T> {
    fn or_missing(self, what: &str, id: &str) -> Result<T, super::ApiError>;
}

impl<T> OrMissing<T> for Option<T> {
    fn or_missing(self, what: &str, id: &str) -> Result<T, super::ApiError> {
        self.ok_or_else(|| super::ApiError::not_found(format!("{what} {id} does not exist")))
    }
}
