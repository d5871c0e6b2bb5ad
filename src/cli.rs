//! The command line: `serve`, `check`, `test`, `render`, `drafts`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod state;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::Config;
pub use crate::logs::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "statusgate",
    version,
    about = "Alerts in, human-approved status page updates out"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// Configuration file (YAML); also STATUSGATE_CONFIG.
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(
            long,
            env = "STATUSGATE_LOG_FORMAT",
            value_enum,
            default_value = "text"
        )]
        log_format: LogFormat,
    },
    /// Validate configuration, mapping files and templates; exit non-zero on any problem.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Also ask each Statuspage publisher for its page's components and report the
        /// ones the mapping does not cover.
        #[arg(long)]
        remote: bool,
    },
    /// Run the `tests:` in mapping files.
    Test {
        /// Mapping file or directory (default: the configured mappings).
        mappings: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show the draft a webhook payload would make, without a server.
    Render {
        /// An Alertmanager webhook payload (JSON).
        #[arg(long)]
        payload: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print the draft as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with drafts on a running server.
    Drafts {
        #[arg(
            long,
            env = "STATUSGATE_URL",
            default_value = "http://127.0.0.1:8080",
            global = true
        )]
        url: String,
        #[arg(long, env = "STATUSGATE_TOKEN", global = true, hide_env_values = true)]
        token: Option<String>,
        #[command(subcommand)]
        action: DraftsAction,
    },
    /// Bring the PostgreSQL schema up to date (replicas also do it on start).
    Migrate {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Write all state of the configured store to stdout as JSON lines.
    Export {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Load an export from stdin into the configured store, which must be empty.
    Import {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DraftsAction {
    /// List drafts (pending by default).
    List {
        #[arg(long, default_value = "pending")]
        state: String,
        #[arg(long)]
        json: bool,
    },
    /// Show one draft.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve a draft. Without --revision, shows the draft and asks.
    Approve {
        id: String,
        #[arg(long)]
        revision: Option<u32>,
        /// Approve the revision shown without asking.
        #[arg(long)]
        yes: bool,
    },
    /// Reject a draft.
    Reject {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve { config, log_format } => serve(config.as_deref(), log_format),
        Command::Check { config, remote } => match check(config.as_deref()) {
            code if code == ExitCode::SUCCESS && remote => check_remote(config.as_deref()),
            code => code,
        },
        Command::Test { mappings, config } => test(mappings, config.as_deref()),
        Command::Render {
            payload,
            config,
            json,
        } => render(&payload, config.as_deref(), json),
        Command::Drafts { url, token, action } => drafts(&url, token, action),
        Command::Migrate { config } => state::migrate(config.as_deref()),
        Command::Export { config } => state::export(config.as_deref()),
        Command::Import { config } => state::import(config.as_deref()),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("statusgate: {msg}");
    ExitCode::FAILURE
}

fn serve(config_path: Option<&Path>, log_format: LogFormat) -> ExitCode {
    crate::logs::init(log_format);
    let fail = |msg: String| {
        crate::logs::failed(log_format, &msg);
        ExitCode::FAILURE
    };
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        spawn_signal_handler(shutdown.clone());
        let app = crate::build(config).await?;
        crate::logs::listening(log_format, addr);
        app.serve(listener, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        token.cancel();
    });
}

fn check(config_path: Option<&Path>) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            // One line per problem, each with its place, as `serve` would refuse them.
            let lines: Vec<&str> = e.0.lines().collect();
            for line in &lines {
                eprintln!("{line}");
            }
            eprintln!("{} problem(s) found", lines.len());
            return ExitCode::FAILURE;
        }
    };
    let mut problems = 0;
    // What `serve` builds from the configuration before it takes a request.
    if let Err(e) = crate::publish::targets::from_config(&config) {
        eprintln!("{e}");
        problems += 1;
    }
    if let Err(e) = crate::watchdog_heartbeat(&config) {
        eprintln!("{e}");
        problems += 1;
    }
    let catalog = match Catalog::load(&config.mappings) {
        Ok(c) => Some(c),
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            problems += e.problems.len();
            None
        }
    };
    if let Err(e) = crate::draft::Templates::from_config(&config) {
        for line in e.lines() {
            eprintln!("{line}");
            problems += 1;
        }
    }
    if let Some(catalog) = &catalog {
        for p in &config.publishers {
            if let crate::config::PublisherConfig::Statuspage {
                name, components, ..
            } = p
            {
                for ours in components.keys() {
                    if catalog.component(ours).is_none() {
                        eprintln!("publishers.{name}.components: `{ours}` is not a component in the catalog");
                        problems += 1;
                    }
                }
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        return ExitCode::FAILURE;
    }
    if let Some(c) = catalog {
        println!(
            "ok: configuration, {} component(s), {} route(s), templates",
            c.components().len(),
            c.route_count()
        );
    }
    ExitCode::SUCCESS
}

/// `check --remote`: every Statuspage publisher's components, mapped or not. A mapping to a
/// component the page does not have is a problem; a page component nothing maps to is
/// reported (statusgate never changes it).
fn check_remote(config_path: Option<&Path>) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let targets = match crate::publish::targets::from_config(&config) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    if targets.statuspages.is_empty() {
        println!("no statuspage publishers configured; nothing to check remotely");
        return ExitCode::SUCCESS;
    }
    let mut problems = 0;
    for (name, sp) in &targets.statuspages {
        let (page_id, mapping) = sp.mapping();
        let remote = match runtime.block_on(sp.list_components()) {
            Ok(list) => list,
            Err(e) => {
                eprintln!("publishers.{name}: cannot list the components of page {page_id}: {e}");
                problems += 1;
                continue;
            }
        };
        println!("{name}: page {page_id} has {} component(s)", remote.len());
        for c in &remote {
            let ours: Vec<&String> = mapping
                .iter()
                .filter(|(_, theirs)| **theirs == c.id)
                .map(|(ours, _)| ours)
                .collect();
            let kind = if c.group { " (group)" } else { "" };
            if ours.is_empty() {
                println!("  {}  {}{kind}: unmapped", c.id, c.name);
            } else {
                let ours: Vec<&str> = ours.iter().map(|s| s.as_str()).collect();
                println!(
                    "  {}  {}{kind}: mapped from {}",
                    c.id,
                    c.name,
                    ours.join(", ")
                );
            }
        }
        for (ours, theirs) in mapping {
            if !remote.iter().any(|c| &c.id == theirs) {
                eprintln!("publishers.{name}.components: `{ours}` maps to `{theirs}`, which page {page_id} does not have");
                problems += 1;
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s) found");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn test(mappings: Option<PathBuf>, config_path: Option<&Path>) -> ExitCode {
    let path = match mappings {
        Some(p) => p,
        None => match Config::load(config_path) {
            Ok(c) => c.mappings,
            Err(e) => return fail(e),
        },
    };
    let catalog = match Catalog::load(&path) {
        Ok(c) => c,
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
    };
    let outcomes = catalog.run_tests();
    let mut failed = 0;
    for o in &outcomes {
        if o.passed {
            println!("ok    {}:{}: {}", o.file, o.line, o.name);
        } else {
            failed += 1;
            println!("FAIL  {}:{}: {}", o.file, o.line, o.name);
            println!("        expected: {}", show_statuses(&o.expected));
            println!("        got:      {}", show_statuses(&o.got));
            if !o.routes.is_empty() {
                println!("        matched routes: {}", o.routes.join(", "));
            }
        }
    }
    println!(
        "mapping tests: {} passed, {} failed",
        outcomes.len() - failed,
        failed
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn show_statuses(m: &std::collections::BTreeMap<String, crate::vocab::ComponentStatus>) -> String {
    if m.is_empty() {
        return "{} (nothing reaches the page)".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(payload: &Path, config_path: Option<&Path>, as_json: bool) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let now = chrono::Utc::now();
    let previewed = crate::alerts_from_file(payload, now)
        .and_then(|alerts| crate::draft::preview::preview(&config, alerts, now));
    match previewed {
        Ok(out) => {
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out.json).unwrap_or_default()
                );
            } else {
                print!("{}", out.text);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn drafts(url: &str, token: Option<String>, action: DraftsAction) -> ExitCode {
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
fn shown(answer: Result<Value, String>, json: bool, words: impl Fn(&Value) -> String) -> ExitCode {
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

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn get(&self, path: &str) -> Result<Value, String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        answer(r).await
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
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
