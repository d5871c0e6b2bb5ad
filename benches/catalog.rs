//! Mapping one alert through a catalog of 10,000 routes, end to end: its labels in as a
//! webhook brings them, its components out (target: ≤ 5 µs median); and loading and
//! validating that catalog (target: half of `amtool check-config` on the equivalent
//! Alertmanager configuration; `bench/run --only catalog` measures both side by side).
//!
//! `cargo bench --bench catalog`. With `STATUSGATE_BENCH_CATALOG=<file>` the catalog is read
//! from that file (`bench/run` passes the one `bench/catalog_gen.py` writes, the same text
//! as `catalog_yaml` here).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use statusgate::catalog::{Catalog, Routing};

const ROUTES: usize = 10_000;

/// A deterministic catalog: 200 components; routes mixing equality, negative and regex
/// matchers, as large catalogs written by many teams look. Keep in step with
/// `bench/catalog_gen.py`.
fn catalog_yaml() -> String {
    if let Some(path) = std::env::var_os("STATUSGATE_BENCH_CATALOG") {
        return std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy()));
    }
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

/// Labels as an alert brings them: owned strings, built per alert.
fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The whole path for one alert: its label map built, routed, its components taken out
/// and everything dropped inside the timed call.
fn map_alert(c: &Catalog, pairs: &[(&str, &str)]) -> usize {
    match c.route(&labels(pairs)) {
        Routing::Mapped { components, .. } => components.len(),
        Routing::Ignored { .. } | Routing::Unmapped => 0,
    }
}

fn main() {
    assert_eq!(catalog().route_count(), ROUTES);
    divan::main();
}

/// An alert that one equality route near the end of the catalog maps.
#[divan::bench]
fn route_equality_match(bencher: divan::Bencher) {
    let c = catalog();
    let alert = [
        ("alertname", "HighErrorRate"),
        ("service", "svc-9995"),
        ("env", "prod"),
        ("severity", "critical"),
        ("source", "alertmanager"),
    ];
    assert_eq!(map_alert(c, &alert), 1);
    bencher.bench(|| map_alert(c, divan::black_box(&alert)));
}

/// An alert that only a regex route maps.
#[divan::bench]
fn route_regex_match(bencher: divan::Bencher) {
    let c = catalog();
    let alert = [
        ("alertname", "QueueBacklog"),
        ("service", "svc-9998-worker"),
        ("env", "prod"),
        ("severity", "warning"),
        ("source", "alertmanager"),
    ];
    assert_eq!(map_alert(c, &alert), 1);
    bencher.bench(|| map_alert(c, divan::black_box(&alert)));
}

/// An alert nothing maps: the worst case, every candidate tried.
#[divan::bench]
fn route_unmapped(bencher: divan::Bencher) {
    let c = catalog();
    let alert = [
        ("alertname", "Nope"),
        ("service", "unknown"),
        ("env", "prod"),
        ("team", "team-7"),
        ("source", "alertmanager"),
    ];
    assert_eq!(c.route(&labels(&alert)), Routing::Unmapped);
    bencher.bench(|| map_alert(c, divan::black_box(&alert)));
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
