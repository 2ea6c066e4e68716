//! Objects other than tables on the target, as the copy and the Sync unit's cutover
//! both migrate them: creating one with the source's definition (or accepting it
//! there), refusing one with another definition, finding target triggers, and the
//! report of each object.

use sqlx::mysql::{MySqlConnection, MySqlPool};
use tokio_util::sync::CancellationToken;
use tracing::info;
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::catalog::objects::{SchemaObject, create, same_definition, target_definition};
use crate::catalog::schema::text;
use crate::error::{Error, stmt_err};

/// One object other than a table (view, trigger, routine, event, sequence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReport {
    /// `view`, `trigger`, `procedure`, `function`, `event` or `sequence`.
    pub kind: &'static str,
    /// The database.
    pub database: String,
    /// The object's name.
    pub name: String,
    /// Whether the target has it with the source's definition after this run.
    pub migrated: bool,
    /// Whether its kind was left out by the configuration
    /// ([`TaskConfig::objects`](crate::units::task::TaskConfig::objects)); it is then not migrated.
    pub excluded: bool,
    /// Why it was not migrated, or how it was (e.g. a sequence's next value).
    pub note: String,
}

/// Creates `object` on the target unless it is there with the source's definition
/// (then nothing is done); refuses one there with another definition. Returns
/// whether the target's definition now equals the source's.
pub(crate) async fn ensure_object(
    conn: &mut MySqlConnection,
    object: &SchemaObject,
    cancel: &CancellationToken,
) -> Result<bool, Error> {
    let existing = target_definition(conn, object)
        .await
        .map_err(|e| down_query("SHOW CREATE", e.into()))?;
    match existing {
        Some(def) if same_definition(&def, &object.create) => return Ok(true),
        Some(_) => {
            return Err(Error::DifferentObject {
                kind: object.kind,
                object: object.display_name(),
            });
        }
        None => {}
    }
    cancellable(cancel, create(conn, object))
        .await
        .map_err(|e| stmt_err(ErrScope::Downstream, Operation::Execute(&object.create), e))?;
    let name = object.display_name();
    info!(
        kind = object.kind.as_str(),
        object = name.as_str(),
        "created"
    );
    let created = target_definition(conn, object)
        .await
        .map_err(|e| down_query("SHOW CREATE", e.into()))?;
    let same = created
        .as_deref()
        .is_some_and(|d| same_definition(d, &object.create));
    if !same {
        tracing::warn!(
            kind = object.kind.as_str(),
            object = name.as_str(),
            source = object.create.as_str(),
            target = created.as_deref().unwrap_or("(missing)"),
            "created, but the target prints another definition"
        );
    }
    Ok(same)
}

/// The triggers on the target of the tables `selected` accepts, as (trigger,
/// database, table).
pub(crate) async fn triggers_on(
    target: &MySqlPool,
    selected: impl Fn(&str, &str) -> bool,
    cancel: &CancellationToken,
) -> Result<Vec<(String, String, String)>, Error> {
    let triggers = "SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE \
                    FROM information_schema.TRIGGERS";
    let rows = cancellable(cancel, sqlx::query(triggers).fetch_all(target))
        .await
        .map_err(|e| down_query(triggers, e))?;
    let mut found = Vec::new();
    for row in &rows {
        let read = |i| text(row, i).map_err(|e| down_query(triggers, e.into()));
        let (name, db, tbl) = (read(0)?, read(1)?, read(2)?);
        if selected(&db, &tbl) {
            found.push((name, db, tbl));
        }
    }
    Ok(found)
}

pub(crate) fn up_query(sql: &str, e: StatementError) -> Error {
    stmt_err(ErrScope::Upstream, Operation::Query(sql), e)
}

pub(crate) fn down_query(sql: &str, e: StatementError) -> Error {
    stmt_err(ErrScope::Downstream, Operation::Query(sql), e)
}
