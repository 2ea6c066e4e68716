use std::time::Duration;

use super::*;
use crate::backoff::BackoffConfig;
use crate::testing::{CallLog, Script, ScriptedUnit, Step};
use pb::UnitType::Load;

/// Checks every 100 ms, backs off 1 s without jitter.
fn quick() -> AutoResumeConfig {
    AutoResumeConfig::default()
        .with_check_interval(Duration::from_millis(100))
        .with_backoff(BackoffConfig {
            jitter: false,
            ..Default::default()
        })
}

fn start(steps: impl IntoIterator<Item = Step>, auto: AutoResumeConfig) -> Supervised<String> {
    let log = CallLog::default();
    let units: Vec<BoxUnit<String>> = vec![Box::new(ScriptedUnit::new(
        0,
        Script::new(Load, steps),
        &log,
    ))];
    Supervised::spawn(SubtaskConfig::new("t"), units, auto)
        .unwrap()
        .with_interval(Duration::from_millis(50))
}

#[tokio::test(start_paused = true)]
async fn a_passing_error_is_resumed_and_the_run_finishes() {
    let mut run = start([Step::ResumableError, Step::Finish], quick());
    assert_eq!(run.run().await, Ending::Finished);
    assert_eq!(run.resumes(), 1);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_error_no_retry_fixes_ends_the_run_at_once() {
    let mut run = start([Step::UnresumableError], quick());
    let Ending::NeedsPerson(status) = run.run().await else {
        panic!("not ended for a person");
    };
    assert_eq!(status.stage(), Stage::Paused);
    assert_eq!(run.resumes(), 0);
    run.stop().await;
}

/// Before this loop was shared, the example adapter polled for ever once auto-resume
/// gave up on a resumable error.
#[tokio::test(start_paused = true)]
async fn a_resumable_error_without_progress_ends_when_auto_resume_gives_up() {
    let mut run = start(
        std::iter::repeat_n(Step::StuckError, 20),
        quick().with_max_resumes_without_progress(Some(2)),
    );
    let ended = tokio::time::timeout(Duration::from_secs(600), run.run())
        .await
        .expect("the run ended");
    let Ending::GaveUp { reason, last_error } = ended else {
        panic!("not given up: {ended:?}");
    };
    assert_eq!(reason, "no progress after 2 resumes");
    assert!(last_error.is_some());
    assert_eq!(run.handle().stage(), Stage::Paused);
    run.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_interruption_ends_the_run_and_observe_sees_each_status() {
    let mut run = start([Step::IgnoreCancel], quick());
    let mut seen = Vec::new();
    let ended = run
        .run_until(
            tokio::time::sleep(Duration::from_millis(500)),
            async |status: &pb::SubTaskStatus, _| seen.push(status.stage()),
        )
        .await;
    assert_eq!(ended, Ending::Interrupted(()));
    assert!(seen.len() >= 5, "{seen:?}");
    assert_eq!(seen.last(), Some(&Stage::Running));
    run.handle().kill().await.unwrap();
    run.stop().await;
}
