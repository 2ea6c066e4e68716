//! The copy unit: copies tables from a source MySQL server to a target one, in key
//! order, one chunk per target transaction together with its checkpoint, so that a
//! pause, kill, crash or resume continues exactly after the last committed chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Executor, Row};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span};
use unit_core::{BoxError, ErrScope, ErrorCode, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::cancel::{StatementError, cancellable};
use crate::classify::Operation;
use crate::dsn::MySqlUrl;
use crate::schema::{Filter, SchemaError, Table, discover, ident, key_literal};

/// Settings of a [`CopyUnit`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CopyConfig {
    /// Where rows are read.
    pub source: MySqlUrl,
    /// Where rows are written, and where the checkpoints live.
    pub target: MySqlUrl,
    /// Which tables to copy.
    pub filter: Filter,
    /// Rows per chunk (one target transaction each).
    pub chunk_rows: usize,
    /// Parts copied at the same time: whole tables, or key ranges of split tables.
    pub concurrency: usize,
    /// A table estimated to hold at least twice this many rows, whose key starts with an
    /// integer column, is split into key ranges of about this many rows or more (at
    /// most `concurrency` of them), copied at the same time; 0 never splits. The split
    /// is recorded with the checkpoints on the table's first run and kept by every
    /// later run of the task.
    pub split_rows: u64,
    /// The target database holding the checkpoint table.
    pub checkpoint_database: String,
    /// The task's name: checkpoints are kept per task.
    pub task: String,
    /// How long to wait for a connection before reporting a (resumable) failure.
    pub acquire_timeout: Duration,
    /// How copied tables are compared with their source; `None` chooses when the copy
    /// starts (see [`Verification`]).
    pub verification: Option<Verification>,
}

/// How a copied table is compared with its source, once it is copied.
///
/// Both compare the row count (`COUNT(*)`) and a checksum of every row on each side,
/// and a difference fails the copy with code 60004, which is never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The server's `CHECKSUM TABLE`, a checksum of the rows as stored. It costs about a
    /// third of [`Verification::RowText`], but the stored form of some types changes
    /// between server versions, so it is only comparable between servers that report
    /// the same `VERSION()`; a copy chooses it when they do.
    ChecksumTable,
    /// [`table_checksum`]: the sum of a CRC32 of each row's text form, comparable
    /// between any versions; a copy chooses it when the versions differ.
    RowText,
}

impl CopyConfig {
    /// Settings with defaults: 5,000-row chunks, 4 tables at a time, checkpoints in
    /// `unit_checkpoint`, verification chosen by the servers' versions.
    ///
    /// Each table being copied holds up to two chunks in memory (one being written, the
    /// next being read), so memory is about `2 × chunk_rows × concurrency` rows: lower
    /// `chunk_rows` for tables of wide rows.
    pub fn new(
        task: impl Into<String>,
        source: MySqlUrl,
        target: MySqlUrl,
        filter: Filter,
    ) -> Self {
        Self {
            source,
            target,
            filter,
            chunk_rows: 5000,
            concurrency: 4,
            split_rows: 100_000,
            checkpoint_database: "unit_checkpoint".to_owned(),
            task: task.into(),
            acquire_timeout: Duration::from_secs(10),
            verification: None,
        }
    }
}

/// Progress counters shared with the status handle.
#[derive(Debug, Default)]
struct Progress {
    finished_bytes: AtomicI64,
    total_bytes: AtomicI64,
    /// When copying started, for the speed.
    epoch: std::sync::OnceLock<Instant>,
}

impl Progress {
    fn elapsed(&self) -> Duration {
        self.epoch.get_or_init(Instant::now).elapsed()
    }

