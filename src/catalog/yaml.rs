//! Reading a mapping file's text into a YAML tree. A catalog of thousands of routes is
//! mostly plain YAML (no tags, no aliases), and building its tree straight from a streaming
//! parser's events takes a fraction of the time and memory of `serde_norway`, which first
//! records every event of the document. Any document that uses more of YAML, or that the
//! streaming parser refuses, is read by `serde_norway` as before, so the tree, the errors
//! and their messages are always `serde_norway`'s.

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_norway::{Mapping, Value};

/// The tree of one file, exactly as `serde_norway::from_str::<Value>` reads it.
pub(super) fn parse(text: &str) -> Result<Value, serde_norway::Error> {
    match streamed(text) {
        Some(tree) => Ok(tree),
        None => serde_norway::from_str(text),
    }
}

/// The fast reader and `serde_norway` agree on `text`, read whole and in two parts: both
/// refuse it, or both read the same tree. The fuzz target `mapping_file` holds the fast
/// reader to this on any input.
#[doc(hidden)]
pub fn agrees_with_reference(text: &str) -> bool {
    let reference = serde_norway::from_str::<Value>(text);
    let in_parts = cut(text).and_then(|at| joined(text, at));
    [streamed(text), in_parts]
        .into_iter()
        .all(|fast| match (fast, &reference) {
            (None, _) => true,
            (Some(fast), Ok(reference)) => same(&fast, reference),
            (Some(_), Err(_)) => false,
        })
}

/// From this size on (bytes), a file is read on two threads when it can be cut.
pub(super) const SPLIT_FROM: usize = 256 * 1024;

/// Where a large file is cut: the first `routes` item halfway in, if the file can be cut
/// at all. Each part's routes are then taken on the thread that read it.
pub(super) fn cut(text: &str) -> Option<usize> {
    halves_at(text, text.len() / 2)
}

/// The rest of a file's `routes` list, read on another thread and handed to the work given
/// to [`split`]; `None` when the fast reader refuses it (or that work gives up).
pub(super) type Tail<'s, T> = std::thread::ScopedJoinHandle<'s, Option<T>>;

/// A file read in two parts at once: its head (`..at`, everything up to a `routes` item)
/// on this thread, and the rest of that list (`at..`, on its own a list) on another, which
/// then does `then` with its items. `None` when the fast reader refuses the head or the
/// head has no `routes` list. A cut inside a quoted string or a flow collection leaves the
/// head unterminated, so it is refused.
pub(super) fn split<'s, T: Send + 's>(
    scope: &'s std::thread::Scope<'s, '_>,
    text: &'s str,
    at: usize,
    then: impl FnOnce(Vec<Value>) -> Option<T> + Send + 's,
) -> Option<(Value, Tail<'s, T>)> {
    let (head, rest) = text.split_at(at);
    let tail = scope.spawn(move || match streamed(rest)? {
        Value::Sequence(items) => then(items),
        _ => None,
    });
    let head = streamed(head)?;
    matches!(head.get("routes"), Some(Value::Sequence(_))).then_some((head, tail))
}

/// The two parts of [`split`] joined again into the file's tree.
fn joined(text: &str, at: usize) -> Option<Value> {
    std::thread::scope(|s| {
        let (mut head, tail) = split(s, text, at, Some)?;
        let tail = tail.join().ok()??;
        if let Some(Value::Sequence(routes)) = head.get_mut("routes") {
            routes.extend(tail);
        }
        Some(head)
    })
}

