//! Shared helpers for the workspace integration tests, chiefly a private MariaDB server
//! (and a private PostgreSQL server, [`Postgres`]).
//!
//! [`MariaDb::shared`] gives every test in a test process the same server: the one
//! named by `UNIT_TEST_MYSQL_URL` if set, otherwise a private server this harness
//! starts (`mariadb-install-db` + `mariadbd` with their own temporary data directory,
//! socket and free port). [`MariaDb::start`] starts a private server for a test that
//! kills or restarts it. Each private server has a watchdog process that kills it by
//! pid and removes its data directory once the test process is gone, whether the
//! tests passed, failed or aborted. Without a server binary the tests fail with a
//! message saying how to install one; they never skip.
//!
//! [`online`] is the harness of the online-migration tests: two private servers, a
//! source with binary logging and a target, and the units that copy and replicate
//! between them. Helper modules live under `harness/` (`postgres.rs` is still beside
//! this file); the other `*.rs` files here, and `sync/` (one binary, `main.rs` and its
//! modules), are the test binaries that `Cargo.toml` lists.

#[path = "harness/online.rs"]
pub mod online;

#[path = "harness/memory.rs"]
pub mod memory;

#[path = "harness/mysql.rs"]
pub mod mysql;
mod postgres;

pub use postgres::Postgres;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A MariaDB server for tests.
#[derive(Debug)]
pub struct MariaDb {
    host_port: String,
    private: Option<Private>,
}

#[derive(Debug)]
struct Private {
    dir: PathBuf,
    port: u16,
    server: Mutex<Option<Child>>,
    /// Server options added to the harness's own (TLS files, say).
    extra: Vec<String>,
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn required_binary(name: &str) -> PathBuf {
    find_binary(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found: the MySQL tests need a MariaDB server binary. Install one with \
             `apt-get install -y mariadb-server`, or set UNIT_TEST_MYSQL_URL=mysql://user:pass@host:port \
             to use a running server"
        )
    })
}

