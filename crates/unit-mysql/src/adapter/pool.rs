//! Connection pools and the sessions the units open on each side: the source's
//! (UTC, a neutral SQL mode, long sort keys) and the target's (UTC, the source's SQL
//! mode without the checks that refuse values it holds, no foreign key checks), and
//! closing a pool without waiting for ever; and whether a server answers at all
//! ([`reach`]).

use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::{MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::dsn::MySqlUrl;

/// The query [`target_session`] reads the source's SQL mode with.
pub(crate) const SOURCE_SQL_MODE: &str = "SELECT @@GLOBAL.sql_mode";

/// Why no connection reached a server (see [`reach`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unreachable {
    /// Nothing listens on the port, or a firewall rejects the connection.
    #[error(
        "the connection was refused (no server listens on that port, or a firewall rejects it)"
    )]
    Refused,
    /// No answer in time.
    #[error(
        "no answer within {0:?} (a firewall dropping the packets, or something on the port that accepts connections and never answers)"
    )]
    TimedOut(Duration),
    /// The host name does not resolve.
    #[error("the host name does not resolve ({0})")]
    UnknownHost(String),
    /// The connection failed otherwise before the server answered.
    #[error("the connection failed before the server answered ({0})")]
    Failed(String),
}

impl Unreachable {
    /// The reason `err`, met while connecting for at most `timeout`, says no server
    /// answered; `None` for a server's answer (a refused login, say), a TLS failure
    /// and the rest.
    pub(crate) fn of(err: &sqlx::Error, timeout: Duration) -> Option<Unreachable> {
        let sqlx::Error::Io(io) = err else {
            return None;
        };
        let text = io.to_string();
        // The TLS handshake failed (a certificate refused, no common protocol
        // version): the server answered, and no retry will change that. The driver
        // reports it as invalid data.
        if io.kind() == std::io::ErrorKind::InvalidData
            || text.contains(crate::adapter::classify::BAD_CERTIFICATE)
        {
            return None;
        }
        let unknown_host = [
            "failed to lookup address",
            "Name or service not known",
            "No address associated",
            "nodename nor servname",
            "Temporary failure in name resolution",
        ];
        Some(match io.kind() {
            std::io::ErrorKind::ConnectionRefused => Unreachable::Refused,
            std::io::ErrorKind::TimedOut => Unreachable::TimedOut(timeout),
            _ if unknown_host.iter().any(|t| text.contains(t)) => Unreachable::UnknownHost(text),
            _ => Unreachable::Failed(text),
        })
    }
}

/// Opens one connection to `url` within `timeout` and closes it: `Ok(None)` when the
/// server answered (and the URL is then marked reached), `Ok(Some(why))` when no
/// server did, and the driver's error when the server refused the connection (a
/// login refused, say) or TLS failed.
///
/// # Errors
/// The connection's failure, where a server answered.
pub(crate) async fn reach(
    url: &MySqlUrl,
    timeout: Duration,
) -> Result<Option<Unreachable>, sqlx::Error> {
    let options = url.connect_options();
    let connect = MySqlConnection::connect_with(&options);
    match tokio::time::timeout(timeout, connect).await {
        Err(_) => Ok(Some(Unreachable::TimedOut(timeout))),
        Ok(Ok(conn)) => {
            url.mark_reached();
            let _ = tokio::time::timeout(timeout, conn.close()).await;
            Ok(None)
        }
        Ok(Err(e)) => Unreachable::of(&e, timeout).map_or(Err(e), |why| Ok(Some(why))),
    }
}

/// Opens a pool whose sessions run `session` (a `SET ...` statement) first, and then
/// `SET check_constraint_checks = 0` where `relax_checks` (MariaDB's variable; a server
/// without it is left alone).
pub(crate) async fn open_pool(
    url: &MySqlUrl,
    size: u32,
    acquire_timeout: Duration,
    session: String,
    relax_checks: bool,
) -> Result<MySqlPool, sqlx::Error> {
    let session: Arc<str> = session.into();
    MySqlPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(acquire_timeout)
        .after_connect(move |conn, _| {
            let session = session.clone();
            Box::pin(async move {
                match conn.execute(&*session).await {
                    // A MySQL server refuses MariaDB's modes, which the session copies
                    // from a MariaDB source.
                    Err(e)
                        if crate::adapter::classify::server_error(&e).is_some_and(|d| {
                            d.number() == crate::adapter::codes::ER_WRONG_VALUE_FOR_VAR
                        }) && session.contains("sql_mode") =>
                    {
                        conn.execute(without_mariadb_modes(&session).as_str())
                            .await?;
                    }
                    other => {
                        other?;
                    }
                }
                if relax_checks {
                    match conn.execute("SET check_constraint_checks = 0").await {
                        Err(e)
                            if crate::adapter::classify::server_error(&e).is_some_and(|d| {
                                d.number() == crate::adapter::codes::ER_UNKNOWN_SYSTEM_VARIABLE
                            }) => {}
                        other => {
                            other?;
                        }
                    }
                }
                Ok(())
            })
        })
        .connect_with(url.connect_options())
        .await
}

/// SQL modes MariaDB knows and MySQL 8.0 and later refuse (1231): none changes how a
/// value is stored.
const MARIADB_ONLY_MODES: &[&str] = &[
    "NO_AUTO_CREATE_USER",
    "SIMULTANEOUS_ASSIGNMENT",
    "TIME_ROUND_FRACTIONAL",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "MSSQL",
    "DB2",
    "POSTGRESQL",
    "MAXDB",
    "MYSQL323",
    "MYSQL40",
];

