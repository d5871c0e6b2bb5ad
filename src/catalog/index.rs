//! A route index so that routing does not evaluate every route.
//!
//! A route that can only match a few known values of one label — a non-empty `=`
//! matcher, or a pattern such as `P1|P2` or `api-.*` — is filed under those values (or
//! value prefixes); the rest are always candidates. For an alert, the candidates are the
//! routes filed under its own label values plus the always-candidates, visited in ascending
//! route order, so first-match and `continue` behave exactly as a linear scan would.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::matcher::MatchOp;
use super::pattern::Simple;
use super::{Labels, Route};

/// What a route is filed under: one label and the values (or prefixes) it needs.
struct Key<'a> {
    name: &'a str,
    exact: Vec<&'a str>,
    prefixes: Vec<Cow<'a, str>>,
}

/// Routes filed by value prefix for one label; `lens` lists the prefix lengths in use so
/// that an alert's value is looked up only at those lengths.
#[derive(Debug, Clone, Default)]
struct Prefixes {
    lens: Vec<usize>,
    routes: FastMap<String, Vec<u32>>,
}

/// Route indices by label name and value (or value prefix), and the routes with no key.
///
/// Label names used by matchers are also numbered ("slots"): an alert's labels are looked
/// up once per alert, and each matcher then reads its value by number instead of
/// searching the label map again.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    exact: FastMap<String, FastMap<String, Vec<u32>>>,
    prefix: FastMap<String, Prefixes>,
    scan: Vec<u32>,
    slot_of: FastMap<String, u32>,
    /// Per route, the slot of each matcher's label, in matcher order.
    route_slots: Vec<Vec<u32>>,
    /// Per route, a quick first check: the slot and value hash of one `=` matcher, so that
    /// most candidates that do not match are turned away without reading the route.
    guards: Vec<Option<(u32, u64)>>,
    /// The hash of `""`, the value of every label an alert lacks.
    empty_hash: u64,
}

/// One alert's labels that some matcher reads, by slot, with their hashes for the guards.
/// Sized by the alert, not by the catalog, so that many label names in the catalog cost
/// nothing per alert.
pub(super) struct SlotValues<'a> {
    present: Vec<(u32, &'a str, u64)>,
}

impl<'a> SlotValues<'a> {
    fn find(&self, slot: u32) -> Option<&(u32, &'a str, u64)> {
        let i = self.present.binary_search_by_key(&slot, |e| e.0).ok()?;
        self.present.get(i)
    }

    /// The value in a slot, `""` when the alert lacks that label.
    pub(super) fn get(&self, slot: u32) -> &'a str {
        self.find(slot).map_or("", |e| e.1)
    }
}

impl Index {
    /// Files each route under its most selective key: the one whose values are shared by
    /// the fewest routes, so that `env="prod"` does not become the key when
    /// `alertname="X"` is also there.
    pub(super) fn build(routes: &[Route]) -> Index {
        let keys: Vec<Vec<Key>> = routes
            .iter()
            .map(|r| r.matchers.iter().filter_map(key).collect())
            .collect();
        let mut counts: FastMap<(&str, bool, &str), usize> = FastMap::default();
        counts.reserve(routes.len());
        for k in keys.iter().flatten() {
            for v in &k.exact {
                *counts.entry((k.name, false, v)).or_default() += 1;
            }
            for p in &k.prefixes {
                *counts.entry((k.name, true, p.as_ref())).or_default() += 1;
            }
        }
        let cost = |k: &Key| -> usize {
            let exact = k
                .exact
                .iter()
                .map(|v| counts.get(&(k.name, false, *v)).copied().unwrap_or(0));
            let prefixes = k.prefixes.iter().map(|p| {
                counts
                    .get(&(k.name, true, p.as_ref()))
                    .copied()
                    .unwrap_or(0)
            });
            exact.chain(prefixes).sum()
        };
        let mut index = Index {
            empty_hash: hash(""),
            ..Index::default()
        };
        for route in routes {
            let mut slots = Vec::with_capacity(route.matchers.len());
            for m in &route.matchers {
                let slot = match index.slot_of.get(&m.name) {
                    Some(&slot) => slot,
                    None => {
                        let next = u32::try_from(index.slot_of.len()).unwrap_or(u32::MAX);
                        index.slot_of.insert(m.name.clone(), next);
                        next
                    }
                };
                slots.push(slot);
            }
            index.route_slots.push(slots);
        }
        for (i, route_keys) in keys.iter().enumerate() {
            let Ok(i) = u32::try_from(i) else { break };
            let k = route_keys.iter().min_by_key(|k| cost(k));
            // The guard is best on a label the key has not already checked.
            let guard = routes[i as usize]
                .matchers
                .iter()
                .zip(&index.route_slots[i as usize])
                .filter(|(m, _)| m.op == MatchOp::Equal)
                .min_by_key(|(m, _)| k.is_some_and(|k| k.name == m.name))
                .map(|(m, &slot)| (slot, hash(&m.value)));
            index.guards.push(guard);
            let Some(k) = k else {
                index.scan.push(i);
                continue;
            };
            // Looked up before inserting: most names and many values are there already,
            // and an owned key for each would be an allocation per route.
            for v in &k.exact {
                push_once(entry(entry(&mut index.exact, k.name), v), i);
            }
            for p in &k.prefixes {
                let by_prefix = entry(&mut index.prefix, k.name);
                push_once(entry(&mut by_prefix.routes, p), i);
                if let Err(at) = by_prefix.lens.binary_search(&p.len()) {
                    by_prefix.lens.insert(at, p.len());
                }
            }
        }
        index
    }

