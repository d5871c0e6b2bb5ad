//! What every public endpoint does with a request: caching validators and 304s, open
//! CORS on JSON, and JSON errors (or the HTML page) for unknown ids.

use super::*;

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
