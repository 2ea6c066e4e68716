//! The online-migration harness the Sync tests share: a source with binary logging and
//! a target, each a private MariaDB server, and the task that copies and replicates
//! between them.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Executor};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::MariaDb;
use unit_core::{Policy, Unit};
use unit_mysql::Consistency;
use unit_mysql::Filter;
use unit_mysql::{CopyUnit, MySqlUrl, SyncUnit, TaskConfig};
use unit_proto::pb;

/// Options of a source that replicas can read from.
pub fn binlog_options(server_id: u32) -> Vec<String> {
    vec![
        format!("--server-id={server_id}"),
        "--log-bin=binlog".to_owned(),
        "--binlog-format=ROW".to_owned(),
        "--binlog-row-image=FULL".to_owned(),
    ]
}

/// A connection to `url`, read as the units read a source's or a target's URL.
pub async fn connect(url: &str) -> MySqlConnection {
    let url: MySqlUrl = url.parse().unwrap();
    MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap()
}

/// Runs `sql` (one or more statements) on a new connection to `url`.
pub async fn exec(url: &str, sql: &str) {
    connect(url).await.execute(sql).await.unwrap();
}

/// A source with binary logging and a target, each a private MariaDB server, and the
/// database on the source that a task selects.
pub struct Online {
    /// The source: binary logging in ROW format with full row images.
    pub source: MariaDb,
    /// The target.
    pub target: MariaDb,
    /// The database the task selects, created on the source.
    pub db: String,
}

impl Online {
    /// Starts both servers and creates `db` on the source with `setup` run in it.
    pub async fn new(db: &str, setup: &str) -> Online {
        Online::with_options(db, setup, &[], &[]).await
    }

    /// [`Online::new`], its selection copied: the servers and the task's config.
    pub async fn copied(db: &str, setup: &str) -> (Online, TaskConfig) {
        let online = Online::new(db, setup).await;
        let config = online.config(db);
        online.copy(&config).await;
        (online, config)
    }

    /// [`Online::new`], the source and the target started with `source` and `target`
    /// added to their options.
    pub async fn with_options(db: &str, setup: &str, source: &[&str], target: &[&str]) -> Online {
        let mut source_options = binlog_options(1);
        source_options.extend(source.iter().map(|o| (*o).to_owned()));
        let online = Online {
            source: MariaDb::start_with(source_options),
            target: MariaDb::start_with(target.iter().map(|o| (*o).to_owned()).collect()),
            db: db.to_owned(),
        };
        exec(
            &online.source.url("mysql"),
            &format!("CREATE DATABASE {db}"),
        )
        .await;
        if !setup.is_empty() {
            online.source_sql(setup).await;
        }
        online
    }

    /// Runs `sql` in the selected database of the source.
    pub async fn source_sql(&self, sql: &str) {
        exec(&self.source.url(&self.db), sql).await;
    }

    /// A task named `task` from the source to the target, selecting [`Online::db`],
    /// with consistency `auto` and chunks of 7 rows.
    pub fn config(&self, task: &str) -> TaskConfig {
        let filter = Filter {
            databases: vec![self.db.clone()],
            ..Filter::default()
        };
        let mut config = TaskConfig::new(
            task,
            self.source.url("").parse().unwrap(),
            self.target.url("").parse().unwrap(),
            filter,
        );
        config.consistency = Some(Consistency::Auto);
        config.copy.chunk_rows = 7;
        config
    }

    /// Runs a unit's init and process; the process result.
    pub async fn run(unit: &mut dyn Unit<Config = TaskConfig>) -> pb::ProcessResult {
        let cancel = CancellationToken::new();
        unit.init(cancel.clone()).await.unwrap();
        let result = unit.process(cancel).await;
        unit.close().await;
        result
    }

    /// Runs a copy of `config` and asserts that it succeeded.
    pub async fn copy(&self, config: &TaskConfig) {
        let result = Self::run(&mut CopyUnit::new(config.clone())).await;
        assert!(result.errors.is_empty(), "copy failed: {:?}", result.errors);
    }

