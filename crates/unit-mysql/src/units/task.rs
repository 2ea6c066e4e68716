//! The task's configuration: one [`TaskConfig`] that every unit of the task reads, in
//! sections as DM's `SubTaskConfig` has them: the settings common to the task (servers,
//! selection, checkpoints, verification, objects, consistency), the copy's
//! ([`CopySettings`]) and the Sync unit's ([`SyncSettings`]).

use std::sync::Arc;
use std::time::Duration;

use crate::adapter::dsn::MySqlUrl;
use crate::catalog::objects::ObjectKinds;
use crate::catalog::position::BinlogPosition;
use crate::catalog::schema::{Filter, Table};
use crate::units::observer::Observer;
use crate::units::verify::Verification;

/// The settings of a task, read by each of its units: [`CheckUnit`], [`CopyUnit`] and
/// [`SyncUnit`] take the same value.
///
/// The common settings are fields of their own; [`TaskConfig::copy`] and
/// [`TaskConfig::sync`] hold the settings only one unit reads.
///
/// ```
/// use unit_mysql::{CopySettings, Filter, TaskConfig};
///
/// # fn main() -> Result<(), unit_mysql::UrlError> {
/// let mut config = TaskConfig::new(
///     "shop",
///     "mysql://reader:secret@10.0.0.1:3306/".parse()?,
///     "mysql://writer:secret@10.0.0.2:3306/".parse()?,
///     Filter::default(),
/// )
/// .with_checkpoint_database("migration".into());
/// config.copy = CopySettings::default().with_chunk_rows(1000);
/// config.sync.workers = 8;
/// assert_eq!(config.copy.concurrency, 4);
/// # Ok(())
/// # }
/// ```
///
/// [`CheckUnit`]: crate::units::check::CheckUnit
/// [`CopyUnit`]: crate::units::copy::CopyUnit
/// [`SyncUnit`]: crate::units::sync::SyncUnit
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskConfig {
    /// The task's name: checkpoints are kept per task.
    pub task: String,
    /// Where rows are read.
    pub source: MySqlUrl,
    /// Where rows are written, and where the checkpoints live.
    pub target: MySqlUrl,
    /// Which tables to migrate.
    pub filter: Filter,
    /// The target database holding the task's checkpoint tables.
    pub checkpoint_database: String,
    /// How long to wait for a connection before reporting a (resumable) failure.
    pub acquire_timeout: Duration,
    /// How migrated tables are compared with their source (by the copy, and at
    /// cutover); `None` chooses when the unit starts (see [`Verification`]).
    pub verification: Option<Verification>,
    /// Which kinds of objects other than tables are migrated (all by default); the
    /// others are reported as left out.
    pub objects: ObjectKinds,
    /// `Some`: the copy is the first step of an online migration. It records the
    /// source position its rows are consistent with (see [`Consistency`]) for the
    /// Sync unit, and leaves verification to cutover (the source may be changing).
    /// `None` (the default): a copy of a quiet source, verified per table.
    pub consistency: Option<Consistency>,
    /// Migrate system-versioned tables (`WITH SYSTEM VERSIONING`) as their current
    /// rows only: the history is not copied, and the target keeps its own from the
    /// copy on. Off by default: such tables are refused, naming them.
    pub versioned_current_rows: bool,
    /// Hears the units' events as they happen (for metrics); none by default.
    pub observer: Option<Arc<dyn Observer>>,
    /// The copy's settings.
    pub copy: CopySettings,
    /// The Sync unit's settings.
    pub sync: SyncSettings,
}

/// The settings only the Copy unit reads ([`TaskConfig::copy`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CopySettings {
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
    /// Write chunks with `LOAD DATA LOCAL INFILE`, streamed from memory, where a
    /// table allows it (on by default; needs the `local-infile` feature, a default
    /// one). Values are written exactly as with `INSERT`, each chunk still in one
    /// transaction with its checkpoint; a chunk the load does not take as written
    /// (a warning, a skipped row) is inserted instead, and a target with
    /// `local_infile=OFF` is written with `INSERT`. Tables of an engine without
    /// transactions, without a key or with system versioning are always inserted.
    pub load_data_local: bool,
}

