//! Reading mapping files into a validated catalog. Every problem is collected with its file
//! and line, so that one `statusgate check` run shows a team everything to fix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use super::entries::nearest;
use super::index::FastMap;
use super::lines::{child, LazyLines, Lines};
use super::pattern::RegexCache;
use super::{Catalog, CatalogError, Component, Problem, Route, TestCase};

const TOP_KEYS: &[&str] = &["components", "routes", "tests"];

/// Loads a mapping file, or every `*.yaml`/`*.yml` file directly in a directory, in name
/// order. Hidden files (editor backups) are skipped.
pub(super) fn load_path(
    path: &Path,
    audiences: Option<&[String]>,
) -> Result<Catalog, CatalogError> {
    let shown = path.display().to_string();
    let fail = |reason: String| CatalogError {
        problems: vec![Problem {
            file: shown.clone(),
            line: 0,
            reason,
        }],
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut sources = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        let file = f.display().to_string();
        match std::fs::read(&f).map(String::from_utf8) {
            Ok(Ok(text)) => sources.push((file, text)),
            Ok(Err(_)) => unreadable.push(Problem {
                file,
                line: 0,
                reason: "not valid UTF-8".into(),
            }),
            Err(e) => unreadable.push(Problem {
                file,
                line: 0,
                reason: format!("cannot read: {e}"),
            }),
        }
    }
    match from_sources(&sources, audiences) {
        Ok(catalog) if unreadable.is_empty() => Ok(catalog),
        Ok(_) => Err(CatalogError {
            problems: unreadable,
        }),
        Err(mut e) => {
            unreadable.append(&mut e.problems);
            Err(CatalogError {
                problems: unreadable,
            })
        }
    }
}

/// Builds a catalog from (file name, text) pairs, in the given order.
pub(super) fn from_sources(
    sources: &[(String, String)],
    audiences: Option<&[String]>,
) -> Result<Catalog, CatalogError> {
    let mut refused = Vec::new();
    loop {
        match build(sources, audiences, &refused) {
            Ok(built) => return built,
            // The fast reader took the head of a file read in two parts and refused the
            // rest: start again, with `serde_norway` reading that file whole.
            Err(fi) => refused.push(fi),
        }
    }
}

/// `Err(file)` when that file, read in two parts, must be read again whole; the files in
/// `refused` are read by `serde_norway` alone.
fn build(
    sources: &[(String, String)],
    audiences: Option<&[String]>,
    refused: &[usize],
) -> Result<Result<Catalog, CatalogError>, usize> {
    let mut b = Builder {
        known_audiences: audiences.map(<[String]>::to_vec),
        ..Builder::default()
    };
    let files: Vec<LazyLines> = sources.iter().map(|(f, t)| LazyLines::new(f, t)).collect();
    let mut read = Vec::new();
    for (fi, (file, text)) in sources.iter().enumerate() {
        let doc = Doc {
            fi,
            file,
            files: &files,
        };
        let fast = !refused.contains(&fi);
        read.extend(b.file(&doc, text, fast).ok_or(fi)?);
    }
    if sources.iter().map(|(_, t)| t.len()).sum::<usize>() < BIG {
        return Ok(b.finish(&files));
    }
    // Freeing large documents' trees costs as much as building the index: both at once.
    Ok(std::thread::scope(|s| {
        s.spawn(move || drop(read));
        b.finish(&files)
    }))
}

/// From this size on (bytes of YAML), the parsed trees are freed on a second thread while
/// the catalog is built. Below it a thread costs more than it saves.
const BIG: usize = 64 * 1024;

/// One file being read: where problems go and how to find lines.
pub(super) struct Doc<'a> {
    pub(super) fi: usize,
    pub(super) file: &'a str,
    /// Every file's lines (a problem may point at another file's node).
    pub(super) files: &'a [LazyLines<'a>],
}

impl Doc<'_> {
    /// The line of the node at `path` in this file.
    pub(super) fn line(&self, path: &str) -> usize {
        line_in(self.files, self.fi, path)
    }
}

