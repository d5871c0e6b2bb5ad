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
        self.by_token(token)
            .ok_or_else(|| ApiError::unauthorized("unknown token"))
    }

    /// The holder of `token`, comparing every configured token in constant time.
    pub fn by_token(&self, token: &str) -> Option<Identity> {
        let mut found = None;
        for (name, role, secret) in self.tokens.iter() {
            if secret.matches(token.as_bytes()) && found.is_none() {
                found = Some(Identity {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found
    }

    /// The holder of the token whose SHA-256 is `digest` (as [`token_digest`] makes it),
    /// while that token is still configured: a sign-in kept elsewhere ends when its token
    /// is removed. Every token is compared, in constant time.
    pub fn by_digest(&self, digest: &[u8]) -> Option<Identity> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for (name, role, secret) in self.tokens.iter() {
            let same: bool = token_digest(secret.expose()).ct_eq(digest).into();
            if same && found.is_none() {
                found = Some(Identity {
                    name: name.clone(),
                    role: *role,
                });
            }
        }
        found
    }
}

/// SHA-256 of a token: what may be stored to recognise it later, never the token itself.
pub fn token_digest(token: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}
