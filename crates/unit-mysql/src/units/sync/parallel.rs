//! Parallel apply by causality ([`SyncSettings::workers`](crate::units::task::SyncSettings::workers) above 1).
//!
//! Each row change of a selected table yields keys: the values of its table's primary
//! key and of every unique key, in its before and its after image, each qualified by
//! the table and the key. A key hashes to one of the workers (each a target connection
//! of its own), so changes that share a key go to the same worker, in source order.
//! A change whose keys hash to two workers is a *conflict*: every worker drains
//! (commits what it was given) before it and after it, so it runs alone. A table whose
//! unique keys compare values that a hash of their bytes would not (a character column
//! of a non-binary collation, a float), or that has no key, is routed by its name: all
//! its changes go to one worker.
//!
//! **Exactly once.** Each worker commits its batch together with its own row in
//! `<checkpoint_database>.sync_worker`, naming the last change it applied (event
//! position and row). The task's row in `sync_checkpoint` moves only when every worker
//! is drained, so it is the lowest position below which everything was applied. A
//! rerun starts from it, routes every change as before (the routing is a function of
//! the change and the worker count, which a rerun takes from the rows past the
//! checkpoint), and skips a change that its worker's row says was applied. The rows
//! are one consistent set: a run that starts fresh workers (none of the rows is past
//! the checkpoint) deletes them all first, a run that keeps the count deletes the rows
//! of any other, and a new start position (a copy's, an incremental start) deletes
//! them with the same statement that writes it.
//!
//! Source transactions are not kept as target transactions across workers: a worker
//! may commit part of one, another worker the rest. `SyncSettings::workers = 1` keeps them.
//!
//! **Bounded.** The queues hold at most [`QUEUE`] changes per worker and
//! [`QUEUE_BYTES`] bytes of row images for all of them; before the dispatcher waits
//! for bytes it asks the workers to commit, and a worker with nothing to apply
//! commits after [`IDLE_COMMIT`], so that no transaction left open holds back another
//! worker (a lock wait the dispatcher could not end).
//!
//! [`SyncSettings::workers`]: crate::units::task::SyncSettings::workers

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Instant;

use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;
use sqlx::mysql::MySqlConnection;
use sqlx::{Executor, MySqlPool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;
use unit_core::ErrScope;

use super::SyncError;
use super::exec::{Applier, missing_row, missing_rows};
use super::plan::{RowStatement, change_statements, delete_statements, insert_statements};
use super::status::Shared;
use super::stream::{RowImage, RowsKind};
use crate::adapter::cancel::StatementError;
use crate::adapter::classify::Operation;
use crate::catalog::position::{BinlogPosition, GtidState};
use crate::catalog::schema::Table;
use crate::error::stmt_err;
use crate::units::sync_state::worker_table;

/// Where a row change is in the stream: its event's start and its row in the event
/// (which mean something on one server only), and its [`TxnMark`] where the source has
/// GTIDs (which means the same on every server of the topology).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChangeId {
    pub(super) file: Arc<str>,
    pub(super) pos: u64,
    pub(super) row: u32,
    pub(super) mark: Option<TxnMark>,
}

/// Where a row change is in the source's history, whichever server of a replication
/// topology streams it: its transaction's GTID (origin and number) and its place
/// among the transaction's row changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TxnMark {
    /// [`Gtid::origin`](crate::catalog::position::Gtid::origin).
    pub(super) origin: Arc<str>,
    pub(super) seq: u64,
    pub(super) ordinal: u32,
}

/// Per GTID origin, the last row change a worker applied, as `(seq, ordinal)`: what
/// its row records besides the position, so that a rerun reading another server of
/// the same history (a replica, after `use_gtid` switched to it) still knows which
/// changes it applied. Within an origin, every server holds the transactions in the
/// order of their numbers, and each transaction's row changes in the same order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Reached(std::collections::BTreeMap<String, (u64, u32)>);

