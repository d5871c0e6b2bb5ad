//! `statusgate drafts`: list, show, approve and reject drafts on a running server.

use super::client::{self, shown};
use super::*;

pub(super) fn drafts(server: Server, action: DraftsAction) -> ExitCode {
    client::run(server, |client| async move {
        match action {
            DraftsAction::List { state, json } => {
                // The table shows no alerts; `--json` gets them all, as the API gives them.
                let path = if json {
                    format!("/api/v1/drafts?state={state}")
                } else {
                    format!("/api/v1/drafts?state={state}&alerts=0")
                };
                shown(client.get(&path).await, json, |v| {
                    let list = v["drafts"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        return format!("no {state} drafts\n");
                    }
                    let line = |d: &Value| {
                        format!(
                            "{:<8} r{:<3} {:<9} {:<13} {}\n",
                            d["id"].as_str().unwrap_or(""),
                            d["revision"],
                            d["state"].as_str().unwrap_or(""),
                            d["kind"].as_str().unwrap_or(""),
                            d["title"].as_str().unwrap_or("")
                        )
                    };
                    list.iter().map(line).collect()
                })
            }
            DraftsAction::Show { id, json } => {
                let answer = client.get(&format!("/api/v1/drafts/{id}")).await;
                shown(answer, json, describe_draft)
            }
            DraftsAction::Approve { id, revision, yes } => {
                let revision = match revision {
                    Some(r) => r,
                    None => {
                        let draft = match client.get(&format!("/api/v1/drafts/{id}")).await {
                            Ok(v) => v,
                            Err(e) => return fail(e),
                        };
                        print!("{}", describe_draft(&draft));
                        let r = draft["revision"].as_u64().unwrap_or(0) as u32;
                        if !yes {
                            if !std::io::stdin().is_terminal() {
                                return fail(
                                    "pass --revision N (or --yes to approve the revision shown)",
                                );
                            }
                            print!("Publish revision {r} of {id}? [y/N] ");
                            let _ = std::io::stdout().flush();
                            let mut answer = String::new();
                            let _ = std::io::stdin().read_line(&mut answer);
                            if !answer.trim().eq_ignore_ascii_case("y") {
                                println!("not approved");
                                return ExitCode::FAILURE;
                            }
                        }
                        r
                    }
                };
                let path = format!("/api/v1/drafts/{id}/approve");
                let answer = client.post(&path, json!({"revision": revision})).await;
                shown(answer, false, |v| {
                    format!(
                        "approved {id} revision {revision}; published as {}\n",
                        v["incident"]["id"].as_str().unwrap_or("?")
                    )
                })
            }
            DraftsAction::Reject { id, reason } => {
                let path = format!("/api/v1/drafts/{id}/reject");
                let answer = client.post(&path, json!({"reason": reason})).await;
                shown(answer, false, |_| format!("rejected {id}\n"))
            }
        }
    })
}

fn describe_draft(d: &Value) -> String {
    let mut out = format!(
        "{} (revision {}, {}, {})\n",
        d["id"].as_str().unwrap_or(""),
        d["revision"],
        d["state"].as_str().unwrap_or(""),
        d["kind"].as_str().unwrap_or("")
    );
    out += &format!("Title:    {}\n", d["title"].as_str().unwrap_or(""));
    out += &format!(
        "Status:   {}   Impact: {}\n",
        d["incident_status"].as_str().unwrap_or(""),
        d["impact"].as_str().unwrap_or("")
    );
    if let Some(c) = d["components"].as_object() {
        for (k, v) in c {
            out += &format!("          {k}: {}\n", v.as_str().unwrap_or(""));
        }
    }
    out += &format!("\n{}\n\n", d["body"].as_str().unwrap_or(""));
    out
}
