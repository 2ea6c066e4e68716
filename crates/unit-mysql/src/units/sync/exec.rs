//! Running row statements on a target connection: the packet limit, statements sent
//! together, rows affected checked against what each statement must match, and the
//! server's answer turned into a [`SyncError`] (a duplicate key or a missing row is a
//! conflict; another server error an apply error; the rest the connection's).

use sqlx::Executor;
use unit_core::ErrScope;

use super::SyncError;
use super::plan::{RowStatement, change_statements, insert_statements, key_condition};
use super::stream::{RowImage, RowsKind};
use crate::adapter::cancel::StatementError;
use crate::adapter::classify::Operation;
use crate::catalog::schema::Table;
use crate::error::stmt_err;

/// What a conflict's message adds about its likely cause.
const TARGET_OBJECTS: &str = " (written on the target by something other than this task: \
     an application, or a trigger, event or foreign-key cascade on the target)";

/// What a target connection that applies row changes learned when it started
/// ([`start_session`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    /// The target's `max_allowed_packet`.
    pub(super) max_packet: usize,
    /// Its transactions run in READ COMMITTED (else REPEATABLE READ: the target's
    /// binary log is on in STATEMENT format, which InnoDB refuses under READ COMMITTED).
    pub(super) read_committed: bool,
}

/// Starts a target connection that applies row changes, whatever an earlier use of it
/// (a pooled connection) left set: foreign key checks off (the binlog's row images
/// already hold what cascades did), and READ COMMITTED where the target's binary log
/// allows it. Row changes are applied by key and read nothing but the rows they
/// write, so the isolation level changes no outcome; it leaves out the gap locks of
/// REPEATABLE READ, with which a transaction that stays open (a worker's, or an XA
/// transaction prepared on the target until the source commits it) can hold back
/// changes that did not wait for one another on the source: lock waits, then 1205
/// on every resume.
///
/// # Errors
/// The statement that failed, and why.
pub(super) async fn start_session(
    conn: &mut sqlx::mysql::MySqlConnection,
) -> Result<Session, (Operation<'static>, sqlx::Error)> {
    const ASK: &str =
        "SELECT @@max_allowed_packet, @@log_bin = 0 OR @@session.binlog_format <> 'STATEMENT'";
    let (max_packet, read_committed): (u64, i64) = sqlx::query_as(ASK)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| (Operation::Query(ASK), e))?;
    let set = if read_committed != 0 {
        "SET foreign_key_checks = 0; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
    } else {
        "SET foreign_key_checks = 0; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
    };
    conn.execute(set)
        .await
        .map_err(|e| (Operation::Execute(set), e))?;
    Ok(Session {
        max_packet: usize::try_from(max_packet).unwrap_or(usize::MAX),
        read_committed: read_committed != 0,
    })
}

/// A target connection that row statements run on, with its packet limit.
pub(super) struct Applier<'c> {
    pub(super) conn: &'c mut sqlx::mysql::MySqlConnection,
    /// The target's `max_allowed_packet`.
    pub(super) max_packet: usize,
}

