//! A task's state read without a unit, for tools that report on a migration: the
//! selection as the source lists it now, the copy's checkpoint totals, and the
//! replication checkpoint. Each call opens its own connection and closes it.

use sqlx::MySqlPool;
use sqlx::mysql::MySqlPoolOptions;
use unit_sql::CheckpointStore;

use crate::adapter::cancel::StatementError;
use crate::adapter::dsn::MySqlUrl;
use crate::catalog::schema::list_tables;
use crate::units::sync_state::{SyncCheckpoint, load_checkpoint};
use crate::units::task::TaskConfig;

/// What the copy's checkpoints of a task add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointTotals {
    /// Rows committed, all tables together.
    pub rows: i64,
    /// Value bytes committed.
    pub bytes: i64,
    /// Tables with a checkpoint.
    pub tables: usize,
}

async fn with_pool<T, F>(
    url: &MySqlUrl,
    timeout: std::time::Duration,
    f: impl FnOnce(MySqlPool) -> F,
) -> Result<T, StatementError>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    // A server that does not answer fails at once (a pool would retry a refused
    // connection until its timeout).
    if let Some(why) = crate::adapter::pool::reach(url, timeout).await? {
        return Err(StatementError::Sqlx(sqlx::Error::Io(
            std::io::Error::other(why.to_string()),
        )));
    }
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .connect_with(url.connect_options())
        .await?;
    let result = f(pool.clone()).await;
    pool.close().await;
    Ok(result?)
}

/// The tables `config` selects, `(database, table)`, as the source lists them now,
/// independently of any unit's own list (a summary checks the verified tables against
/// it).
///
/// # Errors
/// The source's failure.
pub async fn list_selection(config: &TaskConfig) -> Result<Vec<(String, String)>, StatementError> {
    let listed = with_pool(&config.source, config.acquire_timeout, |pool| async move {
        list_tables(&pool, &config.filter).await
    })
    .await?;
    Ok(listed.into_iter().map(|t| (t.database, t.name)).collect())
}

/// The objects other than tables that `config`'s selection covers on the source
/// (views, sequences, routines, events), as `(database, name)`.
///
/// # Errors
/// The source's failure.
pub async fn list_selected_objects(
    config: &TaskConfig,
) -> Result<Vec<(String, String)>, StatementError> {
    let listed = with_pool(&config.source, config.acquire_timeout, |pool| async move {
        crate::catalog::objects::list_objects(&pool, &config.filter, &[])
            .await
            .map_err(|e| match e {
                crate::catalog::schema::SchemaError::Sqlx(e) => e,
                other => sqlx::Error::Protocol(other.to_string()),
            })
    })
    .await?;
    Ok(listed.into_iter().map(|o| (o.database, o.name)).collect())
}

/// The totals of the copy's checkpoints of `config`'s task on the target.
///
/// # Errors
/// The target's failure (a task that never ran has no checkpoint table: an error).
pub async fn checkpoint_totals(config: &TaskConfig) -> Result<CheckpointTotals, StatementError> {
    let store = CheckpointStore::<sqlx::MySql>::new(&config.checkpoint_database, &config.task);
    let parts = with_pool(&config.target, config.acquire_timeout, |pool| async move {
        store.task_parts(&mut *pool.acquire().await?).await
    })
    .await?;
    let mut tables: Vec<(&str, &str)> = parts
        .iter()
        .map(|(d, t, _)| (d.as_str(), t.as_str()))
        .collect();
    tables.dedup();
    Ok(CheckpointTotals {
        rows: parts.iter().map(|(_, _, p)| p.rows).sum(),
        bytes: parts.iter().map(|(_, _, p)| p.bytes).sum(),
        tables: tables.len(),
    })
}

/// The task's replication checkpoint on the target, `None` before the copy recorded
/// one.
///
/// # Errors
/// The target's failure.
pub async fn sync_checkpoint(
    config: &TaskConfig,
) -> Result<Option<SyncCheckpoint>, StatementError> {
    with_pool(&config.target, config.acquire_timeout, |pool| async move {
        load_checkpoint(&pool, &config.checkpoint_database, &config.task).await
    })
    .await
}
