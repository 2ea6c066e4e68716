//! The player: one run of the replication loop. It reads the binlog stream and
//! applies it to the target in batches of whole source transactions, each committed
//! with its checkpoint (or, with workers, hands row changes to them and writes the
//! checkpoint once they have committed what comes before it). The statements come
//! from `plan`, run through `exec`; XA transactions are in `xa.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sqlx::Executor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use unit_core::ErrScope;

use super::ddl::parse;
use super::ddl::session::StatementSession;
use super::exec::{Applier, apply_change};
use super::parallel::{ChangeId, Job, Marks, Route, TxnMark, Workers};
use super::plan::{insert_sql, key_condition, update_sql};
use super::status::lock;
use super::stream::{
    Decoded, RowImage, RowPair, RowsChange, RowsKind, Source, SourceEvent, StreamError,
};
use super::{Ended, SyncError, SyncUnit, ValueError};
use crate::adapter::cancel::StatementError;
use crate::adapter::classify::Operation;
use crate::catalog::position::{BinlogPosition, Gtid, GtidState};
use crate::catalog::schema::{Table, describe, listed_table};
use crate::error::stmt_err;
use crate::units::sync_state::{SyncCheckpoint, store_checkpoint};

/// The state of one run of the replication loop.
pub(super) struct Player<'a> {
    pub(super) unit: &'a SyncUnit,
    pub(super) conn: sqlx::pool::PoolConnection<sqlx::MySql>,
    /// What the next target commit records.
    pub(super) pending: SyncCheckpoint,
    /// The current binlog file.
    pub(super) file: String,
    /// Where the event being handled starts.
    pub(super) event_start: u64,
    pub(super) gtids: GtidState,
    /// The GTID of the source transaction being read.
    pub(super) txn_gtid: Option<Gtid>,
    /// Row changes of the current transaction dispatched to workers so far (the next
    /// one's [`TxnMark::ordinal`](super::parallel::TxnMark)).
    pub(super) txn_rows: u32,
    /// The stream started from the checkpoint's GTID state, perhaps on another server
    /// of the same history than the one whose positions the checkpoint records: how
    /// far it is goes by GTIDs.
    pub(super) by_gtid: bool,
    /// Where the player is in the source's transactions.
    pub(super) txn: Txn,
    /// A target transaction is open.
    pub(super) batch_open: bool,
    pub(super) batch_changes: i64,
    pub(super) batch_started: Instant,
    /// `pending` differs from what was committed.
    pub(super) dirty: bool,
    /// The source timestamp of the last transaction read.
    pub(super) last_ts: u32,
    pub(super) tables: HashMap<(String, String), Option<Arc<Table>>>,
    /// The foreign-key actions other tables take when a row of a table is deleted or
    /// updated, read from the target with the table.
    pub(super) cascades: HashMap<(String, String), Cascades>,
    /// The target session's `foreign_key_checks` (the session starts with 0).
    pub(super) fk_checks: bool,
    /// The selected names that are MariaDB sequences, whose row events carry their
    /// state.
    pub(super) sequences: std::collections::HashSet<(String, String)>,
    /// The target's `max_allowed_packet`.
    pub(super) max_packet: usize,
    /// The source's collations by id (character set and collation names), read when a
    /// DDL's session first names one.
    pub(super) collations: HashMap<u16, (String, String)>,
    /// The XA transaction being read, applied on a connection of its own.
    pub(super) xa: Option<super::xa::statement::Xa>,
    /// The connections of XA transactions this run prepared, by xid, kept to end them
    /// on (a few at a time; dropped, they detach as closed ones do).
    pub(super) xa_held: HashMap<String, sqlx::MySqlConnection>,
    /// The workers applying row changes in parallel (`SyncSettings::workers` above 1).
    pub(super) workers: Option<Workers>,
    /// The event being handled came out of a compressed transaction: it has no
    /// position of its own (`event_start` stays the transaction's), and its row
    /// changes are told apart by their place in the transaction.
    pub(super) compressed: bool,
    /// Row changes given to the workers since the last checkpoint.
    pub(super) dispatched: i64,
    /// How each table's changes are routed to workers.
    pub(super) routes: HashMap<(String, String), Route>,
    /// Checkpoints waiting for the workers to commit what comes before them, oldest
    /// first.
    pub(super) epochs: std::collections::VecDeque<Epoch>,
}

/// Where the player is in the source's transactions.
#[derive(Debug, Default)]
pub(super) enum Txn {
    /// Between transactions: the position moves with each event, and the batch may
    /// commit with its checkpoint.
    #[default]
    Between,
    /// Inside one: nothing of it commits without the rest, and the position stays at
    /// its start.
    Open(OpenTxn),
}

/// The source transaction being read.
#[derive(Debug, Default)]
pub(super) struct OpenTxn {
    /// Its changes are replayed idempotently (safe mode).
    safe: bool,
    /// Its row changes so far.
    changes: i64,
    /// One of its changes was applied on the batch connection: the rest are too, after
    /// everything the workers were given.
    alone: bool,
}

impl Txn {
    pub(super) fn is_open(&self) -> bool {
        matches!(self, Self::Open(_))
    }