    /// The alert's labels that matchers read.
    pub(super) fn values<'a>(&self, labels: &'a Labels) -> SlotValues<'a> {
        let mut present: Vec<(u32, &str, u64)> = labels
            .iter()
            .filter_map(|(name, value)| {
                let slot = *self.slot_of.get(name)?;
                Some((slot, value.as_str(), hash(value)))
            })
            .collect();
        present.sort_unstable_by_key(|e| e.0);
        SlotValues { present }
    }

    /// False when the route's guard already rules the alert out; true means "evaluate it".
    pub(super) fn may_match(&self, route: u32, alert: &SlotValues) -> bool {
        match self.guards.get(route as usize) {
            Some(Some((slot, h))) => alert.find(*slot).map_or(self.empty_hash, |e| e.2) == *h,
            _ => true,
        }
    }

    /// The slots of a route's matchers, in matcher order.
    pub(super) fn slots(&self, route: u32) -> &[u32] {
        self.route_slots
            .get(route as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The routes that could match these labels, in ascending order.
    pub(super) fn candidates<'a>(&'a self, labels: &Labels) -> Candidates<'a> {
        let mut lists: Vec<&'a [u32]> = Vec::with_capacity(labels.len() + 1);
        if !self.scan.is_empty() {
            lists.push(&self.scan);
        }
        for (name, value) in labels {
            if let Some(list) = self
                .exact
                .get(name)
                .and_then(|by_value| by_value.get(value))
            {
                lists.push(list);
            }
            let Some(by_prefix) = self.prefix.get(name) else {
                continue;
            };
            for &len in &by_prefix.lens {
                let Some(prefix) = value.get(..len) else {
                    continue;
                };
                if let Some(list) = by_prefix.routes.get(prefix) {
                    lists.push(list);
                }
            }
        }
        Candidates { lists, last: None }
    }
}

/// The multiply-rotate hash rustc uses: several times faster than the default SipHash on
/// short label strings. Flooding is no concern: the tables are filled from the catalog,
/// alerts only look things up.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

fn hash(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// The value under `key`, inserted (as its default) if missing.
fn entry<'m, V: Default>(map: &'m mut FastMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// `a|a` would otherwise file a route twice under one value.
fn push_once(list: &mut Vec<u32>, i: u32) {
    if list.last() != Some(&i) {
        list.push(i);
    }
}

/// The key a matcher offers, if the values it accepts can be listed: never `""` (an absent
/// label), which is why a route with only such matchers must always be a candidate.
fn key(m: &super::Matcher) -> Option<Key<'_>> {
    let mut k = Key {
        name: &m.name,
        exact: Vec::new(),
        prefixes: Vec::new(),
    };
    match m.op {
        MatchOp::Equal if !m.value.is_empty() => k.exact.push(&m.value),
        MatchOp::Regex => match m.simple_alternatives() {
            Some(alternatives) => {
                for alternative in alternatives {
                    match alternative {
                        Simple::Exact(v) if !v.is_empty() => k.exact.push(v),
                        Simple::Prefix(p) if !p.is_empty() => k.prefixes.push(Cow::Borrowed(p)),
                        _ => return None,
                    }
                }
            }
            None => {
                k.prefixes = literal_prefixes(&m.value)?
                    .into_iter()
                    .map(Cow::Owned)
                    .collect()
            }
        },
        _ => return None,
    }
    Some(k)
}

