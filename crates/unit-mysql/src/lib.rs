//! The MySQL adapter of the unit workspace: sqlx errors mapped into DM's resumability
//! rules, so that a MySQL-backed unit reports errors that DM's tooling and the
//! supervisor classify correctly.
//!
//! sqlx prints a server error as `error returned from database: 1062 (23000): ...`,
//! while DM's rules match the Go driver's `Error 1062 (23000): ...`; matching DM's text
//! patterns against sqlx's text would silently never match. This crate classifies by
//! the server's **error number** ([`explain_mysql_error`]), writes `RawCause` the way the
//! Go driver does ([`process_error`]), and falls back to DM's text rules only for
//! numbers it has no verdict for (TiDB's `1105 unsupported ...` DDL messages, the
//! purged-binlog 1236 messages).
//!
//! ```
//! use unit_core::ErrScope;
//! use unit_mysql::{Operation, explain_mysql_error, process_error};
//!
//! let err = sqlx::Error::PoolTimedOut;
//! assert!(explain_mysql_error(&err).is_resumable());
//! let pe = process_error(&err, ErrScope::Downstream, Operation::Execute("INSERT INTO t VALUES (?)"));
//! assert_eq!(pe.err_code, 10002); // bad connection: nothing was sent
//! assert!(unit_core::is_resumable_error(&pe));
//! ```
//!
//! # Retry safety
//! A lost connection also carries a [`RetrySafety`]: [`Safe`](RetrySafety::Safe) when
//! nothing was sent (connection refused, pool timeout, failure while connecting or on
//! `BEGIN`; code 10002) or [`OutcomeUnknown`](RetrySafety::OutcomeUnknown) when the
//! connection died with the statement in flight (code 10003). Retry a statement in
//! place only when it is safe, or idempotent.
//!
//! # Cancellation
//! [`cancellable`] runs a statement under a `CancellationToken`; an abandoned statement
//! is [`StatementError::Canceled`]: not resumable, and its `ProcessError` satisfies
//! [`unit_core::is_ctx_canceled_process_err`].
//!
//! # Units
//! [`CheckUnit`], [`CopyUnit`] and, with the `sync` feature (which compiles
//! `mysql_async` for the binlog stream), `SyncUnit`: together an online
//! migration (a copy consistent with a binlog position, then replication applied
//! exactly once until cutover). A user who only classifies errors leaves the feature
//! off.
//!
//! # Secrets
//! [`MySqlUrl`] masks the password in Display and Debug; every text this crate writes
//! into an error passes through [`redact`].
//!
//! # Server errors with a deliberate verdict
//!
//! | number | name | resumable | reason |
//! |---|---|---|---|
//! | 1040 | `ER_CON_COUNT_ERROR` | yes | the server is overloaded or restarting; it accepts work again later |
//! | 1044 | `ER_DBACCESS_DENIED_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1045 | `ER_ACCESS_DENIED_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1048 | `ER_BAD_NULL_ERROR` | no | the data is rejected by the target; retrying sends the same data |
//! | 1049 | `ER_BAD_DB_ERROR` | no | the database does not exist; retrying will not create it |
//! | 1053 | `ER_SERVER_SHUTDOWN` | yes | the server is overloaded or restarting; it accepts work again later |
//! | 1054 | `ER_BAD_FIELD_ERROR` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1059 | `ER_TOO_LONG_IDENT` | no | DM's unsupported-DDL list: the statement is rejected the same way every time |
//! | 1062 | `ER_DUP_ENTRY` | no | DM's unsupported-DML list: the row is rejected the same way every time |
//! | 1064 | `ER_PARSE_ERROR` | no | the statement is malformed; it fails the same way every time |
//! | 1069 | `ER_TOO_MANY_KEYS` | no | DM's unsupported-DDL list: the statement is rejected the same way every time |
//! | 1103 | `ER_WRONG_TABLE_NAME` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1115 | `ER_UNKNOWN_CHARACTER_SET` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1117 | `ER_TOO_MANY_FIELDS` | no | DM's unsupported-DDL list: the statement is rejected the same way every time |
//! | 1136 | `ER_WRONG_VALUE_COUNT_ON_ROW` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1142 | `ER_TABLEACCESS_DENIED_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1143 | `ER_COLUMNACCESS_DENIED_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1146 | `ER_NO_SUCH_TABLE` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1158 | `ER_NET_READ_ERROR` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1159 | `ER_NET_READ_INTERRUPTED` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1160 | `ER_NET_ERROR_ON_WRITE` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1161 | `ER_NET_WRITE_INTERRUPTED` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1203 | `ER_TOO_MANY_USER_CONNECTIONS` | yes | the server is overloaded or restarting; it accepts work again later |
//! | 1205 | `ER_LOCK_WAIT_TIMEOUT` | yes | lock contention clears once the other transaction ends |
//! | 1213 | `ER_LOCK_DEADLOCK` | yes | one side of a deadlock was rolled back; the transaction can run again |
//! | 1227 | `ER_SPECIFIC_ACCESS_DENIED_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1253 | `ER_COLLATION_CHARSET_MISMATCH` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1263 | `ER_WARN_NULL_TO_NOTNULL` | no | the data is rejected by the target; retrying sends the same data |
//! | 1264 | `ER_WARN_DATA_OUT_OF_RANGE` | no | the data is rejected by the target; retrying sends the same data |
//! | 1265 | `WARN_DATA_TRUNCATED` | no | the data is rejected by the target; retrying sends the same data |
//! | 1267 | `ER_CANT_AGGREGATE_2COLLATIONS` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1270 | `ER_CANT_AGGREGATE_3COLLATIONS` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1271 | `ER_CANT_AGGREGATE_NCOLLATIONS` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1273 | `ER_UNKNOWN_COLLATION` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1290 | `ER_OPTION_PREVENTS_STATEMENT` | yes | the server is read-only, typically during a failover; it becomes writable again |
//! | 1292 | `ER_TRUNCATED_WRONG_VALUE` | no | the data is rejected by the target; retrying sends the same data |
//! | 1300 | `ER_INVALID_CHARACTER_STRING` | no | the data is rejected by the target; retrying sends the same data |
//! | 1317 | `ER_QUERY_INTERRUPTED` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1364 | `ER_NO_DEFAULT_FOR_FIELD` | no | the data is rejected by the target; retrying sends the same data |
//! | 1366 | `ER_TRUNCATED_WRONG_VALUE_FOR_FIELD` | no | DM's unsupported-DML list: the row is rejected the same way every time |
//! | 1367 | `ER_ILLEGAL_VALUE_FOR_TYPE` | no | the data is rejected by the target; retrying sends the same data |
//! | 1406 | `ER_DATA_TOO_LONG` | no | DM's unsupported-DML list: the row is rejected the same way every time |
//! | 1411 | `ER_WRONG_VALUE_FOR_TYPE` | no | the data is rejected by the target; retrying sends the same data |
//! | 1416 | `ER_CANT_CREATE_GEOMETRY_OBJECT` | no | the data is rejected by the target; retrying sends the same data |
//! | 1442 | `ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1449 | `ER_NO_SUCH_USER` | no | credentials or privileges are wrong; a person must fix them |
//! | 1451 | `ER_ROW_IS_REFERENCED_2` | no | the data is rejected by the target; retrying sends the same data |
//! | 1452 | `ER_NO_REFERENCED_ROW_2` | no | the data is rejected by the target; retrying sends the same data |
//! | 1471 | `ER_NON_INSERTABLE_TABLE` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1644 | `ER_SIGNAL_EXCEPTION` | no | the data is rejected by the target; retrying sends the same data |
//! | 1690 | `ER_DATA_OUT_OF_RANGE` | no | the data is rejected by the target; retrying sends the same data |
//! | 1698 | `ER_ACCESS_DENIED_NO_PASSWORD_ERROR` | no | credentials or privileges are wrong; a person must fix them |
//! | 1906 | `ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN` | no | the schema does not match what the statement expects; a person must fix it |
//! | 1927 | `ER_CONNECTION_KILLED` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 1969 | `ER_STATEMENT_TIMEOUT` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 3024 | `ER_QUERY_TIMEOUT` | yes | the statement or connection was interrupted; a new attempt can succeed |
//! | 3140 | `ER_INVALID_JSON_TEXT` | no | the data is rejected by the target; retrying sends the same data |
//! | 4025 | `ER_CONSTRAINT_FAILED` | no | the data is rejected by the target; retrying sends the same data |
//! | 4078 | `ER_ILLEGAL_PARAMETER_DATA_TYPES2_FOR_OPERATION` | no | the schema does not match what the statement expects; a person must fix it |
//! | 8025 | `ER_ENTRY_TOO_LARGE` | no | DM's unsupported-DML list: the row is rejected the same way every time |
//!
//! Any other server error number is judged by DM's text rules on the Go driver's text,
//! which leaves it resumable unless a DM pattern matches. A driver error without a
//! number (I/O, TLS, protocol, pool) is resumable.

