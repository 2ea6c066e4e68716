//! The release matrix: one online migration, the same for every pairing of MariaDB
//! 10.11, MariaDB 11.8 and MySQL 9.7 as source and target (nine). Each copies a
//! schema written in SQL both kinds take (the source's default collation, JSON,
//! DATETIME(6), DECIMAL, BLOB, ENUM, a unique key, a table without a key, foreign
//! keys that cascade), replicates rows, DDL, a swap `RENAME`, an XA transaction and
//! cascades while the Sync unit is dropped again and again, with 3 workers, then cuts
//! over; every table is then compared on both sides, each value read in hex by
//! neither side's code. `cargo xtask matrix` runs these with the other cross-release
//! tests and reports each pairing.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use unit_integration_tests::online::{
    Online, every_row, exec, replicate_dropped_then_cut_over, task,
};
use unit_integration_tests::releases::Release;
use unit_mysql::CopyUnit;

const SCHEMA: &str = "
CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), j JSON, d DATETIME(6), b BLOB,
  n DECIMAL(20,6), e ENUM('a', 'b', 'c'), u INT, UNIQUE KEY (u));
CREATE TABLE k (a INT, s VARCHAR(10));
CREATE TABLE parent (id INT PRIMARY KEY, code VARCHAR(10) NOT NULL, UNIQUE KEY (code)) ENGINE=InnoDB;
CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, note VARCHAR(20),
  FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE) ENGINE=InnoDB;
CREATE TABLE x (id INT PRIMARY KEY, v INT);
CREATE TABLE y (id INT PRIMARY KEY, v INT);
INSERT INTO t WITH RECURSIVE s (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300)
  SELECT i, CONCAT('Zürich ', i), JSON_OBJECT('k', i, 'ab', CONCAT('é', i), 'list', JSON_ARRAY(1, 2.5, NULL, TRUE)), TIMESTAMP('2024-02-29 12:00:00.123456') + INTERVAL i SECOND,
         UNHEX(SHA2(i, 256)), i / 7, ELT(1 + i % 3, 'a', 'b', 'c'), i * 10 FROM s;
INSERT INTO k VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
INSERT INTO parent VALUES (1, 'p1'), (2, 'p2'), (3, 'p3');
INSERT INTO child VALUES (1, 1, 'c1'), (2, 1, 'c2'), (3, 2, 'c3');
INSERT INTO x VALUES (1, 1); INSERT INTO y VALUES (2, 2);";

/// What the source does while the Sync unit replicates, one group at a time.
const CHANGES: &[&str] = &[
    "UPDATE t SET v = CONCAT(v, ' ✓'), u = u + 1 WHERE id % 3 = 0",
    "DELETE FROM t WHERE id % 10 = 1; INSERT INTO k VALUES (2, 'y')",
    "UPDATE t SET u = -u WHERE id < 20; UPDATE t SET u = -u + 5 WHERE id < 20",
    "ALTER TABLE t ADD note VARCHAR(20) DEFAULT 'n', ADD INDEX by_v (v)",
    "INSERT INTO t (id, v, u, note) VALUES (1000, 'after DDL', 100000, 'noted')",
    "RENAME TABLE x TO tmp, y TO x, tmp TO y",
    "INSERT INTO x VALUES (3, 3); UPDATE y SET v = 10",
    "XA START 'm1'; UPDATE t SET n = -n WHERE id < 50; INSERT INTO parent VALUES (4, 'p4'); XA END 'm1'; XA PREPARE 'm1'",
    "XA COMMIT 'm1'",
    "DELETE FROM parent WHERE id = 1; DELETE FROM k WHERE a = 1 LIMIT 1",
    "BEGIN; INSERT INTO child VALUES (4, 4, 'c4'); UPDATE parent SET code = 'p4!' WHERE id = 4; COMMIT",
    "ALTER TABLE t DROP COLUMN e, MODIFY v VARCHAR(60)",
];

async fn migrate(from: Release, to: Release) {
    let source = from.start(Some(1));
    let target = to.start(None);
    exec(&source.url(""), "CREATE DATABASE m CHARACTER SET utf8mb4").await;
    exec(&source.url("m"), SCHEMA).await;
    let mut config = task(
        format!("{}_to_{}", from.name(), to.name()),
        &source.url(""),
        &target.url(""),
        "m",
        3,
    );
    config.copy.chunk_rows = 41;
    let result = Online::run(&mut CopyUnit::new(config.clone())).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    replicate_dropped_then_cut_over(&config, &source.url("m"), CHANGES).await;
    let rows = every_row(&source.url(""), "m").await;
    assert!(rows.len() > 280, "{}", rows.len());
    assert_eq!(every_row(&target.url(""), "m").await, rows);
}

macro_rules! pairings {
    ($($name:ident: $from:ident -> $to:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            migrate(Release::$from, Release::$to).await;
        }
    )*};
}

pairings! {
    mariadb_10_11_to_mariadb_10_11: MariaDb10_11 -> MariaDb10_11;
    mariadb_10_11_to_mariadb_11_8: MariaDb10_11 -> MariaDb11_8;
    mariadb_10_11_to_mysql_9_7: MariaDb10_11 -> MySql9_7;
    mariadb_11_8_to_mariadb_10_11: MariaDb11_8 -> MariaDb10_11;
    mariadb_11_8_to_mariadb_11_8: MariaDb11_8 -> MariaDb11_8;
    mariadb_11_8_to_mysql_9_7: MariaDb11_8 -> MySql9_7;
    mysql_9_7_to_mariadb_10_11: MySql9_7 -> MariaDb10_11;
    mysql_9_7_to_mariadb_11_8: MySql9_7 -> MariaDb11_8;
    mysql_9_7_to_mysql_9_7: MySql9_7 -> MySql9_7;
}
