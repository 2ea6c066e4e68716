//! Positions in a source's binlog: file and offset, and the GTID set executed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use sqlx::{Executor, MySqlPool, Row};

/// A point in the source's binlog: the next event to read is at `pos` in `file`, and
/// `gtid` is the set of transactions executed before it (MariaDB's
/// `domain-server-sequence,...`, or MySQL's `uuid:interval,...`; empty without GTIDs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinlogPosition {
    /// The binlog file, e.g. `mysql-bin.000042`.
    pub file: String,
    /// The offset in that file.
    pub pos: u64,
    /// The GTID set executed before this point.
    pub gtid: String,
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.file, self.pos)?;
        if !self.gtid.is_empty() {
            write!(f, " gtid {}", self.gtid)?;
        }
        Ok(())
    }
}

/// The number after the last `.` of a binlog file name.
fn file_index(file: &str) -> Option<u64> {
    file.rsplit_once('.')?.1.parse().ok()
}

impl BinlogPosition {
    /// Orders two positions of the same server by file, then offset (file names share
    /// their base name and differ by their numbered extension).
    pub fn compare(&self, other: &Self) -> Ordering {
        let by_file = match (file_index(&self.file), file_index(&other.file)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.file.cmp(&other.file),
        };
        by_file.then(self.pos.cmp(&other.pos))
    }
}

/// MariaDB's GTID state: per replication domain, the last server id and sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaGtidSet(BTreeMap<u32, (u32, u64)>);

impl MariaGtidSet {
    /// Parses `0-1-100,1-2-5` (empty for no transaction yet).
    ///
    /// # Errors
    /// A part that is not `domain-server-sequence`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut nums = part.split('-').map(str::parse::<u64>);
            match (nums.next(), nums.next(), nums.next(), nums.next()) {
                (Some(Ok(d)), Some(Ok(s)), Some(Ok(q)), None) => {
                    let d = u32::try_from(d).map_err(|_| format!("bad GTID {part:?}"))?;
                    let s = u32::try_from(s).map_err(|_| format!("bad GTID {part:?}"))?;
                    set.insert(d, (s, q));
                }
                _ => {
                    return Err(format!(
                        "bad MariaDB GTID {part:?} (domain-server-sequence)"
                    ));
                }
            }
        }
        Ok(Self(set))
    }

    /// Records that transaction `domain-server-seq` was executed.
    pub fn record(&mut self, domain: u32, server: u32, seq: u64) {
        self.0.insert(domain, (server, seq));
    }
}

impl fmt::Display for MariaGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (d, (s, q)) in &self.0 {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{d}-{s}-{q}")?;
        }
        Ok(())
    }
}

/// Whether the server is MariaDB.
///
/// # Errors
/// The query's error.
pub async fn is_mariadb(pool: &MySqlPool) -> Result<bool, sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(pool)
        .await?;
    Ok(version.to_ascii_lowercase().contains("mariadb"))
}

/// The source's current position: `SHOW MASTER STATUS` and its executed GTID set.
/// Returns `None` when binary logging is off.
///
/// # Errors
/// The queries' errors.
pub async fn master_position(
    pool: &MySqlPool,
    mariadb: bool,
) -> Result<Option<BinlogPosition>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    master_position_on(&mut conn, mariadb).await
}

