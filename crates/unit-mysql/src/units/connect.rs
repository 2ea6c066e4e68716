//! Connecting a unit to its two servers: a pool opened only once one connection shows
//! that the server answers, and a lost connection explained by why the server does not
//! answer now ([`Error::Unreachable`]).

use std::time::Duration;

use sqlx::mysql::MySqlPool;
use tokio_util::sync::CancellationToken;
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::adapter::dsn::MySqlUrl;
use crate::adapter::pool::{SOURCE_SESSION, SOURCE_SQL_MODE, open_pool, reach, target_session};
use crate::error::{Error, stmt_err};
use crate::units::task::TaskConfig;

/// Opens a pool of `size` on the task's source, its sessions [`SOURCE_SESSION`]'s.
///
/// # Errors
/// As [`open_side`].
pub(crate) async fn open_source(
    config: &TaskConfig,
    size: u32,
    cancel: &CancellationToken,
) -> Result<MySqlPool, Error> {
    let session = SOURCE_SESSION.to_owned();
    let timeout = config.acquire_timeout;
    open_side(
        ErrScope::Upstream,
        &config.source,
        size,
        timeout,
        session,
        false,
        cancel,
    )
    .await
}

/// The `SET` statement the target's sessions start with, from `source`'s SQL mode
/// (see [`target_session`]).
///
/// # Errors
/// The source's failure to answer.
pub(crate) async fn target_session_of(
    source: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<String, Error> {
    target_session(source, cancel)
        .await
        .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(SOURCE_SQL_MODE), e))
}

/// Opens a pool of `size` on the task's target, its sessions starting with
/// `session` (from [`target_session_of`]).
///
/// # Errors
/// As [`open_side`].
pub(crate) async fn open_target(
    config: &TaskConfig,
    size: u32,
    session: String,
    cancel: &CancellationToken,
) -> Result<MySqlPool, Error> {
    let timeout = config.acquire_timeout;
    open_side(
        ErrScope::Downstream,
        &config.target,
        size,
        timeout,
        session,
        true,
        cancel,
    )
    .await
}

/// Opens a pool on the `scope` side's `url` (see [`open_pool`]) once one connection
/// shows the server answers: a server that does not is [`Error::Unreachable`],
/// saying why and whether it was reached before.
///
/// # Errors
/// [`Error::Unreachable`], or the connection's or the session's failure.
async fn open_side(
    scope: ErrScope,
    url: &MySqlUrl,
    size: u32,
    acquire_timeout: Duration,
    session: String,
    relax_checks: bool,
    cancel: &CancellationToken,
) -> Result<MySqlPool, Error> {
    let reached_before = url.reached();
    let connect_err = |e| stmt_err(scope, Operation::Connect, e);
    if let Some(cause) = cancellable(cancel, reach(url, acquire_timeout))
        .await
        .map_err(connect_err)?
    {
        return Err(Error::Unreachable {
            scope,
            server: url.to_string(),
            cause,
            reached_before,
        });
    }
    cancellable(
        cancel,
        open_pool(url, size, acquire_timeout, session, relax_checks),
    )
    .await
    .map_err(connect_err)
}

/// `err`, or where it is a connection of `source` or `target` lost or never given
/// (the pool timed out, the connection dropped) and the server does not answer now,
/// [`Error::Unreachable`] saying why: an outage with its cause rather than a pool's
/// timeout.
pub(crate) async fn explain_lost(
    err: Error,
    source: &MySqlUrl,
    target: &MySqlUrl,
    timeout: Duration,
) -> Error {
    let Error::Statement {
        scope,
        source: StatementError::Sqlx(e),
        ..
    } = &err
    else {
        return err;
    };
    let (scope, url) = match scope {
        ErrScope::Upstream => (*scope, source),
        ErrScope::Downstream => (*scope, target),
        _ => return err,
    };
    if !matches!(
        e,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Protocol(_)
    ) {
        return err;
    }
    match reach(url, timeout).await {
        Ok(Some(cause)) => Error::Unreachable {
            scope,
            server: url.to_string(),
            cause,
            reached_before: url.reached(),
        },
        _ => err,
    }
}

/// How many more connections the server of `pool` (the `scope` side) accepts while a
/// tenth of its `max_connections` (at least 3) stays free for its other clients: a
/// task must never lock the application out.
///
/// # Errors
/// The queries' failures.
pub(crate) async fn connection_room(
    pool: &MySqlPool,
    scope: ErrScope,
    cancel: &CancellationToken,
) -> Result<u64, Error> {
    let max_sql = "SELECT CAST(@@max_connections AS UNSIGNED)";
    let max: u64 = cancellable(cancel, sqlx::query_scalar(max_sql).fetch_one(pool))
        .await
        .map_err(|e| stmt_err(scope, Operation::Query(max_sql), e))?;
    let status_sql = "SHOW GLOBAL STATUS LIKE 'Threads_connected'";
    let row = cancellable(cancel, sqlx::query(status_sql).fetch_one(pool))
        .await
        .map_err(|e| stmt_err(scope, Operation::Query(status_sql), e))?;
    let value: Vec<u8> = sqlx::Row::try_get::<Vec<u8>, _>(&row, 1)
        .or_else(|_| sqlx::Row::try_get::<String, _>(&row, 1).map(String::into_bytes))
        .map_err(|e| stmt_err(scope, Operation::Query(status_sql), StatementError::Sqlx(e)))?;
    let connected: u64 = String::from_utf8_lossy(&value)
        .trim()
        .parse()
        .unwrap_or(max);
    let reserve = (max / 10).max(3);
    Ok(max.saturating_sub(connected).saturating_sub(reserve))
}
