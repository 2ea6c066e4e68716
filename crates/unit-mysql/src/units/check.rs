//! The check unit: verifies source and target before anything is copied.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::mysql::{MySqlConnection, MySqlPool};
use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use unit_core::{BoxError, ErrorCode, SourceStatus, StatusHandle, Unit, UnitStatus};
use unit_proto::pb;

use crate::catalog::schema::{SchemaError, Table, describe, ident, list_tables};
use crate::units::task::TaskConfig;

/// The outcome of one check item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// The check passed.
    Success,
    /// The copy cannot work; it must be fixed first.
    Failure,
    /// Worth knowing; the copy can go on.
    Warning,
}

/// One check item: what was checked and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    /// What was checked, e.g. `source privileges`.
    pub name: String,
    /// The outcome.
    pub state: ItemState,
    /// What was found.
    pub message: String,
}

/// Checks, before a copy: connectivity, server versions and encryption (the TLS
/// version, or why there is none) of both sides, the
/// privileges the copy needs (SELECT on every source table; CREATE and INSERT on the
/// target), that every table has a primary key or a unique key on NOT NULL columns,
/// and that the target supports every collation used; for an online migration
/// ([`TaskConfig::consistency`] or [`SyncSettings::start`](crate::units::task::SyncSettings::start) set), what replication needs:
/// `log_bin`, `binlog_format=ROW`, `binlog_row_image=FULL`, the REPLICATION SLAVE and
/// REPLICATION CLIENT privileges, and on a resume that the recorded position is still
/// in the source's binlog. Reports a `pb::CheckStatus`;
/// any failure is an unresumable error (code 60003) listing what to fix.
pub struct CheckUnit {
    config: TaskConfig,
    status: Arc<Mutex<pb::CheckStatus>>,
}

impl std::fmt::Debug for CheckUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckUnit")
            .field("source", &self.config.source)
            .field("target", &self.config.target)
            .finish()
    }
}

impl CheckUnit {
    /// A check of what `config` would copy.
    pub fn new(config: TaskConfig) -> Self {
        Self {
            config,
            status: Arc::default(),
        }
    }

    /// Runs every check and returns the items.
    pub async fn run_checks(&self) -> Vec<CheckItem> {
        let mut items = Vec::new();
        let mut item = |name: &str, state, message: String| {
            items.push(CheckItem {
                name: name.to_owned(),
                state,
                message,
            })
        };
        let source = match MySqlPool::connect_with(self.config.source.connect_options()).await {
            Ok(pool) => {
                self.config.source.mark_reached();
                pool
            }
            Err(e) => {
                let message = connect_failure(&self.config.source, &e).await;
                item("source connection", ItemState::Failure, message);
                return items;
            }
        };
        let mut target =
            match MySqlConnection::connect_with(&self.config.target.connect_options()).await {
                Ok(conn) => {
                    self.config.target.mark_reached();
                    conn
                }
                Err(e) => {
                    let message = connect_failure(&self.config.target, &e).await;
                    item("target connection", ItemState::Failure, message);
                    return items;
                }
            };
        let version = |v: Result<String, sqlx::Error>| v.unwrap_or_else(|e| e.to_string());
        let sv = version(
            sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&source)
                .await,
        );
        let tv = version(
            sqlx::query_scalar("SELECT VERSION()")
                .fetch_one(&mut target)
                .await,
        );
        item(
            "source connection",
            ItemState::Success,
            format!("server {sv}"),
        );
        let tls = |version: Result<(String, String), sqlx::Error>,
                   url: &crate::adapter::dsn::MySqlUrl| {
            match version.map(|(_, v)| v) {
                Ok(v) if !v.is_empty() => (ItemState::Success, v),
                Ok(_) if url.requires_tls() => (
                    ItemState::Failure,
                    format!(
                        "not encrypted, though ssl-mode={} was asked for",
                        crate::adapter::dsn::mode_name(url.ssl_mode())
                    ),
                ),
                Ok(_) => (
                    ItemState::Warning,
                    format!(
                        "not encrypted (ssl-mode={}, and the server offers no TLS)",
                        crate::adapter::dsn::mode_name(url.ssl_mode())
                    ),
                ),
                Err(e) => (
                    ItemState::Failure,
                    crate::adapter::classify::go_driver_text(
                        &e,
                        crate::adapter::classify::Operation::Query(""),
                    ),
                ),
            }
        };
        let ssl = "SHOW SESSION STATUS LIKE 'Ssl_version'";
        let (state, message) = tls(
            sqlx::query_as(ssl).fetch_one(&source).await,
            &self.config.source,
        );
        item("source encryption", state, message);
        let (state, message) = tls(
            sqlx::query_as(ssl).fetch_one(&mut target).await,
            &self.config.target,
        );
        item("target encryption", state, message);
        let major = |v: &str| {
            v.split('.')
                .take(2)
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        };
        let older = major(&tv) < major(&sv);
        let mysql_source = !sv.to_ascii_lowercase().contains("mariadb");
        let mariadb_target = tv.to_ascii_lowercase().contains("mariadb");
        item(
            "target connection",
            if older {
                ItemState::Warning
            } else {
                ItemState::Success
            },
            if older {
                format!("server {tv} is older than the source's {sv}")
            } else {
                format!("server {tv}")
            },
        );