    fn status(&self) -> pb::LoadStatus {
        let finished = self.finished_bytes.load(Ordering::Relaxed);
        let total = self.total_bytes.load(Ordering::Relaxed).max(finished);
        let percent = if total > 0 {
            finished as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let secs = self.elapsed().as_secs_f64();
        let bps = if secs > 0.0 {
            (finished as f64 / secs) as i64
        } else {
            0
        };
        pb::LoadStatus {
            finished_bytes: finished,
            total_bytes: total,
            progress: format!("{percent:.2} %"),
            bps,
            ..Default::default()
        }
    }
}

/// A MySQL-to-MySQL copy as a [`Unit`] of type Load.
///
/// - **Schema**: `init` creates each selected table on the target from the source's
///   `SHOW CREATE TABLE`, accepts a table that exists with the same definition, and
///   refuses one with another definition ([`CopyError::DifferentTable`], code 60001).
/// - **Chunks**: each table, or each key range of a big table (see
///   [`CopyConfig::split_rows`]), is read in key order over the text protocol, so that
///   values arrive exactly as the server prints them, `chunk_rows` rows at a time
///   (keyset pagination). Each chunk is inserted in one target transaction that also
///   moves its checkpoint row in `<checkpoint_database>.copy_checkpoint`: after a pause,
///   kill, crash or auto-resume the copy continues after the last committed chunk, and
///   no row is lost or written twice.
/// - **Verification**: each table's row count and checksum are compared on both sides
///   once it is copied ([`Verification`]); a difference is code 60004, never retried.
/// - **Errors** go through this crate's mapping: a lost connection or a restarted
///   server is resumable, a duplicate key on the target (1062) is not.
/// - **Status**: a [`pb::LoadStatus`] (bytes, progress, speed), readable while copying.
///
/// # Example
/// ```no_run
/// use unit_core::{BoxUnit, Subtask, SubtaskConfig};
/// use unit_mysql::{CopyConfig, CopyUnit, schema::Filter};
/// use unit_proto::pb::Stage;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let filter = Filter {
///     databases: vec!["shop".into()],
///     ..Filter::default()
/// };
/// let source = "mysql://reader:secret@10.0.0.1:3306/".parse()?;
/// let target = "mysql://writer:secret@10.0.0.2:3306/".parse()?;
/// let config = CopyConfig::new("nightly", source, target, filter);
/// let units: Vec<BoxUnit<CopyConfig>> = vec![Box::new(CopyUnit::new(config))];
/// let subtask = Subtask::spawn(SubtaskConfig::new("nightly"), units);
/// let stage = subtask
///     .wait_for(|s| matches!(s, Stage::Finished | Stage::Paused))
///     .await;
/// println!("{stage:?}: {:?}", subtask.status().result);
/// # Ok(())
/// # }
/// ```
pub struct CopyUnit {
    config: CopyConfig,
    source: Option<MySqlPool>,
    target: Option<MySqlPool>,
    tables: Vec<Table>,
    /// Chosen in `init`.
    verification: Verification,
    progress: Arc<Progress>,
}

impl std::fmt::Debug for CopyUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyUnit")
            .field("task", &self.config.task)
            .field("source", &self.config.source)
            .field("target", &self.config.target)
            .field("tables", &self.tables.len())
            .field("verification", &self.verification)
            .finish()
    }
}

/// A failure of the copy, with the side it happened on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// A database operation failed.
    #[error("{scope} {op}: {source}")]
    Statement {
        /// Which server.
        scope: &'static str,
        /// What kind of operation it was.
        kind: OpKind,
        /// What was being done, with the statement summarised.
        op: String,
        /// The failure.
        #[source]
        source: StatementError,
    },
    /// The schema cannot be copied.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// Source and target differ after the copy.
    #[error(
        "verification failed for {table}: source has {source_rows} rows (checksum {source_sum}), target {target_rows} rows (checksum {target_sum})"
    )]
    Mismatch {
        /// `db.table`
        table: String,
        /// Rows in the source.
        source_rows: i64,
        /// Checksum of the source rows.
        source_sum: String,
        /// Rows in the target.
        target_rows: i64,
        /// Checksum of the target rows.
        target_sum: String,
    },
    /// The target already has the table with another definition.
    #[error(
        "target table {table} exists with a different definition; drop or rename it, or exclude the table"
    )]
    DifferentTable {
        /// `db.table`
        table: String,
    },
}

/// Opens a pool whose sessions read and write values exactly: UTC time zone, no
/// automatic values for zero, strict mode, no foreign-key checks while copying.
async fn open_pool(
    url: &MySqlUrl,
    size: u32,
    acquire_timeout: Duration,
) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(acquire_timeout)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "SET time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', \
                     foreign_key_checks = 0",
                )
                .await?;
                Ok(())
            })
        })
        .connect_with(url.connect_options())
        .await
}

/// The kind of a failed operation, kept so that its `ProcessError` gets the right code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Opening a connection.
    Connect,
    /// `BEGIN`.
    Begin,
    /// A read.
    Query,
    /// A write.
    Execute,
    /// `COMMIT`.
    Commit,
}

fn stmt_err(scope: ErrScope, op: Operation<'_>, source: StatementError) -> CopyError {
    let (kind, what) = match op {
        Operation::Query(sql) => (OpKind::Query, crate::summarize_statement(sql)),
        Operation::Execute(sql) => (OpKind::Execute, crate::summarize_statement(sql)),
        Operation::Connect => (OpKind::Connect, "connect".to_owned()),
        Operation::Begin => (OpKind::Begin, "BEGIN".to_owned()),
        Operation::Commit => (OpKind::Commit, "COMMIT".to_owned()),
    };
    CopyError::Statement {
        scope: scope.as_str(),
        kind,
        op: what,
        source,
    }
}

