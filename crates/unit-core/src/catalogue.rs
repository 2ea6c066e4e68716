//! The error catalogue: DM's error codes with their class, scope, level, message
//! template and workaround.
//!
//! Codes, classes, scopes and levels are DM's (`dm/pkg/terror`), so a
//! [`pb::ProcessError`](unit_proto::pb::ProcessError) built from a catalogue error reads
//! the same in DM's tooling. Messages and workarounds are this workspace's own words.

use std::fmt;

/// The class of an error: which component it comes from. The strings are DM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is named after the string it stands for
pub enum ErrClass {
    Database,
    Functional,
    Config,
    BinlogOp,
    Checkpoint,
    TaskCheck,
    SourceCheck,
    RelayEventLib,
    RelayUnit,
    DumpUnit,
    LoadUnit,
    SyncUnit,
    DmMaster,
    DmWorker,
    DmTracer,
    SchemaTracker,
    Scheduler,
    Dmctl,
    NotSet,
    OpenApi,
    Validator,
    Ha,
}

impl ErrClass {
    /// DM's string for the class, as it appears in `ProcessError.ErrClass`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Functional => "functional",
            Self::Config => "config",
            Self::BinlogOp => "binlog-op",
            Self::Checkpoint => "checkpoint",
            Self::TaskCheck => "task-check",
            Self::SourceCheck => "source-check",
            Self::RelayEventLib => "relay-event-lib",
            Self::RelayUnit => "relay-unit",
            Self::DumpUnit => "dump-unit",
            Self::LoadUnit => "load-unit",
            Self::SyncUnit => "sync-unit",
            Self::DmMaster => "dm-master",
            Self::DmWorker => "dm-worker",
            Self::DmTracer => "dm-tracer",
            Self::SchemaTracker => "schema-tracker",
            Self::Scheduler => "scheduler",
            Self::Dmctl => "dmctl",
            Self::NotSet => "not-set",
            Self::OpenApi => "openapi",
            Self::Validator => "validator",
            Self::Ha => "ha",
        }
    }
}

/// Where an error comes from: the upstream source, the downstream target, or inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrScope {
    /// Not decided (`not-set`).
    NotSet,
    /// The upstream (source) database (`upstream`).
    Upstream,
    /// The downstream (target) database (`downstream`).
    Downstream,
    /// This program itself (`internal`).
    Internal,
}

impl ErrScope {
    /// DM's string for the scope, as it appears in `ProcessError.ErrScope`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotSet => "not-set",
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
            Self::Internal => "internal",
        }
    }
}

/// How severe an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrLevel {
    /// `low`
    Low,
    /// `medium`
    Medium,
    /// `high`
    High,
}

impl ErrLevel {
    /// DM's string for the level, as it appears in `ProcessError.ErrLevel`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(ErrClass, ErrScope, ErrLevel);

/// One entry of the catalogue.
///
/// `message` is a template: each `{}` is replaced by one argument of
/// [`Error::generate`](crate::Error::generate), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// DM's numeric code.
    pub code: i32,
    /// DM's name for the code, e.g. `ErrDBDriverError`.
    pub name: &'static str,
    /// The class the code belongs to.
    pub class: ErrClass,
    /// The default scope; an error may override it.
    pub scope: ErrScope,
    /// The severity.
    pub level: ErrLevel,
    /// The message template.
    pub message: &'static str,
    /// What an operator can do about it; may be empty.
    pub workaround: &'static str,
}