        // A MySQL target that enforces GTID consistency (9.x's default) refuses a change
        // of a non-transactional table inside a transaction with others: every chunk
        // and batch is one.
        let enforces_gtid_consistency = !mariadb_target
            && sqlx::query_scalar::<_, String>(
                "SELECT CAST(@@GLOBAL.enforce_gtid_consistency AS CHAR)",
            )
            .fetch_one(&mut target)
            .await
            .is_ok_and(|v| v.eq_ignore_ascii_case("ON") || v == "1");
        let mut not_transactional: Vec<String> = Vec::new();
        let tables = match list_tables(&source, &self.config.filter).await {
            Ok(t) => t,
            Err(e) => {
                item(
                    "source tables",
                    ItemState::Failure,
                    crate::adapter::classify::go_driver_text(
                        &e,
                        crate::adapter::classify::Operation::Query(""),
                    ),
                );
                return items;
            }
        };
        if tables.is_empty() {
            item(
                "source tables",
                ItemState::Warning,
                "no table matches the selection".into(),
            );
        }
        let mut collations = std::collections::BTreeSet::new();
        for listed in tables {
            let qualified = format!("{}.{}", ident(&listed.database), ident(&listed.name));
            if let Err(e) = source
                .execute(format!("SELECT * FROM {qualified} LIMIT 0").as_str())
                .await
            {
                item(
                    "source privileges",
                    ItemState::Failure,
                    crate::adapter::classify::go_driver_text(
                        &e,
                        crate::adapter::classify::Operation::Query(""),
                    ),
                );
                continue;
            }
            match describe(&source, listed).await {
                Ok(t) => {
                    if enforces_gtid_consistency && !t.is_transactional() {
                        not_transactional.push(format!("{} ({})", t.display_name(), t.engine));
                    }
                    if t.system_versioned {
                        match crate::catalog::schema::refuse_versioned(
                            &t,
                            self.config.versioned_current_rows,
                        ) {
                            Err(e) => item("table keys", ItemState::Failure, e.to_string()),
                            Ok(()) => item(
                                "table keys",
                                ItemState::Warning,
                                format!(
                                    "{} is system-versioned: its current rows are copied and replicated, its history is not",
                                    t.display_name()
                                ),
                            ),
                        }
                    }
                    // MySQL's binary JSON may hold opaque scalars (a DECIMAL, DATE or
                    // TIME put in by CAST), which the binlog decoder cannot render.
                    let json: Vec<&str> = t
                        .columns
                        .iter()
                        .filter(|c| c.data_type == "json")
                        .map(|c| c.name.as_str())
                        .collect();
                    if mysql_source && !json.is_empty() {
                        item(
                            "json values",
                            ItemState::Warning,
                            format!(
                                "{} has JSON columns ({}): a replicated JSON value holding an \
                                 opaque scalar other than a DECIMAL, DATE, TIME or DATETIME (put \
                                 in by CAST) is refused (60009) naming its column; toward MariaDB, \
                                 whose JSON is text, those are written as MySQL prints them",
                                t.display_name(),
                                json.join(", ")
                            ),
                        );
                    }
                    // A parent outside the selection whose deletes or updates cascade
                    // into this table: the binlog does not hold what the cascade
                    // changes, and the parent's own changes are not replicated.
                    let parents: Vec<(String, String, String, String)> = sqlx::query_as(
                        "SELECT CAST(UNIQUE_CONSTRAINT_SCHEMA AS CHAR), CAST(REFERENCED_TABLE_NAME AS CHAR), \
                         CAST(DELETE_RULE AS CHAR), CAST(UPDATE_RULE AS CHAR) \
                         FROM information_schema.REFERENTIAL_CONSTRAINTS \
                         WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
                    )
                    .bind(&t.database)
                    .bind(&t.name)
                    .fetch_all(&source)
                    .await
                    .unwrap_or_default();
                    for (db, parent, on_delete, on_update) in parents {
                        let acts = |rule: &str| rule != "RESTRICT" && rule != "NO ACTION";
                        if !self.config.selects_table(&db, &parent)
                            && (acts(&on_delete) || acts(&on_update))
                        {
                            item(
                                "foreign keys",
                                ItemState::Warning,
                                format!(
                                    "{} references {db}.{parent}, which is not selected, with ON \
                                     DELETE {on_delete} ON UPDATE {on_update}: a change of that \
                                     parent changes this table on the source and not on the \
                                     target; select the parent too",
                                    t.display_name()
                                ),
                            );
                        }
                    }
                    if !t.has_key() {
                        let (state, message) = keyless_verdict(&t, self.config.consistency);
                        item("table keys", state, message);
                    }
                    collations.extend(
                        t.columns
                            .iter()
                            .filter_map(|c| Some((c.charset.clone()?, c.collation.clone()?))),
                    );
                    if mysql_source && mariadb_target {
                        for index in functional_indexes(&source, &t).await {
                            item(
                                "functional indexes",
                                ItemState::Failure,
                                format!(
                                    "{} has the functional index {index}, which MariaDB cannot \
                                     create (it indexes an expression, not columns): drop it on \
                                     the source, or index a generated column instead, or exclude \
                                     the table",
                                    t.display_name()
                                ),
                            );
                        }
                    }
                }
                Err(SchemaError::NoKey(t)) => item(
                    "table keys",
                    ItemState::Failure,
                    format!("{t} has no primary key and no unique key on NOT NULL columns"),
                ),
                Err(e) => item("table keys", ItemState::Failure, e.to_string()),
            }
        }
        if !not_transactional.is_empty() {
            item(
                "target GTID consistency",
                ItemState::Failure,
                format!(
                    "the target enforces GTID consistency (enforce_gtid_consistency=ON, MySQL 9's \
                     default), which refuses changes of non-transactional tables inside the \
                     transactions that copy and replicate them: {}; convert them to InnoDB on the \
                     source (ALTER TABLE ... ENGINE=InnoDB) or leave them out of the task",
                    not_transactional.join(", ")
                ),
            );
        }
        for (charset, collation) in collations {
            if target_knows(&mut target, &charset, &collation).await {
                continue;
            }
            let mysql = match crate::catalog::collation::mysql_equivalent(&collation) {
                Some((equivalent, exact))
                    if target_knows(&mut target, &charset, &equivalent).await =>
                {
                    Some((equivalent, exact))
                }
                _ => None,
            };
            match crate::catalog::collation::mariadb_equivalent(&collation) {
                Some(equivalent) if target_knows(&mut target, &charset, &equivalent).await => item(
                    "target collations",
                    ItemState::Success,
                    format!(
                        "MySQL's {collation} is created as {equivalent}, MariaDB's collation of the \
                         same rules (UCA 14.0.0, NO PAD)"
                    ),
                ),
                None if mysql.is_some() => {
                    let (equivalent, exact) = mysql.unwrap_or_default();
                    if exact {
                        item(
                            "target collations",
                            ItemState::Success,
                            format!(
                                "MariaDB's {collation} is created as {equivalent}, MySQL's \
                                 collation of the same rules (NO PAD)"
                            ),
                        );
                    } else {
                        item(
                            "target collations",
                            ItemState::Warning,
                            format!(
                                "MariaDB's {collation} is created as {equivalent}, MySQL's \
                                 collation of the same rules but NO PAD: trailing spaces count \
                                 on the target ('a' and 'a ' are equal on the source, distinct \
                                 on the target; a unique key takes both)"
                            ),
                        );
                    }
                }
                _ => item(
                    "target collations",
                    ItemState::Failure,
                    format!("the target does not support collation {collation}"),
                ),
            }
        }
        // Privileges on the target, tried for real: create the checkpoint table and
        // insert into it inside a transaction that is rolled back.
        let cp = ident(&self.config.checkpoint_database);
        let probe = async {
            target
                .execute(format!("CREATE DATABASE IF NOT EXISTS {cp}").as_str())
                .await?;
            target
                .execute(
                    format!(
                        "CREATE TABLE IF NOT EXISTS {cp}.`privilege_probe` (id INT PRIMARY KEY)"
                    )
                    .as_str(),
                )
                .await?;
            let mut tx = target.begin().await?;
            tx.execute(format!("INSERT INTO {cp}.`privilege_probe` VALUES (1)").as_str())
                .await?;
            tx.rollback().await
        };
        match probe.await {
            Ok(()) => item(
                "target privileges",
                ItemState::Success,
                "CREATE and INSERT allowed".into(),
            ),
            Err(e) => item(
                "target privileges",
                ItemState::Failure,
                crate::adapter::classify::go_driver_text(
                    &e,
                    crate::adapter::classify::Operation::Execute(""),
                ),
            ),
        }
        if self.config.consistency.is_some() || self.config.sync.start.is_some() {
            for found in self.replication_checks(&source, &mut target).await {
                item(&found.name, found.state, found.message);
            }
        }
        crate::adapter::pool::close_pool(source).await;
        items
    }

    /// What the Sync unit needs: binary logging on, in row format with full images,
    /// the replication privileges, a replica id of its own, and, on a resume, the
    /// binlog file the task continues from.
    async fn replication_checks(
        &self,
        source: &MySqlPool,
        target: &mut MySqlConnection,
    ) -> Vec<CheckItem> {
        let mut items = Vec::new();
        let mut item = |name: &str, state, message: String| {
            items.push(CheckItem {
                name: name.to_owned(),
                state,
                message,
            })
        };
        let variable = |name: &'static str| async move {
            let sql = format!("SELECT CAST(@@GLOBAL.{name} AS CHAR)");
            sqlx::query_scalar::<_, Option<String>>(&sql)
                .fetch_one(source)
                .await
                .map(Option::unwrap_or_default)
                .unwrap_or_else(|e| format!("unknown ({e})"))
        };
        for (name, wanted) in [
            ("log_bin", "1"),
            ("binlog_format", "ROW"),
            ("binlog_row_image", "FULL"),
        ] {
            let value = variable(name).await;
            let ok = value.eq_ignore_ascii_case(wanted)
                || (name == "log_bin" && value.eq_ignore_ascii_case("ON"));
            item(
                &format!("source {name}"),
                if ok {
                    ItemState::Success
                } else {
                    ItemState::Failure
                },
                if ok {
                    value
                } else {
                    format!(
                        "is {value}; replication needs {name}={} on the source (start it with --{}={})",
                        if name == "log_bin" { "ON" } else { wanted },
                        name.replace('_', "-"),
                        if name == "log_bin" { "NAME" } else { wanted }
                    )
                },
            );
        }
        // MySQL's partial JSON updates log a diff, not the value: refused by the Sync
        // unit at the first one.
        let json = variable("binlog_row_value_options").await;
        if json.to_ascii_uppercase().contains("PARTIAL_JSON") {
            item(
                "source binlog_row_value_options",
                ItemState::Failure,
                "is PARTIAL_JSON; partial JSON updates are not applied: set it to '' on the source"
                    .to_owned(),
            );
        }
        // Names: a DDL spelling a table in capitals on a source that folds names would
        // not find it on a target that does not.
        let folds = variable("lower_case_table_names").await;
        let target_folds: Option<String> =
            sqlx::query_scalar("SELECT CAST(@@GLOBAL.lower_case_table_names AS CHAR)")
                .fetch_one(&mut *target)
                .await
                .ok();
        if folds != "0" && target_folds.as_deref() == Some("0") {
            item(
                "lower_case_table_names",
                ItemState::Warning,
                format!(
                    "the source has {folds}, the target 0: a DDL that spells a table name in \
                     capitals will be refused; start the target with lower_case_table_names={folds}"
                ),
            );
        }
        let server_id = variable("server_id").await;
        if server_id == self.config.sync.server_id.to_string() {
            item(
                "replica server id",
                ItemState::Failure,
                format!(
                    "the source's server_id is {server_id}, the id this task reads the binlog as: choose another"
                ),
            );
        }
        let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS")
            .fetch_all(source)
            .await
            .unwrap_or_default();
        let global: Vec<String> = grants
            .iter()
            .filter(|g| g.contains(" ON *.* "))
            .map(|g| g.to_ascii_uppercase())
            .collect();
        let has = |privilege: &str| {
            global
                .iter()
                .any(|g| g.contains("ALL PRIVILEGES") || g.contains(privilege))
        };
        let missing: Vec<&str> = [
            ("REPLICATION SLAVE", has("REPLICATION SLAVE")),
            (
                "REPLICATION CLIENT (BINLOG MONITOR on MariaDB)",
                has("REPLICATION CLIENT") || has("BINLOG MONITOR") || has("SUPER"),
            ),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(p, _)| p)
        .collect();
        item(
            "source replication privileges",
            if missing.is_empty() {
                ItemState::Success
            } else {
                ItemState::Failure
            },
            if missing.is_empty() {
                "REPLICATION SLAVE and REPLICATION CLIENT granted".to_owned()
            } else {
                format!("missing {} ON *.*", missing.join(" and "))
            },
        );
        if !has("RELOAD")
            && matches!(
                self.config.consistency,
                Some(crate::units::task::Consistency::Flush)
            )
        {
            item(
                "source snapshot lock",
                ItemState::Failure,
                "consistency flush needs the RELOAD privilege (FLUSH TABLES WITH READ LOCK); use lock or auto".to_owned(),
            );
        }
        // A task that recorded a position continues from it: its file must still exist.
        let recorded = crate::units::sync_state::load_checkpoint(
            &mut *target,
            &self.config.checkpoint_database,
            &self.config.task,
        )
        .await;
        if let Ok(Some(cp)) = recorded {
            let logs: Result<Vec<String>, _> = sqlx::query_scalar("SHOW BINARY LOGS")
                .fetch_all(source)
                .await;
            match logs {
                Ok(logs) if logs.contains(&cp.position.file) => item(
                    "recorded position",
                    ItemState::Success,
                    format!("{} is still in the source's binlog", cp.position),
                ),
                Ok(logs) => item(
                    "recorded position",
                    ItemState::Failure,
                    format!(
                        "the task continues from {}, but the source's binlog starts at {}: the changes since are lost to replication; start the task over",
                        cp.position,
                        logs.first().map_or("nothing", String::as_str)
                    ),
                ),
                Err(e) => item(
                    "recorded position",
                    ItemState::Failure,
                    crate::adapter::classify::go_driver_text(
                        &e,
                        crate::adapter::classify::Operation::Query("SHOW BINARY LOGS"),
                    ),
                ),
            }
        }
        items
    }
}

