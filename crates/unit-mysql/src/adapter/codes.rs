//! MySQL and MariaDB server error numbers, and the verdict this crate gives each.

/// Access denied to a database for a user (SQLSTATE 42000).
pub const ER_DBACCESS_DENIED_ERROR: u16 = 1044;
/// Access denied: wrong user name or password (SQLSTATE 28000).
pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;
/// A NOT NULL column was given NULL (SQLSTATE 23000).
pub const ER_BAD_NULL_ERROR: u16 = 1048;
/// Unknown database (SQLSTATE 42000).
pub const ER_BAD_DB_ERROR: u16 = 1049;
/// Table already exists (SQLSTATE 42S01).
pub const ER_TABLE_EXISTS_ERROR: u16 = 1050;
/// The server is shutting down (SQLSTATE 08S01).
pub const ER_SERVER_SHUTDOWN: u16 = 1053;
/// Unknown column (SQLSTATE 42S22).
pub const ER_BAD_FIELD_ERROR: u16 = 1054;
/// Identifier name too long (SQLSTATE 42000).
pub const ER_TOO_LONG_IDENT: u16 = 1059;
/// Duplicate entry for a unique key (SQLSTATE 23000).
pub const ER_DUP_ENTRY: u16 = 1062;
/// SQL syntax error (SQLSTATE 42000).
pub const ER_PARSE_ERROR: u16 = 1064;
/// Too many keys on a table (SQLSTATE 42000).
pub const ER_TOO_MANY_KEYS: u16 = 1069;
/// Too many connections to the server (SQLSTATE 08004).
pub const ER_CON_COUNT_ERROR: u16 = 1040;
/// Incorrect table name, e.g. too long (SQLSTATE 42000).
pub const ER_WRONG_TABLE_NAME: u16 = 1103;
/// Unknown error; TiDB reports unsupported DDL with it (SQLSTATE HY000).
pub const ER_UNKNOWN_ERROR: u16 = 1105;
/// Too many columns in a table (SQLSTATE HY000).
pub const ER_TOO_MANY_FIELDS: u16 = 1117;
/// Column count does not match value count (SQLSTATE 21S01).
pub const ER_WRONG_VALUE_COUNT_ON_ROW: u16 = 1136;
/// A table privilege is missing (SQLSTATE 42000).
pub const ER_TABLEACCESS_DENIED_ERROR: u16 = 1142;
/// A column privilege is missing (SQLSTATE 42000).
pub const ER_COLUMNACCESS_DENIED_ERROR: u16 = 1143;
/// Table does not exist (SQLSTATE 42S02).
pub const ER_NO_SUCH_TABLE: u16 = 1146;
/// Error reading a packet from the client connection (SQLSTATE 08S01).
pub const ER_NET_READ_ERROR: u16 = 1158;
/// Timeout reading a packet from the client connection (SQLSTATE 08S01).
pub const ER_NET_READ_INTERRUPTED: u16 = 1159;
/// Error writing a packet to the client connection (SQLSTATE 08S01).
pub const ER_NET_ERROR_ON_WRITE: u16 = 1160;
/// Timeout writing a packet to the client connection (SQLSTATE 08S01).
pub const ER_NET_WRITE_INTERRUPTED: u16 = 1161;
/// The user has too many connections (SQLSTATE 42000).
pub const ER_TOO_MANY_USER_CONNECTIONS: u16 = 1203;
/// Lock wait timeout exceeded (SQLSTATE HY000).
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// A global privilege such as SUPER or RELOAD is missing (SQLSTATE 42000).
pub const ER_SPECIFIC_ACCESS_DENIED_ERROR: u16 = 1227;
/// Fatal error reading the binlog on the source (SQLSTATE HY000); resumable unless
/// the binlog was purged (DM's replication messages).
pub const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;
/// Deadlock found; the transaction was rolled back (SQLSTATE 40001).
pub const ER_LOCK_DEADLOCK: u16 = 1213;
/// A numeric value is out of range for its column (SQLSTATE 22003).
pub const ER_WARN_DATA_OUT_OF_RANGE: u16 = 1264;
/// The server runs with an option that forbids the statement, e.g. `--read-only`
/// during a failover (SQLSTATE HY000).
pub const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
/// Incorrect value, e.g. a malformed date (SQLSTATE 22007).
pub const ER_TRUNCATED_WRONG_VALUE: u16 = 1292;
/// The query was interrupted, e.g. by `KILL QUERY` (SQLSTATE 70100).
pub const ER_QUERY_INTERRUPTED: u16 = 1317;
/// Incorrect value for a column in strict mode (SQLSTATE HY000 / 22007).
pub const ER_TRUNCATED_WRONG_VALUE_FOR_FIELD: u16 = 1366;
/// Data too long for a column in strict mode (SQLSTATE 22001).
pub const ER_DATA_TOO_LONG: u16 = 1406;
/// A row is referenced by a foreign key (SQLSTATE 23000).
pub const ER_ROW_IS_REFERENCED_2: u16 = 1451;
/// A foreign key references a missing row (SQLSTATE 23000).
pub const ER_NO_REFERENCED_ROW_2: u16 = 1452;
/// Access denied without a password (SQLSTATE 28000).
pub const ER_ACCESS_DENIED_NO_PASSWORD_ERROR: u16 = 1698;
/// MariaDB: the connection was killed (SQLSTATE 70100).
pub const ER_CONNECTION_KILLED: u16 = 1927;
/// MariaDB: the statement hit `max_statement_time` (SQLSTATE 70100).
pub const ER_STATEMENT_TIMEOUT: u16 = 1969;
/// MySQL: the statement hit `max_execution_time` (SQLSTATE HY000).
pub const ER_QUERY_TIMEOUT: u16 = 3024;
/// TiDB: a transaction entry is too large (SQLSTATE HY000).
pub const ER_ENTRY_TOO_LARGE: u16 = 8025;

