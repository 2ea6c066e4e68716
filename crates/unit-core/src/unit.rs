//! The [`Unit`] trait: one long-running step of a migration pipeline.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use unit_proto::pb;

use crate::error::BoxError;

/// How long a supervisor waits for [`Unit::init`] before giving up (DM's default).
pub const DEFAULT_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the upstream source looks like right now, handed to [`StatusSource::status`] so a
/// unit can report how far behind it is (DM's `binlog.SourceStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStatus {
    /// The binlog file the source is writing, e.g. `mysql-bin.000042`.
    pub binlog_name: String,
    /// The position in that file.
    pub binlog_pos: u64,
    /// The source's executed GTID set, empty when GTID is off.
    pub gtid_set: String,
}

impl SourceStatus {
    /// A source status at a binlog position.
    pub fn new(
        binlog_name: impl Into<String>,
        binlog_pos: u64,
        gtid_set: impl Into<String>,
    ) -> Self {
        Self {
            binlog_name: binlog_name.into(),
            binlog_pos,
            gtid_set: gtid_set.into(),
        }
    }
}

/// A unit's own status, one variant per kind of unit (DM returns these as `interface{}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UnitStatus {
    /// The unit has nothing to report.
    None,
    /// A check unit.
    Check(pb::CheckStatus),
    /// A dump unit.
    Dump(pb::DumpStatus),
    /// A load unit.
    Load(pb::LoadStatus),
    /// A sync unit.
    Sync(pb::SyncStatus),
    /// A relay unit.
    Relay(pb::RelayStatus),
}

impl UnitStatus {
    /// The status as it goes into [`pb::SubTaskStatus::status`]; `None` for
    /// [`UnitStatus::None`] and for relay status, which DM reports in the source status.
    pub fn into_sub_task_status(self) -> Option<pb::sub_task_status::Status> {
        use pb::sub_task_status::Status;
        match self {
            Self::Check(s) => Some(Status::Check(s)),
            Self::Dump(s) => Some(Status::Dump(s)),
            Self::Load(s) => Some(Status::Load(s)),
            Self::Sync(s) => Some(Status::Sync(s)),
            Self::None | Self::Relay(_) => None,
        }
    }
}

/// Reads a unit's status without borrowing the unit, so that status can be asked while
/// [`Unit::process`] holds `&mut self`.
///
/// Implementations keep the numbers they report in shared state (atomics, a mutex held
/// only to copy, a `tokio::sync::watch`) that the running unit updates.
///
/// # Contract
/// `status` is called from any thread at any moment, including while the unit is inside
/// `process`, after `close` and after `kill`. It must return quickly and never block on
/// the unit's work.
pub trait StatusSource: Send + Sync {
    /// The unit's status now. `source` is the upstream's current status when known.
    fn status(&self, source: Option<&SourceStatus>) -> UnitStatus;
}

impl<F> StatusSource for F
where
    F: Fn(Option<&SourceStatus>) -> UnitStatus + Send + Sync,
{
    fn status(&self, source: Option<&SourceStatus>) -> UnitStatus {
        self(source)
    }
}

/// A cheap, cloneable handle on a unit's status; see [`StatusSource`].
pub type StatusHandle = Arc<dyn StatusSource>;