/// Strips the parts of `SHOW CREATE TABLE` that differ between equal tables.
fn normalize_create(create: &str) -> String {
    create
        .split_whitespace()
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect::<Vec<_>>()
        .join(" ")
}

impl CopyUnit {
    /// A copy unit with `config`; nothing is opened until `init`.
    pub fn new(config: CopyConfig) -> Self {
        Self {
            config,
            source: None,
            target: None,
            tables: Vec::new(),
            verification: Verification::RowText,
            progress: Arc::default(),
        }
    }

    /// The tables selected for copying (known after `init`).
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    fn checkpoint_table(&self) -> String {
        format!(
            "{}.`copy_checkpoint`",
            ident(&self.config.checkpoint_database)
        )
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), CopyError> {
        let size = u32::try_from(self.config.concurrency.max(1) + 1).unwrap_or(8);
        let source = cancellable(
            cancel,
            open_pool(&self.config.source, size, self.config.acquire_timeout),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Connect, e))?;
        self.source = Some(source.clone());
        let target = cancellable(
            cancel,
            open_pool(&self.config.target, size, self.config.acquire_timeout),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e))?;
        self.target = Some(target.clone());
        let ddl = [
            format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                ident(&self.config.checkpoint_database)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(128) NOT NULL, db VARCHAR(64) NOT NULL, \
                 tbl VARCHAR(64) NOT NULL, part INT NOT NULL DEFAULT 0, lo VARCHAR(40) NULL, \
                 hi VARCHAR(40) NULL, last_key TEXT NULL, rows_copied BIGINT NOT NULL DEFAULT 0, \
                 bytes_copied BIGINT NOT NULL DEFAULT 0, done TINYINT(1) NOT NULL DEFAULT 0, \
                 PRIMARY KEY (task, db, tbl, part)) ENGINE=InnoDB",
                self.checkpoint_table()
            ),
        ];
        for sql in &ddl {
            cancellable(cancel, target.execute(sql.as_str()))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(sql), e))?;
        }
        self.verification = match self.config.verification {
            Some(chosen) => chosen,
            None => {
                let version = "SELECT VERSION()";
                let (up, down) = tokio::join!(
                    cancellable(
                        cancel,
                        sqlx::query_scalar::<_, String>(version).fetch_one(&source)
                    ),
                    cancellable(
                        cancel,
                        sqlx::query_scalar::<_, String>(version).fetch_one(&target)
                    ),
                );
                let up =
                    up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(version), e))?;
                let down =
                    down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(version), e))?;
                if up == down {
                    Verification::ChecksumTable
                } else {
                    Verification::RowText
                }
            }
        };
        self.tables = discover(&source, &self.config.filter).await?;
        let total: u64 = self.tables.iter().map(|t| t.estimated_bytes).sum();
        self.progress
            .total_bytes
            .store(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
        for table in &self.tables {
            self.create_target_table(&target, table, cancel).await?;
        }
        info!(tables = self.tables.len(), verification = ?self.verification, "copy prepared");
        Ok(())
    }

    async fn create_target_table(
        &self,
        target: &MySqlPool,
        table: &Table,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        let create_db = format!("CREATE DATABASE IF NOT EXISTS {}", ident(&table.database));
        cancellable(cancel, target.execute(create_db.as_str()))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&create_db), e))?;
        let show = format!("SHOW CREATE TABLE {}", table.qualified());
        match cancellable(cancel, sqlx::raw_sql(&show).fetch_all(target))
            .await
            .map(|rows| rows.into_iter().next())
        {
            Ok(Some(row)) => {
                let existing =
                    String::from_utf8_lossy(&raw(&row, 1).unwrap_or_default()).into_owned();
                if normalize_create(&existing) != normalize_create(&table.create) {
                    return Err(CopyError::DifferentTable {
                        table: table.display_name(),
                    });
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(StatementError::Sqlx(e))
                if crate::server_error(&e)
                    .is_some_and(|d| d.number() == crate::codes::ER_NO_SUCH_TABLE) =>
            {
                let create = format!("USE {}", ident(&table.database));
                let mut conn = target
                    .acquire()
                    .await
                    .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e.into()))?;
                for sql in [create.as_str(), table.create.as_str()] {
                    cancellable(cancel, conn.execute(sql))
                        .await
                        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(sql), e))?;
                }
                Ok(())
            }
            Err(e) => Err(stmt_err(ErrScope::Downstream, Operation::Query(&show), e)),
        }
    }

    async fn copy_all(&self, cancel: &CancellationToken) -> Vec<CopyError> {
        let (Some(source), Some(target)) = (self.source.clone(), self.target.clone()) else {
            return Vec::new();
        };
        let _ = self.progress.epoch.get_or_init(Instant::now);
        // A failing job stops the others through a child token, so that the result
        // does not look cancelled from outside (which would keep auto-resume away).
        let cancel = &cancel.child_token();
        let ctx = Arc::new(CopyContext {
            source,
            target,
            task: self.config.task.clone(),
            checkpoint: self.checkpoint_table(),
            chunk_rows: self.config.chunk_rows.max(1),
            verification: self.verification,
            progress: self.progress.clone(),
            cancel: cancel.clone(),
        });
        let mut pending = match self.jobs(&ctx).await {
            Ok(jobs) => jobs,
            Err(e) => return vec![e],
        };
        let mut running = JoinSet::new();
        let mut errors = Vec::new();
        loop {
            while running.len() < self.config.concurrency.max(1) && errors.is_empty() {
                let Some(job) = pending.pop_front() else {
                    break;
                };
                let span = match &job.part {
                    Some(part) => {
                        info_span!("copy", table = %job.table.display_name(), part = part.index)
                    }
                    None => info_span!("copy", table = %job.table.display_name()),
                };
                running.spawn(job.run().instrument(span));
            }
            match running.join_next().await {
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(e))) => {
                    errors.push(e);
                    cancel.cancel();
                }
                Some(Err(join)) => {
                    errors.push(internal(&join));
                    cancel.cancel();
                }
                None => break,
            }
        }
        errors
    }

    /// The work left: every unfinished part of every table (planned on the first run),
    /// and a verification for each table an earlier run finished. Largest parts first,
    /// so that the copy does not end with one big range running alone.
    async fn jobs(
        &self,
        ctx: &Arc<CopyContext>,
    ) -> Result<std::collections::VecDeque<PartCopy>, CopyError> {
        let mut verify = Vec::new();
        let mut parts = Vec::new();
        for table in &self.tables {
            let table = Arc::new(table.clone());
            let plan = self.plan(ctx, &table).await?;
            let open: Vec<Part> = plan.iter().filter(|p| !p.done).cloned().collect();
            let remaining = Arc::new(AtomicUsize::new(open.len()));
            if open.is_empty() {
                debug!(table = %table.display_name(), "already copied");
                verify.push(PartCopy {
                    ctx: ctx.clone(),
                    table,
                    part: None,
                    remaining,
                });
                continue;
            }
            let share = table.estimated_rows / plan.len() as u64;
            for part in open {
                parts.push((
                    share,
                    PartCopy {
                        ctx: ctx.clone(),
                        table: table.clone(),
                        part: Some(part),
                        remaining: remaining.clone(),
                    },
                ));
            }
        }
        parts.sort_by_key(|(share, _)| std::cmp::Reverse(*share));
        Ok(verify
            .into_iter()
            .chain(parts.into_iter().map(|(_, job)| job))
            .collect())
    }

    /// The table's parts as recorded in the checkpoint table, or, on the table's first
    /// run, a new split recorded there before anything is copied (so every later run
    /// continues the same parts).
    async fn plan(&self, ctx: &CopyContext, table: &Table) -> Result<Vec<Part>, CopyError> {
        let recorded = self.recorded_parts(ctx, table).await?;
        if !recorded.is_empty() {
            return Ok(recorded);
        }
        let spans = self.spans(ctx, table).await?;
        let tuples = vec!["(?, ?, ?, ?, ?, ?)"; spans.len()].join(", ");
        let insert = format!(
            "INSERT INTO {} (task, db, tbl, part, lo, hi) VALUES {tuples}",
            ctx.checkpoint
        );
        let mut q = sqlx::query(&insert);
        for (index, (lo, hi)) in (0i32..).zip(&spans) {
            q = q
                .bind(&ctx.task)
                .bind(&table.database)
                .bind(&table.name)
                .bind(index)
                .bind(lo.map(|v| v.to_string()))
                .bind(hi.map(|v| v.to_string()));
        }
        match cancellable(&ctx.cancel, q.execute(&ctx.target)).await {
            Ok(_) => {}
            // Another run of the task recorded its plan first: follow that one.
            Err(StatementError::Sqlx(e))
                if crate::server_error(&e)
                    .is_some_and(|d| d.number() == crate::codes::ER_DUP_ENTRY) => {}
            Err(e) => {
                return Err(stmt_err(
                    ErrScope::Downstream,
                    Operation::Execute(&insert),
                    e,
                ));
            }
        }
        if spans.len() > 1 {
            info!(table = %table.display_name(), parts = spans.len(), "table split into key ranges");
        }
        self.recorded_parts(ctx, table).await
    }

    async fn recorded_parts(
        &self,
        ctx: &CopyContext,
        table: &Table,
    ) -> Result<Vec<Part>, CopyError> {
        let select = format!(
            "SELECT part, lo, hi, last_key, done FROM {} WHERE task = ? AND db = ? AND tbl = ? ORDER BY part",
            ctx.checkpoint
        );
        let rows = cancellable(
            &ctx.cancel,
            sqlx::query(&select)
                .bind(&ctx.task)
                .bind(&table.database)
                .bind(&table.name)
                .fetch_all(&ctx.target),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(&select), e))?;
        rows.iter()
            .map(|row| {
                Ok(Part {
                    index: row.try_get(0)?,
                    lo: row.try_get(1)?,
                    hi: row.try_get(2)?,
                    last_key: row.try_get::<Option<String>, _>(3)?.map(|k| decode_key(&k)),
                    done: row.try_get::<i8, _>(4)? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| {
                stmt_err(
                    ErrScope::Downstream,
                    Operation::Query(&select),
                    StatementError::Sqlx(e),
                )
            })
    }

    /// Ranges of the first key column to copy at the same time: several when the table
    /// is estimated to hold at least twice `split_rows` rows and its key starts with an
    /// integer column, else one range covering everything.
    async fn spans(
        &self,
        ctx: &CopyContext,
        table: &Table,
    ) -> Result<Vec<(Option<i128>, Option<i128>)>, CopyError> {
        let whole = vec![(None, None)];
        let split_rows = self.config.split_rows;
        let wanted = table
            .estimated_rows
            .checked_div(split_rows)
            .unwrap_or(1)
            .min(self.config.concurrency as u64);
        let Some(first) = table.key.first().map(|&i| &table.columns[i]) else {
            return Ok(whole);
        };
        if wanted < 2 || !first.is_integer() {
            return Ok(whole);
        }
        let column = ident(&first.name);
        let sql = format!(
            "SELECT MIN({column}), MAX({column}) FROM {}",
            table.qualified()
        );
        let row = cancellable(&ctx.cancel, sqlx::raw_sql(&sql).fetch_one(&ctx.source))
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(&sql), e))?;
        let int = |i| raw(&row, i).and_then(|b| String::from_utf8(b).ok()?.parse::<i128>().ok());
        Ok(match (int(0), int(1)) {
            (Some(min), Some(max)) => split_span(min, max, u32::try_from(wanted).unwrap_or(1)),
            _ => whole,
        })
    }
}

