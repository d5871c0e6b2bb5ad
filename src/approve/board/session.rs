//! Who is looking at the board: a bearer token (tools), or a session cookie set by signing
//! in with a token on `/internal/login` (browsers).
//!
//! Sessions are kept in the store (table `board_sessions`), not in a signed cookie: signing
//! out then really ends the session everywhere, its expiry is enforced by the server, and
//! every replica reads the same table, so one replica's cookie works on all. The cookie is
//! 256 random bits; the table is keyed by its SHA-256, so a dump of the store holds no
//! usable cookie. A session remembers its token only as a digest and ends as soon as that
//! token is no longer configured; its role is the token's role now.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{BoardError, BoardState};
use crate::config::Role;
use crate::http::{token_digest, Form, Identity, Path, Tokens};
use crate::store::{Store, StoreError, Table};

pub const SESSIONS_TABLE: &str = "board_sessions";
pub const COOKIE: &str = "statusgate_board";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    /// SHA-256 of the token signed in with, hex.
    token: String,
    csrf: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The sessions, and how their cookies are written.
#[derive(Clone)]
pub struct Sessions {
    table: Table,
    lifetime: Duration,
    secure: bool,
}

/// A fresh sign-in: the cookie to set and when it ends.
pub struct SignedIn {
    pub cookie: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key_of(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

impl Sessions {
    /// `secure`: the cookie carries `Secure` (when `public_url` is https).
    pub fn open(
        store: &Store,
        lifetime: std::time::Duration,
        secure: bool,
    ) -> Result<Self, StoreError> {
        Ok(Sessions {
            table: store.table(SESSIONS_TABLE)?,
            lifetime: Duration::from_std(lifetime).unwrap_or(Duration::hours(12)),
            secure,
        })
    }

    /// Starts a session for `token` (already checked), dropping expired ones on the way.
    pub fn start(&self, token: &str, now: DateTime<Utc>) -> Result<SignedIn, StoreError> {
        for (key, s) in self.table.scan::<Session>()? {
            if s.expires_at <= now {
                self.table.remove(&key)?;
            }
        }
        let value = random_token();
        let expires_at = now + self.lifetime;
        self.table.put(
            &key_of(&value),
            &Session {
                token: hex::encode(token_digest(token)),
                csrf: random_token(),
                created_at: now,
                expires_at,
            },
        )?;
        Ok(SignedIn {
            cookie: self.cookie(&value, expires_at, now),
        })
    }

    /// `Set-Cookie` for a session that ends at `expires_at`.
    fn cookie(&self, value: &str, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
        let max_age = (expires_at - now).num_seconds().max(0);
        let expires = expires_at.format("%a, %d %b %Y %H:%M:%S GMT");
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={value}; Path=/internal; Max-Age={max_age}; Expires={expires}; HttpOnly; SameSite=Strict{secure}")
    }

    /// `Set-Cookie` that makes the browser forget the session.
    pub fn cleared(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/internal; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict{secure}")
    }

    /// The session behind a cookie value, while it lasts and its token is configured.
    fn find(
        &self,
        value: &str,
        tokens: &Tokens,
        now: DateTime<Utc>,
    ) -> Result<Option<(Identity, String)>, StoreError> {
        let key = key_of(value);
        let Some(s) = self.table.get::<Session>(&key)? else {
            return Ok(None);
        };
        if s.expires_at <= now {
            self.table.remove(&key)?;
            return Ok(None);
        }
        let Ok(digest) = hex::decode(&s.token) else {
            return Ok(None);
        };
        Ok(tokens.by_digest(&digest).map(|who| (who, s.csrf)))
    }

    /// Ends the session behind a cookie value.
    pub fn end(&self, value: &str) -> Result<(), StoreError> {
        self.table.remove(&key_of(value))
    }
}

/// The session cookie's value in a request, if any.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Who is looking, by bearer token or session cookie.
pub struct Viewer {
    pub name: String,
    pub role: Role,
    /// The session's CSRF token; `None` for a bearer token, which a browser never sends
    /// on its own, so forgery is not possible there.
    pub csrf: Option<String>,
    /// The session cookie's value (to sign out).
    pub cookie: Option<String>,
}

impl Viewer {
    pub fn may_decide(&self) -> bool {
        self.role >= Role::Approver
    }

    /// A change: needs an approver, and from a browser session the form's CSRF token.
    pub fn check_change(&self, form: &Form) -> Result<(), BoardError> {
        self.check_csrf(form)?;
        if !self.may_decide() {
            return Err(BoardError::forbidden(
                format!(
                "{} has role {:?}; editing, approving, rejecting and declaring need an approver",
                self.name, self.role
            )
                .to_lowercase(),
            ));
        }
        Ok(())
    }

    /// The form's `csrf` field against the session's, in constant time.
    pub fn check_csrf(&self, form: &Form) -> Result<(), BoardError> {
        let Some(expected) = &self.csrf else {
            return Ok(());
        };
        let given = form.get("csrf").unwrap_or("");
        let same: bool = Sha256::digest(given.as_bytes())
            .ct_eq(&Sha256::digest(expected.as_bytes()))
            .into();
        if given.is_empty() || !same {
            return Err(BoardError::forbidden(
                "the form's CSRF token is missing or wrong; reload the board and try again",
            ));
        }
        Ok(())
    }
}

/// A change to one draft or incident (`/internal/.../{id}/...`): who asks, which id, and
/// the form, already checked for the approver role and the CSRF token. Refusals come in
/// the order the handlers always gave them: who, then the path, then the form.
pub struct Change {
    pub viewer: Viewer,
    pub id: String,
    pub form: Form,
}

impl FromRequest<BoardState> for Change {
    type Rejection = BoardError;

    async fn from_request(req: Request, state: &BoardState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(&mut parts, state).await?;
        let form = Form::from_request(Request::from_parts(parts, body), state).await?;
        viewer.check_change(&form)?;
        Ok(Change { viewer, id, form })
    }
}

impl FromRequestParts<BoardState> for Viewer {
    type Rejection = BoardError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &BoardState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let who = state
                .api
                .tokens
                .authenticate(&parts.headers)
                .map_err(BoardError::from)?;
            return Ok(Viewer {
                name: who.name,
                role: who.role,
                csrf: None,
                cookie: None,
            });
        }
        let Some(value) = cookie_value(&parts.headers) else {
            return Err(BoardError::SignIn);
        };
        match state.sessions.find(&value, &state.api.tokens, Utc::now())? {
            Some((who, csrf)) => Ok(Viewer {
                name: who.name,
                role: who.role,
                csrf: Some(csrf),
                cookie: Some(value),
            }),
            None => Err(BoardError::SignIn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn tokens() -> Tokens {
        Tokens::new(vec![(
            "oncall".into(),
            Role::Approver,
            Secret::new("the-token"),
        )])
    }

    fn value_of(cookie: &str) -> &str {
        cookie
            .split(';')
            .next()
            .and_then(|p| p.split_once('='))
            .map(|(_, v)| v)
            .unwrap_or("")
    }

    #[test]
    fn a_session_lasts_its_lifetime_and_ends_with_its_token_or_a_sign_out() {
        let (_dir, store) = Store::temporary();
        let sessions = Sessions::open(&store, std::time::Duration::from_secs(600), true).unwrap();
        let t0 = Utc::now();
        let signed = sessions.start("the-token", t0).unwrap();
        assert!(signed.cookie.contains("; Secure"), "{}", signed.cookie);
        assert!(signed.cookie.contains("Max-Age=600;"), "{}", signed.cookie);
        let value = value_of(&signed.cookie);
        let found = sessions
            .find(value, &tokens(), t0 + Duration::seconds(599))
            .unwrap();
        assert_eq!(found.map(|(who, _)| who.name).as_deref(), Some("oncall"));
        assert!(sessions
            .find(value, &tokens(), t0 + Duration::seconds(600))
            .unwrap()
            .is_none());
        // Expired: gone from the store, not merely refused.
        assert!(sessions
            .table
            .get::<Session>(&key_of(value))
            .unwrap()
            .is_none());

        let signed = sessions.start("the-token", t0).unwrap();
        let value = value_of(&signed.cookie);
        let other = Tokens::new(vec![("x".into(), Role::Admin, Secret::new("another"))]);
        assert!(sessions.find(value, &other, t0).unwrap().is_none());
        sessions.end(value).unwrap();
        assert!(sessions.find(value, &tokens(), t0).unwrap().is_none());
        assert!(!sessions.cleared().is_empty());
        // The store never holds the cookie or the token.
        let dump = format!("{:?}", sessions.table.scan::<serde_json::Value>().unwrap());
        assert!(
            !dump.contains(value) && !dump.contains("the-token"),
            "{dump}"
        );
    }

    #[test]
    fn plain_http_cookies_are_not_secure() {
        let (_dir, store) = Store::temporary();
        let sessions = Sessions::open(&store, std::time::Duration::from_secs(60), false).unwrap();
        let c = sessions.start("the-token", Utc::now()).unwrap().cookie;
        assert!(!c.contains("Secure"), "{c}");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/internal")
        );
    }
}
