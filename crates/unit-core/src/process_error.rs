//! Conversions between Rust errors and [`pb::ProcessError`], DM's `unit` helpers.

use std::fmt::Write as _;

use unit_proto::{CompactText, pb};

use crate::catalogue::ErrorCode;
use crate::error::Error;

/// Converts an error into the [`pb::ProcessError`] a unit reports (DM's `NewProcessError`).
///
/// - A [`ProcessFailure`] gives the `ProcessError` it carries.
/// - A catalogue [`Error`] gives its code, class, scope, level, message and workaround,
///   and the text of its cause (if any) as `RawCause`.
/// - Any other error becomes code 50000 with class, scope `not-set`, level `high`, and
///   its Display as `Message`. Like DM, only the error itself is inspected, not its
///   sources: wrap a catalogue error only after converting it.
///
/// ```
/// use unit_core::{Error, ErrorCode, new_process_error};
///
/// let cause = std::io::Error::other("Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'");
/// let err = Error::delegate(&ErrorCode::DB_EXECUTE_FAILED, cause, &[&"INSERT INTO t VALUES (?)"]);
/// let pe = new_process_error(&err);
/// assert_eq!(pe.err_code, 10006);
/// assert_eq!(pe.err_class, "database");
/// assert_eq!(pe.message, "statement failed: INSERT INTO t VALUES (?)");
/// assert_eq!(pe.raw_cause, "Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'");
///
/// let other = new_process_error(&std::io::Error::other("disk full"));
/// assert_eq!((other.err_code, other.err_class.as_str(), other.message.as_str()), (50000, "not-set", "disk full"));
/// ```
pub fn new_process_error(err: &(dyn std::error::Error + 'static)) -> pb::ProcessError {
    if let Some(ProcessFailure(pe)) = err.downcast_ref::<ProcessFailure>() {
        return pe.clone();
    }
    if let Some(e) = err.downcast_ref::<Error>() {
        let code = e.code();
        return pb::ProcessError {
            err_code: code.code,
            err_class: code.class.as_str().to_owned(),
            err_scope: e.scope().as_str().to_owned(),
            err_level: code.level.as_str().to_owned(),
            message: e.message().to_owned(),
            raw_cause: e.cause().map(raw_cause_text).unwrap_or_default(),
            workaround: code.workaround.to_owned(),
        };
    }
    let code = &ErrorCode::NOT_SET;
    pb::ProcessError {
        err_code: code.code,
        err_class: code.class.as_str().to_owned(),
        err_scope: code.scope.as_str().to_owned(),
        err_level: code.level.as_str().to_owned(),
        message: err.to_string(),
        raw_cause: String::new(),
        workaround: code.workaround.to_owned(),
    }
}

/// The `RawCause` of a catalogue error's cause, as DM's `terror.Message(cause)`: a
/// catalogue [`Error`] gives its bare message; any other error its Display, followed by
/// the Display of each error of its source chain that the text does not already hold
/// (`context: cause`, as Go's wrapped errors print), so that a wrapper whose Display
/// leaves out its source (anyhow's context, say) never hides the driver's words.
fn raw_cause_text(cause: &(dyn std::error::Error + Send + Sync + 'static)) -> String {
    if let Some(e) = cause.downcast_ref::<Error>() {
        return e.message().to_owned();
    }
    let mut text = cause.to_string();
    let mut next = cause.source();
    while let Some(source) = next {
        let part = source.to_string();
        if !part.is_empty() && !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        next = source.source();
    }
    text
}

/// An error that already is a [`pb::ProcessError`], for units whose adapter built one
/// (for example `unit_mysql::process_error`) and must return it through a
/// [`BoxError`](crate::BoxError); [`new_process_error`] hands it back unchanged.
///
/// ```
/// use unit_core::{ProcessFailure, new_process_error};
/// use unit_proto::pb::ProcessError;
/// let pe = ProcessError { err_code: 10006, message: "statement failed".into(), ..Default::default() };
/// assert_eq!(new_process_error(&ProcessFailure(pe.clone())), pe);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessFailure(pub pb::ProcessError);

impl std::fmt::Display for ProcessFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.compact_text())
    }
}

impl std::error::Error for ProcessFailure {}

/// Whether a process error only says that the work was cancelled (DM's
/// `IsCtxCanceledProcessErr`): its `Message` contains `context canceled`.
pub fn is_ctx_canceled_process_err(err: &pb::ProcessError) -> bool {
    err.message.contains("context canceled")
}

/// The compact text forms of `errs` joined by `", "` (DM's `JoinProcessErrors`).
///
/// ```
/// use unit_core::join_process_errors;
/// use unit_proto::pb::ProcessError;
/// let errs = [
///     ProcessError { err_code: 1, ..Default::default() },
///     ProcessError { message: "b".into(), ..Default::default() },
/// ];
/// assert_eq!(join_process_errors(&errs), r#"ErrCode:1 , Message:"b" "#);
/// ```
pub fn join_process_errors(errs: &[pb::ProcessError]) -> String {
    let mut out = String::new();
    for (i, err) in errs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing into a String cannot fail.
        let _ = write!(out, "{}", err.compact_text());
    }
    out
}
