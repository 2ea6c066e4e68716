//! Debian roots: server releases this machine's Debian does not have (MySQL 9.7 from
//! Debian unstable, MariaDB 11.8 from trixie), installed with `debootstrap` into a
//! directory of their own, made once per machine and kept between runs.
//!
//! A root is `$<env>` when set, else `~/.cache/unit-workspace/chroots/<name>`. A test
//! that needs one and finds none makes it (installing `debootstrap` with apt when
//! missing; a few hundred MB and a few minutes), holding a lock so that test processes
//! started together make it once.

use std::path::PathBuf;
use std::process::Command;

const MIRROR: &str = "http://deb.debian.org/debian";

/// A Debian root a server runs from.
#[derive(Debug, Clone, Copy)]
pub struct DebianRoot {
    /// Its directory's name under the cache.
    pub name: &'static str,
    /// The variable that names another directory for it.
    pub env: &'static str,
    /// The Debian suite it is made from.
    pub suite: &'static str,
    /// The packages installed (comma-separated, as `debootstrap --include` takes them).
    pub packages: &'static str,
    /// A file inside that exists once the root is complete.
    pub binary: &'static str,
}

/// MySQL 9.7 (Debian unstable's `mysql-server-core`).
pub const MYSQL_9_7: DebianRoot = DebianRoot {
    name: "mysql-9.7",
    env: "UNIT_MYSQL_ROOT",
    suite: "sid",
    packages: "mysql-server-core,mysql-client-core",
    binary: "usr/sbin/mysqld",
};

/// MariaDB 11.8 (Debian trixie's `mariadb-server`).
pub const MARIADB_11_8: DebianRoot = DebianRoot {
    name: "mariadb-11.8",
    env: "UNIT_MARIADB_ROOT",
    suite: "trixie",
    packages: "mariadb-server,mariadb-client",
    binary: "usr/sbin/mariadbd",
};

impl DebianRoot {
    /// The directory it is (or will be) in.
    pub fn path(&self) -> PathBuf {
        if let Some(root) = std::env::var_os(self.env) {
            return PathBuf::from(root);
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
        home.join(".cache/unit-workspace/chroots").join(self.name)
    }

    /// [`path`](Self::path), made first when it is missing.
    ///
    /// # Panics
    /// When it cannot be made, saying what failed.
    pub fn ensure(&self) -> PathBuf {
        let root = self.path();
        if root.join(self.binary).is_file() {
            return root;
        }
        let parent = root.parent().expect("the root has a parent directory");
        std::fs::create_dir_all(parent).expect("create the root's parent directory");
        eprintln!(
            "making the root {} with debootstrap ({}: {}); once per machine",
            root.display(),
            self.suite,
            self.packages
        );
        // Under `flock`, so that test processes started together make it once.
        let building = parent.join(format!("{}.tmp", self.name));
        let script = format!(
            "set -e; [ -e '{root}/{binary}' ] && exit 0; \
             command -v debootstrap >/dev/null || {{ apt-get update -qq && \
               DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }}; \
             rm -rf '{building}'; \
             debootstrap --variant=minbase --include={packages} {suite} '{building}' {MIRROR}; \
             rm -rf '{root}'; mv '{building}' '{root}'",
            root = root.display(),
            binary = self.binary,
            building = building.display(),
            packages = self.packages,
            suite = self.suite,
        );
        run(
            Command::new("flock")
                .arg(parent.join(format!(".{}.lock", self.name)))
                .args(["sh", "-c", &script]),
            &format!(
                "make the root {} (as root: apt-get, debootstrap)",
                self.name
            ),
        );
        root
    }
}

/// Runs `command`; it must succeed.
///
/// # Panics
/// When it cannot run or fails, with its output.
pub(crate) fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