/// Unknown character set.
pub const ER_UNKNOWN_CHARACTER_SET: u16 = 1115;
/// A collation that does not belong to the character set.
pub const ER_COLLATION_CHARSET_MISMATCH: u16 = 1253;
/// NULL supplied to a NOT NULL column.
pub const ER_WARN_NULL_TO_NOTNULL: u16 = 1263;
/// Data truncated for a column.
pub const WARN_DATA_TRUNCATED: u16 = 1265;
/// Illegal mix of two collations.
pub const ER_CANT_AGGREGATE_2COLLATIONS: u16 = 1267;
/// Illegal mix of three collations.
pub const ER_CANT_AGGREGATE_3COLLATIONS: u16 = 1270;
/// Illegal mix of collations for an operation.
pub const ER_CANT_AGGREGATE_NCOLLATIONS: u16 = 1271;
/// Unknown collation.
pub const ER_UNKNOWN_COLLATION: u16 = 1273;
/// Invalid string for the character set.
pub const ER_INVALID_CHARACTER_STRING: u16 = 1300;
/// A field has no default value.
pub const ER_NO_DEFAULT_FOR_FIELD: u16 = 1364;
/// A value is illegal for its type.
pub const ER_ILLEGAL_VALUE_FOR_TYPE: u16 = 1367;
/// Incorrect value for a function or type.
pub const ER_WRONG_VALUE_FOR_TYPE: u16 = 1411;
/// A value is not a geometry.
pub const ER_CANT_CREATE_GEOMETRY_OBJECT: u16 = 1416;
/// A stored function or trigger updates a table its statement uses.
pub const ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG: u16 = 1442;
/// The definer of a view, trigger or routine does not exist.
pub const ER_NO_SUCH_USER: u16 = 1449;
/// The target of an INSERT is not insertable (a view).
pub const ER_NON_INSERTABLE_TABLE: u16 = 1471;
/// A trigger or routine raised an error with SIGNAL.
pub const ER_SIGNAL_EXCEPTION: u16 = 1644;
/// A value is out of range for its type.
pub const ER_DATA_OUT_OF_RANGE: u16 = 1690;
/// A value was given for a generated column.
pub const ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN: u16 = 1906;
/// Invalid JSON text (MySQL).
pub const ER_INVALID_JSON_TEXT: u16 = 3140;
/// A CHECK constraint failed (MariaDB).
pub const ER_CONSTRAINT_FAILED: u16 = 4025;
/// Illegal parameter types for an operation (MariaDB; e.g. INET6 compared with INT).
pub const ER_ILLEGAL_PARAMETER_DATA_TYPES2_FOR_OPERATION: u16 = 4078;

