//! `--listen`: the HTTP status and control API of a running migration, shaped as
//! DM's OpenAPI where DM has the endpoint, and `/metrics`.
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /api/v1/tasks` | the task: `{"total": 1, "data": [{"name": ..}]}` |
//! | `GET /api/v1/tasks/{task}/status` | DM's `GetTaskStatusResponse`, plus `migration` |
//! | `POST /api/v1/tasks/{task}/stop` | pauses the task, checkpoints kept (DM's stop) |
//! | `POST /api/v1/tasks/{task}/start` | resumes it (DM's start) |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 while the task runs or resumes by itself, else 503 |
//!
//! Errors are DM's `ErrorWithMessage` (`error_code`, `error_msg`). Every answer is
//! made from memory: no handler waits on a database or a unit, except stop and start,
//! which wait for the stage they ask for.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use unit_core::{Policy, ResumeState, SubtaskHandle, Verdict};
use unit_mysql::{CopyReport, ReportHandle, SyncProgress, TaskConfig};
use unit_proto::pb::{self, Stage, sub_task_status::Status};

use crate::metrics::{Metrics, Snapshot, file_index, running};

/// DM's code for an unknown task (`ErrSchedulerTaskNotExist`).
pub(crate) const TASK_NOT_EXIST: i32 = 46018;
/// DM's code for an OpenAPI request it cannot take (`ErrOpenAPICommonError`).
pub(crate) const OPENAPI_COMMON: i32 = 49001;

/// The largest request body taken (stop and start take at most a small JSON object).
const BODY_LIMIT: usize = 64 * 1024;

/// What the API answers from.
pub(crate) struct Api {
    pub(crate) task: String,
    pub(crate) source_id: String,
    pub(crate) worker: String,
    pub(crate) handle: SubtaskHandle<TaskConfig>,
    pub(crate) reports: Arc<Mutex<Option<ReportHandle>>>,
    pub(crate) syncs: Arc<Mutex<Option<SyncProgress>>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) policy: Arc<dyn Policy>,
    pub(crate) needs_person: tokio::sync::watch::Receiver<Option<Verdict>>,
    pub(crate) resume: tokio::sync::watch::Receiver<ResumeState>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An error as DM's `ErrorWithMessage`.
fn error(status: StatusCode, code: i32, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error_code": code, "error_msg": message.into()})),
    )
        .into_response()
}

/// Checks that the path names this task.
fn this_task(api: &Api, task: &str) -> Result<(), Response> {
    if task == api.task {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            TASK_NOT_EXIST,
            format!("task with name {task} not exist"),
        ))
    }
}

/// The routes over `api`.
pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/v1/tasks", get(tasks))
        .route("/api/v1/tasks/{task}/status", get(status))
        .route("/api/v1/tasks/{task}/stop", post(stop))
        .route("/api/v1/tasks/{task}/start", post(start))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { error(StatusCode::NOT_FOUND, OPENAPI_COMMON, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                OPENAPI_COMMON,
                "method not allowed on this endpoint",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(api)
}

/// Serves `api` on `listener` until the process ends; a connection's failure ends
/// only that connection.
pub(crate) async fn serve(listener: tokio::net::TcpListener, api: Arc<Api>) {
    // Samples the replication lag for DM's histogram, every second while the Sync
    // unit runs.
    let sampler = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticks.tick().await;
                let status = api.handle.status();
                if status.unit() != pb::UnitType::Sync || status.stage() != Stage::Running {
                    continue;
                }
                let sync = lock(&api.syncs).clone();
                if let Some(sync) = sync {
                    api.metrics.observe_lag(sync.status().seconds_behind_master);
                }
            }
        })
    };
    let exits = tokio::spawn(watch_exits(api.clone()));
    if let Err(e) = axum::serve(listener, router(api)).await {
        tracing::warn!(error = %e, "the HTTP API stopped");
    }
    sampler.abort();
    exits.abort();
}

/// Counts units that end with an error, and automatic resumes by the code of the
/// error that paused the task.
async fn watch_exits(api: Arc<Api>) {
    let mut stages = api.handle.watch_stage();
    let mut paused_by: Option<i32> = None;
    while stages.changed().await.is_ok() {
        let stage = *stages.borrow_and_update();
        match stage {
            Stage::Paused => {
                let status = api.handle.status();
                let errors = status
                    .result
                    .as_ref()
                    .filter(|r| !r.is_canceled)
                    .map(|r| r.errors.as_slice())
                    .unwrap_or_default();
                if let Some(first) = errors.first() {
                    let resumable = errors.iter().all(|e| api.policy.explain(e).is_resumable());
                    api.metrics
                        .unit_exited(status.unit(), resumable, api.policy.name());
                    paused_by = Some(first.err_code);
                }
            }
            Stage::Running | Stage::Resuming => {
                if let Some(code) = paused_by.take() {
                    api.metrics.resumed(code);
                }
            }
            _ => {}
        }
    }
}

async fn tasks(State(api): State<Arc<Api>>) -> Response {
    let stage = api.handle.status().stage();
    axum::Json(json!({
        "total": 1,
        "data": [{"name": api.task, "source_name_list": [api.source_id], "stage": stage.as_str_name()}],
    }))
    .into_response()
}

async fn status(State(api): State<Arc<Api>>, Path(task): Path<String>) -> Response {
    if let Err(e) = this_task(&api, &task) {
        return e;
    }
    axum::Json(task_status(&api)).into_response()
}

/// DM's `GetTaskStatusResponse` of the task, with this tool's own fields under
/// `migration`.
pub(crate) fn task_status(api: &Api) -> Value {
    let status = api.handle.status();
    let errors: Vec<&pb::ProcessError> = status
        .result
        .as_ref()
        .map(|r| r.errors.iter().collect())
        .unwrap_or_default();
    let error_msg = errors
        .iter()
        .map(|e| {
            if e.raw_cause.is_empty() {
                e.message.clone()
            } else {
                format!("{}: {}", e.message, e.raw_cause)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let (load_status, sync_status) = match &status.status {
        Some(Status::Load(l)) => (
            json!({"finished_bytes": l.finished_bytes, "total_bytes": l.total_bytes, "progress": l.progress,
                   "meta_binlog": l.meta_binlog, "meta_binlog_gtid": l.meta_binlog_gtid, "bps": l.bps}),
            Value::Null,
        ),
        Some(Status::Sync(s)) => (Value::Null, sync_json(s)),
        _ => (Value::Null, Value::Null),
    };
    let report = lock(&api.reports).as_ref().map(ReportHandle::report);
    let sync = lock(&api.syncs).clone();
    let tables: Vec<Value> = report
        .iter()
        .flat_map(|r| &r.tables)
        .map(|t| {
            json!({"table": format!("{}.{}", t.database, t.name), "phase": t.phase.as_str(),
                   "rows_copied": t.rows_copied, "bytes_copied": t.bytes_copied,
                   "estimated_rows": t.estimated_rows, "verified": t.verified, "rows": t.rows,
                   "note": t.note})
        })
        .collect();
    let verified = verified_tables(report.as_ref(), sync.as_ref());
    let (rows, bytes, estimated) = report
        .iter()
        .flat_map(|r| &r.tables)
        .fold((0i64, 0i64, 0i64), |(r, b, e), t| {
            (r + t.rows_copied, b + t.bytes_copied, e + t.estimated_rows)
        });
    let eta = match &status.status {
        Some(Status::Load(l)) if l.bps > 0 && l.total_bytes > l.finished_bytes => {
            Some((l.total_bytes - l.finished_bytes) / l.bps)
        }
        Some(Status::Load(l)) if l.total_bytes > 0 && l.finished_bytes >= l.total_bytes => Some(0),
        _ => None,
    };
    let resume = *api.resume.borrow();
    let needs_person = *api.needs_person.borrow();
    let verdicts: Vec<Value> = errors
        .iter()
        .map(|e| {
            let v = api.policy.explain(e);
            json!({"ErrCode": e.err_code, "Message": e.message, "RawCause": e.raw_cause,
                   "Workaround": e.workaround, "resumable": v.is_resumable(),
                   "policy": api.policy.name(), "verdict": v.to_string()})
        })
        .collect();
    let throttled = report
        .as_ref()
        .map(|r| r.throttled.clone())
        .unwrap_or_default();
    let migration = json!({
        "policy": api.policy.name(),
        "errors": verdicts,
        "needs_person": needs_person.map(|v| v.to_string()),
        "auto_resume": {
            "resumes": api.handle.resumes(),
            "backoff_seconds": resume.backoff.as_secs_f64(),
            "next_resume_in_seconds": resume.waiting.map(|w| w.as_secs_f64()),
            "unavailable_seconds": resume.unavailable_for.map(|d| d.as_secs_f64()),
        },
        "copy": {
            "rows_copied": rows, "bytes_copied": bytes, "estimated_rows": estimated,
            "eta_seconds": eta,
            "throttled": !throttled.is_empty(),
            "throttled_by": throttled,
        },
        "tables": tables,
        "verified_tables": verified,
        "safe_mode": sync.as_ref().map(SyncProgress::safe_mode),
        "cutover_position": sync.as_ref().and_then(SyncProgress::cutover_position).map(|p| p.to_string()),
    });
    json!({
        "total": 1,
        "data": [{
            "name": api.task,
            "source_name": api.source_id,
            "worker_name": api.worker,
            "stage": status.stage().as_str_name(),
            "unit": status.unit().as_str_name(),
            "unresolved_ddl_lock_id": "",
            "error_msg": error_msg,
            "dump_status": Value::Null,
            "load_status": load_status,
            "sync_status": sync_status,
            "migration": migration,
        }],
    })
}

/// The tables verified by the copy or by the cutover, as `db.table`, once each.
fn verified_tables(report: Option<&CopyReport>, sync: Option<&SyncProgress>) -> Vec<String> {
    let mut verified: Vec<String> = report
        .iter()
        .flat_map(|r| &r.tables)
        .filter(|t| t.verified)
        .map(|t| format!("{}.{}", t.database, t.name))
        .chain(
            sync.iter()
                .flat_map(|s| s.verified())
                .map(|(d, t, _)| format!("{d}.{t}")),
        )
        .collect();
    verified.sort();
    verified.dedup();
    verified
}

fn sync_json(s: &pb::SyncStatus) -> Value {
    json!({
        "total_events": s.total_events, "total_tps": s.total_tps, "recent_tps": s.recent_tps,
        "master_binlog": s.master_binlog, "master_binlog_gtid": s.master_binlog_gtid,
        "syncer_binlog": s.syncer_binlog, "syncer_binlog_gtid": s.syncer_binlog_gtid,
        "blocking_ddls": s.blocking_dd_ls, "unresolved_groups": [], "synced": s.synced,
        "binlog_type": s.binlog_type, "seconds_behind_master": s.seconds_behind_master,
        "io_total_bytes": s.io_total_bytes, "dump_io_total_bytes": s.dump_io_total_bytes,
    })
}

/// A stop or start request's body: nothing, or a JSON object with no fields this
/// tool would have to honour.
fn control_body(body: Result<Bytes, BytesRejection>) -> Result<(), Response> {
    let body = body.map_err(|r| {
        error(
            r.status(),
            OPENAPI_COMMON,
            format!("cannot read the request body: {}", r.body_text()),
        )
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            OPENAPI_COMMON,
            format!("the request body is not JSON: {e}"),
        )
    })?;
    match value.as_object() {
        Some(fields) if fields.is_empty() => Ok(()),
        Some(fields) => Err(error(
            StatusCode::BAD_REQUEST,
            OPENAPI_COMMON,
            format!(
                "unsupported request fields: {}",
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )),
        None => Err(error(
            StatusCode::BAD_REQUEST,
            OPENAPI_COMMON,
            "the request body must be a JSON object",
        )),
    }
}

async fn stop(
    api: State<Arc<Api>>,
    task: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    control(api, task, body, Stage::Paused).await
}

async fn start(
    api: State<Arc<Api>>,
    task: Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    control(api, task, body, Stage::Running).await
}

/// DM's stop (`to` Paused: pause with the checkpoints kept) or start (`to` Running:
/// resume), answered with the stage reached or DM's refusal.
async fn control(
    State(api): State<Arc<Api>>,
    Path(task): Path<String>,
    body: Result<Bytes, BytesRejection>,
    to: Stage,
) -> Response {
    if let Err(e) = this_task(&api, &task).and_then(|()| control_body(body)) {
        return e;
    }
    let done = if to == Stage::Paused {
        api.handle.pause().await
    } else {
        api.handle.resume().await
    };
    match done {
        Ok(()) => {
            let stage = api.handle.status().stage();
            axum::Json(json!({"name": api.task, "stage": stage.as_str_name()})).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e.code().code, e.to_string()),
    }
}

/// What the gauges of `/metrics` are read from.
fn snapshot(api: &Api) -> Snapshot {
    let status = api.handle.status();
    let report = lock(&api.reports).as_ref().map(ReportHandle::report);
    let sync = lock(&api.syncs).clone();
    let verified = verified_tables(report.as_ref(), sync.as_ref()).len();
    let (mut master, mut syncer) = (None, None);
    if let Some(sync) = &sync {
        let (at, source) = sync.positions();
        let pair = |p: &unit_mysql::BinlogPosition| {
            (!p.file.is_empty()).then(|| (file_index(&p.file), i64::try_from(p.pos).unwrap_or(0)))
        };
        (master, syncer) = (pair(&source), pair(&at));
    }
    let resume = *api.resume.borrow();
    Snapshot {
        sync: match &status.status {
            Some(Status::Sync(s)) => Some(s.clone()),
            _ => sync.as_ref().map(SyncProgress::status),
        },
        master,
        syncer,
        safe_mode: sync.as_ref().is_some_and(SyncProgress::safe_mode),
        throttled: report
            .as_ref()
            .map(|r| r.throttled.clone())
            .unwrap_or_default(),
        phases: report
            .iter()
            .flat_map(|r| &r.tables)
            .map(|t| (format!("{}.{}", t.database, t.name), t.phase))
            .collect(),
        verified,
        policy: api.policy.name(),
        needs_person: api.needs_person.borrow().is_some(),
        resume,
        status,
    }
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let text = api.metrics.render(&snapshot(&api));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready while the task runs, or waits for an automatic resume; not while it is
/// stopped, paused by a request, paused on an error that needs a person, or ended.
async fn readyz(State(api): State<Arc<Api>>) -> Response {
    let stage = api.handle.status().stage();
    let needs_person = *api.needs_person.borrow();
    let resuming = stage == Stage::Paused && api.resume.borrow().waiting.is_some();
    let (ready, reason) = match needs_person {
        Some(v) => (
            false,
            format!("paused on an error that needs a person: {v}"),
        ),
        None if running(stage) || resuming => (true, String::new()),
        None => (false, format!("the task is {}", stage.as_str_name())),
    };
    let body = json!({"ready": ready, "stage": stage.as_str_name(), "reason": reason});
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// Parses `--listen`; a non-loopback address only with `public`.
///
/// # Errors
/// Not `IP:PORT`, or not loopback without `public`.
pub(crate) fn listen_address(text: &str, public: bool) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not IP:PORT (e.g. 127.0.0.1:8261)"))?;
    if !addr.ip().is_loopback() && !public {
        return Err(format!(
            "{addr} can be reached from other hosts, and the API can stop and start the task without authentication: add --listen-public to allow it"
        ));
    }
    Ok(addr)
}
