//! Copies between a real MySQL 9.7 server ([`MySql`], from a Debian root the harness
//! makes once per machine) and a MariaDB server, both ways, each compared by an
//! independent reading of every row on both sides.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use unit_integration_tests::MariaDb;
use unit_integration_tests::MySql;
use unit_integration_tests::online::{connect, every_row, exec, task};
use unit_mysql::{Consistency, CopyUnit, Filter, TaskConfig};

/// Tables of the types both servers store alike, in a collation both have.
const SETUP: &str = "CREATE TABLE t (
    id INT PRIMARY KEY, big BIGINT UNSIGNED, v VARCHAR(40), d DECIMAL(20,6), f DOUBLE,
    at DATETIME(6), day DATE, b BLOB, e ENUM('x', 'y', 'z'), doubled INT AS (id * 2) STORED
) DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO t (id, big, v, d, f, at, day, b, e) VALUES
  (1, 18446744073709551615, 'plain', 12345678901234.123456, 1.5e300, '2024-02-29 23:59:59.999999', '2024-02-29', X'00FF10', 'x'),
  (2, 0, 'Привет 🦀', -0.000001, -0.0, '1970-01-01 00:00:01.000000', '1000-01-01', X'', 'z'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO t (id, big, v, d, f, at, day, b, e)
  SELECT 4 + n, n * 7, CONCAT('row ', n), n / 3, n / 7, '2020-01-01' + INTERVAL n MINUTE, '2020-01-01' + INTERVAL n DAY, UNHEX(SHA2(n, 256)), ELT(1 + n % 3, 'x', 'y', 'z')
  FROM (SELECT a.n * 100 + b.n * 10 + c.n AS n FROM
    (SELECT 0 AS n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) a,
    (SELECT 0 AS n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) b,
    (SELECT 0 AS n UNION SELECT 1 UNION SELECT 2 UNION SELECT 3 UNION SELECT 4 UNION SELECT 5 UNION SELECT 6 UNION SELECT 7 UNION SELECT 8 UNION SELECT 9) c) nums;";

/// Every row of `db.t`, each value in hex, in key order: read the same way on both
/// servers, by neither side's copy code.
async fn rows(url: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CONCAT_WS('|', id, IFNULL(HEX(big), 'N'), IFNULL(HEX(v), 'N'), IFNULL(HEX(d), 'N'), \
         IFNULL(HEX(CAST(f AS CHAR)), 'N'), IFNULL(HEX(at), 'N'), IFNULL(HEX(day), 'N'), \
         IFNULL(HEX(b), 'N'), IFNULL(HEX(e), 'N'), IFNULL(doubled, 'N')) FROM db.t ORDER BY id",
    )
    .fetch_all(&mut connect(url).await)
    .await
    .unwrap()
}

/// Runs the Sync unit of `config` to its cutover; it must succeed.
async fn cut_over(mut config: TaskConfig, what: &str) {
    config.sync.cutover = true;
    let result =
        unit_integration_tests::online::Online::run(&mut unit_mysql::SyncUnit::new(config)).await;
    assert!(
        result.errors.is_empty(),
        "{what}: sync failed: {:?}",
        result.errors
    );
}

/// Runs the copy of `config`; it must succeed.
async fn copy_first(config: &TaskConfig) {
    let result =
        unit_integration_tests::online::Online::run(&mut CopyUnit::new(config.clone())).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
}

/// The one column of `read`'s rows on the server at `url`.
async fn column(url: &str, read: &str) -> Vec<String> {
    sqlx::query_scalar(read)
        .fetch_all(&mut connect(url).await)
        .await
        .unwrap()
}

