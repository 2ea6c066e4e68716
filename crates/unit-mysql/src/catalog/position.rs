//! Positions in a source's binlog: file and offset, and the GTID set executed.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use sqlx::{Executor, MySqlPool, Row};
use tokio_util::sync::CancellationToken;
use unit_core::ErrScope;

use crate::adapter::cancel::cancellable;
use crate::adapter::classify::Operation;

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
pub(crate) struct MariaGtidSet(BTreeMap<u32, (u32, u64)>);

impl MariaGtidSet {
    /// Parses `0-1-100,1-2-5` (empty for no transaction yet).
    ///
    /// # Errors
    /// A part that is not `domain-server-sequence`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
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
    pub(crate) fn record(&mut self, domain: u32, server: u32, seq: u64) {
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

/// A source's UUID, a tag (MySQL 8.4) and its transaction intervals `[start, end)`.
pub(crate) type SourceIntervals = ([u8; 16], Option<String>, Vec<(u64, u64)>);

/// MySQL's GTID set: per source UUID (and tag, MySQL 8.4's `uuid:tag:n` GTIDs), the
/// intervals of transaction numbers executed
/// (`3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7:nightly:1-3,...`). Keys are `uuid` or
/// `uuid:tag`, lower case: each is an origin of its own, numbered from 1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet(BTreeMap<String, Vec<(u64, u64)>>);

impl MysqlGtidSet {
    /// Parses `@@gtid_executed` (white space, as MySQL prints it, is ignored). After a
    /// UUID, a part that is not a number or interval is a tag: the intervals that
    /// follow it are that tag's (`uuid:1-5:tag:1-3`).
    ///
    /// # Errors
    /// A part that is not `uuid[:interval|:tag]...`, or a tag that is not 1 to 32
    /// letters, digits and `_`, starting with a letter or `_`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut set = Self::default();
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let mut fields = part.split(':');
            let uuid = fields.next().unwrap_or_default().to_ascii_lowercase();
            if uuid_bytes(&uuid).is_none() {
                return Err(format!("bad MySQL GTID set part {part:?}"));
            }
            let mut origin = uuid.clone();
            for field in fields {
                if field.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    if !is_gtid_tag(field) {
                        return Err(format!("bad GTID tag {field:?} in {part:?}"));
                    }
                    origin = format!("{uuid}:{}", field.to_ascii_lowercase());
                    continue;
                }
                let (start, end) = field.split_once('-').unwrap_or((field, field));
                match (start.parse::<u64>(), end.parse::<u64>()) {
                    (Ok(a), Ok(b)) if a >= 1 && a <= b => set.fill(&origin, a, b),
                    _ => return Err(format!("bad GTID interval {field:?} in {part:?}")),
                }
            }
        }
        Ok(set)
    }

    /// Records transaction `uuid:gno`.
    pub fn add(&mut self, uuid: &str, gno: u64) {
        self.fill(uuid, gno, gno);
    }

    /// Records the transactions `start..=end` of `uuid`, merging touching intervals.
    fn fill(&mut self, uuid: &str, start: u64, end: u64) {
        let intervals = self.0.entry(uuid.to_ascii_lowercase()).or_default();
        intervals.push((start, end));
        intervals.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(intervals.len());
        for &(a, b) in intervals.iter() {
            match merged.last_mut() {
                Some((_, last)) if a <= last.saturating_add(1) => *last = (*last).max(b),
                _ => merged.push((a, b)),
            }
        }
        *intervals = merged;
    }

    /// Each origin's UUID (16 bytes), tag and intervals as `[start, end)`, as the
    /// `COM_BINLOG_DUMP_GTID` request carries them.
    pub fn intervals(&self) -> Vec<SourceIntervals> {
        self.0
            .iter()
            .filter_map(|(origin, iv)| {
                let (uuid, tag) = match origin.split_once(':') {
                    Some((uuid, tag)) => (uuid, Some(tag.to_owned())),
                    None => (origin.as_str(), None),
                };
                Some((
                    uuid_bytes(uuid)?,
                    tag,
                    iv.iter().map(|&(a, b)| (a, b + 1)).collect(),
                ))
            })
            .collect()
    }
}

