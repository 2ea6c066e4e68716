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
    /// `information_schema.COLUMNS.COLUMN_TYPE`, lower case (`int(10) unsigned`,
    /// `enum('a','b')`, ...).
    pub column_type: String,
    /// The character set of a character column (`latin1`, `utf8mb4`, ...).
    pub charset: Option<String>,
    /// The collation of a character column.
    pub collation: Option<String>,
    /// A generated column: read and compared, never written.
    pub generated: Option<Generated>,
}

/// How a generated column is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generated {
    /// Computed when read (`VIRTUAL`); MariaDB's `CHECKSUM TABLE` does not read it
    /// reliably, so a table with one is verified by its rows' text.
    Virtual,
    /// Computed when written and stored (`STORED`, `PERSISTENT`).
    Stored,
}

/// How values of a column travel from source to target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueKind {
    /// Integers, DECIMAL, DOUBLE, YEAR: read as text, written as text, compared as
    /// numbers.
    Number,
    /// FLOAT: read widened to DOUBLE, whose shortest text is exact (a FLOAT prints
    /// with 6 significant digits), and rounds back to the same FLOAT on insert.
    Float,
    /// CHAR, VARCHAR and the TEXT types (and MariaDB's JSON): read as the bytes stored
    /// in the column's own character set (`CAST(.. AS BINARY)`), so that no value is
    /// changed by a conversion to the connection's character set and back; compared as
    /// a literal of that character set and the column's collation.
    Text,
    /// ENUM and SET: read, written and compared as their number (`col + 0`: the
    /// member's index, the set's bits), which is what they store and how the index
    /// orders them. Text would be ambiguous: an ENUM's error value (index 0) and a
    /// member `''` both print as the empty string.
    EnumOrSet,
    /// BIT: read and written as its bytes; compared as a number.
    Bit,
    /// BINARY, VARBINARY, the BLOB types and the spatial types: bytes.
    Bytes,
    /// Temporal types, UUID, INET4, INET6 and anything else: read and written as their
    /// text, compared after the server converts the text to the column's type.
    Other,
}

impl Column {
    /// A column of type `data_type` (as `information_schema` names it) with the
    /// server's default character set for a character type (`utf8mb4`).
    pub fn new(name: impl Into<String>, data_type: &str) -> Self {
        let data_type = data_type.to_ascii_lowercase();
        let mut column = Self {
            name: name.into(),
            column_type: data_type.clone(),
            data_type,
            charset: None,
            collation: None,
            generated: None,
        };
        if matches!(column.kind(), ValueKind::Text | ValueKind::EnumOrSet) {
            column.charset = Some("utf8mb4".to_owned());
            column.collation = Some("utf8mb4_general_ci".to_owned());
        }
        column
    }

    /// How the column's values travel.
    pub fn kind(&self) -> ValueKind {
        match self.data_type.as_str() {
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "decimal" | "double"
            | "year" => ValueKind::Number,
            "float" => ValueKind::Float,
            // MariaDB's JSON is a LONGTEXT; MySQL's is a type of its own (Other), which
            // refuses binary strings.
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => ValueKind::Text,
            "enum" | "set" => ValueKind::EnumOrSet,
            "bit" => ValueKind::Bit,
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" => ValueKind::Bytes,
            _ => ValueKind::Other,
        }
    }

    /// How to select the column so that its value round-trips exactly (see
    /// [`ValueKind`]).
    pub fn select_expr(&self) -> String {
        match self.kind() {
            ValueKind::Float => format!("({} + 0e0)", ident(&self.name)),
            ValueKind::Text => format!("CAST({} AS BINARY)", ident(&self.name)),
            ValueKind::EnumOrSet => format!("({} + 0)", ident(&self.name)),
            _ => ident(&self.name),
        }
    }

    /// How to select the column's value as the key's index orders it, when that
    /// differs from [`Column::select_expr`]: the number of a BIT.
    pub fn key_expr(&self) -> Option<String> {
        match self.kind() {
            ValueKind::Bit => Some(format!("({} + 0)", ident(&self.name))),
            _ => None,
        }
    }

    /// Whether a value read with [`Column::select_expr`] is written as bytes (a binary
    /// string the target stores as it is) rather than as text.
    pub fn writes_bytes(&self) -> bool {
        matches!(
            self.kind(),
            ValueKind::Text | ValueKind::Bit | ValueKind::Bytes
        )
    }

