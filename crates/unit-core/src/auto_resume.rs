//! DM's task checker: resumes subtasks paused by resumable errors, with back-off.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};
use unit_proto::pb::{self, Stage};

use crate::backoff::{Backoff, BackoffConfig};
use crate::catalogue::ErrorCode;
use crate::classify::Verdict;
use crate::error::Error;
use crate::policy::{Policy, Recommended};
use crate::supervisor::SubtaskHandle;

/// When to stop resuming a subtask that keeps failing (beyond DM; off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GiveUp {
    /// Give up after this many automatic resumes without a stable period in between.
    pub max_attempts: Option<u32>,
    /// Give up once the subtask has been failing for this long without a stable period
    /// in between (TiCDC uses 30 minutes).
    pub stuck_for: Option<Duration>,
}

/// Settings of [`AutoResume`]; the defaults are DM's.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AutoResumeConfig {
    /// How often the subtask is checked (DM: 5 s).
    pub check_interval: Duration,
    /// After this long without a pause, the back-off steps back once (DM: 5 min).
    pub backoff_rollback: Duration,
    /// The back-off between resumes (DM: factor 2, 1 s to 5 min, jitter).
    pub backoff: BackoffConfig,
    /// When to give up; never by default, as in DM.
    pub give_up: GiveUp,
    /// Judge errors with the relay classifier (for relay units).
    pub relay: bool,
    /// Beyond DM (which resumes for ever): stop resuming once the subtask has been
    /// resumed this many times in a row without reporting any progress between two
    /// resumes (see [`progress_mark`]), so that an error no retry can fix, misjudged
    /// as resumable, does not loop for ever. A lost or refused connection
    /// ([`is_connection_error`]) neither counts nor resets the count: an outage is
    /// waited out with back-off, as in DM. `None` never stops; default 5.
    pub max_resumes_without_progress: Option<u32>,
    /// Beyond DM (which waits out an outage for ever): stop resuming once the subtask
    /// has been paused by lost or refused connections only ([`is_connection_error`])
    /// for this long with no progress in between: a server is down, and a person must
    /// decide. The time counts from the first such pause, and starts again when the
    /// subtask makes progress or stays unpaused for [`backoff_rollback`]. `None` (the
    /// default, as in DM) waits for ever.
    ///
    /// [`backoff_rollback`]: AutoResumeConfig::backoff_rollback
    pub max_unavailable: Option<Duration>,
}

impl Default for AutoResumeConfig {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(5),
            backoff_rollback: Duration::from_secs(300),
            backoff: BackoffConfig::default(),
            give_up: GiveUp::default(),
            relay: false,
            max_resumes_without_progress: Some(5),
            max_unavailable: None,
        }
    }
}

impl AutoResumeConfig {
    crate::with_setters! {
        with_check_interval => check_interval: Duration,
        with_backoff_rollback => backoff_rollback: Duration,
        with_max_resumes_without_progress => max_resumes_without_progress: Option<u32>,
        with_max_unavailable => max_unavailable: Option<Duration>,
    }

    /// The same settings with another back-off.
    #[must_use]
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// The same settings with a give-up policy.
    #[must_use]
    pub fn with_give_up(mut self, give_up: GiveUp) -> Self {
        self.give_up = give_up;
        self
    }

    /// The same settings for a relay unit.
    #[must_use]
    pub fn for_relay(mut self) -> Self {
        self.relay = true;
        self
    }
}

/// What one check decided.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Strategy {
    /// Not paused, paused by a person, or no result: nothing to do.
    Ignore,
    /// Some error is not resumable: never resumed automatically.
    NoSense(Verdict),
    /// Resumable, but the back-off has not elapsed since the last resume.
    Skip {
        /// How long until it has.
        remaining: Duration,
    },
    /// Resume now.
    Dispatch,
    /// Beyond DM: the subtask was resumed `resumes` times in a row and reported no
    /// progress between the resumes; a person must decide (see
    /// [`AutoResumeConfig::max_resumes_without_progress`]).
    NoProgress {
        /// Automatic resumes without progress.
        resumes: u32,
        /// The error the subtask is paused with.
        last_error: Box<pb::ProcessError>,
    },
    /// Beyond DM: the subtask has been paused by lost or refused connections only for
    /// [`AutoResumeConfig::max_unavailable`] or longer, with no progress; a person
    /// must decide.
    Unavailable {
        /// How long the connections have been failing.
        down_for: Duration,
        /// The error the subtask is paused with.
        last_error: Box<pb::ProcessError>,
    },
    /// The give-up policy says stop trying.
    GiveUp {
        /// Resumes tried since the last stable period.
        attempts: u32,
        /// How long it has been failing.
        failing_for: Duration,
    },
}

