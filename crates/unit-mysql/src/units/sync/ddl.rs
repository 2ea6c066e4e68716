//! DDL from the binlog: which statements concern the selection (narrowed to the
//! selected tables where a statement names others), names folded as the source's
//! `lower_case_table_names` reads them, and the statement run on the target alone,
//! after everything before it is committed with a note that it is under way and the
//! target's state of the tables it names, in the session its query event describes.
//! The parser is `ddl/parse.rs`; the session's settings `ddl/session.rs`.

use std::collections::HashMap;

use sqlx::Executor;
use tracing::{debug, info, warn};
use unit_core::ErrScope;

use super::SyncError;
use super::player::{Player, Statement};
use crate::adapter::cancel::StatementError;
use crate::adapter::classify::Operation;
use crate::catalog::collation::execute_ddl;
use crate::catalog::schema::ident;
use crate::error::stmt_err;

pub(crate) mod parse;
pub(crate) mod session;

use parse::{Ddl, DdlKind, parse_with, starts_as_table_ddl};
use session::StatementSession;

/// The error a DDL failpoint stops the unit with (tests of crash recovery).
fn failpoint(at: String) -> SyncError {
    SyncError::Unsupported {
        at,
        detail: "stopped at a DDL failpoint".to_owned(),
    }
}

/// What of a DDL naming tables outside the selection runs on the target.
enum Narrowed {
    /// The statement as it is.
    Whole,
    /// A statement naming only the selected tables.
    Part(String),
    /// Nothing: it creates an unselected table.
    Skip,
}

/// A DDL's text as the target is sent it.
enum DdlText {
    /// UTF-8 text, sent as it is.
    Utf8(String),
    /// The statement's bytes (a hex literal) in its session's character set, which
    /// the target converts to UTF-8 first.
    Convert(String),
}

/// A DDL session's character sets, by name.
struct Charsets {
    /// `character_set_client`.
    client: String,
    /// `collation_connection`.
    connection: String,
    /// `collation_server`.
    server: String,
    /// The collation a bare `utf8mb4` stood for (MySQL 8+ says).
    utf8mb4_default: Option<String>,
}

/// Server errors that mean a DDL statement was already applied (by a run that stopped
/// before recording it): the table or column exists, or is already gone.
const ALREADY_APPLIED: &[u16] = &[1007, 1008, 1050, 1051, 1054, 1060, 1061, 1091, 1146];

