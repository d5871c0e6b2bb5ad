//! The command line: `serve`, `check`, `test`, `render`, `drafts`, and (in `state`)
//! `migrate`, `export`, `import`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod client;
mod drafts;
mod incidents;
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
        #[command(flatten)]
        server: Server,
        #[command(subcommand)]
        action: DraftsAction,
    },
    /// Declare incidents and draft resolutions on a running server (approved like any draft).
    Incidents {
        #[command(flatten)]
        server: Server,
        #[command(subcommand)]
        action: IncidentsAction,
    },
    /// Bring the PostgreSQL schema up to date (replicas also do it on start).
    Migrate(ConfigArg),
    /// Write all state of the configured store to stdout as JSON lines.
    Export(ConfigArg),
    /// Load an export from stdin into the configured store, which must be empty.
    Import(ConfigArg),
    /// Print the link to an audience's page (`/a/{id}/?key=…`), for browsers and feed
    /// readers; the key is derived from the audience's token.
    AudienceLink {
        /// The audience id, as in the configuration's `audiences:`.
        audience: String,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// Commands that need only the configuration.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    #[arg(long, short)]
    config: Option<PathBuf>,
}

/// Commands that talk to a running server: where it is and the API token to use.
#[derive(Debug, clap::Args)]
pub struct Server {
    #[arg(
        long,
        env = "STATUSGATE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub(crate) url: String,
    #[arg(long, env = "STATUSGATE_TOKEN", global = true, hide_env_values = true)]
    pub(crate) token: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum IncidentsAction {
    /// List open incidents.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Draft a new incident no alert reported (a vendor outage, a customer report).
    Declare {
        /// What customers read.
        #[arg(long)]
        body: String,
        /// Affected component and its status, `api=major_outage`; repeat for several.
        #[arg(long = "component", value_name = "ID=STATUS")]
        components: Vec<String>,
        /// Default: "<worst status>: <component names>".
        #[arg(long)]
        title: Option<String>,
        /// investigating (default), identified or monitoring.
        #[arg(long)]
        status: Option<String>,
        /// none, minor, major or critical (default: from the worst component status).
        #[arg(long)]
        impact: Option<String>,
    },
    /// Draft the resolution of an incident no alert will resolve.
    Resolve {
        id: String,
        /// Default: the resolution template's words.
        #[arg(long)]
        body: Option<String>,
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
        Command::Drafts { server, action } => drafts::drafts(server, action),
        Command::AudienceLink { audience, config } => audience_link(&audience, config.as_deref()),
        Command::Incidents { server, action } => incidents::incidents(server, action),
        Command::Migrate(a) => state::migrate(a.config.as_deref()),
        Command::Export(a) => state::export(a.config.as_deref()),
        Command::Import(a) => state::import(a.config.as_deref()),
    }
}

fn audience_link(id: &str, config_path: Option<&Path>) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let audiences = crate::publish::audience::Audience::from_config(&config);
    let Some(a) = audiences.iter().find(|a| a.id == id) else {
        let known: Vec<&str> = config.audiences.iter().map(|a| a.id.as_str()).collect();
        return fail(format!(
            "no audience `{id}` in the configuration (audiences: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    println!(
        "{}/a/{}/?key={}",
        config.public_url.trim_end_matches('/'),
        a.id,
        a.key()
    );
    ExitCode::SUCCESS
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
    let audiences: Vec<String> = config.audiences.iter().map(|a| a.id.clone()).collect();
    // Compiling the templates takes as long as a large catalog's index: both at once, the
    // templates at the lowest priority, so that they take a core only when the catalog
    // (which reads a large file on two) leaves one idle.
    let (catalog, templates) = std::thread::scope(|s| {
        let templates = s.spawn(|| {
            // SAFETY: plain integers; on Linux, `who = 0` is the calling thread alone.
            unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
            crate::draft::Templates::from_config(&config).err()
        });
        let catalog = Catalog::load_for(&config.mappings, &audiences);
        let templates = templates
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (catalog, templates)
    });
    let catalog = match catalog {
        Ok(c) => Some(c),
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            problems += e.problems.len();
            None
        }
    };
    if let Some(e) = templates {
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
                    match catalog.component(ours) {
                        None => {
                            eprintln!("publishers.{name}.components: `{ours}` is not a component in the catalog");
                            problems += 1;
                        }
                        // Publishers are public; an audience's component would never reach it.
                        Some(c) if !c.audiences.is_empty() => {
                            eprintln!("publishers.{name}.components: `{ours}` is on audience pages only ({}), and publishers get only what the public page shows", c.audiences.join(", "));
                            problems += 1;
                        }
                        Some(_) => {}
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
        // The process ends here: freeing a large catalog piece by piece would only delay it.
        std::mem::forget(c);
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
