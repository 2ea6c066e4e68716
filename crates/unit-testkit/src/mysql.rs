//! A private MySQL server for tests: MySQL 9.7 (an LTS line after 8.4), which this
//! machine's Debian release does not have, run from Debian unstable's
//! `mysql-server-core` installed with `debootstrap` into a directory of its own (the
//! *root*), made once per machine and kept between runs.
//!
//! The root is `$UNIT_MYSQL_ROOT`, or `~/.cache/unit-workspace/chroots/mysql-9.7`. A
//! test that needs it and finds none makes it (installing `debootstrap` with apt when
//! missing, then about 650 MB and a few minutes), holding a lock so that test
//! processes started together make it once. Each server runs chrooted into the root,
//! with its data directory, socket, tmpdir and error log in a directory of its own
//! under the root's `/tmp`, on a free loopback port, with `root@127.0.0.1` and no
//! password; a watchdog kills it and removes that directory once the test process is
//! gone.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::roots::{MYSQL_9_7, run};
use crate::{START_TIMEOUT, free_port, spawn_watchdog};

/// The directory MySQL is installed in (see the module's documentation).
pub fn mysql_root() -> PathBuf {
    MYSQL_9_7.path()
}

/// [`mysql_root`], made first when it is missing.
///
/// # Panics
/// When it cannot be made, saying what failed.
pub fn ensure_mysql_root() -> PathBuf {
    MYSQL_9_7.ensure()
}

/// A private MySQL server (see the module's documentation).
#[derive(Debug)]
pub struct MySql {
    root: PathBuf,
    /// Its directory, as the chrooted server sees it (`/tmp/unit-mysql-...`).
    dir: PathBuf,
    port: u16,
    extra: Vec<String>,
    server: Mutex<Option<Child>>,
}

impl MySql {
    /// Starts a server with `extra` options (for example binary logging with GTIDs).
    ///
    /// # Panics
    /// When the root cannot be made or the server does not start.
    pub fn start_with(extra: Vec<String>) -> MySql {
        let root = ensure_mysql_root();
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = PathBuf::from(format!(
            "/tmp/unit-mysql-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let host_dir = root.join(dir.strip_prefix("/").expect("an absolute path"));
        let _ = std::fs::remove_dir_all(&host_dir);
        std::fs::create_dir_all(host_dir.join("tmp")).expect("create the server's directory");
        spawn_watchdog(&host_dir);
        std::fs::write(
            host_dir.join("init.sql"),
            "CREATE USER 'root'@'127.0.0.1' IDENTIFIED BY '';\n\
             GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n",
        )
        .expect("write the init file");
        run(
            Command::new("chroot")
                .arg(&root)
                .args([
                    "/usr/sbin/mysqld",
                    "--no-defaults",
                    "--initialize-insecure",
                    "--user=root",
                ])
                .arg(format!("--datadir={}", dir.join("data").display()))
                .arg(format!("--tmpdir={}", dir.join("tmp").display()))
                .arg(format!("--init-file={}", dir.join("init.sql").display())),
            "initialize the MySQL data directory",
        );
        let server = MySql {
            root,
            dir,
            port: free_port(),
            extra,
            server: Mutex::new(None),
        };
        server.launch();
        server
    }

    /// The directory of this server on the host.
    fn host_dir(&self) -> PathBuf {
        self.root
            .join(self.dir.strip_prefix("/").expect("an absolute path"))
    }

    fn launch(&self) {
        let at = |name: &str| self.dir.join(name).display().to_string();
        let child = Command::new("chroot")
            .arg(&self.root)
            .args(["/usr/sbin/mysqld", "--no-defaults", "--user=root"])
            .args([
                "--bind-address=127.0.0.1",
                "--mysqlx=OFF",
                "--skip-name-resolve",
            ])
            .args(["--innodb-buffer-pool-size=64M", "--max-connections=200"])
            .args(["--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0"])
            .arg(format!("--port={}", self.port))
            .arg(format!("--datadir={}", at("data")))
            .arg(format!("--tmpdir={}", at("tmp")))
            .arg(format!("--secure-file-priv={}", at("tmp")))
            .arg(format!("--socket={}", at("mysqld.sock")))
            .arg(format!("--pid-file={}", at("mysqld.pid")))
            .arg(format!("--log-error={}", at("error.log")))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mysqld");
        std::fs::write(self.host_dir().join("server.pid"), child.id().to_string())
            .expect("record the server's pid");
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.host_dir().join("error.log")).unwrap_or_default();
                panic!("mysqld did not accept connections within {START_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` on this server (root without a password).
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.host_dir().join("error.log")).unwrap_or_default()
    }
}

impl Drop for MySql {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(self.host_dir());
    }
}
