//! Classifying PostgreSQL errors by SQLSTATE.

use sqlx::postgres::PgDatabaseError;
use unit_core::{ErrScope, ErrorCode, Rule, Verdict};
use unit_proto::pb;
use unit_sql::{CodeRule, Judgement, Operation, RetrySafety, RuleTable, redact};

/// Every SQLSTATE and class this adapter decides, exact states before their classes.
/// A state in none of them is resumable, as DM treats errors it does not recognise
/// (the supervisor's back-off bounds the cost).
pub const CLASSIFIED: RuleTable = RuleTable::new(
    "SQLSTATE",
    &[
        CodeRule::resumable(
            "40001",
            "serialization_failure",
            "a concurrent transaction won; the same transaction can succeed when run again",
        ),
        CodeRule::resumable(
            "40P01",
            "deadlock_detected",
            "the transaction was chosen as a deadlock victim and rolled back; run again",
        ),
        CodeRule::resumable(
            "55P03",
            "lock_not_available",
            "a lock was not available in time; it is released when the holder ends",
        ),
        CodeRule::resumable(
            "57014",
            "query_canceled",
            "the statement was cancelled (statement_timeout, pg_cancel_backend); it can run again",
        ),
        CodeRule::resumable(
            "57P01",
            "admin_shutdown",
            "the server terminated the session (pg_terminate_backend, a fast shutdown); a new session can succeed",
        ),
        CodeRule::resumable(
            "57P02",
            "crash_shutdown",
            "the server is recovering from a crash of another process; it accepts sessions again once recovered",
        ),
        CodeRule::resumable(
            "57P03",
            "cannot_connect_now",
            "the server is starting up or shutting down; it accepts sessions again once started",
        ),
        CodeRule::permanent("57P04", "database_dropped", "the database was dropped"),
        CodeRule::permanent(
            "3D000",
            "invalid_catalog_name",
            "the database does not exist",
        ),
        CodeRule::permanent("3F000", "invalid_schema_name", "the schema does not exist"),
        CodeRule::resumable(
            "08",
            "connection_exception",
            "the connection failed or was lost; a new connection can succeed",
        ),
        CodeRule::resumable(
            "40",
            "transaction_rollback",
            "the server rolled the transaction back; it can run again",
        ),
        CodeRule::resumable(
            "53",
            "insufficient_resources",
            "the server ran out of a resource (disk, memory, connections); retry once it is freed",
        ),
        CodeRule::resumable(
            "58",
            "system_error",
            "an error outside PostgreSQL (I/O); it may pass",
        ),
        CodeRule::permanent(
            "0A",
            "feature_not_supported",
            "the server does not support what was asked",
        ),
        CodeRule::permanent(
            "22",
            "data_exception",
            "a value is invalid for its type; the same value fails again",
        ),
        CodeRule::permanent(
            "23",
            "integrity_constraint_violation",
            "a constraint (unique, foreign key, not null, check) refuses the row; the same row fails again",
        ),
        CodeRule::permanent(
            "28",
            "invalid_authorization_specification",
            "the user or its password is refused",
        ),
        CodeRule::permanent(
            "42",
            "syntax_error_or_access_rule_violation",
            "the statement is invalid, names an object that does not exist, or lacks a privilege",
        ),
        CodeRule::permanent(
            "XX",
            "internal_error",
            "the server reports an internal error or corrupted data; a person must look",
        ),
    ],
);

/// The rule deciding SQLSTATE `state`: its own, else its class's.
pub fn classified(state: &str) -> Option<&'static CodeRule> {
    CLASSIFIED.find([state, state.get(..2).unwrap_or(state)])
}

/// The PostgreSQL server error inside a sqlx error, if the server answered with one.
pub fn server_error(err: &sqlx::Error) -> Option<&PgDatabaseError> {
    err.as_database_error()?
        .try_downcast_ref::<PgDatabaseError>()
}

/// Whether the server ended the session (SQLSTATE class 08, 57P01 to 57P03).
fn session_ended(err: &sqlx::Error) -> bool {
    server_error(err).is_some_and(|e| {
        let state = e.code();
        state.starts_with("08") || matches!(state, "57P01" | "57P02" | "57P03")
    })
}

