//! The public status page over HTTP: HTML pages, Statuspage-shaped JSON checked against a
//! real response's shape, feeds validated by an XML parser, badges, caching validators,
//! and scheduled maintenance moved by the clock.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::harness::*;

pub(crate) const T0: &str = "2026-11-30T12:00:00Z";

pub(crate) fn ts(offset: chrono::Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Fires an alert for `service`, approves the draft, returns the incident id.
pub(crate) async fn open_incident(s: &Server, fingerprint: &str, service: &str) -> String {
    let (status, body) = s
        .post_alertmanager(&am_payload(vec![am_alert(
            fingerprint,
            service,
            "critical",
            true,
            T0,
        )]))
        .await;
    assert_eq!(status, 200, "{body}");
    let draft = s
        .wait_draft(&format!("draft for {service}"), |d| {
            d["state"] == "pending"
                && d["alerts"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x["fingerprint"] == fingerprint))
        })
        .await;
    let (status, approved) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    approved["incident"]["id"].as_str().unwrap().to_string()
}

pub(crate) async fn create_maintenance(s: &Server, body: Value) -> Value {
    let (status, m) = s
        .send("POST", "/api/v1/maintenances", Some(ADMIN), Some(body))
        .await;
    assert_eq!(status, 201, "{m}");
    m
}

pub(crate) async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Fields Statuspage may send as `null` instead of their usual type.
const NULLABLE: &[&str] = &[
    "description",
    "start_date",
    "group_id",
    "monitoring_at",
    "resolved_at",
    "affected_components",
    "custom_tweet",
    "tweet_id",
];

/// Every field of `fixture` is in `ours` with the same JSON type and vice versa, nested.
fn same_shape(path: &str, ours: &Value, fixture: &Value, problems: &mut Vec<String>) {
    let field = path.rsplit('.').next().unwrap_or("");
    if ours.is_null() || fixture.is_null() {
        if kind(ours) != kind(fixture) && !NULLABLE.contains(&field) {
            problems.push(format!(
                "{path}: {} here, {} in Statuspage",
                kind(ours),
                kind(fixture)
            ));
        }
        return;
    }
    if kind(ours) != kind(fixture) {
        problems.push(format!(
            "{path}: {} here, {} in Statuspage",
            kind(ours),
            kind(fixture)
        ));
        return;
    }
    match (ours, fixture) {
        (Value::Object(a), Value::Object(b)) => {
            let ak: BTreeSet<&String> = a.keys().collect();
            let bk: BTreeSet<&String> = b.keys().collect();
            for missing in bk.difference(&ak) {
                problems.push(format!("{path}.{missing}: missing"));
            }
            for extra in ak.difference(&bk) {
                problems.push(format!("{path}.{extra}: not in Statuspage's response"));
            }
            for k in ak.intersection(&bk) {
                same_shape(&format!("{path}.{k}"), &a[*k], &b[*k], problems);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, item) in a.iter().enumerate() {
                // Compare like with like: a component group with the fixture's group.
                let model = b
                    .iter()
                    .find(|m| m.get("group") == item.get("group"))
                    .or(b.first());
                if let Some(model) = model {
                    same_shape(&format!("{path}[{i}]"), item, model, problems);
                }
            }
        }
        _ => {}
    }
}

const ATOM: &str = "http://www.w3.org/2005/Atom";

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    n.children()
        .find(|c| c.has_tag_name((ATOM, name)))
        .unwrap_or_else(|| panic!("no {name}"))
}

