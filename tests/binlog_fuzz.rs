//! A binlog fuzz: a seeded random mix of what a source's sessions write (row changes of
//! every kind, multi-statement and XA transactions, DDL in sessions of their own SQL
//! mode, time zone and character set, renames that swap tables, tables without a key,
//! large values, compressed events), replicated while the Sync unit is dropped at
//! random instants again and again. It must end with the target equal to the source
//! (`mariadb-dump --hex-blob` of both). `UNIT_FUZZ_SEED=N` replays one seed.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::Duration;

use sqlx::Executor;

use unit_integration_tests::online::{Online, connect, spawn_sync};

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
                15 => format!(
                    "SET GLOBAL log_bin_compress = {}",
                    if self.rng.bool() { "ON" } else { "OFF" }
                ),
                _ => self.ddl(),
            };
            self.exec(&sql).await;
        }
        self.exec("SET GLOBAL log_bin_compress = OFF").await;
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
    let writer = Writer {
        rng: fastrand::Rng::with_seed(seed),
        url: online.source.url("fuzz"),
        added: Vec::new(),
        next_column: 0,
        xa: 0,
    };
    let writing = tokio::spawn(writer.run(250));
    // Dropped at random instants while the source writes.
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    while !writing.is_finished() {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(rng.u64(20..300))).await;
        if sync.is_finished() {
            let result = sync.await.unwrap();
            panic!("seed {seed}: the Sync unit stopped: {:?}", result.errors);
        }
        sync.abort();
        let _ = sync.await;
    }
    writing.await.unwrap();
    let result = online.cutover(&config).await;
    if !result.errors.is_empty() {
        eprintln!("seed {seed}");
    }
    online.assert_ok(&result);
    online.assert_same();
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
