//! The shared engine: PostgreSQL, for several replicas. The stages call the store
//! synchronously (inside their own transactions' closures), so every database call runs on
//! a small runtime of its own and the caller waits for it, yielding its worker thread to
//! the others while it does.

mod batch;
mod claim;
mod export;
mod listen;
mod migrate;
mod tx;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;

pub(crate) use claim::PgClaim;
pub use migrate::SCHEMA_VERSION;
pub(crate) use tx::PgTx;

use super::{Fence, Range, Result, StoreError, Tx, TxAbort, TxEngine};

/// How long one database call may take before the database counts as unreachable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for a connection (or for a new one to be made).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Rows fetched per page when a caller walks a table.
const PAGE: i64 = 500;
/// Serialization conflicts are retried this many times before the caller gets 503.
const MAX_ATTEMPTS: u32 = 30;

/// Brings the schema at `url` up to date; returns the versions before and after.
pub async fn migrate(url: &str) -> Result<(i32, i32)> {
    let pg = PgStore::connect(url).await?;
    let before = pg.migrate().await?;
    Ok((before, SCHEMA_VERSION))
}

/// Owns the runtime the database calls run on; shut down without waiting, since the last
/// handle may go inside another runtime, where blocking is not allowed.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

struct Inner {
    /// Owns the threads the calls run on; only dropped.
    _runtime: Runtime,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// False after a call could not reach the server; the next call that does sets it.
    reachable: AtomicBool,
    /// For the listening connection, which is not pooled.
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    listeners: listen::Listeners,
}

#[derive(Clone)]
pub(crate) struct PgStore {
    inner: Arc<Inner>,
}

pub(super) type Raw = Vec<(String, Vec<u8>)>;

/// A database error as the stages see it: unreachable (503, recover by itself), a
/// serialization conflict (retried by the transaction loop) or anything else.
pub(crate) fn classify(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if is_conflict(code) => StoreError::Unconfirmed(format!("conflict: {e}")),
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57P") => {
            StoreError::Unreachable(e.to_string())
        }
        Some(code) if code.code().starts_with("53") => StoreError::Unreachable(e.to_string()),
        Some(_) => StoreError::Io(format!("{e}: {}", db_detail(&e))),
        // No SQLSTATE: the connection broke (server gone, failover, network).
        None => StoreError::Unreachable(e.to_string()),
    }
}

fn db_detail(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default()
}

fn is_conflict(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
}

fn text(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| StoreError::Io(format!("record is not UTF-8: {e}")))
}

/// The values of a [`READ_KEYS`] answer, one per key of `keys` in its order (a key asked
/// twice gets its value twice).
fn by_key(keys: &[String], found: Vec<tokio_postgres::Row>) -> Vec<Option<Vec<u8>>> {
    let found: std::collections::HashMap<String, Vec<u8>> = rows(found).into_iter().collect();
    keys.iter().map(|k| found.get(k).cloned()).collect()
}

fn rows(rows: Vec<tokio_postgres::Row>) -> Raw {
    rows.into_iter()
        .map(|r| {
            let v: String = r.get(1);
            (r.get(0), v.into_bytes())
        })
        .collect()
}

/// The fencing check every write of a lease holder makes, in its own transaction: the
/// lease row is locked for share, so a takeover waits for this transaction to end and
/// a transaction after a takeover finds the epoch moved on.
const FENCE_CHECK: &str = "SELECT 1 FROM statusgate_leases
     WHERE work = $1 AND holder = $2 AND epoch = $3 AND expires_at > now() FOR SHARE";

impl PgStore {
    /// Connects (TLS as the URL's `sslmode` says) and checks the server answers.
    pub(super) async fn connect(url: &str) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Io(format!("storage.url is not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("statusgate");
        }
        let tls = tls()?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("statusgate-db")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(format!("cannot start the database runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let pool = {
            let _guard = handle.enter();
            Pool::builder(manager)
                .max_size(16)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .recycle_timeout(Some(CONNECT_TIMEOUT))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Io(format!("cannot set up connections: {e}")))?
        };
        let pg = PgStore {
            inner: Arc::new(Inner {
                _runtime: Runtime(Some(runtime)),
                handle,
                pool,
                reachable: AtomicBool::new(true),
                config,
                tls,
                listeners: listen::Listeners::default(),
            }),
        };
        let probe = pg.clone();
        pg.spawn(async move {
            let client = probe.client().await?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(classify)
                .map(|_| ())
        })
        .await?;
        Ok(pg)
    }

