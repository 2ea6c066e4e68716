//! The copy unit: copies tables from a source MySQL server to a target one, in key
//! order, one chunk per target transaction together with its checkpoint, so that a
//! pause, kill, crash or resume continues exactly after the last committed chunk.
//!
//! This file holds the unit, its settings and errors; `plan` decides which parts of
//! which tables are left (and splits big tables), `part` copies one part chunk by
//! chunk, `verify` compares a copied table with its source.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use unit_core::{BoxError, ErrScope, ErrorCode, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::adapter::dsn::MySqlUrl;
use crate::catalog::objects::{ObjectKind, ObjectKinds, SchemaObject};
use crate::catalog::position::{BinlogPosition, is_mariadb, master_position};
use crate::catalog::schema::{Filter, SchemaError, Table, discover, ident};
use crate::units::sync_state::{SyncCheckpoint, ensure_tables, load_checkpoint, store_checkpoint};

#[cfg(feature = "local-infile")]
mod bulk;
mod objects;
mod part;
mod plan;

/// The copy's checkpoints: the workspace's shared store, on MySQL.
type CheckpointStore = unit_sql::CheckpointStore<sqlx::MySql>;
mod report;
mod snapshot;
mod throttle;
mod verify;

#[cfg(feature = "sync")]
pub(crate) use objects::{ensure_object, triggers_on};
use part::{CopyContext, raw};
pub use report::{CopyReport, ObjectReport, ReportHandle, TablePhase, TableReport};
pub use verify::{Verification, stored_checksum, table_checksum};

/// How many times an online copy reads the schema again when it changed before the
/// copy's position was taken ([`CopyError::SchemaChanged`]).
const SCHEMA_ATTEMPTS: u32 = 3;

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
    /// The most rows per second the copy writes, all parts together (`None`: no
    /// limit); each chunk waits its turn before it is written.
    pub max_rows_per_second: Option<u64>,
    /// The most value bytes per second the copy writes, all parts together (`None`:
    /// no limit).
    pub max_bytes_per_second: Option<u64>,
    /// The load guard: no chunk is written while the source's `Threads_running` is
    /// above this (read at most twice a second; `None`: no guard). The copy's own
    /// reads count too.
    pub max_source_threads_running: Option<u64>,
    /// The target database holding the checkpoint table.
    pub checkpoint_database: String,
    /// The task's name: checkpoints are kept per task.
    pub task: String,
    /// How long to wait for a connection before reporting a (resumable) failure.
    pub acquire_timeout: Duration,
    /// How copied tables are compared with their source; `None` chooses when the copy
    /// starts (see [`Verification`]).
    pub verification: Option<Verification>,
    /// Which kinds of objects other than tables are migrated (all by default); the
    /// others are reported as left out.
    pub objects: ObjectKinds,
    /// Write chunks with `LOAD DATA LOCAL INFILE`, streamed from memory, where a
    /// table allows it (on by default; needs the `local-infile` feature, a default
    /// one). Values are written exactly as with `INSERT`, each chunk still in one
    /// transaction with its checkpoint; a chunk the load does not take as written
    /// (a warning, a skipped row) is inserted instead, and a target with
    /// `local_infile=OFF` is written with `INSERT`. Tables of an engine without
    /// transactions, without a key or with system versioning are always inserted.
    pub load_data_local: bool,
    /// `Some`: the copy is the first step of an online migration. It records the
    /// source position its rows are consistent with (see [`Consistency`]) for the
    /// Sync unit (`sync::SyncUnit`), and leaves verification to cutover (the source may be
    /// changing). `None` (the default): a copy of a quiet source, verified per table.
    pub consistency: Option<Consistency>,
    /// The replica id the Sync unit reads the binlog as: it must differ from the
    /// source's `server_id` and from every other replica's. The default is derived
    /// from the task's name, in `[1 << 30, 1 << 31)`.
    pub server_id: u32,
    /// Start the binlog stream from the recorded GTID set (MariaDB's
    /// `@slave_connect_state`) instead of the file and offset, so that replication
    /// can follow a source that was replaced by another server of the same GTID
    /// history.
    pub use_gtid: bool,
    /// The most row changes the Sync unit applies in one target transaction (more when
    /// one source transaction holds more).
    pub sync_batch: usize,
    /// How many target connections the Sync unit applies row changes on, routed by
    /// their keys so that changes of one row keep their order (see
    /// `sync::parallel`); 1 applies them on one connection in whole source
    /// transactions. Memory is bounded by about `sync_workers × 1024` row changes.
    pub sync_workers: usize,
    /// The most consecutive inserts (or deletes by key) of one table that an apply
    /// worker merges into one statement: a multi-row `INSERT`, a `DELETE ... WHERE
    /// (key) IN (...)`. 1 writes a statement per row change. Deletes are merged only
    /// for a table whose changes all go to one worker (a `DELETE ... IN` may scan and
    /// lock rows that other workers write); the statements of a worker travel several
    /// to a query either way.
    pub sync_merge_rows: usize,
    /// The Sync unit's cutover: apply everything up to the source's position when it
    /// starts (with writes stopped), verify every table, and finish.
    pub cutover: bool,
    /// Incremental mode (no copy): replicate from this position, unless the task has
    /// recorded one already.
    pub start: Option<crate::catalog::position::BinlogPosition>,
    /// How long the Sync unit waits for a packet of the binlog stream before it takes
    /// the connection for dead (a source that crashed, a half-open connection) and
    /// ends with a lost connection, which is resumed. The source sends a heartbeat
    /// every second while it has nothing else to send; the default is 10 s (DM waits
    /// twice its heartbeat period).
    pub stream_timeout: Duration,
    /// Copy system-versioned tables (`WITH SYSTEM VERSIONING`) as their current rows
    /// only: the history is not copied, and the target keeps its own from the copy on.
    /// Off by default: such tables are refused, naming them.
    pub versioned_current_rows: bool,
    /// For tests of crash recovery only: the Sync unit stops (as if killed) at this
    /// point of applying a DDL, `"before"` (its checkpoint committed, the DDL not run)
    /// or `"after"` (run, its checkpoint not moved past it).
    #[doc(hidden)]
    pub ddl_failpoint: Option<&'static str>,
    /// Hears the units' events as they happen (for metrics); none by default.
    pub observer: Option<std::sync::Arc<dyn crate::units::observer::Observer>>,
}