/// The line of the node at `path` in file `fi`.
fn line_in(files: &[LazyLines], fi: usize, path: &str) -> usize {
    files.get(fi).map_or(0, |f| f.get(path))
}

/// A node kept for messages made later (a duplicate, an unknown name): its line is looked
/// up only when a message needs it.
#[derive(Clone)]
pub(super) struct Place {
    pub(super) fi: usize,
    pub(super) path: String,
}

impl Place {
    pub(super) fn at(doc: &Doc, path: &str) -> Place {
        Place {
            fi: doc.fi,
            path: path.to_string(),
        }
    }

    fn line(&self, files: &[LazyLines]) -> usize {
        line_in(files, self.fi, &self.path)
    }

    fn file(&self, files: &[LazyLines]) -> String {
        files.get(self.fi).map_or("", |f| f.name).to_string()
    }

    /// A problem at this node.
    fn problem(&self, files: &[LazyLines], reason: String) -> (usize, Problem) {
        (
            self.fi,
            Problem {
                file: self.file(files),
                line: self.line(files),
                reason,
            },
        )
    }

    /// `file:line`, for messages that point back at it.
    pub(super) fn shown(&self, doc: &Doc) -> String {
        format!("{}:{}", self.file(doc.files), self.line(doc.files))
    }
}

/// A component id named before its declaration (or with none), checked once every file
/// has been read.
pub(super) struct Ref {
    pub(super) at: Place,
    pub(super) id: String,
    /// e.g. "route `api-errors` names", completed with "unknown component `x`".
    pub(super) who: String,
}

/// Everything read so far, across files; turned into a catalog once all files are read.
#[derive(Default)]
pub(super) struct Builder {
    pub(super) problems: Vec<(usize, Problem)>,
    pub(super) components: Vec<Component>,
    /// Where each component id and route name was first declared.
    pub(super) component_at: FastMap<String, Place>,
    pub(super) route_at: FastMap<String, Place>,
    pub(super) routes: Vec<Route>,
    pub(super) tests: Vec<TestCase>,
    pub(super) refs: Vec<Ref>,
    /// Components in a broken file are unknown, so "unknown component" would only mislead.
    pub(super) yaml_broken: bool,
    pub(super) regex_cache: RegexCache,
    /// Every `audiences:` entry: where, audience, component.
    pub(super) audience_refs: Vec<(Place, String, String)>,
    /// The configuration's audiences, when the caller has them (`check`, `serve`).
    pub(super) known_audiences: Option<Vec<String>>,
}

impl Builder {
    pub(super) fn problem(&mut self, doc: &Doc, path: &str, reason: String) {
        let line = doc.line(path);
        self.problems.push((
            doc.fi,
            Problem {
                file: doc.file.to_string(),
                line,
                reason,
            },
        ));
    }