/// How a connection failure affects retrying the statement (see
/// [`Operation::lost_connection`]): `None` when the session is not gone.
pub fn retry_safety(err: &sqlx::Error, op: Operation<'_>) -> Option<RetrySafety> {
    if session_ended(err) {
        return Some(op.lost_connection());
    }
    unit_sql::connection_failure(err, op).map(|f| f.safety)
}

/// The error as Go's pgx writes it, for `RawCause`: `ERROR: message (SQLSTATE
/// 23505)` for a server error; for a lost connection, `driver: bad connection` (nothing
/// sent) or `invalid connection` (outcome unknown) followed by sqlx's words. Passwords
/// in URLs are masked.
pub fn driver_text(err: &sqlx::Error, op: Operation<'_>) -> String {
    if let Some(db) = server_error(err) {
        return format!(
            "{}: {} (SQLSTATE {})",
            severity(db),
            redact(db.message()),
            db.code()
        );
    }
    let detail = redact(&err.to_string());
    match retry_safety(err, op) {
        Some(RetrySafety::Safe) => format!("driver: bad connection ({detail})"),
        Some(RetrySafety::OutcomeUnknown) => format!("invalid connection ({detail})"),
        None => detail,
    }
}

fn severity(db: &PgDatabaseError) -> &'static str {
    use sqlx::postgres::PgSeverity as S;
    match db.severity() {
        S::Panic => "PANIC",
        S::Fatal => "FATAL",
        _ => "ERROR",
    }
}

/// Explains whether a sqlx error of PostgreSQL is worth retrying.
///
/// - A server error gets the verdict of its SQLSTATE, or of its class, in
///   [`CLASSIFIED`] ([`Rule::SqlState`]):
///
/// | SQLSTATE | condition | resumable |
/// |---|---|---|
/// | 40001 | serialization_failure | yes |
/// | 40P01 | deadlock_detected | yes |
/// | 55P03 | lock_not_available | yes |
/// | 57014 | query_canceled | yes |
/// | 57P01 | admin_shutdown | yes |
/// | 57P02 | crash_shutdown | yes |
/// | 57P03 | cannot_connect_now | yes |
/// | 57P04 | database_dropped | no |
/// | 3D000 | invalid_catalog_name | no |
/// | 3F000 | invalid_schema_name | no |
/// | 08 | connection_exception | yes |
/// | 40 | transaction_rollback | yes |
/// | 53 | insufficient_resources | yes |
/// | 58 | system_error | yes |
/// | 0A | feature_not_supported | no |
/// | 22 | data_exception | no |
/// | 23 | integrity_constraint_violation | no |
/// | 28 | invalid_authorization_specification | no |
/// | 42 | syntax_error_or_access_rule_violation | no |
/// | XX | internal_error | no |
///
/// - Any other SQLSTATE is resumable, as DM treats errors it does not recognise.
/// - A lost or unavailable connection is resumable ([`Rule::Driver`]); see
///   [`retry_safety`] for whether the statement itself may be sent again.
/// - A TLS failure and an error of another database's driver are not.
///
/// The verdict agrees with [`Recommended`](unit_core::Recommended)'s on
/// [`process_error`]`(err, ..)`: an error that is not resumable is reported with code
/// 60011 ([`ErrorCode::DB_PERMANENT`]), which that policy never resumes.
///
/// ```
/// use unit_postgres::classified;
/// assert!(!classified("23505").unwrap().resumable); // unique_violation, by its class
/// assert!(classified("40P01").unwrap().resumable);
/// assert!(classified("P0001").is_none()); // raise_exception: resumable by default
/// ```
pub fn explain_pg_error(err: &sqlx::Error) -> Verdict {
    use sqlx::Error as E;
    if let Some(db) = server_error(err) {
        return match classified(db.code()) {
            Some(c) => Verdict::new(
                c.resumable,
                Rule::SqlState {
                    state: c.code,
                    name: c.name,
                    reason: c.reason,
                },
            ),
            None => Verdict::new(true, Rule::NoRuleMatched),
        }
        .beyond_dm();
    }
    if err.as_database_error().is_some() {
        return Verdict::new(
            false,
            Rule::Driver {
                reason: "a server error of another database than PostgreSQL: unit-postgres cannot tell whether a retry fixes it; classify it with that database's adapter",
            },
        )
        .beyond_dm();
    }
    if matches!(err, E::Tls(_)) {
        return Verdict::new(
            false,
            Rule::Driver {
                reason: "TLS failed; fix the certificates or the sslmode setting",
            },
        )
        .beyond_dm();
    }
    let reason = unit_sql::connection_failure(err, Operation::Execute(""))
        .map_or("a driver error that no rule recognises is resumable", |f| {
            f.reason
        });
    Verdict::new(true, Rule::Driver { reason })
}

