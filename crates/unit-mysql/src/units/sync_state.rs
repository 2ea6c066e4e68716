//! The task's replication state on the target, in its checkpoint database: one module
//! owns the three tables and their layout.
//!
//! - `sync_checkpoint`, one row per task ([`SyncCheckpoint`]): the hand-over from the
//!   copy (which writes the position its rows are consistent with, and the end of
//!   idempotent replay) to the Sync unit, which moves it in the same target
//!   transaction as the changes it applies;
//! - `sync_worker`, one row per parallel worker: the last change it committed, with
//!   its batch;
//! - `sync_xa`, the XA transactions the target holds prepared for the task.
//!
//! The Copy, Check and Sync units and `inspect` read and write them through this module
//! only, so no unit names another.

use sqlx::{Executor, MySqlPool, Row};

use crate::catalog::position::BinlogPosition;
use crate::catalog::schema::ident;

/// The row a task keeps in `<checkpoint_database>.sync_checkpoint`: where replication
/// continues, and until where it replays idempotently.
///
/// The copy writes it when it starts (the position its rows are consistent with) and
/// when it ends (the end of idempotent replay, where the copy was not a snapshot);
/// the Sync unit moves it in the same target transaction as the changes it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCheckpoint {
    /// The next event to apply.
    pub position: BinlogPosition,
    /// Changes before this position may already be in the target (the copy read the
    /// source while it changed): they are applied idempotently ("safe mode").
    pub safe_until: Option<BinlogPosition>,
    /// How the copy made its rows consistent: `flush`, `lock`, `none`, or `resumed`
    /// (a copy resumed after its snapshot was lost), or `incremental` (no copy).
    pub consistency: String,
    /// The copy has finished; replication may start.
    pub copy_done: bool,
    /// A DDL statement starting at this offset of `position.file` was being applied
    /// when the unit stopped: applying it again may find it already applied.
    pub ddl_pending: Option<u64>,
    /// The target's state of the tables that DDL names (their definitions and InnoDB
    /// table ids) just before it ran: a rerun that finds them otherwise knows the DDL
    /// ran, and does not run it again (a swap `RENAME` run twice would undo itself).
    pub ddl_before: Option<String>,
    /// The target connection (`CONNECTION_ID()`) that ran that DDL: a rerun waits until
    /// it has finished its statement before it reads the tables' state (a stopped run
    /// leaves its statement running on the target).
    pub ddl_session: Option<u64>,
}

/// The name of the checkpoint table in `database`.
fn checkpoint_table(database: &str) -> String {
    format!("{}.`sync_checkpoint`", ident(database))
}

/// `CREATE TABLE IF NOT EXISTS` for the checkpoint table in `database`.
fn create_checkpoint_table(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(128) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, \
         binlog_name VARCHAR(512) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, gtid LONGTEXT NOT NULL, \
         safe_until_name VARCHAR(512) NULL, safe_until_pos BIGINT UNSIGNED NULL, safe_until_gtid LONGTEXT NULL, \
         consistency VARCHAR(16) NOT NULL, copy_done TINYINT(1) NOT NULL DEFAULT 0, \
         ddl_pending BIGINT UNSIGNED NULL, ddl_before MEDIUMTEXT NULL, ddl_session BIGINT UNSIGNED NULL, \
         updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        checkpoint_table(database)
    )
}

