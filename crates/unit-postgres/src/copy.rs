//! [`PgCopyUnit`]: tables copied PostgreSQL to PostgreSQL with the COPY protocol.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, Row};
use unit_core::prelude::*;
use unit_sql::{Chunk, Interrupted, Operation, OwnedOperation, cancellable, redact};

use crate::classify::process_error;
use crate::schema::{DumpFailure, Section, Selection};

/// The copy's checkpoints: the workspace's shared store, on PostgreSQL.
type CheckpointStore = unit_sql::CheckpointStore<sqlx::Postgres>;

/// What both sides' sessions start with, so that every value prints and reads back
/// exactly: ISO dates, PostgreSQL intervals, floats with every digit, hex bytea,
/// UTF-8 text, UTC.
const SESSION: &str = "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; \
    SET extra_float_digits = 3; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'; \
    SET TimeZone = 'UTC'; SET standard_conforming_strings = on";

/// Settings of a [`PgCopyUnit`].
#[derive(Clone)]
#[non_exhaustive]
pub struct PgCopyConfig {
    /// The task's name: checkpoints are kept per task.
    pub task: String,
    /// The source's `postgres://` URL.
    pub source: String,
    /// The target's `postgres://` URL, where the checkpoints live too.
    pub target: String,
    /// Schemas whose tables are copied when `tables` is empty.
    pub schemas: Vec<String>,
    /// `schema.table` names to copy; empty: every table of `schemas`.
    pub tables: Vec<String>,
    /// Rows per chunk, each chunk one target transaction with its checkpoint.
    pub chunk_rows: usize,
    /// The target schema holding the checkpoint table.
    pub checkpoint_schema: String,
    /// How long to wait for a connection before reporting a (resumable) failure.
    pub acquire_timeout: Duration,
    /// The `pg_dump` (version 14 or later, and at least the source server's) that dumps
    /// the schema the copy makes on the target: `pg_dump` found on `PATH` by default.
    pub pg_dump: PathBuf,
}

impl std::fmt::Debug for PgCopyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCopyConfig")
            .field("task", &self.task)
            .field("source", &redact(&self.source))
            .field("target", &redact(&self.target))
            .field("schemas", &self.schemas)
            .field("tables", &self.tables)
            .field("chunk_rows", &self.chunk_rows)
            .field("pg_dump", &self.pg_dump)
            .finish_non_exhaustive()
    }
}

impl PgCopyConfig {
    /// Every table of schema `public`, 5,000-row chunks, checkpoints in schema
    /// `unit_checkpoint` of the target.
    pub fn new(
        task: impl Into<String>,
        source: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            task: task.into(),
            source: source.into(),
            target: target.into(),
            schemas: vec!["public".to_owned()],
            tables: Vec::new(),
            chunk_rows: 5000,
            checkpoint_schema: "unit_checkpoint".to_owned(),
            acquire_timeout: Duration::from_secs(10),
            pg_dump: PathBuf::from("pg_dump"),
        }
    }

    unit_core::with_setters! {
        with_schemas => schemas: Vec<String>,
        with_checkpoint_schema => checkpoint_schema: String,
        with_acquire_timeout => acquire_timeout: Duration,
        with_pg_dump => pg_dump: PathBuf,
    }

    /// Copies these `schema.table`s only.
    #[must_use]
    pub fn tables<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tables: I) -> Self {
        self.tables = tables.into_iter().map(Into::into).collect();
        self
    }

    /// Rows per chunk.
    #[must_use]
    pub fn chunk_rows(mut self, rows: usize) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }
}

/// A failure of the copy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgCopyError {
    /// A statement failed or was abandoned.
    #[error("{} failed on the {scope}: {source}", summary(.step))]
    Statement {
        /// `upstream` (source) or `downstream` (target).
        scope: &'static str,
        /// What was being done.
        step: OwnedOperation,
        /// The driver's error, or the cancellation.
        #[source]
        source: Interrupted<sqlx::Error>,
    },
    /// `pg_dump`, which dumps the schema the copy makes, could not be started.
    #[error("{path} (pg_dump, which dumps the source's schema) could not be started: {detail}")]
    PgDumpMissing {
        /// The program's path.
        path: String,
        /// Why.
        detail: String,
    },
    /// `pg_dump` failed to dump a section of the source's schema.
    #[error("the source's schema ({section} section) could not be dumped: {detail}")]
    PgDump {
        /// `pre-data` or `post-data`.
        section: &'static str,
        /// What `pg_dump` printed (passwords hidden).
        detail: String,
        /// Whether it says that its connection failed or was lost.
        connection_lost: bool,
    },
    /// The target holds some of the selected tables but not all of them.
    #[error(
        "the target holds {present} but not {missing}: the copy makes the schema only on a target that holds none of the selected tables"
    )]
    PartialSchema {
        /// The selected tables the target holds.
        present: String,
        /// Those it does not.
        missing: String,
    },
    /// A table without a primary key cannot be copied in order.
    #[error("table {0} has no primary key")]
    NoKey(String),
    /// A target table exists with other columns.
    #[error("target table {table} differs from the source's: {detail}")]
    DifferentTable {
        /// `schema.table`.
        table: String,
        /// The first difference.
        detail: String,
    },
    /// A copied table's rows differ from the source's.
    #[error(
        "table {table} differs after the copy: source {source_rows} rows (hash {source_hash}), target {target_rows} rows (hash {target_hash})"
    )]
    Mismatch {
        /// `schema.table`.
        table: String,
        /// The source's row count.
        source_rows: i64,
        /// The target's row count.
        target_rows: i64,
        /// The source's hash of its rows.
        source_hash: String,
        /// The target's hash of its rows.
        target_hash: String,
    },
}

