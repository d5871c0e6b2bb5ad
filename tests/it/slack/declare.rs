//! `/status declare` and `/status resolve`: incidents no alert reported, from chat, drafted
//! and posted for approval like any other.

use serde_json::json;

use super::fake::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_command_declares_and_resolves_incidents_for_approval() {
    let t = start("").await;
    let (s, slack) = (&t.server, &t.slack);
    let url = slack.response_url();
    let text = |v: serde_json::Value| v["text"].as_str().unwrap_or("").to_string();

    let answer = text(command(s, APPROVER, "declare api", &url).await);
    assert!(
        answer.contains("/status declare api major_outage"),
        "{answer}"
    );
    let answer = text(command(s, APPROVER, "declare api broken Card payments fail.", &url).await);
    assert!(answer.contains("`broken` is not a status"), "{answer}");
    let answer = text(
        command(
            s,
            APPROVER,
            "declare database major Card payments fail.",
            &url,
        )
        .await,
    );
    assert!(answer.contains("internal"), "{answer}");
    let answer = text(command(s, STRANGER, "declare api major Card payments fail.", &url).await);
    assert!(!answer.contains("Drafted"), "{answer}");

    let answer = text(
        command(
            s,
            APPROVER,
            "declare API major_outage Card payments fail at our provider.",
            &url,
        )
        .await,
    );
    assert!(answer.contains("Drafted D-1"), "{answer}");
    let d = draft(s, "D-1").await;
    assert_eq!(d["kind"], "new_incident");
    assert_eq!(d["alerts"], json!([]));
    assert_eq!(d["components"], json!({"api": "major_outage"}));
    assert_eq!(d["body"], "Card payments fail at our provider.");
    assert!(
        d["history"][0]["actor"]
            .as_str()
            .unwrap()
            .contains("slack:U0APPROVER"),
        "{d}"
    );
    // Posted for approval in the channel like any draft, and approved there.
    slack
        .wait_call(s, "declared draft posted", "chat.postMessage", |b| {
            b["text"].as_str().unwrap_or("").contains("D-1")
        })
        .await;
    let (status, _) = interact(s, &button(APPROVER, "sg_approve", "D-1:1", &url)).await;
    assert_eq!(status, 200);
    let d = s.wait_draft_state("D-1", "published").await;
    let incident = d["incident_id"].as_str().unwrap().to_string();
    let (_, page) = s.text("/").await;
    assert!(page.contains(d["title"].as_str().unwrap()), "{page}");

    let answer = text(command(s, APPROVER, "resolve", &url).await);
    assert!(answer.contains("Which incident?"), "{answer}");
    let number = incident.trim_start_matches("INC-");
    let answer = text(
        command(
            s,
            APPROVER,
            &format!("resolve {number} Our provider fixed it."),
            &url,
        )
        .await,
    );
    assert!(
        answer.contains("Drafted D-2") && answer.contains(&incident),
        "{answer}"
    );
    let r = draft(s, "D-2").await;
    assert_eq!(r["kind"], "resolution");
    assert_eq!(r["state"], "pending");
    assert_eq!(r["body"], "Our provider fixed it.");
    assert_eq!(r["components"], json!({"api": "operational"}));
    let audit = s.audit().await;
    assert!(
        audit.iter().any(|e| e["action"] == "draft_created"
            && e["draft_id"] == "D-2"
            && e["actor"]
                .as_str()
                .unwrap_or("")
                .contains("slack:U0APPROVER")),
        "{audit:?}"
    );
    let help = text(command(s, APPROVER, "help", &url).await);
    assert!(
        help.contains("/status declare") && help.contains("/status resolve"),
        "{help}"
    );
}
