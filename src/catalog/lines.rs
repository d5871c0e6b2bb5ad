//! Line numbers for the nodes of a YAML document, so that every problem can name its line.
//!
//! The YAML parser gives positions only for syntax errors, so this module scans the text
//! (already known to be valid YAML) for the block and flow structure and records the line
//! of each mapping key and sequence item under its path (`routes/3/match/1`). A construct
//! it does not follow only costs precision: lookups fall back to the nearest ancestor.

use std::collections::hash_map::Entry;

use super::index::FastMap;

/// The path of a child node: keys are escaped so that `/` inside a key stays unambiguous.
pub(super) fn child(path: &str, seg: &str) -> String {
    // Called for every node of every file: build the string once, escape only when needed.
    let mut out = String::with_capacity(path.len() + seg.len() + 1);
    if !path.is_empty() {
        out.push_str(path);
        out.push('/');
    }
    if seg.contains(['~', '/']) {
        out.push_str(&seg.replace('~', "~0").replace('/', "~1"));
    } else {
        out.push_str(seg);
    }
    out
}

/// A file's line table, scanned the first time a line is asked for: a valid catalog asks
/// for none (only problems and mapping tests name lines), and on a large file the scan
/// costs half as much as the YAML parse.
pub(super) struct LazyLines<'a> {
    /// The file's name, as messages show it.
    pub(super) name: &'a str,
    text: &'a str,
    lines: std::sync::OnceLock<Lines>,
}

impl<'a> LazyLines<'a> {
    pub(super) fn new(name: &'a str, text: &'a str) -> Self {
        LazyLines {
            name,
            text,
            lines: std::sync::OnceLock::new(),
        }
    }

    /// See [`Lines::get`].
    pub(super) fn get(&self, path: &str) -> usize {
        self.lines.get_or_init(|| Lines::scan(self.text)).get(path)
    }

    /// Whether the table was scanned (tests check that a valid catalog needs none).
    #[cfg(test)]
    pub(super) fn scanned(&self) -> bool {
        self.lines.get().is_some()
    }
}

/// Line of each node path; first occurrence wins, repeated keys are remembered too.
#[derive(Debug, Default)]
pub(super) struct Lines {
    map: FastMap<String, usize>,
    repeated: Vec<(String, usize)>,
}

impl Lines {
    /// Scans a document.
    pub(super) fn scan(text: &str) -> Lines {
        let mut s = Scanner {
            src: text.as_bytes(),
            pos: 0,
            starts: Vec::new(),
            stack: Vec::new(),
            pending: None,
            lines: Lines::default(),
        };
        s.starts.push(0);
        s.starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        // About one node per line; growing the map step by step costs more.
        s.lines.map.reserve(s.starts.len());
        s.run();
        s.lines
    }

    /// The line of the node at `path`, or of its nearest recorded ancestor; 0 if none.
    pub(super) fn get(&self, path: &str) -> usize {
        let mut p = path;
        loop {
            if let Some(&line) = self.map.get(p) {
                return line;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 0,
            }
        }
    }

    /// The line of the second occurrence of a key named `key`, for duplicate-key errors.
    pub(super) fn repeated_key(&self, key: &str) -> Option<usize> {
        let seg = child("", key);
        self.repeated
            .iter()
            .find(|(p, _)| p == &seg || p.ends_with(&format!("/{seg}")))
            .map(|(_, l)| *l)
    }

    fn record(&mut self, path: String, line: usize) {
        match self.map.entry(path) {
            Entry::Occupied(seen) => self.repeated.push((seen.key().clone(), line)),
            Entry::Vacant(slot) => drop(slot.insert(line)),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Map,
    Seq,
}

struct Frame {
    indent: usize,
    kind: Kind,
    path: String,
    next: usize,
}

/// A node whose value starts on a later line, and the column it hangs from.
struct Pending {
    path: String,
    col: usize,
    from_key: bool,
}

struct Scanner<'a> {
    src: &'a [u8],
    pos: usize,
    starts: Vec<usize>,
    stack: Vec<Frame>,
    pending: Option<Pending>,
    lines: Lines,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(b'\n')
    }

    fn line(&self) -> usize {
        self.starts.partition_point(|&s| s <= self.pos)
    }

    fn col(&self) -> usize {
        self.pos - self.starts[self.line() - 1]
    }

    fn eol(&self) -> usize {
        self.src[self.pos.min(self.src.len())..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.src.len(), |i| self.pos + i)
    }