fn summary(step: &OwnedOperation) -> String {
    match step.as_operation() {
        Operation::Connect => "connect".to_owned(),
        Operation::Begin => "BEGIN".to_owned(),
        Operation::Commit => "COMMIT".to_owned(),
        op => op
            .statement()
            .map(unit_sql::summarize_statement)
            .unwrap_or_default(),
    }
}

impl PgCopyError {
    /// The `ProcessError` to report (codes 10001-10007 and 60011 for statements, 60001
    /// for a different table or a target holding part of the selection, 60002 without
    /// a key, 60004 for a mismatch, 60012 for a `pg_dump` that cannot start, 32001 for
    /// one that fails, 10002 for one whose connection failed).
    pub fn process_error(&self) -> pb::ProcessError {
        let generate =
            |code: &'static ErrorCode| new_process_error(&Error::generate(code, &[self]));
        match self {
            Self::Statement {
                scope,
                step,
                source,
            } => {
                let scope = if *scope == "upstream" {
                    ErrScope::Upstream
                } else {
                    ErrScope::Downstream
                };
                match source {
                    Interrupted::Failed(e) => process_error(e, scope, step.as_operation()),
                    Interrupted::Canceled(c) => {
                        let mut pe = new_process_error(c);
                        pe.err_scope = scope.as_str().to_owned();
                        pe
                    }
                }
            }
            Self::NoKey(table) => {
                new_process_error(&Error::generate(&ErrorCode::COPY_NO_KEY, &[table]))
            }
            Self::DifferentTable { .. } => generate(&ErrorCode::COPY_TABLE_CONFLICT),
            Self::PartialSchema { .. } => {
                let what = format!("selection ({self})");
                let mut pe =
                    new_process_error(&Error::generate(&ErrorCode::COPY_TABLE_CONFLICT, &[&what]));
                pe.workaround = "Create the missing tables on the target as on the source (with their types, keys and indexes), or drop the others there, then restart the task.".to_owned();
                pe
            }
            Self::PgDumpMissing { .. } => {
                let mut pe =
                    new_process_error(&Error::generate(&ErrorCode::INVALID_CONFIG, &[self]));
                pe.workaround = "Install PostgreSQL's client programs (Debian: postgresql-client), version 14 or later and at least the source server's, or name the pg_dump to use (PgCopyConfig::pg_dump), then restart the task.".to_owned();
                pe
            }
            Self::PgDump {
                connection_lost, ..
            } => {
                let code = if *connection_lost {
                    &ErrorCode::DB_BAD_CONN
                } else {
                    &ErrorCode::DUMP_UNIT_RUNTIME
                };
                let mut pe = new_process_error(&Error::generate(code, &[]));
                pe.raw_cause = self.to_string();
                pe.err_scope = ErrScope::Upstream.as_str().to_owned();
                if !connection_lost {
                    pe.workaround = "Fix what pg_dump says (a pg_dump older than the source server, a missing privilege), then restart the task.".to_owned();
                }
                pe
            }
            Self::Mismatch { .. } => generate(&ErrorCode::COPY_VERIFY_MISMATCH),
        }
    }
}

fn up(step: OwnedOperation) -> impl FnOnce(Interrupted<sqlx::Error>) -> PgCopyError {
    move |source| PgCopyError::Statement {
        scope: "upstream",
        step,
        source,
    }
}

fn down(step: OwnedOperation) -> impl FnOnce(Interrupted<sqlx::Error>) -> PgCopyError {
    move |source| PgCopyError::Statement {
        scope: "downstream",
        step,
        source,
    }
}

/// `name` quoted as an identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a string literal (`standard_conforming_strings` is on).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A copied table.
#[derive(Debug, Clone)]
struct Table {
    schema: String,
    name: String,
    /// Column names and their types as `format_type` prints them.
    columns: Vec<(String, String)>,
    /// Indices into `columns` of the primary key, in key order.
    key: Vec<usize>,
}

