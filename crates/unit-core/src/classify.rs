//! Resumability classifiers: DM's rules, and verdicts that say which rule decided.
//!
//! The DM-named functions (`is_resumable_error`, `is_resumable_relay_error`,
//! `is_resumable_db_error` and their `explain_*` counterparts) answer exactly as DM's
//! `unit` package does, for every input; each `is_*` is a thin wrapper over an
//! `explain_*` function returning a [`Verdict`]. Rules beyond DM's live in the
//! [`Recommended`](crate::Recommended) policy, whose verdicts say so.
//!
//! Text rules match case-insensitively (as Go's `strings.ToLower` folds case) anywhere in the text. All patterns of a
//! field are matched in one pass by an Aho-Corasick automaton built once per process
//! (lower-casing the text a chunk at a time on the stack, so that the automaton's SIMD
//! prefilters apply); a call does not allocate, and [`explain_db_error`] streams the
//! error's Display through the automaton instead of formatting it into a string.

use std::fmt;
use std::sync::LazyLock;

use unit_proto::pb;

use crate::catalogue::ErrorCode;
use crate::error::Canceled;
use crate::matcher::{MAX_PATTERN_LEN, Matcher, SCAN_BUF, Scan};

/// A list of text patterns that a rule looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatternList {
    /// DDL the downstream does not support (matched in `RawCause`): never resumable.
    UnsupportedDdl,
    /// DML the downstream rejects (matched in `RawCause`): never resumable.
    UnsupportedDml,
    /// The upstream no longer has the binlog needed (matched in `RawCause`): never
    /// resumable. Only [`explain_error`] uses it.
    Replication,
    /// A corrupt relay log (matched in `Message` of code 11038): never resumable.
    RelayLogParse,
    /// Transient causes of a physical-import failure (code 34019, matched in `RawCause`):
    /// the only causes for which 34019 is resumable.
    LoadRuntimeRetryable,
    /// Beyond DM: MySQL server errors that retrying cannot fix (access denied, unknown
    /// database or table, syntax error, data and schema errors, ...), matched in
    /// `RawCause` as the Go driver writes them (`Error 1045`), and a TLS handshake that
    /// fails (a server certificate that does not verify). DM retries these until a person intervenes; see
    /// [`explain_error`] for why this workspace does not.
    PermanentServerError,
}

