//! `unitctl migrate` between two PostgreSQL databases: `PgCopyUnit` under the
//! supervisor with auto-resume (full mode only; online migration of PostgreSQL is
//! future work).

use std::process::ExitCode;
use std::time::Instant;

use unit_core::prelude::*;
use unit_postgres::{PgCopyConfig, PgCopyUnit, PgReportHandle};

use crate::args::Args;
use crate::drive::{self, Drive};
use crate::report::{Copied, Event, Reporter, TableLine};

/// Runs the copy; the exit status as `migrate`'s.
pub(crate) fn run(args: &Args, source: &str, target: &str) -> ExitCode {
    // These refusals say `error:` (the MySQL engine's say `unitctl:`).
    let bad = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    if let Err(e) = args.check_postgres(source, target) {
        return bad(e.0);
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
    let runtime = match drive::runtime() {
        Ok(rt) => rt,
        Err(e) => return bad(e),
    };
    runtime.block_on(copy(args, config))
}

async fn copy(args: &Args, config: PgCopyConfig) -> ExitCode {
    let started = Instant::now();
    let unit = PgCopyUnit::new(config);
    let report_handle = unit.report_handle();
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(unit)];
    // Auto-resume as DM's defaults set it (--check-interval is not read here).
    let spawn = |config| Subtask::spawn(config, units);
    let mut drive = match Drive::start(
        &args.task,
        args.interval,
        AutoResumeConfig::default(),
        spawn,
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut report = Reporter::new(args.json);
    let outcome = drive.supervise(&mut report, async |_, _| {}).await;
    drive
        .end(outcome, &report, failed, async |resumes| {
            summary(&report_handle, started, resumes)
        })
        .await
}

/// The `failed` event: at a pause, every error that needs a person; once stopped,
/// none.
fn failed(status: &pb::SubTaskStatus, policy: &dyn Policy) -> Event {
    if status.stage() != Stage::Paused {
        return Event::Failed {
            stage: "Stopped".to_owned(),
            errors: None,
        };
    }
    let errors = status.result.iter().flat_map(|r| &r.errors);
    let bad = errors.filter(|e| !policy.explain(e).is_resumable());
    Event::failed(Stage::Paused, bad, policy, "")
}

/// The `copied` event: every selected table, with its rows where it was verified;
/// complete only when every selected table was verified.
fn summary(report_handle: &PgReportHandle, started: Instant, resumes: usize) -> Event {
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
            TableLine::new(t.clone(), rows.unwrap_or(0), rows.is_some(), "")
        })
        .collect();
    // Complete only when every selected table was verified.
    let complete = copied
        .selected
        .iter()
        .all(|t| copied.verified.iter().any(|(v, _)| v == t));
    Event::Copied(Copied {
        complete,
        tables: copied.selected.len(),
        rows: copied.verified.iter().map(|(_, r)| r).sum::<i64>(),
        seconds: started.elapsed().as_secs(),
        resumes,
        selection: tables,
    })
}
