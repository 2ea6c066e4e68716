//! `unitctl migrate`: copy databases from a source MySQL server to a target one through
//! the supervisor, with checks first, auto-resume on resumable faults, exactly-once
//! checkpoints, and verification at the end.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use unit_core::{
    AutoResume, AutoResumeConfig, BoxUnit, Exit, Policy, Recommended, Subtask, SubtaskConfig,
    SubtaskHandle,
};
use unit_mysql::BinlogPosition;
use unit_mysql::Filter;
use unit_mysql::inspect;
use unit_mysql::{
    CheckUnit, Consistency, CopyReport, CopyUnit, MySqlUrl, ObjectReport, ReportHandle,
    SyncProgress, SyncUnit, TaskConfig, TlsSettings, Verification,
};
use unit_mysql::{ObjectKind, ObjectKinds};
use unit_proto::pb::{self, Stage, sub_task_status::Status};

/// What `unitctl migrate` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// DM's task file (YAML): name, task-mode, meta-schema, target-database,
    /// mysql-instances, block-allow-list, mydumpers, loaders, syncers; options given
    /// here override it.
    #[arg(long)]
    pub(crate) config: Option<std::path::PathBuf>,
    /// DM's source file (YAML) of the task's source: source-id, enable-gtid,
    /// server-id, from.
    #[arg(long)]
    pub(crate) source_config: Option<std::path::PathBuf>,
    /// Source URL, `mysql://user:password@host:port` (or `from` of `--source-config`);
    /// `postgres://...` on both sides copies PostgreSQL tables (full mode).
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Target URL, `mysql://user:password@host:port` (or `target-database` of
    /// `--config`).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Serve the HTTP status and control API and /metrics at this address (e.g.
    /// `127.0.0.1:8261`); off by default. A non-loopback address needs
    /// `--listen-public`.
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Allow `--listen` on an address other hosts can reach (the API can stop and
    /// start the task and has no authentication).
    #[arg(long)]
    pub(crate) listen_public: bool,
    /// The source's name in status and metrics (DM's source-id; default: the
    /// source file's, else `source`).
    #[arg(long)]
    pub(crate) source_id: Option<String>,
    /// The database on the target holding the task's checkpoints (DM's meta-schema).
    #[arg(long, default_value = "unit_checkpoint")]
    pub(crate) checkpoint_database: String,
    /// TLS mode for the source: DISABLED, PREFERRED (the default: encrypted whenever the
    /// server offers TLS, certificate not verified), REQUIRED, VERIFY_CA or
    /// VERIFY_IDENTITY; overrides the URL's `ssl-mode`.
    #[arg(long)]
    pub(crate) source_ssl_mode: Option<String>,
    /// PEM file of the CA certificates the source's certificate must chain to.
    #[arg(long)]
    pub(crate) source_ssl_ca: Option<std::path::PathBuf>,
    /// PEM file of a client certificate for the source.
    #[arg(long)]
    pub(crate) source_ssl_cert: Option<std::path::PathBuf>,
    /// PEM file of the key of the source's client certificate.
    #[arg(long)]
    pub(crate) source_ssl_key: Option<std::path::PathBuf>,
    /// TLS mode for the target (as `--source-ssl-mode`).
    #[arg(long)]
    pub(crate) target_ssl_mode: Option<String>,
    /// PEM file of the CA certificates the target's certificate must chain to.
    #[arg(long)]
    pub(crate) target_ssl_ca: Option<std::path::PathBuf>,
    /// PEM file of a client certificate for the target.
    #[arg(long)]
    pub(crate) target_ssl_cert: Option<std::path::PathBuf>,
    /// PEM file of the key of the target's client certificate.
    #[arg(long)]
    pub(crate) target_ssl_key: Option<std::path::PathBuf>,
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
    /// The most rows per second the copy writes, all tables together (default: no
    /// limit).
    #[arg(long)]
    pub(crate) max_rows_per_second: Option<u64>,
    /// The most value bytes per second the copy writes, all tables together (default:
    /// no limit).
    #[arg(long)]
    pub(crate) max_bytes_per_second: Option<u64>,
    /// The load guard: the copy writes no chunk while the source's Threads_running is
    /// above this (the copy's own reads count too; default: no guard).
    #[arg(long)]
    pub(crate) max_source_threads_running: Option<u64>,
    /// Write every chunk with multi-row INSERTs instead of `LOAD DATA LOCAL INFILE`
    /// streamed from memory (the default, where the target allows `local_infile`
    /// and the table has transactions; the values written are the same).
    #[arg(long)]
    pub(crate) no_load_data_local: bool,
    /// How each copied table is compared with its source: `checksum-table` (the
    /// servers' CHECKSUM TABLE, only between servers of the same version),
    /// `row-text` (a CRC32 of each row's text, any versions), or `auto` (the first
    /// when the versions are equal).
    #[arg(long, value_enum, default_value_t = VerificationArg::Auto)]
    pub(crate) verification: VerificationArg,
    /// Kinds of objects other than tables not to migrate (comma-separated: views,
    /// triggers, procedures, functions, routines, events, sequences); they are listed
    /// as left out in the summary.
    #[arg(long, value_delimiter = ',')]
    pub(crate) skip_objects: Vec<String>,
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
    /// DM's task mode: `full` copies a quiet source and verifies it; `all` copies from
    /// a consistent point, then replicates the source's binlog until stopped (or until
    /// `--cutover`); `incremental` only replicates, from `--start-position`.
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    pub(crate) mode: Mode,
    /// How the copy of mode `all` is made consistent with a binlog position: `flush`
    /// (FLUSH TABLES WITH READ LOCK for milliseconds), `lock` (LOCK TABLES ... READ),
    /// `none` (no lock; replication replays idempotently over the copy's span), or
    /// `auto` (flush, else lock, else none).
    #[arg(long, default_value = "auto")]
    pub(crate) consistency: String,
    /// Cutover (modes `all` and `incremental`): with writes to the source stopped,
    /// apply everything up to the source's current position, verify every table (row
    /// count and checksum), print the final position, and exit 0.
    #[arg(long)]
    pub(crate) cutover: bool,
    /// Mode `incremental`: replicate from `FILE:POSITION` of the source's binlog.
    #[arg(long)]
    pub(crate) start_position: Option<String>,
    /// Mode `incremental`: the GTID set of `--start-position` (with `--use-gtid`,
    /// the stream starts from it).
    #[arg(long)]
    pub(crate) start_gtid: Option<String>,
    /// The replica id to read the binlog as (default: derived from the task name).
    #[arg(long)]
    pub(crate) server_id: Option<u32>,
    /// Row changes per target transaction of the replication.
    #[arg(long, default_value_t = 1000)]
    pub(crate) sync_batch: usize,
    /// Target connections applying row changes in parallel, by their keys (1 keeps
    /// the source's transactions whole on the target).
    #[arg(long, default_value_t = 4)]
    pub(crate) sync_workers: usize,
    /// The most consecutive inserts, or deletes by key, of one table merged into one
    /// statement by a worker (1: a statement per row change).
    #[arg(long, default_value_t = 200)]
    pub(crate) sync_merge_rows: usize,
    /// Start the binlog stream from the recorded GTID set instead of the file and
    /// offset (to follow a source replaced by a server of the same GTID history).
    #[arg(long)]
    pub(crate) use_gtid: bool,
    /// Copy and replicate system-versioned tables as their current rows only (their
    /// history is not copied); without it they are refused.
    #[arg(long)]
    pub(crate) versioned_current_rows: bool,
}

/// `--mode`'s values (DM's task modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    Full,
    Incremental,
    All,
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

/// `FILE:POSITION`.
fn start_position(text: Option<&str>) -> Result<BinlogPosition, String> {
    let text = text.ok_or("mode incremental needs --start-position FILE:POSITION")?;
    let (file, pos) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not FILE:POSITION"))?;
    let pos = pos
        .parse()
        .map_err(|_| format!("{pos:?} is not a binlog offset"))?;
    if file.is_empty() {
        return Err(format!("{text:?} has no file name"));
    }
    Ok(BinlogPosition {
        file: file.to_owned(),
        pos,
        gtid: String::new(),
    })
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

pub(crate) fn run(mut args: Args, given: impl Fn(&str) -> bool) -> ExitCode {
    if let Err(e) = crate::config::apply(&mut args, given) {
        return bad_input(&e);
    }
    let Some(source) = args.source.as_deref() else {
        return bad_input("--source is missing (or a --source-config with `from`)");
    };
    let Some(target) = args.target.as_deref() else {
        return bad_input("--target is missing (or a --config with `target-database`)");
    };
    if crate::pg::is_postgres(source) || crate::pg::is_postgres(target) {
        return crate::pg::run(&args, source, target);
    }
    let source: MySqlUrl = match source.parse() {
        Ok(u) => u,
        Err(e) => return bad_input(&format!("--source: {e}")),
    };
    let target: MySqlUrl = match target.parse() {
        Ok(u) => u,
        Err(e) => return bad_input(&format!("--target: {e}")),
    };
    let listen = match args.listen.as_deref() {
        Some(text) => match crate::serve::listen_address(text, args.listen_public) {
            Ok(addr) => Some(addr),
            Err(e) => return bad_input(&format!("--listen: {e}")),
        },
        None => None,
    };
    let tls = |mode: &Option<String>,
               ca: &Option<std::path::PathBuf>,
               cert: &Option<std::path::PathBuf>,
               key: &Option<std::path::PathBuf>|
     -> Result<TlsSettings, String> {
        Ok(TlsSettings {
            mode: mode.as_deref().map(TlsSettings::parse_mode).transpose()?,
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
        })
    };
    let source = match tls(
        &args.source_ssl_mode,
        &args.source_ssl_ca,
        &args.source_ssl_cert,
        &args.source_ssl_key,
    ) {
        Ok(t) => source.with_tls(&t),
        Err(e) => return bad_input(&format!("--source-ssl-mode: {e}")),
    };
    let target = match tls(
        &args.target_ssl_mode,
        &args.target_ssl_ca,
        &args.target_ssl_cert,
        &args.target_ssl_key,
    ) {
        Ok(t) => target.with_tls(&t),
        Err(e) => return bad_input(&format!("--target-ssl-mode: {e}")),
    };
    if args.chunk_rows == 0
        || args.concurrency == 0
        || args.sync_batch == 0
        || args.sync_workers == 0
        || args.sync_merge_rows == 0
        || args.max_rows_per_second == Some(0)
        || args.max_bytes_per_second == Some(0)
    {
        return bad_input(
            "--chunk-rows, --concurrency, --sync-batch, --sync-workers, --sync-merge-rows, --max-rows-per-second and --max-bytes-per-second must be at least 1",
        );
    }
    if let Err(e) = args.consistency.parse::<Consistency>() {
        return bad_input(&format!("--consistency: {e}"));
    }
    if args.cutover && args.mode == Mode::Full {
        return bad_input("--cutover needs --mode all or incremental");
    }
    if args.mode == Mode::Incremental {
        if let Err(e) = start_position(args.start_position.as_deref()) {
            return bad_input(&format!("--start-position: {e}"));
        }
    }
    if args.checkpoint_database.is_empty() {
        return bad_input("--checkpoint-database must not be empty");
    }
    let mut skipped = Vec::new();
    for name in &args.skip_objects {
        match ObjectKind::parse(name) {
            // `routines` leaves out functions and procedures alike.
            Some(ObjectKind::Function)
                if name.trim().to_ascii_lowercase().starts_with("routine") =>
            {
                skipped.extend([ObjectKind::Function, ObjectKind::Procedure]);
            }
            Some(kind) => skipped.push(kind),
            None => {
                return bad_input(&format!(
                    "--skip-objects: unknown kind {name:?} (views, triggers, procedures, functions, routines, events, sequences)"
                ));
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return bad_input(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        // Bound before anything runs, so that a taken address is a bad argument.
        let listener = match listen {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => return bad_input(&format!("--listen: cannot listen on {addr}: {e}")),
            },
            None => None,
        };
        migrate(
            args,
            source,
            target,
            ObjectKinds::without(&skipped),
            listener,
        )
        .await
    })
}

async fn migrate(
    args: Args,
    source: MySqlUrl,
    target: MySqlUrl,
    objects: ObjectKinds,
    listener: Option<tokio::net::TcpListener>,
) -> ExitCode {
    let filter = Filter {
        databases: args.databases.clone(),
        tables: args.tables.clone(),
        exclude: args.exclude.clone(),
    };
    let mut config = TaskConfig::new(args.task.clone(), source, target, filter);
    config.copy.chunk_rows = args.chunk_rows;
    config.copy.concurrency = args.concurrency;
    config.copy.split_rows = args.split_rows;
    config.copy.max_rows_per_second = args.max_rows_per_second;
    config.copy.max_bytes_per_second = args.max_bytes_per_second;
    config.copy.max_source_threads_running = args.max_source_threads_running;
    config.copy.load_data_local = !args.no_load_data_local;
    config.verification = args.verification.chosen();
    config.acquire_timeout = args.connect_timeout;
    config.objects = objects;
    config.sync.cutover = args.cutover;
    config.sync.batch = args.sync_batch;
    config.sync.workers = args.sync_workers;
    config.sync.merge_rows = args.sync_merge_rows;
    config.sync.use_gtid = args.use_gtid;
    config.versioned_current_rows = args.versioned_current_rows;
    config.checkpoint_database = args.checkpoint_database.clone();
    let source_id = args
        .source_id
        .clone()
        .unwrap_or_else(|| "source".to_owned());
    let metrics = crate::metrics::Metrics::new(&args.task, &source_id, "unitctl");
    config.observer = Some(metrics.clone());
    if let Some(id) = args.server_id {
        config.sync.server_id = id;
    }
    match args.mode {
        Mode::Full => {}
        Mode::All => config.consistency = args.consistency.parse().ok(),
        Mode::Incremental => {
            config.sync.start = start_position(args.start_position.as_deref())
                .ok()
                .map(|mut p| {
                    p.gtid = args.start_gtid.clone().unwrap_or_default();
                    p
                });
        }
    }
    let mode = args.mode;
    // Fresh units for each start (a resume after a failed init builds them again, as
    // DM does); the report is read from the copy unit built last.
    let reports: Arc<std::sync::Mutex<Option<ReportHandle>>> = Arc::default();
    let syncs: Arc<std::sync::Mutex<Option<SyncProgress>>> = Arc::default();
    let factory = {
        let (config, reports, syncs) = (config.clone(), reports.clone(), syncs.clone());
        move || -> Vec<BoxUnit<TaskConfig>> {
            let mut units: Vec<BoxUnit<TaskConfig>> =
                vec![Box::new(CheckUnit::new(config.clone()))];
            if mode != Mode::Incremental {
                let copy = CopyUnit::new(config.clone());
                *reports.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy.report_handle());
                units.push(Box::new(copy));
            }
            if mode != Mode::Full {
                let sync = SyncUnit::new(config.clone());
                *syncs.lock().unwrap_or_else(|e| e.into_inner()) = Some(sync.progress());
                units.push(Box::new(sync));
            }
            units
        }
    };
    // What earlier runs of the task copied (nothing when the checkpoint table does not
    // exist yet), so that the summary's speed counts this run's rows only.
    let before = inspect::checkpoint_totals(&config)
        .await
        .unwrap_or_default();
    let started = Instant::now();
    // One policy judges every error: the one auto-resume acts by is the one the
    // supervisor's log and this report give.
    let policy: Arc<dyn unit_core::Policy> = Arc::new(Recommended);
    let handle = Subtask::spawn_with(
        SubtaskConfig::new(args.task.clone()).with_policy(policy.clone()),
        factory,
    );

    let mut auto = AutoResumeConfig::default();
    auto.check_interval = args.check_interval;
    let checker = match AutoResume::new(auto) {
        Ok(c) => c.with_policy(policy.clone()),
        Err(e) => return bad_input(&e.to_string()),
    };
    let (needs_person, resume_state) = (checker.needs_person(), checker.state());
    let mut auto_resume = tokio::spawn(checker.run(handle.clone()));
    let mut auto_resume_ended = false;
    let resumes = Arc::new(AtomicUsize::new(0));
    let counter = tokio::spawn(count_resumes(handle.clone(), resumes.clone()));
    let mut report = Reporter::new(args.json);
    let server = listener.map(|listener| {
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        report.line(&serde_json::json!({
            "event": "listening",
            "address": address,
            "message": format!("serving the HTTP API and /metrics at http://{address}/ (task {})", args.task),
        }));
        let api = Arc::new(crate::serve::Api {
            task: args.task.clone(),
            source_id: source_id.clone(),
            worker: "unitctl".to_owned(),
            handle: handle.clone(),
            reports: reports.clone(),
            syncs: syncs.clone(),
            metrics: metrics.clone(),
            policy: policy.clone(),
            needs_person,
            resume: resume_state,
            resumes: resumes.clone(),
        });
        tokio::spawn(crate::serve::serve(listener, api))
    });

    let mut ticks = tokio::time::interval(args.interval);
    let mut stages = handle.watch_stage();
    let mut safe_mode = false;
    let mut verifying = false;
    let mut announced = false;
    let mut sigterm = terminate_signal();
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
            _ = tokio::signal::ctrl_c() => break Outcome::Interrupted(Signal::Interrupt),
            () = terminated(&mut sigterm) => break Outcome::Interrupted(Signal::Terminate),
            exit = &mut auto_resume, if !auto_resume_ended => {
                auto_resume_ended = true;
                // Beyond DM: the same error over and over with nothing done in between.
                if let Ok(Exit::NoProgress { resumes, last_error }) = exit {
                    break Outcome::NoProgress(resumes, last_error);
                }
                // Otherwise it saw the subtask end: the stage says how.
                false
            }
        };
        let status = handle.status();
        if report_now {
            report.progress(&status);
        }
        // Safe mode (idempotent replay over a copy that was not a snapshot) is said
        // when it turns on and off, and the cutover's verification when it starts.
        let sync = syncs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if sync.as_ref().is_some_and(SyncProgress::verifying) && !verifying {
            verifying = true;
            report.line(&serde_json::json!({
                "event": "verifying",
                "message": "cutover: every change up to the source's position is applied; verifying every table (row count and checksum)",
            }));
        }
        if !announced && status.unit() == pb::UnitType::Sync {
            announced = true;
            if let Ok(Some(cp)) = inspect::sync_checkpoint(&config).await {
                report.line(&replicating(&cp));
            }
        }
        let safe = sync.as_ref().map(SyncProgress::safe_mode);
        if let Some(on) = safe.filter(|on| *on != safe_mode) {
            safe_mode = on;
            report.line(&serde_json::json!({
                "event": "safe_mode",
                "on": on,
                "message": if on {
                    "safe mode on: changes are replayed idempotently until the end of the copy's span"
                } else {
                    "safe mode off: past the copy's span, every change must match the target"
                },
            }));
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
        Outcome::Finished if mode != Mode::Full => {
            let sync = syncs.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let selection = selection(&config).await;
            let line = cutover_summary(
                sync.as_ref(),
                &selection,
                started.elapsed(),
                resumes.load(Ordering::Relaxed),
            );
            report.line(&line);
            if line["complete"] == true {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Outcome::Finished => {
            let copied = reports
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(ReportHandle::report)
                .unwrap_or_default();
            let selection = selection(&config).await;
            let summary = summary(
                &config,
                &copied,
                &selection,
                before,
                started.elapsed(),
                resumes.load(Ordering::Relaxed),
            )
            .await;
            report.line(&summary);
            if summary["complete"] == true {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Outcome::NoProgress(resumes, last_error) => {
            let explained = explained_error(
                &last_error,
                &format!("no progress after {resumes} resumes: "),
            );
            report.line(
                &serde_json::json!({"event": "failed", "stage": "Paused", "errors": [explained]}),
            );
            ExitCode::from(1)
        }
        Outcome::Interrupted(signal) => signal.pause(&handle, &report).await,
        Outcome::Failed(status) => {
            let stage = status.stage();
            let errors = status.result.map(|r| r.errors).unwrap_or_default();
            let explained: Vec<_> = errors.iter().map(|e| explained_error(e, "")).collect();
            report.line(&serde_json::json!({"event": "failed", "stage": format!("{stage:?}"), "errors": explained}));
            ExitCode::from(1)
        }
    };
    let _ = handle.stop().await;
    counter.abort();
    if let Some(server) = server {
        server.abort();
    }
    code
}

/// An error of a `failed` event: DM's fields, and the verdict (after `why`) of the
/// policy that acted.
pub(crate) fn explained_error(error: &pb::ProcessError, why: &str) -> serde_json::Value {
    serde_json::json!({
        "ErrCode": error.err_code, "Message": error.message, "RawCause": error.raw_cause,
        "Workaround": error.workaround, "policy": Recommended.name(),
        "verdict": format!("{why}{}", Recommended.explain(error)),
    })
}

/// The end of a cutover: the final position and every selected table verified.
/// `complete` is true only when the selection listed independently equals the tables
/// the cutover verified.
fn cutover_summary(
    sync: Option<&SyncProgress>,
    selection: &Result<Vec<(String, String)>, String>,
    elapsed: Duration,
    resumes: usize,
) -> serde_json::Value {
    let verified = sync.map(SyncProgress::verified).unwrap_or_default();
    let position = sync.and_then(SyncProgress::cutover_position);
    let mut problems = Vec::new();
    if position.is_none() {
        problems.push("the cutover did not end".to_owned());
    }
    match selection {
        Ok(selected) => problems.extend(
            selected
                .iter()
                .filter(|(d, t)| !verified.iter().any(|(vd, vt, _)| vd == d && vt == t))
                .map(|(d, t)| format!("table {d}.{t} is selected but was not verified")),
        ),
        Err(e) => problems.push(format!("the selection could not be listed again: {e}")),
    }
    // Triggers and events are created last, after every table is verified.
    let objects = sync.map(SyncProgress::cutover_objects).unwrap_or_default();
    let idempotent = sync
        .map(SyncProgress::idempotent_tables)
        .unwrap_or_default();
    problems.extend(
        objects
            .iter()
            .filter(|o| !o.migrated && !o.excluded)
            .map(|o| format!("{} {}.{} was not created", o.kind, o.database, o.name)),
    );
    let status = sync.map(SyncProgress::status).unwrap_or_default();
    serde_json::json!({
        "event": "cutover",
        "objects": objects.iter().map(object_json).collect::<Vec<_>>(),
        "complete": problems.is_empty(),
        "position": position.as_ref().map(ToString::to_string),
        "binlog_file": position.as_ref().map(|p| p.file.clone()),
        "binlog_pos": position.as_ref().map(|p| p.pos),
        "gtid": position.as_ref().map(|p| p.gtid.clone()),
        "changes_applied": status.total_events,
        "seconds": (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        "resumes": resumes,
        "tables": verified.len(),
        "verification": if problems.is_empty() {
            format!("all {} tables verified at cutover: row counts and checksums equal", verified.len())
        } else {
            format!("NOT COMPLETE: {}", problems.join("; "))
        },
        "selection": verified.iter().map(|(d, t, rows)| {
            let engine = idempotent.iter().find(|(id, it, _)| id == d && it == t).map(|(_, _, e)| e);
            let note = engine.map(|e| format!("{e}, not transactional: copied outside the snapshot, its changes applied idempotently"));
            table_json(&format!("{d}.{t}"), *rows, true, note.as_deref().unwrap_or_default())
        }).collect::<Vec<_>>(),
    })
}

/// One table of a summary; `note` only where there is one.
pub(crate) fn table_json(table: &str, rows: i64, verified: bool, note: &str) -> serde_json::Value {
    let mut value = serde_json::json!({"table": table, "rows": rows, "verified": verified});
    if !note.is_empty() {
        value["note"] = serde_json::Value::from(note);
    }
    value
}

/// One object of a summary.
fn object_json(o: &ObjectReport) -> serde_json::Value {
    serde_json::json!({
        "kind": o.kind, "object": format!("{}.{}", o.database, o.name),
        "migrated": o.migrated, "left_out": o.excluded, "note": o.note,
    })
}

/// The tables of a summary line, one a line, with their notes.
fn write_tables(out: &mut impl Write, value: &serde_json::Value) {
    for t in value["selection"].as_array().into_iter().flatten() {
        let state = if t["verified"] == true {
            "verified"
        } else {
            "NOT VERIFIED"
        };
        let _ = writeln!(
            out,
            "  table {} {} rows {state}{}",
            t["table"].as_str().unwrap_or_default(),
            t["rows"],
            t["note"]
                .as_str()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        );
    }
}

/// The objects of a summary line, one a line.
fn write_objects(out: &mut impl Write, value: &serde_json::Value) {
    for o in value["objects"].as_array().into_iter().flatten() {
        let state = match (o["migrated"] == true, o["left_out"] == true) {
            (true, _) => "migrated",
            (false, true) => "left out",
            (false, false) => "NOT MIGRATED",
        };
        let _ = writeln!(
            out,
            "  {} {} {state} {}",
            o["kind"].as_str().unwrap_or_default(),
            o["object"].as_str().unwrap_or_default(),
            o["note"].as_str().unwrap_or_default()
        );
    }
}

/// The signals that stop a migration as Ctrl-C does: paused, checkpoints kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C): exit status 130.
    Interrupt,
    /// SIGTERM (a service manager or container runtime stopping it): exit status 143.
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// Pauses the task for the signal, keeping its checkpoints, and says so; the exit
    /// status.
    pub(crate) async fn pause<C: Send + Sync + 'static>(
        self,
        handle: &SubtaskHandle<C>,
        report: &Reporter,
    ) -> ExitCode {
        let _ = handle.pause().await;
        report.line(&serde_json::json!({
            "event": "interrupted",
            "signal": self.name(),
            "message": "paused; checkpoints are kept: run the same command again to resume",
        }));
        ExitCode::from(self.exit_status())
    }

    /// 128 + the signal's number, as a shell reports a process the signal ended.
    fn exit_status(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// A listener for SIGTERM (`None` where there is none, or it cannot be installed).
#[cfg(unix)]
pub(crate) fn terminate_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
pub(crate) fn terminate_signal() -> Option<()> {
    None
}

/// Resolves when SIGTERM arrives; never without a listener.
#[cfg(unix)]
pub(crate) async fn terminated(listener: &mut Option<tokio::signal::unix::Signal>) {
    match listener {
        Some(l) => {
            l.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
pub(crate) async fn terminated(_: &mut Option<()>) {
    std::future::pending().await
}

enum Outcome {
    Finished,
    Interrupted(Signal),
    Failed(Box<pb::SubTaskStatus>),
    NoProgress(u32, Box<pb::ProcessError>),
}

/// The selection as the source lists it now, or why it could not be listed.
async fn selection(config: &TaskConfig) -> Result<Vec<(String, String)>, String> {
    inspect::list_selection(config).await.map_err(|e| {
        e.process_error(
            unit_core::ErrScope::Upstream,
            unit_mysql::Operation::Query("information_schema"),
        )
        .raw_cause
    })
}

/// The `replicating` event: where replication starts and how the copy was made
/// consistent.
fn replicating(cp: &unit_mysql::SyncCheckpoint) -> serde_json::Value {
    let how = match cp.consistency.as_str() {
        "flush" => "a snapshot taken under FLUSH TABLES WITH READ LOCK",
        "lock" => "a snapshot taken under LOCK TABLES ... READ",
        "none" => "no lock (consistency none)",
        "resumed" => "a copy resumed without its snapshot (as consistency none)",
        "incremental" => "no copy (mode incremental)",
        _ => "an unknown method",
    };
    serde_json::json!({
        "event": "replicating",
        "from": cp.position.to_string(),
        "consistency": cp.consistency,
        "safe_until": cp.safe_until.as_ref().map(ToString::to_string),
        "message": format!(
            "replicating from {}; the copy was made consistent by {how}{}",
            cp.position,
            cp.safe_until
                .as_ref()
                .map(|u| format!(", so changes up to {u} are replayed idempotently"))
                .unwrap_or_default()
        ),
    })
}

/// Paused by an error that auto-resume (the recommended policy) will never retry.
pub(crate) fn unresumable(status: &pb::SubTaskStatus) -> bool {
    status.result.as_ref().is_some_and(|r| {
        !r.is_canceled
            && r.errors
                .iter()
                .any(|e| !Recommended.explain(e).is_resumable())
    })
}

pub(crate) async fn count_resumes<C>(handle: SubtaskHandle<C>, resumes: Arc<AtomicUsize>) {
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

/// The final summary: every selected table with its rows and whether it was verified,
/// every object and whether it was migrated, totals over every run of the task, speed
/// of this run. `complete` is true only when the selection listed independently
/// equals the verified tables and every object not left out was migrated.
async fn summary(
    config: &TaskConfig,
    copied: &CopyReport,
    selection: &Result<Vec<(String, String)>, String>,
    before: inspect::CheckpointTotals,
    elapsed: Duration,
    resumes: usize,
) -> serde_json::Value {
    let totals = match inspect::checkpoint_totals(config).await {
        Ok(totals) => totals,
        Err(e) => {
            tracing::warn!(error = %e, "the checkpoints' totals could not be read: rows reported as 0");
            inspect::CheckpointTotals::default()
        }
    };
    let (rows, bytes) = (totals.rows, totals.bytes);
    let (run_rows, run_bytes) = (rows - before.rows, bytes - before.bytes);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let verified: Vec<(String, String)> = copied
        .tables
        .iter()
        .filter(|t| t.verified)
        .map(|t| (t.database.clone(), t.name.clone()))
        .collect();
    let mut problems = copied.missing();
    match selection {
        Ok(selected) => problems.extend(
            selected
                .iter()
                .filter(|t| !verified.contains(t))
                .map(|(d, t)| format!("table {d}.{t} is selected but was not verified")),
        ),
        Err(e) => problems.push(format!("the selection could not be listed again: {e}")),
    }
    let n = copied.tables.len();
    let migrated = copied.objects.iter().filter(|o| o.migrated).count();
    let left_out = copied.objects.iter().filter(|o| o.excluded).count();
    serde_json::json!({
        "event": "finished",
        "complete": problems.is_empty(),
        "tables": n,
        "rows": rows,
        "bytes": bytes,
        "rows_this_run": run_rows,
        "seconds": (secs * 100.0).round() / 100.0,
        "rows_per_second": (run_rows as f64 / secs).round() as i64,
        "bytes_per_second": (run_bytes as f64 / secs).round() as i64,
        "resumes": resumes,
        "sql_mode": copied.sql_mode,
        "verification": if problems.is_empty() {
            format!("all {n} tables verified: row counts and checksums equal")
        } else {
            format!("NOT COMPLETE: {}", problems.join("; "))
        },
        "selection": copied.tables.iter().map(|t| table_json(
            &format!("{}.{}", t.database, t.name), t.rows, t.verified, &t.note,
        )).collect::<Vec<_>>(),
        "objects": copied.objects.iter().map(object_json).collect::<Vec<_>>(),
        "objects_summary": format!(
            "{migrated} of {} other objects migrated ({left_out} left out); users and grants are not migrated",
            copied.objects.len()
        ),
    })
}

/// Progress on a terminal (a bar), or one JSON line per interval.
pub(crate) struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Reporter {
    pub(crate) fn new(json: bool) -> Self {
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

    pub(crate) fn progress(&mut self, status: &pb::SubTaskStatus) {
        let stage = format!("{:?}", status.stage());
        let unit = format!("{:?}", status.unit());
        match (&self.bar, &status.status) {
            (Some(bar), Some(Status::Load(l))) => {
                bar.set_length(u64::try_from(l.total_bytes).unwrap_or(0));
                bar.set_position(u64::try_from(l.finished_bytes).unwrap_or(0));
                bar.set_message(stage);
            }
            (Some(bar), Some(Status::Sync(s))) => bar.set_message(format!(
                "{unit} {stage}: {} changes ({}/s), {} s behind the source",
                s.total_events, s.recent_tps, s.seconds_behind_master
            )),
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
                    Some(Status::Sync(s)) => format!(
                        " {} changes applied ({}/s), at {} of the source's {}, {} s behind{}",
                        s.total_events,
                        s.recent_tps,
                        s.syncer_binlog,
                        s.master_binlog,
                        s.seconds_behind_master,
                        if s.synced { ", caught up" } else { "" }
                    ),
                    _ => String::new(),
                };
                let why = match status.result.as_ref().and_then(|r| r.errors.first()) {
                    Some(e) if status.stage() == Stage::Paused => {
                        format!(" - {}: {}", e.raw_cause, Recommended.explain(e))
                    }
                    _ => String::new(),
                };
                let mut out = std::io::stderr().lock();
                let _ = writeln!(out, "{unit} {stage}{progress}{why}");
            }
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// A final or event line: JSON with `--json`, otherwise readable text.
    pub(crate) fn line(&self, value: &serde_json::Value) {
        let mut out = std::io::stdout().lock();
        if self.json {
            let _ = writeln!(out, "{value}");
            return;
        }
        match value.get("event").and_then(|e| e.as_str()) {
            Some("finished") => {
                write_tables(&mut out, value);
                write_objects(&mut out, value);
                let _ = writeln!(
                    out,
                    "finished: {} tables, {} rows, {} bytes; this run copied {} rows in {} s ({} rows/s), {} automatic resumes\n{}\n{}\ntarget sessions wrote with sql_mode={}",
                    value["tables"],
                    value["rows"],
                    value["bytes"],
                    value["rows_this_run"],
                    value["seconds"],
                    value["rows_per_second"],
                    value["resumes"],
                    value["objects_summary"].as_str().unwrap_or_default(),
                    value["verification"].as_str().unwrap_or_default(),
                    value["sql_mode"].as_str().unwrap_or_default()
                );
            }
            Some("copied") => {
                write_tables(&mut out, value);
                let _ = writeln!(
                    out,
                    "copied: {} tables, {} rows in {} s, {} automatic resumes",
                    value["tables"], value["rows"], value["seconds"], value["resumes"]
                );
            }
            Some("cutover") => {
                write_tables(&mut out, value);
                write_objects(&mut out, value);
                let _ = writeln!(
                    out,
                    "cutover: the target holds every change up to {}; {} changes applied by this run, {} automatic resumes\n{}",
                    value["position"].as_str().unwrap_or("nothing"),
                    value["changes_applied"],
                    value["resumes"],
                    value["verification"].as_str().unwrap_or_default()
                );
            }
            Some("failed") => {
                let _ = writeln!(out, "failed (not resumable):");
                for e in value["errors"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        out,
                        "  {} {}\n    cause: {}\n    {} (policy {})\n    workaround: {}",
                        e["ErrCode"],
                        e["Message"].as_str().unwrap_or_default(),
                        e["RawCause"].as_str().unwrap_or_default(),
                        e["verdict"].as_str().unwrap_or_default(),
                        e["policy"].as_str().unwrap_or_default(),
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