/// Creates the task-state tables in `database` where they are missing (the
/// checkpoint table, and with feature `sync` the workers' and XA tables), and adds
/// the columns that a checkpoint table created by an earlier version lacks.
///
/// # Errors
/// The statements' failures.
pub(crate) async fn ensure_tables(pool: &MySqlPool, database: &str) -> Result<(), sqlx::Error> {
    pool.execute(create_checkpoint_table(database).as_str())
        .await?;
    #[cfg(feature = "sync")]
    for create in [create_xa_table(database), create_worker_table(database)] {
        pool.execute(create.as_str()).await?;
    }
    // Columns that tables made by earlier versions lack.
    let mut added = vec![
        (
            "sync_checkpoint",
            "ddl_before",
            format!(
                "ALTER TABLE {} ADD COLUMN ddl_before MEDIUMTEXT NULL AFTER ddl_pending",
                checkpoint_table(database)
            ),
        ),
        (
            "sync_checkpoint",
            "ddl_session",
            format!(
                "ALTER TABLE {} ADD COLUMN ddl_session BIGINT UNSIGNED NULL AFTER ddl_before",
                checkpoint_table(database)
            ),
        ),
    ];
    #[cfg(feature = "sync")]
    added.push((
        "sync_worker",
        "gtid_reached",
        format!(
            "ALTER TABLE {} ADD COLUMN gtid_reached VARCHAR(4096) NOT NULL DEFAULT ''",
            worker_table(database)
        ),
    ));
    for (table, column, add) in added {
        let has: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? \
             AND TABLE_NAME = ? AND COLUMN_NAME = ?",
        )
        .bind(database)
        .bind(table)
        .bind(column)
        .fetch_one(pool)
        .await?;
        if has == 0 {
            pool.execute(add.as_str()).await?;
        }
    }
    Ok(())
}

/// Reads `task`'s checkpoint row, if there is one (and the table exists).
///
/// # Errors
/// The query's failure (other than a missing table).
pub(crate) async fn load_checkpoint(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
) -> Result<Option<SyncCheckpoint>, sqlx::Error> {
    read_checkpoint(conn, database, task, "").await
}

/// [`load_checkpoint`] with a locking read: a run of the task whose session outlived
/// it (its process killed while the COMMIT of a batch and its checkpoint was on the
/// way) holds the row locked until that commit lands or rolls back, and the row read
/// must be the one it leaves.
///
/// # Errors
/// The statements' failures (other than a missing table).
pub(crate) async fn load_checkpoint_locked(
    pool: &MySqlPool,
    database: &str,
    task: &str,
) -> Result<Option<SyncCheckpoint>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let found = read_checkpoint(&mut *tx, database, task, " FOR UPDATE").await?;
    tx.commit().await?;
    Ok(found)
}

