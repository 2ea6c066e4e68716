//! A consistent copy: connections that all read the source as of one binlog position.

use std::sync::{Arc, Mutex};

use sqlx::mysql::{MySqlConnection, MySqlPool};
use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::catalog::position::source_position;
use crate::catalog::position::{BinlogPosition, master_position_on};
use crate::catalog::schema::Table;
use crate::error::{Error, stmt_err};
use crate::units::task::Consistency;

/// Connections each inside `START TRANSACTION WITH CONSISTENT SNAPSHOT`, all opened
/// while the source was locked: they read the rows as of [`Opened::position`].
pub(super) struct Snapshot {
    slots: Vec<Arc<tokio::sync::Mutex<MySqlConnection>>>,
    free: Mutex<Vec<usize>>,
}

/// A snapshot connection lent to one copy job; it goes back when dropped.
pub(super) struct Lease {
    snapshot: Arc<Snapshot>,
    index: usize,
}

impl Lease {
    /// The connection (one job reads with it at a time).
    pub(super) fn conn(&self) -> Arc<tokio::sync::Mutex<MySqlConnection>> {
        self.snapshot.slots[self.index].clone()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.snapshot
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.index);
    }
}

impl Snapshot {
    /// A free connection; `None` when every one is lent (more jobs than connections).
    pub(super) fn lease(self: &Arc<Self>) -> Option<Lease> {
        let index = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
        Some(Lease {
            snapshot: self.clone(),
            index,
        })
    }
}

/// What [`open`] did.
pub(super) struct Opened {
    /// The snapshot (`None` for `none` consistency).
    pub(super) snapshot: Option<Arc<Snapshot>>,
    /// The position the snapshot reads as of (for `none`: the position before the copy).
    pub(super) position: BinlogPosition,
    /// The consistency used: `flush`, `lock` or `none`.
    pub(super) used: Consistency,
}

fn up(op: Operation<'_>, e: sqlx::Error) -> Error {
    stmt_err(ErrScope::Upstream, op, StatementError::Sqlx(e))
}

/// Takes the position the copy is consistent with and, for `flush` and `lock`, opens
/// `connections` snapshot connections under the lock, held only for that.
pub(super) async fn open(
    source: &MySqlPool,
    tables: &[Table],
    mode: Consistency,
    connections: usize,
    mariadb: bool,
    cancel: &CancellationToken,
) -> Result<Opened, Error> {
    let attempts: &[Consistency] = match mode {
        Consistency::Auto => &[Consistency::Flush, Consistency::Lock, Consistency::None],
        Consistency::Flush => &[Consistency::Flush],
        Consistency::Lock => &[Consistency::Lock],
        Consistency::None => &[Consistency::None],
    };
    let no_binlog = || Error::NoBinlog;
    for &attempt in attempts {
        if attempt == Consistency::None {
            let position = source_position(source, mariadb, cancel)
                .await?
                .ok_or_else(no_binlog)?;
            return Ok(Opened {
                snapshot: None,
                position,
                used: Consistency::None,
            });
        }
        let lock_sql = if attempt == Consistency::Flush {
            "FLUSH TABLES WITH READ LOCK".to_owned()
        } else if tables.is_empty() {
            continue;
        } else {
            let list: Vec<String> = tables
                .iter()
                .map(|t| format!("{} READ", t.qualified()))
                .collect();
            format!("LOCK TABLES {}", list.join(", "))
        };
        // A connection of its own: dropping it (on any failure) releases the lock.
        let mut lock = cancellable(cancel, async { source.acquire().await })
            .await
            .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Connect, e))?
            .detach();
        match cancellable(cancel, lock.execute(lock_sql.as_str())).await {
            Ok(_) => {}
            Err(StatementError::Sqlx(e))
                if mode == Consistency::Auto
                    && crate::adapter::classify::server_error(&e).is_some() =>
            {
                warn!(statement = %lock_sql, error = %e, "the source refuses this lock; trying the next consistency");
                continue;
            }
            Err(e) => {
                return Err(stmt_err(
                    ErrScope::Upstream,
                    Operation::Execute(&lock_sql),
                    e,
                ));
            }
        }
        let started = std::time::Instant::now();
        let mut slots = Vec::with_capacity(connections);
        for _ in 0..connections.max(1) {
            let mut conn = cancellable(cancel, async { source.acquire().await })
                .await
                .map_err(|e| stmt_err(ErrScope::Upstream, Operation::Connect, e))?
                .detach();
            for sql in [
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                "START TRANSACTION WITH CONSISTENT SNAPSHOT",
            ] {
                conn.execute(sql)
                    .await
                    .map_err(|e| up(Operation::Execute(sql), e))?;
            }
            slots.push(Arc::new(tokio::sync::Mutex::new(conn)));
        }
        let position = master_position_on(&mut lock, mariadb)
            .await
            .map_err(|e| up(Operation::Query("SHOW MASTER STATUS"), e))?
            .ok_or_else(no_binlog)?;
        lock.execute("UNLOCK TABLES")
            .await
            .map_err(|e| up(Operation::Execute("UNLOCK TABLES"), e))?;
        let _ = lock.close().await;
        info!(
            consistency = if attempt == Consistency::Flush { "flush" } else { "lock" },
            locked_ms = started.elapsed().as_millis() as u64,
            position = %position,
            "consistent snapshot opened"
        );
        let free = (0..slots.len()).collect();
        return Ok(Opened {
            snapshot: Some(Arc::new(Snapshot {
                slots,
                free: Mutex::new(free),
            })),
            position,
            used: attempt,
        });
    }
    Err(no_binlog())
}
