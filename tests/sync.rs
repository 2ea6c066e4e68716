//! Online migration between real MariaDB servers with binary logging: a consistent copy
//! records its position, the Sync unit applies every row change exactly once, and
//! cutover verifies. Each comparison is independent of the code under test
//! (`mariadb-dump --hex-blob` of both sides).
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use sqlx::Executor;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use unit_core::{Policy, Unit};
use unit_integration_tests::MariaDb;
use unit_mysql::Consistency;
use unit_mysql::Filter;
use unit_mysql::{CopyUnit, SyncUnit};
mod online;
use online::{Online, connect, exec, spawn_sync};

const ALL_TYPES: &str = "CREATE TABLE everything (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    i8 TINYINT, u8 TINYINT UNSIGNED, u16 SMALLINT UNSIGNED, u24 MEDIUMINT UNSIGNED, u32 INT UNSIGNED,
    i24 MEDIUMINT, u64 BIGINT UNSIGNED, i64 BIGINT, dc DECIMAL(30,10), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, ts0 TIMESTAMP NULL, tm TIME(2), y YEAR,
    c CHAR(10), vc VARCHAR(100), tx TEXT, bn BINARY(4), vb VARBINARY(20), bl BLOB,
    bt BIT(10), en ENUM('a','b','c'), st SET('x','y','z'), js JSON, lat VARCHAR(20) CHARACTER SET latin1,
    big SET('a','b','c','d','e','f','g','h','i','j'), u UUID, ip INET6, gen INT AS (i8 * 2) VIRTUAL,
    pers VARCHAR(30) AS (UPPER(vc)) PERSISTENT
) DEFAULT CHARSET=utf8mb4";

const TYPED_ROWS: &str = "INSERT INTO everything (id, i8, u8, u16, u24, u32, i24, u64, i64, dc, f, d,
 dt, dtm, ts, ts0, tm, y, c, vc, tx, bn, vb, bl, bt, en, st, js, lat, big, u, ip) VALUES
 (1, -128, 255, 65535, 16777215, 4294967295, -8388608, 18446744073709551615, -9223372036854775808,
  12345678901234567890.0123456789, 0.1428571428571428, 2.718281828459045,
  '2024-02-29', '2024-02-29 23:59:59.123456', '2038-01-19 03:14:07.999', '2001-02-03 04:05:06', '-838:59:59.99', 2155,
  'abc', 'héllo 😀 wörld', REPEAT('x', 3000), X'00FF00FF', X'DEADBEEF', X'000102',
  b'1010101010', 'b', 'x,z', '{\"k\": [1, 2.5, null]}', 'café', 'a,j', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1e-38, 1.7976931348623157e308, '1000-01-01', '1000-01-01 00:00:00',
  '1970-01-01 05:30:01', '0000-00-00 00:00:00', '00:00:00', 1901,
  '', '', '', X'00000000', X'', X'', b'0', 'a', '', '[]', '', '', '00000000-0000-0000-0000-000000000000', '::'),
 (4, 127, 128, 32768, 8388608, 2147483648, 8388607, 9223372036854775808, 9223372036854775807,
  -0.0000000001, -3.4e38, -2.2250738585072014e-308, '9999-12-31', '9999-12-31 23:59:59.999999',
  '2000-06-15 12:00:00.5', '1999-12-31 23:59:59', '838:59:59', 0,
  'z', '中文', 'ü', X'FFFFFFFF', X'00', X'FF', b'1111111111', 'c', 'x,y,z', '\"text\"', 'ÿ', 'e', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '::ffff:255.255.255.255')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_and_change_kind_arrives_through_the_binlog() {
    let online = Online::new("zoo", ALL_TYPES).await;
    online
        .source_sql("INSERT INTO everything (id, i8) VALUES (100, 1), (101, 2)")
        .await;
    let config = online.config("types");
    online.copy(&config).await;
    // Inserts of every type, in a session whose time zone is not UTC.
    online
        .source_sql(&format!("SET time_zone = '+05:30'; {TYPED_ROWS}"))
        .await;
    // Updates of every column (including the key), deletes, a multi-row transaction.
    online
        .source_sql(
            "UPDATE everything SET id = id + 1000, vc = CONCAT(vc, '!'), u32 = u32 - 1 WHERE id IN (1, 4);
             UPDATE everything SET i8 = 5, ts = '2020-01-01 00:00:00' WHERE id = 2;
             INSERT INTO everything (id, vc) VALUES (300, 'gone'); DELETE FROM everything WHERE id = 300;
             START TRANSACTION;
             INSERT INTO everything (id, vc) VALUES (200, 'a'), (201, 'b'), (202, 'c');
             UPDATE everything SET vc = 'swapped' WHERE id BETWEEN 200 AND 202;
             DELETE FROM everything WHERE id = 201;
             UPDATE everything SET id = 100 + 300 WHERE id = 100;
             COMMIT;",
        )
        .await;
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let mut sync = SyncUnit::new(cutover);
    let progress = sync.progress();
    let result = Online::run(&mut sync).await;
    online.assert_ok(&result);
    online.assert_same();
    // DM's SyncStatus, read without waiting on the unit.
    let status = progress.status();
    assert!(status.total_events >= 12, "{status:?}");
    assert!(
        status.syncer_binlog.starts_with("(binlog.000001, "),
        "{status:?}"
    );
    assert!(status.syncer_binlog_gtid.starts_with("0-1-"), "{status:?}");
    assert_eq!(status.binlog_type, "remote");
    assert!(!progress.safe_mode(), "a snapshot copy needs no safe mode");
    let at = progress.cutover_position().expect("the cutover ended");
    assert_eq!(status.syncer_binlog, format!("({}, {})", at.file, at.pos));
    let verified = progress.verified();
    assert_eq!(verified.len(), 1, "{verified:?}");
    assert_eq!(verified[0].2, 8, "{verified:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_is_copied_exactly_through_snapshot_connections() {
    let online = Online::new("zoo_snap", ALL_TYPES).await;
    online
        .source_sql(&format!("SET time_zone = '+05:30'; {TYPED_ROWS}"))
        .await;
    let mut config = online.config("zoo_snap");
    config.consistency = Some(Consistency::Flush);
    online.copy(&config).await;
    assert_eq!(online.checkpoint("zoo_snap").await.consistency, "flush");
    online.cutover_exact(&config).await;
}

const LOAD_TABLE: &str = "CREATE TABLE load_t (
    id INT NOT NULL PRIMARY KEY, n INT NOT NULL, note VARCHAR(40) CHARACTER SET utf8mb4,
    amount DECIMAL(12,2), at DATETIME(6) NULL DEFAULT CURRENT_TIMESTAMP(6)
)";

