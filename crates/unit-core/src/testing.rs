//! Test doubles for supervisors (feature `testing`): scripted units that follow a
//! script and record every call, and a checker for DM's `Unit` contract.
//!
//! These stand in for *units*, to test the code that drives units; they are real
//! implementations of [`Unit`], not mocks of a database.
//!
//! [`Kit`] goes the other way: it checks a user's own unit.

mod kit;

pub use kit::{Kit, KitReport};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use unit_proto::pb;

use crate::catalogue::ErrorCode;
use crate::error::{BoxError, Canceled, Error};
use crate::process_error::new_process_error;
use crate::unit::{SourceStatus, StatusHandle, Unit, UnitStatus};

/// A lifecycle method of [`Unit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Init,
    Process,
    Close,
    Kill,
    Pause,
    Resume,
    Update,
    IsFreshTask,
}

/// One entry of a [`CallLog`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// Which unit (its index in the pipeline).
    pub unit: usize,
    /// Which method.
    pub method: Method,
    /// `true` when the call began, `false` when it ended.
    pub enter: bool,
    /// For an end: `Some(true)` when it succeeded, `Some(false)` when it failed or
    /// panicked, `None` when its future was dropped unfinished.
    pub ok: Option<bool>,
}

/// A shared, ordered record of every call into scripted units.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, call: Call) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(call);
    }

    /// How many times `unit` entered `method`.
    pub fn count(&self, unit: usize, method: Method) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.enter && c.unit == unit && c.method == method)
            .count()
    }
}

/// Records the end of a call when dropped, so a dropped future is seen too.
struct Guard {
    log: CallLog,
    unit: usize,
    method: Method,
    ok: Option<bool>,
}

impl Guard {
    fn new(log: &CallLog, unit: usize, method: Method) -> Self {
        log.push(Call {
            unit,
            method,
            enter: true,
            ok: None,
        });
        Self {
            log: log.clone(),
            unit,
            method,
            ok: None,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // A call that panicked ended (badly); only a dropped future leaves `ok` unset.
        let ok = if std::thread::panicking() {
            Some(false)
        } else {
            self.ok
        };
        self.log.push(Call {
            unit: self.unit,
            method: self.method,
            enter: false,
            ok,
        });
    }
}

/// What one `process` or `resume` call does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// Return no errors: the unit is finished.
    Finish,
    /// Return a resumable error (a lost connection).
    ResumableError,
    /// Return an unresumable error (a duplicate key).
    UnresumableError,
    /// Return a resumable error after doing no work: the call is not counted in the
    /// status, so the unit reports no progress (as a unit stuck on an error that no
    /// retry fixes).
    StuckError,
    /// Work until cancelled, then take `slow` to honour it and return cancelled.
    UntilCancelled {
        /// How long honouring the cancellation takes.
        slow: Duration,
    },
    /// Work until cancelled, then ignore it for ever (only kill gets rid of it).
    IgnoreCancel,
    /// Panic.
    Panic,
}

/// What `init` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitStep {
    /// Succeed.
    Ok,
    /// Fail with an error.
    Fail,
    /// Never return (to test init timeouts).
    Hang,
    /// Wait until cancelled, then fail with [`Canceled`].
    WaitForCancel,
    /// Panic.
    Panic,
}

/// A script for a [`ScriptedUnit`].
#[derive(Debug, Clone)]
pub struct Script {
    /// The unit's type.
    pub unit_type: pb::UnitType,
    /// What each `init` call does, in order; [`InitStep::Ok`] when exhausted.
    pub init: VecDeque<InitStep>,
    /// The answer of `is_fresh_task`.
    pub fresh: bool,
    /// What each `process`/`resume` call does, in order; [`Step::Finish`] when exhausted.
    pub steps: VecDeque<Step>,
    /// Methods that never return (`IsFreshTask`, `Close`, `Kill`).
    pub hangs: Vec<Method>,
}

