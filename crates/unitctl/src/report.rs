//! What `unitctl migrate` prints: progress (a bar on a terminal, else a line per
//! interval), and the events of the run, one [`Event`] a line: JSON with `--json`,
//! otherwise readable text. [`ExplainedError`] is an error with the verdict of the
//! policy that acted, as the events and the API give it.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use unit_core::{Policy, Recommended};
use unit_mysql::ObjectReport;
use unit_proto::pb::{self, Stage, sub_task_status::Status};

/// Progress on a terminal (a bar), or one JSON line per interval.
pub(crate) struct Reporter {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Reporter {
    /// Progress as a bar on a terminal, else as lines; JSON lines with `json`.
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

    /// Reports `status`: the bar, a line of text, or a `status` event.
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
                self.line(&Event::Status {
                    status: Box::new(status.clone()),
                });
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

    /// Clears the bar.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// A final or event line: JSON with `--json`, otherwise readable text.
    pub(crate) fn line(&self, event: &Event) {
        let _ = event.write(&mut std::io::stdout().lock(), self.json);
    }
}

/// An event of a run: one line of standard output.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The task's status, each interval (`--json` only).
    Status { status: Box<pb::SubTaskStatus> },
    /// The HTTP API serves at `address`.
    Listening { address: String, message: String },
    /// The cutover verifies every table.
    Verifying { message: &'static str },
    /// Replication starts: where, and how the copy was made consistent.
    Replicating {
        from: String,
        consistency: String,
        safe_until: Option<String>,
        message: String,
    },
    /// Safe mode turned on or off.
    SafeMode { on: bool, message: &'static str },
    /// Paused by a signal.
    Interrupted {
        signal: &'static str,
        message: &'static str,
    },
    /// Stopped by errors that need a person (`errors` left out where none is given).
    Failed {
        stage: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        errors: Option<Vec<ExplainedError>>,
    },
    /// The end of a MySQL copy (mode full).
    Finished(Box<Finished>),
    /// The end of a PostgreSQL copy.
    Copied(Copied),
    /// The end of a MySQL cutover (modes all and incremental).
    Cutover(Box<Cutover>),
}

/// The `finished` event: every selected table with its rows and whether it was
/// verified, every object and whether it was migrated, totals over every run of the
/// task, speed of this run.
#[derive(Debug, Serialize)]
pub(crate) struct Finished {
    pub(crate) complete: bool,
    pub(crate) tables: usize,
    pub(crate) rows: i64,
    pub(crate) bytes: i64,
    pub(crate) rows_this_run: i64,
    pub(crate) seconds: f64,
    pub(crate) rows_per_second: i64,
    pub(crate) bytes_per_second: i64,
    pub(crate) resumes: usize,
    pub(crate) sql_mode: String,
    pub(crate) verification: String,
    pub(crate) selection: Vec<TableLine>,
    pub(crate) objects: Vec<ObjectLine>,
    pub(crate) objects_summary: String,
}

/// The `copied` event: every selected table with its rows and whether it was verified.
#[derive(Debug, Serialize)]
pub(crate) struct Copied {
    pub(crate) complete: bool,
    pub(crate) tables: usize,
    pub(crate) rows: i64,
    pub(crate) seconds: u64,
    pub(crate) resumes: usize,
    pub(crate) selection: Vec<TableLine>,
}

/// The `cutover` event: the final position, every table verified, every object.
#[derive(Debug, Serialize)]
pub(crate) struct Cutover {
    pub(crate) objects: Vec<ObjectLine>,
    pub(crate) complete: bool,
    pub(crate) position: Option<String>,
    pub(crate) binlog_file: Option<String>,
    pub(crate) binlog_pos: Option<u64>,
    pub(crate) gtid: Option<String>,
    pub(crate) changes_applied: i64,
    pub(crate) seconds: f64,
    pub(crate) resumes: usize,
    pub(crate) tables: usize,
    pub(crate) verification: String,
    pub(crate) selection: Vec<TableLine>,
}

/// One table of a summary; `note` only where there is one.
#[derive(Debug, Serialize)]
pub(crate) struct TableLine {
    table: String,
    rows: i64,
    verified: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    note: String,
}

impl TableLine {
    pub(crate) fn new(table: String, rows: i64, verified: bool, note: &str) -> Self {
        Self {
            table,
            rows,
            verified,
            note: note.to_owned(),
        }
    }
}

/// One object of a summary.
#[derive(Debug, Serialize)]
pub(crate) struct ObjectLine {
    kind: &'static str,
    object: String,
    migrated: bool,
    left_out: bool,
    note: String,
}

impl From<&ObjectReport> for ObjectLine {
    fn from(o: &ObjectReport) -> Self {
        Self {
            kind: o.kind,
            object: format!("{}.{}", o.database, o.name),
            migrated: o.migrated,
            left_out: o.excluded,
            note: o.note.clone(),
        }
    }
}

/// An error of a `failed` event: DM's fields, and the verdict (after `why`) of the
/// policy that acted.
#[derive(Debug, Serialize)]
pub(crate) struct ExplainedError {
    #[serde(rename = "ErrCode")]
    err_code: i32,
    /// DM's side of the error: `upstream` (the source), `downstream` (the target),
    /// `internal`, `not-set`.
    #[serde(rename = "ErrScope")]
    err_scope: String,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "RawCause")]
    raw_cause: String,
    #[serde(rename = "Workaround")]
    workaround: String,
    policy: &'static str,
    verdict: String,
}