    /// True at the end of the line's content (only spaces or a comment remain).
    fn at_line_end(&mut self) -> bool {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\r') && self.pos < self.src.len() {
            self.pos += 1;
        }
        matches!(self.at(self.pos), b'\n' | b'#')
    }

    fn run(&mut self) {
        while self.pos < self.src.len() {
            let start = self.pos;
            if !self.at_line_end() && !self.is_marker(start) {
                self.block_node();
            }
            self.pos = (self.eol() + 1).max(start + 1);
        }
    }

    fn is_marker(&self, start: usize) -> bool {
        let rest = &self.src[start..];
        self.pos == start
            && (rest.starts_with(b"---") || rest.starts_with(b"...") || rest.starts_with(b"%"))
    }

    /// A block sequence item, a block mapping key, or a scalar at the current position.
    fn block_node(&mut self) {
        let col = self.col();
        if self.at(self.pos) == b'-' && is_space(self.at(self.pos + 1)) {
            let Some(parent) = self.open(col, Kind::Seq) else {
                return;
            };
            let i = self.stack[parent].next;
            self.stack[parent].next += 1;
            let path = child(&self.stack[parent].path, &i.to_string());
            self.lines.record(path.clone(), self.line());
            self.pos += 1;
            self.pending = Some(Pending {
                path: path.clone(),
                col,
                from_key: false,
            });
            if !self.at_line_end() {
                if self.key_end().is_some()
                    || self.at(self.pos) == b'-' && is_space(self.at(self.pos + 1))
                {
                    self.block_node();
                } else {
                    self.pending = None;
                    self.value(&path);
                }
            }
        } else if let Some((key, after)) = self.key_end() {
            let Some(parent) = self.open(col, Kind::Map) else {
                return;
            };
            let path = child(&self.stack[parent].path, &key);
            self.lines.record(path.clone(), self.line());
            self.pos = after;
            if self.at_line_end() {
                self.pending = Some(Pending {
                    path,
                    col,
                    from_key: true,
                });
            } else {
                self.value(&path);
            }
        }
        // A bare scalar here continues a multi-line scalar: nothing to record.
    }

    /// Finds (or opens) the collection a node at `col` belongs to; `None` when the line is
    /// the continuation of something else.
    fn open(&mut self, col: usize, kind: Kind) -> Option<usize> {
        if let Some(p) = self.pending.take() {
            let fits = match kind {
                Kind::Seq if p.from_key => col >= p.col,
                _ => col > p.col,
            };
            if fits {
                self.stack.push(Frame {
                    indent: col,
                    kind,
                    path: p.path,
                    next: 0,
                });
                return Some(self.stack.len() - 1);
            }
        }
        while let Some(top) = self.stack.last() {
            if top.indent > col || (top.indent == col && top.kind == Kind::Seq && kind == Kind::Map)
            {
                self.stack.pop();
            } else {
                break;
            }
        }
        match self.stack.last() {
            None => {
                self.stack.push(Frame {
                    indent: col,
                    kind,
                    path: String::new(),
                    next: 0,
                });
                Some(0)
            }
            Some(top) if top.indent == col && top.kind == kind => Some(self.stack.len() - 1),
            Some(_) => None,
        }
    }

    /// If a block mapping key starts here: the key and the position after its `:`.
    fn key_end(&self) -> Option<(String, usize)> {
        let end = self.eol();
        let b = self.at(self.pos);
        let (key, mut i) = if b == b'"' || b == b'\'' {
            let close = self.quoted_end(self.pos).filter(|&c| c <= end)?;
            (unquote_key(&self.src[self.pos..close]), close)
        } else {
            if matches!(
                b,
                b'[' | b'{' | b'#' | b'|' | b'>' | b'&' | b'*' | b'!' | b'?'
            ) {
                return None;
            }
            let mut i = self.pos;
            while i < end && !(self.src[i] == b':' && is_space(self.at(i + 1))) {
                if self.src[i] == b'#' && i > 0 && is_space(self.src[i - 1]) {
                    return None;
                }
                i += 1;
            }
            let key = String::from_utf8_lossy(&self.src[self.pos..i])
                .trim_end()
                .to_string();
            (key, i)
        };
        while matches!(self.at(i), b' ' | b'\t') {
            i += 1;
        }
        (self.at(i) == b':' && is_space(self.at(i + 1))).then_some((key, i + 1))
    }

    /// Position just after the quoted scalar starting at `start`.
    fn quoted_end(&self, start: usize) -> Option<usize> {
        let q = self.src[start];
        let mut i = start + 1;
        while i < self.src.len() {
            match self.src[i] {
                b'\\' if q == b'"' => i += 2,
                b'\'' if q == b'\'' && self.at(i + 1) == b'\'' => i += 2,
                c if c == q => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// A value after `key:` or `- ` on the same line.
    fn value(&mut self, path: &str) {
        // Anchors and tags come before the value itself.
        while matches!(self.at(self.pos), b'&' | b'!') {
            while !is_space(self.at(self.pos)) && self.pos < self.src.len() {
                self.pos += 1;
            }
            if self.at_line_end() {
                let col = self.stack.last().map_or(0, |f| f.indent);
                self.pending = Some(Pending {
                    path: path.to_string(),
                    col,
                    from_key: true,
                });
                return;
            }
        }
        match self.at(self.pos) {
            b'[' | b'{' => self.flow(path),
            b'"' | b'\'' => self.pos = self.quoted_end(self.pos).unwrap_or(self.src.len()),
            b'|' | b'>' => self.skip_block_scalar(),
            _ => {}
        }
    }

    /// Block scalar text runs while lines are blank or indented past the owning collection.
    fn skip_block_scalar(&mut self) {
        let indent = self.stack.last().map_or(0, |f| f.indent);
        let mut next = self.eol() + 1;
        while next < self.src.len() {
            let line_end = self.src[next..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(self.src.len(), |i| next + i);
            let text = &self.src[next..line_end];
            let lead = text.iter().take_while(|&&b| b == b' ').count();
            if lead < text.len() && text[lead] != b'\r' && lead <= indent {
                break;
            }
            next = line_end + 1;
        }
        // `run` moves past the line `pos` is on.
        self.pos = next.saturating_sub(1).min(self.src.len());
    }

    /// A flow collection (`[…]` or `{…}`), possibly over several lines.
    fn flow(&mut self, path: &str) {
        let is_map = self.at(self.pos) == b'{';
        let close = if is_map { b'}' } else { b']' };
        self.pos += 1;
        let mut i = 0;
        while self.pos < self.src.len() {
            self.skip_flow_space();
            match self.at(self.pos) {
                c if c == close => {
                    self.pos += 1;
                    return;
                }
                b',' => self.pos += 1,
                _ => {
                    let start = self.pos;
                    let item = if is_map {
                        let key = self.flow_scalar();
                        child(path, &key)
                    } else {
                        i += 1;
                        child(path, &(i - 1).to_string())
                    };
                    let line = self.starts.partition_point(|&s| s <= start);
                    self.lines.record(item.clone(), line);
                    if !is_map {
                        self.flow_value(&item);
                    }
                    self.skip_flow_space();
                    if self.at(self.pos) == b':' {
                        self.pos += 1;
                        self.skip_flow_space();
                        if !matches!(self.at(self.pos), b',' | b'}' | b']') {
                            self.flow_value(&item);
                        }
                    }
                    if self.pos == start {
                        self.pos += 1;
                    }
                }
            }
        }
    }

    fn flow_value(&mut self, path: &str) {
        match self.at(self.pos) {
            b'[' | b'{' => self.flow(path),
            _ => {
                self.flow_scalar();
            }
        }
    }

    /// Reads a scalar inside a flow collection and returns its (key) text.
    fn flow_scalar(&mut self) -> String {
        let start = self.pos;
        if matches!(self.at(start), b'"' | b'\'') {
            self.pos = self.quoted_end(start).unwrap_or(self.src.len());
            return unquote_key(&self.src[start..self.pos]);
        }
        while self.pos < self.src.len() {
            let b = self.src[self.pos];
            let colon = b == b':'
                && (is_space(self.at(self.pos + 1))
                    || matches!(self.at(self.pos + 1), b',' | b'}' | b']'));
            if matches!(b, b',' | b'[' | b']' | b'{' | b'}' | b'\n') || colon {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.src[start..self.pos])
            .trim()
            .to_string()
    }

    fn skip_flow_space(&mut self) {
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => self.pos = self.eol(),
                _ => return,
            }
        }
    }
}

/// The text of a quoted key, with the common escapes undone.
fn unquote_key(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
    if raw.first() == Some(&b'\'') {
        inner.replace("''", "'")
    } else {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_items_and_flow_entries() {
        let text = "\
# comment
components:
  - id: api   # trailing
    name: \"Public: API\"
  - {id: web, depends_on: [api,
       db]}
routes:
- name: r1
  match:
    - 'a=\"1\"'
    - >
      folded text: not a key
  components: [api]
  \"quoted key\": 1
tests:
  - name: t
    labels: {a: '1', b: 2}
    expect: {}
";
        let l = Lines::scan(text);
        let want = [
            ("components", 2),
            ("components/0", 3),
            ("components/0/id", 3),
            ("components/0/name", 4),
            ("components/1", 5),
            ("components/1/depends_on", 5),
            ("components/1/depends_on/1", 6),
            ("routes", 7),
            ("routes/0/name", 8),
            ("routes/0/match/0", 10),
            ("routes/0/match/1", 11),
            ("routes/0/components/0", 13),
            ("routes/0/quoted key", 14),
            ("tests/0/labels/b", 17),
            ("tests/0/expect", 18),
            ("routes/0/match/1/folded text", 11),
        ];
        for (path, line) in want {
            assert_eq!(l.get(path), line, "{path}");
        }
        assert_eq!(l.get("nothing"), 0);
    }

    #[test]
    fn remembers_repeated_keys_and_odd_text_does_not_panic() {
        let l = Lines::scan("a: 1\nb:\n  c: 2\n  c: 3\n");
        assert_eq!(l.repeated_key("c"), Some(4));
        for text in [
            "",
            "-",
            "- - - x",
            "a: [",
            "a: \"x",
            "{",
            ":",
            "? x\n: y",
            "a: |\n  x\n b: 1",
            "a: &x\n  b: *x",
        ] {
            let _ = Lines::scan(text);
        }
    }
}
