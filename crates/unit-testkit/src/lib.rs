//! Private database servers for tests of units and adapters, started by the test
//! itself: no server set up by hand, none shared with anything else.
//!
//! - [`MariaDb`]: `mariadb-install-db` and `mariadbd` on their own data directory,
//!   tmpdir, socket and free port (or the server named by `UNIT_TEST_MYSQL_URL`);
//! - [`Postgres`]: `initdb` and `postgres` the same way (as the `postgres` user when
//!   the tests run as root);
//! - [`MySql`]: a MySQL server from a Debian root made once per machine with
//!   `debootstrap` (MySQL is not in every Debian release), and [`MariaDb::start_in`]
//!   a MariaDB server of another release the same way ([`DebianRoot`]);
//! - [`FaultProxy`]: a TCP proxy that cuts, delays or stalls every connection through
//!   it.
//!
//! Each server has a watchdog process that kills it and removes its directory once the
//! test process is gone, whether the tests passed, failed or aborted. Without the
//! server's binaries a test fails saying how to install them; it never skips. Servers
//! can be killed (`kill9`) and restarted: a kill test must own its server.
//!
//! ```no_run
//! let server = unit_testkit::Postgres::start();
//! server.psql("postgres", "CREATE DATABASE dst");
//! let url = server.url("dst"); // postgres://postgres@127.0.0.1:PORT/dst
//! # let _ = url;
//! ```

mod mariadb;
mod mysql;
mod postgres;
mod proxy;
mod roots;

pub use mariadb::MariaDb;
pub use mysql::{MySql, ensure_mysql_root, mysql_root};
pub use postgres::Postgres;
pub use proxy::FaultProxy;
pub use roots::{DebianRoot, MARIADB_11_8, MYSQL_9_7};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a server may take to accept connections after it was started.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `name` is on the `PATH`, or in `/usr/sbin` or `/usr/bin`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A port nothing listens on, never handed out before by this process (the system
/// may offer a port it just freed to two servers starting at once).
pub fn free_port() -> u16 {
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

/// Kills the server (by the pid it last recorded) and removes `dir` once this test
/// process has exited, however it exits.
// The watchdog must outlive this process, so it is deliberately never waited for.
#[allow(clippy::zombie_processes)]
pub fn spawn_watchdog(dir: &Path) {
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
