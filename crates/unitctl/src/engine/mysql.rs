//! `unitctl migrate` between two MySQL servers: the task's configuration from the
//! arguments, its units (check, then copy and/or sync by mode), the HTTP API, the
//! events of replication, and the summaries of a copy and of a cutover.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use unit_core::{AutoResumeConfig, BoxUnit, Subtask};
use unit_mysql::inspect;
use unit_mysql::{
    CheckUnit, CopyReport, CopyUnit, Filter, ReportHandle, SyncProgress, SyncUnit, TaskConfig,
};
use unit_proto::pb;

use crate::args::{Args, BadArgs, Mode, MySqlChecked, start_position};
use crate::drive::{self, Drive};
use crate::report::{Cutover, Event, Finished, ObjectLine, Reporter, TableLine};

/// Runs the migration the arguments, `checked`, describe; the exit status as
/// `migrate`'s.
pub(crate) fn run(args: Args, checked: MySqlChecked) -> ExitCode {
    let runtime = match drive::runtime() {
        Ok(rt) => rt,
        Err(e) => return BadArgs(e).exit(),
    };
    runtime.block_on(async move {
        // Bound before anything runs, so that a taken address is a bad argument.
        let listener = match checked.listen {
            Some(addr) => match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => Some(l),
                Err(e) => {
                    return BadArgs(format!("--listen: cannot listen on {addr}: {e}")).exit();
                }
            },
            None => None,
        };
        let config = task_config(&args, checked);
        migrate(args, config, listener).await
    })
}

/// The task's configuration (without its observer) from the arguments.
fn task_config(args: &Args, checked: MySqlChecked) -> TaskConfig {
    let filter = Filter {
        databases: args.databases.clone(),
        tables: args.tables.clone(),
        exclude: args.exclude.clone(),
    };
    let mut config = TaskConfig::new(args.task.clone(), checked.source, checked.target, filter);
    config.copy.chunk_rows = args.chunk_rows;
    config.copy.concurrency = args.concurrency;
    config.copy.split_rows = args.split_rows;
    config.copy.max_rows_per_second = args.max_rows_per_second;
    config.copy.max_bytes_per_second = args.max_bytes_per_second;
    config.copy.max_source_threads_running = args.max_source_threads_running;
    config.copy.load_data_local = !args.no_load_data_local;
    config.verification = args.verification.chosen();
    config.acquire_timeout = args.connect_timeout;
    config.objects = checked.objects;
    config.sync.cutover = args.cutover;
    config.sync.batch = args.sync_batch;
    config.sync.workers = args.sync_workers;
    config.sync.merge_rows = args.sync_merge_rows;
    config.sync.use_gtid = args.use_gtid;
    config.versioned_current_rows = args.versioned_current_rows;
    config.checkpoint_database = args.checkpoint_database.clone();
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
    config
}

/// The report of the copy unit built last.
type Reports = Arc<Mutex<Option<ReportHandle>>>;
/// The progress of the sync unit built last.
type Syncs = Arc<Mutex<Option<SyncProgress>>>;

/// Builds fresh units for each start (a resume after a failed init builds them again,
/// as DM does): check, then copy unless incremental, then sync unless full; keeps the
/// report of the copy and the progress of the sync built last.
fn units(
    config: TaskConfig,
    mode: Mode,
    reports: Reports,
    syncs: Syncs,
) -> impl FnMut() -> Vec<BoxUnit<TaskConfig>> + Send + 'static {
    move || -> Vec<BoxUnit<TaskConfig>> {
        let mut units: Vec<BoxUnit<TaskConfig>> = vec![Box::new(CheckUnit::new(config.clone()))];
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
}

