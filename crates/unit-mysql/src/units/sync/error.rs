//! The Sync unit's error ([`SyncError`]) and the `ProcessError` each becomes.

use unit_core::{ErrScope, ErrorCode};
use unit_proto::pb;

use super::stream::StreamError;
use crate::adapter::classify::Operation;
use crate::catalog::position::BinlogPosition;
use crate::error::{Error, process_error_of};

/// A failure of the Sync unit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A statement on the source or target failed, or the tables differ at cutover.
    #[error(transparent)]
    Task(#[from] Error),
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
    /// The target has triggers on selected tables: they would fire on every applied
    /// change while the rows they write on the source arrive as changes of their own.
    #[error(
        "the target has {triggers} on selected tables: each would fire on every replicated change; drop them (the Sync unit creates the source's triggers at cutover)"
    )]
    TargetTriggers {
        /// The triggers, as `trigger name on db.table`.
        triggers: String,
    },
    /// The source's position moved after the cutover had applied and verified
    /// everything up to it.
    #[error("the cutover applied and verified up to {at}, but the source is now at {now}")]
    SourceNotStopped {
        /// The cutover's final position.
        at: BinlogPosition,
        /// The source's position after verifying.
        now: BinlogPosition,
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

pub(super) fn sync_process_error(err: &SyncError) -> pb::ProcessError {
    let generate = |code: &'static ErrorCode, args: &[&dyn std::fmt::Display]| {
        unit_core::new_process_error(&unit_core::Error::generate(code, args))
    };
    match err {
        SyncError::Task(e) => process_error_of(e),
        // An event that cannot be decoded is decoded no better by a retry.
        SyncError::Stream {
            position,
            source: StreamError::Decode(e),
        } => generate(&ErrorCode::SYNC_UNSUPPORTED_EVENT, &[position, e]),
        // Nor an event over the stream's limit.
        SyncError::Stream {
            position,
            source: e @ StreamError::TooLarge,
        } => generate(&ErrorCode::SYNC_UNSUPPORTED_EVENT, &[position, e]),
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
            let mut pe = crate::adapter::process_error::process_error(
                source,
                ErrScope::Downstream,
                Operation::Execute(statement),
            );
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
            pe.raw_cause =
                crate::adapter::classify::go_driver_text(source, Operation::Execute(statement));
            pe
        }
        SyncError::Unsupported { at, detail } => {
            generate(&ErrorCode::SYNC_UNSUPPORTED_EVENT, &[at, detail])
        }
        SyncError::NoPosition { .. } => generate(&ErrorCode::CHECK_FAILED, &[err]),
        SyncError::TargetTriggers { .. } => generate(&ErrorCode::COPY_UNSUPPORTED, &[err]),
        SyncError::SourceNotStopped { .. } => generate(&ErrorCode::SYNC_SOURCE_NOT_STOPPED, &[err]),
    }
}