/// A write load on `url`: inserts, non-idempotent updates (a counter), key-changing
/// updates, deletes and multi-statement transactions, `iterations` rounds from `from`.
async fn write_load(url: String, from: i64, iterations: i64) {
    let mut conn = connect(&url).await;
    for i in from..from + iterations {
        let mut sql = format!(
            "INSERT INTO load_t (id, n, note, amount) VALUES ({i}, 0, 'row {i} é', {i}.25);
             UPDATE load_t SET n = n + 1, amount = amount + 1.5 WHERE id = {} OR id = {};",
            i - 3,
            i - 1
        );
        if i % 5 == 0 {
            sql.push_str(&format!(
                "UPDATE load_t SET id = id + 1000000 WHERE id = {};",
                i - 2
            ));
        }
        if i % 7 == 0 {
            sql.push_str(&format!("DELETE FROM load_t WHERE id = {};", i - 4));
        }
        if i % 3 == 0 {
            sql.push_str(&format!(
                "START TRANSACTION;
                 INSERT INTO load_t (id, n, note, amount) VALUES ({}, 1, 'txn', 0);
                 UPDATE load_t SET n = n + 10 WHERE id = {i};
                 DELETE FROM load_t WHERE id = {} ;
                 COMMIT;",
                i + 5_000_000,
                i - 6
            ));
        }
        conn.execute(sql.as_str()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_instant_applies_every_change_exactly_once() {
    killed_at_any_instant("killed", 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_applier_killed_at_any_instant_applies_every_change_exactly_once() {
    killed_at_any_instant("killed1", 1).await;
}

/// Parallel workers commit parts of one source transaction each with its own
/// checkpoint row, ahead of the task's position: killed again and again while they
/// are at different positions, every change still applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_at_different_positions_apply_every_change_once() {
    let online = Online::new(
        "spread",
        "CREATE TABLE big (id INT PRIMARY KEY, n INT NOT NULL, u INT NULL, UNIQUE KEY (u));
         CREATE TABLE other (id BIGINT PRIMARY KEY, v VARCHAR(20));",
    )
    .await;
    let mut config = online.config("spread");
    config.sync.batch = 50;
    config.sync.workers = 4;
    online.copy(&config).await;
    // Large source transactions of non-idempotent changes, a unique key moving
    // between rows, and key changes.
    online
        .source_sql(
            "INSERT INTO big SELECT seq, 0, NULL FROM seq_1_to_3000;
             UPDATE big SET n = n + 1;
             UPDATE big SET u = id WHERE id % 3 = 0;
             START TRANSACTION; UPDATE big SET u = NULL WHERE id = 3; UPDATE big SET u = 3 WHERE id = 4; COMMIT;
             UPDATE big SET id = id + 10000 WHERE id % 7 = 0;
             INSERT INTO other SELECT seq, CONCAT('v', seq) FROM seq_1_to_500;
             UPDATE big SET n = n * 2 WHERE id % 2 = 0;
             DELETE FROM big WHERE id % 5 = 0;",
        )
        .await;
    let mut target = connect(&online.target.url("")).await;
    let mut ahead = 0;
    for round in 0..12u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(150 + round * 41)).await;
        sync.abort();
        let _ = sync.await;
        let global: (String, u64) = sqlx::query_as(
            "SELECT binlog_name, binlog_pos FROM unit_checkpoint.sync_checkpoint WHERE task = 'spread'",
        )
        .fetch_one(&mut target)
        .await
        .unwrap();
        let rows: Vec<(String, u64)> = sqlx::query_as(
            "SELECT binlog_name, binlog_pos FROM unit_checkpoint.sync_worker WHERE task = 'spread'",
        )
        .fetch_all(&mut target)
        .await
        .unwrap();
        if rows.iter().any(|r| r.0 == global.0 && r.1 > global.1) {
            ahead += 1;
        }
    }
    assert!(
        ahead > 0,
        "no kill found a worker ahead of the task's position"
    );
    online.cutover_exact(&config).await;
}

/// Row changes applied by several workers, with inserts and deletes merged into
/// statements of many rows (and, for comparison, one statement per change), end as
/// the source: a key deleted and inserted again in one transaction, updates that
/// change the key (and move into a key just freed), and unique keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_and_parallel_changes_end_as_applied_one_by_one() {
    for merge_rows in [200, 1] {
        let db = format!("batched_{merge_rows}");
        let (online, mut config) = Online::copied(
            &db,
            "CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(10) CHARACTER SET latin1, n INT, UNIQUE KEY (u));
             CREATE TABLE b (id VARBINARY(8) PRIMARY KEY, n INT);
             CREATE TABLE c (a INT, b VARCHAR(4) COLLATE utf8mb4_bin, n INT, PRIMARY KEY (a, b));",
        )
        .await;
        config.sync.workers = 3;
        config.sync.merge_rows = merge_rows;
        online
            .source_sql(
                "INSERT INTO t SELECT seq, CONCAT('u', seq), 0 FROM seq_1_to_400;
                 START TRANSACTION;
                 DELETE FROM t WHERE id = 50; INSERT INTO t VALUES (50, 'again', 1);
                 UPDATE t SET id = 1060 WHERE id = 60; INSERT INTO t VALUES (60, 'new60', 2);
                 UPDATE t SET u = NULL WHERE id = 70; UPDATE t SET u = 'U70' WHERE id = 71;
                 UPDATE t SET id = 2080 WHERE id = 80; UPDATE t SET id = 80 WHERE id = 79;
                 COMMIT;
                 INSERT INTO b SELECT UNHEX(HEX(seq)), seq FROM seq_1_to_300;
                 DELETE FROM b WHERE n % 4 = 0; UPDATE b SET n = n + 1;
                 INSERT INTO b SELECT UNHEX(HEX(seq)), -seq FROM seq_1_to_300 WHERE seq % 4 = 0;
                 INSERT INTO c SELECT seq % 50, CONCAT('k', seq), seq FROM seq_1_to_500;
                 START TRANSACTION;
                 DELETE FROM c WHERE n % 3 = 0; INSERT INTO c VALUES (3, 'k3', -3);
                 DELETE FROM c WHERE a = 7; INSERT INTO c SELECT 7, CONCAT('k', seq), 0 FROM seq_1_to_20;
                 COMMIT;
                 DELETE FROM t WHERE id BETWEEN 100 AND 300;",
            )
            .await;
        online.cutover_exact(&config).await;
    }
}

/// A row that a merged `DELETE ... IN` finds missing on the target is a conflict,
/// never resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_missing_from_merged_deletes_is_a_conflict() {
    let (online, mut config) = Online::copied(
        "gone",
        // A key of a collation: the table's changes go to one worker, which merges
        // its deletes.
        "CREATE TABLE g (id VARCHAR(8) COLLATE utf8mb4_bin PRIMARY KEY);
         INSERT INTO g SELECT seq FROM seq_1_to_2000",
    )
    .await;
    config.sync.workers = 2;
    exec(
        &online.target.url("gone"),
        "DELETE FROM g WHERE id = '1999'",
    )
    .await;
    online.source_sql("DELETE FROM g").await;
    let result = online.cutover(&config).await;
    let error = result.errors.first().expect("the delete conflicts");
    assert_eq!(error.err_code, 60007, "{error:?}");
    assert!(error.message.contains("delete of gone.g"), "{error:?}");
    assert!(!unit_core::Recommended.explain(error).is_resumable());
}

async fn killed_at_any_instant(db: &str, workers: usize) {
    let online = Online::new(db, LOAD_TABLE).await;
    let mut config = online.config(db);
    config.sync.workers = workers;
    online.copy(&config).await;
    let writer = tokio::spawn(write_load(online.source.url(db), 1, 400));
    // The unit is dropped mid-flight again and again (as a SIGKILL of the process
    // leaves it: the target rolls back the open transaction), each time at another
    // point of its batches.
    for round in 0..8u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(40 + round * 37)).await;
        sync.abort();
        let _ = sync.await;
    }
    writer.await.unwrap();
    online.cutover_exact(&config).await;
}

