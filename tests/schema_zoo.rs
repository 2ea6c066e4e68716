//! The schema zoo: the copy unit on the schemas people really run on MariaDB, between a
//! shared source server and a private target server.
//!
//! Every case is copied twice: a first run interrupted as soon as its first chunk is
//! committed (tiny chunks, so the interruption lands mid-table), then a run of a new
//! unit that resumes from the checkpoints. The case then ends exact or refused:
//!
//! - **exact**: `mariadb-dump --hex-blob --order-by-primary --skip-extended-insert` of
//!   the case's databases (schema, rows, routines, triggers, events) is the same on
//!   both servers, `CHECKSUM TABLE` agrees for every table (the copy itself verifies
//!   with its row hash, so both comparisons are independent of it), and the unit's
//!   report names every source table with its source row count;
//! - **refused**: the first run fails before any row reaches the target, with an error
//!   naming the object and the reason.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::mysql::{MySqlConnection, MySqlPool};
use sqlx::{Connection, Executor, Row};
use tokio_util::sync::CancellationToken;
use unit_core::{Unit, UnitStatus};
use unit_integration_tests::MariaDb;
use unit_mysql::Filter;
use unit_mysql::{CopyUnit, MySqlUrl, TaskConfig, Verification};
use unit_proto::pb;

fn target() -> &'static MariaDb {
    static TARGET: OnceLock<MariaDb> = OnceLock::new();
    TARGET.get_or_init(MariaDb::start)
}

async fn connect(url: &str) -> MySqlConnection {
    let url: MySqlUrl = url.parse().unwrap();
    MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap()
}

async fn pool(url: &str) -> MySqlPool {
    let url: MySqlUrl = url.parse().unwrap();
    MySqlPool::connect_with(url.connect_options())
        .await
        .unwrap()
}

/// How a case must end.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Copied exactly.
    Exact,
    /// Refused before any row moves, with an error containing every one of these.
    Refused(&'static [&'static str]),
}

/// One schema of the zoo.
struct Case {
    name: &'static str,
    /// Run on the source in the case's database, in order.
    sql: Vec<String>,
    chunk_rows: usize,
    split_rows: u64,
    outcome: Outcome,
    /// Run on the target after its databases are dropped, before the copy.
    target_sql: Vec<String>,
}

impl Case {
    fn new(name: &'static str, sql: &[&str]) -> Case {
        Case {
            name,
            sql: sql.iter().map(|s| (*s).to_owned()).collect(),
            chunk_rows: 2,
            split_rows: 0,
            outcome: Outcome::Exact,
            target_sql: Vec::new(),
        }
    }

    fn chunk(mut self, rows: usize) -> Case {
        self.chunk_rows = rows;
        self
    }

    fn split(mut self, rows: u64) -> Case {
        self.split_rows = rows;
        self
    }

    fn refused(mut self, with: &'static [&'static str]) -> Case {
        self.outcome = Outcome::Refused(with);
        self
    }

    fn on_target(mut self, sql: &[&str]) -> Case {
        self.target_sql = sql.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The case's database; extra databases are named `<db>__<suffix>`.
    fn db(&self) -> String {
        format!("zoo_{}", self.name)
    }

    fn filter(&self) -> Filter {
        Filter {
            databases: vec![self.db(), format!("{}__*", self.db())],
            ..Filter::default()
        }
    }

    fn config(&self) -> TaskConfig {
        let mut c = TaskConfig::new(
            format!("zoo-{}", self.name),
            MariaDb::shared().url("mysql").parse().unwrap(),
            target().url("mysql").parse().unwrap(),
            self.filter(),
        );
        c.copy.chunk_rows = self.chunk_rows;
        c.copy.split_rows = self.split_rows;
        c.copy.concurrency = 3;
        // The copy verifies with its row hash; the test compares with mariadb-dump and
        // CHECKSUM TABLE.
        c.verification = Some(Verification::RowText);
        c.acquire_timeout = Duration::from_secs(5);
        c
    }
}

/// The case's databases on a server, exactly (names compared as bytes).
async fn databases(conn: &mut MySqlConnection, db: &str) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA \
         WHERE BINARY SCHEMA_NAME = ? OR BINARY SCHEMA_NAME LIKE BINARY ? ORDER BY BINARY SCHEMA_NAME",
    )
    .bind(db)
    .bind(format!("{}\\_\\_%", db.replace('_', "\\_")))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    rows.iter()
        .map(|r| String::from_utf8(r.get::<Vec<u8>, _>(0)).unwrap())
        .collect()
}

async fn drop_databases(url: &str, db: &str) {
    let mut conn = connect(url).await;
    for name in databases(&mut conn, db).await {
        conn.execute(format!("DROP DATABASE `{}`", name.replace('`', "``")).as_str())
            .await
            .unwrap();
    }
}

/// Every table of the case on the source with its row count, exactly named.
async fn source_tables(db: &str) -> Vec<(String, String, i64)> {
    let mut conn = connect(&MariaDb::shared().url("mysql")).await;
    let mut out = Vec::new();
    for database in databases(&mut conn, db).await {
        let rows = sqlx::query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE BINARY TABLE_SCHEMA = ? \
             AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') ORDER BY BINARY TABLE_NAME",
        )
        .bind(&database)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for row in rows {
            let table = String::from_utf8(row.get::<Vec<u8>, _>(0)).unwrap();
            let count: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM `{}`.`{}`",
                database.replace('`', "``"),
                table.replace('`', "``")
            ))
            .fetch_one(&mut conn)
            .await
            .unwrap();
            out.push((database.clone(), table, count));
        }
    }
    out
}

async fn checkpoint_rows(task: &str) -> i64 {
    let mut conn = connect(&target().url("mysql")).await;
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(rows_copied), 0) AS SIGNED) FROM unit_checkpoint.copy_checkpoint \
         WHERE task = ?",
    )
    .bind(task)
    .fetch_one(&mut conn)
    .await
    .unwrap_or(0)
}