    /// Whether the transaction being read is replayed idempotently.
    fn safe(&self) -> bool {
        matches!(self, Self::Open(t) if t.safe)
    }

    /// Whether a change of the transaction being read went to the batch connection.
    fn alone(&self) -> bool {
        matches!(self, Self::Open(t) if t.alone)
    }

    /// Counts `n` row changes of the transaction being read.
    fn count(&mut self, n: i64) {
        if let Self::Open(t) = self {
            t.changes += n;
        }
    }

    /// Row changes of the transaction being read so far.
    fn changes(&self) -> i64 {
        match self {
            Self::Open(t) => t.changes,
            Self::Between => 0,
        }
    }
}

/// A checkpoint to write once the workers asked to commit have done so.
pub(super) struct Epoch {
    pending: SyncCheckpoint,
    last_ts: u32,
    marks: Marks,
}

/// Whether deleting or updating a row of a table makes the server change rows of
/// other tables (a foreign key `ON DELETE` / `ON UPDATE` `CASCADE`, `SET NULL` or
/// `SET DEFAULT` referencing it). The source does not log those changes: the target
/// makes them itself, with `foreign_key_checks = 1` for that row change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Cascades {
    on_delete: bool,
    on_update: bool,
}

/// A statement from a query event, with what its session was.
pub(super) struct Statement<'s> {
    pub(super) schema: &'s str,
    pub(super) sql: &'s str,
    pub(super) text: &'s [u8],
    pub(super) session: &'s StatementSession,
    /// The event's timestamp (the statement's clock, in seconds).
    pub(super) timestamp: u32,
}

impl<'a> Player<'a> {
    /// A run of `unit` continuing from `checkpoint` (its GTID state `gtids`; `by_gtid`
    /// when the stream was started from that state, perhaps on another server of the
    /// same history), applying on `conn` (a target connection whose
    /// `foreign_key_checks` is 0), the target's packet limit being `max_packet`, with
    /// `workers` where row changes are applied in parallel. Safe mode is set from the
    /// checkpoint.
    pub(super) fn new(
        unit: &'a SyncUnit,
        conn: sqlx::pool::PoolConnection<sqlx::MySql>,
        (checkpoint, gtids, by_gtid): (SyncCheckpoint, GtidState, bool),
        max_packet: usize,
        workers: Option<Workers>,
    ) -> Self {
        let mut player = Self {
            unit,
            conn,
            gtids,
            file: checkpoint.position.file.clone(),
            event_start: checkpoint.position.pos,
            pending: checkpoint,
            txn_gtid: None,
            txn_rows: 0,
            by_gtid,
            txn: Txn::Between,
            batch_open: false,
            batch_changes: 0,
            batch_started: Instant::now(),
            dirty: false,
            last_ts: 0,
            tables: HashMap::new(),
            cascades: HashMap::new(),
            fk_checks: false,
            sequences: Default::default(),
            max_packet,
            collations: HashMap::new(),
            xa: None,
            xa_held: HashMap::new(),
            workers,
            compressed: false,
            dispatched: 0,
            routes: HashMap::new(),
            epochs: std::collections::VecDeque::new(),
        };
        player.update_safe_mode();
        player
    }
}

