use std::time::Duration;

use super::*;
use crate::supervisor::{BoxUnit, Subtask, SubtaskConfig};
use crate::testing::{CallLog, Method, Script, ScriptedUnit, Step};
use crate::{Error, ErrorCode, new_process_error};
use pb::UnitType::Load;

fn no_jitter() -> AutoResumeConfig {
    AutoResumeConfig::default().with_backoff(BackoffConfig {
        jitter: false,
        ..Default::default()
    })
}

fn paused_with(errors: Vec<pb::ProcessError>, canceled: bool) -> pb::SubTaskStatus {
    pb::SubTaskStatus {
        stage: Stage::Paused.into(),
        result: Some(pb::ProcessResult {
            is_canceled: canceled,
            errors,
            detail: vec![],
        }),
        ..Default::default()
    }
}

fn running() -> pb::SubTaskStatus {
    pb::SubTaskStatus {
        stage: Stage::Running.into(),
        ..Default::default()
    }
}

fn resumable() -> pb::ProcessError {
    new_process_error(&Error::generate(&ErrorCode::DB_BAD_CONN, &[]))
}

/// A resumable error that is not a lost connection.
fn stuck() -> pb::ProcessError {
    new_process_error(&Error::generate(
        &ErrorCode::DB_QUERY_FAILED,
        &[&"SELECT 1"],
    ))
}

fn unresumable() -> pb::ProcessError {
    new_process_error(&Error::generate(&ErrorCode::DUMP_UNIT_GLOBAL_LOCK, &[]))
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(start_paused = true)]
async fn strategies_follow_dm() {
    let mut c = AutoResume::new(no_jitter()).unwrap();
    let t0 = Instant::now();
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore);
    assert_eq!(
        c.strategy(&paused_with(vec![resumable()], true), t0),
        Strategy::Ignore,
        "paused by a person"
    );
    assert_eq!(
        c.strategy(
            &pb::SubTaskStatus {
                stage: Stage::Paused.into(),
                ..Default::default()
            },
            t0
        ),
        Strategy::Ignore
    );
    let Strategy::NoSense(v) =
        c.strategy(&paused_with(vec![resumable(), unresumable()], false), t0)
    else {
        panic!("no-sense expected");
    };
    assert_eq!(
        v.to_string(),
        "not resumable: code 32004 (ErrDumpUnitGlobalLock) is never resumable"
    );
    let failing = paused_with(vec![resumable()], false);
    // The first sight counts as the last resume (DM's LatestResumeTime starts at now).
    assert_eq!(
        c.strategy(&failing, t0),
        Strategy::Skip { remaining: secs(1) },
        "seen first at t0"
    );
    let t1 = t0 + secs(1);
    assert_eq!(c.strategy(&failing, t1), Strategy::Dispatch);
    c.resumed(&failing, t1);
    assert_eq!(
        c.strategy(&failing, t1 + secs(1)),
        Strategy::Skip { remaining: secs(1) }
    );
    assert_eq!(c.strategy(&failing, t1 + secs(2)), Strategy::Dispatch);
}

#[tokio::test(start_paused = true)]
async fn rollback_on_every_ignore_check_and_paused_time_on_every_other() {
    // DM's task_checker_test: a manually paused subtask rolls the back-off back too.
    let mut c = AutoResume::new(no_jitter()).unwrap();
    let t0 = Instant::now();
    c.resumed(&running(), t0);
    c.resumed(&running(), t0);
    assert_eq!(c.backoff().nominal(), secs(4));
    let by_person = paused_with(vec![resumable()], true);
    assert_eq!(c.strategy(&by_person, t0 + secs(301)), Strategy::Ignore);
    assert_eq!(
        c.backoff().nominal(),
        secs(2),
        "rolled back while paused by a person"
    );
    // A skip records the subtask as paused now: no rollback a window after an earlier
    // check, only a window after the last check that saw it paused.
    let failing = paused_with(vec![resumable()], false);
    let t1 = t0 + secs(302);
    c.resumed(&running(), t1 - secs(1));
    assert_eq!(c.backoff().nominal(), secs(4));
    assert!(matches!(c.strategy(&failing, t1), Strategy::Skip { .. }));
    assert_eq!(c.strategy(&running(), t1 + secs(300)), Strategy::Ignore);
    assert_eq!(c.backoff().nominal(), secs(4), "the skip counted as paused");
    assert_eq!(c.strategy(&running(), t1 + secs(301)), Strategy::Ignore);
    assert_eq!(c.backoff().nominal(), secs(2));
    // So does a no-sense check.
    let t2 = t1 + secs(302);
    c.resumed(&running(), t2);
    assert!(matches!(
        c.strategy(&paused_with(vec![unresumable()], false), t2 + secs(10)),
        Strategy::NoSense(_)
    ));
    assert_eq!(c.strategy(&running(), t2 + secs(305)), Strategy::Ignore);
    assert_eq!(
        c.backoff().nominal(),
        secs(4),
        "the no-sense check counted as paused"
    );
}

