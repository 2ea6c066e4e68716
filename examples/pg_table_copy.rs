//! An example adapter: a unit of its own, written only with the public API of
//! `unit-core` (the lifecycle, the supervisor, auto-resume), `unit-sql` (cancellation,
//! the checkpoint store) and `unit-postgres` (the SQLSTATE classifier).
//!
//! It copies one PostgreSQL table, keyed by an integer column `id`, into a table of the
//! same columns, in chunks: each chunk is written with `COPY` in one target transaction
//! together with its checkpoint, so that a terminated session, a killed server or a new
//! process continues after the last committed chunk, and nothing is copied twice.
//!
//! ```text
//! cargo run -p unit-integration-tests --example pg_table_copy -- \
//!     postgres://postgres@127.0.0.1/src postgres://postgres@127.0.0.1/dst orders
//! ```
//!
//! "Writing an adapter" in unit-sql's docs walks through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgPoolCopyExt, PgPoolOptions};
use unit_core::prelude::*;
use unit_postgres::process_error;
use unit_sql::{CheckpointStore, Chunk, Operation, cancellable};

/// The unit: one table, from `source` to `target`.
pub(crate) struct TableCopy {
    source_url: String,
    target_url: String,
    table: String,
    chunk_rows: usize,
    pools: Option<(PgPool, PgPool)>,
    /// Where each chunk's checkpoint goes: the workspace's shared store.
    store: CheckpointStore<Postgres>,
    /// Rows copied by this instance, for the status.
    copied: Arc<AtomicI64>,
    /// Their bytes: auto-resume's no-progress check reads `finished_bytes`.
    bytes: Arc<AtomicI64>,
}

/// A failed statement: its side, what it was, and the driver's error (or the
/// cancellation); unit-postgres classifies the error by its SQLSTATE when reported.
type Failure = unit_sql::Failure<sqlx::Error>;

impl TableCopy {
    /// A unit copying `table` (schema `public`) between two databases.
    pub(crate) fn new(source_url: &str, target_url: &str, table: &str) -> Self {
        Self {
            source_url: source_url.to_owned(),
            target_url: target_url.to_owned(),
            table: table.to_owned(),
            chunk_rows: 500,
            pools: None,
            store: CheckpointStore::new("unit_checkpoint", &format!("example-{table}")),
            copied: Arc::default(),
            bytes: Arc::default(),
        }
    }

    /// The table's name as an identifier.
    fn ident(&self) -> String {
        format!("public.\"{}\"", self.table.replace('"', "\"\""))
    }

    /// Copies chunk after chunk from the checkpoint on; `Ok` once the table is done.
    async fn copy(&self, cancel: &CancellationToken) -> Result<(), Failure> {
        let (source, target) = self.pools.as_ref().expect("process runs after init");
        // The one part of the table: its checkpoint says where to go on.
        let read = "SELECT ... FROM unit_checkpoint.copy_checkpoint";
        let plan = async {
            let mut conn = target.acquire().await?;
            self.store
                .plan(&mut conn, "public", &self.table, &[(None, None)])
                .await
        };
        let part = cancellable(cancel, plan)
            .await
            .map_err(Failure::on(ErrScope::Downstream, Operation::Query(read)))?
            .remove(0);
        let mut last: Option<i64> = part.last_key.as_deref().and_then(|k| k.parse().ok());
        let mut done = part.done;
        while !done {
            let after = last.map_or(String::new(), |id| format!("WHERE id > {id}"));
            let copy_out = format!(
                "COPY (SELECT * FROM {} {after} ORDER BY id LIMIT {}) TO STDOUT",
                self.ident(),
                self.chunk_rows
            );
            let fetch = async {
                let mut data = Vec::new();
                let mut stream = source.copy_out_raw(&copy_out).await?;
                while let Some(piece) = stream.try_next().await? {
                    data.extend_from_slice(&piece);
                }
                Ok::<_, sqlx::Error>(data)
            };
            let data = cancellable(cancel, fetch)
                .await
                .map_err(Failure::on(ErrScope::Upstream, Operation::Query(&copy_out)))?;
            // Rows end with a newline (one inside a value is escaped); `id` is first.
            let rows = data.iter().filter(|&&b| b == b'\n').count();
            let last_id = data
                .split(|&b| b == b'\n')
                .rfind(|line| !line.is_empty())
                .and_then(|line| line.split(|&b| b == b'\t').next())
                .and_then(|id| std::str::from_utf8(id).ok()?.parse::<i64>().ok());
            done = rows < self.chunk_rows;
            let key = last_id.or(last).map(|id| id.to_string());
            let mut chunk =
                Chunk::new("public", &self.table, part.part).counts(rows as i64, data.len() as i64);
            if let Some(key) = &key {
                chunk = chunk.after(key);
            }
            if done {
                chunk = chunk.finished();
            }
            let bytes = data.len() as i64;
            // The rows and their checkpoint commit together or not at all.
            let copy_in = format!("COPY {} FROM STDIN", self.ident());
            let write = async {
                let mut tx = target.begin().await?;
                let mut sink = tx.copy_in_raw(&copy_in).await?;
                sink.send(data).await?;
                sink.finish().await?;
                self.store.commit_chunk(&mut tx, &chunk).await?;
                tx.commit().await
            };
            cancellable(cancel, write).await.map_err(Failure::on(
                ErrScope::Downstream,
                Operation::Execute(&copy_in),
            ))?;
            self.copied.fetch_add(rows as i64, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            last = last_id.or(last);
        }
        Ok(())
    }
}

#[async_trait]
impl Unit for TableCopy {
    type Config = ();

