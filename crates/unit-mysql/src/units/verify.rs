//! Comparing a migrated table with its source: which comparison the servers allow,
//! row counts and checksums on both sides, and target definitions. Used by the copy
//! (each table as it is copied) and by the Sync unit's cutover.

use sqlx::Row;
use sqlx::mysql::MySqlPool;
use tokio_util::sync::CancellationToken;
use unit_core::ErrScope;

use crate::adapter::cancel::{StatementError, cancellable};
use crate::adapter::classify::Operation;
use crate::catalog::schema::{OLD_TEMPORAL, Table, normalize_create, raw};
use crate::error::{Error, stmt_err};

/// How a copied table is compared with its source, once it is copied.
///
/// Both compare the row count (`COUNT(*)`) and a checksum of every row on each side,
/// and a difference fails the copy with code 60004, which is never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The server's `CHECKSUM TABLE`, a checksum of the rows as stored. It costs about a
    /// third of [`Verification::RowText`], but the stored form of some types changes
    /// between server versions, so it is only comparable between servers that report
    /// the same MariaDB `VERSION()`; a copy chooses it when they do.
    ChecksumTable,
    /// [`table_checksum`]: sums of a SHA-256 of each row's values, unambiguously encoded,
    /// comparable between any versions; a copy chooses it when the versions differ.
    RowText,
}

/// Row count and an order-independent checksum of every row of `table`, comparable
/// between servers of any versions.
///
/// Each row is hashed with SHA-256 (`SHA2(..., 256)`: MySQL 9.6 moved `MD5()` out of
/// the server) over an unambiguous encoding of its values: per column,
/// `N` for NULL, else `V`, the value's length in bytes, `:` and the value's bytes (as
/// [`Column::select_expr`](crate::catalog::schema::Column::select_expr) reads it exactly), so a
/// NULL moved to another column, values swapped between columns or a value changed in
/// any type changes the row's hash. The table's checksum is the sums of the first two
/// 64-bit words of the rows' hashes (exact decimal sums, so no difference cancels out
/// modulo 2^32 as a sum of CRC32s could).
///
/// # Errors
/// The query's failure.
pub async fn table_checksum(
    pool: &MySqlPool,
    table: &Table,
    across_kinds: bool,
) -> Result<(i64, String), sqlx::Error> {
    let encoded: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            // Between MySQL and MariaDB: a negative zero is `-0` on MySQL and `0` on
            // MariaDB, which keeps none, so zeros are read as `0`; and a FLOAT widened
            // to a DOUBLE prints other digits on each, so it is read as both print a
            // FLOAT (6 significant digits: weaker, so only across kinds).
            let name = crate::catalog::schema::ident(&c.name);
            let read = match c.data_type.as_str() {
                "double" if across_kinds => format!("IF({name} = 0, 0e0, {name})"),
                "float" if across_kinds => format!("IF({name} = 0, '0', CAST({name} AS CHAR))"),
                _ => c.select_expr(),
            };
            let value = format!("CAST({read} AS BINARY)");
            format!("IF({value} IS NULL, 'N', CONCAT('V', LENGTH({value}), ':', {value}))")
        })
        .collect();
    let half = |from: u8| format!("CAST(CONV(SUBSTRING(h, {from}, 16), 16, 10) AS UNSIGNED)");
    let sql = format!(
        "SELECT COUNT(*), CAST(CONCAT(COALESCE(SUM({}), 0), ':', COALESCE(SUM({}), 0)) AS CHAR) \
         FROM (SELECT SHA2(CONCAT({}), 256) AS h FROM {}) AS rows_hashed",
        half(1),
        half(17),
        encoded.join(", "),
        table.qualified()
    );
    let row = sqlx::query(&sql).fetch_one(pool).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Row count and `CHECKSUM TABLE` of `table` (see [`Verification::ChecksumTable`]).