impl ExplainedError {
    /// `error` with the verdict of `policy`, after `why`.
    pub(crate) fn new(error: &pb::ProcessError, policy: &dyn Policy, why: &str) -> Self {
        Self {
            err_code: error.err_code,
            err_scope: error.err_scope.clone(),
            message: error.message.clone(),
            raw_cause: error.raw_cause.clone(),
            workaround: error.workaround.clone(),
            policy: policy.name(),
            verdict: format!("{why}{}", policy.explain(error)),
        }
    }
}

impl Event {
    /// The `failed` event of `errors` at `stage`, each with the verdict (after `why`)
    /// of `policy`.
    pub(crate) fn failed<'a>(
        stage: Stage,
        errors: impl IntoIterator<Item = &'a pb::ProcessError>,
        policy: &dyn Policy,
        why: &str,
    ) -> Self {
        Self::Failed {
            stage: format!("{stage:?}"),
            errors: Some(
                errors
                    .into_iter()
                    .map(|e| ExplainedError::new(e, policy, why))
                    .collect(),
            ),
        }
    }

    /// A summary that says every selected table was verified (and every object
    /// migrated): the run's exit status is 0 only then.
    pub(crate) fn complete(&self) -> bool {
        match self {
            Self::Finished(f) => f.complete,
            Self::Copied(c) => c.complete,
            Self::Cutover(c) => c.complete,
            _ => false,
        }
    }

    /// Writes the event's line: JSON with `json`, otherwise readable text.
    fn write(&self, out: &mut impl Write, json: bool) -> std::io::Result<()> {
        if json {
            // Through a Value, whose keys are sorted, as every line has always been.
            let value = serde_json::to_value(self).unwrap_or_default();
            return writeln!(out, "{value}");
        }
        match self {
            Self::Finished(f) => {
                write_tables(out, &f.selection)?;
                write_objects(out, &f.objects)?;
                writeln!(
                    out,
                    "finished: {} tables, {} rows, {} bytes; this run copied {} rows in {} s ({} rows/s), {} automatic resumes\n{}\n{}\ntarget sessions wrote with sql_mode={}",
                    f.tables,
                    f.rows,
                    f.bytes,
                    f.rows_this_run,
                    // As JSON writes it (`2.0`, not `2`).
                    serde_json::Value::from(f.seconds),
                    f.rows_per_second,
                    f.resumes,
                    f.objects_summary,
                    f.verification,
                    f.sql_mode
                )
            }
            Self::Copied(c) => {
                write_tables(out, &c.selection)?;
                writeln!(
                    out,
                    "copied: {} tables, {} rows in {} s, {} automatic resumes",
                    c.tables, c.rows, c.seconds, c.resumes
                )
            }
            Self::Cutover(c) => {
                write_tables(out, &c.selection)?;
                write_objects(out, &c.objects)?;
                writeln!(
                    out,
                    "cutover: the target holds every change up to {}; {} changes applied by this run, {} automatic resumes\n{}",
                    c.position.as_deref().unwrap_or("nothing"),
                    c.changes_applied,
                    c.resumes,
                    c.verification
                )
            }
            Self::Failed { errors, .. } => {
                writeln!(out, "failed (not resumable):")?;
                for e in errors.iter().flatten() {
                    writeln!(
                        out,
                        "  {} {}{}\n    cause: {}\n    {} (policy {})\n    workaround: {}",
                        e.err_code,
                        match e.err_scope.as_str() {
                            "upstream" => "on the source: ",
                            "downstream" => "on the target: ",
                            _ => "",
                        },
                        e.message,
                        e.raw_cause,
                        e.verdict,
                        e.policy,
                        e.workaround
                    )?;
                }
                Ok(())
            }
            Self::Listening { message, .. } | Self::Replicating { message, .. } => {
                writeln!(out, "{message}")
            }
            Self::Verifying { message }
            | Self::SafeMode { message, .. }
            | Self::Interrupted { message, .. } => writeln!(out, "{message}"),
            Self::Status { .. } => writeln!(out),
        }
    }
}

/// The tables of a summary line, one a line, with their notes.
fn write_tables(out: &mut impl Write, tables: &[TableLine]) -> std::io::Result<()> {
    for t in tables {
        let state = if t.verified {
            "verified"
        } else {
            "NOT VERIFIED"
        };
        let note = if t.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", t.note)
        };
        writeln!(out, "  table {} {} rows {state}{note}", t.table, t.rows)?;
    }
    Ok(())
}

/// The objects of a summary line, one a line.
fn write_objects(out: &mut impl Write, objects: &[ObjectLine]) -> std::io::Result<()> {
    for o in objects {
        let state = match (o.migrated, o.left_out) {
            (true, _) => "migrated",
            (false, true) => "left out",
            (false, false) => "NOT MIGRATED",
        };
        writeln!(out, "  {} {} {state} {}", o.kind, o.object, o.note)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
