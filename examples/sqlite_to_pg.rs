//! A second example adapter: a unit that copies one SQLite table into PostgreSQL,
//! with an SQLite error classifier of its own, written with the public API only:
//! `unit-core` (the unit, the supervised run), `unit-sql` (cancellation, the checkpoint
//! store, the classification kit) and `unit-postgres` (the target's classifier).
//!
//! The table has an integer key `id`; its other columns may be integers, reals, text or
//! NULL (SQLite's JSON functions carry them; a BLOB is refused with a clear error).
//! Each chunk is read as one JSON array and written with `json_populate_recordset`, in
//! one target transaction with its checkpoint: a killed process, a lost connection or
//! a new run continues after the last committed chunk, and nothing is copied twice.
//!
//! ```text
//! cargo run -p unit-integration-tests --example sqlite_to_pg -- \
//!     sqlite:///tmp/shop.db postgres://postgres@127.0.0.1/dst orders
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteError, SqlitePool, SqlitePoolOptions};
use sqlx::{Postgres, Row};
use unit_core::prelude::*;
use unit_sql::{CheckpointStore, Chunk, CodeRule, Operation, RuleTable, cancellable, judge_sqlx};

/// SQLite's result codes and what a retry can do about them. An extended code (2067,
/// `SQLITE_CONSTRAINT_UNIQUE`) is judged by its primary code (its low byte, 19).
pub(crate) const SQLITE: RuleTable = RuleTable::new(
    "SQLite result code",
    &[
        CodeRule::resumable("5", "SQLITE_BUSY", "another connection writes; it ends"),
        CodeRule::resumable("6", "SQLITE_LOCKED", "a table is locked; the lock ends"),
        CodeRule::resumable("10", "SQLITE_IOERR", "an I/O error; it may pass"),
        CodeRule::resumable("13", "SQLITE_FULL", "the disk is full; retry once freed"),
        CodeRule::resumable("15", "SQLITE_PROTOCOL", "a lock protocol race; run again"),
        CodeRule::permanent("1", "SQLITE_ERROR", "an SQL error or a missing table"),
        CodeRule::permanent("8", "SQLITE_READONLY", "the database is read-only"),
        CodeRule::permanent("11", "SQLITE_CORRUPT", "the database file is corrupt"),
        CodeRule::permanent("14", "SQLITE_CANTOPEN", "the file cannot be opened"),
        CodeRule::permanent("23", "SQLITE_AUTH", "access is denied"),
        CodeRule::permanent("26", "SQLITE_NOTADB", "the file is not a database"),
    ],
);

/// The report of a failure: SQLite's errors by [`SQLITE`], PostgreSQL's by
/// unit-postgres.
pub(crate) fn process_error(
    e: &sqlx::Error,
    scope: ErrScope,
    op: Operation<'_>,
) -> pb::ProcessError {
    if scope == ErrScope::Downstream {
        return unit_postgres::process_error(e, scope, op);
    }
    let judged = judge_sqlx(e, op, &SQLITE, |db| {
        db.try_downcast_ref::<SqliteError>()?; // another database's error: not judged
        let extended = db.code()?.into_owned();
        let primary = (extended.parse::<i64>().ok()? & 0xff).to_string();
        Some(vec![Cow::Owned(extended), Cow::Owned(primary)])
    });
    unit_sql::process_error(&judged, scope, op)
}

type Failure = unit_sql::Failure<sqlx::Error>;

/// The unit: one table, from an SQLite database to a PostgreSQL one.
pub(crate) struct SqliteToPg {
    source_url: String,
    target_url: String,
    table: String,
    chunk_rows: i64,
    pools: Option<(SqlitePool, PgPool)>,
    store: CheckpointStore<Postgres>,
    /// Rows and bytes committed by this instance: auto-resume reads `finished_bytes`.
    copied: Arc<(AtomicI64, AtomicI64)>,
}

impl SqliteToPg {
    pub(crate) fn new(source_url: &str, target_url: &str, table: &str) -> Self {
        Self {
            source_url: source_url.to_owned(),
            target_url: target_url.to_owned(),
            table: table.to_owned(),
            chunk_rows: 1000,
            pools: None,
            store: CheckpointStore::new("unit_checkpoint", &format!("sqlite-{table}")),
            copied: Arc::default(),
        }
    }

    /// The chunk after `last`: `max(id)`, the row count and the rows as a JSON array,
    /// read by SQLite from the columns it lists for the table.
    async fn read_sql(&self, source: &SqlitePool) -> Result<String, sqlx::Error> {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(&self.table)
            .fetch_all(source)
            .await?;
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let pairs: Vec<String> = columns
            .iter()
            .map(|c| format!("'{}', {}", c.replace('\'', "''"), quote(c)))
            .collect();
        Ok(format!(
            "SELECT max(id), count(*), coalesce(json_group_array(json(r)), '[]') FROM \
             (SELECT id, json_object({}) AS r FROM {} WHERE id > ? ORDER BY id LIMIT ?)",
            pairs.join(", "),
            quote(&self.table)
        ))
    }

