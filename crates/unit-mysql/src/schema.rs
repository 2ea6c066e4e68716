//! What to copy: tables selected by patterns, their columns, keys and definitions.

use std::fmt::Write as _;

use sqlx::{MySqlPool, Row};

/// A column of a copied table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// `information_schema.COLUMNS.DATA_TYPE`, lower case (`int`, `varchar`, ...).
    pub data_type: String,
    /// The collation of a character column.
    pub collation: Option<String>,
}

impl Column {
    /// How to select the column so that its text form round-trips exactly: a FLOAT is
    /// printed with only 6 significant digits, so it is read widened to DOUBLE (whose
    /// shortest form is exact, and which rounds back to the same FLOAT on insert).
    pub fn select_expr(&self) -> String {
        match self.data_type.as_str() {
            "float" => format!("({} + 0e0)", ident(&self.name)),
            _ => ident(&self.name),
        }
    }

    /// Whether the column holds integers (of any width, signed or not).
    pub fn is_integer(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
        )
    }

    /// Whether values of the column are written as plain numbers in SQL.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "tinyint"
                | "smallint"
                | "mediumint"
                | "int"
                | "bigint"
                | "decimal"
                | "float"
                | "double"
                | "year"
        )
    }
}

/// A table to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The database (schema) name.
    pub database: String,
    /// The table name.
    pub name: String,
    /// Every column, in order.
    pub columns: Vec<Column>,
    /// Indices into `columns` of the primary key, or of a unique key on NOT NULL columns.
    pub key: Vec<usize>,
    /// `SHOW CREATE TABLE` output.
    pub create: String,
    /// The server's estimate of the table's size in bytes.
    pub estimated_bytes: u64,
    /// The server's estimate of the table's row count.
    pub estimated_rows: u64,
}

/// A selected table as listed by [`list_tables`], before it is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTable {
    /// The database (schema) name.
    pub database: String,
    /// The table name.
    pub name: String,
    /// The server's estimate of the table's size in bytes.
    pub estimated_bytes: u64,
    /// The server's estimate of the table's row count.
    pub estimated_rows: u64,
}

/// Quotes an identifier with backticks.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl Table {
    /// `` `db`.`table` ``
    pub fn qualified(&self) -> String {
        format!("{}.{}", ident(&self.database), ident(&self.name))
    }

    /// `db.table`, for messages and patterns.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }

    /// The comma-separated, quoted column list.
    pub fn column_list(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&ident(&c.name));
        }
        out
    }

    /// The comma-separated select list that reads every column exactly.
    pub fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(Column::select_expr)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The comma-separated, quoted key column list.
    pub fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|&i| ident(&self.columns[i].name))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `WHERE` predicate selecting the rows whose key sorts after `key` (one raw
    /// text-protocol value per key column, in key order).
    ///
    /// The predicate is spelled so that the server reads a range of the key's index:
    /// `k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND k2 > v2))` for a two-column key. A row
    /// constructor `(k1, k2) > (v1, v2)` would mean the same, but MariaDB evaluates it
    /// against every row of the index, which makes each chunk cost as much as the rows
    /// before it.
    ///
    /// ```
    /// # use unit_mysql::schema::{Column, Table};
    /// let col = |name: &str| Column {
    ///     name: name.into(),
    ///     data_type: "int".into(),
    ///     collation: None,
    /// };
    /// let table = Table {
    ///     database: "shop".into(),
    ///     name: "items".into(),
    ///     columns: vec![col("order_id"), col("line"), col("qty")],
    ///     key: vec![0, 1],
    ///     create: String::new(),
    ///     estimated_bytes: 0,
    ///     estimated_rows: 0,
    /// };
    /// assert_eq!(
    ///     table.after_key(&[b"7".to_vec(), b"2".to_vec()]),
    ///     "`order_id` >= 7 AND (`order_id` > 7 OR (`order_id` = 7 AND `line` > 2))"
    /// );
    /// ```
    pub fn after_key(&self, key: &[Vec<u8>]) -> String {
        let parts: Vec<(String, String)> = self
            .key
            .iter()
            .zip(key)
            .map(|(&i, v)| {
                let column = &self.columns[i];
                (ident(&column.name), key_literal(column, v))
            })
            .collect();
        let Some(((first, first_value), _)) = parts.split_first() else {
            return "TRUE".to_owned();
        };
        // Innermost first: `kn > vn`, then `k(n-1) > v(n-1) OR (k(n-1) = v(n-1) AND ...)`.
        let mut rest = String::new();
        for (column, value) in parts.iter().rev() {
            rest = if rest.is_empty() {
                format!("{column} > {value}")
            } else {
                format!("{column} > {value} OR ({column} = {value} AND {rest})")
            };
        }
        if parts.len() == 1 {
            rest
        } else {
            format!("{first} >= {first_value} AND ({rest})")
        }
    }
}

