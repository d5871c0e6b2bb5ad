//! The three kinds of entries in a mapping file — components, routes and tests — and the
//! field readers they share. Each reader reports a problem at the offending node and goes
//! on, so that one run lists everything wrong with a file.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use super::lines::child;
use super::load::{Builder, Doc, Place, Ref};
use super::matcher::Matcher;
use super::{Component, Labels, Route, TestCase};
use crate::vocab::{ComponentStatus, Slo};

const COMPONENT_KEYS: &[&str] = &[
    "id",
    "name",
    "group",
    "description",
    "depends_on",
    "public",
    "audiences",
    "slo",
];
const SLO_KEYS: &[&str] = &["target", "window"];
const ROUTE_KEYS: &[&str] = &[
    "name",
    "match",
    "components",
    "status",
    "default_status",
    "continue",
    "ignore",
];
const TEST_KEYS: &[&str] = &["name", "labels", "expect"];

impl Builder {
    pub(super) fn component(&mut self, doc: &Doc, path: &str, v: &Value) {
        let Some(map) = self.mapping(doc, path, v, "a component", COMPONENT_KEYS) else {
            return;
        };
        let Some(id) = self.string(doc, path, map, "id", true) else {
            if map.get("id").is_none() {
                self.problem(doc, path, "component is missing `id`".into());
            }
            return;
        };
        if !id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            let reason =
                format!("component id `{id}` may only contain letters, digits, `-`, `_` and `.`");
            self.problem(doc, &child(path, "id"), reason);
        }
        let name = self
            .string(doc, path, map, "name", true)
            .unwrap_or_else(|| id.clone());
        let group = self.string(doc, path, map, "group", false);
        let description = self.string(doc, path, map, "description", false);
        let public = self.boolean(doc, path, map, "public").unwrap_or(true);
        let slo = map
            .get("slo")
            .and_then(|v| self.slo(doc, &child(path, "slo"), v));
        let mut depends_on = Vec::new();
        for (dep, i) in self.strings(doc, path, map, "depends_on") {
            let at = || item_path(path, "depends_on", i);
            self.refer(doc, at, &dep, || format!("component `{id}` depends on"));
            depends_on.push(dep);
        }
        let mut audiences = Vec::new();
        for (audience, i) in self.strings(doc, path, map, "audiences") {
            let at = Place::at(doc, &item_path(path, "audiences", i));
            self.audience_refs.push((at, audience.clone(), id.clone()));
            if !audiences.contains(&audience) {
                audiences.push(audience);
            }
        }
        if !public && !audiences.is_empty() {
            // Internal means staff only; an audience page is read by customers.
            let reason = format!(
                "component `{id}` is internal (`public: false`), so it cannot also name `audiences` (internal components are on no customer page)"
            );
            self.problem(doc, &child(path, "audiences"), reason);
        }
        if let Some(first) = self.component_at.get(&id) {
            let first = first.shown(doc);
            let reason = format!("duplicate component id `{id}` (first declared at {first})");
            return self.problem(doc, &child(path, "id"), reason);
        }
        self.component_at.insert(id.clone(), Place::at(doc, path));
        let position = self.components.len();
        self.components.push(Component {
            id,
            name,
            group,
            description,
            depends_on,
            public,
            audiences,
            position,
            slo,
        });
    }

    /// `slo: {target: 99.95, window: 30d}`: a target in (0, 100) percent over 1 to 365 days.
    fn slo(&mut self, doc: &Doc, path: &str, v: &Value) -> Option<Slo> {
        let map = self.mapping(doc, path, v, "`slo`", SLO_KEYS)?;
        let target = match map.get("target") {
            None => {
                self.problem(
                    doc,
                    path,
                    "`slo` is missing `target` (a percentage such as 99.9)".into(),
                );
                None
            }
            Some(Value::Number(n)) => match n.as_f64() {
                Some(t) if t > 0.0 && t < 100.0 => Some(t),
                _ => {
                    let reason =
                        format!("`slo.target` must be a percentage above 0 and below 100, not {n}");
                    self.problem(doc, &child(path, "target"), reason);
                    None
                }
            },
            Some(other) => {
                let shown = scalar(other).unwrap_or_else(|| "a collection".into());
                let reason = format!("`slo.target` must be a number such as 99.9, not `{shown}`");
                self.problem(doc, &child(path, "target"), reason);
                None
            }
        };
        let window = match map.get("window") {
            None => {
                self.problem(
                    doc,
                    path,
                    "`slo` is missing `window` (days, such as 30d)".into(),
                );
                None
            }
            Some(w) => {
                let text = scalar(w).unwrap_or_default();
                let days = text
                    .strip_suffix('d')
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|d| (1..=365).contains(d));
                if days.is_none() {
                    let reason = format!("`slo.window` must be whole days from 1d to 365d (such as 30d), not `{text}`");
                    self.problem(doc, &child(path, "window"), reason);
                }
                days
            }
        };
        Some(Slo {
            target: target?,
            window_days: window?,
        })
    }

    pub(super) fn route(&mut self, doc: &Doc, path: &str, v: &Value) {
        if let Some((at, route)) = self.read_route(doc, path, v) {
            self.add_route(doc, at, route);
        }
    }

    /// A route and where it is, its problems noted; its name is not yet checked against
    /// the routes before it (see [`Builder::add_route`]).
    pub(super) fn read_route(
        &mut self,
        doc: &Doc,
        path: &str,
        v: &Value,
    ) -> Option<(Place, Route)> {
        let (map, name, who) = self.named(doc, path, v, "route", ROUTE_KEYS)?;
        let mut matchers = Vec::new();
        if map.get("match").is_none() {
            self.problem(
                doc,
                path,
                format!("{who} has no `match` (use `match: []` to match every alert)"),
            );
        }
        for (text, i) in self.strings(doc, path, map, "match") {
            match Matcher::parse_with(&text, &mut self.regex_cache) {
                Ok(mut parsed) => matchers.append(&mut parsed),
                Err(reason) => self.problem(
                    doc,
                    &item_path(path, "match", i),
                    format!("invalid matcher `{text}`: {reason}"),
                ),
            }
        }
        // All must hold, so the order is free: cheap comparisons first.
        matchers.sort_by_key(Matcher::cost);
        let mut components = Vec::new();
        for (id, i) in self.strings(doc, path, map, "components") {
            let at = || item_path(path, "components", i);
            self.refer(doc, at, &id, || format!("{who} names"));
            components.push(id);
        }
        let mut status = Vec::new();
        match map.get("status") {
            None | Some(Value::Null) => {}
            Some(Value::Mapping(by_severity)) => {
                for (k, v) in by_severity {
                    let severity = scalar(k).unwrap_or_default();
                    let entry_path = || child(&child(path, "status"), &severity);
                    if let Some(s) = self.status(doc, entry_path, Some(v)) {
                        status.push((severity, s));
                    }
                }
            }
            Some(_) => self.problem(
                doc,
                &child(path, "status"),
                "`status` must map severity values to component statuses".into(),
            ),
        }
        let default_status = self.status(
            doc,
            || child(path, "default_status"),
            map.get("default_status"),
        );
        let continue_ = self.boolean(doc, path, map, "continue").unwrap_or(false);
        let ignore = self.boolean(doc, path, map, "ignore").unwrap_or(false);
        if ignore {
            for key in ["components", "status", "default_status", "continue"] {
                if map.get(key).is_some() {
                    let why = if key == "continue" {
                        "an ignore route always stops routing"
                    } else {
                        "an ignored alert never reaches the page"
                    };
                    let reason =
                        format!("{who} sets `ignore: true`, so it cannot also set `{key}` ({why})");
                    self.problem(doc, &child(path, key), reason);
                }
            }
        } else if components.is_empty() {
            self.problem(
                doc,
                path,
                format!("{who} names no components (add `components:` or set `ignore: true`)"),
            );
        }
        let route = Route {
            name: name?,
            matchers,
            components,
            status,
            default_status: default_status.unwrap_or(ComponentStatus::PartialOutage),
            continue_,
            ignore,
        };
        Some((Place::at(doc, path), route))
    }

    /// A route whose name is not taken yet joins the catalog.
    pub(super) fn add_route(&mut self, doc: &Doc, at: Place, route: Route) {
        if let Some(first) = self.route_at.get(&route.name) {
            let first = first.shown(doc);
            let reason = format!(
                "duplicate route name `{}` (first used at {first})",
                route.name
            );
            return self.problem(doc, &child(&at.path, "name"), reason);
        }
        self.route_at.insert(route.name.clone(), at);
        self.routes.push(route);
    }

    pub(super) fn test(&mut self, doc: &Doc, path: &str, v: &Value) {
        let Some((map, name, who)) = self.named(doc, path, v, "test", TEST_KEYS) else {
            return;
        };
        let mut labels = Labels::new();
        match map.get("labels") {
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let key = scalar(k).unwrap_or_default();
                    match scalar(v) {
                        Some(value) => drop(labels.insert(key, value)),
                        None => self.problem(
                            doc,
                            &child(&child(path, "labels"), &key),
                            format!("label `{key}` needs a string value"),
                        ),
                    }
                }
            }
            None => self.problem(doc, path, format!("{who} is missing `labels`")),
            Some(_) => self.problem(
                doc,
                &child(path, "labels"),
                "`labels` must map label names to values".into(),
            ),
        }
        let mut expect = BTreeMap::new();
        match map.get("expect") {
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let id = scalar(k).unwrap_or_default();
                    let entry_path = || child(&child(path, "expect"), &id);
                    self.refer(doc, entry_path, &id, || format!("{who} expects"));
                    if let Some(s) = self.status(doc, entry_path, Some(v)) {
                        expect.insert(id, s);
                    }
                }
            }
            None => self.problem(doc, path, format!("{who} is missing `expect` (use `expect: {{}}` for alerts that must not reach the page)")),
            Some(_) => self.problem(doc, &child(path, "expect"), "`expect` must map component ids to statuses (`{}` for nothing)".into()),
        }
        let line = doc.line(path);
        let name = name.unwrap_or_default();
        self.tests.push(TestCase {
            file: doc.file.to_string(),
            line,
            name,
            labels,
            expect,
        });
    }

    /// Opens a named entry (a route or a test): its mapping, its `name` (missing is a
    /// problem) and what messages call it (``route `name` ``, or just `route`).
    fn named<'v>(
        &mut self,
        doc: &Doc,
        path: &str,
        v: &'v Value,
        kind: &str,
        allowed: &[&str],
    ) -> Option<(&'v Mapping, Option<String>, String)> {
        let map = self.mapping(doc, path, v, &format!("a {kind}"), allowed)?;
        let name = self.string(doc, path, map, "name", true);
        let who = name
            .as_ref()
            .map_or_else(|| kind.to_string(), |n| format!("{kind} `{n}`"));
        if map.get("name").is_none() {
            self.problem(doc, path, format!("{kind} is missing `name`"));
        }
        Some((map, name, who))
    }

    /// Checks that `v` is a mapping with only `allowed` keys.
    fn mapping<'v>(
        &mut self,
        doc: &Doc,
        path: &str,
        v: &'v Value,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'v Mapping> {
        let Value::Mapping(map) = v else {
            self.problem(
                doc,
                path,
                format!(
                    "{what} must be a mapping with the keys {}",
                    allowed.join(", ")
                ),
            );
            return None;
        };
        self.keys(doc, path, map, allowed);
        Some(map)
    }

    pub(super) fn keys(&mut self, doc: &Doc, path: &str, map: &Mapping, allowed: &[&str]) {
        for k in map.keys() {
            // Borrowed: every key of every entry passes here, and almost all are fine.
            let key = scalar_text(k).unwrap_or(Cow::Borrowed("?"));
            if !allowed.contains(&key.as_ref()) {
                let hint = match nearest(&key, allowed.iter().copied()) {
                    Some(near) => format!(", did you mean `{near}`?"),
                    None => format!(" (expected one of: {})", allowed.join(", ")),
                };
                self.problem(
                    doc,
                    &child(path, &key),
                    format!("unknown field `{key}`{hint}"),
                );
            }
        }
    }

    /// A string field; numbers and booleans are taken as written.
    fn string(
        &mut self,
        doc: &Doc,
        path: &str,
        map: &Mapping,
        key: &str,
        non_empty: bool,
    ) -> Option<String> {
        let v = map.get(key)?;
        match scalar(v) {
            Some(s) if non_empty && s.trim().is_empty() => {
                self.problem(doc, &child(path, key), format!("`{key}` must not be empty"));
                None
            }
            Some(s) => Some(s),
            None if v.is_null() && !non_empty => None,
            None => {
                self.problem(doc, &child(path, key), format!("`{key}` must be a string"));
                None
            }
        }
    }

    /// A list of strings (a single string counts as a list of one), each with its path.
    fn strings(
        &mut self,
        doc: &Doc,
        path: &str,
        map: &Mapping,
        key: &str,
    ) -> Vec<(String, Option<usize>)> {
        // Paths are made only for a problem: every route has a few of these items.
        let items: Vec<(&Value, Option<usize>)> = match map.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Sequence(seq)) => {
                seq.iter().enumerate().map(|(i, v)| (v, Some(i))).collect()
            }
            Some(v) => vec![(v, None)],
        };
        let mut out = Vec::new();
        for (v, i) in items {
            match scalar(v) {
                Some(s) => out.push((s, i)),
                None => {
                    let at = item_path(path, key, i);
                    self.problem(doc, &at, format!("`{key}` must be a list of strings"));
                }
            }
        }
        out
    }

    fn boolean(&mut self, doc: &Doc, path: &str, map: &Mapping, key: &str) -> Option<bool> {
        match map.get(key)? {
            Value::Bool(b) => Some(*b),
            v => {
                let shown = scalar(v).unwrap_or_else(|| "a collection".into());
                self.problem(
                    doc,
                    &child(path, key),
                    format!("`{key}` must be true or false, not `{shown}`"),
                );
                None
            }
        }
    }

    /// A component status word; `path` is made only for a problem (every route has a few).
    fn status(
        &mut self,
        doc: &Doc,
        path: impl FnOnce() -> String,
        v: Option<&Value>,
    ) -> Option<ComponentStatus> {
        let parsed = scalar_text(v?)
            .unwrap_or_default()
            .parse::<ComponentStatus>();
        match parsed {
            Ok(s) => Some(s),
            Err(e) => {
                self.problem(doc, &path(), e.to_string());
                None
            }
        }
    }

    /// A component named at `path`; `who` says by what, should it turn out unknown. Most
    /// are declared already and need nothing kept (components only ever get added).
    fn refer(
        &mut self,
        doc: &Doc,
        path: impl FnOnce() -> String,
        id: &str,
        who: impl FnOnce() -> String,
    ) {
        if self.component_at.contains_key(id) {
            return;
        }
        self.refs.push(Ref {
            at: Place::at(doc, &path()),
            id: id.to_string(),
            who: who(),
        });
    }
}

