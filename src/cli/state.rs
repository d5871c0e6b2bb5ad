//! `statusgate migrate`, `export` and `import`: the configured store, without a server.

use std::path::Path;
use std::process::ExitCode;

use crate::config::Config;

fn run(
    config_path: Option<&Path>,
    what: &str,
    f: impl AsyncFnOnce(Config) -> Result<String, String>,
) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => return super::fail(e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return super::fail(format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(f(config)) {
        Ok(done) => {
            eprintln!("statusgate: {done}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(format!("{what} failed: {e}")),
    }
}

pub fn migrate(config_path: Option<&Path>) -> ExitCode {
    run(config_path, "migrate", async |config| {
        let Some(url) = &config.secrets.storage_url else {
            return Err("no storage.url: sled needs no migrations".into());
        };
        let (before, after) = crate::store::migrate(url.expose())
            .await
            .map_err(|e| e.to_string())?;
        Ok(if before == after {
            format!("schema is at version {after}; nothing to do")
        } else {
            format!("schema migrated from version {before} to {after}")
        })
    })
}

pub fn export(config_path: Option<&Path>) -> ExitCode {
    run(config_path, "export", async |config| {
        let store = crate::open_store(&config)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let n = crate::store::export(&store, &mut out).map_err(|e| e.to_string())?;
        Ok(format!("exported {n} records from {}", store.engine()))
    })
}

pub fn import(config_path: Option<&Path>) -> ExitCode {
    run(config_path, "import", async |config| {
        let store = crate::open_store(&config)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let input = std::io::stdin().lock();
        let s = crate::store::import(&store, input)
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "imported {} records in {} tables into {}",
            s.records,
            s.tables,
            store.engine()
        ))
    })
}
