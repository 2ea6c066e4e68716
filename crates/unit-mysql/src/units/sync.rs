//! The Sync unit ([`SyncUnit`]): its contract is documented on the type; the apply
//! path is split into stages (see ARCHITECTURE.md, "unit-mysql").

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::mysql::MySqlPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use unit_core::{BoxError, ErrScope, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::adapter::pool::close_pools;
use crate::catalog::position::source_position;
use crate::catalog::position::{BinlogPosition, GtidState, is_mariadb};
use crate::catalog::schema::ident;
use crate::error::{Error, process_error_of, stmt_err};
use crate::units::connect::{explain_lost, open_source, open_target, target_session_of};
use crate::units::object_migration::triggers_on;
use crate::units::sync_state::{
    SyncCheckpoint, ensure_tables, forget_worker_rows, load_checkpoint, load_checkpoint_locked,
    start_checkpoint,
};
use crate::units::task::TaskConfig;

mod cutover;
mod ddl;
mod error;
mod exec;
mod parallel;
mod plan;
mod player;
mod status;
mod stream;
mod value;
mod xa;

pub use error::SyncError;
use error::sync_process_error;
use player::Player;
pub use status::SyncProgress;
use status::{AbortOnDrop, Shared, lock, refresh_master};

use stream::Source;
pub use stream::{StartAt, StreamError};
pub(crate) use value::{ValueError, literal};

/// What one run of the replication loop ended with.
enum Ended {
    /// Cancelled (pause, stop).
    Canceled,
    /// Cutover: everything up to the source's position at the start was applied.
    CaughtUp(BinlogPosition),
}

/// Replication as a [`Unit`] of type Sync: streams the source's binlog from the
/// position the copy recorded and applies every row change of the selected tables to
/// the target, exactly once.
///
/// - **Exactly once.** Source transactions are applied in order, several to one target
///   transaction, and each target transaction also moves the task's row in
///   `<checkpoint_database>.sync_checkpoint` to the end of the last source transaction
///   it holds. A crash at any instant leaves the target at a transaction boundary of the
///   source with the checkpoint naming it, and a rerun continues from there. With
///   [`SyncSettings::workers`](crate::units::task::SyncSettings::workers) above 1, row changes are applied in parallel by
///   their keys, each worker committing with a checkpoint row of its own (see
///   `parallel.rs`): exactly once still, but source transactions are no longer
///   kept whole on the target.
/// - **Safe mode** (idempotent replay: `REPLACE`, `DELETE` + `REPLACE`) is only on
///   between the two positions a copy records when its rows were not a snapshot
///   ([`SyncCheckpoint::safe_until`]); elsewhere a change that does not match the target
///   (a missing row, a duplicate key) stops the unit with code 60007, naming the event.
/// - **DDL** of the selected tables runs on the target in stream order, alone, after
///   everything before it is committed; the unit then reads the table's columns again
///   from the target. A DDL the target refuses stops the unit (code 60008).
/// - **Values** are written from the binlog's storage format with the target's column
///   types (`value.rs`), so unsigned integers, DECIMAL, temporal types in any time
///   zone, BIT, ENUM, SET, JSON, BLOB and every character set arrive exactly.
///
/// Its configuration is the task's [`TaskConfig`]: source, target, the selected
/// tables, the checkpoint database, [`SyncSettings::server_id`](crate::units::task::SyncSettings::server_id) (the replica id it
/// reads the binlog as), [`SyncSettings::batch`](crate::units::task::SyncSettings::batch) and [`SyncSettings::cutover`](crate::units::task::SyncSettings::cutover):
/// with cutover, `process` returns once everything up to the source's position at its
/// start is applied and every selected table is verified (row count and checksum);
/// without, it replicates until paused or stopped.
///
/// # Example
/// An online migration: check, a copy consistent with a binlog position, then
/// replication (with `cutover`, until the source's current position, verified).
/// ```no_run
/// use unit_core::{BoxUnit, Subtask, SubtaskConfig};
/// use unit_mysql::{CheckUnit, Consistency, TaskConfig, CopyUnit, Filter, SyncUnit};
/// use unit_proto::pb::Stage;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let filter = Filter {
///     databases: vec!["shop".into()],
///     ..Filter::default()
/// };
/// let source = "mysql://repl:secret@10.0.0.1:3306/".parse()?;
/// let target = "mysql://writer:secret@10.0.0.2:3306/".parse()?;
/// let mut config = TaskConfig::new("shop", source, target, filter);
/// config.consistency = Some(Consistency::Auto);
/// let sync = SyncUnit::new(config.clone());
/// let progress = sync.progress();
/// let units: Vec<BoxUnit<TaskConfig>> = vec![
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
    config: TaskConfig,
    source: Option<MySqlPool>,
    target: Option<MySqlPool>,
    mariadb: bool,
    /// `@@lower_case_table_names` of the source and of the target.
    lower_case_names: [u8; 2],
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

impl SyncUnit {
    /// A Sync unit for the task `config` describes; nothing is opened until `init`.
    pub fn new(config: TaskConfig) -> Self {
        let shared = Arc::new(Shared {
            observer: config.observer.clone(),
            ..Shared::default()
        });
        Self {
            config,
            source: None,
            target: None,
            mariadb: true,
            lower_case_names: [0, 0],
            shared,
        }
    }

    /// A handle reading this unit's progress.
    pub fn progress(&self) -> SyncProgress {
        SyncProgress(self.shared.clone())
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), Error> {
        let size = 3 + u32::try_from(self.config.sync.workers).unwrap_or(0).min(64);
        let source = open_source(&self.config, size, cancel).await?;
        self.source = Some(source.clone());
        self.mariadb = cancellable(cancel, is_mariadb(&source))
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query("SELECT VERSION()"), e))?;
        let session = target_session_of(&source, cancel).await?;
        let target = open_target(&self.config, size, session, cancel).await?;
        self.target = Some(target.clone());
        let sql = "SELECT CAST(@@lower_case_table_names AS UNSIGNED)";
        for (i, (pool, scope)) in [
            (&source, ErrScope::Upstream),
            (&target, ErrScope::Downstream),
        ]
        .into_iter()
        .enumerate()
        {
            let value: u64 = cancellable(cancel, sqlx::query_scalar(sql).fetch_one(pool))
                .await
                .map_err(|e| stmt_err(scope, Operation::Query(sql), e))?;
            self.lower_case_names[i] = u8::try_from(value).unwrap_or(1);
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
        // The state tables are made here, not in `init`, so that the check unit (which
        // runs after every unit's `init`) decides before anything is written.
        let sql = format!("CREATE DATABASE IF NOT EXISTS {}", ident(db));
        cancellable(cancel, target.execute(sql.as_str()))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&sql), e))?;
        cancellable(cancel, ensure_tables(&target, db))
            .await
            .map_err(|e| {
                stmt_err(
                    ErrScope::Downstream,
                    Operation::Execute("sync_checkpoint"),
                    e,
                )
            })?;
        let recorded = cancellable(cancel, load_checkpoint_locked(&target, db, task))
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checkpoint"), e))?;
        // Incremental mode: the start position given, unless a run already recorded one
        // (written here, not in `init`, so that the check unit runs first).
        let recorded = match (recorded, &self.config.sync.start) {
            (None, Some(start)) => {
                let cp = SyncCheckpoint {
                    position: start.clone(),
                    safe_until: None,
                    consistency: "incremental".to_owned(),
                    copy_done: true,
                    ddl_pending: None,
                    ddl_before: None,
                    ddl_session: None,
                };
                cancellable(cancel, start_checkpoint(&target, db, task, &cp))
                    .await
                    .map_err(|e| {
                        stmt_err(ErrScope::Downstream, Operation::Execute("checkpoint"), e)
                    })?;
                Some(cp)
            }
            (recorded, _) => recorded,
        };
        let Some(checkpoint) = recorded.filter(|c| c.copy_done) else {
            return Err(SyncError::NoPosition { task: task.clone() });
        };
        let _ = self.shared.started.get_or_init(Instant::now);
        *lock(&self.shared.syncer) = checkpoint.position.clone();
        self.refuse_target_triggers(&target, cancel).await?;
        // The cutover target: the source's position now, while writes are stopped.
        let stop_at = if self.config.sync.cutover {
            source_position(&source, self.mariadb, cancel).await?
        } else {
            None
        };
        let refresher = tokio::spawn(refresh_master(
            source.clone(),
            self.mariadb,
            self.shared.clone(),
        ));
        let _abort = AbortOnDrop(refresher);
        let gtids = GtidState::parse(&checkpoint.position.gtid, self.mariadb);
        let start = match &gtids {
            GtidState::Maria(_)
                if self.config.sync.use_gtid && !checkpoint.position.gtid.is_empty() =>
            {
                StartAt::MariaGtid(checkpoint.position.gtid.clone())
            }
            GtidState::Mysql(set)
                if self.config.sync.use_gtid && !checkpoint.position.gtid.is_empty() =>
            {
                StartAt::MysqlGtid(set.clone())
            }
            _ => StartAt::File {
                file: checkpoint.position.file.clone(),
                pos: checkpoint.position.pos,
            },
        };
        info!(from = %checkpoint.position, safe_until = ?checkpoint.safe_until.as_ref().map(ToString::to_string), "replication starting");
        let stream_err = |source| SyncError::Stream {
            position: checkpoint.position.clone(),
            source,
        };
        let mut stream = tokio::select! {
            s = Source::open(&self.config.source, self.config.sync.server_id, &start, self.mariadb, self.config.sync.max_event_bytes) => s.map_err(stream_err)?,
            () = cancel.cancelled() => return Ok(Ended::Canceled),
        };
        let mut conn = cancellable(cancel, async { target.acquire().await })
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e))?;
        // A pooled connection keeps what an earlier run set; cascades turn foreign key
        // checks on.
        let session = tokio::select! {
            s = exec::start_session(&mut conn) => s.map_err(|(op, e)| {
                stmt_err(ErrScope::Downstream, op, StatementError::Sqlx(e))
            })?,
            () = cancel.cancelled() => return Ok(Ended::Canceled),
        };
        if !session.read_committed {
            warn!(
                "the target's binary log is on in STATEMENT format: changes are applied in REPEATABLE READ, whose gap locks can make lock waits between workers and with XA transactions left prepared"
            );
        }
        let workers = self.start_workers(&target, &checkpoint.position).await?;
        let by_gtid = !matches!(start, StartAt::File { .. });
        let mut run = Player::new(
            self,
            conn,
            (checkpoint, gtids, by_gtid),
            session.max_packet,
            workers,
        );
        self.replicate_or_cut_over(&mut run, &mut stream, &source, &target, stop_at, cancel)
            .await
    }

    /// The workers of a parallel apply: [`SyncSettings::workers`](crate::units::task::SyncSettings::workers) of them, or as
    /// many as an earlier run had where its workers applied changes past `start`
    /// (their rows tell which changes to skip only with the same routing).
    async fn start_workers(
        &self,
        target: &MySqlPool,
        start: &BinlogPosition,
    ) -> Result<Option<parallel::Workers>, SyncError> {
        let rows = parallel::WorkerRows {
            database: self.config.checkpoint_database.clone(),
            task: self.config.task.clone(),
        };
        let down =
            |op: Operation<'_>, e| stmt_err(ErrScope::Downstream, op, StatementError::Sqlx(e));
        let recorded = parallel::load_worker_rows(target, &rows)
            .await
            .map_err(|e| down(Operation::Query("sync_worker"), e))?;
        let state = GtidState::parse(&start.gtid, self.mariadb);
        let past = |row: &&parallel::WorkerRow| row.is_past(start, &state);
        // Rows at or below the checkpoint say nothing a run needs; rows past it were
        // all written by one run (a run of another count starts only once none is
        // past, and clears the others first), whose count this run keeps.
        let mut counts: Vec<usize> = recorded.iter().filter(past).map(|r| r.workers).collect();
        counts.sort_unstable();
        counts.dedup();
        let (n, applied) = match counts[..] {
            [] => {
                if !recorded.is_empty() {
                    forget_worker_rows(target, &rows.database, &rows.task, None)
                        .await
                        .map_err(|e| down(Operation::Execute("DELETE FROM sync_worker"), e))?;
                }
                (self.config.sync.workers, Vec::new())
            }
            [n] => {
                if n != self.config.sync.workers {
                    info!(
                        workers = n,
                        configured = self.config.sync.workers,
                        "the earlier run's workers applied changes past the checkpoint: this run keeps their number"
                    );
                }
                if recorded.iter().any(|r| r.workers != n) {
                    forget_worker_rows(target, &rows.database, &rows.task, Some(n))
                        .await
                        .map_err(|e| down(Operation::Execute("DELETE FROM sync_worker"), e))?;
                }
                (n, parallel::applied_by(&recorded, n))
            }
            _ => {
                return Err(SyncError::Task(Error::Internal {
                    detail: format!(
                        "the rows of task {:?} in {}.sync_worker past its checkpoint {start} were written by runs of {counts:?} workers: which changes were applied is unknown (no run leaves such rows)",
                        rows.task, rows.database
                    ),
                }));
            }
        };
        if n <= 1 {
            return Ok(None);
        }
        info!(workers = n, "row changes are applied in parallel");
        let workers = parallel::Workers::start(
            n,
            target,
            rows,
            self.config.sync.batch,
            self.config.sync.merge_rows,
            applied,
            self.shared.clone(),
        )
        .await?;
        Ok(Some(workers))
    }

    /// Refuses to replicate into selected tables that have triggers on the target.
    async fn refuse_target_triggers(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), SyncError> {
        let found = triggers_on(target, |db, t| self.config.selects_table(db, t), cancel).await?;
        if found.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = found
            .iter()
            .map(|(name, db, t)| format!("trigger `{name}` on {db}.{t}"))
            .collect();
        Err(SyncError::TargetTriggers {
            triggers: names.join(", "),
        })
    }
}

#[async_trait]
impl Unit for SyncUnit {
    type Config = TaskConfig;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        if let Err(e) = self.prepare(&cancel).await {
            self.close().await;
            return Err(Box::new(unit_core::ProcessFailure(process_error_of(&e))));
        }
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        let result = match self.run(&cancel).await {
            Err(SyncError::Task(e)) if !cancel.is_cancelled() => {
                let (source, target) = (&self.config.source, &self.config.target);
                let timeout = self.config.acquire_timeout;
                Err(SyncError::Task(
                    explain_lost(e, source, target, timeout).await,
                ))
            }
            other => other,
        };
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
        close_pools([self.source.take(), self.target.take()]).await;
    }

    async fn kill(&mut self) {
        self.source = None;
        self.target = None;
    }

    async fn update(
        &mut self,
        _cancel: CancellationToken,
        config: &TaskConfig,
    ) -> Result<(), BoxError> {
        self.config.sync.batch = config.sync.batch;
        self.config.sync.workers = config.sync.workers;
        self.config.sync.merge_rows = config.sync.merge_rows;
        self.config.sync.cutover = config.sync.cutover;
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