/// Include and exclude patterns over `database.table`, with `*` (any run of
/// characters) and `?` (one character).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Databases to copy; empty means every non-system database.
    pub databases: Vec<String>,
    /// `db.table` patterns to include; empty means every table of the databases.
    pub tables: Vec<String>,
    /// `db.table` patterns to leave out.
    pub exclude: Vec<String>,
}

/// Databases never copied.
pub const SYSTEM_DATABASES: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

impl Filter {
    /// Whether `db.table` is selected.
    pub fn selects(&self, database: &str, table: &str) -> bool {
        let name = format!("{database}.{table}");
        let db_ok = if self.databases.is_empty() {
            !SYSTEM_DATABASES.contains(&database)
        } else {
            self.databases.iter().any(|d| glob(d, database))
        };
        db_ok
            && (self.tables.is_empty() || self.tables.iter().any(|p| glob(p, &name)))
            && !self.exclude.iter().any(|p| glob(p, &name))
    }
}

/// Matches `text` against a pattern with `*` and `?`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Why a table cannot be copied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// Reading the schema failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// The table has neither a primary key nor a unique key on NOT NULL columns, so it
    /// cannot be copied in key order with exactly-once checkpoints.
    #[error(
        "table {0} has no primary key and no unique key on NOT NULL columns; add one, or exclude the table"
    )]
    NoKey(String),
}

fn text(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    // information_schema columns may come back as binary strings.
    let bytes: Vec<u8> = row.try_get(i)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Lists the tables of `pool`'s server that `filter` selects, with their columns, key
/// and definition, ordered by database and name.
///
/// # Errors
/// [`SchemaError::NoKey`] for a selected table without a usable key; database errors.
pub async fn discover(pool: &MySqlPool, filter: &Filter) -> Result<Vec<Table>, SchemaError> {
    let mut tables = Vec::new();
    for listed in list_tables(pool, filter).await? {
        tables.push(describe(pool, listed).await?);
    }
    Ok(tables)
}

/// Every base table `filter` selects, with the server's size estimates.
///
/// # Errors
/// Database errors.
pub async fn list_tables(
    pool: &MySqlPool,
    filter: &Filter,
) -> Result<Vec<ListedTable>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, CAST(COALESCE(DATA_LENGTH, 0) AS UNSIGNED), \
         CAST(COALESCE(TABLE_ROWS, 0) AS UNSIGNED) FROM information_schema.TABLES \
         WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
    )
    .fetch_all(pool)
    .await?;
    let mut tables = Vec::new();
    for row in rows {
        let (database, name) = (text(&row, 0)?, text(&row, 1)?);
        if filter.selects(&database, &name) {
            tables.push(ListedTable {
                database,
                name,
                estimated_bytes: row.try_get(2)?,
                estimated_rows: row.try_get(3)?,
            });
        }
    }
    Ok(tables)
}

