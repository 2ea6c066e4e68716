//! The session a statement in the binlog was written by: its SQL mode, character sets,
//! time zone and clock, read from the query event's status variables, so that the
//! target runs a DDL as the source's session ran it (`ADD ... DEFAULT NOW(6)` fills old
//! rows with the source's time, `REAL_AS_FLOAT` makes the same column, a latin1
//! client's `DEFAULT 'Zürich'` stays Zürich).

/// A query event's session, as far as it changes what a DDL does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StatementSession {
    /// The session's `sql_mode` bits (`None`: the event does not say).
    pub sql_mode: Option<u64>,
    /// `character_set_client`, `collation_connection` and `collation_server`, as
    /// collation ids.
    pub charset: Option<[u16; 3]>,
    /// The session's `time_zone`, when the statement used it (`SYSTEM`, `+05:00`,
    /// `Europe/Berlin`).
    pub time_zone: Option<String>,
    /// The microseconds of the statement's clock, when it read them (MySQL's
    /// `Q_MICROSECONDS`, MariaDB's `Q_HRNOW`).
    pub micros: Option<u32>,
    /// The collation (id) utf8mb4 stood for in the session (MySQL 8+'s
    /// `default_collation_for_utf8mb4`, `Q_DEFAULT_COLLATION_FOR_UTF8MB4`).
    pub utf8mb4_default: Option<u16>,
}

/// Status variable keys (MySQL's `Q_*_CODE`, MariaDB's from 128).
const SQL_MODE: u8 = 1;
const CHARSET: u8 = 4;
const TIME_ZONE: u8 = 5;
const MICROSECONDS: u8 = 13;
const MARIA_HRNOW: u8 = 128;
const DEFAULT_COLLATION_FOR_UTF8MB4: u8 = 18;

impl StatementSession {
    /// Reads the status variables of a query event (their raw bytes). A variable this
    /// reader does not know ends the walk: MySQL and MariaDB write the ones read here
    /// before any newer one.
    pub(crate) fn from_status_vars(raw: &[u8]) -> StatementSession {
        let mut session = StatementSession::default();
        let mut at = 0;
        while let Some(&key) = raw.get(at) {
            at += 1;
            let len_at = |i: usize| raw.get(i).map(|&b| usize::from(b));
            let len = match key {
                0 => Some(4),
                SQL_MODE => Some(8),
                2 => len_at(at).map(|n| n + 2),
                3 => Some(4),
                CHARSET => Some(6),
                TIME_ZONE | 6 => len_at(at).map(|n| n + 1),
                7 | 8 | DEFAULT_COLLATION_FOR_UTF8MB4 => Some(2),
                9 | 17 | 129 => Some(8),
                10 => Some(4),
                11 => len_at(at).and_then(|user| len_at(at + 1 + user).map(|host| user + host + 2)),
                12 => updated_db_names_len(&raw[at..]),
                MICROSECONDS | MARIA_HRNOW => Some(3),
                16 | 19 | 20 | 130 => Some(1),
                _ => None,
            };
            let Some(value) = len.and_then(|n| raw.get(at..at + n)) else {
                break;
            };
            at += value.len();
            match key {
                SQL_MODE => {
                    session.sql_mode = value.try_into().ok().map(u64::from_le_bytes);
                }
                CHARSET => {
                    let id = |i: usize| u16::from_le_bytes([value[i], value[i + 1]]);
                    session.charset = Some([id(0), id(2), id(4)]);
                }
                TIME_ZONE => {
                    let name = String::from_utf8_lossy(&value[1..]).into_owned();
                    session.time_zone = (!name.is_empty()).then_some(name);
                }
                DEFAULT_COLLATION_FOR_UTF8MB4 => {
                    session.utf8mb4_default = Some(u16::from_le_bytes([value[0], value[1]]));
                }
                MICROSECONDS | MARIA_HRNOW => {
                    session.micros = Some(
                        u32::from(value[0]) | u32::from(value[1]) << 8 | u32::from(value[2]) << 16,
                    );
                }
                _ => {}
            }
        }
        session
    }

    /// Whether the session had the SQL mode with this bit.
    pub(crate) fn has_mode(&self, bit: u64) -> bool {
        self.sql_mode.is_some_and(|m| m & bit != 0)
    }

    /// `ANSI_QUOTES`: `"` quotes identifiers.
    pub(crate) fn ansi_quotes(&self) -> bool {
        self.has_mode(ANSI_QUOTES)
    }

    /// The session's SQL mode as a list of names to set on the target; `mariadb` says
    /// which server wrote it (the bits above 31 differ). From a MySQL source, the
    /// combination modes (`ANSI`, `TRADITIONAL`, MySQL 5.7's `ORACLE`, ...) are left
    /// out, as their parts are set one by one (on MariaDB, `ORACLE` also chooses the
    /// parser and is kept). `NO_AUTO_CREATE_USER`, about `GRANT` only, is left out
    /// (MySQL 8 refuses it). `None` when the event does not say.
    pub(crate) fn mode_names(&self, mariadb: bool) -> Option<Vec<&'static str>> {
        let bits = self.sql_mode?;
        let mut names = Vec::new();
        for (bit, name) in SQL_MODES.iter().enumerate() {
            if bits & (1 << bit) == 0 || name.is_empty() {
                continue;
            }
            let combination = matches!(bit, 8..=12 | 16..=18 | 27);
            if (!mariadb && (combination || bit == 4)) || bit == 28 {
                continue;
            }
            names.push(*name);
        }
        let high: &[(u32, &str)] = if mariadb {
            &[
                (32, "EMPTY_STRING_IS_NULL"),
                (33, "SIMULTANEOUS_ASSIGNMENT"),
                (34, "TIME_ROUND_FRACTIONAL"),
            ]
        } else {
            &[(32, "TIME_TRUNCATE_FRACTIONAL")]
        };
        names.extend(
            high.iter()
                .filter(|(bit, _)| bits & (1 << bit) != 0)
                .map(|(_, name)| *name),
        );
        Some(names)
    }
}

