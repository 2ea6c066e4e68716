//! The server releases the pairing tests run, started alike: MariaDB 10.11 (this
//! machine's), MariaDB 11.8 and MySQL 9.7 (each from a Debian root the harness makes
//! once per machine).

use crate::{MariaDb, MySql};

/// A server release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// MariaDB 10.11, installed on this machine.
    MariaDb10_11,
    /// MariaDB 11.8, from Debian trixie.
    MariaDb11_8,
    /// MySQL 9.7, from Debian unstable.
    MySql9_7,
}

/// Every release, in the matrix's order.
pub const RELEASES: [Release; 3] = [
    Release::MariaDb10_11,
    Release::MariaDb11_8,
    Release::MySql9_7,
];

/// A started server of any release.
pub enum Server {
    /// A MariaDB server.
    MariaDb(MariaDb),
    /// A MySQL server.
    MySql(MySql),
}

impl Release {
    /// Its name in test names and reports (`mariadb_10_11`).
    pub fn name(self) -> &'static str {
        match self {
            Self::MariaDb10_11 => "mariadb_10_11",
            Self::MariaDb11_8 => "mariadb_11_8",
            Self::MySql9_7 => "mysql_9_7",
        }
    }

    /// Starts a server of this release; with `binlog_id`, a source replicas can read
    /// from: row-based binary logging with full images (and GTIDs on MySQL), that
    /// server id.
    pub fn start(self, binlog_id: Option<u32>) -> Server {
        let mariadb_binlog = || {
            binlog_id
                .map(crate::online::binlog_options)
                .unwrap_or_default()
        };
        match self {
            Self::MariaDb10_11 => Server::MariaDb(MariaDb::start_with(mariadb_binlog())),
            Self::MariaDb11_8 => Server::MariaDb(MariaDb::start_in(
                &unit_testkit::MARIADB_11_8,
                mariadb_binlog(),
            )),
            Self::MySql9_7 => Server::MySql(MySql::start_with(
                binlog_id
                    .map(|id| {
                        vec![
                            format!("--server-id={id}"),
                            "--log-bin=binlog".to_owned(),
                            "--binlog-format=ROW".to_owned(),
                            "--gtid-mode=ON".to_owned(),
                            "--enforce-gtid-consistency=ON".to_owned(),
                        ]
                    })
                    .unwrap_or_default(),
            )),
        }
    }
}

impl Server {
    /// A URL for `database` on this server (root without a password).
    pub fn url(&self, database: &str) -> String {
        match self {
            Self::MariaDb(s) => s.url(database),
            Self::MySql(s) => s.url(database),
        }
    }
}
