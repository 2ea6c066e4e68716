//! The subtask supervisor: runs an ordered list of units and keeps DM's `Unit`
//! contract, so that users only write units.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};
use unit_proto::pb::{self, Stage, UnitType};

use crate::catalogue::ErrorCode;
use crate::error::{BoxError, Error};
use crate::process_error::{ProcessFailure, is_ctx_canceled_process_err, new_process_error};
use crate::unit::{DEFAULT_INIT_TIMEOUT, StatusHandle, Unit};

/// A boxed unit whose [`update`](Unit::update) takes `C`.
pub type BoxUnit<C> = Box<dyn Unit<Config = C>>;

/// Builds a subtask's units afresh (see [`Subtask::spawn_with`]).
pub type UnitFactory<C> = Box<dyn FnMut() -> Vec<BoxUnit<C>> + Send>;

/// Settings of a [`Subtask`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubtaskConfig {
    /// The subtask's name, reported in its status.
    pub name: String,
    /// How long each unit's `init` may take.
    pub init_timeout: Duration,
    /// How long `is_fresh_task`, `close` and `kill` may take (DM: 1 minute); a unit
    /// that hangs in `close` or `kill` is abandoned with a logged error.
    pub call_timeout: Duration,
    /// How long a unit whose `init` timed out is given, once cancelled, to roll
    /// itself back before its `init` future is dropped.
    pub init_grace: Duration,
    /// The policy whose verdict the supervisor logs with each unit error: the one that
    /// acts on it (by default [`Recommended`](crate::Recommended), as
    /// [`AutoResume`](crate::AutoResume)'s); the log names it.
    pub policy: std::sync::Arc<dyn crate::Policy>,
}

impl SubtaskConfig {
    /// Settings with DM's defaults and the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            init_timeout: DEFAULT_INIT_TIMEOUT,
            call_timeout: DEFAULT_INIT_TIMEOUT,
            init_grace: Duration::from_secs(5),
            policy: std::sync::Arc::new(crate::Recommended),
        }
    }

    /// The same settings with the errors' verdicts logged by `policy` (give the one
    /// the subtask's [`AutoResume`](crate::AutoResume) uses).
    #[must_use]
    pub fn with_policy(mut self, policy: std::sync::Arc<dyn crate::Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// The same settings with another timeout for `is_fresh_task`, `close` and `kill`.
    #[must_use]
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The same settings with another init timeout.
    #[must_use]
    pub fn with_init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }
}

/// A request made of a subtask through its [`SubtaskHandle`] (DM: a task operation).
/// Not to be confused with `unit_sql::Operation`, what a failed statement was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// [`SubtaskHandle::pause`]
    Pause,
    /// [`SubtaskHandle::resume`]
    Resume,
    /// [`SubtaskHandle::update`]
    Update,
    /// [`SubtaskHandle::stop`]
    Stop,
    /// [`SubtaskHandle::kill`]
    Kill,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Update => "update",
            Self::Stop => "stop",
            Self::Kill => "kill",
        })
    }
}

/// Why a [`SubtaskHandle`] request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubtaskError {
    /// The request is not allowed in the subtask's current stage.
    #[error("cannot {op} a subtask that is {stage:?}")]
    IllegalStage {
        /// What was asked.
        op: Request,
        /// The stage the subtask was in.
        stage: Stage,
    },
    /// A unit refused the new configuration: its own error (and code).
    #[error("update refused by a unit")]
    Update(#[source] BoxError),
    /// The current unit is not initialised (its `init` failed); resume the subtask,
    /// which runs `init` again, before updating it.
    #[error("cannot update: the current unit is not initialised")]
    NotInitialised,
    /// The subtask has stopped; it takes no more requests.
    #[error("the subtask has stopped")]
    Stopped,
}