impl Applier<'_> {
    /// Runs a row statement (`what` names it: `insert of db.t`; `at` the event);
    /// its rows affected (matched).
    pub(super) async fn exec(
        &mut self,
        sql: &str,
        what: &str,
        at: &(dyn Fn() -> String + Sync),
    ) -> Result<u64, SyncError> {
        // Large values travel as their bytes (bound parameters), small ones as hex.
        let (text, binds) = super::value::bind_large_literals(sql);
        let size = text.len() + binds.iter().map(|b| b.len() + 9).sum::<usize>();
        // Headroom for the packet header and the server's own accounting.
        if size.saturating_add(1024) > self.max_packet {
            return Err(SyncError::Unsupported {
                at: at(),
                detail: format!(
                    "{what}: the statement takes {size} bytes, more than the target's \
                     max_allowed_packet ({} bytes): raise max_allowed_packet on the target",
                    self.max_packet
                ),
            });
        }
        let done = if binds.is_empty() {
            self.conn.execute(sql).await
        } else {
            let mut query = sqlx::query(&text).persistent(false);
            for value in binds {
                query = query.bind(value);
            }
            query.execute(&mut *self.conn).await
        };
        done.map(|done| done.rows_affected())
            .map_err(|e| statement_failed(e, sql, what, at()))
    }

    /// Runs row statements, each shorter than a statement with a bound value, in as
    /// few round trips as the packet limit allows (several statements to a query);
    /// checks each statement's rows affected against its [`RowStatement::expect`].
    ///
    /// `described(i)` names statement `i` and its event (`what`, `at`); `missing(i,
    /// verb, at)` is the error of a statement that should have matched one row.
    pub(super) async fn exec_all(
        &mut self,
        statements: &[RowStatement],
        described: &(dyn Fn(usize) -> (String, String) + Sync),
        missing: &(dyn Fn(usize, &'static str, String) -> SyncError + Sync),
    ) -> Result<(), SyncError> {
        let mut i = 0;
        while i < statements.len() {
            // The statements [i, j) travel together.
            let mut j = i;
            let mut size = 1024;
            while j < statements.len() {
                let len = statements[j].sql.len() + 1;
                let small = len < super::value::BIND_FROM * 2;
                if j > i && (!small || size + len > self.max_packet) {
                    break;
                }
                size += len;
                j += 1;
                if !small {
                    break;
                }
            }
            let affected = if j == i + 1 {
                let (what, at) = described(i);
                vec![self.exec(&statements[i].sql, &what, &|| at.clone()).await?]
            } else {
                self.exec_together(&statements[i..j], &|k| described(i + k))
                    .await?
            };
            for (k, rows) in affected.into_iter().enumerate() {
                let statement = &statements[i + k];
                if let Some((verb, n)) = statement.expect {
                    if rows != n {
                        let (_, at) = described(i + k);
                        return Err(missing(i + k, verb, at));
                    }
                }
            }
            i = j;
        }
        Ok(())
    }

    /// One query of several statements; their rows affected.
    async fn exec_together(
        &mut self,
        statements: &[RowStatement],
        described: &(dyn Fn(usize) -> (String, String) + Sync),
    ) -> Result<Vec<u64>, SyncError> {
        use futures_util::TryStreamExt;
        let text = statements
            .iter()
            .map(|s| s.sql.as_str())
            .collect::<Vec<_>>()
            .join(";\n");
        let mut affected = Vec::with_capacity(statements.len());
        let mut results = self.conn.fetch_many(text.as_str());
        loop {
            match results.try_next().await {
                Ok(Some(sqlx::Either::Left(done))) => affected.push(done.rows_affected()),
                Ok(Some(sqlx::Either::Right(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    // The server stops at the statement that failed.
                    let k = affected.len().min(statements.len() - 1);
                    let (what, at) = described(k);
                    return Err(statement_failed(e, &statements[k].sql, &what, at));
                }
            }
        }
        if affected.len() != statements.len() {
            let (what, at) = described(0);
            return Err(SyncError::Unsupported {
                at,
                detail: format!(
                    "{what}: {} statements sent together answered {} results",
                    statements.len(),
                    affected.len()
                ),
            });
        }
        Ok(affected)
    }

    /// Inserts (or, `safe`, replaces) row images of `table`, in as few statements as
    /// the target's packet limit allows.
    pub(super) async fn insert(
        &mut self,
        table: &Table,
        images: &[&RowImage],
        safe: bool,
        at: &(dyn Fn() -> String + Sync),
    ) -> Result<(), SyncError> {
        let what = format!("insert of {}", table.display_name());
        let statements = insert_statements(table, images, safe, self.max_packet).map_err(|e| {
            SyncError::Unsupported {
                at: at(),
                detail: e.to_string(),
            }
        })?;
        for sql in statements {
            self.exec(&sql, &what, at).await?;
        }
        Ok(())
    }
}

/// The error of a row statement (`what`, at the event `at`): a duplicate key is a
/// conflict, another server error an apply error, the rest the connection's.
fn statement_failed(e: sqlx::Error, sql: &str, what: &str, at: String) -> SyncError {
    let Some(server) = crate::adapter::classify::server_error(&e) else {
        return SyncError::Task(stmt_err(
            ErrScope::Downstream,
            Operation::Execute(&unit_sql::summarize_statement(sql)),
            StatementError::Sqlx(e),
        ));
    };
    if server.number() == crate::adapter::codes::ER_DUP_ENTRY {
        let message = server.message().to_owned();
        return SyncError::Conflict {
            at,
            detail: format!(
                "{what}: {message}: the target already has a row with this key{TARGET_OBJECTS}"
            ),
        };
    }
    SyncError::Apply {
        at,
        statement: unit_sql::summarize_statement(sql),
        source: e,
    }
}

/// Applies a delete or an update of one row of `table` (see [`change_statements`]).
pub(super) async fn apply_change(
    applier: &mut Applier<'_>,
    table: &Table,
    kind: RowsKind,
    before: Option<&RowImage>,
    after: Option<&RowImage>,
    safe: bool,
    at: &(dyn Fn() -> String + Sync),
) -> Result<(), SyncError> {
    let Some(before) = before else {
        return Ok(());
    };
    let statements = change_statements(table, kind, Some(before), after, safe).map_err(|e| {
        SyncError::Unsupported {
            at: at(),
            detail: e.to_string(),
        }
    })?;
    let verb = if kind == RowsKind::Delete {
        "delete"
    } else {
        "update"
    };
    let what = format!("{verb} of {}", table.display_name());
    for statement in statements {
        let rows = applier.exec(&statement.sql, &what, at).await?;
        if let Some((verb, n)) = statement.expect {
            if rows != n {
                return Err(missing_row(table, before, verb, at()));
            }
        }
    }
    Ok(())
}

/// [`missing_row`] for a statement that deleted `rows` by key: some were not there.
pub(super) fn missing_rows(table: &Table, rows: &[&RowImage], at: String) -> SyncError {
    let keys: Vec<String> = rows
        .iter()
        .take(10)
        .map(|r| key_condition(table, r).unwrap_or_default())
        .collect();
    SyncError::Conflict {
        at,
        detail: format!(
            "delete of {}: the target lacks some of the {} rows deleted by key together ({}{}){TARGET_OBJECTS}",
            table.display_name(),
            rows.len(),
            keys.join("; "),
            if rows.len() > 10 { "; ..." } else { "" }
        ),
    }
}

pub(super) fn missing_row(table: &Table, before: &RowImage, verb: &str, at: String) -> SyncError {
    SyncError::Conflict {
        at,
        detail: format!(
            "{verb} of {}: the target has no row with key {}{TARGET_OBJECTS}",
            table.display_name(),
            key_condition(table, before).unwrap_or_default()
        ),
    }
}