/// One long-running step of a migration pipeline: check, dump, load, sync or relay.
///
/// This is DM's `unit.Unit` interface with the contract carried by the types where
/// Rust can carry it. A supervisor drives a unit through this lifecycle:
///
/// ```text
/// init ──► [is_fresh_task] ──► process ──► (errors) ──► pause ──► resume ──► …
///                                 │                        └──► update (while paused)
///                                 └──► (no errors) ──► close
/// kill: at any point after init, instead of close
/// ```
///
/// # Divergences from DM, each enforcing a clause of DM's contract
/// - **No concurrent calls.** Lifecycle methods take `&mut self`, so two calls into one
///   unit cannot overlap (DM documents this as the caller's duty).
/// - **Exactly one result.** [`process`](Self::process) and [`resume`](Self::resume)
///   *return* their [`pb::ProcessResult`] instead of sending it on a channel, so a unit
///   cannot report twice or forget to report.
/// - **Status while processing.** DM's `Status` is called while `Process` runs; here
///   [`status_handle`](Self::status_handle) returns a [`StatusHandle`] that the caller
///   keeps and reads without borrowing the unit. [`status`](Self::status) is a
///   convenience for when the unit is idle.
/// - **Kill is ungraceful by dropping.** DM calls `Kill` on a running unit; here the
///   supervisor cancels the token and drops the in-flight `process` future without
///   waiting, then calls [`kill`](Self::kill) for what remains to release.
/// - **Cancellation** is a [`CancellationToken`] (DM's `context.Context`).
/// - **Config** for [`update`](Self::update) is the associated type
///   [`Config`](Self::Config) instead of DM's `*config.SubTaskConfig`.
///
/// # Object safety
/// The trait is object safe: a pipeline holds `Vec<Box<dyn Unit<Config = C>>>` of
/// different kinds of units sharing one config type.
///
/// `pause`, `resume` and `kill` have defaults (nothing, `process`, `close`), so a unit
/// that checkpoints its progress implements only the rest; the
/// [`prelude`](crate::prelude) brings in what that takes.
///
/// ```
/// use unit_core::prelude::*;
///
/// /// A unit that has nothing to do.
/// struct Noop;
///
/// #[async_trait]
/// impl Unit for Noop {
///     type Config = ();
///     async fn init(&mut self, _: CancellationToken) -> Result<(), BoxError> { Ok(()) }
///     async fn process(&mut self, _: CancellationToken) -> pb::ProcessResult {
///         result::finished()
///     }
///     async fn close(&mut self) {}
///     async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> { Ok(()) }
///     fn status_handle(&self) -> StatusHandle {
///         std::sync::Arc::new(|_: Option<&unit_core::SourceStatus>| UnitStatus::None)
///     }
///     fn unit_type(&self) -> pb::UnitType { pb::UnitType::Check }
///     async fn is_fresh_task(&mut self, _: CancellationToken) -> Result<bool, BoxError> { Ok(true) }
/// }
///
/// let pipeline: Vec<Box<dyn Unit<Config = ()>>> = vec![Box::new(Noop), Box::new(Noop)];
/// assert_eq!(pipeline[0].unit_type(), pb::UnitType::Check);
/// ```
#[async_trait]
pub trait Unit: Send {
    /// The configuration [`update`](Self::update) applies.
    type Config: Send + Sync;

    /// Prepares the unit: opens connections, reads checkpoints, validates configuration.
    ///
    /// # Contract
    /// - Caller: calls `init` first, before any other lifecycle method; applies a
    ///   timeout ([`DEFAULT_INIT_TIMEOUT`] unless configured) by cancelling `cancel`,
    ///   then gives the unit a grace period to return. `init` is never called on an
    ///   initialised unit; after a failed `init` (rolled back) or a `close`, a
    ///   [`Subtask`](crate::Subtask) made with [`spawn`](crate::Subtask::spawn) may call
    ///   it again on the same instance, while one made with
    ///   [`spawn_with`](crate::Subtask::spawn_with) builds fresh instances instead, as
    ///   DM does.
    /// - Implementer: on failure, releases whatever it acquired before returning (rolls
    ///   itself back), because the caller will **not** call `close` after a failed init.
    ///
    /// # Errors
    /// Anything that prevents the unit from running; the caller reports it through
    /// [`new_process_error`](crate::new_process_error), so a catalogue
    /// [`Error`](crate::Error) keeps its code.
    ///
    /// # Cancel safety
    /// The future may be dropped (timeout, kill); an implementation must not leave
    /// resources that only the rest of `init` would have released.
    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError>;

