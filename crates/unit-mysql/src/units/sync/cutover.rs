//! How a run of the Sync unit ends: replicating until cancelled, or, with
//! [`SyncSettings::cutover`](crate::units::task::SyncSettings::cutover), the cutover:
//! apply up to the source's position, check that no XA transaction is left prepared,
//! verify every selected table, apply and verify again while the source still moves
//! (a few rounds), create the triggers and events last, and check once more that the
//! source did not move.

use std::sync::atomic::Ordering;

use sqlx::Executor;
use sqlx::mysql::MySqlPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use unit_core::ErrScope;

use super::player::Player;
use super::status::lock;
use super::stream::Source;
use super::{Ended, SyncError, SyncUnit};
use crate::adapter::cancel::cancellable;
use crate::adapter::classify::Operation;
use crate::catalog::objects::{SchemaObject, list_objects, target_definition};
use crate::catalog::position::{BinlogPosition, source_position};
use crate::catalog::schema::{Table, discover};
use crate::error::{Error, stmt_err};
use crate::units::object_migration::{ObjectReport, ensure_object};
use crate::units::sync_state::prepared_xids;
use crate::units::verify::{choose_verification, same_definition, same_kind, verify_table};

/// Drops `objects` from `target`, each on its own: a failure is logged (the error that
/// made the cutover undo them is the one to report).
async fn drop_objects(target: &MySqlPool, objects: &[SchemaObject]) {
    for object in objects {
        let sql = object.drop_sql();
        match target.execute(sql.as_str()).await {
            Ok(_) => {
                info!(kind = object.kind.as_str(), object = %object.display_name(), "dropped again: the cutover did not complete")
            }
            Err(e) => {
                warn!(kind = object.kind.as_str(), object = %object.display_name(), error = %e, "could not drop it again; drop it by hand before the next cutover")
            }
        }
    }
}

/// How many times a cutover applies and verifies again when the source moved after its
/// final position was read, before it gives up ([`SyncError::SourceNotStopped`]).
const CUTOVER_ROUNDS: u32 = 3;

