//! The Atom and RSS feeds, validated by an XML parser: one stable entry per published update.

use super::*;

const ATOM: &str = "http://www.w3.org/2005/Atom";

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    n.children()
        .find(|c| c.has_tag_name((ATOM, name)))
        .unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_are_valid_atom_and_rss_with_one_stable_entry_per_published_update() {
    let mut s = Server::start(Options::default());
    let incident = open_incident(&s, "f1", "api-gateway").await;
    // Resolve it: a second published update.
    s.post_alertmanager(&am_payload(vec![am_alert(
        "f1",
        "api-gateway",
        "critical",
        false,
        T0,
    )]))
    .await;
    let draft = s
        .wait_draft("resolution", |d| {
            d["kind"] == "resolution" && d["state"] == "pending"
        })
        .await;
    let (status, _) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    create_maintenance(
        &s,
        json!({"title": "Disk swap & <reboot>", "body": "Short \"blip\" expected.", "components": ["web"],
               "scheduled_for": ts(chrono::Duration::days(1)), "scheduled_until": ts(chrono::Duration::days(1) + chrono::Duration::hours(1))}),
    )
    .await;

    let (status, atom) = s.text("/history.atom").await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&atom).unwrap_or_else(|e| panic!("{e}\n{atom}"));
    let feed = doc.root_element();
    let ns = "http://www.w3.org/2005/Atom";
    assert!(feed.has_tag_name((ns, "feed")));
    for required in ["id", "title", "updated", "author"] {
        child(feed, required);
    }
    let entries: Vec<_> = feed
        .children()
        .filter(|c| c.has_tag_name((ns, "entry")))
        .collect();
    assert_eq!(
        entries.len(),
        3,
        "two incident updates and one maintenance update\n{atom}"
    );
    let mut ids = BTreeSet::new();
    for e in &entries {
        let id = child(*e, "id").text().unwrap().to_string();
        assert!(
            id.starts_with("http://status.example.com/incidents/"),
            "{id}"
        );
        assert!(ids.insert(id));
        let link = child(*e, "link").attribute("href").unwrap();
        assert!(
            link.starts_with("http://status.example.com/incidents/"),
            "{link}"
        );
        let updated = child(*e, "updated").text().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(updated).is_ok() && updated.ends_with('Z'),
            "{updated}"
        );
        child(*e, "title");
        assert_eq!(child(*e, "content").attribute("type"), Some("text"));
    }
    assert!(atom.contains(&format!("/incidents/{incident}#update-")));
    // The markup in the maintenance title is text, not markup.
    assert!(entries.iter().any(|e| child(*e, "title")
        .text()
        .unwrap()
        .contains("Disk swap & <reboot>")));

    let (status, rss) = s.text("/history.rss").await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&rss).unwrap_or_else(|e| panic!("{e}\n{rss}"));
    let root = doc.root_element();
    assert!(root.has_tag_name("rss") && root.attribute("version") == Some("2.0"));
    let channel = root.children().find(|c| c.has_tag_name("channel")).unwrap();
    for required in ["title", "link", "description"] {
        assert!(
            channel.children().any(|c| c.has_tag_name(required)),
            "channel lacks {required}"
        );
    }
    let items: Vec<_> = channel
        .children()
        .filter(|c| c.has_tag_name("item"))
        .collect();
    assert_eq!(items.len(), 3);
    let guids: BTreeSet<String> = items
        .iter()
        .map(|i| {
            i.children()
                .find(|c| c.has_tag_name("guid"))
                .unwrap()
                .text()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(guids, ids, "RSS guids are the Atom ids");
    for i in &items {
        let date = i
            .children()
            .find(|c| c.has_tag_name("pubDate"))
            .unwrap()
            .text()
            .unwrap();
        assert!(
            date.ends_with(" GMT")
                && chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000")).is_ok(),
            "{date}"
        );
    }

    // Ids are stable: the same after a restart.
    s.restart();
    let (_, again) = s.text("/history.atom").await;
    let doc = roxmltree::Document::parse(&again).unwrap();
    let ids_again: BTreeSet<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name((ns, "entry")))
        .map(|e| child(e, "id").text().unwrap().to_string())
        .collect();
    assert_eq!(ids_again, ids);
}