macro_rules! catalogue {
    ($(
        $(#[$doc:meta])*
        $konst:ident = $code:literal, $name:literal, $class:ident, $scope:ident, $level:ident,
            $msg:literal, $workaround:literal;
    )*) => {
        impl ErrorCode {
            $(
                $(#[$doc])*
                pub const $konst: ErrorCode = ErrorCode {
                    code: $code,
                    name: $name,
                    class: ErrClass::$class,
                    scope: ErrScope::$scope,
                    level: ErrLevel::$level,
                    message: $msg,
                    workaround: $workaround,
                };
            )*

            /// Every code of the catalogue, in ascending order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$konst),*];
        }
    };
}

catalogue! {
    /// A database driver call failed for a reason not covered by a narrower code.
    DB_DRIVER_ERROR = 10001, "ErrDBDriverError", Database, NotSet, High,
        "database driver error",
        "Check that the database is reachable and the connection settings are right, then resume the task.";
    /// The connection was unusable before anything was sent: retrying is safe.
    DB_BAD_CONN = 10002, "ErrDBBadConn", Database, NotSet, High,
        "bad database connection, nothing was sent",
        "The statement never reached the server; resuming the task retries it safely.";
    /// The connection broke while a statement was in flight: its outcome is unknown.
    DB_INVALID_CONN = 10003, "ErrDBInvalidConn", Database, NotSet, High,
        "database connection lost while a statement was in flight",
        "The statement may or may not have been applied; resume only if it is idempotent or checkpointed.";
    /// The database answered something this program did not expect.
    DB_UNEXPECT = 10004, "ErrDBUnExpect", Database, NotSet, High,
        "unexpected database answer: {}",
        "";
    /// A query (a statement that returns rows) failed.
    DB_QUERY_FAILED = 10005, "ErrDBQueryFailed", Database, NotSet, High,
        "query failed: {}",
        "";
    /// A statement that changes data or schema failed.
    DB_EXECUTE_FAILED = 10006, "ErrDBExecuteFailed", Database, NotSet, High,
        "statement failed: {}",
        "";
    /// Starting a transaction failed.
    DB_EXECUTE_FAILED_BEGIN = 10007, "ErrDBExecuteFailedBegin", Database, NotSet, High,
        "could not begin a transaction",
        "";
    /// A relay log file could not be parsed.
    PARSER_PARSE_RELAY_LOG = 11038, "ErrParserParseRelayLog", Functional, Internal, High,
        "could not parse relay log file {}",
        "";
    /// Back-off settings are out of range.
    BACKOFF_ARGS_NOT_VALID = 11103, "ErrBackoffArgsNotValid", Functional, Internal, Medium,
        "invalid back-off setting {}: {}",
        "Use a factor above 0, a minimum of at least 0 and a maximum not below the minimum.";
    /// A DDL that ran in the background on the downstream was cancelled.
    SYNCER_CANCELLED_DDL = 11129, "ErrSyncerCancelledDDL", SyncUnit, Internal, High,
        "background DDL {} was cancelled",
        "Find out why the DDL was cancelled downstream, run it by hand if needed, then skip or replace it.";
    /// A relay sub-directory name has an invalid UUID suffix.
    RELAY_UUID_SUFFIX_NOT_VALID = 30001, "ErrRelayUUIDSuffixNotValid", RelayUnit, Internal, High,
        "relay sub-directory {} has an invalid UUID suffix",
        "";
    /// A relay sub-directory's suffix does not increase.
    RELAY_UUID_SUFFIX_LESS_THAN_PREV = 30002, "ErrRelayUUIDSuffixLessThanPrev", RelayUnit, Internal, High,
        "relay sub-directory suffix {} is not greater than the previous one {}",
        "";
    /// A binlog file name is malformed.
    RELAY_BINLOG_NAME_NOT_VALID = 30004, "ErrRelayBinlogNameNotValid", RelayUnit, Internal, High,
        "binlog file name {} is not valid",
        "";
    /// No current relay sub-directory is recorded.
    RELAY_NO_CURRENT_UUID = 30005, "ErrRelayNoCurrentUUID", RelayUnit, Internal, High,
        "no current relay sub-directory is recorded",
        "";
    /// The relay log directory is not configured.
    RELAY_LOG_DIRPATH_EMPTY = 30008, "ErrRelayLogDirpathEmpty", RelayUnit, Internal, High,
        "relay log directory is empty",
        "Set the relay log directory in the source configuration.";
    /// The dump unit failed while running.
    DUMP_UNIT_RUNTIME = 32001, "ErrDumpUnitRuntime", DumpUnit, Internal, High,
        "dump failed",
        "";
    /// The dump could not take the global read lock it needs for a consistent snapshot.
    DUMP_UNIT_GLOBAL_LOCK = 32004, "ErrDumpUnitGlobalLock", DumpUnit, Internal, High,
        "could not take the global read lock for a consistent dump",
        "Grant RELOAD and LOCK TABLES to the dump user, or dump without consistency locks.";
    /// The physical import failed while running.
    LOAD_LIGHTNING_RUNTIME = 34019, "ErrLoadLightningRuntime", LoadUnit, Internal, High,
        "physical import failed",
        "";
    /// The physical import found duplicate rows.
    LOAD_LIGHTNING_HAS_DUP = 34020, "ErrLoadLightningHasDup", LoadUnit, Internal, Medium,
        "physical import found duplicate rows in {}",
        "Remove the duplicates from the source or the target table, then restart the load.";
    /// The checksum after a physical import does not match.
    LOAD_LIGHTNING_CHECKSUM = 34021, "ErrLoadLightningChecksum", LoadUnit, Internal, Medium,
        "checksum mismatch after physical import: {}",
        "Compare the source and target data; clear the target table and restart the load.";
    /// DDLs arrived in an order the sync unit cannot apply.
    SYNC_UNIT_DDL_WRONG_SEQUENCE = 36008, "ErrSyncUnitDDLWrongSequence", SyncUnit, Internal, High,
        "DDLs arrived in the wrong sequence: {}",
        "";
    /// A DML statement was found where only DDL may be.
    SYNC_UNIT_DML_STATEMENT_FOUND = 36014, "ErrSyncUnitDMLStatementFound", SyncUnit, Internal, High,
        "DML statement found where only DDL is allowed: {}",
        "";
    /// A row does not have as many columns as the table.
    SYNCER_UNIT_DML_COLUMN_NOT_MATCH = 36027, "ErrSyncerUnitDMLColumnNotMatch", SyncUnit, Internal, High,
        "row has {} columns but table {} has {}",
        "Make the downstream table schema match the upstream one, then resume the task.";
    /// An operation needs the subtask to be running.
    WORKER_NOT_RUNNING_STAGE = 40050, "ErrWorkerNotRunningStage", DmWorker, Internal, High,
        "subtask is {}, not running",
        "";
    /// An operation needs the subtask to be paused.
    WORKER_NOT_PAUSED_STAGE = 40051, "ErrWorkerNotPausedStage", DmWorker, Internal, High,
        "subtask is {}, not paused",
        "Pause the task before updating it.";
    /// A stage transition was requested that is not allowed.
    WORKER_UPDATE_TASK_STAGE = 40052, "ErrWorkerUpdateTaskStage", DmWorker, Internal, High,
        "subtask cannot go from {} to {}",
        "";
    /// A subtask has no units to run.
    WORKER_NO_AVAIL_UNITS = 40060, "ErrWorkerNoAvailUnits", DmWorker, Internal, High,
        "subtask {} has no units to run",
        "";
    /// Not a catalogue error: DM's code for "not set".
    NOT_SET = 50000, "ErrNotSet", NotSet, NotSet, High,
        "",
        "";
    /// Beyond DM: a target table (or view, trigger, routine, event, sequence) exists with
    /// another definition than the source's.
    COPY_TABLE_CONFLICT = 60001, "ErrCopyTableConflict", LoadUnit, Downstream, High,
        "target {} exists with a different definition",
        "Drop or rename the target object, or exclude it from the copy, then restart the task.";
    /// Beyond DM: a table has no key to copy it by in order.
    COPY_NO_KEY = 60002, "ErrCopyNoKey", LoadUnit, Upstream, High,
        "table {} has no primary key and no unique key on NOT NULL columns in an ordered index",
        "Add a primary key to the source table, or exclude it from the copy.";
    /// Beyond DM: a pre-copy check failed.
    CHECK_FAILED = 60003, "ErrCheckFailed", TaskCheck, Internal, High,
        "pre-copy check failed: {}",
        "Fix what the check reports (see the check status detail), then restart the task.";
    /// Beyond DM: source and target differ after the copy.
    COPY_VERIFY_MISMATCH = 60004, "ErrCopyVerifyMismatch", LoadUnit, Internal, High,
        "verification failed: {}",
        "Compare the named tables; clear the target and the checkpoints, then copy again.";
    /// Beyond DM: an object the copy cannot migrate exactly (refused before any data
    /// moves).
    COPY_UNSUPPORTED = 60005, "ErrCopyUnsupported", LoadUnit, Upstream, High,
        "{}",
        "Exclude the named object from the copy (or change it as the message says), then restart the task.";
    /// Beyond DM: the source no longer has the binlog the Sync unit must read next.
    SYNC_BINLOG_UNAVAILABLE = 60006, "ErrSyncBinlogUnavailable", SyncUnit, Upstream, High,
        "the source no longer has the binlog at {}",
        "The changes since that position are lost to replication: copy the tables again (start the task over), and keep binlogs longer (expire_logs_days).";
    /// Beyond DM: a row change from the binlog does not match the target's rows.
    SYNC_ROW_CONFLICT = 60007, "ErrSyncRowConflict", SyncUnit, Downstream, High,
        "row change at {} cannot be applied: {}",
        "The target's row differs from the source's: something other than this task changed it (a write to the target, or a trigger, event or foreign-key cascade there); compare the named row on both sides, repair the target, then resume.";
    /// Beyond DM: the target refused a DDL statement from the binlog.
    SYNC_DDL_FAILED = 60008, "ErrSyncDdlFailed", SyncUnit, Downstream, High,
        "DDL at {} failed on the target: {}",
        "Run an equivalent statement on the target by hand (or fix what the error names), then resume.";
    /// Beyond DM: a binlog event that the Sync unit cannot apply exactly.
    SYNC_UNSUPPORTED_EVENT = 60009, "ErrSyncUnsupportedEvent", SyncUnit, Internal, High,
        "event at {} cannot be applied: {}",
        "Exclude the named table from the task, or change the source's settings as the message says.";
    /// Beyond DM: the source was written after the cutover read its final position.
    SYNC_SOURCE_NOT_STOPPED = 60010, "ErrSyncSourceNotStopped", SyncUnit, Upstream, High,
        "the source was written after the cutover's final position: {}",
        "Stop every write to the source (applications, events, users with SUPER under read_only), then run the cutover again.";
    /// Beyond DM, for any adapter: a database error that no retry fixes (a constraint
    /// violated, an unknown object, a statement the database refuses, a missing
    /// privilege), so that an adapter need not borrow an unrelated DM code. Give it
    /// the scope of the side that failed ([`Error::with_scope`](crate::Error::with_scope)).
    DB_PERMANENT = 60011, "ErrDbPermanent", Database, NotSet, High,
        "database error that no retry fixes: {}",
        "Fix what the error names (the violated constraint, the missing object or privilege, the refused statement), then resume.";
    /// Beyond DM, for any adapter: a setting that cannot work (a malformed URL, an
    /// option out of range, options that contradict each other).
    INVALID_CONFIG = 60012, "ErrInvalidConfig", Config, Internal, High,
        "invalid configuration: {}",
        "Correct the named setting, then start the task again.";
    /// Beyond DM, for any adapter: a defect of the unit itself (a task of it panicked
    /// or was cancelled by the runtime), not of the data or the servers; a retry
    /// would most likely meet it again.
    UNIT_INTERNAL = 60013, "ErrUnitInternal", NotSet, Internal, High,
        "internal error: {}",
        "This is a defect of the unit: report it with the log. The task's checkpoints are kept; resume the task once it is fixed.";
    /// Beyond DM, for any adapter: a server this task has never reached (the
    /// connection refused or never answered, or the host name unknown): a setting to
    /// correct, not a passing fault. A server lost after it was reached is a lost
    /// connection (10002), resumed with back-off (and bounded by
    /// [`AutoResumeConfig::max_unavailable`](crate::AutoResumeConfig::max_unavailable)).
    SERVER_UNREACHABLE = 60014, "ErrServerUnreachable", Database, NotSet, High,
        "server cannot be reached: {}",
        "Check the host name and port, that the server runs and accepts connections from this machine (a firewall, bind-address, skip-networking), then start the task again.";
}

impl ErrorCode {
    /// The catalogue entry for a numeric code, if there is one.
    ///
    /// ```
    /// use unit_core::ErrorCode;
    /// assert_eq!(ErrorCode::from_code(10001), Some(&ErrorCode::DB_DRIVER_ERROR));
    /// assert_eq!(ErrorCode::from_code(1), None);
    /// ```
    pub fn from_code(code: i32) -> Option<&'static ErrorCode> {
        Self::ALL
            .binary_search_by_key(&code, |c| c.code)
            .ok()
            .map(|i| &Self::ALL[i])
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code, self.name)
    }
}

#[cfg(test)]
mod tests;