/// Splits the integer span `min..=max` into at most `parts` ranges of equal width. The
/// first range is open below and the last open above, so that rows outside the span
/// (added to the source later) still belong to a range.
fn split_span(min: i128, max: i128, parts: u32) -> Vec<(Option<i128>, Option<i128>)> {
    let width = max.saturating_sub(min).saturating_add(1).max(1);
    let parts = i128::from(parts.max(1)).min(width);
    let mut spans = Vec::new();
    let mut lo = None;
    for i in 1..parts {
        let bound = min + width * i / parts;
        spans.push((lo, Some(bound)));
        lo = Some(bound);
    }
    spans.push((lo, None));
    spans
}

/// Row count and an order-independent checksum of every row of `table`.
///
/// # Errors
/// The query's failure.
pub async fn table_checksum(pool: &MySqlPool, table: &Table) -> Result<(i64, String), sqlx::Error> {
    let parts: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("ISNULL({0}), CAST({0} AS BINARY)", c.select_expr()))
        .collect();
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CRC32(CONCAT_WS('|', {}))), 0) AS CHAR) FROM {}",
        parts.join(", "),
        table.qualified()
    );
    let row = sqlx::query(&sql).fetch_one(pool).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Row count and `CHECKSUM TABLE` of `table` (see [`Verification::ChecksumTable`]).
