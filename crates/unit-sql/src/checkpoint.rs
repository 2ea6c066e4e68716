//! The checkpoint store of a copy: a row per key range ("part") of each copied table,
//! moved in the same target transaction as the rows it covers, so that a pause, a
//! kill or a crash continues exactly after the last committed chunk.
//!
//! # Invariant
//! A chunk's rows and [`CheckpointStore::commit_chunk`] commit together or not at all:
//! the caller runs both on one connection inside one transaction. Then the recorded
//! `last_key` is the last key whose row is on the target, and the recorded counts are
//! those of the rows committed.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run(mut conn: sqlx::PgConnection) -> Result<(), sqlx::Error> {
//! use sqlx::Connection;
//! use unit_sql::{CheckpointStore, Chunk};
//!
//! let store = CheckpointStore::<sqlx::Postgres>::new("unit_checkpoint", "nightly");
//! store.create(&mut conn).await?;
//! let parts = store.plan(&mut conn, "public", "orders", &[(None, None)]).await?;
//! let mut tx = conn.begin().await?;
//! // ... write the chunk's rows with `tx` ...
//! store
//!     .commit_chunk(&mut tx, &Chunk::new("public", "orders", parts[0].part).after("42").counts(100, 4096))
//!     .await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```

use std::marker::PhantomData;

use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Row, Type};

/// How a database spells the store's statements. Implemented for `sqlx::MySql`
/// (feature `mysql`) and `sqlx::Postgres` (feature `postgres`); an adapter of another
/// database implements it for its sqlx driver.
pub trait Dialect: Database {
    /// The `n`-th (1-based) statement placeholder: `?` or `$n`.
    fn placeholder(n: usize) -> String;

    /// `name` quoted as an identifier.
    fn ident(name: &str) -> String;

    /// The statements creating the store's schema and `table` (qualified) when missing.
    fn create(schema: &str, table: &str) -> Vec<String>;

    /// An `INSERT` of one part's row (columns `task, db, tbl, part, last_key,
    /// rows_copied, bytes_copied, done`) that, where the row exists, keeps its
    /// `last_key` when the new one is NULL, adds the counts, and sets `done`.
    fn upsert(table: &str) -> String;

    /// `column` read as text the driver decodes into a `String` (MySQL hands a column
    /// of a binary collation out as bytes).
    fn as_text(column: &str) -> String;

    /// An `INSERT` of `rows` new part rows (columns `task, db, tbl, part, lo, hi`) that
    /// leaves rows already there alone.
    fn insert_new(table: &str, rows: usize) -> String;
}

/// One part's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartCheckpoint {
    /// The part's index within its table (0 for a table copied in one range).
    pub part: i32,
    /// The range's lower bound (inclusive) as text, `None` when open.
    pub lo: Option<String>,
    /// The range's upper bound (exclusive) as text, `None` when open.
    pub hi: Option<String>,
    /// The key of the last row committed, as the adapter encoded it.
    pub last_key: Option<String>,
    /// Rows committed.
    pub rows: i64,
    /// Value bytes committed.
    pub bytes: i64,
    /// The part is finished.
    pub done: bool,
}

/// A committed chunk of one part: what [`CheckpointStore::commit_chunk`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    database: &'a str,
    table: &'a str,
    part: i32,
    last_key: Option<&'a str>,
    rows: i64,
    bytes: i64,
    done: bool,
}

impl<'a> Chunk<'a> {
    /// A chunk of part `part` of `database.table`, with no rows yet.
    pub fn new(database: &'a str, table: &'a str, part: i32) -> Self {
        Self {
            database,
            table,
            part,
            last_key: None,
            rows: 0,
            bytes: 0,
            done: false,
        }
    }

    /// The key of the chunk's last row (kept as it was when `None`).
    #[must_use]
    pub fn after(mut self, last_key: &'a str) -> Self {
        self.last_key = Some(last_key);
        self
    }

    /// The chunk's rows and value bytes, added to the part's counts.
    #[must_use]
    pub fn counts(mut self, rows: i64, bytes: i64) -> Self {
        self.rows = rows;
        self.bytes = bytes;
        self
    }

    /// The chunk is the part's last.
    #[must_use]
    pub fn finished(mut self) -> Self {
        self.done = true;
        self
    }
}

/// The checkpoints of one task in `<schema>.copy_checkpoint`.
#[derive(Debug, Clone)]
pub struct CheckpointStore<DB: Dialect> {
    schema: String,
    table: String,
    task: String,
    _db: PhantomData<fn() -> DB>,
}