impl SyncUnit {
    /// Runs `run` on `stream` until it is cancelled, or, with `stop_at` (the cutover),
    /// until everything up to the source's position is applied and verified.
    pub(super) async fn replicate_or_cut_over(
        &self,
        run: &mut Player<'_>,
        stream: &mut Source,
        source: &MySqlPool,
        target: &MySqlPool,
        mut stop_at: Option<BinlogPosition>,
        cancel: &CancellationToken,
    ) -> Result<Ended, SyncError> {
        // Cutover: apply up to `stop_at`, verify, and check that the source has not
        // moved since; if it has (a late write), apply up to where it is and verify
        // again, a few times at most.
        let task = &self.config.task;
        let mut rounds = 0;
        let (at, tables) = loop {
            let ended = run.replicate(stream, cancel, stop_at.as_ref()).await;
            if ended.is_err() || matches!(ended, Ok(Ended::Canceled)) {
                run.rollback().await;
            }
            let at = match ended? {
                Ended::Canceled => return Ok(Ended::Canceled),
                Ended::CaughtUp(at) => at,
            };
            // An XA transaction prepared on the source and not yet ended: its writes
            // have not finished (the target holds it prepared), or it was prepared
            // before the copy's position and is in neither the copy nor the binlog
            // read (the source lists it).
            let db = &self.config.checkpoint_database;
            let on_target = cancellable(cancel, prepared_xids(target, db, task))
                .await
                .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("sync_xa"), e))?;
            let on_source = crate::catalog::xa::source_prepared_xids(source, cancel).await?;
            let xids: std::collections::BTreeSet<String> =
                on_target.into_iter().chain(on_source).collect();
            if !xids.is_empty() {
                return Err(SyncError::Unsupported {
                    at: at.to_string(),
                    detail: format!(
                        "XA transaction {} is prepared on the source and neither committed nor \
                         rolled back: its writes have not finished; end it on the source, then run \
                         the cutover again",
                        xids.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            info!(at = %at, "cutover: every change up to the source's position is applied; verifying");
            self.shared.verifying.store(true, Ordering::Relaxed);
            let verified = self.verify_all(source, target, cancel).await;
            self.shared.verifying.store(false, Ordering::Relaxed);
            // A source that moved explains a difference too: apply what it wrote and
            // verify again.
            let now = source_position(source, self.mariadb, cancel).await?;
            match now {
                Some(now) if stop_at.as_ref().is_some_and(|s| s.compare(&now).is_ne()) => {
                    rounds += 1;
                    if rounds > CUTOVER_ROUNDS {
                        return Err(SyncError::SourceNotStopped { at, now });
                    }
                    warn!(at = %at, now = %now, "cutover: the source moved after its final position was read (writes have not stopped); applying and verifying again");
                    stop_at = Some(now);
                }
                _ => break (at, verified?),
            }
        };
        // Last: the triggers and events, which must not act on replicated changes.
        // Whatever ends the cutover before it completes (the source moved, an error),
        // replication goes on from `at`: the triggers and events created here would act
        // on the changes it applies (and a rerun refuses to replicate into tables with
        // triggers), so they go again.
        let mut created = Vec::new();
        let last = async {
            self.create_deferred_objects(source, target, &tables, &mut created, cancel)
                .await?;
            match source_position(source, self.mariadb, cancel).await? {
                Some(now) if at.compare(&now).is_ne() => Err(SyncError::SourceNotStopped {
                    at: at.clone(),
                    now,
                }),
                _ => Ok(()),
            }
        };
        if let Err(e) = last.await {
            drop_objects(target, &created).await;
            return Err(e);
        }
        *lock(&self.shared.cutover_at) = Some(at.clone());
        Ok(Ended::CaughtUp(at))
    }

    /// At cutover, once every table is verified: the source's triggers and events (of
    /// the kinds [`TaskConfig::objects`] keeps), created as the source defines them and
    /// checked by reading them back; each is recorded in
    /// [`SyncProgress::cutover_objects`]. Adds those it created (not there before) to
    /// `created` as it goes.
    async fn create_deferred_objects(
        &self,
        source: &MySqlPool,
        target: &MySqlPool,
        tables: &[Table],
        created: &mut Vec<SchemaObject>,
        cancel: &CancellationToken,
    ) -> Result<(), SyncError> {
        let objects = list_objects(source, &self.config.filter, tables)
            .await
            .map_err(Error::Schema)?;
        let mut conn = target
            .acquire()
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e.into()))?
            .detach();
        let mut reports = Vec::new();
        for object in objects.iter().filter(|o| o.kind.acts_on_changes()) {
            let mut report = ObjectReport {
                kind: object.kind.as_str(),
                database: object.database.clone(),
                name: object.name.clone(),
                migrated: false,
                excluded: !self.config.objects.contains(object.kind),
                note: "created at cutover".to_owned(),
            };
            if report.excluded {
                report.note = "left out by the configuration".to_owned();
            } else {
                let there = target_definition(&mut conn, object).await.map_err(|e| {
                    stmt_err(
                        ErrScope::Downstream,
                        Operation::Query("SHOW CREATE"),
                        e.into(),
                    )
                })?;
                // Recorded before it is created: a failure after the CREATE still
                // leaves it to drop.
                if there.is_none() {
                    created.push(object.clone());
                }
                report.migrated = ensure_object(&mut conn, object, cancel).await?;
                info!(kind = report.kind, object = %object.display_name(), "created at cutover");
            }
            reports.push(report);
        }
        *lock(&self.shared.cutover_objects) = reports;
        Ok(())
    }

    /// Compares every selected table on both sides (definition, row count and
    /// checksum); the tables, as the source defines them now.
    async fn verify_all(
        &self,
        source: &MySqlPool,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<Vec<Table>, SyncError> {
        let tables = discover(source, &self.config.filter)
            .await
            .map_err(Error::from)?;
        let verification =
            choose_verification(source, target, self.config.verification, cancel).await?;
        let same_kind = same_kind(source, target, cancel).await?;
        lock(&self.shared.verified).clear();
        for table in &tables {
            // Every DDL up to here is applied: the definitions must be equal too.
            same_definition(target, table, same_kind, cancel).await?;
            let rows =
                verify_table(source, target, table, verification, !same_kind, cancel).await?;
            info!(table = %table.display_name(), rows, "verified at cutover");
            lock(&self.shared.verified).push((table.database.clone(), table.name.clone(), rows));
        }
        Ok(tables)
    }
}
