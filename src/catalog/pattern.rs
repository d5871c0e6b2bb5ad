//! The values of `=~` and `!~` matchers, always fully anchored (`^(?:re)$`).
//!
//! Most patterns in mapping files are literals joined by `|`, perhaps with a `.*` at one end
//! (`P1|P2`, `api-gateway|api-.*`), or a handful of strings written with groups
//! (`svc-1-(api|worker)`). Those are tested with string comparisons, which is much faster
//! than a regex engine and needs no compilation (building a regex costs about a hundred
//! times more than parsing it); a large catalog loads and routes quickly because of it.
//! Everything else goes to the `regex` crate.

use std::collections::HashMap;

use regex::Regex;

/// Patterns by text, so that a pattern repeated across routes is compiled once.
pub(crate) type RegexCache = HashMap<String, Pattern>;

/// A pattern matching at most this many strings is kept as that list of strings.
const MAX_FINITE: usize = 16;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// Matches when any alternative does.
    Simple(Vec<Simple>),
    Regex(Regex),
}

/// One alternative of a simple pattern. `.` never matches a line break, so the `.*` forms
/// only match values without one (their literals never contain one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Simple {
    /// `lit`
    Exact(String),
    /// `lit.*`
    Prefix(String),
    /// `.*lit`
    Suffix(String),
    /// `.*lit.*`
    Contains(String),
    /// `.*`
    Any,
}

impl Pattern {
    /// Compiles `re`, or explains why it is not a valid regex.
    pub(crate) fn compile(re: &str, cache: &mut RegexCache) -> Result<Pattern, String> {
        if let Some(alternatives) = simple(re).or_else(|| one_group(re)) {
            return Ok(Pattern::Simple(alternatives));
        }
        if let Some(pattern) = cache.get(re) {
            return Ok(pattern.clone());
        }
        let anchored = format!("^(?:{re})$");
        // `balanced` first: a stray `)` or a `#` could make the anchored text mean
        // something else than `re`, and the regex crate must then explain the problem.
        let pattern = match finite(&anchored).filter(|_| balanced(re)) {
            Some(strings) => Pattern::Simple(strings),
            None => {
                let bad = |e: regex::Error| format!("invalid regex `{re}`: {}", regex_reason(&e));
                // A stray `)` would close the anchoring group early (`a)|(b` would become
                // an unanchored alternation), so such patterns are first checked on their own.
                if !balanced(re) {
                    Regex::new(re).map_err(bad)?;
                }
                Pattern::Regex(Regex::new(&anchored).map_err(bad)?)
            }
        };
        cache.insert(re.to_string(), pattern.clone());
        Ok(pattern)
    }

    /// True when the whole value matches.
    pub(crate) fn is_match(&self, value: &str) -> bool {
        match self {
            Pattern::Regex(re) => re.is_match(value),
            Pattern::Simple(alternatives) => alternatives.iter().any(|a| match a {
                Simple::Exact(lit) => value == lit,
                Simple::Prefix(lit) => value.starts_with(lit.as_str()) && !value.contains('\n'),
                Simple::Suffix(lit) => value.ends_with(lit.as_str()) && !value.contains('\n'),
                Simple::Contains(lit) => value.contains(lit.as_str()) && !value.contains('\n'),
                Simple::Any => !value.contains('\n'),
            }),
        }
    }
}

/// The regex crate's messages draw the pattern over several lines; keep the last line.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().rev().find_map(|l| l.strip_prefix("error: ")) {
        Some(reason) => reason.to_string(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// True when every `)` closes a `(` of the pattern itself. Patterns with `#` (a comment in
/// `(?x)` mode can hide a parenthesis) count as unbalanced, to be checked in full.
fn balanced(re: &str) -> bool {
    let mut depth = 0usize;
    let mut class = 0usize;
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '#' => return false,
            '[' => {
                class += 1;
                // A `]` (after an optional `^`) right after `[` is a literal.
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                }
            }
            ']' if class > 0 => class -= 1,
            '(' if class == 0 => depth += 1,
            ')' if class == 0 => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => {}
        }
    }
    true
}

