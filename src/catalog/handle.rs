//! The catalog in force, swapped whole when a reload succeeds; `reload` does the watching.

use std::sync::{Arc, RwLock};

use super::Catalog;

/// The catalog in force, shared by the pipeline and the ops endpoints.
#[derive(Clone)]
pub struct CatalogHandle {
    current: Arc<RwLock<Arc<Catalog>>>,
    last_error: Arc<RwLock<Option<String>>>,
}

impl CatalogHandle {
    pub fn new(catalog: Catalog) -> Self {
        CatalogHandle {
            current: Arc::new(RwLock::new(Arc::new(catalog))),
            last_error: Arc::new(RwLock::new(None)),
        }
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.current
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The reason the last reload was refused, if it was.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.read().ok().and_then(|e| e.clone())
    }

    pub(crate) fn set(&self, catalog: Catalog) {
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(catalog);
        }
        if let Ok(mut e) = self.last_error.write() {
            *e = None;
        }
    }

    pub(crate) fn refuse(&self, reason: String) {
        if let Ok(mut e) = self.last_error.write() {
            *e = Some(reason);
        }
    }
}