impl PatternList {
    /// The patterns of the list, in DM's order.
    pub const fn patterns(self) -> &'static [&'static str] {
        match self {
            Self::UnsupportedDdl => &[
                "can't drop column with index",
                "with tidb_enable_change_multi_schema is disable",
                "unsupported add column",
                "unsupported modify column",
                "unsupported modify charset",
                "unsupported modify collate",
                "unsupported drop integer primary key",
                "Unsupported collation",
                "Invalid default value for",
                "Unsupported drop primary key",
                "Error 1059",
                "Error 1117",
                "Error 1069",
            ],
            Self::UnsupportedDml => &["Error 1062", "Error 1406", "Error 1366", "Error 8025"],
            Self::Replication => &[
                "Could not find first log file name in binary log index file",
                "The slave is connecting using CHANGE MASTER TO MASTER_AUTO_POSITION = 1, but the master has purged binary logs containing GTIDs that the slave requires",
            ],
            Self::RelayLogParse => &[
                "binlog checksum mismatch, data may be corrupted",
                "get event err EOF",
            ],
            Self::LoadRuntimeRetryable => &["doesn't exist", "is in mode import"],
            Self::PermanentServerError => &[
                // sqlx's words for a failed TLS handshake (a certificate that does not
                // verify, no TLS where it is required): it fails the same way each time.
                "error occurred while attempting to establish a TLS connection",
                // rustls's words for a server certificate that does not verify.
                "invalid peer certificate",
                "Error 1044", // ER_DBACCESS_DENIED_ERROR
                "Error 1045", // ER_ACCESS_DENIED_ERROR
                "Error 1048", // ER_BAD_NULL_ERROR
                "Error 1049", // ER_BAD_DB_ERROR
                "Error 1054", // ER_BAD_FIELD_ERROR
                "Error 1064", // ER_PARSE_ERROR
                "Error 1103", // ER_WRONG_TABLE_NAME
                "Error 1115", // ER_UNKNOWN_CHARACTER_SET
                "Error 1136", // ER_WRONG_VALUE_COUNT_ON_ROW
                "Error 1142", // ER_TABLEACCESS_DENIED_ERROR
                "Error 1143", // ER_COLUMNACCESS_DENIED_ERROR
                "Error 1146", // ER_NO_SUCH_TABLE
                "Error 1227", // ER_SPECIFIC_ACCESS_DENIED_ERROR
                "Error 1253", // ER_COLLATION_CHARSET_MISMATCH
                "Error 1263", // ER_WARN_NULL_TO_NOTNULL
                "Error 1264", // ER_WARN_DATA_OUT_OF_RANGE
                "Error 1265", // WARN_DATA_TRUNCATED
                "Error 1267", // ER_CANT_AGGREGATE_2COLLATIONS
                "Error 1270", // ER_CANT_AGGREGATE_3COLLATIONS
                "Error 1271", // ER_CANT_AGGREGATE_NCOLLATIONS
                "Error 1273", // ER_UNKNOWN_COLLATION
                "Error 1292", // ER_TRUNCATED_WRONG_VALUE
                "Error 1300", // ER_INVALID_CHARACTER_STRING
                "Error 1364", // ER_NO_DEFAULT_FOR_FIELD
                "Error 1367", // ER_ILLEGAL_VALUE_FOR_TYPE
                "Error 1411", // ER_WRONG_VALUE_FOR_TYPE
                "Error 1416", // ER_CANT_CREATE_GEOMETRY_OBJECT
                "Error 1442", // ER_CANT_UPDATE_USED_TABLE_IN_SF_OR_TRG
                "Error 1449", // ER_NO_SUCH_USER
                "Error 1451", // ER_ROW_IS_REFERENCED_2
                "Error 1452", // ER_NO_REFERENCED_ROW_2
                "Error 1471", // ER_NON_INSERTABLE_TABLE
                "Error 1644", // ER_SIGNAL_EXCEPTION
                "Error 1690", // ER_DATA_OUT_OF_RANGE
                "Error 1698", // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
                "Error 1906", // ER_WARNING_NON_DEFAULT_VALUE_FOR_GENERATED_COLUMN
                "Error 3140", // ER_INVALID_JSON_TEXT
                "Error 4025", // ER_CONSTRAINT_FAILED
                "Error 4078", // ER_ILLEGAL_PARAMETER_DATA_TYPES2_FOR_OPERATION
            ],
        }
    }

    /// A short description of what the list detects, e.g. `unsupported DML`.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::UnsupportedDdl => "unsupported DDL",
            Self::UnsupportedDml => "unsupported DML",
            Self::Replication => "purged binlog",
            Self::RelayLogParse => "corrupt relay log",
            Self::LoadRuntimeRetryable => "transient import failure",
            Self::PermanentServerError => "server error that retrying cannot fix",
        }
    }

    /// The `ProcessError` field the list is matched in: `RawCause` or `Message`.
    pub const fn field(self) -> &'static str {
        match self {
            Self::RelayLogParse => "Message",
            _ => "RawCause",
        }
    }
}

/// The rule that decided a [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The text contains `pattern` of `list`.
    Pattern {
        /// The list the pattern belongs to.
        list: PatternList,
        /// The pattern as listed (the text matched it ignoring ASCII case).
        pattern: &'static str,
    },
    /// The code is in DM's set of unresumable codes.
    UnresumableCode(&'static ErrorCode),
    /// The code is in DM's set of unresumable relay codes.
    UnresumableRelayCode(&'static ErrorCode),
    /// Code 34019 whose `RawCause` names no transient cause.
    LoadRuntimeWithoutTransientCause,
    /// The error, or an error in its source chain, is [`Canceled`]; for a
    /// `ProcessError`, its `Message` says `context canceled`.
    Canceled,
    /// A database server error number with a known verdict (used by driver adapters
    /// such as `unit-mysql`, which classify by number rather than by text).
    ErrorNumber {
        /// The server's error number, e.g. 1062.
        number: u32,
        /// Its symbolic name, e.g. `ER_DUP_ENTRY`.
        name: &'static str,
        /// Why it is or is not resumable.
        reason: &'static str,
    },
    /// A database's SQLSTATE (or SQLSTATE class) with a known verdict, for adapters
    /// of databases whose errors are identified by SQLSTATE (such as PostgreSQL).
    SqlState {
        /// The SQLSTATE, e.g. `23505`, or its two-character class, e.g. `23`.
        state: &'static str,
        /// Its condition name, e.g. `unique_violation`.
        name: &'static str,
        /// Why it is or is not resumable.
        reason: &'static str,
    },
    /// A driver's error code (or class of codes) with a known verdict, from an
    /// adapter's rule table (`unit_sql::RuleTable`).
    DriverCode {
        /// What the driver's codes are called, e.g. `SQLite result code`.
        driver: &'static str,
        /// The code or class, e.g. `5`.
        code: &'static str,
        /// Its symbolic name, e.g. `SQLITE_BUSY`.
        name: &'static str,
        /// Why it is or is not resumable.
        reason: &'static str,
    },
    /// A driver-level failure without a server error number (connection lost, pool
    /// timed out, ...), judged by a driver adapter.
    Driver {
        /// What happened and why that decides.
        reason: &'static str,
    },
    /// No rule marks the error unresumable, so it is resumable.
    NoRuleMatched,
}

/// Whether an error is resumable, and why.
///
/// ```
/// use unit_core::{PatternList, Rule, explain_error};
/// use unit_proto::pb::ProcessError;
///
/// let err = ProcessError {
///     err_code: 10006,
///     raw_cause: "error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'".into(),
///     ..Default::default()
/// };
/// let verdict = explain_error(&err);
/// assert!(!verdict.is_resumable());
/// assert_eq!(verdict.rule(), Rule::Pattern { list: PatternList::UnsupportedDml, pattern: "Error 1062" });
/// assert_eq!(verdict.to_string(), r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Verdict {
    resumable: bool,
    rule: Rule,
    origin: Origin,
}