impl Reached {
    /// Parses `origin/seq/ordinal,...` (empty: nothing recorded, as in rows written
    /// before GTIDs were recorded or from a source without them).
    pub(super) fn parse(text: &str) -> Option<Self> {
        let mut map = std::collections::BTreeMap::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let mut fields = part.split('/');
            let (Some(origin), Some(seq), Some(ordinal), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return None;
            };
            map.insert(
                origin.to_owned(),
                (seq.parse().ok()?, ordinal.parse().ok()?),
            );
        }
        Some(Self(map))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records that the change at `mark` was applied (changes come in order).
    fn record(&mut self, mark: &TxnMark) {
        self.0
            .insert(mark.origin.to_string(), (mark.seq, mark.ordinal));
    }

    /// Whether the change at `mark` is at or before what was recorded for its origin.
    pub(super) fn covers(&self, mark: &TxnMark) -> bool {
        self.0
            .get(&*mark.origin)
            .is_some_and(|&last| (mark.seq, mark.ordinal) <= last)
    }

    /// Whether every recorded change belongs to a transaction of `state` (is at or
    /// below a checkpoint of that GTID state); `None` when `state` is not tracked.
    pub(super) fn within(&self, state: &GtidState) -> Option<bool> {
        self.0.iter().try_fold(true, |all, (origin, &(seq, _))| {
            Some(all && state.contains(origin, seq)?)
        })
    }
}

impl std::fmt::Display for Reached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (origin, (seq, ordinal))) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{origin}/{seq}/{ordinal}")?;
        }
        Ok(())
    }
}

impl ChangeId {
    /// Stream order (binlog files by their number).
    pub(super) fn compare(&self, other: &Self) -> Ordering {
        let index = |f: &str| f.rsplit_once('.').and_then(|(_, n)| n.parse::<u64>().ok());
        let by_file = match (index(&self.file), index(&other.file)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.file.cmp(&other.file),
        };
        by_file
            .then(self.pos.cmp(&other.pos))
            .then(self.row.cmp(&other.row))
    }

    fn at(&self) -> String {
        format!("({}, {})", self.file, self.pos)
    }
}

/// How a table's row changes are routed to workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// By the values of these unique keys (column indices; the primary key first).
    Keys(Vec<Vec<usize>>),
    /// By the table's name.
    Table,
}

impl Route {
    /// The route of `table`, whose unique keys (primary key included) are `unique`.
    pub(super) fn of(table: &Table, unique: Vec<Vec<usize>>) -> Route {
        // Bytes compare as the key does only without a collation (binary strings,
        // numbers, temporal values); `_bin` collations still ignore trailing spaces.
        let exact = |i: &usize| {
            table.columns.get(*i).is_some_and(|c| {
                c.collation.as_deref().is_none_or(|coll| coll == "binary")
                    && !matches!(c.data_type.as_str(), "float" | "double" | "real")
            })
        };
        if !table.has_key() || unique.is_empty() || !unique.iter().flatten().all(exact) {
            return Route::Table;
        }
        Route::Keys(unique)
    }
}

/// FNV-1a: stable across runs and builds, as the routing must be.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn value(&mut self, value: &BinlogValue<'_>) {
        match value {
            BinlogValue::Value(v) => match v {
                Value::NULL => self.write(b"N"),
                Value::Bytes(b) => {
                    self.write(b"B");
                    self.write(b);
                }
                Value::Int(i) => {
                    self.write(b"I");
                    self.write(&i.to_le_bytes());
                }
                Value::UInt(u) => {
                    // As an Int of the same bits: the binlog does not say which.
                    self.write(b"I");
                    self.write(&u.to_le_bytes());
                }
                Value::Float(f) => self.write(&f.to_le_bytes()),
                Value::Double(d) => self.write(&d.to_le_bytes()),
                Value::Date(y, m, d, h, i, s, us) => {
                    self.write(&y.to_le_bytes());
                    self.write(&[*m, *d, *h, *i, *s]);
                    self.write(&us.to_le_bytes());
                }
                Value::Time(neg, d, h, i, s, us) => {
                    self.write(&[u8::from(*neg)]);
                    self.write(&d.to_le_bytes());
                    self.write(&[*h, *i, *s]);
                    self.write(&us.to_le_bytes());
                }
            },
            other => self.write(format!("{other:?}").as_bytes()),
        }
    }
}