/// How the copy makes its rows consistent with one source position, named as dumpling
/// and DM name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Consistency {
    /// `FLUSH TABLES WITH READ LOCK` (held only while each copy connection starts
    /// `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the position is read), else
    /// `lock`, else `none`, saying which it used.
    #[default]
    Auto,
    /// `FLUSH TABLES WITH READ LOCK`, held for milliseconds.
    Flush,
    /// `LOCK TABLES ... READ` of the selected tables, for servers that refuse FTWRL.
    Lock,
    /// No lock: the position before the copy starts and after it ends are both
    /// recorded, and the Sync unit replays the changes between them idempotently.
    None,
}

impl Consistency {
    /// The name dumpling gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Flush => "flush",
            Self::Lock => "lock",
            Self::None => "none",
        }
    }
}

impl std::str::FromStr for Consistency {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "flush" => Ok(Self::Flush),
            "lock" => Ok(Self::Lock),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "unknown consistency {s:?}: auto, flush, lock or none"
            )),
        }
    }
}

/// A replica id derived from the task's name, in `[1 << 30, 1 << 31)`.
fn default_server_id(task: &str) -> u32 {
    // FNV-1a: stable across runs and builds.
    let hash = task.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (1 << 30) | (hash & ((1 << 30) - 1))
}

impl CopyConfig {
    /// Whether the task selects table `db.table` (never one of its checkpoint
    /// database).
    pub(crate) fn selects_table(&self, db: &str, table: &str) -> bool {
        db != self.checkpoint_database && self.filter.selects(db, table)
    }

    unit_core::with_setters! {
        with_filter => filter: Filter,
        with_chunk_rows => chunk_rows: usize,
        with_concurrency => concurrency: usize,
        with_split_rows => split_rows: u64,
        with_max_rows_per_second => max_rows_per_second: Option<u64>,
        with_max_bytes_per_second => max_bytes_per_second: Option<u64>,
        with_max_source_threads_running => max_source_threads_running: Option<u64>,
        with_checkpoint_database => checkpoint_database: String,
        with_acquire_timeout => acquire_timeout: Duration,
        with_verification => verification: Option<Verification>,
        with_objects => objects: ObjectKinds,
        with_load_data_local => load_data_local: bool,
        with_consistency => consistency: Option<Consistency>,
        with_server_id => server_id: u32,
        with_use_gtid => use_gtid: bool,
        with_sync_batch => sync_batch: usize,
        with_sync_workers => sync_workers: usize,
        with_sync_merge_rows => sync_merge_rows: usize,
        with_cutover => cutover: bool,
        with_start => start: Option<crate::catalog::position::BinlogPosition>,
        with_stream_timeout => stream_timeout: Duration,
        with_versioned_current_rows => versioned_current_rows: bool,
        with_observer => observer: Option<std::sync::Arc<dyn crate::units::observer::Observer>>,
    }

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
        let task = task.into();
        Self {
            source,
            target,
            filter,
            server_id: default_server_id(&task),
            consistency: None,
            use_gtid: false,
            sync_batch: 1000,
            sync_workers: 4,
            sync_merge_rows: 200,
            cutover: false,
            start: None,
            stream_timeout: Duration::from_secs(10),
            versioned_current_rows: false,
            ddl_failpoint: None,
            observer: None,
            chunk_rows: 5000,
            concurrency: 4,
            split_rows: 100_000,
            max_rows_per_second: None,
            max_bytes_per_second: None,
            max_source_threads_running: None,
            checkpoint_database: "unit_checkpoint".to_owned(),
            task,
            acquire_timeout: Duration::from_secs(10),
            verification: None,
            objects: ObjectKinds::default(),
            load_data_local: true,
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
/// - **Values**: each column's values and key boundaries travel in its own type,
///   character set and collation ([`ValueKind`](crate::catalog::schema::ValueKind)); the target
///   writes with the source's `sql_mode` relaxed so it accepts every value the source
///   holds ([`copy_sql_mode`]).
/// - **Verification**: each table's row count and checksum are compared on both sides
///   once it is copied ([`Verification`]); a difference is code 60004, never retried.
/// - **Objects**: sequences before the tables; routines, views, triggers and events
///   after the rows ([`CopyConfig::objects`]); a trigger already on the target of a
///   table still to copy is refused in `init`, before any row moves. In an online
///   migration ([`CopyConfig::consistency`]) triggers and events are left to the Sync
///   unit's cutover, reported as "created at cutover": on the target they would act on
///   every replicated change.
/// - **Report**: [`CopyUnit::report`] (or a [`ReportHandle`]) lists every selected
///   table and object and whether it was verified or migrated.
/// - **Errors** go through this crate's mapping: a lost connection or a restarted
///   server is resumable, a duplicate key on the target (1062) is not.
/// - **Status**: a [`pb::LoadStatus`] (bytes, progress, speed), readable while copying.
///
/// # Example
/// ```no_run
/// use unit_core::{BoxUnit, Subtask, SubtaskConfig};
/// use unit_mysql::{CopyConfig, CopyUnit, Filter};
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
    /// The selected objects other than tables, in creation order (known after `init`).
    objects: Vec<SchemaObject>,
    /// Chosen in `init`.
    verification: Verification,
    /// The target sessions' SQL mode, from the source's (see [`copy_sql_mode`]).
    sql_mode: String,
    /// The `SET` statement the target's sessions start with (known after `init`).
    session: String,
    /// The source is MariaDB (known after `init` of an online copy).
    mariadb: bool,
    /// What was verified and migrated, shared with [`ReportHandle`]s.
    report: ReportHandle,
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
    /// An online migration of a task whose rows were copied without a recorded binlog
    /// position (by a `full` copy): replication cannot know where to start.
    #[error(
        "task {task} copied rows without recording a binlog position (mode full), so replication cannot know where to start; start the task over (drop the target tables and the task's checkpoints) or use another task name"
    )]
    NoPosition {
        /// The task.
        task: String,
    },
    /// The selected tables' definitions (or the tables themselves) changed between
    /// reading the schema and taking the position the copy is consistent with, again
    /// and again: a DDL of that window would be neither in the rows nor replayed.
    #[error(
        "the schema of the selected tables changed while the copy was taking its consistent position ({detail}); run the copy again when no DDL is running on the source"
    )]
    SchemaChanged {
        /// What changed.
        detail: String,
    },
    /// The target already has a view, trigger, routine, event or sequence of the same
    /// name with another definition.
    #[error(
        "target {kind} {object} exists with a different definition; drop or rename it, or exclude it"
    )]
    DifferentObject {
        /// What it is.
        kind: ObjectKind,
        /// `db.name`
        object: String,
    },
}