/// Whose rule decided a [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// One of DM's rules: DM answers the same.
    Dm,
    /// A rule of this workspace beyond DM's (see [`Recommended`](crate::Recommended)):
    /// DM would answer otherwise.
    BeyondDm,
}

impl Verdict {
    /// A verdict decided by `rule`, one of DM's; for adapters that classify their own
    /// errors (see [`Verdict::beyond_dm`] for a verdict DM would not give).
    pub const fn new(resumable: bool, rule: Rule) -> Self {
        Self {
            resumable,
            rule,
            origin: Origin::Dm,
        }
    }

    const fn not(rule: Rule) -> Self {
        Self::new(false, rule)
    }

    const fn resumable(rule: Rule) -> Self {
        Self::new(true, rule)
    }

    /// The same verdict, marked as decided by a rule beyond DM's.
    #[must_use]
    pub const fn beyond_dm(mut self) -> Self {
        self.origin = Origin::BeyondDm;
        self
    }

    /// Whose rule decided.
    pub const fn origin(&self) -> Origin {
        self.origin
    }

    /// Whether retrying (resuming) may succeed.
    pub const fn is_resumable(&self) -> bool {
        self.resumable
    }

    /// The rule that decided.
    pub const fn rule(&self) -> Rule {
        self.rule
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.resumable {
            "resumable: "
        } else {
            "not resumable: "
        })?;
        fmt::Display::fmt(&self.rule, f)?;
        if self.origin == Origin::BeyondDm {
            f.write_str(" (beyond DM)")?;
        }
        Ok(())
    }
}

/// Says what the rule found, e.g. `RawCause contains "Error 1062" (unsupported DML)`.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::Pattern { list: PatternList::LoadRuntimeRetryable, pattern } => {
                write!(f, "code 34019 and RawCause contains {pattern:?} (transient import failure)")
            }
            Rule::Pattern { list, pattern } => {
                write!(f, "{} contains {pattern:?} ({})", list.field(), list.describe())
            }
            Rule::UnresumableCode(code) => write!(f, "code {code} is never resumable"),
            Rule::UnresumableRelayCode(code) => {
                write!(f, "code {code} is never resumable for a relay unit")
            }
            Rule::LoadRuntimeWithoutTransientCause => f.write_str(
                "code 34019 and RawCause names no transient cause (\"doesn't exist\", \"is in mode import\")",
            ),
            Rule::Canceled => f.write_str("the work was cancelled (context canceled)"),
            Rule::ErrorNumber { number, name, reason } => {
                write!(f, "server error {number} ({name}): {reason}")
            }
            Rule::SqlState {
                state,
                name,
                reason,
            } => write!(f, "SQLSTATE {state} ({name}): {reason}"),
            Rule::DriverCode {
                driver,
                code,
                name,
                reason,
            } => write!(f, "{driver} {code} ({name}): {reason}"),
            Rule::Driver { reason } => f.write_str(reason),
            Rule::NoRuleMatched => f.write_str("no rule marks it unresumable"),
        }
    }
}

