//! A binlog fuzz: a seeded random mix of what a source's sessions write (row changes of
//! every kind, multi-statement and XA transactions, DDL in sessions of their own SQL
//! mode, time zone and character set, renames that swap tables, tables without a key,
//! large values, compressed events), replicated while the Sync unit is dropped at
//! random instants again and again. It must end with the target equal to the source
//! (`mariadb-dump --hex-blob` of both). `UNIT_FUZZ_SEED=N` replays one seed.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::Duration;

use sqlx::Executor;

use unit_integration_tests::online::{Online, connect, every_row, exec, spawn_sync, task};
use unit_integration_tests::releases::Release;
use unit_mysql::{CopyUnit, SyncUnit, TaskConfig};

const SCHEMA: &str =
    "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(60), b MEDIUMBLOB, d DATETIME(6),
                          j JSON, n DECIMAL(20,6));
     CREATE TABLE s1 (id INT PRIMARY KEY, v INT);
     CREATE TABLE s2 (id INT PRIMARY KEY, v INT);
     CREATE TABLE kl (x INT, s VARCHAR(10) CHARACTER SET latin1);
     CREATE TABLE u (id INT PRIMARY KEY, code VARBINARY(8) UNIQUE, n INT) ENGINE=Aria;
     INSERT INTO a (id, v) VALUES (1, 'one'); INSERT INTO s1 VALUES (1, 1);
     INSERT INTO s2 VALUES (2, 2); INSERT INTO kl VALUES (1, 'x');";

/// The source's side of the fuzz: one random statement group after another.
struct Writer {
    rng: fastrand::Rng,
    url: String,
    /// Columns added to `a` by the fuzz, with their number.
    added: Vec<u32>,
    next_column: u32,
    xa: u32,
    /// The source is MySQL: its compression switch, not MariaDB's.
    mysql: bool,
}

impl Writer {
    fn value(&mut self) -> String {
        match self.rng.u8(0..6) {
            0 => "NULL".to_owned(),
            1 => format!("'{}'", "é".repeat(self.rng.usize(0..20))),
            2 => format!("REPEAT('z', {})", self.rng.usize(0..60)),
            _ => format!("'v{}'", self.rng.u32(..)),
        }
    }

    /// One row change of `a`, `kl` or `u`.
    fn change(&mut self) -> String {
        let id = self.rng.i32(1..40);
        match self.rng.u8(0..10) {
            0 | 1 => format!(
                "INSERT INTO a (id, v, b, d, j, n) VALUES ({id}, {}, RANDOM_BYTES({}), NOW(6), \
                 '{{\"k\": {id}}}', {}.{}) ON DUPLICATE KEY UPDATE v = VALUES(v), b = VALUES(b)",
                self.value(),
                self.rng.usize(1..300),
                self.rng.i32(-9999..9999),
                self.rng.u32(0..999_999)
            ),
            2 | 3 => format!(
                "UPDATE a SET v = {}, n = n + 1 WHERE id = {id}",
                self.value()
            ),
            4 => format!("DELETE FROM a WHERE id = {id}"),
            5 => format!("UPDATE IGNORE a SET id = {} WHERE id = {id}", id + 100),
            6 => format!(
                "INSERT INTO kl VALUES ({}, '{}')",
                self.rng.i32(0..5),
                ["a", "A", "a ", "ü", ""][self.rng.usize(0..5)]
            ),
            7 => format!("DELETE FROM kl WHERE x = {} LIMIT 1", self.rng.i32(0..5)),
            8 => format!(
                "REPLACE INTO u VALUES ({}, X'{:02X}', {})",
                self.rng.i32(1..10),
                self.rng.u8(0..12),
                self.rng.i32(..)
            ),
            _ => format!(
                "INSERT INTO a (id, b) VALUES ({}, REPEAT(X'5A', {})) ON DUPLICATE KEY UPDATE b = VALUES(b)",
                id + 1000,
                70_000 + self.rng.usize(0..40_000)
            ),
        }
    }

