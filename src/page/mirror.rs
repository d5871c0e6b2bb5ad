//! The page as static files, for the mirror publisher: every public path rendered through
//! the page's own router, so the files hold exactly the bytes statusgate serves.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use super::PageState;
use crate::publish::targets::mirror::{MirrorFile, Surface};
use crate::publish::PublicState;

/// Fixed paths and the file each one becomes. Pages linked from others come after them
/// in [`Surface::files`], so a reader never follows a link to a file not yet written.
const FIXED: &[(&str, &str)] = &[
    ("/assets/style.css", "assets/style.css"),
    ("/favicon.svg", "favicon.svg"),
    ("/badge.svg", "badge.svg"),
    ("/api/v2/summary.json", "api/v2/summary.json"),
    ("/api/v2/status.json", "api/v2/status.json"),
    ("/api/v2/components.json", "api/v2/components.json"),
    ("/api/v2/incidents.json", "api/v2/incidents.json"),
    (
        "/api/v2/incidents/unresolved.json",
        "api/v2/incidents/unresolved.json",
    ),
    (
        "/api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances.json",
    ),
    (
        "/api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/upcoming.json",
    ),
    (
        "/api/v2/scheduled-maintenances/active.json",
        "api/v2/scheduled-maintenances/active.json",
    ),
    ("/api/v2/uptime.json", "api/v2/uptime.json"),
    ("/api/v2/slo.json", "api/v2/slo.json"),
    ("/history.atom", "history.atom"),
    ("/history.rss", "history.rss"),
    ("/history", "history/index.html"),
    ("/", "index.html"),
];

/// The page's router, asked in-process.
#[derive(Clone)]
pub struct PageSurface {
    router: Router,
    public: PublicState,
}

impl PageSurface {
    pub fn new(state: PageState) -> PageSurface {
        PageSurface {
            public: state.public.clone(),
            router: super::router(state),
        }
    }

    /// The status and body the page answers at `uri`.
    async fn get(&self, uri: &str) -> Result<(StatusCode, bytes::Bytes), String> {
        let request = Request::get(uri)
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| format!("{uri}: {e}"))?;
        Ok((status, body))
    }
}

#[async_trait::async_trait]
impl Surface for PageSurface {
    async fn files(&self) -> Result<Vec<MirrorFile>, String> {
        let mut paths: Vec<(String, String)> = Vec::new();
        let incidents = self.public.incidents().map_err(|e| e.to_string())?;
        let maintenances = self.public.maintenances().map_err(|e| e.to_string())?;
        let ids = incidents
            .iter()
            .map(|i| i.id.clone())
            .chain(maintenances.iter().map(|m| m.id.clone()));
        for id in ids {
            paths.push((
                format!("/incidents/{id}"),
                format!("incidents/{id}/index.html"),
            ));
        }
        for c in self.public.components().map_err(|e| e.to_string())? {
            let id = &c.info.id;
            paths.push((
                format!("/components/{id}/badge.svg"),
                format!("components/{id}/badge.svg"),
            ));
        }
        paths.extend(FIXED.iter().map(|(u, f)| (u.to_string(), f.to_string())));
        let mut out = Vec::with_capacity(paths.len() + 1);
        for (uri, path) in paths {
            match self.get(&uri).await? {
                (StatusCode::OK, body) => out.push(MirrorFile { path, body }),
                // Nothing there (a component not on the public page): not mirrored either.
                (StatusCode::NOT_FOUND, _) => {}
                (s, _) => return Err(format!("{uri} answered {s}")),
            }
        }
        // The page a bucket website shows for a path nobody serves.
        if let (StatusCode::NOT_FOUND, body) = self.get("/incidents/-").await? {
            out.push(MirrorFile {
                path: "404.html".into(),
                body,
            });
        }
        Ok(out)
    }
}