/// Codes whose errors are never resumable (DM's unresumable set).
pub const UNRESUMABLE_CODES: &[&ErrorCode] = &[
    &ErrorCode::SYNC_UNIT_DDL_WRONG_SEQUENCE,
    &ErrorCode::DUMP_UNIT_GLOBAL_LOCK,
    &ErrorCode::DUMP_UNIT_RUNTIME,
    &ErrorCode::SYNCER_UNIT_DML_COLUMN_NOT_MATCH,
    &ErrorCode::SYNCER_CANCELLED_DDL,
    &ErrorCode::LOAD_LIGHTNING_HAS_DUP,
    &ErrorCode::LOAD_LIGHTNING_CHECKSUM,
];

/// Beyond DM: this workspace's own codes (60000 and up, which DM never produces) whose
/// errors are never resumable.
pub const EXTENSION_UNRESUMABLE_CODES: &[&ErrorCode] = &[
    &ErrorCode::COPY_TABLE_CONFLICT,
    &ErrorCode::COPY_NO_KEY,
    &ErrorCode::CHECK_FAILED,
    &ErrorCode::COPY_VERIFY_MISMATCH,
    &ErrorCode::COPY_UNSUPPORTED,
    &ErrorCode::SYNC_BINLOG_UNAVAILABLE,
    &ErrorCode::SYNC_ROW_CONFLICT,
    &ErrorCode::SYNC_DDL_FAILED,
    &ErrorCode::SYNC_UNSUPPORTED_EVENT,
    &ErrorCode::SYNC_SOURCE_NOT_STOPPED,
    &ErrorCode::DB_PERMANENT,
    &ErrorCode::INVALID_CONFIG,
    &ErrorCode::UNIT_INTERNAL,
    &ErrorCode::SERVER_UNREACHABLE,
];

/// Codes whose errors a relay unit never resumes (DM's unresumable relay set).
pub const UNRESUMABLE_RELAY_CODES: &[&ErrorCode] = &[
    &ErrorCode::RELAY_UUID_SUFFIX_NOT_VALID,
    &ErrorCode::RELAY_UUID_SUFFIX_LESS_THAN_PREV,
    &ErrorCode::RELAY_BINLOG_NAME_NOT_VALID,
    &ErrorCode::RELAY_NO_CURRENT_UUID,
    &ErrorCode::RELAY_LOG_DIRPATH_EMPTY,
];