/// Runs `process` and cancels it as soon as a chunk is committed.
async fn interrupted_run(unit: &mut CopyUnit) -> pb::ProcessResult {
    let cancel = CancellationToken::new();
    let status = unit.status_handle();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            loop {
                if let UnitStatus::Load(l) = status.status(None) {
                    if l.finished_bytes > 0 {
                        cancel.cancel();
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let result = unit.process(cancel.clone()).await;
    watcher.abort();
    result
}

fn errors_text(result: &pb::ProcessResult) -> String {
    result
        .errors
        .iter()
        .map(|e| format!("{} {} {}", e.err_code, e.message, e.raw_cause))
        .collect::<Vec<_>>()
        .join("; ")
}

async fn run(case: Case) {
    let source = MariaDb::shared();
    let db = case.db();
    drop_databases(&source.url("mysql"), &db).await;
    drop_databases(&target().url("mysql"), &db).await;
    {
        // The target is this process's own server: no checkpoint of the case's task
        // exists yet.
        let mut conn = connect(&target().url("mysql")).await;
        for sql in &case.target_sql {
            conn.execute(sql.replace("{db}", &db).as_str())
                .await
                .unwrap_or_else(|e| panic!("target setup `{sql}`: {e}"));
        }
    }
    let mut conn = connect(&source.url("mysql")).await;
    conn.execute(format!("CREATE DATABASE `{db}`").as_str())
        .await
        .unwrap();
    conn.execute(format!("USE `{db}`").as_str()).await.unwrap();
    for sql in &case.sql {
        conn.execute(sqlx::raw_sql(&sql.replace("{db}", &db)))
            .await
            .unwrap_or_else(|e| panic!("setup `{sql}`: {e}"));
    }
    drop(conn);
    let config = case.config();
    let task = config.task.clone();
    let tables = source_tables(&db).await;
    let total: i64 = tables.iter().map(|t| t.2).sum();

    // First run, interrupted after its first committed chunk.
    let mut unit = CopyUnit::new(config.clone());
    let init = unit.init(CancellationToken::new()).await;
    if let Outcome::Refused(words) = case.outcome {
        let message = match init {
            Err(e) => e.to_string(),
            Ok(()) => {
                let result = unit.process(CancellationToken::new()).await;
                unit.close().await;
                assert!(!result.errors.is_empty(), "{}: not refused", case.name);
                errors_text(&result)
            }
        };
        for word in words {
            assert!(
                message.contains(word),
                "{}: the refusal does not say {word:?}: {message}",
                case.name
            );
        }
        assert_eq!(checkpoint_rows(&task).await, 0, "{}: rows moved", case.name);
        let mut conn = connect(&target().url("mysql")).await;
        for (database, table, _) in &tables {
            let sql = format!(
                "SELECT COUNT(*) FROM `{}`.`{}`",
                database.replace('`', "``"),
                table.replace('`', "``")
            );
            if let Ok(n) = sqlx::query_scalar::<_, i64>(&sql)
                .fetch_one(&mut conn)
                .await
            {
                assert_eq!(n, 0, "{}: rows reached {database}.{table}", case.name);
            }
        }
        return;
    }
    init.unwrap_or_else(|e| panic!("{}: init: {e}", case.name));
    let first = interrupted_run(&mut unit).await;
    let first_report = unit.report();
    unit.close().await;
    // An interrupted run never reports objects it did not migrate as done.
    if first.is_canceled && !first_report.objects.is_empty() {
        assert!(!first_report.complete(), "{}: {first_report:?}", case.name);
    }
    let after_first = checkpoint_rows(&task).await;
    if total > 4 * i64::try_from(case.chunk_rows).unwrap() && case.split_rows == 0 {
        assert!(
            after_first > 0 && after_first < total,
            "{}: the interruption did not land mid-copy ({after_first} of {total} rows; {})",
            case.name,
            errors_text(&first)
        );
    }

    // Second run: a new unit resumes from the checkpoints.
    let mut unit = CopyUnit::new(config);
    unit.init(CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{}: init of the resumed run: {e}", case.name));
    let result = unit.process(CancellationToken::new()).await;
    assert!(
        result.errors.is_empty() && !result.is_canceled,
        "{}: {}",
        case.name,
        errors_text(&result)
    );
    let report = unit.report();
    unit.close().await;

    // Every source table, with its row count, is in the report as verified.
    let reported: Vec<(String, String, i64)> = report
        .tables
        .iter()
        .filter(|t| t.verified)
        .map(|t| (t.database.clone(), t.name.clone(), t.rows))
        .collect();
    assert_eq!(reported, tables, "{}: report", case.name);
    assert!(
        report.complete(),
        "{}: not migrated: {:?}",
        case.name,
        report.missing()
    );
    assert_eq!(checkpoint_rows(&task).await, total, "{}: rows", case.name);

    // Independent comparisons.
    let mut names = Vec::new();
    {
        let mut conn = connect(&source.url("mysql")).await;
        names.extend(databases(&mut conn, &db).await);
    }
    let (a, b) = (source.dump(&names), target().dump(&names));
    if a != b {
        let diff: Vec<String> = a
            .lines()
            .zip(b.lines())
            .filter(|(x, y)| x != y)
            .take(5)
            .map(|(x, y)| format!("source: {x}\ntarget: {y}"))
            .collect();
        panic!(
            "{}: dumps differ ({} vs {} lines):\n{}",
            case.name,
            a.lines().count(),
            b.lines().count(),
            diff.join("\n")
        );
    }
    let (sp, tp) = (
        pool(&source.url("mysql")).await,
        pool(&target().url("mysql")).await,
    );
    for (database, table, _) in &tables {
        // MariaDB's CHECKSUM TABLE does not read VIRTUAL columns reliably (the
        // dump and the copy's row hash cover those tables).
        let virtual_columns: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE BINARY TABLE_SCHEMA = ? \
             AND BINARY TABLE_NAME = ? AND EXTRA LIKE '%VIRTUAL%'",
        )
        .bind(database)
        .bind(table)
        .fetch_one(&sp)
        .await
        .unwrap();
        if virtual_columns > 0 {
            continue;
        }
        let sql = format!(
            "CHECKSUM TABLE `{}`.`{}`",
            database.replace('`', "``"),
            table.replace('`', "``")
        );
        let x: (String, Option<i64>) = sqlx::query_as(&sql).fetch_one(&sp).await.unwrap();
        let y: (String, Option<i64>) = sqlx::query_as(&sql).fetch_one(&tp).await.unwrap();
        if x.1 != y.1 {
            let hex = |p: MySqlPool| {
                let (database, table) = (database.clone(), table.clone());
                async move {
                    let columns: Vec<String> = sqlx::query_scalar(
                        "SELECT CONCAT('HEX(`', REPLACE(COLUMN_NAME, '`', '``'), '`)') \
                         FROM information_schema.COLUMNS WHERE BINARY TABLE_SCHEMA = ? \
                         AND BINARY TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                    )
                    .bind(&database)
                    .bind(&table)
                    .fetch_all(&p)
                    .await
                    .unwrap();
                    let sql = format!(
                        "SELECT CONCAT_WS('|', {}) FROM `{}`.`{}`",
                        columns.join(", "),
                        database.replace('`', "``"),
                        table.replace('`', "``")
                    );
                    let mut rows: Vec<Option<String>> =
                        sqlx::query_scalar(&sql).fetch_all(&p).await.unwrap();
                    rows.sort();
                    rows
                }
            };
            let (a, b) = (hex(sp.clone()).await, hex(tp.clone()).await);
            panic!(
                "{}: CHECKSUM TABLE {database}.{table}: {:?} vs {:?}\nsource {a:?}\ntarget {b:?}",
                case.name, x.1, y.1
            );
        }
    }
}

/// What a server is busy with (for a case that hangs).
async fn busy(url: &str) -> String {
    let mut conn = connect(url).await;
    type Process = (i64, String, i64, Option<String>, Option<String>);
    let rows: Vec<Process> = sqlx::query_as(
        "SELECT ID, COMMAND, TIME, STATE, LEFT(INFO, 200) FROM information_schema.PROCESSLIST \
         WHERE COMMAND <> 'Sleep' AND ID <> CONNECTION_ID()",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    format!("{rows:?}")
}

/// `n` rows of `values` (a SELECT list over `seq`, 1..=n) into `table`.
fn rows(table: &str, n: u32, values: &str) -> String {
    format!("INSERT INTO {table} SELECT {values} FROM seq_1_to_{n}")
}

macro_rules! zoo {
    ($($name:ident => $case:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let case = $case;
                let name = case.name;
                if tokio::time::timeout(Duration::from_secs(120), run(case)).await.is_err() {
                    panic!(
                        "{name}: did not end within 120 s\nsource: {}\ntarget: {}",
                        busy(&MariaDb::shared().url("mysql")).await,
                        busy(&target().url("mysql")).await
                    );
                }
            }
        )*
    };
}

zoo! {
    // ---- Column types in data (integer keys) --------------------------------------
    integers_signed_and_unsigned => Case::new("integers", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a TINYINT, b TINYINT UNSIGNED, c SMALLINT, \
         d SMALLINT UNSIGNED, e MEDIUMINT, f MEDIUMINT UNSIGNED, g INT UNSIGNED, h BIGINT, \
         i BIGINT UNSIGNED, j BOOL)",
        "INSERT INTO t VALUES (1,-128,255,-32768,65535,-8388608,16777215,4294967295,\
         -9223372036854775808,18446744073709551615,1),(2,127,0,32767,0,8388607,0,0,\
         9223372036854775807,0,0),(3,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL)",
        &rows("t", 20, "seq + 3, seq, seq, -seq, seq, seq, seq, seq, -seq, seq, seq % 2"),
    ]);
    decimals => Case::new("decimals", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a DECIMAL(65,30), b DECIMAL(5,2), c DECIMAL(10,0) UNSIGNED)",
        "INSERT INTO t VALUES (1, 12345678901234567890123456789012345.123456789012345678901234567890, \
         -999.99, 9999999999), (2, -0.000000000000000000000000000001, 0, 0), (3, NULL, NULL, NULL)",
        &rows("t", 15, "seq + 3, seq / 7, -seq / 3, seq"),
    ]);
    floats_and_doubles => Case::new("floats", &[
        "CREATE TABLE t (id INT PRIMARY KEY, f FLOAT, d DOUBLE, fu FLOAT UNSIGNED, f2 FLOAT(7,3))",
        "INSERT INTO t VALUES (1, 3.4028234e38, 1.7976931348623157e308, 0, 1234.567), \
         (2, 1.17549435e-38, 2.2250738585072014e-308, 1e-10, -0.001), (3, -0.1, -0.1, 0.1, NULL)",
        &rows("t", 15, "seq + 3, 1 / seq, PI() * seq, seq / 3, seq / 7"),
    ]);
    bits => Case::new("bits", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a BIT(1), b BIT(7), c BIT(64))",
        "INSERT INTO t VALUES (1, b'1', b'1111111', b'1111111111111111111111111111111111111111111111111111111111111111'), \
         (2, b'0', b'0', b'0'), (3, NULL, b'0110001', 0x3132)",
        &rows("t", 12, "seq + 3, seq % 2, seq, seq * 1000003"),
    ]);
    temporal_types => Case::new("temporal", &[
        "CREATE TABLE t (id INT PRIMARY KEY, d DATE, dt DATETIME, dt6 DATETIME(6), dt3 DATETIME(3), \
         ts TIMESTAMP(6) NULL, tm TIME, tm6 TIME(6), y YEAR)",
        "INSERT INTO t VALUES (1, '1000-01-01', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', \
         '2024-02-29 12:00:00.001', '1970-01-01 00:00:01.000001', '-838:59:59', '838:59:59.000000', 1901), \
         (2, '9999-12-31', '2024-03-31 02:30:00', '2000-01-01 00:00:00.5', NULL, '2038-01-19 03:14:07.999999', \
         '00:00:00', '-00:00:00.000001', 2155), (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        &rows("t", 12, "seq + 3, '2020-01-01' + INTERVAL seq DAY, NOW(), NOW(6), NOW(3), NOW(6), \
              SEC_TO_TIME(seq * 1000), SEC_TO_TIME(seq * 1000.5), 2000 + seq"),
    ]);
    zero_and_invalid_dates_under_a_permissive_mode => Case::new("zerodates", &[
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
        "CREATE TABLE t (id INT PRIMARY KEY, d DATE NOT NULL DEFAULT '0000-00-00', \
         dt DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00', ts TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00')",
        "INSERT INTO t VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), \
         (2, '2024-02-30', '2024-04-31 10:00:00', '0000-00-00 00:00:00'), \
         (3, '2024-00-10', '2024-01-00 00:00:00', '2020-01-01 00:00:00'), (4, DEFAULT, DEFAULT, DEFAULT)",
        &rows("t", 10, "seq + 4, '0000-00-00', '2024-02-31 00:00:00', '0000-00-00'"),
    ]);
    utf8mb4_strings => Case::new("utf8mb4", &[
        "CREATE TABLE t (id INT PRIMARY KEY, c CHAR(20), v VARCHAR(200), n NATIONAL VARCHAR(10)) \
         DEFAULT CHARSET=utf8mb4",
        "INSERT INTO t VALUES (1, 'trail  ', 'spaces   ', 'ñ'), (2, '😀👩‍👩‍👧', 'e\\u0301 é 𝕏 ﷽ \\\\ \\' \" \\0 x', ''), \
         (3, '', '', NULL), (4, NULL, CONCAT('a', CHAR(0), 'b'), 'x')",
        &rows("t", 12, "seq + 4, CONCAT('ü', seq), REPEAT('漢字', seq), 'ß'"),
    ]);
    text_types => Case::new("texts", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a TINYTEXT, b TEXT, c MEDIUMTEXT, d LONGTEXT)",
        &rows("t", 10, "seq, REPEAT('a', 255), REPEAT('é', 20000), REPEAT('ü', 100000), \
              REPEAT('long ', seq * 1000)"),
        "INSERT INTO t VALUES (11, '', '', '', ''), (12, NULL, NULL, NULL, NULL)",
    ]);
    binary_types => Case::new("binaries", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a BINARY(8), b VARBINARY(50), c TINYBLOB, d BLOB, \
         e MEDIUMBLOB, f LONGBLOB)",
        "INSERT INTO t VALUES (1, X'00', X'00FF00', X'', X'DEADBEEF', X'0A0D09', X'5C27220000'), \
         (2, 'ab', '', NULL, NULL, NULL, NULL), (3, X'FFFFFFFFFFFFFFFF', X'80818283', X'C3', X'F09F', X'', X'00')",
        &rows("t", 10, "seq + 3, LEFT(UNHEX(MD5(seq)), 8), UNHEX(SHA2(seq, 256)), CHAR(seq), \
              RANDOM_BYTES(100), REPEAT(CHAR(seq), 70000), REPEAT(UNHEX(MD5(seq)), 1000)"),
    ]);
    enums_and_sets_with_the_error_value => Case::new("enumset", &[
        "CREATE TABLE t (id INT PRIMARY KEY, e ENUM('z','a','m',''), e2 ENUM('x','y') NOT NULL, \
         s SET('b','a','c'), l ENUM('é','ü') CHARACTER SET latin1)",
        "SET SESSION sql_mode = ''",
        // 'nope' is outside the list: stored as the error value (index 0).
        "INSERT INTO t VALUES (1, 'z', 'nope', 'a,b', 'é'), (2, '', 'x', '', 'ü'), (3, NULL, 'y', NULL, NULL), \
         (4, 'nope', 'nope', 'c,a,b', 'zz')",
        &rows("t", 10, "seq + 4, ELT(1 + seq % 4, 'z', 'a', 'm', ''), ELT(1 + seq % 2, 'x', 'y'), \
              seq % 8, ELT(1 + seq % 2, 'é', 'ü')"),
    ]);
    // Members named by numbers: a member is stored by its index, and the server reads a
    // quoted number as a member's name first ('1' is the member named 1, not index 1).
    enums_and_sets_whose_members_are_numbers => Case::new("enumnum", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a ENUM('0','1'), b ENUM('2','1','x'), \
         c SET('1','0'), d ENUM('10','1','2','3','4','5','6','7','8','9') NOT NULL, \
         e SET('4','3','2','1'))",
        "SET SESSION sql_mode = ''",
        "INSERT INTO t VALUES (1, '0', '2', '1', '10', '4'), (2, '1', '1', '0', '1', '3,1'), \
         (3, NULL, 'x', '1,0', '9', ''), (4, '', '', '', '', NULL), (5, 2, 3, 3, 10, 15)",
        &rows("t", 20, "seq + 5, ELT(1 + seq % 2, '0', '1'), ELT(1 + seq % 3, '2', '1', 'x'), \
              seq % 4, 1 + seq % 10, seq % 16"),
        // Without a key the copy writes with INSERT, not LOAD DATA: both paths.
        "CREATE TABLE n (a ENUM('0','1'), b ENUM('2','1','x'), c SET('1','0'))",
        "INSERT INTO n VALUES ('0', '2', '1'), ('1', '1', '0'), (NULL, 'x', '1,0'), ('', '', '')",
    ]);
    key_enum_whose_members_are_numbers => Case::new("k_enumnum", &[
        "CREATE TABLE t (k ENUM('3','1','2','0') PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES ('0', 1), ('1', 2), ('2', 3), ('3', 4)",
    ]).chunk(1);
    json_documents => Case::new("json", &[
        "CREATE TABLE t (id INT PRIMARY KEY, j JSON, k JSON NOT NULL DEFAULT '{}')",
        "INSERT INTO t VALUES (1, '{\"a\": [1, 2.50, null, true], \"é\": \"😀\"}', '[]'), (2, NULL, '\"str\"'), \
         (3, '  {\"spaces\" :   1 }  ', '1e400')",
        &rows("t", 10, "seq + 3, JSON_OBJECT('n', seq, 's', REPEAT('x', seq)), JSON_ARRAY(seq)"),
    ]);
    spatial_types => Case::new("spatial", &[
        "CREATE TABLE t (id INT PRIMARY KEY, g GEOMETRY, p POINT, l LINESTRING, y POLYGON, \
         mp MULTIPOINT, ml MULTILINESTRING, my MULTIPOLYGON, gc GEOMETRYCOLLECTION, pn POINT NOT NULL, SPATIAL INDEX (pn))",
        "INSERT INTO t VALUES (1, ST_GeomFromText('POINT(1 2)', 4326), POINT(-1.5, 2.25), \
         ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)'), ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))'), \
         ST_GeomFromText('MULTIPOINT(1 1, 2 2)'), ST_GeomFromText('MULTILINESTRING((0 0, 1 1), (2 2, 3 3))'), \
         ST_GeomFromText('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))'), \
         ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))'), POINT(0, 0)), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, POINT(1e300, -1e-300))",
        &rows("t", 10, "seq + 2, POINT(seq, seq), POINT(seq / 3, -seq), NULL, NULL, NULL, NULL, NULL, NULL, POINT(seq, 1)"),
    ]);
    uuid_and_inet_types => Case::new("uuidinet", &[
        "CREATE TABLE t (id INT PRIMARY KEY, u UUID, a INET4, b INET6)",
        "INSERT INTO t VALUES (1, '123e4567-e89b-12d3-a456-426614174000', '255.255.255.255', '::ffff:1.2.3.4'), \
         (2, '00000000-0000-0000-0000-000000000000', '0.0.0.0', '2001:db8::1'), (3, NULL, NULL, NULL)",
        &rows("t", 10, "seq + 3, UUID(), CONCAT('10.0.0.', seq), CONCAT('fe80::', seq)"),
    ]);
    character_sets_in_data => Case::new("charsets", &[
        "CREATE TABLE t (id INT PRIMARY KEY, l1 VARCHAR(20) CHARACTER SET latin1, \
         w VARCHAR(20) CHARACTER SET cp1251, u2 VARCHAR(20) CHARACTER SET ucs2, \
         u16 VARCHAR(20) CHARACTER SET utf16, u32 VARCHAR(20) CHARACTER SET utf32, \
         b5 VARCHAR(20) CHARACTER SET big5, sj VARCHAR(20) CHARACTER SET sjis, \
         gk VARCHAR(20) CHARACTER SET greek, a VARCHAR(20) CHARACTER SET ascii, \
         u3 VARCHAR(20) CHARACTER SET utf8mb3, bn VARCHAR(20) CHARACTER SET binary)",
        "INSERT INTO t VALUES (1, 'café ÿ €', 'Привет', 'ΩЖ中', '😀 ok', '😀𝕏', '中文', 'ｶﾀｶﾅ日本', 'αβγ', 'plain', 'ñ中', X'00FF')",
        // Bytes that do not convert to Unicode are kept as they are.
        "INSERT INTO t (id, w, l1) VALUES (2, X'98', X'81'), (3, X'FF', X'FF')",
        &rows("t", 10, "seq + 3, CONCAT('é', seq), CONCAT('Ж', seq), CONCAT('Ω', seq), 'x', 'y', \
              '中', '日', 'δ', 'a', 'ü', CHAR(seq)"),
    ]);
    generated_columns => Case::new("generated", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a INT, v INT AS (a * 2) VIRTUAL, \
         s VARCHAR(20) AS (CONCAT('n', a)) STORED, UNIQUE KEY (s))",
        &rows("t (id, a)", 12, "seq, seq * 3"),
    ]);
    generated_column_in_the_key => Case::new("genkey", &[
        // A generated column cannot be NOT NULL, so its unique key is not the copy's key.
        "CREATE TABLE t (a INT NOT NULL, b INT AS (a + 1000) STORED, c VARCHAR(5), v INT AS (a * 2) VIRTUAL, \
         PRIMARY KEY (a, c), UNIQUE KEY (b), KEY (v))",
        &rows("t (a, c)", 12, "seq, 'x'"),
    ]);
    check_constraints_violated_by_old_rows => Case::new("checks", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a > 0), b INT, CONSTRAINT b_pos CHECK (b > a))",
        "SET SESSION check_constraint_checks = 0",
        "INSERT INTO t VALUES (1, -5, -10), (2, 1, 2), (3, 0, 0)",
        &rows("t", 10, "seq + 3, -seq, seq"),
    ]);
    invisible_columns => Case::new("invisible", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a INT, h VARCHAR(10) INVISIBLE DEFAULT 'dflt')",
        "INSERT INTO t (id, a, h) VALUES (1, 1, 'set'), (2, 2, NULL)",
        "INSERT INTO t (id, a) VALUES (3, 3)",
        &rows("t (id, a, h)", 10, "seq + 3, seq, CONCAT('h', seq)"),
    ]);
    zero_in_an_auto_increment_column => Case::new("autoinc", &[
        "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'",
        "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, a INT DEFAULT (RAND() * 0), \
         ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)",
        "INSERT INTO t VALUES (0, 1, '2020-01-01 00:00:00'), (-1, 2, '2020-01-01 00:00:00')",
        &rows("t (a, ts)", 10, "seq, '2021-01-01'"),
    ]);
    nulls_everywhere => Case::new("nulls", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(5), c BLOB, d DATE, e DOUBLE, f JSON)",
        &rows("t", 12, "seq, IF(seq % 2, NULL, seq), IF(seq % 3, NULL, ''), IF(seq % 2, X'', NULL), \
              NULL, IF(seq % 5, NULL, 0), IF(seq % 2, NULL, 'null')"),
    ]);
    huge_rows => Case::new("huge", &[
        "CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT)",
        &rows("t", 4, "seq, REPEAT(UNHEX(MD5(seq)), 5 * 1024 * 1024 / 16), REPEAT('ä', 600000)"),
    ]).chunk(3);
    an_empty_table => Case::new("empty", &[
        "CREATE TABLE t (id INT PRIMARY KEY, a TEXT)",
        "CREATE TABLE u (id INT PRIMARY KEY)",
        "INSERT INTO u VALUES (1)",
    ]);
    a_one_row_table => Case::new("onerow", &[
        "CREATE TABLE t (id VARCHAR(3) PRIMARY KEY, a INT)",
        "INSERT INTO t VALUES ('x', 1)",
    ]).chunk(1);
    foreign_keys_in_a_cycle => Case::new("foreignkeys", &[
        "CREATE TABLE parent (id INT PRIMARY KEY, child_id INT NULL)",
        "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, \
         FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)",
        "ALTER TABLE parent ADD FOREIGN KEY (child_id) REFERENCES child (id)",
        &rows("parent", 10, "seq, NULL"),
        &rows("child", 10, "seq, 11 - seq"),
        "UPDATE parent SET child_id = id",
    ]);
    partitioned_tables => Case::new("partitions", &[
        "CREATE TABLE t (id INT NOT NULL, k INT NOT NULL, v VARCHAR(10), PRIMARY KEY (id, k)) \
         PARTITION BY RANGE (k) (PARTITION p0 VALUES LESS THAN (5), PARTITION p1 VALUES LESS THAN (MAXVALUE))",
        "CREATE TABLE h (id INT PRIMARY KEY, v INT) PARTITION BY HASH (id) PARTITIONS 3",
        &rows("t", 12, "seq, seq % 9, 'x'"),
        &rows("h", 12, "seq, seq"),
    ]);
    other_storage_engines => Case::new("engines", &[
        "CREATE TABLE m (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=MyISAM",
        "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE=Aria",
        &rows("m", 12, "seq, 'x'"),
        &rows("a", 12, "seq, 'y'"),
    ]);
    non_ascii_and_reserved_identifiers => Case::new("idents", &[
        "CREATE TABLE `表 é` (`select` INT PRIMARY KEY, `from` VARCHAR(5), `a``b` INT, `ключ` TEXT) \
         DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE `order` (`group` VARCHAR(10) PRIMARY KEY, `desc` INT)",
        "CREATE TABLE `with space` (`c d` INT PRIMARY KEY)",
        "CREATE DATABASE `{db}__données`",
        "CREATE TABLE `{db}__données`.`Ünïcode` (`ïd` INT PRIMARY KEY, `wert` VARCHAR(5))",
        &rows("`表 é`", 10, "seq, 'x', seq, 'ключ'"),
        &rows("`order`", 10, "CONCAT('g', seq), seq"),
        &rows("`with space`", 10, "seq"),
        &rows("`{db}__données`.`Ünïcode`", 10, "seq, 'ü'"),
    ]);
    tables_whose_names_differ_only_in_case => Case::new("casetwins", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))",
        "CREATE TABLE T (id INT PRIMARY KEY, w INT, x INT)",
        "CREATE TABLE Tt (id INT PRIMARY KEY)",
        "CREATE TABLE tT (id INT PRIMARY KEY)",
        &rows("t", 12, "seq, 'lower'"),
        &rows("T", 7, "seq, seq, seq"),
        &rows("Tt", 5, "seq"),
        &rows("tT", 9, "seq"),
    ]);
    databases_whose_names_differ_only_in_case => Case::new("dbtwins", &[
        "CREATE DATABASE `{db}__x`",
        "CREATE DATABASE `{db}__X`",
        "CREATE TABLE `{db}__x`.t (id INT PRIMARY KEY, v INT)",
        "CREATE TABLE `{db}__X`.t (id INT PRIMARY KEY, v VARCHAR(3))",
        &rows("`{db}__x`.t", 11, "seq, seq"),
        &rows("`{db}__X`.t", 6, "seq, 'X'"),
    ]);
    long_names => Case::new("longnames", &[
        "CREATE TABLE a23456789012345678901234567890123456789012345678901234567890abcd \
         (c23456789012345678901234567890123456789012345678901234567890abcd INT PRIMARY KEY)",
        &rows("a23456789012345678901234567890123456789012345678901234567890abcd", 10, "seq"),
    ]);

    // ---- Keys of every type, crossed by tiny chunks -----------------------------
    key_tinyint_negative => Case::new("k_tinyint", &[
        "CREATE TABLE t (k TINYINT PRIMARY KEY, v INT)",
        &rows("t", 40, "CAST(seq AS SIGNED) - 20, seq"),
    ]);
    key_bigint_unsigned_extremes => Case::new("k_ubigint", &[
        "CREATE TABLE t (k BIGINT UNSIGNED PRIMARY KEY)",
        "INSERT INTO t VALUES (0), (1), (9223372036854775807), (9223372036854775808), \
         (18446744073709551614), (18446744073709551615)",
        &rows("t", 10, "seq * 1000000000000"),
    ]);
    key_decimal => Case::new("k_decimal", &[
        "CREATE TABLE t (k DECIMAL(20,5) PRIMARY KEY)",
        &rows("t", 20, "(CAST(seq AS SIGNED) - 10) / 3"),
        "INSERT INTO t VALUES (-999999999999999.99999), (999999999999999.99999)",
    ]);
    key_float_and_double => Case::new("k_float", &[
        "CREATE TABLE f (k FLOAT PRIMARY KEY)",
        "CREATE TABLE d (k DOUBLE PRIMARY KEY)",
        &rows("f", 20, "(CAST(seq AS SIGNED) - 10) / 7"),
        &rows("d", 20, "(CAST(seq AS SIGNED) - 10) / 7"),
        "INSERT INTO f VALUES (3.4028234e38), (-3.4028234e38), (1e-38)",
        "INSERT INTO d VALUES (1.7976931348623157e308), (5e-324), (-5e-324)",
    ]);
    key_bit => Case::new("k_bit", &[
        "CREATE TABLE t (k BIT(16) PRIMARY KEY, v INT)",
        // 0x31 ... 0x39 print as digits: the key must still compare as bits.
        &rows("t", 60, "seq * 997 % 65536, seq"),
        "INSERT INTO t VALUES (0x3131, 0), (0x30, 0), (0x39, 0), (0xFFFF, 0)",
    ]);
    key_enum_ordered_by_index => Case::new("k_enum", &[
        "CREATE TABLE t (k ENUM('zeta','alpha','mu','beta','') PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES ('zeta', 1), ('alpha', 2), ('mu', 3), ('beta', 4), ('', 5)",
    ]).chunk(1);
    key_enum_in_a_composite_key => Case::new("k_enum2", &[
        "CREATE TABLE t (k ENUM('z','a','m') NOT NULL, n INT NOT NULL, PRIMARY KEY (k, n))",
        &rows("t", 30, "ELT(1 + seq % 3, 'z', 'a', 'm'), seq"),
    ]);
    key_set_ordered_by_number => Case::new("k_set", &[
        "CREATE TABLE t (k SET('x','b','a') PRIMARY KEY)",
        "INSERT INTO t VALUES (''), ('x'), ('b'), ('a'), ('x,b'), ('b,a'), ('x,a'), ('x,b,a')",
    ]);
    key_date_datetime_timestamp_time_year => Case::new("k_temporal", &[
        "CREATE TABLE d (k DATE PRIMARY KEY)",
        "CREATE TABLE dt (k DATETIME(6) PRIMARY KEY)",
        "CREATE TABLE ts (k TIMESTAMP(3) PRIMARY KEY)",
        "CREATE TABLE tm (k TIME(2) PRIMARY KEY)",
        "CREATE TABLE y (k YEAR PRIMARY KEY)",
        &rows("d", 20, "'1999-12-25' + INTERVAL seq DAY"),
        &rows("dt", 20, "'2024-01-01 00:00:00' + INTERVAL seq * 250000 MICROSECOND"),
        &rows("ts", 20, "'2024-01-01 00:00:00' + INTERVAL seq * 1500 MICROSECOND"),
        &rows("tm", 20, "SEC_TO_TIME((CAST(seq AS SIGNED) - 10) * 3600.25)"),
        &rows("y", 20, "1990 + seq"),
        "INSERT INTO d VALUES ('1000-01-01'), ('9999-12-31')",
        "INSERT INTO tm VALUES ('-838:59:59'), ('838:59:59')",
    ]);
    key_zero_dates => Case::new("k_zerodate", &[
        "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'",
        "CREATE TABLE t (k DATETIME PRIMARY KEY, v INT)",
        "INSERT IGNORE INTO t VALUES ('0000-00-00 00:00:00', 0), ('2024-02-30 00:00:00', 1), ('0001-01-01 00:00:00', 2), \
         ('2024-01-01 00:00:00', 3), ('2024-02-29 00:00:00', 4)",
    ]).chunk(1);
    key_char_latin1 => Case::new("k_latin1", &[
        "CREATE TABLE t (k CHAR(10) CHARACTER SET latin1 PRIMARY KEY, v INT)",
        "INSERT IGNORE INTO t VALUES ('a', 1), ('B', 2), ('é', 3), ('e', 4), ('ÿ', 5), ('Z', 6), ('z ', 7), ('_', 8), \
         ('ä', 9), ('ß', 10), ('ss', 11), ('Ø', 12), ('0', 13), ('', 14)",
    ]);
    key_varchar_cp1251 => Case::new("k_cp1251", &[
        "CREATE TABLE t (k VARCHAR(10) CHARACTER SET cp1251 PRIMARY KEY, v INT)",
        "INSERT IGNORE INTO t VALUES ('Ж', 1), ('ж', 2), ('а', 3), ('Я', 4), ('ё', 5), ('Ё', 6), ('z', 7), ('A', 8), \
         ('б', 9), ('Б1', 10), ('Щ', 11)",
    ]);
    key_varchar_ucs2 => Case::new("k_ucs2", &[
        "CREATE TABLE t (k VARCHAR(10) CHARACTER SET ucs2 PRIMARY KEY, v INT)",
        "INSERT IGNORE INTO t VALUES ('Ω', 1), ('a', 2), ('中', 3), ('Б', 4), ('é', 5), ('z', 6), ('€', 7), ('ё', 8), ('A', 9)",
    ]);
    key_varchar_utf16 => Case::new("k_utf16", &[
        "CREATE TABLE t (k VARCHAR(10) CHARACTER SET utf16 COLLATE utf16_bin PRIMARY KEY, v INT)",
        "INSERT IGNORE INTO t VALUES ('😀', 1), ('a', 2), ('中', 3), ('𝕏', 4), ('é', 5), ('\u{FFFD}', 6), ('z', 7), ('', 8)",
    ]);
    key_utf8mb4_collations => Case::new("k_collations", &[
        "CREATE TABLE ci (k VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY)",
        "CREATE TABLE bn (k VARCHAR(10) COLLATE utf8mb4_bin PRIMARY KEY)",
        "CREATE TABLE uc (k VARCHAR(10) COLLATE utf8mb4_unicode_520_ci PRIMARY KEY)",
        "CREATE TABLE np (k VARCHAR(10) COLLATE utf8mb4_nopad_bin PRIMARY KEY)",
        "INSERT IGNORE INTO ci VALUES ('a'), ('B'), ('é'), ('😀'), ('z'), ('Ä'), ('ß'), ('0'), ('_')",
        "INSERT IGNORE INTO bn VALUES ('a'), ('A'), ('é'), ('E'), ('😀'), ('z'), ('Z'), ('ä'), ('Ä')",
        "INSERT IGNORE INTO uc VALUES ('a'), ('B'), ('é'), ('😀'), ('z'), ('ǆ'), ('ß'), ('0'), ('Œ')",
        "INSERT IGNORE INTO np VALUES ('a'), ('a '), ('a  '), ('b'), (''), (' '), ('é'), ('e')",
    ]);
    key_varbinary_and_binary => Case::new("k_binary", &[
        "CREATE TABLE vb (k VARBINARY(16) PRIMARY KEY)",
        "CREATE TABLE b (k BINARY(4) PRIMARY KEY)",
        &rows("vb", 20, "UNHEX(MD5(seq))"),
        "INSERT INTO vb VALUES (X''), (X'00'), (X'0000'), (X'FF'), (X'FF00')",
        &rows("b", 20, "UNHEX(LEFT(MD5(seq), 8))"),
        "INSERT INTO b VALUES (X'00000000'), (X'01'), (X'FFFFFFFF')",
    ]);
    key_uuid => Case::new("k_uuid", &[
        "CREATE TABLE t (k UUID PRIMARY KEY, v INT)",
        &rows("t", 30, "UUID(), seq"),
        "INSERT INTO t VALUES ('00000000-0000-0000-0000-000000000000', 0), ('ffffffff-ffff-ffff-ffff-ffffffffffff', 0), \
         ('00000000-0000-0000-0000-000000000001', 0), ('10000000-0000-0000-0000-000000000000', 0)",
    ]);
    key_inet6_and_inet4 => Case::new("k_inet", &[
        "CREATE TABLE six (k INET6 PRIMARY KEY)",
        "CREATE TABLE four (k INET4 PRIMARY KEY)",
        &rows("six", 20, "CONCAT('2001:db8::', HEX(seq * 409))"),
        "INSERT INTO six VALUES ('::'), ('::1'), ('::ffff:10.0.0.1'), ('ffff::')",
        &rows("four", 20, "CONCAT(seq * 12, '.', seq, '.0.', 255 - seq)"),
    ]);
    key_of_four_mixed_columns => Case::new("k_mixed4", &[
        "CREATE TABLE t (a INT NOT NULL, b DATETIME(6) NOT NULL, c VARCHAR(10) CHARACTER SET latin1 NOT NULL, \
         d VARBINARY(4) NOT NULL, v INT, PRIMARY KEY (a, b, c, d))",
        "INSERT IGNORE INTO t SELECT x.seq % 2, '2024-01-01' + INTERVAL (y.seq % 2) SECOND, \
         ELT(1 + z.seq, 'é', 'E', 'e '), UNHEX(HEX(w.seq)), 0 \
         FROM seq_1_to_2 x, seq_1_to_2 y, seq_0_to_2 z, seq_1_to_3 w",
    ]);
    key_of_five_columns_with_a_descending_part => Case::new("k_desc", &[
        "CREATE TABLE t (a TINYINT NOT NULL, b CHAR(2) NOT NULL, c DATE NOT NULL, d DECIMAL(4,1) NOT NULL, \
         e ENUM('y','x') NOT NULL, PRIMARY KEY (a, b DESC, c, d, e))",
        "INSERT INTO t SELECT x.seq, ELT(y.seq, 'b', 'a'), '2024-01-01' + INTERVAL z.seq DAY, w.seq / 2, \
         ELT(v.seq, 'y', 'x') FROM seq_1_to_2 x, seq_1_to_2 y, seq_1_to_2 z, seq_1_to_2 w, seq_1_to_2 v",
    ]);
    unique_not_null_key_without_primary_key => Case::new("k_unique", &[
        "CREATE TABLE t (a VARCHAR(10) NOT NULL, b INT NULL, UNIQUE KEY ub (b), UNIQUE KEY ua (a))",
        &rows("t", 20, "CONCAT('k', seq), IF(seq % 2, NULL, seq)"),
    ]);
    prefix_key_on_text_longer_than_max_sort_length => Case::new("k_textprefix", &[
        "CREATE TABLE t (k TEXT CHARACTER SET latin1 NOT NULL, v INT, UNIQUE KEY (k(3000)))",
        // Every value shares its first 1500 bytes: ORDER BY must read past 1024.
        &rows("t", 12, "CONCAT(REPEAT('p', 1500), LPAD(seq * 7 % 13, 4, '0'), REPEAT('s', seq)), seq"),
    ]);
    blob_primary_key_prefix => Case::new("k_blobprefix", &[
        "CREATE TABLE t (k BLOB NOT NULL, PRIMARY KEY (k(1200)))",
        &rows("t", 12, "CONCAT(REPEAT(X'00', 1100), UNHEX(MD5(seq)))"),
    ]);
    hash_unique_and_another_ordered_key => Case::new("k_hashother", &[
        "CREATE TABLE t (long_text TEXT NOT NULL, code INT NOT NULL, UNIQUE KEY (long_text) USING HASH, UNIQUE KEY (code))",
        &rows("t", 12, "CONCAT(REPEAT('x', 2000), seq), seq"),
    ]);
    split_ranges_of_an_integer_key => Case::new("split", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
        &rows("t", 300, "CAST(seq AS SIGNED) * 3 - 400, CONCAT('r', seq)"),
        "ANALYZE TABLE t",
    ]).chunk(7).split(50);
    split_ranges_of_a_composite_unsigned_key => Case::new("split2", &[
        "CREATE TABLE t (a BIGINT UNSIGNED NOT NULL, b VARCHAR(3) NOT NULL, PRIMARY KEY (a, b))",
        "INSERT INTO t SELECT x.seq * 1000000007, ELT(y.seq, 'b', 'a', 'é') FROM seq_1_to_100 x, seq_1_to_3 y",
        "INSERT INTO t VALUES (18446744073709551615, 'z'), (0, 'a')",
        "ANALYZE TABLE t",
    ]).chunk(5).split(40);

    // ---- Objects other than tables ----------------------------------------------
    views_over_tables_and_views => Case::new("views", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
        &rows("t", 10, "seq, seq * 2"),
        // Named so that creating views in name order would fail.
        "CREATE VIEW b_view AS SELECT id, v * 2 AS doubled FROM t",
        "CREATE VIEW a_view_of_b AS SELECT id, doubled FROM b_view WHERE id > 2",
        "CREATE ALGORITHM=TEMPTABLE SQL SECURITY INVOKER VIEW c AS SELECT COUNT(*) AS n FROM t",
        "CREATE ALGORITHM=MERGE VIEW d AS SELECT id, v FROM t WHERE v > 2 WITH CASCADED CHECK OPTION",
    ]);
    triggers_are_created_after_the_rows => Case::new("triggers", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v INT, changed INT DEFAULT 0)",
        "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(20))",
        &rows("t", 10, "seq, seq, 0"),
        "CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.changed = NEW.changed + 1",
        "CREATE TRIGGER t_ai AFTER INSERT ON t FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('ins ', NEW.id))",
        "CREATE TRIGGER t_bi2 BEFORE INSERT ON t FOR EACH ROW FOLLOWS t_bi SET NEW.changed = NEW.changed * 10",
        "CREATE TRIGGER t_bu BEFORE UPDATE ON t FOR EACH ROW SET NEW.changed = 2",
        &rows("t", 3, "seq + 10, seq, 0"),
    ]);
    stored_procedures_and_functions => Case::new("routines", &[
        "CREATE TABLE t (id INT PRIMARY KEY)",
        &rows("t", 5, "seq"),
        "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
        "CREATE PROCEDURE fill(IN n INT) MODIFIES SQL DATA BEGIN DECLARE i INT DEFAULT 0; \
         WHILE i < n DO SET i = i + 1; END WHILE; END",
        "CREATE VIEW uses_a_function AS SELECT id, twice(id) AS d FROM t",
        "SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT'",
        "CREATE FUNCTION \"quoted\"(s TEXT) RETURNS TEXT RETURN s || '!'",
    ]);
    events => Case::new("events", &[
        "CREATE TABLE t (id INT PRIMARY KEY)",
        "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE \
         DO DELETE FROM t WHERE id < 0",
        "CREATE EVENT once ON SCHEDULE AT '2035-01-01 00:00:00' ON COMPLETION PRESERVE DISABLE DO SELECT 1",
    ]);
    sequences_with_their_current_value => Case::new("sequences", &[
        "CREATE SEQUENCE s START WITH 100 INCREMENT BY 5 CACHE 10",
        "CREATE SEQUENCE plain",
        "CREATE TABLE t (id INT PRIMARY KEY DEFAULT NEXTVAL(s), v INT)",
        &rows("t (v)", 12, "seq"),
        "SELECT NEXTVAL(plain), NEXTVAL(plain)",
    ]);

    // ---- Refused before any data moves ------------------------------------------
    // ---- Tables without a usable key: copied whole, duplicates kept ---------------
    a_table_without_a_key_is_copied_whole_with_its_duplicates => Case::new("nokey", &[
        "CREATE TABLE ok (id INT PRIMARY KEY)",
        "CREATE TABLE heap (a INT, b VARCHAR(10))",
        "INSERT INTO ok VALUES (1)",
        "INSERT INTO heap VALUES (1, 'x'), (1, 'x'), (NULL, NULL), (NULL, NULL), (2, 'A'), (2, 'a ')",
    ]);
    a_nullable_unique_key_is_not_a_key => Case::new("nullable", &[
        "CREATE TABLE t (a INT NULL, UNIQUE KEY (a))",
        "INSERT INTO t VALUES (NULL), (NULL), (1)",
    ]);
    only_a_hash_unique_is_no_key => Case::new("hashonly", &[
        "CREATE TABLE t (long_text TEXT NOT NULL, UNIQUE KEY (long_text))",
        "INSERT INTO t VALUES (CONCAT(REPEAT('x', 2000), 'a')), (CONCAT(REPEAT('x', 2000), 'b'))",
    ]);
    a_table_without_a_key_or_transactions_is_copied_whole => Case::new("nokey_aria", &[
        "CREATE TABLE log (at DATETIME(6), msg TEXT) ENGINE=Aria",
        "CREATE TABLE mem (k INT, v INT) ENGINE=MEMORY",
        "INSERT INTO log VALUES ('2024-01-01 00:00:00.5', 'a'), ('2024-01-01 00:00:00.5', 'a'), (NULL, 'b')",
        "INSERT INTO mem VALUES (1, 1), (1, 1), (2, NULL)",
    ]);
    system_versioned_tables_are_refused => Case::new("r_versioned", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) WITH SYSTEM VERSIONING",
        "INSERT INTO t VALUES (1, 1)",
        "UPDATE t SET v = 2",
    ]).refused(&["r_versioned.t", "system-versioned"]);
    a_trigger_already_on_the_target_is_refused => Case::new("r_targettrigger", &[
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        &rows("t", 5, "seq, seq"),
    ]).on_target(&[
        "CREATE DATABASE `{db}`",
        "CREATE TABLE `{db}`.t (id INT(11) NOT NULL, v INT(11) DEFAULT NULL, PRIMARY KEY (id)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        "CREATE TRIGGER `{db}`.meddle BEFORE INSERT ON `{db}`.t FOR EACH ROW SET NEW.v = 0",
    ]).refused(&["r_targettrigger.t", "meddle", "trigger"]);
}
