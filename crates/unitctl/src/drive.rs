//! The one supervision loop of `unitctl migrate`, whichever engine copies: the
//! subtask spawned under auto-resume with its resumes counted, progress reported each
//! interval, stage changes judged at once, and the run ended by the task finishing,
//! an error that needs a person, no progress over automatic resumes, or a signal.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use unit_core::{
    AutoResumeConfig, Ending, Policy, Recommended, ResumeState, SubtaskConfig, SubtaskHandle,
    Supervised, Verdict,
};
use unit_proto::pb::{self, Stage};

use crate::report::{Event, Reporter};
use crate::signal::{Signal, terminate_signal, terminated};

/// How a supervised run ended.
pub(crate) enum Outcome {
    /// Every unit finished.
    Finished,
    /// SIGINT or SIGTERM arrived.
    Interrupted(Signal),
    /// Paused by an error auto-resume will never retry, or stopped.
    Failed(Box<pb::SubTaskStatus>),
    /// Beyond DM: auto-resume stopped, saying why (the same error over and over with
    /// nothing done in between, or connections failing for `--max-unavailable`), on
    /// this error.
    GaveUp(String, Option<Box<pb::ProcessError>>),
}

/// A subtask under auto-resume: unit-core's [`Supervised`], with what the HTTP API
/// reads of it.
pub(crate) struct Drive<C> {
    run: Supervised<C>,
    pub(crate) handle: SubtaskHandle<C>,
    /// The one policy that judges every error: the one auto-resume acts by is the one
    /// the supervisor's log and the report give.
    pub(crate) policy: Arc<dyn Policy>,
    /// Auto-resume's verdict while a person must act.
    pub(crate) needs_person: watch::Receiver<Option<Verdict>>,
    /// Auto-resume's back-off and resumes.
    pub(crate) resume_state: watch::Receiver<ResumeState>,
}

/// The runtime the engines run in.
///
/// # Errors
/// Why it could not start.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

impl<C: Send + Sync + 'static> Drive<C> {
    /// Spawns the subtask of `task` with `spawn`, under auto-resume set by `auto`;
    /// progress is reported every `interval`.
    ///
    /// # Errors
    /// `auto` is not valid (nothing is spawned then).
    pub(crate) fn start(
        task: &str,
        interval: Duration,
        auto: AutoResumeConfig,
        spawn: impl FnOnce(SubtaskConfig) -> SubtaskHandle<C>,
    ) -> Result<Self, String> {
        let config = SubtaskConfig::new(task).with_policy(Arc::new(Recommended));
        let run = Supervised::start(config, auto, spawn)
            .map_err(|e| e.to_string())?
            .with_interval(interval);
        Ok(Self {
            handle: run.handle().clone(),
            policy: run.policy().clone(),
            needs_person: run.needs_person(),
            resume_state: run.resume_state(),
            run,
        })
    }

    /// Supervises the subtask until it ends or a signal arrives: reports progress each
    /// `interval`, and gives `observe` each status it sees (at each report and each
    /// stage change) before its stage is judged.
    pub(crate) async fn supervise(
        &mut self,
        report: &mut Reporter,
        mut observe: impl AsyncFnMut(&pb::SubTaskStatus, &Reporter),
    ) -> Outcome {
        let mut sigterm = terminate_signal();
        let signal = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => Signal::Interrupt,
                () = terminated(&mut sigterm) => Signal::Terminate,
            }
        };
        let ending = self
            .run
            .run_until(signal, async |status: &pb::SubTaskStatus, tick| {
                if tick {
                    report.progress(status);
                }
                observe(status, report).await;
            })
            .await;
        report.finish();
        match ending {
            Ending::Finished => Outcome::Finished,
            Ending::Interrupted(signal) => Outcome::Interrupted(signal),
            Ending::NeedsPerson(status) => Outcome::Failed(status),
            Ending::GaveUp { reason, last_error } => {
                let why = if reason.starts_with("unreachable") {
                    format!("{reason} (--max-unavailable); paused, checkpoints kept: ")
                } else {
                    format!("{reason}: ")
                };
                Outcome::GaveUp(why, last_error)
            }
            _ => Outcome::Failed(Box::new(self.handle.status())),
        }
    }

    /// Says how the run ended and stops the subtask; the exit status. A finished task
    /// is summarised by `finished` (given the resumes), a failed one by `failed`;
    /// the status is 0 only for a complete summary, 128 + the signal's number for a
    /// signal (the task paused first, its checkpoints kept), 1 otherwise.
    pub(crate) async fn end(
        self,
        outcome: Outcome,
        report: &Reporter,
        failed: impl FnOnce(&pb::SubTaskStatus, &dyn Policy) -> Event,
        finished: impl AsyncFnOnce(usize) -> Event,
    ) -> ExitCode {
        let (event, code) = match outcome {
            Outcome::Finished => {
                let summary = finished(self.run.resumes()).await;
                let code = if summary.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                };
                (summary, code)
            }
            Outcome::Failed(status) => (failed(&status, self.policy.as_ref()), ExitCode::from(1)),
            Outcome::GaveUp(why, last_error) => (
                Event::failed(
                    Stage::Paused,
                    last_error.iter().map(|e| e.as_ref()),
                    self.policy.as_ref(),
                    &why,
                ),
                ExitCode::from(1),
            ),
            Outcome::Interrupted(signal) => {
                let _ = self.handle.pause().await;
                let said = Event::Interrupted {
                    signal: signal.name(),
                    message: "paused; checkpoints are kept: run the same command again to resume",
                };
                (said, ExitCode::from(signal.exit_status()))
            }
        };
        report.line(&event);
        self.run.stop().await;
        code
    }
}
