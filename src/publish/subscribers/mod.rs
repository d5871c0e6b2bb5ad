//! Subscribers of the built-in page: signed webhooks and (double opt-in) email addresses,
//! optionally for some components only. Confirm and unsubscribe links carry a token derived
//! from a key kept in the store, so nothing secret about them is stored per subscriber and
//! they stay valid for as long as the subscription exists.
//!
//! Inside: the subscriber records and their link tokens (here) and [`links`], the confirm
//! and unsubscribe pages those links open.

mod choice;
pub mod links;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::audience::Visibility;
use super::ComponentInfo;
use crate::store::{Result, Store, StoreError, Table};

pub const SUBSCRIBERS_TABLE: &str = "subscribers";
const META_TABLE: &str = "publish_meta";
const LINK_KEY: &str = "link_key";

/// Where a subscriber's updates go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Channel {
    Webhook {
        url: String,
        /// `whsec_…`; kept to sign, never shown.
        secret: String,
    },
    Email {
        email: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberState {
    /// An email address that has not followed its confirm link yet.
    PendingConfirmation,
    Active,
    /// A webhook endpoint that answered 410 Gone.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: String,
    pub channel: Channel,
    /// Only these components; all when absent (and `groups` absent too).
    pub components: Option<Vec<String>>,
    /// Only the components of these groups (besides `components`), as the catalog has them
    /// at each delivery.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// Receives what this audience's page shows (the public incidents and its own);
    /// `None`: what the public page shows.
    #[serde(default)]
    pub audience: Option<String>,
    pub state: SubscriberState,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

impl Subscriber {
    /// The target name its outbox entries carry.
    pub fn target(&self) -> String {
        format!("subscriber:{}", self.id)
    }

    /// The components this subscriber chose, its groups' members included (`infos`: the
    /// catalog); `None`: every component it may see.
    pub fn only(&self, infos: &[ComponentInfo]) -> Option<Vec<String>> {
        if self.components.is_none() && self.groups.is_none() {
            return None;
        }
        let mut ids = self.components.clone().unwrap_or_default();
        let groups = self.groups.as_deref().unwrap_or_default();
        for c in infos {
            if c.group.as_ref().is_some_and(|g| groups.contains(g)) && !ids.contains(&c.id) {
                ids.push(c.id.clone());
            }
        }
        Some(ids)
    }

    /// Whether an update touching `components` concerns this subscriber.
    pub fn wants<'a>(
        &self,
        mut components: impl Iterator<Item = &'a String>,
        infos: &[ComponentInfo],
    ) -> bool {
        match self.only(infos) {
            None => true,
            Some(only) => components.any(|c| only.contains(c)),
        }
    }

    /// What the API shows: never the secret.
    pub fn view(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "components": self.components,
            "groups": self.groups,
            "audience": self.audience,
            "state": self.state,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "confirmed_at": self.confirmed_at,
            "reason": self.reason,
        });
        match &self.channel {
            Channel::Webhook { url, .. } => {
                v["type"] = "webhook".into();
                // Never the whole URL: its query often holds the receiver's token.
                v["url"] = super::targets::display_url(url).into();
            }
            Channel::Email { email } => {
                v["type"] = "email".into();
                v["email"] = email.as_str().into();
            }
        }
        v
    }
}

/// Checks a subscriber's choice of components and groups against what its reader sees:
/// each named component visible to it, each group holding one it sees, and a list, when
/// given, not empty.
pub fn check_choice(
    seen: &Visibility,
    infos: &[ComponentInfo],
    components: Option<&[String]>,
    groups: Option<&[String]>,
) -> std::result::Result<(), String> {
    if components.is_some_and(<[String]>::is_empty) {
        return Err("components: name at least one component, or leave it out for all".into());
    }
    if groups.is_some_and(<[String]>::is_empty) {
        return Err("groups: name at least one group, or leave it out".into());
    }
    for c in components.unwrap_or_default() {
        if !seen.component(c) {
            return Err(format!("components: unknown component `{c}`"));
        }
    }
    for g in groups.unwrap_or_default() {
        let known = infos
            .iter()
            .any(|c| c.group.as_ref() == Some(g) && seen.component(&c.id));
        if !known {
            return Err(format!("groups: unknown group `{g}`"));
        }
    }
    Ok(())
}

/// Which link a token is for; a confirm token cannot unsubscribe and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Confirm,
    Unsubscribe,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Confirm => "confirm",
            LinkPurpose::Unsubscribe => "unsubscribe",
        }
    }
}

#[derive(Clone)]
pub struct Subscribers {
    store: Store,
    table: Table,
    link_key: Vec<u8>,
}