mod adapter;
mod catalog;
mod error;
mod units;

// The public surface: what users call, re-exported from the module that defines it.
// Everything else is crate-private; code inside names items by their real paths.
pub use adapter::cancel::{StatementError, cancellable};
pub use adapter::classify::{
    Operation, RetrySafety, explain_mysql_error, go_driver_text, is_resumable_mysql_error,
    retry_safety, server_error,
};
pub use adapter::codes;
pub use adapter::dsn::{MySqlUrl, TlsSettings, UrlError, mode_name};
pub use adapter::pool::copy_sql_mode;
pub use adapter::process_error::{
    MAX_STATEMENT_SUMMARY, error_code, process_error, summarize_statement,
};
pub use catalog::objects::{ObjectKind, ObjectKinds};
pub use catalog::position::BinlogPosition;
pub use catalog::schema::{Column, Filter, SchemaError, Table, ValueKind, discover};
pub use error::{Error, OpKind, Result};
pub use sqlx::mysql::MySqlSslMode;
pub use unit_sql::redact;
pub use units::check::{CheckItem, CheckUnit, ItemState};
pub use units::copy::{CopyReport, CopyUnit, ReportHandle, TablePhase, TableReport};
pub use units::inspect;
pub use units::object_migration::ObjectReport;
pub use units::observer::Observer;
#[cfg(feature = "sync")]
pub use units::sync::{StartAt, StreamError, SyncError, SyncProgress, SyncUnit};
pub use units::sync_state::SyncCheckpoint;
pub use units::task::{Consistency, CopySettings, SyncSettings, TaskConfig};
pub use units::verify::{Verification, stored_checksum, table_checksum};

#[cfg(test)]
mod tests;