    async fn init(&mut self, cancel: CancellationToken) -> Result<(), BoxError> {
        let open = |url: String| async move {
            PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(5))
                .connect(&url)
                .await
        };
        let connect = async {
            let source = open(self.source_url.clone()).await?;
            let target = open(self.target_url.clone()).await?;
            self.store.create(&mut *target.acquire().await?).await?;
            Ok((source, target))
        };
        // A failed init reports the classified error, code and all.
        let pools = cancellable(&cancel, connect).await.map_err(|e| {
            ProcessFailure(
                Failure::on(ErrScope::Downstream, Operation::Connect)(e).report(process_error),
            )
        })?;
        self.pools = Some(pools);
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        match self.copy(&cancel).await {
            Ok(()) => result::finished(),
            Err(_) if cancel.is_cancelled() => result::cancelled(),
            Err(failure) => result::failed([failure.report(process_error)]),
        }
    }

    // pause, resume and kill keep their defaults: the checkpoint is all resume needs.

    async fn close(&mut self) {
        if let Some((source, target)) = self.pools.take() {
            source.close().await;
            target.close().await;
        }
    }

    async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> {
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let (copied, bytes) = (self.copied.clone(), self.bytes.clone());
        Arc::new(move |_: Option<&SourceStatus>| {
            UnitStatus::Load(pb::LoadStatus {
                finished_bytes: bytes.load(Ordering::Relaxed),
                progress: format!("{} rows", copied.load(Ordering::Relaxed)),
                ..Default::default()
            })
        })
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Load
    }

    async fn is_fresh_task(&mut self, cancel: CancellationToken) -> Result<bool, BoxError> {
        let (_, target) = self.pools.as_ref().ok_or("is_fresh_task before init")?;
        let fresh = async {
            self.store
                .is_fresh_task(&mut *target.acquire().await?)
                .await
        };
        Ok(cancellable(&cancel, fresh).await?)
    }
}

/// Runs the copy under the supervisor with auto-resume until it finishes, or until it
/// needs a person: an error that no retry fixes, or auto-resume gave up on one that
/// came back with nothing done (then its report is returned).
pub(crate) async fn run(source: &str, target: &str, table: &str) -> Result<(), pb::ProcessError> {
    let units: Vec<BoxUnit<()>> = vec![Box::new(TableCopy::new(source, target, table))];
    let auto = AutoResumeConfig::default().with_check_interval(Duration::from_millis(200));
    let config = SubtaskConfig::new(format!("copy-{table}"));
    let mut task = Supervised::spawn(config, units, auto).expect("a valid configuration");
    let ending = task.run().await;
    let status = task.handle().status();
    task.stop().await;
    let first_error = || status.result.and_then(|r| r.errors.into_iter().next());
    match ending {
        Ending::Finished => Ok(()),
        Ending::GaveUp {
            last_error: Some(e),
            ..
        } => Err(*e),
        _ => Err(first_error().unwrap_or_default()),
    }
}

#[allow(dead_code)] // run by `cargo run --example`; the tests call `run`
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, target, table] = args.as_slice() else {
        eprintln!("usage: pg_table_copy SOURCE_URL TARGET_URL TABLE");
        std::process::exit(2);
    };
    match run(source, target, table).await {
        Ok(()) => println!("copied {table}"),
        Err(e) => {
            eprintln!("stopped: {} ({})", e.message, e.raw_cause);
            std::process::exit(1);
        }
    }
}