    /// Reads one file's entries; what it returns is the file's tree, to be freed later.
    /// A large file whose `routes` list runs to its end is read in two parts, each part's
    /// routes taken on the thread that read it. `None` when the fast reader refused the
    /// rest, and the file must be read again whole. Without `fast`, only `serde_norway`
    /// reads the file.
    fn file(&mut self, doc: &Doc, text: &str, fast: bool) -> Option<Vec<Value>> {
        // Merge keys (`<<: *defaults`) let teams share route settings; most files have none.
        let merges = text.contains("<<");
        let at = (fast && !merges && text.len() >= super::yaml::SPLIT_FROM)
            .then(|| super::yaml::cut(text))
            .flatten();
        std::thread::scope(|s| {
            // The rest's routes wait for this file's components (to know which ids are
            // declared) and for the number of the first of them.
            let (seed, seeded) = std::sync::mpsc::sync_channel::<(usize, Builder)>(1);
            // Their names are checked when they join this builder's routes.
            let rest_routes = move |items: Vec<Value>| {
                let (first, mut b) = seeded.recv().ok()?;
                let routes: Vec<(Place, Route)> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        b.read_route(doc, &child("routes", &(first + i).to_string()), item)
                    })
                    .collect();
                Some((items, b, routes))
            };
            let (root, tail) = match at.and_then(|at| super::yaml::split(s, text, at, rest_routes))
            {
                Some((head, tail)) => (Ok(head), Some(tail)),
                None => (
                    if fast {
                        super::yaml::parse(text)
                    } else {
                        serde_norway::from_str(text)
                    }
                    .and_then(|mut v| {
                        if merges {
                            v.apply_merge()?;
                        }
                        Ok(v)
                    }),
                    None,
                ),
            };
            let Some(map) = self.root(doc, text, root) else {
                return Some(Vec::new());
            };
            let mut read = Vec::new();
            self.keys(doc, "", &map, TOP_KEYS);
            self.entries(doc, &map, "components", Self::component);
            if let Some(Value::Sequence(head)) = map.get("routes").filter(|_| tail.is_some()) {
                // The receiver is gone only if that thread already gave up.
                let _ = seed.send((head.len(), self.seed_for_routes()));
            }
            drop(seed);
            self.entries(doc, &map, "routes", Self::route);
            if let Some(tail) = tail {
                let (items, built, routes) = tail.join().ok().flatten()?;
                self.absorb_routes(doc, built, routes);
                read.push(Value::Sequence(items));
            }
            self.entries(doc, &map, "tests", Self::test);
            read.push(Value::Mapping(map));
            Some(read)
        })
    }

    /// Every item of the list under `key`, read by `f`.
    fn entries(
        &mut self,
        doc: &Doc,
        map: &serde_norway::Mapping,
        key: &str,
        f: fn(&mut Self, &Doc, &str, &Value),
    ) {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for (i, item) in items.iter().enumerate() {
                    f(self, doc, &child(key, &i.to_string()), item);
                }
            }
            Some(_) => self.problem(doc, key, format!("`{key}` must be a list")),
        }
    }

    /// A builder for routes read on another thread: it knows the components declared so
    /// far and the patterns compiled so far.
    fn seed_for_routes(&self) -> Builder {
        Builder {
            component_at: self.component_at.clone(),
            regex_cache: self.regex_cache.clone(),
            ..Builder::default()
        }
    }

    /// Takes `routes`, read by a [`Builder::seed_for_routes`] builder, and that builder's
    /// problems, as if they had been read here after this builder's own.
    fn absorb_routes(&mut self, doc: &Doc, other: Builder, routes: Vec<(Place, Route)>) {
        self.problems.extend(other.problems);
        self.refs.extend(other.refs);
        for (pattern, compiled) in other.regex_cache {
            self.regex_cache.entry(pattern).or_insert(compiled);
        }
        for (at, route) in routes {
            self.add_route(doc, at, route);
        }
    }

    /// The file's top-level mapping, or `None` (with the problem noted) when there is none.
    fn root(
        &mut self,
        doc: &Doc,
        text: &str,
        root: Result<Value, serde_norway::Error>,
    ) -> Option<serde_norway::Mapping> {
        let (fi, file) = (doc.fi, doc.file);
        match root {
            Ok(Value::Null) => None,
            Ok(Value::Mapping(map)) => Some(map),
            Ok(_) => {
                let reason =
                    "expected a mapping with the keys `components`, `routes` and `tests`".into();
                self.problems.push((
                    fi,
                    Problem {
                        file: file.to_string(),
                        line: 1,
                        reason,
                    },
                ));
                None
            }
            Err(e) => {
                self.yaml_broken = true;
                let (line, reason) = yaml_error(&e, text);
                self.problems.push((
                    fi,
                    Problem {
                        file: file.to_string(),
                        line,
                        reason,
                    },
                ));
                None
            }
        }
    }

    pub(super) fn finish(mut self, files: &[LazyLines]) -> Result<Catalog, CatalogError> {
        if !self.yaml_broken {
            // Suggestions compare against every id; a few are helpful, thousands are slow.
            let mut suggestions = 100;
            for r in std::mem::take(&mut self.refs) {
                if !self.component_at.contains_key(&r.id) {
                    let mut hint = String::new();
                    if suggestions > 0 {
                        suggestions -= 1;
                        let ids = self.components.iter().map(|c| c.id.as_str());
                        if let Some(near) = nearest(&r.id, ids) {
                            hint = format!(", did you mean `{near}`?");
                        }
                    }
                    let reason = format!("{} unknown component `{}`{hint}", r.who, r.id);
                    self.problems.push(r.at.problem(files, reason));
                }
            }
        }
        self.unknown_audiences(files);
        self.cycles(files);
        if self.problems.is_empty() {
            return Ok(Catalog::build(self.components, self.routes, self.tests));
        }
        self.problems.sort_by_key(|(fi, p)| (*fi, p.line));
        Err(CatalogError {
            problems: self.problems.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// An audience the configuration does not define: its page does not exist, so the
    /// component would be on no page at all.
    fn unknown_audiences(&mut self, files: &[LazyLines]) {
        let Some(known) = self.known_audiences.take() else {
            return;
        };
        for (at, audience, component) in std::mem::take(&mut self.audience_refs) {
            if known.contains(&audience) {
                continue;
            }
            let hint = match nearest(&audience, known.iter().map(String::as_str)) {
                Some(near) => format!(", did you mean `{near}`?"),
                None if known.is_empty() => " (the configuration defines no `audiences`)".into(),
                None => format!(" (configured: {})", known.join(", ")),
            };
            let reason =
                format!("component `{component}` names unknown audience `{audience}`{hint}");
            self.problems.push(at.problem(files, reason));
        }
    }

    /// Reports each `depends_on` cycle once, at the component where it was entered.
    fn cycles(&mut self, files: &[LazyLines]) {
        let index: HashMap<&str, usize> = self
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let deps: Vec<Vec<usize>> = self
            .components
            .iter()
            .map(|c| {
                c.depends_on
                    .iter()
                    .filter_map(|d| index.get(d.as_str()).copied())
                    .collect()
            })
            .collect();
        // 0 = not visited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; deps.len()];
        let mut found = Vec::new();
        for start in 0..deps.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            state[start] = 1;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&dep) = deps[node].get(*next) {
                    *next += 1;
                    match state[dep] {
                        0 => {
                            state[dep] = 1;
                            stack.push((dep, 0));
                        }
                        1 => {
                            let from = stack.iter().position(|&(n, _)| n == dep).unwrap_or(0);
                            let mut ids: Vec<&str> = stack[from..]
                                .iter()
                                .map(|&(n, _)| self.components[n].id.as_str())
                                .collect();
                            ids.push(&self.components[dep].id);
                            found.push((dep, format!("dependency cycle: {}", ids.join(" -> "))));
                        }
                        _ => {}
                    }
                } else {
                    state[node] = 2;
                    stack.pop();
                }
            }
        }
        for (node, reason) in found {
            if let Some(at) = self.component_at.get(&self.components[node].id) {
                self.problems.push(at.problem(files, reason));
            }
        }
    }
}

/// The YAML parser's message and line, without the position it repeats in the text.
fn yaml_error(e: &serde_norway::Error, text: &str) -> (usize, String) {
    let message = e.to_string();
    let mut line = e.location().map_or(0, |l| l.line());
    if let Some((_, key)) = message.split_once("duplicate entry with key ") {
        let key = key
            .split(" at line ")
            .next()
            .unwrap_or(key)
            .trim_matches('"');
        line = Lines::scan(text).repeated_key(key).unwrap_or(line);
        return (line, format!("duplicate key `{key}`"));
    }
    if message.contains("more than one document") {
        return (
            line,
            "more than one YAML document; put each in its own file".into(),
        );
    }
    let message = message.replacen(&format!(" at line {line} column "), " at column ", 1);
    (line, format!("invalid YAML: {message}"))
}

#[cfg(test)]
mod tests;
