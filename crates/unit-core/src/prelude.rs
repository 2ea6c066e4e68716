//! What implementing and running a unit takes, in one import, re-exported so that a
//! unit's crate needs no matching versions of `async-trait`, `tokio-util` or
//! `unit-proto`:
//!
//! ```
//! use unit_core::prelude::*;
//!
//! struct Hello;
//!
//! #[async_trait]
//! impl Unit for Hello {
//!     type Config = ();
//!     async fn init(&mut self, _: CancellationToken) -> Result<(), BoxError> { Ok(()) }
//!     async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
//!         if cancel.is_cancelled() { result::cancelled() } else { result::finished() }
//!     }
//!     async fn close(&mut self) {}
//!     async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> { Ok(()) }
//!     fn status_handle(&self) -> StatusHandle {
//!         std::sync::Arc::new(|_: Option<&SourceStatus>| UnitStatus::None)
//!     }
//!     fn unit_type(&self) -> pb::UnitType { pb::UnitType::Load }
//!     async fn is_fresh_task(&mut self, _: CancellationToken) -> Result<bool, BoxError> { Ok(true) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let units: Vec<BoxUnit<()>> = vec![Box::new(Hello)];
//! let handle = Subtask::spawn(SubtaskConfig::new("hello"), units);
//! assert_eq!(handle.wait_for(|s| s == Stage::Finished).await, Stage::Finished);
//! # }
//! ```

pub use async_trait::async_trait;
pub use tokio_util::sync::CancellationToken;
pub use unit_proto::pb;
pub use unit_proto::pb::Stage;

pub use crate::result;
pub use crate::{
    AutoResume, AutoResumeConfig, BoxError, BoxUnit, Canceled, Ending, ErrScope, Error, ErrorCode,
    Policy, ProcessFailure, Recommended, SourceStatus, StatusHandle, StatusSource, Subtask,
    SubtaskConfig, SubtaskHandle, Supervised, Unit, UnitStatus, Verdict, new_process_error,
};