impl SubtaskError {
    /// The catalogue code DM uses for this refusal: 40050 (pause when not running),
    /// 40051 (resume when not paused), 40052 (update when not paused); for a unit's
    /// refusal of an update, the unit's own code (50000 when it has none).
    pub fn code(&self) -> &'static ErrorCode {
        match self {
            Self::IllegalStage {
                op: Request::Pause, ..
            } => &ErrorCode::WORKER_NOT_RUNNING_STAGE,
            Self::IllegalStage {
                op: Request::Resume,
                ..
            } => &ErrorCode::WORKER_NOT_PAUSED_STAGE,
            Self::Update(e) => e
                .downcast_ref::<Error>()
                .map_or(&ErrorCode::NOT_SET, Error::code),
            Self::NotInitialised => &ErrorCode::WORKER_NOT_PAUSED_STAGE,
            // Update when not paused, and the rest.
            _ => &ErrorCode::WORKER_UPDATE_TASK_STAGE,
        }
    }
}

type Reply = oneshot::Sender<Result<(), SubtaskError>>;

/// What `is_fresh_task` answered.
enum FreshAnswer {
    Yes,
    No,
    Failed(pb::ProcessError),
    /// A stop or kill request arrived first.
    Interrupted,
}

/// Why a unit's `init` did not succeed.
enum InitFailure {
    /// It failed, panicked or timed out: the subtask pauses with this error.
    Failed(pb::ProcessError),
    /// A stop or kill request arrived first.
    Interrupted,
}

enum Command<C> {
    Pause(Reply),
    Resume(Reply),
    Update(C, Reply),
    Stop(Reply),
    Kill(Reply),
}

/// What every handle can read without asking the supervisor's task.
struct Shared {
    name: String,
    stage: watch::Sender<Stage>,
    state: Mutex<Snapshot>,
    /// Cancelled by `stop`, so that a unit's `init` in progress is cancelled at once
    /// (requests are otherwise served only between calls into units).
    stop_requested: CancellationToken,
    /// Cancelled by `kill`: a unit's `init` in progress is dropped at once.
    kill_requested: CancellationToken,
    /// Resume requests carried out.
    resumes: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Snapshot {
    /// The stage as of the last change, kept with the result so that a status reads
    /// both at one instant.
    stage: Stage,
    unit: Option<UnitType>,
    result: Option<pb::ProcessResult>,
    status: Option<StatusHandle>,
}

impl Shared {
    fn snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        // A poisoned lock only means a panic elsewhere while copying; the data is plain.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A cloneable handle that drives a [`Subtask`] from any number of tasks at once.
///
/// Requests are served one at a time by the subtask's own task, in the order they
/// arrive; [`status`](Self::status) and [`stage`](Self::stage) never wait for it.
pub struct SubtaskHandle<C> {
    commands: mpsc::UnboundedSender<Command<C>>,
    shared: Arc<Shared>,
}

impl<C> Clone for SubtaskHandle<C> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for SubtaskHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubtaskHandle")
            .field("name", &self.shared.name)
            .field("stage", &*self.shared.stage.borrow())
            .finish()
    }
}

