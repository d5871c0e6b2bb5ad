//! The isolation matrix: every surface × the public and two audiences, with incidents on a
//! public, an internal and each audience's component at once. Each reader must see its
//! own and the public's, and nothing of anyone else's — on the page, its JSON, feeds and
//! badges, in the mails and webhooks of subscribers bound to it, and (for the public) at
//! the publishers.

use std::collections::BTreeMap;

use serde_json::json;

use super::setup::*;
use crate::fake_http::{spawn, Recorder};
use crate::harness::*;
use crate::publish_email::{smtp_sink, Mail};
use crate::publish_statuspage::settled;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Components by id and name, and who sees each (`None`: the public, so everyone).
const COMPONENTS: &[(&str, &str, Option<&str>)] = &[
    ("api", "Public API", None),
    ("core-ledger", "Ledger store", Some("staff")),
    ("acme-vault", "Acme vault", Some("acme")),
    ("globex-vault", "Globex vault", Some("globex")),
];

struct Reader {
    name: &'static str,
    /// Path prefix and the query that opens it.
    prefix: String,
    key: String,
}

impl Reader {
    fn path(&self, p: &str) -> String {
        let sep = if p.contains('?') { '&' } else { '?' };
        match self.key.is_empty() {
            true => format!("{}{p}", self.prefix),
            false => format!("{}{p}{sep}key={}", self.prefix, self.key),
        }
    }

