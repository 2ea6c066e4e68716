//! The Sync unit: streams the source's binlog from the position the copy recorded and
//! applies every row change of the selected tables to the target, exactly once.
//!
//! - **Exactly once.** Source transactions are applied in order, several to one target
//!   transaction, and each target transaction also moves the task's row in
//!   `<checkpoint_database>.sync_checkpoint` to the end of the last source transaction
//!   it holds. A crash at any instant leaves the target at a transaction boundary of the
//!   source with the checkpoint naming it, and a rerun continues from there.
//! - **Safe mode** (idempotent replay: `REPLACE`, `DELETE` + `REPLACE`) is only on
//!   between the two positions a copy records when its rows were not a snapshot
//!   ([`SyncCheckpoint::safe_until`]); elsewhere a change that does not match the target
//!   (a missing row, a duplicate key) stops the unit with code 60007, naming the event.
//! - **DDL** of the selected tables runs on the target in stream order, alone, after
//!   everything before it is committed; the unit then reads the table's columns again
//!   from the target. A DDL the target refuses stops the unit (code 60008).
//! - **Values** are written from the binlog's storage format with the target's column
//!   types (`sync::value`), so unsigned integers, DECIMAL, temporal types in any time
//!   zone, BIT, ENUM, SET, JSON, BLOB and every character set arrive exactly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::mysql::MySqlPool;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use unit_core::{BoxError, ErrScope, ErrorCode, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::cancel::{StatementError, cancellable};
use crate::classify::Operation;
use crate::copy::{
    CopyConfig, CopyError, SOURCE_SESSION, Verification, copy_process_error, open_pool, stmt_err,
    target_session,
};
use crate::position::{
    BinlogPosition, MariaGtidSet, SyncCheckpoint, create_checkpoint_table, is_mariadb,
    load_checkpoint, master_position, store_checkpoint,
};
use crate::schema::{ListedTable, Table, describe, discover, ident};

pub mod ddl;
mod stream;
mod value;

use stream::{Decoded, RowImage, RowsKind, Source, SourceEvent};
pub use stream::{StartAt, StreamError};
pub use value::{ValueError, literal};

/// A failure of the Sync unit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A statement on the source or target failed, or the tables differ at cutover.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// Reading the binlog failed.
    #[error("binlog stream from {position}: {source}")]
    Stream {
        /// Where the stream was read from.
        position: BinlogPosition,
        /// What failed.
        #[source]
        source: StreamError,
    },
    /// A row change does not match the target.
    #[error("row change at {at} cannot be applied: {detail}")]
    Conflict {
        /// The event's position.
        at: String,
        /// What did not match.
        detail: String,
    },
    /// The target refused a row change.
    #[error("row change at {at} failed on the target: {source}")]
    Apply {
        /// The event's position.
        at: String,
        /// The statement, summarised.
        statement: String,
        /// The failure.
        #[source]
        source: sqlx::Error,
    },
    /// The target refused a DDL statement.
    #[error("DDL at {at} failed on the target: {statement}: {source}")]
    Ddl {
        /// The event's position.
        at: String,
        /// The statement, summarised.
        statement: String,
        /// The failure.
        #[source]
        source: sqlx::Error,
    },
    /// An event that cannot be applied exactly.
    #[error("event at {at} cannot be applied: {detail}")]
    Unsupported {
        /// The event's position.
        at: String,
        /// Why.
        detail: String,
    },
    /// There is no position to start from.
    #[error(
        "task {task} has no replication position: run the copy first (mode all), or give a start position (mode incremental)"
    )]
    NoPosition {
        /// The task.
        task: String,
    },
}