/// A port nothing listens on, never handed out before by this process (the system
/// may offer a port it just freed to two servers starting at once).
pub(crate) fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl MariaDb {
    /// The server shared by the tests of this process (see the crate docs).
    pub fn shared() -> &'static MariaDb {
        static SHARED: OnceLock<MariaDb> = OnceLock::new();
        SHARED.get_or_init(|| match std::env::var("UNIT_TEST_MYSQL_URL") {
            Ok(url) if !url.is_empty() => {
                // Keep `user:pass@host:port`; tests choose their own database.
                let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let host_port = rest.split(['/', '?']).next().unwrap_or(rest).to_owned();
                MariaDb {
                    host_port,
                    private: None,
                }
            }
            _ => MariaDb::start(),
        })
    }

    /// Starts a private server: a new data directory, a free port, a watchdog.
    ///
    /// # Panics
    /// When no MariaDB binary is installed, or the server does not start in time (the
    /// message includes the server's error log).
    pub fn start() -> MariaDb {
        Self::start_with(Vec::new())
    }

    /// Like [`start`](Self::start), with `extra` server options (for example
    /// `--ssl-ca=...`, `--require-secure-transport=ON`).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub fn start_with(extra: Vec<String>) -> MariaDb {
        let install = required_binary("mariadb-install-db");
        required_binary("mariadbd");
        // A counter, not a free port: two servers starting at once can be offered the
        // same free port, and then shared a directory (seen once in CI).
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "unit-mariadb-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        spawn_watchdog(&dir);
        // The bootstrap can fail under heavy load; try a few times on a clean directory.
        let mut last = String::new();
        let installed = (0..3).any(|_| {
            let data = dir.join("data");
            let _ = std::fs::remove_dir_all(&data);
            let out = Command::new(&install)
                .args([
                    "--no-defaults",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", data.display()))
                .output()
                .expect("run mariadb-install-db");
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out.status.success()
        });
        assert!(installed, "mariadb-install-db failed three times: {last}");
        let port = free_port();
        let private = Private {
            dir,
            port,
            server: Mutex::new(None),
            extra,
        };
        private.launch();
        MariaDb {
            host_port: format!("root@127.0.0.1:{port}"),
            private: Some(private),
        }
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.host_port
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3306)
    }

    /// A URL for `database` on this server (root without a password).
    pub fn url(&self, database: &str) -> String {
        format!("mysql://{}/{database}", self.host_port)
    }

    /// A URL with other credentials, for access-denied tests.
    pub fn url_as(&self, user: &str, password: &str, database: &str) -> String {
        let host = self
            .host_port
            .rsplit_once('@')
            .map_or(self.host_port.as_str(), |(_, h)| h);
        format!("mysql://{user}:{password}@{host}/{database}")
    }

    /// `mariadb-dump` of `databases` (schema, rows in primary-key order one INSERT
    /// each with binary values in hex, routines, triggers, events), without anything
    /// that differs between two servers holding the same objects: comments, dates and
    /// `AUTO_INCREMENT=` counters. An independent view of what a server holds.
    ///
    /// # Panics
    /// When `mariadb-dump` is missing or fails.
    pub fn dump(&self, databases: &[String]) -> String {
        let binary = find_binary("mariadb-dump")
            .or_else(|| find_binary("mysqldump"))
            .unwrap_or_else(|| required_binary("mariadb-dump"));
        let out = Command::new(binary)
            .args(self.client_args())
            .args([
                // Rows of up to the protocol's limit (large values' tests).
                "--max-allowed-packet=1G",
                "--hex-blob",
                "--order-by-primary",
                "--skip-extended-insert",
                "--skip-comments",
                "--skip-dump-date",
                "--tz-utc",
                "--routines",
                "--triggers",
                "--events",
                "--databases",
            ])
            .args(databases)
            .output()
            .expect("run mariadb-dump");
        assert!(
            out.status.success(),
            "mariadb-dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                line.split(' ')
                    .filter(|w| !w.starts_with("AUTO_INCREMENT="))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        // The order of rows is not data (and a key longer than the dump's
        // max_sort_length does not fully order them): sort each run of INSERTs.
        let mut start = 0;
        while start < lines.len() {
            let run = lines[start..]
                .iter()
                .take_while(|l| l.starts_with("INSERT INTO "))
                .count();
            lines[start..start + run].sort();
            start += run.max(1);
        }
        lines.join("\n")
    }

    /// The options that connect a client program to this server.
    fn client_args(&self) -> Vec<String> {
        let (user, host_port) = self
            .host_port
            .rsplit_once('@')
            .unwrap_or(("root", self.host_port.as_str()));
        let (user, password) = user.split_once(':').unwrap_or((user, ""));
        let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "3306"));
        vec![
            "--no-defaults".to_owned(),
            "--protocol=tcp".to_owned(),
            format!("--host={host}"),
            format!("--port={port}"),
            format!("--user={user}"),
            format!("--password={password}"),
        ]
    }

    /// Runs `sql`, bytes in `charset` (which need not be UTF-8), through the `mariadb`
    /// client in `database`, as a client whose `character_set_client` is `charset`.
    ///
    /// # Panics
    /// When the client is missing or the statements fail.
    pub fn client_bytes(&self, database: &str, charset: &str, sql: &[u8]) {
        use std::io::Write;
        let binary = find_binary("mariadb")
            .or_else(|| find_binary("mysql"))
            .unwrap_or_else(|| required_binary("mariadb"));
        let mut child = Command::new(binary)
            .args(self.client_args())
            .arg(format!("--default-character-set={charset}"))
            .arg(database)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mariadb");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql)
            .expect("write statements");
        let out = child.wait_with_output().expect("wait for mariadb");
        assert!(
            out.status.success(),
            "mariadb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the server with SIGKILL (a private server only).
    pub fn kill9(&self) {
        let private = self
            .private
            .as_ref()
            .expect("only a private server can be killed");
        let mut guard = private.server.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = guard.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// Starts a killed private server again on the same data directory and port.
    pub fn restart(&self) {
        let private = self
            .private
            .as_ref()
            .expect("only a private server can be restarted");
        self.kill9();
        private.launch();
    }
}

impl Private {
    fn tmpdir(&self) -> PathBuf {
        let dir = self.dir.join("tmp");
        let _ = std::fs::create_dir_all(&dir);
        dir
    }

    fn launch(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("error.log");
        let child = Command::new(required_binary("mariadbd"))
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .args([
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=48M",
            ])
            .args([
                "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=200",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--datadir={}", data.display()))
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--tmpdir={}", self.tmpdir().display()))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        std::fs::write(self.dir.join("server.pid"), child.id().to_string())
            .expect("record the server's pid");
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("mariadbd did not accept connections within {START_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Kills the server (by the pid it last recorded) and removes `dir` once this test
/// process has exited, however it exits.
// The watchdog must outlive this process, so it is deliberately never waited for.
#[allow(clippy::zombie_processes)]
pub(crate) fn spawn_watchdog(dir: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         kill -9 $(cat '{dir}/server.pid') 2>/dev/null; sleep 0.5; rm -rf '{dir}'",
        pid = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server watchdog");
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if self.private.is_some() {
            self.kill9();
        }
    }
}

/// A TCP proxy in front of a server that can cut every connection through it and delay
/// traffic, to test what a network fault does to a client.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    state: std::sync::Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ProxyState {
    /// Bumped by `cut`: connections opened under an older generation are dropped.
    generation: std::sync::atomic::AtomicU64,
    delay_ms: std::sync::atomic::AtomicU64,
    cut_notify: tokio::sync::Notify,
    /// Set by `stall`: packets are held, connections stay open.
    stalled: std::sync::atomic::AtomicBool,
    stall_notify: tokio::sync::Notify,
}

impl FaultProxy {
    /// Starts a proxy on a free local port that forwards to `127.0.0.1:target_port`.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start(target_port: u16) -> FaultProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = std::sync::Arc::new(ProxyState::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    let born = state.generation.load(Ordering::SeqCst);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let pump = |state: std::sync::Arc<ProxyState>| {
                        move |mut from: tokio::net::tcp::OwnedReadHalf,
                              mut to: tokio::net::tcp::OwnedWriteHalf| async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = match from.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                while state.stalled.load(Ordering::SeqCst) {
                                    let resumed = state.stall_notify.notified();
                                    if !state.stalled.load(Ordering::SeqCst) {
                                        break;
                                    }
                                    resumed.await;
                                }
                                let delay = state.delay_ms.load(Ordering::Relaxed);
                                if delay > 0 {
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                if to.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    };
                    let up = pump(state.clone())(cr, sw);
                    let down = pump(state.clone())(sr, cw);
                    let cut = async {
                        while state.generation.load(Ordering::SeqCst) == born {
                            state.cut_notify.notified().await;
                        }
                    };
                    tokio::select! {
                        () = async { tokio::join!(up, down); } => {}
                        () = cut => {}
                    }
                    // Dropping both pumps closes both sockets.
                });
            }
        });
        FaultProxy { port, state, task }
    }

    /// A URL for `database` on the proxied server (root without a password).
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Drops every connection currently open through the proxy, abruptly.
    pub fn cut(&self) {
        self.state
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.state.cut_notify.notify_waiters();
    }

    /// Stops forwarding (`true`) without closing any connection, as a source that
    /// hangs or a network that drops packets does, or forwards again (`false`).
    pub fn set_stalled(&self, stalled: bool) {
        self.state
            .stalled
            .store(stalled, std::sync::atomic::Ordering::SeqCst);
        self.state.stall_notify.notify_waiters();
    }

    /// Delays every packet by `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state
            .delay_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