impl Table {
    fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.name))
    }

    /// The table without the tables that inherit from it (each is copied as a table
    /// of its own).
    fn only(&self) -> String {
        format!("ONLY {}", self.qualified())
    }

    fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(c, _)| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|&i| ident(&self.columns[i].0))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key as a row of literals of the key's types.
    fn key_row(&self, values: &[String]) -> String {
        let row = self
            .key
            .iter()
            .zip(values)
            .map(|(&i, v)| format!("{}::{}", literal(v), self.columns[i].1))
            .collect::<Vec<_>>()
            .join(", ");
        format!("({row})")
    }

    /// `WHERE` conditions selecting the rows after `after` up to `upto` (inclusive).
    fn range(&self, after: Option<&[String]>, upto: Option<&[String]>) -> String {
        let key = format!("({})", self.key_list());
        let mut conditions = Vec::new();
        if let Some(after) = after {
            conditions.push(format!("{key} > {}", self.key_row(after)));
        }
        if let Some(upto) = upto {
            conditions.push(format!("{key} <= {}", self.key_row(upto)));
        }
        if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        }
    }
}

/// A key as hex per value, comma-separated (the checkpoint's `last_key`).
fn encode_key(values: &[String]) -> String {
    values
        .iter()
        .map(|v| v.bytes().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_key(text: &str) -> Vec<String> {
    text.split(',')
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len() / 2)
                .filter_map(|i| {
                    h.get(2 * i..2 * i + 2)
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                })
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

/// What a [`PgCopyUnit`] selected and verified so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgCopyReport {
    /// The selected tables (`schema.table`), known after `init`.
    pub selected: Vec<String>,
    /// The tables copied and verified, with their row counts, in copy order, each once.
    pub verified: Vec<(String, i64)>,
}

/// Reads a [`PgCopyUnit`]'s report at any moment, even while it copies.
#[derive(Debug, Clone, Default)]
pub struct PgReportHandle(Arc<std::sync::Mutex<PgCopyReport>>);

impl PgReportHandle {
    /// The report now.
    pub fn report(&self) -> PgCopyReport {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut PgCopyReport)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A PostgreSQL-to-PostgreSQL copy as a [`Unit`] of type Load.
///
/// - **Schema**: on a target that holds none of the selected tables, `init` makes the
///   source's schema with `pg_dump`'s pre-data section (extensions, types, domains,
///   functions, sequences, tables with their defaults, checks and generated columns,
///   views), and once every table is copied `process` makes its post-data section
///   (keys, indexes, constraints, triggers) and sets every sequence to the source's
///   value; each section runs in one target transaction with a row that records it, so
///   it is made once. Owners, privileges and tablespaces are the target's. A target that
///   holds every selected table is taken as it is, and one whose columns or key differ
///   is refused (60001); one that holds only some of them is refused too (60001). A
///   table without a primary key is refused (60002).
/// - **Chunks**: each table is read in key order, `chunk_rows` rows at a time, in a
///   `REPEATABLE READ` transaction per chunk, with `COPY (SELECT ...) TO STDOUT` in
///   text format (which every type reads back exactly with the sessions' settings),
///   and written with `COPY ... FROM STDIN` in one target transaction together with
///   the chunk's checkpoint ([`unit_sql::CheckpointStore`]). A pause, a terminated
///   session, a killed server or a new process continue after the last committed
///   chunk: nothing is lost or written twice.
/// - **Verification**: once a table is copied, its row count and a hash of its rows'
///   text (a sum of each row's MD5, computed by each server) are compared; a
///   difference is code 60004, never resumed.
/// - **Errors** are classified by SQLSTATE ([`explain_pg_error`](crate::explain_pg_error)).
///
/// The source must be quiet while it is copied (no online mode yet).
pub struct PgCopyUnit {
    config: PgCopyConfig,
    source: Option<PgPool>,
    target: Option<PgPool>,
    tables: Vec<Table>,
    store: CheckpointStore,
    progress: Arc<(AtomicI64, AtomicI64)>,
    report: PgReportHandle,
    /// What `pg_dump` dumps of the source's schema.
    selection: Selection,
    /// The schema sections this task made on the target (`None`: the target's
    /// tables were there before the task, and the copy makes no schema).
    made: Option<Vec<Section>>,
}

impl std::fmt::Debug for PgCopyUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCopyUnit")
            .field("config", &self.config)
            .field("tables", &self.tables.len())
            .finish_non_exhaustive()
    }
}

async fn open(url: &str, timeout: Duration, scope: &'static str) -> Result<PgPool, PgCopyError> {
    let fail = |e| PgCopyError::Statement {
        scope,
        step: OwnedOperation::Connect,
        source: Interrupted::Failed(e),
    };
    let options: PgConnectOptions = url.parse().map_err(fail)?;
    PgPoolOptions::new()
        .max_connections(3)
        .acquire_timeout(timeout)
        .after_connect(|conn, _| Box::pin(async move { conn.execute(SESSION).await.map(|_| ()) }))
        .connect_with(options)
        .await
        .map_err(fail)
}

