//! `history.atom` (Atom 1.0, RFC 4287) and `history.rss` (RSS 2.0): one entry per
//! published update of an incident or a maintenance, newest first. Ids are stable (they
//! name the update, which never changes), links absolute, times UTC.

use chrono::{DateTime, Utc};

use super::statuspage::time;
use crate::publish::{Incident, Maintenance};
use crate::vocab::IncidentStatus;

/// How many entries a feed carries.
const ENTRIES: usize = 100;

/// One published update, from an incident or a maintenance.
pub struct Entry {
    /// Absolute permalink of the update (the incident page with a fragment).
    pub id: String,
    pub link: String,
    pub title: String,
    pub body: String,
    pub status: &'static str,
    pub at: DateTime<Utc>,
}

/// One update of the incident or maintenance `event` (both have their page at
/// `/incidents/<id>`).
fn entry(
    base: &str,
    event: &str,
    name: &str,
    update: &str,
    status: IncidentStatus,
    body: &str,
    at: DateTime<Utc>,
) -> Entry {
    let link = format!("{base}/incidents/{event}");
    Entry {
        id: format!("{link}#update-{update}"),
        link,
        title: format!("{name}: {}", status.label()),
        body: body.to_string(),
        status: status.as_str(),
        at,
    }
}

/// Every published update, newest first, at most [`ENTRIES`].
pub fn entries(incidents: &[Incident], maintenances: &[Maintenance], base: &str) -> Vec<Entry> {
    let base = base.trim_end_matches('/');
    let mut out = Vec::new();
    for i in incidents {
        for u in &i.updates {
            let name = &i.name;
            out.push(entry(
                base,
                &i.id,
                name,
                &u.id,
                u.status,
                &u.body,
                u.display_at,
            ));
        }
    }
    for m in maintenances {
        for u in &m.updates {
            let name = format!("Maintenance: {}", m.name);
            out.push(entry(
                base,
                &m.id,
                &name,
                &u.id,
                u.status,
                &u.body,
                u.created_at,
            ));
        }
    }
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    out.truncate(ENTRIES);
    out
}

/// Escapes text for XML character data and attribute values, dropping characters XML 1.0
/// does not allow at all.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

fn rfc822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// What both feeds begin with.
struct Head {
    /// Escaped, without a trailing `/`.
    base: String,
    /// Escaped.
    name: String,
    /// The newest entry's time, never before the snapshot's.
    updated: DateTime<Utc>,
    /// The document so far: the XML declaration.
    x: String,
}

impl Head {
    fn new(name: &str, base: &str, updated: DateTime<Utc>, entries: &[Entry]) -> Head {
        let mut x = String::with_capacity(1024 + entries.len() * 512);
        x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        Head {
            base: xml_escape(base.trim_end_matches('/')),
            name: xml_escape(name),
            updated: entries.first().map_or(updated, |e| e.at).max(updated),
            x,
        }
    }
}

/// The Atom document.
pub fn atom(name: &str, base: &str, updated: DateTime<Utc>, entries: &[Entry]) -> String {
    let Head {
        base,
        name,
        updated,
        mut x,
    } = Head::new(name, base, updated, entries);
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n");
    x.push_str(&format!("  <id>{base}/history.atom</id>\n"));
    x.push_str(&format!("  <title>{name} status history</title>\n"));
    x.push_str(&format!("  <updated>{}</updated>\n", time(updated)));
    x.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{base}/history.atom\"/>\n"
    ));
    x.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{base}/history\"/>\n"
    ));
    x.push_str(&format!("  <author><name>{name}</name></author>\n"));
    for e in entries {
        x.push_str("  <entry>\n");
        x.push_str(&format!("    <id>{}</id>\n", xml_escape(&e.id)));
        x.push_str(&format!("    <title>{}</title>\n", xml_escape(&e.title)));
        x.push_str(&format!("    <updated>{}</updated>\n", time(e.at)));
        x.push_str(&format!("    <published>{}</published>\n", time(e.at)));
        x.push_str(&format!(
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            xml_escape(&e.link)
        ));
        x.push_str(&format!("    <category term=\"{}\"/>\n", e.status));
        x.push_str(&format!(
            "    <content type=\"text\">{}</content>\n",
            xml_escape(&e.body)
        ));
        x.push_str("  </entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

/// The RSS 2.0 document.
pub fn rss(name: &str, base: &str, updated: DateTime<Utc>, entries: &[Entry]) -> String {
    let Head {
        base,
        name,
        updated,
        mut x,
    } = Head::new(name, base, updated, entries);
    x.push_str("<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n");
    x.push_str(&format!("  <title>{name} status history</title>\n"));
    x.push_str(&format!("  <link>{base}/</link>\n"));
    x.push_str(&format!(
        "  <description>Incident and maintenance updates from {name}</description>\n"
    ));
    x.push_str("  <language>en</language>\n");
    x.push_str(&format!(
        "  <lastBuildDate>{}</lastBuildDate>\n",
        rfc822(updated)
    ));
    x.push_str(&format!(
        "  <atom:link href=\"{base}/history.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n"
    ));
    for e in entries {
        x.push_str("  <item>\n");
        x.push_str(&format!("    <title>{}</title>\n", xml_escape(&e.title)));
        x.push_str(&format!("    <link>{}</link>\n", xml_escape(&e.link)));
        x.push_str(&format!(
            "    <guid isPermaLink=\"true\">{}</guid>\n",
            xml_escape(&e.id)
        ));
        x.push_str(&format!("    <pubDate>{}</pubDate>\n", rfc822(e.at)));
        x.push_str(&format!("    <category>{}</category>\n", e.status));
        x.push_str(&format!(
            "    <description>{}</description>\n",
            xml_escape(&e.body)
        ));
        x.push_str("  </item>\n");
    }
    x.push_str("</channel>\n</rss>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_control_characters_cannot_break_the_xml() {
        assert_eq!(
            xml_escape("a <b> & \"c\" 'd'\u{1}\n"),
            "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;\n"
        );
    }
}
