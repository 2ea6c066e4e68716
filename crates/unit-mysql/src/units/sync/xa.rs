//! XA transactions, applied when, and only when, they commit.
//!
//! The source logs an XA transaction at its `XA PREPARE` (MariaDB >= 10.5, MySQL): its
//! rows, then, maybe much later and after other transactions, `XA COMMIT` or
//! `XA ROLLBACK`. The target runs it the same way, as an XA transaction with the same
//! xid on a connection of its own: started (after everything before it is committed),
//! its rows applied, prepared, the connection closed (a prepared XA transaction
//! outlives its connection and the server's restarts). The source's `XA COMMIT` or
//! `XA ROLLBACK` then ends it on the target.
//!
//! Exactly once through crashes, with `<checkpoint_database>.sync_xa`:
//! - an `inside` row written inside the XA transaction is visible once it commits, so
//!   a rerun whose `XA COMMIT` finds no such xid knows whether the commit happened;
//! - a `prepared` row committed with the checkpoint past the `XA PREPARE` lists the
//!   XA transactions the target holds prepared (a cutover refuses while one is);
//! - a rerun that replays a transaction the target already prepared finds its xid
//!   taken (`XAER_DUPID`) and skips its rows.

use sqlx::Executor;
use tracing::info;

use super::SyncError;
use super::player::Player;
use crate::adapter::classify::Operation;
use crate::units::sync_state::xa_table;
use statement::Xa;

pub(super) mod statement;

/// `XAER_DUPID`: the xid exists.
const XAER_DUPID: u16 = 1440;
/// `XAER_NOTA`: unknown xid.
const XAER_NOTA: u16 = 1397;
/// How long an `XA COMMIT` waits for the server to hand a prepared transaction over
/// from the session that prepared it, and how often it tries.
const HANDOVER: std::time::Duration = std::time::Duration::from_secs(10);
const HANDOVER_STEP: std::time::Duration = std::time::Duration::from_millis(20);

/// How many prepared XA transactions a run keeps the connections of, to end each on
/// its own connection; beyond it, a prepared transaction's connection is closed and
/// another session ends it.
const HELD_XA: usize = 4;