impl PgCopyUnit {
    /// A unit copying as `config` says.
    pub fn new(config: PgCopyConfig) -> Self {
        let store = CheckpointStore::new(&config.checkpoint_schema, &config.task);
        Self {
            config,
            source: None,
            target: None,
            tables: Vec::new(),
            store,
            progress: Arc::default(),
            report: PgReportHandle::default(),
            selection: Selection::default(),
            made: None,
        }
    }

    /// A handle on what the copy selected and verified.
    pub fn report_handle(&self) -> PgReportHandle {
        self.report.clone()
    }

    async fn prepare(&mut self, cancel: &CancellationToken) -> Result<(), PgCopyError> {
        let timeout = self.config.acquire_timeout;
        let source = open(&self.config.source, timeout, "upstream").await?;
        self.source = Some(source.clone());
        let target = open(&self.config.target, timeout, "downstream").await?;
        self.target = Some(target.clone());
        let create = async {
            let mut conn = target.acquire().await?;
            self.store.create(&mut conn).await?;
            let sections = format!(
                "CREATE TABLE IF NOT EXISTS {}.copy_schema_section (task text NOT NULL, \
                 section text NOT NULL, PRIMARY KEY (task, section))",
                ident(&self.config.checkpoint_schema)
            );
            conn.execute(sections.as_str()).await.map(|_| ())
        };
        cancellable(cancel, create)
            .await
            .map_err(down(OwnedOperation::Execute(
                "CREATE TABLE copy_checkpoint".to_owned(),
            )))?;
        let names = self.selected(&source, cancel).await?;
        let mut tables = Vec::new();
        let mut total = 0i64;
        for (schema, name) in names {
            let table = describe(&source, "upstream", &schema, &name, cancel)
                .await?
                .ok_or_else(|| PgCopyError::DifferentTable {
                    table: format!("{schema}.{name}"),
                    detail: "it does not exist on the source".to_owned(),
                })?;
            if table.key.is_empty() {
                return Err(PgCopyError::NoKey(table.display()));
            }
            let size = "SELECT pg_table_size(format('%I.%I', $1, $2)::regclass)";
            total += cancellable(
                cancel,
                sqlx::query_scalar::<_, i64>(size)
                    .bind(&schema)
                    .bind(&name)
                    .fetch_one(&source),
            )
            .await
            .map_err(up(OwnedOperation::Query(size.to_owned())))?;
            tables.push(table);
        }
        self.selection = self.dump_selection(&source, &tables, cancel).await?;
        self.made = self.target_schema(&target, &tables, cancel).await?;
        self.progress.1.store(total, Ordering::Relaxed);
        self.report.update(|r| {
            r.selected = tables.iter().map(Table::display).collect();
            r.verified.clear();
        });
        self.tables = tables;
        Ok(())
    }

    /// The selected tables, `(schema, table)`.
    async fn selected(
        &self,
        source: &PgPool,
        cancel: &CancellationToken,
    ) -> Result<Vec<(String, String)>, PgCopyError> {
        if !self.config.tables.is_empty() {
            return Ok(self
                .config
                .tables
                .iter()
                .map(|t| match t.split_once('.') {
                    Some((s, n)) => (s.to_owned(), n.to_owned()),
                    None => ("public".to_owned(), t.clone()),
                })
                .collect());
        }
        // Tables that hold rows: partitions, not their partitioned parents (whose
        // rows are the partitions').
        let sql = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relkind = 'r' AND n.nspname = ANY($1) AND n.nspname <> $2 \
                   AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1, 2";
        let rows = cancellable(
            cancel,
            sqlx::query_as::<_, (String, String)>(sql)
                .bind(&self.config.schemas)
                .bind(&self.config.checkpoint_schema)
                .fetch_all(source),
        )
        .await
        .map_err(up(OwnedOperation::Query(sql.to_owned())))?;
        Ok(rows)
    }

    /// What `pg_dump` dumps: every schema of the selection, without the relations of
    /// those schemas that `tables` (given) leaves out.
    async fn dump_selection(
        &self,
        source: &PgPool,
        tables: &[Table],
        cancel: &CancellationToken,
    ) -> Result<Selection, PgCopyError> {
        if self.config.tables.is_empty() {
            return Ok(Selection {
                schemas: self
                    .config
                    .schemas
                    .iter()
                    .filter(|s| **s != self.config.checkpoint_schema)
                    .cloned()
                    .collect(),
                excluded: Vec::new(),
            });
        }
        let mut schemas: Vec<String> = tables.iter().map(|t| t.schema.clone()).collect();
        schemas.sort();
        schemas.dedup();
        let sql = "SELECT n.nspname::text, c.relname::text FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1, 2";
        let relations = cancellable(
            cancel,
            sqlx::query_as::<_, (String, String)>(sql)
                .bind(&schemas)
                .fetch_all(source),
        )
        .await
        .map_err(up(OwnedOperation::Query(sql.to_owned())))?;
        let excluded = relations
            .into_iter()
            .filter(|(s, n)| !tables.iter().any(|t| t.schema == *s && t.name == *n))
            .collect();
        Ok(Selection { schemas, excluded })
    }