impl Default for CopySettings {
    /// 5,000-row chunks, 4 parts at a time, tables split from 200,000 rows, no
    /// throttle, `LOAD DATA LOCAL INFILE` on.
    ///
    /// Each part being copied holds up to two chunks in memory (one being written,
    /// the next being read), so memory is about `2 × chunk_rows × concurrency` rows:
    /// lower `chunk_rows` for tables of wide rows.
    fn default() -> Self {
        Self {
            chunk_rows: 5000,
            concurrency: 4,
            split_rows: 100_000,
            max_rows_per_second: None,
            max_bytes_per_second: None,
            max_source_threads_running: None,
            load_data_local: true,
        }
    }
}

impl CopySettings {
    unit_core::with_setters! {
        with_chunk_rows => chunk_rows: usize,
        with_concurrency => concurrency: usize,
        with_split_rows => split_rows: u64,
        with_max_rows_per_second => max_rows_per_second: Option<u64>,
        with_max_bytes_per_second => max_bytes_per_second: Option<u64>,
        with_max_source_threads_running => max_source_threads_running: Option<u64>,
        with_load_data_local => load_data_local: bool,
    }
}

/// The settings only the Sync unit reads ([`TaskConfig::sync`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncSettings {
    /// The replica id the Sync unit reads the binlog as: it must differ from the
    /// source's `server_id` and from every other replica's. [`TaskConfig::new`]
    /// derives it from the task's name, in `[1 << 30, 1 << 31)`.
    pub server_id: u32,
    /// Start the binlog stream from the recorded GTID set (MariaDB's
    /// `@slave_connect_state`) instead of the file and offset, so that replication
    /// can follow a source that was replaced by another server of the same GTID
    /// history.
    pub use_gtid: bool,
    /// The most row changes applied in one target transaction (more when one source
    /// transaction holds more).
    pub batch: usize,
    /// How many target connections row changes are applied on, routed by their keys
    /// so that changes of one row keep their order; 1 applies them on one connection
    /// in whole source transactions. Memory is bounded by about `workers × 1024` row
    /// changes.
    pub workers: usize,
    /// The most consecutive inserts (or deletes by key) of one table that an apply
    /// worker merges into one statement: a multi-row `INSERT`, a `DELETE ... WHERE
    /// (key) IN (...)`. 1 writes a statement per row change. Deletes are merged only
    /// for a table whose changes all go to one worker (a `DELETE ... IN` may scan and
    /// lock rows that other workers write); the statements of a worker travel several
    /// to a query either way.
    pub merge_rows: usize,
    /// The cutover: apply everything up to the source's position when the unit
    /// starts (with writes stopped), verify every table, and finish.
    pub cutover: bool,
    /// Incremental mode (no copy): replicate from this position, unless the task has
    /// recorded one already.
    pub start: Option<BinlogPosition>,
    /// How long to wait for a packet of the binlog stream before taking the
    /// connection for dead (a source that crashed, a half-open connection) and ending
    /// with a lost connection, which is resumed. The source sends a heartbeat every
    /// second while it has nothing else to send; the default is 10 s (DM waits twice
    /// its heartbeat period).
    pub stream_timeout: Duration,
    /// The largest binlog event the stream takes, in bytes, as a replica's
    /// `slave_max_allowed_packet` (1 GiB, the protocol's limit, by default). An
    /// update of a row with a 16 MiB BLOB is an event of 32 MiB (both images). An
    /// event larger than this stops the unit with code 60009, naming its position and
    /// size, never a retry that would meet it again.
    pub max_event_bytes: usize,
    /// For tests of crash recovery only (feature `testing`): the Sync unit stops (as
    /// if killed) at this point of applying a DDL, `"before"` (its checkpoint
    /// committed, the DDL not run) or `"after"` (run, its checkpoint not moved past
    /// it).
    #[cfg(feature = "testing")]
    pub ddl_failpoint: Option<&'static str>,
}