///
/// # Errors
/// A query's failure.
pub async fn stored_checksum(
    pool: &MySqlPool,
    table: &Table,
) -> Result<(i64, String), sqlx::Error> {
    let qualified = table.qualified();
    let count = format!("SELECT COUNT(*) FROM {qualified}");
    let checksum = format!("CHECKSUM TABLE {qualified}");
    let rows: i64 = sqlx::query_scalar(&count).fetch_one(pool).await?;
    // NULL when the table is missing: never equal to a number.
    let (_, sum): (String, Option<i64>) = sqlx::query_as(&checksum).fetch_one(pool).await?;
    Ok((
        rows,
        sum.map_or_else(|| "missing".to_owned(), |s| s.to_string()),
    ))
}

/// The verification `chosen`, or, when none was, the one the servers' versions allow
/// (see [`Verification`]).
pub(crate) async fn choose_verification(
    source: &MySqlPool,
    target: &MySqlPool,
    chosen: Option<Verification>,
    cancel: &CancellationToken,
) -> Result<Verification, Error> {
    if let Some(chosen) = chosen {
        return Ok(chosen);
    }
    let (up, down) = versions(source, target, cancel).await?;
    // MySQL's CHECKSUM TABLE differs between two servers of one build holding the same
    // rows in a table with a functional index (seen on 9.7): MariaDB's only.
    let mariadb = up.to_ascii_lowercase().contains("mariadb");
    Ok(if mariadb && same_server_version(&up, &down) {
        Verification::ChecksumTable
    } else {
        Verification::RowText
    })
}

/// Whether two `VERSION()`s name the same server build. The `-log` suffix says only
/// that binary logging is on (as on every online source), which does not change how
/// `CHECKSUM TABLE` hashes a row.
fn same_server_version(a: &str, b: &str) -> bool {
    a.strip_suffix("-log").unwrap_or(a) == b.strip_suffix("-log").unwrap_or(b)
}

/// Compares `table`'s row count and checksum on both sides; `across_kinds` when one is
/// MySQL and the other MariaDB ([`same_kind`]).
///
/// # Errors
/// [`Error::Mismatch`] when they differ; a query's failure.
pub(crate) async fn verify_table(
    source: &MySqlPool,
    target: &MySqlPool,
    table: &Table,
    verification: Verification,
    across_kinds: bool,
    cancel: &CancellationToken,
) -> Result<i64, Error> {
    // MariaDB's CHECKSUM TABLE does not read VIRTUAL columns reliably, and it reads a
    // system-versioned table's history, which a copy of its current rows leaves out.
    // Nor does it hash a pre-5.6 temporal column (which a target creates in the
    // current format) as the same value stored in the current format.
    let stored = verification == Verification::ChecksumTable
        && !table.has_virtual_column()
        && !table.system_versioned
        && !table.create.contains(OLD_TEMPORAL)
        && !target_create(target, table, cancel)
            .await?
            .is_some_and(|create| create.contains(OLD_TEMPORAL));
    let across_kinds = across_kinds && !stored;
    let checksum = |pool| async move {
        if stored {
            stored_checksum(pool, table).await
        } else {
            table_checksum(pool, table, across_kinds).await
        }
    };
    let (up, down) = tokio::join!(
        cancellable(cancel, checksum(source)),
        cancellable(cancel, checksum(target)),
    );
    let up = up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query("checksum"), e))?;
    let down = down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query("checksum"), e))?;
    if up != down {
        return Err(Error::Mismatch {
            table: table.display_name(),
            source_rows: up.0,
            source_sum: up.1,
            target_rows: down.0,
            target_sum: down.1,
        });
    }
    Ok(up.0)
}

