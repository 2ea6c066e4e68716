//! Writing a chunk with `LOAD DATA LOCAL INFILE`, streamed from memory over a
//! mysql_async connection (sqlx cannot answer the server's request for the file), in
//! one target transaction together with the chunk's checkpoint.
//!
//! # Exactness
//! The chunk travels as the bytes the source printed, in a file of `CHARACTER SET
//! binary`, each value into a user variable, and each variable is assigned to its
//! column exactly as the `INSERT` path binds it: a column whose value is bytes (text
//! read in its own character set, BIT, binary and spatial types) takes the binary
//! string as it is; any other column takes it as `utf8mb4` text, which the server
//! converts to the column's type. Generated columns are left out, as `INSERT` leaves
//! them.
//!
//! A load that does not take every row as it is written falls back to `INSERT`s for
//! that chunk: the transaction is rolled back when the server reports a skipped row
//! (with `LOCAL`, a duplicate key is skipped rather than refused), a warning, or
//! another number of records than the chunk's rows. The `INSERT` path then writes
//! exactly what it writes without this module, and refuses what it refuses (a
//! duplicate key is error 1062). A server that refuses `LOCAL` (`local_infile=OFF`)
//! is asked once; the rest of the copy inserts.
//!
//! # Cancel safety
//! When the copy's token fires mid-statement, the connection is dropped without a
//! `COMMIT`: the server rolls the chunk and its checkpoint back together.

use std::sync::atomic::{AtomicBool, Ordering};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use sqlx::Row;
use sqlx::mysql::MySqlRow;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::adapter::codes;
use crate::adapter::dsn::MySqlUrl;
use crate::catalog::schema::{Table, ValueKind, ident};
use crate::error::{Error, stmt_err};

/// The bytes of the chunk's file sent in one packet.
const PIECE: usize = 1 << 20;

/// Where a copy's bulk writes go: the target, and the `SET` statement its sessions
/// start with.
pub(super) struct BulkTarget {
    url: MySqlUrl,
    session: String,
    /// The target refused `LOCAL INFILE`: every chunk is inserted from then on.
    refused: AtomicBool,
}

impl BulkTarget {
    pub(super) fn new(url: MySqlUrl, session: String) -> Self {
        Self {
            url,
            session,
            refused: AtomicBool::new(false),
        }
    }

    /// Whether chunks of `table` are loaded: a table of an engine with transactions
    /// (a chunk that falls back must leave nothing behind) and without system
    /// versioning, while the target has not refused `LOCAL`.
    pub(super) fn loads(&self, table: &Table) -> bool {
        table.is_transactional() && !table.system_versioned && !self.refused.load(Ordering::Relaxed)
    }
}

/// What became of a chunk.
pub(super) enum Loaded {
    /// Loaded and committed with its checkpoint.
    Committed,
    /// Nothing was written: insert the chunk instead.
    Insert,
}

/// A copy job's connection for loading, opened at its first chunk.
#[derive(Default)]
pub(super) struct BulkWriter {
    conn: Option<Conn>,
}