    /// Does the unit's work until it is finished, fails or is cancelled.
    ///
    /// # Contract
    /// - Caller: calls it only after a successful `init` (or after `resume` would be
    ///   wrong: use [`resume`](Self::resume) to continue a paused unit).
    /// - Implementer: returns exactly one result (enforced by the return type); returns
    ///   promptly once `cancel` fires, with `is_canceled` set and, for the work it
    ///   abandoned, at most a [`Canceled`](crate::Canceled) error; reports every error
    ///   met, converted with [`new_process_error`](crate::new_process_error). An empty
    ///   `errors` list means the unit finished.
    ///
    /// # Cancel safety
    /// Cancel through `cancel`; dropping the future is the ungraceful path ([`kill`](Self::kill)).
    /// Work must be checkpointed so that either is recoverable.
    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult;

    /// Releases everything the unit holds, gracefully.
    ///
    /// # Contract
    /// - Caller: calls it exactly once for a unit whose `init` succeeded, after `process`
    ///   returned or was never started; never after a failed `init`.
    /// - Implementer: must be safe whatever state `process` left behind.
    async fn close(&mut self);

    /// Releases everything the unit holds, ungracefully (DM's `Kill`).
    ///
    /// # Contract
    /// - Caller: cancels the token and drops any in-flight `process`/`resume` future
    ///   without waiting for it, then calls `kill` instead of `close`.
    /// - Implementer: must not wait for in-flight work; used in tests and at shutdown.
    ///   The default calls [`close`](Self::close), which is right for a unit whose
    ///   `close` only drops what it holds (connections, handles) without waiting for
    ///   work to finish, as DM's units do.
    async fn kill(&mut self) {
        self.close().await;
    }

    /// Notes that processing is paused.
    ///
    /// # Contract
    /// - Caller: calls it only after `process` (or `resume`) returned, never while it
    ///   runs; the caller has already cancelled the token.
    /// - Implementer: keeps what `resume` needs to continue; must not block. The
    ///   default does nothing: a unit that checkpoints its progress keeps what `resume`
    ///   needs in its checkpoint.
    fn pause(&mut self) {}

    /// Continues a paused unit; like [`process`](Self::process) in every other respect.
    ///
    /// # Contract
    /// Caller: calls it only after `pause`. Implementer: as for `process`. The default
    /// calls `process`, as DM's units do: a unit that continues from its checkpoint
    /// has nothing else to do.
    ///
    /// # Cancel safety
    /// As for `process`.
    async fn resume(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        self.process(cancel).await
    }

    /// Applies a new configuration to a paused unit.
    ///
    /// # Contract
    /// Caller: calls it only while the unit is paused. Implementer: applies all or none
    /// of `config`.
    ///
    /// # Errors
    /// When the configuration cannot be applied; the unit keeps its old one.
    ///
    /// # Cancel safety
    /// The future may be dropped; the old configuration then stays in force.
    async fn update(
        &mut self,
        cancel: CancellationToken,
        config: &Self::Config,
    ) -> Result<(), BoxError>;

    /// A handle that reads the unit's status at any moment, even while it processes.
    fn status_handle(&self) -> StatusHandle;

    /// The unit's status now (DM's `Status`), for when the unit is not borrowed.
    fn status(&self, source: Option<&SourceStatus>) -> UnitStatus {
        self.status_handle().status(source)
    }

    /// Which kind of unit this is (DM's `Type`).
    fn unit_type(&self) -> pb::UnitType;

    /// Whether the unit has done no work yet for this task.
    ///
    /// # Contract
    /// Caller: asks it after `init`, from the last unit of the pipeline backwards, and
    /// starts at the last unit that is not fresh (closing the units before it). A unit
    /// that checkpoints its progress answers from its checkpoint.
    ///
    /// # Errors
    /// When the answer cannot be determined (for example the checkpoint is unreadable).
    ///
    /// # Cancel safety
    /// Safe to drop: it only reads.
    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError>;
}

impl fmt::Debug for dyn StatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StatusSource")
    }
}