/// The target's `SHOW CREATE TABLE` of `table`, `None` when it has no such table.
pub(crate) async fn target_create(
    target: &MySqlPool,
    table: &Table,
    cancel: &CancellationToken,
) -> Result<Option<String>, Error> {
    let show = format!("SHOW CREATE TABLE {}", table.qualified());
    match cancellable(cancel, sqlx::raw_sql(&show).fetch_all(target))
        .await
        .map(|rows| rows.into_iter().next())
    {
        Ok(row) => {
            Ok(row
                .map(|row| String::from_utf8_lossy(&raw(&row, 1).unwrap_or_default()).into_owned()))
        }
        Err(StatementError::Sqlx(e)) if crate::adapter::classify::is_missing_table(&e) => Ok(None),
        Err(e) => Err(stmt_err(ErrScope::Downstream, Operation::Query(&show), e)),
    }
}

/// Refuses a target table whose definition is not the source's `table.create`
/// (a missing one too); see [`check_definition`].
#[cfg(feature = "sync")]
pub(crate) async fn same_definition(
    target: &MySqlPool,
    table: &Table,
    same_kind: bool,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let existing = target_create(target, table, cancel).await?;
    check_definition(target, existing.as_deref(), table, same_kind).await
}

/// Refuses `existing` (the target's `SHOW CREATE TABLE`, `None` when missing) unless it
/// is the source's definition of `table`: the same text; or, between a MySQL and a
/// MariaDB server (`same_kind` false), which print one table differently, the same
/// structure as the target describes it
/// ([`same_structure`](crate::catalog::schema::same_structure)). Servers of one kind
/// compare by text, whatever their versions.
pub(crate) async fn check_definition(
    target: &MySqlPool,
    existing: Option<&str>,
    table: &Table,
    same_kind: bool,
) -> Result<(), Error> {
    let different = || Error::DifferentTable {
        table: table.display_name(),
    };
    let Some(existing) = existing else {
        return Err(different());
    };
    if normalize_create(existing) == normalize_create(&table.create) {
        return Ok(());
    }
    if same_kind {
        return Err(different());
    }
    let describe = async {
        let listed = crate::catalog::schema::listed_table(target, &table.database, &table.name)
            .await
            .map_err(crate::catalog::schema::SchemaError::Sqlx)?;
        crate::catalog::schema::describe(target, listed).await
    };
    let described = describe.await.map_err(Error::from)?;
    if crate::catalog::schema::same_structure(&described, table) {
        Ok(())
    } else {
        Err(different())
    }
}

/// The `VERSION()` of the source and of the target.
async fn versions(
    source: &MySqlPool,
    target: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<(String, String), Error> {
    let version = "SELECT VERSION()";
    let (up, down) = tokio::join!(
        cancellable(
            cancel,
            sqlx::query_scalar::<_, String>(version).fetch_one(source)
        ),
        cancellable(
            cancel,
            sqlx::query_scalar::<_, String>(version).fetch_one(target)
        ),
    );
    let up = up.map_err(|e| stmt_err(ErrScope::Upstream, Operation::Query(version), e))?;
    let down = down.map_err(|e| stmt_err(ErrScope::Downstream, Operation::Query(version), e))?;
    Ok((up, down))
}

/// Whether the two servers are of one kind (both MariaDB, or both MySQL), which print
/// a table's definition alike but for what their versions change.
///
/// # Errors
/// A query's failure.
pub(crate) async fn same_kind(
    source: &MySqlPool,
    target: &MySqlPool,
    cancel: &CancellationToken,
) -> Result<bool, Error> {
    let (up, down) = versions(source, target, cancel).await?;
    let mariadb = |v: &str| v.to_ascii_lowercase().contains("mariadb");
    Ok(mariadb(&up) == mariadb(&down))
}

#[cfg(test)]
mod tests {
    use super::same_server_version;

    #[test]
    fn binary_logging_does_not_make_another_version() {
        assert!(same_server_version(
            "10.11.19-MariaDB-0+deb12u1-log",
            "10.11.19-MariaDB-0+deb12u1"
        ));
        assert!(same_server_version("8.0.36-log", "8.0.36-log"));
        assert!(!same_server_version(
            "10.11.19-MariaDB-0+deb12u1",
            "10.11.18-MariaDB-0+deb12u1"
        ));
        assert!(!same_server_version("8.0.36", "8.0.36-debug"));
    }
}