/// Why a connection failed, in the Go driver's words, and, when the server refused a
/// connection in the clear that it accepts encrypted (`require_secure_transport`, or an
/// account `REQUIRE SSL`: MariaDB answers 1045, MySQL 3159), a sentence saying to
/// enable TLS.
async fn connect_failure(url: &crate::adapter::dsn::MySqlUrl, err: &sqlx::Error) -> String {
    // Which server, by its URL (password masked), and what went wrong.
    let text = format!(
        "{url}: {}",
        crate::adapter::classify::go_driver_text(err, crate::adapter::classify::Operation::Connect)
    );
    let refused = crate::adapter::classify::server_error(err).is_some_and(|d| {
        matches!(
            d.number(),
            crate::adapter::codes::ER_ACCESS_DENIED_ERROR | 3159
        )
    });
    if !refused || !matches!(url.ssl_mode(), sqlx::mysql::MySqlSslMode::Disabled) {
        return text;
    }
    let encrypted = url
        .connect_options()
        .ssl_mode(sqlx::mysql::MySqlSslMode::Required);
    match MySqlConnection::connect_with(&encrypted).await {
        Ok(conn) => {
            let _ = conn.close().await;
            format!(
                "{text}; the server refuses unencrypted connections and accepts encrypted \
                 ones: enable TLS (ssl-mode=REQUIRED, or VERIFY_IDENTITY with ssl-ca)"
            )
        }
        Err(_) => text,
    }
}