impl Player<'_> {
    pub(super) fn at(&self) -> String {
        format!("({}, {})", self.file, self.event_start)
    }

    /// Whether changes are replayed idempotently at the pending position (safe mode
    /// ends once the position passes the copy's end).
    pub(super) fn update_safe_mode(&mut self) -> bool {
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
        safe
    }

    pub(super) async fn replicate(
        &mut self,
        stream: &mut Source,
        cancel: &CancellationToken,
        stop_at: Option<&BinlogPosition>,
    ) -> Result<Ended, SyncError> {
        let batch = self.unit.config.sync.batch.max(1) as i64;
        let read_timeout = self
            .unit
            .config
            .sync
            .stream_timeout
            .max(Duration::from_millis(100));
        // When the wait for the next packet began (time spent applying is not
        // waiting).
        let mut waiting_since = Instant::now();
        // Read from another server than the checkpoint's positions were, the stream is
        // as far as the stop when it has applied the stop's GTIDs.
        let stop_gtids = stop_at
            .filter(|stop| self.by_gtid && !stop.gtid.is_empty())
            .map(|stop| GtidState::parse(&stop.gtid, self.unit.mariadb));
        loop {
            if !self.txn.is_open() {
                if let Some(stop) = stop_at {
                    let by_gtid = stop_gtids.as_ref().and_then(|g| self.gtids.covers(g));
                    let caught_up = by_gtid.unwrap_or_else(|| {
                        self.pending.position.compare(stop) != std::cmp::Ordering::Less
                    });
                    if caught_up {
                        self.flush().await?;
                        let at = if by_gtid.is_some() {
                            stop.clone()
                        } else {
                            self.pending.position.clone()
                        };
                        return Ok(Ended::CaughtUp(at));
                    }
                }
                // A busy stream is committed every 100 ms (or batch), also when only
                // the position moved (changes of tables that are not selected).
                if (self.batch_open || self.dirty)
                    && (self.batch_changes + self.dispatched >= batch
                        || self.batch_started.elapsed() > Duration::from_millis(100))
                {
                    self.checkpoint().await?;
                    waiting_since = Instant::now();
                }
            }
            self.write_committed_epochs().await?;
            // At a boundary with something to commit, commit when the stream pauses.
            let idle_commit =
                !self.txn.is_open() && (self.batch_open || self.dirty) || !self.epochs.is_empty();
            let deadline = waiting_since + read_timeout;
            let next = async {
                let left = deadline.saturating_duration_since(Instant::now());
                let limit = if idle_commit {
                    left.min(Duration::from_millis(5))
                } else {
                    left
                };
                match tokio::time::timeout(limit, stream.next()).await {
                    Ok(event) => Some(event),
                    Err(_) if Instant::now() >= deadline => {
                        Some(Err(StreamError::Timeout(read_timeout)))
                    }
                    Err(_) => None,
                }
            };
            let event = tokio::select! {
                e = next => e,
                () = cancel.cancelled() => {
                    if !self.txn.is_open() {
                        self.flush().await?;
                    }
                    return Ok(Ended::Canceled);
                }
            };
            let Some(event) = event else {
                self.checkpoint().await?;
                waiting_since = Instant::now();
                continue;
            };
            let event = match event {
                Ok(event) => event,
                Err(StreamError::TooLarge) => return Err(self.too_large().await),
                Err(source) => {
                    return Err(SyncError::Stream {
                        position: self.pending.position.clone(),
                        source,
                    });
                }
            };
            self.handle(event).await?;
            waiting_since = Instant::now();
        }
    }

    /// The error of an event over the stream's limit, which starts where the last
    /// event read ended: its size as the source lists it, where it can say.
    async fn too_large(&self) -> SyncError {
        let limit = self.unit.config.sync.max_event_bytes;
        let sql = format!(
            "SHOW BINLOG EVENTS IN '{}' FROM {} LIMIT 1",
            self.file.replace('\'', "''"),
            self.event_start
        );
        let size = match &self.unit.source {
            Some(source) => sqlx::query(sql.as_str())
                .fetch_optional(source)
                .await
                .ok()
                .flatten()
                .and_then(|row| {
                    use sqlx::Row;
                    let start: u64 = row.try_get(1).ok()?;
                    let end: u64 = row.try_get(4).ok()?;
                    end.checked_sub(start)
                }),
            None => None,
        };
        let size = size.map_or_else(
            || format!("more than {limit} bytes"),
            |s| format!("{s} bytes"),
        );
        SyncError::Unsupported {
            at: self.at(),
            detail: format!(
                "the binlog event here is {size}, over the {limit} bytes the stream takes \
                 (max_event_bytes; a replica's slave_max_allowed_packet): raise it up to 1 GiB, \
                 or exclude the table whose row it holds"
            ),
        }
    }

    async fn handle(&mut self, event: SourceEvent) -> Result<(), SyncError> {
        let SourceEvent {
            decoded,
            end_pos,
            timestamp,
            compressed,
        } = event;
        self.compressed = compressed;
        match decoded {
            Decoded::Rotate { file, pos } => {
                self.file = file;
                self.event_start = pos;
                if !self.txn.is_open() && self.pending.position.file != self.file {
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
                prepared_xa,
            } => {
                self.txn_gtid = Some(Gtid::Maria {
                    domain,
                    server,
                    seq,
                });
                self.txn_rows = 0;
                if !standalone {
                    self.begin_txn(timestamp);
                }
                if let Some(xid) = prepared_xa {
                    self.xa_start(xid).await?;
                }
            }
            Decoded::XaPrepare { one_phase } => self.xa_prepare(end_pos, one_phase).await?,
            // MySQL's GTID event precedes the transaction's BEGIN (or its DDL).
            Decoded::MysqlGtid { uuid, tag, gno } => {
                self.txn_gtid = Some(Gtid::Mysql { uuid, tag, gno });
                self.txn_rows = 0;
            }
            Decoded::Begin => self.begin_txn(timestamp),
            Decoded::Rows(change) => {
                if !self.txn.is_open() {
                    self.begin_txn(timestamp);
                }
                self.apply_rows(change).await?;
            }
            Decoded::Commit => self.end_txn(end_pos),
            Decoded::Refused(detail) => {
                return Err(SyncError::Unsupported {
                    at: self.at(),
                    detail,
                });
            }
            Decoded::Query {
                schema,
                sql,
                text,
                session,
            } => {
                let statement = Statement {
                    schema: &schema,
                    sql: &sql,
                    text: &text,
                    session: &session,
                    timestamp,
                };
                if let Some(xa) = super::xa::statement::xa_statement(&sql) {
                    return self.xa_statement(xa, end_pos).await;
                }
                self.refuse_statement(&schema, &sql, session.ansi_quotes())?;
                if !self.txn.is_open() {
                    self.last_ts = timestamp;
                    self.apply_query(&statement).await?;
                    self.end_txn(end_pos);
                } else if self.txn.changes() == 0
                    && parse::parse_with(&sql, &schema, session.ansi_quotes()).is_some()
                {
                    // `CREATE TABLE ... SELECT`: the DDL opens the transaction whose rows
                    // fill the table. It runs at the boundary before the transaction;
                    // the rows and the checkpoint commit at its end.
                    let open = std::mem::take(&mut self.txn);
                    let applied = self.apply_query(&statement).await;
                    self.txn = open;
                    applied?;
                }
            }
            // Events between transactions (format description, heartbeat, MariaDB's
            // GTID list and binlog checkpoint) move the position on: a cutover waiting
            // for the source's position reaches it through them.
            Decoded::Other => {
                if !self.txn.is_open()
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

    /// Refuses a statement whose changes the binlog does not hold as rows: DML logged
    /// as a statement on a selected table (a session with `binlog_format=STATEMENT`, a
    /// MEMORY table emptied by a restart).
    fn refuse_statement(&self, schema: &str, sql: &str, ansi: bool) -> Result<(), SyncError> {
        let Some(tables) = parse::dml_tables(sql, schema, ansi) else {
            return Ok(());
        };
        let config = &self.unit.config;
        let touches = if tables.is_empty() {
            config.filter.selects_database(schema)
        } else {
            let fold = |name: &str| match self.unit.lower_case_names[0] {
                0 => name.to_owned(),
                _ => name.to_lowercase(),
            };
            tables
                .iter()
                .any(|(db, t)| config.selects_table(&fold(db), &fold(t)))
        };
        if touches {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "DML logged as a statement, not as rows (DM: ErrSyncUnitDMLStatementFound, 36014): {}; \
                     its session had binlog_format=STATEMENT or MIXED (or the server emptied a MEMORY \
                     table at its restart): set binlog_format=ROW for every session, then copy the \
                     table again",
                    unit_sql::summarize_statement(sql)
                ),
            });
        }
        Ok(())
    }

    /// Notes that `pending` moved; the time of the first change not committed is kept
    /// for the 100 ms commit rule.
    pub(super) fn mark_dirty(&mut self) {
        if !self.dirty && !self.batch_open {
            self.batch_started = Instant::now();
        }
        self.dirty = true;
    }

    pub(super) fn begin_txn(&mut self, timestamp: u32) {
        // Row changes are numbered within their transaction (a GTID event restarted the
        // count already where there is one; MySQL without GTIDs logs an anonymous one,
        // which does not): a compressed transaction's changes are told apart by it,
        // whichever position a run started from.
        self.txn_rows = 0;
        self.last_ts = timestamp;
        let safe = self.update_safe_mode();
        self.txn = Txn::Open(OpenTxn {
            safe,
            ..OpenTxn::default()
        });
    }

    pub(super) fn end_txn(&mut self, end_pos: u64) {
        self.txn = Txn::Between;
        if let Some(o) = &self.unit.shared.observer {
            o.transaction_finished();
        }
        if let Some(gtid) = self.txn_gtid.take() {
            self.gtids.record(&gtid);
        }
        self.pending.position = BinlogPosition {
            file: self.file.clone(),
            pos: end_pos,
            gtid: self.gtids.to_string(),
        };
        self.mark_dirty();
    }

    pub(super) fn target_err(&self, op: Operation<'_>, e: sqlx::Error) -> SyncError {
        SyncError::Task(stmt_err(ErrScope::Downstream, op, StatementError::Sqlx(e)))
    }

    /// The target's pool.
    pub(super) fn target_pool(&self) -> Result<&sqlx::MySqlPool, SyncError> {
        self.unit.target.as_ref().ok_or(SyncError::NoPosition {
            task: self.unit.config.task.clone(),
        })
    }

    /// Applies an `XA ...` statement from the binlog.
    async fn xa_statement(
        &mut self,
        statement: Result<super::xa::statement::XaStatement, String>,
        end_pos: u64,
    ) -> Result<(), SyncError> {
        use super::xa::statement::XaStatement;
        match statement {
            Err(sql) => Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "an XA statement that cannot be read: {}",
                    unit_sql::summarize_statement(&sql)
                ),
            }),
            Ok(XaStatement::Start(xid)) => {
                if !self.txn.is_open() {
                    self.begin_txn(self.last_ts);
                }
                self.xa_start(xid).await
            }
            Ok(XaStatement::End) => Ok(()),
            Ok(XaStatement::Prepare) => self.xa_prepare(end_pos, false).await,
            Ok(XaStatement::Commit {
                one_phase: true, ..
            }) => self.xa_prepare(end_pos, true).await,
            Ok(XaStatement::Commit { xid, .. }) => self.xa_finish(&xid, true, end_pos).await,
            Ok(XaStatement::Rollback(xid)) => self.xa_finish(&xid, false, end_pos).await,
        }
    }

    pub(super) async fn begin_batch(&mut self) -> Result<(), SyncError> {
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

    /// Commits the open batch with the checkpoint (or writes a moved checkpoint), at
    /// a boundary of source transactions.
    pub(super) async fn flush(&mut self) -> Result<(), SyncError> {
        if self.txn.is_open() {
            return Ok(());
        }
        self.commit_batch().await
    }

    /// [`Player::flush`] where the batch holds no change of the source transaction being
    /// read: once the workers have committed everything they were given, the
    /// checkpoint (the end of the last source transaction read) is below every change
    /// not applied.
    async fn commit_batch(&mut self) -> Result<(), SyncError> {
        if !self.batch_open && !self.dirty && self.epochs.is_empty() {
            return Ok(());
        }
        if let Some(workers) = &mut self.workers {
            workers.drain().await?;
            self.dispatched = 0;
            // Below the checkpoint written now.
            self.epochs.clear();
        }
        self.begin_batch().await?;
        let pending = self.pending.clone();
        self.store(&pending).await?;
        self.conn
            .execute("COMMIT")
            .await
            .map_err(|e| self.target_err(Operation::Commit, e))?;
        self.batch_open = false;
        self.dirty = false;
        self.unit
            .shared
            .total
            .fetch_add(self.batch_changes, Ordering::Relaxed);
        if let Some(o) = self
            .unit
            .shared
            .observer
            .as_ref()
            .filter(|_| self.batch_changes > 0)
        {
            o.batch_committed(self.batch_started.elapsed(), self.batch_changes);
        }
        self.batch_changes = 0;
        self.published(&pending, self.last_ts);
        Ok(())
    }

    /// Writes `checkpoint` as the task's row (in the open batch, if there is one).
    async fn store(&mut self, checkpoint: &SyncCheckpoint) -> Result<(), SyncError> {
        let config = &self.unit.config;
        store_checkpoint(
            &mut *self.conn,
            &config.checkpoint_database,
            &config.task,
            checkpoint,
        )
        .await
        .map_err(|e| self.target_err(Operation::Execute("UPDATE sync_checkpoint"), e))
    }

    /// Shows a committed checkpoint (and the source time `last_ts` it reached) in the
    /// unit's status.
    fn published(&self, checkpoint: &SyncCheckpoint, last_ts: u32) {
        let shared = &self.unit.shared;
        *lock(&shared.syncer) = checkpoint.position.clone();
        if let Some(o) = &shared.observer {
            o.checkpoint_committed();
        }
        if last_ts > 0 {
            shared.last_event_ts.store(last_ts, Ordering::Relaxed);
        }
    }

    /// The periodic checkpoint, at a boundary of source transactions. With workers
    /// (and nothing open on the batch connection) it does not wait: the workers given
    /// changes are asked to commit them, and the checkpoint is written once they have
    /// ([`Player::write_committed_epochs`]). Otherwise as [`Player::flush`].
    async fn checkpoint(&mut self) -> Result<(), SyncError> {
        if self.txn.is_open() {
            return Ok(());
        }
        let Some(workers) = self.workers.as_mut().filter(|_| !self.batch_open) else {
            return self.commit_batch().await;
        };
        if self.dirty {
            let marks = workers.mark().await?;
            self.dispatched = 0;
            self.dirty = false;
            self.epochs.push_back(Epoch {
                pending: self.pending.clone(),
                last_ts: self.last_ts,
                marks,
            });
        }
        self.write_committed_epochs().await
    }

    /// Writes the newest checkpoint whose workers have committed everything before
    /// it (and every older one has as well).
    async fn write_committed_epochs(&mut self) -> Result<(), SyncError> {
        let Some(workers) = self.workers.as_mut() else {
            return Ok(());
        };
        let mut ready = None;
        while let Some(front) = self.epochs.front_mut() {
            if !workers.committed(&mut front.marks).await? {
                break;
            }
            ready = self.epochs.pop_front();
        }
        let Some(epoch) = ready else {
            return Ok(());
        };
        self.store(&epoch.pending).await?;
        self.published(&epoch.pending, epoch.last_ts);
        Ok(())
    }

    pub(super) async fn rollback(&mut self) {
        // The workers' open batches roll back with their connections.
        self.workers = None;
        self.epochs.clear();
        self.xa_abandon().await;
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
        let table = if config.selects_table(database, name) {
            let Some(target) = &self.unit.target else {
                return Ok(None);
            };
            let listed = listed_table(target, database, name)
                .await
                .map_err(|e| self.target_err(Operation::Query("information_schema.TABLES"), e))?;
            let sequence = listed.table_type == "SEQUENCE";
            match describe(target, listed).await {
                Ok(t) => {
                    if sequence {
                        self.sequences.insert(key.clone());
                    } else if !t.is_transactional() {
                        let mut idempotent = lock(&self.unit.shared.idempotent);
                        let entry = (t.database.clone(), t.name.clone(), t.engine.clone());
                        if !idempotent.contains(&entry) {
                            info!(table = %t.display_name(), engine = %t.engine, "not transactional: its changes are applied idempotently");
                            idempotent.push(entry);
                        }
                    }
                    Some(Arc::new(t))
                }
                Err(crate::catalog::schema::SchemaError::Sqlx(e)) => {
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

    async fn apply_rows(&mut self, change: RowsChange) -> Result<(), SyncError> {
        let RowsChange {
            database,
            table: name,
            mut columns,
            kind,
            mut rows,
            foreign_key_checks,
            full_image,
        } = change;
        if self.xa.as_ref().is_some_and(|xa| xa.skipping) {
            return Ok(());
        }
        let Some(table) = self.table(&database, &name).await? else {
            return Ok(());
        };
        if !full_image {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "a {} of {} whose row images leave columns out: the session that wrote it \
                     had binlog_row_image=MINIMAL or NOBLOB, and such a change cannot be applied \
                     exactly; set binlog_row_image=FULL for every session on the source, then copy \
                     the table again",
                    kind.verb(),
                    table.display_name()
                ),
            });
        }
        let visible = table.columns.len();
        if table.hidden_hashes > 0 && columns == visible + table.hidden_hashes {
            // MariaDB's long unique keys: their hidden hash columns follow the visible
            // ones, and the server computes them again from the values written.
            for (before, after) in &mut rows {
                for image in [before, after].into_iter().flatten() {
                    image.truncate(visible);
                }
            }
            columns = visible;
        }
        if self.sequences.contains(&(database.clone(), name.clone())) {
            return self.apply_sequence(&table, kind, rows).await;
        }
        if table.system_versioned {
            // Two hidden columns more (ROW_START, ROW_END); only current rows are kept.
            if !self.unit.config.versioned_current_rows || columns != visible + 2 {
                return Err(SyncError::Unsupported {
                    at: self.at(),
                    detail: format!(
                        "{} is system-versioned{}",
                        table.display_name(),
                        if self.unit.config.versioned_current_rows {
                            " with period columns of its own, which are not supported"
                        } else {
                            ", and the task does not copy its current rows only (versioned_current_rows)"
                        }
                    ),
                });
            }
            for (kind, rows) in current_rows(kind, rows, visible) {
                self.apply_images(&table, kind, rows, foreign_key_checks)
                    .await?;
            }
            return Ok(());
        }
        if columns != visible {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "the binlog's {} has {columns} columns, the target's {visible}",
                    table.display_name(),
                ),
            });
        }
        self.apply_images(&table, kind, rows, foreign_key_checks)
            .await
    }

    /// A MariaDB sequence's row event (a cache refill, `SETVAL`, `ALTER SEQUENCE`): its
    /// after image is the sequence's state, which an `INSERT` into the sequence sets.
    /// It runs on a connection of its own, outside the batch (the sequence's lock
    /// would block reading other tables' descriptions while the batch is open); that
    /// is exact because it is idempotent: a replay after a crash sets the states again
    /// in stream order, ending at the last.
    async fn apply_sequence(
        &mut self,
        table: &Table,
        kind: RowsKind,
        rows: Vec<RowPair>,
    ) -> Result<(), SyncError> {
        let Some(target) = self.unit.target.clone() else {
            return Ok(());
        };
        if kind == RowsKind::Delete {
            return Ok(());
        }
        for (_, after) in &rows {
            let Some(after) = after else { continue };
            let sql = insert_sql(table, &[after], false).map_err(|e| SyncError::Unsupported {
                at: self.at(),
                detail: e.to_string(),
            })?;
            target
                .execute(sql.as_str())
                .await
                .map_err(|e| SyncError::Apply {
                    at: self.at(),
                    statement: unit_sql::summarize_statement(&sql),
                    source: e,
                })?;
        }
        self.txn.count(rows.len() as i64);
        Ok(())
    }

    /// Applies the row images of one row event of a selected table: given to the
    /// workers where there are some, else (and where the change cascades, in an XA
    /// transaction, or after such a change in the same source transaction) on the
    /// batch connection, after everything the workers were given.
    async fn apply_images(
        &mut self,
        table: &Arc<Table>,
        kind: RowsKind,
        rows: Vec<RowPair>,
        foreign_key_checks: bool,
    ) -> Result<(), SyncError> {
        let table = table.clone();
        let (database, name) = (table.database.clone(), table.name.clone());
        // A table that cannot roll back (MyISAM, Aria, MEMORY) keeps the changes of a
        // batch that was not committed, and its copy read rows later than the
        // position: its changes are always applied idempotently.
        let safe = self.txn.safe() || !table.is_transactional();
        if safe && !table.has_key() {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "{} has no primary key and no unique key on NOT NULL columns, and its \
                     changes here must be replayed idempotently ({}), which needs a key: add \
                     a key, or copy it again with consistency flush or lock",
                    table.display_name(),
                    if table.is_transactional() {
                        "the copy was not a snapshot"
                    } else {
                        "its engine has no transactions"
                    }
                ),
            });
        }
        // The source cascaded this change to other tables (its session checked foreign
        // keys) without logging what the cascade changed: the target cascades too.
        let cascades = self.cascades(&database, &name).await?;
        let cascade = foreign_key_checks
            && match kind {
                RowsKind::Insert => false,
                RowsKind::Delete => cascades.on_delete,
                RowsKind::Update => cascades.on_update,
            };
        let count = rows.len() as i64;
        if self.workers.is_some() && self.xa.is_none() && !cascade && !self.txn.alone() {
            self.dispatch(&table, kind, rows, safe).await?;
            self.txn.count(count);
            return Ok(());
        }
        if let Some(workers) = &mut self.workers {
            workers.drain().await?;
            if let Txn::Open(t) = &mut self.txn {
                t.alone = true;
            }
        }
        self.begin_batch().await?;
        self.set_fk_checks(cascade).await?;
        let at = self.at();
        let at = || at.clone();
        match kind {
            RowsKind::Insert => {
                let images: Vec<&RowImage> = rows.iter().filter_map(|(_, a)| a.as_ref()).collect();
                self.applier().insert(&table, &images, safe, &at).await?;
            }
            RowsKind::Update if cascade && safe => {
                self.update_cascading_idempotently(&table, &rows).await?;
            }
            RowsKind::Delete | RowsKind::Update => {
                for (before, after) in &rows {
                    apply_change(
                        &mut self.applier(),
                        &table,
                        kind,
                        before.as_ref(),
                        after.as_ref(),
                        safe,
                        &at,
                    )
                    .await?;
                }
            }
        }
        self.batch_changes += count;
        self.txn.count(count);
        Ok(())
    }

    /// Updates that cascade, idempotently: where the row is there, an `UPDATE` of it
    /// makes the target cascade; a row not there (or a new key taken by a row the copy
    /// read later) is written as the after image without cascading, as a `REPLACE`
    /// would delete children.
    async fn update_cascading_idempotently(
        &mut self,
        table: &Table,
        rows: &[RowPair],
    ) -> Result<(), SyncError> {
        let at = self.at();
        let value_err = |e: ValueError| SyncError::Unsupported {
            at: at.clone(),
            detail: e.to_string(),
        };
        let what = format!("update of {}", table.display_name());
        for (before, after) in rows {
            let (Some(before), Some(after)) = (before, after) else {
                continue;
            };
            let cond = key_condition(table, before).map_err(value_err)?;
            let update = update_sql(table, after, &cond).map_err(value_err)?;
            match self.exec(&update, &what).await {
                Ok(1) => continue,
                Ok(_) | Err(SyncError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
            self.set_fk_checks(false).await?;
            apply_change(
                &mut self.applier(),
                table,
                RowsKind::Update,
                Some(before),
                Some(after),
                true,
                &|| at.clone(),
            )
            .await?;
            self.set_fk_checks(true).await?;
        }
        Ok(())
    }

    /// Gives the row changes of one event to the workers, which place them by their
    /// keys ([`Workers::dispatch`]) and leave out those an earlier run's workers
    /// applied.
    async fn dispatch(
        &mut self,
        table: &Arc<Table>,
        kind: RowsKind,
        rows: Vec<RowPair>,
        safe: bool,
    ) -> Result<(), SyncError> {
        // The batch connection's changes (of earlier source transactions) come first.
        if self.batch_open {
            self.commit_batch().await?;
        }
        let route = self.route(table).await?;
        let file: Arc<str> = self.file.as_str().into();
        let pos = self.event_start;
        let txn = self
            .txn_gtid
            .as_ref()
            .filter(|g| g.seq() > 0)
            .map(|g| (Arc::<str>::from(g.origin()), g.seq()));
        let Some(workers) = self.workers.as_mut() else {
            return Ok(());
        };
        let alone = route == Route::Table;
        for (row, (before, after)) in rows.into_iter().enumerate() {
            let ordinal = self.txn_rows;
            self.txn_rows = self.txn_rows.saturating_add(1);
            // Every event of a compressed transaction starts where the transaction does.
            let row = if self.compressed {
                ordinal
            } else {
                u32::try_from(row).unwrap_or(u32::MAX)
            };
            let id = ChangeId {
                file: file.clone(),
                pos,
                row,
                mark: txn.as_ref().map(|(origin, seq)| TxnMark {
                    origin: origin.clone(),
                    seq: *seq,
                    ordinal,
                }),
            };
            let job = Job {
                id,
                table: table.clone(),
                kind,
                before,
                after,
                safe,
                alone,
                bytes: None,
            };
            if !workers.dispatch(&route, job).await? {
                continue;
            }
            self.dispatched += 1;
        }
        Ok(())
    }

    /// How the workers are given `table`'s changes: by its unique keys, as the target
    /// defines them.
    async fn route(&mut self, table: &Table) -> Result<Route, SyncError> {
        let key = (table.database.clone(), table.name.clone());
        if let Some(route) = self.routes.get(&key) {
            return Ok(route.clone());
        }
        let pool = self.target_pool()?;
        // A MySQL functional key part has no COLUMN_NAME.
        let rows: Vec<(String, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT CAST(INDEX_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR), CAST(SUB_PART AS SIGNED) \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             AND NON_UNIQUE = 0 ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
        )
        .bind(&table.database)
        .bind(&table.name)
        .fetch_all(pool)
        .await
        .map_err(|e| self.target_err(Operation::Query("information_schema.STATISTICS"), e))?;
        let mut unique: Vec<(String, Vec<usize>)> = Vec::new();
        let mut exact = true;
        for (index, column, sub_part) in rows {
            let position =
                column.and_then(|column| table.columns.iter().position(|c| c.name == column));
            // A key on a prefix, or on an expression, compares what a hash of the
            // column's value does not.
            let (Some(i), None) = (position, sub_part) else {
                exact = false;
                continue;
            };
            match unique.last_mut() {
                Some((name, columns)) if *name == index => columns.push(i),
                _ => unique.push((index, vec![i])),
            }
        }
        let route = if exact {
            Route::of(table, unique.into_iter().map(|(_, c)| c).collect())
        } else {
            Route::Table
        };
        self.routes.insert(key, route.clone());
        Ok(route)
    }

    /// What deleting or updating a row of a selected table cascades to on the target
    /// (read again after every DDL, which may add or drop a foreign key).
    async fn cascades(&mut self, database: &str, name: &str) -> Result<Cascades, SyncError> {
        let key = (database.to_owned(), name.to_owned());
        if let Some(c) = self.cascades.get(&key) {
            return Ok(*c);
        }
        let Some(target) = &self.unit.target else {
            return Ok(Cascades::default());
        };
        let cascades = cascades_of(target, database, name)
            .await
            .map_err(|e| self.target_err(Operation::Query("REFERENTIAL_CONSTRAINTS"), e))?;
        self.cascades.insert(key, cascades);
        Ok(cascades)
    }

    /// Sets the target session's `foreign_key_checks` when it differs.
    async fn set_fk_checks(&mut self, on: bool) -> Result<(), SyncError> {
        if self.fk_checks != on {
            let sql = if on {
                "SET foreign_key_checks = 1"
            } else {
                "SET foreign_key_checks = 0"
            };
            self.conn
                .execute(sql)
                .await
                .map_err(|e| self.target_err(Operation::Execute(sql), e))?;
            self.fk_checks = on;
        }
        Ok(())
    }

    /// Runs a row statement (`what` names it: `insert of db.t`) in the open batch;
    /// its rows affected (matched).
    async fn exec(&mut self, sql: &str, what: &str) -> Result<u64, SyncError> {
        let at = self.at();
        self.applier().exec(sql, what, &|| at.clone()).await
    }

    /// The batch connection, for row statements.
    fn applier(&mut self) -> Applier<'_> {
        Applier {
            conn: &mut self.conn,
            max_packet: self.max_packet,
        }
    }
}