/// Where item `i` of the list-of-strings field `key` is (`None`: the field is one scalar).
fn item_path(path: &str, key: &str, i: Option<usize>) -> String {
    let key_path = child(path, key);
    match i {
        Some(i) => child(&key_path, &i.to_string()),
        None => key_path,
    }
}

/// As [`scalar`], borrowing a string (most are): for text that is read, not kept.
fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        v => scalar(v).map(Cow::Owned),
    }
}

/// The text of a scalar: strings as they are, numbers and booleans as written.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub(super) fn nearest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = (len / 3).clamp(1, 3);
    candidates
        // Lengths further apart than the limit cannot be close; skip the full comparison.
        .filter(|c| {
            c.len().abs_diff(word.len()) <= limit * 4 && c.chars().count().abs_diff(len) <= limit
        })
        .map(|c| (distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_only_likely_typos() {
        assert_eq!(
            nearest("contine", ROUTE_KEYS.iter().copied()),
            Some("continue")
        );
        assert_eq!(
            nearest("components", ["component", "compo"].into_iter()),
            Some("component")
        );
        assert_eq!(nearest("zzz", ROUTE_KEYS.iter().copied()), None);
    }

    #[test]
    fn slo_is_read_and_a_bad_one_is_refused_at_its_line() {
        let good = "components:\n  - id: api\n    slo: {target: 99.95, window: 30d}\n";
        let c = super::super::Catalog::from_sources(&[("m.yaml".into(), good.into())]).unwrap();
        let slo = c.component("api").and_then(|c| c.slo).unwrap();
        assert_eq!((slo.target, slo.window_days), (99.95, 30));
        let bad = "components:\n  - id: api\n    slo:\n      target: 100\n      window: 400d\n  - id: web\n    slo: {target: 99, windw: 7d}\n";
        let e = super::super::Catalog::from_sources(&[("m.yaml".into(), bad.into())]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(
                "m.yaml:4: `slo.target` must be a percentage above 0 and below 100, not 100"
            ),
            "{text}"
        );
        assert!(
            text.contains("m.yaml:5: `slo.window` must be whole days from 1d to 365d"),
            "{text}"
        );
        assert!(
            text.contains("m.yaml:7: unknown field `windw`, did you mean `window`?"),
            "{text}"
        );
        assert!(
            text.contains("m.yaml:7: `slo` is missing `window`"),
            "{text}"
        );
    }
}
