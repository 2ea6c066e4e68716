//! Comparing a copied table with its source.

use sqlx::Row;
use sqlx::mysql::MySqlPool;

use crate::catalog::schema::Table;

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
    /// the same `VERSION()`; a copy chooses it when they do.
    ChecksumTable,
    /// [`table_checksum`]: sums of an MD5 of each row's values, unambiguously encoded,
    /// comparable between any versions; a copy chooses it when the versions differ.
    RowText,
}

/// Row count and an order-independent checksum of every row of `table`, comparable
/// between servers of any versions.
///
/// Each row is hashed with MD5 over an unambiguous encoding of its values: per column,
/// `N` for NULL, else `V`, the value's length in bytes, `:` and the value's bytes (as
/// [`Column::select_expr`](crate::catalog::schema::Column::select_expr) reads it exactly), so a
/// NULL moved to another column, values swapped between columns or a value changed in
/// any type changes the row's hash. The table's checksum is the sums of the two 64-bit
/// halves of the rows' hashes (exact decimal sums, so no difference cancels out
/// modulo 2^32 as a sum of CRC32s could).
///
/// # Errors
/// The query's failure.
pub async fn table_checksum(pool: &MySqlPool, table: &Table) -> Result<(i64, String), sqlx::Error> {
    let encoded: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let value = format!("CAST({} AS BINARY)", c.select_expr());
            format!("IF({value} IS NULL, 'N', CONCAT('V', LENGTH({value}), ':', {value}))")
        })
        .collect();
    let half = |from: u8| format!("CAST(CONV(SUBSTRING(h, {from}, 16), 16, 10) AS UNSIGNED)");
    let sql = format!(
        "SELECT COUNT(*), CAST(CONCAT(COALESCE(SUM({}), 0), ':', COALESCE(SUM({}), 0)) AS CHAR) \
         FROM (SELECT MD5(CONCAT({})) AS h FROM {}) AS rows_hashed",
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