/// Opens a pool whose sessions run `session` (a `SET ...` statement) first, and then
/// `SET check_constraint_checks = 0` where `relax_checks` (MariaDB's variable; a server
/// without it is left alone).
pub(crate) async fn open_pool(
    url: &MySqlUrl,
    size: u32,
    acquire_timeout: Duration,
    session: String,
    relax_checks: bool,
) -> Result<MySqlPool, sqlx::Error> {
    let session: Arc<str> = session.into();
    MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(acquire_timeout)
        .after_connect(move |conn, _| {
            let session = session.clone();
            Box::pin(async move {
                conn.execute(&*session).await?;
                if relax_checks {
                    match conn.execute("SET check_constraint_checks = 0").await {
                        Err(e)
                            if crate::adapter::classify::server_error(&e).is_some_and(|d| {
                                d.number() == crate::adapter::codes::ER_UNKNOWN_SYSTEM_VARIABLE
                            }) => {}
                        other => {
                            other?;
                        }
                    }
                }
                Ok(())
            })
        })
        .connect_with(url.connect_options())
        .await
}

/// The source's sessions: UTC, so TIMESTAMPs read as stored; no SQL mode that changes
/// how values are read (`PAD_CHAR_TO_FULL_LENGTH`) or how `SHOW CREATE` prints them;
/// the largest `max_sort_length`, so that ORDER BY orders long TEXT and BLOB keys by
/// their whole value.
pub(crate) const SOURCE_SESSION: &str = "SET time_zone = '+00:00', sql_mode = 'NO_ENGINE_SUBSTITUTION', \
     max_sort_length = 8388608";

/// SQL modes the copy never writes with: checks that refuse values the source holds
/// (zero or invalid dates, an ENUM's error value, values written before a stricter mode
/// was set), modes that change what a value means (`EMPTY_STRING_IS_NULL`) or how
/// statements parse (`ORACLE`, ...).
const DROPPED_MODES: &[&str] = &[
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "TRADITIONAL",
    "EMPTY_STRING_IS_NULL",
    "PAD_CHAR_TO_FULL_LENGTH",
    "ORACLE",
    "MSSQL",
    "DB2",
    "POSTGRESQL",
    "MAXDB",
    "ANSI",
    "MYSQL323",
    "MYSQL40",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_AUTO_VALUE_ON_ZERO",
    "ALLOW_INVALID_DATES",
    "NO_ENGINE_SUBSTITUTION",
];

/// The SQL mode the target's sessions write with, from the source's global
/// `sql_mode`: the source's modes without the checks that refuse values (`STRICT_*`,
/// `NO_ZERO_DATE`, `NO_ZERO_IN_DATE`) and without the modes that change what a value
/// means or how statements parse (`EMPTY_STRING_IS_NULL`, `PAD_CHAR_TO_FULL_LENGTH`,
/// `ORACLE`, ...), plus
/// `NO_AUTO_VALUE_ON_ZERO` (a 0 in an AUTO_INCREMENT column stays 0),
/// `ALLOW_INVALID_DATES` (a date the source holds is stored as it is) and
/// `NO_ENGINE_SUBSTITUTION`. The target thus accepts every value the source holds;
/// that nothing was changed on the way is what each table's verification proves.
///
/// ```
/// # use unit_mysql::copy_sql_mode;
/// assert_eq!(
///     copy_sql_mode("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE"),
///     "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION"
/// );
/// ```
pub fn copy_sql_mode(source_mode: &str) -> String {
    source_mode
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && !DROPPED_MODES.iter().any(|d| d.eq_ignore_ascii_case(m)))
        .chain([
            "NO_AUTO_VALUE_ON_ZERO",
            "ALLOW_INVALID_DATES",
            "NO_ENGINE_SUBSTITUTION",
        ])
        .collect::<Vec<_>>()
        .join(",")
}

/// The `SET` statement the target's sessions start with: UTC, the SQL mode from the
/// source's ([`copy_sql_mode`]), no foreign key checks.
pub(crate) async fn target_session(
    source: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<String, CopyError> {
    let mode_sql = "SELECT @@GLOBAL.sql_mode";
    let source_mode: String = cancellable(cancel, sqlx::query_scalar(mode_sql).fetch_one(source))
        .await
        .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(mode_sql), e))?;
    let mode = copy_sql_mode(&source_mode);
    info!(
        source = %source_mode,
        target = %mode,
        "the target writes with the source's sql_mode, without the checks that refuse values the source holds"
    );
    Ok(format!(
        "SET time_zone = '+00:00', sql_mode = '{}', foreign_key_checks = 0",
        mode.replace('\'', "")
    ))
}

