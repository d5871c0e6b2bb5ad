//! Mapping one alert through a catalog of 10,000 routes (target: ≤ 5 µs median), and
//! loading and validating that catalog (target: ≤ 1 s).
//!
//! `cargo bench --bench catalog`

use std::collections::BTreeMap;
use std::sync::OnceLock;

use statusgate::catalog::{Catalog, Routing};

const ROUTES: usize = 10_000;

/// A deterministic catalog: 200 components; routes mixing equality, negative and regex
/// matchers, as large catalogs written by many teams look.
fn catalog_yaml() -> String {
    let mut y = String::from("components:\n");
    for c in 0..200 {
        y += &format!(
            "  - {{id: comp-{c}, name: Component {c}, group: Group {}}}\n",
            c % 12
        );
    }
    y += "routes:\n";
    for r in 0..ROUTES {
        let comp = r % 200;
        let m = match r % 5 {
            0 => format!("['service=\"svc-{r}\"', 'env=\"prod\"']"),
            1 => format!("['service=\"svc-{r}\"', 'severity=~\"critical|warning\"']"),
            2 => format!(
                "['team=\"team-{}\"', 'alertname=\"Alert{r}\"', 'env!=\"staging\"']",
                r % 50
            ),
            3 => format!("['service=~\"svc-{r}-(api|worker)\"', 'env=\"prod\"']"),
            _ => format!("['job=\"job-{r}\"', 'instance!~\"canary-.*\"']"),
        };
        y += &format!(
            "  - name: route-{r}\n    match: {m}\n    components: [comp-{comp}]\n    status: {{critical: major_outage, warning: degraded_performance}}\n"
        );
    }
    y
}

fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        Catalog::from_sources(&[("bench.yaml".into(), catalog_yaml())]).expect("valid catalog")
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn main() {
    assert_eq!(catalog().route_count(), ROUTES);
    divan::main();
}

/// An alert that one equality route near the end of the catalog maps.
#[divan::bench]
fn route_equality_match(bencher: divan::Bencher) {
    let c = catalog();
    let l = labels(&[
        ("alertname", "HighErrorRate"),
        ("service", "svc-9995"),
        ("env", "prod"),
        ("severity", "critical"),
        ("source", "alertmanager"),
    ]);
    assert!(matches!(c.route(&l), Routing::Mapped { .. }));
    bencher.bench(|| divan::black_box(c.route(divan::black_box(&l))));
}

/// An alert that only a regex route maps.
#[divan::bench]
fn route_regex_match(bencher: divan::Bencher) {
    let c = catalog();
    let l = labels(&[
        ("alertname", "QueueBacklog"),
        ("service", "svc-9998-worker"),
        ("env", "prod"),
        ("severity", "warning"),
        ("source", "alertmanager"),
    ]);
    assert!(matches!(c.route(&l), Routing::Mapped { .. }));
    bencher.bench(|| divan::black_box(c.route(divan::black_box(&l))));
}

/// An alert nothing maps: the worst case, every candidate tried.
#[divan::bench]
fn route_unmapped(bencher: divan::Bencher) {
    let c = catalog();
    let l = labels(&[
        ("alertname", "Nope"),
        ("service", "unknown"),
        ("env", "prod"),
        ("team", "team-7"),
        ("source", "alertmanager"),
    ]);
    assert_eq!(c.route(&l), Routing::Unmapped);
    bencher.bench(|| divan::black_box(c.route(divan::black_box(&l))));
}

/// Parsing and validating all 10,000 routes.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn load_and_validate(bencher: divan::Bencher) {
    let yaml = catalog_yaml();
    bencher.bench(|| {
        Catalog::from_sources(&[("bench.yaml".into(), divan::black_box(yaml.clone()))])
            .map(|c| c.route_count())
    });
}
