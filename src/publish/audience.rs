//! Audiences (DESIGN.md "Audiences"): who reads which part of the public state. The public
//! page is the audience with no components of its own; a tenant's page adds the components
//! whose mapping names it. Every surface — the page, its JSON and feeds, subscribers and
//! publishers — asks one [`Visibility`] what its reader may see, so no surface decides it
//! on its own.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{ComponentInfo, Incident, Maintenance, PublicComponent, PublicState};
use crate::config::{Config, Secret};

/// A configured audience with its token.
#[derive(Debug, Clone)]
pub struct Audience {
    pub id: String,
    pub name: String,
    token: Secret,
}

impl Audience {
    pub fn new(id: &str, name: &str, token: Secret) -> Audience {
        Audience {
            id: id.to_string(),
            name: name.to_string(),
            token,
        }
    }

    /// Every configured audience whose token resolved (loading refuses one without).
    pub fn from_config(config: &Config) -> Vec<Audience> {
        config
            .audiences
            .iter()
            .filter_map(|a| {
                let token = config.secrets.audiences.get(&a.id)?;
                Some(Audience::new(&a.id, a.display_name(), token.clone()))
            })
            .collect()
    }

    /// The `?key=` of the audience's links: derived from the token, so it changes when the
    /// token is rotated, and it names this audience only (a key of one audience opens no
    /// other page).
    pub fn key(&self) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.token.expose().as_bytes()) else {
            return String::new();
        };
        mac.update(b"statusgate audience link:");
        mac.update(self.id.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..20])
    }

    /// Whether a request with this bearer token or link key may read the audience's page
    /// (both compared in constant time).
    pub fn admits(&self, bearer: Option<&str>, key: Option<&str>) -> bool {
        let by_token = bearer.is_some_and(|t| self.token.matches(t.as_bytes()));
        let by_key = key.is_some_and(|k| Secret::new(self.key()).matches(k.as_bytes()));
        by_token | by_key
    }
}

/// What one reader may see: the components visible to them, fixed for one reading.
pub struct Visibility {
    audience: Option<String>,
    visible: BTreeSet<String>,
}

impl Visibility {
    /// For the catalog `infos`, as `audience` (`None`: the public) sees it.
    pub fn new(infos: &[ComponentInfo], audience: Option<&str>) -> Visibility {
        Visibility {
            audience: audience.map(str::to_string),
            visible: infos
                .iter()
                .filter(|c| c.visible_to(audience))
                .map(|c| c.id.clone())
                .collect(),
        }
    }

    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    pub fn component(&self, id: &str) -> bool {
        self.visible.contains(id)
    }

    /// Whether something touching `ids` concerns this reader: it names no component at all,
    /// or one they see. A component unknown to the catalog counts as unseen, so removing an
    /// audience's component from the mappings never makes its incidents public.
    pub fn touches<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> bool {
        let mut any = false;
        for id in ids {
            if self.component(id) {
                return true;
            }
            any = true;
        }
        !any
    }

    pub fn components(&self, list: Vec<PublicComponent>) -> Vec<PublicComponent> {
        list.into_iter()
            .filter(|c| self.component(&c.info.id))
            .collect()
    }

    /// The incident as this reader sees it (only components they see), or `None`.
    pub fn incident(&self, i: &Incident) -> Option<Incident> {
        if !self.touches(i.components.keys()) {
            return None;
        }
        let mut i = i.clone();
        i.components.retain(|id, _| self.component(id));
        for u in &mut i.updates {
            u.affected_components.retain(|a| self.component(&a.code));
        }
        Some(i)
    }

    pub fn maintenance(&self, m: &Maintenance) -> Option<Maintenance> {
        if !self.touches(&m.components) {
            return None;
        }
        let mut m = m.clone();
        m.components.retain(|id| self.component(id));
        for u in &mut m.updates {
            u.affected_components.retain(|a| self.component(&a.code));
        }
        Some(m)
    }
}

impl PublicState {
    /// What `audience` (`None`: the public) may see of the catalog as it stands.
    pub fn visibility(&self, audience: Option<&str>) -> Visibility {
        let infos = self.catalog.read().map(|c| c.clone()).unwrap_or_default();
        Visibility::new(&infos, audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, public: bool, audiences: &[&str]) -> ComponentInfo {
        ComponentInfo {
            id: id.into(),
            name: id.into(),
            group: None,
            description: None,
            position: 0,
            public,
            depends_on: Vec::new(),
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            slo: None,
        }
    }

    #[test]
    fn each_reader_sees_public_components_and_only_its_own() {
        let infos = [
            info("api", true, &[]),
            info("db", false, &[]),
            info("acme-db", true, &["acme"]),
            info("globex-db", true, &["globex"]),
        ];
        let ids = |v: &Visibility| {
            ["api", "db", "acme-db", "globex-db"]
                .into_iter()
                .filter(|id| v.component(id))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&Visibility::new(&infos, None)), ["api"]);
        assert_eq!(
            ids(&Visibility::new(&infos, Some("acme"))),
            ["api", "acme-db"]
        );
        assert_eq!(
            ids(&Visibility::new(&infos, Some("globex"))),
            ["api", "globex-db"]
        );
        let public = Visibility::new(&infos, None);
        let own = ["acme-db".to_string()];
        let unknown = ["gone".to_string()];
        assert!(!public.touches(&own) && !public.touches(&unknown));
        assert!(public.touches(&[]));
    }

    #[test]
    fn link_keys_belong_to_one_audience_and_token() {
        let acme = Audience::new("acme", "Acme", Secret::new("t0ken"));
        let globex = Audience::new("globex", "Globex", Secret::new("t0ken"));
        assert_ne!(acme.key(), globex.key());
        assert!(!acme.key().contains("t0ken"));
        assert!(acme.admits(None, Some(&acme.key())));
        assert!(!acme.admits(None, Some(&globex.key())));
        assert!(acme.admits(Some("t0ken"), None));
        assert!(!acme.admits(Some("other"), Some("")));
        assert!(!acme.admits(None, None));
    }
}
