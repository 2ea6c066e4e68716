//! Classification policies: DM's rules exactly, or this workspace's recommended rules
//! (DM's plus documented extensions), as a value that whoever decides takes.

use std::fmt;

use unit_proto::pb;

use crate::classify::{Verdict, explain_error, explain_process_error, explain_relay_error};

/// Decides whether a unit's error may be resumed.
///
/// [`AutoResume`](crate::AutoResume) takes one (by default [`Recommended`]); an adapter
/// for another database can supply its own, for example to judge its driver's texts.
/// Every verdict names the rule that decided and whether that rule is DM's
/// ([`Verdict::origin`]).
///
/// ```
/// use unit_core::{DmRules, Error, ErrorCode, Policy, Recommended, new_process_error};
///
/// let denied = std::io::Error::other("Error 1045 (28000): Access denied for user 'app'");
/// let pe = new_process_error(&Error::delegate(&ErrorCode::DB_DRIVER_ERROR, denied, &[]));
/// assert!(DmRules.explain(&pe).is_resumable()); // DM retries it until a person steps in
/// let verdict = Recommended.explain(&pe);
/// assert!(!verdict.is_resumable());
/// assert_eq!(
///     verdict.to_string(),
///     r#"not resumable: RawCause contains "Error 1045" (server error that retrying cannot fix) (beyond DM)"#
/// );
/// ```
pub trait Policy: fmt::Debug + Send + Sync {
    /// A short name for reports, e.g. `DM` or `recommended`.
    fn name(&self) -> &'static str;

    /// Judges an error of a unit (DM's `IsResumableError` and whatever the policy adds).
    fn explain(&self, err: &pb::ProcessError) -> Verdict;

    /// Judges an error of a relay unit (DM's `IsResumableRelayError` by default).
    fn explain_relay(&self, err: &pb::ProcessError) -> Verdict {
        explain_relay_error(err)
    }
}

/// DM's rules, exactly: [`explain_error`] and [`explain_relay_error`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DmRules;

impl Policy for DmRules {
    fn name(&self) -> &'static str {
        "DM"
    }

    fn explain(&self, err: &pb::ProcessError) -> Verdict {
        explain_error(err)
    }
}

/// This workspace's recommended rules: DM's first; then, for an error DM's rules leave
/// resumable, three rules beyond DM, each verdict marked [`Origin::BeyondDm`](crate::Origin):
///
/// - the code is one of this workspace's own codes that are never resumable
///   ([`EXTENSION_UNRESUMABLE_CODES`](crate::EXTENSION_UNRESUMABLE_CODES), 60000 and
///   up, which DM never produces): not resumable;
/// - `Message` says `context canceled` (the work was cancelled): not resumable, so a
///   cancelled statement is never retried behind the back of whoever cancelled it
///   (DM's supervisor drops such errors before its checker sees them);
/// - `RawCause` holds a MySQL server error that no retry can fix
///   ([`PermanentServerError`](crate::PatternList::PermanentServerError): wrong
///   credentials, a missing database or table, a malformed statement, data or schema
///   errors the target returns for a statement the copy built): not resumable.
///
/// Every error DM classifies as not resumable is not resumable here too, with DM's
/// rule named. One `RawCause` scan serves both DM's lists and these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recommended;

impl Policy for Recommended {
    fn name(&self) -> &'static str {
        "recommended"
    }

    fn explain(&self, err: &pb::ProcessError) -> Verdict {
        explain_process_error(err, true)
    }
}
