//! The database layer that every adapter of the unit workspace shares, written once:
//!
//! - [`cancellable`]: a statement run under the unit's cancellation token;
//! - [`Operation`] and [`RetrySafety`]: what a failed statement was doing, and whether
//!   it may be sent again after its connection died (which decides an adapter's
//!   catalogue code and its verdict);
//! - the classification kit: [`RuleTable`] (an adapter's rules by driver error code),
//!   [`Judgement`] and [`judge_sqlx`], [`process_error`] (the report whose code carries
//!   the adapter's verdict to the policy), [`Failure`] (a failed statement, reported
//!   once, cancellation included) and [`OwnedOperation`];
//! - [`summarize_statement`] and [`redact`]: statements shortened for messages, and
//!   passwords kept out of every text;
//! - [`CheckpointStore`]: the copy's checkpoints, one row per key range of a table,
//!   moved in the same target transaction as the rows they cover, with the answer to
//!   [`Unit::is_fresh_task`](unit_core::Unit::is_fresh_task). Its [`Dialect`] is
//!   implemented for MySQL (feature `mysql`) and PostgreSQL (feature `postgres`).
//!
//! It sits between `unit-core` and the adapters (`unit-mysql`, `unit-postgres`) and
//! knows no database's error numbers: classifying errors is each adapter's work.
//!
//! [`guide`] walks through writing an adapter of your own.

mod cancel;
mod checkpoint;
mod classify;
pub mod guide;
mod operation;
mod redact;
mod summary;

pub use cancel::{Interrupted, cancellable};
pub use checkpoint::{CheckpointStore, Chunk, Dialect, PartCheckpoint};
pub use classify::{
    CodeRule, Failure, Judgement, OwnedOperation, RuleTable, error_code, judge_sqlx, process_error,
};
pub use operation::{ConnectionFailure, Operation, RetrySafety, connection_failure};
pub use redact::redact;
pub use summary::{MAX_STATEMENT_SUMMARY, summarize_statement};