/// The workers (of `n`) that a change's keys hash to, the first key's first.
fn workers_of(
    table: &Table,
    route: &Route,
    before: Option<&RowImage>,
    after: Option<&RowImage>,
    n: usize,
) -> Vec<usize> {
    let table_hash = || {
        let mut h = Fnv::new();
        h.write(table.database.as_bytes());
        h.write(b".");
        h.write(table.name.as_bytes());
        h
    };
    let pick = |h: Fnv| (h.0 % n as u64) as usize;
    let Route::Keys(keys) = route else {
        return vec![pick(table_hash())];
    };
    let mut workers = Vec::with_capacity(2);
    for image in [before, after].into_iter().flatten() {
        for (k, columns) in keys.iter().enumerate() {
            let mut h = table_hash();
            h.write(&(k as u32).to_le_bytes());
            let mut null = false;
            for &i in columns {
                match image.get(i).and_then(Option::as_ref) {
                    Some(BinlogValue::Value(Value::NULL)) | None => null = true,
                    Some(v) => h.value(v),
                }
            }
            // A NULL in a unique key constrains nothing.
            if null {
                continue;
            }
            let w = pick(h);
            if !workers.contains(&w) {
                workers.push(w);
            }
        }
    }
    if workers.is_empty() {
        workers.push(pick(table_hash()));
    }
    workers
}

/// A row change given to a worker.
pub(super) struct Job {
    pub(super) id: ChangeId,
    pub(super) table: Arc<Table>,
    pub(super) kind: RowsKind,
    pub(super) before: Option<RowImage>,
    pub(super) after: Option<RowImage>,
    /// Applied idempotently.
    pub(super) safe: bool,
    /// Every change of the table goes to this one worker (its route is by name).
    pub(super) alone: bool,
    /// Its share of [`QUEUE_BYTES`], given back when the job is dropped (applied).
    pub(super) bytes: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Job {
    /// About how many bytes the job's row images hold.
    fn size(&self) -> usize {
        let image = |i: &Option<RowImage>| {
            i.iter()
                .flatten()
                .map(|v| match v {
                    Some(BinlogValue::Value(Value::Bytes(b))) => b.len() + 16,
                    _ => 16,
                })
                .sum::<usize>()
        };
        64 + image(&self.before) + image(&self.after)
    }
}

enum Msg {
    Change(Job),
    /// Commit, then answer.
    Flush(oneshot::Sender<()>),
}

/// Where the workers' rows live and what they are called.
#[derive(Clone)]
pub(super) struct WorkerRows {
    pub(super) database: String,
    pub(super) task: String,
}

/// A row of `sync_worker`: what worker `worker` of a run of `workers` workers last
/// committed.
#[derive(Debug, Clone)]
pub(super) struct WorkerRow {
    pub(super) worker: usize,
    pub(super) workers: usize,
    pub(super) last: ChangeId,
    pub(super) reached: Reached,
}

impl WorkerRow {
    /// Whether it records a change past the checkpoint at `start`: by GTID where the row
    /// and the checkpoint have them (valid whichever server wrote either), else by
    /// position (valid on one server).
    pub(super) fn is_past(&self, start: &BinlogPosition, state: &GtidState) -> bool {
        if !self.reached.is_empty() {
            if let Some(within) = self.reached.within(state) {
                return !within;
            }
        }
        let at = BinlogPosition {
            file: self.last.file.to_string(),
            pos: self.last.pos,
            gtid: String::new(),
        };
        at.compare(start).is_ge()
    }