    /// A write, awaited without blocking a thread (readiness checks time it out).
    pub(super) async fn probe(&self) -> Result<()> {
        let pg = self.clone();
        let now = serde_json::to_string(&chrono::Utc::now().to_rfc3339())
            .map_err(|e| StoreError::Io(e.to_string()))?;
        self.spawn(async move {
            let client = pg.client().await?;
            client
                .execute(UPSERT, &[&"meta", &"probe", &now])
                .await
                .map(|_| ())
                .map_err(classify)
        })
        .await
    }

    pub(super) fn is_healthy(&self) -> bool {
        self.inner.reachable.load(Ordering::Relaxed)
    }

    fn note<T>(&self, r: &Result<T>) {
        match r {
            Ok(_) => self.inner.reachable.store(true, Ordering::Relaxed),
            Err(StoreError::Unreachable(_)) => self.inner.reachable.store(false, Ordering::Relaxed),
            Err(_) => {}
        }
    }

    /// A pooled connection (only on the database runtime).
    pub(crate) async fn client(&self) -> Result<Object> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|e| StoreError::Unreachable(format!("no database connection: {e}")))
    }

    /// Starts a task on the database runtime and leaves it running.
    pub(crate) fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        drop(self.inner.handle.spawn(task));
    }

    /// Runs `fut` on the database runtime and awaits it from any runtime. A caller already
    /// on that runtime (the group committer) runs it in place: no task, no hand-over.
    pub(crate) async fn spawn<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let here =
            tokio::runtime::Handle::try_current().is_ok_and(|h| h.id() == self.inner.handle.id());
        let timed = tokio::time::timeout(CALL_TIMEOUT, fut);
        let outcome = if here {
            Ok(timed.await)
        } else {
            self.inner.handle.spawn(timed).await
        };
        let r = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Unreachable(format!(
                "the database did not answer within {}s",
                CALL_TIMEOUT.as_secs()
            ))),
            Err(e) => Err(StoreError::Io(format!("database call failed: {e}"))),
        };
        self.note(&r);
        r
    }

    /// Runs `fut` on the database runtime and blocks the calling thread until it ends.
    /// On a multi-threaded runtime the caller's other tasks move to other workers.
    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner
            .handle
            .spawn(async move { tx.send(tokio::time::timeout(CALL_TIMEOUT, fut).await) });
        let wait = || rx.recv();
        let outcome = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        let r = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(StoreError::Unreachable(format!(
                "the database did not answer within {}s",
                CALL_TIMEOUT.as_secs()
            ))),
            Err(_) => Err(StoreError::Io("the database runtime stopped".into())),
        };
        self.note(&r);
        r
    }

    /// One statement on a pooled connection, outside any transaction.
    fn query(&self, sql: &'static str, args: Args) -> Result<Vec<tokio_postgres::Row>> {
        let pg = self.clone();
        self.block(async move {
            let client = pg.client().await?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                args.iter().map(|a| a.as_ref() as _).collect();
            // Prepared once per connection: one round trip per statement, not two.
            let statement = client.prepare_cached(sql).await.map_err(classify)?;
            client.query(&statement, &refs).await.map_err(classify)
        })
    }

    /// A write outside a transaction: alone in its own, fenced when `fence` is given.
    fn write(
        &self,
        fence: Option<&Fence>,
        sql: &'static str,
        args: impl Fn() -> Args,
    ) -> Result<()> {
        if fence.is_none() {
            return self.query(sql, args()).map(|_| ());
        }
        let r = self.transaction(fence, |tx| match &tx.inner {
            TxEngine::Postgres(pg) => pg.run(sql, args()).map(|_| ()),
            TxEngine::Sled(_) => Err(TxAbort::Rejected("not a PostgreSQL transaction".into())),
        })?;
        r.map_err(StoreError::from)
    }

    pub(super) fn get(&self, table: &'static str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(first_value(&self.query(GET, key_args(table, key))?))
    }

    /// Several records in one round trip, in the order of `keys`.
    pub(super) fn get_many(
        &self,
        table: &'static str,
        keys: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        let found = self.query(READ_KEYS, vec![Box::new(table), Box::new(keys.to_vec())])?;
        Ok(by_key(keys, found))
    }

    pub(super) fn put(
        &self,
        fence: Option<&Fence>,
        table: &'static str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let value = text(bytes)?;
        self.write(fence, UPSERT, || {
            vec![
                Box::new(table),
                Box::new(key.to_string()),
                Box::new(value.clone()),
            ]
        })
    }

    pub(super) fn remove_all(
        &self,
        fence: Option<&Fence>,
        table: &'static str,
        keys: &[String],
    ) -> Result<()> {
        self.write(fence, REMOVE_KEYS, || {
            vec![Box::new(table), Box::new(keys.to_vec())]
        })
    }

    pub(super) fn len(&self, table: &'static str) -> Result<usize> {
        let rows = self.query(
            "SELECT count(*) FROM statusgate_records WHERE tbl = $1",
            vec![Box::new(table)],
        )?;
        Ok(rows.first().map(|r| r.get::<_, i64>(0)).unwrap_or(0) as usize)
    }

    pub(super) fn scan(&self, table: &'static str, range: Range<'_>) -> Result<Raw> {
        let found = match range {
            Range::Prefix(prefix) => self.query(
                // The upper bound keeps the index range tight; starts_with makes it exact.
                "SELECT key, value FROM statusgate_records
                 WHERE tbl = $1 AND key >= $2 AND key < $2 || chr(1114111)
                   AND starts_with(key, $2)
                 ORDER BY key",
                vec![Box::new(table), Box::new(prefix.to_string())],
            )?,
            Range::First(limit) => self.query(
                "SELECT key, value FROM statusgate_records WHERE tbl = $1 ORDER BY key LIMIT $2",
                vec![Box::new(table), Box::new(limit as i64)],
            )?,
            Range::Before(before, limit) => self.query(
                "SELECT key, value FROM statusgate_records
                 WHERE tbl = $1 AND ($2::text IS NULL OR key < $2)
                 ORDER BY key DESC LIMIT $3",
                vec![
                    Box::new(table),
                    Box::new(before.map(str::to_string)),
                    Box::new(limit as i64),
                ],
            )?,
        };
        Ok(rows(found))
    }

    fn page(&self, table: &'static str, after: Option<String>, rows: i64) -> Result<Raw> {
        let found = self.query(
            "SELECT key, value FROM statusgate_records
             WHERE tbl = $1 AND ($2::text IS NULL OR key > $2)
             ORDER BY key LIMIT $3",
            vec![Box::new(table), Box::new(after), Box::new(rows)],
        )?;
        Ok(self::rows(found))
    }

    pub(super) fn next_id(&self) -> Result<u64> {
        let rows = self.query("SELECT nextval('statusgate_ids')", vec![])?;
        rows.first()
            .map(|r| r.get::<_, i64>(0) as u64)
            .ok_or_else(|| StoreError::Io("no id from the database".into()))
    }

    /// Counters live in `meta` under `counter/NAME`, as with sled, so exports agree.
    pub(super) fn counter(&self, name: &str) -> Result<u64> {
        self.counter_key(&format!("counter/{name}"))
    }

    fn counter_key(&self, key: &str) -> Result<u64> {
        let name = key;
        let rows = self.query(
            "INSERT INTO statusgate_records (tbl, key, value) VALUES ('meta', $1, '1')
             ON CONFLICT (tbl, key)
             DO UPDATE SET value = (statusgate_records.value::bigint + 1)::text
             RETURNING value",
            vec![Box::new(key.to_string())],
        )?;
        rows.first()
            .and_then(|r| r.get::<_, String>(0).parse::<u64>().ok())
            .ok_or_else(|| StoreError::Io(format!("counter {name} unreadable")))
    }

    pub(super) fn size_on_disk(&self) -> u64 {
        self.query("SELECT pg_database_size(current_database())", vec![])
            .ok()
            .and_then(|rows| rows.first().map(|r| r.get::<_, i64>(0) as u64))
            .unwrap_or(0)
    }

    /// Runs `f` in a transaction; a fenced store first checks its lease in the same
    /// transaction. Every transaction of the stages reads by key and then writes what it
    /// decided from those reads (dedupe, compare-and-set), so each read first takes a
    /// transaction-scoped lock on its key: a second writer of the same key, on this replica
    /// or another, waits for the first and then reads what it wrote, instead of failing and
    /// starting over (an HA pair delivers the same alerts to two replicas at the same
    /// moment). Deadlocks between multi-key writers are detected by the server and the
    /// closure runs again.
    pub(super) fn transaction<R>(
        &self,
        fence: Option<&Fence>,
        f: impl Fn(&Tx<'_>) -> std::result::Result<R, TxAbort>,
    ) -> Result<std::result::Result<R, TxAbort>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(fence) = fence {
                fence.check_local()?;
            }
            let tx = PgTx::begin(self, fence)?;
            let outcome = f(&Tx {
                inner: TxEngine::Postgres(&tx),
            });
            let conflict = tx.conflict.load(Ordering::Relaxed);
            let result = match outcome {
                Ok(r) if !conflict => match tx.finish(true) {
                    Ok(()) => return Ok(Ok(r)),
                    Err(e) => Err(e),
                },
                Ok(_) => Err(StoreError::Unconfirmed("conflict".into())),
                Err(abort) => {
                    let _ = tx.finish(false);
                    match abort {
                        TxAbort::Store(e) => Err(e),
                        other if !conflict => return Ok(Err(other)),
                        _ => Err(StoreError::Unconfirmed("conflict".into())),
                    }
                }
            };
            match result {
                Err(e) if is_retryable(&e) && attempt < MAX_ATTEMPTS => {
                    std::thread::sleep(backoff(attempt));
                }
                Err(e) if is_retryable(&e) => {
                    return Err(StoreError::Unconfirmed(
                        "too many conflicting writers; try again".into(),
                    ))
                }
                Err(e) => return Err(e),
                Ok(()) => unreachable!("a committed transaction returned above"),
            }
        }
    }
}

