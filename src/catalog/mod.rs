//! The catalog: mapping files (DESIGN.md "Mapping files") that turn alert labels into
//! status-page components. Pure: files in, routing decisions out.
//!
//! Routes are tried in file order (files in name order); the first match wins unless it
//! says `continue: true`. An index built at load time keeps routing fast for large catalogs
//! without changing that order (see `index.rs`).

mod entries;
mod handle;
mod index;
mod lines;
mod load;
pub mod matcher;
mod pattern;
mod testing;
mod yaml;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::vocab::ComponentStatus;

pub use handle::CatalogHandle;
pub use matcher::{MatchOp, Matcher};
#[doc(hidden)]
pub use yaml::agrees_with_reference;

/// Alert labels, by name.
pub type Labels = BTreeMap<String, String>;

/// A user-facing part of the service, as shown on the status page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Component {
    pub id: String,
    /// Shown to customers.
    pub name: String,
    pub group: Option<String>,
    pub description: Option<String>,
    pub depends_on: Vec<String>,
    /// Internal components (`public: false`) can be routed to but are never shown.
    pub public: bool,
    /// Only on these audiences' pages (`/a/{id}/`), never on the public one; empty: public.
    pub audiences: Vec<String>,
    /// Order of declaration across files.
    pub position: usize,
    /// Its service level objective, shown on the page with its error budget.
    pub slo: Option<crate::vocab::Slo>,
}

/// What the catalog says about one alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Routing {
    /// component id -> proposed status (worst wins when several matching routes name the
    /// same component), plus the names of the routes that contributed, in order.
    Mapped {
        components: BTreeMap<String, ComponentStatus>,
        routes: Vec<String>,
    },
    /// An `ignore: true` route matched first (name of that route).
    Ignored { route: String },
    /// No route matched.
    Unmapped,
}

/// The result of one `tests:` entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TestOutcome {
    /// The mapping file and the line of the test in it.
    pub file: String,
    pub line: usize,
    pub name: String,
    /// True when `got` equals `expected` exactly.
    pub passed: bool,
    pub expected: BTreeMap<String, ComponentStatus>,
    /// What the catalog proposed; empty for an ignored or unmapped alert.
    pub got: BTreeMap<String, ComponentStatus>,
    /// Routes that matched (the ignore route for an ignored alert), for the failure message.
    pub routes: Vec<String>,
}

/// Every problem found, each with its place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct CatalogError {
    pub problems: Vec<Problem>,
}

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct Problem {
    /// The path as given, e.g. `mappings/10-core.yaml`.
    pub file: String,
    /// 1-based; 0 if unknown.
    pub line: usize,
    pub reason: String,
}

/// One route, validated.
#[derive(Debug, Clone)]
struct Route {
    name: String,
    matchers: Vec<Matcher>,
    components: Vec<String>,
    /// By the value of the alert's `severity` label; a list, as there are only a handful.
    status: Vec<(String, ComponentStatus)>,
    /// `default_status`, or `partial_outage` when the file names none.
    default_status: ComponentStatus,
    continue_: bool,
    ignore: bool,
}

impl Route {
    /// Matching by label map; routing itself goes through the index's label slots.
    #[cfg(test)]
    fn matches(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    fn status_for(&self, labels: &Labels) -> ComponentStatus {
        labels
            .get("severity")
            .and_then(|s| self.status.iter().find(|(k, _)| k == s))
            .map(|&(_, status)| status)
            .unwrap_or(self.default_status)
    }
}

/// One `tests:` entry, validated.
#[derive(Debug, Clone)]
struct TestCase {
    file: String,
    line: usize,
    name: String,
    labels: Labels,
    expect: BTreeMap<String, ComponentStatus>,
}

/// The loaded, validated mapping files.
#[derive(Debug, Clone)]
pub struct Catalog {
    components: Vec<Component>,
    by_id: HashMap<String, usize>,
    routes: Vec<Route>,
    index: index::Index,
    tests: Vec<TestCase>,
}

impl Catalog {
    /// Loads a file or a directory (every *.yaml / *.yml directly in it, in file-name order).
    /// All problems are collected, not just the first.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        load::load_path(path, None)
    }

    /// As [`Catalog::load`], and every `audiences:` entry must name one of `audiences` (the
    /// configuration's), so a typo cannot hide a component from the tenant it is for.
    pub fn load_for(path: &Path, audiences: &[String]) -> Result<Catalog, CatalogError> {
        load::load_path(path, Some(audiences))
    }

    /// Same from in-memory (file name, text) pairs, in the given order — used by tests and
    /// `statusgate render`.
    pub fn from_sources(sources: &[(String, String)]) -> Result<Catalog, CatalogError> {
        load::from_sources(sources, None)
    }

    /// As [`Catalog::from_sources`], checking `audiences:` entries as [`Catalog::load_for`].
    pub fn from_sources_for(
        sources: &[(String, String)],
        audiences: &[String],
    ) -> Result<Catalog, CatalogError> {
        load::from_sources(sources, Some(audiences))
    }

    /// A catalog with no components and no routes: every alert is unmapped.
    pub fn empty() -> Catalog {
        Catalog::build(Vec::new(), Vec::new(), Vec::new())
    }

