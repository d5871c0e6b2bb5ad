//! `Caller<R>`: the authenticated caller of a management endpoint, holding at least role `R`.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::ApiError;
use super::Tokens;
use crate::config::Role;

/// A role an endpoint needs; each includes the ones before it.
pub trait NeedsRole {
    const ROLE: Role;
}

/// Reads.
pub struct Reader;
/// Also edits, approves and rejects drafts.
pub struct Approver;
/// Also manages maintenance, subscribers and retries.
pub struct Admin;

impl NeedsRole for Reader {
    const ROLE: Role = Role::Reader;
}
impl NeedsRole for Approver {
    const ROLE: Role = Role::Approver;
}
impl NeedsRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// Who is calling, known to hold role `R`: unknown or missing token 401, too small a role 403.
pub struct Caller<R> {
    /// The token's configured name: the actor in the audit log.
    pub name: String,
    pub role: Role,
    // `fn() -> R`: the role is only a type, so a caller is `Send` whatever `R` is.
    needs: PhantomData<fn() -> R>,
}

impl<R: NeedsRole, S> FromRequestParts<S> for Caller<R>
where
    Tokens: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let who = Tokens::from_ref(state).authenticate(&parts.headers)?;
        if who.role < R::ROLE {
            return Err(ApiError::forbidden(
                format!(
                    "token `{}` has role {:?}; this needs {:?}",
                    who.name,
                    who.role,
                    R::ROLE
                )
                .to_lowercase(),
            ));
        }
        Ok(Caller {
            name: who.name,
            role: who.role,
            needs: PhantomData,
        })
    }
}

/// A request about the record its path names: `ById(caller, state, id)`, the caller known
/// to hold role `R`, the router's state and the path's one parameter. The caller is judged
/// first, like [`super::Path`] after a [`Caller`], so that an unauthenticated request
/// learns nothing but 401.
pub struct ById<R, S>(pub Caller<R>, pub S, pub String);

impl<R: NeedsRole, S> FromRequestParts<S> for ById<R, S>
where
    Tokens: FromRef<S>,
    S: Clone + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::<R>::from_request_parts(parts, state).await?;
        let super::Path(id) = super::Path::<String>::from_request_parts(parts, state).await?;
        Ok(ById(caller, state.clone(), id))
    }
}