    /// Makes the schema's pre-data section on a target that holds none of `tables`
    /// (or finds it made by an earlier run of the task); takes the tables of a target
    /// that holds them all as they are, refusing one with other columns or key. The
    /// sections the task made (`None` for a target that held the tables before it).
    async fn target_schema(
        &self,
        target: &PgPool,
        tables: &[Table],
        cancel: &CancellationToken,
    ) -> Result<Option<Vec<Section>>, PgCopyError> {
        let made = self.sections_made(target, cancel).await?;
        let mut on_target = Vec::with_capacity(tables.len());
        for table in tables {
            on_target
                .push(describe(target, "downstream", &table.schema, &table.name, cancel).await?);
        }
        if made.is_empty() {
            let (present, missing): (Vec<_>, Vec<_>) = tables
                .iter()
                .zip(&on_target)
                .partition(|(_, t)| t.is_some());
            let names = |list: &[(&Table, &Option<Table>)]| {
                list.iter()
                    .map(|(t, _)| t.display())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if missing.is_empty() && !present.is_empty() {
                for (table, existing) in tables.iter().zip(&on_target) {
                    if let Some(existing) = existing {
                        same_table(table, existing, true)?;
                    }
                }
                return Ok(None);
            }
            if !present.is_empty() {
                return Err(PgCopyError::PartialSchema {
                    present: names(&present),
                    missing: names(&missing),
                });
            }
            self.make_section(Section::PreData, cancel).await?;
            on_target.clear();
            for table in tables {
                on_target.push(
                    describe(target, "downstream", &table.schema, &table.name, cancel).await?,
                );
            }
        }
        // The key comes with the post-data section.
        for (table, existing) in tables.iter().zip(&on_target) {
            match existing {
                Some(existing) => same_table(table, existing, false)?,
                None => {
                    return Err(PgCopyError::DifferentTable {
                        table: table.display(),
                        detail: "the schema this task made on the target no longer holds it"
                            .to_owned(),
                    });
                }
            }
        }
        Ok(Some(self.sections_made(target, cancel).await?))
    }

    /// The schema sections this task recorded as made on the target.
    async fn sections_made(
        &self,
        target: &PgPool,
        cancel: &CancellationToken,
    ) -> Result<Vec<Section>, PgCopyError> {
        let sql = format!(
            "SELECT section FROM {}.copy_schema_section WHERE task = $1",
            ident(&self.config.checkpoint_schema)
        );
        let names: Vec<String> = cancellable(
            cancel,
            sqlx::query_scalar(&sql)
                .bind(&self.config.task)
                .fetch_all(target),
        )
        .await
        .map_err(down(OwnedOperation::Query(sql.clone())))?;
        Ok([Section::PreData, Section::PostData]
            .into_iter()
            .filter(|s| names.iter().any(|n| n == s.name()))
            .collect())
    }

    /// Dumps `section` of the source's schema and runs it on the target, in one
    /// transaction with the row that records it made.
    async fn make_section(
        &self,
        section: Section,
        cancel: &CancellationToken,
    ) -> Result<(), PgCopyError> {
        let dump = crate::schema::dump(
            &self.config.pg_dump,
            &self.config.source,
            &self.selection,
            section,
        );
        let script = match cancellable(cancel, dump).await {
            Ok(script) => script,
            Err(Interrupted::Canceled(c)) => {
                let step = OwnedOperation::Query(format!("pg_dump --section={}", section.name()));
                return Err(up(step)(Interrupted::Canceled(c)));
            }
            Err(Interrupted::Failed(DumpFailure::NotStarted(e))) => {
                return Err(PgCopyError::PgDumpMissing {
                    path: self.config.pg_dump.display().to_string(),
                    detail: e.to_string(),
                });
            }
            Err(Interrupted::Failed(failure)) => {
                return Err(PgCopyError::PgDump {
                    section: section.name(),
                    connection_lost: failure.is_connection_lost(),
                    detail: failure.to_string(),
                });
            }
        };
        let record = format!(
            "INSERT INTO {}.copy_schema_section (task, section) VALUES ($1, $2)",
            ident(&self.config.checkpoint_schema)
        );
        let step = OwnedOperation::Execute(format!(
            "the {} section of the source's schema",
            section.name()
        ));
        let run = async {
            // A connection of its own: the script changes its settings.
            let options: PgConnectOptions = self.config.target.parse()?;
            let mut conn = PgConnection::connect_with(&options).await?;
            let applied = crate::schema::apply(
                &mut conn,
                &script,
                sqlx::query(&record)
                    .bind(&self.config.task)
                    .bind(section.name()),
            )
            .await;
            let _ = conn.close().await;
            applied
        };
        cancellable(cancel, run).await.map_err(down(step))?;
        tracing::info!(
            section = section.name(),
            "made the source's schema section on the target"
        );
        Ok(())
    }

    async fn copy_all(&self, cancel: &CancellationToken) -> Result<(), PgCopyError> {
        let (Some(source), Some(target)) = (&self.source, &self.target) else {
            return Ok(());
        };
        for table in &self.tables {
            // Verified by this instance already (a resume after a later table failed):
            // the source is quiet, so nothing to do again.
            let name = table.display();
            if self
                .report
                .report()
                .verified
                .iter()
                .any(|(t, _)| *t == name)
            {
                continue;
            }
            let plan = async {
                let mut conn = target.acquire().await?;
                self.store
                    .plan(&mut conn, &table.schema, &table.name, &[(None, None)])
                    .await
            };
            let parts = cancellable(cancel, plan)
                .await
                .map_err(down(OwnedOperation::Query(
                    "SELECT ... FROM copy_checkpoint".to_owned(),
                )))?;
            for part in parts.iter().filter(|p| !p.done) {
                let after = part.last_key.as_deref().map(decode_key);
                self.copy_part(source, target, table, part.part, after, cancel)
                    .await?;
            }
            let rows = verify(source, target, table, cancel).await?;
            tracing::info!(table = %name, rows, "copied and verified");
            self.report.update(|r| r.verified.push((name, rows)));
        }
        if self.made.is_some() {
            // Read again: a resume of this instance may follow a made post-data section.
            if !self
                .sections_made(target, cancel)
                .await?
                .contains(&Section::PostData)
            {
                self.make_section(Section::PostData, cancel).await?;
            }
            self.set_sequences(source, target, cancel).await?;
            self.refresh_views(source, target, cancel).await?;
        }
        Ok(())
    }

    /// The names that `list` (a query of one text column, taking the dumped schemas as
    /// `$1`) finds on the source.
    async fn names_in_schemas(
        &self,
        source: &PgPool,
        list: &str,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, PgCopyError> {
        cancellable(
            cancel,
            sqlx::query_scalar(list)
                .bind(&self.selection.schemas)
                .fetch_all(source),
        )
        .await
        .map_err(up(OwnedOperation::Query(list.to_owned())))
    }

    /// Fills the target's materialized views that are filled on the source (the schema
    /// sections make them empty).
    async fn refresh_views(
        &self,
        source: &PgPool,
        target: &PgPool,
        cancel: &CancellationToken,
    ) -> Result<(), PgCopyError> {
        let list = "SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews \
                    WHERE ispopulated AND schemaname = ANY($1) ORDER BY 1";
        let views = self.names_in_schemas(source, list, cancel).await?;
        for view in views {
            let refresh = format!("REFRESH MATERIALIZED VIEW {view}");
            cancellable(cancel, target.execute(refresh.as_str()))
                .await
                .map_err(down(OwnedOperation::Execute(refresh.clone())))?;
        }
        Ok(())
    }

    /// Sets every sequence of the dumped schemas that the target has to the source's
    /// value (`setval` with the source's `last_value` and `is_called`: idempotent).
    async fn set_sequences(
        &self,
        source: &PgPool,
        target: &PgPool,
        cancel: &CancellationToken,
    ) -> Result<(), PgCopyError> {
        let list = "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                    JOIN pg_namespace n ON n.oid = c.relnamespace \
                    WHERE c.relkind = 'S' AND n.nspname = ANY($1) ORDER BY 1";
        let sequences = self.names_in_schemas(source, list, cancel).await?;
        let set = "SELECT setval(to_regclass($1), $2, $3) WHERE to_regclass($1) IS NOT NULL";
        for sequence in sequences {
            let read = format!("SELECT last_value, is_called FROM {sequence}");
            let (value, called): (i64, bool) =
                cancellable(cancel, sqlx::query_as(&read).fetch_one(source))
                    .await
                    .map_err(up(OwnedOperation::Query(read.clone())))?;
            cancellable(
                cancel,
                sqlx::query(set)
                    .bind(&sequence)
                    .bind(value)
                    .bind(called)
                    .execute(target),
            )
            .await
            .map_err(down(OwnedOperation::Execute(set.to_owned())))?;
        }
        Ok(())
    }

    /// Copies a part's chunks from after `after` on.
    async fn copy_part(
        &self,
        source: &PgPool,
        target: &PgPool,
        table: &Table,
        part: i32,
        mut after: Option<Vec<String>>,
        cancel: &CancellationToken,
    ) -> Result<(), PgCopyError> {
        loop {
            let (upto, data) = read_chunk(
                source,
                table,
                after.as_deref(),
                self.config.chunk_rows,
                cancel,
            )
            .await?;
            let rows =
                i64::try_from(data.iter().filter(|&&b| b == b'\n').count()).unwrap_or(i64::MAX);
            let bytes = i64::try_from(data.len()).unwrap_or(i64::MAX);
            let key = upto.as_deref().map(encode_key);
            let mut chunk = Chunk::new(&table.schema, &table.name, part).counts(rows, bytes);
            if let Some(key) = &key {
                chunk = chunk.after(key);
            }
            if upto.is_none() {
                chunk = chunk.finished();
            }
            let copy_in = format!(
                "COPY {} ({}) FROM STDIN",
                table.qualified(),
                table.column_list()
            );
            let write = async {
                let mut tx = target.begin().await?;
                let mut sink = tx.copy_in_raw(&copy_in).await?;
                sink.send(data).await?;
                let written = sink.finish().await?;
                if i64::try_from(written).ok() != Some(rows) {
                    return Err(sqlx::Error::Protocol(format!(
                        "COPY wrote {written} rows of {rows}"
                    )));
                }
                self.store.commit_chunk(&mut tx, &chunk).await?;
                tx.commit().await
            };
            cancellable(cancel, write)
                .await
                .map_err(down(OwnedOperation::Execute(copy_in.clone())))?;
            self.progress.0.fetch_add(bytes, Ordering::Relaxed);
            match upto {
                Some(upto) => after = Some(upto),
                None => return Ok(()),
            }
        }
    }
}

/// Refuses a target table whose columns (and, `with_key`, primary key) differ from the
/// source's.
fn same_table(source: &Table, target: &Table, with_key: bool) -> Result<(), PgCopyError> {
    if target.columns == source.columns && (!with_key || target.key == source.key) {
        return Ok(());
    }
    Err(PgCopyError::DifferentTable {
        table: source.display(),
        detail: format!(
            "columns {:?} key {:?}, the source's {:?} key {:?}",
            target.columns, target.key, source.columns, source.key
        ),
    })
}

/// `schema.name`'s columns and primary key, `None` when it does not exist. Generated
/// columns are left out: the target computes its own.
async fn describe(
    pool: &PgPool,
    scope: &'static str,
    schema: &str,
    name: &str,
    cancel: &CancellationToken,
) -> Result<Option<Table>, PgCopyError> {
    let sql = "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
               coalesce((SELECT k.ord FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
               WHERE k.attnum = a.attnum), 0)::int4 \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_attribute a ON a.attrelid = c.oid \
               LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
               WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum";
    let rows = cancellable(
        cancel,
        sqlx::query_as::<_, (String, String, i32)>(sql)
            .bind(schema)
            .bind(name)
            .fetch_all(pool),
    )
    .await
    .map_err(|source| PgCopyError::Statement {
        scope,
        step: OwnedOperation::Query(sql.to_owned()),
        source,
    })?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut columns = Vec::new();
    let mut key: Vec<(i32, usize)> = Vec::new();
    for (i, (column, ty, position)) in rows.into_iter().enumerate() {
        if position > 0 {
            key.push((position, i));
        }
        columns.push((column, ty));
    }
    key.sort_unstable();
    Ok(Some(Table {
        schema: schema.to_owned(),
        name: name.to_owned(),
        columns,
        key: key.into_iter().map(|(_, i)| i).collect(),
    }))
}

/// The chunk after `after`: the key of its last row (`None` when it is the table's
/// last chunk) and its rows in COPY's text format, read in one snapshot.
async fn read_chunk(
    source: &PgPool,
    table: &Table,
    after: Option<&[String]>,
    rows: usize,
    cancel: &CancellationToken,
) -> Result<(Option<Vec<String>>, Vec<u8>), PgCopyError> {
    let keys = table
        .key
        .iter()
        .map(|&i| format!("{}::text", ident(&table.columns[i].0)))
        .collect::<Vec<_>>()
        .join(", ");
    let bound = format!(
        "SELECT {keys} FROM {}{} ORDER BY {} OFFSET {} LIMIT 1",
        table.only(),
        table.range(after, None),
        table.key_list(),
        rows.saturating_sub(1)
    );
    let read = async {
        let mut conn = source.acquire().await?;
        let mut tx = conn.begin().await?;
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await?;
        let upto: Option<Vec<String>> = match sqlx::query(&bound).fetch_optional(&mut *tx).await? {
            Some(row) => Some(
                (0..table.key.len())
                    .map(|i| row.try_get(i))
                    .collect::<Result<_, _>>()?,
            ),
            None => None,
        };
        let copy_out = format!(
            "COPY (SELECT {} FROM {}{} ORDER BY {}) TO STDOUT",
            table.column_list(),
            table.only(),
            table.range(after, upto.as_deref()),
            table.key_list()
        );
        let data: Vec<u8> = tx
            .copy_out_raw(&copy_out)
            .await?
            .try_fold(Vec::new(), |mut all, piece| async move {
                all.extend_from_slice(&piece);
                Ok(all)
            })
            .await?;
        tx.commit().await?;
        Ok((upto, data))
    };
    cancellable(cancel, read)
        .await
        .map_err(up(OwnedOperation::Query(bound.clone())))
}

/// Compares the table's row count and row hash on both sides; the rows.
async fn verify(
    source: &PgPool,
    target: &PgPool,
    table: &Table,
    cancel: &CancellationToken,
) -> Result<i64, PgCopyError> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({})::text), 1, 16))::bit(64)::bigint::numeric), 0)::text FROM {}",
        table.column_list(),
        table.only()
    );
    let (a, b) = tokio::join!(
        cancellable(
            cancel,
            sqlx::query_as::<_, (i64, String)>(&sql).fetch_one(source)
        ),
        cancellable(
            cancel,
            sqlx::query_as::<_, (i64, String)>(&sql).fetch_one(target)
        ),
    );
    let a = a.map_err(up(OwnedOperation::Query(sql.clone())))?;
    let b = b.map_err(down(OwnedOperation::Query(sql.clone())))?;
    if a != b {
        return Err(PgCopyError::Mismatch {
            table: table.display(),
            source_rows: a.0,
            target_rows: b.0,
            source_hash: a.1,
            target_hash: b.1,
        });
    }
    Ok(a.0)
}