    /// Runs a Sync unit of `config` with cutover; its process result.
    pub async fn cutover(&self, config: &TaskConfig) -> pb::ProcessResult {
        let mut config = config.clone();
        config.sync.cutover = true;
        Self::run(&mut SyncUnit::new(config)).await
    }

    /// Asserts that the selected database is the same on both sides (their dumps).
    pub fn assert_same(&self) {
        self.assert_same_but(|dump| dump);
    }

    /// [`Online::assert_same`], with the source's dump passed through `adjust` first.
    pub fn assert_same_but(&self, adjust: impl Fn(String) -> String) {
        let dbs = [self.db.clone()];
        let (up, down) = (adjust(self.source.dump(&dbs)), self.target.dump(&dbs));
        assert!(up.contains("INSERT"), "the source is empty:\n{up}");
        if up != down {
            // Sets, not a line diff: dumps of a million rows compare in linear time;
            // long lines are cut for the report.
            let a: std::collections::HashSet<&str> = up.lines().collect();
            let b: std::collections::HashSet<&str> = down.lines().collect();
            let cut = |l: &&str| l.chars().take(400).collect::<String>();
            let only_up: Vec<String> = up
                .lines()
                .filter(|l| !b.contains(l))
                .map(|l| cut(&l))
                .take(50)
                .collect();
            let only_down: Vec<String> = down
                .lines()
                .filter(|l| !a.contains(l))
                .map(|l| cut(&l))
                .take(50)
                .collect();
            panic!(
                "source and target differ\nonly in source: {only_up:#?}\nonly in target: {only_down:#?}"
            );
        }
    }

    /// Runs a cutover and asserts that it succeeded and both sides are the same.
    pub async fn cutover_exact(&self, config: &TaskConfig) {
        let result = self.cutover(config).await;
        self.assert_ok(&result);
        self.assert_same();
    }

    /// Asserts that `result` failed with `code`, not resumable, its message saying
    /// every one of `says`; the error.
    pub fn refused<'r>(
        result: &'r pb::ProcessResult,
        code: i32,
        says: &[&str],
    ) -> &'r pb::ProcessError {
        let error = result.errors.first().expect("refused");
        assert_eq!(error.err_code, code, "{error:?}");
        for words in says {
            assert!(error.message.contains(words), "no {words:?} in {error:?}");
        }
        assert!(
            !unit_core::Recommended.explain(error).is_resumable(),
            "{error:?}"
        );
        error
    }

    /// Asserts that `result` has no errors, showing how the sides differ if it has.
    pub fn assert_ok(&self, result: &pb::ProcessResult) {
        if !result.errors.is_empty() {
            eprintln!("sync failed: {:?}", result.errors);
            let dbs = [self.db.clone()];
            if self.source.dump(&dbs) != self.target.dump(&dbs) {
                self.assert_same();
            }
            panic!("sync failed: {:?}", result.errors);
        }
    }
}