    /// Whether it recorded the change `id` (or a later one) as applied.
    fn covers(&self, id: &ChangeId) -> bool {
        match &id.mark {
            Some(mark) if !self.reached.is_empty() => self.reached.covers(mark),
            _ => id.compare(&self.last) != Ordering::Greater,
        }
    }
}

/// The rows the workers of earlier runs of the task recorded, read with a locking
/// read: a worker of an earlier run whose session outlived it (its process killed
/// while its `COMMIT` was on the way) holds its row locked until that commit lands or
/// rolls back, and the rows read must be the ones it leaves.
pub(super) async fn load_worker_rows(
    target: &MySqlPool,
    rows: &WorkerRows,
) -> Result<Vec<WorkerRow>, sqlx::Error> {
    let sql = format!(
        "SELECT worker, workers, binlog_name, binlog_pos, row_index, gtid_reached FROM {} \
         WHERE task = ? ORDER BY worker FOR UPDATE",
        worker_table(&rows.database)
    );
    let mut tx = target.begin().await?;
    let found: Vec<(u32, u32, String, u64, u32, String)> = sqlx::query_as(&sql)
        .bind(&rows.task)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    found
        .into_iter()
        .map(|(worker, workers, file, pos, row, reached)| {
            let reached = Reached::parse(&reached).ok_or_else(|| {
                sqlx::Error::Decode(
                    format!("sync_worker.gtid_reached {reached:?} is not origin/seq/ordinal,...")
                        .into(),
                )
            })?;
            Ok(WorkerRow {
                worker: worker as usize,
                workers: workers as usize,
                last: ChangeId {
                    file: file.into(),
                    pos,
                    row,
                    mark: None,
                },
                reached,
            })
        })
        .collect()
}

/// Per worker of a run of `n`, its row in `rows`.
pub(super) fn applied_by(rows: &[WorkerRow], n: usize) -> Vec<Option<WorkerRow>> {
    let mut applied = vec![None; n];
    for row in rows.iter().filter(|r| r.workers == n && r.worker < n) {
        applied[row.worker] = Some(row.clone());
    }
    applied
}

/// One worker: a target connection applying the changes routed to it, committing
/// each batch with its row.
struct Worker {
    conn: MySqlConnection,
    max_packet: usize,
    index: usize,
    workers: usize,
    rows: WorkerRows,
    batch: usize,
    /// The most inserts or deletes merged into one statement.
    merge_rows: usize,
    open: bool,
    /// When the open transaction began.
    began: Option<std::time::Instant>,
    changes: i64,
    last: Option<ChangeId>,
    /// What its row records per GTID origin, this run's changes included.
    reached: Reached,
    shared: Arc<Shared>,
}

impl Worker {
    fn err(op: Operation<'_>, e: sqlx::Error) -> SyncError {
        SyncError::Task(stmt_err(ErrScope::Downstream, op, StatementError::Sqlx(e)))
    }

    async fn begin(&mut self) -> Result<(), SyncError> {
        if !self.open {
            self.conn
                .execute("BEGIN")
                .await
                .map_err(|e| Self::err(Operation::Begin, e))?;
            self.open = true;
            self.began = Some(std::time::Instant::now());
        }
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), SyncError> {
        if !self.open {
            return Ok(());
        }
        if let Some(last) = &self.last {
            let sql = format!(
                "REPLACE INTO {} (task, worker, workers, binlog_name, binlog_pos, row_index, \
                 gtid_reached) VALUES (?, ?, ?, ?, ?, ?, ?)",
                worker_table(&self.rows.database)
            );
            sqlx::query(&sql)
                .bind(&self.rows.task)
                .bind(self.index as u32)
                .bind(self.workers as u32)
                .bind(&*last.file)
                .bind(last.pos)
                .bind(last.row)
                .bind(self.reached.to_string())
                .execute(&mut self.conn)
                .await
                .map_err(|e| Self::err(Operation::Execute("REPLACE INTO sync_worker"), e))?;
        }
        self.conn
            .execute("COMMIT")
            .await
            .map_err(|e| Self::err(Operation::Commit, e))?;
        self.open = false;
        self.shared
            .total
            .fetch_add(self.changes, AtomicOrdering::Relaxed);
        if let (Some(o), Some(began)) = (&self.shared.observer, self.began.take()) {
            o.batch_committed(began.elapsed(), self.changes);
        }
        self.changes = 0;
        Ok(())
    }

