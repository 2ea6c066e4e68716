//! DDL in the stream: applied in order (in its session's settings, for the selected
//! tables), refused where it cannot be, replayed after a restart, and applied once
//! when interrupted.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use unit_core::{Policy, Unit};
use unit_integration_tests::online::{Online, connect, exec, spawn_sync};
use unit_mysql::{CopyUnit, SyncUnit};

use crate::{LOAD_TABLE, write_load};

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

/// A run stopped while its DDL runs on the target (a table rebuild of 300,000
/// rows) leaves the statement running there, to end after the rerun has started: the
/// rerun must wait for it and see that it ran, not run it again (a second `ADD` fails
/// as a duplicate column; a second swap would undo the first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_left_running_on_the_target_by_a_killed_run_is_not_run_again() {
    use sqlx::Executor;
    let (online, config) = Online::copied(
        "leftddl",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT);
         INSERT INTO t SELECT seq, seq FROM seq_1_to_300000;",
    )
    .await;
    online
        .source_sql("ALTER TABLE t ADD c INT, ALGORITHM=COPY; INSERT INTO t VALUES (0, 2, 2);")
        .await;
    let mut watch = connect(&online.target.url("leftddl")).await;
    let sync = spawn_sync(&config);
    let running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                   WHERE INFO LIKE 'ALTER TABLE t%' AND STATE LIKE 'copy%'";
    let mut seen = false;
    for _ in 0..400 {
        let n: i64 = sqlx::query_scalar(running)
            .fetch_one(&mut watch)
            .await
            .unwrap();
        if n > 0 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(seen, "the DDL runs on the target");
    sync.abort();
    let _ = sync.await;
    let mut config = config.clone();
    config.sync.cutover = true;
    let result = Online::run(&mut SyncUnit::new(config)).await;
    online.assert_ok(&result);
    online.assert_same();
    watch.execute("SELECT 1").await.unwrap();
}
