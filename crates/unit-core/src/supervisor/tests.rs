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
            // DM asks from the last unit down to the second, never the first.
            (2, IsFreshTask),
            (1, IsFreshTask),
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
    // DM: stopping a finished subtask does nothing and is no error.
    h.stop().await.unwrap();
    assert_eq!(h.stage(), Stage::Finished);
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
            op: Request::Resume,
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

mod random {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Pause,
        Resume,
        Update(bool),
        Stop,
        Kill,
        Status,
        Sleep(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Pause),
            3 => Just(Op::Resume),
            1 => any::<bool>().prop_map(Op::Update),
            1 => Just(Op::Stop),
            1 => Just(Op::Kill),
            2 => Just(Op::Status),
            3 => (0u64..3000).prop_map(Op::Sleep),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            Just(Step::Finish),
            Just(Step::ResumableError),
            Just(Step::UnresumableError),
            (0u64..2000).prop_map(|ms| Step::UntilCancelled {
                slow: Duration::from_millis(ms)
            }),
            Just(Step::IgnoreCancel),
            Just(Step::Panic),
        ]
    }

    fn script() -> impl Strategy<Value = Script> {
        let init = prop_oneof![4 => Just(InitStep::Ok), 1 => Just(InitStep::Fail), 1 => Just(InitStep::Panic)];
        (
            proptest::collection::vec(step(), 0..4),
            proptest::collection::vec(init, 0..2),
            any::<bool>(),
        )
            .prop_map(|(steps, init, fresh)| Script::new(Load, steps).init(init).fresh(fresh))
    }

    /// Runs `ops` against a subtask of `scripts`, checking after each request that the
    /// answer and the stage agree with DM's stage machine, then stops it and checks the
    /// whole call log against the contract.
    async fn run(scripts: Vec<Script>, ops: Vec<Op>) -> Result<(), TestCaseError> {
        let hangs = scripts
            .iter()
            .any(|s| s.steps.contains(&Step::IgnoreCancel));
        let (h, log) = spawn_with(
            SubtaskConfig::new("p").with_init_timeout(Duration::from_secs(5)),
            scripts,
        );
        let mut stopped = false;
        for op in ops {
            let before = h.stage();
            let request = async {
                match op {
                    Op::Pause => h.pause().await,
                    Op::Resume => h.resume().await,
                    Op::Update(ok) => {
                        h.update(if ok { "cfg".into() } else { String::new() })
                            .await
                    }
                    Op::Stop => h.stop().await,
                    Op::Kill => h.kill().await,
                    Op::Status => {
                        let _ = h.status();
                        Ok(())
                    }
                    Op::Sleep(ms) => {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(())
                    }
                }
            };
            let Ok(answer) = tokio::time::timeout(Duration::from_secs(600), request).await else {
                // Only work that ignores cancellation can hold up a graceful request;
                // then kill is the way out.
                prop_assert!(hangs, "{op:?} never answered");
                h.kill()
                    .await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                stopped = true;
                break;
            };
            let after = h.stage();
            if stopped {
                let refused = matches!(answer, Err(SubtaskError::Stopped));
                prop_assert!(
                    refused || matches!(op, Op::Status | Op::Sleep(_)),
                    "{op:?} after stop: {answer:?}"
                );
                continue;
            }
            match (&op, &answer) {
                (Op::Pause, Ok(())) => prop_assert_eq!(after, Stage::Paused),
                (Op::Stop | Op::Kill, Ok(())) => {
                    let finished_stays = matches!(op, Op::Stop) && before == Stage::Finished;
                    prop_assert!(
                        after == Stage::Stopped || (finished_stays && after == Stage::Finished),
                        "{:?} from {:?} left {:?}",
                        op,
                        before,
                        after
                    );
                    stopped = true;
                }
                (Op::Resume, Ok(())) => prop_assert_ne!(after, Stage::Stopped),
                (Op::Pause, Err(SubtaskError::IllegalStage { stage, .. })) => {
                    prop_assert_ne!(*stage, Stage::Running, "{:?}", before)
                }
                (Op::Resume | Op::Update(_), Err(SubtaskError::IllegalStage { stage, .. })) => {
                    prop_assert_ne!(*stage, Stage::Paused)
                }
                (Op::Update(false), Err(SubtaskError::Update(_))) => {
                    prop_assert_eq!(after, Stage::Paused)
                }
                (Op::Update(_), Err(SubtaskError::NotInitialised)) => {
                    prop_assert_eq!(after, Stage::Paused)
                }
                (_, Ok(())) => {}
                (op, Err(e)) => prop_assert!(false, "{op:?} refused unexpectedly: {e}"),
            }
        }
        if !stopped {
            // Work that ignores cancellation can only be killed; otherwise stop gracefully.
            if hangs {
                h.kill().await
            } else {
                h.stop().await
            }
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        prop_assert!(matches!(h.stage(), Stage::Stopped | Stage::Finished));
        check_contract(&log.calls(), true).map_err(TestCaseError::fail)?;
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn any_request_sequence_keeps_the_contract(
            scripts in proptest::collection::vec(script(), 1..4),
            ops in proptest::collection::vec(op(), 0..16),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            rt.block_on(run(scripts, ops))?;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_subtask_reports_new_before_init() {
    let (h, _log) = spawn(vec![Script::new(Load, []).init([InitStep::Hang])]);
    assert_eq!(h.status().stage(), Stage::New);
    h.kill().await.unwrap();
}

/// Once unit 1's init has begun, sends `request` and asserts that it is answered
/// before the 60 s init timeout (on tokio's clock, paused and auto-advanced).
async fn interrupt_init(
    log: &CallLog,
    request: impl std::future::Future<Output = Result<(), SubtaskError>>,
) {
    while log.count(1, Method::Init) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let asked = tokio::time::Instant::now();
    request.await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn kill_during_a_hanging_init_drops_it_at_once() {
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []).init([InitStep::Hang]),
    ]);
    interrupt_init(&log, h.kill()).await;
    assert_eq!(h.stage(), Stage::Stopped);
    assert_eq!(
        log.count(0, Method::Close),
        1,
        "the unit initialised before is closed"
    );
    assert_eq!(
        log.count(1, Method::Close),
        0,
        "the interrupted one was never open"
    );
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn stop_during_init_cancels_it_and_waits_for_it_to_return() {
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []).init([InitStep::WaitForCancel]),
        Script::new(Sync, []),
    ]);
    interrupt_init(&log, h.stop()).await;
    assert_eq!(h.stage(), Stage::Stopped);
    let inits: Vec<_> = log
        .calls()
        .into_iter()
        .filter(|c| !c.enter && c.method == Method::Init)
        .map(|c| (c.unit, c.ok))
        .collect();
    assert_eq!(
        inits,
        [(0, Some(true)), (1, Some(false))],
        "init returned, cancelled"
    );
    assert_eq!(
        log.count(2, Method::Init),
        0,
        "no unit is initialised after a stop"
    );
    assert_eq!(log.count(0, Method::Close), 1);
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn update_reaches_every_open_unit_and_returns_the_units_own_refusal() {
    // Paused in the first unit of a two-unit pipeline: DM updates both.
    let (h, log) = spawn(vec![
        Script::new(Check, [Step::ResumableError]),
        Script::new(Load, []),
    ]);
    assert_eq!(settle(&h).await, Stage::Paused);
    h.update("cfg".into()).await.unwrap();
    assert_eq!(
        (log.count(0, Method::Update), log.count(1, Method::Update)),
        (1, 1)
    );
    // A unit's refusal is its own error and code, not a stage error.
    let refused = h.update(String::new()).await.unwrap_err();
    let SubtaskError::Update(inner) = &refused else {
        panic!("{refused:?}");
    };
    assert_eq!(inner.to_string(), "empty configuration");
    assert_eq!(refused.code().code, ErrorCode::NOT_SET.code);
    // Not paused: 40052, as DM's ErrWorkerUpdateTaskStage.
    h.resume().await.unwrap();
    assert_eq!(settle(&h).await, Stage::Finished);
    let e = h.update("cfg".into()).await.unwrap_err();
    assert_eq!(e.code().code, 40052, "{e}");
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn init_and_fresh_check_failures_name_the_unit_and_the_subtask() {
    let (h, _log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []).init([InitStep::Fail]),
    ]);
    assert_eq!(settle(&h).await, Stage::Paused);
    let e = &h.status().result.unwrap().errors[0];
    assert!(
        e.message
            .starts_with("fail to initialize unit Load of subtask t: "),
        "{}",
        e.message
    );
    assert_eq!(e.err_code, 10002, "the unit's code stays");
    h.stop().await.unwrap();

    // A fresh check that hangs times out (DM: 1 minute) and names the unit.
    let config = SubtaskConfig::new("t").with_call_timeout(Duration::from_secs(60));
    let (h, _log) = spawn_with(
        config,
        vec![
            Script::new(Check, []),
            Script::new(Load, []).hang_in(Method::IsFreshTask),
        ],
    );
    let started = tokio::time::Instant::now();
    assert_eq!(settle(&h).await, Stage::Paused);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    let e = &h.status().result.unwrap().errors[0];
    assert!(
        e.message.starts_with(
            "fail to check whether it is fresh: unit Load of subtask t: is_fresh_task timed out"
        ),
        "{}",
        e.message
    );
    h.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn stop_and_kill_are_not_held_up_by_a_hanging_fresh_check_or_close() {
    let (h, log) = spawn(vec![
        Script::new(Check, []),
        Script::new(Load, []).hang_in(Method::IsFreshTask),
    ]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = tokio::time::Instant::now();
    h.stop().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h.stage(), Stage::Stopped);
    assert_eq!(
        (log.count(0, Method::Close), log.count(1, Method::Close)),
        (1, 1)
    );

    // A unit hanging in close is abandoned after the call timeout, with a logged error.
    let config = SubtaskConfig::new("t").with_call_timeout(Duration::from_secs(60));
    let (h, _log) = spawn_with(
        config,
        vec![
            Script::new(
                Load,
                [Step::UntilCancelled {
                    slow: Duration::ZERO,
                }],
            )
            .hang_in(Method::Close),
        ],
    );
    h.wait_for(|s| s == Stage::Running).await;
    let started = tokio::time::Instant::now();
    h.stop().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert_eq!(h.stage(), Stage::Stopped);
}

