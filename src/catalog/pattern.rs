//! The values of `=~` and `!~` matchers, always fully anchored (`^(?:re)$`).
//!
//! Most patterns in mapping files are literals joined by `|`, perhaps with a `.*` at one end
//! (`P1|P2`, `api-gateway|api-.*`). Those are tested with string comparisons, which is
//! much faster than a regex engine and needs no compilation; a large catalog loads and
//! routes quickly because of it. Everything else goes to the `regex` crate.

use std::collections::HashMap;

use regex::Regex;

/// Compiled regexes by pattern, so that a pattern repeated across routes compiles once.
pub(crate) type RegexCache = HashMap<String, Regex>;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    /// Matches when any alternative does.
    Simple(Vec<Simple>),
    Regex(Regex),
}

/// One alternative of a simple pattern. The literals never contain a line break, and `.`
/// never matches one, so the `.*` forms only match values without line breaks.
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
        if let Some(alternatives) = simple(re) {
            return Ok(Pattern::Simple(alternatives));
        }
        if let Some(regex) = cache.get(re) {
            return Ok(Pattern::Regex(regex.clone()));
        }
        let bad = |e: regex::Error| format!("invalid regex `{re}`: {}", regex_reason(&e));
        // A stray `)` would close the anchoring group early (`a)|(b` would become an
        // unanchored alternation), so such patterns are first checked on their own.
        if !balanced(re) {
            Regex::new(re).map_err(bad)?;
        }
        let regex = Regex::new(&format!("^(?:{re})$")).map_err(bad)?;
        cache.insert(re.to_string(), regex.clone());
        Ok(Pattern::Regex(regex))
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
        for re in ["a.*b", "a+", r"a\.*", "(?i)a", "a\nb", "[ab]", ".", r"\d"] {
            assert!(matches!(compile(re), Pattern::Regex(_)), "{re}");
        }
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
        assert!(balanced(r"[)(]\)(a)") && !balanced("a)(") && balanced("[]a)]"));
    }
}
