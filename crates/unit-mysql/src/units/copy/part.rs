//! Copying one part of a table: chunks in key order, each committed with its
//! checkpoint, then the table's verification once its last part is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::{Executor, Row};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};
use unit_core::ErrScope;

use super::Progress;
use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::catalog::schema::{Table, ValueKind, ident, key_literal, raw};
use crate::error::{Error, internal, stmt_err};
use crate::units::verify::{Verification, verify_table};

/// What every copy job shares.
pub(super) struct CopyContext {
    pub(super) source: MySqlPool,
    pub(super) target: MySqlPool,
    /// Where each part's checkpoint is kept.
    pub(super) store: super::CheckpointStore,
    pub(super) chunk_rows: usize,
    pub(super) verification: Verification,
    /// Both servers are of one kind (both MariaDB or both MySQL).
    pub(super) same_kind: bool,
    pub(super) progress: Arc<Progress>,
    pub(super) recorder: Arc<super::report::Recorder>,
    pub(super) cancel: CancellationToken,
    /// Verify each table once copied (a quiet source); otherwise cutover verifies.
    pub(super) verify: bool,
    /// Connections reading the source as of the recorded position, if the copy is a
    /// snapshot.
    pub(super) snapshot: Option<Arc<super::snapshot::Snapshot>>,
    /// Rows are written with `REPLACE` (as DM's loader does): an online copy that is not
    /// a snapshot reads rows at different moments, so two of them can hold the same
    /// value of a secondary unique key; replication replays the window idempotently.
    pub(super) replace: bool,
    /// The write limits.
    pub(super) throttle: super::throttle::Throttle,
    /// Hears each committed chunk.
    pub(super) observer: Option<Arc<dyn crate::units::observer::Observer>>,
    /// Chunks are loaded with `LOAD DATA LOCAL INFILE` where the table allows it.
    #[cfg(feature = "local-infile")]
    pub(super) bulk: Option<super::bulk::BulkTarget>,
}

/// One key range of a table and its checkpoint: the rows whose first key column is in
/// `[lo, hi)`, unbounded where `None` (a table that is not split has one part with
/// neither bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) index: i32,
    pub(super) lo: Option<String>,
    pub(super) hi: Option<String>,
    /// The key of the last row committed, one raw value per key column.
    pub(super) last_key: Option<Vec<Vec<u8>>>,
    pub(super) done: bool,
    /// Rows and value bytes its checkpoint says were copied.
    pub(super) copied: (i64, i64),
}

/// A copy job: one part of a table, or (without a part) only the verification of a
/// table an earlier run finished.
pub(super) struct PartCopy {
    pub(super) ctx: Arc<CopyContext>,
    pub(super) table: Arc<Table>,
    pub(super) part: Option<Part>,
    /// The table's parts not finished yet; the job that finishes the last one verifies
    /// the table.
    pub(super) remaining: Arc<AtomicUsize>,
}

/// The most value bytes one INSERT statement carries (MariaDB's default
/// `max_allowed_packet` is 16 MiB).
pub(super) const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// The most placeholders one statement may carry.
pub(super) const MAX_PLACEHOLDERS: usize = 65_000;

impl PartCopy {
    pub(super) async fn run(self) -> Result<(), Error> {
        let Some(part) = &self.part else {
            return if self.ctx.verify {
                self.verify().await
            } else {
                Ok(())
            };
        };
        if self.table.key.is_empty() {
            self.copy_keyless(part).await?;
            return self.finish_part().await;
        }
        // Read one chunk ahead: the next chunk comes from the source while the
        // current one is written to the target.
        if !self.table.is_transactional() {
            self.clear_uncommitted(part).await?;
        }
        let key_positions = self.table.key_positions();
        let lease = self.ctx.snapshot.as_ref().and_then(|s| {
            let lease = s.lease();
            if lease.is_none() {
                tracing::warn!("no snapshot connection free: this part reads the current rows");
            }
            lease
        });
        let conn = lease.as_ref().map(super::snapshot::Lease::conn);
        let mut next = self.spawn_read(conn.clone(), part.last_key.clone());
        let mut writer = Writer::default();
        loop {
            let rows = match next.await {
                Ok(rows) => rows?,
                Err(join) => return Err(internal("a chunk's read", &join)),
            };
            let finished = rows.len() < self.ctx.chunk_rows;
            let key = rows.last().map(|r| {
                key_positions
                    .iter()
                    .map(|&i| raw(r, i).unwrap_or_default())
                    .collect::<Vec<_>>()
            });
            if !finished {
                next = self.spawn_read(conn.clone(), key.clone());
            } else {
                next = tokio::spawn(async { Ok(Vec::new()) });
            }
            self.write_chunk(&mut writer, part, &rows, key.as_deref(), finished)
                .await?;
            if finished {
                break;
            }
        }
        writer.close().await;
        self.finish_part().await
    }