/// Whether `tag` is a GTID tag as MySQL takes one: 1 to 32 characters, letters, digits
/// and `_`, the first not a digit.
fn is_gtid_tag(tag: &str) -> bool {
    (1..=32).contains(&tag.len())
        && tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for MysqlGtidSet {
    /// As MySQL prints it: one part per UUID, its untagged intervals first, then each
    /// tag with its own (keys sort that way: `uuid` before `uuid:tag`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut current: Option<&str> = None;
        for (origin, intervals) in &self.0 {
            let (uuid, tag) = match origin.split_once(':') {
                Some((uuid, tag)) => (uuid, Some(tag)),
                None => (origin.as_str(), None),
            };
            if current != Some(uuid) {
                if current.is_some() {
                    f.write_str(",")?;
                }
                f.write_str(uuid)?;
                current = Some(uuid);
            }
            if let Some(tag) = tag {
                write!(f, ":{tag}")?;
            }
            for &(a, b) in intervals {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

/// The 16 bytes of a UUID written with or without dashes.
pub(crate) fn uuid_bytes(uuid: &str) -> Option<[u8; 16]> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A UUID's text form.
pub(crate) fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The GTID state replication keeps: MariaDB's, MySQL's, or none (a set that could
/// not be read, which then stays empty rather than wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GtidState {
    /// MariaDB's per-domain state.
    Maria(MariaGtidSet),
    /// MySQL's executed set.
    Mysql(MysqlGtidSet),
    /// Not tracked.
    Untracked,
}

/// One transaction's GTID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gtid {
    /// MariaDB's `domain-server-sequence`.
    Maria {
        /// Replication domain.
        domain: u32,
        /// Originating server.
        server: u32,
        /// Sequence number.
        seq: u64,
    },
    /// MySQL's `uuid:gno`, or `uuid:tag:gno`.
    Mysql {
        /// The originating server's UUID.
        uuid: [u8; 16],
        /// The transaction's tag (MySQL 8.4+), lower case: its numbers count apart.
        tag: Option<String>,
        /// The transaction number.
        gno: u64,
    },
}

impl Gtid {
    /// Where its sequence numbers count from: MariaDB's replication domain (its number),
    /// MySQL's source UUID. Within one origin, every server of a replication topology
    /// holds the transactions in the order of their numbers.
    pub(crate) fn origin(&self) -> String {
        match self {
            Self::Maria { domain, .. } => domain.to_string(),
            Self::Mysql { uuid, tag, .. } => match tag {
                Some(tag) => format!("{}:{tag}", uuid_text(uuid)),
                None => uuid_text(uuid),
            },
        }
    }

    /// Its number within its [`origin`](Self::origin).
    pub(crate) fn seq(&self) -> u64 {
        match self {
            Self::Maria { seq, .. } => *seq,
            Self::Mysql { gno, .. } => *gno,
        }
    }
}

impl GtidState {
    /// Whether the transaction numbered `seq` of `origin` ([`Gtid::origin`]) is in the
    /// state; `None` when the state is not tracked.
    pub(crate) fn contains(&self, origin: &str, seq: u64) -> Option<bool> {
        match self {
            Self::Maria(set) => {
                let domain: u32 = origin.parse().ok()?;
                Some(set.0.get(&domain).is_some_and(|&(_, last)| seq <= last))
            }
            Self::Mysql(set) => Some(
                set.0
                    .get(&origin.to_ascii_lowercase())
                    .is_some_and(|iv| iv.iter().any(|&(a, b)| a <= seq && seq <= b)),
            ),
            Self::Untracked => None,
        }
    }

    /// Whether every transaction of `other` is in the state; `None` when either is
    /// not tracked or they are of different kinds.
    pub(crate) fn covers(&self, other: &GtidState) -> Option<bool> {
        match (self, other) {
            (Self::Maria(_), Self::Maria(theirs)) => {
                Some(theirs.0.iter().all(|(domain, &(_, seq))| {
                    self.contains(&domain.to_string(), seq) == Some(true)
                }))
            }
            (Self::Mysql(ours), Self::Mysql(theirs)) => Some(theirs.0.iter().all(|(uuid, iv)| {
                iv.iter().all(|&(a, b)| {
                    ours.0
                        .get(uuid)
                        .is_some_and(|mine| mine.iter().any(|&(c, d)| c <= a && b <= d))
                })
            })),
            _ => None,
        }
    }

    /// The state a recorded set text stands for, on a MariaDB server or not.
    pub(crate) fn parse(text: &str, mariadb: bool) -> Self {
        let parsed = if mariadb {
            MariaGtidSet::parse(text).map(Self::Maria)
        } else {
            MysqlGtidSet::parse(text).map(Self::Mysql)
        };
        parsed.unwrap_or(Self::Untracked)
    }

    /// Records that `gtid` was executed.
    pub(crate) fn record(&mut self, gtid: &Gtid) {
        match (self, gtid) {
            (
                Self::Maria(set),
                Gtid::Maria {
                    domain,
                    server,
                    seq,
                },
            ) => {
                set.record(*domain, *server, *seq);
            }
            (Self::Mysql(set), gtid @ Gtid::Mysql { gno, .. }) => set.add(&gtid.origin(), *gno),
            _ => {}
        }
    }
}

impl fmt::Display for GtidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Maria(set) => set.fmt(f),
            Self::Mysql(set) => set.fmt(f),
            Self::Untracked => Ok(()),
        }
    }
}