    async fn copy(&self, cancel: &CancellationToken) -> Result<(), Failure> {
        let (source, target) = self.pools.as_ref().expect("process runs after init");
        let plan = async {
            let mut conn = target.acquire().await?;
            self.store
                .plan(&mut conn, "public", &self.table, &[(None, None)])
                .await
        };
        let read_plan = Operation::Query("SELECT ... FROM unit_checkpoint.copy_checkpoint");
        let part = cancellable(cancel, plan)
            .await
            .map_err(Failure::on(ErrScope::Downstream, read_plan))?
            .remove(0);
        let mut last: i64 = part
            .last_key
            .as_deref()
            .and_then(|k| k.parse().ok())
            .unwrap_or(i64::MIN);
        let read = cancellable(cancel, self.read_sql(source))
            .await
            .map_err(Failure::on(
                ErrScope::Upstream,
                Operation::Query("pragma_table_info"),
            ))?;
        let ident = format!("public.\"{}\"", self.table.replace('"', "\"\""));
        let write = format!(
            "INSERT INTO {ident} SELECT * FROM json_populate_recordset(NULL::{ident}, $1::json)"
        );
        let mut done = part.done;
        while !done {
            let fetch = sqlx::query(&read)
                .bind(last)
                .bind(self.chunk_rows)
                .fetch_one(source);
            let row = cancellable(cancel, fetch)
                .await
                .map_err(Failure::on(ErrScope::Upstream, Operation::Query(&read)))?;
            let (max, rows, json): (Option<i64>, i64, String) =
                (row.get(0), row.get(1), row.get(2));
            done = rows < self.chunk_rows;
            last = max.unwrap_or(last);
            let key = last.to_string();
            let mut chunk = Chunk::new("public", &self.table, part.part)
                .counts(rows, json.len() as i64)
                .after(&key);
            if done {
                chunk = chunk.finished();
            }
            // The rows and their checkpoint commit together or not at all.
            let commit = async {
                let mut tx = target.begin().await?;
                sqlx::query(&write).bind(&json).execute(&mut *tx).await?;
                self.store.commit_chunk(&mut tx, &chunk).await?;
                tx.commit().await
            };
            cancellable(cancel, commit).await.map_err(Failure::on(
                ErrScope::Downstream,
                Operation::Execute(&write),
            ))?;
            self.copied.0.fetch_add(rows, Ordering::Relaxed);
            self.copied
                .1
                .fetch_add(json.len() as i64, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[async_trait]
impl Unit for SqliteToPg {
    type Config = ();

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        let wait = Duration::from_secs(5);
        let source = SqlitePoolOptions::new()
            .acquire_timeout(wait)
            .connect(&self.source_url);
        let source = cancellable(&cancel, source).await.map_err(|e| {
            ProcessFailure(
                Failure::on(ErrScope::Upstream, Operation::Connect)(e).report(process_error),
            )
        })?;
        let target = async {
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(wait);
            let pool = pool.connect(&self.target_url).await?;
            self.store.create(&mut *pool.acquire().await?).await?;
            Ok(pool)
        };
        let target = cancellable(&cancel, target).await.map_err(|e| {
            ProcessFailure(
                Failure::on(ErrScope::Downstream, Operation::Connect)(e).report(process_error),
            )
        })?;
        self.pools = Some((source, target));
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        match self.copy(&cancel).await {
            Ok(()) => result::finished(),
            Err(_) if cancel.is_cancelled() => result::cancelled(),
            Err(failure) => result::failed([failure.report(process_error)]),
        }
    }

    async fn close(&mut self) {
        if let Some((source, target)) = self.pools.take() {
            source.close().await;
            target.close().await;
        }
    }

    async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> {
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let copied = self.copied.clone();
        Arc::new(move |_: Option<&SourceStatus>| {
            UnitStatus::Load(pb::LoadStatus {
                finished_bytes: copied.1.load(Ordering::Relaxed),
                progress: format!("{} rows", copied.0.load(Ordering::Relaxed)),
                ..Default::default()
            })
        })
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Load
    }

    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError> {
        let (_, target) = self.pools.as_ref().ok_or("is_fresh_task before init")?;
        let fresh = async {
            self.store
                .is_fresh_task(&mut *target.acquire().await?)
                .await
        };
        Ok(cancellable(&cancel, fresh).await?)
    }
}

/// Runs the copy under auto-resume until it finishes or needs a person (its report).
pub(crate) async fn run(source: &str, target: &str, table: &str) -> Result<(), pb::ProcessError> {
    let units: Vec<BoxUnit<()>> = vec![Box::new(SqliteToPg::new(source, target, table))];
    let auto = AutoResumeConfig::default().with_check_interval(Duration::from_millis(200));
    let config = SubtaskConfig::new(format!("sqlite-{table}"));
    let mut task = Supervised::spawn(config, units, auto).expect("a valid configuration");
    let ending = task.run().await;
    let status = task.handle().status();
    task.stop().await;
    match ending {
        Ending::Finished => Ok(()),
        Ending::GaveUp {
            last_error: Some(e),
            ..
        } => Err(*e),
        _ => Err(status
            .result
            .and_then(|r| r.errors.into_iter().next())
            .unwrap_or_default()),
    }
}

#[allow(dead_code)] // run by `cargo run --example`; the tests call `run`
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, target, table] = args.as_slice() else {
        eprintln!("usage: sqlite_to_pg SQLITE_URL POSTGRES_URL TABLE");
        std::process::exit(2);
    };
    match run(source, target, table).await {
        Ok(()) => println!("copied {table}"),
        Err(e) => {
            eprintln!("stopped: {} ({})", e.message, e.raw_cause);
            std::process::exit(1);
        }
    }
}
