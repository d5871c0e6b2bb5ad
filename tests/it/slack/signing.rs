//! Requests claiming to be from Slack: signatures, replays, half-done settings.

use serde_json::{json, Value};
use statusgate::approve::slack::verify::sign;

use super::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_not_signed_by_slack_are_refused_before_parsing() {
    let t = start("").await;
    let s = &t.server;
    // Slack's documented example: the exact body, timestamp and signature. The signature
    // matches (this server uses the example's secret), so the refusal is for its age alone.
    let vector = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        sign(SECRET.as_bytes(), "1531420618", vector.as_bytes()),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    let (status, body) = post_signed(s, "/slack/commands", vector, "1531420618").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("replay"), "{body}");
    // The same body signed now is Slack's: `/status` with no text lists.
    let (status, body) = post_signed(s, "/slack/commands", vector, &now_ts()).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response_type"], "ephemeral");
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("Pending drafts:* none"),
        "{answer}"
    );

    for path in ["/slack/interactions", "/slack/commands"] {
        let form = "payload=%7B%7D";
        // A bad signature.
        let r = s
            .http
            .post(format!("{}{path}", s.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", now_ts())
            .header(
                "x-slack-signature",
                sign(b"not-the-secret", &now_ts(), form.as_bytes()),
            )
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"].as_str().unwrap().contains("does not match"),
            "{e}"
        );
        // Missing headers.
        for (header, named) in [
            ("x-slack-signature", "X-Slack-Request-Timestamp"),
            ("x-slack-request-timestamp", "X-Slack-Signature"),
        ] {
            let ts = now_ts();
            let r = s
                .http
                .post(format!("{}{path}", s.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(
                    header,
                    if header == "x-slack-signature" {
                        sign(SECRET.as_bytes(), &ts, form.as_bytes())
                    } else {
                        ts
                    },
                )
                .body(form)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
            let e: Value = r.json().await.unwrap();
            assert!(e["error"].as_str().unwrap().contains(named), "{e}");
        }
        // A replay of a correctly signed request, six minutes old.
        let old = (now_ts().parse::<i64>().unwrap() - 360).to_string();
        let (status, body) = post_signed(s, path, form, &old).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("replay"), "{body}");
        // Not a form, and unsigned: the signature is judged first.
        let r = s
            .http
            .post(format!("{}{path}", s.url))
            .json(&json!({"payload": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    // Slack's certificate check is answered without a signature.
    let r = s
        .http
        .post(format!("{}/slack/commands", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ssl_check=1&token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    // A signed but broken payload is a clear 400, not a crash.
    let (status, body) =
        post_signed(s, "/slack/interactions", "payload=%7Bnot+json", &now_ts()).await;
    assert_eq!(status, 400, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    // Nothing reached Slack's API, and nothing was decided.
    assert!(t.slack.calls("chat.postMessage").is_empty());
    assert!(s.audit().await.is_empty());
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(ready["checks"]["slack"]["channel"], "C0DEFAULT", "{ready}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_configured_slack_is_off_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bot"), BOT).unwrap();
    let s = Server::start(Options {
        extra_config: format!(
            "slack:\n  channel: C0DEFAULT\n  bot_token_file: {}\n",
            dir.path().join("bot").display()
        ),
        ..Options::default()
    });
    let (status, ready) = s.get("/readyz", None).await;
    assert_eq!(status, 200);
    let reason = ready["checks"]["slack"]["reason"].as_str().unwrap();
    assert!(reason.contains("signing secret"), "{reason}");
    assert!(!reason.contains("bot token"), "{reason}");
    let (status, body) = s
        .send("POST", "/slack/interactions", None, Some(json!({})))
        .await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("signing secret"),
        "{body}"
    );
    assert!(
        s.log().contains("Slack is off: missing a signing secret"),
        "{}",
        s.log()
    );
}
