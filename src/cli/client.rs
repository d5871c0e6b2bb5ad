//! The client of the commands that talk to a running server (`drafts`, `incidents`): one
//! place for the token check, the timeouts, the runtime and how an answer is shown.

use std::future::Future;
use std::process::ExitCode;

use serde_json::Value;

use super::{fail, Server};

/// Runs `work` with a client for `server` on a runtime of its own; without a token it
/// fails before anything is sent.
pub(super) fn run<F, Fut>(server: Server, work: F) -> ExitCode
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let Some(token) = server.token else {
        return fail("no token: pass --token or set STATUSGATE_TOKEN");
    };
    let client = Client {
        base: server.url.trim_end_matches('/').to_string(),
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
    runtime.block_on(work(client))
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

pub(super) struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
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
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}
