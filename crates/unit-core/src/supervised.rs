//! One loop that runs a subtask under auto-resume until it ends, whichever way it ends:
//! what `unitctl`, the example adapters and users' tools share.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use unit_proto::pb::{self, Stage};

use crate::auto_resume::{AutoResume, AutoResumeConfig, Exit, ResumeState};
use crate::classify::Verdict;
use crate::error::Error;
use crate::policy::Policy;
use crate::supervisor::{BoxUnit, Subtask, SubtaskConfig, SubtaskHandle};

/// How a [`Supervised`] run ended. The subtask is left as it is (paused, finished or
/// stopped) until [`Supervised::stop`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Ending<I = std::convert::Infallible> {
    /// Every unit finished.
    Finished,
    /// A person must act: the subtask is paused by an error the policy never resumes,
    /// or it was stopped. The status holds the errors.
    NeedsPerson(Box<pb::SubTaskStatus>),
    /// Auto-resume stopped resuming errors that are resumable in themselves: the same
    /// error came back with nothing done in between
    /// ([`max_resumes_without_progress`](AutoResumeConfig::max_resumes_without_progress)),
    /// connections failed for [`max_unavailable`](AutoResumeConfig::max_unavailable), or
    /// the give-up policy said so. The subtask stays paused, its checkpoints kept.
    GaveUp {
        /// Why, in words (`no progress after 5 resumes`).
        reason: String,
        /// The error the subtask is paused with, if auto-resume named one.
        last_error: Option<Box<pb::ProcessError>>,
    },
    /// The `interrupt` future given to [`Supervised::run_until`] completed first (a
    /// signal, a deadline), with its output.
    Interrupted(I),
}

/// A subtask run under [`AutoResume`], with one [`Policy`] for both the supervisor's
/// log and auto-resume's decisions.
///
/// ```
/// use unit_core::prelude::*;
/// use unit_core::{Ending, Supervised};
///
/// struct Hello;
///
/// #[async_trait]
/// impl Unit for Hello {
///     type Config = ();
///     async fn init(&mut self, _: CancellationToken) -> Result<(), BoxError> { Ok(()) }
///     async fn process(&mut self, _: CancellationToken) -> pb::ProcessResult { result::finished() }
///     async fn close(&mut self) {}
///     async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> { Ok(()) }
///     fn status_handle(&self) -> StatusHandle {
///         std::sync::Arc::new(|_: Option<&SourceStatus>| UnitStatus::None)
///     }
///     fn unit_type(&self) -> pb::UnitType { pb::UnitType::Load }
///     async fn is_fresh_task(&mut self, _: CancellationToken) -> Result<bool, BoxError> { Ok(true) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let units: Vec<BoxUnit<()>> = vec![Box::new(Hello)];
/// let mut run = Supervised::spawn(SubtaskConfig::new("hello"), units, AutoResumeConfig::default())
///     .expect("a valid configuration");
/// match run.run().await {
///     Ending::Finished => println!("done after {} resumes", run.resumes()),
///     Ending::NeedsPerson(status) => eprintln!("a person must act: {:?}", status.result),
///     Ending::GaveUp { reason, .. } => eprintln!("auto-resume gave up: {reason}"),
///     _ => unreachable!("not interrupted"),
/// }
/// run.stop().await;
/// # }
/// ```
pub struct Supervised<C> {
    handle: SubtaskHandle<C>,
    policy: Arc<dyn Policy>,
    needs_person: watch::Receiver<Option<Verdict>>,
    resume_state: watch::Receiver<ResumeState>,
    auto_resume: JoinHandle<Exit>,
    auto_resume_ended: bool,
    interval: Duration,
}