    /// Whether the column holds integers (of any width, signed or not).
    pub fn is_integer(&self) -> bool {
        matches!(
            self.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
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
    /// The storage engine (`InnoDB`, `MyISAM`, ...).
    pub engine: String,
    /// The server's estimate of the table's size in bytes.
    pub estimated_bytes: u64,
    /// The server's estimate of the table's row count.
    pub estimated_rows: u64,
    /// `WITH SYSTEM VERSIONING` (MariaDB): only its current rows are read (a plain
    /// `SELECT`), so a copy holds them and not the history, and the binlog images carry
    /// two hidden columns more (`ROW_START`, `ROW_END`). Copied only where the caller
    /// opts in (`TaskConfig::versioned_current_rows`).
    pub system_versioned: bool,
    /// MariaDB's long unique keys (a `UNIQUE` key on a TEXT or BLOB column, or any
    /// `UNIQUE ... USING HASH` outside the MEMORY engine): each keeps a hash of its
    /// columns in a hidden column that `information_schema` does not list and the
    /// binlog's row images carry after the visible columns.
    pub hidden_hashes: usize,
}

/// A selected table as listed by [`list_tables`], before it is described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedTable {
    /// The database (schema) name.
    pub database: String,
    /// The table name.
    pub name: String,
    /// `information_schema.TABLES.TABLE_TYPE`: `BASE TABLE`, or `SYSTEM VERSIONED`
    /// (MariaDB), which [`describe`] refuses.
    pub table_type: String,
    /// The storage engine.
    pub engine: String,
    /// The server's estimate of the table's size in bytes.
    pub estimated_bytes: u64,
    /// The server's estimate of the table's row count.
    pub estimated_rows: u64,
}

/// Quotes an identifier with backticks.
pub(crate) fn ident(name: &str) -> String {
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

    /// Whether the table has a VIRTUAL generated column.
    pub fn has_virtual_column(&self) -> bool {
        self.columns
            .iter()
            .any(|c| c.generated == Some(Generated::Virtual))
    }

    /// Whether the table has a usable key (the primary key, or a unique key on NOT NULL
    /// columns in an ordered index). One without is copied whole in one target
    /// transaction (a restart copies it again), and the Sync unit applies its changes
    /// by the whole row image (`LIMIT 1`, duplicates kept); it cannot be replayed
    /// idempotently, so an online migration refuses it where that would be needed (a
    /// copy without a snapshot, an engine without transactions).
    pub fn has_key(&self) -> bool {
        !self.key.is_empty()
    }

    /// Whether the storage engine commits a chunk and its checkpoint together
    /// (InnoDB and the other transactional engines); rows written to another engine
    /// stay even when their transaction is rolled back.
    pub fn is_transactional(&self) -> bool {
        matches!(
            self.engine.to_ascii_lowercase().as_str(),
            "innodb" | "rocksdb" | "tokudb" | "ndbcluster"
        )
    }

    /// Indices into `columns` of the columns a copy writes (every column but the
    /// generated ones).
    pub fn written(&self) -> Vec<usize> {
        (0..self.columns.len())
            .filter(|&i| self.columns[i].generated.is_none())
            .collect()
    }

    /// The comma-separated, quoted list of the columns a copy writes.
    pub fn column_list(&self) -> String {
        self.written()
            .into_iter()
            .map(|i| ident(&self.columns[i].name))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The comma-separated select list that reads every column exactly, followed by
    /// the key columns that compare by another form ([`Column::key_expr`]).
    pub fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(Column::select_expr)
            .chain(self.key.iter().filter_map(|&i| self.columns[i].key_expr()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// For each key column, the position in a row read with [`Table::select_list`] of
    /// the value that [`Table::after_key`] expects.
    pub fn key_positions(&self) -> Vec<usize> {
        let mut extra = self.columns.len();
        self.key
            .iter()
            .map(|&i| {
                if self.columns[i].key_expr().is_some() {
                    extra += 1;
                    extra - 1
                } else {
                    i
                }
            })
            .collect()
    }

    /// The comma-separated, quoted key column list.
    pub fn key_list(&self) -> String {
        self.key
            .iter()
            .map(|&i| ident(&self.columns[i].name))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A `WHERE` predicate selecting the rows whose key sorts after `key` in the key's
    /// index (one raw text-protocol value per key column, in key order, as read at
    /// [`Table::key_positions`]). Each value is compared in its column's own type,
    /// character set and collation (`key_literal`).
    ///
    /// The predicate is spelled so that the server reads a range of the key's index:
    /// `k1 >= v1 AND (k1 > v1 OR (k1 = v1 AND k2 > v2))` for a two-column key. A row
    /// constructor `(k1, k2) > (v1, v2)` would mean the same, but MariaDB evaluates it
    /// against every row of the index, which makes each chunk cost as much as the rows
    /// before it.
    ///
    /// ```
    /// # use unit_mysql::{Column, Table};
    /// let table = Table {
    ///     database: "shop".into(),
    ///     name: "items".into(),
    ///     columns: vec![
    ///         Column::new("order_id", "int"),
    ///         Column::new("line", "int"),
    ///         Column::new("qty", "int"),
    ///     ],
    ///     key: vec![0, 1],
    ///     create: String::new(),
    ///     engine: "InnoDB".into(),
    ///     estimated_bytes: 0,
    ///     estimated_rows: 0,
    ///     system_versioned: false,
    ///     hidden_hashes: 0,
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
        // A compound `rest` is an OR: it is parenthesised, as AND binds tighter.
        let mut rest = String::new();
        for (i, (column, value)) in parts.iter().rev().enumerate() {
            rest = match i {
                0 => format!("{column} > {value}"),
                1 => format!("{column} > {value} OR ({column} = {value} AND {rest})"),
                _ => format!("{column} > {value} OR ({column} = {value} AND ({rest}))"),
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
pub(crate) const SYSTEM_DATABASES: &[&str] =
    &["mysql", "information_schema", "performance_schema", "sys"];

impl Filter {
    /// Whether a whole database is selected (created on the target even when it holds
    /// no table): its name matches `databases` and no `tables` pattern narrows the
    /// selection to some of its tables.
    pub fn selects_database(&self, database: &str) -> bool {
        let db_ok = if self.databases.is_empty() {
            !SYSTEM_DATABASES.contains(&database)
        } else {
            self.databases.iter().any(|d| glob(d, database))
        };
        db_ok && self.tables.is_empty()
    }

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
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
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
    /// The table has no key the copy can follow in order: no primary key and no unique
    /// key on NOT NULL columns kept in an ordered index (a `UNIQUE ... USING HASH` on a
    /// long column is not ordered). `describe` no longer returns it (such a table has
    /// an empty key and is copied whole); kept for callers that refuse such tables.
    #[error(
        "table {0} has no primary key and no unique key on NOT NULL columns in an ordered index; add one, or exclude the table"
    )]
    NoKey(String),
    /// An object the copy cannot migrate exactly; nothing was copied.
    #[error("{kind} {object} cannot be copied: {reason}; exclude it to copy the rest")]
    Unsupported {
        /// What kind of object (`table`, `view`, ...).
        kind: &'static str,
        /// `db.name`
        object: String,
        /// Why.
        reason: String,
    },
}

pub(crate) fn text(row: &sqlx::mysql::MySqlRow, i: usize) -> Result<String, sqlx::Error> {
    // information_schema columns may come back as binary strings.
    let bytes: Option<Vec<u8>> = row.try_get(i)?;
    Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
}

/// Lists the tables of `pool`'s server that `filter` selects, with their columns, key
/// and definition, ordered by database and name.
///
/// # Errors
/// [`SchemaError::Unsupported`] for a table that cannot be copied exactly; database
/// errors.
pub async fn discover(pool: &MySqlPool, filter: &Filter) -> Result<Vec<Table>, SchemaError> {
    let mut tables = Vec::new();
    for listed in list_tables(pool, filter).await? {
        tables.push(describe(pool, listed).await?);
    }
    Ok(tables)
}

/// Every table `filter` selects (base tables and MariaDB's system-versioned tables),
/// with the server's size estimates. Names are compared exactly, as a server with
/// `lower_case_table_names=0` compares them: `T` and `t` are two tables.
///
/// # Errors
/// Database errors.
pub(crate) async fn list_tables(
    pool: &MySqlPool,
    filter: &Filter,
) -> Result<Vec<ListedTable>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(ENGINE, ''), \
         CAST(COALESCE(DATA_LENGTH, 0) AS UNSIGNED), CAST(COALESCE(TABLE_ROWS, 0) AS UNSIGNED) \
         FROM information_schema.TABLES \
         WHERE TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED') \
         ORDER BY BINARY TABLE_SCHEMA, BINARY TABLE_NAME",
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
                table_type: text(&row, 2)?,
                engine: text(&row, 3)?,
                estimated_bytes: row.try_get(4)?,
                estimated_rows: row.try_get(5)?,
            });
        }
    }
    Ok(tables)
}

/// `information_schema` compares names case-insensitively; this predicate (for
/// `TABLE_SCHEMA = ? AND TABLE_NAME = ?`, bound twice) keeps the server's fast lookup
/// and then compares the names exactly, so that `T` never picks up `t`'s columns.
pub(crate) const EXACT_TABLE: &str = "TABLE_SCHEMA = ? AND TABLE_NAME = ? \
     AND BINARY TABLE_SCHEMA = ? AND BINARY TABLE_NAME = ?";

/// Runs `sql`, whose condition is [`EXACT_TABLE`], for `database.name`.
async fn exact_table_rows(
    pool: &MySqlPool,
    sql: &str,
    database: &str,
    name: &str,
) -> Result<Vec<sqlx::mysql::MySqlRow>, sqlx::Error> {
    sqlx::query(sql)
        .bind(database)
        .bind(name)
        .bind(database)
        .bind(name)
        .fetch_all(pool)
        .await
}

/// `database.name` as `information_schema.TABLES` lists it (engine and type empty,
/// estimates 0, when there is no such table).
///
/// # Errors
/// Database errors.
pub(crate) async fn listed_table(
    pool: &MySqlPool,
    database: &str,
    name: &str,
) -> Result<ListedTable, sqlx::Error> {
    let sql = format!(
        "SELECT COALESCE(ENGINE, ''), TABLE_TYPE FROM information_schema.TABLES WHERE {EXACT_TABLE}"
    );
    let rows = exact_table_rows(pool, &sql, database, name).await?;
    let read = |i| rows.first().map(|row| text(row, i).unwrap_or_default());
    Ok(ListedTable {
        database: database.to_owned(),
        name: name.to_owned(),
        table_type: read(1).unwrap_or_default(),
        engine: read(0).unwrap_or_default(),
        estimated_bytes: 0,
        estimated_rows: 0,
    })
}

/// Refuses a system-versioned table unless `allowed` (the caller copies its current
/// rows only).
///
/// # Errors
/// [`SchemaError::Unsupported`] naming the table.
pub(crate) fn refuse_versioned(table: &Table, allowed: bool) -> Result<(), SchemaError> {
    if table.system_versioned && !allowed {
        return Err(SchemaError::Unsupported {
            kind: "table",
            object: table.display_name(),
            reason: "it is system-versioned (WITH SYSTEM VERSIONING), and copying its history \
                     exactly is not supported; opt in to copying its current rows only \
                     (TaskConfig::versioned_current_rows, unitctl --versioned-current-rows)"
                .to_owned(),
        });
    }
    Ok(())
}

/// Reads one table's columns, key and definition. A table without a usable key (no
/// primary key, and no unique key on NOT NULL columns in an ordered index) has an
/// empty [`Table::key`]: see [`Table::has_key`].
///
/// A system-versioned table is described with [`Table::system_versioned`] set; the
/// callers that cannot copy it refuse it ([`refuse_versioned`]).
///
/// # Errors
/// Database errors.
pub(crate) async fn describe(pool: &MySqlPool, listed: ListedTable) -> Result<Table, SchemaError> {
    let ListedTable {
        database,
        name,
        table_type,
        engine,
        estimated_bytes,
        estimated_rows,
    } = listed;
    let system_versioned = table_type == "SYSTEM VERSIONED";
    let sql = format!(
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, \
         EXTRA FROM information_schema.COLUMNS WHERE {EXACT_TABLE} ORDER BY ORDINAL_POSITION"
    );
    let rows = exact_table_rows(pool, &sql, &database, &name).await?;
    let mut columns = Vec::new();
    for row in &rows {
        let optional = |i| -> Result<Option<String>, sqlx::Error> {
            let v: Option<Vec<u8>> = row.try_get(i)?;
            Ok(v.map(|c| String::from_utf8_lossy(&c).into_owned()))
        };
        columns.push(Column {
            name: text(row, 0)?,
            data_type: text(row, 1)?.to_ascii_lowercase(),
            column_type: text(row, 2)?.to_ascii_lowercase(),
            charset: optional(3)?,
            collation: optional(4)?,
            // As both MariaDB and MySQL say it (`IS_GENERATED` is MariaDB's only;
            // MySQL's `DEFAULT_GENERATED` is an expression default, not a generated
            // column).
            generated: {
                let extra = text(row, 5)?.to_ascii_uppercase();
                if extra.contains("VIRTUAL GENERATED") {
                    Some(Generated::Virtual)
                } else if extra.contains("STORED GENERATED") {
                    Some(Generated::Stored)
                } else {
                    None
                }
            },
        });
    }
    // Candidate keys: the primary key first, then unique keys whose columns are all
    // NOT NULL, in ordered (not hash) indexes.
    let sql = format!(
        "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE, s.INDEX_TYPE \
         FROM information_schema.STATISTICS s \
         LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
           AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
           AND BINARY c.TABLE_NAME = BINARY s.TABLE_NAME AND BINARY c.TABLE_SCHEMA = BINARY s.TABLE_SCHEMA \
         WHERE {} AND s.NON_UNIQUE = 0 \
         ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
        EXACT_TABLE
            .replace("TABLE_SCHEMA", "s.TABLE_SCHEMA")
            .replace("TABLE_NAME", "s.TABLE_NAME")
    );
    let rows = exact_table_rows(pool, &sql, &database, &name).await?;
    let mut keys: Vec<(String, Vec<String>, bool)> = Vec::new();
    let mut hashed: Vec<String> = Vec::new();
    let memory = ["memory", "heap"].contains(&engine.to_ascii_lowercase().as_str());
    for row in &rows {
        let index = text(row, 0)?;
        // A MySQL functional key part has no COLUMN_NAME: a key with one is not a key
        // of the table's columns (its column parts alone need not be unique).
        let named: Option<Vec<u8>> = row.try_get(1)?;
        let column = text(row, 1)?;
        let hash = text(row, 3)? == "HASH";
        if hash && !memory && !hashed.contains(&index) {
            hashed.push(index.clone());
        }
        let unusable = named.is_none() || text(row, 2)? == "YES" || hash;
        match keys.last_mut() {
            Some((i, cols, bad)) if *i == index => {
                cols.push(column);
                *bad |= unusable;
            }
            _ => keys.push((index, vec![column], unusable)),
        }
    }
    // No usable key: an empty `key` (copied whole, replicated by the whole row).
    let key_names = keys
        .into_iter()
        .find(|(_, _, unusable)| !unusable)
        .map(|(_, cols, _)| cols)
        .unwrap_or_default();
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
        engine,
        estimated_bytes,
        estimated_rows,
        system_versioned,
        hidden_hashes: hashed.len(),
    })
}

