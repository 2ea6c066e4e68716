//! The copy's objects other than tables: databases and sequences before the tables,
//! routines, views, triggers and events after the rows; and the refusal of a target
//! trigger that would fire on the copied rows.

use std::collections::{BTreeSet, HashSet};

use sqlx::Executor;
use sqlx::mysql::{MySqlConnection, MySqlPool};
use tokio_util::sync::CancellationToken;
use tracing::info;
use unit_core::ErrScope;

use super::CopyUnit;
use crate::adapter::cancel::cancellable;
use crate::adapter::classify::Operation;
use crate::catalog::objects::{ObjectKind, SchemaObject, sequence_next};
use crate::catalog::schema::{SchemaError, ident, text};
use crate::error::{Error, stmt_err};
use crate::units::object_migration::{
    ObjectReport, down_query, ensure_object, triggers_on, up_query,
};

/// The note on a trigger or event of an online migration, which the copy leaves to
/// the Sync unit's cutover.
pub(crate) const DEFERRED_TO_CUTOVER: &str =
    "created at cutover: on the target it would act on every replicated change";

impl CopyUnit {
    /// Lists the selected objects and the databases the copy creates, from the source.
    pub(super) async fn list_objects(
        &mut self,
        source: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let schemata = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA";
        let rows = cancellable(cancel, sqlx::query(schemata).fetch_all(source))
            .await
            .map_err(|e| up_query(schemata, e))?;
        let mut databases = BTreeSet::new();
        for row in &rows {
            let name = text(row, 0).map_err(|e| up_query(schemata, e.into()))?;
            if self.config.filter.selects_database(&name) {
                databases.insert(name);
            }
        }
        self.objects =
            crate::catalog::objects::list_objects(source, &self.config.filter, &self.tables)
                .await
                .map_err(Error::Schema)?;
        databases.extend(self.tables.iter().map(|t| t.database.clone()));
        databases.extend(self.objects.iter().map(|o| o.database.clone()));
        self.databases = databases;
        Ok(())
    }

    /// Before any row moves: creates every selected database (with the source's
    /// character set and collation) and the sequences, refuses a trigger already on the
    /// target of a table still to be copied.
    pub(super) async fn create_databases_and_sequences(
        &mut self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let databases = self.databases.clone();
        for database in &databases {
            self.create_target_database(target, database, cancel)
                .await?;
        }
        self.refuse_target_triggers(target, cancel).await?;
        let mut conn = self.object_connection(target).await?;
        for object in self.objects.clone() {
            if object.kind == ObjectKind::Sequence && self.config.objects.contains(object.kind) {
                ensure_object(&mut conn, &object, cancel).await?;
            }
        }
        Ok(())
    }