/// A system-versioned table's row event as changes of its current rows (images cut to
/// the `visible` columns): the source logs a row that becomes history as an update that
/// ends it (a delete of the current row) or as the insert of a history row (nothing);
/// the target keeps its own history.
fn current_rows(
    kind: RowsKind,
    rows: Vec<RowPair>,
    visible: usize,
) -> Vec<(RowsKind, Vec<RowPair>)> {
    let current = |image: &Option<RowImage>| {
        image
            .as_ref()
            .and_then(|i| i.get(visible + 1))
            .is_some_and(|v| is_open_end(v.as_ref()))
    };
    let cut = |image: Option<RowImage>| {
        image.map(|mut i| {
            i.truncate(visible);
            i
        })
    };
    let mut groups: Vec<(RowsKind, Vec<_>)> = Vec::new();
    for (before, after) in rows {
        let change = match kind {
            RowsKind::Insert if current(&after) => (RowsKind::Insert, None, cut(after)),
            RowsKind::Update if current(&after) => (RowsKind::Update, cut(before), cut(after)),
            RowsKind::Update | RowsKind::Delete if current(&before) => {
                (RowsKind::Delete, cut(before), None)
            }
            _ => continue,
        };
        match groups.last_mut() {
            Some((k, rows)) if *k == change.0 => rows.push((change.1, change.2)),
            _ => groups.push((change.0, vec![(change.1, change.2)])),
        }
    }
    groups
}