/// Whether a sqlx error of PostgreSQL is worth retrying; see [`explain_pg_error`].
pub fn is_resumable_pg_error(err: &sqlx::Error) -> bool {
    explain_pg_error(err).is_resumable()
}

/// What this adapter finds about a failure: [`explain_pg_error`]'s verdict, the
/// [`retry_safety`] of a lost connection, and [`driver_text`].
pub fn judge(err: &sqlx::Error, op: Operation<'_>) -> Judgement {
    Judgement::new(
        explain_pg_error(err),
        retry_safety(err, op),
        &driver_text(err, op),
    )
}

/// The catalogue code for a failure ([`unit_sql::error_code`] of its [`judge`]ment): a
/// lost connection by its [`RetrySafety`] (10002 nothing sent, 10003 outcome unknown);
/// an error no retry fixes 60011; otherwise by what was being done (10007 begin, 10005
/// query, 10006 execute or commit, 10001 anything else).
pub fn error_code(err: &sqlx::Error, op: Operation<'_>) -> &'static ErrorCode {
    unit_sql::error_code(&judge(err, op), op)
}

/// The `ProcessError` for a failed database operation: `ErrCode` from [`error_code`],
/// `ErrScope` `scope`, the statement summarised in `Message` (secrets masked), and
/// `RawCause` as [`driver_text`] writes it ([`unit_sql::process_error`]).
pub fn process_error(err: &sqlx::Error, scope: ErrScope, op: Operation<'_>) -> pb::ProcessError {
    unit_sql::process_error(&judge(err, op), scope, op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_sorted_after_the_states_they_hold() {
        let rules = CLASSIFIED.rules();
        for (i, c) in rules.iter().enumerate() {
            assert!(matches!(c.code.len(), 2 | 5), "{}", c.code);
            if c.code.len() == 5 {
                let class = &c.code[..2];
                assert!(
                    !rules[..i].iter().any(|k| k.code == class),
                    "{} after its class",
                    c.code
                );
            }
        }
    }

    #[test]
    fn the_rustdoc_table_lists_every_rule_with_its_verdict() {
        let doc = include_str!("classify.rs");
        for row in CLASSIFIED.markdown_rows() {
            let row = format!("/// {row}");
            assert!(doc.contains(&row), "missing: {row}");
        }
    }

    #[test]
    fn a_lost_connection_is_resumable_with_its_retry_safety() {
        let lost = sqlx::Error::Io(std::io::Error::other("reset"));
        assert!(is_resumable_pg_error(&lost));
        assert_eq!(
            retry_safety(&lost, Operation::Commit),
            Some(RetrySafety::OutcomeUnknown)
        );
        let pe = process_error(&lost, ErrScope::Downstream, Operation::Commit);
        assert_eq!(pe.err_code, 10003);
        assert!(
            pe.raw_cause.starts_with("invalid connection ("),
            "{}",
            pe.raw_cause
        );
        assert!(unit_core::Policy::explain(&unit_core::Recommended, &pe).is_resumable());
    }
}

#[cfg(test)]
mod foreign_tests {
    use super::*;

    /// A server error of another database's sqlx driver.
    #[derive(Debug)]
    struct Foreign;

    impl std::fmt::Display for Foreign {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Lock wait timeout exceeded")
        }
    }

    impl std::error::Error for Foreign {}

    impl sqlx::error::DatabaseError for Foreign {
        fn message(&self) -> &str {
            "Lock wait timeout exceeded"
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    #[test]
    fn an_error_of_another_database_is_not_called_resumable() {
        let err = sqlx::Error::Database(Box::new(Foreign));
        assert!(!is_resumable_pg_error(&err));
        let pe = process_error(&err, ErrScope::Downstream, Operation::Execute("UPDATE t"));
        assert_eq!(pe.err_code, 60011);
        assert!(!unit_core::Policy::explain(&unit_core::Recommended, &pe).is_resumable());
    }
}
