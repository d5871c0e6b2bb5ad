//! Signing in and out, who may see and change what, CSRF and the revision rule, over HTTP.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

fn board_config(session: &str) -> Options {
    Options {
        extra_config: format!("internal_board: {{session: {session}}}\n"),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_a_strict_cookie_that_lapses_and_signing_out_ends_it() {
    let mut s = Server::start(board_config("5s"));
    let b = Board::new(&s);
    let a = b.get("/internal", As::Nobody).await;
    assert_eq!((a.status, a.location()), (303, "/internal/login"));
    let a = b.get("/internal/login", As::Nobody).await;
    assert!(
        a.status == 200 && a.body.contains("name=\"token\""),
        "{}",
        a.body
    );
    assert_eq!(a.headers["cache-control"], "no-store");
    let a = b
        .post("/internal/login", As::Nobody, &[("token", "not-a-token")])
        .await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.set_cookie().is_empty());

    // A sign-in form posted from another site is refused (login CSRF).
    let r = s
        .http
        .post(format!("{}/internal/login", s.url))
        .header("origin", "https://evil.example")
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("set-cookie").is_none());

    let (cookie, set) = b.sign_in(ADMIN).await;
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/internal",
        "Max-Age=5;",
        "Expires=",
    ] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "public_url is http: {set}");
    let signed_in_at = Instant::now();
    let (html, csrf) = b.board(As::Cookie(&cookie)).await;
    assert!(
        html.contains(">admin <span class=\"tag\">admin</span>"),
        "{html}"
    );
    assert!(!csrf.is_empty());

    // Past its lifetime the server refuses the cookie, whatever the browser does with it.
    while signed_in_at.elapsed() < Duration::from_millis(5200) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let a = b.get("/internal", As::Cookie(&cookie)).await;
    assert_eq!((a.status, a.location()), (303, "/internal/login"));

    // Signing out ends the session on the server too, not only in this browser.
    let (cookie, _) = b.sign_in(ADMIN).await;
    let (_, csrf) = b.board(As::Cookie(&cookie)).await;
    let a = b.post("/internal/logout", As::Cookie(&cookie), &[]).await;
    assert_eq!(
        a.status, 403,
        "sign-out needs the CSRF token too: {}",
        a.body
    );
    let a = b
        .post("/internal/logout", As::Cookie(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(a.status, 303);
    assert!(a.set_cookie().contains("Max-Age=0"), "{}", a.set_cookie());
    let a = b.get("/internal", As::Cookie(&cookie)).await;
    assert_eq!((a.status, a.location()), (303, "/internal/login"));

    // With an https public_url the cookie is Secure.
    s.stop();
    let config = std::fs::read_to_string(s.config_path()).unwrap();
    std::fs::write(
        s.config_path(),
        config.replace("http://status.example.com", "https://status.example.com"),
    )
    .unwrap();
    s.restart_stopped();
    let (_, set) = Board::new(&s).sign_in(READER).await;
    assert!(set.contains("; Secure"), "{set}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_read_the_board_with_a_bearer_token_and_readers_change_nothing() {
    let s = Server::start(board_config("30m"));
    let d = pending_draft(&s).await;
    let id = d["id"].as_str().unwrap();
    let b = Board::new(&s);
    let a = b.get("/internal", As::Bearer("wrong")).await;
    assert_eq!(a.status, 401);

    // Staff see the alert as received: its labels and internal hostnames.
    let a = b.get("/internal", As::Bearer(READER)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    for seen in [
        id,
        "api-7.internal:9100",
        "HighErrorRate",
        "Primary database",
    ] {
        assert!(
            a.body.contains(seen),
            "{seen} not on the board:\n{}",
            a.body
        );
    }
    assert!(
        a.body.contains("http-equiv=\"refresh\""),
        "refreshes while drafts wait"
    );
    assert!(
        !a.body.contains("/approve"),
        "a reader is offered no buttons"
    );
    assert!(!a.body.contains("Declare incident"));

    let (cookie, _) = b.sign_in(READER).await;
    let (html, csrf) = b.board(As::Cookie(&cookie)).await;
    assert!(!html.contains("Approve revision"), "{html}");
    let path = format!("/internal/drafts/{id}/approve");
    let a = b
        .post(
            &path,
            As::Cookie(&cookie),
            &[("csrf", &csrf), ("revision", "1")],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = b
        .post(&path, As::Bearer(READER), &[("revision", "1")])
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = b
        .post(
            "/internal/incidents",
            As::Cookie(&cookie),
            &[("csrf", &csrf), ("component", "api"), ("body", "x")],
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let now = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(
        (now["state"].as_str(), now["revision"].as_u64()),
        (Some("pending"), Some(1))
    );

    // A tool with an approver's token needs no CSRF token: a browser never sends a bearer.
    // Fields it leaves out stay as they are.
    let edit = format!("/internal/drafts/{id}/edit");
    let a = b
        .post(
            &edit,
            As::Bearer(ADMIN),
            &[("revision", "1"), ("title", "API trouble")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let now = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(now["revision"], 2);
    assert_eq!(now["components"], d["components"]);
    assert_eq!(now["body"], d["body"]);
    let a = b.post(&path, As::Bearer(ADMIN), &[("revision", "2")]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert!(
        a.location().starts_with("/internal?done=approved"),
        "{}",
        a.location()
    );
    let (_, page) = s.text("/").await;
    assert!(page.contains("API trouble"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_their_csrf_token_or_at_a_stale_revision_are_refused() {
    let s = Server::start(board_config("30m"));
    let d = pending_draft(&s).await;
    let id = d["id"].as_str().unwrap();
    let b = Board::new(&s);
    let (cookie, _) = b.sign_in(ADMIN).await;
    let (_, csrf) = b.board(As::Cookie(&cookie)).await;
    let approve = format!("/internal/drafts/{id}/approve");
    for fields in [
        vec![("revision", "1")],
        vec![("revision", "1"), ("csrf", "forged")],
    ] {
        let a = b.post(&approve, As::Cookie(&cookie), &fields).await;
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("CSRF"), "{}", a.body);
    }
    // Not a form at all.
    let r = s
        .http
        .post(format!("{}{approve}", s.url))
        .header("cookie", format!("statusgate_board={cookie}"))
        .json(&json!({"revision": 1, "csrf": csrf}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    // Someone edits it (over the API) while the approver reads revision 1.
    let (status, edited) = s
        .send(
            "PATCH",
            &format!("/api/v1/drafts/{id}"),
            Some(ADMIN),
            Some(json!({"title": "Checkout and the API are failing"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    let a = b
        .post(
            &approve,
            As::Cookie(&cookie),
            &[("csrf", &csrf), ("revision", "1")],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.body.contains("now at revision 2, you saw revision 1"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("Checkout and the API are failing"),
        "shows the current text"
    );
    let edit = format!("/internal/drafts/{id}/edit");
    let a = b
        .post(
            &edit,
            As::Cookie(&cookie),
            &[
                ("csrf", &csrf),
                ("revision", "1"),
                ("title", "mine"),
                ("body", "mine"),
            ],
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let now = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(now["state"], "pending");
    assert_eq!(now["title"], "Checkout and the API are failing");

    // At the current revision: edit, then approve what was saved.
    let a = b
        .post(
            &edit,
            As::Cookie(&cookie),
            &[
                ("csrf", &csrf),
                ("revision", "2"),
                ("title", "API errors"),
                (
                    "body",
                    "Some API calls fail. Host db-3.internal is restarting.",
                ),
                ("incident_status", "identified"),
                ("impact", "major"),
                ("component.api", "partial_outage"),
                ("add_component", "web"),
                ("add_status", "degraded_performance"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let d = s.get(&format!("/api/v1/drafts/{id}"), Some(ADMIN)).await.1;
    assert_eq!(d["revision"], 3);
    assert_eq!(d["incident_status"], "identified");
    assert_eq!(d["impact"], "major");
    assert_eq!(
        d["components"],
        json!({"api": "partial_outage", "web": "degraded_performance"})
    );
    assert!(
        !d["body"].as_str().unwrap().contains("db-3.internal"),
        "redacted like any edit"
    );
    let a = b
        .post(
            &approve,
            As::Cookie(&cookie),
            &[("csrf", &csrf), ("revision", "3")],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let (_, page) = s.text("/").await;
    assert!(page.contains("API errors"), "{page}");
    let audit = s.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "approve" && e["draft_id"] == id && e["actor"] == "admin"),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_can_be_switched_off() {
    let s = Server::start(Options {
        extra_config: "internal_board: false\n".into(),
        ..Options::default()
    });
    let b = Board::new(&s);
    assert_eq!(b.get("/internal", As::Bearer(ADMIN)).await.status, 404);
    let a = b
        .post("/internal/login", As::Nobody, &[("token", ADMIN)])
        .await;
    assert!(a.status == 404 || a.status == 405, "{}", a.status);
    assert!(a.set_cookie().is_empty());
    // The API is untouched.
    assert_eq!(s.get("/api/v1/drafts", Some(ADMIN)).await.0, 200);
}
