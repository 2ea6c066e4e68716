//! Faults: the Sync unit killed at any instant (one applier or several workers, XA
//! transactions in flight), binlog rotation and purges, restarts, network cuts and
//! stalls; every change still applies exactly once.

use sqlx::Executor;
use std::time::Duration;

use unit_core::Policy;
use unit_integration_tests::MariaDb;
use unit_integration_tests::online::{Online, connect, exec, spawn_sync};
use unit_mysql::CopyUnit;

use crate::{LOAD_TABLE, write_load};

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
        let (global, rows) = killed_after(
            &config,
            &mut target,
            Duration::from_millis(150 + round * 41),
        )
        .await;
        if rows.iter().any(|r| r.1 == global.0 && r.2 > global.1) {
            ahead += 1;
        }
    }
    assert!(
        ahead > 0,
        "no kill found a worker ahead of the task's position"
    );
    online.cutover_exact(&config).await;
}

/// Runs a Sync unit of `config` for `after`, then drops it (as a kill would); the
/// task's checkpoint `(file, offset)` and its workers' rows `(worker, file, offset)`
/// read from `target` then.
async fn killed_after(
    config: &unit_mysql::TaskConfig,
    target: &mut sqlx::MySqlConnection,
    after: Duration,
) -> ((String, u64), Vec<(u32, String, u64)>) {
    let sync = spawn_sync(config);
    tokio::time::sleep(after).await;
    sync.abort();
    let _ = sync.await;
    let global = sqlx::query_as(
        "SELECT binlog_name, binlog_pos FROM unit_checkpoint.sync_checkpoint WHERE task = ?",
    )
    .bind(&config.task)
    .fetch_one(&mut *target)
    .await
    .unwrap();
    let rows = sqlx::query_as(
        "SELECT worker, binlog_name, binlog_pos FROM unit_checkpoint.sync_worker WHERE task = ?",
    )
    .bind(&config.task)
    .fetch_all(&mut *target)
    .await
    .unwrap();
    (global, rows)
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
    // Under load it may get only as far as binlog.000002 at first: wait until both
    // older files are gone, so that what the check names is known.
    let mut source = connect(&online.source.url("")).await;
    let mut first = String::new();
    for _ in 0..300 {
        source
            .execute("PURGE BINARY LOGS TO 'binlog.000003'")
            .await
            .unwrap();
        first = sqlx::query_scalar("SHOW BINARY LOGS")
            .fetch_one(&mut source)
            .await
            .unwrap();
        if first == "binlog.000003" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(first, "binlog.000003", "the source kept its older binlogs");
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

/// An XA transaction left prepared on the source is prepared on the target too, and
/// holds its locks there until the source ends it. The changes after it, which did
/// not wait for it on the source (READ COMMITTED), must not wait for it on the target
/// (issue 28 item 10: in REPEATABLE READ, an update of a table without a key scans
/// past the prepared row and waits for its lock until 1205, again on every resume).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_after_an_xa_left_prepared_do_not_wait_for_its_locks() {
    for workers in [1, 3] {
        let online = Online::with_options(
            "xaheld",
            "CREATE TABLE kl (a INT, b INT); INSERT INTO kl VALUES (1, 0), (2, 0), (3, 0);",
            &[],
            &["--innodb-lock-wait-timeout=2"],
        )
        .await;
        let mut config = online.config("xaheld");
        config.sync.workers = workers;
        online.copy(&config).await;
        let read_committed = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;";
        online
            .source_sql(&format!(
                "{read_committed} XA START 'held'; UPDATE kl SET b = 1 WHERE a = 1;
                 XA END 'held'; XA PREPARE 'held'"
            ))
            .await;
        online
            .source_sql(&format!(
                "{read_committed} UPDATE kl SET b = 2 WHERE a = 2; UPDATE kl SET b = 3 WHERE a = 3"
            ))
            .await;
        let sync = spawn_sync(&config);
        let mut target = connect(&online.target.url("")).await;
        let mut applied: Vec<i32> = Vec::new();
        for _ in 0..150 {
            applied = sqlx::query_scalar("SELECT b FROM xaheld.kl ORDER BY a")
                .fetch_all(&mut target)
                .await
                .unwrap();
            if applied == [0, 2, 3] || sync.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if sync.is_finished() {
            panic!("{workers} workers: {:?}", sync.await.unwrap().errors);
        }
        assert_eq!(applied, [0, 2, 3], "{workers} workers");
        let prepared: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as("XA RECOVER")
            .fetch_all(&mut target)
            .await
            .unwrap();
        assert_eq!(prepared.len(), 1, "{workers} workers: {prepared:?}");
        sync.abort();
        let _ = sync.await;
        online.source_sql("XA COMMIT 'held'").await;
        online.cutover_exact(&config).await;
    }
}

/// A target whose binary log is on in STATEMENT format refuses InnoDB writes in READ
/// COMMITTED (1665): changes are applied there in REPEATABLE READ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_logging_statements_is_applied_in_repeatable_read() {
    let online = Online::with_options(
        "stmtlog",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 0);",
        &[],
        &[
            "--server-id=2",
            "--log-bin=target",
            "--binlog-format=STATEMENT",
        ],
    )
    .await;
    let mut config = online.config("stmtlog");
    config.sync.workers = 2;
    online.copy(&config).await;
    online
        .source_sql("INSERT INTO t SELECT seq, seq FROM seq_2_to_300; UPDATE t SET v = v + 1; DELETE FROM t WHERE id % 7 = 0;")
        .await;
    online.cutover_exact(&config).await;
}

