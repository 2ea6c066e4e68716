//! `unitctl migrate`: copy databases from a source MySQL server to a target one through
//! the supervisor, with checks first, auto-resume on resumable faults, exactly-once
//! checkpoints, and verification at the end.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use unit_core::{
    AutoResume, AutoResumeConfig, BoxUnit, Subtask, SubtaskConfig, SubtaskHandle, explain_error,
};
use unit_mysql::schema::Filter;
use unit_mysql::{CheckUnit, CopyConfig, CopyUnit, MySqlUrl, Verification};
use unit_proto::pb::{self, Stage, sub_task_status::Status};

/// What `unitctl migrate` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Source URL, `mysql://user:password@host:port`.
    #[arg(long)]
    pub(crate) source: String,
    /// Target URL, `mysql://user:password@host:port`.
    #[arg(long)]
    pub(crate) target: String,
    /// Databases to copy (comma-separated; `*` and `?` allowed); default: all but system ones.
    #[arg(long, value_delimiter = ',')]
    pub(crate) databases: Vec<String>,
    /// `db.table` patterns to copy (comma-separated); default: every table of the databases.
    #[arg(long, value_delimiter = ',')]
    pub(crate) tables: Vec<String>,
    /// `db.table` patterns to leave out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) exclude: Vec<String>,
    /// Task name; checkpoints are kept per task.
    #[arg(long, default_value = "migrate")]
    pub(crate) task: String,
    /// Rows per chunk (one target transaction with its checkpoint).
    #[arg(long, default_value_t = 5000)]
    pub(crate) chunk_rows: usize,
    /// Parts copied at the same time (whole tables, or key ranges of big tables).
    #[arg(long, default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Split a table of at least twice this many rows (by the server's estimate) whose
    /// key starts with an integer into key ranges copied at the same time; 0: never.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) split_rows: u64,
    /// How each copied table is compared with its source: `checksum-table` (the
    /// servers' CHECKSUM TABLE, only between servers of the same version),
    /// `row-text` (a CRC32 of each row's text, any versions), or `auto` (the first
    /// when the versions are equal).
    #[arg(long, value_enum, default_value_t = VerificationArg::Auto)]
    pub(crate) verification: VerificationArg,
    /// Print one JSON status line per interval and JSON events.
    #[arg(long)]
    pub(crate) json: bool,
    /// Seconds between progress reports.
    #[arg(long, default_value = "1", value_parser = seconds)]
    pub(crate) interval: Duration,
    /// Seconds between auto-resume checks (DM: 5).
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub(crate) check_interval: Duration,
    /// Seconds to wait for a database connection before pausing (then auto-resume
    /// tries again with back-off).
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub(crate) connect_timeout: Duration,
}

/// `--verification`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum VerificationArg {
    Auto,
    ChecksumTable,
    RowText,
}

impl VerificationArg {
    fn chosen(self) -> Option<Verification> {
        match self {
            Self::Auto => None,
            Self::ChecksumTable => Some(Verification::ChecksumTable),
            Self::RowText => Some(Verification::RowText),
        }
    }
}

/// A positive number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err("must be a positive number of seconds".to_owned()),
    }
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("unitctl: {message}");
    ExitCode::from(2)
}