    /// One DDL, in a session of its own settings.
    fn ddl(&mut self) -> String {
        match self.rng.u8(0..7) {
            0 => {
                self.next_column += 1;
                self.added.push(self.next_column);
                format!(
                    "ALTER TABLE a ADD c{} INT NOT NULL DEFAULT {}",
                    self.next_column, self.next_column
                )
            }
            1 if !self.added.is_empty() => {
                let i = self.rng.usize(0..self.added.len());
                format!("ALTER TABLE a DROP COLUMN c{}", self.added.swap_remove(i))
            }
            2 => "RENAME TABLE s1 TO st, s2 TO s1, st TO s2; INSERT INTO s1 VALUES \
                  (FLOOR(RAND() * 1000000) + 10, 0) ON DUPLICATE KEY UPDATE v = v + 1"
                .to_owned(),
            3 => format!(
                "SET time_zone = '+0{}:00'; ALTER TABLE a ADD t{} TIMESTAMP NULL DEFAULT '2020-06-01 12:00:00'",
                self.rng.u8(0..10),
                self.bump()
            ),
            4 => format!(
                "SET sql_mode = 'ANSI_QUOTES,REAL_AS_FLOAT'; ALTER TABLE \"a\" ADD r{} REAL",
                self.bump()
            ),
            5 => format!(
                "SET NAMES latin1; ALTER TABLE a ADD l{} VARCHAR(10) CHARACTER SET utf8mb4 DEFAULT 'Zü'",
                self.bump()
            ),
            _ => "TRUNCATE TABLE kl".to_owned(),
        }
    }

    fn bump(&mut self) -> u32 {
        self.next_column += 1;
        self.next_column
    }

    async fn run(mut self, groups: usize) {
        for _ in 0..groups {
            let sql = match self.rng.u8(0..20) {
                0..=8 => self.change(),
                9..=12 => {
                    let changes: Vec<String> =
                        (0..self.rng.usize(2..6)).map(|_| self.change()).collect();
                    format!("BEGIN; {}; COMMIT", changes.join("; "))
                }
                13 | 14 => {
                    self.xa += 1;
                    let xid = format!("'f{}'", self.xa);
                    // XA takes transactional tables only (the Aria table is not).
                    let mut change = self.change();
                    while change.contains(" u ") {
                        change = self.change();
                    }
                    let prepare =
                        format!("XA START {xid}; {change}; XA END {xid}; XA PREPARE {xid}");
                    self.exec(&prepare).await;
                    let end = if self.rng.bool() {
                        "COMMIT"
                    } else {
                        "ROLLBACK"
                    };
                    format!("XA {end} {xid}")
                }
                15 => {
                    let on = self.rng.bool();
                    self.compression(on)
                }
                _ => self.ddl(),
            };
            self.exec(&sql).await;
        }
        self.exec(&self.compression(false)).await;
    }

    /// Turns the compression of the binlog's events on or off for new sessions.
    fn compression(&self, on: bool) -> String {
        let variable = if self.mysql {
            "binlog_transaction_compression"
        } else {
            "log_bin_compress"
        };
        format!("SET GLOBAL {variable} = {}", if on { "ON" } else { "OFF" })
    }

    /// Runs `sql` in a session of its own; a prepared XA transaction is handed over to
    /// other sessions once the server has seen its session close.
    async fn exec(&self, sql: &str) {
        for _ in 0..200 {
            match connect(&self.url).await.execute(sql).await {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("XAE04") => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // A read-only XA transaction (its change matched no row) is rolled back
                // at its prepare: the server says so when it is ended.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("XA100") => return,
                other => {
                    other.unwrap_or_else(|e| panic!("{sql}: {e}"));
                    return;
                }
            }
        }
        panic!("{sql}: the xid never became free");
    }
}