impl Player<'_> {
    fn xa_table(&self) -> String {
        xa_table(&self.unit.config.checkpoint_database)
    }

    /// Starts the XA transaction `xid` on a target connection of its own, after
    /// committing everything before it.
    pub(super) async fn xa_start(&mut self, xid: String) -> Result<(), SyncError> {
        let open = std::mem::take(&mut self.txn);
        let flushed = self.flush().await;
        self.txn = open;
        flushed?;
        let mut conn = self
            .target_pool()?
            .acquire()
            .await
            .map_err(|e| self.target_err(Operation::Connect, e))?;
        // Each connection's foreign key checks are its own: this one starts off, as
        // every new target session does, whatever it kept from an earlier use.
        super::exec::start_session(&mut conn)
            .await
            .map_err(|(op, e)| self.target_err(op, e))?;
        let start = format!("XA START {xid}");
        // A taken xid is either prepared by an earlier run (listed by `XA RECOVER`:
        // skip its rows) or still active in the session of a run that died and that
        // the server has not yet seen close (it will roll back: wait for it).
        let pool = self.target_pool()?.clone();
        let mut waited = std::time::Duration::ZERO;
        let started = loop {
            let started = conn.execute(start.as_str()).await;
            let taken = matches!(&started, Err(e) if crate::adapter::classify::server_error(e).is_some_and(|d| d.number() == XAER_DUPID));
            if !taken || waited >= HANDOVER || self.xa_listed(&pool, &xid).await? {
                break started;
            }
            tokio::time::sleep(HANDOVER_STEP).await;
            waited += HANDOVER_STEP;
        };
        match started {
            Ok(_) => {
                std::mem::swap(&mut self.conn, &mut conn);
                self.xa = Some(Xa {
                    xid,
                    skipping: false,
                    saved: Some(conn),
                    saved_fk_checks: std::mem::replace(&mut self.fk_checks, false),
                });
                // Its rows go to the XA transaction, which needs no BEGIN.
                self.batch_open = true;
                self.batch_changes = 0;
            }
            Err(e)
                if waited < HANDOVER
                    && crate::adapter::classify::server_error(&e)
                        .is_some_and(|d| d.number() == XAER_DUPID) =>
            {
                info!(at = %self.at(), xid = %xid, "XA transaction already prepared on the target by an earlier run: its rows are skipped");
                self.xa = Some(Xa {
                    xid,
                    skipping: true,
                    saved: None,
                    saved_fk_checks: self.fk_checks,
                });
            }
            Err(e) => return Err(self.target_err(Operation::Execute(&start), e)),
        }
        Ok(())
    }

    /// The end of the XA transaction's first phase: prepared on the target (with its
    /// `inside` row), its connection closed, and its `prepared` row committed with the
    /// checkpoint after it. With `one_phase`, committed instead, with the checkpoint
    /// inside it.
    pub(super) async fn xa_prepare(
        &mut self,
        end_pos: u64,
        one_phase: bool,
    ) -> Result<(), SyncError> {
        let Some(xa) = self.xa.take() else {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: "the end of an XA transaction whose start this run did not read".to_owned(),
            });
        };
        let table = self.xa_table();
        let task = self.unit.config.task.clone();
        if let Some(saved) = xa.saved {
            let result = async {
                if one_phase {
                    self.end_txn(end_pos);
                    crate::units::sync_state::store_checkpoint(
                        &mut *self.conn,
                        &self.unit.config.checkpoint_database,
                        &task,
                        &self.pending,
                    )
                    .await?;
                } else {
                    sqlx::query(&format!(
                        "INSERT INTO {table} (task, xid, kind) VALUES (?, ?, 'inside')"
                    ))
                    .bind(&task)
                    .bind(&xa.xid)
                    .execute(&mut *self.conn)
                    .await?;
                }
                self.conn
                    .execute(format!("XA END {}", xa.xid).as_str())
                    .await?;
                let finish = if one_phase {
                    format!("XA COMMIT {} ONE PHASE", xa.xid)
                } else {
                    format!("XA PREPARE {}", xa.xid)
                };
                self.conn.execute(finish.as_str()).await?;
                Ok::<_, sqlx::Error>(())
            }
            .await;
            let xa_conn = std::mem::replace(&mut self.conn, saved);
            self.fk_checks = xa.saved_fk_checks;
            // Never pooled: the prepared transaction outlives its statements. Kept to
            // end it on: ended by another session, MariaDB can acknowledge an
            // `XA COMMIT` while its session is being closed without committing it,
            // and the transaction then keeps its locks. Closed otherwise.
            if !one_phase && result.is_ok() && self.xa_held.len() < HELD_XA {
                self.xa_held.insert(xa.xid.clone(), xa_conn.detach());
            } else {
                let _ = xa_conn.close().await;
            }
            self.batch_open = false;
            result.map_err(|e| {
                self.target_err(Operation::Execute(&format!("XA PREPARE {}", xa.xid)), e)
            })?;
            self.unit
                .shared
                .total
                .fetch_add(self.batch_changes, std::sync::atomic::Ordering::Relaxed);
            self.batch_changes = 0;
            if one_phase {
                self.dirty = false;
                return Ok(());
            }
        }
        if one_phase {
            self.end_txn(end_pos);
            return Ok(());
        }
        self.begin_batch().await?;
        sqlx::query(&format!(
            "INSERT IGNORE INTO {table} (task, xid, kind) VALUES (?, ?, 'prepared')"
        ))
        .bind(&task)
        .bind(&xa.xid)
        .execute(&mut *self.conn)
        .await
        .map_err(|e| self.target_err(Operation::Execute("INSERT INTO sync_xa"), e))?;
        self.end_txn(end_pos);
        Ok(())
    }

    /// The source's `XA COMMIT` or `XA ROLLBACK` of a prepared transaction, run on the
    /// target after everything before it is committed; its rows in `sync_xa` go with
    /// the checkpoint past it.
    pub(super) async fn xa_finish(
        &mut self,
        xid: &str,
        commit: bool,
        end_pos: u64,
    ) -> Result<(), SyncError> {
        self.txn = super::player::Txn::Between;
        self.flush().await?;
        let table = self.xa_table();
        let task = self.unit.config.task.clone();
        let sql = format!("XA {} {xid}", if commit { "COMMIT" } else { "ROLLBACK" });
        let pool = self.target_pool()?.clone();
        // Prepared by this run: ended on its own connection.
        if let Some(mut held) = self.xa_held.remove(xid) {
            let ended = held.execute(sql.as_str()).await;
            let _ = sqlx::Connection::close(held).await;
            match ended {
                Ok(_) => return self.xa_forget(xid, end_pos).await,
                // Its connection is gone (the target restarted, say): ended as one
                // prepared by an earlier run.
                Err(e) => {
                    info!(at = %self.at(), xid = %xid, error = %e, "the connection that prepared the XA transaction is gone; ending it from another session");
                }
            }
        }
        // A prepared transaction stays its session's until the server has seen that
        // session close: until then it is listed but unknown to others.
        let mut waited = std::time::Duration::ZERO;
        let ended = loop {
            let ended = pool.execute(sql.as_str()).await;
            let unknown = matches!(&ended, Err(e) if crate::adapter::classify::server_error(e).is_some_and(|d| d.number() == XAER_NOTA));
            if !unknown || waited >= HANDOVER || !self.xa_listed(&pool, xid).await? {
                break ended;
            }
            tokio::time::sleep(HANDOVER_STEP).await;
            waited += HANDOVER_STEP;
        };
        match ended {
            Ok(_) => {}
            Err(e) if waited >= HANDOVER => {
                return Err(SyncError::Unsupported {
                    at: self.at(),
                    detail: format!(
                        "{sql}: the target lists the transaction as prepared but no session may end \
                         it after {} s ({e}); end it on the target by hand, then resume",
                        HANDOVER.as_secs()
                    ),
                });
            }
            Err(e)
                if crate::adapter::classify::server_error(&e)
                    .is_some_and(|d| d.number() == XAER_NOTA) =>
            {
                let inside: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM {table} WHERE task = ? AND xid = ? AND kind = 'inside'"
                ))
                .bind(&task)
                .bind(xid)
                .fetch_one(&pool)
                .await
                .map_err(|e| self.target_err(Operation::Query("sync_xa"), e))?;
                if commit && inside == 0 {
                    return Err(SyncError::Unsupported {
                        at: self.at(),
                        detail: format!(
                            "XA COMMIT {xid} of a transaction the target never prepared: it was \
                             prepared on the source before replication started, and its rows are \
                             in neither the copy nor the binlog read; copy its tables again"
                        ),
                    });
                }
                info!(at = %self.at(), xid = %xid, "XA transaction already ended on the target by an earlier run");
            }
            Err(e) => return Err(self.target_err(Operation::Execute(&sql), e)),
        }
        self.xa_forget(xid, end_pos).await
    }

    /// After an XA transaction ended on the target: its rows in `sync_xa` go, with the
    /// checkpoint past `end_pos`.
    async fn xa_forget(&mut self, xid: &str, end_pos: u64) -> Result<(), SyncError> {
        let table = self.xa_table();
        let task = self.unit.config.task.clone();
        self.begin_batch().await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE task = ? AND xid = ?"))
            .bind(&task)
            .bind(xid)
            .execute(&mut *self.conn)
            .await
            .map_err(|e| self.target_err(Operation::Execute("DELETE FROM sync_xa"), e))?;
        self.end_txn(end_pos);
        Ok(())
    }

    /// Whether the target lists `xid` as prepared (`XA RECOVER`).
    async fn xa_listed(&self, pool: &sqlx::MySqlPool, xid: &str) -> Result<bool, SyncError> {
        let listed = crate::catalog::xa::prepared_xids(pool)
            .await
            .map_err(|e| self.target_err(Operation::Query("XA RECOVER"), e))?;
        let wanted: String = xid
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        Ok(listed.contains(&wanted))
    }

    /// Gives the batch connection back after a failure inside an XA transaction; the
    /// XA connection is closed, which rolls back what it had not prepared.
    pub(super) async fn xa_abandon(&mut self) {
        let Some(xa) = self.xa.take() else { return };
        if let Some(saved) = xa.saved {
            let xa_conn = std::mem::replace(&mut self.conn, saved);
            self.fk_checks = xa.saved_fk_checks;
            let _ = xa_conn.close().await;
            self.batch_open = false;
        }
    }
}