/// `ANSI_QUOTES`'s bit.
pub(crate) const ANSI_QUOTES: u64 = 0x4;

/// The names of `sql_mode`'s bits 0 to 31, the same in MySQL and MariaDB (bit 4 is
/// MariaDB's `IGNORE_BAD_TABLE_OPTIONS`, unused in MySQL).
const SQL_MODES: [&str; 32] = [
    "REAL_AS_FLOAT",
    "PIPES_AS_CONCAT",
    "ANSI_QUOTES",
    "IGNORE_SPACE",
    "IGNORE_BAD_TABLE_OPTIONS",
    "ONLY_FULL_GROUP_BY",
    "NO_UNSIGNED_SUBTRACTION",
    "NO_DIR_IN_CREATE",
    "POSTGRESQL",
    "ORACLE",
    "MSSQL",
    "DB2",
    "MAXDB",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
    "NO_FIELD_OPTIONS",
    "MYSQL323",
    "MYSQL40",
    "ANSI",
    "NO_AUTO_VALUE_ON_ZERO",
    "NO_BACKSLASH_ESCAPES",
    "STRICT_TRANS_TABLES",
    "STRICT_ALL_TABLES",
    "NO_ZERO_IN_DATE",
    "NO_ZERO_DATE",
    "ALLOW_INVALID_DATES",
    "ERROR_FOR_DIVISION_BY_ZERO",
    "TRADITIONAL",
    "NO_AUTO_CREATE_USER",
    "HIGH_NOT_PRECEDENCE",
    "NO_ENGINE_SUBSTITUTION",
    "PAD_CHAR_TO_FULL_LENGTH",
];

/// The length of `Q_UPDATED_DB_NAMES`: a count, then as many NUL-terminated names
/// (none when the count is 254, "too many to list").
fn updated_db_names_len(raw: &[u8]) -> Option<usize> {
    let count = *raw.first()?;
    let mut len = 1;
    if count == 254 {
        return Some(len);
    }
    for _ in 0..count {
        let nul = raw.get(len..)?.iter().position(|&b| b == 0)?;
        len += nul + 1;
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_variables_are_read_up_to_the_first_unknown_one() {
        let mut raw = vec![0, 0, 0, 0, 0];
        raw.push(SQL_MODE);
        raw.extend_from_slice(&(0x1_0000_0007_u64).to_le_bytes());
        raw.extend_from_slice(&[6, 3, b'd', b'e', b'f']);
        raw.extend_from_slice(&[CHARSET, 8, 0, 8, 0, 45, 0]);
        raw.extend_from_slice(&[TIME_ZONE, 6, b'+', b'0', b'5', b':', b'0', b'0']);
        raw.extend_from_slice(&[12, 2, b'a', 0, b'b', b'c', 0]);
        raw.extend_from_slice(&[MARIA_HRNOW, 0x40, 0xE2, 0x01]);
        raw.extend_from_slice(&[200, 1, 2, 3]);
        let session = StatementSession::from_status_vars(&raw);
        assert_eq!(session.sql_mode, Some(0x1_0000_0007));
        assert_eq!(session.charset, Some([8, 8, 45]));
        assert_eq!(session.time_zone.as_deref(), Some("+05:00"));
        assert_eq!(session.micros, Some(123_456));
        assert!(session.ansi_quotes());
        assert_eq!(
            session.mode_names(true).unwrap(),
            [
                "REAL_AS_FLOAT",
                "PIPES_AS_CONCAT",
                "ANSI_QUOTES",
                "EMPTY_STRING_IS_NULL"
            ]
        );
        assert_eq!(
            session.mode_names(false).unwrap(),
            [
                "REAL_AS_FLOAT",
                "PIPES_AS_CONCAT",
                "ANSI_QUOTES",
                "TIME_TRUNCATE_FRACTIONAL"
            ]
        );
    }

    #[test]
    fn truncated_status_variables_end_the_walk_without_panicking() {
        for raw in [
            &[SQL_MODE, 1, 2][..],
            &[TIME_ZONE, 9, b'x'],
            &[12, 3, b'a'],
            &[11, 5],
        ] {
            assert_eq!(
                StatementSession::from_status_vars(raw),
                StatementSession::default()
            );
        }
        let combos = StatementSession {
            sql_mode: Some(1 << 18 | 1 << 27 | 1 << 28 | 1 << 21),
            ..StatementSession::default()
        };
        assert_eq!(combos.mode_names(false).unwrap(), ["STRICT_TRANS_TABLES"]);
        assert_eq!(
            combos.mode_names(true).unwrap(),
            ["ANSI", "STRICT_TRANS_TABLES", "TRADITIONAL"]
        );
    }
}
