//! The crate's error ([`Error`]) and `Result`, and how an error becomes the
//! `ProcessError` a unit reports.

use unit_core::{ErrScope, ErrorCode};
use unit_proto::pb;

use crate::adapter::cancel::StatementError;
use crate::adapter::classify::Operation;
use crate::adapter::pool::Unreachable;
use crate::catalog::objects::ObjectKind;
use crate::catalog::schema::SchemaError;

/// The error of this crate's units: a statement that failed (with the side and the
/// operation), a schema that cannot be migrated, a difference found by verification,
/// a conflicting target object, or a defect of the unit itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A database operation failed.
    #[error("{} {op}: {source}", scope.as_str())]
    Statement {
        /// Which server.
        scope: ErrScope,
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
    /// An online copy (or replication) from a source whose binary logging is off: no
    /// retry gives it a position to replicate from.
    #[error(
        "binary logging is off on the source (log_bin): there is no position to replicate from; turn it on (log_bin, binlog_format=ROW, binlog_row_image=FULL) and restart the source, or copy without replication (mode full)"
    )]
    NoBinlog,
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
    /// XA transactions were prepared on the source and not ended when the copy took
    /// its position: their rows are in no snapshot (not committed) and before the
    /// position in the binlog (written at the prepare), so they would be lost.
    #[error(
        "XA transaction {xids} is prepared on the source and neither committed nor rolled back: its rows are neither in the copy nor after its binlog position; end it on the source (XA COMMIT or XA ROLLBACK), then start the copy again"
    )]
    SourceXaPrepared {
        /// The xids, as the binlog writes them.
        xids: String,
    },
    /// The source refused to list its prepared XA transactions (MySQL 8.0.19 and later
    /// need `XA_RECOVER_ADMIN`): whether one would be lost cannot be told.
    #[error(
        "the source refused XA RECOVER ({reason}): whether an XA transaction prepared there would be lost cannot be told; grant the task's user XA_RECOVER_ADMIN (MySQL 8.0.19 and later)"
    )]
    XaRecoverRefused {
        /// The server's refusal.
        reason: String,
    },
    /// No connection reached a server: refused, timed out, or its host name unknown.
    /// Never reached before by the task (in this process): a setting to correct (code
    /// 60014, never resumed); reached before: an outage, a lost connection (10002)
    /// that auto-resume waits out.
    #[error("the {} server {server} cannot be reached: {cause}", side(*scope))]
    Unreachable {
        /// Which server.
        scope: ErrScope,
        /// Its URL, the password masked.
        server: String,
        /// Why.
        cause: Unreachable,
        /// Whether the task had reached it before.
        reached_before: bool,
    },
    /// A defect of the unit, not of the data or the servers: a task of the unit
    /// panicked or was cancelled by the runtime. Never resumed (code 60013): a retry
    /// would most likely meet it again.
    #[error("internal error: {detail}")]
    Internal {
        /// What failed.
        detail: String,
    },
}

