//! Management API tokens and their roles. Unknown or missing token: 401; a role that does
//! not allow the action: 403.

use std::sync::Arc;

use axum::http::{header, HeaderMap};

use super::ApiError;
use crate::config::{Role, Secret};

/// A token's holder; endpoints take [`super::Caller`], which also checks the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Arc<Vec<(String, Role, Secret)>>,
}

impl Tokens {
    pub fn new(tokens: Vec<(String, Role, Secret)>) -> Self {
        Tokens {
            tokens: Arc::new(tokens),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Finds the caller by bearer token. Every configured token is compared (in constant
    /// time), so the answer time does not say which one came close.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <token>"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        let mut found = None;
        for (name, role, secret) in self.tokens.iter() {
            if secret.matches(token.as_bytes()) && found.is_none() {
                found = Some(Identity {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found.ok_or_else(|| ApiError::unauthorized("unknown token"))
    }
}
