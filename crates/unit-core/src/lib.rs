//! The core of the unit workspace: the [`Unit`] trait, DM's error catalogue, and the
//! classifiers that decide whether a failed unit may be resumed.
//!
//! This is a Rust counterpart of the `unit` package of TiDB Data Migration (DM), with
//! the same lifecycle contract and the same classification semantics:
//!
//! - [`Unit`]: the lifecycle of one step (init, process, pause, resume, update, close,
//!   kill, status, type, is_fresh_task), with DM's contract carried by the types where
//!   possible;
//! - [`ErrorCode`] and [`Error`]: DM's error codes (class, scope, level) and an error
//!   type that carries them; [`new_process_error`] turns any error into the
//!   [`pb::ProcessError`](unit_proto::pb::ProcessError) a unit reports;
//! - [`is_resumable_error`], [`is_resumable_relay_error`], [`is_resumable_db_error`]:
//!   DM's answers for every input, and their `explain_*` counterparts returning a
//!   [`Verdict`] that names the rule that decided;
//! - [`Policy`]: classification as a value. [`DmRules`] is DM's rules exactly;
//!   [`Recommended`] adds this workspace's documented rules beyond DM (its own codes,
//!   cancelled work, server errors no retry fixes), each such verdict marked
//!   [`Origin::BeyondDm`]. [`AutoResume`] (DM's task checker) takes one, by default
//!   [`Recommended`];
//! - [`Subtask`]: DM's subtask supervisor, keeping the contract; [`Supervised`]: a
//!   subtask under [`AutoResume`] run until it ends, whichever way it ends.
//!
//! ```
//! use unit_core::{Error, ErrorCode, explain_error, new_process_error};
//!
//! let err = Error::generate(&ErrorCode::DUMP_UNIT_GLOBAL_LOCK, &[]);
//! let verdict = explain_error(&new_process_error(&err));
//! assert!(!verdict.is_resumable());
//! assert_eq!(verdict.to_string(), "not resumable: code 32004 (ErrDumpUnitGlobalLock) is never resumable");
//! ```

mod auto_resume;
mod backoff;
mod catalogue;
mod classify;
mod error;
mod matcher;
mod policy;
pub mod prelude;
mod process_error;
#[cfg(feature = "json")]
pub mod query_status;
pub mod result;
mod setters;
mod supervised;
mod supervisor;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod unit;

pub use auto_resume::{
    AutoResume, AutoResumeConfig, Exit, GiveUp, ResumeState, Strategy, is_connection_error,
    progress_mark,
};
pub use backoff::{Backoff, BackoffConfig};
pub use catalogue::{ErrClass, ErrLevel, ErrScope, ErrorCode};
pub use classify::{
    EXTENSION_UNRESUMABLE_CODES, Origin, PatternList, Rule, UNRESUMABLE_CODES,
    UNRESUMABLE_RELAY_CODES, Verdict, explain_db_error, explain_error, explain_relay_error,
    is_resumable_db_error, is_resumable_error, is_resumable_relay_error,
};
pub use error::{BoxError, Canceled, Error, Result};
pub use policy::{DmRules, Policy, Recommended};
pub use process_error::{
    ProcessFailure, is_ctx_canceled_process_err, join_process_errors, new_process_error,
};
pub use supervised::{Ending, Supervised};
pub use supervisor::{
    BoxUnit, Request, Subtask, SubtaskConfig, SubtaskError, SubtaskHandle, UnitFactory,
};
pub use unit::{DEFAULT_INIT_TIMEOUT, SourceStatus, StatusHandle, StatusSource, Unit, UnitStatus};