/// A SQL literal for a key value as read at [`Table::key_positions`], of the column's
/// own type, character set and collation, so that comparing the column with it follows
/// the key's index exactly.
pub(crate) fn key_literal(column: &Column, value: &[u8]) -> String {
    let number = || {
        let text = String::from_utf8_lossy(value);
        let plain = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
        plain.then(|| text.into_owned())
    };
    let hex = hex_literal(value);
    match column.kind() {
        ValueKind::Number | ValueKind::Float | ValueKind::EnumOrSet | ValueKind::Bit => {
            number().unwrap_or(hex)
        }
        ValueKind::Text => match (&column.charset, &column.collation) {
            (Some(charset), Some(collation)) => format!("_{charset} {hex} COLLATE {collation}"),
            _ => hex,
        },
        ValueKind::Bytes => hex,
        // The connection's character set; the server converts the text to the
        // column's type (a date, a time, a UUID, an address) before comparing.
        ValueKind::Other => format!("CAST({hex} AS CHAR)"),
    }
}

/// `X'..'` of `bytes`.
pub(crate) fn hex_literal(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2 + 3);
    hex.push_str("X'");
    for b in bytes {
        let _ = write!(hex, "{b:02X}");
    }
    hex.push('\'');
    hex
}

/// Whether two servers' descriptions of a table describe the same table, where their
/// `SHOW CREATE TABLE` texts differ because the servers print them differently (MySQL
/// and MariaDB, or two versions): the same columns in the same order, each of the same
/// type (integer display widths aside, which change no value), character set and
/// collation (`utf8` and `utf8mb3` are one; a MySQL collation and its MariaDB
/// equivalent are one), generated alike; the same key and engine; the same hidden
/// hashes and system versioning. Nullability, defaults, secondary keys and foreign keys
/// are not compared.
pub(crate) fn same_structure(a: &Table, b: &Table) -> bool {
    fn column_type(c: &Column) -> String {
        let t = c.column_type.to_ascii_lowercase();
        let integer = matches!(
            c.data_type.as_str(),
            "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "year"
        );
        match (integer, t.find('('), t.find(')')) {
            (true, Some(open), Some(close)) if open < close => {
                format!("{}{}", &t[..open], &t[close + 1..])
            }
            _ => t,
        }
    }
    fn charset(c: &Column) -> Option<String> {
        c.charset.as_deref().map(|cs| match cs {
            "utf8" => "utf8mb3".to_owned(),
            other => other.to_owned(),
        })
    }
    // Named as MySQL names it: a collation one kind has under another name (either
    // way) is one definition (the check says where the two differ in padding).
    fn collation(c: &Column) -> Option<String> {
        c.collation.as_deref().map(|name| {
            if let Some((mysql, _)) = crate::catalog::collation::mysql_equivalent(name) {
                return mysql;
            }
            match name.strip_prefix("utf8_") {
                Some(rest) => format!("utf8mb3_{rest}"),
                None => name.to_owned(),
            }
        })
    }
    // MySQL's JSON is MariaDB's LONGTEXT (which MariaDB's JSON is an alias of).
    fn json_either_way(x: &Column, y: &Column) -> bool {
        let utf8mb4 = |c: &Column| c.charset.as_deref() == Some("utf8mb4");
        match (x.data_type.as_str(), y.data_type.as_str()) {
            ("json", "longtext") => utf8mb4(y),
            ("longtext", "json") => utf8mb4(x),
            _ => false,
        }
    }
    a.columns.len() == b.columns.len()
        && a.columns.iter().zip(&b.columns).all(|(x, y)| {
            x.name == y.name
                && x.generated == y.generated
                && (json_either_way(x, y)
                    || (x.data_type == y.data_type
                        && column_type(x) == column_type(y)
                        && charset(x) == charset(y)
                        && collation(x) == collation(y)))
        })
        && a.key == b.key
        && a.engine.eq_ignore_ascii_case(&b.engine)
        && a.hidden_hashes == b.hidden_hashes
        && a.system_versioned == b.system_versioned
}

