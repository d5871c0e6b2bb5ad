//! Alertmanager label matchers: `name="value"`, `name!=value`, `name=~"re"`, `name!~"re"`.
//!
//! The syntax is Alertmanager's UTF-8 matcher syntax (protocols.md §1 "Matchers"), so a
//! platform team can paste matchers from their `alertmanager.yml` unchanged: values are
//! unquoted or double-quoted Go strings, several matchers are separated by commas, optional
//! braces must be paired and one trailing comma is allowed. Alertmanager's older "classic"
//! syntax, which it falls back to, is not accepted: one syntax keeps files unambiguous
//! (write `foo=""` rather than `foo=`).

use std::fmt;
use std::str::FromStr;

use super::pattern::{Pattern, RegexCache, Simple};
use super::Labels;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored regex)
    Regex,
    /// `!~` (fully anchored regex)
    NotRegex,
}

impl MatchOp {
    /// The operator as written in a matcher.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label matcher. A missing label matches as the empty string, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    /// The compiled value; only for the regex operators.
    pattern: Option<Pattern>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher, compiling the regex for `=~` and `!~`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        Matcher::build(name.into(), op, value.into(), &mut RegexCache::new())
    }

    fn build(
        name: String,
        op: MatchOp,
        value: String,
        cache: &mut RegexCache,
    ) -> Result<Matcher, String> {
        let pattern = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Pattern::compile(&value, cache)?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            pattern,
        })
    }

    /// Parses a comma-separated list of matchers, optionally in braces. `""` and `"{}"` give
    /// an empty list, which matches every alert.
    pub fn parse(text: &str) -> Result<Vec<Matcher>, String> {
        Matcher::parse_with(text, &mut RegexCache::new())
    }

    /// `parse`, reusing regexes already compiled for other matchers.
    pub(crate) fn parse_with(text: &str, cache: &mut RegexCache) -> Result<Vec<Matcher>, String> {
        Parser {
            src: text,
            pos: 0,
            cache,
        }
        .parse_all()
    }

    /// A rank for evaluation order: string comparisons before regex engines, so that a
    /// route is rejected cheaply when it can be.
    pub(crate) fn cost(&self) -> u8 {
        match &self.pattern {
            None => 0,
            Some(Pattern::Simple(_)) => 1,
            Some(Pattern::Regex(_)) => 2,
        }
    }

    /// For `=~`: the alternatives of the pattern when it is simple enough to index.
    pub(crate) fn simple_alternatives(&self) -> Option<&[Simple]> {
        match (&self.op, &self.pattern) {
            (MatchOp::Regex, Some(Pattern::Simple(alternatives))) => Some(alternatives),
            _ => None,
        }
    }

    /// True when the alert's labels satisfy this matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// True when a label value (`""` for a missing label) satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.pattern) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::Regex, Some(p)) => p.is_match(value),
            (MatchOp::NotRegex, Some(p)) => !p.is_match(value),
            // `new` always compiles a regex for the regex operators.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }
}

impl FromStr for Matcher {
    type Err = String;

    /// Parses exactly one matcher.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut all = Matcher::parse(s)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err("no matchers".to_string()),
            n => Err(format!("expected 1 matcher, found {n}")),
        }
    }
}

impl fmt::Display for Matcher {
    /// Writes the matcher back in the syntax `parse` reads, the value always quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.name.is_empty() && self.name.chars().all(|c| !is_reserved(c)) {
            f.write_str(&self.name)?;
        } else {
            write_quoted(f, &self.name)?;
        }
        f.write_str(self.op.as_str())?;
        write_quoted(f, &self.value)
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Characters an unquoted name or value may not contain.
fn is_reserved(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '!' | '=' | '~' | ',' | '\\' | '"' | '\'' | '`'
        )
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    Op(MatchOp),
    /// A name or value, and whether it was quoted.
    Text(String, bool),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "`{`".into(),
            Token::Close => "`}`".into(),
            Token::Comma => "`,`".into(),
            Token::Op(op) => format!("`{op}`"),
            Token::Text(t, true) => format!("`\"{t}\"`"),
            Token::Text(t, false) => format!("`{t}`"),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    cache: &'a mut RegexCache,
}