#[tokio::test(start_paused = true)]
async fn relay_errors_use_the_relay_classifier() {
    let mut c = AutoResume::new(no_jitter().for_relay()).unwrap();
    let now = Instant::now();
    let relay = new_process_error(&Error::generate(&ErrorCode::RELAY_NO_CURRENT_UUID, &[]));
    assert!(matches!(
        c.strategy(&paused_with(vec![relay], false), now),
        Strategy::NoSense(_)
    ));
    // 32004 is unresumable for tasks but not in the relay set.
    assert_eq!(
        c.strategy(&paused_with(vec![unresumable()], false), now + secs(1)),
        Strategy::Dispatch
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_rolls_back_one_step_per_stable_window() {
    let mut c = AutoResume::new(no_jitter()).unwrap();
    let t0 = Instant::now();
    for i in 0..4 {
        c.resumed(&running(), t0 + secs(i));
    }
    assert_eq!(c.backoff().nominal(), secs(16));
    let after = t0 + secs(3);
    assert_eq!(c.strategy(&running(), after + secs(299)), Strategy::Ignore);
    assert_eq!(c.backoff().nominal(), secs(16), "not yet a whole window");
    c.strategy(&running(), after + secs(301));
    assert_eq!(c.backoff().nominal(), secs(8));
    c.strategy(&running(), after + secs(400));
    assert_eq!(
        c.backoff().nominal(),
        secs(8),
        "the window restarts after a rollback"
    );
    c.strategy(&running(), after + secs(602));
    assert_eq!(c.backoff().nominal(), secs(4));
}

#[tokio::test(start_paused = true)]
async fn give_up_after_attempts_or_time_when_enabled() {
    let config = no_jitter().with_give_up(GiveUp {
        max_attempts: Some(2),
        stuck_for: None,
    });
    let mut c = AutoResume::new(config).unwrap();
    let failing = paused_with(vec![resumable()], false);
    let t0 = Instant::now();
    c.resumed(&running(), t0);
    c.resumed(&running(), t0 + secs(10));
    assert!(matches!(
        c.strategy(&failing, t0 + secs(100)),
        Strategy::GiveUp { attempts: 2, .. }
    ));

    let config = no_jitter().with_give_up(GiveUp {
        max_attempts: None,
        stuck_for: Some(secs(1800)),
    });
    let mut c = AutoResume::new(config).unwrap();
    assert!(matches!(c.strategy(&failing, t0), Strategy::Skip { .. }));
    assert_eq!(c.strategy(&failing, t0 + secs(1)), Strategy::Dispatch);
    c.resumed(&running(), t0 + secs(1));
    assert!(matches!(
        c.strategy(&failing, t0 + secs(1800)),
        Strategy::GiveUp { .. }
    ));
    // Off by default (the no-progress limit is another rule, tested below).
    let mut c = AutoResume::new(AutoResumeConfig {
        max_resumes_without_progress: None,
        ..no_jitter()
    })
    .unwrap();
    for i in 0..100 {
        c.resumed(&running(), t0 + secs(i));
    }
    assert_eq!(c.strategy(&failing, t0 + secs(100_000)), Strategy::Dispatch);
}

#[test]
fn invalid_settings_are_rejected() {
    let zero = AutoResumeConfig {
        check_interval: Duration::ZERO,
        ..AutoResumeConfig::default()
    };
    assert_eq!(AutoResume::new(zero).unwrap_err().code().code, 11103);
    let bad = AutoResumeConfig::default().with_backoff(BackoffConfig {
        factor: 0.0,
        ..Default::default()
    });
    assert_eq!(AutoResume::new(bad).unwrap_err().code().code, 11103);
}

fn subtask(steps: Vec<Step>) -> (crate::SubtaskHandle<String>, CallLog) {
    let log = CallLog::default();
    let unit: BoxUnit<String> = Box::new(ScriptedUnit::new(0, Script::new(Load, steps), &log));
    (Subtask::spawn(SubtaskConfig::new("auto"), vec![unit]), log)
}

#[tokio::test(start_paused = true)]
async fn resumes_with_growing_backoff_until_finished() {
    let (h, log) = subtask(vec![
        Step::ResumableError,
        Step::ResumableError,
        Step::ResumableError,
        Step::Finish,
    ]);
    h.wait_for(|s| s == Stage::Paused).await;
    let started = Instant::now();
    let exit = AutoResume::new(no_jitter()).unwrap().run(h.clone()).await;
    assert_eq!(exit, Exit::Done(Stage::Finished));
    assert_eq!(log.count(0, Method::Resume), 3);
    // Checks every 5 s: the first sight at 0 s counts as a resume (1 s due); resumes
    // at 5 s, 10 s (2 s due), 15 s (4 s due); the check at 20 s finds it finished.
    assert_eq!(started.elapsed(), secs(20));
}

#[tokio::test(start_paused = true)]
async fn skips_while_the_backoff_exceeds_the_check_interval() {
    let steps = vec![Step::ResumableError; 10];
    let (h, log) = subtask(steps);
    h.wait_for(|s| s == Stage::Paused).await;
    let checker = AutoResume::new(no_jitter()).unwrap();
    let started = Instant::now();
    let run = tokio::spawn(checker.run(h.clone()));
    // First sight at 0 (1 s due); resumes at 5, 10 (2 s due), 15 (4 s due), 25 (8 s
    // due: skipped at 20), 45 (16 s due: skipped at 30, 35, 40).
    let mut seen = Vec::new();
    for at in [1, 6, 11, 16, 21, 26, 31, 36, 41, 46] {
        tokio::time::sleep_until(started + secs(at)).await;
        seen.push(log.count(0, Method::Resume));
    }
    assert_eq!(seen, [0, 1, 2, 3, 3, 4, 4, 4, 4, 5]);
    h.stop().await.unwrap();
    assert_eq!(run.await.unwrap(), Exit::Done(Stage::Stopped));
}

#[tokio::test(start_paused = true)]
async fn never_resumes_an_unresumable_error() {
    let (h, log) = subtask(vec![Step::UnresumableError]);
    let run = tokio::spawn(AutoResume::new(no_jitter()).unwrap().run(h.clone()));
    tokio::time::sleep(secs(3600)).await;
    assert_eq!(log.count(0, Method::Resume), 0);
    assert_eq!(h.stage(), Stage::Paused);
    h.stop().await.unwrap();
    assert_eq!(run.await.unwrap(), Exit::Done(Stage::Stopped));
}

#[tokio::test(start_paused = true)]
async fn leaves_a_subtask_paused_by_a_person_alone() {
    let (h, log) = subtask(vec![Step::UntilCancelled {
        slow: Duration::ZERO,
    }]);
    h.wait_for(|s| s == Stage::Running).await;
    h.pause().await.unwrap();
    let run = tokio::spawn(AutoResume::new(no_jitter()).unwrap().run(h.clone()));
    tokio::time::sleep(secs(600)).await;
    assert_eq!(log.count(0, Method::Resume), 0);
    h.stop().await.unwrap();
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn stops_resuming_after_five_resumes_without_progress_but_waits_out_lost_connections() {
    let mut c = AutoResume::new(no_jitter()).unwrap();
    // A lost connection is waited out: it neither counts nor resets the count.
    let lost = paused_with(vec![resumable()], false);
    let t0 = Instant::now();
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore, "first sight");
    for i in 1..20 {
        let at = t0 + secs(1000 * i);
        assert_eq!(c.strategy(&lost, at), Strategy::Dispatch, "resume {i}");
        c.resumed(&lost, at);
    }
    // A statement the server keeps refusing, misjudged as resumable, is not: the last
    // resume above and four more end on it without progress.
    let failing = paused_with(vec![stuck()], false);
    for i in 20..24 {
        let at = t0 + secs(1000 * i);
        assert_eq!(c.strategy(&failing, at), Strategy::Dispatch, "resume {i}");
        c.resumed(&failing, at);
    }
    let Strategy::NoProgress {
        resumes,
        last_error,
    } = c.strategy(&failing, t0 + secs(50_000))
    else {
        panic!("no progress expected");
    };
    assert_eq!((resumes, *last_error), (5, stuck()));

    // Progress between two resumes starts the count again.
    let mut c = AutoResume::new(no_jitter()).unwrap();
    assert_eq!(
        c.strategy(&running(), t0 - secs(1)),
        Strategy::Ignore,
        "first sight"
    );
    let with_progress = |bytes| pb::SubTaskStatus {
        status: Some(pb::sub_task_status::Status::Load(pb::LoadStatus {
            finished_bytes: bytes,
            ..Default::default()
        })),
        ..failing.clone()
    };
    for i in 0..10 {
        let (status, at) = (
            with_progress(i / 2),
            t0 + secs(1000 * u64::try_from(i).unwrap()),
        );
        assert_eq!(c.strategy(&status, at), Strategy::Dispatch, "resume {i}");
        c.resumed(&status, at);
    }
    // Off when unset, as in DM.
    let mut c = AutoResume::new(AutoResumeConfig {
        max_resumes_without_progress: None,
        ..no_jitter()
    })
    .unwrap();
    for i in 0..10 {
        c.resumed(&failing, t0 + secs(i));
    }
    assert_eq!(c.strategy(&failing, t0 + secs(100_000)), Strategy::Dispatch);
}

#[tokio::test(start_paused = true)]
async fn run_reports_no_progress_and_leaves_the_subtask_paused() {
    let (h, log) = subtask(vec![Step::StuckError; 10]);
    h.wait_for(|s| s == Stage::Paused).await;
    let exit = AutoResume::new(no_jitter()).unwrap().run(h.clone()).await;
    let Exit::NoProgress {
        resumes,
        last_error,
    } = exit
    else {
        panic!("expected no progress, got {exit:?}");
    };
    assert_eq!(resumes, 5);
    assert_eq!(last_error.err_code, ErrorCode::DB_QUERY_FAILED.code);
    assert_eq!(log.count(0, Method::Resume), 5);
    assert_eq!(h.stage(), Stage::Paused);
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn run_tells_when_a_person_is_needed_without_polling() {
    let (h, _log) = subtask(vec![Step::UnresumableError]);
    let checker = AutoResume::new(no_jitter()).unwrap();
    let mut needs = checker.needs_person();
    let run = tokio::spawn(checker.run(h.clone()));
    needs.changed().await.unwrap();
    let verdict = needs.borrow().expect("a verdict");
    assert!(!verdict.is_resumable());
    assert_eq!(
        verdict.to_string(),
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#
    );
    h.stop().await.unwrap();
    assert_eq!(run.await.unwrap(), Exit::Done(Stage::Stopped));
}

#[tokio::test(start_paused = true)]
async fn stops_resuming_a_subtask_whose_connections_fail_longer_than_max_unavailable() {
    let config = no_jitter().with_max_unavailable(Some(secs(300)));
    let mut c = AutoResume::new(config).unwrap();
    let lost = paused_with(vec![resumable()], false);
    let t0 = Instant::now();
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore, "first sight");
    // Resumed with back-off while the outage lasts less than the bound, a resumed
    // run seen running in between included.
    let mut at = t0 + secs(1);
    while at < t0 + secs(300) {
        if c.strategy(&lost, at) == Strategy::Dispatch {
            c.resumed(&lost, at);
        }
        assert_eq!(c.strategy(&running(), at + secs(1)), Strategy::Ignore);
        at += secs(5);
    }
    let Strategy::Unavailable {
        down_for,
        last_error,
    } = c.strategy(&lost, t0 + secs(301))
    else {
        panic!("the outage is over the bound");
    };
    assert_eq!((down_for, *last_error), (secs(300), resumable()));

    // Progress between two failures starts the time again.
    let mut c = AutoResume::new(config).unwrap();
    let loading = |bytes| pb::SubTaskStatus {
        status: Some(pb::sub_task_status::Status::Load(pb::LoadStatus {
            finished_bytes: bytes,
            ..Default::default()
        })),
        ..lost.clone()
    };
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore);
    for i in 0..10u64 {
        let strategy = c.strategy(&loading(i.cast_signed()), t0 + secs(1 + 100 * i));
        assert!(
            !matches!(strategy, Strategy::Unavailable { .. }),
            "{i}: {strategy:?}"
        );
    }
    // A work error is not an outage (the no-progress bound judges it).
    let mut c = AutoResume::new(config).unwrap();
    let failing = paused_with(vec![stuck()], false);
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore);
    assert!(!matches!(
        c.strategy(&failing, t0 + secs(10_000)),
        Strategy::Unavailable { .. }
    ));
    // Off by default, as in DM.
    let mut c = AutoResume::new(no_jitter()).unwrap();
    assert_eq!(c.strategy(&running(), t0), Strategy::Ignore);
    for at in [secs(1), secs(100_000)] {
        assert!(!matches!(
            c.strategy(&lost, t0 + at),
            Strategy::Unavailable { .. }
        ));
    }
}