fn fixture() -> Value {
    let text =
        std::fs::read_to_string(repo_path("tests/fixtures/statuspage/summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_and_every_v2_document_have_statuspage_s_field_names_and_types() {
    let s = Server::start(Options::default());
    let incident = open_incident(&s, "f1", "api-gateway").await;
    create_maintenance(
        &s,
        json!({"title": "Database upgrade", "body": "Primary database upgrade.", "components": ["payments"],
               "scheduled_for": ts(chrono::Duration::seconds(-5)), "scheduled_until": ts(chrono::Duration::hours(1))}),
    )
    .await;
    create_maintenance(
        &s,
        json!({"title": "Network work", "components": ["web"],
               "start": ts(chrono::Duration::days(2)), "end": ts(chrono::Duration::days(2) + chrono::Duration::hours(1))}),
    )
    .await;

    let (status, summary) = s.get("/api/v2/summary.json", None).await;
    assert_eq!(status, 200);
    let model = fixture();
    let mut problems = Vec::new();
    same_shape("summary", &summary, &model, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}\n{summary:#}");
    // The comparison saw every kind of object, not empty lists.
    assert_eq!(summary["incidents"][0]["id"], incident.as_str());
    assert!(summary["incidents"][0]["incident_updates"][0]["affected_components"].is_array());
    let maints = summary["scheduled_maintenances"].as_array().unwrap();
    assert_eq!(maints.len(), 2, "upcoming and in progress: {summary:#}");
    assert!(maints.iter().any(|m| m["status"] == "in_progress"));
    assert!(maints.iter().any(|m| m["status"] == "scheduled"));
    assert!(maints.iter().all(|m| m["impact"] == "maintenance"));
    assert!(summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["group"] == true));
    assert_eq!(summary["status"]["indicator"], "critical");

    for (path, list) in [
        ("/api/v2/incidents.json", "incidents"),
        ("/api/v2/incidents/unresolved.json", "incidents"),
        (
            "/api/v2/scheduled-maintenances.json",
            "scheduled_maintenances",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "scheduled_maintenances",
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "scheduled_maintenances",
        ),
        ("/api/v2/components.json", "components"),
    ] {
        let (status, doc) = s.get(path, None).await;
        assert_eq!(status, 200, "{path}");
        let items = doc[list]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {doc}"));
        assert!(!items.is_empty(), "{path} is empty");
        let mut problems = Vec::new();
        same_shape("page", &doc["page"], &model["page"], &mut problems);
        same_shape(list, &doc[list], &model[list], &mut problems);
        assert!(problems.is_empty(), "{path}: {problems:#?}");
    }
    let (_, upcoming) = s
        .get("/api/v2/scheduled-maintenances/upcoming.json", None)
        .await;
    assert_eq!(
        upcoming["scheduled_maintenances"][0]["name"],
        "Network work"
    );
    let (_, active) = s
        .get("/api/v2/scheduled-maintenances/active.json", None)
        .await;
    assert_eq!(
        active["scheduled_maintenances"][0]["name"],
        "Database upgrade"
    );
    let (_, status_doc) = s.get("/api/v2/status.json", None).await;
    let mut problems = Vec::new();
    same_shape(
        "status",
        &status_doc,
        &json!({"page": model["page"], "status": model["status"]}),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_endpoint_revalidates_with_304_and_json_is_open_to_other_origins() {
    let s = Server::start(Options::default());
    let incident = open_incident(&s, "f1", "api-gateway").await;
    let cases: &[(&str, &str, bool)] = &[
        ("/", "text/html; charset=utf-8", false),
        ("/history", "text/html; charset=utf-8", false),
        (
            &format!("/incidents/{incident}"),
            "text/html; charset=utf-8",
            false,
        ),
        ("/history.atom", "application/atom+xml; charset=utf-8", true),
        ("/history.rss", "application/rss+xml; charset=utf-8", true),
        ("/badge.svg", "image/svg+xml; charset=utf-8", true),
        (
            "/components/api/badge.svg",
            "image/svg+xml; charset=utf-8",
            true,
        ),
        (
            "/api/v2/summary.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/status.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/components.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/incidents.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/incidents/unresolved.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "application/json; charset=utf-8",
            true,
        ),
        (
            "/api/v2/uptime.json",
            "application/json; charset=utf-8",
            true,
        ),
    ];
    for (path, content_type, cors) in cases {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], *content_type, "{path}");
        let etag = h["etag"].to_str().unwrap().to_string();
        let modified = h["last-modified"].to_str().unwrap().to_string();
        assert!(modified.ends_with(" GMT"), "{path}: {modified}");
        assert_eq!(
            h.get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            cors.then_some("*"),
            "{path}"
        );
        if content_type.starts_with("text/html") {
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
                "{csp}"
            );
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert!(h.contains_key("referrer-policy"));
        }
        // Uptime figures move with the clock: a page may legitimately change at a minute
        // boundary between two requests, so a changed ETag gets a second look.
        let mut validators = (etag.clone(), modified.clone());
        for attempt in 0.. {
            let (etag, modified) = &validators;
            let again = s
                .http
                .get(format!("{}{path}", s.url))
                .header("if-none-match", etag)
                .send()
                .await
                .unwrap();
            let since = s
                .http
                .get(format!("{}{path}", s.url))
                .header("if-modified-since", modified)
                .send()
                .await
                .unwrap();
            if again.status() == 304 && since.status() == 304 {
                assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
                break;
            }
            let now = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
            let current = now.headers()["etag"].to_str().unwrap().to_string();
            assert!(
                attempt < 2 && &current != etag,
                "{path}: If-None-Match gave {}, If-Modified-Since gave {}",
                again.status(),
                since.status()
            );
            let lm = now.headers()["last-modified"].to_str().unwrap().to_string();
            validators = (current, lm);
        }
        let other = s
            .http
            .get(format!("{}{path}", s.url))
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{path} with a stale ETag");
    }

    // A change makes a new ETag, so clients that revalidate see it.
    let (_, before) = s.get("/api/v2/summary.json", None).await;
    let r = s
        .http
        .get(format!("{}/api/v2/summary.json", s.url))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    create_maintenance(
        &s,
        json!({"title": "Later", "components": ["web"], "scheduled_for": ts(chrono::Duration::days(1)),
               "scheduled_until": ts(chrono::Duration::days(1) + chrono::Duration::hours(1))}),
    )
    .await;
    let r = s
        .http
        .get(format!("{}/api/v2/summary.json", s.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_ne!(
        before["scheduled_maintenances"],
        after["scheduled_maintenances"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_get_json_errors_on_api_paths_and_the_html_page_elsewhere() {
    let s = Server::start(Options::default());
    for path in [
        "/incidents/INC-404",
        "/incidents/%3Cscript%3E",
        "/components/nope/badge.svg",
        "/components/database/badge.svg",
        "/history?page=2",
        "/history?page=0",
        "/history?page=abc",
        "/nowhere",
    ] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            r.headers()["content-type"],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert!(r.headers().contains_key("content-security-policy"));
        let body = r.text().await.unwrap();
        assert!(
            body.contains("Not found") && !body.contains("<script>"),
            "{path}: {body}"
        );
    }
    let r = s
        .http
        .get(format!("{}/api/v2/incidents/nope.json", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    let (status, body) = s.get("/api/v1/maintenances/MNT-9", Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "maintenance MNT-9 does not exist");
    let (status, body) = s
        .send("DELETE", "/api/v1/maintenances/MNT-9", Some(ADMIN), None)
        .await;
    assert_eq!((status, body["error"].is_string()), (404, true));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_banner_incidents_maintenance_uptime_bars_and_escapes_text() {
    let s = Server::start(Options {
        extra_config: "page:\n  name: Acme <Status>\n  accent_color: \"#a0f\"\n  links: [{title: Support & help, url: https://example.com/support}]\n".into(),
        ..Options::default()
    });
    let incident = open_incident(&s, "f1", "api-gateway").await;
    create_maintenance(
        &s,
        json!({"title": "Upgrade <b>now</b>", "body": "Expect \"short\" pauses.", "components": ["payments"],
               "scheduled_for": ts(chrono::Duration::days(1)), "scheduled_until": ts(chrono::Duration::days(1) + chrono::Duration::hours(2))}),
    )
    .await;
    let (status, html) = s.text("/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("<title>Acme &lt;Status&gt;</title>"),
        "{html}"
    );
    assert!(html.contains("Major outage"), "banner in words");
    assert!(html.contains("Active incidents"));
    assert!(html.contains(&format!("href=\"/incidents/{incident}\"")));
    assert!(html.contains("Upgrade &lt;b&gt;now&lt;/b&gt;") && !html.contains("<b>now</b>"));
    assert!(html.contains("Expect &quot;short&quot; pauses."));
    assert!(html.contains("Support &amp; help"));
    assert!(html.contains("<h3>Core platform</h3>") && html.contains("<h3>Commerce</h3>"));
    assert!(
        !html.contains("Primary database"),
        "non-public components stay hidden"
    );
    assert!(
        !html.contains("api-7.internal"),
        "labels never reach the page"
    );
    assert!(
        !html.contains("style=") && !html.contains("<script"),
        "CSP-clean markup"
    );
    let time_re =
        regex::Regex::new(r#"<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z">"#).unwrap();
    assert!(time_re.is_match(&html));
    // 90 cells for each of the three public components.
    assert_eq!(html.matches("<li class=\"day day-").count(), 270);
    assert!(
        html.contains("class=\"day day-major_outage\""),
        "today's cell shows the outage"
    );
    assert!(
        html.contains("no data"),
        "days before the components existed"
    );
    let (_, css) = s.text("/assets/style.css").await;
    assert!(css.starts_with(":root { --accent: #a0f; }"));
    assert!(css.contains("prefers-color-scheme: dark"));

    let (status, page) = s.text(&format!("/incidents/{incident}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Investigating") && page.contains("<h1>"),
        "{page}"
    );
    let (status, history) = s.text("/history").await;
    assert_eq!(status, 200);
    assert!(history.contains(&format!("/incidents/{incident}")));
    assert!(history.contains("Page 1 of 1"));

    let (_, badge) = s.text("/badge.svg").await;
    assert!(badge.contains("major outage"), "{badge}");
    let (_, badge) = s.text("/components/web/badge.svg").await;
    assert!(badge.contains("Web app: operational"), "{badge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_paginated_newest_first() {
    let s = Server::start(Options::default());
    for n in 0..12 {
        let m = create_maintenance(
            &s,
            json!({"title": format!("Window {n:02}"), "components": ["web"], "scheduled_for": ts(chrono::Duration::seconds(-1)),
                   "scheduled_until": ts(chrono::Duration::hours(1))}),
        )
        .await;
        let (status, _) = s
            .send(
                "PATCH",
                &format!("/api/v1/maintenances/{}", m["id"].as_str().unwrap()),
                Some(ADMIN),
                Some(json!({"status": "completed"})),
            )
            .await;
        assert_eq!(status, 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, first) = s.text("/history").await;
    assert_eq!(status, 200);
    assert!(first.contains("Page 1 of 2") && first.contains("href=\"/history?page=2\""));
    assert!(
        first.find("Window 11").unwrap() < first.find("Window 10").unwrap(),
        "newest first"
    );
    assert!(!first.contains("Window 01"));
    let (status, second) = s.text("/history?page=2").await;
    assert_eq!(status, 200);
    assert!(second.contains("Window 01") && second.contains("Window 00"));
    assert!(second.contains("href=\"/history?page=1\""));
    let (status, _) = s.text("/history?page=3").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uptime_json_counts_outage_minutes_and_keeps_them_across_a_restart() {
    let mut s = Server::start(Options::default());
    let (_, uptime) = s.get("/api/v2/uptime.json", None).await;
    assert_eq!(uptime["days"], 90);
    let api = |u: &Value| {
        u["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "api")
            .unwrap()
            .clone()
    };
    let days = api(&uptime)["days"].as_array().unwrap().clone();
    assert_eq!(days.len(), 90);
    assert!(
        days[0]["status"].is_null() && days[0]["uptime_percent"].is_null(),
        "no data before it existed"
    );

    open_incident(&s, "f1", "api-gateway").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    let (status, body) = s
        .approve(
            draft["id"].as_str().unwrap(),
            draft["revision"].as_u64().unwrap(),
        )
        .await;
    // Unresolved, the outage would still count and the figures below would still hold.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["incident"]["status"], "resolved", "{body}");
    let (_, uptime) = s.get("/api/v2/uptime.json", None).await;
    let today = api(&uptime)["days"][89].clone();
    let down = today["minutes"]["major_outage"].as_f64().unwrap_or(0.0);
    assert!(down > 0.0 && down < 2.0, "{today}");
    assert_eq!(today["status"], "major_outage");
    assert!(today["uptime_percent"].as_f64().unwrap() < 100.0);
    assert!(today["downtime_minutes"].as_f64().unwrap() > 0.0);

    s.restart();
    let (_, again) = s.get("/api/v2/uptime.json", None).await;
    assert_eq!(
        api(&again)["days"][89]["minutes"]["major_outage"],
        today["minutes"]["major_outage"]
    );
}