impl Script {
    /// A fresh unit of `unit_type` that initialises and then follows `steps`.
    pub fn new(unit_type: pb::UnitType, steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            unit_type,
            init: VecDeque::new(),
            fresh: true,
            steps: steps.into_iter().collect(),
            hangs: Vec::new(),
        }
    }

    /// The same script never returning from `method` (`IsFreshTask`, `Close`, `Kill`).
    #[must_use]
    pub fn hang_in(mut self, method: Method) -> Self {
        self.hangs.push(method);
        self
    }

    /// The same script with `init` calls following `init`.
    #[must_use]
    pub fn init(mut self, init: impl IntoIterator<Item = InitStep>) -> Self {
        self.init = init.into_iter().collect();
        self
    }

    /// The same script answering `is_fresh_task` with `fresh`.
    #[must_use]
    pub fn fresh(mut self, fresh: bool) -> Self {
        self.fresh = fresh;
        self
    }
}

/// A unit that follows a [`Script`] and records every call in a [`CallLog`].
///
/// Its status is a `LoadStatus` whose `finished_bytes` counts the process/resume calls
/// made so far, readable at any moment through its [`StatusHandle`].
#[derive(Debug)]
pub struct ScriptedUnit {
    index: usize,
    script: Script,
    log: CallLog,
    calls: Arc<std::sync::atomic::AtomicI64>,
}

impl ScriptedUnit {
    /// A scripted unit at `index` of its pipeline, logging into `log`.
    pub fn new(index: usize, script: Script, log: &CallLog) -> Self {
        Self {
            index,
            script,
            log: log.clone(),
            calls: Arc::default(),
        }
    }

    async fn work(&mut self, method: Method, cancel: CancellationToken) -> pb::ProcessResult {
        let mut guard = Guard::new(&self.log, self.index, method);
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let step = self.script.steps.pop_front().unwrap_or(Step::Finish);
        let result = match step {
            Step::Finish => pb::ProcessResult::default(),
            Step::ResumableError => error_result(&Error::generate(&ErrorCode::DB_BAD_CONN, &[])),
            Step::StuckError => {
                self.calls
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                error_result(&Error::generate(
                    &ErrorCode::DB_QUERY_FAILED,
                    &[&"SELECT 1"],
                ))
            }
            Step::UnresumableError => {
                let dup = std::io::Error::other(
                    "Error 1062 (23000): Duplicate entry '1' for key 'PRIMARY'",
                );
                error_result(&Error::delegate(
                    &ErrorCode::DB_EXECUTE_FAILED,
                    dup,
                    &[&"INSERT"],
                ))
            }
            Step::UntilCancelled { slow } => {
                cancel.cancelled().await;
                tokio::time::sleep(slow).await;
                pb::ProcessResult {
                    is_canceled: true,
                    ..error_result(&Canceled)
                }
            }
            Step::IgnoreCancel => std::future::pending().await,
            Step::Panic => panic!("scripted panic in unit {}", self.index),
        };
        guard.ok = Some(result.errors.is_empty());
        result
    }
}

