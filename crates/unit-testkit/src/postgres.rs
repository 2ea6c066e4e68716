//! A private PostgreSQL server for tests: `initdb` and `postgres` on their own data
//! directory, socket directory and free port, with a watchdog that kills the server
//! and removes the directory once the test process is gone. As root (as on this
//! project's machines), the server runs as the `postgres` system user, which
//! PostgreSQL requires. Without the binaries the tests fail saying how to install
//! them; they never skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{START_TIMEOUT, free_port, spawn_watchdog};

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The postmaster, while it runs.
    server: Mutex<Option<Child>>,
}

/// The directory of PostgreSQL's server binaries: `initdb` on the `PATH`, else the
/// newest `/usr/lib/postgresql/*/bin` (Debian's layout).
fn bin_dir() -> PathBuf {
    // A link on the PATH (such as /usr/local/bin/initdb) names the directory holding
    // the other binaries (pg_isready, psql, pg_dump) once resolved.
    if let Some(initdb) = crate::find_binary("initdb").and_then(|p| std::fs::canonicalize(p).ok()) {
        return initdb.parent().map(PathBuf::from).unwrap_or_default();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL's server binaries (initdb, postgres) not found: the PostgreSQL tests \
             start their own server. Install them with `apt-get install -y postgresql` \
             (.ci/run does)"
        )
    })
}

/// Whether this process runs as root (then the server runs as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `program` run as the `postgres` user when this process is root (`setpriv` execs it,
/// so its pid is the program's).
fn as_server_user(program: PathBuf) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Starts a private server (trust authentication, user `postgres`, database
    /// `postgres`, no fsync).
    ///
    /// # Panics
    /// When the binaries are missing or the server does not start in time (the
    /// message includes its log).
    pub fn start() -> Postgres {
        let bin = bin_dir();
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "unit-postgres-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("run")).expect("create the server's directory");
        spawn_watchdog(&dir);
        if is_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("run chown");
            assert!(chown.success(), "chown of {} failed", dir.display());
        }
        let out = as_server_user(bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=postgres",
                "--no-sync",
                "--encoding=UTF8",
            ])
            .args(["--locale=C", "-D"])
            .arg(dir.join("data"))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let server = Postgres {
            dir,
            port: free_port(),
            bin,
            server: Mutex::new(None),
        };
        server.launch();
        server
    }

    fn launch(&self) {
        use std::os::unix::process::CommandExt;
        let log = self.dir.join("server.log");
        let log_file = std::fs::File::create(&log).expect("create the server's log");
        if is_root() {
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&log)
                .status();
        }
        let child = as_server_user(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.join("run"))
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=100", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            // Its own process group: a signal to the test's group does not reach it.
            .process_group(0)
            .spawn()
            .expect("start postgres");
        std::fs::write(self.dir.join("server.pid"), child.id().to_string())
            .expect("record the server's pid");
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("postgres did not accept connections within {START_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL of `database` as the superuser `postgres`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A client program of the server's version, connected to `database` as
    /// `postgres`.
    pub fn client(&self, program: &str, database: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", database]);
        c
    }

    /// Runs `sql` with `psql` in `database`, stopping at the first error; its output.
    ///
    /// # Panics
    /// When a statement fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let out = self
            .client("psql", database)
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `pg_dump --data-only` of `database`'s `tables` (`schema.table`), each table's
    /// rows as `INSERT`s with column names, sorted: an independent view of the rows.
    ///
    /// # Panics
    /// When `pg_dump` fails.
    pub fn dump_rows(&self, database: &str, tables: &[&str]) -> String {
        let mut c = self.client("pg_dump", database);
        c.args([
            "--data-only",
            "--column-inserts",
            "--no-owner",
            "--encoding=UTF8",
        ]);
        for t in tables {
            c.args(["-t", t]);
        }
        let out = c.output().expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<&str> = std::str::from_utf8(&out.stdout)
            .expect("pg_dump writes UTF-8")
            .lines()
            .filter(|l| l.starts_with("INSERT INTO "))
            .collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    /// `pg_dump` of `database`'s `schemas` (`args` say which part: `--schema-only`,
    /// `--data-only`), owners, privileges and `psql`'s per-run `\restrict` lines left out.
    ///
    /// # Panics
    /// When `pg_dump` fails.
    pub fn dump_schemas(&self, database: &str, schemas: &[&str], args: &[&str]) -> String {
        let mut c = self.client("pg_dump", database);
        c.args(["--no-owner", "--no-privileges", "--encoding=UTF8"])
            .args(args);
        for s in schemas {
            c.arg(format!("--schema={s}"));
        }
        let out = c.output().expect("run pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::str::from_utf8(&out.stdout)
            .expect("pg_dump writes UTF-8")
            .lines()
            .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the server and every backend with SIGKILL, as a crash would, and waits
    /// until they are gone.
    pub fn kill9(&self) {
        let Some(mut child) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let pid = child.id().to_string();
        let signal = |args: &[&str]| {
            Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // Stopped, the postmaster cannot start a recovery when its backends die.
        signal(&["kill", "-STOP", &pid]);
        signal(&["pkill", "-KILL", "-P", &pid]);
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        while signal(&["pgrep", "-P", &pid]) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a killed server again on the same data directory and port.
    pub fn restart(&self) {
        self.kill9();
        self.launch();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill9();
    }
}
