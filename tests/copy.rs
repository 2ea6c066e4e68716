//! The copy unit between two real MariaDB servers: every column type round-trips, a
//! killed copy resumes exactly after its last checkpoint, conflicts are never retried.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::Duration;

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use unit_core::{BoxUnit, Policy, Recommended, Subtask, SubtaskConfig, Unit};
use unit_integration_tests::MariaDb;
use unit_mysql::Filter;
use unit_mysql::{CopyUnit, MySqlUrl, TaskConfig, Verification, table_checksum};
use unit_proto::pb::Stage;

const ALL_TYPES: &str = "CREATE TABLE everything (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    i8 TINYINT, u64 BIGINT UNSIGNED, i64 BIGINT, dc DECIMAL(30,10), f FLOAT, d DOUBLE,
    dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(2), y YEAR,
    c CHAR(10), vc VARCHAR(100), tx TEXT, bn BINARY(4), vb VARBINARY(20), bl BLOB,
    bt BIT(10), en ENUM('a','b','c'), st SET('x','y','z'), js JSON, lat VARCHAR(20) CHARACTER SET latin1
) DEFAULT CHARSET=utf8mb4";

const ROWS: &str = "INSERT INTO everything VALUES
 (1, -128, 18446744073709551615, -9223372036854775808, 12345678901234567890.0123456789, 0.1428571428571428, 2.718281828459045,
  '2024-02-29', '2024-02-29 23:59:59.123456', '2038-01-19 03:14:07.999', '-838:59:59.99', 2155,
  'abc', 'héllo 😀 wörld', REPEAT('x', 3000), X'00FF00FF', X'DEADBEEF', X'000102',
  b'1010101010', 'b', 'x,z', '{\"k\": [1, 2.5, null]}', 'café'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, 0, 0, 0, 0, 1e-38, 1.7976931348623157e308, '1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00', 1901,
  '', '', '', X'00000000', X'', X'', b'0', 'a', '', '[]', '')";

async fn exec(url: &str, sql: &str) {
    let url: MySqlUrl = url.parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    conn.execute(sql).await.unwrap();
}

struct Pair {
    source: &'static MariaDb,
    target: MariaDb,
    db: String,
}

impl Pair {
    async fn new(db: &str) -> Pair {
        let source = MariaDb::shared();
        exec(
            &source.url("mysql"),
            &format!("DROP DATABASE IF EXISTS {db}"),
        )
        .await;
        exec(&source.url("mysql"), &format!("CREATE DATABASE {db}")).await;
        Pair {
            source,
            target: MariaDb::start(),
            db: db.to_owned(),
        }
    }

    fn config(&self, chunk_rows: usize) -> TaskConfig {
        let filter = Filter {
            databases: vec![self.db.clone()],
            ..Filter::default()
        };
        let mut c = TaskConfig::new(
            format!("copy-{}", self.db),
            self.source.url(&self.db).parse().unwrap(),
            self.target.url("mysql").parse().unwrap(),
            filter,
        );
        c.copy.chunk_rows = chunk_rows;
        // Tables of a few thousand rows are split too, so that faults hit split tables.
        c.copy.split_rows = 1000;
        c.acquire_timeout = Duration::from_secs(1);
        c
    }

    async fn assert_equal(&self, unit: &CopyUnit) {
        let source = sqlx::MySqlPool::connect_with(self.config(1).source.connect_options())
            .await
            .unwrap();
        let target = sqlx::MySqlPool::connect_with(self.config(1).target.connect_options())
            .await
            .unwrap();
        for t in unit.tables() {
            let a = table_checksum(&source, t, false).await.unwrap();
            let b = table_checksum(&target, t, false).await.unwrap();
            assert_eq!(a, b, "{}", t.display_name());
            // The server's own checksum of the stored rows (same server version on
            // both sides) catches any value that prints alike but is stored otherwise.
            let sql = format!("CHECKSUM TABLE {}", t.qualified());
            let a: (String, Option<i64>) = sqlx::query_as(&sql).fetch_one(&source).await.unwrap();
            let b: (String, Option<i64>) = sqlx::query_as(&sql).fetch_one(&target).await.unwrap();
            assert_eq!(a.1, b.1, "CHECKSUM TABLE {}", t.display_name());
        }
    }
}