///
/// # Errors
/// A query's failure.
pub async fn stored_checksum(
    pool: &MySqlPool,
    table: &Table,
) -> Result<(i64, String), sqlx::Error> {
    let qualified = table.qualified();
    let count = format!("SELECT COUNT(*) FROM {qualified}");
    let checksum = format!("CHECKSUM TABLE {qualified}");
    let rows: i64 = sqlx::query_scalar(&count).fetch_one(pool).await?;
    // NULL when the table is missing: never equal to a number.
    let (_, sum): (String, Option<i64>) = sqlx::query_as(&checksum).fetch_one(pool).await?;
    Ok((
        rows,
        sum.map_or_else(|| "missing".to_owned(), |s| s.to_string()),
    ))
}

/// A copy task that panicked or was cancelled by the runtime.
fn internal(join: &tokio::task::JoinError) -> CopyError {
    stmt_err(
        ErrScope::Internal,
        Operation::Connect,
        StatementError::Sqlx(sqlx::Error::Protocol(format!("copy task failed: {join}"))),
    )
}

/// What every copy job shares.
struct CopyContext {
    source: MySqlPool,
    target: MySqlPool,
    task: String,
    checkpoint: String,
    chunk_rows: usize,
    verification: Verification,
    progress: Arc<Progress>,
    cancel: CancellationToken,
}

