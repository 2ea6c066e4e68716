//! `unitctl migrate` between two PostgreSQL databases: `PgCopyUnit` under the
//! supervisor with auto-resume (full mode only; online migration of PostgreSQL is
//! future work).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use unit_core::Exit;
use unit_core::prelude::*;
use unit_postgres::{PgCopyConfig, PgCopyUnit};

use crate::migrate::{
    Args, Mode, Reporter, Signal, count_resumes, explained_error, table_json, terminate_signal,
    terminated, unresumable,
};

/// Whether `url` names a PostgreSQL server.
pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Options of `migrate` that a PostgreSQL copy does not honour, when given.
fn unsupported(args: &Args) -> Option<&'static str> {
    [
        (args.mode != Mode::Full, "--mode all/incremental (online migration of PostgreSQL is future work; use --mode full)"),
        (args.cutover, "--cutover"),
        (args.config.is_some() || args.source_config.is_some(), "--config and --source-config (DM's files name MySQL sources)"),
        (args.listen.is_some(), "--listen"),
        (!args.exclude.is_empty(), "--exclude"),
        (args.max_rows_per_second.is_some() || args.max_bytes_per_second.is_some(), "--max-rows-per-second and --max-bytes-per-second"),
        (args.source_ssl_mode.is_some() || args.target_ssl_mode.is_some(), "--source-ssl-mode and --target-ssl-mode (use sslmode=... in the URL)"),
    ]
    .into_iter()
    .find_map(|(given, what)| given.then_some(what))
}

/// Runs the copy; the exit status as `migrate`'s.
pub(crate) fn run(args: &Args, source: &str, target: &str) -> ExitCode {
    let bad = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    if !is_postgres(source) || !is_postgres(target) {
        return bad("--source and --target must both be postgres:// URLs for a PostgreSQL copy (a copy between MySQL and PostgreSQL is not supported)".to_owned());
    }
    if let Some(what) = unsupported(args) {
        return bad(format!("{what} is not supported for PostgreSQL"));
    }
    if args.chunk_rows == 0 || args.checkpoint_database.is_empty() {
        return bad(
            "--chunk-rows must be at least 1 and --checkpoint-database not empty".to_owned(),
        );
    }
    let mut config = PgCopyConfig::new(&args.task, source, target).chunk_rows(args.chunk_rows);
    config.tables.clone_from(&args.tables);
    if !args.databases.is_empty() {
        // The schemas of the database the URL names.
        config.schemas.clone_from(&args.databases);
    }
    config
        .checkpoint_schema
        .clone_from(&args.checkpoint_database);
    config.acquire_timeout = args.connect_timeout;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return bad(format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(copy(args, config))
}

async fn copy(args: &Args, config: PgCopyConfig) -> ExitCode {
    let started = Instant::now();
    let unit = PgCopyUnit::new(config);
    let report_handle = unit.report_handle();
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(unit)];
    let handle = Subtask::spawn(SubtaskConfig::new(args.task.clone()), units);
    let checker = match AutoResume::new(AutoResumeConfig::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let resumes = Arc::new(AtomicUsize::new(0));
    let counter = tokio::spawn(count_resumes(handle.clone(), resumes.clone()));
    let mut auto_resume = tokio::spawn(checker.run(handle.clone()));
    let mut auto_resume_ended = false;
    let mut report = Reporter::new(args.json);
    let mut ticks = tokio::time::interval(args.interval);
    let mut stages = handle.watch_stage();
    let mut sigterm = terminate_signal();
    let outcome: Result<(), Result<Signal, serde_json::Value>> = loop {
        let report_now = tokio::select! {
            _ = ticks.tick() => true,
            // Stage changes are judged at once, not at the next report.
            changed = stages.changed() => {
                if changed.is_err() {
                    break Err(Err(serde_json::json!({"event": "failed", "stage": "Stopped"})));
                }
                false
            }
            _ = tokio::signal::ctrl_c() => break Err(Ok(Signal::Interrupt)),
            () = terminated(&mut sigterm) => break Err(Ok(Signal::Terminate)),
            exit = &mut auto_resume, if !auto_resume_ended => {
                auto_resume_ended = true;
                // Beyond DM: the same error over and over with nothing done in between.
                if let Ok(Exit::NoProgress { resumes, last_error }) = exit {
                    let why = format!("no progress after {resumes} resumes: ");
                    break Err(Err(failed(&last_error, &why)));
                }
                // Otherwise it saw the subtask end: the stage says how.
                false
            }
        };
        let status = handle.status();
        if report_now {
            report.progress(&status);
        }
        match status.stage() {
            Stage::Finished => break Ok(()),
            Stage::Paused if unresumable(&status) => {
                let errors = status.result.map(|r| r.errors).unwrap_or_default();
                let bad: Vec<_> = errors
                    .iter()
                    .filter(|e| !Recommended.explain(e).is_resumable())
                    .collect();
                break Err(Err(failed_all(&bad)));
            }
            Stage::Stopped => {
                break Err(Err(
                    serde_json::json!({"event": "failed", "stage": "Stopped"}),
                ));
            }
            _ => {}
        }
    };
    counter.abort();
    auto_resume.abort();
    report.finish();
    let code = match outcome {
        Ok(()) => {
            let copied = report_handle.report();
            let tables: Vec<_> = copied
                .selected
                .iter()
                .map(|t| {
                    let rows = copied
                        .verified
                        .iter()
                        .find(|(v, _)| v == t)
                        .map(|(_, r)| *r);
                    table_json(t, rows.unwrap_or(0), rows.is_some(), "")
                })
                .collect();
            // Complete only when every selected table was verified.
            let complete = copied
                .selected
                .iter()
                .all(|t| copied.verified.iter().any(|(v, _)| v == t));
            report.line(&serde_json::json!({
                "event": "copied",
                "complete": complete,
                "tables": copied.selected.len(),
                "rows": copied.verified.iter().map(|(_, r)| r).sum::<i64>(),
                "seconds": started.elapsed().as_secs(),
                "resumes": resumes.load(Ordering::Relaxed),
                "selection": tables,
            }));
            if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(Ok(signal)) => signal.pause(&handle, &report).await,
        Err(Err(line)) => {
            report.line(&line);
            ExitCode::from(1)
        }
    };
    let _ = handle.stop().await;
    code
}

/// The `failed` event of `error`, with the verdict of the policy that acted.
fn failed(error: &pb::ProcessError, why: &str) -> serde_json::Value {
    serde_json::json!({"event": "failed", "stage": "Paused", "errors": [explained_error(error, why)]})
}

/// The `failed` event of every error that needs a person.
fn failed_all(errors: &[&pb::ProcessError]) -> serde_json::Value {
    let errors: Vec<_> = errors.iter().map(|e| explained_error(e, "")).collect();
    serde_json::json!({"event": "failed", "stage": "Paused", "errors": errors})
}
