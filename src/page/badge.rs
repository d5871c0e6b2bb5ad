//! Status badges as SVG (`/badge.svg`, `/components/{id}/badge.svg`), in the familiar
//! two-part "label | message" shape, for READMEs and dashboards.

use super::feed::xml_escape;

/// Approximate width of text in 11px Verdana, which badges conventionally use.
fn text_width(s: &str) -> u32 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' => 4,
            'm' | 'w' | 'M' | 'W' => 10,
            c if c.is_ascii_uppercase() => 8,
            ' ' => 4,
            _ => 7,
        })
        .sum()
}

/// Colour of the message part by status word (status or indicator).
fn colour(word: &str) -> &'static str {
    match word {
        "operational" | "none" => "#2da44e",
        "degraded_performance" | "minor" => "#bf8700",
        "partial_outage" | "major" => "#d1650d",
        "major_outage" | "critical" => "#cf222e",
        "under_maintenance" | "maintenance" => "#0969da",
        _ => "#6e7781",
    }
}

/// An SVG badge; `word` picks the colour, `message` is what it says.
pub fn svg(label: &str, message: &str, word: &str) -> String {
    let lw = text_width(label) + 12;
    let mw = text_width(message) + 12;
    let w = lw + mw;
    let (label, message) = (xml_escape(label), xml_escape(message));
    let fill = colour(word);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {message}"><title>{label}: {message}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{fill}"/><rect width="{w}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{mx}" y="14">{message}</text></g></svg>"##,
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_escapes_its_text_and_takes_the_colour_of_the_status() {
        let s = svg("<api>", "major outage", "major_outage");
        assert!(s.contains("&lt;api&gt;: major outage"));
        assert!(s.contains("#cf222e"));
        assert!(!s.contains("<api>"));
    }
}