/// The side of `scope` in words.
fn side(scope: ErrScope) -> &'static str {
    match scope {
        ErrScope::Upstream => "source",
        ErrScope::Downstream => "target",
        _ => "database",
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

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

/// The [`Error::Statement`] of `op` on the `scope` side.
pub(crate) fn stmt_err(scope: ErrScope, op: Operation<'_>, source: StatementError) -> Error {
    let (kind, what) = match op {
        Operation::Query(sql) => (OpKind::Query, unit_sql::summarize_statement(sql)),
        Operation::Execute(sql) => (OpKind::Execute, unit_sql::summarize_statement(sql)),
        Operation::Begin => (OpKind::Begin, "BEGIN".to_owned()),
        Operation::Commit => (OpKind::Commit, "COMMIT".to_owned()),
        _ => (OpKind::Connect, "connect".to_owned()),
    };
    Error::Statement {
        scope,
        kind,
        op: what,
        source,
    }
}

impl Error {
    /// The server's error number, when the server refused a statement.
    pub fn server_number(&self) -> Option<u16> {
        match self {
            Error::Statement {
                source: StatementError::Sqlx(e),
                ..
            } => crate::adapter::classify::server_error(e).map(|d| d.number()),
            _ => None,
        }
    }
}

/// A task of a unit that panicked or was cancelled by the runtime (`what` names it).
pub(crate) fn internal(what: &str, join: &tokio::task::JoinError) -> Error {
    Error::Internal {
        detail: format!("{what} failed: {join}"),
    }
}

/// The `ProcessError` a unit reports for `err`, with its DM code.
pub(crate) fn process_error_of(err: &Error) -> pb::ProcessError {
    match err {
        Error::Statement {
            scope,
            kind,
            source,
            op,
        } => {
            let op = match kind {
                OpKind::Connect => Operation::Connect,
                OpKind::Begin => Operation::Begin,
                OpKind::Query => Operation::Query(op),
                OpKind::Execute => Operation::Execute(op),
                OpKind::Commit => Operation::Commit,
            };
            source.process_error(*scope, op)
        }
        Error::Mismatch { .. } => unit_core::new_process_error(&unit_core::Error::generate(
            &ErrorCode::COPY_VERIFY_MISMATCH,
            &[err],
        )),
        Error::DifferentTable { table } => {
            unit_core::new_process_error(&unit_core::Error::generate(
                &ErrorCode::COPY_TABLE_CONFLICT,
                &[&format!("table {table}")],
            ))
        }
        Error::DifferentObject { kind, object } => {
            unit_core::new_process_error(&unit_core::Error::generate(
                &ErrorCode::COPY_TABLE_CONFLICT,
                &[&format!("{kind} {object}")],
            ))
        }
        Error::NoPosition { .. }
        | Error::NoBinlog
        | Error::SchemaChanged { .. }
        | Error::SourceXaPrepared { .. }
        | Error::XaRecoverRefused { .. } => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_UNSUPPORTED, &[err]),
        ),
        Error::Schema(SchemaError::NoKey(table)) => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_NO_KEY, &[table]),
        ),
        Error::Schema(e @ SchemaError::Unsupported { .. }) => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::COPY_UNSUPPORTED, &[e]),
        ),
        Error::Unreachable {
            scope,
            reached_before: true,
            ..
        } => crate::adapter::process_error::build_process_error(
            &ErrorCode::DB_BAD_CONN,
            format!("driver: bad connection ({err})"),
            *scope,
            Operation::Connect,
        ),
        Error::Unreachable { scope, .. } => unit_core::new_process_error(
            &unit_core::Error::generate(&ErrorCode::SERVER_UNREACHABLE, &[err]).with_scope(*scope),
        ),
        Error::Internal { detail } => unit_core::new_process_error(&unit_core::Error::generate(
            &ErrorCode::UNIT_INTERNAL,
            &[detail],
        )),
        Error::Schema(SchemaError::Sqlx(e)) => crate::adapter::process_error::process_error(
            e,
            ErrScope::Upstream,
            Operation::Query("information_schema"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy task that panicked is a defect of the unit: reported as such (60013),
    /// never as a lost connection that auto-resume would retry. (It was reported as a
    /// driver protocol error on a connect, which reads as a bad connection.)
    #[tokio::test]
    async fn a_panicked_task_is_an_internal_error_never_resumed() {
        let join = tokio::spawn(async { panic!("index out of bounds") })
            .await
            .expect_err("the task panicked");
        let err = internal("a copy task", &join);
        assert!(
            err.to_string().contains("a copy task failed") && err.to_string().contains("panic"),
            "{err}"
        );
        let pe = process_error_of(&err);
        assert_eq!(pe.err_code, ErrorCode::UNIT_INTERNAL.code);
        let verdict = unit_core::Policy::explain(&unit_core::Recommended, &pe);
        assert!(!verdict.is_resumable(), "{verdict}");
        // What it used to be reported as: a resumable driver error.
        let before = crate::adapter::process_error::process_error(
            &sqlx::Error::Protocol(format!("copy task failed: {join}")),
            ErrScope::Downstream,
            Operation::Connect,
        );
        let verdict = unit_core::Policy::explain(&unit_core::Recommended, &before);
        assert!(verdict.is_resumable(), "{verdict}");
    }

    #[test]
    fn a_statement_error_keeps_its_side_and_operation() {
        let err = stmt_err(
            ErrScope::Upstream,
            Operation::Query("SELECT * FROM shop.orders WHERE id > 5"),
            StatementError::Sqlx(sqlx::Error::PoolTimedOut),
        );
        let Error::Statement {
            scope, kind, op, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*scope, *kind), (ErrScope::Upstream, OpKind::Query));
        assert!(op.starts_with("SELECT"), "{op}");
        assert!(err.to_string().starts_with("upstream "), "{err}");
        let pe = process_error_of(&err);
        assert_eq!(pe.err_scope, "upstream");
    }
}