/// Reads one table's columns, key and definition.
///
/// # Errors
/// [`SchemaError::NoKey`] when the table has no usable key; database errors.
pub async fn describe(pool: &MySqlPool, listed: ListedTable) -> Result<Table, SchemaError> {
    let ListedTable {
        database,
        name,
        estimated_bytes,
        estimated_rows,
    } = listed;
    let rows = sqlx::query(
        "SELECT COLUMN_NAME, DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(&database)
    .bind(&name)
    .fetch_all(pool)
    .await?;
    let mut columns = Vec::new();
    for row in &rows {
        let collation: Option<Vec<u8>> = row.try_get(2)?;
        columns.push(Column {
            name: text(row, 0)?,
            data_type: text(row, 1)?.to_ascii_lowercase(),
            collation: collation.map(|c| String::from_utf8_lossy(&c).into_owned()),
        });
    }
    // Candidate keys: the primary key first, then unique keys whose columns are all NOT NULL.
    let rows = sqlx::query(
        "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s \
         JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
           AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
         WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0 \
         ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
    )
    .bind(&database)
    .bind(&name)
    .fetch_all(pool)
    .await?;
    let mut keys: Vec<(String, Vec<String>, bool)> = Vec::new();
    for row in &rows {
        let (index, column, nullable) = (text(row, 0)?, text(row, 1)?, text(row, 2)? == "YES");
        match keys.last_mut() {
            Some((i, cols, any_null)) if *i == index => {
                cols.push(column);
                *any_null |= nullable;
            }
            _ => keys.push((index, vec![column], nullable)),
        }
    }
    let qualified = format!("{database}.{name}");
    let key_names = keys
        .into_iter()
        .find(|(_, _, any_null)| !any_null)
        .map(|(_, cols, _)| cols)
        .ok_or_else(|| SchemaError::NoKey(qualified.clone()))?;
    let key = key_names
        .iter()
        .filter_map(|k| columns.iter().position(|c| &c.name == k))
        .collect::<Vec<_>>();
    let create_row = sqlx::query(&format!(
        "SHOW CREATE TABLE {}.{}",
        ident(&database),
        ident(&name)
    ))
    .fetch_one(pool)
    .await?;
    let create = text(&create_row, 1)?;
    Ok(Table {
        database,
        name,
        columns,
        key,
        create,
        estimated_bytes,
        estimated_rows,
    })
}

/// A SQL literal for a key value read over the text protocol, compared with the
/// column's own collation.
pub fn key_literal(column: &Column, value: &[u8]) -> String {
    let numeric = column.is_numeric()
        && !value.is_empty()
        && value
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if numeric {
        return String::from_utf8_lossy(value).into_owned();
    }
    let mut hex = String::with_capacity(value.len() * 2 + 3);
    hex.push_str("X'");
    for b in value {
        let _ = write!(hex, "{b:02X}");
    }
    hex.push('\'');
    match &column.collation {
        Some(collation) => {
            let charset = collation.split('_').next().unwrap_or("utf8mb4");
            format!("CONVERT({hex} USING {charset}) COLLATE {collation}")
        }
        None if matches!(
            column.data_type.as_str(),
            "binary" | "varbinary" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "bit"
        ) =>
        {
            hex
        }
        // Temporal and other types: compare as the column's type via an implicit cast.
        None => format!("CAST({hex} AS CHAR)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        for (p, t, want) in [
            ("shop.*", "shop.orders", true),
            ("shop.ord?rs", "shop.orders", true),
            ("*.orders", "shop.orders", true),
            ("shop.*", "shopx.orders", false),
            ("*", "", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn filter_selects() {
        let f = Filter {
            databases: vec!["shop".into()],
            tables: vec![],
            exclude: vec!["shop.tmp_*".into()],
        };
        assert!(f.selects("shop", "orders"));
        assert!(!f.selects("shop", "tmp_x"));
        assert!(!f.selects("other", "orders"));
        assert!(!Filter::default().selects("mysql", "user"));
        assert!(Filter::default().selects("app", "t"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("a`b"), "`a``b`");
    }
}
