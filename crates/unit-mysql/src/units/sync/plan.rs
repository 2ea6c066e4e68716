//! The statements that apply row changes to a target table, built from the target's
//! description of the table and the binlog's row images: pure functions, shared by
//! the serial apply, the parallel workers and the sequence and cascade paths, and
//! unit-tested against the exact SQL they produce (`plan/tests.rs`).
//!
//! Every value is written as a literal of its column's type ([`literal`]); rows are
//! found by their key (or, for a table without one, by every column's stored value).

use super::literal;
use super::stream::{RowImage, RowsKind};
use super::value::{ValueError, matches_stored};
use crate::catalog::schema::{Table, ident};

/// `INSERT`s (or, `replace`, `REPLACE`s) of row images, as few as the packet limit
/// allows.
pub(super) fn insert_statements(
    table: &Table,
    images: &[&RowImage],
    replace: bool,
    max_packet: usize,
) -> Result<Vec<String>, ValueError> {
    let mut statements = Vec::new();
    let (mut start, mut size) = (0, images.len());
    while start < images.len() {
        let end = (start + size).min(images.len());
        let sql = insert_sql(table, &images[start..end], replace)?;
        if end - start > 1 && sql.len().saturating_add(1024) > max_packet {
            size = (end - start) / 2;
            continue;
        }
        statements.push(sql);
        start = end;
    }
    Ok(statements)
}

/// `DELETE`s of the rows of `table` (which has a key) with the before images
/// `images`, by key, as few as the packet limit allows; each must delete all its rows
/// unless `safe`.
pub(super) fn delete_statements(
    table: &Table,
    images: &[&RowImage],
    safe: bool,
    max_packet: usize,
) -> Result<Vec<RowStatement>, ValueError> {
    let columns: Vec<String> = table
        .key
        .iter()
        .map(|&i| ident(&table.columns[i].name))
        .collect();
    let mut keys = Vec::with_capacity(images.len());
    for image in images {
        let values: Vec<String> = key_literals(table, image)
            .map(|kv| kv.map(|(_, v)| v))
            .collect::<Result<_, _>>()?;
        keys.push(format!("({})", values.join(", ")));
    }
    let head = format!(
        "DELETE FROM {} WHERE ({}) IN (",
        table.qualified(),
        columns.join(", ")
    );
    let mut statements = Vec::new();
    let mut sql = head.clone();
    let mut n = 0u64;
    for key in keys {
        if n > 0 && sql.len() + key.len() + 1024 > max_packet {
            sql.push(')');
            statements.push(RowStatement {
                sql: std::mem::replace(&mut sql, head.clone()),
                expect: (!safe).then_some(("delete", n)),
            });
            n = 0;
        }
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&key);
        n += 1;
    }
    if n > 0 {
        sql.push(')');
        statements.push(RowStatement {
            sql,
            expect: (!safe).then_some(("delete", n)),
        });
    }
    Ok(statements)
}

/// A row statement, and how many rows it must match.
pub(super) struct RowStatement {
    pub(super) sql: String,
    /// `Some((verb, n))`: the statement (a `delete` or an `update`) must match `n`
    /// rows.
    pub(super) expect: Option<(&'static str, u64)>,
}

impl RowStatement {
    pub(super) fn any(sql: String) -> Self {
        Self { sql, expect: None }
    }
}

/// The statements that apply a delete or an update of one row of `table` (without
/// cascades): by key, the row must be there unless `safe` (then an update deletes the
/// row under the old key and replaces the after image).
pub(super) fn change_statements(
    table: &Table,
    kind: RowsKind,
    before: Option<&RowImage>,
    after: Option<&RowImage>,
    safe: bool,
) -> Result<Vec<RowStatement>, ValueError> {
    let Some(before) = before else {
        return Ok(Vec::new());
    };
    let cond = key_condition(table, before)?;
    let missing = |verb: &'static str| (!safe).then_some((verb, 1));
    Ok(match (kind, after) {
        (RowsKind::Delete, _) => vec![RowStatement {
            sql: format!("DELETE FROM {} WHERE {cond} LIMIT 1", table.qualified()),
            expect: missing("delete"),
        }],
        // Rows matched (the driver asks for found rows), not changed.
        (RowsKind::Update, Some(after)) if !safe => vec![RowStatement {
            sql: update_sql(table, after, &cond)?,
            expect: missing("update"),
        }],
        (RowsKind::Update, Some(after)) => {
            let mut statements = Vec::with_capacity(2);
            if key_condition(table, after)? != cond {
                statements.push(RowStatement::any(format!(
                    "DELETE FROM {} WHERE {cond} LIMIT 1",
                    table.qualified()
                )));
            }
            statements.push(RowStatement::any(insert_sql(table, &[after], true)?));
            statements
        }
        _ => Vec::new(),
    })
}

/// `UPDATE` of the row `cond` selects to the after image.
pub(super) fn update_sql(
    table: &Table,
    after: &RowImage,
    cond: &str,
) -> Result<String, ValueError> {
    let mut sets = Vec::new();
    for i in table.written() {
        let column = &table.columns[i];
        sets.push(format!(
            "{} = {}",
            ident(&column.name),
            literal(column, after.get(i).and_then(Option::as_ref), false)?
        ));
    }
    Ok(format!(
        "UPDATE {} SET {} WHERE {cond} LIMIT 1",
        table.qualified(),
        sets.join(", ")
    ))
}

/// `INSERT` (or, idempotently, `REPLACE`) of row images.
pub(super) fn insert_sql(
    table: &Table,
    images: &[&RowImage],
    replace: bool,
) -> Result<String, ValueError> {
    let written = table.written();
    let columns: Vec<String> = written
        .iter()
        .map(|&i| ident(&table.columns[i].name))
        .collect();
    let mut rows = Vec::with_capacity(images.len());
    for image in images {
        let mut values = Vec::with_capacity(written.len());
        for &i in &written {
            values.push(literal(
                &table.columns[i],
                image.get(i).and_then(Option::as_ref),
                false,
            )?);
        }
        rows.push(format!("({})", values.join(", ")));
    }
    Ok(format!(
        "{} INTO {} ({}) VALUES {}",
        if replace { "REPLACE" } else { "INSERT" },
        table.qualified(),
        columns.join(", "),
        rows.join(", ")
    ))
}

/// `k1 = v1 AND k2 = v2` of a row image's key; for a table without a key, every
/// column's stored value (`LIMIT 1` then picks one of rows that are exact duplicates).
pub(super) fn key_condition(table: &Table, image: &RowImage) -> Result<String, ValueError> {
    if !table.has_key() {
        let parts = table
            .written()
            .into_iter()
            .map(|i| matches_stored(&table.columns[i], image.get(i).and_then(Option::as_ref)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(parts.join(" AND "));
    }
    let parts: Vec<String> = key_literals(table, image)
        .map(|kv| kv.map(|(column, value)| format!("{column} = {value}")))
        .collect::<Result<_, _>>()?;
    Ok(parts.join(" AND "))
}

/// Each key column of `table` (quoted) with its value in `image` as a literal that
/// compares as the key does.
pub(super) fn key_literals<'a>(
    table: &'a Table,
    image: &'a RowImage,
) -> impl Iterator<Item = Result<(String, String), ValueError>> + 'a {
    table.key.iter().map(move |&i| {
        let column = &table.columns[i];
        let value = literal(column, image.get(i).and_then(Option::as_ref), true)?;
        Ok((ident(&column.name), value))
    })
}

#[cfg(test)]
mod tests;