/// Why [`AutoResume::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// The subtask reached Stopped or Finished.
    Done(Stage),
    /// The give-up policy stopped the resumes; the subtask stays paused.
    GaveUp,
    /// The subtask made no progress over
    /// [`AutoResumeConfig::max_resumes_without_progress`] resumes; it stays paused.
    NoProgress {
        /// Automatic resumes without progress.
        resumes: u32,
        /// The error the subtask is paused with.
        last_error: Box<pb::ProcessError>,
    },
    /// The subtask's connections failed for [`AutoResumeConfig::max_unavailable`]
    /// with no progress; it stays paused.
    Unavailable {
        /// How long the connections have been failing.
        down_for: Duration,
        /// The error the subtask is paused with.
        last_error: Box<pb::ProcessError>,
    },
}

/// Whether `err` is a lost, refused or unavailable connection: codes 10002
/// (`ErrDBBadConn`) and 10003 (`ErrDBInvalidConn`), or a `RawCause` in the Go driver's
/// words for them (`driver: bad connection`, `invalid connection`), whatever statement
/// failed. Such an error says nothing about whether the work itself can succeed.
pub fn is_connection_error(err: &pb::ProcessError) -> bool {
    err.err_code == ErrorCode::DB_BAD_CONN.code
        || err.err_code == ErrorCode::DB_INVALID_CONN.code
        || err.raw_cause.starts_with("driver: bad connection")
        || err.raw_cause.starts_with("invalid connection")
}

/// The first error of a paused status that is not a lost connection, if any.
fn work_error(status: &pb::SubTaskStatus) -> Option<&pb::ProcessError> {
    let errors = &status.result.as_ref()?.errors;
    if errors.iter().all(is_connection_error) {
        None
    } else {
        errors.first()
    }
}

/// What a subtask's status says of its progress: the current unit and its counters of
/// work done (bytes loaded, rows dumped, events synced, relay position). Two equal
/// marks taken at two resumes mean nothing was done in between.
pub fn progress_mark(status: &pb::SubTaskStatus) -> String {
    use pb::sub_task_status::Status;
    let work = match &status.status {
        Some(Status::Load(l)) => format!("{}", l.finished_bytes),
        Some(Status::Dump(d)) => format!("{} {}", d.finished_rows, d.finished_bytes),
        Some(Status::Sync(s)) => format!(
            "{} {} {}",
            s.total_events, s.syncer_binlog, s.syncer_binlog_gtid
        ),
        Some(Status::Check(c)) => format!("{} {}", c.successful, c.failed),
        Some(Status::Msg(m)) => m.clone(),
        None => String::new(),
    };
    format!("{}:{work}", status.unit)
}

/// DM's task checker for one subtask: classifies each check as ignore, no-sense, skip
/// or dispatch, resumes on dispatch, and backs off between resumes.
#[derive(Debug)]
pub struct AutoResume {
    config: AutoResumeConfig,
    /// Judges the errors ([`Recommended`] unless [`AutoResume::with_policy`]).
    policy: std::sync::Arc<dyn Policy>,
    backoff: Backoff,
    latest_resume: Option<Instant>,
    latest_paused: Instant,
    attempts: u32,
    failing_since: Option<Instant>,
    /// The progress mark at the last automatic resume.
    mark_at_resume: Option<String>,
    /// Automatic resumes in a row with no progress between them.
    resumes_without_progress: u32,
    /// Since when the subtask has been paused by connection errors only, and its
    /// progress mark then.
    unavailable_since: Option<(Instant, String)>,
    /// The verdict of the error the subtask is paused on that the policy will not
    /// resume, while it is (see [`AutoResume::needs_person`]).
    needs_person: tokio::sync::watch::Sender<Option<Verdict>>,
    /// The back-off and resumes so far, after each check (see [`AutoResume::state`]).
    state: tokio::sync::watch::Sender<ResumeState>,
}

/// What auto-resume knows after its latest check, for status and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeState {
    /// The back-off an automatic resume waits after the previous one.
    pub backoff: Duration,
    /// Automatic resumes so far (DM rolls this back after a stable window).
    pub attempts: u32,
    /// While the subtask is paused on a resumable error: how long until the next
    /// resume may be dispatched.
    pub waiting: Option<Duration>,
    /// While the subtask is paused by lost or refused connections only: how long they
    /// have been failing (see [`AutoResumeConfig::max_unavailable`]).
    pub unavailable_for: Option<Duration>,
}

impl AutoResume {
    /// A checker with `config`.
    ///
    /// # Errors
    /// Code 11103 when the back-off is invalid or an interval is zero.
    pub fn new(config: AutoResumeConfig) -> Result<Self, Error> {
        Self::with_backoff(config, Backoff::new(config.backoff)?)
    }