impl BulkWriter {
    /// Loads `rows` into `table` and runs `checkpoint` (with its `params`) in the same
    /// transaction; `replace` loads with `REPLACE`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn write(
        &mut self,
        target: &BulkTarget,
        table: &Table,
        rows: &[MySqlRow],
        replace: bool,
        checkpoint: &str,
        params: mysql_async::Params,
        cancel: &CancellationToken,
    ) -> Result<Loaded, Error> {
        let written = table.written();
        let data = encode(rows, &written);
        let load = load_statement(table, &written, replace);
        let conn = self.conn(target, cancel).await?;
        cancellable(cancel, conn.query_drop("START TRANSACTION"))
            .await
            .map_err(|e| self.fail(Operation::Begin, e))?;
        let conn = self.conn.as_mut().expect("opened above");
        // The client sends each piece as one packet, which must stay below its
        // max_allowed_packet.
        let data = bytes::Bytes::from(data);
        let pieces: Vec<_> = (0..data.len())
            .step_by(PIECE)
            .map(|at| Ok(data.slice(at..(at + PIECE).min(data.len()))))
            .collect();
        conn.set_infile_handler(async move {
            Ok(Box::pin(futures_util::stream::iter(pieces)) as mysql_async::InfileData)
        });
        match cancellable(cancel, conn.query_drop(load.as_str())).await {
            Ok(()) => {}
            Err(StatementError::Client(mysql_async::Error::Server(e))) if refuses_local(e.code) => {
                if !target.refused.swap(true, Ordering::Relaxed) {
                    warn!(
                        error = %e.message,
                        "the target refuses LOAD DATA LOCAL INFILE (local_infile); the copy writes with INSERT"
                    );
                }
                self.rollback(cancel).await?;
                return Ok(Loaded::Insert);
            }
            Err(e) => return Err(self.fail(Operation::Execute(&load), e)),
        }
        let conn = self.conn.as_mut().expect("opened above");
        let counts = LoadCounts::parse(&conn.info());
        let expected = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        let exact =
            counts.is_some_and(|c| c.records == expected && c.skipped == 0 && c.warnings == 0);
        if !exact {
            info!(
                info = %conn.info(),
                rows = rows.len(),
                "the load did not take every row as written (skipped, warnings or another count); rolled back, the chunk is inserted instead"
            );
            self.rollback(cancel).await?;
            return Ok(Loaded::Insert);
        }
        cancellable(cancel, conn.exec_drop(checkpoint, params))
            .await
            .map_err(|e| self.fail(Operation::Execute(checkpoint), e))?;
        let conn = self.conn.as_mut().expect("opened above");
        cancellable(cancel, conn.query_drop("COMMIT"))
            .await
            .map_err(|e| self.fail(Operation::Commit, e))?;
        Ok(Loaded::Committed)
    }

    /// Ends the session politely.
    pub(super) async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.disconnect().await;
        }
    }

    /// The open connection, or a new one whose session is the copy's.
    async fn conn(
        &mut self,
        target: &BulkTarget,
        cancel: &CancellationToken,
    ) -> Result<&mut Conn, Error> {
        if self.conn.is_none() {
            let mut conn = cancellable(cancel, crate::adapter::client::connect(&target.url, &[]))
                .await
                .map_err(|e| down(Operation::Connect, e))?;
            // As the copy's sqlx sessions: without MariaDB's own SQL modes on a MySQL
            // target, which refuses them.
            match cancellable(cancel, conn.query_drop(target.session.as_str())).await {
                Ok(()) => {}
                Err(StatementError::Client(mysql_async::Error::Server(e)))
                    if e.code == codes::ER_WRONG_VALUE_FOR_VAR =>
                {
                    let session = crate::adapter::pool::without_mariadb_modes(&target.session);
                    cancellable(cancel, conn.query_drop(session.as_str()))
                        .await
                        .map_err(|e| down(Operation::Connect, e))?;
                }
                Err(e) => return Err(down(Operation::Connect, e)),
            }
            // As the copy's sqlx sessions: MariaDB's CHECK constraints are not
            // checked (a server without the variable is left alone).
            match cancellable(cancel, conn.query_drop("SET check_constraint_checks = 0")).await {
                Ok(()) => {}
                Err(StatementError::Client(mysql_async::Error::Server(e)))
                    if e.code == codes::ER_UNKNOWN_SYSTEM_VARIABLE => {}
                Err(e) => return Err(down(Operation::Connect, e)),
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }

    /// Rolls back the open transaction.
    async fn rollback(&mut self, cancel: &CancellationToken) -> Result<(), Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        cancellable(cancel, conn.query_drop("ROLLBACK"))
            .await
            .map_err(|e| self.fail(Operation::Execute("ROLLBACK"), e))
    }

    /// The error of a failed `op`; the connection is dropped (a new one is opened for
    /// the next chunk), which rolls back what it had not committed.
    fn fail(&mut self, op: Operation<'_>, e: StatementError) -> Error {
        self.conn = None;
        down(op, e)
    }
}

fn down(op: Operation<'_>, e: StatementError) -> Error {
    stmt_err(ErrScope::Downstream, op, e)
}

/// The server errors that say `LOCAL` is off: MariaDB's and MySQL 5.7's "command not
/// allowed" (1148), MySQL 8's "loading local data is disabled" (3948), and MariaDB's
/// 4166 (`ER_LOAD_INFILE_CAPABILITY_DISABLED`).
fn refuses_local(code: u16) -> bool {
    matches!(code, 1148 | 3948 | 4166)
}