    /// Counts this part finished; the job finishing the table's last part verifies it.
    async fn finish_part(&self) -> Result<(), Error> {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return Ok(());
        }
        let t = &*self.table;
        self.ctx
            .recorder
            .phase(&t.database, &t.name, super::TablePhase::Copied);
        if self.ctx.verify {
            self.verify().await
        } else {
            Ok(())
        }
    }

    /// Deletes the target rows of `part` after its checkpoint: a table of an engine
    /// without transactions keeps the rows of a chunk whose checkpoint was never
    /// committed, and the part must continue from its checkpoint without them.
    async fn clear_uncommitted(&self, part: &Part) -> Result<(), Error> {
        let t = &*self.table;
        let mut conditions = self.part_conditions(part.last_key.as_ref());
        if conditions.is_empty() {
            conditions.push("TRUE".to_owned());
        }
        let delete = format!(
            "DELETE FROM {} WHERE {}",
            t.qualified(),
            conditions.join(" AND ")
        );
        let done = cancellable(
            &self.ctx.cancel,
            sqlx::query(&delete).execute(&self.ctx.target),
        )
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&delete), e))?;
        if done.rows_affected() > 0 {
            debug!(
                rows = done.rows_affected(),
                "rows after the checkpoint deleted (no transactions)"
            );
        }
        Ok(())
    }

    /// The conditions selecting the rows of this job's part after `last_key`.
    fn part_conditions(&self, last_key: Option<&Vec<Vec<u8>>>) -> Vec<String> {
        let t = &*self.table;
        let mut conditions = Vec::new();
        let part = self.part.as_ref();
        if let Some(key) = last_key {
            conditions.push(format!("({})", t.after_key(key)));
        }
        if let Some(first) = t.key.first().map(|&i| &t.columns[i]) {
            let column = ident(&first.name);
            if let (None, Some(lo)) = (last_key, part.and_then(|p| p.lo.as_deref())) {
                conditions.push(format!("{column} >= {}", key_literal(first, lo.as_bytes())));
            }
            if let Some(hi) = part.and_then(|p| p.hi.as_deref()) {
                conditions.push(format!("{column} < {}", key_literal(first, hi.as_bytes())));
            }
        }
        conditions
    }

    /// Compares the table's row count and checksum on both sides, as soon as the table
    /// is copied (so verifying overlaps with copying the other tables).
    async fn verify(&self) -> Result<(), Error> {
        let (t, ctx) = (&*self.table, &*self.ctx);
        ctx.recorder
            .phase(&t.database, &t.name, super::TablePhase::Verifying);
        let rows = verify_table(
            &ctx.source,
            &ctx.target,
            t,
            ctx.verification,
            !ctx.same_kind,
            &ctx.cancel,
        )
        .await?;
        debug!(rows, "verified");
        ctx.recorder.verified(&t.database, &t.name, rows);
        Ok(())
    }

    /// Reads the chunk after `last_key` in a task of its own.
    fn spawn_read(
        &self,
        conn: Option<Arc<tokio::sync::Mutex<sqlx::MySqlConnection>>>,
        last_key: Option<Vec<Vec<u8>>>,
    ) -> tokio::task::JoinHandle<Result<Vec<MySqlRow>, Error>> {
        let t = &*self.table;
        let conditions = self.part_conditions(last_key.as_ref());
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
            let rows = match conn {
                Some(conn) => {
                    let mut conn = conn.lock().await;
                    // A plain `&str` with no arguments also goes over the text protocol.
                    cancellable(&cancel, conn.fetch_all(select.as_str())).await
                }
                None => cancellable(&cancel, sqlx::raw_sql(&select).fetch_all(&source)).await,
            };
            rows.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(&select), e))
        })
    }

    /// Writes `rows` and moves the checkpoint in one target transaction: loaded with
    /// `LOAD DATA LOCAL INFILE` where the table allows it (see [`super::bulk`]),
    /// otherwise inserted.
    async fn write_chunk(
        &self,
        writer: &mut Writer,
        part: &Part,
        rows: &[MySqlRow],
        key: Option<&[Vec<u8>]>,
        done: bool,
    ) -> Result<(), Error> {
        let ctx = &*self.ctx;
        let rows_n = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        let sizes = row_sizes(rows, &self.table.written());
        let chunk_bytes: usize = sizes.iter().sum();
        let bytes = i64::try_from(chunk_bytes).unwrap_or(i64::MAX);
        self.pay(rows.len(), chunk_bytes).await?;
        #[cfg(feature = "local-infile")]
        if let Some(target) = ctx.bulk.as_ref().filter(|b| b.loads(&self.table)) {
            let t = &*self.table;
            let params = mysql_async::Params::from((
                ctx.store.task(),
                t.database.as_str(),
                t.name.as_str(),
                part.index,
                key.map(encode_key),
                rows_n,
                bytes,
                i8::from(done),
            ));
            let loaded = writer
                .0
                .write(
                    target,
                    t,
                    rows,
                    self.writes_replace(),
                    &<sqlx::MySql as unit_sql::Dialect>::upsert(ctx.store.table()),
                    params,
                    &ctx.cancel,
                )
                .await?;
            if let super::bulk::Loaded::Committed = loaded {
                self.committed(rows_n, bytes);
                return Ok(());
            }
        }
        #[cfg(not(feature = "local-infile"))]
        let _ = writer;
        let mut tx = cancellable(&ctx.cancel, ctx.target.begin())
            .await
            .map_err(|e| down(Operation::Begin, e))?;
        self.insert_rows(&mut tx, rows, &sizes).await?;
        self.record(&mut tx, part, key, rows_n, bytes, done).await?;
        cancellable(&ctx.cancel, tx.commit())
            .await
            .map_err(|e| down(Operation::Commit, e))?;
        self.committed(rows_n, bytes);
        Ok(())
    }

    /// Counts a committed chunk of `rows` rows and `bytes` value bytes.
    fn committed(&self, rows: i64, bytes: i64) {
        let (t, ctx) = (&*self.table, &*self.ctx);
        ctx.progress
            .finished_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        ctx.recorder.chunk(&t.database, &t.name, rows, bytes);
        if let Some(o) = &ctx.observer {
            o.chunk_committed(&t.database, &t.name, rows, bytes);
        }
    }

    /// Copies a table without a key: all of it in one target transaction with its
    /// checkpoint, after deleting whatever an earlier attempt left (rows of an engine
    /// without transactions). Rows are read in one pass and written a chunk at a time,
    /// so memory stays bounded by the chunk; a restart copies the table again.
    async fn copy_keyless(&self, part: &Part) -> Result<(), Error> {
        use futures_util::TryStreamExt;
        let (t, ctx) = (&*self.table, &*self.ctx);
        let cancel = &ctx.cancel;
        let mut tx = cancellable(cancel, ctx.target.begin())
            .await
            .map_err(|e| down(Operation::Begin, e))?;
        let delete = format!("DELETE FROM {}", t.qualified());
        cancellable(cancel, sqlx::query(&delete).execute(&mut *tx))
            .await
            .map_err(|e| down(Operation::Execute(&delete), e))?;
        let select = format!("SELECT {} FROM {}", t.select_list(), t.qualified());
        let up = |e: sqlx::Error| {
            stmt_err(
                ErrScope::Upstream,
                Operation::Query(&select),
                StatementError::Sqlx(e),
            )
        };
        // Without a key, rows read outside the snapshot could never be told apart
        // from the replayed ones: no snapshot connection free is an error here.
        let lease = match &self.ctx.snapshot {
            Some(s) => Some(
                s.lease()
                    .ok_or_else(|| internal_error("no snapshot connection free"))?,
            ),
            None => None,
        };
        let snapshot = lease.as_ref().map(super::snapshot::Lease::conn);
        let mut guard = match &snapshot {
            Some(conn) => Some(conn.lock().await),
            None => None,
        };
        let mut pooled = match guard {
            Some(_) => None,
            None => Some(
                cancellable(cancel, ctx.source.acquire())
                    .await
                    .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Connect, e))?,
            ),
        };
        let conn: &mut sqlx::MySqlConnection = match (&mut guard, &mut pooled) {
            (Some(g), _) => g,
            (None, Some(p)) => p,
            (None, None) => return Err(internal_error("no source connection")),
        };
        // A plain `&str` goes over the text protocol: values arrive as printed.
        let mut stream = conn.fetch(select.as_str());
        let (mut rows_n, mut bytes) = (0i64, 0i64);
        let mut chunk = Vec::with_capacity(ctx.chunk_rows);
        loop {
            let row = tokio::select! {
                row = stream.try_next() => row.map_err(up)?,
                () = cancel.cancelled() => return Err(stmt_err(ErrScope::Upstream, Operation::Query(&select), StatementError::Canceled(unit_core::Canceled))),
            };
            let end = row.is_none();
            chunk.extend(row);
            if chunk.len() >= ctx.chunk_rows || (end && !chunk.is_empty()) {
                let sizes = row_sizes(&chunk, &t.written());
                let chunk_bytes: usize = sizes.iter().sum();
                self.pay(chunk.len(), chunk_bytes).await?;
                self.insert_rows(&mut tx, &chunk, &sizes).await?;
                bytes += i64::try_from(chunk_bytes).unwrap_or(i64::MAX);
                rows_n += i64::try_from(chunk.len()).unwrap_or(i64::MAX);
                chunk.clear();
            }
            if end {
                break;
            }
        }
        drop(stream);
        self.record(&mut tx, part, None, rows_n, bytes, true)
            .await?;
        cancellable(cancel, tx.commit())
            .await
            .map_err(|e| down(Operation::Commit, e))?;
        self.committed(rows_n, bytes);
        info!(
            rows = rows_n,
            "table without a key copied whole in one transaction"
        );
        Ok(())
    }

    /// Inserts `rows`, of value bytes `sizes` each, in the open transaction.
    async fn insert_rows(
        &self,
        tx: &mut sqlx::MySqlConnection,
        rows: &[MySqlRow],
        sizes: &[usize],
    ) -> Result<(), Error> {
        let (t, ctx) = (&*self.table, &*self.ctx);
        let cancel = &ctx.cancel;
        let written = t.written();
        let ncols = written.len();
        let per_stmt = (MAX_PLACEHOLDERS / ncols.max(1)).max(1);
        // Statements stay under both the placeholder limit and MAX_STATEMENT_BYTES, so
        // wide rows never hit the server's max_allowed_packet.
        let mut batches: Vec<&[MySqlRow]> = Vec::new();
        let (mut start, mut size) = (0, 0usize);
        for (i, &row_size) in sizes.iter().enumerate() {
            if i > start && (i - start >= per_stmt || size + row_size > MAX_STATEMENT_BYTES) {
                batches.push(&rows[start..i]);
                (start, size) = (i, 0);
            }
            size += row_size;
        }
        if start < rows.len() {
            batches.push(&rows[start..]);
        }
        let tuple = format!("({})", vec!["?"; ncols].join(","));
        for batch in batches {
            let sql = format!(
                "{} INTO {} ({}) VALUES {}",
                if self.writes_replace() {
                    "REPLACE"
                } else {
                    "INSERT"
                },
                t.qualified(),
                t.column_list(),
                vec![tuple.as_str(); batch.len()].join(",")
            );
            let mut q = sqlx::query(&sql);
            for row in batch {
                for &i in &written {
                    // Borrowed from the row: no copy per value.
                    let v: Option<&[u8]> = row.try_get_unchecked(i).unwrap_or(None);
                    q = match v {
                        // Bytes go as a binary string, which the target stores as it
                        // is (text columns are read in their own character set).
                        Some(b) if t.columns[i].writes_bytes() => q.bind(Some(b)),
                        // An ENUM's index or a SET's bits (read as `col + 0`) go as a
                        // number: as text the server would read a member's name first
                        // (in `ENUM('2','1')`, '1' is the second member, not index 1).
                        Some(b) if t.columns[i].kind() == ValueKind::EnumOrSet => {
                            match std::str::from_utf8(b)
                                .ok()
                                .and_then(|s| s.parse::<u64>().ok())
                            {
                                Some(n) => q.bind(Some(n)),
                                None => q.bind(Some(b)),
                            }
                        }
                        // Text goes as text, which the target converts to the column's
                        // type (a number, a date, an ENUM label, a UUID, ...).
                        Some(b) => match std::str::from_utf8(b) {
                            Ok(text) => q.bind(Some(text)),
                            Err(_) => q.bind(Some(b)),
                        },
                        None => q.bind(None::<&[u8]>),
                    };
                }
            }
            cancellable(cancel, q.execute(&mut *tx))
                .await
                .map_err(|e| down(Operation::Execute(&sql), e))?;
        }
        Ok(())
    }

    /// Waits until a chunk of `rows` rows and `bytes` value bytes is paid for at the
    /// copy's write limits.
    async fn pay(&self, rows: usize, bytes: usize) -> Result<(), Error> {
        let ctx = &*self.ctx;
        let paid = ctx
            .throttle
            .wait(
                rows as u64,
                bytes as u64,
                &ctx.cancel,
                &ctx.recorder.throttle,
            )
            .await;
        if paid {
            Ok(())
        } else {
            Err(down(
                Operation::Execute("INSERT"),
                StatementError::Canceled(unit_core::Canceled),
            ))
        }
    }

    /// Whether rows are written with `REPLACE`: an online copy of a table without
    /// transactions reads its rows outside the snapshot, so replication replays its
    /// changes idempotently, and a unique value may have moved between rows.
    fn writes_replace(&self) -> bool {
        self.ctx.replace || (!self.ctx.verify && !self.table.is_transactional())
    }

    /// Moves `part`'s checkpoint in the open transaction: `rows` and `bytes` more
    /// copied, the last key `key`, finished when `done`.
    async fn record(
        &self,
        tx: &mut sqlx::MySqlConnection,
        part: &Part,
        key: Option<&[Vec<u8>]>,
        rows: i64,
        bytes: i64,
        done: bool,
    ) -> Result<(), Error> {
        let (t, ctx) = (&*self.table, &*self.ctx);
        let key = key.map(encode_key);
        let mut chunk = unit_sql::Chunk::new(&t.database, &t.name, part.index).counts(rows, bytes);
        if let Some(key) = &key {
            chunk = chunk.after(key);
        }
        if done {
            chunk = chunk.finished();
        }
        cancellable(&ctx.cancel, ctx.store.commit_chunk(tx, &chunk))
            .await
            .map_err(|e| down(Operation::Execute("INSERT INTO copy_checkpoint"), e))?;
        Ok(())
    }
}