fn check_status(items: &[CheckItem]) -> pb::CheckStatus {
    let count =
        |s| i32::try_from(items.iter().filter(|i| i.state == s).count()).unwrap_or(i32::MAX);
    let detail: Vec<String> = items
        .iter()
        .map(|i| {
            let state = match i.state {
                ItemState::Success => "success",
                ItemState::Failure => "fail",
                ItemState::Warning => "warn",
            };
            format!(
                "{{\"name\":{:?},\"state\":\"{state}\",\"message\":{:?}}}",
                i.name, i.message
            )
        })
        .collect();
    pb::CheckStatus {
        passed: count(ItemState::Failure) == 0,
        total: i32::try_from(items.len()).unwrap_or(i32::MAX),
        successful: count(ItemState::Success),
        failed: count(ItemState::Failure),
        warning: count(ItemState::Warning),
        detail: format!("{{\"results\":[{}]}}", detail.join(",")).into_bytes(),
    }
}

#[async_trait]
impl Unit for CheckUnit {
    type Config = TaskConfig;

    async fn init(&mut self, _cancel: CancellationToken) -> Result<(), BoxError> {
        Ok(())
    }

    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        let items = tokio::select! {
            items = self.run_checks() => items,
            () = cancel.cancelled() => {
                return unit_core::result::cancelled();
            }
        };
        let status = check_status(&items);
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status.clone();
        let failures: Vec<String> = items
            .iter()
            .filter(|i| i.state == ItemState::Failure)
            .map(|i| format!("{}: {}", i.name, i.message))
            .collect();
        let errors = if failures.is_empty() {
            Vec::new()
        } else {
            let err = unit_core::Error::generate(&ErrorCode::CHECK_FAILED, &[&failures.join("; ")]);
            vec![unit_core::new_process_error(&err)]
        };
        pb::ProcessResult {
            is_canceled: false,
            errors,
            detail: status.detail,
        }
    }

    async fn close(&mut self) {}

    async fn update(
        &mut self,
        _cancel: CancellationToken,
        config: &TaskConfig,
    ) -> Result<(), BoxError> {
        self.config = config.clone();
        Ok(())
    }

    fn status_handle(&self) -> StatusHandle {
        let status = self.status.clone();
        Arc::new(move |_: Option<&SourceStatus>| {
            UnitStatus::Check(status.lock().unwrap_or_else(|e| e.into_inner()).clone())
        })
    }

    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Check
    }

    async fn is_fresh_task(&mut self, _cancel: CancellationToken) -> Result<bool, BoxError> {
        // Checking has no lasting effect: a restarted task may skip it only if a later
        // unit has progress, which the supervisor asks that unit.
        Ok(true)
    }
}

