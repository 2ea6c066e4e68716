use std::time::Duration;

use super::*;
use crate::testing::{CallLog, InitStep, Method, Script, ScriptedUnit, Step, check_contract};
use UnitType::{Check, Load, Sync};

fn spawn(scripts: Vec<Script>) -> (SubtaskHandle<String>, CallLog) {
    spawn_with(SubtaskConfig::new("t"), scripts)
}

fn spawn_with(config: SubtaskConfig, scripts: Vec<Script>) -> (SubtaskHandle<String>, CallLog) {
    let log = CallLog::default();
    let units: Vec<BoxUnit<String>> = scripts
        .into_iter()
        .enumerate()
        .map(|(i, s)| Box::new(ScriptedUnit::new(i, s, &log)) as BoxUnit<String>)
        .collect();
    (Subtask::spawn(config, units), log)
}

async fn settle(h: &SubtaskHandle<String>) -> Stage {
    h.wait_for(|s| matches!(s, Stage::Paused | Stage::Finished | Stage::Stopped))
        .await
}

/// The sequence of (unit, method) entries, for asserting call order.
fn entries(log: &CallLog) -> Vec<(usize, Method)> {
    log.calls()
        .iter()
        .filter(|c| c.enter)
        .map(|c| (c.unit, c.method))
        .collect()
}

fn assert_contract(log: &CallLog, stopped: bool) {
    if let Err(violation) = check_contract(&log.calls(), stopped) {
        panic!("{violation}\n{:#?}", log.calls());
    }
}