    fn build(components: Vec<Component>, routes: Vec<Route>, tests: Vec<TestCase>) -> Catalog {
        let by_id = components
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let index = index::Index::build(&routes);
        Catalog {
            components,
            by_id,
            routes,
            index,
            tests,
        }
    }

    /// Where the catalog sends an alert with these labels.
    pub fn route(&self, labels: &Labels) -> Routing {
        let alert = self.index.values(labels);
        self.route_over(labels, self.index.candidates(labels), |i, route| {
            self.index.may_match(i, &alert)
                && route
                    .matchers
                    .iter()
                    .zip(self.index.slots(i))
                    .all(|(m, &slot)| m.matches_value(alert.get(slot)))
        })
    }

    /// Routing over the given route indices, which must be ascending and include every route
    /// that could match; the index supplies them, a test supplies all of them.
    fn route_over(
        &self,
        labels: &Labels,
        candidates: impl Iterator<Item = u32>,
        matches: impl Fn(u32, &Route) -> bool,
    ) -> Routing {
        let mut components: BTreeMap<String, ComponentStatus> = BTreeMap::new();
        let mut matched = Vec::new();
        for i in candidates {
            let Some(route) = self.routes.get(i as usize) else {
                continue;
            };
            if !matches(i, route) {
                continue;
            }
            if route.ignore {
                if matched.is_empty() {
                    return Routing::Ignored {
                        route: route.name.clone(),
                    };
                }
                break;
            }
            let status = route.status_for(labels);
            for id in &route.components {
                let slot = components.entry(id.clone()).or_insert(status);
                *slot = (*slot).max(status);
            }
            matched.push(route.name.clone());
            if !route.continue_ {
                break;
            }
        }
        if matched.is_empty() {
            Routing::Unmapped
        } else {
            Routing::Mapped {
                components,
                routes: matched,
            }
        }
    }

    /// All components, in declaration order.
    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.by_id.get(id).and_then(|&i| self.components.get(i))
    }

    /// How many routes the catalog holds.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Runs every `tests:` entry of every file.
    pub fn run_tests(&self) -> Vec<TestOutcome> {
        testing::run(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ComponentStatus::*;

    fn catalog(yaml: &str) -> Catalog {
        Catalog::from_sources(&[("m.yaml".into(), yaml.into())]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const YAML: &str = r#"
components:
  - {id: api, name: Public API}
  - {id: web, name: Web app, depends_on: [api]}
  - {id: db, name: Database, public: false}
routes:
  - name: db-everything
    match: ['service="db"']
    components: [db]
    continue: true
  - name: db-hits-api
    match: ['service="db"', 'severity="critical"']
    components: [api]
    default_status: degraded_performance
    continue: true
  - name: staging
    match: ['env="staging"']
    ignore: true
  - name: api
    match: ['service=~"api|db"']
    components: [api, web]
    status: {critical: major_outage, warning: degraded_performance}
"#;

    #[test]
    fn first_match_wins_and_continue_merges_worst_status() {
        let c = catalog(YAML);
        let r = c.route(&labels(&[("service", "db"), ("severity", "critical")]));
        let want = BTreeMap::from([
            ("db".to_string(), PartialOutage),
            ("api".into(), MajorOutage),
            ("web".into(), MajorOutage),
        ]);
        assert_eq!(
            r,
            Routing::Mapped {
                components: want,
                routes: vec!["db-everything".into(), "db-hits-api".into(), "api".into()]
            }
        );

        let r = c.route(&labels(&[("service", "api"), ("severity", "info")]));
        let want = BTreeMap::from([
            ("api".to_string(), PartialOutage),
            ("web".into(), PartialOutage),
        ]);
        assert_eq!(
            r,
            Routing::Mapped {
                components: want,
                routes: vec!["api".into()]
            }
        );
        assert_eq!(c.route(&labels(&[("service", "x")])), Routing::Unmapped);
    }

    #[test]
    fn ignore_stops_routing_unless_something_was_already_mapped() {
        let c = catalog(YAML);
        assert_eq!(
            c.route(&labels(&[("service", "api"), ("env", "staging")])),
            Routing::Ignored {
                route: "staging".into()
            }
        );
        let r = c.route(&labels(&[("service", "db"), ("env", "staging")]));
        let want = BTreeMap::from([("db".to_string(), PartialOutage)]);
        assert_eq!(
            r,
            Routing::Mapped {
                components: want,
                routes: vec!["db-everything".into()]
            }
        );
    }

    #[test]
    fn components_keep_declaration_order_and_defaults() {
        let c = catalog(YAML);
        let ids: Vec<_> = c
            .components()
            .iter()
            .map(|c| (c.id.as_str(), c.position, c.public))
            .collect();
        assert_eq!(ids, [("api", 0, true), ("web", 1, true), ("db", 2, false)]);
        assert_eq!(
            c.component("web").map(|c| c.depends_on.clone()),
            Some(vec!["api".to_string()])
        );
        assert!(c.component("nope").is_none());
        assert_eq!(c.route_count(), 4);
        let empty = Catalog::empty();
        assert_eq!(empty.route(&labels(&[("a", "b")])), Routing::Unmapped);
        assert!(empty.components().is_empty() && empty.run_tests().is_empty());
    }
}