#[tokio::test(start_paused = true)]
async fn an_init_that_times_out_is_cancelled_and_given_a_grace_period() {
    // WaitForCancel returns (failed) once cancelled: within the grace period.
    let config = SubtaskConfig::new("t").with_init_timeout(Duration::from_secs(3));
    let (h, log) = spawn_with(
        config,
        vec![Script::new(Load, []).init([InitStep::WaitForCancel])],
    );
    assert_eq!(settle(&h).await, Stage::Paused);
    let init = log
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::Init && !c.enter)
        .count();
    assert_eq!(init, 1, "the init returned after the cancel, not dropped");
    let message = &h.status().result.unwrap().errors[0].message;
    assert!(message.contains("init timed out after 3s"), "{message}");
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

#[tokio::test(start_paused = true)]
async fn a_resume_after_a_failed_init_builds_fresh_units_with_a_factory() {
    let log = CallLog::default();
    let built = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let factory = {
        let (log, built) = (log.clone(), built.clone());
        move || {
            // The first build's Load unit fails its init; later builds succeed.
            let first = built.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
            let load = Script::new(Load, []).init(if first {
                vec![InitStep::Fail]
            } else {
                vec![InitStep::Ok]
            });
            vec![
                Box::new(ScriptedUnit::new(0, Script::new(Check, []), &log)) as BoxUnit<String>,
                Box::new(ScriptedUnit::new(1, load, &log)),
            ]
        }
    };
    let h = Subtask::spawn_with(SubtaskConfig::new("t"), factory);
    assert_eq!(settle(&h).await, Stage::Paused);
    h.resume().await.unwrap();
    assert_eq!(settle(&h).await, Stage::Finished);
    assert_eq!(
        built.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "fresh units for the resume"
    );
    h.stop().await.unwrap();
    assert_contract(&log, true);
}

/// What the supervisor logs while `scripts` run to a pause under `config`.
fn logged_until_paused(config: SubtaskConfig, scripts: Vec<Script>) -> String {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let (h, _) = spawn_with(config, scripts);
            assert_eq!(settle(&h).await, Stage::Paused);
            h.stop().await.unwrap();
        });
    });
    let logged = buffer.0.lock().unwrap().clone();
    String::from_utf8(logged).unwrap()
}

#[test]
fn a_unit_error_is_logged_with_the_verdict_of_the_policy_that_acts_named() {
    let script = || vec![Script::new(Load, [Step::ResumableError])];
    let default = logged_until_paused(SubtaskConfig::new("t"), script());
    let line = default.lines().find(|l| l.contains("unit error")).unwrap();
    assert!(line.contains("policy=\"recommended\" verdict="), "{line}");
    let dm = logged_until_paused(
        SubtaskConfig::new("t").with_policy(std::sync::Arc::new(crate::DmRules)),
        script(),
    );
    let line = dm.lines().find(|l| l.contains("unit error")).unwrap();
    assert!(line.contains("policy=\"DM\" verdict="), "{line}");
}