#[async_trait]
impl Unit for PgCopyUnit {
    type Config = PgCopyConfig;

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        if let Err(e) = self.prepare(&cancel).await {
            self.close().await;
            // The report keeps the error's code and verdict.
            return Err(Box::new(ProcessFailure(e.process_error())));
        }
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        match self.copy_all(&cancel).await {
            Ok(()) => result::finished(),
            Err(_) if cancel.is_cancelled() => result::cancelled(),
            Err(e) => {
                tracing::warn!(error = %e, "copy failed");
                result::failed([e.process_error()])
            }
        }
    }

    async fn close(&mut self) {
        for pool in [self.source.take(), self.target.take()]
            .into_iter()
            .flatten()
        {
            pool.close().await;
        }
    }

    async fn kill(&mut self) {
        // Dropping the pools closes their connections without waiting.
        self.source = None;
        self.target = None;
    }

    async fn update(
        &mut self,
        _: CancellationToken,
        config: &PgCopyConfig,
    ) -> Result<(), BoxError> {
        self.config.chunk_rows = config.chunk_rows.max(1);
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let progress = self.progress.clone();
        Arc::new(move |_: Option<&SourceStatus>| {
            let finished = progress.0.load(Ordering::Relaxed);
            let total = progress.1.load(Ordering::Relaxed).max(finished);
            UnitStatus::Load(pb::LoadStatus {
                finished_bytes: finished,
                total_bytes: total,
                progress: format!(
                    "{:.2} %",
                    if total > 0 {
                        finished as f64 * 100.0 / total as f64
                    } else {
                        0.0
                    }
                ),
                ..Default::default()
            })
        })
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Load
    }

    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError> {
        let Some(target) = &self.target else {
            return Ok(true);
        };
        let fresh = async {
            let mut conn = target.acquire().await?;
            self.store.is_fresh_task(&mut conn).await
        };
        let fresh = cancellable(&cancel, fresh).await.map_err(|e| {
            Box::new(down(OwnedOperation::Query(
                "SELECT COUNT(*) FROM copy_checkpoint".to_owned(),
            ))(e)) as BoxError
        })?;
        // A schema section made counts as work done.
        Ok(fresh && self.sections_made(target, &cancel).await?.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_checkpoint_text() {
        let key = vec!["42".to_owned(), "a,b'c\\".to_owned(), String::new()];
        assert_eq!(decode_key(&encode_key(&key)), key);
    }

    #[test]
    fn key_conditions_quote_values_and_cast_to_the_key_types() {
        let table = Table {
            schema: "s".into(),
            name: "t".into(),
            columns: vec![("id".into(), "integer".into()), ("k".into(), "text".into())],
            key: vec![0, 1],
        };
        assert_eq!(
            table.range(Some(&["1".into(), "it's".into()]), None),
            " WHERE (\"id\", \"k\") > ('1'::integer, 'it''s'::text)"
        );
    }

    #[test]
    fn the_config_hides_passwords() {
        let c = PgCopyConfig::new("t", "postgres://u:secret@h/db", "postgres://u:secret@h/db2");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