/// Whether the server is MariaDB.
///
/// # Errors
/// The query's error.
pub(crate) async fn is_mariadb(pool: &MySqlPool) -> Result<bool, sqlx::Error> {
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(pool)
        .await?;
    Ok(version.to_ascii_lowercase().contains("mariadb"))
}

/// The source's current position: `SHOW MASTER STATUS` (`SHOW BINARY LOG STATUS` on
/// MySQL 8.4) and its executed GTID set.
/// Returns `None` when binary logging is off.
///
/// # Errors
/// The queries' errors.
pub(crate) async fn master_position(
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
pub(crate) async fn master_position_on(
    conn: &mut sqlx::MySqlConnection,
    mariadb: bool,
) -> Result<Option<BinlogPosition>, sqlx::Error> {
    // MySQL 8.4 knows only `SHOW BINARY LOG STATUS`; MariaDB and older MySQL only
    // `SHOW MASTER STATUS`.
    let rows = match conn.fetch_all("SHOW MASTER STATUS").await {
        Err(e)
            if crate::adapter::classify::server_error(&e).is_some_and(|d| d.number() == 1064) =>
        {
            conn.fetch_all("SHOW BINARY LOG STATUS").await?
        }
        other => other?,
    };
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let file = crate::catalog::schema::text(row, 0)?;
    let pos: u64 = match row.try_get::<u64, _>(1) {
        Ok(p) => p,
        Err(_) => crate::catalog::schema::text(row, 1)?.parse().unwrap_or(0),
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

/// The source's current binlog position (`None` when binary logging is off).
///
/// # Errors
/// The query's failure, as the copy reports it.
pub(crate) async fn source_position(
    source: &MySqlPool,
    mariadb: bool,
    cancel: &CancellationToken,
) -> Result<Option<BinlogPosition>, crate::error::Error> {
    cancellable(cancel, master_position(source, mariadb))
        .await
        .map_err(|e| {
            crate::error::stmt_err(
                ErrScope::Upstream,
                Operation::Query("SHOW MASTER STATUS"),
                e,
            )
        })
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
    fn mysql_gtid_sets_merge_and_round_trip() {
        let a = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let mut set =
            MysqlGtidSet::parse(&format!("{a}:1-5:7,\n{}:3", a.replace('3', "4"))).expect("parse");
        assert_eq!(
            set.to_string(),
            format!("{a}:1-5:7,{}:3", a.replace('3', "4"))
        );
        set.add(a, 6);
        assert_eq!(
            set.to_string(),
            format!("{a}:1-7,{}:3", a.replace('3', "4"))
        );
        set.add(a, 9);
        assert_eq!(set.intervals()[0].2, vec![(1, 8), (9, 10)]);
        assert_eq!(uuid_text(&uuid_bytes(a).expect("uuid")), a);
        assert!(MysqlGtidSet::parse("nope:1-2").is_err());
        assert!(MysqlGtidSet::parse(&format!("{a}:5-2")).is_err());
        assert_eq!(MysqlGtidSet::parse("").expect("empty").to_string(), "");
    }

    /// MySQL 8.4's tagged GTIDs: each `uuid:tag` counts on its own, printed after the
    /// UUID's untagged intervals, as MySQL prints `@@gtid_executed`.
    #[test]
    fn tagged_mysql_gtid_sets_count_each_tag_apart() {
        let a = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let b = a.replace('3', "4");
        let mut set =
            MysqlGtidSet::parse(&format!("{a}:1-5:Nightly:1-2:4,{b}:_x:3")).expect("parse");
        assert_eq!(set.to_string(), format!("{a}:1-5:nightly:1-2:4,{b}:_x:3"));
        let tagged = Gtid::Mysql {
            uuid: uuid_bytes(a).expect("uuid"),
            tag: Some("nightly".to_owned()),
            gno: 3,
        };
        assert_eq!(tagged.origin(), format!("{a}:nightly"));
        let mut state = GtidState::Mysql(set.clone());
        assert_eq!(state.contains(&tagged.origin(), 3), Some(false));
        // Number 3 untagged is in the set; the tag's number 3 is not the same transaction.
        assert_eq!(state.contains(a, 3), Some(true));
        state.record(&tagged);
        assert_eq!(state.contains(&tagged.origin(), 3), Some(true));
        assert_eq!(state.to_string(), format!("{a}:1-5:nightly:1-4,{b}:_x:3"));
        set.add(a, 6);
        let intervals = set.intervals();
        assert_eq!(intervals.len(), 3);
        assert_eq!(intervals[1].1.as_deref(), Some("nightly"));
        assert_eq!(intervals[1].2, vec![(1, 3), (4, 5)]);
        assert!(MysqlGtidSet::parse(&format!("{a}:tag-with-dash:1")).is_err());
        assert!(MysqlGtidSet::parse(&format!("{a}:{}:1", "t".repeat(33))).is_err());
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