/// A stored routine does not exist.
pub const ER_SP_DOES_NOT_EXIST: u16 = 1305;
/// A trigger does not exist.
pub const ER_TRG_DOES_NOT_EXIST: u16 = 1360;
/// An event does not exist.
pub const ER_EVENT_DOES_NOT_EXIST: u16 = 1539;

/// An unknown system variable (a MariaDB-only variable set on MySQL, say).
pub const ER_UNKNOWN_SYSTEM_VARIABLE: u16 = 1193;

/// A server error number and the verdict this crate gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The server's error number.
    pub number: u16,
    /// Its symbolic name.
    pub name: &'static str,
    /// Whether retrying (resuming) may succeed.
    pub resumable: bool,
    /// Why.
    pub reason: &'static str,
}

const fn not(number: u16, name: &'static str, reason: &'static str) -> Classified {
    Classified {
        number,
        name,
        resumable: false,
        reason,
    }
}

const fn retry(number: u16, name: &'static str, reason: &'static str) -> Classified {
    Classified {
        number,
        name,
        resumable: true,
        reason,
    }
}

const DM_DDL: &str = "DM's unsupported-DDL list: the statement is rejected the same way every time";
const DM_DML: &str = "DM's unsupported-DML list: the row is rejected the same way every time";
const CREDENTIALS: &str = "credentials or privileges are wrong; a person must fix them";
const SCHEMA: &str = "the schema does not match what the statement expects; a person must fix it";
const DATA: &str = "the data is rejected by the target; retrying sends the same data";
const LOCKS: &str = "lock contention clears once the other transaction ends";
const INTERRUPTED: &str = "the statement or connection was interrupted; a new attempt can succeed";
const BUSY: &str = "the server is overloaded or restarting; it accepts work again later";

