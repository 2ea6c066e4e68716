//! Classifying sqlx errors: by server error number, with DM's text rules as fallback.

use sqlx::mysql::MySqlDatabaseError;
use unit_core::{Rule, Verdict};
use unit_proto::pb;

use crate::adapter::codes;
use unit_sql::redact;
pub use unit_sql::{Operation, RetrySafety};

/// How rustls words a server certificate that does not verify (unknown CA, expired,
/// issued for another name); sqlx reports it as an I/O error.
pub(crate) const BAD_CERTIFICATE: &str = "invalid peer certificate";

/// The MySQL server error inside a sqlx error, if the server answered with one.
pub fn server_error(err: &sqlx::Error) -> Option<&MySqlDatabaseError> {
    err.as_database_error()?
        .try_downcast_ref::<MySqlDatabaseError>()
}

/// Whether the server answered `err` with 1146 (`ER_NO_SUCH_TABLE`) or 1049
/// (`ER_BAD_DB_ERROR`): a table (or its database) that is not there yet, which readers
/// of the task's own tables take for "nothing recorded".
pub(crate) fn is_missing_table(err: &sqlx::Error) -> bool {
    // MySQL says the database is missing (1049) where MariaDB says the table is.
    server_error(err)
        .is_some_and(|d| [codes::ER_NO_SUCH_TABLE, codes::ER_BAD_DB_ERROR].contains(&d.number()))
}

/// How a connection failure affects retrying: `None` when the error is not a lost or
/// unavailable connection (the server answered, or the driver failed otherwise).
pub fn retry_safety(err: &sqlx::Error, op: Operation<'_>) -> Option<RetrySafety> {
    match err {
        sqlx::Error::Io(io) if io.to_string().contains(BAD_CERTIFICATE) => None,
        _ => unit_sql::connection_failure(err, op).map(|f| f.safety),
    }
}

/// The error as the Go MySQL driver writes it, which is what DM's rules and
/// [`unit_core::explain_error`] read: `Error 1062 (23000): Duplicate entry ...` for a
/// server error; for a connection failure, the Go driver's `driver: bad connection`
/// (nothing sent) or `invalid connection` (outcome unknown) followed by sqlx's words.
/// Passwords in URLs are masked.
pub fn go_driver_text(err: &sqlx::Error, op: Operation<'_>) -> String {
    if let Some(db) = server_error(err) {
        return server_text(db.number(), db.code().unwrap_or_default(), db.message());
    }
    let detail = redact(&err.to_string());
    match retry_safety(err, op) {
        Some(RetrySafety::Safe) => format!("driver: bad connection ({detail})"),
        Some(RetrySafety::OutcomeUnknown) => format!("invalid connection ({detail})"),
        None => detail,
    }
}

/// A server error as the Go MySQL driver writes it: `Error 1062 (23000): ...`, the
/// message's passwords masked.
pub(crate) fn server_text(number: u16, state: &str, message: &str) -> String {
    if state.is_empty() {
        format!("Error {number}: {}", redact(message))
    } else {
        format!("Error {number} ({state}): {}", redact(message))
    }
}

/// The verdict on a server error `number` whose Go driver text is `text`: by number
/// where [`codes::CLASSIFIED`] has it, otherwise by DM's text rules.
pub(crate) fn server_verdict(number: u16, text: String) -> Verdict {
    let probe = pb::ProcessError {
        raw_cause: text,
        ..Default::default()
    };
    let dm = unit_core::explain_error(&probe);
    match codes::classified(number) {
        Some(c) => number_verdict(c, dm.is_resumable()),
        None => dm,
    }
}

/// A TLS handshake that fails the same way every time.
pub(crate) fn tls_verdict() -> Verdict {
    Verdict::new(
        false,
        Rule::Driver {
            reason: "TLS failed (the server's certificate does not verify, or the server offers no TLS when it is required); fix the certificates or the ssl-* settings",
        },
    )
    .beyond_dm()
}

/// Why an error of another database's driver is not resumable here.
pub(crate) const FOREIGN: &str = "a server error of another database than MySQL: unit-mysql cannot tell whether a retry fixes it, so it is not resumed; classify it with that database's adapter (such as unit-postgres)";

/// Whether `err` is a server error of another database than MySQL (a sqlx error of
/// another driver).
pub(crate) fn is_foreign(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some() && server_error(err).is_none()
}

/// Explains whether a sqlx error is worth retrying.
///
/// - A server error whose number is in [`codes::CLASSIFIED`] gets that verdict
///   ([`Rule::ErrorNumber`]).
/// - Any other server error is judged by DM's rules on its Go driver text (see
///   [`go_driver_text`]), so TiDB's `1105 unsupported ...` DDL messages and the
///   purged-binlog 1236 messages are not resumable, and anything else is.
/// - A lost or unavailable connection is resumable ([`Rule::Driver`]); see
///   [`retry_safety`] for whether the statement itself may be sent again.
/// - A server error of another database (a sqlx error of the PostgreSQL or SQLite
///   driver) is not resumable: this adapter cannot tell, and says so
///   ([`Rule::Driver`]); classify it with that database's adapter.
/// - Any other driver error is resumable, as DM treats errors it does not recognise;
///   the supervisor's back-off bounds the cost.
///
/// This is this workspace's policy for driver errors: the verdict always agrees with
/// the [`Recommended`](unit_core::Recommended) policy's verdict on
/// `process_error(err, ..)`, and is marked [`beyond DM`](unit_core::Origin::BeyondDm)
/// where DM's text rules ([`unit_core::explain_error`]) would answer otherwise for the
/// same error.
pub fn explain_mysql_error(err: &sqlx::Error) -> Verdict {
    use sqlx::Error as E;
    if let Some(db) = server_error(err) {
        return server_verdict(db.number(), go_driver_text(err, Operation::Connect));
    }
    if is_foreign(err) {
        return Verdict::new(false, Rule::Driver { reason: FOREIGN }).beyond_dm();
    }
    let bad_certificate = matches!(err, E::Io(io) if io.to_string().contains(BAD_CERTIFICATE));
    if matches!(err, E::Tls(_)) || bad_certificate {
        // A certificate that does not verify (unknown CA, expired, another name) or a
        // server without TLS when TLS is required fails the same way every time.
        return tls_verdict();
    }
    let reason = unit_sql::connection_failure(err, Operation::Execute("")).map_or(
        "a driver error that DM's rules do not recognise is resumable",
        |f| f.reason,
    );
    Verdict::new(true, Rule::Driver { reason })
}

/// The verdict of a classified server error number, marked beyond DM when DM's text
/// rules (whose answer for the same error is `dm_resumable`) answer otherwise.
pub(crate) fn number_verdict(c: &codes::Classified, dm_resumable: bool) -> Verdict {
    let verdict = Verdict::new(
        c.resumable,
        Rule::ErrorNumber {
            number: u32::from(c.number),
            name: c.name,
            reason: c.reason,
        },
    );
    if dm_resumable == c.resumable {
        verdict
    } else {
        verdict.beyond_dm()
    }
}

/// Whether a sqlx error is worth retrying; see [`explain_mysql_error`].
pub fn is_resumable_mysql_error(err: &sqlx::Error) -> bool {
    explain_mysql_error(err).is_resumable()
}