/// Where a file can be cut in two that read as its head and the rest of its `routes`
/// list: the first item of that list at or after `from`. Only when the top-level `routes:`
/// list runs to the end of the file: every line after its first item is blank, a comment,
/// indented deeper than the items, or an item itself. A cut inside a quoted string or a
/// flow collection leaves the head unterminated, so the fast reader refuses it.
fn halves_at(text: &str, from: usize) -> Option<usize> {
    // Lines are taken at `\n` here; a lone `\r` also breaks one for YAML.
    let lone_return = |line: &str| line.strip_suffix('\r').unwrap_or(line).contains('\r');
    if text.contains('\r') && text.split('\n').any(lone_return) {
        return None;
    }
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').map(|line| {
        let at = offset;
        offset += line.len();
        (at, line)
    });
    lines.find(|(_, line)| line.starts_with("routes:") && uncommented(line) == "routes:")?;
    let mut indent = None;
    let mut cut = None;
    for (at, line) in lines {
        if uncommented(line).is_empty() {
            continue;
        }
        let depth = line.len() - line.trim_start_matches(' ').len();
        let first = indent.is_none();
        let indent = *indent.get_or_insert(depth);
        if depth > indent {
            continue;
        }
        let rest = &line[depth..];
        if depth < indent || !(rest.starts_with("- ") || uncommented(rest) == "-") {
            return None;
        }
        if cut.is_none() && !first && at >= from {
            cut = Some(at);
        }
    }
    cut
}

/// A line without its comment and surrounding spaces; a `#` counts as a comment only at
/// the start or after a space, as in YAML.
fn uncommented(line: &str) -> &str {
    let line = line.trim();
    if line.starts_with('#') {
        return "";
    }
    match line.find(" #") {
        Some(at) => line[..at].trim_end(),
        None => line,
    }
}

/// Equality that also holds mappings to their key order, which `Mapping`'s own `==`
/// ignores: the catalog reads entries in file order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Mapping(x), Value::Mapping(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

/// Nesting the fast reader builds; deeper documents (none in practice) go to
/// `serde_norway`, which refuses past 128 levels with its own message.
const MAX_DEPTH: usize = 64;

enum Open {
    Sequence(Vec<Value>),
    Mapping(Mapping, Option<Value>),
}

/// The tree, or `None` when the document is not one the fast reader takes: a parse error,
/// a tag, an anchor or alias, a block scalar (`|`, `>`) or any scalar over more than one
/// line, more than one document or a document end marker (`...`), a null or duplicate key,
/// a number `serde_norway` refuses, very deep nesting, a `:` right before a flow indicator,
/// and any character outside what libyaml calls printable, a tab included. libyaml reads
/// YAML 1.1 and the streaming parser YAML 1.2, and those are where they differ; in each
/// case `serde_norway` decides, including on the error.
fn streamed(text: &str) -> Option<Value> {
    let ascii_printable = |b| matches!(b, b'\n' | b'\r' | b' '..=b'~');
    if !(text.bytes().all(ascii_printable) || text.chars().all(printable)) {
        return None;
    }
    // libyaml refuses `x:,` or `x:]` in a flow collection, where YAML 1.2 reads a key.
    let colon_then_flow = |w: &[u8]| w[0] == b':' && b",?[]{}".contains(&w[1]);
    // A document end marker at the start of a line (a line ends at `\n`, `\r` or both).
    if text.starts_with("...")
        || text.contains("\n...")
        || text.contains("\r...")
        || text.as_bytes().windows(2).any(colon_then_flow)
    {
        return None;
    }
    let mut open: Vec<Open> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Scalar(..) if span.start.line() != span.end.line() => return None,
            Event::Alias(_)
            | Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, _, _)
            | Event::Scalar(_, _, 1.., _)
            | Event::Scalar(_, _, _, Some(_))
            | Event::SequenceStart(1.., _)
            | Event::SequenceStart(_, Some(_))
            | Event::MappingStart(1.., _)
            | Event::MappingStart(_, Some(_)) => return None,
            Event::SequenceStart(..) | Event::MappingStart(..) if open.len() >= MAX_DEPTH => {
                return None
            }
            Event::SequenceStart(..) => {
                open.push(Open::Sequence(Vec::new()));
                continue;
            }
            Event::MappingStart(..) => {
                open.push(Open::Mapping(Mapping::new(), None));
                continue;
            }
            // libyaml never starts a plain scalar with an indicator other than `-` (it reads
            // one as an indicator, or refuses it: `{|a: b}`), where the streaming parser may.
            Event::Scalar(text, ScalarStyle::Plain, ..) if text.starts_with(INDICATORS) => {
                return None
            }
            Event::Scalar(text, ScalarStyle::Plain, _, None) => plain(&text)?,
            Event::Scalar(text, _, _, None) => Value::String(text.into_owned()),
            Event::SequenceEnd => match open.pop()? {
                Open::Sequence(items) => Value::Sequence(items),
                Open::Mapping(..) => return None,
            },
            Event::MappingEnd => match open.pop()? {
                Open::Mapping(map, None) => Value::Mapping(map),
                _ => return None,
            },
        };
        match open.last_mut() {
            None if root.is_none() => root = Some(node),
            None => return None,
            Some(Open::Sequence(items)) => items.push(node),
            // An empty or null key: never one a mapping file needs, and libyaml refuses some
            // forms of it (`: x`) that the streaming parser takes.
            Some(Open::Mapping(_, None)) if node.is_null() => return None,
            Some(Open::Mapping(_, key @ None)) => *key = Some(node),
            Some(Open::Mapping(map, key)) => {
                // A duplicate key is `serde_norway`'s error to report.
                if map.insert(key.take()?, node).is_some() {
                    return None;
                }
            }
        }
    }
    if open.is_empty() {
        root
    } else {
        None
    }
}