/// (issue 28 item 6: it was lost, and the migration ended with exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xa_transactions_left_prepared_on_the_source_are_refused_not_lost() {
    let online = Online::new(
        "xaleft",
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1);",
    )
    .await;
    let config = online.config("xaleft");
    // Prepared, then its session ends: the transaction stays prepared.
    online
        .source_sql(
            "XA START 'left1'; INSERT INTO t VALUES (2, 2); XA END 'left1'; XA PREPARE 'left1';",
        )
        .await;
    let result = Online::run(&mut CopyUnit::new(config.clone())).await;
    Online::refused(&result, 60005, &["X'6C65667431',X'',1", "XA COMMIT"]);
    online.source_sql("XA COMMIT 'left1'").await;
    online.copy(&config).await;
    online
        .source_sql("XA START 'left2'; UPDATE t SET v = 3 WHERE id = 1; XA END 'left2'; XA PREPARE 'left2';")
        .await;
    let result = online.cutover(&config).await;
    Online::refused(
        &result,
        60009,
        &["X'6C65667432',X'',1", "prepared on the source"],
    );
    online.source_sql("XA ROLLBACK 'left2'").await;
    online.cutover_exact(&config).await;
}

/// `sync_worker` as a run of 4 workers followed by a run of 2 leaves it, when the
/// second run is killed with its worker 1 past the task's checkpoint and its worker 0
/// has committed nothing since the first run: worker 0's row (the first) is the
/// 4-worker run's. The rerun must go by the rows past the checkpoint (2 workers, and
/// worker 1's changes applied), not by the first row (which made it start 2 fresh
/// workers that applied worker 1's changes again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_rows_of_an_earlier_worker_count_do_not_make_a_rerun_repeat_changes() {
    // A key of a non-binary collation: every change of `t` goes to one worker, chosen
    // by the table's name (`recount.t`: worker 1 of 2).
    let online = Online::new(
        "recount",
        "CREATE TABLE t (k VARCHAR(20) PRIMARY KEY, n INT NOT NULL)",
    )
    .await;
    let mut config = online.config("recount");
    config.sync.batch = 50;
    config.sync.workers = 2;
    online.copy(&config).await;
    online
        .source_sql(
            "INSERT INTO t SELECT CONCAT('k', seq), 0 FROM seq_1_to_3000;
             UPDATE t SET n = n + 1;
             DELETE FROM t WHERE n = 1 AND k LIKE '%7';
             INSERT INTO t SELECT CONCAT('x', seq), seq FROM seq_1_to_2000;",
        )
        .await;
    let mut target = connect(&online.target.url("")).await;
    let mut ahead = None;
    for round in 0..40u64 {
        let (global, rows) = killed_after(
            &config,
            &mut target,
            Duration::from_millis(120 + round * 23),
        )
        .await;
        assert!(
            rows.iter().all(|r| r.0 == 1),
            "the changes of recount.t went to another worker than 1: {rows:?}"
        );
        if rows.iter().any(|r| r.1 == global.0 && r.2 >= global.1) {
            ahead = Some(rows);
            break;
        }
    }
    assert!(
        ahead.is_some(),
        "no kill left worker 1 ahead of the task's checkpoint"
    );
    target
        .execute(
            "INSERT INTO unit_checkpoint.sync_worker (task, worker, workers, binlog_name, binlog_pos, row_index) \
             VALUES ('recount', 0, 4, 'binlog.000001', 4, 0), ('recount', 2, 4, 'binlog.000001', 4, 0), \
             ('recount', 3, 4, 'binlog.000001', 4, 0)",
        )
        .await
        .unwrap();
    online.cutover_exact(&config).await;
    let left: Vec<(u32, u32)> = sqlx::query_as(
        "SELECT worker, workers FROM unit_checkpoint.sync_worker WHERE task = 'recount' ORDER BY worker",
    )
    .fetch_all(&mut target)
    .await
    .unwrap();
    assert!(
        left.iter().all(|r| r.1 == 2),
        "rows of another run's worker count were kept: {left:?}"
    );
}

