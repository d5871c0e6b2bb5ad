//! A private PostgreSQL cluster for the tests: Debian's `postgresql` binaries, a fresh data
//! directory in a temp dir, a free port on 127.0.0.1, run as the `postgres` user (PostgreSQL
//! refuses root). One cluster per test process; each test gets a database of its own.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::harness::{free_port, output_within, skip_or_fail};

/// With `STATUSGATE_TEST_STORAGE=postgres` every server the harness starts without a data
/// directory of its own keeps its state in PostgreSQL, so the whole suite runs on both engines.
pub fn suite_on_postgres() -> bool {
    std::env::var("STATUSGATE_TEST_STORAGE").as_deref() == Ok("postgres")
}

pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    /// The running postmaster; `None` while a test has it stopped.
    child: Mutex<Option<Child>>,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// The directory of Debian's PostgreSQL binaries (the newest installed).
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

/// The `postgres` user's uid and gid, to drop root for PostgreSQL.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"postgres"))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn as_postgres(cmd: &mut Command) -> &mut Command {
    // Root runs PostgreSQL as its own user; anyone else runs it as themselves.
    if unsafe { libc::geteuid() } == 0 {
        if let Some((uid, gid)) = postgres_user() {
            cmd.uid(uid).gid(gid).env("HOME", "/tmp");
        }
    }
    cmd
}

/// The shared cluster, started on first use; `None` (after `skip_or_fail`) when this machine
/// has no PostgreSQL.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| match start() {
            Ok(c) => Some(c),
            Err(why) => {
                skip_or_fail("PostgreSQL", &why);
                None
            }
        })
        .as_ref()
}

/// A cluster of the test's own, for tests that stop the server; gone when dropped.
pub fn private() -> Option<Cluster> {
    match start() {
        Ok(c) => Some(c),
        Err(why) => {
            skip_or_fail("PostgreSQL", &why);
            None
        }
    }
}

static CLUSTERS: AtomicU32 = AtomicU32::new(0);

fn start() -> Result<Cluster, String> {
    let bin = bin_dir().ok_or("no /usr/lib/postgresql/*/bin (Debian package `postgresql`)")?;
    // Under target/ rather than /tmp: kept out of tmpfs and cleaned with the build.
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pg-{}-{}",
        std::process::id(),
        CLUSTERS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = postgres_user() {
        let _ = std::os::unix::fs::chown(&root, Some(uid), Some(gid));
        // The postgres user must be able to reach the directory.
        let mut p = root.parent();
        while let Some(dir) = p {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(dir) {
                let mode = meta.permissions().mode();
                if mode & 0o001 == 0 {
                    let _ = std::fs::set_permissions(
                        dir,
                        std::fs::Permissions::from_mode(mode | 0o001),
                    );
                }
            }
            p = dir.parent();
        }
    }
    let data = root.join("data");
    let out = output_within(
        as_postgres(
            Command::new(bin.join("initdb"))
                .args([
                    "--auth=trust",
                    "--username=postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ])
                .arg("-D")
                .arg(&data),
        ),
        Duration::from_secs(120),
    )
    .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let cluster = Cluster {
        port: free_port(),
        dir: data,
        bin,
        child: Mutex::new(None),
    };
    cluster.start_server()?;
    Ok(cluster)
}

impl Cluster {
    fn start_server(&self) -> Result<(), String> {
        let port = self.port;
        let bin = self.bin.join("postgres");
        let dir = self.dir.clone();
        // Started from a thread that never ends, with the parent-death signal set, so the
        // postmaster goes when the test process does (the signal follows the spawning thread).
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut cmd = Command::new(bin);
            cmd.arg("-D")
                .arg(&dir)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .args(["-c", "unix_socket_directories=", "-c", "fsync=off"])
                .args(["-c", "max_connections=300", "-c", "full_page_writes=off"])
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.join("../postgres.log"))
                        .map(Stdio::from)
                        .unwrap_or_else(|_| Stdio::null()),
                );
            as_postgres(&mut cmd);
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        let child = rx
            .recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.psql("postgres", "SELECT 1").is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "postgres did not accept connections within {limit:?}"
        ))
    }

    /// Runs one SQL command as the superuser; its output (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let out = output_within(
            Command::new(self.bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .args([
                    "-d",
                    database,
                    "-X",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ]),
            Duration::from_secs(30),
        )
        .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server at once (as a crash or a lost network would look to clients).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SIGINT: "fast" shutdown, connections are cut.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            super::harness::wait_child(&mut child, Duration::from_secs(30), "postgres");
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.start_server().expect("postgres restarts");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGQUIT);
            }
            super::harness::reap(&mut child);
        }
        if let Some(root) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}