pub(crate) fn run(args: Args) -> ExitCode {
    let source: MySqlUrl = match args.source.parse() {
        Ok(u) => u,
        Err(e) => return bad_input(&format!("--source: {e}")),
    };
    let target: MySqlUrl = match args.target.parse() {
        Ok(u) => u,
        Err(e) => return bad_input(&format!("--target: {e}")),
    };
    if args.chunk_rows == 0 || args.concurrency == 0 {
        return bad_input("--chunk-rows and --concurrency must be at least 1");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return bad_input(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(migrate(args, source, target))
}

async fn migrate(args: Args, source: MySqlUrl, target: MySqlUrl) -> ExitCode {
    let filter = Filter {
        databases: args.databases.clone(),
        tables: args.tables.clone(),
        exclude: args.exclude.clone(),
    };
    let mut config = CopyConfig::new(args.task.clone(), source, target, filter);
    config.chunk_rows = args.chunk_rows;
    config.concurrency = args.concurrency;
    config.split_rows = args.split_rows;
    config.verification = args.verification.chosen();
    config.acquire_timeout = args.connect_timeout;
    let units: Vec<BoxUnit<CopyConfig>> = vec![
        Box::new(CheckUnit::new(config.clone())),
        Box::new(CopyUnit::new(config.clone())),
    ];
    // What earlier runs of the task copied (nothing when the checkpoint table does not
    // exist yet), so that the summary's speed counts this run's rows only.
    let before = checkpoint_totals(&config).await.unwrap_or((0, 0, 0));
    let started = Instant::now();
    let handle = Subtask::spawn(SubtaskConfig::new(args.task.clone()), units);

    let mut auto = AutoResumeConfig::default();
    auto.check_interval = args.check_interval;
    let checker = match AutoResume::new(auto) {
        Ok(c) => c,
        Err(e) => return bad_input(&e.to_string()),
    };
    let auto_resume = tokio::spawn(checker.run(handle.clone()));
    let resumes = Arc::new(AtomicUsize::new(0));
    let counter = tokio::spawn(count_resumes(handle.clone(), resumes.clone()));

    let mut report = Reporter::new(args.json);
    let mut ticks = tokio::time::interval(args.interval);
    let mut stages = handle.watch_stage();
    let outcome = loop {
        let report_now = tokio::select! {
            _ = ticks.tick() => true,
            // Stage changes are judged at once, not at the next report.
            changed = stages.changed() => {
                if changed.is_err() {
                    break Outcome::Failed(Box::new(handle.status()));
                }
                false
            }
            _ = tokio::signal::ctrl_c() => break Outcome::Interrupted,
        };
        let status = handle.status();
        if report_now {
            report.progress(&status);
        }
        match status.stage() {
            Stage::Finished => break Outcome::Finished,
            Stage::Paused if unresumable(&status) => break Outcome::Failed(Box::new(status)),
            Stage::Stopped => break Outcome::Failed(Box::new(status)),
            _ => {}
        }
    };
    auto_resume.abort();
    report.finish();
    let code = match outcome {
        Outcome::Finished => {
            let summary = summary(
                &config,
                before,
                started.elapsed(),
                resumes.load(Ordering::Relaxed),
            )
            .await;
            report.line(&summary);
            ExitCode::SUCCESS
        }
        Outcome::Interrupted => {
            let _ = handle.pause().await;
            report.line(&serde_json::json!({
                "event": "interrupted",
                "message": "paused; checkpoints are kept: run the same command again to resume",
            }));
            ExitCode::from(130)
        }
        Outcome::Failed(status) => {
            let stage = status.stage();
            let errors = status.result.map(|r| r.errors).unwrap_or_default();
            let explained: Vec<_> = errors
                .iter()
                .map(|e| serde_json::json!({"ErrCode": e.err_code, "Message": e.message, "RawCause": e.raw_cause,
                    "Workaround": e.workaround, "verdict": explain_error(e).to_string()}))
                .collect();
            report.line(&serde_json::json!({"event": "failed", "stage": format!("{stage:?}"), "errors": explained}));
            ExitCode::from(1)
        }
    };
    let _ = handle.stop().await;
    counter.abort();
    code
}

enum Outcome {
    Finished,
    Interrupted,
    Failed(Box<pb::SubTaskStatus>),
}

/// Paused by an error that auto-resume will never retry.
fn unresumable(status: &pb::SubTaskStatus) -> bool {
    status.result.as_ref().is_some_and(|r| {
        !r.is_canceled && r.errors.iter().any(|e| !explain_error(e).is_resumable())
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

/// The final summary: totals over every run of the task, speed of this run.
async fn summary(
    config: &CopyConfig,
    before: (i64, i64, i64),
    elapsed: Duration,
    resumes: usize,
) -> serde_json::Value {
    let (rows, bytes, tables) = checkpoint_totals(config).await.unwrap_or((0, 0, 0));
    let (run_rows, run_bytes) = (rows - before.0, bytes - before.1);
    let secs = elapsed.as_secs_f64().max(1e-9);
    serde_json::json!({
        "event": "finished",
        "tables": tables,
        "rows": rows,
        "bytes": bytes,
        "rows_this_run": run_rows,
        "seconds": (secs * 100.0).round() / 100.0,
        "rows_per_second": (run_rows as f64 / secs).round() as i64,
        "bytes_per_second": (run_bytes as f64 / secs).round() as i64,
        "resumes": resumes,
        "verification": format!("all {tables} tables verified: row counts and checksums equal"),
    })
}

async fn checkpoint_totals(config: &CopyConfig) -> Result<(i64, i64, i64), sqlx::Error> {
    let pool = sqlx::MySqlPool::connect_with(config.target.connect_options()).await?;
    let sql = format!(
        "SELECT CAST(COALESCE(SUM(rows_copied), 0) AS SIGNED), CAST(COALESCE(SUM(bytes_copied), 0) AS SIGNED), COUNT(DISTINCT db, tbl) \
         FROM `{}`.`copy_checkpoint` WHERE task = ?",
        config.checkpoint_database.replace('`', "``")
    );
    let row: (i64, i64, i64) = sqlx::query_as(&sql)
        .bind(&config.task)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(row)
}

/// Progress on a terminal (a bar), or one JSON line per interval.
struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Reporter {
    fn new(json: bool) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Self { bar, json }
    }

    fn progress(&mut self, status: &pb::SubTaskStatus) {
        let stage = format!("{:?}", status.stage());
        let unit = format!("{:?}", status.unit());
        match (&self.bar, &status.status) {
            (Some(bar), Some(Status::Load(l))) => {
                bar.set_length(u64::try_from(l.total_bytes).unwrap_or(0));
                bar.set_position(u64::try_from(l.finished_bytes).unwrap_or(0));
                bar.set_message(stage);
            }
            (Some(bar), _) => bar.set_message(format!("{unit} {stage}")),
            (None, _) if self.json => {
                let line = serde_json::json!({"event": "status", "status": status});
                self.line(&line);
            }
            (None, load) => {
                let progress = match load {
                    Some(Status::Load(l)) => format!(
                        " {} of {} bytes ({})",
                        l.finished_bytes, l.total_bytes, l.progress
                    ),
                    _ => String::new(),
                };
                let why = match status.result.as_ref().and_then(|r| r.errors.first()) {
                    Some(e) if status.stage() == Stage::Paused => {
                        format!(" - {}: {}", e.raw_cause, explain_error(e))
                    }
                    _ => String::new(),
                };
                let mut out = std::io::stderr().lock();
                let _ = writeln!(out, "{unit} {stage}{progress}{why}");
            }
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// A final or event line: JSON with `--json`, otherwise readable text.
    fn line(&self, value: &serde_json::Value) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{value}");
            return;
        }
        match value.get("event").and_then(|e| e.as_str()) {
            Some("finished") => {
                let _ = writeln!(
                    out,
                    "finished: {} tables, {} rows, {} bytes; this run copied {} rows in {} s ({} rows/s), {} automatic resumes\n{}",
                    value["tables"],
                    value["rows"],
                    value["bytes"],
                    value["rows_this_run"],
                    value["seconds"],
                    value["rows_per_second"],
                    value["resumes"],
                    value["verification"].as_str().unwrap_or_default()
                );
            }
            Some("failed") => {
                let _ = writeln!(out, "failed (not resumable):");
                for e in value["errors"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        out,
                        "  {} {}\n    cause: {}\n    {}\n    workaround: {}",
                        e["ErrCode"],
                        e["Message"].as_str().unwrap_or_default(),
                        e["RawCause"].as_str().unwrap_or_default(),
                        e["verdict"].as_str().unwrap_or_default(),
                        e["Workaround"].as_str().unwrap_or_default()
                    );
                }
            }
            _ => {
                let _ = writeln!(out, "{}", value["message"].as_str().unwrap_or_default());
            }
        }
    }
}