    fn sees(&self, owner: Option<&str>) -> bool {
        owner.is_none_or(|o| o == self.name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reader_ever_sees_another_audiences_or_internal_components_anywhere() {
    let publisher = Recorder::default();
    let publisher_hook = spawn(publisher.handler(200)).await;
    let hooks: BTreeMap<&str, Recorder> = ["public", "acme", "globex"]
        .into_iter()
        .map(|r| (r, Recorder::default()))
        .collect();
    let mut hook_urls = BTreeMap::new();
    let mut servers = Vec::new();
    for (name, rec) in &hooks {
        let server = spawn(rec.handler(200)).await;
        hook_urls.insert(*name, format!("{}/in", server.url));
        servers.push(server);
    }
    let sink = smtp_sink().await;
    let (_tokens, audiences) = audience_config();
    let secret_file = _tokens.path().join("hook");
    std::fs::write(&secret_file, SECRET).unwrap();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: format!(
            "{audiences}delivery:\n  backoff: {{initial: 100ms, max: 1s}}\n\
             publishers:\n  - {{name: ops-events, type: webhook, url: '{}/hook', secret_file: {}}}\n\
             smtp:\n  host: 127.0.0.1\n  port: {}\n  from: 'Example Status <status@example.com>'\n",
            publisher_hook.url,
            secret_file.display(),
            sink.port
        ),
        ..Options::default()
    });
    let readers = [
        Reader {
            name: "public",
            prefix: String::new(),
            key: String::new(),
        },
        Reader {
            name: "acme",
            prefix: "/a/acme".into(),
            key: link_key(&s, "acme"),
        },
        Reader {
            name: "globex",
            prefix: "/a/globex".into(),
            key: link_key(&s, "globex"),
        },
    ];

    // Subscribers bound to each reader: a webhook and an email address (confirmed by link).
    for r in &readers {
        let audience = (r.name != "public").then_some(r.name);
        let (status, body) = s
            .send(
                "POST",
                "/api/v1/subscribers",
                Some(ADMIN),
                Some(json!({"type": "webhook", "url": hook_urls[r.name], "secret": SECRET, "audience": audience})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["audience"], json!(audience));
        let email = format!("{}@example.net", r.name);
        let (status, body) = s
            .send(
                "POST",
                "/api/v1/subscribers",
                Some(ADMIN),
                Some(json!({"type": "email", "email": email, "audience": audience})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "webhook", "url": hook_urls["acme"], "secret": SECRET, "audience": "initech"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // A public subscriber cannot pick an audience's component.
    let (status, body) = s
        .send(
            "POST",
            "/api/v1/subscribers",
            Some(ADMIN),
            Some(json!({"type": "webhook", "url": hook_urls["public"], "secret": SECRET, "components": ["acme-vault"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let mails = || -> Vec<Mail> {
        sink.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| Mail::parse(m))
            .collect()
    };
    let confirms = eventually("three confirm mails", Duration::from_secs(20), async || {
        let m = mails();
        (m.len() >= 3).then_some(m)
    })
    .await;
    for mail in &confirms {
        let to = mail.header("to").unwrap_or_default().to_string();
        let reader = readers
            .iter()
            .find(|r| to.contains(&format!("{}@", r.name)))
            .unwrap();
        let link = mail.link("http://status.example.com/subscribers/confirm?token=");
        let local = link.replace("http://status.example.com", &s.url);
        // The confirm page offers what this reader's page shows, and only that.
        let page = s
            .http
            .get(&local)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for (id, name, owner) in COMPONENTS {
            let offered = page.contains(&format!("value=\"{id}\""));
            assert_eq!(
                offered,
                reader.sees(*owner),
                "{}: {name}\n{page}",
                reader.name
            );
        }
        let r = s.http.post(&local).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // Incidents on a public, an internal and each audience's component, at once.
    fire(&s, "f-api", "api", "warning").await;
    fire(&s, "f-ledger", "ledger", "critical").await;
    fire(&s, "f-acme", "acme", "critical").await;
    fire(&s, "f-globex", "globex", "critical").await;
    let mut incident_of = BTreeMap::new();
    for id in ["api", "acme-vault", "globex-vault"] {
        let d = approve_for(&s, id).await;
        let draft = d["id"].as_str().unwrap().to_string();
        settled(&s, &draft).await;
        let (_, d) = s.get(&format!("/api/v1/drafts/{draft}"), Some(ADMIN)).await;
        incident_of.insert(id, d["incident_id"].as_str().unwrap().to_string());
    }
    // The internal incident was seen (and proposed to nobody) before anything is judged.
    let audit = s.audit().await;
    assert!(
        audit.iter().any(|e| e["action"] == "internal_incident"),
        "{audit:#?}"
    );

    let owner_of_incident = |inc: &str| {
        let comp = incident_of.iter().find(|(_, i)| *i == inc).map(|(c, _)| *c);
        COMPONENTS
            .iter()
            .find(|(id, _, _)| Some(*id) == comp)
            .and_then(|(_, _, o)| *o)
    };
    let expected_indicator = |r: &Reader| match r.name {
        "public" => "minor",
        "acme" => "critical",
        _ => "major",
    };

    for r in &readers {
        let hidden: Vec<&str> = COMPONENTS
            .iter()
            .filter(|(_, _, o)| !r.sees(*o))
            .flat_map(|(id, name, _)| [*id, *name])
            .chain(
                incident_of
                    .values()
                    .filter(|i| !r.sees(owner_of_incident(i)))
                    .map(String::as_str),
            )
            .collect();
        let check = |surface: &str, text: &str| {
            for h in &hidden {
                assert!(
                    !text.contains(h),
                    "{} sees `{h}` in {surface}:\n{text}",
                    r.name
                );
            }
        };
        let mut surfaces = vec![
            "/".to_string(),
            "/history".into(),
            "/history.atom".into(),
            "/history.rss".into(),
            "/badge.svg".into(),
        ];
        for doc in [
            "summary",
            "status",
            "components",
            "incidents",
            "incidents/unresolved",
            "scheduled-maintenances",
            "uptime",
        ] {
            surfaces.push(format!("/api/v2/{doc}.json"));
        }
        for p in &surfaces {
            let (status, text) = s.text(&r.path(p)).await;
            assert_eq!(status, 200, "{} {p}: {text}", r.name);
            check(p, &text);
        }
        // What each reader must see: its own and the public's, named, with their incidents.
        let (_, html) = s.text(&r.path("/")).await;
        for (id, name, owner) in COMPONENTS {
            if r.sees(*owner) {
                assert!(html.contains(name), "{} misses {id}:\n{html}", r.name);
            }
        }
        let (_, summary) = s.get(&r.path("/api/v2/summary.json"), None).await;
        let mut ids: Vec<&str> = summary["components"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["group"] == false)
            .filter_map(|c| c["id"].as_str())
            .collect();
        ids.sort();
        let mut want: Vec<&str> = vec!["api", "web"];
        want.extend(
            COMPONENTS
                .iter()
                .filter(|(_, _, o)| o.is_some() && r.sees(*o))
                .map(|c| c.0),
        );
        want.sort();
        assert_eq!(ids, want, "{}", r.name);
        assert_eq!(
            summary["status"]["indicator"],
            expected_indicator(r),
            "{}",
            r.name
        );
        for (comp, inc) in &incident_of {
            let visible = r.sees(owner_of_incident(inc));
            let listed = summary["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["id"] == inc.as_str());
            assert_eq!(listed, visible, "{} and the incident of {comp}", r.name);
            let (status, page) = s.text(&r.path(&format!("/incidents/{inc}"))).await;
            assert_eq!(status == 200, visible, "{} /incidents/{inc}", r.name);
            if visible {
                check(&format!("/incidents/{inc}"), &page);
            }
        }
        for (id, _, owner) in COMPONENTS {
            let (status, badge) = s
                .text(&r.path(&format!("/components/{id}/badge.svg")))
                .await;
            assert_eq!(status == 200, r.sees(*owner), "{} badge of {id}", r.name);
            if status == 200 {
                check("badge", &badge);
            }
        }

        // Its subscribers got exactly its incidents: the public one and its own.
        let hook: Vec<String> = hooks[r.name]
            .requests()
            .iter()
            .map(|q| String::from_utf8_lossy(&q.body).into_owned())
            .collect();
        let mail: Vec<String> = mails()
            .into_iter()
            .filter(|m| {
                m.header("to")
                    .is_some_and(|t| t.contains(&format!("{}@", r.name)))
            })
            .map(|m| format!("{}\n{}", m.header("subject").unwrap_or_default(), m.text))
            .collect();
        for (what, got) in [("webhooks", &hook), ("emails", &mail)] {
            let all = got.join("\n");
            check(what, &all);
            for (comp, inc) in &incident_of {
                if r.sees(owner_of_incident(inc)) {
                    let name = COMPONENTS.iter().find(|c| c.0 == *comp).map_or("", |c| c.1);
                    assert!(all.contains(name), "{} {what} miss {comp}:\n{all}", r.name);
                }
            }
        }
        if r.name != "public" {
            // An audience's mail links to its own page, with the key that opens it.
            let link = format!("http://status.example.com/a/{}/incidents/", r.name);
            assert!(
                mail.iter().any(|m| m.contains(&link) && m.contains(&r.key)),
                "{mail:#?}"
            );
            // So do its webhook events' incident URLs.
            let urls: Vec<String> = hook
                .iter()
                .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .filter_map(|e| e["data"]["incident"]["url"].as_str().map(str::to_string))
                .collect();
            assert!(!urls.is_empty(), "{hook:#?}");
            for url in &urls {
                assert!(url.starts_with(&link) && url.contains(&r.key), "{url}");
            }
        }
    }
    // Publishers are public: the public's incidents only.
    let published: Vec<String> = publisher
        .requests()
        .iter()
        .map(|q| String::from_utf8_lossy(&q.body).into_owned())
        .collect();
    let all = published.join("\n");
    assert!(all.contains("Public API"), "{all}");
    for hidden in [
        "acme-vault",
        "Acme vault",
        "globex-vault",
        "Globex vault",
        "core-ledger",
        "Ledger store",
    ] {
        assert!(!all.contains(hidden), "the publisher got {hidden}:\n{all}");
    }
    drop(servers);
}