/// TLS as libpq does it: `sslmode=prefer` (the default) tries TLS first, `require` insists;
/// server certificates are checked against the Mozilla roots.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Io(format!("cannot set up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The pause before another attempt at a transaction that collided with another writer:
/// a little more each time, with jitter, so colliding writers spread out.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((attempt as u64 * 2).min(50) + rand::random::<u64>() % 5)
}

fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Unconfirmed(m) if m.starts_with("conflict"))
}

const GET: &str = "SELECT value FROM statusgate_records WHERE tbl = $1 AND key = $2";

/// Several keys of one table, each looked up on its own by the whole primary key. With
/// `key = ANY($2)`, or a plain join, a cached generic plan reads the table's whole range
/// and filters it (its estimate of the range's size is a guess), which grows with every
/// alert ever recorded; `LIMIT 1` keeps the lookup from being folded into such a join.
/// Locks `keys` of table `$1` until the transaction ends, in one order, so that writers of
/// overlapping keys (on any replica) wait for each other rather than deadlock. Every path
/// that writes by key takes the same locks.
const LOCK_KEYS: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || k, 0))
     FROM (SELECT DISTINCT unnest($2::text[]) AS k ORDER BY 1) AS keys";

/// Removes keys `$2` of table `$1`. Unlike a read, a generic plan keeps `key = ANY($2)` as
/// the index condition (one descent per key), so no lateral lookup is needed here.
const REMOVE_KEYS: &str = "DELETE FROM statusgate_records WHERE tbl = $1 AND key = ANY($2)";