/// One key range of a table and its checkpoint: the rows whose first key column is in
/// `[lo, hi)`, unbounded where `None` (a table that is not split has one part with
/// neither bound).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    index: i32,
    lo: Option<String>,
    hi: Option<String>,
    /// The key of the last row committed, one raw value per key column.
    last_key: Option<Vec<Vec<u8>>>,
    done: bool,
}

/// A copy job: one part of a table, or (without a part) only the verification of a
/// table an earlier run finished.
struct PartCopy {
    ctx: Arc<CopyContext>,
    table: Arc<Table>,
    part: Option<Part>,
    /// The table's parts not finished yet; the job that finishes the last one verifies
    /// the table.
    remaining: Arc<AtomicUsize>,
}

/// The most value bytes one INSERT statement carries (MariaDB's default
/// `max_allowed_packet` is 16 MiB).
const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// The most placeholders one statement may carry.
const MAX_PLACEHOLDERS: usize = 65_000;

impl PartCopy {
    async fn run(self) -> Result<(), CopyError> {
        let Some(part) = &self.part else {
            return self.verify().await;
        };
        // Read one chunk ahead: the next chunk comes from the source while the
        // current one is written to the target.
        let mut next = self.spawn_read(part.last_key.clone());
        loop {
            let rows = match next.await {
                Ok(rows) => rows?,
                Err(join) => return Err(internal(&join)),
            };
            let finished = rows.len() < self.ctx.chunk_rows;
            let key = rows.last().map(|r| {
                self.table
                    .key
                    .iter()
                    .map(|&i| raw(r, i).unwrap_or_default())
                    .collect::<Vec<_>>()
            });
            if !finished {
                next = self.spawn_read(key.clone());
            } else {
                next = tokio::spawn(async { Ok(Vec::new()) });
            }
            self.write_chunk(part, &rows, key.as_deref(), finished)
                .await?;
            if finished {
                break;
            }
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.verify().await
        } else {
            Ok(())
        }
    }

