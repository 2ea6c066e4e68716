//! Building the [`pb::ProcessResult`] that [`Unit::process`](crate::Unit::process) and
//! [`Unit::resume`](crate::Unit::resume) return, so that each of the three outcomes of
//! the contract is written one way.
//!
//! ```
//! use unit_core::{Error, ErrorCode, result};
//!
//! assert!(result::finished().errors.is_empty());
//! assert!(result::cancelled().is_canceled);
//!
//! let err = Error::generate(&ErrorCode::CHECK_FAILED, &[&"no privilege"]);
//! let failed = result::failed_with(&err);
//! assert_eq!(failed.errors[0].err_code, 60003);
//! assert!(!failed.is_canceled);
//! ```

use unit_proto::pb;

use crate::new_process_error;

/// The unit finished its work: no errors, not cancelled.
pub fn finished() -> pb::ProcessResult {
    pb::ProcessResult::default()
}

/// The unit stopped because its token fired, with its work checkpointed: no errors
/// (the contract allows at most a [`Canceled`](crate::Canceled) error for abandoned
/// work; [`failed_with`] of one reports it as DM's `context canceled`).
pub fn cancelled() -> pb::ProcessResult {
    pb::ProcessResult {
        is_canceled: true,
        ..Default::default()
    }
}

/// The unit failed with `errors` (already converted, for example by an adapter's
/// `process_error`); an empty list would mean finished, so give at least one.
pub fn failed(errors: impl IntoIterator<Item = pb::ProcessError>) -> pb::ProcessResult {
    pb::ProcessResult {
        is_canceled: false,
        errors: errors.into_iter().collect(),
        ..Default::default()
    }
}

/// The unit failed with `err`, converted by [`new_process_error`] (a catalogue
/// [`Error`](crate::Error) keeps its code; a [`Canceled`](crate::Canceled) anywhere in
/// its chain becomes DM's `context canceled`).
pub fn failed_with(err: &(dyn std::error::Error + 'static)) -> pb::ProcessResult {
    failed([new_process_error(err)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_reads_as_the_contract_says() {
        let (done, cancelled, failed) = (finished(), cancelled(), failed_with(&crate::Canceled));
        assert!(done.errors.is_empty() && !done.is_canceled);
        assert!(cancelled.errors.is_empty() && cancelled.is_canceled);
        assert!(!failed.is_canceled);
        assert!(crate::is_ctx_canceled_process_err(&failed.errors[0]));
        assert_eq!(super::failed(Vec::new()), done);
    }
}
