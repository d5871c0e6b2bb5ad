//! Logging for `serve`: `tracing` to stderr as text or JSON (`--log-format`), levels by
//! `RUST_LOG`. Under JSON every line the process writes is JSON — the "listening on" line
//! on stdout, a failure to start and a panic too — so a log shipper never meets a line it
//! cannot parse.

use std::io::Write;

/// How `serve` writes its lines (`--log-format`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the subscriber; under JSON also a panic hook that logs the panic as an event.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let LogFormat::Json = format {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %payload, %location, "panicked");
        }));
    }
}

/// One line in the format of the logs: as given under text, a JSON event shaped like
/// `tracing`'s under JSON (`timestamp`, `level`, `message`, `target`, then `fields`).
pub fn line(format: LogFormat, level: &str, message: &str, fields: serde_json::Value) -> String {
    match format {
        LogFormat::Text => message.to_string(),
        LogFormat::Json => {
            let mut event = serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": level,
                "message": message,
                "target": "statusgate",
            });
            if let (Some(event), serde_json::Value::Object(fields)) =
                (event.as_object_mut(), fields)
            {
                event.extend(fields);
            }
            event.to_string()
        }
    }
}

/// The address announcement on stdout, once ready: people and harnesses learn the port.
pub fn listening(format: LogFormat, addr: std::net::SocketAddr) {
    let url = format!("http://{addr}");
    let text = format!("statusgate listening on {url}");
    println!(
        "{}",
        line(format, "INFO", &text, serde_json::json!({ "url": url }))
    );
    let _ = std::io::stdout().flush();
}

/// A failure to serve, on stderr.
pub fn failed(format: LogFormat, message: &str) {
    eprintln!(
        "{}",
        line(
            format,
            "ERROR",
            &format!("statusgate: {message}"),
            serde_json::Value::Null
        )
    );
}
