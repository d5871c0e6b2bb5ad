//! A mirror in an S3-compatible bucket (moto's server, real S3 API with signature v4).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{Attribute, ObjectStore};

use super::*;

const BUCKET: &str = "status-mirror";

fn bucket(port: u16) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(format!("http://127.0.0.1:{port}"))
            .with_bucket_name(BUCKET)
            .with_region("eu-west-1")
            .with_access_key_id("mirror-key-id")
            .with_secret_access_key("mirror-secret")
            .with_allow_http(true)
            .build()
            .expect("an S3 client"),
    )
}

/// The publisher's configuration; its keys are in files under `keys`.
fn mirror_config(keys: &std::path::Path, port: u16, stale_after: &str) -> String {
    std::fs::write(keys.join("key-id"), "mirror-key-id\n").unwrap();
    std::fs::write(keys.join("secret"), "mirror-secret\n").unwrap();
    format!(
        "delivery:\n  backoff: {{initial: 200ms, max: 1s}}\n\
         publishers:\n  - name: mirror\n    type: mirror\n    stale_after: {stale_after}\n    \
         s3: {{endpoint: 'http://127.0.0.1:{port}', bucket: {BUCKET}, region: eu-west-1, path_style: true, \
         access_key_id_file: {}, secret_access_key_file: {}}}\n",
        keys.join("key-id").display(),
        keys.join("secret").display()
    )
}

async fn objects(store: &Arc<dyn ObjectStore>) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    match store.list(None).try_collect::<Vec<_>>().await {
        Ok(v) => v
            .into_iter()
            .map(|m| (m.location.to_string(), m.last_modified))
            .collect(),
        Err(_) => BTreeMap::new(),
    }
}