/// The SQL mode a [`target_session`] statement sets.
fn session_sql_mode(session: &str) -> String {
    session
        .split_once("sql_mode = '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(mode, _)| mode.to_owned())
        .unwrap_or_default()
}

/// The verification `chosen`, or, when none was, the one the servers' versions allow
/// (see [`Verification`]).
pub(crate) async fn choose_verification(
    source: &MySqlPool,
    target: &MySqlPool,
    chosen: Option<Verification>,
    cancel: &CancellationToken,
) -> Result<Verification, CopyError> {
    if let Some(chosen) = chosen {
        return Ok(chosen);
    }
    let version = "SELECT VERSION()";
    let (up, down) = tokio::join!(
        cancellable(
            cancel,
            sqlx::query_scalar::<_, String>(version).fetch_one(source)
        ),
        cancellable(
            cancel,
            sqlx::query_scalar::<_, String>(version).fetch_one(target)
        ),
    );
    let up = up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(version), e))?;
    let down = down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(version), e))?;
    Ok(if same_server_version(&up, &down) {
        Verification::ChecksumTable
    } else {
        Verification::RowText
    })
}

/// Whether two `VERSION()`s name the same server build. The `-log` suffix says only
/// that binary logging is on (as on every online source), which does not change how
/// `CHECKSUM TABLE` hashes a row.
fn same_server_version(a: &str, b: &str) -> bool {
    a.strip_suffix("-log").unwrap_or(a) == b.strip_suffix("-log").unwrap_or(b)
}

/// The source's current binlog position (`None` when binary logging is off).
///
/// # Errors
/// The query's failure, as the copy reports it.
pub(crate) async fn source_position(
    source: &MySqlPool,
    mariadb: bool,
    cancel: &CancellationToken,
) -> Result<Option<BinlogPosition>, CopyError> {
    cancellable(cancel, master_position(source, mariadb))
        .await
        .map_err(|e| {
            stmt_err(
                ErrScope::Upstream,
                Operation::Query("SHOW MASTER STATUS"),
                e,
            )
        })
}

/// Closes `pools` (see [`close_pool`]).
pub(crate) async fn close_pools(pools: [Option<MySqlPool>; 2]) {
    for pool in pools.into_iter().flatten() {
        close_pool(pool).await;
    }
}

/// Compares `table`'s row count and checksum on both sides.
///
/// # Errors
/// [`CopyError::Mismatch`] when they differ; a query's failure.
pub(crate) async fn verify_table(
    source: &MySqlPool,
    target: &MySqlPool,
    table: &Table,
    verification: Verification,
    cancel: &CancellationToken,
) -> Result<i64, CopyError> {
    // MariaDB's CHECKSUM TABLE does not read VIRTUAL columns reliably, and it reads a
    // system-versioned table's history, which a copy of its current rows leaves out.
    // Nor does it hash a pre-5.6 temporal column (which a target creates in the
    // current format) as the same value stored in the current format.
    let stored = verification == Verification::ChecksumTable
        && !table.has_virtual_column()
        && !table.system_versioned
        && !table.create.contains(OLD_TEMPORAL)
        && !target_create(target, table, cancel)
            .await?
            .is_some_and(|create| create.contains(OLD_TEMPORAL));
    let checksum = |pool| async move {
        if stored {
            stored_checksum(pool, table).await
        } else {
            table_checksum(pool, table).await
        }
    };
    let (up, down) = tokio::join!(
        cancellable(cancel, checksum(source)),
        cancellable(cancel, checksum(target)),
    );
    let up = up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query("checksum"), e))?;
    let down = down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checksum"), e))?;
    if up != down {
        return Err(CopyError::Mismatch {
            table: table.display_name(),
            source_rows: up.0,
            source_sum: up.1,
            target_rows: down.0,
            target_sum: down.1,
        });
    }
    Ok(up.0)
}

/// What `SHOW CREATE TABLE` adds to a column in a pre-5.6 temporal format.
const OLD_TEMPORAL: &str = " /* mariadb-5.3 */";

/// How long closing a pool may wait for its connections to come back.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes `pool` gracefully, waiting at most [`POOL_CLOSE_TIMEOUT`]: a connection whose
/// statement was abandoned (a cancelled chunk) comes back to the pool asynchronously,
/// and sqlx's `close` can wait on it for ever. After the timeout the pool is dropped,
/// which closes what is left without waiting.
pub(crate) async fn close_pool(pool: MySqlPool) {
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?POOL_CLOSE_TIMEOUT,
            "connections did not come back to the pool in time; dropping it"
        );
    }
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

pub(crate) fn stmt_err(scope: ErrScope, op: Operation<'_>, source: StatementError) -> CopyError {
    let (kind, what) = match op {
        Operation::Query(sql) => (OpKind::Query, unit_sql::summarize_statement(sql)),
        Operation::Execute(sql) => (OpKind::Execute, unit_sql::summarize_statement(sql)),
        Operation::Begin => (OpKind::Begin, "BEGIN".to_owned()),
        Operation::Commit => (OpKind::Commit, "COMMIT".to_owned()),
        _ => (OpKind::Connect, "connect".to_owned()),
    };
    CopyError::Statement {
        scope: scope.as_str(),
        kind,
        op: what,
        source,
    }
}

/// The checkpoint table's columns of digits and hex: plain text (names are exact
/// binary strings, which the driver would hand out as bytes).
const ASCII: &str = "CHARACTER SET ascii COLLATE ascii_general_ci";

/// What a copy's report says of how `table` is copied, where that is worth knowing.
fn table_note(table: &Table, online: bool) -> String {
    let mut notes = Vec::new();
    if !table.has_key() {
        notes.push(
            "no usable key: copied whole in one transaction, replicated by the whole row; \
             exact duplicate rows are indistinguishable"
                .to_owned(),
        );
    }
    if table.system_versioned {
        notes.push("system-versioned: its current rows only; the history is not copied".to_owned());
    }
    if online && !table.is_transactional() {
        notes.push(format!(
            "{}, not transactional: read outside the snapshot, its changes applied idempotently",
            table.engine
        ));
    }
    notes.join("; ")
}