/// A worker of an earlier run whose session outlived it (its process killed while its
/// COMMIT was on the way) commits after the rerun started: the rerun waits for that
/// commit and skips what it applied. (It read the rows before the commit, applied the
/// same inserts again and stopped on a duplicate key.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_of_an_earlier_runs_worker_is_waited_for() {
    // A key of a non-binary collation: every change of `latecommit.t` goes to worker
    // 0 of 2, by the table's name.
    let online = Online::new(
        "latecommit",
        "CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, n INT)",
    )
    .await;
    let mut config = online.config("latecommit");
    config.sync.workers = 2;
    online.copy(&config).await;
    online
        .source_sql("INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3)")
        .await;
    let mut source = connect(&online.source.url("")).await;
    let events = sqlx::raw_sql("SHOW BINLOG EVENTS")
        .fetch_all(&mut source)
        .await
        .unwrap();
    let (file, pos): (String, u64) = events
        .iter()
        .rev()
        .find(|e| sqlx::Row::get::<String, _>(*e, 2).starts_with("Write_rows"))
        .map(|e| (sqlx::Row::get(e, 0), sqlx::Row::get(e, 1)))
        .expect("the insert's row event");
    // The earlier run's worker 0, its transaction applied and its row written, the
    // COMMIT not yet landed.
    let mut late = connect(&online.target.url("")).await;
    late.execute("BEGIN").await.unwrap();
    late.execute("INSERT INTO latecommit.t VALUES ('a', 1), ('b', 2), ('c', 3)")
        .await
        .unwrap();
    sqlx::query(
        "REPLACE INTO unit_checkpoint.sync_worker (task, worker, workers, binlog_name, binlog_pos, row_index) \
         VALUES ('latecommit', 0, 2, ?, ?, 2)",
    )
    .bind(&file)
    .bind(pos)
    .execute(&mut late)
    .await
    .unwrap();
    let cutover = tokio::spawn({
        let config = config.clone();
        async move {
            let mut config = config;
            config.sync.cutover = true;
            Online::run(&mut unit_mysql::SyncUnit::new(config)).await
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    late.execute("COMMIT").await.unwrap();
    let result = cutover.await.unwrap();
    online.assert_ok(&result);
    online.assert_same();
}

/// The same with one applier: a killed run's batch and its checkpoint commit together,
/// and that COMMIT lands after the rerun started. The rerun waits for it and goes on
/// from the checkpoint it leaves. (It read the older checkpoint, applied the insert
/// again and stopped on a duplicate key.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_of_an_earlier_runs_batch_is_waited_for() {
    let online = Online::new("latebatch", "CREATE TABLE t (id INT PRIMARY KEY, n INT)").await;
    let mut config = online.config("latebatch");
    config.sync.workers = 1;
    online.copy(&config).await;
    online
        .source_sql("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
        .await;
    let mut source = connect(&online.source.url("")).await;
    let events = sqlx::raw_sql("SHOW BINLOG EVENTS")
        .fetch_all(&mut source)
        .await
        .unwrap();
    // The insert's transaction: its GTID, and where its commit event ends.
    let at = events
        .iter()
        .rposition(|e| sqlx::Row::get::<String, _>(e, 2).starts_with("Write_rows"))
        .expect("the insert's row event");
    let gtid = events[..at]
        .iter()
        .rev()
        .find_map(|e| {
            let info: String = sqlx::Row::get(e, 5);
            info.strip_prefix("BEGIN GTID ").map(str::to_owned)
        })
        .expect("the transaction's GTID");
    let (file, end): (String, u64) = events[at..]
        .iter()
        .find(|e| sqlx::Row::get::<String, _>(*e, 2) == "Xid")
        .map(|e| (sqlx::Row::get(e, 0), sqlx::Row::get(e, 4)))
        .expect("the transaction's commit");
    // The earlier run's batch and its checkpoint, the COMMIT not yet landed.
    let mut late = connect(&online.target.url("")).await;
    late.execute("BEGIN").await.unwrap();
    late.execute("INSERT INTO latebatch.t VALUES (1, 1), (2, 2), (3, 3)")
        .await
        .unwrap();
    sqlx::query(
        "UPDATE unit_checkpoint.sync_checkpoint SET binlog_name = ?, binlog_pos = ?, gtid = ? \
         WHERE task = 'latebatch'",
    )
    .bind(&file)
    .bind(end)
    .bind(&gtid)
    .execute(&mut late)
    .await
    .unwrap();
    let cutover = tokio::spawn({
        let mut config = config.clone();
        config.sync.cutover = true;
        async move { Online::run(&mut unit_mysql::SyncUnit::new(config)).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    late.execute("COMMIT").await.unwrap();
    let result = cutover.await.unwrap();
    online.assert_ok(&result);
    online.assert_same();
}

/// Whether a worker's row on the target records a change past the task's checkpoint
/// (by position: both were written reading the same server).
async fn worker_past_checkpoint(target: &str, task: &str) -> bool {
    let past: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM unit_checkpoint.sync_worker w \
         JOIN unit_checkpoint.sync_checkpoint c ON c.task = w.task \
         WHERE w.task = ? AND (w.binlog_name > c.binlog_name \
         OR (w.binlog_name = c.binlog_name AND w.binlog_pos > c.binlog_pos))",
    )
    .bind(task)
    .fetch_one(&mut connect(target).await)
    .await
    .unwrap_or(0);
    past > 0
}

/// A task pointed (with `use_gtid`) at a replica of its source while its workers had
/// applied changes past its checkpoint: the replica's binlog files are numbered lower
/// than the source's in one case, higher in the other. The rerun knows by GTID which
/// changes each worker applied, so none is skipped and none applied twice (issue 28
/// item 5: by file and offset, lower numbers skipped every change routed to a worker
/// with a row, silently, and higher ones applied committed changes again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_to_a_replica_with_workers_past_the_checkpoint_skips_and_repeats_nothing() {
    for (source_flushes, replica_flushes) in [(6, 0), (0, 6)] {
        let online = Online::new(
            "switch",
            "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(40) NOT NULL)",
        )
        .await;
        for _ in 0..source_flushes {
            online.source_sql("FLUSH BINARY LOGS").await;
        }
        let mut options = unit_integration_tests::online::binlog_options(2);
        options.push("--log-slave-updates".to_owned());
        let replica = MariaDb::start_with(options);
        for _ in 0..replica_flushes {
            exec(&replica.url(""), "FLUSH BINARY LOGS").await;
        }
        exec(
            &replica.url(""),
            &format!(
                "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, \
                 MASTER_USER = 'root', MASTER_USE_GTID = slave_pos; START SLAVE",
                online.source.port()
            ),
        )
        .await;
        let mut config = online.config("switch");
        config.sync.workers = 4;
        config.sync.batch = 20;
        config.sync.use_gtid = true;
        online.copy(&config).await;
        // A backlog of small transactions, inserts and updates.
        let mut load = String::new();
        for i in 0..400 {
            load.push_str(&format!(
                "INSERT INTO t SELECT seq, {i}, MD5(seq) FROM seq_{}_to_{};",
                i * 10 + 1,
                i * 10 + 10
            ));
            if i > 5 {
                load.push_str(&format!(
                    "UPDATE t SET v = v + 1 WHERE id BETWEEN {} AND {};",
                    i * 10 - 45,
                    i * 10 - 30
                ));
            }
        }
        online.source_sql(&load).await;
        // The replica holds all of it.
        let mut source = connect(&online.source.url("")).await;
        let mut follower = connect(&replica.url("")).await;
        let wanted: String = sqlx::query_scalar("SELECT @@gtid_binlog_pos")
            .fetch_one(&mut source)
            .await
            .unwrap();
        for attempt in 0.. {
            let at: String = sqlx::query_scalar("SELECT @@gtid_slave_pos")
                .fetch_one(&mut follower)
                .await
                .unwrap();
            if at == wanted {
                break;
            }
            assert!(
                attempt < 600,
                "the replica is at {at}, the source at {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Replicate from the source until a kill leaves a worker past the checkpoint.
        let target = online.target.url("");
        let mut left_past = false;
        for round in 0..40u64 {
            let sync = spawn_sync(&config);
            let deadline = std::time::Instant::now() + Duration::from_millis(300 + round * 50);
            while !worker_past_checkpoint(&target, "switch").await
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            sync.abort();
            let _ = sync.await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            if worker_past_checkpoint(&target, "switch").await {
                left_past = true;
                break;
            }
        }
        assert!(left_past, "no kill left a worker past the checkpoint");
        // The rest from the replica, whose files are numbered otherwise.
        config.source = replica.url("").parse().unwrap();
        let result = online.cutover(&config).await;
        online.assert_ok(&result);
        online.assert_same();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM switch.t")
            .fetch_one(&mut connect(&target).await)
            .await
            .unwrap();
        assert_eq!(rows, 4000, "flushes {source_flushes}/{replica_flushes}");
    }
}