async fn read_checkpoint(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
    lock: &str,
) -> Result<Option<SyncCheckpoint>, sqlx::Error> {
    let sql = format!(
        "SELECT binlog_name, binlog_pos, gtid, safe_until_name, safe_until_pos, safe_until_gtid, \
         consistency, copy_done, ddl_pending, ddl_before, ddl_session FROM {} WHERE task = ?{lock}",
        checkpoint_table(database)
    );
    let row = match sqlx::query(&sql).bind(task).fetch_optional(conn).await {
        Ok(row) => row,
        Err(e) if crate::adapter::classify::is_missing_table(&e) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let safe_name: Option<String> = row.try_get(3)?;
    let safe_pos: Option<u64> = row.try_get(4)?;
    let safe_gtid: Option<String> = row.try_get(5)?;
    Ok(Some(SyncCheckpoint {
        position: BinlogPosition {
            file: row.try_get(0)?,
            pos: row.try_get(1)?,
            gtid: row.try_get(2)?,
        },
        safe_until: match (safe_name, safe_pos) {
            (Some(file), Some(pos)) => Some(BinlogPosition {
                file,
                pos,
                gtid: safe_gtid.unwrap_or_default(),
            }),
            _ => None,
        },
        consistency: row.try_get(6)?,
        copy_done: row.try_get::<i8, _>(7)? != 0,
        ddl_pending: row.try_get(8)?,
        ddl_before: row.try_get(9)?,
        ddl_session: row.try_get(10)?,
    }))
}

/// Writes `task`'s whole checkpoint row (inserting it or replacing it).
///
/// # Errors
/// The statement's failure.
pub(crate) async fn store_checkpoint(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
    cp: &SyncCheckpoint,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "REPLACE INTO {} (task, binlog_name, binlog_pos, gtid, safe_until_name, safe_until_pos, \
         safe_until_gtid, consistency, copy_done, ddl_pending, ddl_before, ddl_session) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        checkpoint_table(database)
    );
    let safe = cp.safe_until.as_ref();
    sqlx::query(&sql)
        .bind(task)
        .bind(&cp.position.file)
        .bind(cp.position.pos)
        .bind(&cp.position.gtid)
        .bind(safe.map(|s| s.file.as_str()))
        .bind(safe.map(|s| s.pos))
        .bind(safe.map(|s| s.gtid.as_str()))
        .bind(&cp.consistency)
        .bind(cp.copy_done)
        .bind(cp.ddl_pending)
        .bind(cp.ddl_before.as_deref())
        .bind(cp.ddl_session)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes `task`'s checkpoint row for a new start (the position a copy is consistent
/// with, or an incremental task's start position) and, in the same transaction,
/// forgets the task's workers' rows: they name changes of an earlier start, which a
/// run from the new one would take for applied and skip.
///
/// # Errors
/// The statements' failures.
pub(crate) async fn start_checkpoint(
    pool: &MySqlPool,
    database: &str,
    task: &str,
    cp: &SyncCheckpoint,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    forget_worker_rows(&mut *tx, database, task, None).await?;
    store_checkpoint(&mut *tx, database, task, cp).await?;
    tx.commit().await
}

/// Deletes `task`'s rows in the workers' table (where it exists): all of them, or
/// with `keep`, those not recorded by a run of `keep` workers.
///
/// # Errors
/// The statement's failure (other than a missing table).
pub(crate) async fn forget_worker_rows(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
    keep: Option<usize>,
) -> Result<(), sqlx::Error> {
    let other_counts = if keep.is_some() {
        " AND workers <> ?"
    } else {
        ""
    };
    let sql = format!(
        "DELETE FROM {} WHERE task = ?{other_counts}",
        worker_table(database)
    );
    let mut delete = sqlx::query(&sql).bind(task);
    if let Some(n) = keep {
        delete = delete.bind(u32::try_from(n).unwrap_or(u32::MAX));
    }
    match delete.execute(conn).await {
        Err(e) if crate::adapter::classify::is_missing_table(&e) => Ok(()),
        other => other.map(drop),
    }
}

/// The name of the workers' checkpoint table in `database`.
pub(crate) fn worker_table(database: &str) -> String {
    format!("{}.`sync_worker`", ident(database))
}

/// `CREATE TABLE IF NOT EXISTS` for the workers' checkpoint rows in `database`.
pub(crate) fn create_worker_table(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(128) COLLATE utf8mb4_bin NOT NULL, \
         worker INT UNSIGNED NOT NULL, workers INT UNSIGNED NOT NULL, \
         binlog_name VARCHAR(512) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, \
         row_index INT UNSIGNED NOT NULL, gtid_reached VARCHAR(4096) NOT NULL DEFAULT '', \
         PRIMARY KEY (task, worker)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        worker_table(database)
    )
}

/// The name of the XA bookkeeping table in `database`.
pub(crate) fn xa_table(database: &str) -> String {
    format!("{}.`sync_xa`", ident(database))
}

/// `CREATE TABLE IF NOT EXISTS` for the XA bookkeeping table in `database`.
pub(crate) fn create_xa_table(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(128) COLLATE utf8mb4_bin NOT NULL, \
         xid VARCHAR(300) CHARACTER SET ascii NOT NULL, kind VARCHAR(8) CHARACTER SET ascii NOT NULL, \
         PRIMARY KEY (task, xid, kind)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        xa_table(database)
    )
}

/// The xids the target holds prepared for `task` (source transactions not yet
/// committed or rolled back).
pub(crate) async fn prepared_xids(
    target: &sqlx::MySqlPool,
    database: &str,
    task: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = format!(
        "SELECT xid FROM {} WHERE task = ? AND kind = 'prepared' ORDER BY xid",
        xa_table(database)
    );
    match sqlx::query_scalar(&sql).bind(task).fetch_all(target).await {
        Err(e) if crate::adapter::classify::is_missing_table(&e) => Ok(Vec::new()),
        other => other,
    }
}
