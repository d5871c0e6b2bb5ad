//! Where a key is in the configuration file, so that every problem found after parsing
//! (validation, secrets) is reported as `file:line`, like a parse error.

/// One meaningful line: its number, its indentation (a `- ` counts as indentation of
/// the key after it), whether it starts a list item, and the text after the dash.
struct Line<'a> {
    number: usize,
    raw_indent: usize,
    indent: usize,
    item: bool,
    text: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let body = l.trim_start();
            if body.is_empty() || body.starts_with('#') {
                return None;
            }
            let raw_indent = l.len() - body.len();
            let (item, text) = match body.strip_prefix("- ") {
                Some(rest) => (true, rest.trim_start()),
                None => (body == "-", body),
            };
            Some(Line {
                number: i + 1,
                raw_indent,
                indent: raw_indent + (body.len() - text.len()),
                item,
                text,
            })
        })
        .collect()
}

fn is_key(text: &str, key: &str) -> bool {
    let t = text.trim_start_matches('{').trim_start();
    let t = t
        .strip_prefix(key)
        .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
        .or_else(|| t.strip_prefix(&format!("'{key}'")));
    t.is_some_and(|rest| rest.trim_start().starts_with(':'))
}

/// Whether `text` names a list item `name` (`name: x`, `id: x`, quoted or in a flow map).
fn names(text: &str, name: &str) -> bool {
    ["name", "id"].iter().any(|k| {
        [
            format!("{k}: {name}"),
            format!("{k}: \"{name}\""),
            format!("{k}: '{name}'"),
        ]
        .iter()
        .any(|pat| {
            text.match_indices(pat.as_str()).any(|(i, _)| {
                let before_ok = i == 0 || matches!(&text[i - 1..i], " " | "{" | ",");
                let after = &text[i + pat.len()..];
                before_ok && (after.is_empty() || after.starts_with([',', '}', ' ', '#']))
            })
        })
    })
}

/// The line of `path` (`watchdog.interval`, `publishers.hook.url`, `reconcile.alertmanagers.2.url`;
/// list items by `name`/`id` or by 1-based position) in the YAML `text`. When a key is not
/// written (a default, or a key that is missing), the line of its nearest written parent.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let all = lines(text);
    // The block being searched: a range of `all`, and the indentation its lines exceed.
    let (mut lo, mut hi, mut parent_line): (usize, usize, Option<usize>) = (0, all.len(), None);
    let mut found = None;
    for seg in path.split('.') {
        let block = &all[lo..hi];
        let Some(level) = block.iter().map(|l| l.indent).min() else {
            break;
        };
        let hit = block
            .iter()
            .position(|l| l.indent == level && is_key(l.text, seg))
            .or_else(|| list_item(block, seg));
        let Some(i) = hit else {
            // A flow map on the parent's line (`watchdog: {interval: 5m}`) keeps its keys there.
            if let Some(p) = parent_line {
                if all[p].text.contains(&format!("{seg}:")) {
                    return Some(all[p].number);
                }
            }
            break;
        };
        let at = lo + i;
        found = Some(all[at].number);
        parent_line = Some(at);
        // The item's own line holds its first key; the block is what is indented deeper.
        let start = item_start(&all, at);
        let base = all[start].raw_indent;
        let end = all[at + 1..hi]
            .iter()
            .position(|l| l.raw_indent <= base)
            .map_or(hi, |j| at + 1 + j);
        if all[at].item && !is_key(all[at].text, seg) {
            // A list item named `seg`: its keys are on its first line and below it.
            lo = at;
        } else {
            lo = at + 1;
        }
        hi = end;
        if lo >= hi {
            lo = at;
            hi = at + 1;
        }
    }
    found
}

/// The list item named `seg` (or at 1-based position `seg`) among `block`'s items.
fn list_item(block: &[Line<'_>], seg: &str) -> Option<usize> {
    let items: Vec<usize> = block
        .iter()
        .enumerate()
        .filter(|(_, l)| l.item)
        .map(|(i, _)| i)
        .collect();
    if let Ok(n) = seg.parse::<usize>() {
        return n.checked_sub(1).and_then(|n| items.get(n).copied());
    }
    let named = block.iter().position(|l| names(l.text, seg))?;
    // The item that holds that line: the last item start at or before it.
    items.into_iter().rev().find(|&i| i <= named)
}

/// The line that starts the list item `at` belongs to (itself when it is not in one).
fn item_start(all: &[Line<'_>], at: usize) -> usize {
    if all[at].item {
        return at;
    }
    let indent = all[at].indent;
    for i in (0..at).rev() {
        if all[i].item && all[i].indent == indent {
            return i;
        }
        if all[i].indent < indent {
            break;
        }
    }
    at
}

/// The key path a problem message starts with (`smtp.from: …` → `smtp.from`).
pub fn path_of(problem: &str) -> Option<&str> {
    let (path, _) = problem.split_once(':')?;
    (!path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
    .then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "listen: 127.0.0.1:1
# comment
watchdog:
  match: ['alertname=\"W\"']
  interval: 0s
reconcile:
  alertmanagers:
    - url: http://a
    - url: nope
      basic_auth: {username: u, password_file: /x}
publishers:
  - name: hook
    type: webhook
    url: ftp://x
  - {name: other, type: webhook, url: http://y}
smtp: {port: 25}
";

    #[test]
    fn keys_lists_and_flow_maps_are_found() {
        let at = |p| line_of(YAML, p);
        assert_eq!(at("listen"), Some(1));
        assert_eq!(at("watchdog.interval"), Some(5));
        assert_eq!(at("watchdog.match"), Some(4));
        assert_eq!(at("reconcile.alertmanagers.2.url"), Some(9));
        assert_eq!(at("reconcile.alertmanagers.2.basic_auth"), Some(10));
        assert_eq!(at("publishers.hook.url"), Some(14));
        assert_eq!(at("publishers.other.url"), Some(15));
        assert_eq!(at("smtp.from"), Some(16), "a missing key: its parent");
        assert_eq!(at("grouping.group_wait"), None);
    }

    #[test]
    fn problems_start_with_their_path() {
        assert_eq!(path_of("smtp.from: missing"), Some("smtp.from"));
        assert_eq!(path_of("storage is full: x"), None);
    }
}
