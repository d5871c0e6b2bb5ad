//! Several replicas on one PostgreSQL: any replica takes any request, once-only work runs
//! under leases, a replica that lost its lease writes and sends nothing.

mod fencing;
mod ha_alertmanager;
mod rolling;
mod shared;
mod takeover;
mod watchdog;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::harness::*;
use crate::postgres_cluster::cluster;

/// Short leases, so that takeovers happen within a test.
pub const LEASE: Duration = Duration::from_secs(3);

/// `n` replicas on one fresh database; `None` when this machine has no PostgreSQL.
pub fn replicas(n: usize, extra_config: &str) -> Option<(String, Vec<Server>)> {
    let url = cluster()?.database();
    let servers = (0..n)
        .map(|_| {
            Server::start(Options {
                storage_url: Some(url.clone()),
                extra_config: format!("storage:\n  lease: {}s\n{extra_config}", LEASE.as_secs()),
                ..Options::default()
            })
        })
        .collect();
    Some((url, servers))
}

/// Waits until some replica among `alive` holds `work`'s lease; its index.
pub async fn wait_holder(
    replicas: &[Server],
    alive: &[usize],
    work: &str,
    limit: Duration,
) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        for &i in alive {
            let (_, body) = replicas[i].get("/readyz", None).await;
            let held = body["checks"]["leases"]["work"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|w| w["work"] == work && w["held"] == true);
            if held {
                return i;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no replica took the `{work}` lease within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP round-robin proxy in front of the replicas, as a Kubernetes Service is: each new
/// connection goes to the next backend that accepts it.
pub struct Proxy {
    pub url: String,
    backends: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(replicas: &[Server]) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let backends = Arc::new(Mutex::new(Vec::new()));
        let proxy_backends = backends.clone();
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (backends, next) = (proxy_backends.clone(), next.clone());
                tokio::spawn(async move {
                    let list: Vec<String> = backends.lock().unwrap().clone();
                    for _ in 0..list.len() {
                        let i = next.fetch_add(1, Ordering::Relaxed) % list.len();
                        if let Ok(mut outbound) = TcpStream::connect(&list[i]).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        let proxy = Proxy {
            url,
            backends,
            task,
        };
        proxy.route_to(replicas);
        proxy
    }

    /// Sends new connections to these replicas (after a restart moved their ports).
    pub fn route_to(&self, replicas: &[Server]) {
        *self.backends.lock().unwrap() = replicas
            .iter()
            .filter(|s| !s.url.is_empty())
            .map(|s| s.url.trim_start_matches("http://").to_string())
            .collect();
    }
}

/// Posts an Alertmanager notification to `base`; the status (0 when unreachable).
pub async fn post_alerts(http: &reqwest::Client, base: &str, payload: &Value) -> u16 {
    match http
        .post(format!("{base}/webhooks/alertmanager"))
        .bearer_auth(AM_TOKEN)
        .json(payload)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Every fingerprint in any draft of any state.
pub async fn drafted_fingerprints(s: &Server) -> std::collections::BTreeSet<String> {
    s.drafts("")
        .await
        .iter()
        .flat_map(|d| d["alerts"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["fingerprint"].as_str().map(str::to_string))
        .collect()
}

/// New-incident drafts (pending or decided): one per incident is the invariant.
pub async fn new_incident_drafts(s: &Server) -> Vec<Value> {
    s.drafts("")
        .await
        .into_iter()
        .filter(|d| d["kind"] == "new_incident")
        .collect()
}

pub const HOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A signed-webhook receiver and the `publishers:` configuration that points at it.
pub struct Receiver {
    pub requests: crate::fake_http::Recorder,
    pub config: String,
    _server: crate::fake_http::FakeServer,
    _secrets: tempfile::TempDir,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let requests = crate::fake_http::Recorder::default();
        let server = crate::fake_http::spawn(requests.handler(204)).await;
        let secrets = tempfile::tempdir().unwrap();
        let secret_file = secrets.path().join("hook");
        std::fs::write(&secret_file, HOOK_SECRET).unwrap();
        let config = format!(
            "delivery:\n  backoff: {{initial: 100ms, max: 1s}}\npublishers:\n  - {{name: events, type: webhook, url: '{}/hook', secret_file: {}}}\n",
            server.url,
            secret_file.display()
        );
        Receiver {
            requests,
            config,
            _server: server,
            _secrets: secrets,
        }
    }

    /// Every delivery: its webhook-id and event, each checked against the signature.
    pub fn events(&self) -> Vec<(String, Value)> {
        self.requests
            .requests()
            .iter()
            .map(|req| {
                crate::publish_webhook::verify(HOOK_SECRET, req).expect("signed");
                (
                    req.header("webhook-id").unwrap_or_default().to_string(),
                    req.json(),
                )
            })
            .collect()
    }

    /// Waits until at least `n` deliveries arrived.
    pub async fn wait_events(&self, n: usize, limit: Duration) -> Vec<(String, Value)> {
        let deadline = Instant::now() + limit;
        loop {
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} deliveries: {events:?}",
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
