//! The shape of the code, checked: the top-level modules under `src/` import each other
//! without cycles, and the never-rules of DESIGN.md hold through any chain of imports.
//! The wiring (`lib.rs`, `main.rs`, `cli.rs`, `pipeline.rs`, `serve.rs`) may import anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const WIRING: &[&str] = &["lib", "main", "cli", "pipeline", "serve"];

/// (module, modules it must never reach through any chain of imports)
const NEVER: &[(&str, &[&str])] = &[
    ("store", STAGES),
    ("catalog", STAGES),
    ("ingest", &["approve", "publish", "page"]),
    ("group", &["approve", "publish", "page"]),
    ("draft", &["approve", "publish", "page"]),
    ("page", &["ingest"]),
];
const STAGES: &[&str] = &[
    "ingest", "catalog", "group", "draft", "approve", "publish", "page",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut mods = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("read src/") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            mods.insert(name.to_string());
        }
    }
    for w in WIRING {
        mods.remove(*w);
    }
    mods
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Removes `//` comments (doc comments included) so prose that names a module is not an
/// import. String literals that contain `crate::` are rare enough to be flagged by a reader.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every top-level module a piece of source names through `crate::`, including inside
/// grouped imports (`use crate::{a::X, b};`).
fn referenced_modules(text: &str, mods: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for part in split_top_level(&group[..end]) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if mods.contains(&name) {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if mods.contains(&name) {
                found.insert(name);
            }
        }
    }
    found
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn import_graph(src: &Path) -> Graph {
    let mods = top_level_modules(src);
    let mut graph: Graph = mods.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let top = Path::new(first.as_os_str())
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let Some(edges) = graph.get_mut(&top) else {
            continue; // wiring
        };
        let text = strip_comments(&std::fs::read_to_string(&file).expect("read source"));
        for m in referenced_modules(&text, &mods) {
            if m != top {
                edges.insert(m);
            }
        }
    }
    graph
}

/// A path from `from` to `to` through the graph, if any (breadth first, so the shortest).
fn chain(graph: &Graph, from: &str, to: &str) -> Option<Vec<String>> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([from.to_string()]);
    while let Some(at) = queue.pop_front() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == to {
                let mut path = vec![to.to_string(), at.clone()];
                let mut cur = at.clone();
                while let Some(p) = prev.get(&cur) {
                    path.push(p.clone());
                    cur = p.clone();
                }
                path.reverse();
                return Some(path);
            }
            if next != from && !prev.contains_key(next) {
                prev.insert(next.clone(), at.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

fn problems(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen_cycles = BTreeSet::new();
    for m in graph.keys() {
        if let Some(cycle) = chain(graph, m, m) {
            let members: BTreeSet<_> = cycle.iter().cloned().collect();
            if seen_cycles.insert(members) {
                found.push(format!("import cycle: {}", cycle.join(" -> ")));
            }
        }
    }
    for (from, forbidden) in NEVER {
        for to in *forbidden {
            if from == to || !graph.contains_key(*from) {
                continue;
            }
            if let Some(path) = chain(graph, from, to) {
                found.push(format!(
                    "{from} must never reach {to}: {}",
                    path.join(" -> ")
                ));
            }
        }
    }
    found
}

#[test]
fn top_level_modules_form_a_dag_and_keep_the_never_rules() {
    let graph = import_graph(&src_dir());
    assert!(graph.contains_key("ingest") && graph.contains_key("publish"));
    let found = problems(&graph);
    assert!(
        found.is_empty(),
        "the module graph is off:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_sees_cycles_and_broken_rules() {
    // A made-up graph with the shapes the real test must catch, so it cannot pass vacuously.
    let mut graph = Graph::new();
    let mut edge = |a: &str, b: &str| {
        graph.entry(a.into()).or_default().insert(b.into());
        graph.entry(b.into()).or_default();
    };
    edge("config", "publish");
    edge("publish", "config");
    edge("ingest", "watchdog");
    edge("watchdog", "approve");
    edge("page", "vocab");
    let found = problems(&graph);
    assert!(
        found.iter().any(|p| p.starts_with("import cycle")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("ingest -> watchdog -> approve")),
        "{found:?}"
    );
    assert!(!found.iter().any(|p| p.starts_with("page")), "{found:?}");

    let mods: BTreeSet<String> = ["store", "publish", "vocab"].map(String::from).into();
    let text = strip_comments(
        "use crate::{store::Store, vocab::{A, B}};\n// crate::publish in prose\nlet x = crate::publish::f();",
    );
    assert_eq!(
        referenced_modules(&text, &mods),
        ["publish", "store", "vocab"].map(String::from).into()
    );
}

/// Names under `crate::` that are neither a top-level module nor a macro (`crate::x!`):
/// items of the crate root, which is wiring.
fn root_items_named(text: &str, mods: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let is_macro = rest[name.len()..].starts_with('!');
        if !name.is_empty() && !mods.contains(&name) && !is_macro {
            found.insert(name);
        }
    }
    found
}

#[test]
fn no_module_below_the_wiring_calls_into_the_crate_root() {
    let src = src_dir();
    let mut mods = top_level_modules(&src);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    mods.extend(WIRING.iter().map(|w| w.to_string()));
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| {
                Path::new(c.as_os_str())
                    .file_stem()?
                    .to_str()
                    .map(String::from)
            })
            .unwrap_or_default();
        if WIRING.contains(&top.as_str()) {
            continue;
        }
        let text = strip_comments(&std::fs::read_to_string(&file).expect("read source"));
        for name in root_items_named(&text, &mods) {
            found.push(format!("{}: crate::{name}", rel.display()));
        }
    }
    assert!(
        found.is_empty(),
        "the crate root is wiring; pass these down instead:\n{}",
        found.join("\n")
    );
    let mods: BTreeSet<String> = ["draft"].map(String::from).into();
    assert_eq!(
        root_items_named(
            "crate::load_templates(c); crate::draft::X; crate::edge_state!(A);",
            &mods
        ),
        ["load_templates"].map(String::from).into()
    );
}
