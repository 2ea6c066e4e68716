//! The XA transactions a server holds prepared (`XA RECOVER`), by their xids as the
//! binlog writes them (`X'gtrid',X'bqual',formatID`).

use sqlx::{Executor, MySqlPool, Row};
use tokio_util::sync::CancellationToken;
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::{Operation, server_error};
use crate::error::{Error, stmt_err};

/// `ER_SPECIFIC_ACCESS_DENIED_ERROR` and `ER_XAER_RMERR`: how a server without
/// `XA_RECOVER_ADMIN` (MySQL 8.0.19 and later) refuses `XA RECOVER`.
const XA_RECOVER_REFUSED: [u16; 2] = [1227, 1399];

/// The xids `pool`'s server holds prepared, sorted, as the binlog writes them.
///
/// # Errors
/// The query's failure.
pub(crate) async fn prepared_xids(pool: &MySqlPool) -> Result<Vec<String>, sqlx::Error> {
    // As a plain query: MySQL does not take `XA RECOVER` as a prepared statement (1295).
    let rows: Vec<(i64, i64, i64, Vec<u8>)> = pool
        .fetch_all("XA RECOVER")
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let mut xids: Vec<String> = rows
        .iter()
        .map(|(format_id, gtrid, _, data)| xid_text(*format_id, *gtrid, data))
        .collect();
    xids.sort();
    Ok(xids)
}

/// [`prepared_xids`] of the source: a refusal for want of privilege is
/// [`Error::XaRecoverRefused`] (no retry makes the server list them), any other failure
/// the statement's error, classified as usual.
pub(crate) async fn source_prepared_xids(
    source: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<Vec<String>, Error> {
    match cancellable(cancel, prepared_xids(source)).await {
        Ok(xids) => Ok(xids),
        Err(StatementError::Sqlx(e))
            if server_error(&e).is_some_and(|d| XA_RECOVER_REFUSED.contains(&d.number())) =>
        {
            Err(Error::XaRecoverRefused {
                reason: unit_sql::redact(&e.to_string()),
            })
        }
        Err(e) => Err(stmt_err(
            ErrScope::Upstream,
            Operation::Query("XA RECOVER"),
            e,
        )),
    }
}

/// An xid of `XA RECOVER`'s columns as the binlog writes it.
fn xid_text(format_id: i64, gtrid_length: i64, data: &[u8]) -> String {
    let split = usize::try_from(gtrid_length).unwrap_or(0).min(data.len());
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    format!(
        "X'{}',X'{}',{format_id}",
        hex(&data[..split]),
        hex(&data[split..])
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn xids_are_written_as_the_binlog_writes_them() {
        assert_eq!(super::xid_text(1, 2, b"k1b"), "X'6B31',X'62',1");
        assert_eq!(super::xid_text(0, 9, b"x"), "X'78',X'',0");
    }
}