/// The strings a fully anchored pattern (`^(?:re)$`) matches, when they are few: the same
/// parser as the regex crate's reads it, and its literal extractor lists them exactly.
/// `None` for anything else, and for patterns with counted repetition, whose compiled
/// size the regex crate must still judge.
fn finite(anchored: &str) -> Option<Vec<Simple>> {
    use regex_syntax::hir::literal::Extractor;
    use regex_syntax::hir::{Hir, HirKind, Look};
    if anchored.contains('{') {
        return None;
    }
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(anchored)
        .ok()?;
    // `^` and `$` around the pattern; the extractor treats any assertion as matching, so
    // the pattern itself must have none.
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let (start, rest) = parts.split_first()?;
    let (end, inner) = rest.split_last()?;
    if start.kind() != &HirKind::Look(Look::Start) || end.kind() != &HirKind::Look(Look::End) {
        return None;
    }
    let inner = Hir::concat(inner.to_vec());
    if !inner.properties().look_set().is_empty() {
        return None;
    }
    let mut extractor = Extractor::new();
    extractor.limit_total(MAX_FINITE);
    let seq = extractor.extract(&inner);
    let literals = seq.literals()?;
    if literals.is_empty() || literals.len() > MAX_FINITE || !seq.is_exact() {
        return None;
    }
    literals
        .iter()
        .map(|l| {
            std::str::from_utf8(l.as_bytes())
                .ok()
                .map(|s| Simple::Exact(s.to_string()))
        })
        .collect()
}

enum Token {
    Lit(char),
    DotStar,
}

/// Reads `re` as literals joined by `|`, each with an optional `.*` at either end; `None`
/// when it uses anything else.
fn simple(re: &str) -> Option<Vec<Simple>> {
    let mut alternatives = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in re.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '|' => {
                alternatives.push(simple_alternative(&re[start..i])?);
                start = i + 1;
            }
            _ => {}
        }
    }
    alternatives.push(simple_alternative(&re[start..])?);
    Some(alternatives)
}

/// The byte offset of the first `c` in `re` that no backslash escapes.
fn unescaped(re: &str, c: char) -> Option<usize> {
    let mut escaped = false;
    for (i, x) in re.char_indices() {
        match x {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            x if x == c => return Some(i),
            _ => {}
        }
    }
    None
}

/// Reads `re` as `lit(alt|alt|…)lit` (or `(?:…)`), literals only, and lists the strings it
/// matches: the most common grouped pattern, read without the regex parser. `None` for
/// anything else, such as a second group or an operator after the group.
fn one_group(re: &str) -> Option<Vec<Simple>> {
    let open = unescaped(re, '(')?;
    let start = if re[open + 1..].starts_with("?:") {
        open + 3
    } else {
        open + 1
    };
    let close = start + unescaped(&re[start..], ')')?;
    let literal = |text: &str| match simple_alternative(text)? {
        Simple::Exact(lit) => Some(lit),
        _ => None,
    };
    let (prefix, suffix) = (&re[..open], &re[close + 1..]);
    if unescaped(prefix, '|').is_some() || unescaped(suffix, '|').is_some() {
        return None;
    }
    let (prefix, suffix) = (literal(prefix)?, literal(suffix)?);
    let mut strings = Vec::new();
    let mut inner = &re[start..close];
    loop {
        let end = unescaped(inner, '|').unwrap_or(inner.len());
        strings.push(Simple::Exact(format!(
            "{prefix}{}{suffix}",
            literal(&inner[..end])?
        )));
        if end == inner.len() || strings.len() > MAX_FINITE {
            break;
        }
        inner = &inner[end + 1..];
    }
    (strings.len() <= MAX_FINITE).then_some(strings)
}

