//! Turning sqlx errors into the `ProcessError`s a MySQL-backed unit reports.

use unit_core::{ErrScope, Error, ErrorCode, new_process_error};
use unit_proto::pb;

pub use unit_sql::{MAX_STATEMENT_SUMMARY, summarize_statement};

use crate::adapter::classify::{
    Operation, RetrySafety, go_driver_text, retry_safety, server_error,
};

/// The catalogue code for a failure: a lost connection by its [`RetrySafety`]
/// (10002 nothing sent, 10003 outcome unknown), a server error of another database
/// than MySQL 60011 (not resumable: this adapter cannot classify it), otherwise by what
/// was being done (10007 begin, 10005 query, 10006 execute or commit, 10001 connect or
/// anything else).
pub fn error_code(err: &sqlx::Error, op: Operation<'_>) -> &'static ErrorCode {
    if matches!(op, Operation::Begin) {
        return &ErrorCode::DB_EXECUTE_FAILED_BEGIN;
    }
    match retry_safety(err, op) {
        Some(RetrySafety::Safe) => return &ErrorCode::DB_BAD_CONN,
        Some(RetrySafety::OutcomeUnknown) => return &ErrorCode::DB_INVALID_CONN,
        None => {}
    }
    if crate::adapter::classify::is_foreign(err) {
        return &ErrorCode::DB_PERMANENT;
    }
    if server_error(err).is_none() {
        return &ErrorCode::DB_DRIVER_ERROR;
    }
    operation_code(op)
}

/// The code of a server error by what was being done.
pub(crate) fn operation_code(op: Operation<'_>) -> &'static ErrorCode {
    match op {
        Operation::Query(_) => &ErrorCode::DB_QUERY_FAILED,
        Operation::Execute(_) | Operation::Commit => &ErrorCode::DB_EXECUTE_FAILED,
        _ => &ErrorCode::DB_DRIVER_ERROR,
    }
}

/// The `ProcessError` for a failed database operation.
///
/// - `ErrCode` from [`error_code`]; `ErrScope` is `scope` (upstream or downstream);
/// - `Message` the code's message with the statement summarised by
///   [`summarize_statement`] (white space folded, truncated, passwords masked; the SQL
///   text holds placeholders, so bound values never appear);
/// - `RawCause` as the Go MySQL driver writes the error ([`go_driver_text`]), so DM's
///   tooling and [`unit_core::Recommended`] read it the same way:
///   `Recommended.explain(&process_error(e, ..)).is_resumable() == is_resumable_mysql_error(e)`.
pub fn process_error(err: &sqlx::Error, scope: ErrScope, op: Operation<'_>) -> pb::ProcessError {
    build_process_error(error_code(err, op), go_driver_text(err, op), scope, op)
}

/// The `ProcessError` of code `code` whose raw cause is `driver_text`.
pub(crate) fn build_process_error(
    code: &'static ErrorCode,
    driver_text: String,
    scope: ErrScope,
    op: Operation<'_>,
) -> pb::ProcessError {
    let summary = op.statement().map(summarize_statement);
    let args: Vec<&dyn std::fmt::Display> = summary.iter().map(|s| s as _).collect();
    let cause = std::io::Error::other(driver_text);
    let mut pe = new_process_error(&Error::delegate(code, cause, &args).with_scope(scope));
    if let Some(summary) = summary.filter(|_| !code.message.contains("{}")) {
        pe.message = format!("{}: {summary}", pe.message);
    }
    tracing::debug!(
        code = pe.err_code,
        scope = %pe.err_scope,
        raw_cause = %pe.raw_cause,
        "database operation failed"
    );
    pe
}
