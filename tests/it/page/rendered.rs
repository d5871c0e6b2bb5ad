//! What the page shows: the banner, incidents, maintenance and uptime bars (with text
//! escaped), history newest first, and the uptime counts behind the bars across a restart.

use super::*;

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
    assert!(
        html.contains("<span class=\"name\">Core platform</span>")
            && html.contains("<span class=\"name\">Commerce</span>")
    );
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
