//! Running a statement under a cancellation token.

use tokio_util::sync::CancellationToken;
use unit_core::Canceled;

/// A statement run by [`cancellable`]: abandoned when the token fired, or failed with
/// the driver's error `E`.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted<E> {
    /// The cancellation token fired first; the statement was abandoned. Its source is
    /// [`Canceled`], so that [`new_process_error`](unit_core::new_process_error)
    /// reports DM's `context canceled`.
    #[error("statement abandoned")]
    Canceled(#[source] Canceled),
    /// The driver or the server reported an error.
    #[error(transparent)]
    Failed(E),
}

/// Runs a database future unless `cancel` fires first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio_util::sync::CancellationToken;
/// use unit_sql::{Interrupted, cancellable};
///
/// let cancel = CancellationToken::new();
/// cancel.cancel();
/// let never = std::future::pending::<Result<(), std::io::Error>>();
/// assert!(matches!(cancellable(&cancel, never).await, Err(Interrupted::Canceled(_))));
/// # }
/// ```
///
/// # Cancel safety
/// When the token fires, the database future is dropped mid-flight. The server may
/// still be running the statement, and the connection it used is in an unknown state:
/// close it (or let the pool discard it) rather than reuse it, and cancel the statement
/// from another connection (`KILL QUERY`, `pg_cancel_backend`) if it must stop on the
/// server too. A transaction left open on that connection is never committed.
///
/// # Errors
/// [`Interrupted::Canceled`] when the token fired first, otherwise the future's own
/// error as [`Interrupted::Failed`].
pub async fn cancellable<T, E>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, Interrupted<E>> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(Interrupted::Canceled(Canceled)),
        result = fut => result.map_err(Interrupted::Failed),
    }
}
