//! The PostgreSQL adapter of the unit workspace, built only on the public API of
//! `unit-core` and `unit-sql` (the adapter kit):
//!
//! - [`explain_pg_error`], [`process_error`]: PostgreSQL errors classified by
//!   SQLSTATE (serialization failures, deadlocks, lost and terminated sessions are
//!   resumed; constraint, syntax, privilege and data errors are not), lost connections
//!   with their [`RetrySafety`](unit_sql::RetrySafety);
//! - [`PgCopyUnit`]: tables copied PostgreSQL to PostgreSQL with the COPY protocol,
//!   chunk by chunk with the shared checkpoint store, verified per table.
//!
//! ```no_run
//! use unit_core::prelude::*;
//! use unit_postgres::{PgCopyConfig, PgCopyUnit};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = PgCopyConfig::new("nightly", "postgres://app@src/shop", "postgres://app@dst/shop")
//!     .tables(["public.orders", "public.customers"]);
//! let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(PgCopyUnit::new(config))];
//! let handle = Subtask::spawn(SubtaskConfig::new("nightly"), units);
//! // Resume what a retry can fix, with back-off; stop for a person otherwise.
//! let checker = AutoResume::new(AutoResumeConfig::default()).expect("the default is valid");
//! let exit = checker.run(handle.clone()).await;
//! println!("{exit:?}: {:?}", handle.status().result);
//! # }
//! ```

mod classify;
mod copy;
mod schema;

pub use classify::{
    CLASSIFIED, classified, driver_text, error_code, explain_pg_error, is_resumable_pg_error,
    judge, process_error, retry_safety, server_error,
};
pub use copy::{PgCopyConfig, PgCopyError, PgCopyReport, PgCopyUnit, PgReportHandle};