/// [`master_position`] on one connection (the one holding a lock, say).
///
/// # Errors
/// The queries' errors.
pub async fn master_position_on(
    conn: &mut sqlx::MySqlConnection,
    mariadb: bool,
) -> Result<Option<BinlogPosition>, sqlx::Error> {
    let rows = conn.fetch_all("SHOW MASTER STATUS").await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let file = crate::schema::text(row, 0)?;
    let pos: u64 = match row.try_get::<u64, _>(1) {
        Ok(p) => p,
        Err(_) => crate::schema::text(row, 1)?.parse().unwrap_or(0),
    };
    let gtid_sql = if mariadb {
        "SELECT CAST(@@GLOBAL.gtid_binlog_pos AS CHAR)"
    } else {
        "SELECT CAST(@@GLOBAL.gtid_executed AS CHAR)"
    };
    let gtid = conn
        .fetch_one(gtid_sql)
        .await
        .ok()
        .and_then(|row| row.try_get::<Option<String>, _>(0).ok().flatten());
    Ok(Some(BinlogPosition {
        file,
        pos,
        gtid: gtid.unwrap_or_default().replace('\n', ""),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_number_then_offset() {
        let p = |f: &str, pos| BinlogPosition {
            file: f.into(),
            pos,
            gtid: String::new(),
        };
        assert_eq!(
            p("b.000009", 900).compare(&p("b.000010", 4)),
            Ordering::Less
        );
        assert_eq!(
            p("b.000010", 5).compare(&p("b.000010", 4)),
            Ordering::Greater
        );
        assert_eq!(
            p("b.1000000", 5).compare(&p("b.999999", 4)),
            Ordering::Greater
        );
    }

    #[test]
    fn mariadb_gtid_sets_round_trip() {
        let mut set = MariaGtidSet::parse("1-2-5, 0-1-100").expect("parse");
        assert_eq!(set.to_string(), "0-1-100,1-2-5");
        set.record(0, 3, 101);
        assert_eq!(set.to_string(), "0-3-101,1-2-5");
        assert!(MariaGtidSet::parse("0-1").is_err());
        assert_eq!(MariaGtidSet::parse("").expect("empty").to_string(), "");
    }
}

/// The row a task keeps in `<checkpoint_database>.sync_checkpoint`: where replication
/// continues, and until where it replays idempotently.
///
/// The copy writes it when it starts (the position its rows are consistent with) and
/// when it ends (the end of idempotent replay, where the copy was not a snapshot);
/// the Sync unit moves it in the same target transaction as the changes it applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncCheckpoint {
    /// The next event to apply.
    pub position: BinlogPosition,
    /// Changes before this position may already be in the target (the copy read the
    /// source while it changed): they are applied idempotently ("safe mode").
    pub safe_until: Option<BinlogPosition>,
    /// How the copy made its rows consistent: `flush`, `lock`, `none`, or `resumed`
    /// (a copy resumed after its snapshot was lost), or `incremental` (no copy).
    pub consistency: String,
    /// The copy has finished; replication may start.
    pub copy_done: bool,
    /// A DDL statement starting at this offset of `position.file` was being applied
    /// when the unit stopped: applying it again may find it already applied.
    pub ddl_pending: Option<u64>,
}

/// The name of the checkpoint table in `database`.
pub(crate) fn checkpoint_table(database: &str) -> String {
    format!("{}.`sync_checkpoint`", crate::schema::ident(database))
}

/// `CREATE TABLE IF NOT EXISTS` for the checkpoint table in `database`.
pub(crate) fn create_checkpoint_table(database: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (task VARCHAR(128) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY, \
         binlog_name VARCHAR(512) NOT NULL, binlog_pos BIGINT UNSIGNED NOT NULL, gtid LONGTEXT NOT NULL, \
         safe_until_name VARCHAR(512) NULL, safe_until_pos BIGINT UNSIGNED NULL, safe_until_gtid LONGTEXT NULL, \
         consistency VARCHAR(16) NOT NULL, copy_done TINYINT(1) NOT NULL DEFAULT 0, \
         ddl_pending BIGINT UNSIGNED NULL, \
         updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci",
        checkpoint_table(database)
    )
}

/// Reads `task`'s checkpoint row, if there is one (and the table exists).
///
/// # Errors
/// The query's failure (other than a missing table).
pub async fn load_checkpoint(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
) -> Result<Option<SyncCheckpoint>, sqlx::Error> {
    let sql = format!(
        "SELECT binlog_name, binlog_pos, gtid, safe_until_name, safe_until_pos, safe_until_gtid, \
         consistency, copy_done, ddl_pending FROM {} WHERE task = ?",
        checkpoint_table(database)
    );
    let row = match sqlx::query(&sql).bind(task).fetch_optional(conn).await {
        Ok(row) => row,
        Err(e)
            if crate::server_error(&e)
                .is_some_and(|d| d.number() == crate::codes::ER_NO_SUCH_TABLE) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let safe_name: Option<String> = row.try_get(3)?;
    let safe_pos: Option<u64> = row.try_get(4)?;
    let safe_gtid: Option<String> = row.try_get(5)?;
    Ok(Some(SyncCheckpoint {
        position: BinlogPosition {
            file: row.try_get(0)?,
            pos: row.try_get(1)?,
            gtid: row.try_get(2)?,
        },
        safe_until: match (safe_name, safe_pos) {
            (Some(file), Some(pos)) => Some(BinlogPosition {
                file,
                pos,
                gtid: safe_gtid.unwrap_or_default(),
            }),
            _ => None,
        },
        consistency: row.try_get(6)?,
        copy_done: row.try_get::<i8, _>(7)? != 0,
        ddl_pending: row.try_get(8)?,
    }))
}

/// Writes `task`'s whole checkpoint row (inserting it or replacing it).
///
/// # Errors
/// The statement's failure.
pub async fn store_checkpoint(
    conn: impl sqlx::Executor<'_, Database = sqlx::MySql>,
    database: &str,
    task: &str,
    cp: &SyncCheckpoint,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "REPLACE INTO {} (task, binlog_name, binlog_pos, gtid, safe_until_name, safe_until_pos, \
         safe_until_gtid, consistency, copy_done, ddl_pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        checkpoint_table(database)
    );
    let safe = cp.safe_until.as_ref();
    sqlx::query(&sql)
        .bind(task)
        .bind(&cp.position.file)
        .bind(cp.position.pos)
        .bind(&cp.position.gtid)
        .bind(safe.map(|s| s.file.as_str()))
        .bind(safe.map(|s| s.pos))
        .bind(safe.map(|s| s.gtid.as_str()))
        .bind(&cp.consistency)
        .bind(cp.copy_done)
        .bind(cp.ddl_pending)
        .execute(conn)
        .await?;
    Ok(())
}