async fn migrate(
    args: Args,
    mut config: TaskConfig,
    listener: Option<tokio::net::TcpListener>,
) -> ExitCode {
    let source_id = args
        .source_id
        .clone()
        .unwrap_or_else(|| "source".to_owned());
    let metrics = crate::metrics::Metrics::new(&args.task, &source_id, "unitctl");
    config.observer = Some(metrics.clone());
    let mode = args.mode;
    let reports: Reports = Arc::default();
    let syncs: Syncs = Arc::default();
    let factory = units(config.clone(), mode, reports.clone(), syncs.clone());
    // What earlier runs of the task copied (nothing when the checkpoint table does not
    // exist yet), so that the summary's speed counts this run's rows only.
    let before = inspect::checkpoint_totals(&config)
        .await
        .unwrap_or_default();
    // A new task whose selection names what the source does not have, or nothing, is
    // a mistake in the arguments: refused before anything runs. (Not a task that has
    // run before, whose tables replicated DDL may have dropped, nor an incremental one,
    // whose tables the binlog may create; a source that cannot be read now is left to
    // the units, which classify its error.)
    let fresh = mode != Mode::Incremental
        && before.tables == 0
        && matches!(inspect::sync_checkpoint(&config).await, Ok(None));
    if fresh {
        let (tables, objects) = tokio::join!(
            inspect::list_selection(&config),
            inspect::list_selected_objects(&config)
        );
        if let (Ok(tables), Ok(objects)) = (tables, objects) {
            if let Err(e) = check_selection(&config.filter, &tables, &objects) {
                return BadArgs(e).exit();
            }
        }
    }
    let started = Instant::now();
    let mut auto = AutoResumeConfig::default();
    auto.check_interval = args.check_interval;
    auto.max_unavailable = Some(args.max_unavailable);
    let spawn = |config| Subtask::spawn_with(config, factory);
    let mut drive = match Drive::start(&args.task, args.interval, auto, spawn) {
        Ok(d) => d,
        Err(e) => return BadArgs(e).exit(),
    };
    let mut report = Reporter::new(args.json);
    let server = listener.map(|listener| {
        let address = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        report.line(&Event::Listening {
            message: format!(
                "serving the HTTP API and /metrics at http://{address}/ (task {})",
                args.task
            ),
            address,
        });
        let api = Arc::new(crate::serve::Api {
            task: args.task.clone(),
            source_id: source_id.clone(),
            worker: "unitctl".to_owned(),
            handle: drive.handle.clone(),
            reports: reports.clone(),
            syncs: syncs.clone(),
            metrics: metrics.clone(),
            policy: drive.policy.clone(),
            needs_person: drive.needs_person.clone(),
            resume: drive.resume_state.clone(),
        });
        tokio::spawn(crate::serve::serve(listener, api))
    });

    let mut safe_mode = false;
    let mut verifying = false;
    let mut announced = false;
    let observe = async |status: &pb::SubTaskStatus, report: &Reporter| {
        // Safe mode (idempotent replay over a copy that was not a snapshot) is said
        // when it turns on and off, and the cutover's verification when it starts.
        let sync = syncs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if sync.as_ref().is_some_and(SyncProgress::verifying) && !verifying {
            verifying = true;
            report.line(&Event::Verifying {
                message: "cutover: every change up to the source's position is applied; verifying every table (row count and checksum)",
            });
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
            report.line(&Event::SafeMode {
                on,
                message: if on {
                    "safe mode on: changes are replayed idempotently until the end of the copy's span"
                } else {
                    "safe mode off: past the copy's span, every change must match the target"
                },
            });
        }
    };
    let outcome = drive.supervise(&mut report, observe).await;
    let failed = |status: &pb::SubTaskStatus, policy: &dyn unit_core::Policy| {
        let errors = status.result.iter().flat_map(|r| &r.errors);
        Event::failed(status.stage(), errors, policy, "")
    };
    let finished = async |resumes| {
        if mode != Mode::Full {
            let sync = syncs.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let selection = selection(&config).await;
            return cutover_summary(sync.as_ref(), &selection, started.elapsed(), resumes);
        }
        let copied = reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(ReportHandle::report)
            .unwrap_or_default();
        let selection = selection(&config).await;
        summary(
            &config,
            &copied,
            &selection,
            before,
            started.elapsed(),
            resumes,
        )
        .await
    };
    let code = drive.end(outcome, &report, failed, finished).await;
    if let Some(server) = server {
        server.abort();
    }
    code
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
fn replicating(cp: &unit_mysql::SyncCheckpoint) -> Event {
    let how = match cp.consistency.as_str() {
        "flush" => "a snapshot taken under FLUSH TABLES WITH READ LOCK",
        "lock" => "a snapshot taken under LOCK TABLES ... READ",
        "none" => "no lock (consistency none)",
        "resumed" => "a copy resumed without its snapshot (as consistency none)",
        "incremental" => "no copy (mode incremental)",
        _ => "an unknown method",
    };
    Event::Replicating {
        from: cp.position.to_string(),
        consistency: cp.consistency.clone(),
        safe_until: cp.safe_until.as_ref().map(ToString::to_string),
        message: format!(
            "replicating from {}; the copy was made consistent by {how}{}",
            cp.position,
            cp.safe_until
                .as_ref()
                .map(|u| format!(", so changes up to {u} are replayed idempotently"))
                .unwrap_or_default()
        ),
    }
}

/// The end of a cutover: the final position and every selected table verified.
/// `complete` is true only when the selection listed independently equals the tables
/// the cutover verified.
fn cutover_summary(
    sync: Option<&SyncProgress>,
    selection: &Result<Vec<(String, String)>, String>,
    elapsed: Duration,
    resumes: usize,
) -> Event {
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
    Event::Cutover(Box::new(Cutover {
        objects: objects.iter().map(ObjectLine::from).collect(),
        complete: problems.is_empty(),
        position: position.as_ref().map(ToString::to_string),
        binlog_file: position.as_ref().map(|p| p.file.clone()),
        binlog_pos: position.as_ref().map(|p| p.pos),
        gtid: position.as_ref().map(|p| p.gtid.clone()),
        changes_applied: status.total_events,
        seconds: (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        resumes,
        tables: verified.len(),
        verification: if problems.is_empty() {
            format!("all {} tables verified at cutover: row counts and checksums equal", verified.len())
        } else {
            format!("NOT COMPLETE: {}", problems.join("; "))
        },
        selection: verified.iter().map(|(d, t, rows)| {
            let engine = idempotent.iter().find(|(id, it, _)| id == d && it == t).map(|(_, _, e)| e);
            let note = engine.map(|e| format!("{e}, not transactional: copied outside the snapshot, its changes applied idempotently"));
            TableLine::new(format!("{d}.{t}"), *rows, true, note.as_deref().unwrap_or_default())
        }).collect(),
    }))
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
) -> Event {
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
    Event::Finished(Box::new(Finished {
        complete: problems.is_empty(),
        tables: n,
        rows,
        bytes,
        rows_this_run: run_rows,
        seconds: (secs * 100.0).round() / 100.0,
        rows_per_second: (run_rows as f64 / secs).round() as i64,
        bytes_per_second: (run_bytes as f64 / secs).round() as i64,
        resumes,
        sql_mode: copied.sql_mode.clone(),
        verification: if problems.is_empty() {
            format!("all {n} tables verified: row counts and checksums equal")
        } else {
            format!("NOT COMPLETE: {}", problems.join("; "))
        },
        selection: copied
            .tables
            .iter()
            .map(|t| {
                TableLine::new(
                    format!("{}.{}", t.database, t.name),
                    t.rows,
                    t.verified,
                    &t.note,
                )
            })
            .collect(),
        objects: copied.objects.iter().map(ObjectLine::from).collect(),
        objects_summary: format!(
            "{migrated} of {} other objects migrated ({left_out} left out); users and grants are not migrated",
            copied.objects.len()
        ),
    }))
}

/// Refuses a selection (`filter`, which listed the tables `selected` and the other
/// objects `objects` on the source) that covers nothing, or names a database or table
/// without a wildcard that it does not find.
fn check_selection(
    filter: &Filter,
    selected: &[(String, String)],
    objects: &[(String, String)],
) -> Result<(), String> {
    let literal = |pattern: &str| !pattern.contains(['*', '?']);
    let found = || selected.iter().chain(objects);
    let missing_table: Vec<&str> = filter
        .tables
        .iter()
        .filter(|t| literal(t) && !found().any(|(db, name)| format!("{db}.{name}") == **t))
        .map(String::as_str)
        .collect();
    if !missing_table.is_empty() {
        return Err(format!(
            "--tables {}: no such table or view on the source (or left out by --exclude)",
            missing_table.join(",")
        ));
    }
    let missing_db: Vec<&str> = filter
        .databases
        .iter()
        .filter(|d| literal(d) && !found().any(|(db, _)| db == *d))
        .map(String::as_str)
        .collect();
    if !missing_db.is_empty() {
        return Err(format!(
            "--databases {}: the source has nothing selected there (no such database, an \
             empty one, or everything left out)",
            missing_db.join(",")
        ));
    }
    if selected.is_empty() && objects.is_empty() {
        return Err(
            "the selection (--databases, --tables, --exclude) names nothing on the source"
                .to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_must_find_what_it_names() {
        let t = |d: &str, n: &str| (d.to_owned(), n.to_owned());
        let listed = [t("shop", "orders"), t("shop", "items")];
        let views = [t("reports", "daily")];
        let filter = |databases: &[&str], tables: &[&str]| Filter {
            databases: databases.iter().map(|s| (*s).to_owned()).collect(),
            tables: tables.iter().map(|s| (*s).to_owned()).collect(),
            exclude: Vec::new(),
        };
        let check = |databases: &[&str], tables: &[&str], objects: &[(String, String)]| {
            check_selection(&filter(databases, tables), &listed, objects)
        };
        assert_eq!(check(&["shop"], &[], &[]), Ok(()));
        assert_eq!(check(&["sh*"], &["shop.orders"], &[]), Ok(()));
        // A database of views only, and a view named as a table, are found.
        assert_eq!(
            check_selection(&filter(&["reports"], &[]), &[], &views),
            Ok(())
        );
        assert_eq!(check(&[], &["reports.daily"], &views), Ok(()));
        let e = check(&["shop", "nosuchdb"], &[], &views).unwrap_err();
        assert!(e.starts_with("--databases nosuchdb:"), "{e}");
        let e = check(&[], &["shop.nosuch"], &views).unwrap_err();
        assert!(e.starts_with("--tables shop.nosuch:"), "{e}");
        let e = check_selection(&filter(&["no*"], &[]), &[], &[]).unwrap_err();
        assert!(e.contains("names nothing"), "{e}");
    }
}