/// Every server error number with a deliberate verdict, in ascending order.
///
/// Numbers not listed are judged by their text with DM's rules
/// ([`unit_core::explain_error`] on the Go driver's form `Error N (STATE): message`),
/// which leaves them resumable unless a DM pattern matches (for example TiDB's
/// `1105 unsupported modify column ...` or the two purged-binlog 1236 messages).
pub const CLASSIFIED: &[Classified] = &[
    retry(ER_CON_COUNT_ERROR, "ER_CON_COUNT_ERROR", BUSY),
    not(
        ER_DBACCESS_DENIED_ERROR,
        "ER_DBACCESS_DENIED_ERROR",
        CREDENTIALS,
    ),
    not(
        ER_ACCESS_DENIED_ERROR,
        "ER_ACCESS_DENIED_ERROR",
        CREDENTIALS,
    ),
    not(ER_BAD_NULL_ERROR, "ER_BAD_NULL_ERROR", DATA),
    not(
        ER_BAD_DB_ERROR,
        "ER_BAD_DB_ERROR",
        "the database does not exist; retrying will not create it",
    ),
    retry(ER_SERVER_SHUTDOWN, "ER_SERVER_SHUTDOWN", BUSY),
    not(ER_BAD_FIELD_ERROR, "ER_BAD_FIELD_ERROR", SCHEMA),
    not(ER_TOO_LONG_IDENT, "ER_TOO_LONG_IDENT", DM_DDL),
    not(ER_DUP_ENTRY, "ER_DUP_ENTRY", DM_DML),
    not(
        ER_PARSE_ERROR,
        "ER_PARSE_ERROR",
        "the statement is malformed; it fails the same way every time",
    ),
    not(ER_TOO_MANY_KEYS, "ER_TOO_MANY_KEYS", DM_DDL),
    not(ER_WRONG_TABLE_NAME, "ER_WRONG_TABLE_NAME", SCHEMA),
    not(ER_UNKNOWN_CHARACTER_SET, "ER_UNKNOWN_CHARACTER_SET", SCHEMA),
    not(ER_TOO_MANY_FIELDS, "ER_TOO_MANY_FIELDS", DM_DDL),
    not(
        ER_WRONG_VALUE_COUNT_ON_ROW,
        "ER_WRONG_VALUE_COUNT_ON_ROW",
        SCHEMA,
    ),
    not(
        ER_TABLEACCESS_DENIED_ERROR,
        "ER_TABLEACCESS_DENIED_ERROR",
        CREDENTIALS,
    ),
    not(
        ER_COLUMNACCESS_DENIED_ERROR,
        "ER_COLUMNACCESS_DENIED_ERROR",
        CREDENTIALS,
    ),
    not(ER_NO_SUCH_TABLE, "ER_NO_SUCH_TABLE", SCHEMA),
    retry(ER_NET_READ_ERROR, "ER_NET_READ_ERROR", INTERRUPTED),
    retry(
        ER_NET_READ_INTERRUPTED,
        "ER_NET_READ_INTERRUPTED",
        INTERRUPTED,
    ),
    retry(ER_NET_ERROR_ON_WRITE, "ER_NET_ERROR_ON_WRITE", INTERRUPTED),
    retry(
        ER_NET_WRITE_INTERRUPTED,
        "ER_NET_WRITE_INTERRUPTED",
        INTERRUPTED,
    ),
    retry(
        ER_TOO_MANY_USER_CONNECTIONS,
        "ER_TOO_MANY_USER_CONNECTIONS",
        BUSY,
    ),
    retry(ER_LOCK_WAIT_TIMEOUT, "ER_LOCK_WAIT_TIMEOUT", LOCKS),
    retry(
        ER_LOCK_DEADLOCK,
        "ER_LOCK_DEADLOCK",
        "one side of a deadlock was rolled back; the transaction can run again",
    ),
    not(
        ER_SPECIFIC_ACCESS_DENIED_ERROR,
        "ER_SPECIFIC_ACCESS_DENIED_ERROR",
        CREDENTIALS,
    ),
    not(
        ER_COLLATION_CHARSET_MISMATCH,
        "ER_COLLATION_CHARSET_MISMATCH",
        SCHEMA,
    ),
    not(ER_WARN_NULL_TO_NOTNULL, "ER_WARN_NULL_TO_NOTNULL", DATA),
    not(ER_WARN_DATA_OUT_OF_RANGE, "ER_WARN_DATA_OUT_OF_RANGE", DATA),
    not(WARN_DATA_TRUNCATED, "WARN_DATA_TRUNCATED", DATA),
    not(
        ER_CANT_AGGREGATE_2COLLATIONS,
        "ER_CANT_AGGREGATE_2COLLATIONS",
        SCHEMA,
    ),
    not(
        ER_CANT_AGGREGATE_3COLLATIONS,
        "ER_CANT_AGGREGATE_3COLLATIONS",
        SCHEMA,
    ),
    not(
        ER_CANT_AGGREGATE_NCOLLATIONS,
        "ER_CANT_AGGREGATE_NCOLLATIONS",
        SCHEMA,
    ),
    not(ER_UNKNOWN_COLLATION, "ER_UNKNOWN_COLLATION", SCHEMA),
    retry(
        ER_OPTION_PREVENTS_STATEMENT,
        "ER_OPTION_PREVENTS_STATEMENT",
        "the server is read-only, typically during a failover; it becomes writable again",
    ),
    not(ER_TRUNCATED_WRONG_VALUE, "ER_TRUNCATED_WRONG_VALUE", DATA),
    not(
        ER_INVALID_CHARACTER_STRING,
        "ER_INVALID_CHARACTER_STRING",
        DATA,
    ),
    retry(ER_QUERY_INTERRUPTED, "ER_QUERY_INTERRUPTED", INTERRUPTED),
    not(ER_NO_DEFAULT_FOR_FIELD, "ER_NO_DEFAULT_FOR_FIELD", DATA),
    not(
        ER_TRUNCATED_WRONG_VALUE_FOR_FIELD,
        "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD",
        DM_DML,
    ),
    not(ER_ILLEGAL_VALUE_FOR_TYPE, "ER_ILLEGAL_VALUE_FOR_TYPE", DATA),
    not(ER_DATA_TOO_LONG, "ER_DATA_TOO_LONG", DM_DML),
    not(ER_WRONG_VALUE_FOR_TYPE, "ER_WRONG_VALUE_FOR_TYPE", DATA),
    not(
        ER_CANT_CREATE_GEOMETRY_OBJECT,
        "ER_CANT_CREATE_GEOMETRY_OBJECT",
        DATA,
    ),
    not(
        ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG,
        "ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG",
        SCHEMA,
    ),
    not(ER_NO_SUCH_USER, "ER_NO_SUCH_USER", CREDENTIALS),
    not(ER_ROW_IS_REFERENCED_2, "ER_ROW_IS_REFERENCED_2", DATA),
    not(ER_NO_REFERENCED_ROW_2, "ER_NO_REFERENCED_ROW_2", DATA),
    not(ER_NON_INSERTABLE_TABLE, "ER_NON_INSERTABLE_TABLE", SCHEMA),
    not(ER_SIGNAL_EXCEPTION, "ER_SIGNAL_EXCEPTION", DATA),
    not(ER_DATA_OUT_OF_RANGE, "ER_DATA_OUT_OF_RANGE", DATA),
    not(
        ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
        "ER_ACCESS_DENIED_NO_PASSWORD_ERROR",
        CREDENTIALS,
    ),
    not(
        ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN,
        "ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN",
        SCHEMA,
    ),
    retry(ER_CONNECTION_KILLED, "ER_CONNECTION_KILLED", INTERRUPTED),
    retry(ER_STATEMENT_TIMEOUT, "ER_STATEMENT_TIMEOUT", INTERRUPTED),
    retry(ER_QUERY_TIMEOUT, "ER_QUERY_TIMEOUT", INTERRUPTED),
    not(ER_INVALID_JSON_TEXT, "ER_INVALID_JSON_TEXT", DATA),
    not(ER_CONSTRAINT_FAILED, "ER_CONSTRAINT_FAILED", DATA),
    not(
        ER_ILLEGAL_PARAMETER_DATA_TYPES2_FOR_OPERATION,
        "ER_ILLEGAL_PARAMETER_DATA_TYPES2_FOR_OPERATION",
        SCHEMA,
    ),
    not(ER_ENTRY_TOO_LARGE, "ER_ENTRY_TOO_LARGE", DM_DML),
];

/// The verdict for a server error number, if it has a deliberate one.
pub fn classified(number: u16) -> Option<&'static Classified> {
    CLASSIFIED
        .binary_search_by_key(&number, |c| c.number)
        .ok()
        .map(|i| &CLASSIFIED[i])
}
/// A value a system variable does not take (a MariaDB-only SQL mode set on MySQL, say).
pub const ER_WRONG_VALUE_FOR_VAR: u16 = 1231;
