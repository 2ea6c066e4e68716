//! The one supervision loop of `unitctl migrate`, whichever engine copies: the
//! subtask spawned under auto-resume with its resumes counted, progress reported each
//! interval, stage changes judged at once, and the run ended by the task finishing,
//! an error that needs a person, no progress over automatic resumes, or a signal.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use unit_core::{
    AutoResume, AutoResumeConfig, Exit, Policy, Recommended, ResumeState, SubtaskConfig,
    SubtaskHandle, Verdict,
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
    GaveUp(String, Box<pb::ProcessError>),
}

/// A subtask under auto-resume, its resumes counted.
pub(crate) struct Drive<C> {
    pub(crate) handle: SubtaskHandle<C>,
    /// The one policy that judges every error: the one auto-resume acts by is the one
    /// the supervisor's log and the report give.
    pub(crate) policy: Arc<dyn Policy>,
    /// Auto-resume's verdict while a person must act.
    pub(crate) needs_person: watch::Receiver<Option<Verdict>>,
    /// Auto-resume's back-off and resumes.
    pub(crate) resume_state: watch::Receiver<ResumeState>,
    /// Resumes so far, automatic or not.
    pub(crate) resumes: Arc<AtomicUsize>,
    auto_resume: JoinHandle<Exit>,
    counter: JoinHandle<()>,
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
    /// Spawns the subtask of `task` with `spawn`, under auto-resume set by `auto`.
    ///
    /// # Errors
    /// `auto` is not valid (nothing is spawned then).
    pub(crate) fn start(
        task: &str,
        auto: AutoResumeConfig,
        spawn: impl FnOnce(SubtaskConfig) -> SubtaskHandle<C>,
    ) -> Result<Self, String> {
        let policy: Arc<dyn Policy> = Arc::new(Recommended);
        let checker = AutoResume::new(auto)
            .map_err(|e| e.to_string())?
            .with_policy(policy.clone());
        let handle = spawn(SubtaskConfig::new(task).with_policy(policy.clone()));
        let (needs_person, resume_state) = (checker.needs_person(), checker.state());
        let auto_resume = tokio::spawn(checker.run(handle.clone()));
        let resumes = Arc::new(AtomicUsize::new(0));
        let counter = tokio::spawn(count_resumes(handle.clone(), resumes.clone()));
        Ok(Self {
            handle,
            policy,
            needs_person,
            resume_state,
            resumes,
            auto_resume,
            counter,
        })
    }

    /// Supervises the subtask until it ends: reports progress each `interval`, and
    /// gives `observe` each status it sees (at each report and each stage change)
    /// before judging its stage.
    pub(crate) async fn supervise(
        &mut self,
        interval: Duration,
        report: &mut Reporter,
        mut observe: impl AsyncFnMut(&pb::SubTaskStatus, &Reporter),
    ) -> Outcome {
        let mut auto_resume_ended = false;
        let mut ticks = tokio::time::interval(interval);
        let mut stages = self.handle.watch_stage();
        let mut sigterm = terminate_signal();
        let outcome = loop {
            let report_now = tokio::select! {
                _ = ticks.tick() => true,
                // Stage changes are judged at once, not at the next report.
                changed = stages.changed() => {
                    if changed.is_err() {
                        break Outcome::Failed(Box::new(self.handle.status()));
                    }
                    false
                }
                _ = tokio::signal::ctrl_c() => break Outcome::Interrupted(Signal::Interrupt),
                () = terminated(&mut sigterm) => break Outcome::Interrupted(Signal::Terminate),
                exit = &mut self.auto_resume, if !auto_resume_ended => {
                    auto_resume_ended = true;
                    // Beyond DM: the same error over and over with nothing done in between.
                    match exit {
                        Ok(Exit::NoProgress { resumes, last_error }) => {
                            let why = format!("no progress after {resumes} resumes: ");
                            break Outcome::GaveUp(why, last_error);
                        }
                        Ok(Exit::Unavailable { down_for, last_error }) => {
                            let why = format!(
                                "unreachable for {} s with no progress (--max-unavailable); paused, checkpoints kept: ",
                                down_for.as_secs()
                            );
                            break Outcome::GaveUp(why, last_error);
                        }
                        _ => {}
                    }
                    // Otherwise it saw the subtask end: the stage says how.
                    false
                }
            };
            let status = self.handle.status();
            if report_now {
                report.progress(&status);
            }
            observe(&status, report).await;
            match status.stage() {
                Stage::Finished => break Outcome::Finished,
                Stage::Paused if unresumable(&status) => break Outcome::Failed(Box::new(status)),
                Stage::Stopped => break Outcome::Failed(Box::new(status)),
                _ => {}
            }
        };
        self.auto_resume.abort();
        report.finish();
        outcome
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
                let summary = finished(self.resumes.load(Ordering::Relaxed)).await;
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
                    [last_error.as_ref()],
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
        let _ = self.handle.stop().await;
        self.counter.abort();
        code
    }
}

/// Paused by an error that auto-resume (the recommended policy) will never retry.
fn unresumable(status: &pb::SubTaskStatus) -> bool {
    status.result.as_ref().is_some_and(|r| {
        !r.is_canceled
            && r.errors
                .iter()
                .any(|e| !Recommended.explain(e).is_resumable())
    })
}

async fn count_resumes<C>(handle: SubtaskHandle<C>, resumes: Arc<AtomicUsize>) {
    // Resuming lasts an instant and may be coalesced away; a pause followed by any
    // running stage is a resume.
    let mut stages = handle.watch_stage();
    let mut previous = *stages.borrow_and_update();
    while stages.changed().await.is_ok() {
        let stage = *stages.borrow_and_update();
        if previous == Stage::Paused && matches!(stage, Stage::Resuming | Stage::Running) {
            resumes.fetch_add(1, Ordering::Relaxed);
        }
        previous = stage;
    }
}