impl<C: Send + Sync + 'static> Supervised<C> {
    /// Spawns `units` as a [`Subtask`] with `config` under auto-resume set by `auto`,
    /// which judges errors by `config`'s policy.
    ///
    /// # Errors
    /// `auto` is not valid ([`AutoResume::new`]); nothing is spawned then.
    pub fn spawn(
        config: SubtaskConfig,
        units: Vec<BoxUnit<C>>,
        auto: AutoResumeConfig,
    ) -> Result<Self, Error> {
        Self::start(config, auto, |config| Subtask::spawn(config, units))
    }

    /// As [`spawn`](Self::spawn), the subtask spawned by `spawn` from `config` (for
    /// [`Subtask::spawn_with`] and its factories).
    ///
    /// # Errors
    /// `auto` is not valid; nothing is spawned then.
    pub fn start(
        config: SubtaskConfig,
        auto: AutoResumeConfig,
        spawn: impl FnOnce(SubtaskConfig) -> SubtaskHandle<C>,
    ) -> Result<Self, Error> {
        let policy = config.policy.clone();
        let checker = AutoResume::new(auto)?.with_policy(policy.clone());
        let handle = spawn(config);
        let (needs_person, resume_state) = (checker.needs_person(), checker.state());
        let auto_resume = tokio::spawn(checker.run(handle.clone()));
        Ok(Self {
            handle,
            policy,
            needs_person,
            resume_state,
            auto_resume,
            auto_resume_ended: false,
            interval: Duration::from_secs(1),
        })
    }

    /// The same run, its status given to `observe` every `interval` as well as at each
    /// stage change (by default every second).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The subtask, for pausing, resuming, updating or reading its status.
    pub fn handle(&self) -> &SubtaskHandle<C> {
        &self.handle
    }

    /// The policy that judges every error of the run.
    pub fn policy(&self) -> &Arc<dyn Policy> {
        &self.policy
    }

    /// Auto-resume's verdict while a person must act (see [`AutoResume::needs_person`]).
    pub fn needs_person(&self) -> watch::Receiver<Option<Verdict>> {
        self.needs_person.clone()
    }

    /// Auto-resume's back-off and resumes (see [`AutoResume::state`]).
    pub fn resume_state(&self) -> watch::Receiver<ResumeState> {
        self.resume_state.clone()
    }

    /// Resumes so far, automatic or not ([`SubtaskHandle::resumes`]).
    pub fn resumes(&self) -> usize {
        self.handle.resumes()
    }

    /// Runs until the subtask ends; see [`run_until`](Self::run_until).
    pub async fn run(&mut self) -> Ending {
        self.run_until(std::future::pending(), async |_, _| {})
            .await
    }

    /// Runs until the subtask ends or `interrupt` completes, whichever comes first.
    /// `observe` is given each status read: every interval (`tick` true) and at each
    /// stage change (`tick` false), before the stage is judged. May be called again
    /// after an interruption.
    ///
    /// The run has ended when the subtask finished ([`Ending::Finished`]), when it is
    /// paused on an error the policy never resumes or was stopped
    /// ([`Ending::NeedsPerson`]), or when auto-resume gave up ([`Ending::GaveUp`]): it
    /// never waits on a subtask that nothing will resume.
    pub async fn run_until<I>(
        &mut self,
        interrupt: impl Future<Output = I>,
        mut observe: impl AsyncFnMut(&pb::SubTaskStatus, bool),
    ) -> Ending<I> {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stages = self.handle.watch_stage();
        let mut interrupt = std::pin::pin!(interrupt);
        loop {
            let tick = tokio::select! {
                _ = ticks.tick() => true,
                // Stage changes are judged at once, not at the next tick.
                changed = stages.changed() => {
                    if changed.is_err() {
                        return Ending::NeedsPerson(Box::new(self.handle.status()));
                    }
                    false
                }
                out = &mut interrupt => return Ending::Interrupted(out),
                exit = &mut self.auto_resume, if !self.auto_resume_ended => {
                    self.auto_resume_ended = true;
                    match exit {
                        Ok(Exit::NoProgress { resumes, last_error }) => {
                            return Ending::GaveUp {
                                reason: format!("no progress after {resumes} resumes"),
                                last_error: Some(last_error),
                            };
                        }
                        Ok(Exit::Unavailable { down_for, last_error }) => {
                            return Ending::GaveUp {
                                reason: format!(
                                    "unreachable for {} s with no progress",
                                    down_for.as_secs()
                                ),
                                last_error: Some(last_error),
                            };
                        }
                        Ok(Exit::GaveUp) => {
                            let status = self.handle.status();
                            return Ending::GaveUp {
                                reason: "the give-up policy stopped automatic resumes".into(),
                                last_error: status
                                    .result
                                    .and_then(|r| r.errors.into_iter().next())
                                    .map(Box::new),
                            };
                        }
                        // It saw the subtask end (or panicked): the stage says how.
                        _ => false,
                    }
                }
            };
            let status = self.handle.status();
            observe(&status, tick).await;
            match status.stage() {
                Stage::Finished => return Ending::Finished,
                Stage::Stopped => return Ending::NeedsPerson(Box::new(status)),
                Stage::Paused if self.unresumable(&status) => {
                    return Ending::NeedsPerson(Box::new(status));
                }
                _ => {}
            }
        }
    }

    /// Paused by an error that the policy never resumes (or paused with auto-resume
    /// gone, which will not resume it either).
    fn unresumable(&self, status: &pb::SubTaskStatus) -> bool {
        let Some(result) = status.result.as_ref().filter(|r| !r.is_canceled) else {
            return false;
        };
        self.auto_resume_ended && !result.errors.is_empty()
            || result
                .errors
                .iter()
                .any(|e| !self.policy.explain(e).is_resumable())
    }

    /// Stops auto-resume and the subtask (a paused one keeps its checkpoints).
    pub async fn stop(self) {
        self.auto_resume.abort();
        let _ = self.handle.stop().await;
    }
}

#[cfg(test)]
mod tests;