const READ_KEYS: &str = "SELECT k.key, r.value FROM unnest($2::text[]) AS k(key)
     CROSS JOIN LATERAL (SELECT value FROM statusgate_records
                         WHERE tbl = $1 AND key = k.key COLLATE \"C\" LIMIT 1) AS r";

fn key_args(table: &'static str, key: &str) -> Args {
    vec![Box::new(table), Box::new(key.to_string())]
}

fn first_value(rows: &[tokio_postgres::Row]) -> Option<Vec<u8>> {
    rows.first().map(|r| r.get::<_, String>(0).into_bytes())
}

const UPSERT: &str = "INSERT INTO statusgate_records (tbl, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value";

type Args = Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>;

/// A table walked page by page, each page fetched when the caller reaches it.
pub(super) struct Pages {
    pg: PgStore,
    table: &'static str,
    after: Option<String>,
    /// Rows fetched per round trip.
    rows: i64,
    buffered: std::vec::IntoIter<(String, Vec<u8>)>,
    done: bool,
}

impl Pages {
    /// `rows` per round trip, [`PAGE`] when `None`.
    pub(super) fn new(
        pg: PgStore,
        table: &'static str,
        after: Option<&str>,
        rows: Option<usize>,
    ) -> Pages {
        Pages {
            pg,
            table,
            after: after.map(str::to_string),
            rows: rows.map_or(PAGE, |n| i64::try_from(n.max(1)).unwrap_or(PAGE)),
            buffered: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl Iterator for Pages {
    type Item = Result<(String, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.buffered.next() {
                self.after = Some(row.0.clone());
                return Some(Ok(row));
            }
            if self.done {
                return None;
            }
            match self.pg.page(self.table, self.after.clone(), self.rows) {
                Ok(rows) => {
                    self.done = (rows.len() as i64) < self.rows;
                    self.buffered = rows.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
