//! Running a statement under a cancellation token.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use unit_core::{ErrScope, Verdict, new_process_error};
use unit_proto::pb;

use crate::adapter::classify::{Operation, explain_mysql_error};
use crate::adapter::process_error::process_error;

/// A database operation that failed or was abandoned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The cancellation token fired first; the statement was abandoned.
    #[error("statement abandoned")]
    Canceled(#[source] unit_core::Canceled),
    /// The driver or the server reported an error.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// mysql_async (the copy's `LOAD DATA LOCAL INFILE` connection) or the server
    /// reported an error.
    #[cfg(feature = "local-infile")]
    #[error(transparent)]
    Client(#[from] mysql_async::Error),
}

impl StatementError {
    /// Whether retrying may succeed, and why; a cancelled statement is not resumable.
    pub fn explain(&self) -> Verdict {
        match self {
            Self::Canceled(c) => unit_core::explain_db_error(c),
            Self::Sqlx(e) => explain_mysql_error(e),
            #[cfg(feature = "local-infile")]
            Self::Client(e) => crate::adapter::client::explain(e),
        }
    }

    /// The `ProcessError` to report; for a cancellation, `Message` is
    /// `context canceled` so that
    /// [`is_ctx_canceled_process_err`](unit_core::is_ctx_canceled_process_err) holds.
    pub fn process_error(&self, scope: ErrScope, op: Operation<'_>) -> pb::ProcessError {
        match self {
            Self::Canceled(c) => {
                let mut pe = new_process_error(c);
                pe.err_scope = scope.as_str().to_owned();
                pe
            }
            Self::Sqlx(e) => process_error(e, scope, op),
            #[cfg(feature = "local-infile")]
            Self::Client(e) => crate::adapter::client::process_error(e, scope, op),
        }
    }
}

/// Runs a database future unless `cancel` fires first.
///
/// # Cancel safety
/// When the token fires, the database future is dropped mid-flight. The server may
/// still be running the statement, and the connection it used is in an unknown state:
/// close it (or let the pool discard it) rather than reuse it, and `KILL QUERY` from
/// another connection if the statement must stop on the server too.
///
/// # Errors
/// [`StatementError::Canceled`] when the token fired first, otherwise the future's
/// own error.
pub async fn cancellable<T, E>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, StatementError>
where
    StatementError: From<E>,
{
    unit_sql::cancellable(cancel, fut)
        .await
        .map_err(|e| match e {
            unit_sql::Interrupted::Canceled(c) => StatementError::Canceled(c),
            unit_sql::Interrupted::Failed(e) => StatementError::from(e),
        })
}