/// Writes `groups` random statement groups to the source at `url` (seeded by `seed`)
/// while the Sync unit of `config` is dropped at random instants; it must not stop on
/// its own.
async fn write_while_dropping(
    config: &TaskConfig,
    seed: u64,
    url: String,
    mysql: bool,
    groups: usize,
) {
    let writer = Writer {
        rng: fastrand::Rng::with_seed(seed),
        url,
        added: Vec::new(),
        next_column: 0,
        xa: 0,
        mysql,
    };
    let writing = tokio::spawn(writer.run(groups));
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    while !writing.is_finished() {
        let sync = spawn_sync(config);
        tokio::time::sleep(Duration::from_millis(rng.u64(20..300))).await;
        if sync.is_finished() {
            let result = sync.await.unwrap();
            panic!(
                "seed {seed} (MySQL: {mysql}): the Sync unit stopped: {:?}",
                result.errors
            );
        }
        sync.abort();
        let _ = sync.await;
    }
    writing.await.unwrap();
}

async fn fuzz(seed: u64) {
    let online = Online::with_options(
        "fuzz",
        SCHEMA,
        &[
            "--log-bin-compress-min-len=64",
            "--innodb-lock-wait-timeout=10",
        ],
        &[],
    )
    .await;
    let config = online.config("fuzz");
    online.copy(&config).await;
    write_while_dropping(&config, seed, online.source.url("fuzz"), false, 250).await;
    let result = online.cutover(&config).await;
    if !result.errors.is_empty() {
        eprintln!("seed {seed}");
    }
    online.assert_ok(&result);
    online.assert_same();
}

/// The fuzz from a MySQL 9.7 source with GTIDs (its compressed transactions; InnoDB
/// for the table MariaDB keeps in Aria: GTID consistency refuses a non-transactional
/// table in a transaction), to `target`, compared by every row in hex.
async fn fuzz_mysql(seed: u64, target: Release) {
    let source = Release::MySql9_7.start(Some(1));
    let target = target.start(None);
    exec(&source.url(""), "CREATE DATABASE fuzz").await;
    exec(
        &source.url("fuzz"),
        &SCHEMA.replace("ENGINE=Aria", "ENGINE=InnoDB"),
    )
    .await;
    let mut config = task("fuzz", &source.url(""), &target.url(""), "fuzz", 3);
    let result = Online::run(&mut CopyUnit::new(config.clone())).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    write_while_dropping(&config, seed, source.url("fuzz"), true, 200).await;
    config.sync.cutover = true;
    let result = Online::run(&mut SyncUnit::new(config)).await;
    assert!(
        result.errors.is_empty(),
        "MySQL seed {seed}: cutover failed: {:?}",
        result.errors
    );
    let rows = every_row(&source.url(""), "fuzz").await;
    assert!(rows.len() > 5, "{rows:?}");
    assert_eq!(
        every_row(&target.url(""), "fuzz").await,
        rows,
        "MySQL seed {seed}"
    );
}

/// Seed 3 from MySQL to MySQL, seed 4 from MySQL to MariaDB (`UNIT_FUZZ_SEED` replays
/// one seed both ways).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_random_binlog_from_mysql_replicates_exactly_through_kills() {
    let runs: Vec<(u64, Release)> = match std::env::var("UNIT_FUZZ_SEED") {
        Ok(seed) => {
            let seed = seed.parse().expect("UNIT_FUZZ_SEED is a number");
            vec![(seed, Release::MySql9_7), (seed, Release::MariaDb10_11)]
        }
        Err(_) => vec![(3, Release::MySql9_7), (4, Release::MariaDb10_11)],
    };
    for (seed, target) in runs {
        fuzz_mysql(seed, target).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeded_random_binlog_replicates_exactly_through_kills() {
    let seeds: Vec<u64> = match std::env::var("UNIT_FUZZ_SEED") {
        Ok(seed) => vec![seed.parse().expect("UNIT_FUZZ_SEED is a number")],
        Err(_) => vec![1, 2],
    };
    for seed in seeds {
        fuzz(seed).await;
    }
}