/// What `SHOW CREATE TABLE` adds to a column in a pre-5.6 temporal format.
pub(crate) const OLD_TEMPORAL: &str = " /* mariadb-5.3 */";

/// Strips the parts of `SHOW CREATE TABLE` that differ between equal tables.
/// A column in a pre-5.6 temporal format (`datetime /* mariadb-5.3 */`) holds the
/// same values as one in the current format, which a target creates from the same
/// statement.
pub(crate) fn normalize_create(create: &str) -> String {
    let create = create.replace(OLD_TEMPORAL, "");
    let words: Vec<&str> = create
        .split_whitespace()
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect();
    // `CHARACTER SET cs COLLATE cs_...` says no more than `COLLATE cs_...`: MySQL
    // prints a column either way, as it was declared.
    let mut kept = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if let [w0, w1, cs, w3, collation, ..] = &words[i..] {
            if w0.eq_ignore_ascii_case("CHARACTER")
                && w1.eq_ignore_ascii_case("SET")
                && w3.eq_ignore_ascii_case("COLLATE")
                && collation
                    .strip_prefix(*cs)
                    .is_some_and(|rest| rest.starts_with('_'))
            {
                i += 3;
                continue;
            }
        }
        kept.push(words[i]);
        i += 1;
    }
    kept.join(" ")
}

/// The raw text-protocol bytes of column `i`, `None` for NULL.
pub(crate) fn raw(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<Vec<u8>> {
    use sqlx::ValueRef;
    let value = row.try_get_raw(i).ok()?;
    if value.is_null() {
        return None;
    }
    Some(row.try_get_unchecked::<Vec<u8>, _>(i).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_collation_with_or_without_its_character_set_is_one_definition() {
        let declared = "CREATE TABLE `k` (\n  `e` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL\n)";
        let implied = "CREATE TABLE `k` (\n  `e` varchar(20) COLLATE utf8mb4_bin NOT NULL\n)";
        assert_eq!(normalize_create(declared), normalize_create(implied));
        let other = "CREATE TABLE `k` (\n  `e` varchar(20) CHARACTER SET latin1 COLLATE utf8mb4_bin NOT NULL\n)";
        assert_ne!(normalize_create(other), normalize_create(implied));
    }

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