impl Default for SyncSettings {
    /// 1,000-change batches, 4 workers merging up to 200 rows, file positions, a
    /// 10 s stream timeout, no cutover; the replica id of an unnamed task (see
    /// [`SyncSettings::server_id`](crate::units::task::SyncSettings::server_id)).
    fn default() -> Self {
        Self {
            server_id: default_server_id(""),
            use_gtid: false,
            batch: 1000,
            workers: 4,
            merge_rows: 200,
            cutover: false,
            start: None,
            stream_timeout: Duration::from_secs(10),
            max_event_bytes: 1 << 30,
            #[cfg(feature = "testing")]
            ddl_failpoint: None,
        }
    }
}

impl SyncSettings {
    unit_core::with_setters! {
        with_server_id => server_id: u32,
        with_use_gtid => use_gtid: bool,
        with_batch => batch: usize,
        with_workers => workers: usize,
        with_merge_rows => merge_rows: usize,
        with_cutover => cutover: bool,
        with_start => start: Option<BinlogPosition>,
        with_stream_timeout => stream_timeout: Duration,
        with_max_event_bytes => max_event_bytes: usize,
    }

    /// Whether the test failpoint `at` (`"before"`, `"after"`) is set; never without
    /// the `testing` feature.
    pub(crate) fn failpoint(&self, at: &str) -> bool {
        #[cfg(feature = "testing")]
        return self.ddl_failpoint == Some(at);
        #[cfg(not(feature = "testing"))]
        {
            let _ = at;
            false
        }
    }
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

impl TaskConfig {
    /// Whether the task selects table `db.table` (never one of its checkpoint
    /// database).
    pub(crate) fn selects_table(&self, db: &str, table: &str) -> bool {
        db != self.checkpoint_database && self.filter.selects(db, table)
    }

    unit_core::with_setters! {
        with_filter => filter: Filter,
        with_checkpoint_database => checkpoint_database: String,
        with_acquire_timeout => acquire_timeout: Duration,
        with_verification => verification: Option<Verification>,
        with_objects => objects: ObjectKinds,
        with_consistency => consistency: Option<Consistency>,
        with_versioned_current_rows => versioned_current_rows: bool,
        with_observer => observer: Option<Arc<dyn Observer>>,
        with_copy => copy: CopySettings,
        with_sync => sync: SyncSettings,
    }

    /// Settings with defaults ([`CopySettings::default`](crate::units::task::CopySettings::default), [`SyncSettings::default`](crate::units::task::SyncSettings::default)
    /// with a replica id derived from `task`): checkpoints in `unit_checkpoint`,
    /// verification chosen by the servers' versions, every kind of object.
    pub fn new(
        task: impl Into<String>,
        source: MySqlUrl,
        target: MySqlUrl,
        filter: Filter,
    ) -> Self {
        let task = task.into();
        Self {
            sync: SyncSettings {
                server_id: default_server_id(&task),
                ..SyncSettings::default()
            },
            copy: CopySettings::default(),
            source,
            target,
            filter,
            consistency: None,
            versioned_current_rows: false,
            observer: None,
            checkpoint_database: "unit_checkpoint".to_owned(),
            task,
            acquire_timeout: Duration::from_secs(10),
            verification: None,
            objects: ObjectKinds::default(),
        }
    }
}

/// Why an online migration cannot take a table without a usable key, if it cannot.
pub(crate) fn keyless_refusal(
    table: &Table,
    consistency: Option<Consistency>,
) -> Option<&'static str> {
    if table.has_key() {
        return None;
    }
    match consistency {
        None => None,
        Some(Consistency::None) => Some(
            "a copy without a snapshot (consistency none) must replay its changes idempotently, \
             which needs a key; use consistency flush or lock, or add a key",
        ),
        Some(_) if !table.is_transactional() => Some(
            "its engine has no transactions, so its changes must be applied idempotently, \
             which needs a key; add a key or convert it to InnoDB",
        ),
        Some(_) => None,
    }
}