/// How the tables `now` differ from `before` (names and definitions), if they do.
fn schema_change(before: &[Table], now: &[Table]) -> Option<String> {
    let find = |tables: &[Table], t: &Table| {
        tables
            .iter()
            .find(|o| o.database == t.database && o.name == t.name)
            .map(|o| normalize_create(&o.create))
    };
    for t in now {
        match find(before, t) {
            None => return Some(format!("table {} appeared", t.display_name())),
            Some(create) if create != normalize_create(&t.create) => {
                return Some(format!("table {} was altered", t.display_name()));
            }
            Some(_) => {}
        }
    }
    before
        .iter()
        .find(|t| find(now, t).is_none())
        .map(|t| format!("table {} is gone", t.display_name()))
}

/// The target's `SHOW CREATE TABLE` of `table`, `None` when it has no such table.
async fn target_create(
    target: &MySqlPool,
    table: &Table,
    cancel: &CancellationToken,
) -> Result<Option<String>, CopyError> {
    let show = format!("SHOW CREATE TABLE {}", table.qualified());
    match cancellable(cancel, sqlx::raw_sql(&show).fetch_all(target))
        .await
        .map(|rows| rows.into_iter().next())
    {
        Ok(row) => {
            Ok(row
                .map(|row| String::from_utf8_lossy(&raw(&row, 1).unwrap_or_default()).into_owned()))
        }
        Err(StatementError::Sqlx(e))
            if crate::adapter::classify::server_error(&e)
                .is_some_and(|d| d.number() == crate::adapter::codes::ER_NO_SUCH_TABLE) =>
        {
            Ok(None)
        }
        Err(e) => Err(stmt_err(ErrScope::Downstream, Operation::Query(&show), e)),
    }
}

/// Refuses a target table whose definition is not the source's `table.create`
/// (a missing one too).
#[cfg(feature = "sync")]
pub(crate) async fn same_definition(
    target: &MySqlPool,
    table: &Table,
    cancel: &CancellationToken,
) -> Result<(), CopyError> {
    let existing = target_create(target, table, cancel).await?;
    check_definition(existing.as_deref(), table)
}

/// Refuses `existing` (the target's `SHOW CREATE TABLE`, `None` when missing) unless it
/// is the source's definition of `table`.
fn check_definition(existing: Option<&str>, table: &Table) -> Result<(), CopyError> {
    match existing {
        Some(existing) if normalize_create(existing) == normalize_create(&table.create) => Ok(()),
        _ => Err(CopyError::DifferentTable {
            table: table.display_name(),
        }),
    }
}

