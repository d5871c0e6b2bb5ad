//! A mirror in a directory, served by a plain static file server (python3 -m http.server).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::*;

fn mirror_config(dir: &Path, stale_after: &str) -> String {
    format!(
        "delivery:\n  backoff: {{initial: 200ms, max: 1s}}\n\
         publishers:\n  - name: mirror\n    type: mirror\n    stale_after: {stale_after}\n    dir: {}\n",
        dir.display()
    )
}

/// `python3 -m http.server` serving `dir`; its base URL.
async fn static_server(dir: &Path) -> (Process, String) {
    let port = free_port();
    let p = Process::spawn(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_http(&url).await;
    (p, url)
}

fn browser_missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if !repo_path("tests/browser/node_modules/playwright-core").exists() {
        return Some(
            "tests/browser/node_modules is missing (npm ci --prefix tests/browser)".into(),
        );
    }
    None
}

fn browser(url: &str, mode: &str, texts: &[&str]) {
    let out = output_within(
        Command::new("node")
            .arg(repo_path("tests/browser/mirror.mjs"))
            .arg(url)
            .arg(mode)
            .args(texts),
        Duration::from_secs(120),
    )
    .expect("run node");
    assert!(
        out.status.success(),
        "browser checks ({mode}) failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_mirror_on_a_static_server_shows_the_incident_and_says_when_it_is_stale() {
    if let Some(why) = browser_missing() {
        skip_or_fail("the mirror browser test", &why);
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let mut s = Server::start(Options {
        extra_config: mirror_config(root.path(), "8s"),
        ..Options::default()
    });
    let draft = publish_incident(&s, "d1", "api-gateway").await;
    let incident = draft["incident_id"].as_str().unwrap().to_string();
    wait_mirrored(&s, &draft).await;
    assert!(root
        .path()
        .join(format!("incidents/{incident}/index.html"))
        .exists());
    let (_server, url) = static_server(root.path()).await;
    // The widget's JSON, served statically, is the live JSON.
    let live: Value = s
        .http
        .get(format!("{}/api/v2/summary.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mirrored: Value = s
        .http
        .get(format!("{url}/api/v2/summary.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mirrored, live);
    let title = draft["title"].as_str().unwrap();
    browser(
        &format!("{url}/"),
        "fresh",
        &[title, "Public API", "Major outage"],
    );

    // statusgate stops updating the mirror: the page says so by itself.
    s.kill_hard();
    let index = std::fs::read_to_string(root.path().join("index.html")).unwrap();
    let stale_at = as_of(&index) + chrono::Duration::seconds(9);
    while chrono::Utc::now() < stale_at {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser(&format!("{url}/"), "stale", &[title]);
}

fn whole(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    whole_text(&path.to_string_lossy(), &text)
}

/// Whether a mirrored file is whole (a torn write would cut it short).
pub fn whole_text(name: &str, text: &str) -> bool {
    if name.ends_with(".json") {
        serde_json::from_str::<Value>(text).is_ok()
    } else if name.ends_with(".svg") {
        text.trim_end().ends_with("</svg>")
    } else if name.ends_with(".html") {
        text.trim_end().ends_with("</html>")
    } else {
        !text.is_empty()
    }
}

fn files(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Many components: a sync writes hundreds of badges, long enough to be stopped in.
pub fn many_components(n: usize) -> String {
    let mut catalog = String::from("components:\n");
    for i in 0..n {
        catalog.push_str(&format!("  - {{id: c{i}, name: Component {i}}}\n"));
    }
    catalog
        .push_str("routes:\n  - name: c0\n    match: ['service=\"c0\"']\n    components: [c0]\n");
    catalog
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_mirror_leaves_no_half_written_file_and_the_next_start_finishes() {
    let catalog = many_components(400);
    let root = tempfile::tempdir().unwrap();
    let mut s = Server::start(Options {
        extra_config: mirror_config(root.path(), "10m"),
        catalog,
        ..Options::default()
    });
    let badges = root.path().join("components");
    let count = || std::fs::read_dir(&badges).map(|d| d.count()).unwrap_or(0);
    eventually("the first sync under way", Duration::from_secs(60), || {
        let n = count();
        async move { (n >= 5).then_some(()) }
    })
    .await;
    s.kill_hard();
    let at_kill = count();
    for f in files(root.path()) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            // A temporary file: no page path points at it.
            continue;
        }
        assert!(whole(&f), "{} is half written", f.display());
    }
    s.restart_stopped();
    // Over when the restarted process reports a whole sync, not when the last badge lands:
    // the page's other files come after the badges.
    let synced = "statusgate_publish_attempts_total{target=\"mirror\",outcome=\"success\"}";
    eventually(
        "the sync finished after the restart",
        Duration::from_secs(120),
        || {
            let s = &s;
            async move { (metric(s, synced).await >= 1.0).then_some(()) }
        },
    )
    .await;
    assert_eq!(count(), 400, "every badge written");
    for f in files(root.path()) {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with('.'),
            "{} was left behind by the stopped sync",
            f.display()
        );
        assert!(whole(&f), "{} is not whole", f.display());
    }
    // The kill landed mid-sync, else this test proved nothing.
    assert!(
        at_kill < 400,
        "the first sync had finished before the kill ({at_kill} badges)"
    );
}