/// Counters and positions shared with the status handle.
#[derive(Debug, Default)]
struct Shared {
    /// Row changes applied (DM's "total events").
    total: AtomicI64,
    /// Where the target is: the last committed checkpoint.
    syncer: Mutex<BinlogPosition>,
    /// The source's own position, refreshed about every second.
    master: Mutex<BinlogPosition>,
    /// The source timestamp of the last applied transaction.
    last_event_ts: AtomicU32,
    /// Safe mode is on.
    safe_mode: AtomicBool,
    /// (when, total) at the start of the current TPS window.
    window: Mutex<Option<(Instant, i64, i64)>>,
    started: std::sync::OnceLock<Instant>,
    /// Where cutover ended, once it has.
    cutover_at: Mutex<Option<BinlogPosition>>,
    /// The tables cutover verified, with their row counts.
    verified: Mutex<Vec<(String, String, i64)>>,
    /// Cutover has applied everything up to its position and is verifying.
    verifying: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn status(&self, source: Option<&SourceStatus>) -> pb::SyncStatus {
        let total = self.total.load(Ordering::Relaxed);
        let syncer = lock(&self.syncer).clone();
        let master = match source {
            Some(s) => BinlogPosition {
                file: s.binlog_name.clone(),
                pos: s.binlog_pos,
                gtid: s.gtid_set.clone(),
            },
            None => lock(&self.master).clone(),
        };
        let secs = self
            .started
            .get()
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        let total_tps = if secs > 0.0 {
            (total as f64 / secs) as i64
        } else {
            0
        };
        let recent_tps = {
            let mut window = lock(&self.window);
            let now = Instant::now();
            match *window {
                Some((at, before, tps)) if now.duration_since(at) < Duration::from_secs(10) => tps
                    .max(0)
                    .max(if now.duration_since(at).as_secs_f64() > 0.5 {
                        ((total - before) as f64 / now.duration_since(at).as_secs_f64()) as i64
                    } else {
                        0
                    }),
                Some((at, before, _)) => {
                    let tps =
                        ((total - before) as f64 / now.duration_since(at).as_secs_f64()) as i64;
                    *window = Some((now, total, tps));
                    tps
                }
                None => {
                    *window = Some((now, total, 0));
                    0
                }
            }
        };
        let synced = !master.file.is_empty() && syncer.compare(&master) != std::cmp::Ordering::Less;
        let last = i64::from(self.last_event_ts.load(Ordering::Relaxed));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let behind = if synced || last == 0 {
            0
        } else {
            (now - last).max(0)
        };
        let show = |p: &BinlogPosition| {
            if p.file.is_empty() {
                String::new()
            } else {
                format!("({}, {})", p.file, p.pos)
            }
        };
        pb::SyncStatus {
            total_events: total,
            total_tps,
            recent_tps,
            master_binlog: show(&master),
            master_binlog_gtid: master.gtid.clone(),
            syncer_binlog: show(&syncer),
            syncer_binlog_gtid: syncer.gtid.clone(),
            synced,
            binlog_type: "remote".to_owned(),
            seconds_behind_master: behind,
            total_rows: total,
            total_rps: total_tps,
            recent_rps: recent_tps,
            ..Default::default()
        }
    }
}

/// A handle reading the Sync unit's progress after the unit was handed to a
/// supervisor.
#[derive(Debug, Clone)]
pub struct SyncProgress(Arc<Shared>);

impl SyncProgress {
    /// DM's sync status: positions, events applied, TPS, lag.
    pub fn status(&self) -> pb::SyncStatus {
        self.0.status(None)
    }

    /// Whether changes are being replayed idempotently (safe mode), as they are between
    /// the two positions of a copy that was not a snapshot.
    pub fn safe_mode(&self) -> bool {
        self.0.safe_mode.load(Ordering::Relaxed)
    }

    /// The source position a cutover ended at: every change before it is applied.
    pub fn cutover_position(&self) -> Option<BinlogPosition> {
        lock(&self.0.cutover_at).clone()
    }

    /// The cutover has applied everything up to its position and is now verifying the
    /// tables.
    pub fn verifying(&self) -> bool {
        self.0.verifying.load(Ordering::Relaxed)
    }

    /// The tables the cutover verified (row count and checksum equal on both sides):
    /// `(database, table, rows)`.
    pub fn verified(&self) -> Vec<(String, String, i64)> {
        lock(&self.0.verified).clone()
    }
}

/// What one run of the replication loop ended with.
enum Ended {
    /// Cancelled (pause, stop).
    Canceled,
    /// Cutover: everything up to the source's position at the start was applied.
    CaughtUp(BinlogPosition),
}

/// Replication as a [`Unit`] of type Sync; see the [module](self) documentation.
///
/// Its configuration is the task's [`CopyConfig`]: source, target, the selected
/// tables, the checkpoint database, [`CopyConfig::server_id`] (the replica id it
/// reads the binlog as), [`CopyConfig::sync_batch`] and [`CopyConfig::cutover`]:
/// with cutover, `process` returns once everything up to the source's position at its
/// start is applied and every selected table is verified (row count and checksum);
/// without, it replicates until paused or stopped.
///
/// # Example
/// An online migration: check, a copy consistent with a binlog position, then
/// replication (with `cutover`, until the source's current position, verified).
/// ```no_run
/// use unit_core::{BoxUnit, Subtask, SubtaskConfig};
/// use unit_mysql::{CheckUnit, Consistency, CopyConfig, CopyUnit, SyncUnit, schema::Filter};
/// use unit_proto::pb::Stage;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let filter = Filter {
///     databases: vec!["shop".into()],
///     ..Filter::default()
/// };
/// let source = "mysql://repl:secret@10.0.0.1:3306/".parse()?;
/// let target = "mysql://writer:secret@10.0.0.2:3306/".parse()?;
/// let mut config = CopyConfig::new("shop", source, target, filter);
/// config.consistency = Some(Consistency::Auto);
/// let sync = SyncUnit::new(config.clone());
/// let progress = sync.progress();
/// let units: Vec<BoxUnit<CopyConfig>> = vec![
///     Box::new(CheckUnit::new(config.clone())),
///     Box::new(CopyUnit::new(config)),
///     Box::new(sync),
/// ];
/// let subtask = Subtask::spawn(SubtaskConfig::new("shop"), units);
/// // ... later: lag and position, read without waiting on the work.
/// let status = progress.status();
/// println!("{} s behind, at {}", status.seconds_behind_master, status.syncer_binlog);
/// subtask.pause().await?;
/// # Ok(())
/// # }
/// ```
pub struct SyncUnit {
    config: CopyConfig,
    source: Option<MySqlPool>,
    target: Option<MySqlPool>,
    mariadb: bool,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SyncUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncUnit")
            .field("task", &self.config.task)
            .field("source", &self.config.source)
            .field("target", &self.config.target)
            .finish_non_exhaustive()
    }
}

