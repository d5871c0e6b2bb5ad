//! `statusgate test`: runs the `tests:` entries of mapping files, like `promtool test rules`.

use std::collections::BTreeMap;

use super::{Catalog, Routing, TestOutcome};
use crate::vocab::Source;

/// Runs every test in file order. A test is an alert from the sender its `source` label
/// names (`pagerduty`), else from Alertmanager, and gets the `source` label by the same
/// rule as live ingest ([`Source::stamp`]): a route on `source="x"` matches here exactly
/// when it would match live.
pub(super) fn run(catalog: &Catalog) -> Vec<TestOutcome> {
    catalog
        .tests
        .iter()
        .map(|t| {
            let mut labels = t.labels.clone();
            Source::of_test(&labels).stamp(&mut labels);
            let (got, routes) = match catalog.route(&labels) {
                Routing::Mapped { components, routes } => (components, routes),
                Routing::Ignored { route } => (BTreeMap::new(), vec![route]),
                Routing::Unmapped => (BTreeMap::new(), Vec::new()),
            };
            TestOutcome {
                file: t.file.clone(),
                line: t.line,
                name: t.name.clone(),
                passed: got == t.expect,
                expected: t.expect.clone(),
                got,
                routes,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Catalog;
    use crate::vocab::ComponentStatus;

    const YAML: &str = r#"
components:
  - {id: api, name: Public API}
routes:
  - name: pd-only
    match: ['source="pagerduty"']
    components: [api]
    default_status: major_outage
  - name: never-live
    match: ['source="blackbox"']
    components: [api]
  - name: staging
    match: ['env="staging"']
    ignore: true
  - name: api
    match: ['service="api"']
    components: [api]
tests:
  - name: source defaults to alertmanager
    labels: {service: api}
    expect: {api: partial_outage}
  - name: a test may set source
    labels: {source: pagerduty}
    expect: {api: major_outage}
  - name: ignored means nothing
    labels: {service: api, env: staging}
    expect: {}
  - name: this one fails
    labels: {service: api}
    expect: {api: major_outage}
  - name: a source label no sender sets is overwritten, as live
    labels: {source: blackbox}
    expect: {}
"#;

    #[test]
    fn runs_tests_with_source_label_and_reports_what_happened() {
        let catalog = Catalog::from_sources(&[("t.yaml".into(), YAML.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let out = catalog.run_tests();
        let summary: Vec<(&str, usize, bool)> = out
            .iter()
            .map(|o| (o.name.as_str(), o.line, o.passed))
            .collect();
        assert_eq!(
            summary,
            [
                ("source defaults to alertmanager", 19, true),
                ("a test may set source", 22, true),
                ("ignored means nothing", 25, true),
                ("this one fails", 28, false),
                (
                    "a source label no sender sets is overwritten, as live",
                    31,
                    true
                ),
            ]
        );
        assert_eq!(out[2].routes, ["staging"]);
        let failed = &out[3];
        assert_eq!(failed.got.get("api"), Some(&ComponentStatus::PartialOutage));
        assert_eq!(
            failed.expected.get("api"),
            Some(&ComponentStatus::MajorOutage)
        );
        assert_eq!(failed.routes, ["api"]);
        assert_eq!(failed.file, "t.yaml");
    }

    /// The shipped example catalog must load, its own tests must pass, and the routing
    /// other parts of statusgate rely on must hold.
    #[test]
    fn shipped_mappings_pass_their_own_tests() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let catalog = Catalog::load(&dir).unwrap_or_else(|e| panic!("{e}"));
        let outcomes = catalog.run_tests();
        let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert!(outcomes.len() >= 15 && catalog.route_count() >= 12);
        for id in ["api", "web", "payments", "database"] {
            assert!(catalog.component(id).is_some(), "{id}");
        }
        assert_eq!(catalog.component("database").map(|c| c.public), Some(false));
        for (severity, want) in [
            ("critical", ComponentStatus::MajorOutage),
            ("warning", ComponentStatus::DegradedPerformance),
        ] {
            let labels = [
                ("alertname", "HighErrorRate"),
                ("service", "api-gateway"),
                ("env", "prod"),
                ("severity", severity),
            ];
            let labels = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            match catalog.route(&labels) {
                super::Routing::Mapped { components, .. } => {
                    assert_eq!(
                        components,
                        std::collections::BTreeMap::from([("api".to_string(), want)])
                    );
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