impl<DB> CheckpointStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    /// The checkpoints of task `task`, kept in `schema` (a database on MySQL).
    pub fn new(schema: &str, task: &str) -> Self {
        Self {
            schema: schema.to_owned(),
            table: format!("{}.{}", DB::ident(schema), DB::ident("copy_checkpoint")),
            task: task.to_owned(),
            _db: PhantomData,
        }
    }

    /// The store's table, qualified and quoted.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The task's name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Creates the schema and the table where missing.
    ///
    /// # Errors
    /// The database's refusal.
    pub async fn create(&self, conn: &mut DB::Connection) -> Result<(), sqlx::Error> {
        for sql in DB::create(&self.schema, &self.table) {
            sqlx::query::<DB>(&sql).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// The recorded parts of `database.table`, by index; empty on the table's first run.
    ///
    /// # Errors
    /// The database's refusal.
    pub async fn parts(
        &self,
        conn: &mut DB::Connection,
        database: &str,
        table: &str,
    ) -> Result<Vec<PartCheckpoint>, sqlx::Error> {
        let sql = format!(
            "SELECT part, lo, hi, last_key, rows_copied, bytes_copied, done FROM {} \
             WHERE task = {} AND db = {} AND tbl = {} ORDER BY part",
            self.table,
            DB::placeholder(1),
            DB::placeholder(2),
            DB::placeholder(3)
        );
        let rows = sqlx::query::<DB>(&sql)
            .bind(self.task.as_str())
            .bind(database)
            .bind(table)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(|row| Self::part_at(row, 0)).collect()
    }

    /// The parts of `database.table`: those recorded, or on the table's first run the
    /// ranges `spans` (bounds as text), recorded before anything is copied so that
    /// every later run continues the same parts. When two runs plan at once, both
    /// follow the plan recorded first.
    ///
    /// # Errors
    /// The database's refusal.
    pub async fn plan(
        &self,
        conn: &mut DB::Connection,
        database: &str,
        table: &str,
        spans: &[(Option<String>, Option<String>)],
    ) -> Result<Vec<PartCheckpoint>, sqlx::Error> {
        let recorded = self.parts(conn, database, table).await?;
        if !recorded.is_empty() || spans.is_empty() {
            return Ok(recorded);
        }
        let sql = DB::insert_new(&self.table, spans.len());
        let mut insert = sqlx::query::<DB>(&sql);
        for (index, (lo, hi)) in (0i32..).zip(spans) {
            insert = insert
                .bind(self.task.as_str())
                .bind(database)
                .bind(table)
                .bind(index)
                .bind(lo.clone())
                .bind(hi.clone());
        }
        insert.execute(&mut *conn).await?;
        self.parts(conn, database, table).await
    }

    /// Records `chunk` in the caller's open transaction, which holds the chunk's rows.
    ///
    /// # Errors
    /// The database's refusal; the caller rolls the transaction back.
    pub async fn commit_chunk(
        &self,
        tx: &mut DB::Connection,
        chunk: &Chunk<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query::<DB>(&DB::upsert(&self.table))
            .bind(self.task.as_str())
            .bind(chunk.database)
            .bind(chunk.table)
            .bind(chunk.part)
            .bind(chunk.last_key.map(str::to_owned))
            .bind(chunk.rows)
            .bind(chunk.bytes)
            .bind(chunk.done)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Every part the task has recorded, with its table: `(database, table, part)`, by
    /// table and part.
    ///
    /// # Errors
    /// The database's refusal.
    pub async fn task_parts(
        &self,
        conn: &mut DB::Connection,
    ) -> Result<Vec<(String, String, PartCheckpoint)>, sqlx::Error> {
        let sql = format!(
            "SELECT {}, {}, part, lo, hi, last_key, rows_copied, bytes_copied, done FROM {} \
             WHERE task = {} ORDER BY db, tbl, part",
            DB::as_text("db"),
            DB::as_text("tbl"),
            self.table,
            DB::placeholder(1)
        );
        let rows = sqlx::query::<DB>(&sql)
            .bind(self.task.as_str())
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, Self::part_at(row, 2)?)))
            .collect()
    }

    /// The part read from `row`'s columns `at..`: `part, lo, hi, last_key,
    /// rows_copied, bytes_copied, done`.
    fn part_at(row: &DB::Row, at: usize) -> Result<PartCheckpoint, sqlx::Error> {
        Ok(PartCheckpoint {
            part: row.try_get(at)?,
            lo: row.try_get(at + 1)?,
            hi: row.try_get(at + 2)?,
            last_key: row.try_get(at + 3)?,
            rows: row.try_get(at + 4)?,
            bytes: row.try_get(at + 5)?,
            done: row.try_get(at + 6)?,
        })
    }

    /// Whether the task has recorded nothing yet (the answer of
    /// [`Unit::is_fresh_task`](unit_core::Unit::is_fresh_task)). The table must exist
    /// ([`create`](Self::create) it in `init`): a missing table is an error here.
    ///
    /// # Errors
    /// The database's refusal.
    pub async fn is_fresh_task(&self, conn: &mut DB::Connection) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE task = {}",
            self.table,
            DB::placeholder(1)
        );
        let row = sqlx::query::<DB>(&sql)
            .bind(self.task.as_str())
            .fetch_one(&mut *conn)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(count == 0)
    }
}