fn error_result(err: &(dyn std::error::Error + 'static)) -> pb::ProcessResult {
    pb::ProcessResult {
        is_canceled: false,
        errors: vec![new_process_error(err)],
        detail: Vec::new(),
    }
}

#[async_trait]
impl Unit for ScriptedUnit {
    type Config = String;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        let mut guard = Guard::new(&self.log, self.index, Method::Init);
        match self.script.init.pop_front().unwrap_or(InitStep::Ok) {
            InitStep::Ok => {
                guard.ok = Some(true);
                Ok(())
            }
            InitStep::Fail => {
                guard.ok = Some(false);
                Err(Box::new(Error::generate(&ErrorCode::DB_BAD_CONN, &[])))
            }
            InitStep::Hang => std::future::pending().await,
            InitStep::WaitForCancel => {
                cancel.cancelled().await;
                guard.ok = Some(false);
                Err(Box::new(Canceled))
            }
            InitStep::Panic => panic!("scripted panic in init of unit {}", self.index),
        }
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        self.work(Method::Process, cancel).await
    }

    async fn close(&mut self) {
        let _guard = Guard::new(&self.log, self.index, Method::Close);
        if self.script.hangs.contains(&Method::Close) {
            std::future::pending::<()>().await;
        }
    }

    async fn kill(&mut self) {
        let _guard = Guard::new(&self.log, self.index, Method::Kill);
        if self.script.hangs.contains(&Method::Kill) {
            std::future::pending::<()>().await;
        }
    }

    fn pause(&mut self) {
        let _guard = Guard::new(&self.log, self.index, Method::Pause);
    }

    async fn resume(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        self.work(Method::Resume, cancel).await
    }

    async fn update(
        &mut self,
        _cancel: CancellationToken,
        config: &String,
    ) -> Result<(), BoxError> {
        let mut guard = Guard::new(&self.log, self.index, Method::Update);
        let ok = !config.is_empty();
        guard.ok = Some(ok);
        if ok {
            Ok(())
        } else {
            Err("empty configuration".into())
        }
    }

    fn status_handle(&self) -> StatusHandle {
        let calls = self.calls.clone();
        Arc::new(move |_: Option<&SourceStatus>| {
            UnitStatus::Load(pb::LoadStatus {
                finished_bytes: calls.load(std::sync::atomic::Ordering::Relaxed),
                ..Default::default()
            })
        })
    }

    fn unit_type(&self) -> pb::UnitType {
        self.script.unit_type
    }

    async fn is_fresh_task(&mut self, _cancel: CancellationToken) -> Result<bool, BoxError> {
        let mut guard = Guard::new(&self.log, self.index, Method::IsFreshTask);
        if self.script.hangs.contains(&Method::IsFreshTask) {
            std::future::pending::<()>().await;
        }
        guard.ok = Some(true);
        Ok(self.script.fresh)
    }
}

/// Checks a call log against DM's `Unit` contract, as far as a supervisor keeps it:
///
/// - no two calls into one unit overlap;
/// - `process`/`resume`, `pause`, `update` and `is_fresh_task` only between a
///   successful `init` and the unit's `close`/`kill`;
/// - `pause` only after the latest `process`/`resume` returned (not while it runs);
/// - when `stopped`, every unit whose `init` succeeded got exactly one `close` or
///   `kill` for it, and a unit whose init failed got none.
///
/// # Errors
/// A description of the first violation, with the call's position in the log.
pub fn check_contract(calls: &[Call], stopped: bool) -> Result<(), String> {
    #[derive(Default, Clone, Copy)]
    struct State {
        active: Option<Method>,
        open: bool,
        work_running: bool,
    }
    let units = calls.iter().map(|c| c.unit + 1).max().unwrap_or(0);
    let mut states = vec![State::default(); units];
    for (at, call) in calls.iter().enumerate() {
        let s = &mut states[call.unit];
        let fail = |what: &str| Err(format!("call {at} ({call:?}): {what}"));
        if call.enter {
            if let Some(active) = s.active {
                return fail(&format!("overlaps {active:?}"));
            }
            match call.method {
                Method::Init if s.open => return fail("init of an open unit"),
                Method::Init => {}
                Method::Pause if s.work_running => return fail("pause while process runs"),
                _ if !s.open => return fail("unit is not initialised (or already closed)"),
                _ => {}
            }
            s.active = Some(call.method);
        } else {
            s.active = None;
            match call.method {
                Method::Init => s.open = call.ok == Some(true),
                Method::Close | Method::Kill => s.open = false,
                Method::Process | Method::Resume => s.work_running = false,
                _ => {}
            }
            // A dropped process/resume is only allowed right before a kill.
            if matches!(call.method, Method::Process | Method::Resume) && call.ok.is_none() {
                let next = calls[at + 1..]
                    .iter()
                    .find(|c| c.unit == call.unit && c.enter);
                if !matches!(
                    next,
                    Some(Call {
                        method: Method::Kill,
                        ..
                    }) | None
                ) {
                    return fail("process was dropped but the unit was not killed");
                }
            }
        }
        if call.enter && matches!(call.method, Method::Process | Method::Resume) {
            s.work_running = true;
        }
    }
    if stopped {
        for (unit, s) in states.iter().enumerate() {
            if s.open {
                return Err(format!("unit {unit} was never closed or killed"));
            }
            if s.active.is_some()
                && s.active != Some(Method::Process)
                && s.active != Some(Method::Resume)
            {
                return Err(format!("unit {unit} is still inside {:?}", s.active));
            }
        }
    }
    Ok(())
}