impl Subscribers {
    pub fn open(store: &Store) -> Result<Subscribers> {
        let meta = store.table(META_TABLE)?;
        let link_key = match meta.get::<String>(LINK_KEY)? {
            Some(k) => hex::decode(k).map_err(|e| StoreError::Corrupt {
                table: META_TABLE.into(),
                key: LINK_KEY.into(),
                reason: e.to_string(),
            })?,
            None => {
                let key: [u8; 32] = rand::random();
                meta.put(LINK_KEY, &hex::encode(key))?;
                key.to_vec()
            }
        };
        Ok(Subscribers {
            store: store.clone(),
            table: store.table(SUBSCRIBERS_TABLE)?,
            link_key,
        })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn get(&self, id: &str) -> Result<Option<Subscriber>> {
        self.table.get(id)
    }

    /// Every subscriber, oldest first.
    pub fn list(&self) -> Result<Vec<Subscriber>> {
        let mut all: Vec<Subscriber> = self.table.scan()?.into_iter().map(|(_, s)| s).collect();
        all.sort_by_key(|s| (s.created_at, s.id.clone()));
        Ok(all)
    }

    /// A fresh subscriber id.
    pub fn next_id(&self) -> Result<String> {
        Ok(format!("SUB-{}", self.store.counter("subscriber")?))
    }

    pub fn put(&self, s: &Subscriber) -> Result<()> {
        self.table.put(&s.id, s)
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        self.table.remove(id)
    }

    /// The token of a subscriber's confirm or unsubscribe link.
    pub fn token(&self, id: &str, purpose: LinkPurpose) -> String {
        format!("{id}.{}", hex::encode(self.mac(id, purpose)))
    }

    /// The subscriber id a link token names, if the token is genuine (compared in
    /// constant time). The subscriber may since have been removed.
    pub fn check_token(&self, token: &str, purpose: LinkPurpose) -> Option<String> {
        let (id, mac) = token.trim().split_once('.')?;
        let given = hex::decode(mac).ok()?;
        let expected = self.mac(id, purpose);
        (given.len() == expected.len() && bool::from(given.ct_eq(&expected)))
            .then(|| id.to_string())
    }

    fn mac(&self, id: &str, purpose: LinkPurpose) -> Vec<u8> {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.link_key) else {
            return Vec::new();
        };
        mac.update(purpose.as_str().as_bytes());
        mac.update(b":");
        mac.update(id.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_bound_to_subscriber_and_purpose() {
        let (_dir, store) = Store::temporary();
        let subs = Subscribers::open(&store).unwrap();
        let s = Subscriber {
            id: "SUB-1".into(),
            channel: Channel::Email {
                email: "a@example.com".into(),
            },
            components: None,
            groups: None,
            audience: None,
            state: SubscriberState::PendingConfirmation,
            created_at: Utc::now(),
            created_by: "admin".into(),
            confirmed_at: None,
            reason: None,
        };
        subs.put(&s).unwrap();
        let confirm = subs.token("SUB-1", LinkPurpose::Confirm);
        assert_eq!(
            subs.check_token(&confirm, LinkPurpose::Confirm),
            Some("SUB-1".to_string())
        );
        assert!(subs
            .check_token(&confirm, LinkPurpose::Unsubscribe)
            .is_none());
        let forged = confirm.replace("SUB-1", "SUB-2");
        assert!(subs.check_token(&forged, LinkPurpose::Confirm).is_none());
        assert!(subs.check_token("SUB-1.zz", LinkPurpose::Confirm).is_none());
        assert!(subs.check_token("", LinkPurpose::Confirm).is_none());
        // The key survives a restart, so links in mails already sent keep working.
        drop(subs);
        let again = Subscribers::open(&store).unwrap();
        assert_eq!(again.token("SUB-1", LinkPurpose::Confirm), confirm);
    }

    #[test]
    fn component_filters_select_updates() {
        let mut s = Subscriber {
            id: "SUB-1".into(),
            channel: Channel::Webhook {
                url: "http://x".into(),
                secret: "whsec_x".into(),
            },
            components: Some(vec!["api".into()]),
            groups: None,
            audience: None,
            state: SubscriberState::Active,
            created_at: Utc::now(),
            created_by: "admin".into(),
            confirmed_at: None,
            reason: None,
        };
        let api = ["api".to_string()];
        let web = ["web".to_string()];
        let info = |id: &str, group: Option<&str>| ComponentInfo {
            id: id.into(),
            name: id.into(),
            group: group.map(str::to_string),
            description: None,
            position: 0,
            public: true,
            depends_on: Vec::new(),
            audiences: Vec::new(),
            slo: None,
        };
        let infos = [info("api", None), info("web", Some("Core"))];
        assert!(s.wants(api.iter(), &infos));
        assert!(!s.wants(web.iter(), &infos));
        // A whole group: its members as the catalog has them.
        s.groups = Some(vec!["Core".into()]);
        assert!(s.wants(web.iter(), &infos));
        assert_eq!(s.only(&infos), Some(vec!["api".into(), "web".into()]));
        s.components = None;
        s.groups = None;
        assert!(s.wants(web.iter(), &infos));
        assert!(!s.view().to_string().contains("whsec_"));
    }
}