#[tokio::test(start_paused = true)]
async fn runs_units_in_order_closing_each_after_it_finishes() {
    use Method::*;
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []),
        Script::new(Sync, []),
    ]);
    assert_eq!(settle(&h).await, Stage::Finished);
    assert_eq!(
        entries(&log),
        [
            (0, Init),
            (1, Init),
            (2, Init),
            (2, IsFreshTask),
            (1, IsFreshTask),
            (0, IsFreshTask),
            (0, Process),
            (0, Close),
            (1, Process),
            (1, Close),
            (2, Process),
            (2, Close),
        ]
    );
    let status = h.status();
    assert_eq!((status.stage(), status.unit()), (Stage::Finished, Sync));
    h.stop().await.unwrap();
    assert_eq!(h.stage(), Stage::Stopped);
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn init_failure_closes_the_units_before_it_and_resume_starts_over() {
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []).init([InitStep::Fail]),
        Script::new(Sync, []),
    ]);
    assert_eq!(settle(&h).await, Stage::Paused);
    let status = h.status();
    assert_eq!(status.unit(), Load, "the failing unit's type is reported");
    assert_eq!(status.result.unwrap().errors[0].err_code, 10002);
    assert_eq!(log.count(0, Method::Close), 1);
    assert_eq!(log.count(2, Method::Init), 0);
    h.resume().await.unwrap();
    assert_eq!(settle(&h).await, Stage::Finished);
    assert_eq!(log.count(1, Method::Init), 2);
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn init_times_out_and_panics_in_init_are_failures() {
    let config = SubtaskConfig::new("t").with_init_timeout(Duration::from_secs(3));
    let (h, log) = spawn_with(
        config,
        vec![
            Script::new(Check, []),
            Script::new(Load, []).init([InitStep::Hang]),
        ],
    );
    assert_eq!(settle(&h).await, Stage::Paused);
    let message = &h.status().result.unwrap().errors[0].message;
    assert!(message.contains("init timed out after 3s"), "{message}");
    assert_eq!(log.count(0, Method::Close), 1);

    let (h, log) = spawn(vec![Script::new(Check, []).init([InitStep::Panic])]);
    assert_eq!(settle(&h).await, Stage::Paused);
    assert!(
        h.status().result.unwrap().errors[0]
            .message
            .contains("panicked in init")
    );
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn starts_at_the_last_unit_that_is_not_fresh() {
    let (h, log) = spawn(vec![
        Script::new(Check, []).fresh(false),
        Script::new(Load, []).fresh(false),
        Script::new(Sync, []),
    ]);
    assert_eq!(settle(&h).await, Stage::Finished);
    assert_eq!(log.count(0, Method::Process), 0, "check is skipped");
    assert_eq!(log.count(0, Method::Close), 1, "and closed");
    assert_eq!(log.count(1, Method::Process), 1);
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn errors_pause_after_process_returned_and_resume_continues() {
    let (h, log) = spawn(vec![Script::new(
        Load,
        [Step::ResumableError, Step::Finish],
    )]);
    assert_eq!(settle(&h).await, Stage::Paused);
    let result = h.status().result.unwrap();
    assert!(!result.is_canceled);
    assert_eq!(result.errors.len(), 1);
    assert_eq!(log.count(0, Method::Pause), 1);
    h.resume().await.unwrap();
    assert_eq!(settle(&h).await, Stage::Finished);
    assert_eq!(log.count(0, Method::Resume), 1);
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn pause_cancels_waits_and_marks_the_result_cancelled() {
    let slow = Duration::from_secs(2);
    let (h, log) = spawn(vec![Script::new(
        Load,
        [Step::UntilCancelled { slow }, Step::UntilCancelled { slow }],
    )]);
    h.wait_for(|s| s == Stage::Running).await;
    h.pause().await.unwrap();
    assert_eq!(h.stage(), Stage::Paused);
    let result = h.status().result.unwrap();
    assert!(result.is_canceled);
    assert!(
        result.errors.is_empty(),
        "cancellation-only errors are dropped"
    );
    h.resume().await.unwrap();
    assert_eq!(h.stage(), Stage::Running);
    h.stop().await.unwrap();
    assert_eq!(h.stage(), Stage::Stopped);
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn pausing_a_subtask_paused_by_an_error_marks_it_for_auto_resume_to_ignore() {
    let (h, _log) = spawn(vec![Script::new(Load, [Step::ResumableError])]);
    assert_eq!(settle(&h).await, Stage::Paused);
    h.pause().await.unwrap();
    let result = h.status().result.unwrap();
    assert!(result.is_canceled && !result.errors.is_empty());
    // Pausing again (paused by a person now) is refused.
    let err = h.pause().await.unwrap_err();
    assert_eq!(err.to_string(), "cannot pause a subtask that is Paused");
    assert_eq!(err.code().code, 40050);
}

#[tokio::test(start_paused = true)]
async fn illegal_requests_name_the_stage() {
    let (h, _log) = spawn(vec![Script::new(
        Load,
        [Step::UntilCancelled {
            slow: Duration::ZERO,
        }],
    )]);
    h.wait_for(|s| s == Stage::Running).await;
    let err = h.resume().await.unwrap_err();
    assert!(matches!(
        err,
        SubtaskError::IllegalStage {
            op: Operation::Resume,
            stage: Stage::Running
        }
    ));
    assert_eq!(err.code().code, 40051);
    let err = h.update("x".into()).await.unwrap_err();
    assert_eq!(err.to_string(), "cannot update a subtask that is Running");
    h.pause().await.unwrap();
    assert!(matches!(
        h.update(String::new()).await,
        Err(SubtaskError::Update(_))
    ));
    h.update("new".into()).await.unwrap();
    h.stop().await.unwrap();
    assert!(matches!(h.stop().await, Err(SubtaskError::Stopped)));
    assert!(matches!(h.resume().await, Err(SubtaskError::Stopped)));
}

#[tokio::test(start_paused = true)]
async fn kill_drops_work_that_ignores_cancellation() {
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, [Step::IgnoreCancel]),
        Script::new(Sync, []),
    ]);
    h.wait_for(|s| s == Stage::Running).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    h.kill().await.unwrap();
    assert_eq!(h.stage(), Stage::Stopped);
    assert_eq!(log.count(1, Method::Kill), 1);
    assert_eq!(log.count(1, Method::Close), 0);
    assert_eq!(log.count(2, Method::Close), 1);
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_unit_pauses_the_subtask_instead_of_crashing_it() {
    let (h, log) = spawn(vec![Script::new(Load, [Step::Panic, Step::Finish])]);
    assert_eq!(settle(&h).await, Stage::Paused);
    let e = &h.status().result.unwrap().errors[0];
    assert!(
        e.message
            .contains("unit panicked in process: scripted panic in unit 0"),
        "{e:?}"
    );
    h.resume().await.unwrap();
    assert_eq!(settle(&h).await, Stage::Finished);
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn status_is_answered_while_process_runs() {
    let (h, _log) = spawn(vec![Script::new(Load, [Step::IgnoreCancel])]);
    h.wait_for(|s| s == Stage::Running).await;
    tokio::task::yield_now().await;
    let status = h.status();
    assert_eq!(status.stage(), Stage::Running);
    let Some(pb::sub_task_status::Status::Load(load)) = status.status else {
        panic!("load status")
    };
    assert_eq!(
        load.finished_bytes, 1,
        "the unit's own status, read while it works"
    );
    h.kill().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_and_closes() {
    let (h, log) = spawn(vec![Script::new(
        Load,
        [Step::UntilCancelled {
            slow: Duration::ZERO,
        }],
    )]);
    let mut stages = h.watch_stage();
    drop(h);
    while *stages.borrow_and_update() != Stage::Stopped {
        if stages.changed().await.is_err() {
            break;
        }
    }
    assert_eq!(*stages.borrow(), Stage::Stopped);
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_from_many_tasks_keep_the_contract() {
    let slow = Duration::from_millis(5);
    let steps: Vec<Step> = (0..50).map(|_| Step::UntilCancelled { slow }).collect();
    let (h, log) = spawn(vec![Script::new(Load, steps)]);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let _ = if i % 2 == 0 {
                    h.pause().await
                } else {
                    h.resume().await
                };
                let _ = h.status();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    h.stop().await.unwrap();
    assert_contract(&log, true);
}