    /// A target connection of its own (object definitions change its session); it is
    /// closed when dropped.
    async fn object_connection(&self, target: &MySqlPool) -> Result<MySqlConnection, Error> {
        let conn = target
            .acquire()
            .await
            .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Connect, e.into()))?;
        Ok(conn.detach())
    }

    /// Refuses a trigger on the target of a selected table whose rows are not all
    /// copied yet: it would fire on the copied rows and change them.
    async fn refuse_target_triggers(
        &self,
        target: &MySqlPool,
        cancel: &CancellationToken,
    ) -> Result<(), Error> {
        let finished = format!(
            "SELECT db, tbl FROM {} WHERE task = ? GROUP BY db, tbl HAVING MIN(done) = 1",
            self.checkpoint_table()
        );
        let rows = cancellable(
            cancel,
            sqlx::query(&finished)
                .bind(&self.config.task)
                .fetch_all(target),
        )
        .await
        .map_err(|e| down_query(&finished, e))?;
        let mut done = HashSet::new();
        for row in &rows {
            let pair = (text(row, 0), text(row, 1));
            if let (Ok(db), Ok(tbl)) = pair {
                done.insert((db, tbl));
            }
        }
        let selected = |db: &str, tbl: &str| {
            self.tables
                .iter()
                .any(|t| t.database == db && t.name == tbl)
                && !done.contains(&(db.to_owned(), tbl.to_owned()))
        };
        if let Some((name, db, tbl)) = triggers_on(target, selected, cancel)
            .await?
            .into_iter()
            .next()
        {
            return Err(Error::Schema(SchemaError::Unsupported {
                kind: "table",
                object: format!("{db}.{tbl}"),
                reason: format!(
                    "the target already has trigger `{name}` on it, which would fire on \
                     every copied row; drop the trigger (the copy creates the source's \
                     triggers once the rows are in)"
                ),
            }));
        }
        Ok(())
    }

    /// After the rows: routines, views (each after the views it reads), triggers and
    /// events (in an online migration these two are left to cutover, reported with
    /// [`DEFERRED_TO_CUTOVER`]), and each sequence set to the source's next value;
    /// every object is checked on the target and reported.
    pub(super) async fn migrate_objects(&self, cancel: &CancellationToken) -> Result<(), Error> {
        let (Some(source), Some(target)) = (&self.source, &self.target) else {
            return Ok(());
        };
        let mut conn = self.object_connection(target).await?;
        let recorder = &self.report.recorder;
        let mut views: Vec<SchemaObject> = Vec::new();
        for object in &self.objects {
            let mut report = ObjectReport {
                kind: object.kind.as_str(),
                database: object.database.clone(),
                name: object.name.clone(),
                migrated: false,
                excluded: false,
                note: String::new(),
            };
            if !self.config.objects.contains(object.kind) {
                report.excluded = true;
                report.note = "left out by the configuration".to_owned();
                recorder.object(report);
                continue;
            }
            if self.config.consistency.is_some() && object.kind.acts_on_changes() {
                // Created by the Sync unit at cutover, once every change is applied:
                // on the target they would act on every replicated change.
                report.note = DEFERRED_TO_CUTOVER.to_owned();
                recorder.object(report);
                continue;
            }
            match object.kind {
                ObjectKind::View => {
                    views.push(object.clone());
                    continue;
                }
                ObjectKind::Sequence => {
                    let next = cancellable(cancel, sequence_next(source, object))
                        .await
                        .map_err(|e| {
                            stmt_err(ErrScope::Upstream, Operation::Query("sequence"), e)
                        })?;
                    let sql = format!(
                        "DO SETVAL({}.{}, {next}, 0)",
                        ident(&object.database),
                        ident(&object.name)
                    );
                    cancellable(cancel, conn.execute(sql.as_str()))
                        .await
                        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&sql), e))?;
                    let there = cancellable(cancel, sequence_next(target, object))
                        .await
                        .map_err(|e| {
                            stmt_err(ErrScope::Downstream, Operation::Query("sequence"), e)
                        })?;
                    report.note = format!("next value {there} (source {next})");
                    report.migrated =
                        there >= next && ensure_object(&mut conn, object, cancel).await?;
                }
                _ => report.migrated = ensure_object(&mut conn, object, cancel).await?,
            }
            recorder.object(report);
        }
        // A view may read views defined after it: create what can be created until
        // nothing is left, or a round creates nothing (what they read is missing).
        while !views.is_empty() {
            let before = views.len();
            let mut waiting = Vec::new();
            let mut missing = None;
            for view in views.drain(..) {
                match ensure_object(&mut conn, &view, cancel).await {
                    Ok(migrated) => recorder.object(ObjectReport {
                        kind: view.kind.as_str(),
                        database: view.database.clone(),
                        name: view.name.clone(),
                        migrated,
                        excluded: false,
                        note: String::new(),
                    }),
                    Err(e)
                        if e.server_number() == Some(crate::adapter::codes::ER_NO_SUCH_TABLE) =>
                    {
                        missing = Some(e);
                        waiting.push(view);
                    }
                    Err(e) => return Err(e),
                }
            }
            if let Some(e) = missing.filter(|_| waiting.len() == before) {
                return Err(e);
            }
            views = waiting;
        }
        info!(objects = self.objects.len(), "objects migrated");
        Ok(())
    }
}