/// YAML's indicator characters, less `-`, which may start a plain scalar (`-x`).
const INDICATORS: [char; 18] = [
    '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
];

/// Characters libyaml reads (its `IS_PRINTABLE`), less the tab, the byte order mark, and
/// NEL, LS and PS: line breaks to libyaml (YAML 1.1), text to the streaming parser.
fn printable(c: char) -> bool {
    matches!(c, '\n' | '\r' | ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' | '\u{10000}'..)
        || ('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}'
}

/// A plain scalar's value by `serde_norway`'s rules: null and boolean words, numbers,
/// and every other text a string; `None` for a number it refuses (wider than 64 bits).
fn plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // Only such text can be a number (`12`, `-0x1f`, `+.inf`, `1e3`). It is resolved by
    // `serde_norway` itself so that both readers agree on every edge; on its own the text
    // reads as one plain scalar, as `---` and `...` (document markers) would not.
    let numeric_start = text.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c));
    let one_word = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b));
    if numeric_start && one_word && text != "---" && text != "..." {
        return match serde_norway::from_str::<Value>(text).ok()? {
            number @ Value::Number(_) => Some(number),
            Value::String(same) if same == text => Some(Value::String(same)),
            _ => None,
        };
    }
    Some(Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents the fast reader takes, each read exactly as `serde_norway` reads it.
    const TAKEN: &[&str] = &[
        "components:\n  - {id: api, name: API}\nroutes:\n  - name: r\n    match: ['a=\"b\"']\n",
        "a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 1.5\nf: +.inf\ng: .nan\nh: 1e3\ni: 012\nj: -0b101\n",
        "a: ~\nb:\nc: null\nd: True\ne: FALSE\nf: 'true'\ng: \"12\"\nh: yes\ni: on\n",
        "a: ---\nb: ...\nd: .\ne: -x\nf: 1.2.3\ng: 1_000\nh: 18446744073709551615\n",
        "? [a, b]\n: complex key\n1: number key\n[a:b, -x, -1]: {-a: -b, c: d:e}\n",
        "- 1\n- [2, [3, {a: b}]]\n",
        "\"quoted \\u00e9 \\t\": 'it''s'\n",
    ];

    /// Documents the fast reader leaves to `serde_norway`, which reads or refuses them.
    const LEFT: &[&str] = &[
        "a: b\u{85}c\n",
        "a: 'b\u{85}c'\n",
        "a: b\u{2028}c\n",
        "a: {|b: c}\n",
        "a: [>b]\n",
        "a: [@b, `c]\n",
        "a: {x: %b}\n",
        "base: &b {x: 1}\nuse:\n  <<: *b\n",
        "a: !!str 1\n",
        "a: !custom x\n",
        "anchored: &a {x: 1}\n",
        "a: &x% b\n",
        "text: |\n  two\n  lines\n",
        "folded: >\n  one\n  line",
        "a: b\u{1b}c\n",
        "a: b\u{7f}\n",
        "a: 1\n---\nb: 2\n",
        "a: 1\na: 2\n",
        "a: [1, 2\n",
        "\u{feff}a: 1\n",
        "\ta: 1\n",
        "a: 'tab\tinside'\n",
        "c: -\n",
        "a: [:auth]\n",
        "[?y]\n",
        "plain: a\n  b\n",
        "quoted: 'a\n  b'\n",
        "{idai:, b: c}\n",
        "a: b\n...\nc\n",
        "\r...\r.",
        "a: b\r...\rc\r",
        ": x\n",
        "{: a}\n",
        "? ~\n: a\n",
        "h: 18446744073709551616\n",
        "# only a comment\n",
        "",
    ];

    #[test]
    fn the_fast_reader_reads_what_serde_norway_reads() {
        for text in TAKEN {
            let fast = streamed(text);
            assert!(fast.is_some(), "not taken: {text:?}");
            assert!(agrees_with_reference(text), "differs: {text:?}");
        }
        for text in TAKEN.iter().chain(LEFT) {
            let reference = serde_norway::from_str::<Value>(text).map_err(|e| e.to_string());
            assert_eq!(
                parse(text)
                    .map_err(|e| e.to_string())
                    .map(|v| format!("{v:?}")),
                reference.map(|v| format!("{v:?}")),
                "{text:?}"
            );
        }
    }

    #[test]
    fn what_only_serde_norway_reads_is_left_to_it() {
        for text in LEFT {
            assert!(streamed(text).is_none(), "taken: {text:?}");
        }
    }

    fn catalog(routes: usize, indent: &str) -> String {
        let routes: String = (0..routes)
            .map(|i| {
                format!(
                    "{indent}- name: r{i}   # route {i}\n\n{indent}  match: ['a=\"{i}\"']\n{indent}  components: [c]\n"
                )
            })
            .collect();
        format!("components:\n  - {{id: c, name: C}}\nroutes:\n{routes}# the end\n")
    }

    #[test]
    fn a_routes_list_that_runs_to_the_end_is_read_in_two_parts_alike() {
        for indent in ["  ", ""] {
            let text = catalog(40, indent);
            let at = halves_at(&text, text.len() / 2).expect("a cut");
            assert!(
                text[at..].starts_with(&format!("{indent}- name: r")),
                "{indent:?}"
            );
            let whole = serde_norway::from_str::<Value>(&text).expect("valid");
            assert_eq!(joined(&text, at), Some(whole), "{indent:?}");
            assert!(agrees_with_reference(&text));
        }
    }

    #[test]
    fn a_file_is_cut_only_where_both_halves_read_as_the_whole() {
        let text = catalog(40, "  ");
        for (what, changed) in [
            ("a key after the list", format!("{text}tests: []\n")),
            (
                "a key after a lone carriage return",
                format!("{text}# the end\rtests: []\n"),
            ),
            ("a less indented line", format!("{text} x: 1\n")),
            (
                "the list not at the top",
                text.replace("routes:", "other:\n  routes:"),
            ),
            ("an anchored list", text.replace("routes:", "routes: &all")),
        ] {
            assert_eq!(halves_at(&changed, changed.len() / 2), None, "{what}");
            assert!(agrees_with_reference(&changed), "{what}");
        }
        // A quoted string that runs over an item's line: the head is unterminated.
        let text = text.replace("- name: r30 ", "- name: \"r30\n  - x\"");
        let at = text.find("  - x").expect("the line");
        assert_eq!(joined(&text, at), None);
        assert!(agrees_with_reference(&text));
    }

    #[test]
    fn every_mapping_file_in_the_repository_reads_alike() {
        let root = env!("CARGO_MANIFEST_DIR");
        let mut seen = 0;
        for dir in ["mappings", "tests/fixtures/catalog", "examples"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}")) else {
                continue;
            };
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml")
                ) {
                    let text = std::fs::read_to_string(&path).expect("a readable fixture");
                    assert!(agrees_with_reference(&text), "{}", path.display());
                    // The example catalog is what teams copy: it must take the fast reader.
                    if dir == "mappings" {
                        assert!(streamed(&text).is_some(), "{}", path.display());
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen > 5, "only {seen} files");
    }
}
