//! What a failed statement was doing, and whether it may be sent again.

use std::fmt;

/// What was being done when an error happened; decides an adapter's catalogue code
/// for a failure and the [`RetrySafety`] of a lost connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation<'a> {
    /// Opening a connection (or acquiring one from a pool).
    Connect,
    /// `BEGIN` / starting a transaction.
    Begin,
    /// A statement that only reads, with its SQL text (placeholders, never values).
    Query(&'a str),
    /// A statement that writes, with its SQL text (placeholders, never values).
    Execute(&'a str),
    /// `COMMIT`.
    Commit,
}

impl Operation<'_> {
    /// Whether a statement whose connection died during this operation may be sent
    /// again: [`RetrySafety::Safe`] for opening a connection and `BEGIN` (nothing
    /// that changes data was in flight), [`RetrySafety::OutcomeUnknown`] for a
    /// statement or a `COMMIT`.
    ///
    /// ```
    /// use unit_sql::{Operation, RetrySafety};
    /// assert_eq!(Operation::Begin.lost_connection(), RetrySafety::Safe);
    /// assert_eq!(Operation::Commit.lost_connection(), RetrySafety::OutcomeUnknown);
    /// ```
    pub fn lost_connection(&self) -> RetrySafety {
        match self {
            Self::Connect | Self::Begin => RetrySafety::Safe,
            Self::Query(_) | Self::Execute(_) | Self::Commit => RetrySafety::OutcomeUnknown,
        }
    }

    /// The statement's text, if the operation has one.
    pub fn statement(&self) -> Option<&str> {
        match *self {
            Self::Query(sql) | Self::Execute(sql) => Some(sql),
            Self::Connect | Self::Begin | Self::Commit => None,
        }
    }
}

/// Whether a statement whose connection failed may be sent again as it is.
///
/// The counterpart of the Go driver's `driver.ErrBadConn` (nothing was sent; the
/// database/sql package retries on a new connection) versus `ErrInvalidConn` (the
/// connection broke mid-statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetrySafety {
    /// Nothing reached the server, or what did cannot have changed anything (a failed
    /// connect or `BEGIN`, a refused connection, a pool timeout): retry freely.
    Safe,
    /// The connection died while the statement was in flight: it may or may not have
    /// been applied. Retry only an idempotent statement, or one whose effect the
    /// caller can check (a checkpoint written in the same transaction).
    OutcomeUnknown,
}

impl fmt::Display for RetrySafety {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Safe => "safe to retry",
            Self::OutcomeUnknown => "outcome unknown",
        })
    }
}

/// A lost or unavailable connection, as sqlx reports it without a server error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionFailure {
    /// Whether the statement may be sent again.
    pub safety: RetrySafety,
    /// What happened, and why a new connection can succeed.
    pub reason: &'static str,
}

/// Whether `err` is a lost or unavailable connection among sqlx's own errors (a pool
/// timeout, a refused or broken connection, a reply cut short), with its retry safety
/// for `op`; `None` for a server's error and anything else. A TLS failure is not one:
/// it fails the same way every time.
///
/// ```
/// use unit_sql::{Operation, RetrySafety, connection_failure};
/// let lost = sqlx::Error::Io(std::io::Error::other("reset by peer"));
/// let failure = connection_failure(&lost, Operation::Commit).unwrap();
/// assert_eq!(failure.safety, RetrySafety::OutcomeUnknown);
/// assert!(connection_failure(&sqlx::Error::RowNotFound, Operation::Commit).is_none());
/// ```
pub fn connection_failure(err: &sqlx::Error, op: Operation<'_>) -> Option<ConnectionFailure> {
    use sqlx::Error as E;
    let (safety, reason) = match err {
        E::PoolTimedOut => (
            RetrySafety::Safe,
            "no pooled connection became free in time; nothing was sent",
        ),
        E::PoolClosed => (
            RetrySafety::Safe,
            "the connection pool was closed; a new run opens a new one",
        ),
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => (
            RetrySafety::Safe,
            "the server refused the connection; it may be restarting",
        ),
        E::Io(_) => (
            op.lost_connection(),
            "the connection was lost; a new connection can succeed",
        ),
        E::Protocol(_) => (
            op.lost_connection(),
            "the server sent something unexpected, as when it dies mid-reply",
        ),
        E::WorkerCrashed => (
            op.lost_connection(),
            "the driver's background worker stopped",
        ),
        _ => return None,
    };
    Some(ConnectionFailure { safety, reason })
}