impl<C: Send + Sync + 'static> SubtaskHandle<C> {
    async fn request(&self, make: impl FnOnce(Reply) -> Command<C>) -> Result<(), SubtaskError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| SubtaskError::Stopped)?;
        rx.await.unwrap_or(Err(SubtaskError::Stopped))
    }

    /// Pauses a running subtask: cancels the current unit's work, waits for `process`
    /// to return, then calls the unit's `pause`. On a subtask already paused by an
    /// error, marks its result cancelled so that auto-resume leaves it alone (DM's
    /// `markResultCanceled`).
    ///
    /// # Errors
    /// [`SubtaskError::IllegalStage`] in any other stage.
    ///
    /// # Cancel safety
    /// The request is carried out even if this future is dropped.
    pub async fn pause(&self) -> Result<(), SubtaskError> {
        self.request(Command::Pause).await
    }

    /// Resumes a paused subtask (re-running `init` first if it had failed).
    ///
    /// # Errors
    /// [`SubtaskError::IllegalStage`] unless the subtask is paused.
    ///
    /// # Cancel safety
    /// The request is carried out even if this future is dropped.
    pub async fn resume(&self) -> Result<(), SubtaskError> {
        self.request(Command::Resume).await
    }

    /// Hands a new configuration to the current unit of a paused subtask.
    ///
    /// # Errors
    /// [`SubtaskError::IllegalStage`] unless paused; [`SubtaskError::Update`] when the
    /// unit refuses it.
    ///
    /// # Cancel safety
    /// The request is carried out even if this future is dropped.
    pub async fn update(&self, config: C) -> Result<(), SubtaskError> {
        self.request(|reply| Command::Update(config, reply)).await
    }

    /// Stops the subtask gracefully: cancels the current work, waits for it, and closes
    /// every unit still open. Stopped is final. A unit's `init` in progress is cancelled
    /// and waited for (up to the init timeout).
    ///
    /// # Errors
    /// [`SubtaskError::Stopped`] when it has already stopped.
    ///
    /// # Cancel safety
    /// The request is carried out even if this future is dropped.
    pub async fn stop(&self) -> Result<(), SubtaskError> {
        self.shared.stop_requested.cancel();
        self.request(Command::Stop).await
    }

    /// Stops the subtask ungracefully: the in-flight `process` (or `init`) is dropped
    /// without waiting, the current unit is killed, the others are closed.
    ///
    /// # Errors
    /// [`SubtaskError::Stopped`] when it has already stopped.
    ///
    /// # Cancel safety
    /// The request is carried out even if this future is dropped.
    pub async fn kill(&self) -> Result<(), SubtaskError> {
        self.shared.kill_requested.cancel();
        self.request(Command::Kill).await
    }
}

impl<C> SubtaskHandle<C> {
    /// The current stage.
    pub fn stage(&self) -> Stage {
        *self.shared.stage.borrow()
    }

    /// A receiver that sees every stage change.
    pub fn watch_stage(&self) -> watch::Receiver<Stage> {
        self.shared.stage.subscribe()
    }

    /// Waits until the stage satisfies `pred` and returns it.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_for(&self, mut pred: impl FnMut(Stage) -> bool) -> Stage {
        let mut rx = self.watch_stage();
        let seen = rx.wait_for(|s| pred(*s)).await.map(|stage| *stage);
        // When the supervisor is gone, report the last stage it set.
        seen.unwrap_or_else(|_| *rx.borrow())
    }

    /// How many resume requests the subtask has carried out, automatic or not.
    pub fn resumes(&self) -> usize {
        self.shared
            .resumes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A snapshot of the subtask's status (DM's `SubTaskStatus`): stage, current unit,
    /// last result and the unit's own status. Never waits for a running `process`.
    pub fn status(&self) -> pb::SubTaskStatus {
        let (stage, unit, result, status) = {
            let snap = self.shared.snapshot();
            (
                snap.stage,
                snap.unit,
                snap.result.clone(),
                snap.status.clone(),
            )
        };
        pb::SubTaskStatus {
            name: self.shared.name.clone(),
            stage: stage.into(),
            unit: unit.unwrap_or(UnitType::InvalidUnit).into(),
            result,
            unresolved_ddl_lock_id: String::new(),
            status: status.and_then(|s| s.status(None).into_sub_task_status()),
            // No unit of this workspace validates yet.
            validation: None,
        }
    }
}

/// Runs units one after another as DM's subtask does; see [`Subtask::spawn`].
pub struct Subtask<C> {
    config: SubtaskConfig,
    units: Vec<BoxUnit<C>>,
    /// Builds fresh units for a start over after a failed init (DM's `createUnits`).
    factory: Option<UnitFactory<C>>,
    /// Per unit: `init` succeeded and neither `close` nor `kill` has been called since.
    open: Vec<bool>,
    current: usize,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command<C>>,
}

/// How one `process`/`resume` call ended.
enum Ended {
    /// It returned on its own.
    Returned(pb::ProcessResult),
    /// It returned after a pause request.
    Paused(pb::ProcessResult, Reply),
    /// It returned after a stop request (or after every handle was dropped).
    Stopped(Option<Reply>),
    /// It was dropped for a kill request.
    Killed(Reply),
}