fn simple_alternative(alt: &str) -> Option<Simple> {
    let mut tokens = Vec::new();
    let mut chars = alt.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => Token::Lit(e),
                _ => return None,
            },
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                Token::DotStar
            }
            '\n' | '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None
            }
            c => Token::Lit(c),
        };
        tokens.push(token);
    }
    let lead = matches!(tokens.first(), Some(Token::DotStar));
    let trail = tokens.len() > usize::from(lead) && matches!(tokens.last(), Some(Token::DotStar));
    let inner = &tokens[usize::from(lead)..tokens.len() - usize::from(trail)];
    let mut lit = String::new();
    for t in inner {
        match t {
            Token::Lit(c) => lit.push(*c),
            Token::DotStar => return None,
        }
    }
    Some(match (lead, trail) {
        (true, _) if lit.is_empty() && tokens.len() == 1 => Simple::Any,
        (true, true) => Simple::Contains(lit),
        (true, false) => Simple::Suffix(lit),
        (false, true) => Simple::Prefix(lit),
        (false, false) => Simple::Exact(lit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(re: &str) -> Pattern {
        Pattern::compile(re, &mut RegexCache::new()).unwrap_or_else(|e| panic!("{re}: {e}"))
    }

    #[test]
    fn common_patterns_are_read_without_a_regex_engine() {
        let cases: [(&str, &[Simple]); 6] = [
            (
                "P1|P2",
                &[Simple::Exact("P1".into()), Simple::Exact("P2".into())],
            ),
            (
                "api-gateway|api-.*",
                &[
                    Simple::Exact("api-gateway".into()),
                    Simple::Prefix("api-".into()),
                ],
            ),
            (
                r".*\.example\.com",
                &[Simple::Suffix(".example.com".into())],
            ),
            (".*disk.*", &[Simple::Contains("disk".into())]),
            (".*|", &[Simple::Any, Simple::Exact(String::new())]),
            ("", &[Simple::Exact(String::new())]),
        ];
        for (re, want) in cases {
            match compile(re) {
                Pattern::Simple(got) => assert_eq!(got, want, "{re}"),
                Pattern::Regex(_) => panic!("{re} should be simple"),
            }
        }
        for re in [
            "a.*b",
            "a+",
            r"a\.*",
            "(?i)critical",
            "[a-z]",
            ".",
            r"\d",
            "a{2}",
            r"\ba\b",
            "a(b|c)+",
            "a(b|c.*)",
        ] {
            assert!(matches!(compile(re), Pattern::Regex(_)), "{re}");
        }
    }

    /// Patterns that match a handful of strings become those strings, and must agree with
    /// the regex they stand for.
    #[test]
    fn finite_patterns_are_their_strings_and_match_like_the_regex() {
        let patterns = [
            "svc-1-(api|worker)",
            "(?i)a",
            "[ab]c?",
            "a\nb",
            "(x|y)(1|2)",
            "é|[αβ]",
            "a|ab",
            "(?:)",
            r"10\.0\.0\.[12]",
            r"a\((b|c)\)",
            "x(?:1|2|)y",
            "(|a)b",
            r"\|(a\|)",
            "(a|b)|c",
        ];
        let words = "svc-1-api svc-1-worker svc-1- svc-1-apix xsvc-1-api a A b ac bc c x1 y2 x3 \
                     é α β ab abc 10.0.0.1 10.0.0.2 10.0.0.3 10a0a0a1 a(b) a(c) a(b|c) x1y x2y \
                     xy x3y |a| |a\\| a|";
        let values: Vec<&str> = ["", "a\nb", "a\n"]
            .into_iter()
            .chain(words.split_whitespace())
            .collect();
        for re in patterns {
            let fast = compile(re);
            assert!(matches!(fast, Pattern::Simple(_)), "{re}");
            let slow = Regex::new(&format!("^(?:{re})$")).unwrap_or_else(|e| panic!("{e}"));
            for &v in &values {
                assert_eq!(fast.is_match(v), slow.is_match(v), "{re} on {v:?}");
            }
        }
        // Compiled once per distinct text.
        let mut cache = RegexCache::new();
        for _ in 0..3 {
            let _ = Pattern::compile("svc-(a|b)-(c|d)", &mut cache);
            let _ = Pattern::compile("svc-[0-9]+", &mut cache);
        }
        assert_eq!(cache.len(), 2);
    }

    /// Simple patterns must agree with the regex they stand for.
    #[test]
    fn simple_patterns_match_exactly_like_the_regex() {
        let patterns = [
            "P1|P2",
            "api-.*|web",
            r".*\.com",
            ".*err.*",
            ".*",
            "a-b|",
            r"x\|y|\(z\)",
        ];
        let values = [
            "", "P1", "P12", "api-", "api-x", "api-x\ny", "web", "a.com", "acom", "err", "xerry",
            "a\n", "a-b", "x|y", "(z)",
        ];
        for re in patterns {
            let fast = compile(re);
            let slow = Regex::new(&format!("^(?:{re})$")).unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(fast, Pattern::Simple(_)), "{re}");
            for v in values {
                assert_eq!(fast.is_match(v), slow.is_match(v), "{re} on {v:?}");
            }
        }
    }

    #[test]
    fn regexes_are_anchored_and_cannot_escape_the_anchors() {
        let re = compile("ap[i]-(gw|edge)");
        assert!(re.is_match("api-gw") && !re.is_match("xapi-gw") && !re.is_match("api-gwx"));
        let err = |re: &str| {
            Pattern::compile(re, &mut RegexCache::new())
                .map(|_| ())
                .unwrap_err()
        };
        assert_eq!(err("a)|(b"), "invalid regex `a)|(b`: unopened group");
        assert_eq!(
            err("(?x)a#(\n)"),
            "invalid regex `(?x)a#(\n)`: unopened group"
        );
        assert_eq!(
            err("[z-a]"),
            "invalid regex `[z-a]`: invalid character class range, the start must be <= the end"
        );
        // The comment would swallow the anchoring `)$`.
        assert_eq!(err("(?x)a#"), "invalid regex `(?x)a#`: unclosed group");
        assert!(balanced(r"[)(]\)(a)") && !balanced("a)(") && balanced("[]a)]"));
    }
}