    /// Compares the table's row count and checksum on both sides, as soon as the table
    /// is copied (so verifying overlaps with copying the other tables).
    async fn verify(&self) -> Result<(), CopyError> {
        let (t, ctx) = (&*self.table, &*self.ctx);
        let checksum = |pool| async move {
            match ctx.verification {
                Verification::ChecksumTable => stored_checksum(pool, t).await,
                Verification::RowText => table_checksum(pool, t).await,
            }
        };
        let (up, down) = tokio::join!(
            cancellable(&ctx.cancel, checksum(&ctx.source)),
            cancellable(&ctx.cancel, checksum(&ctx.target)),
        );
        let up = up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query("checksum"), e))?;
        let down =
            down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checksum"), e))?;
        if up != down {
            return Err(CopyError::Mismatch {
                table: t.display_name(),
                source_rows: up.0,
                source_sum: up.1,
                target_rows: down.0,
                target_sum: down.1,
            });
        }
        debug!(rows = up.0, "verified");
        Ok(())
    }

    /// Reads the chunk after `last_key` in a task of its own.
    fn spawn_read(
        &self,
        last_key: Option<Vec<Vec<u8>>>,
    ) -> tokio::task::JoinHandle<Result<Vec<MySqlRow>, CopyError>> {
        let t = &*self.table;
        let mut conditions = Vec::new();
        let part = self.part.as_ref();
        if let Some(key) = &last_key {
            conditions.push(format!("({})", t.after_key(key)));
        }
        if let Some(first) = t.key.first().map(|&i| &t.columns[i]) {
            let column = ident(&first.name);
            if let (None, Some(lo)) = (&last_key, part.and_then(|p| p.lo.as_deref())) {
                conditions.push(format!("{column} >= {}", key_literal(first, lo.as_bytes())));
            }
            if let Some(hi) = part.and_then(|p| p.hi.as_deref()) {
                conditions.push(format!("{column} < {}", key_literal(first, hi.as_bytes())));
            }
        }
        let mut select = format!("SELECT {} FROM {}", t.select_list(), t.qualified());
        if !conditions.is_empty() {
            select.push_str(" WHERE ");
            select.push_str(&conditions.join(" AND "));
        }
        select.push_str(&format!(
            " ORDER BY {} LIMIT {}",
            t.key_list(),
            self.ctx.chunk_rows
        ));
        let (source, cancel) = (self.ctx.source.clone(), self.ctx.cancel.clone());
        tokio::spawn(async move {
            // Text protocol: values arrive exactly as the server prints them.
            cancellable(&cancel, sqlx::raw_sql(&select).fetch_all(&source))
                .await
                .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(&select), e))
        })
    }

    /// Inserts `rows` and moves the checkpoint in one target transaction.
    async fn write_chunk(
        &self,
        part: &Part,
        rows: &[MySqlRow],
        key: Option<&[Vec<u8>]>,
        done: bool,
    ) -> Result<(), CopyError> {
        let (t, ctx) = (&*self.table, &*self.ctx);
        let cancel = &ctx.cancel;
        let down = |op: Operation<'_>, e: StatementError| stmt_err(ErrScope::Downstream, op, e);
        let mut tx = cancellable(cancel, ctx.target.begin())
            .await
            .map_err(|e| down(Operation::Begin, e))?;
        let ncols = t.columns.len();
        let per_stmt = (MAX_PLACEHOLDERS / ncols.max(1)).max(1);
        let mut bytes = 0i64;
        // Statements stay under both the placeholder limit and MAX_STATEMENT_BYTES, so
        // wide rows never hit the server's max_allowed_packet.
        let mut batches: Vec<&[MySqlRow]> = Vec::new();
        let (mut start, mut size) = (0, 0usize);
        for (i, row) in rows.iter().enumerate() {
            let row_size: usize = (0..ncols)
                .map(|c| {
                    row.try_get_unchecked::<Option<&[u8]>, _>(c)
                        .ok()
                        .flatten()
                        .map_or(0, <[u8]>::len)
                })
                .sum();
            if i > start && (i - start >= per_stmt || size + row_size > MAX_STATEMENT_BYTES) {
                batches.push(&rows[start..i]);
                (start, size) = (i, 0);
            }
            size += row_size;
        }
        if start < rows.len() {
            batches.push(&rows[start..]);
        }
        for batch in batches {
            let tuple = format!("({})", vec!["?"; ncols].join(","));
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                t.qualified(),
                t.column_list(),
                vec![tuple.as_str(); batch.len()].join(",")
            );
            let mut q = sqlx::query(&sql);
            for row in batch {
                for (i, col) in t.columns.iter().enumerate() {
                    // Borrowed from the row: no copy per value.
                    let v: Option<&[u8]> = row.try_get_unchecked(i).unwrap_or(None);
                    bytes += v.map_or(0, |b| b.len() as i64);
                    q = match (col.collation.is_some(), v) {
                        // Text goes as text, so the target converts it to the column's
                        // character set (the connection's is utf8mb4).
                        (true, Some(b)) => match std::str::from_utf8(b) {
                            Ok(text) => q.bind(Some(text)),
                            Err(_) => q.bind(Some(b)),
                        },
                        (_, v) => q.bind(v),
                    };
                }
            }
            cancellable(cancel, q.execute(&mut *tx))
                .await
                .map_err(|e| down(Operation::Execute(&sql), e))?;
        }
        let upsert = format!(
            "INSERT INTO {} (task, db, tbl, part, last_key, rows_copied, bytes_copied, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE last_key = COALESCE(VALUES(last_key), last_key), \
             rows_copied = rows_copied + VALUES(rows_copied), bytes_copied = bytes_copied + VALUES(bytes_copied), \
             done = VALUES(done)",
            ctx.checkpoint
        );
        let rows_n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        cancellable(
            cancel,
            sqlx::query(&upsert)
                .bind(&ctx.task)
                .bind(&t.database)
                .bind(&t.name)
                .bind(part.index)
                .bind(key.map(encode_key))
                .bind(rows_n)
                .bind(bytes)
                .bind(i8::from(done))
                .execute(&mut *tx),
        )
        .await
        .map_err(|e| down(Operation::Execute(&upsert), e))?;
        cancellable(cancel, tx.commit())
            .await
            .map_err(|e| down(Operation::Commit, e))?;
        ctx.progress
            .finished_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }
}

/// The raw text-protocol bytes of column `i`, `None` for NULL.
fn raw(row: &MySqlRow, i: usize) -> Option<Vec<u8>> {
    use sqlx::ValueRef;
    let value = row.try_get_raw(i).ok()?;
    if value.is_null() {
        return None;
    }
    Some(row.try_get_unchecked::<Vec<u8>, _>(i).unwrap_or_default())
}

