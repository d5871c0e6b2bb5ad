//! Redaction: public text never carries addresses, internal hostnames or tokens. Runs on
//! everything a template can see and again on what it produced and on every human edit.

use std::net::Ipv6Addr;

use regex::Regex;

use crate::config::RedactionConfig;

pub const REDACTED: &str = "[redacted]";

pub struct Redactor {
    internal: Vec<Vec<String>>,
    url: Regex,
    email: Regex,
    ipv4: Regex,
    ipv6: Regex,
    hostname: Regex,
    hex: Regex,
    base64: Regex,
    patterns: Vec<Regex>,
}

impl Redactor {
    /// Patterns were validated with the config; an invalid one here is skipped with a log.
    pub fn new(config: &RedactionConfig) -> Self {
        let re = |p: &str| Regex::new(p).expect("built-in redaction pattern compiles");
        Redactor {
            internal: config
                .internal_domains
                .iter()
                .map(|d| {
                    d.trim_matches('.')
                        .to_ascii_lowercase()
                        .split('.')
                        .map(String::from)
                        .collect()
                })
                .filter(|labels: &Vec<String>| labels.iter().all(|l| !l.is_empty()))
                .collect(),
            url: re(r#"(?i)\b[a-z][a-z0-9+.\-]*://[^\s<>"'`)\]]+"#),
            email: re(r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}\b"),
            ipv4: re(r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?::\d{1,5})?\b"),
            ipv6: re(r"(?i)\[?(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[0-9a-z]+)?\]?(?::\d{1,5})?"),
            hostname: re(r"(?i)\b[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9])?)+\.?(?::\d{1,5})?\b"),
            // No word boundaries: a run glued to a word (`req_<hex>`, `0x<hex>`) is as secret
            // as a free-standing one, and 32 hex digits in a row are never prose.
            hex: re(r"(?i)(?:\b0x)?[0-9a-f]{32,}"),
            base64: re(r"[A-Za-z0-9+/_\-]{40,}={0,2}"),
            patterns: config
                .patterns
                .iter()
                .filter_map(|p| match Regex::new(p) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(pattern = %p, error = %e, "skipping invalid redaction pattern");
                        None
                    }
                })
                .collect(),
        }
    }

    /// `text` with every sensitive run replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = only_where(&self.url, text, |url| self.url_is_internal(url));
        out = self.email.replace_all(&out, REDACTED).into_owned();
        out = self.ipv4.replace_all(&out, REDACTED).into_owned();
        out = only_where(&self.ipv6, &out, looks_like_ipv6);
        out = only_where(&self.hostname, &out, |host| self.host_is_internal(host));
        out = self.hex.replace_all(&out, REDACTED).into_owned();
        // A long run of letters only is a word (or a German compound), not a token.
        out = only_where(&self.base64, &out, |m| {
            m.chars()
                .any(|ch| ch.is_ascii_digit() || "+/_-=".contains(ch))
        });
        for p in &self.patterns {
            out = p.replace_all(&out, REDACTED).into_owned();
        }
        out
    }

    fn url_is_internal(&self, url: &str) -> bool {
        let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit('@').next().unwrap_or(authority);
        let host = if host_port.starts_with('[') {
            host_port
        } else {
            host_port.split(':').next().unwrap_or(host_port)
        };
        // Credentials in a URL, or an address for a host, are never public.
        authority.contains('@')
            || self.ipv4.is_match(host)
            || host.starts_with('[')
            || self.host_is_internal(host)
    }

    /// A hostname is internal when it ends with an entry or contains it as a whole run of
    /// labels (`db-3.internal.acme.net` for `internal`).
    fn host_is_internal(&self, host: &str) -> bool {
        let host = host.split(':').next().unwrap_or(host).trim_end_matches('.');
        let labels: Vec<String> = host
            .to_ascii_lowercase()
            .split('.')
            .map(String::from)
            .collect();
        if labels.len() < 2 {
            return false;
        }
        self.internal.iter().any(|entry| {
            entry.len() <= labels.len()
                && labels.windows(entry.len()).any(|w| w == entry.as_slice())
        })
    }
}

/// `text` with the matches of `re` that `sensitive` picks replaced by `[redacted]`.
fn only_where(re: &Regex, text: &str, sensitive: impl Fn(&str) -> bool) -> String {
    re.replace_all(text, |c: &regex::Captures| {
        let m = &c[0];
        if sensitive(m) {
            REDACTED.to_string()
        } else {
            m.to_string()
        }
    })
    .into_owned()
}

fn looks_like_ipv6(m: &str) -> bool {
    let core = m.trim_start_matches('[');
    let core = match core.find(']') {
        Some(i) => &core[..i],
        None => core,
    };
    let core = core.split('%').next().unwrap_or(core);
    core.matches(':').count() >= 2 && core.parse::<Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionConfig {
            patterns: vec![r"(?i)password=\S+".into()],
            ..RedactionConfig::default()
        })
    }

    #[test]
    fn addresses_and_internal_names_are_removed() {
        let r = redactor();
        assert_eq!(
            r.redact("db at 10.0.3.7:5432 down"),
            "db at [redacted] down"
        );
        assert_eq!(
            r.redact("peer fe80::1ff:fe23:4567:890a lost"),
            "peer [redacted] lost"
        );
        assert_eq!(
            r.redact("peer [2001:db8::1]:443 lost"),
            "peer [redacted] lost"
        );
        assert_eq!(r.redact("mail ops@acme.com now"), "mail [redacted] now");
        assert_eq!(
            r.redact("host db-3.internal.acme.net slow"),
            "host [redacted] slow"
        );
        assert_eq!(
            r.redact("svc api.payments.svc.cluster.local"),
            "svc [redacted]"
        );
        assert_eq!(
            r.redact("see http://grafana.corp/d/1 now"),
            "see [redacted] now"
        );
        assert_eq!(
            r.redact("login password=hunter2 failed"),
            "login [redacted] failed"
        );
    }

    #[test]
    fn tokens_are_removed_but_words_and_public_names_stay() {
        let r = redactor();
        assert_eq!(
            r.redact("key 4f9a0c3e1b2d4f9a0c3e1b2d4f9a0c3e1b2d used"),
            "key [redacted] used"
        );
        assert_eq!(
            r.redact("tok dGhpcyBpcyBhIHZlcnkgc2VjcmV0IHRva2VuIHZhbHVlIQ== x"),
            "tok [redacted] x"
        );
        assert_eq!(
            r.redact("id req_4f9a0c3e1b2d4f9a0c3e1b2d4f9a0c3e failed"),
            "id req_[redacted] failed"
        );
        assert_eq!(
            r.redact("at 0x4f9a0c3e1b2d4f9a0c3e1b2d4f9a0c3e, again"),
            "at [redacted], again"
        );
        assert_eq!(
            r.redact("trace=4F9A0C3E1B2D4F9A0C3E1B2D4F9A0C3Ez"),
            "trace=[redacted]z"
        );
        let kept = "Checkout at https://shop.example.com is slow; version 2.4.1 at 12:30 UTC";
        assert_eq!(r.redact(kept), kept);
    }
}
