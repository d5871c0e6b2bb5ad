//! `endpoint!`: a handler and its `#[utoipa::path]` annotation, with what every handler
//! would repeat said once.
//!
//! ```ignore
//! endpoint! {
//!     /// One draft (the summary and description the document shows).
//!     get("/api/v1/drafts/{id}", tag = "drafts", params(DraftId), responses(…))
//!     async fn get_draft(ById(_, s, id): ById<Reader, ApiState>) {
//!         …
//!     }
//! }
//! ```
//!
//! The role is stated once: the `Caller<R>` (or `ById<R, S>`) a handler takes first is both
//! what the edge enforces and the `bearer` requirement the document shows, so the two cannot
//! disagree. A handler without a caller (operations, the document itself) has no
//! requirement. Every handler answers `Result<Response, ApiError>`. rustfmt does not format
//! inside a macro: keep the body to the few lines that are the handler's own, and put longer
//! work in a plain function.

/// See the [module documentation](self).
macro_rules! endpoint {
    (
        $(#[doc = $doc:tt])*
        $method:ident($path:tt $(, $($spec:tt)*)?)
        $vis:vis async fn $name:ident(
            $first:ident $(($($bind:tt)*))?: $wrap:ident<$role:ident $(, $state:ty)?>
            $(, $($arg:tt)*)?
        ) { $($body:tt)* }
    ) => {
        $crate::http::endpoint!(@role $role
            [$(#[doc = $doc])*] [$method, path = $path $(, $($spec)*)?] [$vis] $name
            [$first $(($($bind)*))?: $wrap<$role $(, $state)?> $(, $($arg)*)?] { $($body)* }
        );
    };
    (
        $(#[doc = $doc:tt])*
        $method:ident($path:tt $(, $($spec:tt)*)?)
        $vis:vis async fn $name:ident($($arg:tt)*) { $($body:tt)* }
    ) => {
        $crate::http::endpoint!(@emit
            [$(#[doc = $doc])*] [$method, path = $path $(, $($spec)*)?] [$vis] $name
            [$($arg)*] { $($body)* }
        );
    };
    // The word the document uses for each role; any other first argument (`State<…>`)
    // means the endpoint needs no token.
    (@role Reader $($rest:tt)*) => {
        $crate::http::endpoint!(@bearer "reader" $($rest)*);
    };
    (@role Approver $($rest:tt)*) => {
        $crate::http::endpoint!(@bearer "approver" $($rest)*);
    };
    (@role Admin $($rest:tt)*) => {
        $crate::http::endpoint!(@bearer "admin" $($rest)*);
    };
    (@role $other:ident $($rest:tt)*) => {
        $crate::http::endpoint!(@emit $($rest)*);
    };
    (@bearer $word:tt $docs:tt [$method:ident, $($spec:tt)*] $($rest:tt)*) => {
        $crate::http::endpoint!(@emit
            $docs [$method, security(("bearer" = [$word])), $($spec)*] $($rest)*
        );
    };
    (@emit [$($docs:tt)*] [$($spec:tt)*] [$vis:vis] $name:ident [$($arg:tt)*] { $($body:tt)* }) => {
        $($docs)*
        #[utoipa::path($($spec)*)]
        $vis async fn $name(
            $($arg)*
        ) -> ::std::result::Result<::axum::response::Response, $crate::http::ApiError> {
            $($body)*
        }
    };
}
pub(crate) use endpoint;
