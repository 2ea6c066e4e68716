//! The catalogue error type, the counterpart of DM's `terror.Error`.

use std::fmt;

use crate::catalogue::{ErrScope, ErrorCode};

/// A boxed error that can cross threads: what units return from fallible methods.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A result whose error is a catalogue [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error that carries a catalogue code, a formatted message and an optional cause.
///
/// Made with [`Error::generate`] (DM's `Generate`: a new error from the code's template)
/// or [`Error::delegate`] (DM's `Delegate`: the same, wrapping the error that caused it).
/// [`new_process_error`](crate::new_process_error) turns it into a
/// [`pb::ProcessError`](unit_proto::pb::ProcessError) whose `RawCause` is the cause's text.
///
/// Display is DM's layout without the cause, which stays reachable through
/// [`source`](std::error::Error::source):
///
/// ```
/// use unit_core::{Error, ErrorCode};
///
/// let err = Error::generate(&ErrorCode::DB_EXECUTE_FAILED, &[&"INSERT INTO t ..."]);
/// assert_eq!(
///     err.to_string(),
///     "[code=10006:class=database:scope=not-set:level=high], Message: statement failed: INSERT INTO t ..."
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[error(
    "[code={}:class={}:scope={scope}:level={}]{}{}",
    code.code,
    code.class,
    code.level,
    Suffix(", Message: ", message),
    Suffix(", Workaround: ", code.workaround)
)]
pub struct Error {
    code: &'static ErrorCode,
    scope: ErrScope,
    message: String,
    #[source]
    cause: Option<BoxError>,
}

/// Writes `label` and `text` when `text` is not empty, as DM leaves out an empty
/// message or workaround.
struct Suffix<'a>(&'static str, &'a str);

impl fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1.is_empty() {
            Ok(())
        } else {
            write!(f, "{}{}", self.0, self.1)
        }
    }
}

impl Error {
    /// A new error of `code`, its message template filled with `args` in order.
    ///
    /// Each `{}` of the template takes the next argument; a placeholder with no argument
    /// left becomes empty and surplus arguments are ignored, so a wrong count never
    /// panics.
    pub fn generate(code: &'static ErrorCode, args: &[&dyn fmt::Display]) -> Self {
        Self {
            code,
            scope: code.scope,
            message: fill_template(code.message, args),
            cause: None,
        }
    }

    /// Like [`generate`](Self::generate), keeping `cause` as the error's source (DM's
    /// `Delegate`).
    ///
    /// As in DM, the cause kept is the root one: when `cause` is itself an [`Error`]
    /// with a cause, that cause is kept instead (DM: "we only get the root rawCause"),
    /// so that nesting never hides the driver's text from the classifiers. An [`Error`]
    /// without a cause is kept whole; its bare message becomes the `RawCause`.
    ///
    /// ```
    /// use unit_core::{Error, ErrorCode, is_resumable_error, new_process_error};
    ///
    /// let dup = std::io::Error::other("Error 1062 (23000): Duplicate entry '1' for key 'PRIMARY'");
    /// let inner = Error::delegate(&ErrorCode::DB_EXECUTE_FAILED, dup, &[&"INSERT"]);
    /// let outer = Error::delegate(&ErrorCode::DB_DRIVER_ERROR, inner, &[]);
    /// let pe = new_process_error(&outer);
    /// assert_eq!(pe.raw_cause, "Error 1062 (23000): Duplicate entry '1' for key 'PRIMARY'");
    /// assert!(!is_resumable_error(&pe));
    /// ```
    pub fn delegate(
        code: &'static ErrorCode,
        cause: impl Into<BoxError>,
        args: &[&dyn fmt::Display],
    ) -> Self {
        let cause: BoxError = cause.into();
        let cause = match cause.downcast::<Error>() {
            Ok(inner) => match inner.cause {
                Some(root) => root,
                None => inner,
            },
            Err(other) => other,
        };
        Self {
            cause: Some(cause),
            ..Self::generate(code, args)
        }
    }

    /// The same error with another scope (for example [`ErrScope::Downstream`]).
    #[must_use]
    pub fn with_scope(mut self, scope: ErrScope) -> Self {
        self.scope = scope;
        self
    }

    /// The catalogue entry.
    pub fn code(&self) -> &'static ErrorCode {
        self.code
    }

    /// The scope: the code's default unless overridden by [`with_scope`](Self::with_scope).
    pub fn scope(&self) -> ErrScope {
        self.scope
    }

    /// The formatted message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying cause, if any.
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

fn fill_template(template: &str, args: &[&dyn fmt::Display]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(template.len());
    let mut args = args.iter();
    let mut pieces = template.split("{}");
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    for piece in pieces {
        if let Some(arg) = args.next() {
            // Writing into a String cannot fail.
            let _ = write!(out, "{arg}");
        }
        out.push_str(piece);
    }
    out
}

/// The work was cancelled (the counterpart of Go's `context.Canceled`).
///
/// Its Display is exactly `context canceled`, the text DM's tooling looks for
/// ([`is_ctx_canceled_process_err`](crate::is_ctx_canceled_process_err)), and
/// [`is_resumable_db_error`](crate::is_resumable_db_error) is false for any error whose
/// source chain holds it.
///
/// ```
/// use unit_core::{Canceled, is_ctx_canceled_process_err, new_process_error};
/// let pe = new_process_error(&Canceled);
/// assert!(is_ctx_canceled_process_err(&pe));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, thiserror::Error)]
#[error("context canceled")]
pub struct Canceled;

#[cfg(test)]
mod tests;