impl Player<'_> {
    /// A multi-table DDL that also names tables outside the selection, cut to the part
    /// about selected tables: `DROP TABLE` drops the selected ones; `RENAME TABLE`
    /// keeps the pairs of selected names and leaves out the pairs of unselected ones;
    /// a `CREATE TABLE ... LIKE` of an unselected table by one that is not selected
    /// either is skipped. Refused: a rename that moves a table into the selection (it
    /// would arrive without its rows) or out of it, an `EXCHANGE PARTITION` between a
    /// selected and an unselected table (the binlog holds no rows for it), and a
    /// selected table created `LIKE` an unselected one (the target does not follow its
    /// definition).
    fn selected_part(&self, ddl: &Ddl, sql: &str) -> Result<Narrowed, SyncError> {
        let config = &self.unit.config;
        let selects = |(db, t): &(String, String)| config.selects_table(db, t);
        if ddl.tables.iter().all(selects) {
            return Ok(Narrowed::Whole);
        }
        let refuse = |detail: String| SyncError::Unsupported {
            at: self.at(),
            detail: format!("{}: {detail}", unit_sql::summarize_statement(sql)),
        };
        let moved = |from: &(String, String), to: &(String, String)| {
            let entering = !selects(from);
            let moved = if entering { to } else { from };
            refuse(format!(
                "it moves {}.{} {} the selection ({}); copy that table again, or select both names",
                moved.0,
                moved.1,
                if entering { "into" } else { "out of" },
                if entering {
                    "it would arrive without its rows"
                } else {
                    "the target would keep a table no longer replicated"
                }
            ))
        };
        match ddl.kind {
            DdlKind::DropTable => {
                let kept: Vec<String> = ddl
                    .tables
                    .iter()
                    .filter(|t| selects(t))
                    .map(qualified)
                    .collect();
                Ok(Narrowed::Part(format!(
                    "DROP TABLE {}{}",
                    if_exists(sql),
                    kept.join(", ")
                )))
            }
            DdlKind::RenameTable => {
                let mut kept = Vec::new();
                for pair in ddl.tables.chunks(2) {
                    let [from, to] = pair else { continue };
                    match (selects(from), selects(to)) {
                        (true, true) => {
                            kept.push(format!("{} TO {}", qualified(from), qualified(to)))
                        }
                        (false, false) => {}
                        _ => return Err(moved(from, to)),
                    }
                }
                Ok(Narrowed::Part(format!("RENAME TABLE {}", kept.join(", "))))
            }
            DdlKind::AlterTable => match &ddl.tables[..] {
                [from, to] => Err(moved(from, to)),
                _ => Ok(Narrowed::Whole),
            },
            DdlKind::ExchangePartition => Err(refuse(
                "it swaps rows between a selected and an unselected table, and the binlog \
                 holds no rows for it; select both tables, or copy the selected one again"
                    .to_owned(),
            )),
            DdlKind::CreateTable => match &ddl.tables[..] {
                [created, like] if selects(created) => Err(refuse(format!(
                    "it creates a selected table like {}.{}, which is not selected (the target \
                     does not follow its definition); select it too",
                    like.0, like.1
                ))),
                _ => Ok(Narrowed::Skip),
            },
            _ => Ok(Narrowed::Whole),
        }
    }

    /// A DDL's names as the source's `lower_case_table_names` reads them: lower-cased
    /// when it is not 0 (as the binlog's row events and the copy name the tables). A
    /// target that compares names exactly would not find such a table by the
    /// statement's own spelling: a DDL spelling a name in capitals is refused there.
    fn fold_names(&self, mut ddl: Ddl, sql: &str) -> Result<Ddl, SyncError> {
        let [source, target] = self.unit.lower_case_names;
        if source == 0 {
            return Ok(ddl);
        }
        let before = ddl.clone();
        for (db, t) in &mut ddl.tables {
            *db = db.to_lowercase();
            *t = t.to_lowercase();
        }
        if let Some(db) = &mut ddl.database {
            *db = db.to_lowercase();
        }
        if target == 0 && ddl != before {
            return Err(SyncError::Unsupported {
                at: self.at(),
                detail: format!(
                    "{}: the source has lower_case_table_names={source} and names tables in any \
                     case, the target has 0 and would not find them by this spelling; start the \
                     target with lower_case_table_names={source}",
                    unit_sql::summarize_statement(sql)
                ),
            });
        }
        Ok(ddl)
    }

    /// Whether a statement run in `schema` may name a selected table: every database
    /// is selected, its own database is, or its text names one that is.
    fn may_concern_selection(&self, schema: &str, sql: &str) -> bool {
        let filter = &self.unit.config.filter;
        if filter.databases.is_empty() {
            return true;
        }
        let text = sql.to_lowercase();
        filter.databases.iter().any(|pattern| {
            crate::catalog::schema::glob(pattern, schema)
                || pattern
                    .split(['*', '?'])
                    .any(|part| !part.is_empty() && text.contains(&part.to_lowercase()))
        })
    }

    /// A source pool query for what a DDL's session needs.
    async fn source_query<T>(
        &self,
        sql: &str,
        query: impl AsyncFnOnce(&sqlx::MySqlPool) -> Result<T, sqlx::Error>,
    ) -> Result<T, SyncError> {
        let source = self.unit.source.as_ref().ok_or(SyncError::NoPosition {
            task: self.unit.config.task.clone(),
        })?;
        query(source).await.map_err(|e| {
            SyncError::Task(stmt_err(
                ErrScope::Upstream,
                Operation::Query(sql),
                StatementError::Sqlx(e),
            ))
        })
    }

    pub(super) async fn apply_query(&mut self, st: &Statement<'_>) -> Result<(), SyncError> {
        let (schema, sql) = (st.schema, st.sql);
        let config = &self.unit.config;
        let Some(ddl) = parse_with(sql, schema, st.session.ansi_quotes()) else {
            if starts_as_table_ddl(sql, st.session.ansi_quotes())
                && self.may_concern_selection(schema, sql)
            {
                return Err(SyncError::Unsupported {
                    at: self.at(),
                    detail: format!(
                        "a DDL whose tables cannot be read: {}; it may change a selected table, \
                         so it is not skipped: apply it on the target by hand and skip it, or copy again",
                        unit_sql::summarize_statement(sql)
                    ),
                });
            }
            debug!(statement = %unit_sql::summarize_statement(sql), "statement skipped: not a table change");
            return Ok(());
        };
        let ddl = self.fold_names(ddl, sql)?;
        let selected = match &ddl.database {
            Some(db) => config.filter.selects_database(db),
            None => ddl.tables.iter().any(|(db, t)| config.selects_table(db, t)),
        };
        if !selected {
            debug!(statement = %unit_sql::summarize_statement(sql), "DDL skipped: no selected table");
            return Ok(());
        }
        let narrowed = match self.selected_part(&ddl, sql)? {
            Narrowed::Whole => None,
            Narrowed::Part(part) => Some(part),
            Narrowed::Skip => {
                debug!(statement = %unit_sql::summarize_statement(sql), "DDL skipped: no selected table");
                return Ok(());
            }
        };
        // The statement as its session wrote it: its bytes when they are UTF-8 in a
        // UTF-8 session (or ASCII in any), else converted by the target from the
        // session's character set (sent as UTF-8).
        let charsets = self.session_charsets(st.session).await?;
        let client_utf8 = charsets
            .as_ref()
            .is_none_or(|c| c.client.starts_with("utf8"));
        let body = match (&narrowed, std::str::from_utf8(st.text)) {
            (Some(narrowed), _) => DdlText::Utf8(narrowed.clone()),
            (None, Ok(text)) if client_utf8 || text.is_ascii() => DdlText::Utf8(text.to_owned()),
            (None, _) => DdlText::Convert(crate::catalog::schema::hex_literal(st.text)),
        };

        let setup = self.session_setup(st, charsets.as_ref(), &body).await?;
        // Everything before the DDL is committed first, with a note that the DDL is
        // under way and the state of the tables it names: a rerun that finds them
        // changed knows that it ran, one that finds them as they were runs it.
        let named: Vec<(String, String)> = match &narrowed {
            Some(_) => ddl
                .tables
                .iter()
                .filter(|(db, t)| config.selects_table(db, t))
                .cloned()
                .collect(),
            None => ddl.tables.clone(),
        };
        // Everything before the DDL is in the target first (the workers drained):
        // changes still queued would alter the state after it was recorded (an
        // insert moves the table's AUTO_INCREMENT), and a rerun would take the
        // difference for the DDL's doing and skip it. Drained, the state is exact,
        // counters included: a rerun that finds a counter moved knows that changes
        // after the DDL were applied, so the DDL ran (a TRUNCATE shows in nothing
        // else where the table id cannot be read).
        self.flush().await?;
        let mut retried = self.pending.ddl_pending == Some(self.event_start);
        if retried && let Some(session) = self.pending.ddl_session {
            // A stopped run leaves its statement running on the target: its effect
            // shows only once it has ended.
            self.wait_for_session(session).await?;
        }
        let before = if named.is_empty() {
            None
        } else {
            Some(self.target_state(&named).await?)
        };
        if retried && let (Some(recorded), Some(now)) = (&self.pending.ddl_before, &before) {
            if recorded != now {
                info!(at = %self.at(), statement = %unit_sql::summarize_statement(sql), "DDL already applied by an earlier run: the tables it names changed since it was recorded");
                self.pending.ddl_pending = None;
                self.pending.ddl_before = None;
                self.pending.ddl_session = None;
                self.mark_dirty();
                self.forget_tables(&ddl);
                return Ok(());
            }
            // As they were: it did not run, and an error now is an error.
            retried = false;
        }
        let at = self.at();
        // A connection of its own (not given back to the pool): the statement runs in
        // its database and in its session's SQL mode, clock, time zone and character
        // sets. Its id is recorded with the note, for a rerun to wait on.
        let (mut conn, session) = async {
            let mut conn = self
                .unit
                .target
                .as_ref()
                .ok_or(sqlx::Error::PoolClosed)?
                .acquire()
                .await?
                .detach();
            let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
                .fetch_one(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>((conn, id))
        }
        .await
        .map_err(|e| self.target_err(Operation::Query("SELECT CONNECTION_ID()"), e))?;
        self.pending.ddl_pending = Some(self.event_start);
        self.pending.ddl_before = before;
        self.pending.ddl_session = Some(session);
        self.mark_dirty();
        self.flush().await?;
        if self.unit.config.sync.failpoint("before") {
            return Err(failpoint(at));
        }
        info!(at = %at, statement = %unit_sql::summarize_statement(sql), "applying DDL");
        let utf8mb4_default = charsets.as_ref().and_then(|c| c.utf8mb4_default.clone());
        let client = charsets.map(|c| c.client).unwrap_or_default();
        let result = async {
            // As every new target session has it, whatever a pooled connection kept.
            conn.execute("SET foreign_key_checks = 0").await?;
            let text = match &body {
                DdlText::Utf8(text) => text.clone(),
                DdlText::Convert(hex) => {
                    let convert = format!("SELECT CONVERT(_{client} {hex} USING utf8mb4)");
                    sqlx::query_scalar::<_, String>(convert.as_str())
                        .fetch_one(&mut conn)
                        .await?
                }
            };
            // A bare utf8mb4 means what it meant on the source, not the target's
            // default for it: on a MariaDB target, which does not read the session's
            // default_collation_for_utf8mb4 (a MySQL target defaults as the source).
            let mariadb_target = match &utf8mb4_default {
                Some(_) => sqlx::query_scalar::<_, String>("SELECT VERSION()")
                    .fetch_one(&mut conn)
                    .await?
                    .to_ascii_lowercase()
                    .contains("mariadb"),
                None => false,
            };
            let text = match &utf8mb4_default {
                Some(collation) if mariadb_target => {
                    crate::catalog::collation::with_utf8mb4_collation(&text, collation)
                        .unwrap_or(text)
                }
                _ => text,
            };
            if !setup.is_empty() {
                execute_ddl(&mut conn, &setup).await?;
            }
            if !schema.is_empty() {
                match conn
                    .execute(format!("USE {}", ident(schema)).as_str())
                    .await
                {
                    Err(e)
                        if crate::adapter::classify::server_error(&e)
                            .is_some_and(|d| d.number() == 1049) => {}
                    other => {
                        other?;
                    }
                }
            }
            execute_ddl(&mut conn, &text).await
        }
        .await;
        match result {
            Ok(_) => {}
            Err(e)
                if retried
                    && crate::adapter::classify::server_error(&e)
                        .is_some_and(|d| ALREADY_APPLIED.contains(&d.number())) =>
            {
                warn!(at = %at, error = %e, "DDL already applied by an earlier run");
            }
            Err(e) if crate::adapter::classify::server_error(&e).is_some() => {
                return Err(SyncError::Ddl {
                    at,
                    statement: unit_sql::summarize_statement(sql),
                    source: e,
                });
            }
            Err(e) => {
                return Err(
                    self.target_err(Operation::Execute(&unit_sql::summarize_statement(sql)), e)
                );
            }
        }
        if self.unit.config.sync.failpoint("after") {
            return Err(failpoint(at));
        }
        self.pending.ddl_pending = None;
        self.pending.ddl_before = None;
        self.pending.ddl_session = None;
        self.forget_tables(&ddl);
        Ok(())
    }

    /// Waits until the target connection `id` (a stopped run's DDL session) runs no
    /// statement: gone, or idle. After a target restart the id may name another
    /// connection: one of this user's that runs a statement is waited on too (it
    /// ends), a server thread or another user's session is not.
    async fn wait_for_session(&self, id: u64) -> Result<(), SyncError> {
        // Only a connection of this unit's user that runs a statement: after a target
        // restart the id may name a server thread or another user's session.
        const SQL: &str = "SELECT COMMAND FROM information_schema.PROCESSLIST \
                           WHERE ID = ? AND ID <> CONNECTION_ID() \
                           AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) \
                           AND COMMAND IN ('Query', 'Execute', 'Killed')";
        let pool = self.unit.target.as_ref().ok_or(SyncError::NoPosition {
            task: self.unit.config.task.clone(),
        })?;
        let started = std::time::Instant::now();
        let mut told = std::time::Duration::ZERO;
        loop {
            let command: Option<String> = sqlx::query_scalar(SQL)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(|e| self.target_err(Operation::Query(SQL), e))?;
            if command.is_none_or(|c| c.eq_ignore_ascii_case("Sleep")) {
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= told + std::time::Duration::from_secs(10) {
                told = waited;
                info!(at = %self.at(), connection = id, waited_s = waited.as_secs(), "waiting for an earlier run's DDL to end on the target");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Forgets what the run knows of the tables a DDL changed: their columns are read
    /// again from the target when next used, and any DDL may add or drop a foreign key
    /// referencing any table.
    fn forget_tables(&mut self, ddl: &Ddl) {
        self.cascades.clear();
        self.routes.clear();
        match &ddl.database {
            Some(db) => self.tables.retain(|(d, _), _| d != db),
            None => {
                for t in &ddl.tables {
                    self.tables.remove(t);
                }
            }
        }
    }

    /// The target's state of `tables`, to tell whether a DDL naming them ran: each
    /// one's definition (or its absence) and InnoDB table id (a rename keeps it, so
    /// a swap of two tables with the same definition shows too).
    async fn target_state(&self, tables: &[(String, String)]) -> Result<String, SyncError> {
        let pool = self.unit.target.as_ref().ok_or(SyncError::NoPosition {
            task: self.unit.config.task.clone(),
        })?;
        let mut state = String::new();
        for (db, t) in tables {
            let show = format!("SHOW CREATE TABLE {}.{}", ident(db), ident(t));
            let definition = match sqlx::query(show.as_str()).fetch_one(pool).await {
                Ok(row) => crate::catalog::schema::text(&row, 1)
                    .map_err(|e| self.target_err(Operation::Query(&show), e))?,
                Err(e)
                    if crate::adapter::classify::server_error(&e)
                        .is_some_and(|d| [1049, 1146].contains(&d.number())) =>
                {
                    "(absent)".to_owned()
                }
                Err(e) => return Err(self.target_err(Operation::Query(&show), e)),
            };
            let mut id = None;
            for view in ["INNODB_SYS_TABLES", "INNODB_TABLES"] {
                let sql = format!(
                    "SELECT CAST(TABLE_ID AS SIGNED) FROM information_schema.{view} WHERE NAME = ?"
                );
                if let Ok(found) = sqlx::query_scalar::<_, i64>(sql.as_str())
                    .bind(format!("{db}/{t}"))
                    .fetch_optional(pool)
                    .await
                {
                    id = found;
                    break;
                }
            }
            state.push_str(&format!("{db}.{t} id={id:?}\n{definition}\n"));
        }
        Ok(state)
    }
}

impl Player<'_> {
    /// The character sets a statement's session named, by name (read from the source's
    /// collations); `None` when the event does not say.
    async fn session_charsets(
        &mut self,
        session: &StatementSession,
    ) -> Result<Option<Charsets>, SyncError> {
        let Some(ids) = session.charset else {
            return Ok(None);
        };
        if ids
            .iter()
            .chain(&session.utf8mb4_default)
            .any(|id| !self.collations.contains_key(id))
        {
            let sql = "SELECT CAST(ID AS SIGNED), CAST(CHARACTER_SET_NAME AS CHAR), CAST(COLLATION_NAME AS CHAR) FROM information_schema.COLLATIONS \
                       WHERE ID IS NOT NULL AND CHARACTER_SET_NAME IS NOT NULL";
            let rows: Vec<(i64, String, String)> = self
                .source_query(sql, async |source| {
                    sqlx::query_as(sql).fetch_all(source).await
                })
                .await?;
            self.collations = rows
                .into_iter()
                .filter_map(|(id, cs, coll)| Some((u16::try_from(id).ok()?, (cs, coll))))
                .collect();
            // MariaDB 10.10+ lists its UCA 14.0 collations (ids from 2048, 11.x's
            // default utf8mb4_uca1400_ai_ci among them) with their ids only here.
            let full = "SELECT CAST(ID AS SIGNED), CAST(CHARACTER_SET_NAME AS CHAR), CAST(FULL_COLLATION_NAME AS CHAR) \
                        FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY WHERE ID IS NOT NULL";
            let missing = |c: &HashMap<u16, (String, String)>| {
                ids.iter()
                    .chain(&session.utf8mb4_default)
                    .any(|id| !c.contains_key(id))
            };
            if missing(&self.collations) {
                let more: Vec<(i64, String, String)> = self
                    .source_query(full, async |source| {
                        match sqlx::query_as(full).fetch_all(source).await {
                            // No such columns before MariaDB 10.10 nor on MySQL.
                            Err(e) if crate::adapter::classify::server_error(&e).is_some() => {
                                Ok(Vec::new())
                            }
                            other => other,
                        }
                    })
                    .await?;
                for (id, cs, coll) in more {
                    if let Ok(id) = u16::try_from(id) {
                        self.collations.entry(id).or_insert((cs, coll));
                    }
                }
            }
        }
        let name = |id: u16| {
            self.collations.get(&id).cloned().ok_or_else(|| SyncError::Unsupported {
                at: self.at(),
                detail: format!("a statement whose session names collation {id}, which the source does not list"),
            })
        };
        Ok(Some(Charsets {
            client: name(ids[0])?.0,
            connection: name(ids[1])?.1,
            server: name(ids[2])?.1,
            utf8mb4_default: match session.utf8mb4_default {
                Some(id) => Some(name(id)?.1),
                None => None,
            },
        }))
    }

    /// The `SET` statement that makes a target session run `st` as its own session
    /// did: its full SQL mode, its clock (`TIMESTAMP`, with microseconds), its time
    /// zone and character sets. A session time zone of `SYSTEM` is the source's
    /// system zone's offset at the statement's time.
    async fn session_setup(
        &self,
        st: &Statement<'_>,
        charsets: Option<&Charsets>,
        body: &DdlText,
    ) -> Result<String, SyncError> {
        let mut set = vec![format!(
            "TIMESTAMP = {}.{:06}",
            st.timestamp,
            st.session.micros.unwrap_or(0)
        )];
        if let Some(modes) = st.session.mode_names(self.unit.mariadb) {
            set.push(format!("sql_mode = '{}'", modes.join(",")));
        }
        match st.session.time_zone.as_deref() {
            Some(zone) if zone.eq_ignore_ascii_case("SYSTEM") => {
                let sql = "SELECT CAST(TIMESTAMPDIFF(SECOND, \
                           CONVERT_TZ(FROM_UNIXTIME(?), @@session.time_zone, '+00:00'), \
                           CONVERT_TZ(FROM_UNIXTIME(?), @@session.time_zone, 'SYSTEM')) AS SIGNED)";
                let offset: Option<i64> = self
                    .source_query(sql, async |source| {
                        sqlx::query_scalar(sql)
                            .bind(st.timestamp)
                            .bind(st.timestamp)
                            .fetch_one(source)
                            .await
                    })
                    .await?;
                let offset = offset.unwrap_or(0);
                let minutes = offset.abs() / 60;
                set.push(format!(
                    "time_zone = '{}{:02}:{:02}'",
                    if offset < 0 { '-' } else { '+' },
                    minutes / 60,
                    minutes % 60
                ));
            }
            Some(zone) => set.push(format!("time_zone = '{}'", zone.replace('\'', "''"))),
            None => {}
        }
        if let Some(c) = charsets {
            let client = match body {
                DdlText::Utf8(_) if !c.client.starts_with("utf8") => c.client.as_str(),
                _ => "utf8mb4",
            };
            set.push(format!(
                "character_set_client = {client}, collation_connection = {}, collation_server = {}",
                c.connection, c.server
            ));
        }
        Ok(format!("SET SESSION {}", set.join(", ")))
    }
}

/// `db`.`t`
fn qualified((db, t): &(String, String)) -> String {
    format!("{}.{}", ident(db), ident(t))
}

/// `IF EXISTS ` where the statement has it.
fn if_exists(sql: &str) -> &'static str {
    if sql.to_ascii_uppercase().contains("IF EXISTS") {
        "IF EXISTS "
    } else {
        ""
    }
}