impl Parser<'_> {
    fn parse_all(mut self) -> Result<Vec<Matcher>, String> {
        let mut out = Vec::new();
        let braced = self.peek()? == Some(Token::Open);
        if braced {
            self.next()?;
        }
        loop {
            match self.next()? {
                None if braced => return Err("missing closing `}`".into()),
                None => return Ok(out),
                Some(Token::Close) if braced => return self.expect_end(out),
                Some(Token::Close) => return Err("unexpected `}` without an opening `{`".into()),
                Some(Token::Text(name, _)) => out.push(self.parse_rest(name)?),
                Some(t) => return Err(format!("expected a label name, found {}", t.describe())),
            }
            // After a matcher: a comma (possibly trailing), a closing brace, or the end.
            match self.next()? {
                Some(Token::Comma) => {}
                None if braced => return Err("missing closing `}`".into()),
                None => return Ok(out),
                Some(Token::Close) if braced => return self.expect_end(out),
                Some(Token::Close) => return Err("unexpected `}` without an opening `{`".into()),
                Some(t) => {
                    let last = out.last().map(ToString::to_string).unwrap_or_default();
                    return Err(format!(
                        "expected a comma after `{last}`, found {}",
                        t.describe()
                    ));
                }
            }
        }
    }

    fn parse_rest(&mut self, name: String) -> Result<Matcher, String> {
        let op = match self.next()? {
            Some(Token::Op(op)) => op,
            _ => {
                return Err(format!(
                    "expected an operator (=, !=, =~, !~) after `{name}`"
                ))
            }
        };
        match self.next()? {
            Some(Token::Text(value, _)) => Matcher::build(name, op, value, self.cache),
            Some(t) => Err(format!(
                "expected a label value after `{name}{op}`, found {}",
                t.describe()
            )),
            None => Err(format!("expected a label value after `{name}{op}`")),
        }
    }

    fn expect_end(&mut self, out: Vec<Matcher>) -> Result<Vec<Matcher>, String> {
        match self.next()? {
            None => Ok(out),
            Some(t) => Err(format!(
                "unexpected {} after the closing `}}`",
                t.describe()
            )),
        }
    }

    fn peek(&mut self) -> Result<Option<Token>, String> {
        let save = self.pos;
        let t = self.next();
        self.pos = save;
        t
    }

    fn next(&mut self) -> Result<Option<Token>, String> {
        let rest = &self.src[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let mut chars = trimmed.chars();
        let Some(c) = chars.next() else {
            return Ok(None);
        };
        let (token, len) = match (c, chars.next()) {
            ('{', _) => (Token::Open, 1),
            ('}', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            ('=', Some('~')) => (Token::Op(MatchOp::Regex), 2),
            ('=', _) => (Token::Op(MatchOp::Equal), 1),
            ('!', Some('=')) => (Token::Op(MatchOp::NotEqual), 2),
            ('!', Some('~')) => (Token::Op(MatchOp::NotRegex), 2),
            ('!', _) => return Err("unexpected `!` (expected `!=` or `!~`)".into()),
            ('"', _) => {
                let (text, len) = unquote(trimmed)?;
                (Token::Text(text, true), len)
            }
            (c, _) if is_reserved(c) => {
                return Err(format!(
                    "unexpected `{c}` (names and values containing it must be double-quoted)"
                ))
            }
            _ => {
                let len = trimmed.find(is_reserved).unwrap_or(trimmed.len());
                (Token::Text(trimmed[..len].to_string(), false), len)
            }
        };
        self.pos += len;
        Ok(Some(token))
    }
}

/// Decodes the double-quoted Go string at the start of `s`; returns it and its length in `s`.
fn unquote(s: &str) -> Result<(String, usize), String> {
    let mut bytes = Vec::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '"' => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| "quoted string is not valid UTF-8".to_string())?;
                return Ok((text, i + 1));
            }
            '\n' => return Err("line break inside a quoted string (write `\\n`)".into()),
            '\\' => {
                let Some((_, e)) = it.next() else { break };
                let simple = match e {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    '"' => Some(b'"'),
                    _ => None,
                };
                if let Some(b) = simple {
                    bytes.push(b);
                    continue;
                }
                let (digits, radix) = match e {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => (2, 8),
                    _ => return Err(format!("invalid escape `\\{e}` in a quoted string")),
                };
                let mut code = if radix == 8 {
                    e.to_digit(8).unwrap_or(0)
                } else {
                    0
                };
                for _ in 0..digits {
                    let d = it.next().and_then(|(_, d)| d.to_digit(radix));
                    let Some(d) = d else {
                        return Err(format!("invalid escape `\\{e}…` in a quoted string"));
                    };
                    code = code.saturating_mul(radix).saturating_add(d);
                }
                match e {
                    'u' | 'U' => {
                        let Some(ch) = char::from_u32(code) else {
                            return Err(format!(
                                "invalid code point U+{code:X} in a quoted string"
                            ));
                        };
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => match u8::try_from(code) {
                        Ok(b) => bytes.push(b),
                        Err(_) => {
                            return Err(format!("octal escape `\\{code:o}` is larger than 255"))
                        }
                    },
                }
            }
            c => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Err("unterminated quoted string".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn one(text: &str) -> Matcher {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_operator_with_and_without_quotes_and_braces() {
        let cases = [
            ("foo=bar", MatchOp::Equal, "bar"),
            ("{foo!=bar}", MatchOp::NotEqual, "bar"),
            ("foo=~[a-z]+", MatchOp::Regex, "[a-z]+"),
            ("foo!~\"[a-z]+\"", MatchOp::NotRegex, "[a-z]+"),
            ("{\"foo\"=\"bar\",}", MatchOp::Equal, "bar"),
            ("foo=🙂bar", MatchOp::Equal, "🙂bar"),
            ("  foo  =  \"a b\"  ", MatchOp::Equal, "a b"),
        ];
        for (text, op, value) in cases {
            let m = one(text);
            assert_eq!(
                (m.name.as_str(), m.op, m.value.as_str()),
                ("foo", op, value),
                "{text}"
            );
        }
        let many = Matcher::parse("{a=1, b!=\"2\",c=~x|y,}").unwrap();
        assert_eq!(
            many.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["a=\"1\"", "b!=\"2\"", "c=~\"x|y\""]
        );
        assert!(Matcher::parse("").unwrap().is_empty());
        assert!(Matcher::parse("{}").unwrap().is_empty());
    }

    #[test]
    fn quoted_strings_follow_go_escapes_and_names_may_be_any_utf8() {
        let m = one(r#""service name"="a\"b\\c\n\t\u00e9\U0001f642\x41\101""#);
        assert_eq!(m.name, "service name");
        assert_eq!(m.value, "a\"b\\c\n\té🙂AA");
        assert_eq!(one(r#"foo="\xf0\x9f\x99\x82""#).value, "🙂");
        assert_eq!(one(&m.to_string()), m, "display round-trips");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("foo=\"bar", "unterminated quoted string"),
            ("foo=~\"(\"", "invalid regex `(`: unclosed group"),
            (
                "service",
                "expected an operator (=, !=, =~, !~) after `service`",
            ),
            (
                "service bar",
                "expected an operator (=, !=, =~, !~) after `service`",
            ),
            ("foo=", "expected a label value after `foo=`"),
            ("foo=,", "expected a label value after `foo=`, found `,`"),
            (",", "expected a label name, found `,`"),
            ("{foo=bar", "missing closing `}`"),
            ("foo=bar}", "unexpected `}` without an opening `{`"),
            ("{foo=bar}x", "unexpected `x` after the closing `}`"),
            (
                "foo=bar baz=1",
                "expected a comma after `foo=\"bar\"`, found `baz`",
            ),
            ("foo=bar,,", "expected a label name, found `,`"),
            (
                "foo='bar'",
                "unexpected `'` (names and values containing it must be double-quoted)",
            ),
            ("foo!bar", "unexpected `!` (expected `!=` or `!~`)"),
            (r#"foo="\w""#, "invalid escape `\\w` in a quoted string"),
            (r#"foo="\xf0\x9f""#, "quoted string is not valid UTF-8"),
            ("foo=~\"a)|(b\"", "invalid regex `a)|(b`: unopened group"),
        ];
        for (text, want) in cases {
            assert_eq!(Matcher::parse(text).unwrap_err(), want, "{text}");
        }
        assert_eq!("".parse::<Matcher>().unwrap_err(), "no matchers");
        assert_eq!(
            "a=1,b=2".parse::<Matcher>().unwrap_err(),
            "expected 1 matcher, found 2"
        );
    }

    #[test]
    fn regexes_are_anchored_and_missing_labels_match_empty() {
        let l = labels(&[("service", "api-gateway"), ("env", "prod")]);
        assert!(one("service=~\"api-.*\"").matches(&l));
        assert!(
            !one("service=~\"api\"").matches(&l),
            "anchored at both ends"
        );
        assert!(!one("service=~\"gateway\"").matches(&l));
        assert!(one("service!~\"web.*\"").matches(&l));
        assert!(one("team=\"\"").matches(&l), "absent label is empty");
        assert!(!one("team!=\"\"").matches(&l));
        assert!(one("team!=ops").matches(&l));
        assert!(one("team=~\"|ops\"").matches(&l));
        assert!(!one("env!=prod").matches(&l));
    }
}
