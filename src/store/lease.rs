//! Leases: on a shared store, each kind of work that must happen once (the pipeline, outbox
//! delivery, reconciliation, the watchdog, Slack upkeep) runs on the one replica holding its
//! lease. A lease is a row with an epoch; the holder renews it every third of `storage.lease`,
//! another replica takes it over once it lapses (a new epoch), and every write the holder
//! makes checks the epoch in its own transaction (see [`super::fence`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::fence::{self, Fence, Held};
use super::postgres::{classify, PgStore};
use super::{Engine, Result, Store};

/// A worker that can stop when its lease goes and start again, from what the store holds,
/// when it comes back.
pub trait Work: Send {
    /// Runs until `stop` (shutdown, or the lease lost).
    fn run(&mut self, stop: CancellationToken) -> impl Future<Output = ()> + Send;

    /// Reads again what another replica may have changed while this one did not hold the
    /// lease (in-memory state built from the store).
    fn reload(&mut self) -> Result<()> {
        Ok(())
    }

    /// Everything the work writes follows from durable input that it takes again after a
    /// crash (the pipeline and its inbox). On PostgreSQL its commits then do not wait for
    /// the disk, as the pipeline's writes do not wait for a flush on sled: the write-ahead
    /// log is ordered, so a lost commit can only be the last ones, and their input is
    /// still there to be taken again.
    fn replays_its_input(&self) -> bool {
        false
    }
}

/// Who holds one lease, as this replica last saw it (`/readyz` detail and metrics).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeaseView {
    pub work: String,
    /// This replica holds it.
    pub held: bool,
    pub holder: Option<String>,
    pub epoch: Option<i64>,
}

/// This replica's leases. Cheap to clone.
#[derive(Clone)]
pub struct Leases {
    pg: Option<PgStore>,
    holder: Arc<str>,
    lease: Duration,
    fences: Arc<BTreeMap<&'static str, Fence>>,
    seen: Arc<RwLock<BTreeMap<String, (String, i64)>>>,
}