/// Literal prefixes every full match of `pattern` starts with (`svc-1-(api|worker)` →
/// `svc-1-api`, `svc-1-worker`), when there are a few and none is empty.
fn literal_prefixes(pattern: &str) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .ok()?;
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix).limit_total(64);
    let seq = extractor.extract(&hir);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > 16 {
        return None;
    }
    literals
        .iter()
        .map(|l| {
            let text = std::str::from_utf8(l.as_bytes()).ok()?;
            (!text.is_empty()).then(|| text.to_string())
        })
        .collect()
}

/// Merges sorted route lists into one ascending sequence without repeats (a route filed
/// under two prefixes of one value appears in two lists).
pub(super) struct Candidates<'a> {
    lists: Vec<&'a [u32]>,
    last: Option<u32>,
}

impl Iterator for Candidates<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        loop {
            let (best, &value) = self
                .lists
                .iter()
                .enumerate()
                .filter_map(|(i, list)| list.first().map(|v| (i, v)))
                .min_by_key(|&(_, v)| *v)?;
            let list = &mut self.lists[best];
            *list = &list[1..];
            if list.is_empty() {
                self.lists.swap_remove(best);
            }
            if self.last != Some(value) {
                self.last = Some(value);
                return Some(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;

    use super::super::{Catalog, Labels};

    /// A small deterministic generator (xorshift64*), enough to vary catalogs and alerts.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const NAMES: [&str; 5] = ["alertname", "service", "env", "severity", "team"];

    fn value(rng: &mut Rng) -> String {
        ["v0", "v1", "v2", "v3", "v4", "v5", "v10", "v11"][rng.below(8) as usize].to_string()
    }

    fn matcher(rng: &mut Rng) -> String {
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        match rng.below(11) {
            0..=2 => format!("{name}=\"{}\"", value(rng)),
            8 => format!("{name}=~\"(v|w)({}|1)0?\"", rng.below(6)),
            9 => format!("{name}=~\"(?i)V{}\"", rng.below(6)),
            3 => format!("{name}!=\"{}\"", value(rng)),
            4 => format!("{name}=~\"{}|{}\"", value(rng), value(rng)),
            5 => format!("{name}=~\"v[{}-5]\"", rng.below(6)),
            6 if rng.below(2) == 0 => format!(
                "{name}=~\"{}.*|v{}\"",
                ["v", "v1", "w"][rng.below(3) as usize],
                rng.below(6)
            ),
            6 => format!("{name}!~\"{}|\"", value(rng)),
            _ => format!("{name}=\"\""),
        }
    }

    fn generated_catalog(rng: &mut Rng, routes: usize) -> String {
        let mut y = String::from("components:\n  - {id: c0, name: C0}\n  - {id: c1, name: C1}\n  - {id: c2, name: C2}\nroutes:\n");
        for i in 0..routes {
            let matchers: Vec<String> = (0..rng.below(4))
                .map(|_| format!("'{}'", matcher(rng)))
                .collect();
            let _ = writeln!(y, "  - name: r{i}\n    match: [{}]", matchers.join(", "));
            if rng.below(10) == 0 {
                y.push_str("    ignore: true\n");
                continue;
            }
            let _ = writeln!(
                y,
                "    components: [c{}]\n    continue: {}",
                rng.below(3),
                rng.below(3) == 0
            );
            if rng.below(2) == 0 {
                y.push_str("    status: {v1: major_outage, v2: degraded_performance}\n");
            }
        }
        y
    }

    #[test]
    fn indexed_routing_equals_a_linear_scan() {
        let mut rng = Rng(0x5EED_1234_ABCD_0001);
        for _ in 0..3 {
            let yaml = generated_catalog(&mut rng, 2500);
            let catalog = Catalog::from_sources(&[("gen.yaml".into(), yaml)])
                .unwrap_or_else(|e| panic!("{e}"));
            let n = u32::try_from(catalog.route_count()).unwrap_or(u32::MAX);
            let mut mapped = 0;
            for _ in 0..2000 {
                let mut labels = Labels::new();
                for name in NAMES {
                    if rng.below(5) != 0 {
                        labels.insert(name.to_string(), value(&mut rng));
                    }
                }
                let fast = catalog.route(&labels);
                let naive = catalog.route_over(&labels, 0..n, |_, route| route.matches(&labels));
                assert_eq!(fast, naive, "{labels:?}");
                mapped += usize::from(matches!(fast, super::super::Routing::Mapped { .. }));
            }
            assert!(
                mapped > 100,
                "the generated alerts should exercise mapping, got {mapped}"
            );
        }
    }
}
