//! A private MariaDB server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{START_TIMEOUT, find_binary, free_port, spawn_watchdog};

/// A MariaDB server for tests.
#[derive(Debug)]
pub struct MariaDb {
    host_port: String,
    private: Option<Private>,
}

#[derive(Debug)]
struct Private {
    /// The Debian root it runs chrooted into (another release), if any.
    root: Option<PathBuf>,
    /// Its directory on the host (under the root's `/tmp` when it has one).
    dir: PathBuf,
    port: u16,
    server: Mutex<Option<Child>>,
    /// Server options added to the harness's own (TLS files, say).
    extra: Vec<String>,
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
        required_binary("mariadb-install-db");
        required_binary("mariadbd");
        Self::start_from(None, extra)
    }

    /// Like [`start_with`](Self::start_with), the server of another release: run
    /// chrooted into `release`'s Debian root ([`MARIADB_11_8`](crate::MARIADB_11_8)),
    /// made first when missing, its directory under the root's `/tmp`.
    ///
    /// # Panics
    /// When the root cannot be made, or as [`start`](Self::start).
    pub fn start_in(release: &crate::DebianRoot, extra: Vec<String>) -> MariaDb {
        Self::start_from(Some(release.ensure()), extra)
    }

    fn start_from(root: Option<PathBuf>, extra: Vec<String>) -> MariaDb {
        // A counter, not a free port: two servers starting at once can be offered the
        // same free port, and then shared a directory (seen once in CI).
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "unit-mariadb-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let dir = match &root {
            Some(root) => root.join("tmp").join(name),
            None => std::env::temp_dir().join(name),
        };
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        spawn_watchdog(&dir);
        let mut private = Private {
            root,
            dir,
            port: 0,
            server: Mutex::new(None),
            extra,
        };
        // The bootstrap can fail under heavy load; try a few times on a clean directory.
        let mut last = String::new();
        let installed = (0..3).any(|_| {
            let data = private.dir.join("data");
            let _ = std::fs::remove_dir_all(&data);
            let out = private
                .command("mariadb-install-db")
                .args([
                    "--no-defaults",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", private.inside(&data).display()))
                .arg(format!(
                    "--tmpdir={}",
                    private.inside(&private.tmpdir()).display()
                ))
                // A root has no resolver set up for the host's name.
                .args(private.root.is_some().then_some("--force"))
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
        private.port = port;
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

    /// A command that runs the server's program `name` (`mariadbd`,
    /// `mariadb-install-db`): chrooted into the root where there is one.
    fn command(&self, name: &str) -> Command {
        match &self.root {
            Some(root) => {
                let inside = ["usr/sbin", "usr/bin"]
                    .iter()
                    .map(|d| PathBuf::from("/").join(d).join(name))
                    .find(|p| root.join(p.strip_prefix("/").unwrap_or(p)).is_file())
                    .unwrap_or_else(|| panic!("`{name}` is not in the root {}", root.display()));
                let mut command = Command::new("chroot");
                command.arg(root).arg(inside);
                command
            }
            None => Command::new(required_binary(name)),
        }
    }

    /// `path` (on the host) as the server sees it: inside its root, if any.
    fn inside(&self, path: &std::path::Path) -> PathBuf {
        match &self.root {
            Some(root) => PathBuf::from("/").join(path.strip_prefix(root).unwrap_or(path)),
            None => path.to_owned(),
        }
    }

    fn launch(&self) {
        let data = self.inside(&self.dir.join("data"));
        let log = self.dir.join("error.log");
        let child = self
            .command("mariadbd")
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
                self.inside(&self.dir.join("mysqld.sock")).display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.inside(&self.dir.join("mysqld.pid")).display()
            ))
            .arg(format!("--log-error={}", self.inside(&log).display()))
            .arg(format!(
                "--tmpdir={}",
                self.inside(&self.tmpdir()).display()
            ))
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

impl Drop for MariaDb {
    fn drop(&mut self) {
        if self.private.is_some() {
            self.kill9();
        }
    }
}
