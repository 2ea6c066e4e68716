//! Row changes arrive exactly: every column type, keys that change, batched and
//! parallel apply, conflicts, tables without transactions or without a key,
//! system-versioned tables, sequences, large values, compressed events, and changes
//! the binlog does not hold as rows.

use sqlx::Executor;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use unit_core::{Policy, Unit};
use unit_integration_tests::online::{Online, connect, exec, spawn_sync};
use unit_mysql::{Consistency, Filter};
use unit_mysql::{CopyUnit, SyncUnit};

use crate::{LOAD_TABLE, write_load};

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

/// retry that would meet it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_large_values_are_applied_and_one_over_the_limit_is_refused() {
    // The source's packet limit lets a 64 MiB value in, but an update's event (both
    // images) is twice that: the stream must take it as a replica does. Row 2's 64 MiB
    // value goes through the copy.
    let online = Online::with_options(
        "large",
        "CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB, n INT);
         INSERT INTO t VALUES (1, 'small', 0), (2, REPEAT('c', 64 * 1048576), 0);",
        &["--max-allowed-packet=65M"],
        &["--max-allowed-packet=1G"],
    )
    .await;
    let mut config = online.config("large");
    // Receiving and decoding a 128 MiB event in a debug build takes longer than the
    // default 10 s the stream waits for a packet.
    config.sync.stream_timeout = std::time::Duration::from_secs(120);
    online.copy(&config).await;
    for mib in [16, 64] {
        online
            .source_sql(&format!(
                "INSERT INTO t VALUES ({mib}, REPEAT('x', {mib} * 1048576), 0);
                 UPDATE t SET b = REPEAT('y', {mib} * 1048576), n = n + 1 WHERE id = {mib};
                 INSERT INTO t VALUES ({mib} + 1, REPEAT('z', {mib} * 1048576), 0);
                 DELETE FROM t WHERE id = {mib} + 1;"
            ))
            .await;
        online.cutover_exact(&config).await;
    }
    // Over the limit: refused at the event, saying how large it is.
    online
        .source_sql("UPDATE t SET b = REPEAT('w', 16 * 1048576), n = n + 1 WHERE id = 16")
        .await;
    let mut limited = config.clone();
    limited.sync.max_event_bytes = 8 << 20;
    let result = online.cutover(&limited).await;
    Online::refused(
        &result,
        60009,
        &["max_event_bytes", "bytes, over the 8388608"],
    );
    // Its size as the source lists it (an update of a 16 MiB value: both images).
    let message = &result.errors[0].message;
    assert!(!message.contains("more than"), "{message}");
    assert!(message.contains("the binlog event here is 33"), "{message}");
    online.cutover_exact(&config).await;
}

/// ENUM and SET members named by numbers, through the binlog (the binlog carries an
/// ENUM's index and a SET's bits, which the target must take as numbers, not as member
/// names: the copy's issue 28 item 3, here for replication).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_enum_and_set_members_replicate_exactly() {
    let (online, mut config) = Online::copied(
        "numenum",
        "CREATE TABLE t (id INT PRIMARY KEY, a ENUM('0','1'), b ENUM('2','1','x'), c SET('1','0'));
         CREATE TABLE n (a ENUM('0','1'), b ENUM('2','1','x'), c SET('1','0'));
         INSERT INTO t VALUES (1, '1', '2', '0'), (2, '0', 'x', '1,0');
         INSERT INTO n VALUES ('0', '1', '1');",
    )
    .await;
    for workers in [1, 3] {
        config.sync.workers = workers;
        online
            .source_sql(&format!(
                "INSERT INTO t VALUES ({w}0, '0', '1', '1'), ({w}1, '1', '2', '0,1'), ({w}2, NULL, 'x', '');
                 UPDATE t SET a = '0', b = '1', c = '0' WHERE id = 1;
                 DELETE FROM t WHERE id = 2;
                 INSERT INTO n VALUES ('1', '2', '0'), ('0', '1', '1,0');
                 UPDATE n SET b = 'x' WHERE a = '1';
                 DELETE FROM n WHERE c = '1' LIMIT 1;",
                w = workers
            ))
            .await;
        online.cutover_exact(&config).await;
    }
}

/// MariaDB's long unique keys (`UNIQUE` on a TEXT or BLOB column, or on columns too
/// long for an index) keep a hash of the key in a hidden column, which the binlog's
/// row images carry and `information_schema` does not list: replication maps the
/// images to the visible columns, one worker and several. (It stopped at the first
/// change: "the binlog's db.t has 4 columns, the target's 3".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_unique_keys_hidden_hash_columns_replicate_exactly() {
    for workers in [1, 3] {
        let db = format!("longuniq{workers}");
        let (online, mut config) = Online::copied(
            &db,
            "CREATE TABLE lu (id INT PRIMARY KEY, body TEXT, n INT, UNIQUE KEY (body));
             CREATE TABLE lu2 (a BLOB, b VARCHAR(3000), c INT NOT NULL PRIMARY KEY,
                               UNIQUE KEY (a), UNIQUE KEY (b, c));
             INSERT INTO lu VALUES (1, REPEAT('a', 5000), 0), (2, 'b', 0);
             INSERT INTO lu2 VALUES ('x', REPEAT('y', 2500), 1);",
        )
        .await;
        config.sync.workers = workers;
        online
            .source_sql(
                "INSERT INTO lu VALUES (3, REPEAT('c', 60000), 0), (4, NULL, 0), (5, NULL, 1);
                 UPDATE lu SET n = n + 1, body = CONCAT(body, '!') WHERE id <= 3;
                 UPDATE lu SET body = 'moved' WHERE id = 2;
                 DELETE FROM lu WHERE id = 1;
                 INSERT INTO lu VALUES (1, REPEAT('a', 5000), 7);
                 INSERT INTO lu2 VALUES ('z', 'w', 2), (NULL, NULL, 3);
                 UPDATE lu2 SET a = 'xx', b = REPEAT('q', 2999) WHERE c = 1;
                 DELETE FROM lu2 WHERE c = 2;",
            )
            .await;
        online.cutover_exact(&config).await;
    }
}
