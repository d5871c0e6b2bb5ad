//! Finds every route the source registers: each `.route("<path>", <method router>)` in
//! `src/**/*.rs`, with the HTTP methods of its method router.

use std::collections::BTreeSet;
use std::path::Path;

/// Method-router helpers the source defines, and the methods they stand for.
/// `page::router`'s `json_route(name)` is `get(…)` serving one rendered document.
const HELPERS: &[(&str, &[&str])] = &[("json_route", &["get"])];

const METHODS: &[&str] = &[
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// One registration: where, the path, and its methods (lower case).
#[derive(Debug, Clone)]
pub struct Route {
    pub at: String,
    pub path: String,
    pub methods: Vec<String>,
}

/// Every route registered under `dir`.
pub fn scan(dir: &Path) -> Vec<Route> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        out.extend(scan_text(&file.display().to_string(), &text));
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Routes registered in one file's text.
pub fn scan_text(file: &str, text: &str) -> Vec<Route> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(".route(") {
        let start = from + found + ".route(".len();
        from = start;
        let rest = text[start..].trim_start();
        // `.route(` on something else (`catalog.route(&labels)`) takes no path literal.
        let Some(literal) = rest.strip_prefix('"') else {
            continue;
        };
        let Some(end) = literal.find('"') else {
            continue;
        };
        let path = literal[..end].to_string();
        let line = text[..start].lines().count();
        let after = literal[end + 1..].trim_start();
        let args = after.strip_prefix(',').unwrap_or(after);
        let methods = top_level_calls(args)
            .into_iter()
            .flat_map(|name| {
                if METHODS.contains(&name.as_str()) {
                    vec![name]
                } else {
                    HELPERS
                        .iter()
                        .find(|(helper, _)| *helper == name)
                        .map(|(_, m)| m.iter().map(|m| m.to_string()).collect())
                        .unwrap_or_default()
                }
            })
            .collect::<BTreeSet<_>>();
        assert!(
            !methods.is_empty(),
            "{file}:{line}: cannot tell the methods of route {path}; write them as get(…)/post(…) or teach HELPERS the helper"
        );
        out.push(Route {
            at: format!("{file}:{line}"),
            path,
            methods: methods.into_iter().collect(),
        });
    }
    out
}

/// Names called at the outermost level of a call's argument list, up to its closing
/// parenthesis: `get(a).post(b)` gives `get`, `post`; calls nested inside them are not
/// counted.
fn top_level_calls(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut word = String::new();
    let mut chars = args.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // Skip a string literal (escapes included).
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                word.clear();
            }
            '(' | '[' | '{' => {
                if depth == 0 && c == '(' && !word.is_empty() {
                    out.push(word.clone());
                }
                depth += 1;
                word.clear();
            }
            ')' | ']' | '}' => {
                if depth == 0 {
                    break;
                }
                depth -= 1;
                word.clear();
            }
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            _ => word.clear(),
        }
    }
    out
}

#[test]
fn the_scanner_reads_chained_methods_helpers_and_skips_nested_calls() {
    let text = r#"
        Router::new()
            .route("/a/{id}", get(one).patch(two).delete(three))
            .route(
                "/b",
                get(|s: State<X>| async move { s.get(&id).post("x)") }),
            )
            .route("/c", json_route("c"))
        let x = catalog.route(&labels);
    "#;
    let routes = scan_text("t.rs", text);
    let got: Vec<(String, Vec<String>)> = routes.into_iter().map(|r| (r.path, r.methods)).collect();
    assert_eq!(
        got,
        vec![
            (
                "/a/{id}".to_string(),
                vec!["delete".into(), "get".into(), "patch".into()]
            ),
            ("/b".to_string(), vec!["get".into()]),
            ("/c".to_string(), vec!["get".into()]),
        ]
    );
}