/// This replica's name among the holders: host, process and a random suffix (two processes
/// on one host, or a restarted one, are different holders).
fn holder_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "statusgate".into());
    format!(
        "{host}/{}/{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

impl Leases {
    /// Leases for `works`. On sled (one node) every lease is always held and nothing is
    /// fenced; [`Leases::run`] then has nothing to do.
    pub fn new(store: &Store, lease: Duration, works: &[&'static str]) -> Leases {
        let holder: Arc<str> = holder_name().into();
        let fences = works
            .iter()
            .map(|w| (*w, Fence::new(w, holder.clone())))
            .collect();
        let pg = match &store.engine {
            Engine::Postgres(p) => Some(p.clone()),
            Engine::Sled(_) => None,
        };
        Leases {
            pg,
            holder,
            lease,
            fences: Arc::new(fences),
            seen: Arc::new(RwLock::new(BTreeMap::new())),
        }
    }

    /// The fence of one kind of work, when replicas share the store.
    pub fn fence(&self, work: &str) -> Option<Fence> {
        self.pg.as_ref()?;
        self.fences.get(work).cloned()
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Runs `work` whenever this replica holds its lease, until `shutdown`. On sled it
    /// simply runs.
    pub async fn run_work(
        &self,
        name: &'static str,
        mut work: impl Work,
        shutdown: CancellationToken,
    ) {
        let (Some(_), Some(fence)) = (&self.pg, self.fences.get(name).cloned()) else {
            work.run(shutdown).await;
            return;
        };
        let fence = if work.replays_its_input() {
            fence.with_lazy_commit()
        } else {
            fence
        };
        loop {
            let epoch = tokio::select! {
                e = fence.held() => e,
                _ = shutdown.cancelled() => return,
            };
            if let Err(e) = work.reload() {
                tracing::error!(work = name, error = %e, "cannot reload state after taking the lease; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            tracing::info!(work = name, epoch, "lease taken: running");
            let stop = shutdown.child_token();
            let watcher = {
                let (stop, fence) = (stop.clone(), fence.clone());
                tokio::spawn(async move {
                    fence.lost(epoch).await;
                    stop.cancel();
                })
            };
            fence::scope(fence.clone(), work.run(stop)).await;
            watcher.abort();
            if shutdown.is_cancelled() {
                return;
            }
            tracing::warn!(
                work = name,
                epoch,
                "lease lost: stopped until it is held again"
            );
        }
    }

    /// Keeps the leases: renews those held, takes over lapsed ones, every third of the
    /// lease. On shutdown the held leases are given up so that another replica takes over
    /// at once rather than after the lease.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(pg) = self.pg.clone() else { return };
        let every = self.lease / 3;
        loop {
            let sent = Instant::now();
            match self.renew(&pg).await {
                Ok(rows) => self.apply(rows, sent),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot renew leases; they lapse unless the database answers");
                    // What is held stays held until its own deadline passes.
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        for f in self.fences.values() {
            f.set(None);
        }
        let (pg2, holder) = (pg.clone(), self.holder.to_string());
        let released = pg
            .spawn(async move {
                let client = pg2.client().await?;
                client
                    .execute(
                        "UPDATE statusgate_leases SET expires_at = now() WHERE holder = $1",
                        &[&holder],
                    )
                    .await
                    .map_err(classify)
            })
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not give up leases; others take over when they lapse");
        }
    }

    /// One round: renew or take every lease in one transaction; every lease row after it.
    async fn renew(&self, pg: &PgStore) -> Result<Vec<(String, String, i64)>> {
        let works: Vec<String> = self.fences.keys().map(|w| w.to_string()).collect();
        let (pg2, holder) = (pg.clone(), self.holder.to_string());
        let millis = self.lease.as_millis() as f64;
        pg.spawn(async move {
            let client = pg2.client().await?;
            client
                .execute(
                    "INSERT INTO statusgate_leases (work, holder, epoch, expires_at)
                     SELECT w, $2, 1, now() + $3 * interval '1 millisecond' FROM unnest($1::text[]) AS w
                     ON CONFLICT (work) DO UPDATE SET
                         holder = EXCLUDED.holder,
                         epoch = CASE WHEN statusgate_leases.holder = EXCLUDED.holder
                                       AND statusgate_leases.expires_at > now()
                                      THEN statusgate_leases.epoch
                                      ELSE statusgate_leases.epoch + 1 END,
                         expires_at = EXCLUDED.expires_at
                     WHERE statusgate_leases.expires_at <= now()
                        OR statusgate_leases.holder = EXCLUDED.holder",
                    &[&works, &holder, &millis],
                )
                .await
                .map_err(classify)?;
            let rows = client
                .query(
                    "SELECT work, holder, epoch FROM statusgate_leases WHERE expires_at > now()",
                    &[],
                )
                .await
                .map_err(classify)?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
        .await
    }

    fn apply(&self, rows: Vec<(String, String, i64)>, sent: Instant) {
        let until = sent + self.lease;
        let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
        seen.clear();
        for (work, holder, epoch) in rows {
            seen.insert(work, (holder, epoch));
        }
        for (work, fence) in self.fences.iter() {
            let mine = seen
                .get(*work)
                .filter(|(holder, _)| *holder == *self.holder)
                .map(|(_, epoch)| Held {
                    epoch: *epoch,
                    until,
                });
            fence.set(mine);
        }
    }

    /// Every lease as this replica sees it.
    pub fn views(&self) -> Vec<LeaseView> {
        let seen = self.seen.read().unwrap_or_else(|e| e.into_inner());
        self.fences
            .iter()
            .map(|(work, fence)| {
                let other = seen.get(*work);
                LeaseView {
                    work: work.to_string(),
                    held: self.pg.is_none() || fence.current().is_some(),
                    holder: other.map(|(h, _)| h.clone()),
                    epoch: other.map(|(_, e)| *e),
                }
            })
            .collect()
    }

    pub fn is_shared(&self) -> bool {
        self.pg.is_some()
    }
}
