//! Where replication starts: the position a copy records under writes (with a
//! snapshot, without one, resumed without it), a recorded GTID or a given position,
//! and what the check unit says first.

use std::time::Duration;

use unit_core::Policy;
use unit_integration_tests::MariaDb;
use unit_integration_tests::online::{Online, connect, exec, spawn_sync};
use unit_mysql::{Consistency, CopyUnit};

use crate::{LOAD_TABLE, write_load};

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

/// A task started again from an earlier position (its checkpoint row deleted by hand
/// and the target emptied) after its parallel workers recorded later changes: the new
/// start forgets their rows, which would otherwise make the run skip those changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_started_again_from_an_earlier_position_skips_nothing() {
    let table = "CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL)";
    let online = Online::new("again", table).await;
    exec(&online.target.url("mysql"), "CREATE DATABASE again").await;
    exec(&online.target.url("again"), table).await;
    let mut source = connect(&online.source.url("")).await;
    let (file, pos): (String, u64) = {
        let status = sqlx::raw_sql("SHOW MASTER STATUS")
            .fetch_one(&mut source)
            .await
            .unwrap();
        (sqlx::Row::get(&status, 0), sqlx::Row::get(&status, 1))
    };
    online
        .source_sql(
            "INSERT INTO t SELECT seq, 0 FROM seq_1_to_500; UPDATE t SET n = n + 1 WHERE id % 2 = 0;",
        )
        .await;
    let mut config = online.config("again");
    config.consistency = None;
    config.sync.workers = 2;
    config.sync.start = Some(unit_mysql::BinlogPosition {
        file,
        pos,
        gtid: String::new(),
    });
    online.cutover_exact(&config).await;
    let mut target = connect(&online.target.url("")).await;
    let recorded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM unit_checkpoint.sync_worker WHERE task = 'again'")
            .fetch_one(&mut target)
            .await
            .unwrap();
    assert!(recorded > 0, "the workers recorded nothing");
    sqlx::raw_sql(
        "TRUNCATE again.t; DELETE FROM unit_checkpoint.sync_checkpoint WHERE task = 'again'",
    )
    .execute(&mut target)
    .await
    .unwrap();
    online.cutover_exact(&config).await;
}

/// The check unit runs after every unit's `init`: a refusal by the check must leave
/// the target as it was, without the selected databases, tables or the state tables
/// (issue 29: the copy's `init` created them, and a refused task left empty tables).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_the_check_refuses_writes_nothing_to_the_target() {
    use unit_core::prelude::*;
    use unit_mysql::{CheckUnit, SyncUnit, TaskConfig};
    // A source without binary logging: online replication is refused by the check.
    let source = MariaDb::start();
    let target = MariaDb::start();
    exec(
        &source.url("mysql"),
        "CREATE DATABASE refused; CREATE TABLE refused.t (id INT PRIMARY KEY, v TEXT);
         INSERT INTO refused.t VALUES (1, 'a'), (2, 'b')",
    )
    .await;
    let filter = unit_mysql::Filter {
        databases: vec!["refused".to_owned()],
        ..unit_mysql::Filter::default()
    };
    let mut config = TaskConfig::new(
        "refused",
        source.url("").parse().unwrap(),
        target.url("").parse().unwrap(),
        filter,
    );
    config.consistency = Some(Consistency::Auto);
    let units: Vec<BoxUnit<TaskConfig>> = vec![
        Box::new(CheckUnit::new(config.clone())),
        Box::new(CopyUnit::new(config.clone())),
        Box::new(SyncUnit::new(config.clone())),
    ];
    let task = Subtask::spawn(SubtaskConfig::new("refused"), units);
    let stage = tokio::time::timeout(
        Duration::from_secs(60),
        task.wait_for(|s| matches!(s, Stage::Paused | Stage::Finished)),
    )
    .await
    .expect("the task paused");
    let status = task.status();
    assert_eq!(stage, Stage::Paused, "{status:?}");
    assert_eq!(status.unit(), pb::UnitType::Check, "{status:?}");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
         AND TABLE_NAME <> 'privilege_probe'",
    )
    .fetch_all(&mut connect(&target.url("")).await)
    .await
    .unwrap();
    assert_eq!(tables, Vec::<String>::new());
    let databases: Vec<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'refused'",
    )
    .fetch_all(&mut connect(&target.url("")).await)
    .await
    .unwrap();
    assert!(databases.is_empty(), "{databases:?}");
    task.stop().await.unwrap();
    // The copy alone says the same, and never as an error a retry could fix (it was
    // a resumable lost connection, 10003).
    let result = unit_integration_tests::online::Online::run(&mut CopyUnit::new(config)).await;
    let [error] = result.errors.as_slice() else {
        panic!("{result:?}");
    };
    assert!(error.message.contains("binary logging is off"), "{error:?}");
    assert!(
        !unit_core::Recommended.explain(error).is_resumable(),
        "{error:?}"
    );
}