impl<C: Send + Sync + 'static> Subtask<C> {
    /// Starts a subtask on the current tokio runtime and returns its handle.
    ///
    /// The subtask initialises every unit (each under `init_timeout`; when one fails,
    /// the units initialised before it are closed and the subtask pauses with the
    /// failure), asks `is_fresh_task` from the last unit backwards and starts at the
    /// last unit that is not fresh (closing the units before it), then processes the
    /// units in order: a unit that returns no errors is closed and the next one starts;
    /// errors pause the subtask with the result kept. A panic inside a unit becomes a
    /// `ProcessError` and a pause. Dropping every handle stops the subtask.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(config: SubtaskConfig, units: Vec<BoxUnit<C>>) -> SubtaskHandle<C> {
        Self::start_task(config, units, None)
    }

    /// Like [`spawn`](Self::spawn), building the units with `factory`: once now, and
    /// again for each resume after a failed init, as DM builds fresh unit instances
    /// then, so that no unit instance is ever initialised twice. With
    /// [`spawn`](Self::spawn), such a resume initialises the same instances again
    /// (their contract: a failed `init` rolls itself back, and a closed unit may be
    /// initialised again).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn_with(
        config: SubtaskConfig,
        mut factory: impl FnMut() -> Vec<BoxUnit<C>> + Send + 'static,
    ) -> SubtaskHandle<C> {
        let units = factory();
        Self::start_task(config, units, Some(Box::new(factory)))
    }

    fn start_task(
        config: SubtaskConfig,
        units: Vec<BoxUnit<C>>,
        factory: Option<UnitFactory<C>>,
    ) -> SubtaskHandle<C> {
        let (stage, _) = watch::channel(Stage::New);
        let snapshot = Snapshot {
            stage: Stage::New,
            ..Snapshot::default()
        };
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            stage,
            state: Mutex::new(snapshot),
            stop_requested: CancellationToken::new(),
            kill_requested: CancellationToken::new(),
            resumes: std::sync::atomic::AtomicUsize::new(0),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let span = info_span!("subtask", name = %config.name);
        let open = vec![false; units.len()];
        let subtask = Subtask {
            config,
            units,
            factory,
            open,
            current: 0,
            shared: shared.clone(),
            commands: rx,
        };
        tokio::spawn(subtask.run().instrument(span));
        SubtaskHandle {
            commands: tx,
            shared,
        }
    }

    fn set_stage(&self, stage: Stage) {
        self.shared.snapshot().stage = stage;
        let old = self.shared.stage.send_replace(stage);
        if old != stage {
            info!(from = ?old, to = ?stage, "stage");
        }
    }

    fn stage(&self) -> Stage {
        *self.shared.stage.borrow()
    }

    fn set_result(&self, result: Option<pb::ProcessResult>) {
        if let Some(r) = &result {
            for e in &r.errors {
                let policy = &self.config.policy;
                let verdict = policy.explain(e);
                warn!(policy = policy.name(), %verdict, code = e.err_code, message = %e.message, "unit error");
            }
        }
        self.shared.snapshot().result = result;
    }

    fn show_unit(&self, index: usize) {
        let unit = &self.units[index];
        let mut snap = self.shared.snapshot();
        snap.unit = Some(unit.unit_type());
        snap.status = Some(unit.status_handle());
    }

    fn unit_span(&self) -> tracing::Span {
        let unit = self.units.get(self.current).map(|u| u.unit_type());
        info_span!("unit", index = self.current, unit = ?unit)
    }

    async fn run(mut self) {
        if self.units.is_empty() {
            let err = Error::generate(&ErrorCode::WORKER_NO_AVAIL_UNITS, &[&self.config.name]);
            self.set_result(Some(failed(new_process_error(&err))));
            self.set_stage(Stage::Paused);
        } else {
            self.start().await;
        }
        let mut resuming = false;
        loop {
            if self.stage() == Stage::Running {
                let span = self.unit_span();
                let ended = self.process(resuming).instrument(span).await;
                resuming = false;
                match ended {
                    Ended::Returned(result) => self.on_returned(result).await,
                    Ended::Paused(result, reply) => {
                        self.set_result(Some(result));
                        self.pause_unit();
                        self.set_stage(Stage::Paused);
                        let _ = reply.send(Ok(()));
                    }
                    Ended::Stopped(reply) => return self.finish_stop(reply).await,
                    Ended::Killed(reply) => return self.finish_kill(reply).await,
                }
                continue;
            }
            // Paused, Finished or failed init: wait for a request.
            let Some(command) = self.commands.recv().await else {
                return self.finish_stop(None).await;
            };
            let stage = self.stage();
            match command {
                Command::Pause(reply) => {
                    let marked = stage == Stage::Paused && {
                        let mut snap = self.shared.snapshot();
                        match snap.result.as_mut() {
                            Some(r) if !r.errors.is_empty() && !r.is_canceled => {
                                r.is_canceled = true;
                                true
                            }
                            _ => false,
                        }
                    };
                    let answer = if marked {
                        info!("paused by an error; result marked cancelled");
                        Ok(())
                    } else {
                        Err(SubtaskError::IllegalStage {
                            op: Request::Pause,
                            stage,
                        })
                    };
                    let _ = reply.send(answer);
                }
                Command::Resume(reply) if stage == Stage::Paused => {
                    self.shared
                        .resumes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.set_stage(Stage::Resuming);
                    self.set_result(None);
                    if self.open.iter().any(|&o| o) {
                        resuming = true;
                        self.set_stage(Stage::Running);
                    } else {
                        // init failed earlier: start over, with fresh units when the
                        // subtask can build them.
                        self.rebuild_units();
                        self.start().await;
                    }
                    let _ = reply.send(Ok(()));
                }
                Command::Update(config, reply) if stage == Stage::Paused => {
                    let _ = reply.send(self.update(&config).await);
                }
                Command::Resume(reply) => {
                    let _ = reply.send(Err(SubtaskError::IllegalStage {
                        op: Request::Resume,
                        stage,
                    }));
                }
                Command::Update(_, reply) => {
                    let _ = reply.send(Err(SubtaskError::IllegalStage {
                        op: Request::Update,
                        stage,
                    }));
                }
                Command::Stop(reply) => return self.finish_stop(Some(reply)).await,
                Command::Kill(reply) => return self.finish_kill(reply).await,
            }
        }
    }

    /// Initialises every unit and picks the one to start with; sets Running, or Paused
    /// with the failure.
    async fn start(&mut self) {
        for i in 0..self.units.len() {
            self.current = i;
            self.show_unit(i);
            let span = self.unit_span();
            match self.init_unit(i).instrument(span).await {
                Ok(()) => {}
                Err(InitFailure::Failed(pe)) => {
                    // Roll back: close the units initialised before this one (and this
                    // one, should its init have returned after the timeout).
                    for j in (0..=i).rev() {
                        self.close_unit(j).await;
                    }
                    let pe = self.annotate(pe, "fail to initialize unit", i);
                    self.set_result(Some(failed(pe)));
                    self.set_stage(Stage::Paused);
                    return;
                }
                Err(InitFailure::Interrupted) => {
                    // The stop or kill request waiting in the queue closes what is open.
                    self.set_stage(Stage::Stopping);
                    return;
                }
            }
        }
        // Start at the last unit that is not fresh, asking from the last unit down to
        // the second, as DM does: the first unit is never asked.
        let mut start = 0;
        for i in (1..self.units.len()).rev() {
            match self.fresh(i).await {
                FreshAnswer::Yes => {}
                FreshAnswer::No => {
                    start = i;
                    break;
                }
                FreshAnswer::Failed(pe) => {
                    let pe = self.annotate(pe, "fail to check whether it is fresh: unit", i);
                    self.fail_all(i, pe).await;
                    return;
                }
                FreshAnswer::Interrupted => {
                    self.set_stage(Stage::Stopping);
                    return;
                }
            }
        }
        for j in 0..start {
            self.close_unit(j).await;
        }
        self.current = start;
        self.show_unit(start);
        self.set_result(None);
        self.set_stage(Stage::Running);
    }

    /// DM's annotation of an init failure: `<what> <type> of subtask <name>: ...`, in
    /// `Message` (the code and `RawCause` stay, so the verdict does too).
    fn annotate(&self, mut pe: pb::ProcessError, what: &str, i: usize) -> pb::ProcessError {
        let unit = self.units[i].unit_type();
        pe.message = format!(
            "{what} {} of subtask {}: {}",
            unit.as_str_name(),
            self.config.name,
            pe.message
        );
        pe
    }

    /// Asks unit `i` whether it is fresh, under the call timeout, raced against a stop
    /// or kill request.
    async fn fresh(&mut self, i: usize) -> FreshAnswer {
        let token = CancellationToken::new();
        let limit = self.config.call_timeout;
        let (stop, kill) = (
            self.shared.stop_requested.clone(),
            self.shared.kill_requested.clone(),
        );
        let ask = AssertUnwindSafe(self.units[i].is_fresh_task(token.clone())).catch_unwind();
        let answer = tokio::select! {
            biased;
            () = kill.cancelled() => return FreshAnswer::Interrupted,
            () = stop.cancelled() => {
                token.cancel();
                return FreshAnswer::Interrupted;
            }
            answer = tokio::time::timeout(limit, ask) => answer,
        };
        match answer {
            Ok(Ok(Ok(true))) => FreshAnswer::Yes,
            Ok(Ok(Ok(false))) => FreshAnswer::No,
            Ok(Ok(Err(err))) => FreshAnswer::Failed(boxed_process_error(&err)),
            Ok(Err(panic)) => FreshAnswer::Failed(panic_error("is_fresh_task", &panic)),
            Err(_) => FreshAnswer::Failed(new_process_error(&std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("is_fresh_task timed out after {limit:?}"),
            ))),
        }
    }

    /// Replaces the units with fresh instances from the factory, if there is one and
    /// it builds as many units as before.
    fn rebuild_units(&mut self) {
        let Some(factory) = self.factory.as_mut() else {
            return;
        };
        let fresh = factory();
        if fresh.len() == self.units.len() {
            self.units = fresh;
            self.open = vec![false; self.units.len()];
        } else {
            warn!(
                built = fresh.len(),
                expected = self.units.len(),
                "unit factory built another number of units; keeping the old ones"
            );
        }
    }

    /// `is_fresh_task` failed: close everything and pause with the error.
    async fn fail_all(&mut self, index: usize, pe: pb::ProcessError) {
        self.current = index;
        self.show_unit(index);
        for j in (0..self.units.len()).rev() {
            self.close_unit(j).await;
        }
        self.set_result(Some(failed(pe)));
        self.set_stage(Stage::Paused);
    }

    async fn init_unit(&mut self, i: usize) -> Result<(), InitFailure> {
        let token = CancellationToken::new();
        let timeout = self.config.init_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let (stop, kill) = (
            self.shared.stop_requested.clone(),
            self.shared.kill_requested.clone(),
        );
        let outcome = {
            let mut init = AssertUnwindSafe(self.units[i].init(token.clone())).catch_unwind();
            tokio::select! {
                biased;
                // Dropped without waiting.
                () = kill.cancelled() => None,
                () = stop.cancelled() => {
                    token.cancel();
                    let ended = tokio::time::timeout_at(deadline, &mut init).await;
                    // An init that finished anyway is open: the stop closes it.
                    self.open[i] = matches!(ended, Ok(Ok(Ok(()))));
                    None
                }
                ended = tokio::time::timeout_at(deadline, &mut init) => match ended {
                    Err(elapsed) => {
                        // Timed out: cancel first and give the unit a short grace period
                        // to roll itself back, then drop the init.
                        token.cancel();
                        tokio::select! {
                            biased;
                            () = kill.cancelled() => {}
                            late = tokio::time::timeout(self.config.init_grace, &mut init) => {
                                // An init that returned Ok anyway is open: it is closed
                                // with the others.
                                self.open[i] = matches!(late, Ok(Ok(Ok(()))));
                            }
                        }
                        Some(Err(elapsed))
                    }
                    ended => Some(ended),
                },
            }
        };
        token.cancel();
        let Some(outcome) = outcome else {
            info!("init interrupted by a stop or kill request");
            return Err(InitFailure::Interrupted);
        };
        match outcome {
            Ok(Ok(Ok(()))) => {
                self.open[i] = true;
                debug!("initialised");
                Ok(())
            }
            Ok(Ok(Err(err))) => Err(InitFailure::Failed(boxed_process_error(&err))),
            Ok(Err(panic)) => Err(InitFailure::Failed(panic_error("init", &panic))),
            Err(_) => {
                let what = format!(
                    "{:?} unit init timed out after {timeout:?}",
                    self.units[i].unit_type()
                );
                Err(InitFailure::Failed(new_process_error(
                    &std::io::Error::new(std::io::ErrorKind::TimedOut, what),
                )))
            }
        }
    }

    /// Runs the current unit's `process` (or `resume`) while serving requests.
    async fn process(&mut self, resuming: bool) -> Ended {
        let token = CancellationToken::new();
        let i = self.current;
        let unit = &mut self.units[i];
        let work = if resuming {
            unit.resume(token.clone())
        } else {
            unit.process(token.clone())
        };
        let mut work = AssertUnwindSafe(work).catch_unwind();
        let mut pause_reply: Option<Reply> = None;
        let mut stop: Option<Option<Reply>> = None;
        let mut handles_gone = false;
        let result = loop {
            tokio::select! {
                outcome = &mut work => break match outcome {
                    Ok(result) => result,
                    Err(panic) => failed(panic_error(if resuming { "resume" } else { "process" }, &panic)),
                },
                // Requests keep being served while stopping, so a kill can still cut
                // short work that does not honour its cancellation.
                command = self.commands.recv(), if !handles_gone => match command {
                    Some(Command::Kill(reply)) => {
                        // Ungraceful: drop the work without waiting for it.
                        token.cancel();
                        if let Some(Some(earlier)) = stop.take() {
                            let _ = earlier.send(Ok(()));
                        }
                        return Ended::Killed(reply);
                    }
                    Some(Command::Pause(reply)) if pause_reply.is_none() && stop.is_none() => {
                        self.shared.snapshot().stage = Stage::Pausing;
                        self.shared.stage.send_replace(Stage::Pausing);
                        token.cancel();
                        pause_reply = Some(reply);
                    }
                    Some(Command::Stop(reply)) if stop.is_none() => {
                        self.shared.snapshot().stage = Stage::Stopping;
                        self.shared.stage.send_replace(Stage::Stopping);
                        token.cancel();
                        stop = Some(Some(reply));
                    }
                    None => {
                        handles_gone = true;
                        token.cancel();
                        stop.get_or_insert(None);
                    }
                    Some(other) => refuse(other, *self.shared.stage.borrow()),
                },
            }
        };
        drop(work);
        token.cancel();
        let result = drop_cancellations(result);
        if let Some(reply) = stop {
            self.set_result(Some(result));
            return Ended::Stopped(reply);
        }
        match pause_reply {
            Some(reply) => Ended::Paused(
                pb::ProcessResult {
                    is_canceled: true,
                    ..result
                },
                reply,
            ),
            None => Ended::Returned(result),
        }
    }

    async fn on_returned(&mut self, result: pb::ProcessResult) {
        if !result.errors.is_empty() {
            self.set_result(Some(result));
            self.pause_unit();
            self.set_stage(Stage::Paused);
            return;
        }
        debug!("unit finished");
        self.close_unit(self.current).await;
        if self.current + 1 < self.units.len() {
            self.current += 1;
            self.show_unit(self.current);
            self.set_result(None);
        } else {
            self.set_result(Some(result));
            self.set_stage(Stage::Finished);
        }
    }

    fn pause_unit(&mut self) {
        let unit = &mut self.units[self.current];
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| unit.pause())) {
            let pe = panic_error("pause", &panic);
            let mut snap = self.shared.snapshot();
            snap.result
                .get_or_insert_with(Default::default)
                .errors
                .push(pe);
        }
    }

    /// DM's `Update`: every unit the subtask holds open gets the new configuration (a
    /// pipeline paused in its first unit runs the later ones with it too); the first
    /// refusal is returned as the unit's own error.
    async fn update(&mut self, config: &C) -> Result<(), SubtaskError> {
        if !self.open[self.current] {
            return Err(SubtaskError::NotInitialised);
        }
        for i in 0..self.units.len() {
            if !self.open[i] {
                continue;
            }
            let token = CancellationToken::new();
            let unit = &mut self.units[i];
            match AssertUnwindSafe(unit.update(token, config))
                .catch_unwind()
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(SubtaskError::Update(err)),
                Err(panic) => {
                    let pe = panic_error("update", &panic);
                    return Err(SubtaskError::Update(Box::new(ProcessFailure(pe))));
                }
            }
        }
        Ok(())
    }

    async fn close_unit(&mut self, i: usize) {
        if !std::mem::replace(&mut self.open[i], false) {
            return;
        }
        let limit = self.config.call_timeout;
        match tokio::time::timeout(
            limit,
            AssertUnwindSafe(self.units[i].close()).catch_unwind(),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => warn!(index = i, "unit panicked in close"),
            Err(_) => error!(index = i, ?limit, "unit hangs in close; abandoned"),
        }
    }

    async fn finish_stop(mut self, reply: Option<Reply>) {
        // DM: stopping a finished subtask does nothing; it stays Finished.
        let finished = self.stage() == Stage::Finished;
        if !finished {
            self.set_stage(Stage::Stopping);
        }
        for i in 0..self.units.len() {
            self.close_unit(i).await;
        }
        if !finished {
            self.set_stage(Stage::Stopped);
        }
        self.drain();
        if let Some(reply) = reply {
            let _ = reply.send(Ok(()));
        }
    }

    async fn finish_kill(mut self, reply: Reply) {
        self.set_stage(Stage::Stopping);
        let i = self.current;
        if std::mem::replace(&mut self.open[i], false) {
            let limit = self.config.call_timeout;
            match tokio::time::timeout(limit, AssertUnwindSafe(self.units[i].kill()).catch_unwind())
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(_)) => warn!(index = i, "unit panicked in kill"),
                Err(_) => error!(index = i, ?limit, "unit hangs in kill; abandoned"),
            }
        }
        for j in 0..self.units.len() {
            self.close_unit(j).await;
        }
        self.set_stage(Stage::Stopped);
        self.drain();
        let _ = reply.send(Ok(()));
    }

    /// Answers requests that arrived while stopping.
    fn drain(&mut self) {
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            refuse(command, Stage::Stopped);
        }
    }
}