/// What the check says of a table without a usable key: a warning (it is copied
/// whole and replicated by the whole row), or a failure where an online migration
/// would have to replay its changes idempotently, which no statement can do for it.
fn keyless_verdict(
    table: &crate::catalog::schema::Table,
    consistency: Option<crate::units::task::Consistency>,
) -> (ItemState, String) {
    let name = table.display_name();
    match crate::units::task::keyless_refusal(table, consistency) {
        Some(reason) => (
            ItemState::Failure,
            format!("{name} has no primary key and no unique key on NOT NULL columns: {reason}"),
        ),
        None => (
            ItemState::Warning,
            format!(
                "{name} has no primary key and no unique key on NOT NULL columns in an ordered \
                 index: it is copied whole in one transaction (a restart copies it again), its \
                 changes are applied by the whole row, and rows that are exact duplicates are \
                 told apart by nothing (an update or delete changes any one of them)"
            ),
        ),
    }
}

/// Whether the target knows `collation` of `charset` (MariaDB does not list its UCA
/// 14.0.0 collations in `information_schema.COLLATIONS`: it is asked to use it).
async fn target_knows(target: &mut sqlx::MySqlConnection, charset: &str, collation: &str) -> bool {
    let name = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !name(charset) || !name(collation) {
        return false;
    }
    let probe = format!("SELECT CONVERT('' USING {charset}) COLLATE {collation}");
    target.execute(probe.as_str()).await.is_ok()
}

/// The names of `table`'s indexes with a functional key part (MySQL 8: a part with an
/// expression and no column), on the source.
async fn functional_indexes(source: &MySqlPool, table: &Table) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT DISTINCT CAST(INDEX_NAME AS CHAR) FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME IS NULL ORDER BY 1",
    )
    .bind(&table.database)
    .bind(&table.name)
    .fetch_all(source)
    .await
    .unwrap_or_default()
}