    /// A checker using `backoff` (for example one with a seeded random source).
    ///
    /// # Errors
    /// Code 11103 when an interval is zero.
    pub fn with_backoff(config: AutoResumeConfig, backoff: Backoff) -> Result<Self, Error> {
        for (name, d) in [
            ("check_interval", config.check_interval),
            ("backoff_rollback", config.backoff_rollback),
        ] {
            if d.is_zero() {
                return Err(Error::generate(
                    &ErrorCode::BACKOFF_ARGS_NOT_VALID,
                    &[&name, &"must be above zero"],
                ));
            }
        }
        Ok(Self {
            config,
            policy: std::sync::Arc::new(Recommended),
            backoff,
            latest_resume: None,
            latest_paused: Instant::now(),
            attempts: 0,
            failing_since: None,
            mark_at_resume: None,
            resumes_without_progress: 0,
            unavailable_since: None,
            needs_person: tokio::sync::watch::Sender::new(None),
            state: tokio::sync::watch::Sender::new(ResumeState::default()),
        })
    }

    /// The same checker judging errors with `policy` (by default [`Recommended`]; use
    /// [`DmRules`](crate::DmRules) to resume exactly what DM resumes).
    #[must_use]
    pub fn with_policy(mut self, policy: std::sync::Arc<dyn Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// Tells, without polling the subtask, when it is paused on an error the policy will
    /// not resume: `Some(verdict)` from the check that finds it (a person must act),
    /// `None` again once it is no longer. Take it before [`run`](Self::run). The watch
    /// closes (its `changed()` returns an error) when `run` returns: a caller awaiting
    /// it must await `run`'s end too.
    pub fn needs_person(&self) -> tokio::sync::watch::Receiver<Option<Verdict>> {
        self.needs_person.subscribe()
    }

    /// Tells the back-off, the resumes so far and the wait before the next resume,
    /// as of each check. Take it before [`run`](Self::run); like
    /// [`needs_person`](Self::needs_person), it closes when `run` returns.
    pub fn state(&self) -> tokio::sync::watch::Receiver<ResumeState> {
        self.state.subscribe()
    }

    /// The back-off, for inspection.
    pub fn backoff(&self) -> &Backoff {
        &self.backoff
    }

    fn explain(&self, err: &pb::ProcessError) -> Verdict {
        if self.config.relay {
            self.policy.explain_relay(err)
        } else {
            self.policy.explain(err)
        }
    }

    /// Decides what to do about `status` at `now` (DM's `getResumeStrategy` and the
    /// bookkeeping of DM's `AutoResumeInfo.update` after each check).
    ///
    /// The first check counts as the last resume (DM starts `LatestResumeTime` at the
    /// first sight of a subtask), so a failure right after start waits one back-off.
    /// An ignore check rolls the back-off back once the subtask has not been seen
    /// failing for a whole window, whatever its stage (a manual pause included); every
    /// other check records the subtask as paused now.
    pub fn strategy(&mut self, status: &pb::SubTaskStatus, now: Instant) -> Strategy {
        let latest_resume = *self.latest_resume.get_or_insert(now);
        let paused = status.stage() == Stage::Paused;
        let result = status.result.as_ref().filter(|r| paused && !r.is_canceled);
        let Some(result) = result else {
            if now.saturating_duration_since(self.latest_paused) > self.config.backoff_rollback {
                // Stable for a whole window: step back, and forget past trouble.
                self.backoff.rollback();
                self.latest_paused = now;
                self.attempts = 0;
                self.failing_since = None;
                self.unavailable_since = None;
            }
            return Strategy::Ignore;
        };
        self.latest_paused = now;
        if let Some(verdict) = result
            .errors
            .iter()
            .map(|e| self.explain(e))
            .find(|v| !v.is_resumable())
        {
            return Strategy::NoSense(verdict);
        }
        if let Some(strategy) = self.unavailable(status, &result.errors, now) {
            return strategy;
        }
        if let (Some(limit), Some(error)) =
            (self.config.max_resumes_without_progress, work_error(status))
        {
            if self.mark_at_resume.as_deref() == Some(progress_mark(status).as_str())
                && self.resumes_without_progress + 1 >= limit
            {
                return Strategy::NoProgress {
                    resumes: self.resumes_without_progress + 1,
                    last_error: Box::new(error.clone()),
                };
            }
        }
        let failing_since = *self.failing_since.get_or_insert(now);
        let failing_for = now.saturating_duration_since(failing_since);
        let GiveUp {
            max_attempts,
            stuck_for,
        } = self.config.give_up;
        if max_attempts.is_some_and(|m| self.attempts >= m)
            || stuck_for.is_some_and(|s| failing_for >= s)
        {
            return Strategy::GiveUp {
                attempts: self.attempts,
                failing_for,
            };
        }
        let wait = self.backoff.current();
        let since = now.saturating_duration_since(latest_resume);
        if since < wait {
            return Strategy::Skip {
                remaining: wait - since,
            };
        }
        Strategy::Dispatch
    }

    /// Keeps the time since which `status` has been paused by connection errors only,
    /// and says when it exceeds [`AutoResumeConfig::max_unavailable`].
    fn unavailable(
        &mut self,
        status: &pb::SubTaskStatus,
        errors: &[pb::ProcessError],
        now: Instant,
    ) -> Option<Strategy> {
        if errors.is_empty() || work_error(status).is_some() {
            self.unavailable_since = None;
            return None;
        }
        let mark = progress_mark(status);
        let since = match &self.unavailable_since {
            Some((since, at)) if *at == mark => *since,
            _ => {
                self.unavailable_since = Some((now, mark));
                now
            }
        };
        let down_for = now.saturating_duration_since(since);
        let limit = self.config.max_unavailable?;
        (down_for >= limit).then(|| Strategy::Unavailable {
            down_for,
            last_error: Box::new(errors[0].clone()),
        })
    }

    /// Records a successful automatic resume at `now` of a subtask whose status was
    /// `status` (DM: latest resume time, then `BoundaryForward`; beyond DM, the progress
    /// mark, to count resumes without progress).
    pub fn resumed(&mut self, status: &pb::SubTaskStatus, now: Instant) {
        let mark = progress_mark(status);
        if self.mark_at_resume.as_deref() != Some(mark.as_str()) {
            self.resumes_without_progress = 0;
        } else if work_error(status).is_some() {
            self.resumes_without_progress += 1;
        }
        self.mark_at_resume = Some(mark);
        self.latest_resume = Some(now);
        self.latest_paused = now;
        self.attempts += 1;
        self.backoff.boundary_forward();
    }

    /// Checks `subtask` every `check_interval` until it is Stopped or Finished (or the
    /// give-up policy says stop), resuming it whenever the strategy is dispatch.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future stops the checks.
    pub async fn run<C: Send + Sync + 'static>(mut self, subtask: SubtaskHandle<C>) -> Exit {
        let mut ticks = tokio::time::interval(self.config.check_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_no_sense: Option<Verdict> = None;
        loop {
            ticks.tick().await;
            let status = subtask.status();
            if matches!(status.stage(), Stage::Stopped | Stage::Finished) {
                return Exit::Done(status.stage());
            }
            let now = Instant::now();
            let strategy = self.strategy(&status, now);
            let needs = match &strategy {
                Strategy::NoSense(verdict) => Some(*verdict),
                _ => None,
            };
            self.needs_person.send_if_modified(|current| {
                let changed = *current != needs;
                *current = needs;
                changed
            });
            let state = ResumeState {
                backoff: self.backoff.current(),
                attempts: self.attempts,
                waiting: match &strategy {
                    Strategy::Skip { remaining } => Some(*remaining),
                    Strategy::Dispatch => Some(Duration::ZERO),
                    _ => None,
                },
                unavailable_for: self
                    .unavailable_since
                    .as_ref()
                    .map(|(since, _)| now.saturating_duration_since(*since)),
            };
            self.state.send_if_modified(|current| {
                let changed = *current != state;
                *current = state;
                changed
            });
            match strategy {
                Strategy::Dispatch => match subtask.resume().await {
                    Ok(()) => {
                        self.resumed(&status, now);
                        info!(attempt = self.attempts, next_backoff = ?self.backoff.nominal(), "auto-resumed");
                    }
                    Err(err) => warn!(%err, "auto-resume refused"),
                },
                Strategy::NoSense(verdict) => {
                    if last_no_sense != Some(verdict) {
                        warn!(policy = self.policy.name(), %verdict, "paused by an error that is not resumable; not resuming");
                        last_no_sense = Some(verdict);
                    }
                }
                Strategy::GiveUp {
                    attempts,
                    failing_for,
                } => {
                    warn!(attempts, ?failing_for, "giving up automatic resumes");
                    return Exit::GaveUp;
                }
                Strategy::NoProgress {
                    resumes,
                    last_error,
                } => {
                    warn!(
                        resumes,
                        error = %last_error.raw_cause,
                        "no progress after {resumes} resumes; not resuming (a person must decide)"
                    );
                    return Exit::NoProgress {
                        resumes,
                        last_error,
                    };
                }
                Strategy::Unavailable {
                    down_for,
                    last_error,
                } => {
                    warn!(
                        ?down_for,
                        error = %last_error.raw_cause,
                        "connections failing for {down_for:?} without progress; not resuming (a person must decide)"
                    );
                    return Exit::Unavailable {
                        down_for,
                        last_error,
                    };
                }
                Strategy::Skip { .. } | Strategy::Ignore => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