/// A copy job's connection for loading chunks, where the copy loads them.
#[derive(Default)]
struct Writer(#[cfg(feature = "local-infile")] super::bulk::BulkWriter);

impl Writer {
    async fn close(self) {
        #[cfg(feature = "local-infile")]
        self.0.close().await;
    }
}

/// For each row, the bytes of its values in the columns `written`.
fn row_sizes(rows: &[MySqlRow], written: &[usize]) -> Vec<usize> {
    rows.iter()
        .map(|row| {
            written
                .iter()
                .map(|&c| {
                    row.try_get_unchecked::<Option<&[u8]>, _>(c)
                        .ok()
                        .flatten()
                        .map_or(0, <[u8]>::len)
                })
                .sum()
        })
        .collect()
}

fn down(op: Operation<'_>, e: StatementError) -> Error {
    stmt_err(ErrScope::Downstream, op, e)
}

fn internal_error(what: &str) -> Error {
    stmt_err(
        ErrScope::Internal,
        Operation::Connect,
        StatementError::Sqlx(sqlx::Error::Protocol(what.to_owned())),
    )
}

/// A key as hex per column, comma-separated.
pub(super) fn encode_key(key: &[Vec<u8>]) -> String {
    key.iter()
        .map(|v| v.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn decode_key(text: &str) -> Vec<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_checkpoint_text() {
        let key = vec![b"42".to_vec(), vec![0, 255, b','], Vec::new()];
        assert_eq!(decode_key(&encode_key(&key)), key);
    }
}