/// Strips the parts of `SHOW CREATE TABLE` that differ between equal tables.
/// A column in a pre-5.6 temporal format (`datetime /* mariadb-5.3 */`) holds the
/// same values as one in the current format, which a target creates from the same
/// statement.
fn normalize_create(create: &str) -> String {
    create
        .replace(OLD_TEMPORAL, "")
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
            objects: Vec::new(),
            verification: Verification::RowText,
            sql_mode: String::new(),
            session: String::new(),
            mariadb: true,
            report: ReportHandle {
                recorder: Arc::default(),
                sql_mode: Arc::default(),
            },
            progress: Arc::default(),
        }
    }

    /// The tables selected for copying (known after `init`).
    pub fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// The SQL mode the target's sessions write with (known after `init`; see
    /// [`copy_sql_mode`]).
    pub fn sql_mode(&self) -> &str {
        &self.sql_mode
    }

    /// What the last `process` or `resume` verified and migrated: every selected table
    /// and object, each saying whether it was verified (or migrated).
    pub fn report(&self) -> CopyReport {
        self.report.report()
    }

    /// A handle reading [`CopyUnit::report`] after the unit was handed to a supervisor.
    pub fn report_handle(&self) -> ReportHandle {
        self.report.clone()
    }

    /// The task's checkpoints (see [`unit_sql::CheckpointStore`]).
    fn store(&self) -> CheckpointStore {
        CheckpointStore::new(&self.config.checkpoint_database, &self.config.task)
    }

    fn checkpoint_table(&self) -> String {
        format!(
            "{}.`copy_checkpoint`",
            ident(&self.config.checkpoint_database)
        )
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), CopyError> {
        let size = u32::try_from(self.config.concurrency.max(1) + 2).unwrap_or(8);
        let source = cancellable(
            cancel,
            open_pool(
                &self.config.source,
                size,
                self.config.acquire_timeout,
                SOURCE_SESSION.to_owned(),
                false,
            ),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Connect, e))?;
        self.source = Some(source.clone());
        let session = target_session(&source, cancel).await?;
        self.sql_mode = session_sql_mode(&session);
        self.session.clone_from(&session);
        self.report
            .sql_mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone_from(&self.sql_mode);
        let target = cancellable(
            cancel,
            open_pool(
                &self.config.target,
                size,
                self.config.acquire_timeout,
                session,
                true,
            ),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e))?;
        self.target = Some(target.clone());
        let store = self.store();
        let create = async {
            let mut conn = target.acquire().await?;
            store.create(&mut conn).await
        };
        cancellable(cancel, create).await.map_err(|e| {
            stmt_err(
                ErrScope::Downstream,
                Operation::Execute("CREATE TABLE copy_checkpoint"),
                e,
            )
        })?;
        self.upgrade_checkpoint_table(&target, cancel).await?;
        self.verification =
            choose_verification(&source, &target, self.config.verification, cancel).await?;
        if self.config.consistency.is_some() {
            self.mariadb = cancellable(cancel, is_mariadb(&source))
                .await
                .map_err(|e| {
                    stmt_err(ErrScope::Upstream, Operation::Query("SELECT VERSION()"), e)
                })?;
        }
        if self.config.consistency.is_some() {
            let db = &self.config.checkpoint_database;
            let done = cancellable(cancel, load_checkpoint(&target, db, &self.config.task))
                .await
                .map_err(|e| {
                    stmt_err(ErrScope::Downstream, Operation::Query("sync_checkpoint"), e)
                })?
                .is_some_and(|cp| cp.copy_done);
            if done {
                // The source may have changed since (a DDL the Sync unit has yet to
                // replay): the definitions are compared at cutover.
                info!("the copy finished in an earlier run; replication follows");
                return Ok(());
            }
        }
        self.prepare_schema(&source, &target, cancel).await
    }

    /// Reads the selected tables and objects from the source and creates them on the
    /// target (refusing any there with another definition).
    async fn prepare_schema(
        &mut self,
        source: &MySqlPool,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        self.tables = discover(source, &self.config.filter).await?;
        for table in &self.tables {
            crate::catalog::schema::refuse_versioned(table, self.config.versioned_current_rows)?;
        }
        for table in self.tables.iter().filter(|t| !t.has_key()) {
            if let Some(reason) =
                crate::units::check::keyless_refusal(table, self.config.consistency)
            {
                return Err(CopyError::Schema(SchemaError::Unsupported {
                    kind: "table",
                    object: table.display_name(),
                    reason: format!(
                        "it has no primary key and no unique key on NOT NULL columns: {reason}"
                    ),
                }));
            }
            warn!(table = %table.display_name(), "no usable key: copied whole in one transaction, replicated by the whole row");
        }
        let total: u64 = self.tables.iter().map(|t| t.estimated_bytes).sum();
        self.progress
            .total_bytes
            .store(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
        self.prepare_objects(source, target, cancel).await?;
        for table in &self.tables {
            self.create_target_table(target, table, cancel).await?;
        }
        info!(
            tables = self.tables.len(),
            objects = self.objects.len(),
            verification = ?self.verification,
            "copy prepared"
        );
        Ok(())
    }

    /// Brings a checkpoint table of the first layout (one row per table, keyed by task,
    /// db and tbl) to the current one: its rows become part 0 of their table, without
    /// bounds, so a copy in progress continues after its last committed chunk.
    async fn upgrade_checkpoint_table(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        let has_part = self
            .checkpoint_columns(target, cancel, "COLUMN_NAME = 'part'")
            .await?;
        if has_part > 0 {
            return self.upgrade_checkpoint_names(target, cancel).await;
        }
        let alter = format!(
            "ALTER TABLE {} ADD COLUMN part INT NOT NULL DEFAULT 0 AFTER tbl, \
             ADD COLUMN lo VARCHAR(40) NULL AFTER part, ADD COLUMN hi VARCHAR(40) NULL AFTER lo, \
             DROP PRIMARY KEY, ADD PRIMARY KEY (task, db, tbl, part)",
            self.checkpoint_table()
        );
        cancellable(cancel, target.execute(alter.as_str()))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&alter), e))?;
        info!("checkpoint table upgraded to one row per key range");
        self.upgrade_checkpoint_names(target, cancel).await
    }

    /// How many columns of the checkpoint table meet `condition`.
    async fn checkpoint_columns(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
        condition: &str,
    ) -> Result<i64, CopyError> {
        let probe = format!(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = 'copy_checkpoint' AND {condition}"
        );
        cancellable(
            cancel,
            sqlx::query_scalar(&probe)
                .bind(&self.config.checkpoint_database)
                .fetch_one(target),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(&probe), e))
    }

    /// Converts a checkpoint table of an earlier layout, whose names took the server's
    /// default character set and a case-insensitive collation, to exact names.
    async fn upgrade_checkpoint_names(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        let inexact = self
            .checkpoint_columns(
                target,
                cancel,
                "COLUMN_NAME = 'tbl' AND COLLATION_NAME <> 'utf8mb4_bin'",
            )
            .await?;
        if inexact == 0 {
            return Ok(());
        }
        let checkpoint = self.checkpoint_table();
        for alter in [
            format!(
                "ALTER TABLE {checkpoint} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            ),
            format!(
                "ALTER TABLE {checkpoint} MODIFY lo VARCHAR(40) {ASCII} NULL, \
                 MODIFY hi VARCHAR(40) {ASCII} NULL, MODIFY last_key LONGTEXT {ASCII} NULL"
            ),
        ] {
            cancellable(cancel, target.execute(alter.as_str()))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&alter), e))?;
        }
        info!("checkpoint table upgraded to exact (binary) names");
        Ok(())
    }

    /// Creates `database` on the target, if it is missing, with the source database's
    /// default character set and collation.
    async fn create_target_database(
        &self,
        target: &MySqlPool,
        database: &str,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        let show = format!("SHOW CREATE DATABASE {}", ident(database));
        let row = cancellable(cancel, sqlx::raw_sql(&show).fetch_one(source))
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(&show), e))?;
        let create = String::from_utf8_lossy(&raw(&row, 1).unwrap_or_default()).into_owned();
        let create = match create.strip_prefix("CREATE DATABASE ") {
            Some(rest) if !rest.starts_with("IF NOT EXISTS") => {
                format!("CREATE DATABASE IF NOT EXISTS {rest}")
            }
            _ => create,
        };
        cancellable(cancel, target.execute(create.as_str()))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&create), e))?;
        Ok(())
    }

    async fn create_target_table(
        &self,
        target: &MySqlPool,
        table: &Table,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        if let Some(existing) = target_create(target, table, cancel).await? {
            return check_definition(Some(&existing), table);
        }
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

    /// Before the schema is read again (no row copied yet): drops each target table
    /// that the source altered since it was read, when the target's is empty and has
    /// exactly the definition read then (the one the copy created), so that it is
    /// created again with the new one.
    async fn drop_stale_tables(
        &self,
        source: &MySqlPool,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), CopyError> {
        let now = discover(source, &self.config.filter).await?;
        for old in &self.tables {
            let altered = now.iter().any(|t| {
                t.database == old.database
                    && t.name == old.name
                    && normalize_create(&t.create) != normalize_create(&old.create)
            });
            if !altered
                || check_definition(target_create(target, old, cancel).await?.as_deref(), old)
                    .is_err()
            {
                continue;
            }
            let probe = format!("SELECT 1 FROM {} LIMIT 1", old.qualified());
            let rows = cancellable(cancel, sqlx::raw_sql(&probe).fetch_all(target))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(&probe), e))?;
            if rows.is_empty() {
                let drop = format!("DROP TABLE {}", old.qualified());
                cancellable(cancel, target.execute(drop.as_str()))
                    .await
                    .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&drop), e))?;
                info!(table = %old.display_name(), "the source altered the table before the copy took its position: created again");
            }
        }
        Ok(())
    }

    async fn copy_all(&self, cancel: &CancellationToken) -> Vec<CopyError> {
        let (Some(source), Some(target)) = (self.source.clone(), self.target.clone()) else {
            return Vec::new();
        };
        let _ = self.progress.epoch.get_or_init(Instant::now);
        let online = self.config.consistency.is_some();
        self.report.recorder.select(
            self.tables
                .iter()
                .map(|t| (t.database.clone(), t.name.clone(), table_note(t, online))),
            self.objects.iter().map(|o| report::ObjectReport {
                kind: o.kind.as_str(),
                database: o.database.clone(),
                name: o.name.clone(),
                migrated: false,
                excluded: !self.config.objects.contains(o.kind),
                note: "not migrated yet".to_owned(),
            }),
        );
        // A failing job stops the others through a child token, so that the result
        // does not look cancelled from outside (which would keep auto-resume away).
        let cancel = &cancel.child_token();
        let snapshot = match self.config.consistency {
            Some(mode) => match self.begin_online(&source, &target, mode, cancel).await {
                Ok(snapshot) => snapshot,
                Err(e) => return vec![e],
            },
            None => None,
        };
        let throttle = throttle::Throttle::new(
            self.config.max_rows_per_second,
            self.config.max_bytes_per_second,
        )
        .with_load_guard(&source, self.config.max_source_threads_running);
        let ctx = Arc::new(CopyContext {
            source,
            target,
            store: self.store(),
            chunk_rows: self.config.chunk_rows.max(1),
            verification: self.verification,
            progress: self.progress.clone(),
            recorder: self.report.recorder.clone(),
            cancel: cancel.clone(),
            // A live source is verified at cutover, once replication has caught up.
            verify: self.config.consistency.is_none(),
            replace: self.config.consistency.is_some() && snapshot.is_none(),
            snapshot,
            throttle,
            observer: self.config.observer.clone(),
            #[cfg(feature = "local-infile")]
            bulk: self
                .config
                .load_data_local
                .then(|| bulk::BulkTarget::new(self.config.target.clone(), self.session.clone())),
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
}

impl CopyUnit {
    /// Records the position the copy is consistent with, before any row is read, in
    /// the task's `sync_checkpoint` row; opens the snapshot connections that read as
    /// of it. A copy resumed after its snapshot was lost cannot reopen it: it reads the
    /// current rows, and replication replays idempotently from the original position
    /// to the position the copy ends at.
    async fn begin_online(
        &self,
        source: &MySqlPool,
        target: &MySqlPool,
        mode: Consistency,
        cancel: &CancellationToken,
    ) -> Result<Option<Arc<snapshot::Snapshot>>, CopyError> {
        let db = &self.config.checkpoint_database;
        let task = &self.config.task;
        let down = |op: Operation<'_>, e| stmt_err(ErrScope::Downstream, op, e);
        cancellable(cancel, ensure_tables(target, db))
            .await
            .map_err(|e| down(Operation::Execute("sync_checkpoint"), e))?;
        let existing = cancellable(cancel, load_checkpoint(target, db, task))
            .await
            .map_err(|e| down(Operation::Query("sync_checkpoint"), e))?;
        if existing.as_ref().is_some_and(|cp| cp.copy_done) {
            return Ok(None);
        }
        let progress_sql = format!(
            "SELECT COUNT(*) FROM {} WHERE task = ? AND (rows_copied > 0 OR done = 1)",
            self.checkpoint_table()
        );
        let progress: i64 = cancellable(
            cancel,
            sqlx::query_scalar(&progress_sql)
                .bind(task)
                .fetch_one(target),
        )
        .await
        .map_err(|e| down(Operation::Query(&progress_sql), e))?;
        if existing.is_none() && progress > 0 {
            // Rows copied without a recorded position (a `full` copy): the changes made
            // since cannot be found in the binlog.
            return Err(CopyError::NoPosition { task: task.clone() });
        }
        if let Some(mut cp) = existing.filter(|_| progress > 0) {
            if cp.consistency != "resumed" {
                warn!(
                    from = %cp.position,
                    "the copy resumes without its snapshot (it cannot be reopened): it behaves as consistency none, and replication replays idempotently from the original start position"
                );
                cp.consistency = "resumed".to_owned();
                cancellable(cancel, store_checkpoint(target, db, task, &cp))
                    .await
                    .map_err(|e| down(Operation::Execute("sync_checkpoint"), e))?;
            }
            return Ok(None);
        }
        let opened = snapshot::open(
            source,
            &self.tables,
            mode,
            self.config.concurrency.max(1),
            self.mariadb,
            cancel,
        )
        .await?;
        info!(
            consistency = opened.used.as_str(),
            position = %opened.position,
            "the copy is consistent with this source position"
        );
        let cp = SyncCheckpoint {
            position: opened.position,
            safe_until: None,
            consistency: opened.used.as_str().to_owned(),
            copy_done: false,
            ddl_pending: None,
            ddl_before: None,
        };
        cancellable(cancel, store_checkpoint(target, db, task, &cp))
            .await
            .map_err(|e| down(Operation::Execute("sync_checkpoint"), e))?;
        // The schema was read before the position: a DDL (or a new table) between the
        // two would lie before the position, in no row and never replayed. Read again
        // now, the schema must be the one the tables were created from.
        let now = discover(source, &self.config.filter).await?;
        if let Some(detail) = schema_change(&self.tables, &now) {
            return Err(CopyError::SchemaChanged { detail });
        }
        Ok(opened.snapshot)
    }

    /// Marks the copy done in the task's `sync_checkpoint` row; where the copy was not
    /// a snapshot, records the position it ended at as the end of idempotent replay.
    async fn finish_online(&self, cancel: &CancellationToken) -> Result<(), CopyError> {
        let (Some(source), Some(target)) = (&self.source, &self.target) else {
            return Ok(());
        };
        let db = &self.config.checkpoint_database;
        let task = &self.config.task;
        let down = |op: Operation<'_>, e| stmt_err(ErrScope::Downstream, op, e);
        let Some(mut cp) = cancellable(cancel, load_checkpoint(target, db, task))
            .await
            .map_err(|e| down(Operation::Query("sync_checkpoint"), e))?
        else {
            return Ok(());
        };
        if cp.copy_done {
            return Ok(());
        }
        if matches!(cp.consistency.as_str(), "none" | "resumed") {
            let end = source_position(source, self.mariadb, cancel).await?;
            info!(
                from = %cp.position,
                until = ?end.as_ref().map(ToString::to_string),
                "the copy was not a snapshot: replication replays idempotently between these positions"
            );
            cp.safe_until = end;
        }
        cp.copy_done = true;
        cancellable(cancel, store_checkpoint(target, db, task, &cp))
            .await
            .map_err(|e| down(Operation::Execute("sync_checkpoint"), e))?;
        Ok(())
    }
}

impl CopyError {
    /// The server's error number, when the server refused a statement.
    pub fn server_number(&self) -> Option<u16> {
        match self {
            CopyError::Statement {
                source: StatementError::Sqlx(e),
                ..
            } => crate::adapter::classify::server_error(e).map(|d| d.number()),
            _ => None,
        }
    }
}

/// A copy task that panicked or was cancelled by the runtime.
fn internal(join: &tokio::task::JoinError) -> CopyError {
    stmt_err(
        ErrScope::Internal,
        Operation::Connect,
        StatementError::Sqlx(sqlx::Error::Protocol(format!("copy task failed: {join}"))),
    )
}

pub(crate) fn copy_process_error(err: &CopyError) -> pb::ProcessError {
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
        CopyError::DifferentTable { table } => {
            unit_core::new_process_error(&unit_core::Error::generate(
                &ErrorCode::COPY_TABLE_CONFLICT,
                &[&format!("table {table}")],
            ))
        }
        CopyError::DifferentObject { kind, object } => {
            unit_core::new_process_error(&unit_core::Error::generate(
                &ErrorCode::COPY_TABLE_CONFLICT,
                &[&format!("{kind} {object}")],
            ))
        }
        CopyError::NoPosition { .. } | CopyError::SchemaChanged { .. } => {
            unit_core::new_process_error(&unit_core::Error::generate(
                &ErrorCode::COPY_UNSUPPORTED,
                &[err],
            ))
        }
        CopyError::Schema(SchemaError::NoKey(table)) => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_NO_KEY, &[table]),
        ),
        CopyError::Schema(e @ SchemaError::Unsupported { .. }) => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_UNSUPPORTED, &[e]),
        ),
        CopyError::Schema(SchemaError::Sqlx(e)) => crate::adapter::process_error::process_error(
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
        let mut errors = self.copy_all(&cancel).await;
        // A DDL between reading the schema and taking the position: read the schema
        // again and take a new position (no row was copied yet).
        let mut attempts = 0;
        while attempts < SCHEMA_ATTEMPTS
            && matches!(errors.as_slice(), [CopyError::SchemaChanged { .. }])
            && !cancel.is_cancelled()
        {
            attempts += 1;
            warn!(error = %errors[0], "reading the schema again");
            errors = match (self.source.clone(), self.target.clone()) {
                (Some(source), Some(target)) => {
                    let again = async {
                        self.drop_stale_tables(&source, &target, &cancel).await?;
                        self.prepare_schema(&source, &target, &cancel).await
                    };
                    match again.await {
                        Ok(()) => self.copy_all(&cancel).await,
                        Err(e) => vec![e],
                    }
                }
                _ => errors,
            };
        }
        if errors.is_empty() && !cancel.is_cancelled() {
            if let Err(e) = self.migrate_objects(&cancel).await {
                errors.push(e);
            }
        }
        if errors.is_empty() && !cancel.is_cancelled() && self.config.consistency.is_some() {
            if let Err(e) = self.finish_online(&cancel).await {
                errors.push(e);
            }
        }
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
        close_pools([self.source.take(), self.target.take()]).await;
    }

    async fn kill(&mut self) {
        // Dropping the pools closes their connections without waiting.
        self.source = None;
        self.target = None;
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
        self.config.max_rows_per_second = config.max_rows_per_second;
        self.config.max_bytes_per_second = config.max_bytes_per_second;
        self.config.max_source_threads_running = config.max_source_threads_running;
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
        let store = self.store();
        let fresh = async {
            let mut conn = target.acquire().await?;
            store.is_fresh_task(&mut conn).await
        };
        cancellable(&cancel, fresh).await.map_err(|e| {
            Box::new(stmt_err(
                ErrScope::Downstream,
                Operation::Query("SELECT COUNT(*) FROM copy_checkpoint"),
                e,
            )) as BoxError
        })
    }
}

#[cfg(test)]
mod version_tests {
    use super::same_server_version;

    #[test]
    fn binary_logging_does_not_make_another_version() {
        assert!(same_server_version(
            "10.11.19-MariaDB-0+deb12u1-log",
            "10.11.19-MariaDB-0+deb12u1"
        ));
        assert!(same_server_version("8.0.36-log", "8.0.36-log"));
        assert!(!same_server_version(
            "10.11.19-MariaDB-0+deb12u1",
            "10.11.18-MariaDB-0+deb12u1"
        ));
        assert!(!same_server_version("8.0.36", "8.0.36-debug"));
    }
}