/// Whether a ROW_END value is the end of time: the row is current.
fn is_open_end(value: Option<&mysql_async::binlog::value::BinlogValue<'_>>) -> bool {
    use mysql_async::Value;
    use mysql_async::binlog::value::BinlogValue;
    match value {
        // TIMESTAMP(6), as `seconds.micros`: 2038-01-19 03:14:07.999999 UTC, or
        // 2106-02-07 06:28:15.999999 where MariaDB's TIMESTAMP reaches it.
        Some(BinlogValue::Value(Value::Bytes(b))) => {
            matches!(b.as_slice(), b"2147483647.999999" | b"4294967295.999999")
        }
        // Transaction ids (BIGINT UNSIGNED).
        Some(BinlogValue::Value(Value::UInt(u))) => *u == u64::MAX,
        Some(BinlogValue::Value(Value::Int(i))) => *i == -1,
        _ => false,
    }
}

/// The foreign-key actions that deleting or updating a row of `database.name` takes
/// on other tables, as the target defines them.
async fn cascades_of(
    target: &sqlx::MySqlPool,
    database: &str,
    name: &str,
) -> Result<Cascades, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        // MySQL returns the rules as binary strings.
        "SELECT CAST(DELETE_RULE AS CHAR), CAST(UPDATE_RULE AS CHAR) \
         FROM information_schema.REFERENTIAL_CONSTRAINTS \
         WHERE UNIQUE_CONSTRAINT_SCHEMA = ? AND REFERENCED_TABLE_NAME = ? \
         AND BINARY UNIQUE_CONSTRAINT_SCHEMA = ? AND BINARY REFERENCED_TABLE_NAME = ?",
    )
    .bind(database)
    .bind(name)
    .bind(database)
    .bind(name)
    .fetch_all(target)
    .await?;
    let acts = |rule: &str| matches!(rule, "CASCADE" | "SET NULL" | "SET DEFAULT");
    Ok(Cascades {
        on_delete: rows.iter().any(|(d, _)| acts(d)),
        on_update: rows.iter().any(|(_, u)| acts(u)),
    })
}