/// `session` (a `SET ... sql_mode = '...'` statement) without [`MARIADB_ONLY_MODES`].
pub(crate) fn without_mariadb_modes(session: &str) -> String {
    let Some((head, rest)) = session.split_once("sql_mode = '") else {
        return session.to_owned();
    };
    let Some((modes, tail)) = rest.split_once('\'') else {
        return session.to_owned();
    };
    let kept: Vec<&str> = modes
        .split(',')
        .filter(|m| !MARIADB_ONLY_MODES.iter().any(|d| d.eq_ignore_ascii_case(m)))
        .collect();
    format!("{head}sql_mode = '{}'{tail}", kept.join(","))
}

/// The source's sessions: UTC, so TIMESTAMPs read as stored; no SQL mode that changes
/// how values are read (`PAD_CHAR_TO_FULL_LENGTH`) or how `SHOW CREATE` prints them;
/// the largest `max_sort_length`, so that ORDER BY orders long TEXT and BLOB keys by
/// their whole value.
pub(crate) const SOURCE_SESSION: &str = "SET time_zone = '+00:00', sql_mode = 'NO_ENGINE_SUBSTITUTION', \
     max_sort_length = 8388608";

/// SQL modes the copy never writes with: checks that refuse values the source holds
/// (zero or invalid dates, an ENUM's error value, values written before a stricter mode
/// was set), modes that change what a value means (`EMPTY_STRING_IS_NULL`) or how
/// statements parse (`ORACLE`, ...).
const DROPPED_MODES: &[&str] = &[
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "NO_ZERO_DATE",
    "NO_ZERO_IN_DATE",
    "TRADITIONAL",
    "EMPTY_STRING_IS_NULL",
    "PAD_CHAR_TO_FULL_LENGTH",
    "ORACLE",
    "MSSQL",
    "DB2",
    "POSTGRESQL",
    "MAXDB",
    "ANSI",
    "MYSQL323",
    "MYSQL40",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_AUTO_VALUE_ON_ZERO",
    "ALLOW_INVALID_DATES",
    "NO_ENGINE_SUBSTITUTION",
];

/// The SQL mode the target's sessions write with, from the source's global
/// `sql_mode`: the source's modes without the checks that refuse values (`STRICT_*`,
/// `NO_ZERO_DATE`, `NO_ZERO_IN_DATE`) and without the modes that change what a value
/// means or how statements parse (`EMPTY_STRING_IS_NULL`, `PAD_CHAR_TO_FULL_LENGTH`,
/// `ORACLE`, ...), plus
/// `NO_AUTO_VALUE_ON_ZERO` (a 0 in an AUTO_INCREMENT column stays 0),
/// `ALLOW_INVALID_DATES` (a date the source holds is stored as it is) and
/// `NO_ENGINE_SUBSTITUTION`. The target thus accepts every value the source holds;
/// that nothing was changed on the way is what each table's verification proves.
///
/// ```
/// # use unit_mysql::copy_sql_mode;
/// assert_eq!(
///     copy_sql_mode("STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE"),
///     "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION"
/// );
/// ```
pub fn copy_sql_mode(source_mode: &str) -> String {
    source_mode
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty() && !DROPPED_MODES.iter().any(|d| d.eq_ignore_ascii_case(m)))
        .chain([
            "NO_AUTO_VALUE_ON_ZERO",
            "ALLOW_INVALID_DATES",
            "NO_ENGINE_SUBSTITUTION",
        ])
        .collect::<Vec<_>>()
        .join(",")
}

/// The `SET` statement the target's sessions start with: UTC, the SQL mode from the
/// source's ([`copy_sql_mode`]), no foreign key checks.
///
/// # Errors
/// The source's failure to answer [`SOURCE_SQL_MODE`].
pub(crate) async fn target_session(
    source: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<String, StatementError> {
    let source_mode: String = cancellable(
        cancel,
        sqlx::query_scalar(SOURCE_SQL_MODE).fetch_one(source),
    )
    .await?;
    let mode = copy_sql_mode(&source_mode);
    info!(
        source = %source_mode,
        target = %mode,
        "the target writes with the source's sql_mode, without the checks that refuse values the source holds"
    );
    Ok(format!(
        "SET time_zone = '+00:00', sql_mode = '{}', foreign_key_checks = 0",
        mode.replace('\'', "")
    ))
}

/// The SQL mode a [`target_session`] statement sets.
pub(crate) fn session_sql_mode(session: &str) -> String {
    session
        .split_once("sql_mode = '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(mode, _)| mode.to_owned())
        .unwrap_or_default()
}

/// How long closing a pool may wait for its connections to come back.
const POOL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Closes `pool` gracefully, waiting at most [`POOL_CLOSE_TIMEOUT`]: a connection whose
/// statement was abandoned (a cancelled chunk) comes back to the pool asynchronously,
/// and sqlx's `close` can wait on it for ever. After the timeout the pool is dropped,
/// which closes what is left without waiting.
pub(crate) async fn close_pool(pool: MySqlPool) {
    if tokio::time::timeout(POOL_CLOSE_TIMEOUT, pool.close())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?POOL_CLOSE_TIMEOUT,
            "connections did not come back to the pool in time; dropping it"
        );
    }
}

/// Closes `pools` (see [`close_pool`]).
pub(crate) async fn close_pools(pools: [Option<MySqlPool>; 2]) {
    for pool in pools.into_iter().flatten() {
        close_pool(pool).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_targets_lose_only_mariadbs_own_modes() {
        let session = "SET time_zone = '+00:00', sql_mode = 'NO_AUTO_CREATE_USER,ANSI_QUOTES,SIMULTANEOUS_ASSIGNMENT,NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0";
        assert_eq!(
            without_mariadb_modes(session),
            "SET time_zone = '+00:00', sql_mode = 'ANSI_QUOTES,NO_AUTO_VALUE_ON_ZERO', foreign_key_checks = 0"
        );
    }
}