    /// Applies a round of changes: `groups` in order, each consecutive inserts into
    /// one table (one statement) or one other change; the statements go to the target
    /// several to a query.
    async fn apply(&mut self, groups: Vec<Vec<Job>>) -> Result<(), SyncError> {
        let Some(last) = groups.last().and_then(|g| g.last()).map(|j| j.id.clone()) else {
            return Ok(());
        };
        self.begin().await?;
        // Each statement with the group it applies.
        let mut statements = Vec::with_capacity(groups.len());
        let mut owner = Vec::with_capacity(groups.len());
        let mut count = 0;
        for (g, jobs) in groups.iter().enumerate() {
            let first = &jobs[0];
            let unsupported = |e: super::ValueError| SyncError::Unsupported {
                at: first.id.at(),
                detail: e.to_string(),
            };
            if first.kind == RowsKind::Delete && jobs.len() > 1 {
                let images: Vec<&RowImage> =
                    jobs.iter().filter_map(|j| j.before.as_ref()).collect();
                for statement in
                    delete_statements(&first.table, &images, first.safe, self.max_packet)
                        .map_err(unsupported)?
                {
                    statements.push(statement);
                    owner.push(g);
                }
            } else if first.kind == RowsKind::Insert {
                let images: Vec<&RowImage> = jobs.iter().filter_map(|j| j.after.as_ref()).collect();
                for sql in insert_statements(&first.table, &images, first.safe, self.max_packet)
                    .map_err(unsupported)?
                {
                    statements.push(RowStatement::any(sql));
                    owner.push(g);
                }
            } else {
                for statement in change_statements(
                    &first.table,
                    first.kind,
                    first.before.as_ref(),
                    first.after.as_ref(),
                    first.safe,
                )
                .map_err(unsupported)?
                {
                    statements.push(statement);
                    owner.push(g);
                }
            }
            count += jobs.len();
        }
        let job = |i: usize| &groups[owner[i]][0];
        let described = |i: usize| {
            let job = job(i);
            let verb = match job.kind {
                RowsKind::Insert => "insert",
                RowsKind::Update => "update",
                RowsKind::Delete => "delete",
            };
            (
                format!("{verb} of {}", job.table.display_name()),
                job.id.at(),
            )
        };
        let missing = |i: usize, verb: &'static str, at: String| {
            let jobs = &groups[owner[i]];
            let job = &jobs[0];
            if jobs.len() > 1 {
                let rows: Vec<&RowImage> = jobs.iter().filter_map(|j| j.before.as_ref()).collect();
                return missing_rows(&job.table, &rows, at);
            }
            missing_row(
                &job.table,
                job.before.as_ref().unwrap_or(&Vec::new()),
                verb,
                at,
            )
        };
        let mut applier = Applier {
            conn: &mut self.conn,
            max_packet: self.max_packet,
        };
        applier.exec_all(&statements, &described, &missing).await?;
        for mark in groups.iter().flatten().filter_map(|j| j.id.mark.as_ref()) {
            self.reached.record(mark);
        }
        self.changes += count as i64;
        self.last = Some(last);
        if self.changes >= self.batch as i64 {
            self.commit().await?;
        }
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Result<(), SyncError> {
        let mut next: Option<Msg> = None;
        loop {
            let msg = match next.take() {
                Some(m) => m,
                None if self.open => match tokio::time::timeout(IDLE_COMMIT, rx.recv()).await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(_) => {
                        // Nothing more to apply for now: commit, so that no lock of
                        // this transaction holds back another worker.
                        self.commit().await?;
                        continue;
                    }
                },
                None => match rx.recv().await {
                    Some(m) => m,
                    None => break,
                },
            };
            match msg {
                Msg::Flush(ack) => {
                    self.commit().await?;
                    let _ = ack.send(());
                }
                Msg::Change(job) => {
                    // What is queued, up to a round: consecutive inserts into one
                    // table grouped (one statement), and consecutive deletes by key.
                    let mut groups: Vec<Vec<Job>> = vec![vec![job]];
                    let mut count = 1;
                    while count < ROUND {
                        match rx.try_recv() {
                            Ok(Msg::Change(j)) => {
                                count += 1;
                                let group = groups.last_mut().expect("a group");
                                let head = &group[0];
                                let mergeable = match j.kind {
                                    RowsKind::Insert => true,
                                    // A `DELETE ... IN` may scan a range (or the
                                    // table) and lock rows of other workers: only
                                    // where no other worker writes the table.
                                    RowsKind::Delete => j.alone && j.table.has_key(),
                                    RowsKind::Update => false,
                                };
                                if mergeable
                                    && j.kind == head.kind
                                    && j.safe == head.safe
                                    && Arc::ptr_eq(&j.table, &head.table)
                                    && group.len() < self.merge_rows
                                {
                                    group.push(j);
                                } else {
                                    groups.push(vec![j]);
                                }
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.apply(groups).await?;
                }
            }
        }
        self.commit().await
    }
}

/// The most changes a worker takes from its queue to apply together (their
/// statements several to a query).
const ROUND: usize = 256;

/// The row changes a worker's queue holds.
const QUEUE: usize = 1024;

/// The most bytes of row images queued for all the workers together: rows of large
/// values (1 MiB BLOBs) would otherwise queue gigabytes.
const QUEUE_BYTES: usize = 64 << 20;

/// How long a worker keeps a transaction open with nothing to apply before it commits
/// (its locks would otherwise hold back another worker, which may be the one the
/// dispatcher waits for).
const IDLE_COMMIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The answers of workers asked to commit ([`Workers::mark`]).
pub(super) struct Marks(Vec<(usize, oneshot::Receiver<()>)>);

/// The running workers of one run.
pub(super) struct Workers {
    senders: Vec<mpsc::Sender<Msg>>,
    handles: Vec<Option<JoinHandle<Result<(), SyncError>>>>,
    /// Given a change since the last mark or drain.
    busy: Vec<bool>,
    /// Given a change since the last drain.
    unsettled: Vec<bool>,
    /// Per worker, the row of an earlier run's worker: the last change it applied.
    applied: Vec<Option<WorkerRow>>,
    /// [`QUEUE_BYTES`], as permits of one byte each.
    bytes: Arc<tokio::sync::Semaphore>,
    /// The last change waited for queue bytes (and the workers were asked to commit).
    waited_for_bytes: bool,
}

impl Drop for Workers {
    fn drop(&mut self) {
        for handle in self.handles.iter().flatten() {
            handle.abort();
        }
    }
}

impl Workers {
    /// Starts `n` workers on connections of `target`; `applied` is what an earlier run
    /// of as many workers recorded.
    pub(super) async fn start(
        n: usize,
        target: &MySqlPool,
        rows: WorkerRows,
        batch: usize,
        merge_rows: usize,
        applied: Vec<Option<WorkerRow>>,
        shared: Arc<Shared>,
    ) -> Result<Workers, SyncError> {
        let mut workers = Workers {
            senders: Vec::with_capacity(n),
            handles: Vec::with_capacity(n),
            busy: vec![false; n],
            unsettled: vec![false; n],
            applied,
            bytes: Arc::new(tokio::sync::Semaphore::new(QUEUE_BYTES)),
            waited_for_bytes: false,
        };
        workers.applied.resize(n, None);
        for index in 0..n {
            let mut conn = target
                .acquire()
                .await
                .map_err(|e| Worker::err(Operation::Connect, e))?
                .detach();
            // Set here, not inherited: a pooled connection keeps what an earlier run
            // set on it (the batch connection turns foreign key checks on for
            // cascades), and a worker's changes never cascade.
            let session = super::exec::start_session(&mut conn)
                .await
                .map_err(|(op, e)| Worker::err(op, e))?;
            let worker = Worker {
                conn,
                max_packet: session.max_packet,
                index,
                workers: n,
                rows: rows.clone(),
                batch: batch.max(1),
                merge_rows: merge_rows.max(1),
                open: false,
                began: None,
                changes: 0,
                last: None,
                reached: workers.applied[index]
                    .as_ref()
                    .map(|row| row.reached.clone())
                    .unwrap_or_default(),
                shared: shared.clone(),
            };
            let (tx, rx) = mpsc::channel(QUEUE);
            workers.senders.push(tx);
            workers.handles.push(Some(tokio::spawn(worker.run(rx))));
        }
        Ok(workers)
    }

    pub(super) fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether worker `w` of an earlier run applied change `id`.
    fn applied(&self, w: usize, id: &ChangeId) -> bool {
        self.applied
            .get(w)
            .and_then(Option::as_ref)
            .is_some_and(|row| row.covers(id))
    }

    /// The error worker `w` ended with.
    async fn failure(&mut self, w: usize) -> SyncError {
        let ended = match self.handles[w].take() {
            Some(handle) => handle.await,
            None => Ok(Ok(())),
        };
        match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => SyncError::Unsupported {
                at: String::new(),
                detail: format!("apply worker {w} stopped"),
            },
            Err(e) => SyncError::Unsupported {
                at: String::new(),
                detail: format!("apply worker {w} failed: {e}"),
            },
        }
    }

    /// Places `job` by `route`: on the worker its keys hash to; a change whose keys
    /// hash to two workers runs alone, after everything before it and before
    /// everything after it. `false` when an earlier run's worker applied it already
    /// (nothing is given then).
    pub(super) async fn dispatch(&mut self, route: &Route, job: Job) -> Result<bool, SyncError> {
        let hit = workers_of(
            &job.table,
            route,
            job.before.as_ref(),
            job.after.as_ref(),
            self.len(),
        );
        let w = hit[0];
        if self.applied(w, &job.id) {
            return Ok(false);
        }
        let conflict = hit.len() > 1;
        if conflict {
            self.drain().await?;
        }
        self.send(w, job).await?;
        if conflict {
            self.drain().await?;
        }
        Ok(true)
    }

    /// Gives `job` to worker `w`, once the queues hold few enough bytes.
    async fn send(&mut self, w: usize, mut job: Job) -> Result<(), SyncError> {
        let size = u32::try_from(job.size().min(QUEUE_BYTES)).unwrap_or(u32::MAX);
        let permit = match self.bytes.clone().try_acquire_many_owned(size) {
            Ok(permit) => {
                self.waited_for_bytes = false;
                permit
            }
            Err(_) => {
                // The queues are full of bytes: what the workers hold open is
                // committed first (once per wait, not per change), so that none waits
                // on another's locks meanwhile.
                if !self.waited_for_bytes {
                    self.waited_for_bytes = true;
                    let busy = self.busy.clone();
                    drop(self.flush(&busy).await?);
                }
                self.bytes
                    .clone()
                    .acquire_many_owned(size)
                    .await
                    .map_err(|_| {
                        SyncError::Task(crate::error::Error::Internal {
                            detail: "the workers' byte budget was closed".to_owned(),
                        })
                    })?
            }
        };
        job.bytes = Some(permit);
        self.busy[w] = true;
        self.unsettled[w] = true;
        if self.senders[w].send(Msg::Change(job)).await.is_err() {
            return Err(self.failure(w).await);
        }
        Ok(())
    }

    /// Whether a worker was given a change since the last drain.
    pub(super) fn busy(&self) -> bool {
        self.unsettled.iter().any(|b| *b)
    }

    /// Asks the workers in `which` to commit what they were given; their answers.
    async fn flush(&mut self, which: &[bool]) -> Result<Marks, SyncError> {
        let mut acks = Vec::new();
        for (w, _) in which.iter().enumerate().filter(|(_, asked)| **asked) {
            let (tx, rx) = oneshot::channel();
            if self.senders[w].send(Msg::Flush(tx)).await.is_err() {
                return Err(self.failure(w).await);
            }
            acks.push((w, rx));
        }
        Ok(Marks(acks))
    }

    /// Asks every worker given a change since the last mark to commit it, without
    /// waiting: the answers come in [`Workers::committed`].
    pub(super) async fn mark(&mut self) -> Result<Marks, SyncError> {
        let busy = std::mem::replace(&mut self.busy, vec![false; self.senders.len()]);
        self.flush(&busy).await
    }

    /// Whether every worker of `marks` has committed what it was given before them.
    pub(super) async fn committed(&mut self, marks: &mut Marks) -> Result<bool, SyncError> {
        let mut failed = None;
        marks.0.retain_mut(|(w, rx)| match rx.try_recv() {
            Ok(()) => false,
            Err(oneshot::error::TryRecvError::Empty) => true,
            Err(oneshot::error::TryRecvError::Closed) => {
                failed = Some(*w);
                false
            }
        });
        if let Some(w) = failed {
            return Err(self.failure(w).await);
        }
        Ok(marks.0.is_empty())
    }

    /// Waits until every worker has committed everything it was given (marks given
    /// out before are then answered as well).
    pub(super) async fn drain(&mut self) -> Result<(), SyncError> {
        if !self.busy() {
            return Ok(());
        }
        let started = Instant::now();
        let unsettled = self.unsettled.clone();
        let marks = self.flush(&unsettled).await?;
        for (w, rx) in marks.0 {
            if rx.await.is_err() {
                return Err(self.failure(w).await);
            }
        }
        self.busy.fill(false);
        self.unsettled.fill(false);
        debug!(took = ?started.elapsed(), "workers drained");
        Ok(())
    }
}