fn find_code(set: &[&'static ErrorCode], code: i32) -> Option<&'static ErrorCode> {
    set.iter().copied().find(|c| c.code == code)
}

/// Explains whether a unit's error is resumable, exactly as DM's `IsResumableError`.
///
/// DM's rules, in DM's order; the first that applies decides:
/// 1. `RawCause` contains an [`UnsupportedDdl`](PatternList::UnsupportedDdl),
///    [`UnsupportedDml`](PatternList::UnsupportedDml) or
///    [`Replication`](PatternList::Replication) pattern: not resumable (when several
///    match, the verdict names the one DM checks first);
/// 2. code 11038 and `Message` contains a [`RelayLogParse`](PatternList::RelayLogParse)
///    pattern: not resumable;
/// 3. the code is in [`UNRESUMABLE_CODES`]: not resumable;
/// 4. code 34019: resumable only if `RawCause` contains a
///    [`LoadRuntimeRetryable`](PatternList::LoadRuntimeRetryable) pattern;
/// 5. otherwise resumable.
///
/// Text is matched case-insensitively, case folded as Go's `strings.ToLower` folds it.
/// Nothing else is consulted: a cancelled statement (`context canceled`), a wrong
/// password or this workspace's own codes are resumable here, as in DM. The
/// [`Recommended`](crate::Recommended) policy, which [`AutoResume`](crate::AutoResume)
/// uses by default, adds those rules.
pub fn explain_error(err: &pb::ProcessError) -> Verdict {
    explain_process_error(err, false)
}

/// DM's rules, then (with `beyond`) this workspace's, with one scan of `RawCause`.
pub(crate) fn explain_process_error(err: &pb::ProcessError, beyond: bool) -> Verdict {
    let raw = if beyond {
        Found::in_text(&RAW_CAUSE, &err.raw_cause)
    } else {
        Found::in_text(&RAW_CAUSE_DM, &err.raw_cause)
    };
    for list in [
        PatternList::UnsupportedDdl,
        PatternList::UnsupportedDml,
        PatternList::Replication,
    ] {
        if let Some(pattern) = raw.first(list) {
            return Verdict::not(Rule::Pattern { list, pattern });
        }
    }
    if err.err_code == ErrorCode::PARSER_PARSE_RELAY_LOG.code {
        let message = Found::in_text(&MESSAGE, &err.message);
        let list = PatternList::RelayLogParse;
        if let Some(pattern) = message.first(list) {
            return Verdict::not(Rule::Pattern { list, pattern });
        }
    }
    if let Some(code) = find_code(UNRESUMABLE_CODES, err.err_code) {
        return Verdict::not(Rule::UnresumableCode(code));
    }
    if err.err_code == ErrorCode::LOAD_LIGHTNING_RUNTIME.code {
        let list = PatternList::LoadRuntimeRetryable;
        return match Found::in_text(&LOAD_RUNTIME, &err.raw_cause).first(list) {
            Some(pattern) => Verdict::resumable(Rule::Pattern { list, pattern }),
            None => Verdict::not(Rule::LoadRuntimeWithoutTransientCause),
        };
    }
    if beyond {
        if let Some(code) = find_code(EXTENSION_UNRESUMABLE_CODES, err.err_code) {
            return Verdict::not(Rule::UnresumableCode(code)).beyond_dm();
        }
        if crate::is_ctx_canceled_process_err(err) {
            return Verdict::not(Rule::Canceled).beyond_dm();
        }
        let list = PatternList::PermanentServerError;
        if let Some(pattern) = raw.first(list) {
            return Verdict::not(Rule::Pattern { list, pattern }).beyond_dm();
        }
    }
    Verdict::resumable(Rule::NoRuleMatched)
}

/// Whether a unit's error is resumable (DM's `IsResumableError`); see [`explain_error`].
pub fn is_resumable_error(err: &pb::ProcessError) -> bool {
    explain_error(err).is_resumable()
}

/// Explains whether a relay unit's error is resumable (DM's `IsResumableRelayError`):
/// not resumable exactly when the code is in [`UNRESUMABLE_RELAY_CODES`].
pub fn explain_relay_error(err: &pb::ProcessError) -> Verdict {
    match find_code(UNRESUMABLE_RELAY_CODES, err.err_code) {
        Some(code) => Verdict::not(Rule::UnresumableRelayCode(code)),
        None => Verdict::resumable(Rule::NoRuleMatched),
    }
}

/// Whether a relay unit's error is resumable; see [`explain_relay_error`].
pub fn is_resumable_relay_error(err: &pb::ProcessError) -> bool {
    explain_relay_error(err).is_resumable()
}

/// Explains whether a database error is worth retrying (DM's `IsResumableDBError`).
///
/// - [`Canceled`] anywhere in the source chain: not resumable;
/// - the Display of the root cause (the last error of the source chain, as DM's
///   `errors.Cause`) contains an [`UnsupportedDdl`](PatternList::UnsupportedDdl) or
///   [`UnsupportedDml`](PatternList::UnsupportedDml) pattern: not resumable;
/// - otherwise resumable. The replication list is not consulted, as in DM.
///
/// The patterns are the Go MySQL driver's texts (`Error 1062 ...`); a driver that words
/// its errors otherwise (sqlx does) needs an adapter that classifies by error number.
///
/// ```
/// use unit_core::{Canceled, Error, ErrorCode, explain_db_error};
///
/// let dup = std::io::Error::other("Error 1062 (23000): Duplicate entry '1' for key 'PRIMARY'");
/// let wrapped = Error::delegate(&ErrorCode::DB_EXECUTE_FAILED, dup, &[&"INSERT"]);
/// assert!(!explain_db_error(&wrapped).is_resumable());
/// assert!(!explain_db_error(&Canceled).is_resumable());
/// assert!(explain_db_error(&std::io::Error::other("connection reset")).is_resumable());
/// ```
pub fn explain_db_error(err: &(dyn std::error::Error + 'static)) -> Verdict {
    let mut root = err;
    loop {
        if root.is::<Canceled>() {
            return Verdict::not(Rule::Canceled);
        }
        match root.source() {
            Some(next) => root = next,
            None => break,
        }
    }
    let scan = Found::by(&RAW_CAUSE, &mut [0; SCAN_BUF], |scan| {
        // A Display impl that fails leaves a partial scan, which can only miss a pattern.
        let _ = fmt::write(scan, format_args!("{root}"));
    });
    for list in [PatternList::UnsupportedDdl, PatternList::UnsupportedDml] {
        if let Some(pattern) = scan.first(list) {
            return Verdict::not(Rule::Pattern { list, pattern });
        }
    }
    Verdict::resumable(Rule::NoRuleMatched)
}

/// Whether a database error is worth retrying; see [`explain_db_error`].
pub fn is_resumable_db_error(err: &(dyn std::error::Error + 'static)) -> bool {
    explain_db_error(err).is_resumable()
}

/// The patterns of some lists compiled into one matcher.
struct Patterns {
    matcher: Matcher,
    /// For each pattern id: its list and text.
    entries: Vec<(PatternList, &'static str)>,
}

const LIST_SLOTS: usize = 6;

const fn slot(list: PatternList) -> usize {
    match list {
        PatternList::UnsupportedDdl => 0,
        PatternList::UnsupportedDml => 1,
        PatternList::Replication => 2,
        PatternList::RelayLogParse => 3,
        PatternList::LoadRuntimeRetryable => 4,
        PatternList::PermanentServerError => 5,
    }
}

impl Patterns {
    fn new(lists: &[PatternList]) -> Self {
        let entries: Vec<(PatternList, &'static str)> = lists
            .iter()
            .flat_map(|&list| list.patterns().iter().map(move |&p| (list, p)))
            .collect();
        let texts: Vec<&str> = entries.iter().map(|&(_, p)| p).collect();
        Self {
            matcher: Matcher::new(&texts),
            entries,
        }
    }
}

/// DM's lists only: DM's classifier searches no more than DM does.
static RAW_CAUSE_DM: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        PatternList::UnsupportedDdl,
        PatternList::UnsupportedDml,
        PatternList::Replication,
    ])
});

/// DM's lists and this workspace's, searched in one pass by the recommended policy.
static RAW_CAUSE: LazyLock<Patterns> = LazyLock::new(|| {
    Patterns::new(&[
        PatternList::UnsupportedDdl,
        PatternList::UnsupportedDml,
        PatternList::Replication,
        PatternList::PermanentServerError,
    ])
});

/// Consulted only for code 34019, so its common words cost other errors nothing.
static LOAD_RUNTIME: LazyLock<Patterns> =
    LazyLock::new(|| Patterns::new(&[PatternList::LoadRuntimeRetryable]));

static MESSAGE: LazyLock<Patterns> = LazyLock::new(|| Patterns::new(&[PatternList::RelayLogParse]));

/// What one pass over a text found: for every list, the match with the lowest pattern
/// id (the pattern DM would have checked first).
struct Found {
    patterns: &'static Patterns,
    first: [Option<usize>; LIST_SLOTS],
}

impl Found {
    /// Scans `text` once, in a buffer sized to it (zeroing a buffer costs time too).
    fn in_text(patterns: &'static Patterns, text: &str) -> Self {
        let feed = |scan: &mut Scan<'_, &mut dyn FnMut(usize)>| scan.feed(text.as_bytes());
        match text.len() {
            0..=512 => Self::by(patterns, &mut [0; 512 + MAX_PATTERN_LEN], feed),
            513..=2048 => Self::by(patterns, &mut [0; 2048 + MAX_PATTERN_LEN], feed),
            _ => Self::by(patterns, &mut [0; SCAN_BUF], feed),
        }
    }

    /// Scans what `write` feeds into the scan (for example a Display impl), in `buf`.
    fn by(
        patterns: &'static Patterns,
        buf: &mut [u8],
        write: impl FnOnce(&mut Scan<'_, &mut dyn FnMut(usize)>),
    ) -> Self {
        let mut first = [None; LIST_SLOTS];
        let mut record = |id: usize| {
            if let Some(&(list, _)) = patterns.entries.get(id) {
                let seen: &mut Option<usize> = &mut first[slot(list)];
                if seen.is_none_or(|s| id < s) {
                    *seen = Some(id);
                }
            }
        };
        let mut scan = patterns
            .matcher
            .scan(buf, &mut record as &mut dyn FnMut(usize));
        write(&mut scan);
        scan.finish();
        Self { patterns, first }
    }

    fn first(&self, list: PatternList) -> Option<&'static str> {
        let id = self.first[slot(list)]?;
        self.patterns.entries.get(id).map(|&(_, p)| p)
    }
}

#[cfg(test)]
mod tests;
