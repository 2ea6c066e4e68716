//! The copy unit: copies tables from a source MySQL server to a target one, in key
//! order, one chunk per target transaction together with its checkpoint, so that a
//! pause, kill, crash or resume continues exactly after the last committed chunk.
//!
//! This file holds the unit, its settings and errors; `plan` decides which parts of
//! which tables are left (and splits big tables), `part` copies one part chunk by
//! chunk; `units::verify` compares a copied table with its source.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Executor;
use sqlx::mysql::MySqlPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use unit_core::{BoxError, ErrScope, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::adapter::cancel::cancellable;
use crate::adapter::classify::Operation;
use crate::adapter::pool::{close_pools, session_sql_mode};
use crate::catalog::collation::execute_ddl;
use crate::catalog::objects::SchemaObject;
use crate::catalog::position::is_mariadb;
use crate::catalog::position::source_position;
use crate::catalog::schema::{SchemaError, Table, discover, ident, normalize_create, raw};
use crate::error::{Error, internal, process_error_of, stmt_err};
use crate::units::connect::{
    connection_room, explain_lost, open_source, open_target, target_session_of,
};
use crate::units::object_migration::ObjectReport;
use crate::units::sync_state::{
    SyncCheckpoint, ensure_tables, load_checkpoint, start_checkpoint, store_checkpoint,
};
use crate::units::task::{Consistency, TaskConfig};
use crate::units::verify::{
    Verification, check_definition, choose_verification, same_kind, target_create,
};

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

use part::CopyContext;
pub use report::{CopyReport, ReportHandle, TablePhase, TableReport};

/// How many times an online copy reads the schema again when it changed before the
/// copy's position was taken ([`Error::SchemaChanged`]).
const SCHEMA_ATTEMPTS: u32 = 3;

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
///   refuses one with another definition ([`Error::DifferentTable`], code 60001).
/// - **Chunks**: each table, or each key range of a big table (see
///   [`CopySettings::split_rows`](crate::units::task::CopySettings::split_rows)), is read in key order over the text protocol, so that
///   values arrive exactly as the server prints them, `chunk_rows` rows at a time
///   (keyset pagination). Each chunk is inserted in one target transaction that also
///   moves its checkpoint row in `<checkpoint_database>.copy_checkpoint`: after a pause,
///   kill, crash or auto-resume the copy continues after the last committed chunk, and
///   no row is lost or written twice.
/// - **Values**: each column's values and key boundaries travel in its own type,
///   character set and collation ([`ValueKind`](crate::catalog::schema::ValueKind)); the target
///   writes with the source's `sql_mode` relaxed so it accepts every value the source
///   holds ([`copy_sql_mode`](crate::adapter::pool::copy_sql_mode)).
/// - **Verification**: each table's row count and checksum are compared on both sides
///   once it is copied ([`Verification`]); a difference is code 60004, never retried.
/// - **Objects**: sequences before the tables; routines, views, triggers and events
///   after the rows ([`TaskConfig::objects`]); a trigger already on the target of a
///   table still to copy is refused in `init`, before any row moves. In an online
///   migration ([`TaskConfig::consistency`]) triggers and events are left to the Sync
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
/// use unit_mysql::{TaskConfig, CopyUnit, Filter};
/// use unit_proto::pb::Stage;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let filter = Filter {
///     databases: vec!["shop".into()],
///     ..Filter::default()
/// };
/// let source = "mysql://reader:secret@10.0.0.1:3306/".parse()?;
/// let target = "mysql://writer:secret@10.0.0.2:3306/".parse()?;
/// let config = TaskConfig::new("nightly", source, target, filter);
/// let units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CopyUnit::new(config))];
/// let subtask = Subtask::spawn(SubtaskConfig::new("nightly"), units);
/// let stage = subtask
///     .wait_for(|s| matches!(s, Stage::Finished | Stage::Paused))
///     .await;
/// println!("{stage:?}: {:?}", subtask.status().result);
/// # Ok(())
/// # }
/// ```
pub struct CopyUnit {
    config: TaskConfig,
    source: Option<MySqlPool>,
    target: Option<MySqlPool>,
    tables: Vec<Table>,
    /// The selected objects other than tables, in creation order (known after `init`).
    objects: Vec<SchemaObject>,
    /// The databases the copy creates on the target: the selected ones, and those of
    /// the selected tables and objects.
    databases: std::collections::BTreeSet<String>,
    /// Chosen in `init`.
    verification: Verification,
    /// The two servers are of one kind (MariaDB or MySQL), which print a table's
    /// definition alike (else definitions are compared by structure).
    same_kind: bool,
    /// [`CopyUnit::prepare_target`] has run in this instance.
    target_ready: bool,
    /// The target sessions' SQL mode, from the source's (see [`copy_sql_mode`](crate::adapter::pool::copy_sql_mode)).
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

impl CopyUnit {
    /// A copy unit with `config`; nothing is opened until `init`.
    pub fn new(config: TaskConfig) -> Self {
        Self {
            config,
            source: None,
            target: None,
            tables: Vec::new(),
            objects: Vec::new(),
            databases: Default::default(),
            verification: Verification::RowText,
            same_kind: true,
            target_ready: false,
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
    /// [`copy_sql_mode`](crate::adapter::pool::copy_sql_mode)).
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

    /// Lowers the copy's concurrency to what both servers' `max_connections` allow
    /// (see [`connection_room`]): each worker holds a source connection and up to two
    /// target connections (its statements' and its `LOAD DATA`'s), and the unit two
    /// more on each side. Whether it lowered it.
    async fn cap_concurrency(
        &mut self,
        source: &MySqlPool,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<bool, Error> {
        let source_room = connection_room(source, ErrScope::Upstream, cancel).await?;
        let target_room = connection_room(target, ErrScope::Downstream, cancel).await?;
        let most = source_room
            .saturating_sub(2)
            .min(target_room.saturating_sub(2) / 2)
            .max(1);
        let most = usize::try_from(most).unwrap_or(usize::MAX);
        if self.config.copy.concurrency > most {
            warn!(
                asked = self.config.copy.concurrency,
                capped = most,
                source_room,
                target_room,
                "the copy's concurrency is capped by the servers' max_connections (a tenth of each is left to other clients)"
            );
            self.config.copy.concurrency = most;
            return Ok(true);
        }
        Ok(false)
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), Error> {
        let size = u32::try_from(self.config.copy.concurrency.max(1) + 2).unwrap_or(8);
        let mut source = open_source(&self.config, size, cancel).await?;
        self.source = Some(source.clone());
        let session = target_session_of(&source, cancel).await?;
        self.sql_mode = session_sql_mode(&session);
        self.session.clone_from(&session);
        self.report
            .sql_mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone_from(&self.sql_mode);
        let mut target = open_target(&self.config, size, session.clone(), cancel).await?;
        self.target = Some(target.clone());
        if self.cap_concurrency(&source, &target, cancel).await? {
            // Pools as small as the concurrency now allows.
            let size = u32::try_from(self.config.copy.concurrency + 2).unwrap_or(8);
            close_pools([self.source.take(), self.target.take()]).await;
            source = open_source(&self.config, size, cancel).await?;
            self.source = Some(source.clone());
            target = open_target(&self.config, size, session, cancel).await?;
            self.target = Some(target.clone());
        }
        self.verification =
            choose_verification(&source, &target, self.config.verification, cancel).await?;
        self.same_kind = same_kind(&source, &target, cancel).await?;
        if self.config.consistency.is_some() {
            self.mariadb = cancellable(cancel, is_mariadb(&source))
                .await
                .map_err(|e| {
                    stmt_err(ErrScope::Upstream, Operation::Query("SELECT VERSION()"), e)
                })?;
        }
        if self.copy_done(&target, cancel).await? {
            // The source may have changed since (a DDL the Sync unit has yet to
            // replay): the definitions are compared at cutover.
            info!("the copy finished in an earlier run; replication follows");
            return Ok(());
        }
        self.read_schema(&source, cancel).await
    }

    /// Whether an earlier run of the task finished the copy (its replication checkpoint
    /// says so).
    async fn copy_done(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<bool, Error> {
        if self.config.consistency.is_none() {
            return Ok(false);
        }
        let db = &self.config.checkpoint_database;
        Ok(
            cancellable(cancel, load_checkpoint(target, db, &self.config.task))
                .await
                .map_err(|e| {
                    stmt_err(ErrScope::Downstream, Operation::Query("sync_checkpoint"), e)
                })?
                .is_some_and(|cp| cp.copy_done),
        )
    }

    /// What the copy writes before its first row, at the start of `process` (so that
    /// the check unit, which runs after every unit's `init`, decides before anything is
    /// written): the checkpoint table, then the selected databases, tables and objects.
    async fn prepare_target(&mut self, cancel: &CancellationToken) -> Result<(), Error> {
        let Some(target) = self.target.clone() else {
            return Ok(());
        };
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
        if self.copy_done(&target, cancel).await? {
            return Ok(());
        }
        self.create_schema(&target, cancel).await
    }

    /// Reads the selected tables and objects from the source, refusing what the copy
    /// cannot take (in `init`: nothing is written).
    async fn read_schema(
        &mut self,
        source: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        self.tables = discover(source, &self.config.filter).await?;
        for table in &self.tables {
            crate::catalog::schema::refuse_versioned(table, self.config.versioned_current_rows)?;
        }
        for table in self.tables.iter().filter(|t| !t.has_key()) {
            if let Some(reason) =
                crate::units::task::keyless_refusal(table, self.config.consistency)
            {
                return Err(Error::Schema(SchemaError::Unsupported {
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
        self.list_objects(source, cancel).await?;
        Ok(())
    }

    /// Creates the selected databases, tables and sequences read by
    /// [`read_schema`](Self::read_schema) on the target (refusing any there with
    /// another definition).
    async fn create_schema(
        &mut self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        self.create_databases_and_sequences(target, cancel).await?;
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
    ) -> Result<(), Error> {
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
    ) -> Result<i64, Error> {
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
    ) -> Result<(), Error> {
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
    ) -> Result<(), Error> {
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
        let run = async {
            let mut conn = target.acquire().await?;
            execute_ddl(&mut conn, &create).await
        };
        cancellable(cancel, run)
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&create), e))?;
        Ok(())
    }

    async fn create_target_table(
        &self,
        target: &MySqlPool,
        table: &Table,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        if let Some(existing) = target_create(target, table, cancel).await? {
            return check_definition(target, Some(&existing), table, self.same_kind).await;
        }
        let create = format!("USE {}", ident(&table.database));
        let mut conn = target
            .acquire()
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e.into()))?;
        for sql in [create.as_str(), table.create.as_str()] {
            cancellable(cancel, execute_ddl(&mut conn, sql))
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
    ) -> Result<(), Error> {
        let now = discover(source, &self.config.filter).await?;
        for old in &self.tables {
            let altered = now.iter().any(|t| {
                t.database == old.database
                    && t.name == old.name
                    && normalize_create(&t.create) != normalize_create(&old.create)
            });
            if !altered
                || check_definition(
                    target,
                    target_create(target, old, cancel).await?.as_deref(),
                    old,
                    self.same_kind,
                )
                .await
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

    async fn copy_all(&self, cancel: &CancellationToken) -> Vec<Error> {
        let (Some(source), Some(target)) = (self.source.clone(), self.target.clone()) else {
            return Vec::new();
        };
        let _ = self.progress.epoch.get_or_init(Instant::now);
        let online = self.config.consistency.is_some();
        self.report.recorder.select(
            self.tables
                .iter()
                .map(|t| (t.database.clone(), t.name.clone(), table_note(t, online))),
            self.objects.iter().map(|o| ObjectReport {
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
            self.config.copy.max_rows_per_second,
            self.config.copy.max_bytes_per_second,
        )
        .with_load_guard(&source, self.config.copy.max_source_threads_running);
        let ctx =
            Arc::new(CopyContext {
                source,
                target,
                store: self.store(),
                chunk_rows: self.config.copy.chunk_rows.max(1),
                verification: self.verification,
                same_kind: self.same_kind,
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
                bulk: self.config.copy.load_data_local.then(|| {
                    bulk::BulkTarget::new(self.config.target.clone(), self.session.clone())
                }),
            });
        let mut pending = match self.jobs(&ctx).await {
            Ok(jobs) => jobs,
            Err(e) => return vec![e],
        };
        let mut running = JoinSet::new();
        let mut errors = Vec::new();
        loop {
            while running.len() < self.config.copy.concurrency.max(1) && errors.is_empty() {
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
                    errors.push(internal("a copy task", &join));
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
    ) -> Result<Option<Arc<snapshot::Snapshot>>, Error> {
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
            return Err(Error::NoPosition { task: task.clone() });
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
            self.config.copy.concurrency.max(1),
            self.mariadb,
            cancel,
        )
        .await?;
        // An XA transaction prepared and not ended at the position: its rows are in
        // no snapshot and before the position. (One prepared just after the position
        // is refused too: ending it first costs a rerun, never a row.)
        let xids = crate::catalog::xa::source_prepared_xids(source, cancel).await?;
        if !xids.is_empty() {
            return Err(Error::SourceXaPrepared {
                xids: xids.join(", "),
            });
        }
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
            ddl_session: None,
        };
        cancellable(cancel, start_checkpoint(target, db, task, &cp))
            .await
            .map_err(|e| down(Operation::Execute("sync_checkpoint"), e))?;
        // The schema was read before the position: a DDL (or a new table) between the
        // two would lie before the position, in no row and never replayed. Read again
        // now, the schema must be the one the tables were created from.
        let now = discover(source, &self.config.filter).await?;
        if let Some(detail) = schema_change(&self.tables, &now) {
            return Err(Error::SchemaChanged { detail });
        }
        Ok(opened.snapshot)
    }

    /// Marks the copy done in the task's `sync_checkpoint` row; where the copy was not
    /// a snapshot, records the position it ended at as the end of idempotent replay.
    async fn finish_online(&self, cancel: &CancellationToken) -> Result<(), Error> {
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

/// The `ProcessError` of a copy's `err`: [`process_error_of`], with a workaround where
/// DM's code has none and the copy knows one (a target row in the way of a copied one).
fn copy_process_error(err: &Error) -> pb::ProcessError {
    let mut pe = process_error_of(err);
    if pe.workaround.is_empty() && err.server_number() == Some(crate::adapter::codes::ER_DUP_ENTRY)
    {
        pe.workaround =
            "The target table already holds a row with this key that the copy did not write \
             (a table that was not empty, or written by something else): empty or drop the target \
             table, or exclude it, then run the task again."
                .to_owned();
    }
    pe
}

#[async_trait]
impl Unit for CopyUnit {
    type Config = TaskConfig;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        if let Err(e) = self.prepare(&cancel).await {
            // Roll back what was opened.
            self.close().await;
            return Err(Box::new(unit_core::ProcessFailure(process_error_of(&e))));
        }
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        let started = Instant::now();
        // Each table is verified (row count and checksum on both sides) right after it
        // is copied, while the others are still copying.
        let mut errors = Vec::new();
        if !self.target_ready {
            match self.prepare_target(&cancel).await {
                Ok(()) => self.target_ready = true,
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            errors = self.copy_all(&cancel).await;
        }
        // A DDL between reading the schema and taking the position: read the schema
        // again and take a new position (no row was copied yet).
        let mut attempts = 0;
        while attempts < SCHEMA_ATTEMPTS
            && matches!(errors.as_slice(), [Error::SchemaChanged { .. }])
            && !cancel.is_cancelled()
        {
            attempts += 1;
            warn!(error = %errors[0], "reading the schema again");
            errors = match (self.source.clone(), self.target.clone()) {
                (Some(source), Some(target)) => {
                    let again = async {
                        self.drop_stale_tables(&source, &target, &cancel).await?;
                        self.read_schema(&source, &cancel).await?;
                        self.create_schema(&target, &cancel).await
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
        if !canceled {
            let mut explained = Vec::with_capacity(errors.len());
            for e in errors {
                let (source, target) = (&self.config.source, &self.config.target);
                explained.push(explain_lost(e, source, target, self.config.acquire_timeout).await);
            }
            errors = explained;
        }
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
        config: &TaskConfig,
    ) -> Result<(), BoxError> {
        // Takes effect from the next process or resume; a table's split, once recorded,
        // is kept.
        self.config.copy.chunk_rows = config.copy.chunk_rows;
        self.config.copy.concurrency = config.copy.concurrency;
        self.config.copy.split_rows = config.copy.split_rows;
        self.config.copy.max_rows_per_second = config.copy.max_rows_per_second;
        self.config.copy.max_bytes_per_second = config.copy.max_bytes_per_second;
        self.config.copy.max_source_threads_running = config.copy.max_source_threads_running;
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
            match store.is_fresh_task(&mut conn).await {
                // The first `process` creates it: nothing was copied yet.
                Err(e) if crate::adapter::classify::is_missing_table(&e) => Ok(true),
                other => other,
            }
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