/// The statement loading a chunk of `table`'s `written` columns (see the module's
/// docs). Separators are hex literals, so that no SQL mode (`NO_BACKSLASH_ESCAPES`)
/// changes them.
fn load_statement(table: &Table, written: &[usize], replace: bool) -> String {
    let vars = (0..written.len())
        .map(|j| format!("@c{j}"))
        .collect::<Vec<_>>()
        .join(",");
    let assignments = written
        .iter()
        .enumerate()
        .map(|(j, &i)| {
            let column = &table.columns[i];
            if column.writes_bytes() {
                format!("{} = @c{j}", ident(&column.name))
            } else if column.kind() == ValueKind::EnumOrSet {
                // The member's index (or the set's bits), read as `col + 0`: as a
                // number, never as text, which the server would read as a member's
                // name first (`ENUM('2','1')`).
                format!("{} = CAST(@c{j} AS UNSIGNED)", ident(&column.name))
            } else {
                format!("{} = CONVERT(@c{j} USING utf8mb4)", ident(&column.name))
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "LOAD DATA LOCAL INFILE 'chunk' {}INTO TABLE {} CHARACTER SET binary \
         FIELDS TERMINATED BY X'09' ENCLOSED BY '' ESCAPED BY X'5C' \
         LINES STARTING BY '' TERMINATED BY X'0A' ({vars}) SET {assignments}",
        if replace { "REPLACE " } else { "" },
        table.qualified(),
    )
}

/// `rows`' values of the columns `written`, a line per row, a tab between values:
/// NULL as `\N`, and a backslash, tab, newline or NUL byte in a value escaped with a
/// backslash.
fn encode(rows: &[MySqlRow], written: &[usize]) -> Vec<u8> {
    let mut data = Vec::with_capacity(rows.len() * written.len() * 8);
    for row in rows {
        for (j, &i) in written.iter().enumerate() {
            if j > 0 {
                data.push(b'\t');
            }
            let value: Option<&[u8]> = row.try_get_unchecked(i).unwrap_or(None);
            match value {
                None => data.extend_from_slice(b"\\N"),
                Some(v) => escape_into(v, &mut data),
            }
        }
        data.push(b'\n');
    }
    data
}

/// Appends `value` with the bytes the load reads specially escaped.
fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0 => b"\\0",
            _ => continue,
        };
        out.extend_from_slice(&value[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
}

/// The counts of a `LOAD DATA`'s reply: `Records: 3  Deleted: 0  Skipped: 0
/// Warnings: 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoadCounts {
    records: u64,
    skipped: u64,
    warnings: u64,
}

impl LoadCounts {
    fn parse(info: &str) -> Option<Self> {
        let count = |name: &str| -> Option<u64> {
            let rest = info.split(name).nth(1)?;
            rest.trim_start_matches([':', ' '])
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some(Self {
            records: count("Records")?,
            skipped: count("Skipped")?,
            warnings: count("Warnings")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::schema::Column;

    #[test]
    fn values_are_escaped_so_that_the_load_reads_them_back() {
        let mut out = Vec::new();
        escape_into(b"a\\b\tc\nd\0e\rf", &mut out);
        assert_eq!(out, b"a\\\\b\\tc\\nd\\0e\rf");
        out.clear();
        escape_into(b"", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn the_reply_counts_are_read() {
        assert_eq!(
            LoadCounts::parse("Records: 3  Deleted: 1  Skipped: 2  Warnings: 4"),
            Some(LoadCounts {
                records: 3,
                skipped: 2,
                warnings: 4
            })
        );
        assert_eq!(LoadCounts::parse(""), None);
    }

    #[test]
    fn bytes_go_as_they_are_and_text_as_utf8mb4() {
        let mut g = Column::new("g", "int");
        g.generated = Some(crate::catalog::schema::Generated::Stored);
        let table = Table {
            database: "d".into(),
            name: "t".into(),
            columns: vec![Column::new("id", "int"), Column::new("b", "blob"), g],
            key: vec![0],
            create: String::new(),
            engine: "InnoDB".into(),
            estimated_bytes: 0,
            estimated_rows: 0,
            system_versioned: false,
            hidden_hashes: 0,
        };
        let sql = load_statement(&table, &table.written(), false);
        assert!(
            sql.ends_with("(@c0,@c1) SET `id` = CONVERT(@c0 USING utf8mb4), `b` = @c1"),
            "{sql}"
        );
        assert!(
            sql.contains("INTO TABLE `d`.`t` CHARACTER SET binary"),
            "{sql}"
        );
        assert!(load_statement(&table, &table.written(), true).contains("'chunk' REPLACE INTO"));
    }
}