async fn read(store: &Arc<dyn ObjectStore>, path: &str) -> Option<(String, Vec<u8>)> {
    let got = store.get(&Key::from(path)).await.ok()?;
    let ct = got
        .attributes
        .get(&Attribute::ContentType)
        .map(|v| v.to_string())
        .unwrap_or_default();
    Some((ct, got.bytes().await.ok()?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_mirror_holds_every_public_path_with_the_live_bytes_and_content_types() {
    if !have_moto("the S3 mirror test") {
        return;
    }
    let port = free_port();
    let _moto = moto(port, BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    let s = Server::start(Options {
        extra_config: mirror_config(keys.path(), port, "1m"),
        ..Options::default()
    });
    let draft = publish_incident(&s, "m1", "api-gateway").await;
    let incident = draft["incident_id"].as_str().unwrap().to_string();
    let store = bucket(port);
    // Compared once the sync for this publication is over, not while it runs.
    wait_mirrored(&s, &draft).await;
    // Every path of the live page, and nothing else (no temporary or internal objects).
    let want = expected_paths(&incident);
    let have: Vec<String> = objects(&store).await.into_keys().collect();
    assert_eq!(have, want);
    for path in &want {
        let (ct, body) = read(&store, path).await.expect(path);
        if path == "assets/mirror.js" {
            assert_eq!(ct, "text/javascript; charset=utf-8");
            continue;
        }
        let live = s
            .http
            .get(format!("{}{}", s.url, live_path(path)))
            .send()
            .await
            .unwrap();
        let status = live.status().as_u16();
        let live_ct = live.headers()["content-type"].to_str().unwrap().to_string();
        let live_body = live.bytes().await.unwrap().to_vec();
        if path == "404.html" {
            assert_eq!(status, 404);
        } else {
            assert_eq!(status, 200, "{path}");
        }
        assert_eq!(ct, live_ct, "Content-Type of {path}");
        let text = String::from_utf8(body).unwrap();
        let live_text = String::from_utf8(live_body).unwrap();
        if path.ends_with(".html") {
            as_of(&text);
            assert!(
                text.contains("script-src 'self'"),
                "{path}: no policy for the script"
            );
            if !path.starts_with("index") && !path.starts_with("history") {
                assert_eq!(without_stamp(&text), without_stamp(&live_text), "{path}");
            }
        } else if path.ends_with(".json") && path != "api/v2/uptime.json" {
            // The same JSON, so the Statuspage widget and API clients read the mirror unchanged.
            let a: Value = serde_json::from_str(&text).unwrap();
            let b: Value = serde_json::from_str(&live_text).unwrap();
            assert_eq!(a, b, "{path}");
        } else if path != "api/v2/uptime.json" {
            assert_eq!(text, live_text, "{path}");
        }
    }
    let (_, body) = s.text(&format!("/incidents/{incident}")).await;
    let title = draft["title"].as_str().unwrap();
    assert!(body.contains(title));
    let (_, mirrored) = read(&store, "index.html").await.unwrap();
    assert!(String::from_utf8(mirrored).unwrap().contains(title));

    // The outbox machinery shows the mirror like any publisher.
    assert!(
        metric(
            &s,
            "statusgate_publish_attempts_total{target=\"mirror\",outcome=\"success\"}"
        )
        .await
            >= 1.0
    );
    let (_, ready) = s.get("/readyz", None).await;
    assert!(
        ready["checks"]["targets"]["targets"]["mirror"].is_object(),
        "{ready}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_during_publish_is_retried_and_lands_when_the_store_returns() {
    if !have_moto("the S3 outage test") {
        return;
    }
    let port = free_port();
    let mut moto_server = moto(port, BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    let s = Server::start(Options {
        extra_config: mirror_config(keys.path(), port, "1m"),
        ..Options::default()
    });
    let store = bucket(port);
    eventually("the first sync", Duration::from_secs(30), || {
        let store = store.clone();
        async move { read(&store, "index.html").await }
    })
    .await;
    moto_server.kill();
    let retries = "statusgate_publish_attempts_total{target=\"mirror\",outcome=\"retry\"}";
    let before = metric(&s, retries).await;
    let draft = publish_incident(&s, "m2", "payments").await;
    let incident = draft["incident_id"].as_str().unwrap().to_string();
    eventually("a failed attempt", Duration::from_secs(30), || {
        let s = &s;
        async move { (metric(s, retries).await > before).then_some(()) }
    })
    .await;
    let (_, ready) = s.get("/readyz", None).await;
    assert_eq!(ready["ready"], true, "{ready}");
    assert!(
        ready["checks"]["targets"]["targets"]["mirror"]["consecutive_failures"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{ready}"
    );
    // The failures are logged, the keys never.
    let log = s.log();
    assert!(log.contains("delivery failed"), "{log}");
    assert!(
        !log.contains("mirror-secret") && !log.contains("mirror-key-id"),
        "{log}"
    );
    // The store comes back (empty: moto keeps nothing); the retry writes the whole page.
    let _moto = moto(port, BUCKET).await;
    let page = format!("incidents/{incident}/index.html");
    let (_, html) = eventually(
        "the incident in the bucket",
        Duration::from_secs(60),
        || {
            let store = store.clone();
            let page = page.clone();
            async move { read(&store, &page).await }
        },
    )
    .await;
    assert!(String::from_utf8(html)
        .unwrap()
        .contains(draft["title"].as_str().unwrap()));
    eventually(
        "every path back in the bucket",
        Duration::from_secs(30),
        || {
            let store = store.clone();
            let want = expected_paths(&incident);
            async move {
                let have: Vec<String> = objects(&store).await.into_keys().collect();
                (have == want).then_some(())
            }
        },
    )
    .await;
    // Its publication is recorded as on the mirror (written by its own attempt, or found
    // there already when a timed sync got to the bucket first).
    wait_mirrored(&s, &draft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_files_are_not_rewritten_and_files_gone_from_the_page_are_deleted() {
    if !have_moto("the S3 sync test") {
        return;
    }
    let port = free_port();
    let _moto = moto(port, BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    // A short stale_after: a sync every second or two, each restamping the HTML pages.
    let s = Server::start(Options {
        extra_config: mirror_config(keys.path(), port, "3s"),
        ..Options::default()
    });
    let store = bucket(port);
    let first = eventually("the first sync", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let o = objects(&store).await;
            // The script is the last file a sync writes.
            o.contains_key("assets/mirror.js").then_some(o)
        }
    })
    .await;
    // A later sync that wrote something (the restamped index) ...
    eventually("a later sync", Duration::from_secs(30), || {
        let store = store.clone();
        let first = first.clone();
        async move {
            let o = objects(&store).await;
            (o.get("index.html") > first.get("index.html")
                && o.get("history/index.html") > first.get("history/index.html"))
            .then_some(())
        }
    })
    .await;
    // ... left the files whose bytes did not change alone.
    let now = objects(&store).await;
    for path in [
        "assets/style.css",
        "favicon.svg",
        "components/web/badge.svg",
        "api/v2/status.json",
    ] {
        assert_eq!(now.get(path), first.get(path), "{path} was written again");
    }
    // A component leaves the catalog: its badge leaves the mirror.
    let catalog = CATALOG.replace("  - {id: payments, name: Payments, group: Commerce}\n", "");
    let routes_cut = catalog
        .split("  - name: payments")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(s.mappings_dir().join("10-test.yaml"), routes_cut).unwrap();
    eventually("the badge deleted", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let o = objects(&store).await;
            (!o.contains_key("components/payments/badge.svg")
                && o.contains_key("components/web/badge.svg"))
            .then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_mirror_leaves_no_half_written_object_in_the_bucket() {
    if !have_moto("the S3 kill -9 test") {
        return;
    }
    let port = free_port();
    let _moto = moto(port, BUCKET).await;
    let keys = tempfile::tempdir().unwrap();
    let mut s = Server::start(Options {
        extra_config: mirror_config(keys.path(), port, "10m"),
        catalog: super::dir::many_components(300),
        ..Options::default()
    });
    let store = bucket(port);
    let badges = |o: &BTreeMap<String, chrono::DateTime<chrono::Utc>>| {
        o.keys().filter(|k| k.starts_with("components/")).count()
    };
    eventually("the first sync under way", Duration::from_secs(60), || {
        let store = store.clone();
        async move { (badges(&objects(&store).await) >= 5).then_some(()) }
    })
    .await;
    s.kill_hard();
    let at_kill = objects(&store).await;
    // Every object there is whole: S3 keeps an object only once its one PUT is complete.
    for path in at_kill.keys() {
        let (_, body) = read(&store, path).await.expect(path);
        let text = String::from_utf8(body).unwrap();
        assert!(
            super::dir::whole_text(path, &text),
            "{path} is half written"
        );
    }
    s.restart_stopped();
    eventually(
        "the sync finished after the restart",
        Duration::from_secs(120),
        || {
            let store = store.clone();
            async move { (badges(&objects(&store).await) == 300).then_some(()) }
        },
    )
    .await;
    // The kill landed mid-sync, else this test proved nothing.
    assert!(
        badges(&at_kill) < 300,
        "the first sync had finished before the kill"
    );
}