/// Copies table `load_t` of `db` with `consistency` while writes go on (each chunk of
/// a copy that is not a snapshot sees another state), then more writes, then cutover:
/// both sides must be equal. Returns the checkpoint the copy recorded.
async fn copy_under_writes(db: &str, consistency: Consistency) -> unit_mysql::SyncCheckpoint {
    let online = Online::new(db, LOAD_TABLE).await;
    write_load(online.source.url(db), 1, 100).await;
    let mut config = online.config(db);
    config.consistency = Some(consistency);
    config.copy.chunk_rows = 3;
    let writer = tokio::spawn(write_load(online.source.url(db), 101, 150));
    online.copy(&config).await;
    writer.await.unwrap();
    let cp = online.checkpoint(db).await;
    write_load(online.source.url(db), 251, 20).await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    cp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_without_a_snapshot_under_writes_converges_through_safe_mode() {
    let cp = copy_under_writes("nolock", Consistency::None).await;
    assert_eq!(cp.consistency, "none");
    assert!(cp.safe_until.is_some(), "{cp:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_copy_under_writes_converges_without_safe_mode() {
    let cp = copy_under_writes("snap", Consistency::Flush).await;
    assert_eq!((cp.consistency.as_str(), cp.safe_until), ("flush", None));
    let cp = copy_under_writes("locked", Consistency::Lock).await;
    assert_eq!((cp.consistency.as_str(), cp.safe_until), ("lock", None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_resumed_without_its_snapshot_replays_from_the_original_position() {
    let online = Online::new("resumed", LOAD_TABLE).await;
    write_load(online.source.url("resumed"), 1, 300).await;
    let mut config = online.config("resumed");
    config.consistency = Some(Consistency::Flush);
    config.copy.chunk_rows = 2;
    config.copy.concurrency = 1;
    let writer = tokio::spawn(write_load(online.source.url("resumed"), 301, 150));
    // The first copy is dropped mid-way (its snapshot dies with it).
    online.copy_dropped_after(&config, 10).await;
    let started = online.checkpoint("resumed").await;
    assert_eq!(started.consistency, "flush");
    online.copy(&config).await;
    writer.await.unwrap();
    let cp = online.checkpoint("resumed").await;
    assert_eq!(cp.consistency, "resumed", "{cp:?}");
    assert_eq!(
        cp.position, started.position,
        "replication starts where the snapshot was"
    );
    assert!(cp.safe_until.is_some(), "{cp:?}");
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_in_the_stream_is_applied_in_order_and_rows_follow_it() {
    let online = Online::new("ddl", LOAD_TABLE).await;
    let config = online.config("ddl");
    online.copy(&config).await;
    write_load(online.source.url("ddl"), 1, 20).await;
    online
        .source_sql(
            "ALTER TABLE load_t ADD COLUMN extra VARCHAR(10) DEFAULT 'd' AFTER n, DROP COLUMN at;
             INSERT INTO load_t (id, n, extra, note, amount) VALUES (900, 1, 'new', 'after ddl', 1.5);
             UPDATE load_t SET extra = 'upd' WHERE id = 5;
             CREATE TABLE made_later (id BIGINT PRIMARY KEY, v TEXT);
             INSERT INTO made_later VALUES (1, 'one'), (2, 'two');
             RENAME TABLE made_later TO renamed;
             UPDATE renamed SET v = 'uno' WHERE id = 1;
             CREATE TABLE doomed (id INT PRIMARY KEY); INSERT INTO doomed VALUES (1);
             DROP TABLE doomed;
             CREATE TABLE emptied (id INT PRIMARY KEY); INSERT INTO emptied VALUES (1), (2);
             TRUNCATE TABLE emptied; INSERT INTO emptied VALUES (3);
             CREATE TABLE selected (PRIMARY KEY (id)) AS SELECT id, n FROM load_t;
             UPDATE selected SET n = n + 100;
             SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES,NO_BACKSLASH_ESCAPES');
             CREATE TABLE \"quoted\" (\"id\" INT PRIMARY KEY, \"v\" VARCHAR(10) DEFAULT 'a\\b');
             INSERT INTO \"quoted\" (\"id\") VALUES (1);",
        )
        .await;
    write_load(online.source.url("ddl"), 21, 20).await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_the_target_refuses_stops_the_unit_naming_the_statement() {
    let online = Online::new("badddl", LOAD_TABLE).await;
    let config = online.config("badddl");
    online.copy(&config).await;
    // The target already has the column the source adds.
    exec(
        &online.target.url("badddl"),
        "ALTER TABLE load_t ADD COLUMN clash INT",
    )
    .await;
    online
        .source_sql("ALTER TABLE load_t ADD COLUMN clash INT")
        .await;
    let result = online.cutover(&config).await;
    let error = result.errors.first().expect("the DDL fails");
    assert_eq!(error.err_code, 60008, "{error:?}");
    assert!(error.message.contains("ADD COLUMN clash"), "{error:?}");
    assert!(error.message.contains("binlog.000"), "{error:?}");
    assert!(!unit_core::Recommended.explain(error).is_resumable());
}

/// A target row in the way of a replicated insert, with `workers` apply workers: the
/// unresumable conflict, naming the event.
async fn conflicting_target_row(db: &str, workers: usize) -> (Online, unit_mysql::TaskConfig) {
    let online = Online::new(db, LOAD_TABLE).await;
    let mut config = online.config(db);
    config.sync.workers = workers;
    online.copy(&config).await;
    exec(
        &online.target.url(db),
        "INSERT INTO load_t VALUES (7, 0, 'target only', 0, NULL)",
    )
    .await;
    write_load(online.source.url(db), 1, 10).await;
    let result = online.cutover(&config).await;
    let error = result.errors.first().expect("the insert conflicts");
    assert_eq!(error.err_code, 60007, "{error:?}");
    assert!(error.message.contains("binlog.000001"), "{error:?}");
    assert!(!unit_core::Recommended.explain(error).is_resumable());
    (online, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_target_row_is_not_resumable_and_names_the_event() {
    let (online, _) = conflicting_target_row("conflict", 1).await;
    // One worker keeps batches whole: nothing of the failed batch was committed,
    // the target still stops short of it.
    let missing: Option<i64> = sqlx::query_scalar("SELECT n FROM load_t WHERE id = 8")
        .fetch_optional(&mut connect(&online.target.url("conflict")).await)
        .await
        .unwrap();
    assert_eq!(missing, None);
}

/// With several workers, the others commit what they were given; once the row in
/// the way is gone, a rerun applies every change once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_among_workers_resumes_exactly_once_the_row_is_removed() {
    let (online, config) = conflicting_target_row("conflict_workers", 4).await;
    exec(
        &online.target.url("conflict_workers"),
        "DELETE FROM load_t WHERE id = 7",
    )
    .await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_binlog_is_not_resumable_and_names_the_position() {
    let online = Online::new("purged", LOAD_TABLE).await;
    let config = online.config("purged");
    online.copy(&config).await;
    write_load(online.source.url("purged"), 1, 5).await;
    online
        .source_sql("FLUSH BINARY LOGS; FLUSH BINARY LOGS")
        .await;
    // MariaDB keeps a binlog until its binlog checkpoint has moved past it.
    let mut source = connect(&online.source.url("")).await;
    for _ in 0..100 {
        source
            .execute("PURGE BINARY LOGS TO 'binlog.000003'")
            .await
            .unwrap();
        let first: String = sqlx::query_scalar("SHOW BINARY LOGS")
            .fetch_one(&mut source)
            .await
            .unwrap();
        if first != "binlog.000001" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let result = online.cutover(&config).await;
    let error = result.errors.first().expect("the binlog is gone");
    assert_eq!(error.err_code, 60006, "{error:?}");
    assert!(error.message.contains("binlog.000001"), "{error:?}");
    assert!(!unit_core::Recommended.explain(error).is_resumable());
    // The check unit says so before anything runs again.
    let items = unit_mysql::CheckUnit::new(config.clone())
        .run_checks()
        .await;
    let recorded = items
        .iter()
        .find(|i| i.name == "recorded position")
        .expect("the position is checked");
    assert_eq!(
        recorded.state,
        unit_mysql::ItemState::Failure,
        "{recorded:?}"
    );
    assert!(recorded.message.contains("binlog.000003"), "{recorded:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_unit_says_what_replication_needs() {
    use unit_mysql::{CheckUnit, ItemState};
    let online = Online::new("checked", LOAD_TABLE).await;
    let items = CheckUnit::new(online.config("checked")).run_checks().await;
    let failures: Vec<_> = items
        .iter()
        .filter(|i| i.state == ItemState::Failure)
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    for name in [
        "source log_bin",
        "source binlog_format",
        "source binlog_row_image",
        "source replication privileges",
    ] {
        assert!(
            items.iter().any(|i| i.name == name),
            "{name} not checked: {items:?}"
        );
    }
    assert!(!items.iter().any(|i| i.name == "foreign keys"), "{items:?}");
    // A selected child whose unselected parent cascades into it: warned, named.
    exec(
        &online.source.url("mysql"),
        "CREATE DATABASE other; CREATE TABLE other.parent (id INT PRIMARY KEY);
         CREATE TABLE other.kept (id INT PRIMARY KEY);
         CREATE TABLE checked.child (id INT PRIMARY KEY, p INT, k INT,
           FOREIGN KEY (p) REFERENCES other.parent (id) ON DELETE CASCADE,
           FOREIGN KEY (k) REFERENCES other.kept (id))",
    )
    .await;
    let items = CheckUnit::new(online.config("checked")).run_checks().await;
    let warned: Vec<_> = items.iter().filter(|i| i.name == "foreign keys").collect();
    assert_eq!(warned.len(), 1, "{items:?}");
    assert_eq!(warned[0].state, ItemState::Warning);
    assert!(
        warned[0].message.contains("other.parent") && warned[0].message.contains("CASCADE"),
        "{warned:?}"
    );
    // A source without binary logging, and a user without replication privileges.
    let plain = MariaDb::start();
    exec(
        &plain.url("mysql"),
        "CREATE DATABASE checked; CREATE TABLE checked.t (id INT PRIMARY KEY);
         CREATE USER reader IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO reader",
    )
    .await;
    let mut config = online.config("checked");
    config.source = plain.url_as("reader", "pw", "").parse().unwrap();
    let items = CheckUnit::new(config).run_checks().await;
    let failed = |name: &str| {
        items
            .iter()
            .any(|i| i.name == name && i.state == ItemState::Failure)
    };
    assert!(failed("source log_bin"), "{items:?}");
    assert!(failed("source replication privileges"), "{items:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_restarts_and_network_cuts_are_resumed_from_the_checkpoint() {
    let online = Online::new("faults", LOAD_TABLE).await;
    let proxy = unit_integration_tests::FaultProxy::start(online.source.port()).await;
    let mut config = online.config("faults");
    config.source = proxy.url("").parse().unwrap();
    online.copy(&config).await;
    let policy = unit_core::Recommended;
    let mut resumable_errors = 0;
    for round in 0..4i64 {
        let writer = tokio::spawn(write_load(online.source.url("faults"), 1 + round * 50, 50));
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(150)).await;
        match round {
            0 => online.source_sql("FLUSH BINARY LOGS").await,
            1 => proxy.cut(),
            2 => online.target.restart(),
            _ => {}
        }
        writer.await.unwrap();
        if round == 3 {
            // The source restarts between two writes.
            online.source.restart();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if sync.is_finished() {
            let result = sync.await.unwrap();
            for error in &result.errors {
                assert!(policy.explain(error).is_resumable(), "{error:?}");
                resumable_errors += 1;
            }
        } else {
            sync.abort();
            let _ = sync.await;
        }
    }
    assert!(resumable_errors >= 1, "no fault reached the unit");
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_can_start_from_the_recorded_mariadb_gtid() {
    let online = Online::new("gtid", LOAD_TABLE).await;
    let mut config = online.config("gtid");
    config.sync.use_gtid = true;
    online.copy(&config).await;
    write_load(online.source.url("gtid"), 1, 30).await;
    // A first run records a GTID position; the second starts from it.
    let sync = spawn_sync(&config);
    tokio::time::sleep(Duration::from_millis(500)).await;
    sync.abort();
    let _ = sync.await;
    let cp = online.checkpoint("gtid").await;
    assert!(cp.position.gtid.starts_with("0-1-"), "{cp:?}");
    write_load(online.source.url("gtid"), 31, 30).await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_mode_replicates_from_a_given_position() {
    let online = Online::new("incr", LOAD_TABLE).await;
    exec(&online.target.url("mysql"), "CREATE DATABASE incr").await;
    exec(&online.target.url("incr"), LOAD_TABLE).await;
    let mut source = connect(&online.source.url("")).await;
    let status = sqlx::raw_sql("SHOW MASTER STATUS")
        .fetch_one(&mut source)
        .await
        .unwrap();
    let file: String = sqlx::Row::get(&status, 0);
    let pos: u64 = sqlx::Row::get(&status, 1);
    let mut config = online.config("incr");
    config.consistency = None;
    config.sync.start = Some(unit_mysql::BinlogPosition {
        file,
        pos,
        gtid: String::new(),
    });
    write_load(online.source.url("incr"), 1, 60).await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    assert_eq!(online.checkpoint("incr").await.consistency, "incremental");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_migration_of_a_task_copied_without_a_position_is_refused() {
    let online = Online::new("after_full", LOAD_TABLE).await;
    write_load(online.source.url("after_full"), 1, 10).await;
    let mut config = online.config("after_full");
    config.consistency = None;
    online.copy(&config).await;
    config.consistency = Some(Consistency::Auto);
    let result = Online::run(&mut CopyUnit::new(config)).await;
    let error = result.errors.first().expect("refused");
    assert_eq!(error.err_code, 60005, "{error:?}");
    assert!(
        error
            .message
            .contains("without recording a binlog position"),
        "{error:?}"
    );
    assert!(!unit_core::Recommended.explain(error).is_resumable());
}

/// A schema whose objects act on rows: foreign keys that cascade and set NULL, a
/// trigger writing to another table, a BEFORE trigger changing values, an event.
const ACTIVE_SCHEMA: &str = "
    CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB;
    CREATE TABLE child (id INT PRIMARY KEY, parent_id INT, note VARCHAR(20),
        FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
    CREATE TABLE grandchild (id INT PRIMARY KEY, child_id INT,
        FOREIGN KEY (child_id) REFERENCES child (id) ON DELETE CASCADE);
    CREATE TABLE soft (id INT PRIMARY KEY, parent_id INT NULL,
        FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE SET NULL ON UPDATE SET NULL);
    CREATE TABLE film (id INT PRIMARY KEY, title VARCHAR(40), touched DATETIME(6) NULL);
    CREATE TABLE film_log (id INT AUTO_INCREMENT PRIMARY KEY, film_id INT, what VARCHAR(10));
    CREATE TRIGGER film_ins AFTER INSERT ON film FOR EACH ROW
        INSERT INTO film_log (film_id, what) VALUES (NEW.id, 'insert');
    CREATE TRIGGER film_upd BEFORE UPDATE ON film FOR EACH ROW SET NEW.touched = NOW(6);
    CREATE EVENT tick ON SCHEDULE EVERY 1 HOUR DO INSERT INTO film_log (film_id, what) VALUES (0, 'tick');";

/// Writes that fire the triggers and cascade: `iterations` rounds from `from`.
async fn active_load(url: String, from: i64, iterations: i64) {
    let mut conn = connect(&url).await;
    for i in from..from + iterations {
        let mut sql = format!(
            "INSERT INTO parent VALUES ({i}, 'p{i}');
             INSERT INTO child VALUES ({a}, {i}, 'a'), ({b}, {i}, 'b');
             INSERT INTO grandchild VALUES ({a}, {a});
             INSERT INTO soft VALUES ({i}, {i});
             INSERT INTO film VALUES ({i}, 'title {i}', NULL);
             UPDATE film SET title = CONCAT(title, '!') WHERE id = {prev};",
            a = i * 10 + 1,
            b = i * 10 + 2,
            prev = i - 1
        );
        if i % 3 == 0 {
            sql.push_str(&format!("DELETE FROM parent WHERE id = {};", i - 2));
        }
        if i % 4 == 0 {
            sql.push_str(&format!(
                "UPDATE parent SET id = id + 100000 WHERE id = {};",
                i - 1
            ));
        }
        conn.execute(sql.as_str()).await.unwrap();
    }
}

/// How many triggers and events the target has in `db`.
async fn target_triggers_and_events(online: &Online) -> (i64, i64) {
    let mut conn = connect(&online.target.url("")).await;
    let count = |table: &str, column: &str| {
        format!(
            "SELECT COUNT(*) FROM information_schema.{table} WHERE {column} = '{}'",
            online.db
        )
    };
    let triggers: i64 = sqlx::query_scalar(&count("TRIGGERS", "TRIGGER_SCHEMA"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar(&count("EVENTS", "EVENT_SCHEMA"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (triggers, events)
}

/// Kills the target connections of everyone but the caller (the Sync unit's among
/// them).
async fn kill_target_connections(online: &Online) {
    let mut conn = connect(&online.target.url("")).await;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for id in ids {
        let _ = conn.execute(format!("KILL {id}").as_str()).await;
    }
}

/// Triggers, an event and foreign-key cascades under a write load during a copy with
/// `consistency` and replication, with the Sync unit dropped mid-flight and its target
/// connection killed: exact at cutover, and the triggers and the event exist on the
/// target only after it.
async fn active_objects_migrate_online(db: &str, consistency: Consistency) {
    let online = Online::new(db, ACTIVE_SCHEMA).await;
    active_load(online.source.url(db), 1, 40).await;
    let mut config = online.config(db);
    config.consistency = Some(consistency);
    config.copy.chunk_rows = 5;
    let writer = tokio::spawn(active_load(online.source.url(db), 41, 60));
    let mut copy = CopyUnit::new(config.clone());
    let report = copy.report_handle();
    let result = Online::run(&mut copy).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    writer.await.unwrap();
    assert_eq!(target_triggers_and_events(&online).await, (0, 0));
    let deferred: Vec<_> = report
        .report()
        .objects
        .into_iter()
        .filter(|o| !o.migrated)
        .map(|o| (o.kind, o.name, o.note.starts_with("created at cutover")))
        .collect();
    assert_eq!(
        deferred,
        [
            ("event", "tick".to_owned(), true),
            ("trigger", "film_ins".to_owned(), true),
            ("trigger", "film_upd".to_owned(), true),
        ]
    );
    let writer = tokio::spawn(active_load(online.source.url(db), 101, 150));
    for round in 0..4u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(150 + round * 61)).await;
        if round % 2 == 1 {
            kill_target_connections(&online).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sync.abort();
        let _ = sync.await;
    }
    writer.await.unwrap();
    assert_eq!(target_triggers_and_events(&online).await, (0, 0));
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let mut sync = SyncUnit::new(cutover);
    let progress = sync.progress();
    let result = Online::run(&mut sync).await;
    online.assert_ok(&result);
    // The dump holds the triggers and the event too.
    online.assert_same();
    assert_eq!(target_triggers_and_events(&online).await, (2, 1));
    let created: Vec<_> = progress
        .cutover_objects()
        .into_iter()
        .map(|o| (o.kind, o.name, o.migrated))
        .collect();
    assert_eq!(
        created,
        [
            ("trigger", "film_ins".to_owned(), true),
            ("trigger", "film_upd".to_owned(), true),
            ("event", "tick".to_owned(), true),
        ]
    );
    // Replication into tables with triggers is refused, naming them.
    let result = Online::run(&mut SyncUnit::new(config.clone())).await;
    let error = result.errors.first().expect("refused");
    assert_eq!(error.err_code, 60005, "{error:?}");
    assert!(error.message.contains("`film_ins`"), "{error:?}");
    assert!(error.message.contains(&format!("{db}.film")), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_events_and_cascades_migrate_online_through_a_snapshot() {
    active_objects_migrate_online("active", Consistency::Flush).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_events_and_cascades_migrate_online_through_safe_mode() {
    active_objects_migrate_online("activesafe", Consistency::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_the_cutover_read_its_position_is_applied_or_refused() {
    // A table big enough that verifying it takes a while.
    let online = Online::new(
        "late",
        &format!(
            "{LOAD_TABLE}; CREATE TABLE bulk (id INT PRIMARY KEY, v VARCHAR(40));
                  INSERT INTO bulk SELECT seq, MD5(seq) FROM seq_1_to_100000"
        ),
    )
    .await;
    let mut config = online.config("late");
    config.copy.chunk_rows = 10_000;
    online.copy(&config).await;
    write_load(online.source.url("late"), 1, 30).await;
    // Writes while the cutover verifies (to a table verified before and to one
    // verified after, whichever order it takes): applied and verified again.
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let mut sync = SyncUnit::new(cutover.clone());
    let progress = sync.progress();
    let mut conn = connect(&online.source.url("late")).await;
    let late = tokio::spawn(async move {
        while !progress.verifying() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        conn.execute(
            "INSERT INTO load_t (id, n) VALUES (777777, 7); UPDATE bulk SET v = 'late' WHERE id = 1",
        )
        .await
        .unwrap();
    });
    let result = Online::run(&mut sync).await;
    tokio::time::timeout(Duration::from_secs(5), late)
        .await
        .expect("the late writes ran")
        .unwrap();
    online.assert_ok(&result);
    online.assert_same();
    // Writes that never stop: the cutover gives up, saying so.
    let stop = CancellationToken::new();
    let url = online.source.url("late");
    let writer = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut conn = connect(&url).await;
            let mut i = 800_000;
            while !stop.is_cancelled() {
                i += 1;
                conn.execute(format!("INSERT INTO load_t (id, n) VALUES ({i}, 1)").as_str())
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let result = Online::run(&mut SyncUnit::new(cutover)).await;
    stop.cancel();
    writer.await.unwrap();
    let error = result.errors.first().expect("the source never stopped");
    assert_eq!(error.err_code, 60010, "{error:?}");
    assert!(error.message.contains("the source is now at"), "{error:?}");
    assert!(!unit_core::Recommended.explain(error).is_resumable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_whose_packets_stop_arriving_is_noticed_and_resumed() {
    let online = Online::new("stalled", LOAD_TABLE).await;
    let proxy = unit_integration_tests::FaultProxy::start(online.source.port()).await;
    let mut config = online.config("stalled");
    config.source = proxy.url("").parse().unwrap();
    config.sync.stream_timeout = Duration::from_secs(3);
    online.copy(&config).await;
    write_load(online.source.url("stalled"), 1, 20).await;
    let sync = spawn_sync(&config);
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Packets stop; every connection stays open (heartbeats stop too).
    proxy.set_stalled(true);
    let stalled_at = std::time::Instant::now();
    write_load(online.source.url("stalled"), 21, 20).await;
    let result = tokio::time::timeout(Duration::from_secs(30), sync)
        .await
        .expect("the unit noticed within its stream timeout")
        .unwrap();
    let waited = stalled_at.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
    let error = result.errors.first().expect("a lost connection");
    assert!(error.message.contains("not even a heartbeat"), "{error:?}");
    assert!(
        unit_core::Recommended.explain(error).is_resumable(),
        "{error:?}"
    );
    // The source is back: the unit resumes from its checkpoint.
    proxy.set_stalled(false);
    write_load(online.source.url("stalled"), 41, 20).await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_ddl_waiting_in_the_binlog_replays_it_and_compares_definitions_at_cutover() {
    let online = Online::new("waiting", LOAD_TABLE).await;
    let config = online.config("waiting");
    online.copy(&config).await;
    write_load(online.source.url("waiting"), 1, 20).await;
    let sync = spawn_sync(&config);
    tokio::time::sleep(Duration::from_millis(300)).await;
    sync.abort();
    let _ = sync.await;
    // DDL of every supported kind while the Sync unit is down.
    online
        .source_sql(
            "ALTER TABLE load_t ADD COLUMN extra VARCHAR(10) DEFAULT 'd' AFTER n;
             CREATE INDEX by_note ON load_t (note);
             CREATE TABLE later (id INT PRIMARY KEY, v TEXT); INSERT INTO later VALUES (1, 'a');
             RENAME TABLE later TO renamed;
             CREATE TABLE gone (id INT PRIMARY KEY); DROP TABLE gone;
             CREATE TABLE emptied (id INT PRIMARY KEY); INSERT INTO emptied VALUES (1);
             TRUNCATE TABLE emptied; INSERT INTO emptied VALUES (2);
             DROP INDEX by_note ON load_t; ALTER TABLE load_t MODIFY note VARCHAR(200);",
        )
        .await;
    write_load(online.source.url("waiting"), 21, 20).await;
    // A rerun starts every unit of the task again: the finished copy leaves the
    // definitions, which differ until the Sync unit has replayed the DDL, to cutover.
    let mut copy = CopyUnit::new(config.clone());
    copy.init(CancellationToken::new())
        .await
        .expect("a finished copy's init does not compare definitions");
    copy.close().await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    // A target table whose definition differs fails the cutover, naming it.
    exec(
        &online.target.url("waiting"),
        "ALTER TABLE renamed ADD INDEX target_only (v(10))",
    )
    .await;
    let result = online.cutover(&config).await;
    let error = result.errors.first().expect("definitions differ");
    assert_eq!(error.err_code, 60001, "{error:?}");
    assert!(error.message.contains("waiting.renamed"), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_and_a_new_table_between_the_copys_init_and_its_snapshot_are_copied() {
    let online = Online::new("midway", LOAD_TABLE).await;
    write_load(online.source.url("midway"), 1, 30).await;
    let config = online.config("midway");
    let mut copy = CopyUnit::new(config.clone());
    let cancel = CancellationToken::new();
    copy.init(cancel.clone()).await.unwrap();
    // After the schema was read, before the position is taken.
    online
        .source_sql(
            "ALTER TABLE load_t ADD COLUMN extra INT NOT NULL DEFAULT 7;
             CREATE TABLE newcomer (id INT PRIMARY KEY, v VARCHAR(10));
             INSERT INTO newcomer VALUES (1, 'one'), (2, 'two');",
        )
        .await;
    let result = copy.process(cancel).await;
    copy.close().await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    write_load(online.source.url("midway"), 31, 20).await;
    online
        .source_sql("INSERT INTO newcomer VALUES (3, 'three')")
        .await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_without_a_snapshot_tolerates_a_unique_value_that_moved_between_rows() {
    let online = Online::new(
        "moved",
        "CREATE TABLE uk (id INT PRIMARY KEY, u INT NULL, n INT, UNIQUE KEY (u));
         INSERT INTO uk SELECT seq, seq, 0 FROM seq_1_to_100",
    )
    .await;
    let proxy = unit_integration_tests::FaultProxy::start(online.source.port()).await;
    let mut config = online.config("moved");
    config.source = proxy.url("").parse().unwrap();
    config.consistency = Some(Consistency::None);
    config.copy.chunk_rows = 5;
    config.copy.concurrency = 1;
    proxy.set_delay(Duration::from_millis(20));
    // The copy stops once row 1 is in the target...
    online.copy_dropped_after(&config, 5).await;
    // ... row 1's unique value moves to row 100, which the copy reads later.
    online
        .source_sql(
            "UPDATE uk SET u = NULL, n = 1 WHERE id = 1; UPDATE uk SET u = 1 WHERE id = 100",
        )
        .await;
    proxy.set_delay(Duration::ZERO);
    online.copy(&config).await;
    online
        .source_sql("UPDATE uk SET u = 100 WHERE id = 1; INSERT INTO uk VALUES (101, 101, 0)")
        .await;
    online.cutover_exact(&config).await;
}

/// Tables without transactions, one fed by triggers of an InnoDB table (as sakila's
/// `film_text`, with a FULLTEXT key), one of counters, one in memory.
const NON_TRANSACTIONAL: &str = "
    CREATE TABLE film (id INT PRIMARY KEY, title VARCHAR(60), n INT NOT NULL DEFAULT 0) ENGINE=InnoDB;
    CREATE TABLE film_text (film_id INT PRIMARY KEY, title VARCHAR(60), FULLTEXT KEY (title)) ENGINE=MyISAM;
    CREATE TABLE counters (id INT PRIMARY KEY, n BIGINT NOT NULL, tag VARCHAR(10), UNIQUE KEY (tag)) ENGINE=Aria;
    CREATE TABLE hot (id INT, v VARCHAR(20), PRIMARY KEY USING BTREE (id)) ENGINE=MEMORY;
    CREATE TRIGGER film_ai AFTER INSERT ON film FOR EACH ROW
        INSERT INTO film_text VALUES (NEW.id, NEW.title);
    CREATE TRIGGER film_au AFTER UPDATE ON film FOR EACH ROW
        UPDATE film_text SET title = NEW.title WHERE film_id = OLD.id;
    CREATE TRIGGER film_ad AFTER DELETE ON film FOR EACH ROW
        DELETE FROM film_text WHERE film_id = OLD.id;
    INSERT INTO counters SELECT seq, 0, CONCAT('t', seq) FROM seq_1_to_20;";

/// Writes to InnoDB and to tables without transactions in the same transactions,
/// with counters (not idempotent) and unique values that move.
async fn mixed_load(url: String, from: i64, iterations: i64) {
    let mut conn = connect(&url).await;
    for i in from..from + iterations {
        let c = i % 20 + 1;
        let mut sql = format!(
            "START TRANSACTION;
             INSERT INTO film VALUES ({i}, 'film {i}', 0);
             UPDATE film SET title = CONCAT(title, '+'), n = n + 1 WHERE id = {};
             UPDATE counters SET n = n + 1 WHERE id = {c};
             REPLACE INTO hot VALUES ({}, 'v{i}');
             COMMIT;",
            i - 1,
            i % 10
        );
        if i % 4 == 0 {
            sql.push_str(&format!("DELETE FROM film WHERE id = {};", i - 3));
        }
        if i % 6 == 0 {
            // Row c's tag moves to the next row; row c gets a new one.
            sql.push_str(&format!(
                "SELECT tag INTO @t FROM counters WHERE id = {c};
                 UPDATE counters SET tag = NULL WHERE id = {c};
                 UPDATE counters SET tag = @t WHERE id = {next};
                 UPDATE counters SET tag = 'n{i}' WHERE id = {c};",
                next = c % 20 + 1
            ));
        }
        conn.execute(sql.as_str()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_without_transactions_migrate_online_exactly_through_kills() {
    let online = Online::new("nontx", NON_TRANSACTIONAL).await;
    mixed_load(online.source.url("nontx"), 1, 60).await;
    let mut config = online.config("nontx");
    config.consistency = Some(Consistency::Flush);
    config.copy.chunk_rows = 4;
    // The copy reads the tables without transactions later than its position.
    let writer = tokio::spawn(mixed_load(online.source.url("nontx"), 61, 80));
    online.copy(&config).await;
    writer.await.unwrap();
    let writer = tokio::spawn(mixed_load(online.source.url("nontx"), 141, 300));
    for round in 0..8u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(60 + round * 41)).await;
        sync.abort();
        let _ = sync.await;
    }
    writer.await.unwrap();
    // Changes of every table for the cutover's run to apply (the killed runs may
    // have applied all the others).
    mixed_load(online.source.url("nontx"), 441, 5).await;
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let mut sync = SyncUnit::new(cutover);
    let progress = sync.progress();
    let result = Online::run(&mut sync).await;
    online.assert_ok(&result);
    online.assert_same();
    let mut engines: Vec<(String, String)> = progress
        .idempotent_tables()
        .into_iter()
        .map(|(_, t, e)| (t, e))
        .collect();
    engines.sort();
    assert_eq!(
        engines,
        [
            ("counters".to_owned(), "Aria".to_owned()),
            ("film_text".to_owned(), "MyISAM".to_owned()),
            ("hot".to_owned(), "MEMORY".to_owned()),
        ]
    );
}

/// A table without a key whose rows repeat, and differ only by case, by trailing
/// spaces, by a FLOAT, by the zero bytes a BINARY pads with.
const KEYLESS: &str = "
    CREATE TABLE heap (a INT, b VARCHAR(10), f FLOAT, d DATETIME(6), bn BINARY(4), t TEXT) ENGINE=InnoDB;
    INSERT INTO heap VALUES
        (1, 'x', 0.1, '2024-01-01 00:00:00.5', X'01', 'a'), (1, 'x', 0.1, '2024-01-01 00:00:00.5', X'01', 'a'),
        (1, 'X', 0.1, '2024-01-01 00:00:00.5', X'01', 'a'), (1, 'x ', 0.1, '2024-01-01 00:00:00.5', X'01', 'a'),
        (1, 'x', 0.2, '2024-01-01 00:00:00.5', X'01', 'a'), (1, 'x', 0.1, '2024-01-01 00:00:00.5', X'0100', 'a'),
        (NULL, NULL, NULL, NULL, NULL, NULL), (NULL, NULL, NULL, NULL, NULL, NULL);";

/// Changes to one copy at a time of rows that repeat.
async fn keyless_load(url: String, from: i64, iterations: i64) {
    let mut conn = connect(&url).await;
    for i in from..from + iterations {
        let sql = format!(
            "INSERT INTO heap VALUES ({i}, 'dup', 1.5, NULL, X'02', 'r'), ({i}, 'dup', 1.5, NULL, X'02', 'r');
             UPDATE heap SET t = CONCAT(t, '+') WHERE a = {i} LIMIT 1;
             UPDATE heap SET b = 'X2' WHERE b = BINARY 'X' LIMIT 1;
             UPDATE heap SET b = 'X' WHERE b = BINARY 'X2' LIMIT 1;
             UPDATE heap SET f = f + 1 WHERE bn = X'01000000' AND b = BINARY 'x ' LIMIT 1;
             DELETE FROM heap WHERE a = {} AND t = 'r' LIMIT 1;
             INSERT INTO heap VALUES (NULL, NULL, NULL, NULL, NULL, NULL);
             DELETE FROM heap WHERE a IS NULL LIMIT 1;",
            i - 2
        );
        conn.execute(sql.as_str()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_without_a_key_migrate_online_one_duplicate_at_a_time() {
    let online = Online::new("keyless", KEYLESS).await;
    let mut config = online.config("keyless");
    config.consistency = Some(Consistency::Flush);
    config.copy.chunk_rows = 3;
    let writer = tokio::spawn(keyless_load(online.source.url("keyless"), 1, 30));
    let mut copy = CopyUnit::new(config.clone());
    let report = copy.report_handle();
    let result = Online::run(&mut copy).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    writer.await.unwrap();
    let notes: Vec<String> = report.report().tables.into_iter().map(|t| t.note).collect();
    assert!(
        notes.len() == 1 && notes[0].starts_with("no usable key: copied whole"),
        "{notes:?}"
    );
    let writer = tokio::spawn(keyless_load(online.source.url("keyless"), 31, 150));
    for round in 0..5u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(80 + round * 53)).await;
        sync.abort();
        let _ = sync.await;
    }
    writer.await.unwrap();
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_key_is_refused_where_it_would_need_idempotent_replay() {
    let online = Online::new("keyrefused", KEYLESS).await;
    for (consistency, engine, says) in [
        (Consistency::None, "InnoDB", "consistency none"),
        (Consistency::Flush, "Aria", "engine has no transactions"),
    ] {
        online
            .source_sql(&format!("ALTER TABLE heap ENGINE={engine}"))
            .await;
        let mut config = online.config("keyrefused");
        config.consistency = Some(consistency);
        let mut copy = CopyUnit::new(config);
        let error = copy
            .init(CancellationToken::new())
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains("keyrefused.heap"), "{error}");
        assert!(error.contains(says), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_versioned_tables_migrate_online_as_their_current_rows_when_asked() {
    let online = Online::new(
        "versioned",
        "CREATE TABLE prices (id INT PRIMARY KEY, price DECIMAL(8,2), u INT, UNIQUE KEY (u)) WITH SYSTEM VERSIONING;
         INSERT INTO prices SELECT seq, seq * 1.5, seq FROM seq_1_to_40;
         UPDATE prices SET price = price + 1 WHERE id <= 10;
         DELETE FROM prices WHERE id = 40;",
    )
    .await;
    let mut config = online.config("versioned");
    // Refused unless asked.
    let error = CopyUnit::new(config.clone())
        .init(CancellationToken::new())
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("versioned.prices") && error.contains("system-versioned"),
        "{error}"
    );
    config.versioned_current_rows = true;
    let mut copy = CopyUnit::new(config.clone());
    let report = copy.report_handle();
    let result = Online::run(&mut copy).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    assert!(
        report.report().tables[0].note.contains("current rows only"),
        "{:?}",
        report.report()
    );
    let load = "INSERT INTO prices VALUES (100, 1.00, 100), (101, 2.00, 101);
                UPDATE prices SET price = price * 2 WHERE id BETWEEN 5 AND 15;
                UPDATE prices SET id = id + 1000 WHERE id = 3;
                DELETE FROM prices WHERE id IN (7, 100);
                START TRANSACTION; UPDATE prices SET u = NULL WHERE id = 20;
                UPDATE prices SET u = 20 WHERE id = 21; COMMIT;";
    online.source_sql(load).await;
    let sync = spawn_sync(&config);
    tokio::time::sleep(Duration::from_millis(400)).await;
    sync.abort();
    let _ = sync.await;
    online
        .source_sql("UPDATE prices SET price = 0 WHERE id = 1; DELETE FROM prices WHERE id = 2")
        .await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    // mariadb-dump prints the current rows (and the definitions, WITH SYSTEM
    // VERSIONING on both sides).
    online.assert_same();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_binary_keys_old_timestamps_and_commented_ddl_replicate_exactly() {
    let (online, config) = Online::copied(
        "fidelity",
        "CREATE TABLE bk (k BINARY(4) PRIMARY KEY, v INT, note VARCHAR(5));
         INSERT INTO bk VALUES (X'01000000', 1, 'a'), (X'00000000', 2, 'b'), (X'0102', 3, 'c');
         SET GLOBAL mysql56_temporal_format = OFF;
         CREATE TABLE oldts (id INT PRIMARY KEY, ts TIMESTAMP NULL, dt DATETIME NULL);
         CREATE TABLE oldtime (id INT PRIMARY KEY, tm TIME NULL);
         SET GLOBAL mysql56_temporal_format = ON;",
    )
    .await;
    online
        .source_sql(
            "UPDATE bk SET v = v + 10 WHERE k = X'01000000';
             DELETE FROM bk WHERE k = X'00000000';
             UPDATE bk SET k = X'05000000' WHERE k = X'01020000';
             INSERT INTO bk VALUES (X'0a0b0c00', 9, 'z');
             SET time_zone = '+03:00';
             INSERT INTO oldts VALUES (1, '2024-02-29 23:59:59', '2024-02-29 23:59:59'),
                                      (2, '1970-01-01 03:00:01', '1000-01-01 00:00:00'),
                                      (3, NULL, NULL);
             UPDATE oldts SET ts = '2038-01-19 06:14:07' WHERE id = 3;
             /*Make it wider*/ ALTER TABLE bk MODIFY note VARCHAR(200);
             INSERT INTO bk VALUES (X'0d000000', 4, REPEAT('w', 150));",
        )
        .await;
    let result = online.cutover(&config).await;
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    // The target creates the tables in the current temporal format; the values agree.
    online.assert_same_but(|dump| dump.replace(" /* mariadb-5.3 */", ""));
    // The old TIME format is refused, naming the column, never misread.
    online
        .source_sql("INSERT INTO oldtime VALUES (1, '-12:34:56')")
        .await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["fidelity.oldtime", "old TIME format"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_the_binlog_does_not_hold_as_rows_stop_replication_saying_why() {
    let online = Online::new("asrows", "").await;
    let cases: [(&str, &str, &str); 2] = [
        (
            "stmt",
            "SET SESSION binlog_format = 'STATEMENT'; INSERT INTO t VALUES (2, 'statement')",
            "DML logged as a statement",
        ),
        (
            "minimal",
            "SET SESSION binlog_row_image = 'MINIMAL'; UPDATE t SET v = 'minimal' WHERE id = 1",
            "binlog_row_image=MINIMAL",
        ),
    ];
    for (db, statement, says) in cases {
        exec(
            &online.source.url(""),
            &format!("CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT PRIMARY KEY, v TEXT); INSERT INTO {db}.t VALUES (1, 'one')"),
        )
        .await;
        let mut config = online.config(db);
        config.filter = Filter {
            databases: vec![db.to_owned()],
            ..Filter::default()
        };
        online.copy(&config).await;
        exec(&online.source.url(db), statement).await;
        exec(&online.source.url(db), "INSERT INTO t VALUES (3, 'after')").await;
        let result = online.cutover(&config).await;
        let error = result
            .errors
            .first()
            .unwrap_or_else(|| panic!("{db}: not refused"));
        assert_eq!(error.err_code, 60009, "{db}: {error:?}");
        assert!(error.message.contains(says), "{db}: {error:?}");
        assert!(!unit_core::Recommended.explain(error).is_resumable());
        // Nothing from the refused event on was applied.
        let applied: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {db}.t"))
            .fetch_one(&mut connect(&online.target.url("")).await)
            .await
            .unwrap();
        assert_eq!(applied, 1, "{db}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_cache_refills_replicate_as_the_sequences_state() {
    let (online, config) = Online::copied(
        "seqs",
        "CREATE SEQUENCE ids START WITH 100 INCREMENT BY 5 CACHE 3;
         CREATE TABLE t (id INT PRIMARY KEY, v INT);
         INSERT INTO t SELECT NEXTVAL(ids), seq FROM seq_1_to_4;",
    )
    .await;
    // Past the cache several times (each refill is a row event of the sequence), and
    // SETVAL and ALTER SEQUENCE.
    online
        .source_sql(
            "INSERT INTO t SELECT NEXTVAL(ids), seq FROM seq_5_to_14;
             SELECT SETVAL(ids, 1000);
             INSERT INTO t VALUES (NEXTVAL(ids), 0);
             ALTER SEQUENCE ids INCREMENT BY 7;
             INSERT INTO t VALUES (NEXTVAL(ids), -1);",
        )
        .await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    // The target's sequence goes on after everything the source could hand out from
    // its cache (as a MariaDB replica's does): no value is given twice.
    let value = |url: String, sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut connect(&url).await)
            .await
            .unwrap()
    };
    let not_cached = value(
        online.source.url("seqs"),
        "SELECT next_not_cached_value FROM ids",
    )
    .await;
    let next = value(online.target.url("seqs"), "SELECT NEXTVAL(ids)").await;
    assert_eq!(next, not_cached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_table_ddl_applies_the_part_about_the_selection() {
    let online = Online::new(
        "chosen",
        "CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE c (id INT PRIMARY KEY);
         INSERT INTO a VALUES (1); INSERT INTO c VALUES (2);",
    )
    .await;
    // `other` is not selected: the target never has it.
    exec(
        &online.source.url(""),
        "CREATE DATABASE other; CREATE TABLE other.b (id INT PRIMARY KEY);
         CREATE TABLE other.x (id INT PRIMARY KEY); CREATE TABLE other.z (id INT PRIMARY KEY);",
    )
    .await;
    let config = online.config("chosen");
    online.copy(&config).await;
    online
        .source_sql(
            "DROP TABLE chosen.a, other.b;
             RENAME TABLE chosen.c TO chosen.d, other.x TO other.y;
             INSERT INTO d VALUES (3);",
        )
        .await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    // A table entering the selection without its rows is refused.
    online.source_sql("RENAME TABLE other.z TO chosen.z").await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["moves chosen.z into the selection"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_travel_as_bytes_and_a_change_over_the_packet_limit_is_refused() {
    let (online, config) = Online::copied(
        "bigrow",
        "CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB, tx LONGTEXT CHARACTER SET utf8mb4,
                         l LONGTEXT CHARACTER SET latin1);
         CREATE TABLE k (b LONGBLOB, n INT);",
    )
    .await;
    exec(
        &online.target.url(""),
        "SET GLOBAL max_allowed_packet = 1048576",
    )
    .await;
    // 850 KB of values: 1.7 MB as hex, over the target's 1 MiB limit, but not as bytes;
    // a table without a key matches its big row by the bytes too.
    online
        .source_sql(
            "INSERT INTO t VALUES (1, RANDOM_BYTES(1000), 'small', 'x');
             INSERT INTO t VALUES (2, REPEAT(X'00FF', 175000), REPEAT('é', 150000), REPEAT('ü', 200000));
             UPDATE t SET b = REPEAT(X'01', 350000), tx = REPEAT('ß', 150000) WHERE id = 2;
             INSERT INTO k VALUES (REPEAT(X'AB', 400000), 1), (REPEAT(X'AB', 400000), 1);
             UPDATE k SET n = 2 LIMIT 1;
             DELETE FROM k WHERE n = 1;",
        )
        .await;
    online.cutover_exact(&config).await;
    // Over the limit even as bytes: refused, never retried for ever.
    online
        .source_sql("INSERT INTO t VALUES (3, REPEAT('x', 1200000), NULL, NULL)")
        .await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["max_allowed_packet", "bigrow.t"]);
    // With a limit that fits, the same change goes through.
    exec(
        &online.target.url(""),
        "SET GLOBAL max_allowed_packet = 16777216",
    )
    .await;
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_runs_with_its_sessions_clock_time_zone_character_set_and_sql_mode() {
    let (online, config) = Online::copied(
        "sessions",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1), (2, 2);",
    )
    .await;
    online
        .source_sql(
            "SET sql_mode = 'REAL_AS_FLOAT,PIPES_AS_CONCAT';
             ALTER TABLE t ADD r REAL, ADD g VARCHAR(10) AS ('a' || 'b') VIRTUAL;
             SET sql_mode = DEFAULT;
             ALTER TABLE t ADD at DATETIME(6) NOT NULL DEFAULT NOW(6);
             SET time_zone = '+05:00';
             ALTER TABLE t ADD ts TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00';
             SET time_zone = DEFAULT;
             SET NAMES latin1;
             ALTER TABLE t ADD twice VARCHAR(20) CHARACTER SET utf8mb4 DEFAULT 'Zürich';
             SET NAMES utf8mb4;
             INSERT INTO t (id, v, r) VALUES (3, 3, 1.5);",
        )
        .await;
    // A latin1 client's bytes, which are not UTF-8.
    online.source.client_bytes(
        "sessions",
        "latin1",
        b"ALTER TABLE t ADD city VARCHAR(20) CHARACTER SET utf8mb4 DEFAULT 'Z\xfcrich';
          INSERT INTO t (id, v) VALUES (4, 4);",
    );
    // A database's new defaults reach the tables created after them.
    online
        .source_sql(
            "ALTER DATABASE sessions CHARACTER SET latin1 COLLATE latin1_bin;
             CREATE TABLE later (id INT PRIMARY KEY, s VARCHAR(10));
             INSERT INTO later VALUES (1, 'café');",
        )
        .await;
    // The apply runs well after the source's clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    online.cutover_exact(&config).await;
    let dump = online.target.dump(std::slice::from_ref(&online.db));
    for expected in ["`r` float", "'Zürich'", "'ZÃ¼rich'", "latin1_bin"] {
        assert!(dump.contains(expected), "no {expected:?} in\n{dump}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_naming_unselected_tables_is_applied_for_the_selection_or_refused() {
    let partitioned = "CREATE TABLE p (id INT PRIMARY KEY) PARTITION BY RANGE (id)
         (PARTITION p0 VALUES LESS THAN (100), PARTITION p1 VALUES LESS THAN MAXVALUE);
         CREATE TABLE q (id INT PRIMARY KEY);
         INSERT INTO p VALUES (1), (200); INSERT INTO q VALUES (5);";
    let stage = "CREATE DATABASE stage; CREATE TABLE stage.x (id INT PRIMARY KEY);
         INSERT INTO stage.x VALUES (7); CREATE TABLE stage.y (id INT PRIMARY KEY, s TEXT);";
    let online = Online::new("picked", partitioned).await;
    exec(&online.source.url(""), stage).await;
    let config = online.config("picked");
    online.copy(&config).await;
    // An unselected table created like another unselected one is nothing to the target;
    // a selected one created like a selected one is applied.
    online
        .source_sql(
            "CREATE TABLE stage.z LIKE stage.y; CREATE TABLE picked.q2 LIKE picked.q;
             INSERT INTO q2 VALUES (6);",
        )
        .await;
    let result = online.cutover(&config).await;
    online.assert_ok(&result);
    online.assert_same();
    online
        .source_sql("CREATE TABLE picked.copied LIKE stage.y")
        .await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["like stage.y, which is not selected"]);
    // Rows swapped in from an unselected table are not in the binlog.
    let online = Online::new("picked", partitioned).await;
    exec(&online.source.url(""), stage).await;
    let config = online.config("picked");
    online.copy(&config).await;
    online
        .source_sql("ALTER TABLE p EXCHANGE PARTITION p0 WITH TABLE stage.x")
        .await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["EXCHANGE PARTITION", "swaps rows"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_follow_the_sources_lower_case_table_names() {
    let fold = ["--lower-case-table-names=1"];
    let online = Online::with_options(
        "folded",
        "CREATE TABLE Orders (id INT PRIMARY KEY, v INT); INSERT INTO Orders VALUES (1, 1);",
        &fold,
        &fold,
    )
    .await;
    let config = online.config("folded");
    online.copy(&config).await;
    online
        .source_sql(
            "ALTER TABLE Folded.ORDERS ADD note TEXT; INSERT INTO orders VALUES (2, 2, 'x');
             CREATE TABLE Later (id INT PRIMARY KEY); INSERT INTO LATER VALUES (1);",
        )
        .await;
    online.cutover_exact(&config).await;
    // A target that compares names exactly would not find them: refused, not skipped.
    let online = Online::with_options(
        "folded",
        "CREATE TABLE orders (id INT PRIMARY KEY, v INT); INSERT INTO orders VALUES (1, 1);",
        &fold,
        &[],
    )
    .await;
    let config = online.config("folded");
    online.copy(&config).await;
    // The check says so up front.
    let items = unit_mysql::CheckUnit::new(config.clone())
        .run_checks()
        .await;
    assert!(
        items.iter().any(
            |i| i.name == "lower_case_table_names" && i.state == unit_mysql::ItemState::Warning
        ),
        "{items:?}"
    );
    online.source_sql("ALTER TABLE Orders ADD note TEXT").await;
    let result = online.cutover(&config).await;
    Online::refused(&result, 60009, &["lower_case_table_names=1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_interrupted_before_or_after_it_ran_is_applied_exactly_once() {
    let (online, config) = Online::copied(
        "swaps",
        "CREATE TABLE a (id INT PRIMARY KEY, v INT); CREATE TABLE b (id INT PRIMARY KEY, v INT);
         INSERT INTO a VALUES (1, 10); INSERT INTO b VALUES (2, 20);",
    )
    .await;
    // Each DDL is interrupted twice, once after it ran (a swap run twice undoes itself)
    // and once before; the rows after it land in the right tables.
    online
        .source_sql(
            "RENAME TABLE a TO tmp, b TO a, tmp TO b; INSERT INTO a VALUES (3, 30);
             ALTER TABLE a ADD note TEXT; INSERT INTO a VALUES (4, 40, 'x');
             ALTER TABLE b RENAME COLUMN v TO w, ADD u INT; INSERT INTO b VALUES (5, 50, 5);",
        )
        .await;
    for point in ["before", "after", "before", "after", "before", "after"] {
        let mut interrupted = config.clone();
        interrupted.sync.ddl_failpoint = Some(point);
        let result = online.cutover(&interrupted).await;
        Online::refused(&result, 60009, &["DDL failpoint"]);
    }
    online.cutover_exact(&config).await;
}

/// A DDL right behind inserts that the workers have not committed yet, interrupted
/// before it ran: the state recorded before it must be the target's once those
/// inserts are in (they move the table's AUTO_INCREMENT), or the rerun finds the
/// table changed, believes the DDL ran, and loses it. A target session holds the
/// inserts back (a lock on the gap they go to) until the DDL has been reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_interrupted_behind_queued_inserts_still_runs_on_the_rerun() {
    use sqlx::Executor;
    let (online, mut config) = Online::copied(
        "queued",
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT);
         INSERT INTO t (v) VALUES (1);",
    )
    .await;
    config.sync.workers = 4;
    online
        .source_sql(
            "INSERT INTO t (v) SELECT seq FROM seq_1_to_100;
             ALTER TABLE t ADD c INT;
             INSERT INTO t (v, c) VALUES (7, 7);",
        )
        .await;
    let mut lock = connect(&online.target.url("queued")).await;
    lock.execute("BEGIN").await.unwrap();
    lock.execute("SELECT * FROM t WHERE id > 1 FOR UPDATE")
        .await
        .unwrap();
    let mut interrupted = config.clone();
    interrupted.sync.ddl_failpoint = Some("before");
    let cutover = {
        let online_config = interrupted.clone();
        tokio::spawn(async move {
            let mut config = online_config;
            config.sync.cutover = true;
            Online::run(&mut SyncUnit::new(config)).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    lock.execute("COMMIT").await.unwrap();
    let result = cutover.await.unwrap();
    Online::refused(&result, 60009, &["DDL failpoint"]);
    online.cutover_exact(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadbs_compressed_events_are_inflated_and_applied_exactly() {
    let online = Online::with_options(
        "squeezed",
        "CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT, b LONGBLOB);
         INSERT INTO t VALUES (1, 'one', NULL);",
        &["--log-bin-compress=ON", "--log-bin-compress-min-len=10"],
        &[],
    )
    .await;
    let config = online.config("squeezed");
    online.copy(&config).await;
    online
        .source_sql(
            "INSERT INTO t VALUES (2, REPEAT('z', 5000), RANDOM_BYTES(900)), (3, 'short', X'00');
             UPDATE t SET v = CONCAT(v, REPEAT('y', 3000)), b = RANDOM_BYTES(700) WHERE id = 1;
             /* a query event over the minimum length, compressed too */
             ALTER TABLE t ADD note VARCHAR(300) NOT NULL DEFAULT 'a default that is long enough to be compressed by the source server';
             INSERT INTO t (id, v, b) VALUES (4, REPEAT('é', 2000), RANDOM_BYTES(1000));
             DELETE FROM t WHERE id = 3;
             INSERT INTO t (id, v) SELECT seq + 10, REPEAT(CHAR(65 + seq % 26), seq) FROM seq_1_to_300;",
        )
        .await;
    online.cutover_exact(&config).await;
}

/// XA transactions, prepared and ended by later statements of other sessions,
/// interleaved with plain ones.
async fn xa_load(url: String, from: i64, count: i64) {
    for i in from..from + count {
        let xid = format!("'k{i}'");
        exec(
            &url,
            &format!(
                "XA START {xid}; INSERT INTO t VALUES ({i}, {i}); UPDATE t SET v = v + 1 WHERE id = 1;
                 XA END {xid}; XA PREPARE {xid}"
            ),
        )
        .await;
        exec(&url, &format!("INSERT INTO t VALUES ({}, 0)", i + 100_000)).await;
        let end = if i % 3 == 0 { "ROLLBACK" } else { "COMMIT" };
        xa_end(&url, &format!("XA {end} {xid}")).await;
    }
}

/// Ends a prepared XA transaction from another session: the server hands it over once
/// it has noticed that the session which prepared it is gone.
async fn xa_end(url: &str, sql: &str) {
    let mut conn = connect(url).await;
    for _ in 0..100 {
        match conn.execute(sql).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("XAE04") => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => {
                other.unwrap();
                return;
            }
        }
    }
    panic!("{sql}: the xid never became free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transactions_are_applied_when_they_commit_exactly_once_through_kills() {
    let (online, config) = Online::copied(
        "twophase",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1);",
    )
    .await;
    online
        .source_sql(
            "XA START 'x1'; INSERT INTO t VALUES (10, 10); UPDATE t SET v = 2 WHERE id = 1;
             XA END 'x1'; XA PREPARE 'x1'",
        )
        .await;
    online.source_sql("INSERT INTO t VALUES (11, 11)").await;
    online
        .source_sql("XA START 'x2'; INSERT INTO t VALUES (12, 12); XA END 'x2'; XA PREPARE 'x2'")
        .await;
    // While they are prepared on the source, the cutover waits for them to end.
    let result = online.cutover(&config).await;
    Online::refused(
        &result,
        60009,
        &[
            "X'7831',X'',1",
            "X'7832',X'',1",
            "neither committed nor rolled back",
        ],
    );
    // Applied as far as the source: the plain row, not the prepared ones.
    let rows: Vec<i32> = sqlx::query_scalar("SELECT id FROM twophase.t ORDER BY id")
        .fetch_all(&mut connect(&online.target.url("")).await)
        .await
        .unwrap();
    assert_eq!(rows, [1, 11]);
    xa_end(&online.source.url("twophase"), "XA COMMIT 'x1'").await;
    xa_end(&online.source.url("twophase"), "XA ROLLBACK 'x2'").await;
    online
        .source_sql(
            "XA START 'x3'; INSERT INTO t VALUES (13, 13); XA END 'x3'; XA COMMIT 'x3' ONE PHASE",
        )
        .await;
    // The unit is dropped again and again while XA transactions come and go.
    let writer = tokio::spawn(xa_load(online.source.url("twophase"), 1000, 40));
    for round in 0..8u64 {
        let sync = spawn_sync(&config);
        tokio::time::sleep(Duration::from_millis(60 + round * 41)).await;
        sync.abort();
        let _ = sync.await;
    }
    writer.await.unwrap();
    online.cutover_exact(&config).await;
    let prepared: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as("XA RECOVER")
        .fetch_all(&mut connect(&online.target.url("")).await)
        .await
        .unwrap();
    assert!(prepared.is_empty(), "{prepared:?}");
}
