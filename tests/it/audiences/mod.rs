//! Audience pages (`/a/{id}/`), component groups and the isolation between readers: the
//! public, two tenants, and what their subscribers and the publishers are sent.

mod browser;
mod choice;
mod isolation;
mod setup;

use serde_json::json;

use crate::harness::*;
use setup::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_missing_or_foreign_key_is_the_same_404_as_an_unknown_audience() {
    let (_tokens, extra) = audience_config();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: extra,
        ..Options::default()
    });
    let acme = link_key(&s, "acme");
    let globex = link_key(&s, "globex");
    assert_ne!(acme, globex);

    let (status, page) = s.text(&format!("/a/acme/?key={acme}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Acme vault") && page.contains("Acme Corp"));
    // Links on the page keep the key, so a browser that came by link stays in.
    assert!(page.contains(&format!("href=\"/a/acme/history?key={acme}\"")));
    let r = s
        .http
        .get(format!("{}/a/acme/api/v2/summary.json", s.url))
        .bearer_auth(ACME_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("private, no-cache")
    );

    let (status, unknown) = s.text("/a/nobody/").await;
    assert_eq!(status, 404);
    let (_, unknown_json) = s.text("/a/nobody/api/v2/summary.json?key=00").await;
    for path in [
        "/a/acme/".to_string(),
        "/a/acme/?key=".to_string(),
        format!("/a/acme/?key={}", &acme[..acme.len() - 1]),
        format!("/a/acme/?key={globex}"),
        format!("/a/acme/history?key={globex}"),
        "/a/acme/api/v2/summary.json?key=00".to_string(),
    ] {
        let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get("cache-control").is_none(), "{path}");
        let body = r.text().await.unwrap();
        let same = if path.contains("api/v2") {
            &unknown_json
        } else {
            &unknown
        };
        assert_eq!(&body, same, "{path} answers unlike an unknown audience");
    }
    // Another audience's token opens nothing here either.
    let (status, _) = s
        .get("/a/acme/api/v2/summary.json", Some(GLOBEX_TOKEN))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_statuspage_groups_and_details_with_their_worst_member() {
    let (_tokens, extra) = audience_config();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: extra,
        ..Options::default()
    });
    fire(&s, "f-api", "api", "warning").await;
    approve_for(&s, "api").await;
    let summary = eventually_json(&s, "/api/v2/components.json", |v| {
        v["components"]
            .as_array()
            .is_some_and(|l| l.iter().any(|c| c["status"] == "degraded_performance"))
    })
    .await;
    let list = summary["components"].as_array().unwrap();
    let group = list
        .iter()
        .find(|c| c["group"] == true && c["name"] == "Core platform")
        .unwrap_or_else(|| panic!("{summary:#}"));
    assert_eq!(group["components"], json!(["api", "web"]));
    assert_eq!(group["status"], "degraded_performance");
    let api = list.iter().find(|c| c["id"] == "api").unwrap();
    assert_eq!(api["group_id"], group["id"]);
    // The tenants' group has no member the public sees, so the public has no such group.
    assert!(
        !list.iter().any(|c| c["name"] == "Dedicated"),
        "{summary:#}"
    );

    let (_, html) = s.text("/").await;
    assert!(
        html.contains(
            "<details class=\"group group-degraded_performance\" id=\"group-core-platform\" open>"
        ),
        "{html}"
    );
    let key = link_key(&s, "acme");
    let (_, acme) = s
        .text(&format!("/a/acme/api/v2/components.json?key={key}"))
        .await;
    let acme: serde_json::Value = serde_json::from_str(&acme).unwrap();
    let dedicated = acme["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Dedicated")
        .cloned()
        .unwrap_or_else(|| panic!("{acme:#}"));
    assert_eq!(dedicated["components"], json!(["acme-vault"]));
    let (_, page) = s.text(&format!("/a/acme/?key={key}")).await;
    // All operational: folded, still saying how it stands.
    assert!(
        page.contains("<details class=\"group group-operational\" id=\"group-dedicated\">"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_on_public_and_tenant_components_shows_each_reader_only_its_own() {
    let (_tokens, extra) = audience_config();
    let s = Server::start(Options {
        catalog: TENANTS.into(),
        extra_config: extra,
        ..Options::default()
    });
    fire(&s, "f-shared", "shared", "critical").await;
    let d = s.wait_draft("shared", |d| d["state"] == "pending").await;
    // The approver is told that the text reaches readers who must not read the tenant's name.
    let notes = d["notes"].to_string();
    assert!(
        notes.contains("Only some readers see Acme vault (acme)"),
        "{notes}"
    );
    let id = d["id"].as_str().unwrap();
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"title": "Slow responses", "body": "Some requests are slow."})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let (status, body) = s.approve(id, edited["revision"].as_u64().unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let public = eventually_json(&s, "/api/v2/incidents.json", |v| {
        v["incidents"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let incident = &public["incidents"][0];
    assert_eq!(incident["components"].as_array().unwrap().len(), 1);
    assert_eq!(incident["components"][0]["id"], "web");
    assert!(!public.to_string().contains("acme"), "{public:#}");
    let (_, html) = s
        .text(&format!("/incidents/{}", incident["id"].as_str().unwrap()))
        .await;
    assert!(
        html.contains("Web app") && !html.contains("Acme vault"),
        "{html}"
    );
    let key = link_key(&s, "acme");
    let (_, theirs) = s
        .get(&format!("/a/acme/api/v2/incidents.json?key={key}"), None)
        .await;
    let mut ids: Vec<&str> = theirs["incidents"][0]["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["acme-vault", "web"]);
    let key = link_key(&s, "globex");
    let (_, globex) = s
        .get(&format!("/a/globex/api/v2/incidents.json?key={key}"), None)
        .await;
    assert!(!globex.to_string().contains("acme"), "{globex:#}");
}

#[test]
fn check_refuses_an_unknown_audience_and_an_internal_component_with_audiences() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir_all(&mappings).unwrap();
    std::fs::write(
        mappings.join("10-tenants.yaml"),
        "components:\n  - {id: api, name: API}\n  - id: vault\n    name: Vault\n    audiences: [acme, acne]\n  - id: db\n    public: false\n    audiences: [acme]\n",
    )
    .unwrap();
    let token = dir.path().join("acme.token");
    std::fs::write(&token, ACME_TOKEN).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "mappings: {}\npublic_url: https://status.example.com\naudiences:\n  - {{id: acme, name: Acme Corp, token_file: {}}}\n",
            mappings.display(),
            token.display()
        ),
    )
    .unwrap();
    let out = output_within(
        std::process::Command::new(binary())
            .args(["check", "--config"])
            .arg(&config)
            .env_remove("STATUSGATE_CONFIG"),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("10-tenants.yaml:5: component `vault` names unknown audience `acne`, did you mean `acme`?"),
        "{err}"
    );
    assert!(
        err.contains("10-tenants.yaml:8: component `db` is internal (`public: false`), so it cannot also name `audiences`"),
        "{err}"
    );

    // Publishers are public: mapping an audience's component to one is refused too.
    std::fs::write(
        mappings.join("10-tenants.yaml"),
        "components:\n  - {id: api, name: API}\n  - {id: vault, name: Vault, audiences: [acme]}\n",
    )
    .unwrap();
    let key = dir.path().join("sp.key");
    std::fs::write(&key, "sp-key").unwrap();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "publishers:\n  - {{name: hosted, type: statuspage, base_url: 'http://127.0.0.1:9', page_id: p1, api_key_file: {}, components: {{api: c1, vault: c2}}}}\n",
        key.display()
    ));
    std::fs::write(&config, text).unwrap();
    let out = output_within(
        std::process::Command::new(binary())
            .args(["check", "--config"])
            .arg(&config)
            .env_remove("STATUSGATE_CONFIG"),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("publishers.hosted.components: `vault` is on audience pages only (acme)"),
        "{err}"
    );
    assert!(!err.contains("`api`"), "{err}");

    // The link command prints the page's address with the key derived from the token.
    let out = output_within(
        std::process::Command::new(binary())
            .args(["audience-link", "acme", "--config"])
            .arg(&config)
            .env_remove("STATUSGATE_CONFIG"),
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        link.starts_with("https://status.example.com/a/acme/?key=") && link.len() > 50,
        "{link}"
    );
    assert!(!link.contains(ACME_TOKEN));
}
