//! `statusgate drafts`: list, show, approve and reject drafts on a running server.

use super::*;

pub(super) fn drafts(url: &str, token: Option<String>, action: DraftsAction) -> ExitCode {
    let Some(token) = token else {
        return fail("no token: pass --token or set STATUSGATE_TOKEN");
    };
    let client = Client {
        base: url.trim_end_matches('/').to_string(),
        token,
        http: http_client(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    runtime.block_on(async move {
        match action {
            DraftsAction::List { state, json } => {
                let path = format!("/api/v1/drafts?state={state}");
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

/// Prints an answer as `words` put it (as JSON with `--json`), or fails with the error.
pub(super) fn shown(
    answer: Result<Value, String>,
    json: bool,
    words: impl Fn(&Value) -> String,
) -> ExitCode {
    match answer {
        Ok(v) if json => print_json(&v),
        Ok(v) => {
            print!("{}", words(&v));
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn print_json(v: &Value) -> ExitCode {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    ExitCode::SUCCESS
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

pub(super) struct Client {
    pub(super) base: String,
    pub(super) token: String,
    pub(super) http: reqwest::Client,
}

impl Client {
    pub(super) async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        answer(r).await
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        answer(r).await
    }
}

async fn answer(r: reqwest::Response) -> Result<Value, String> {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{}: {}",
            status.as_u16(),
            body["error"].as_str().unwrap_or("request failed")
        ))
    }
}

/// A client with timeouts, for the CLI.
pub(super) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}