/// The columns of the store's table, the same on every database but for their types:
/// of the task's name, of a table's names, of a range's bounds, of a key, of `done`.
#[cfg_attr(not(any(feature = "mysql", feature = "postgres")), allow(dead_code))]
fn columns(task: &str, name: &str, bound: &str, key: &str, done: &str) -> String {
    format!(
        "task {task} NOT NULL, db {name} NOT NULL, tbl {name} NOT NULL, part INT NOT NULL DEFAULT 0, \
         lo {bound} NULL, hi {bound} NULL, last_key {key} NULL, rows_copied BIGINT NOT NULL DEFAULT 0, \
         bytes_copied BIGINT NOT NULL DEFAULT 0, done {done} NOT NULL DEFAULT {}, \
         PRIMARY KEY (task, db, tbl, part)",
        if done == "BOOLEAN" { "FALSE" } else { "0" }
    )
}

/// The rows of an insert of new parts, `(p, p, p, p, p, p), ...` with the dialect's
/// placeholders.
#[cfg_attr(not(any(feature = "mysql", feature = "postgres")), allow(dead_code))]
fn new_part_rows<DB: Dialect>(rows: usize) -> String {
    (0..rows)
        .map(|r| {
            let row = (1..=6)
                .map(|c| DB::placeholder(r * 6 + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(feature = "mysql")]
impl Dialect for sqlx::MySql {
    fn placeholder(_: usize) -> String {
        "?".to_owned()
    }

    fn ident(name: &str) -> String {
        format!("`{}`", name.replace('`', "``"))
    }

    fn create(schema: &str, table: &str) -> Vec<String> {
        // Names are kept exactly (compared byte for byte, as a server with
        // lower_case_table_names=0 compares them); keys and bounds are ASCII.
        const ASCII: &str = "CHARACTER SET ascii COLLATE ascii_general_ci";
        vec![
            format!("CREATE DATABASE IF NOT EXISTS {}", Self::ident(schema)),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                columns(
                    "VARCHAR(128)",
                    "VARCHAR(64)",
                    &format!("VARCHAR(40) {ASCII}"),
                    &format!("LONGTEXT {ASCII}"),
                    "TINYINT(1)"
                )
            ),
        ]
    }

    fn upsert(table: &str) -> String {
        format!(
            "INSERT INTO {table} (task, db, tbl, part, last_key, rows_copied, bytes_copied, done) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             last_key = COALESCE(VALUES(last_key), last_key), \
             rows_copied = rows_copied + VALUES(rows_copied), \
             bytes_copied = bytes_copied + VALUES(bytes_copied), done = VALUES(done)"
        )
    }

    fn as_text(column: &str) -> String {
        format!("CONVERT({column} USING utf8mb4)")
    }

    fn insert_new(table: &str, rows: usize) -> String {
        // A duplicate leaves the row alone (and nothing else is ignored: the values
        // are plain text and numbers).
        format!(
            "INSERT INTO {table} (task, db, tbl, part, lo, hi) VALUES {} \
             ON DUPLICATE KEY UPDATE task = task",
            new_part_rows::<Self>(rows)
        )
    }
}

#[cfg(feature = "postgres")]
impl Dialect for sqlx::Postgres {
    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn ident(name: &str) -> String {
        format!("\"{}\"", name.replace('"', "\"\""))
    }

    fn create(schema: &str, table: &str) -> Vec<String> {
        vec![
            format!("CREATE SCHEMA IF NOT EXISTS {}", Self::ident(schema)),
            format!(
                "CREATE TABLE IF NOT EXISTS {table} ({})",
                columns("TEXT", "TEXT", "TEXT", "TEXT", "BOOLEAN")
            ),
        ]
    }

    fn upsert(table: &str) -> String {
        format!(
            "INSERT INTO {table} AS c (task, db, tbl, part, last_key, rows_copied, bytes_copied, done) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (task, db, tbl, part) DO UPDATE SET \
             last_key = COALESCE(EXCLUDED.last_key, c.last_key), \
             rows_copied = c.rows_copied + EXCLUDED.rows_copied, \
             bytes_copied = c.bytes_copied + EXCLUDED.bytes_copied, done = EXCLUDED.done"
        )
    }

    fn as_text(column: &str) -> String {
        column.to_owned()
    }

    fn insert_new(table: &str, rows: usize) -> String {
        format!(
            "INSERT INTO {table} (task, db, tbl, part, lo, hi) VALUES {} ON CONFLICT DO NOTHING",
            new_part_rows::<Self>(rows)
        )
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_placeholders_are_numbered_across_rows() {
        let sql = <sqlx::Postgres as super::Dialect>::insert_new("\"s\".\"t\"", 2);
        assert!(
            sql.contains("($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"),
            "{sql}"
        );
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn the_mysql_table_is_the_copy_units_layout() {
        let sql = <sqlx::MySql as super::Dialect>::create(
            "unit_checkpoint",
            "`unit_checkpoint`.`copy_checkpoint`",
        );
        assert!(
            sql[1].contains("lo VARCHAR(40) CHARACTER SET ascii COLLATE ascii_general_ci NULL"),
            "{}",
            sql[1]
        );
        assert!(sql[1].contains("db VARCHAR(64) NOT NULL"), "{}", sql[1]);
        assert!(
            sql[1].contains("done TINYINT(1) NOT NULL DEFAULT 0"),
            "{}",
            sql[1]
        );
    }
}