/// A key as hex per column, comma-separated.
fn encode_key(key: &[Vec<u8>]) -> String {
    key.iter()
        .map(|v| v.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_key(text: &str) -> Vec<Vec<u8>> {
    text.split(',')
        .map(|h| {
            (0..h.len() / 2)
                .filter_map(|i| {
                    h.get(2 * i..2 * i + 2)
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                })
                .collect()
        })
        .collect()
}

fn copy_process_error(err: &CopyError) -> pb::ProcessError {
    match err {
        CopyError::Statement {
            scope,
            kind,
            source,
            op,
        } => {
            let scope = if *scope == "upstream" {
                ErrScope::Upstream
            } else {
                ErrScope::Downstream
            };
            let op = match kind {
                OpKind::Connect => Operation::Connect,
                OpKind::Begin => Operation::Begin,
                OpKind::Query => Operation::Query(op),
                OpKind::Execute => Operation::Execute(op),
                OpKind::Commit => Operation::Commit,
            };
            source.process_error(scope, op)
        }
        CopyError::Mismatch { .. } => unit_core::new_process_error(&unit_core::Error::generate(
            &ErrorCode::COPY_VERIFY_MISMATCH,
            &[err],
        )),
        CopyError::DifferentTable { table } => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_TABLE_CONFLICT, &[table]),
        ),
        CopyError::Schema(SchemaError::NoKey(table)) => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_NO_KEY, &[table]),
        ),
        CopyError::Schema(SchemaError::Sqlx(e)) => crate::process_error(
            e,
            ErrScope::Upstream,
            Operation::Query("information_schema"),
        ),
    }
}

#[async_trait]
impl Unit for CopyUnit {
    type Config = CopyConfig;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        if let Err(e) = self.prepare(&cancel).await {
            // Roll back what was opened.
            self.close().await;
            return Err(Box::new(unit_core::ProcessFailure(copy_process_error(&e))));
        }
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        let started = Instant::now();
        // Each table is verified (row count and checksum on both sides) right after it
        // is copied, while the others are still copying.
        let errors = self.copy_all(&cancel).await;
        info!(
            seconds = started.elapsed().as_secs_f64(),
            errors = errors.len(),
            "copy and verification ended"
        );
        let canceled = cancel.is_cancelled();
        pb::ProcessResult {
            is_canceled: canceled,
            errors: errors.iter().map(copy_process_error).collect(),
            detail: Vec::new(),
        }
    }

    async fn close(&mut self) {
        for pool in [self.source.take(), self.target.take()]
            .into_iter()
            .flatten()
        {
            pool.close().await;
        }
    }

    async fn kill(&mut self) {
        // Dropping the pools closes their connections without waiting.
        self.source = None;
        self.target = None;
    }

    fn pause(&mut self) {}

    async fn resume(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        self.process(cancel).await
    }

    async fn update(
        &mut self,
        _cancel: CancellationToken,
        config: &CopyConfig,
    ) -> Result<(), BoxError> {
        // Takes effect from the next process or resume; a table's split, once recorded,
        // is kept.
        self.config.chunk_rows = config.chunk_rows;
        self.config.concurrency = config.concurrency;
        self.config.split_rows = config.split_rows;
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let progress = self.progress.clone();
        Arc::new(move |_: Option<&SourceStatus>| UnitStatus::Load(progress.status()))
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Load
    }

    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError> {
        let Some(target) = &self.target else {
            return Ok(true);
        };
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE task = ?",
            self.checkpoint_table()
        );
        let count: i64 = cancellable(
            &cancel,
            sqlx::query_scalar(&sql)
                .bind(&self.config.task)
                .fetch_one(target),
        )
        .await
        .map_err(|e| {
            Box::new(stmt_err(ErrScope::Downstream, Operation::Query(&sql), e)) as BoxError
        })?;
        Ok(count == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_every_integer_once_and_are_open_at_both_ends() {
        for (min, max, parts) in [
            (1, 400_000, 4),
            (-5, 5, 3),
            (7, 7, 4),
            (1, 3, 8),
            (0, i128::from(u64::MAX), 4),
            (i128::from(i64::MIN), i128::from(i64::MAX), 3),
        ] {
            let spans = split_span(min, max, parts);
            let want = u32::try_from((max - min + 1).min(i128::from(parts))).unwrap();
            assert_eq!(spans.len(), want as usize, "{min}..={max} in {parts}");
            assert_eq!(spans[0].0, None);
            assert_eq!(spans[spans.len() - 1].1, None);
            for pair in spans.windows(2) {
                // Adjacent: one ends where the next begins, strictly increasing.
                assert_eq!(pair[0].1, pair[1].0);
                let (Some(end), Some(start)) = (pair[0].1, pair[0].0.or(Some(min - 1))) else {
                    panic!("inner bounds are set: {spans:?}");
                };
                assert!(start < end, "{spans:?}");
            }
        }
        assert_eq!(split_span(1, 100, 4)[1], (Some(26), Some(51)));
        assert_eq!(split_span(1, 100, 1), vec![(None, None)]);
        assert_eq!(split_span(1, 100, 0), vec![(None, None)]);
    }

    #[test]
    fn keys_round_trip_through_their_checkpoint_text() {
        let key = vec![b"42".to_vec(), vec![0, 255, b','], Vec::new()];
        assert_eq!(decode_key(&encode_key(&key)), key);
    }
}
