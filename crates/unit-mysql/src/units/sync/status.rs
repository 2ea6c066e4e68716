//! The Sync unit's status: counters and positions shared with the status handle,
//! computed without waiting on the work.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlPool;
use unit_core::SourceStatus;
use unit_proto::pb;

use crate::catalog::position::{BinlogPosition, master_position};

/// Counters and positions shared with the status handle.
#[derive(Debug, Default)]
pub(super) struct Shared {
    /// Row changes applied (DM's "total events").
    pub(super) total: AtomicI64,
    /// Where the target is: the last committed checkpoint.
    pub(super) syncer: Mutex<BinlogPosition>,
    /// The source's own position, refreshed about every second.
    pub(super) master: Mutex<BinlogPosition>,
    /// The source timestamp of the last applied transaction.
    pub(super) last_event_ts: AtomicU32,
    /// Safe mode is on.
    pub(super) safe_mode: AtomicBool,
    /// (when, total) at the start of the current TPS window.
    pub(super) window: Mutex<Option<(Instant, i64, i64)>>,
    pub(super) started: std::sync::OnceLock<Instant>,
    /// Where cutover ended, once it has.
    pub(super) cutover_at: Mutex<Option<BinlogPosition>>,
    /// The tables cutover verified, with their row counts.
    pub(super) verified: Mutex<Vec<(String, String, i64)>>,
    /// Cutover has applied everything up to its position and is verifying.
    pub(super) verifying: AtomicBool,
    /// The selected tables of an engine without transactions, whose changes are
    /// applied idempotently: (database, table, engine).
    pub(super) idempotent: Mutex<Vec<(String, String, String)>>,
    /// The triggers and events cutover created (or left out).
    pub(super) cutover_objects: Mutex<Vec<crate::units::object_migration::ObjectReport>>,
    /// Hears transactions, commits and checkpoints.
    pub(super) observer: Option<Arc<dyn crate::units::observer::Observer>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(super) fn status(&self, source: Option<&SourceStatus>) -> pb::SyncStatus {
        let total = self.total.load(Ordering::Relaxed);
        let syncer = lock(&self.syncer).clone();
        let master = match source {
            Some(s) => BinlogPosition {
                file: s.binlog_name.clone(),
                pos: s.binlog_pos,
                gtid: s.gtid_set.clone(),
            },
            None => lock(&self.master).clone(),
        };
        let secs = self
            .started
            .get()
            .map_or(0.0, |s| s.elapsed().as_secs_f64());
        let total_tps = if secs > 0.0 {
            (total as f64 / secs) as i64
        } else {
            0
        };
        let recent_tps = {
            let mut window = lock(&self.window);
            let now = Instant::now();
            match *window {
                Some((at, before, tps)) if now.duration_since(at) < Duration::from_secs(10) => tps
                    .max(0)
                    .max(if now.duration_since(at).as_secs_f64() > 0.5 {
                        ((total - before) as f64 / now.duration_since(at).as_secs_f64()) as i64
                    } else {
                        0
                    }),
                Some((at, before, _)) => {
                    let tps =
                        ((total - before) as f64 / now.duration_since(at).as_secs_f64()) as i64;
                    *window = Some((now, total, tps));
                    tps
                }
                None => {
                    *window = Some((now, total, 0));
                    0
                }
            }
        };
        let synced = !master.file.is_empty() && syncer.compare(&master) != std::cmp::Ordering::Less;
        let last = i64::from(self.last_event_ts.load(Ordering::Relaxed));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let behind = if synced || last == 0 {
            0
        } else {
            (now - last).max(0)
        };
        let show = |p: &BinlogPosition| {
            if p.file.is_empty() {
                String::new()
            } else {
                format!("({}, {})", p.file, p.pos)
            }
        };
        pb::SyncStatus {
            total_events: total,
            total_tps,
            recent_tps,
            master_binlog: show(&master),
            master_binlog_gtid: master.gtid.clone(),
            syncer_binlog: show(&syncer),
            syncer_binlog_gtid: syncer.gtid.clone(),
            synced,
            binlog_type: "remote".to_owned(),
            seconds_behind_master: behind,
            total_rows: total,
            total_rps: total_tps,
            recent_rps: recent_tps,
            ..Default::default()
        }
    }
}

/// A handle reading the Sync unit's progress after the unit was handed to a
/// supervisor.
#[derive(Debug, Clone)]
pub struct SyncProgress(pub(super) Arc<Shared>);

impl SyncProgress {
    /// DM's sync status: positions, events applied, TPS, lag.
    pub fn status(&self) -> pb::SyncStatus {
        self.0.status(None)
    }

    /// Whether changes are being replayed idempotently (safe mode), as they are between
    /// the two positions of a copy that was not a snapshot.
    pub fn safe_mode(&self) -> bool {
        self.0.safe_mode.load(Ordering::Relaxed)
    }

    /// The position of the last checkpoint committed on the target (every change
    /// before it is applied) and the source's own position (read about every second).
    pub fn positions(&self) -> (BinlogPosition, BinlogPosition) {
        (lock(&self.0.syncer).clone(), lock(&self.0.master).clone())
    }

    /// The source position a cutover ended at: every change before it is applied.
    pub fn cutover_position(&self) -> Option<BinlogPosition> {
        lock(&self.0.cutover_at).clone()
    }

    /// The cutover has applied everything up to its position and is now verifying the
    /// tables.
    pub fn verifying(&self) -> bool {
        self.0.verifying.load(Ordering::Relaxed)
    }

    /// The tables the cutover verified (row count and checksum equal on both sides):
    /// `(database, table, rows)`.
    pub fn verified(&self) -> Vec<(String, String, i64)> {
        lock(&self.0.verified).clone()
    }

    /// The tables of an engine without transactions (MyISAM, Aria, MEMORY, ...) this
    /// unit has applied changes to, as `(database, table, engine)`. Their writes stay
    /// when a target transaction rolls back and their copy was not part of the
    /// snapshot, so their changes are always applied idempotently (`REPLACE`, a
    /// delete of a missing row is no error): exact once replayed, but a row changed on
    /// the target behind the task is overwritten instead of reported.
    pub fn idempotent_tables(&self) -> Vec<(String, String, String)> {
        lock(&self.0.idempotent).clone()
    }

    /// The triggers and events of the selection, which an online migration creates
    /// only at cutover, after every table is verified (on the target they would act on
    /// every replicated change): each says whether the target now has it with the
    /// source's definition. Empty until a cutover got that far.
    pub fn cutover_objects(&self) -> Vec<crate::units::object_migration::ObjectReport> {
        lock(&self.0.cutover_objects).clone()
    }
}

/// Aborts a spawned task when dropped.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the source's position about every second, for the status.
pub(super) async fn refresh_master(source: MySqlPool, mariadb: bool, shared: Arc<Shared>) {
    loop {
        if let Ok(Some(p)) = master_position(&source, mariadb).await {
            *lock(&shared.master) = p;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
