//! Objects other than tables: sequences, views, triggers, stored routines and events,
//! read from the source with their own SQL mode, and created on the target as they
//! were defined.

use std::fmt;

use sqlx::mysql::{MySqlConnection, MySqlPool};
use sqlx::{Executor, Row};

use crate::catalog::schema::{Filter, SchemaError, Table, ident, text};

/// The kinds of objects other than tables a copy migrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// `CREATE SEQUENCE` (MariaDB), created before the tables (a column DEFAULT may
    /// use it) and set to the source's next value.
    Sequence,
    /// A stored function.
    Function,
    /// A stored procedure.
    Procedure,
    /// A view, created after the routines it may call and the views it reads.
    View,
    /// A trigger, created after the rows are copied, so that it never fires on them.
    Trigger,
    /// An event, created last, with the source's status (ENABLE or DISABLE).
    Event,
}

impl ObjectKind {
    /// Every kind, in the order the copy creates them.
    pub const ALL: [ObjectKind; 6] = [
        Self::Sequence,
        Self::Function,
        Self::Procedure,
        Self::View,
        Self::Trigger,
        Self::Event,
    ];

    /// `sequence`, `function`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sequence => "sequence",
            Self::Function => "function",
            Self::Procedure => "procedure",
            Self::View => "view",
            Self::Trigger => "trigger",
            Self::Event => "event",
        }
    }

    /// The kind named `text` (`views` and `view` alike), if any.
    pub fn parse(text: &str) -> Option<ObjectKind> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.strip_suffix('s').unwrap_or(&t);
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == t || (t == "routine" && *k == Self::Function))
    }

    /// Whether an object of this kind changes rows by itself (a trigger fires on
    /// changes, an event runs on the scheduler): an online migration creates these
    /// only at cutover, so that they never act on replicated changes (as MariaDB's and
    /// MySQL's own replicas run no trigger for a row event).
    pub const fn acts_on_changes(self) -> bool {
        matches!(self, Self::Trigger | Self::Event)
    }

    /// `SHOW CREATE <what>` and the column holding the statement.
    const fn show(self) -> (&'static str, usize) {
        match self {
            Self::Sequence => ("SEQUENCE", 1),
            Self::Function => ("FUNCTION", 2),
            Self::Procedure => ("PROCEDURE", 2),
            Self::View => ("VIEW", 1),
            Self::Trigger => ("TRIGGER", 2),
            Self::Event => ("EVENT", 3),
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A view, trigger, routine, event or sequence as the source defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaObject {
    /// What it is.
    pub kind: ObjectKind,
    /// Its database.
    pub database: String,
    /// Its name.
    pub name: String,
    /// A trigger's table.
    pub table: Option<String>,
    /// The statement that creates it, as `SHOW CREATE` prints it (for a trigger, the
    /// original statement, which keeps its `FOLLOWS`/`PRECEDES`).
    pub create: String,
    /// The SQL mode it was defined under (routines, triggers, events).
    pub sql_mode: Option<String>,
    /// The connection collation it was defined under.
    pub collation_connection: Option<String>,
    /// An event's time zone.
    pub time_zone: Option<String>,
}

impl SchemaObject {
    /// `db.name`
    pub(crate) fn display_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }

    fn show_sql(&self) -> String {
        format!(
            "SHOW CREATE {} {}.{}",
            self.kind.show().0,
            ident(&self.database),
            ident(&self.name)
        )
    }

    /// `DROP <kind> IF EXISTS db.name`.
    pub(crate) fn drop_sql(&self) -> String {
        format!(
            "DROP {} IF EXISTS {}.{}",
            self.kind.show().0,
            ident(&self.database),
            ident(&self.name)
        )
    }
}

/// Which kinds of objects a copy migrates (all by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKinds(Vec<ObjectKind>);

impl Default for ObjectKinds {
    fn default() -> Self {
        Self(ObjectKind::ALL.to_vec())
    }
}

impl ObjectKinds {
    /// No objects other than tables.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Every kind but `skipped`.
    pub fn without(skipped: &[ObjectKind]) -> Self {
        Self(
            ObjectKind::ALL
                .into_iter()
                .filter(|k| !skipped.contains(k))
                .collect(),
        )
    }

    /// Whether `kind` is migrated.
    pub fn contains(&self, kind: ObjectKind) -> bool {
        self.0.contains(&kind)
    }
}

/// Every object of the selected databases that `filter` selects, whatever
/// `ObjectKinds` says (a caller reports the kinds it leaves out), in creation order:
/// sequences, functions, procedures, views, triggers (of selected tables, in their
/// action order), events. A trigger is selected with its table.
///
/// # Errors
/// [`SchemaError::Unsupported`] for a package (Oracle mode), which is not migrated;
/// database errors.
pub(crate) async fn list_objects(
    pool: &MySqlPool,
    filter: &Filter,
    tables: &[Table],
) -> Result<Vec<SchemaObject>, SchemaError> {
    let mut found: Vec<(ObjectKind, String, String, Option<String>)> = Vec::new();
    let rows = sqlx::query(
        "SELECT TABLE_TYPE, TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_TYPE IN ('SEQUENCE', 'VIEW') ORDER BY BINARY TABLE_SCHEMA, BINARY TABLE_NAME",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let kind = if text(row, 0)? == "SEQUENCE" {
            ObjectKind::Sequence
        } else {
            ObjectKind::View
        };
        found.push((kind, text(row, 1)?, text(row, 2)?, None));
    }
    let rows = sqlx::query(
        "SELECT ROUTINE_TYPE, ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES \
         ORDER BY BINARY ROUTINE_SCHEMA, BINARY ROUTINE_NAME",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let (kind, database, name) = (text(row, 0)?, text(row, 1)?, text(row, 2)?);
        let kind = match kind.as_str() {
            "FUNCTION" => ObjectKind::Function,
            "PROCEDURE" => ObjectKind::Procedure,
            other => {
                if filter.selects(&database, &name) {
                    return Err(SchemaError::Unsupported {
                        kind: "routine",
                        object: format!("{database}.{name}"),
                        reason: format!("it is a {other}, which the copy does not migrate"),
                    });
                }
                continue;
            }
        };
        found.push((kind, database, name, None));
    }
    let rows = sqlx::query(
        "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE \
         FROM information_schema.TRIGGERS ORDER BY BINARY EVENT_OBJECT_SCHEMA, \
         BINARY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        let (database, name) = (text(row, 0)?, text(row, 1)?);
        let (table_db, table) = (text(row, 2)?, text(row, 3)?);
        if tables
            .iter()
            .any(|t| t.database == table_db && t.name == table)
            && !filter
                .exclude
                .iter()
                .any(|p| crate::catalog::schema::glob(p, &format!("{database}.{name}")))
        {
            found.push((ObjectKind::Trigger, database, name, Some(table)));
        }
    }
    let rows = sqlx::query(
        "SELECT EVENT_SCHEMA, EVENT_NAME FROM information_schema.EVENTS \
         ORDER BY BINARY EVENT_SCHEMA, BINARY EVENT_NAME",
    )
    .fetch_all(pool)
    .await?;
    for row in &rows {
        found.push((ObjectKind::Event, text(row, 0)?, text(row, 1)?, None));
    }
    // `SHOW CREATE` names the object's database only when it is not the current one;
    // every definition is read (here and on the target) from within its database, so
    // that both sides print it alike.
    let mut conn = pool.acquire().await?.detach();
    let mut current: Option<String> = None;
    let mut objects = Vec::new();
    for (kind, database, name, table) in found {
        if kind != ObjectKind::Trigger && !filter.selects(&database, &name) {
            continue;
        }
        let mut object = SchemaObject {
            kind,
            database,
            name,
            table,
            create: String::new(),
            sql_mode: None,
            collation_connection: None,
            time_zone: None,
        };
        if current.as_deref() != Some(object.database.as_str()) {
            conn.execute(format!("USE {}", ident(&object.database)).as_str())
                .await?;
            current = Some(object.database.clone());
        }
        let sql = object.show_sql();
        let row = conn.fetch_one(sql.as_str()).await?;
        object.create = text(&row, kind.show().1)?;
        let column = |i| text(&row, i).map(Some);
        match kind {
            ObjectKind::Sequence => {}
            ObjectKind::View => object.collation_connection = column(3)?,
            ObjectKind::Function | ObjectKind::Procedure | ObjectKind::Trigger => {
                object.sql_mode = column(1)?;
                object.collation_connection = column(4)?;
            }
            ObjectKind::Event => {
                object.sql_mode = column(1)?;
                object.time_zone = column(2)?;
                object.collation_connection = column(5)?;
            }
        }
        objects.push(object);
    }
    objects.sort_by_key(|o| o.kind);
    Ok(objects)
}

/// What the target holds of `object`: its definition as `SHOW CREATE` prints it from
/// within the object's database (which becomes `conn`'s current one), or `None` when it
/// does not exist.
///
/// # Errors
/// Database errors other than "does not exist".
pub(crate) async fn target_definition(
    conn: &mut MySqlConnection,
    object: &SchemaObject,
) -> Result<Option<String>, sqlx::Error> {
    use crate::adapter::codes;
    let sql = format!("USE {};\n{}", ident(&object.database), object.show_sql());
    let result = conn.fetch_all(sql.as_str()).await;
    match result {
        Ok(rows) => rows
            .first()
            .map(|r| text(r, object.kind.show().1))
            .transpose(),
        Err(e)
            if crate::adapter::classify::server_error(&e).is_some_and(|d| {
                matches!(
                    d.number(),
                    codes::ER_NO_SUCH_TABLE
                        | codes::ER_BAD_DB_ERROR
                        | codes::ER_TRG_DOES_NOT_EXIST
                        | codes::ER_SP_DOES_NOT_EXIST
                        | codes::ER_EVENT_DOES_NOT_EXIST
                )
            }) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Creates `object` on `conn` (a connection of its own: its session is changed) in the
/// object's database, under the SQL mode, connection collation and time zone it was
/// defined with.
///
/// # Errors
/// The server's refusal.
pub(crate) async fn create(
    conn: &mut MySqlConnection,
    object: &SchemaObject,
) -> Result<(), sqlx::Error> {
    // Names of modes, collations and zones: no quote or backslash to escape in
    // practice; a quote is doubled (which every SQL mode reads the same way).
    let quoted = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let mut sql = format!("USE {};\n", ident(&object.database));
    if let Some(mode) = &object.sql_mode {
        sql.push_str(&format!("SET SESSION sql_mode = {};\n", quoted(mode)));
    }
    if let Some(collation) = &object.collation_connection {
        sql.push_str(&format!(
            "SET SESSION collation_connection = {};\n",
            quoted(collation)
        ));
    }
    if let Some(zone) = &object.time_zone {
        sql.push_str(&format!("SET SESSION time_zone = {};\n", quoted(zone)));
    }
    sql.push_str(&object.create);
    crate::catalog::collation::execute_ddl(conn, &sql).await?;
    Ok(())
}

/// A definition with its whitespace runs collapsed, for comparing two servers'.
pub(crate) fn normalize(create: &str) -> String {
    create.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the target's definition `target` is the source's `source`, as it was
/// created: the same text, or the same with MySQL's collations named as MariaDB names
/// them ([`for_mariadb`](crate::catalog::collation::for_mariadb)).
pub(crate) fn same_definition(target: &str, source: &str) -> bool {
    let target = normalize(target);
    target == normalize(source)
        || crate::catalog::collation::for_mariadb(source).is_some_and(|m| target == normalize(&m))
}

/// The source's next value of a sequence (`next_not_cached_value`, as a dump keeps it).
///
/// # Errors
/// Database errors.
pub(crate) async fn sequence_next(
    pool: &MySqlPool,
    object: &SchemaObject,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "SELECT next_not_cached_value FROM {}.{}",
        ident(&object.database),
        ident(&object.name)
    );
    let row = sqlx::query(&sql).fetch_one(pool).await?;
    row.try_get(0)
}