async fn run_to_end(config: TaskConfig) -> (Stage, unit_core::SubtaskHandle<TaskConfig>) {
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("copy"), units);
    let stage = h
        .wait_for(|s| matches!(s, Stage::Paused | Stage::Finished))
        .await;
    (stage, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_column_type_round_trips_exactly() {
    let pair = Pair::new("copy_types").await;
    let src = pair.source.url(&pair.db);
    exec(&src, ALL_TYPES).await;
    exec(&src, ROWS).await;
    // The text checksum is the verification between servers of different versions;
    // force it here (both servers are the same version), as it reads every type.
    let mut config = pair.config(2);
    config.verification = Some(Verification::RowText);
    let (stage, h) = run_to_end(config).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    let mut unit = CopyUnit::new(pair.config(2));
    unit.init(CancellationToken::new()).await.unwrap();
    assert!(!unit.is_fresh_task(CancellationToken::new()).await.unwrap());
    pair.assert_equal(&unit).await;
    // Value by value, in the server's own text form.
    let dump = |url: String| async move {
        let url: MySqlUrl = url.parse().unwrap();
        let mut c = MySqlConnection::connect_with(&url.connect_options())
            .await
            .unwrap();
        c.execute("SET time_zone = '+00:00'").await.unwrap();
        let rows = sqlx::raw_sql("SELECT * FROM copy_types.everything ORDER BY id")
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                (0..r.len())
                    .map(|i| r.try_get_unchecked::<Option<Vec<u8>>, _>(i).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        dump(pair.source.url("mysql")).await,
        dump(pair.target.url("mysql")).await
    );
    h.stop().await.unwrap();
    unit.close().await;
}

/// Rows of `copy_keyset.<table>` that `predicate` selects.
async fn count_where(pool: &sqlx::MySqlPool, table: &str, predicate: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM copy_keyset.{table} WHERE {predicate}");
    sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_predicates_select_exactly_the_rows_after_a_key_and_read_an_index_range() {
    // Only reads: the shared server is enough.
    let server = MariaDb::shared();
    exec(&server.url("mysql"), "DROP DATABASE IF EXISTS copy_keyset").await;
    exec(&server.url("mysql"), "CREATE DATABASE copy_keyset").await;
    let src = server.url("copy_keyset");
    exec(
        &src,
        "CREATE TABLE k3 (a INT NOT NULL, b VARCHAR(4) NOT NULL, c INT NOT NULL, v INT, \
         PRIMARY KEY (a, b, c)) DEFAULT CHARSET=utf8mb4",
    )
    .await;
    exec(
        &src,
        "INSERT INTO k3 SELECT x.seq, ELT(1 + y.seq, 'a', 'B', 'é', 'zz'), z.seq, 0 \
         FROM seq_1_to_20 x, seq_0_to_3 y, seq_1_to_5 z",
    )
    .await;
    let url: MySqlUrl = src.parse().unwrap();
    let pool = sqlx::MySqlPool::connect_with(url.connect_options())
        .await
        .unwrap();
    let filter = Filter {
        databases: vec!["copy_keyset".into()],
        ..Filter::default()
    };
    let tables = unit_mysql::discover(&pool, &filter).await.unwrap();
    let k3 = &tables[0];
    // Keys inside, between and outside the stored ones, compared with the row
    // constructor the predicate stands in for.
    for a in [0, 1, 7, 20, 21] {
        for b in ["", "a", "B", "b", "é", "e", "zz", "zzz"] {
            for c in [0, 1, 3, 5, 6] {
                let key = [
                    a.to_string().into_bytes(),
                    b.as_bytes().to_vec(),
                    c.to_string().into_bytes(),
                ];
                let expanded = count_where(&pool, "k3", &k3.after_key(&key)).await;
                let row = count_where(&pool, "k3", &format!("(a, b, c) > ({a}, '{b}', {c})")).await;
                assert_eq!(
                    expanded,
                    row,
                    "after ({a}, {b:?}, {c}): {}",
                    k3.after_key(&key)
                );
            }
        }
    }
    // Four columns and more: every OR nested in the predicate keeps the columns
    // before it equal (AND binds tighter than OR).
    exec(
        &src,
        "CREATE TABLE k4 (a INT NOT NULL, b INT NOT NULL, c INT NOT NULL, d INT NOT NULL, \
         PRIMARY KEY (a, b, c, d))",
    )
    .await;
    exec(
        &src,
        "INSERT INTO k4 SELECT w.seq, x.seq, y.seq, z.seq \
         FROM seq_0_to_2 w, seq_0_to_2 x, seq_0_to_2 y, seq_0_to_2 z",
    )
    .await;
    let tables = unit_mysql::discover(&pool, &filter).await.unwrap();
    let k4 = tables.iter().find(|t| t.name == "k4").unwrap();
    for key in 0..256u32 {
        let v: Vec<u32> = (0..4).map(|i| (key >> (2 * i)) & 3).collect();
        let bytes: Vec<Vec<u8>> = v.iter().map(|n| n.to_string().into_bytes()).collect();
        let expanded = count_where(&pool, "k4", &k4.after_key(&bytes)).await;
        let row = count_where(
            &pool,
            "k4",
            &format!("(a, b, c, d) > ({}, {}, {}, {})", v[0], v[1], v[2], v[3]),
        )
        .await;
        assert_eq!(expanded, row, "after {v:?}: {}", k4.after_key(&bytes));
    }
    // The chunk query reads a range of the primary key, not the whole index.
    let key = [b"10".to_vec(), b"B".to_vec(), b"3".to_vec()];
    let plan = format!(
        "EXPLAIN SELECT * FROM copy_keyset.k3 WHERE {} ORDER BY a, b, c LIMIT 10",
        k3.after_key(&key)
    );
    let row = sqlx::query(&plan).fetch_one(&pool).await.unwrap();
    let access: String = sqlx::Row::try_get(&row, "type").unwrap();
    let index: Option<String> = sqlx::Row::try_get(&row, "key").unwrap();
    assert_eq!(
        (access.as_str(), index.as_deref()),
        ("range", Some("PRIMARY")),
        "{plan}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_copy_resumes_after_its_last_checkpoint_without_duplicates() {
    let pair = Pair::new("copy_resume").await;
    let src = pair.source.url(&pair.db);
    exec(&src, "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(50))").await;
    exec(
        &src,
        "CREATE TABLE b (k1 VARCHAR(20) NOT NULL, k2 INT NOT NULL, v DOUBLE, UNIQUE KEY (k1, k2))",
    )
    .await;
    exec(
        &src,
        "INSERT INTO a SELECT seq, CONCAT('row ', seq) FROM seq_1_to_20000",
    )
    .await;
    exec(&src, "INSERT INTO b SELECT CONCAT(CHAR(65 + seq % 26), CHAR(97 + seq % 7)), seq, seq / 7 FROM seq_1_to_5000").await;

    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(pair.config(100)))];
    let h = Subtask::spawn(SubtaskConfig::new("copy"), units);
    h.wait_for(|s| s == Stage::Running).await;
    // Let some chunks commit, then kill the copy mid-flight.
    loop {
        let status = h.status();
        if let Some(unit_proto::pb::sub_task_status::Status::Load(l)) = status.status {
            if l.finished_bytes > 50_000 {
                break;
            }
        }
        assert!(
            h.stage() == Stage::Running,
            "the copy stopped running before it could be killed: {:?}",
            h.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.kill().await.unwrap();
    // Rows appended beyond the key span the first run split `a` by: the last range is
    // open above (and far from done), so the rerun copies them too.
    exec(
        &src,
        "INSERT INTO a SELECT seq, 'above' FROM seq_20001_to_20500",
    )
    .await;

    // A new run of the same task continues from the checkpoints.
    let (stage, h) = run_to_end(pair.config(100)).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    let mut unit = CopyUnit::new(pair.config(100));
    unit.init(CancellationToken::new()).await.unwrap();
    pair.assert_equal(&unit).await;
    // `a` (integer key, 20,000 rows) was copied as 4 key ranges, `b` (text key) whole;
    // every row was committed exactly once.
    let url: MySqlUrl = pair.target.url("mysql").parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let parts: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT CONVERT(tbl USING utf8mb4) COLLATE utf8mb4_general_ci, COUNT(*), \
         CAST(SUM(rows_copied) AS SIGNED) FROM unit_checkpoint.copy_checkpoint \
         WHERE task = 'copy-copy_resume' GROUP BY tbl ORDER BY tbl",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        parts,
        vec![("a".to_owned(), 4, 20_500), ("b".to_owned(), 1, 5000)]
    );
    h.stop().await.unwrap();
    unit.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_checkpointed_in_the_first_layout_continues_after_its_last_chunk() {
    let pair = Pair::new("copy_upgrade").await;
    let src = pair.source.url(&pair.db);
    let create = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))";
    exec(&src, create).await;
    exec(
        &src,
        "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000",
    )
    .await;
    // What a copy checkpointed in the first layout (one row per table) left behind
    // after committing rows 1 to 1200.
    let tgt = pair.target.url("mysql");
    exec(&tgt, "CREATE DATABASE copy_upgrade").await;
    exec(&pair.target.url("copy_upgrade"), create).await;
    exec(
        &tgt,
        "INSERT INTO copy_upgrade.t SELECT seq, CONCAT('v', seq) FROM seq_1_to_1200",
    )
    .await;
    exec(&tgt, "CREATE DATABASE unit_checkpoint").await;
    exec(
        &tgt,
        "CREATE TABLE unit_checkpoint.copy_checkpoint (task VARCHAR(128) NOT NULL, db VARCHAR(64) NOT NULL, \
         tbl VARCHAR(64) NOT NULL, last_key TEXT NULL, rows_copied BIGINT NOT NULL DEFAULT 0, \
         bytes_copied BIGINT NOT NULL DEFAULT 0, done TINYINT(1) NOT NULL DEFAULT 0, \
         PRIMARY KEY (task, db, tbl)) ENGINE=InnoDB",
    )
    .await;
    exec(
        &tgt,
        "INSERT INTO unit_checkpoint.copy_checkpoint VALUES \
         ('copy-copy_upgrade', 'copy_upgrade', 't', LOWER(HEX('1200')), 1200, 12000, 0)",
    )
    .await;

    let (stage, h) = run_to_end(pair.config(500)).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    let mut unit = CopyUnit::new(pair.config(500));
    unit.init(CancellationToken::new()).await.unwrap();
    pair.assert_equal(&unit).await;
    unit.close().await;
    // The old row became part 0 (never split afterwards) and counts every row once.
    let url: MySqlUrl = tgt.parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let parts: Vec<(i32, Option<String>, i64, i8)> =
        sqlx::query_as("SELECT part, hi, rows_copied, done FROM unit_checkpoint.copy_checkpoint")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(parts, vec![(0, None, 3000, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_row_in_the_target_stops_the_copy_and_is_never_retried() {
    let pair = Pair::new("copy_conflict").await;
    let src = pair.source.url(&pair.db);
    exec(&src, "CREATE TABLE t (id INT PRIMARY KEY, v INT)").await;
    exec(&src, "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)").await;
    let tgt = pair.target.url("mysql");
    exec(&tgt, "CREATE DATABASE copy_conflict").await;
    let create = "CREATE TABLE copy_conflict.t (id INT PRIMARY KEY, v INT)";
    exec(&tgt, create).await;
    exec(&tgt, "INSERT INTO copy_conflict.t VALUES (2, 99)").await;
    let (stage, h) = run_to_end(pair.config(10)).await;
    assert_eq!(stage, Stage::Paused);
    let result = h.status().result.unwrap();
    let e = &result.errors[0];
    assert_eq!((e.err_code, e.err_scope.as_str()), (10006, "downstream"));
    assert!(
        e.raw_cause
            .starts_with("Error 1062 (23000): Duplicate entry '2'"),
        "{e:?}"
    );
    assert!(!is_resumable_error(e));
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_differs_from_its_source_fails_verification_and_is_never_retried() {
    let pair = Pair::new("copy_verify").await;
    let src = pair.source.url(&pair.db);
    exec(&src, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await;
    exec(
        &src,
        "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_50",
    )
    .await;
    let tgt = pair.target.url("mysql");
    for (verification, tamper) in [
        (
            Verification::ChecksumTable,
            "UPDATE copy_verify.t SET v = 'changed' WHERE id = 7",
        ),
        (
            Verification::RowText,
            "UPDATE copy_verify.t SET v = 'changed' WHERE id = 7",
        ),
        (
            Verification::ChecksumTable,
            "DELETE FROM copy_verify.t WHERE id = 50",
        ),
        (
            Verification::RowText,
            "INSERT INTO copy_verify.t VALUES (51, NULL)",
        ),
    ] {
        exec(&tgt, "DROP DATABASE IF EXISTS copy_verify").await;
        exec(&tgt, "DROP DATABASE IF EXISTS unit_checkpoint").await;
        let mut config = pair.config(20);
        config.verification = Some(verification);
        let (stage, h) = run_to_end(config.clone()).await;
        assert_eq!(
            stage,
            Stage::Finished,
            "{verification:?}: {:?}",
            h.status().result
        );
        h.stop().await.unwrap();
        // The copy is done; a rerun of the task only verifies, and finds the change.
        exec(&tgt, tamper).await;
        let (stage, h) = run_to_end(config).await;
        assert_eq!(stage, Stage::Paused, "{verification:?} missed: {tamper}");
        let e = &h.status().result.unwrap().errors[0];
        assert_eq!(e.err_code, 60004, "{e:?}");
        assert!(
            e.message.contains("verification failed for copy_verify.t"),
            "{e:?}"
        );
        assert!(!is_resumable_error(e));
        h.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_another_definition_is_refused() {
    let pair = Pair::new("copy_refuse").await;
    let src = pair.source.url(&pair.db);
    exec(&src, "CREATE TABLE t (id INT PRIMARY KEY)").await;
    exec(&pair.target.url("mysql"), "CREATE DATABASE copy_refuse").await;
    exec(
        &pair.target.url("mysql"),
        "CREATE TABLE copy_refuse.t (id BIGINT PRIMARY KEY)",
    )
    .await;
    let (stage, h) = run_to_end(pair.config(10)).await;
    assert_eq!(stage, Stage::Paused);
    let e = &h.status().result.unwrap().errors[0];
    assert!(
        e.message
            .contains("target table copy_refuse.t exists with a different definition"),
        "{e:?}"
    );
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_unit_reports_each_item_and_refuses_what_cannot_be_copied() {
    use unit_mysql::{CheckUnit, ItemState};
    let pair = Pair::new("check_items").await;
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE good (id INT PRIMARY KEY, s VARCHAR(5) COLLATE utf8mb4_unicode_ci)",
    )
    .await;
    let items = CheckUnit::new(pair.config(10)).run_checks().await;
    assert!(
        items.iter().all(|i| i.state != ItemState::Failure),
        "{items:#?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i.name == "target privileges" && i.state == ItemState::Success)
    );

    // A table without a key is copied whole: a warning; online without a snapshot, or
    // of an engine without transactions, a failure.
    exec(&src, "CREATE TABLE bad (v INT)").await;
    let items = CheckUnit::new(pair.config(10)).run_checks().await;
    let keys: Vec<_> = items.iter().filter(|i| i.name == "table keys").collect();
    assert_eq!(keys.len(), 1, "{items:#?}");
    assert_eq!(keys[0].state, ItemState::Warning, "{items:#?}");
    assert!(
        keys[0]
            .message
            .starts_with("check_items.bad has no primary key")
            && keys[0].message.contains("copied whole"),
        "{:?}",
        keys[0]
    );
    for (consistency, engine, refused) in [
        (unit_mysql::Consistency::Flush, "InnoDB", false),
        (unit_mysql::Consistency::None, "InnoDB", true),
        (unit_mysql::Consistency::Flush, "Aria", true),
    ] {
        exec(&src, &format!("ALTER TABLE bad ENGINE={engine}")).await;
        let mut cfg = pair.config(10);
        cfg.consistency = Some(consistency);
        let items = CheckUnit::new(cfg).run_checks().await;
        let key = items.iter().find(|i| i.name == "table keys").unwrap();
        let expected = if refused {
            ItemState::Failure
        } else {
            ItemState::Warning
        };
        assert_eq!(key.state, expected, "{consistency:?} {engine}: {key:?}");
    }
    exec(&src, "DROP TABLE bad").await;

    // A user without privileges on the source fails the check, unresumably.
    exec(
        &pair.source.url("mysql"),
        "CREATE USER IF NOT EXISTS 'reader'@'%'",
    )
    .await;
    let mut cfg = pair.config(10);
    cfg.source = pair
        .source
        .url_as("reader", "", &pair.db)
        .replace("reader:@", "reader@")
        .parse()
        .unwrap();
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CheckUnit::new(cfg))];
    let h = Subtask::spawn(SubtaskConfig::new("check"), units);
    assert_eq!(
        h.wait_for(|s| matches!(s, Stage::Paused | Stage::Finished))
            .await,
        Stage::Paused
    );
    let status = h.status();
    let e = &status.result.as_ref().unwrap().errors[0];
    assert_eq!(e.err_code, 60003);
    assert!(!is_resumable_error(e));
    let Some(unit_proto::pb::sub_task_status::Status::Check(check)) = status.status else {
        panic!("check status")
    };
    assert!(!check.passed && check.failed >= 1, "{check:?}");
    let detail = String::from_utf8(check.detail).unwrap();
    assert!(detail.contains("source"), "{detail}");
    h.stop().await.unwrap();
}

/// Polls until the subtask is seen paused with an error, and returns that error.
async fn paused_error(
    h: &unit_core::SubtaskHandle<TaskConfig>,
    within: Duration,
) -> unit_proto::pb::ProcessError {
    let deadline = std::time::Instant::now() + within;
    loop {
        let status = h.status();
        if status.stage() == Stage::Paused {
            if let Some(e) = status.result.and_then(|r| r.errors.into_iter().next()) {
                return e;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never paused with an error: {:?}",
            h.status()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for the copy to finish, stops it, and checks the data on both sides.
async fn finish(
    h: unit_core::SubtaskHandle<TaskConfig>,
    checker: tokio::task::JoinHandle<unit_core::Exit>,
    pair: &Pair,
    within: Duration,
) {
    let done = tokio::time::timeout(within, h.wait_for(|s| s == Stage::Finished)).await;
    assert!(done.is_ok(), "{:?}", h.status());
    checker.abort();
    h.stop().await.unwrap();
    assert_copied(pair).await;
}

/// A fast auto-resume for tests: checks every 200 ms, backs off 100 ms to 1 s.
fn fast_auto_resume() -> unit_core::AutoResume {
    let mut config = unit_core::AutoResumeConfig::default();
    config.check_interval = Duration::from_millis(200);
    config.backoff = unit_core::BackoffConfig {
        factor: 2.0,
        min: Duration::from_millis(100),
        max: Duration::from_secs(1),
        jitter: false,
    };
    unit_core::AutoResume::new(config).unwrap()
}

async fn seed_big(pair: &Pair) {
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(200), d DOUBLE)",
    )
    .await;
    exec(
        &src,
        "CREATE TABLE b (id BIGINT UNSIGNED PRIMARY KEY, t TEXT)",
    )
    .await;
    exec(
        &src,
        "INSERT INTO a SELECT seq, REPEAT(CHAR(65 + seq % 26), 100), seq / 3 FROM seq_1_to_60000",
    )
    .await;
    exec(
        &src,
        "INSERT INTO b SELECT seq, REPEAT('é', seq % 50) FROM seq_1_to_30000",
    )
    .await;
}

/// Runs the copy under auto-resume, calls `fault` once `trigger_bytes` are copied,
/// and returns how many times the subtask paused before finishing.
async fn copy_through_fault<F, Fut>(pair: &Pair, trigger_bytes: i64, fault: F) -> usize
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(pair.config(500)))];
    let h = Subtask::spawn(SubtaskConfig::new("fault"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    let mut stages = h.watch_stage();
    let watcher = h.clone();
    let pauses = tokio::spawn(async move {
        let mut pauses = 0;
        while stages.changed().await.is_ok() {
            match *stages.borrow_and_update() {
                Stage::Paused => {
                    pauses += 1;
                    let status = watcher.status();
                    if status.stage() == Stage::Paused {
                        let result = status.result.unwrap_or_default();
                        assert!(
                            !result.errors.is_empty() && !result.is_canceled,
                            "paused without an error: {result:?}"
                        );
                        assert!(result.errors.iter().all(is_resumable_error), "{result:?}");
                    }
                }
                Stage::Finished | Stage::Stopped => break,
                _ => {}
            }
        }
        pauses
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(unit_proto::pb::sub_task_status::Status::Load(l)) = h.status().status {
            if l.finished_bytes > trigger_bytes {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline && h.stage() != Stage::Finished,
            "finished or stuck before the fault: {:?}",
            h.status()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fault().await;
    let done = tokio::time::timeout(
        Duration::from_secs(180),
        h.wait_for(|s| s == Stage::Finished),
    )
    .await;
    assert!(done.is_ok(), "did not finish: {:?}", h.status());
    checker.abort();
    h.stop().await.unwrap();
    pauses.await.unwrap()
}

async fn assert_copied(pair: &Pair) {
    let mut unit = CopyUnit::new(pair.config(500));
    unit.init(CancellationToken::new()).await.unwrap();
    pair.assert_equal(&unit).await;
    unit.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_killed_with_sigkill_and_restarted_mid_copy_is_auto_resumed() {
    let pair = Pair::new("fault_sigkill").await;
    seed_big(&pair).await;
    let pauses = copy_through_fault(&pair, 1_000_000, || async {
        pair.target.kill9();
        // Longer than the pool's acquire timeout, so the outage is seen, not absorbed.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        pair.target.restart();
    })
    .await;
    assert!(pauses >= 1, "the fault paused the copy");
    assert_copied(&pair).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_between_chunks_lose_and_repeat_nothing() {
    let pair = Pair::new("copy_pause").await;
    seed_big(&pair).await;
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(pair.config(300)))];
    let h = Subtask::spawn(SubtaskConfig::new("pause"), units);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if h.stage() == Stage::Finished {
            break;
        }
        h.pause().await.unwrap();
        assert_eq!(h.stage(), Stage::Paused);
        assert!(h.status().result.unwrap().is_canceled);
        h.resume().await.unwrap();
    }
    let done = tokio::time::timeout(
        Duration::from_secs(120),
        h.wait_for(|s| s == Stage::Finished),
    )
    .await;
    assert!(done.is_ok(), "{:?}", h.status());
    h.stop().await.unwrap();
    assert_copied(&pair).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_cuts_and_delays_through_a_fault_proxy_are_auto_resumed() {
    use unit_integration_tests::FaultProxy;
    let pair = Pair::new("fault_net").await;
    seed_big(&pair).await;
    let target_port: u16 = pair
        .target
        .url("")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(target_port).await;
    let mut config = pair.config(500);
    config.target = proxy.url("mysql").parse().unwrap();
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("net"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    let progress = |h: &unit_core::SubtaskHandle<TaskConfig>| match h.status().status {
        Some(unit_proto::pb::sub_task_status::Status::Load(l)) => l.finished_bytes,
        _ => 0,
    };
    while progress(&h) < 500_000 {
        assert_ne!(h.stage(), Stage::Finished);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Slow the network down, then cut every connection until a cut lands on a
    // statement in flight (a cut between statements is absorbed by the pool).
    proxy.set_delay(Duration::from_millis(20));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let e = loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if let Some(e) = h.status().result.and_then(|r| r.errors.into_iter().next()) {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cut paused the copy: {:?}",
            h.status()
        );
        proxy.cut();
    };
    assert!(is_resumable_error(&e), "{e:?}");
    proxy.set_delay(Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(400)).await;
    proxy.cut();
    finish(h, checker, &pair, Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_with_the_copy_is_resolved_whichever_side_is_the_victim() {
    let pair = Pair::new("fault_deadlock").await;
    let src = pair.source.url(&pair.db);
    exec(&src, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await;
    exec(
        &src,
        "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000",
    )
    .await;
    let tgt = pair.target.url("mysql");
    exec(&tgt, "CREATE DATABASE fault_deadlock").await;
    exec(
        &tgt,
        "CREATE TABLE fault_deadlock.t (id INT PRIMARY KEY, v VARCHAR(20))",
    )
    .await;
    // The other transaction: a large one (so InnoDB prefers the copy as the victim),
    // holding row 10, which the copy's first chunk needs after inserting rows 1 to 9.
    let url: MySqlUrl = tgt.parse().unwrap();
    let mut other = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    other.execute("BEGIN").await.unwrap();
    other
        .execute("INSERT INTO fault_deadlock.t SELECT seq, 'other' FROM seq_10001_to_12000")
        .await
        .unwrap();
    other
        .execute("INSERT INTO fault_deadlock.t VALUES (10, 'other')")
        .await
        .unwrap();

    // One stream, so that the INSERT seen waiting below waits for row 10 (with
    // the table split, other key ranges would be inserting as well).
    let mut config = pair.config(500);
    config.copy.split_rows = 0;
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("deadlock"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    let mut admin = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    // MariaDB's INNODB_TRX leaves out a transaction that waits inside an INSERT, so
    // the wait is read from the engine's own report of its lock waits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (_, _, status): (String, String, String) = sqlx::query_as("SHOW ENGINE INNODB STATUS")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if status.contains("WAITING")
            && status.contains("of table `fault_deadlock`.`t` trx id")
            && (status.contains("INSERT INTO `fault_deadlock`")
                || status.contains("INTO TABLE `fault_deadlock`"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the copy never waited for row 10:\n{status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Close the cycle: the copy holds row 5.
    let other_result = sqlx::query("SELECT * FROM fault_deadlock.t WHERE id = 5 FOR UPDATE")
        .fetch_all(&mut other)
        .await;
    let other_was_victim = matches!(
        &other_result,
        Err(e) if unit_mysql::server_error(e).is_some_and(|d| d.number() == 1213)
    );
    if !other_was_victim {
        let e = paused_error(&h, Duration::from_secs(30)).await;
        assert!(e.raw_cause.starts_with("Error 1213 (40001)"), "{e:?}");
        assert!(is_resumable_error(&e));
    }
    let _ = other.execute("ROLLBACK").await;
    finish(h, checker, &pair, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_of_wide_rows_are_split_below_max_allowed_packet() {
    let pair = Pair::new("copy_wide").await;
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE w (id INT PRIMARY KEY, body LONGTEXT, raw LONGBLOB)",
    )
    .await;
    // 200 rows of about 300 KB: one 500-row chunk is 60 MB, far above the 16 MB packet.
    exec(&src, "INSERT INTO w SELECT seq, REPEAT(CHAR(97 + seq % 26), 200000), UNHEX(REPEAT(LPAD(HEX(seq % 256), 2, '0'), 100000)) FROM seq_1_to_200").await;
    let (stage, h) = run_to_end(pair.config(500)).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    assert_copied(&pair).await;
}

/// A copy that will run into a lock: `t` (5000 rows) on the source, the same empty table
/// on the target with a next-key lock held over ids 1000 to 2000, the copy running under
/// auto-resume.
struct LockedCopy {
    holder: MySqlConnection,
    admin: MySqlConnection,
    h: unit_core::SubtaskHandle<TaskConfig>,
    checker: tokio::task::JoinHandle<unit_core::Exit>,
}

impl LockedCopy {
    async fn start(pair: &Pair, lock_wait_timeout: Option<u32>) -> LockedCopy {
        let src = pair.source.url(&pair.db);
        exec(&src, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await;
        exec(
            &src,
            "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_5000",
        )
        .await;
        let tgt = pair.target.url("mysql");
        if let Some(secs) = lock_wait_timeout {
            exec(
                &tgt,
                &format!("SET GLOBAL innodb_lock_wait_timeout = {secs}"),
            )
            .await;
        }
        exec(&tgt, &format!("CREATE DATABASE {}", pair.db)).await;
        exec(
            &tgt,
            &format!(
                "CREATE TABLE {}.t (id INT PRIMARY KEY, v VARCHAR(20))",
                pair.db
            ),
        )
        .await;
        let url: MySqlUrl = tgt.parse().unwrap();
        let mut holder = MySqlConnection::connect_with(&url.connect_options())
            .await
            .unwrap();
        holder.execute("BEGIN").await.unwrap();
        let lock = format!(
            "SELECT * FROM {}.t WHERE id BETWEEN 1000 AND 2000 FOR UPDATE",
            pair.db
        );
        holder.execute(lock.as_str()).await.unwrap();
        let admin = MySqlConnection::connect_with(&url.connect_options())
            .await
            .unwrap();
        let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(pair.config(500)))];
        let h = Subtask::spawn(SubtaskConfig::new("locked"), units);
        let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
        LockedCopy {
            holder,
            admin,
            h,
            checker,
        }
    }

    /// Releases the lock, waits for the copy to finish, and checks the data.
    async fn release_and_finish(mut self, pair: &Pair) {
        self.holder.execute("ROLLBACK").await.unwrap();
        finish(self.h, self.checker, pair, Duration::from_secs(60)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_wait_timeout_on_the_target_is_auto_resumed_once_the_lock_is_gone() {
    let pair = Pair::new("fault_lock").await;
    let copy = LockedCopy::start(&pair, Some(1)).await;
    // The copy pauses on 1205 (resumable) and keeps being resumed while the lock is held.
    let e = paused_error(&copy.h, Duration::from_secs(60)).await;
    assert!(e.raw_cause.starts_with("Error 1205 (HY000)"), "{e:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    copy.release_and_finish(&pair).await;
}

/// Kills (`KILL <what>`) the copy's write (a LOAD DATA, or an INSERT), held up by the lock, until the copy pauses
/// with an error, which it returns; the copy is then let through and must finish exactly.
async fn kill_locked_insert(db: &str, what: &str) -> unit_proto::pb::ProcessError {
    let pair = Pair::new(db).await;
    let mut copy = LockedCopy::start(&pair, None).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let e = loop {
        if let Some(e) = copy
            .h
            .status()
            .result
            .and_then(|r| r.errors.into_iter().next())
        {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            copy.h.status()
        );
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'INSERT INTO `{db}`%' \
             OR INFO LIKE 'LOAD DATA LOCAL INFILE %INTO TABLE `{db}`%'"
        ))
        .fetch_all(&mut copy.admin)
        .await
        .unwrap();
        for id in ids {
            let _ = copy
                .admin
                .execute(format!("KILL {what} {id}").as_str())
                .await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(is_resumable_error(&e), "{e:?}");
    copy.release_and_finish(&pair).await;
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_of_the_copy_is_auto_resumed() {
    let e = kill_locked_insert("fault_killquery", "QUERY").await;
    assert!(e.raw_cause.starts_with("Error 1317 (70100)"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_of_the_copy_is_auto_resumed() {
    let e = kill_locked_insert("fault_killconn", "CONNECTION").await;
    // The statement was in flight: its outcome is unknown (or the server said goodbye).
    let lost = e.err_code == 10003 && e.raw_cause.starts_with("invalid connection (");
    assert!(lost || e.raw_cause.starts_with("Error 1927"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_row_hash_catches_moved_nulls_swapped_values_and_any_changed_value() {
    // Only reads and local tables: the shared server is enough.
    let server = MariaDb::shared();
    exec(&server.url("mysql"), "DROP DATABASE IF EXISTS copy_hash").await;
    exec(&server.url("mysql"), "CREATE DATABASE copy_hash").await;
    let db = server.url("copy_hash");
    exec(
        &db,
        "CREATE TABLE base (id INT PRIMARY KEY, c1 VARCHAR(10), c2 VARCHAR(10), i BIGINT, \
         d DECIMAL(10,2), f FLOAT, g DOUBLE, t DATETIME(6), b VARBINARY(8), e ENUM('a','b',''), \
         s SET('x','y'), bt BIT(8), j JSON, u UUID, l TEXT CHARACTER SET latin1) DEFAULT CHARSET=utf8mb4",
    )
    .await;
    exec(
        &db,
        "INSERT INTO base VALUES \
         (1, NULL, 'a', 1, 1.50, 0.5, 0.25, '2024-01-01 00:00:00.000001', X'00', 'a', 'x', b'1', '[1]', \
          '00000000-0000-0000-0000-000000000001', 'é'), \
         (2, 'ab', 'c', -2, -2.25, 1.5, 2.5, '2024-01-02 00:00:00', X'0102', '', 'x,y', b'10', '{}', \
          '00000000-0000-0000-0000-000000000002', 'x'), \
         (3, 'a|b', 'c', 3, 0, 0.1, 0.1, '2024-01-03 00:00:00', X'', 'b', '', b'0', 'null', NULL, ''), \
         (4, 'x|0|y', 'z', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await;
    let url: MySqlUrl = db.parse().unwrap();
    let pool = sqlx::MySqlPool::connect_with(url.connect_options())
        .await
        .unwrap();
    let checksum = |name: &'static str| {
        let pool = pool.clone();
        async move {
            let filter = Filter {
                databases: vec!["copy_hash".into()],
                tables: vec![format!("copy_hash.{name}")],
                ..Filter::default()
            };
            let tables = unit_mysql::discover(&pool, &filter).await.unwrap();
            table_checksum(&pool, &tables[0], false).await.unwrap()
        }
    };
    let base = checksum("base").await;
    let copy = |mutation: &'static str| {
        let db = db.clone();
        async move {
            exec(&db, "DROP TABLE IF EXISTS m").await;
            exec(&db, "CREATE TABLE m LIKE base").await;
            exec(&db, "INSERT INTO m SELECT * FROM base").await;
            if !mutation.is_empty() {
                exec(&db, &format!("SET SESSION sql_mode = ''; {mutation}")).await;
            }
        }
    };
    copy("").await;
    assert_eq!(checksum("m").await, base, "an exact copy hashes alike");
    for mutation in [
        // A NULL moved to the next column: (1, NULL, 'a') against (1, 'a', NULL).
        "UPDATE m SET c1 = 'a', c2 = NULL WHERE id = 1",
        // A boundary moved between two columns: ('ab', 'c') against ('a', 'bc').
        "UPDATE m SET c1 = 'a', c2 = 'bc' WHERE id = 2",
        // A separator inside a value: ('a|b', 'c') against ('a', 'b|c').
        "UPDATE m SET c1 = 'a', c2 = 'b|c' WHERE id = 3",
        // ... and one that looks like a NULL flag: ('x|0|y', 'z') against ('x', 'y|0|z').
        "UPDATE m SET c1 = 'x', c2 = 'y|0|z' WHERE id = 4",
        // Values swapped between columns and between rows.
        "UPDATE m SET c1 = c2, c2 = c1 WHERE id = 2",
        "UPDATE m SET i = 4 - i WHERE id IN (1, 3)",
        // One changed value in each type.
        "UPDATE m SET i = 2 WHERE id = 1",
        "UPDATE m SET d = 1.51 WHERE id = 1",
        "UPDATE m SET f = 0.50001 WHERE id = 1",
        "UPDATE m SET g = 0.25000000000000006 WHERE id = 1",
        "UPDATE m SET t = '2024-01-01 00:00:00.000002' WHERE id = 1",
        "UPDATE m SET b = X'0000' WHERE id = 1",
        "UPDATE m SET e = 'nope' WHERE id = 2",
        "UPDATE m SET s = 'y' WHERE id = 1",
        "UPDATE m SET bt = b'11' WHERE id = 1",
        "UPDATE m SET j = '[1 ]' WHERE id = 1",
        "UPDATE m SET u = '00000000-0000-0000-0000-000000000003' WHERE id = 1",
        "UPDATE m SET l = 'è' WHERE id = 1",
        "UPDATE m SET l = NULL WHERE id = 3",
        // A row more, a row less.
        "INSERT INTO m (id) VALUES (5)",
        "DELETE FROM m WHERE id = 3",
    ] {
        copy(mutation).await;
        assert_ne!(checksum("m").await, base, "not caught: {mutation}");
    }
}

/// Whether the recommended policy (what auto-resume uses) resumes `e`.
fn is_resumable_error(e: &unit_proto::pb::ProcessError) -> bool {
    Recommended.explain(e).is_resumable()
}

/// A copy limited to a number of rows (or bytes) per second takes at least the time
/// the limit implies for what it writes, all parts together, and still ends exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_limited_per_second_takes_the_time_the_limit_implies() {
    let pair = Pair::new("copy_throttled").await;
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE t (id INT PRIMARY KEY, v CHAR(100) NOT NULL);
         INSERT INTO t SELECT seq, REPEAT('x', 100) FROM seq_1_to_6000",
    )
    .await;
    // 6,000 rows at 2,000 a second: 3 s at least.
    let mut config = pair.config(500);
    config.copy.max_rows_per_second = Some(2_000);
    let took = timed_copy(&pair, config).await;
    assert!(took >= Duration::from_secs(3), "took {took:?}");

    // About 6,000 x 104 value bytes (the id's digits and 100 characters) at
    // 200,000 a second: 3 s at least.
    let tgt = pair.target.url("mysql");
    exec(&tgt, &format!("DROP DATABASE {}", pair.db)).await;
    exec(&tgt, "DROP DATABASE unit_checkpoint").await;
    let mut config = pair.config(500);
    config.copy.max_bytes_per_second = Some(200_000);
    let took = timed_copy(&pair, config).await;
    assert!(took >= Duration::from_secs(3), "took {took:?}");
}

/// Runs a copy to its end, checks that it finished exact; how long it took.
async fn timed_copy(pair: &Pair, config: TaskConfig) -> Duration {
    let started = std::time::Instant::now();
    let (stage, h) = run_to_end(config).await;
    let took = started.elapsed();
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    assert_copied(pair).await;
    took
}

/// The load guard: while the source runs more threads than the limit, the copy writes
/// nothing; once they end, it goes on and ends exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_guard_holds_the_copy_while_the_source_is_busy() {
    let pair = Pair::new("copy_guarded").await;
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000",
    )
    .await;
    // Twelve sessions running for 6 s: Threads_running above 8.
    let url: MySqlUrl = src.parse().unwrap();
    let mut sleepers = Vec::new();
    for _ in 0..12 {
        let options = url.connect_options();
        sleepers.push(tokio::spawn(async move {
            let mut conn = MySqlConnection::connect_with(&options).await.unwrap();
            conn.execute("SELECT SLEEP(6)").await.unwrap();
        }));
    }
    let mut admin = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let running = "SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS \
                   WHERE VARIABLE_NAME = 'THREADS_RUNNING'";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sqlx::query_scalar::<_, i64>(running)
        .fetch_one(&mut admin)
        .await
        .unwrap()
        <= 8
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleepers never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut config = pair.config(100);
    config.copy.max_source_threads_running = Some(8);
    let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("guarded"), units);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let written = match h.status().status {
        Some(unit_proto::pb::sub_task_status::Status::Load(l)) => l.finished_bytes,
        _ => 0,
    };
    assert_eq!(written, 0, "the copy wrote while the source was busy");
    assert_eq!(h.stage(), Stage::Running);
    for sleeper in sleepers {
        sleeper.await.unwrap();
    }
    let stage = tokio::time::timeout(
        Duration::from_secs(60),
        h.wait_for(|s| matches!(s, Stage::Paused | Stage::Finished)),
    )
    .await
    .expect("the copy went on once the source was quiet");
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    assert_copied(&pair).await;
}

/// The target's count of `LOAD DATA` statements.
async fn loads(pair: &Pair) -> u64 {
    let url: MySqlUrl = pair.target.url("mysql").parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let (_, n): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Com_load'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    n.parse().unwrap()
}

/// A table of the values a load could read otherwise than an INSERT writes them:
/// separators, escapes and NUL bytes in text and bytes, the words `NULL` and `\N`,
/// empty strings beside NULLs, text in latin1, BIT, ENUM labels that are numbers,
/// SET, JSON with escapes, FLOAT, DOUBLE, DECIMAL, a zero date, TIMESTAMP, YEAR,
/// UUID, INET6, POINT and a stored generated column; and 3,000 rows of bytes and
/// text full of tabs, newlines and backslashes.
async fn seed_awkward_values(pair: &Pair) {
    let src = pair.source.url(&pair.db);
    exec(
        &src,
        "CREATE TABLE v (id INT PRIMARY KEY, t VARCHAR(60), l VARCHAR(20) CHARACTER SET latin1, \
         b VARBINARY(40), bl BLOB, bt BIT(10), e ENUM('1','2','a'), s SET('x','y'), j JSON, \
         f FLOAT, d DOUBLE, dc DECIMAL(20,6), dt DATETIME(6), ts TIMESTAMP(3) NULL, y YEAR, \
         u UUID, i6 INET6, g POINT, n INT, gen INT AS (id * 2) STORED) DEFAULT CHARSET=utf8mb4",
    )
    .await;
    exec(
        &src,
        "SET SESSION sql_mode = ''; INSERT INTO v (id, t, l, b, bl, bt, e, s, j, f, d, dc, dt, ts, y, u, i6, g, n) VALUES \
         (1, CONCAT('a', CHAR(9), 'b', CHAR(10), 'c', CHAR(92), 'd', CHAR(0), 'e', CHAR(13)), 'caf\u{e9}', \
          X'5C090A000D4E', X'', b'1010101010', '2', 'x,y', '{\"k\": \"a\\\\tb\\\\n\"}', 0.1, 1e308, -12345678.000001, \
          '0000-00-00 00:00:00', '2024-02-29 12:00:00.123', 2155, '00000000-0000-0000-0000-000000000001', '::1', \
          POINT(1, 2), -7), \
         (2, 'NULL', '\\\\N', X'5C4E', NULL, b'0', 3, '', 'null', -0, -1.5e-300, 0, \
          '2024-01-01 00:00:00', NULL, 1901, NULL, NULL, NULL, NULL), \
         (3, '', '', '', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0), \
         (4, NULL, NULL, NULL, NULL, NULL, 'a', 'y', '[\"\\\\\\\\\"]', 3.4e38, 2.5, 1, NULL, NULL, 0, NULL, NULL, NULL, NULL)",
    )
    .await;
    exec(
        &src,
        "INSERT INTO v (id, t, b, bl, n) SELECT seq + 100, \
         CONCAT(seq, CHAR(9), CHAR(92), 'N', CHAR(10), CHAR(92)), \
         UNHEX(SHA2(seq, 256)), UNHEX(SHA2(-seq, 512)), seq FROM seq_1_to_3000",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_are_loaded_with_load_data_local_and_every_value_lands_as_inserted() {
    let pair = Pair::new("copy_load").await;
    seed_awkward_values(&pair).await;
    let before = loads(&pair).await;
    // Every statement the target runs, to tell loads from inserts.
    exec(
        &pair.target.url("mysql"),
        "SET GLOBAL log_output = 'TABLE'; SET GLOBAL general_log = 1",
    )
    .await;
    let (stage, h) = run_to_end(pair.config(500)).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    exec(&pair.target.url("mysql"), "SET GLOBAL general_log = 0").await;
    // 3,004 rows in 500-row chunks over key ranges: at least 7 loads.
    let loaded = loads(&pair).await - before;
    assert!(loaded >= 7, "{loaded} LOAD DATA statements");
    // And no chunk fell back to INSERT (a load rolled back and retried as inserts
    // would count as a load above): no INSERT into the table at all.
    let url: MySqlUrl = pair.target.url("mysql").parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let (loads_logged, inserts_logged): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(argument LIKE 'LOAD DATA%') AS SIGNED), \
                CAST(SUM(argument LIKE 'INSERT%INTO `copy_load`.`v`%') AS SIGNED) \
         FROM mysql.general_log WHERE command_type IN ('Query', 'Execute')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(loads_logged >= 7, "{loads_logged} loads in the general log");
    assert_eq!(inserts_logged, 0, "chunks written with INSERT");
    assert_copied(&pair).await;
    let dbs = [pair.db.clone()];
    assert_eq!(pair.source.dump(&dbs), pair.target.dump(&dbs));

    // The same values inserted (load_data_local off) land the same, without a load.
    let inserted = Pair::new("copy_load_off").await;
    seed_awkward_values(&inserted).await;
    let mut config = inserted.config(500);
    config.copy.load_data_local = false;
    let before = loads(&inserted).await;
    let (stage, h) = run_to_end(config).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    assert_eq!(loads(&inserted).await, before);
    let dbs = [inserted.db.clone()];
    assert_eq!(inserted.source.dump(&dbs), inserted.target.dump(&dbs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_refusing_load_data_local_is_written_with_inserts() {
    let pair = Pair::new("copy_noload").await;
    seed_awkward_values(&pair).await;
    exec(&pair.target.url("mysql"), "SET GLOBAL local_infile = 0").await;
    let (stage, h) = run_to_end(pair.config(500)).await;
    assert_eq!(stage, Stage::Finished, "{:?}", h.status().result);
    h.stop().await.unwrap();
    assert_copied(&pair).await;
    let dbs = [pair.db.clone()];
    assert_eq!(pair.source.dump(&dbs), pair.target.dump(&dbs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_unit_passes_the_unit_test_kit() {
    let pair = Pair::new("copy_kit").await;
    seed_big(&pair).await;
    let kit = unit_core::testing::Kit::default();
    let result = kit
        .cancel_is_prompt(CopyUnit::new(pair.config(300)), Duration::from_millis(200))
        .await
        .unwrap();
    assert!(result.is_canceled, "{result:?}");
    let report = kit
        .resumes_after_kills(
            || CopyUnit::new(pair.config(300)),
            || async {
                assert_copied(&pair).await;
                // Every row counted once by the checkpoints: no chunk was written twice.
                let url: MySqlUrl = pair.target.url("mysql").parse().unwrap();
                let mut conn = MySqlConnection::connect_with(&url.connect_options())
                    .await
                    .unwrap();
                let copied: i64 = sqlx::query_scalar(
                    "SELECT CAST(SUM(rows_copied) AS SIGNED) FROM unit_checkpoint.copy_checkpoint",
                )
                .fetch_one(&mut conn)
                .await
                .unwrap();
                assert_eq!(copied, 90_000);
                Ok(())
            },
        )
        .await
        .unwrap();
    assert!(report.kills >= 2, "{report:?}");
}

/// `concurrency` far above what the source allows (`max_connections = 30`) is capped
/// so that a tenth of the connections stays free for the application: the copy
/// finishes exactly, and a client of the source can connect while it runs. (With 500
/// the copy opened connections until the server refused them, 1040, application
/// included.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_capped_by_the_servers_max_connections() {
    let source = MariaDb::start_with(vec!["--max-connections=30".into()]);
    let target = MariaDb::start();
    exec(
        &source.url("mysql"),
        "CREATE DATABASE capped; CREATE TABLE capped.t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO capped.t SELECT seq, CONCAT('v', seq) FROM seq_1_to_20000;",
    )
    .await;
    let filter = Filter {
        databases: vec!["capped".into()],
        ..Filter::default()
    };
    let mut config = TaskConfig::new(
        "capped",
        source.url("").parse().unwrap(),
        target.url("").parse().unwrap(),
        filter,
    );
    config.copy.chunk_rows = 20;
    config.copy.split_rows = 100;
    config.copy.concurrency = 500;
    let most_seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watch = tokio::spawn({
        let url = source.url("");
        let most_seen = most_seen.clone();
        async move {
            // One connection of our own, opened first: the application.
            let url: MySqlUrl = url.parse().unwrap();
            let mut app = MySqlConnection::connect_with(&url.connect_options())
                .await
                .unwrap();
            loop {
                let row: (String, String) =
                    sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
                        .fetch_one(&mut app)
                        .await
                        .unwrap();
                let n: u64 = row.1.parse().unwrap();
                most_seen.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let (stage, h) = run_to_end(config).await;
    watch.abort();
    let status = h.status();
    assert_eq!(stage, Stage::Finished, "{status:?}");
    let most = most_seen.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        (2..=27).contains(&most),
        "{most} connections at most on a server of 30"
    );
    let dbs = ["capped".to_owned()];
    assert_eq!(source.dump(&dbs), target.dump(&dbs));
}