/// Runs a Sync unit (without cutover) in a task of its own.
pub fn spawn_sync(config: &TaskConfig) -> tokio::task::JoinHandle<pb::ProcessResult> {
    let config = config.clone();
    tokio::spawn(async move {
        let mut unit = SyncUnit::new(config);
        let cancel = CancellationToken::new();
        if let Err(e) = unit.init(cancel.clone()).await {
            return pb::ProcessResult {
                errors: vec![pb::ProcessError {
                    message: e.to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            };
        }
        unit.process(cancel).await
    })
}

impl Online {
    /// Runs a copy of `config` and drops it (as a kill would) once at least `rows`
    /// rows are committed on the target.
    pub async fn copy_dropped_after(&self, config: &TaskConfig, rows: i64) {
        let copy = tokio::spawn({
            let config = config.clone();
            async move { Online::run(&mut CopyUnit::new(config)).await }
        });
        let mut target = connect(&self.target.url("")).await;
        loop {
            let copied: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(SUM(rows_copied) AS SIGNED) FROM unit_checkpoint.copy_checkpoint WHERE task = ?",
            )
            .bind(&config.task)
            .fetch_one(&mut target)
            .await
            .unwrap_or(None);
            if copied.unwrap_or(0) >= rows {
                break;
            }
            assert!(
                !copy.is_finished(),
                "the copy ended before it could be dropped"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        copy.abort();
        let _ = copy.await;
    }

    /// The task's replication checkpoint on the target.
    pub async fn checkpoint(&self, task: &str) -> unit_mysql::SyncCheckpoint {
        let config = self.config(task);
        assert_eq!(config.checkpoint_database, "unit_checkpoint");
        unit_mysql::inspect::sync_checkpoint(&config)
            .await
            .unwrap()
            .unwrap()
    }
}

/// Every table of `db` on the server at `url`, read by neither side's code and alike
/// on MySQL and MariaDB of any release: per table, its column names (invisible ones
/// too), then its rows, each value's bytes (a number's as its text) in hex, sorted.
pub async fn every_row(url: &str, db: &str) -> Vec<String> {
    let mut conn = connect(url).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? \
         AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
    )
    .bind(db)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        )
        .bind(db)
        .bind(&table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        out.push(format!("{table}: {}", columns.join(",")));
        let values = columns
            .iter()
            .map(|c| format!("IFNULL(HEX(CONCAT(`{c}`)), 'NULL')"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT CONCAT_WS('|', {values}) FROM `{db}`.`{table}`"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        rows.sort();
        out.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    out
}

/// Runs each of `changes` on the source at `url` while the Sync unit of `config`
/// replicates, dropping the unit after each at a later instant than the one before,
/// then cuts over; the unit must not stop on its own, and the cutover must succeed.
pub async fn replicate_dropped_then_cut_over(config: &TaskConfig, url: &str, changes: &[&str]) {
    for (i, sql) in changes.iter().enumerate() {
        exec(url, sql).await;
        let sync = spawn_sync(config);
        tokio::time::sleep(Duration::from_millis(40 + 35 * i as u64)).await;
        if sync.is_finished() {
            panic!(
                "{}: the Sync unit stopped: {:?}",
                config.task,
                sync.await.unwrap().errors
            );
        }
        sync.abort();
        let _ = sync.await;
    }
    let mut config = config.clone();
    config.sync.cutover = true;
    let result = Online::run(&mut SyncUnit::new(config.clone())).await;
    assert!(
        result.errors.is_empty(),
        "{}: cutover failed: {:?}",
        config.task,
        result.errors
    );
}

/// Asserts that `target` holds the rows `source` holds (as [`every_row`] reads them),
/// naming only the lines that differ (each cut to 300 characters).
pub fn assert_same_rows(source: &[String], target: &[String], what: &str) {
    if source == target {
        return;
    }
    let cut = |l: &String| l.chars().take(300).collect::<String>();
    let only_source: Vec<String> = source
        .iter()
        .filter(|l| !target.contains(l))
        .map(cut)
        .collect();
    let only_target: Vec<String> = target
        .iter()
        .filter(|l| !source.contains(l))
        .map(cut)
        .collect();
    panic!(
        "{what}: source and target differ\nonly in the source: {only_source:#?}\nonly in the target: {only_target:#?}"
    );
}

/// A task `name` from `source` to `target` (URLs without a database) selecting `db`,
/// with consistency `auto` and `workers` sync workers: for servers of any kind or
/// release, where [`Online::config`] is for the harness's own pair.
pub fn task(
    name: impl Into<String>,
    source: &str,
    target: &str,
    db: &str,
    workers: usize,
) -> TaskConfig {
    let filter = Filter {
        databases: vec![db.to_owned()],
        ..Filter::default()
    };
    let mut config = TaskConfig::new(
        name,
        source.parse().unwrap(),
        target.parse().unwrap(),
        filter,
    );
    config.consistency = Some(Consistency::Auto);
    config.sync.workers = workers;
    config
}