fn refuse<C>(command: Command<C>, stage: Stage) {
    let (op, reply) = match command {
        Command::Pause(r) => (Request::Pause, r),
        Command::Resume(r) => (Request::Resume, r),
        Command::Update(_, r) => (Request::Update, r),
        Command::Stop(r) => (Request::Stop, r),
        Command::Kill(r) => (Request::Kill, r),
    };
    let err = if stage == Stage::Stopped {
        SubtaskError::Stopped
    } else {
        SubtaskError::IllegalStage { op, stage }
    };
    let _ = reply.send(Err(err));
}

fn failed(pe: pb::ProcessError) -> pb::ProcessResult {
    pb::ProcessResult {
        is_canceled: false,
        errors: vec![pe],
        detail: Vec::new(),
    }
}

/// Drops the errors that only say the work was cancelled.
fn drop_cancellations(mut result: pb::ProcessResult) -> pb::ProcessResult {
    result.errors.retain(|e| !is_ctx_canceled_process_err(e));
    result
}

fn boxed_process_error(err: &BoxError) -> pb::ProcessError {
    new_process_error(&**err)
}

fn panic_error(during: &str, panic: &Box<dyn std::any::Any + Send>) -> pb::ProcessError {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    warn!(during, panic = %what, "unit panicked");
    new_process_error(&std::io::Error::other(format!(
        "unit panicked in {during}: {what}"
    )))
}

#[cfg(test)]
mod tests;