async fn copy(source: &str, target: &str) {
    exec(&format!("{source}db"), SETUP).await;
    let filter = Filter {
        databases: vec!["db".to_owned()],
        ..Filter::default()
    };
    let mut config = TaskConfig::new(
        "kinds",
        source.parse().unwrap(),
        target.parse().unwrap(),
        filter,
    );
    config.consistency = Some(Consistency::Auto);
    config.copy.chunk_rows = 97;
    let result = unit_integration_tests::online::Online::run(&mut CopyUnit::new(config)).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    let (a, b) = (rows(source).await, rows(target).await);
    assert_eq!(a.len(), 1003);
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_source_is_copied_to_mariadb_exactly() {
    let mysql = MySql::start_with(Vec::new());
    let mariadb = MariaDb::start();
    // MySQL's default collation (utf8mb4_0900_ai_ci), which MariaDB names
    // utf8mb4_uca1400_nopad_ai_ci.
    exec(&mysql.url(""), "CREATE DATABASE db").await;
    copy(&mysql.url(""), &mariadb.url("")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_source_is_copied_to_mysql_exactly() {
    let mysql = MySql::start_with(Vec::new());
    let mariadb = MariaDb::start_with(unit_integration_tests::online::binlog_options(1));
    exec(&mariadb.url(""), "CREATE DATABASE db").await;
    copy(&mariadb.url(""), &mysql.url("")).await;
}

/// The options of a MySQL source that replicas can read from, with GTIDs.
fn mysql_binlog() -> Vec<String> {
    [
        "--server-id=1",
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--gtid-mode=ON",
        "--enforce-gtid-consistency=ON",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// MySQL to MySQL online: a copy, changes replicated through the binlog, a cutover,
/// with a functional unique index (issue 28 item 11: its key part has no column name,
/// which stopped every run), and the binlog's file name read whole (issue 29: it was
/// cut by 4 characters, and replication then found its binlog "purged").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_to_mysql_replicates_tables_with_functional_unique_keys() {
    let source = MySql::start_with(mysql_binlog());
    let target = MySql::start_with(Vec::new());
    exec(
        &source.url(""),
        "CREATE DATABASE db CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
         CREATE TABLE db.t (id INT PRIMARY KEY, email VARCHAR(60) NOT NULL, n INT NOT NULL,
           UNIQUE KEY lower_email ((LOWER(email))), UNIQUE KEY n_email (n, (LOWER(email))));
         CREATE TABLE db.k (a INT NOT NULL, e VARCHAR(20) NOT NULL, UNIQUE KEY ae (a, (UPPER(e))));
         INSERT INTO db.t VALUES (1, 'One@Example.com', 1), (2, 'two@example.com', 2);
         INSERT INTO db.k VALUES (1, 'x'), (1, 'y'), (2, 'x');",
    )
    .await;
    for workers in [1, 3] {
        let config = task(
            format!("fx{workers}"),
            &source.url(""),
            &target.url(""),
            "db",
            workers,
        );
        if workers == 3 {
            exec(
                &target.url(""),
                "DROP DATABASE db; DROP DATABASE unit_checkpoint",
            )
            .await;
        }
        copy_first(&config).await;
        let base = 100 * workers;
        exec(
            &source.url("db"),
            &format!(
                "INSERT INTO t VALUES ({base}, 'New{base}@Example.com', {base});
                 UPDATE t SET email = 'ONE@example.com', n = n + 10 WHERE id = 1;
                 DELETE FROM t WHERE id = 2;
                 INSERT INTO k VALUES ({base}, 'z'); DELETE FROM k WHERE a = 2;
                 UPDATE k SET e = 'w' WHERE a = 1 AND e = 'y';"
            ),
        )
        .await;
        cut_over(config, &format!("{workers} workers")).await;
        for table in ["t", "k"] {
            let read = format!(
                "SELECT CONCAT_WS('|', HEX(CONCAT_WS(',', {}))) FROM db.{table} ORDER BY 1",
                if table == "t" { "id, email, n" } else { "a, e" }
            );
            assert_eq!(
                column(&source.url(""), &read).await,
                column(&target.url(""), &read).await,
                "{workers} workers: {table}"
            );
        }
    }
}

/// A MySQL 9.7 source as most are: MySQL's default collation (`utf8mb4_0900_ai_ci`),
/// compressed binlog transactions (`binlog_transaction_compression=ON`) and foreign
/// keys whose deletes and updates cascade, replicated online to MySQL and to MariaDB
/// with 1 and 3 workers, then cut over: every row equal, read in hex on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_source_with_compressed_binlogs_cascades_and_its_default_collation_replicates_exactly()
 {
    let mut options = mysql_binlog();
    options.push("--binlog-transaction-compression=ON".to_owned());
    let source = MySql::start_with(options);
    exec(
        &source.url(""),
        "CREATE DATABASE shop;
         CREATE TABLE shop.parent (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, name VARCHAR(40));
         CREATE TABLE shop.child (id INT PRIMARY KEY, parent_id INT, parent_code VARCHAR(20), note TEXT,
           FOREIGN KEY (parent_id) REFERENCES shop.parent (id) ON DELETE CASCADE,
           FOREIGN KEY (parent_code) REFERENCES shop.parent (code) ON UPDATE CASCADE ON DELETE SET NULL);
         INSERT INTO shop.parent VALUES (1, 'a', 'Ä first'), (2, 'b', 'second'), (3, 'c', 'third'), (4, 'd', 'fourth');
         INSERT INTO shop.child VALUES (1, 1, 'a', 'x'), (2, 1, 'b', 'y'), (3, 2, 'c', 'z'), (4, 3, 'd', NULL), (5, NULL, 'a', 'ß');",
    )
    .await;
    let mariadb = MariaDb::start();
    let mysql = MySql::start_with(Vec::new());
    for (round, (target, workers)) in [(mysql.url(""), 1), (mariadb.url(""), 3)]
        .into_iter()
        .enumerate()
    {
        let config = task(
            format!("shop{round}"),
            &source.url(""),
            &target,
            "shop",
            workers,
        );
        copy_first(&config).await;
        let base = 100 * (round + 1);
        exec(
            &source.url("shop"),
            &format!(
                "BEGIN;
                 INSERT INTO parent VALUES ({base}, 'p{base}', 'new'), ({base} + 1, 'q{base}', 'newer');
                 INSERT INTO child VALUES ({base}, {base}, 'q{base}', 'in a compressed transaction');
                 UPDATE parent SET name = CONCAT(name, ' ✓') WHERE id < 3;
                 COMMIT;
                 UPDATE parent SET code = CONCAT(code, '{round}') WHERE id IN (1, {base} + 1);
                 DELETE FROM parent WHERE id = {base};
                 DELETE FROM parent WHERE id = 2 + {round};"
            ),
        )
        .await;
        cut_over(config, &format!("round {round}")).await;
        for (table, columns) in [
            ("parent", "id, code, name"),
            ("child", "id, parent_id, parent_code, note"),
        ] {
            let read = format!(
                "SELECT HEX(CONCAT_WS('|', {})) FROM shop.{table} ORDER BY id",
                columns
                    .split(", ")
                    .map(|c| format!("IFNULL({c}, 'NULL')"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            assert_eq!(
                column(&source.url(""), &read).await,
                column(&target, &read).await,
                "round {round}: {table}"
            );
        }
    }
}

/// What a MariaDB target cannot take from a MySQL source is said by the check, before
/// anything is copied: a functional index is refused, naming it; MySQL's default
/// collation is accepted, saying the MariaDB collation it becomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_says_what_mariadb_cannot_take_from_mysql() {
    use unit_mysql::{CheckUnit, ItemState};
    let mysql = MySql::start_with(Vec::new());
    let mariadb = MariaDb::start();
    exec(
        &mysql.url(""),
        "CREATE DATABASE db;
         CREATE TABLE db.people (id INT PRIMARY KEY, email VARCHAR(60), INDEX by_lower ((LOWER(email))));
         CREATE TABLE db.plain (id INT PRIMARY KEY, name VARCHAR(20) COLLATE utf8mb4_sv_0900_ai_ci)",
    )
    .await;
    let filter = Filter {
        databases: vec!["db".to_owned()],
        ..Filter::default()
    };
    let config = TaskConfig::new(
        "checked",
        mysql.url("").parse().unwrap(),
        mariadb.url("").parse().unwrap(),
        filter,
    );
    let items = CheckUnit::new(config).run_checks().await;
    let named = |name: &'static str| items.iter().filter(move |i| i.name == name);
    let functional: Vec<_> = named("functional indexes").collect();
    assert_eq!(functional.len(), 1, "{items:?}");
    assert_eq!(functional[0].state, ItemState::Failure);
    assert!(
        functional[0].message.contains("db.people") && functional[0].message.contains("by_lower"),
        "{functional:?}"
    );
    let collations: Vec<_> = named("target collations").collect();
    assert!(
        collations.iter().all(|i| i.state == ItemState::Success),
        "{collations:?}"
    );
    for (mysql, mariadb) in [
        ("utf8mb4_0900_ai_ci", "utf8mb4_uca1400_nopad_ai_ci"),
        (
            "utf8mb4_sv_0900_ai_ci",
            "utf8mb4_uca1400_swedish_nopad_ai_ci",
        ),
    ] {
        assert!(
            collations
                .iter()
                .any(|i| i.message.contains(mysql) && i.message.contains(mariadb)),
            "{mysql}: {collations:?}"
        );
    }
}

/// MySQL's XA path (its `XA_PREPARE_LOG_EVENT`, the XA statements as query events)
/// replicated online from MySQL to MySQL: a transaction prepared, then committed from
/// another session; one committed in one phase; one prepared and rolled back; one
/// left prepared, which the cutover waits for (refused, saying so), then committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_xa_transactions_replicate_exactly() {
    let source = MySql::start_with(mysql_binlog());
    let target = MySql::start_with(Vec::new());
    exec(
        &source.url(""),
        "CREATE DATABASE xa; CREATE TABLE xa.t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO xa.t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    )
    .await;
    let config = task("xa", &source.url(""), &target.url(""), "xa", 1);
    copy_first(&config).await;
    for sql in [
        "XA START 'p1'; INSERT INTO xa.t VALUES (10, 'prepared'); UPDATE xa.t SET v = 'changed' WHERE id = 1; XA END 'p1'; XA PREPARE 'p1'",
        "XA COMMIT 'p1'",
        "XA START 'o1'; INSERT INTO xa.t VALUES (11, 'one phase'); DELETE FROM xa.t WHERE id = 2; XA END 'o1'; XA COMMIT 'o1' ONE PHASE",
        "XA START 'r1'; INSERT INTO xa.t VALUES (12, 'rolled back'); XA END 'r1'; XA PREPARE 'r1'",
        "XA ROLLBACK 'r1'",
        "INSERT INTO xa.t VALUES (13, 'plain')",
        "XA START 'left'; INSERT INTO xa.t VALUES (14, 'left prepared'); XA END 'left'; XA PREPARE 'left'",
    ] {
        exec(&source.url(""), sql).await;
    }
    // The cutover waits for a transaction the source left prepared: refused, saying so.
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let result =
        unit_integration_tests::online::Online::run(&mut unit_mysql::SyncUnit::new(cutover)).await;
    let [error] = result.errors.as_slice() else {
        panic!("not refused: {result:?}");
    };
    assert!(
        error.message.contains("is prepared on the source"),
        "{error:?}"
    );
    exec(&source.url(""), "XA COMMIT 'left'").await;
    cut_over(config, "xa").await;
    let read = "SELECT HEX(CONCAT_WS('|', id, v)) FROM xa.t ORDER BY id";
    let expected: Vec<String> = [
        "1|changed",
        "3|three",
        "10|prepared",
        "11|one phase",
        "13|plain",
        "14|left prepared",
    ]
    .iter()
    .map(|row| row.bytes().map(|b| format!("{b:02X}")).collect::<String>())
    .collect();
    assert_eq!(column(&source.url(""), read).await, expected);
    assert_eq!(column(&target.url(""), read).await, expected);
}

/// Compressed transactions from a MySQL source without GTIDs (its anonymous GTID
/// events restart nothing), applied by 4 workers that commit parts of one source
/// transaction ahead of the task's position, killed again and again: every change
/// once. (Each kill restarts replication from another position than the run before;
/// a compressed transaction's changes are told apart by their place in their
/// transaction, which a restart does not renumber.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_transactions_without_gtids_survive_kills_of_parallel_workers() {
    let source = MySql::start_with(
        [
            "--server-id=1",
            "--log-bin=binlog",
            "--binlog-format=ROW",
            "--binlog-transaction-compression=ON",
        ]
        .map(str::to_owned)
        .to_vec(),
    );
    let target = MySql::start_with(Vec::new());
    exec(
        &source.url(""),
        "CREATE DATABASE z; CREATE TABLE z.big (id INT PRIMARY KEY, n INT NOT NULL);
         SET SESSION cte_max_recursion_depth = 10000;",
    )
    .await;
    let filter = Filter {
        databases: vec!["z".to_owned()],
        ..Filter::default()
    };
    let mut config = TaskConfig::new(
        "z",
        source.url("").parse().unwrap(),
        target.url("").parse().unwrap(),
        filter,
    );
    config.consistency = Some(Consistency::Auto);
    config.sync.workers = 4;
    config.sync.batch = 50;
    let result =
        unit_integration_tests::online::Online::run(&mut CopyUnit::new(config.clone())).await;
    assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    for round in 0..6 {
        exec(
            &source.url("z"),
            &format!(
                "SET SESSION cte_max_recursion_depth = 10000;
                 INSERT INTO big WITH RECURSIVE s (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000)
                   SELECT {round} * 10000 + i, 0 FROM s;
                 UPDATE big SET n = n + 1;
                 DELETE FROM big WHERE id % 11 = {round};"
            ),
        )
        .await;
    }
    // Killed again and again, until a kill found a worker's recorded change past the
    // task's position in the same file (inside a transaction the task has not passed).
    let mut ahead = 0;
    let mut target_conn = connect(&target.url("")).await;
    for round in 0..16u64 {
        let sync = unit_integration_tests::online::spawn_sync(&config);
        tokio::time::sleep(std::time::Duration::from_millis(60 + round * 29)).await;
        sync.abort();
        let _ = sync.await;
        let (file, pos): (String, u64) = sqlx::query_as(
            "SELECT binlog_name, binlog_pos FROM unit_checkpoint.sync_checkpoint WHERE task = 'z'",
        )
        .fetch_one(&mut target_conn)
        .await
        .unwrap();
        let past: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM unit_checkpoint.sync_worker WHERE task = 'z' \
             AND binlog_name = ? AND binlog_pos > ?",
        )
        .bind(&file)
        .bind(pos)
        .fetch_one(&mut target_conn)
        .await
        .unwrap();
        ahead += usize::from(past > 0);
    }
    assert!(
        ahead > 0,
        "no kill found a worker ahead of the task's position"
    );
    cut_over(config, "compressed, no GTIDs").await;
    let read = "SELECT CONCAT_WS('|', id, n) FROM z.big ORDER BY id";
    let rows = column(&source.url(""), read).await;
    assert!(rows.len() > 12000, "{}", rows.len());
    assert_eq!(column(&target.url(""), read).await, rows);
}

/// A MySQL 9.7 source with what MySQL 8.0.30+ and 8.4 add: generated invisible primary
/// keys (`sql_generate_invisible_primary_key`: a table created without a key gets an
/// invisible `my_row_id`), invisible columns, and tagged GTIDs (`uuid:tag:n`, before
/// the copy and while replicating, resumed after kills from a set that holds tags).
/// Copied and replicated to MySQL (1 worker) and to MariaDB (3 workers), then cut
/// over: every row equal, invisible columns included, read in hex on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_keys_and_columns_and_tagged_gtids_replicate_exactly() {
    let mut options = mysql_binlog();
    options.push("--sql-generate-invisible-primary-key=ON".to_owned());
    let source = MySql::start_with(options);
    exec(
        &source.url(""),
        "CREATE DATABASE inv;
         CREATE TABLE inv.nokey (a INT, b VARCHAR(20));
         CREATE TABLE inv.hidden (id INT PRIMARY KEY, v INT, secret VARCHAR(10) INVISIBLE DEFAULT 'h');
         INSERT INTO inv.nokey VALUES (1, 'one'), (1, 'one'), (NULL, NULL);
         INSERT INTO inv.hidden (id, v, secret) VALUES (1, 10, 's1'), (2, 20, DEFAULT);
         SET gtid_next = 'AUTOMATIC:before_copy';
         INSERT INTO inv.hidden (id, v, secret) VALUES (3, 30, 'tagged');
         SET gtid_next = 'AUTOMATIC';",
    )
    .await;
    let executed: String = column(&source.url(""), "SELECT @@gtid_executed")
        .await
        .remove(0);
    assert!(executed.contains(":before_copy:"), "{executed}");
    let mariadb = MariaDb::start();
    let mysql = MySql::start_with(Vec::new());
    for (round, (target, workers)) in [(mysql.url(""), 1), (mariadb.url(""), 3)]
        .into_iter()
        .enumerate()
    {
        let config = task(
            format!("inv{round}"),
            &source.url(""),
            &target,
            "inv",
            workers,
        );
        copy_first(&config).await;
        // A table without a key created while replicating: the binlog's CREATE has
        // the generated key, invisible.
        exec(
            &source.url("inv"),
            "CREATE TABLE IF NOT EXISTS later (x INT, y VARCHAR(10) INVISIBLE);
             INSERT INTO later (x, y) VALUES (1, 'a'), (1, 'a'), (2, NULL);",
        )
        .await;
        for i in 0..12 {
            let tag = ["", "AUTOMATIC:batch", "AUTOMATIC:other_tag"][i % 3];
            let set = if tag.is_empty() {
                String::new()
            } else {
                format!("SET gtid_next = '{tag}';")
            };
            let id = 100 * (round + 1) + i;
            exec(
                &source.url("inv"),
                &format!(
                    "{set} INSERT INTO nokey VALUES ({id}, 'n{id}');
                     SET gtid_next = 'AUTOMATIC';
                     {set} UPDATE hidden SET secret = 'u{id}', v = v + 1 WHERE id = {} ;
                     SET gtid_next = 'AUTOMATIC';
                     INSERT INTO hidden (id, v, secret) VALUES ({id}, {i}, 'i{id}');
                     {set} DELETE FROM nokey WHERE a = 1 LIMIT 1;
                     SET gtid_next = 'AUTOMATIC';",
                    1 + i % 3
                ),
            )
            .await;
            if i % 4 == 3 {
                // Dropped mid-stream: the next run starts from a GTID set with tags.
                let sync = unit_integration_tests::online::spawn_sync(&config);
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                sync.abort();
                let _ = sync.await;
            }
        }
        cut_over(config, &format!("round {round}")).await;
        for read in [
            "SELECT HEX(CONCAT_WS('|', my_row_id, IFNULL(a, 'N'), IFNULL(b, 'N'))) FROM inv.nokey ORDER BY my_row_id",
            "SELECT HEX(CONCAT_WS('|', id, v, IFNULL(secret, 'N'))) FROM inv.hidden ORDER BY id",
            "SELECT HEX(CONCAT_WS('|', my_row_id, x, IFNULL(y, 'N'))) FROM inv.later ORDER BY my_row_id",
        ] {
            let rows = column(&source.url(""), read).await;
            assert!(rows.len() >= 3, "{read}: {rows:?}");
            assert_eq!(column(&target, read).await, rows, "round {round}: {read}");
        }
        // Invisible on the target too: a `SELECT *` there sees what it sees here.
        for table in ["nokey", "hidden", "later"] {
            let visible = format!(
                "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = 'inv' AND TABLE_NAME = '{table}' AND EXTRA NOT LIKE '%INVISIBLE%'"
            );
            assert_eq!(
                column(&target, &visible).await,
                column(&source.url(""), &visible).await,
                "round {round}: {table}"
            );
        }
    }
}

/// DDL in the binlog of a MySQL 9.7 source, replicated to MySQL and to MariaDB while
/// the Sync unit is dropped again and again: columns added and dropped, a swap
/// `RENAME` (run twice it would undo itself), `TRUNCATE`, `CREATE ... LIKE`, a table
/// made and dropped, statements in sessions of other character sets and SQL modes,
/// and rows around each. Every table equal at the end, read in hex on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_from_a_mysql_source_replicates_exactly_through_kills() {
    let source = MySql::start_with(mysql_binlog());
    exec(
        &source.url(""),
        "CREATE DATABASE d;
         CREATE TABLE d.a (id INT PRIMARY KEY, v VARCHAR(20));
         CREATE TABLE d.b (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO d.a VALUES (1, 'a1'), (2, 'a2'); INSERT INTO d.b VALUES (1, 'b1');",
    )
    .await;
    let mariadb = MariaDb::start();
    let mysql = MySql::start_with(Vec::new());
    let statements = [
        "ALTER TABLE a ADD note TEXT; INSERT INTO a VALUES (3, 'a3', 'with note')",
        "RENAME TABLE a TO tmp, b TO a, tmp TO b; INSERT INTO a VALUES (2, 'was b')",
        "SET NAMES latin1; ALTER TABLE b ADD l VARCHAR(10) CHARACTER SET utf8mb4 DEFAULT 'Zü'",
        "INSERT INTO b (id, v) VALUES (10, 'default l')",
        "SET SESSION sql_mode = 'ANSI_QUOTES'; CREATE TABLE \"q\" (\"id\" INT PRIMARY KEY, \"v\" VARCHAR(5) DEFAULT 'x')",
        "INSERT INTO q (id) VALUES (1), (2); CREATE TABLE q2 LIKE q; INSERT INTO q2 VALUES (7, 'y')",
        "TRUNCATE TABLE q; INSERT INTO q VALUES (3, 'after')",
        "CREATE TABLE gone (id INT PRIMARY KEY); INSERT INTO gone VALUES (1); DROP TABLE gone",
        "ALTER TABLE b DROP COLUMN note, MODIFY v VARCHAR(40) NOT NULL DEFAULT ''",
        "UPDATE b SET v = CONCAT(v, '+') WHERE id < 5; DELETE FROM a WHERE id = 1",
        "ALTER TABLE a RENAME COLUMN v TO w, ADD INDEX by_w (w)",
        "INSERT INTO a VALUES (20, 'w20'), (21, 'w21')",
    ];
    for (round, (target, workers)) in [(mysql.url(""), 1), (mariadb.url(""), 3)]
        .into_iter()
        .enumerate()
    {
        if round > 0 {
            // The same start for the second target: the statements again, reversed by
            // a fresh source database.
            exec(
                &source.url(""),
                "DROP DATABASE d; CREATE DATABASE d;
                 CREATE TABLE d.a (id INT PRIMARY KEY, v VARCHAR(20));
                 CREATE TABLE d.b (id INT PRIMARY KEY, v VARCHAR(20));
                 INSERT INTO d.a VALUES (1, 'a1'), (2, 'a2'); INSERT INTO d.b VALUES (1, 'b1');",
            )
            .await;
        }
        let config = task(
            format!("ddl{round}"),
            &source.url(""),
            &target,
            "d",
            workers,
        );
        copy_first(&config).await;
        unit_integration_tests::online::replicate_dropped_then_cut_over(
            &config,
            &source.url("d"),
            &statements,
        )
        .await;
        let rows = every_row(&source.url(""), "d").await;
        assert!(rows.len() > 12, "{rows:?}");
        assert_eq!(every_row(&target, "d").await, rows, "round {round}");
    }
}

/// MySQL's partial JSON updates (`binlog_row_value_options=PARTIAL_JSON`) log a diff,
/// not the value: the check refuses such a source before anything is copied, and a
/// Sync unit run without the check stops at the first diff, saying why, not
/// resumable, having applied nothing of that transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_json_updates_are_refused_by_the_check_and_the_sync_unit() {
    use unit_mysql::{CheckUnit, ItemState};
    let mut options = mysql_binlog();
    options.push("--binlog-row-value-options=PARTIAL_JSON".to_owned());
    let source = MySql::start_with(options);
    let target = MySql::start_with(Vec::new());
    exec(
        &source.url(""),
        "CREATE DATABASE j; CREATE TABLE j.t (id INT PRIMARY KEY, doc JSON, n INT);
         INSERT INTO j.t VALUES (1, '{\"a\": 1, \"b\": \"long enough to be worth a diff\"}', 0);",
    )
    .await;
    let config = task("json", &source.url(""), &target.url(""), "j", 1);
    let items = CheckUnit::new(config.clone()).run_checks().await;
    let refused: Vec<_> = items
        .iter()
        .filter(|i| i.name == "source binlog_row_value_options")
        .collect();
    assert_eq!(refused.len(), 1, "{items:?}");
    assert_eq!(refused[0].state, ItemState::Failure);
    assert!(refused[0].message.contains("PARTIAL_JSON"), "{refused:?}");
    copy_first(&config).await;
    exec(
        &source.url("j"),
        "UPDATE t SET n = 1 WHERE id = 1;
         UPDATE t SET doc = JSON_SET(doc, '$.a', 2), n = 2 WHERE id = 1;",
    )
    .await;
    let mut cutover = config.clone();
    cutover.sync.cutover = true;
    let result =
        unit_integration_tests::online::Online::run(&mut unit_mysql::SyncUnit::new(cutover)).await;
    let error = unit_integration_tests::online::Online::refused(&result, 60009, &["PARTIAL_JSON"]);
    assert!(
        error.message.contains("j.t") || error.message.contains("doc"),
        "{error:?}"
    );
    // The first update, which left the JSON column unchanged (an empty diff), was
    // read; the second, which changes it, is the one refused.
    let mut conn = connect(&source.url("")).await;
    let events = sqlx::query("SHOW BINLOG EVENTS IN 'binlog.000001'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let positions: Vec<u64> = events
        .iter()
        .filter(|e| {
            let kind: Vec<u8> = sqlx::Row::get(*e, 2);
            kind == b"Update_rows_partial"
        })
        .map(|e| sqlx::Row::get::<u64, _>(e, 1))
        .collect();
    assert_eq!(positions.len(), 2, "{positions:?}");
    assert!(
        error
            .message
            .contains(&format!("binlog.000001, {})", positions[1])),
        "{positions:?}: {error:?}"
    );
    let read = "SELECT CAST(CONCAT_WS('|', id, doc, n) AS CHAR) FROM j.t";
    let rows = column(&target.url(""), read).await;
    assert!(
        rows == ["1|{\"a\": 1, \"b\": \"long enough to be worth a diff\"}|0"]
            || rows == ["1|{\"a\": 1, \"b\": \"long enough to be worth a diff\"}|1"],
        "nothing of the diff's transaction: {rows:?}"
    );
}

/// MySQL 9 authenticates with `caching_sha2_password` only. Over a connection without
/// TLS (`ssl-mode=DISABLED`), a password is sent encrypted with the server's RSA key,
/// which the client asks for on a first login: the copy, the binlog stream and the
/// cutover all log in that way, as users with passwords, on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_with_passwords_log_in_without_tls_by_the_servers_rsa_key() {
    // No TLS on the servers at all: a login that worked went without it.
    let no_tls = "--tls-version=".to_owned();
    let mut options = mysql_binlog();
    options.push(no_tls.clone());
    let source = MySql::start_with(options);
    let target = MySql::start_with(vec![no_tls]);
    let have_ssl: Vec<String> = column(&source.url(""), "SELECT CAST(@@tls_version AS CHAR)").await;
    assert_eq!(have_ssl, [""], "TLS is off");
    let user = "CREATE USER 'mover'@'127.0.0.1' IDENTIFIED BY 'Pässw0rd;x';
                GRANT ALL PRIVILEGES ON *.* TO 'mover'@'127.0.0.1';";
    exec(&source.url(""), user).await;
    exec(&target.url(""), user).await;
    exec(
        &source.url(""),
        "CREATE DATABASE p; CREATE TABLE p.t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO p.t VALUES (1, 'one'), (2, 'two');",
    )
    .await;
    let with_password = |url: String| {
        url.replacen("mysql://root@", "mysql://mover:P%C3%A4ssw0rd%3Bx@", 1) + "?ssl-mode=DISABLED"
    };
    let config = task(
        "rsa",
        &with_password(source.url("")),
        &with_password(target.url("")),
        "p",
        1,
    );
    copy_first(&config).await;
    exec(
        &source.url("p"),
        "INSERT INTO t VALUES (3, 'three'); UPDATE t SET v = 'uno' WHERE id = 1",
    )
    .await;
    cut_over(config, "rsa").await;
    let read = "SELECT CONCAT_WS('|', id, v) FROM p.t ORDER BY id";
    let rows = column(&source.url(""), read).await;
    assert_eq!(rows, ["1|uno", "2|two", "3|three"]);
    assert_eq!(column(&target.url(""), read).await, rows);
}

/// A real client's load on a MySQL 9.7 source with GTIDs and compressed transactions
/// (sysbench's `oltp_write_only`: index and non-index updates, deletes and inserts of
/// the same keys, in transactions, 2 threads), replicated to MariaDB by 4 workers
/// while the Sync unit is dropped every 1.5 s, with a column added mid-stream; then the
/// cutover: every row equal, read in hex on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sysbench_load_from_mysql_replicates_exactly_through_drops() {
    assert!(
        std::process::Command::new("sysbench")
            .arg("--version")
            .output()
            .is_ok(),
        "sysbench is needed: apt-get install -y sysbench (.ci/run installs it)"
    );
    let mut options = mysql_binlog();
    options.push("--binlog-transaction-compression=ON".to_owned());
    let source = MySql::start_with(options);
    let target = MariaDb::start();
    exec(&source.url(""), "CREATE DATABASE sb").await;
    let sysbench = |action: &str, extra: &[&str]| {
        let mut command = std::process::Command::new("sysbench");
        command
            .args([
                "oltp_write_only",
                "--db-driver=mysql",
                "--mysql-host=127.0.0.1",
                &format!("--mysql-port={}", source.port()),
                "--mysql-user=root",
                "--mysql-db=sb",
                "--tables=2",
                "--table-size=3000",
            ])
            .args(extra)
            .arg(action)
            .stdout(std::process::Stdio::null());
        command
    };
    let prepared = sysbench("prepare", &[]).output().unwrap();
    assert!(
        prepared.status.success(),
        "sysbench prepare failed: {}",
        String::from_utf8_lossy(&prepared.stderr)
    );
    let config = task("sb", &source.url(""), &target.url(""), "sb", 4);
    copy_first(&config).await;
    let mut load = sysbench("run", &["--threads=2", "--time=10", "--report-interval=0"])
        .spawn()
        .unwrap();
    for round in 0..6 {
        let sync = unit_integration_tests::online::spawn_sync(&config);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        if round == 3 {
            exec(
                &source.url("sb"),
                "ALTER TABLE sbtest1 ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'n'",
            )
            .await;
        }
        if sync.is_finished() {
            panic!("the Sync unit stopped: {:?}", sync.await.unwrap().errors);
        }
        sync.abort();
        let _ = sync.await;
    }
    assert!(load.wait().unwrap().success(), "sysbench run failed");
    cut_over(config, "sysbench").await;
    let rows = every_row(&source.url(""), "sb").await;
    assert!(rows.len() > 5000, "{}", rows.len());
    unit_integration_tests::online::assert_same_rows(
        &rows,
        &every_row(&target.url(""), "sb").await,
        "sysbench",
    );
}

/// A MySQL 9 target enforces GTID consistency by default, which refuses a change of a
/// non-transactional table inside a transaction with others (1785): the check refuses
/// such tables toward it, naming them, before anything is copied; toward MariaDB it
/// says nothing of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_refuses_non_transactional_tables_toward_a_target_enforcing_gtid_consistency() {
    use unit_mysql::{CheckUnit, ItemState};
    let source = MySql::start_with(mysql_binlog());
    let mysql = MySql::start_with(Vec::new());
    let mariadb = MariaDb::start();
    let enforced = column(
        &mysql.url(""),
        "SELECT CAST(@@GLOBAL.enforce_gtid_consistency AS CHAR)",
    )
    .await;
    assert_eq!(enforced, ["ON"], "MySQL 9.7's default");
    exec(
        &source.url(""),
        "CREATE DATABASE g; CREATE TABLE g.kept (id INT PRIMARY KEY) ENGINE=InnoDB;
         CREATE TABLE g.legacy (id INT PRIMARY KEY, v INT) ENGINE=MyISAM;",
    )
    .await;
    for (target, refused) in [(mysql.url(""), true), (mariadb.url(""), false)] {
        let config = task("gtidc", &source.url(""), &target, "g", 1);
        let items = CheckUnit::new(config).run_checks().await;
        let found: Vec<_> = items
            .iter()
            .filter(|i| i.name == "target GTID consistency")
            .collect();
        if refused {
            assert_eq!(found.len(), 1, "{items:?}");
            assert_eq!(found[0].state, ItemState::Failure);
            assert!(
                found[0].message.contains("g.legacy (MyISAM)")
                    && !found[0].message.contains("kept"),
                "{found:?}"
            );
        } else {
            assert!(found.is_empty(), "{found:?}");
        }
    }
}