/// The state of one run of the replication loop.
struct Run<'a> {
    unit: &'a SyncUnit,
    conn: sqlx::pool::PoolConnection<sqlx::MySql>,
    /// What the next target commit records.
    pending: SyncCheckpoint,
    /// The current binlog file.
    file: String,
    /// Where the event being handled starts.
    event_start: u64,
    gtids: MariaGtidSet,
    /// The GTID of the source transaction being read.
    txn_gtid: Option<(u32, u32, u64)>,
    in_txn: bool,
    /// Safe mode for the transaction being read.
    txn_safe: bool,
    /// A target transaction is open.
    batch_open: bool,
    batch_changes: i64,
    /// Row changes of the source transaction being read.
    txn_changes: i64,
    batch_started: Instant,
    /// `pending` differs from what was committed.
    dirty: bool,
    /// The source timestamp of the last transaction read.
    last_ts: u32,
    tables: HashMap<(String, String), Option<Arc<Table>>>,
}

impl SyncUnit {
    /// A Sync unit for the task `config` describes; nothing is opened until `init`.
    pub fn new(config: CopyConfig) -> Self {
        Self {
            config,
            source: None,
            target: None,
            mariadb: true,
            shared: Arc::default(),
        }
    }

    /// A handle reading this unit's progress.
    pub fn progress(&self) -> SyncProgress {
        SyncProgress(self.shared.clone())
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), CopyError> {
        let size = 3;
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
        self.mariadb = cancellable(cancel, is_mariadb(&source))
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query("SELECT VERSION()"), e))?;
        let session = target_session(&source, cancel).await?;
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
        let db = &self.config.checkpoint_database;
        for sql in [
            format!("CREATE DATABASE IF NOT EXISTS {}", ident(db)),
            create_checkpoint_table(db),
        ] {
            cancellable(cancel, target.execute(sql.as_str()))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&sql), e))?;
        }
        Ok(())
    }

    async fn run(&self, cancel: &CancellationToken) -> Result<Ended, SyncError> {
        let (Some(source), Some(target)) = (self.source.clone(), self.target.clone()) else {
            return Err(SyncError::NoPosition {
                task: self.config.task.clone(),
            });
        };
        let db = &self.config.checkpoint_database;
        let task = &self.config.task;
        // Incremental mode: the start position given, unless a run already recorded one
        // (written here, not in `init`, so that the check unit runs first).
        if let Some(start) = &self.config.start {
            let existing = cancellable(cancel, load_checkpoint(&target, db, task))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checkpoint"), e))?;
            if existing.is_none() {
                let cp = SyncCheckpoint {
                    position: start.clone(),
                    safe_until: None,
                    consistency: "incremental".to_owned(),
                    copy_done: true,
                    ddl_pending: None,
                };
                cancellable(cancel, store_checkpoint(&target, db, task, &cp))
                    .await
                    .map_err(|e| {
                        stmt_err(ErrScope::Downstream, Operation::Execute("checkpoint"), e)
                    })?;
            }
        }
        let checkpoint = cancellable(cancel, load_checkpoint(&target, db, task))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checkpoint"), e))?;
        let Some(checkpoint) = checkpoint.filter(|c| c.copy_done) else {
            return Err(SyncError::NoPosition { task: task.clone() });
        };
        let _ = self.shared.started.get_or_init(Instant::now);
        *lock(&self.shared.syncer) = checkpoint.position.clone();
        // The cutover target: the source's position now, while writes are stopped.
        let stop_at = if self.config.cutover {
            cancellable(cancel, master_position(&source, self.mariadb))
                .await
                .map_err(|e| {
                    stmt_err(
                        ErrScope::Upstream,
                        Operation::Query("SHOW MASTER STATUS"),
                        e,
                    )
                })?
        } else {
            None
        };
        let refresher = tokio::spawn(refresh_master(
            source.clone(),
            self.mariadb,
            self.shared.clone(),
        ));
        let _abort = AbortOnDrop(refresher);
        let start = if self.config.use_gtid && self.mariadb && !checkpoint.position.gtid.is_empty()
        {
            StartAt::MariaGtid(checkpoint.position.gtid.clone())
        } else {
            StartAt::File {
                file: checkpoint.position.file.clone(),
                pos: checkpoint.position.pos,
            }
        };
        info!(from = %checkpoint.position, safe_until = ?checkpoint.safe_until.as_ref().map(ToString::to_string), "replication starting");
        let stream_err = |source| SyncError::Stream {
            position: checkpoint.position.clone(),
            source,
        };
        let mut stream = tokio::select! {
            s = Source::open(&self.config.source, self.config.server_id, &start, self.mariadb) => s.map_err(stream_err)?,
            () = cancel.cancelled() => return Ok(Ended::Canceled),
        };
        let conn = cancellable(cancel, async { target.acquire().await })
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e))?;
        let mut run = Run {
            unit: self,
            conn,
            gtids: MariaGtidSet::parse(&checkpoint.position.gtid).unwrap_or_default(),
            file: checkpoint.position.file.clone(),
            event_start: checkpoint.position.pos,
            pending: checkpoint,
            txn_gtid: None,
            in_txn: false,
            txn_safe: false,
            batch_open: false,
            batch_changes: 0,
            txn_changes: 0,
            batch_started: Instant::now(),
            dirty: false,
            last_ts: 0,
            tables: HashMap::new(),
        };
        run.update_safe_mode();
        let ended = run.replicate(&mut stream, cancel, stop_at.as_ref()).await;
        if ended.is_err() || matches!(ended, Ok(Ended::Canceled)) {
            run.rollback().await;
        }
        let ended = ended?;
        if let Ended::CaughtUp(at) = &ended {
            info!(at = %at, "cutover: every change up to the source's position is applied; verifying");
            self.shared.verifying.store(true, Ordering::Relaxed);
            let verified = self.verify_all(&source, &target, cancel).await;
            self.shared.verifying.store(false, Ordering::Relaxed);
            verified?;
            *lock(&self.shared.cutover_at) = Some(at.clone());
        }
        Ok(ended)
    }

    /// Compares every selected table on both sides (row count and checksum).
    async fn verify_all(
        &self,
        source: &MySqlPool,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), SyncError> {
        let tables = cancellable(cancel, async {
            discover(source, &self.config.filter)
                .await
                .map_err(|e| match e {
                    crate::schema::SchemaError::Sqlx(e) => e,
                    other => sqlx::Error::Protocol(other.to_string()),
                })
        })
        .await
        .map_err(|e| {
            stmt_err(
                ErrScope::Upstream,
                Operation::Query("information_schema"),
                e,
            )
        })?;
        let version = "SELECT VERSION()";
        let (up, down) = tokio::join!(
            sqlx::query_scalar::<_, String>(version).fetch_one(source),
            sqlx::query_scalar::<_, String>(version).fetch_one(target),
        );
        let same = matches!((up, down), (Ok(a), Ok(b)) if a == b);
        let verification = self.config.verification.unwrap_or(if same {
            Verification::ChecksumTable
        } else {
            Verification::RowText
        });
        lock(&self.shared.verified).clear();
        for table in &tables {
            let rows =
                crate::copy::verify_table(source, target, table, verification, cancel).await?;
            info!(table = %table.display_name(), rows, "verified at cutover");
            lock(&self.shared.verified).push((table.database.clone(), table.name.clone(), rows));
        }
        Ok(())
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the source's position about every second, for the status.
async fn refresh_master(source: MySqlPool, mariadb: bool, shared: Arc<Shared>) {
    loop {
        if let Ok(Some(p)) = master_position(&source, mariadb).await {
            *lock(&shared.master) = p;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Server errors that mean a DDL statement was already applied (by a run that stopped
/// before recording it): the table or column exists, or is already gone.
const ALREADY_APPLIED: &[u16] = &[1007, 1008, 1050, 1051, 1054, 1060, 1061, 1091, 1146];

impl Run<'_> {
    fn at(&self) -> String {
        format!("({}, {})", self.file, self.event_start)
    }

    fn update_safe_mode(&mut self) {
        let safe = self
            .pending
            .safe_until
            .as_ref()
            .is_some_and(|s| self.pending.position.compare(s) == std::cmp::Ordering::Less);
        if !safe && self.pending.safe_until.is_some() {
            info!(at = %self.pending.position, "safe mode off: past the copy's end position");
            self.pending.safe_until = None;
            self.mark_dirty();
        }
        let was = self.unit.shared.safe_mode.swap(safe, Ordering::Relaxed);
        if safe && !was {
            info!(
                until = ?self.pending.safe_until.as_ref().map(ToString::to_string),
                "safe mode on: changes are replayed idempotently until the copy's end position"
            );
        }
        self.txn_safe = safe;
    }

    async fn replicate(
        &mut self,
        stream: &mut Source,
        cancel: &CancellationToken,
        stop_at: Option<&BinlogPosition>,
    ) -> Result<Ended, SyncError> {
        let batch = self.unit.config.sync_batch.max(1) as i64;
        loop {
            if !self.in_txn {
                if let Some(stop) = stop_at {
                    if self.pending.position.compare(stop) != std::cmp::Ordering::Less {
                        self.flush().await?;
                        return Ok(Ended::CaughtUp(self.pending.position.clone()));
                    }
                }
                // A busy stream is committed every 100 ms (or batch), also when only
                // the position moved (changes of tables that are not selected).
                if (self.batch_open || self.dirty)
                    && (self.batch_changes >= batch
                        || self.batch_started.elapsed() > Duration::from_millis(100))
                {
                    self.flush().await?;
                }
            }
            // At a boundary with something to commit, commit when the stream pauses.
            let idle_commit = !self.in_txn && (self.batch_open || self.dirty);
            let next = async {
                if idle_commit {
                    tokio::time::timeout(Duration::from_millis(5), stream.next())
                        .await
                        .ok()
                } else {
                    Some(stream.next().await)
                }
            };
            let event = tokio::select! {
                e = next => e,
                () = cancel.cancelled() => {
                    if !self.in_txn {
                        self.flush().await?;
                    }
                    return Ok(Ended::Canceled);
                }
            };
            let Some(event) = event else {
                self.flush().await?;
                continue;
            };
            let event = event.map_err(|source| SyncError::Stream {
                position: self.pending.position.clone(),
                source,
            })?;
            self.handle(event).await?;
        }
    }

    async fn handle(&mut self, event: SourceEvent) -> Result<(), SyncError> {
        let SourceEvent {
            decoded,
            end_pos,
            timestamp,
        } = event;
        match decoded {
            Decoded::Rotate { file, pos } => {
                self.file = file;
                self.event_start = pos;
                if !self.in_txn && self.pending.position.file != self.file {
                    self.pending.position.file = self.file.clone();
                    self.pending.position.pos = pos;
                    self.mark_dirty();
                }
                return Ok(());
            }
            Decoded::Gtid {
                domain,
                server,
                seq,
                standalone,
            } => {
                self.txn_gtid = Some((domain, server, seq));
                if !standalone {
                    self.begin_txn(timestamp);
                }
            }
            Decoded::Begin => self.begin_txn(timestamp),
            Decoded::Rows {
                database,
                table,
                columns,
                kind,
                rows,
            } => {
                if !self.in_txn {
                    self.begin_txn(timestamp);
                }
                self.apply_rows(&database, &table, columns, kind, rows)
                    .await?;
            }
            Decoded::Commit => self.end_txn(end_pos),
            Decoded::Query { schema, sql } => {
                if !self.in_txn {
                    self.last_ts = timestamp;
                    self.apply_query(&schema, &sql).await?;
                    self.end_txn(end_pos);
                } else if self.txn_changes == 0 && ddl::parse(&sql, &schema).is_some() {
                    // `CREATE TABLE ... SELECT`: the DDL opens the transaction whose rows
                    // fill the table. It runs at the boundary before the transaction;
                    // the rows and the checkpoint commit at its end.
                    self.in_txn = false;
                    let applied = self.apply_query(&schema, &sql).await;
                    self.in_txn = true;
                    applied?;
                }
            }
            // Events between transactions (format description, heartbeat, MariaDB's
            // GTID list and binlog checkpoint) move the position on: a cutover waiting
            // for the source's position reaches it through them.
            Decoded::Other => {
                if !self.in_txn
                    && end_pos > self.pending.position.pos
                    && self.pending.position.file == self.file
                {
                    self.pending.position.pos = end_pos;
                }
            }
        }
        if end_pos > 0 {
            self.event_start = end_pos;
        }
        Ok(())
    }

    /// Notes that `pending` moved; the time of the first change not committed is kept
    /// for the 100 ms commit rule.
    fn mark_dirty(&mut self) {
        if !self.dirty && !self.batch_open {
            self.batch_started = Instant::now();
        }
        self.dirty = true;
    }

    fn begin_txn(&mut self, timestamp: u32) {
        self.in_txn = true;
        self.txn_changes = 0;
        self.last_ts = timestamp;
        self.update_safe_mode();
    }

    fn end_txn(&mut self, end_pos: u64) {
        self.in_txn = false;
        if let Some((d, s, q)) = self.txn_gtid.take() {
            self.gtids.record(d, s, q);
        }
        self.pending.position = BinlogPosition {
            file: self.file.clone(),
            pos: end_pos,
            gtid: self.gtids.to_string(),
        };
        self.mark_dirty();
    }

    fn target_err(&self, op: Operation<'_>, e: sqlx::Error) -> SyncError {
        SyncError::Copy(stmt_err(ErrScope::Downstream, op, StatementError::Sqlx(e)))
    }

    async fn begin_batch(&mut self) -> Result<(), SyncError> {
        if !self.batch_open {
            self.conn
                .execute("BEGIN")
                .await
                .map_err(|e| self.target_err(Operation::Begin, e))?;
            self.batch_open = true;
            self.batch_changes = 0;
            self.batch_started = Instant::now();
        }
        Ok(())
    }

    /// Commits the open batch with the checkpoint (or writes a moved checkpoint).
    async fn flush(&mut self) -> Result<(), SyncError> {
        if !self.batch_open && !self.dirty {
            return Ok(());
        }
        if self.in_txn {
            return Ok(());
        }
        self.begin_batch().await?;
        let config = &self.unit.config;
        store_checkpoint(
            &mut *self.conn,
            &config.checkpoint_database,
            &config.task,
            &self.pending,
        )
        .await
        .map_err(|e| self.target_err(Operation::Execute("UPDATE sync_checkpoint"), e))?;
        self.conn
            .execute("COMMIT")
            .await
            .map_err(|e| self.target_err(Operation::Commit, e))?;
        self.batch_open = false;
        self.dirty = false;
        let shared = &self.unit.shared;
        shared
            .total
            .fetch_add(self.batch_changes, Ordering::Relaxed);
        self.batch_changes = 0;
        *lock(&shared.syncer) = self.pending.position.clone();
        if self.last_ts > 0 {
            shared.last_event_ts.store(self.last_ts, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        if self.batch_open {
            if let Err(e) = self.conn.execute("ROLLBACK").await {
                debug!(error = %e, "rollback failed; the connection is dropped");
            }
            self.batch_open = false;
        }
    }

    /// The target's description of a selected table (`None`: not selected, or the
    /// checkpoint database).
    async fn table(&mut self, database: &str, name: &str) -> Result<Option<Arc<Table>>, SyncError> {
        let key = (database.to_owned(), name.to_owned());
        if let Some(t) = self.tables.get(&key) {
            return Ok(t.clone());
        }
        let config = &self.unit.config;
        let selected =
            database != config.checkpoint_database && config.filter.selects(database, name);
        let table = if selected {
            let Some(target) = &self.unit.target else {
                return Ok(None);
            };
            let listed = ListedTable {
                database: database.to_owned(),
                name: name.to_owned(),
                table_type: "BASE TABLE".to_owned(),
                engine: String::new(),
                estimated_bytes: 0,
                estimated_rows: 0,
            };
            match describe(target, listed).await {
                Ok(t) => Some(Arc::new(t)),
                Err(crate::schema::SchemaError::Sqlx(e)) => {
                    return Err(self.target_err(Operation::Query("information_schema"), e));
                }
                Err(e) => {
                    return Err(SyncError::Unsupported {
                        at: self.at(),
                        detail: e.to_string(),
                    });
                }
            }
        } else {
            None
        };
        self.tables.insert(key, table.clone());
        Ok(table)
    }

    async fn apply_rows(
        &mut self,
        database: &str,
        name: &str,
        columns: usize,
        kind: RowsKind,
        rows: Vec<(Option<RowImage>, Option<RowImage>)>,
    ) -> Result<(), SyncError> {
        let Some(table) = self.table(database, name).await? else {
            return Ok(());
        };
        if columns != table.columns.len() {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "the binlog's {} has {columns} columns, the target's {}",
                    table.display_name(),
                    table.columns.len()
                ),
            });
        }
        self.begin_batch().await?;
        let safe = self.txn_safe;
        let value_err = |at: String| {
            move |e: ValueError| SyncError::Unsupported {
                at,
                detail: e.to_string(),
            }
        };
        match kind {
            RowsKind::Insert => {
                let images: Vec<&RowImage> = rows.iter().filter_map(|(_, a)| a.as_ref()).collect();
                let sql = insert_sql(&table, &images, safe).map_err(value_err(self.at()))?;
                self.exec(&sql).await?;
            }
            RowsKind::Delete => {
                for (before, _) in &rows {
                    let Some(before) = before else { continue };
                    let sql = format!(
                        "DELETE FROM {} WHERE {} LIMIT 1",
                        table.qualified(),
                        key_condition(&table, before).map_err(value_err(self.at()))?
                    );
                    let affected = self.exec(&sql).await?;
                    if affected != 1 && !safe {
                        return Err(self.missing_row(&table, before));
                    }
                }
            }
            RowsKind::Update => {
                for (before, after) in &rows {
                    let (Some(before), Some(after)) = (before, after) else {
                        continue;
                    };
                    let cond = key_condition(&table, before).map_err(value_err(self.at()))?;
                    if safe {
                        let new_cond =
                            key_condition(&table, after).map_err(value_err(self.at()))?;
                        if new_cond != cond {
                            self.exec(&format!(
                                "DELETE FROM {} WHERE {cond} LIMIT 1",
                                table.qualified()
                            ))
                            .await?;
                        }
                        let sql =
                            insert_sql(&table, &[after], true).map_err(value_err(self.at()))?;
                        self.exec(&sql).await?;
                    } else {
                        let mut sets = Vec::new();
                        for i in table.written() {
                            let column = &table.columns[i];
                            sets.push(format!(
                                "{} = {}",
                                ident(&column.name),
                                literal(column, after.get(i).and_then(Option::as_ref), false)
                                    .map_err(value_err(self.at()))?
                            ));
                        }
                        let sql = format!(
                            "UPDATE {} SET {} WHERE {cond} LIMIT 1",
                            table.qualified(),
                            sets.join(", ")
                        );
                        // Rows matched (the driver asks for found rows), not changed.
                        if self.exec(&sql).await? != 1 {
                            return Err(self.missing_row(&table, before));
                        }
                    }
                }
            }
        }
        self.batch_changes += rows.len() as i64;
        self.txn_changes += rows.len() as i64;
        Ok(())
    }

    fn missing_row(&self, table: &Table, before: &RowImage) -> SyncError {
        SyncError::Conflict {
            at: self.at(),
            detail: format!(
                "the target has no row of {} with key {}",
                table.display_name(),
                key_condition(table, before).unwrap_or_default()
            ),
        }
    }

    /// Runs a row statement in the open batch; its rows affected (matched).
    async fn exec(&mut self, sql: &str) -> Result<u64, SyncError> {
        match self.conn.execute(sql).await {
            Ok(done) => Ok(done.rows_affected()),
            Err(e) if crate::server_error(&e).is_some() => {
                let duplicate = crate::server_error(&e)
                    .is_some_and(|d| d.number() == crate::codes::ER_DUP_ENTRY);
                if duplicate {
                    Err(SyncError::Conflict {
                        at: self.at(),
                        detail: format!("{e} (the target already has the row)"),
                    })
                } else {
                    Err(SyncError::Apply {
                        at: self.at(),
                        statement: crate::summarize_statement(sql),
                        source: e,
                    })
                }
            }
            Err(e) => Err(self.target_err(Operation::Execute(&crate::summarize_statement(sql)), e)),
        }
    }

    async fn apply_query(&mut self, schema: &str, sql: &str) -> Result<(), SyncError> {
        let Some(ddl) = ddl::parse(sql, schema) else {
            debug!(statement = %crate::summarize_statement(sql), "statement skipped: not a table change");
            return Ok(());
        };
        let config = &self.unit.config;
        let selected = match &ddl.database {
            Some(db) => config.filter.selects_database(db),
            None => ddl
                .tables
                .iter()
                .any(|(db, t)| db != &config.checkpoint_database && config.filter.selects(db, t)),
        };
        if !selected {
            debug!(statement = %crate::summarize_statement(sql), "DDL skipped: no selected table");
            return Ok(());
        }
        // Everything before the DDL is committed first, with a note that the DDL is
        // under way: a rerun that finds it already applied goes on.
        let retried = self.pending.ddl_pending == Some(self.event_start);
        self.pending.ddl_pending = Some(self.event_start);
        self.mark_dirty();
        self.flush().await?;
        let at = self.at();
        info!(at = %at, statement = %crate::summarize_statement(sql), "applying DDL");
        let result = async {
            let mut conn = self
                .unit
                .target
                .as_ref()
                .ok_or_else(|| sqlx::Error::PoolClosed)?
                .acquire()
                .await?;
            if !schema.is_empty() {
                match conn
                    .execute(format!("USE {}", ident(schema)).as_str())
                    .await
                {
                    Err(e) if crate::server_error(&e).is_some_and(|d| d.number() == 1049) => {}
                    other => {
                        other?;
                    }
                }
            }
            conn.execute(sql).await
        }
        .await;
        match result {
            Ok(_) => {}
            Err(e)
                if retried
                    && crate::server_error(&e)
                        .is_some_and(|d| ALREADY_APPLIED.contains(&d.number())) =>
            {
                warn!(at = %at, error = %e, "DDL already applied by an earlier run");
            }
            Err(e) if crate::server_error(&e).is_some() => {
                return Err(SyncError::Ddl {
                    at,
                    statement: crate::summarize_statement(sql),
                    source: e,
                });
            }
            Err(e) => {
                return Err(
                    self.target_err(Operation::Execute(&crate::summarize_statement(sql)), e)
                );
            }
        }
        self.pending.ddl_pending = None;
        // The tables' columns follow the DDL: read again from the target when next used.
        match &ddl.database {
            Some(db) => self.tables.retain(|(d, _), _| d != db),
            None => {
                for t in &ddl.tables {
                    self.tables.remove(t);
                }
            }
        }
        Ok(())
    }
}

/// `INSERT` (or, idempotently, `REPLACE`) of row images.
fn insert_sql(table: &Table, images: &[&RowImage], replace: bool) -> Result<String, ValueError> {
    let written = table.written();
    let columns: Vec<String> = written
        .iter()
        .map(|&i| ident(&table.columns[i].name))
        .collect();
    let mut rows = Vec::with_capacity(images.len());
    for image in images {
        let mut values = Vec::with_capacity(written.len());
        for &i in &written {
            values.push(literal(
                &table.columns[i],
                image.get(i).and_then(Option::as_ref),
                false,
            )?);
        }
        rows.push(format!("({})", values.join(", ")));
    }
    Ok(format!(
        "{} INTO {} ({}) VALUES {}",
        if replace { "REPLACE" } else { "INSERT" },
        table.qualified(),
        columns.join(", "),
        rows.join(", ")
    ))
}

/// `k1 = v1 AND k2 = v2` of a row image's key.
fn key_condition(table: &Table, image: &RowImage) -> Result<String, ValueError> {
    let mut parts = Vec::with_capacity(table.key.len());
    for &i in &table.key {
        let column = &table.columns[i];
        parts.push(format!(
            "{} = {}",
            ident(&column.name),
            literal(column, image.get(i).and_then(Option::as_ref), true)?
        ));
    }
    Ok(parts.join(" AND "))
}

fn sync_process_error(err: &SyncError) -> pb::ProcessError {
    let generate = |code: &'static ErrorCode, args: &[&dyn std::fmt::Display]| {
        unit_core::new_process_error(&unit_core::Error::generate(code, args))
    };
    match err {
        SyncError::Copy(e) => copy_process_error(e),
        SyncError::Stream { position, source } => match source.server_number() {
            Some(1236) => {
                let mut pe = generate(&ErrorCode::SYNC_BINLOG_UNAVAILABLE, &[position]);
                pe.raw_cause = source.to_string();
                pe
            }
            _ => {
                let code = if matches!(source, StreamError::Client(mysql_async::Error::Server(_))) {
                    &ErrorCode::DB_QUERY_FAILED
                } else {
                    &ErrorCode::DB_BAD_CONN
                };
                let cause = match source {
                    StreamError::Client(mysql_async::Error::Server(e)) => {
                        format!("Error {} ({}): {}", e.code, e.state, e.message)
                    }
                    _ => format!("invalid connection: {source}"),
                };
                let mut pe = unit_core::new_process_error(
                    &unit_core::Error::delegate(
                        code,
                        std::io::Error::other(cause),
                        &[&"binlog stream"],
                    )
                    .with_scope(ErrScope::Upstream),
                );
                pe.message = format!("{}: {err}", pe.message);
                pe
            }
        },
        SyncError::Conflict { at, detail } => {
            generate(&ErrorCode::SYNC_ROW_CONFLICT, &[at, detail])
        }
        SyncError::Apply {
            at,
            statement,
            source,
        } => {
            let mut pe =
                crate::process_error(source, ErrScope::Downstream, Operation::Execute(statement));
            pe.message = format!("row change at {at}: {}", pe.message);
            pe
        }
        SyncError::Ddl {
            at,
            statement,
            source,
        } => {
            let mut pe = generate(
                &ErrorCode::SYNC_DDL_FAILED,
                &[at, &format!("{statement}: {source}")],
            );
            pe.raw_cause = crate::go_driver_text(source, Operation::Execute(statement));
            pe
        }
        SyncError::Unsupported { at, detail } => {
            generate(&ErrorCode::SYNC_UNSUPPORTED_EVENT, &[at, detail])
        }
        SyncError::NoPosition { .. } => generate(&ErrorCode::CHECK_FAILED, &[err]),
    }
}

#[async_trait]
impl Unit for SyncUnit {
    type Config = CopyConfig;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        if let Err(e) = self.prepare(&cancel).await {
            self.close().await;
            return Err(Box::new(unit_core::ProcessFailure(copy_process_error(&e))));
        }
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        let result = self.run(&cancel).await;
        let canceled = cancel.is_cancelled();
        let errors = match &result {
            Ok(Ended::CaughtUp(at)) => {
                info!(at = %at, "cutover: caught up and verified");
                Vec::new()
            }
            Ok(Ended::Canceled) => Vec::new(),
            Err(e) => {
                warn!(error = %e, "replication stopped");
                vec![sync_process_error(e)]
            }
        };
        pb::ProcessResult {
            is_canceled: canceled,
            errors,
            detail: Vec::new(),
        }
    }

    async fn close(&mut self) {
        for pool in [self.source.take(), self.target.take()]
            .into_iter()
            .flatten()
        {
            crate::copy::close_pool(pool).await;
        }
    }

    async fn kill(&mut self) {
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
        self.config.sync_batch = config.sync_batch;
        self.config.cutover = config.cutover;
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let shared = self.shared.clone();
        Arc::new(move |source: Option<&SourceStatus>| UnitStatus::Sync(shared.status(source)))
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Sync
    }

    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError> {
        let Some(target) = &self.target else {
            return Ok(true);
        };
        let cp = cancellable(
            &cancel,
            load_checkpoint(target, &self.config.checkpoint_database, &self.config.task),
        )
        .await
        .map_err(|e| {
            Box::new(stmt_err(
                ErrScope::Downstream,
                Operation::Query("checkpoint"),
                e,
            )) as BoxError
        })?;
        // Fresh until the copy has finished (or a start position was given).
        Ok(!cp.is_some_and(|c| c.copy_done))
    }
}
