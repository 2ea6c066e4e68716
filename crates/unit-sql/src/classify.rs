//! The classification kit: what an adapter needs to turn its driver's errors into the
//! [`pb::ProcessError`]s a unit reports, with the verdict it decided reaching the
//! policy that acts on it.
//!
//! - [`RuleTable`]: the adapter's rules, one [`CodeRule`] per driver error code (or
//!   class of codes), each with its verdict and the reason, documented once;
//! - [`Judgement`]: what the adapter found about one failure: its verdict, whether a
//!   lost connection lets the statement be sent again, and the driver's text;
//!   [`judge_sqlx`] makes one for any sqlx driver given the codes of its server errors;
//! - [`process_error`]: the report, whose catalogue code carries the verdict so that
//!   [`Recommended`](unit_core::Recommended) agrees with it (see [`error_code`]);
//! - [`Failure`]: a failed statement of a unit, side and [`OwnedOperation`] kept, made
//!   with `map_err(Failure::on(..))` and reported once, cancellation included.

use std::borrow::Cow;

use unit_core::prelude::pb;
use unit_core::{ErrScope, Error, ErrorCode, Rule, Verdict, new_process_error};

use crate::cancel::Interrupted;
use crate::operation::{Operation, RetrySafety, connection_failure};
use crate::redact::redact;
use crate::summary::summarize_statement;

/// One rule of a [`RuleTable`]: a driver error code, or a class of codes, and whether
/// a retry can fix an error of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeRule {
    /// The code as the driver gives it (`40P01`, `5`), or a class of codes (`40`).
    pub code: &'static str,
    /// The code's symbolic name (`deadlock_detected`, `SQLITE_BUSY`).
    pub name: &'static str,
    /// Whether a retry can succeed.
    pub resumable: bool,
    /// Why.
    pub reason: &'static str,
}

impl CodeRule {
    /// A code whose errors pass: a retry can succeed.
    pub const fn resumable(code: &'static str, name: &'static str, reason: &'static str) -> Self {
        Self {
            code,
            name,
            resumable: true,
            reason,
        }
    }

    /// A code whose errors no retry fixes: a person must act.
    pub const fn permanent(code: &'static str, name: &'static str, reason: &'static str) -> Self {
        Self {
            code,
            name,
            resumable: false,
            reason,
        }
    }
}

/// An adapter's rules by driver error code: a `const`, listed in its docs, and
/// consulted code by code, most specific first.
///
/// ```
/// use unit_sql::{CodeRule, RuleTable};
///
/// const SQLITE: RuleTable = RuleTable::new("SQLite result code", &[
///     CodeRule::resumable("5", "SQLITE_BUSY", "another connection holds the lock; it is released"),
///     CodeRule::permanent("19", "SQLITE_CONSTRAINT", "a constraint refuses the row; it fails again"),
/// ]);
/// // An extended code (2067: SQLITE_CONSTRAINT_UNIQUE) falls back on its primary code.
/// let verdict = SQLITE.explain(["2067", "19"]);
/// assert!(!verdict.is_resumable());
/// assert_eq!(
///     verdict.to_string(),
///     "not resumable: SQLite result code 19 (SQLITE_CONSTRAINT): a constraint refuses the row; \
///      it fails again (beyond DM)"
/// );
/// assert!(SQLITE.explain(["1"]).is_resumable()); // no rule: resumable, as DM's default
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RuleTable {
    driver: &'static str,
    rules: &'static [CodeRule],
}

impl RuleTable {
    /// The rules of a driver whose codes `driver` names in verdicts (`SQLSTATE`,
    /// `SQLite result code`).
    pub const fn new(driver: &'static str, rules: &'static [CodeRule]) -> Self {
        Self { driver, rules }
    }

    /// Every rule, in order.
    pub fn rules(&self) -> &'static [CodeRule] {
        self.rules
    }

    /// The rule of the first of `codes` that has one: give the most specific code
    /// first, then its class (`["23505", "23"]`).
    pub fn find<'c>(&self, codes: impl IntoIterator<Item = &'c str>) -> Option<&'static CodeRule> {
        let rules = self.rules;
        codes
            .into_iter()
            .find_map(|code| rules.iter().find(|r| r.code == code))
    }

    /// The verdict of the first of `codes` with a rule ([`Rule::DriverCode`]); with
    /// none, resumable, as DM treats errors it does not recognise. Always
    /// [`Origin::BeyondDm`](unit_core::Origin): DM has no rules for other drivers.
    pub fn explain<'c>(&self, codes: impl IntoIterator<Item = &'c str>) -> Verdict {
        match self.find(codes) {
            Some(r) => Verdict::new(
                r.resumable,
                Rule::DriverCode {
                    driver: self.driver,
                    code: r.code,
                    name: r.name,
                    reason: r.reason,
                },
            ),
            None => Verdict::new(true, Rule::NoRuleMatched),
        }
        .beyond_dm()
    }

    /// The rules as the rows of a Markdown table (`| code | name | yes |`), for an
    /// adapter's docs and the test that keeps them in step.
    pub fn markdown_rows(&self) -> impl Iterator<Item = String> + '_ {
        self.rules.iter().map(|r| {
            let verdict = if r.resumable { "yes" } else { "no" };
            format!("| {} | {} | {verdict} |", r.code, r.name)
        })
    }
}

/// What an adapter found about one failed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Judgement {
    /// Whether a retry can fix it, and the rule that says so.
    pub verdict: Verdict,
    /// For a lost or unavailable connection, whether the statement may be sent again;
    /// `None` when the connection is not the problem.
    pub connection: Option<RetrySafety>,
    /// The driver's words, secrets masked, for `RawCause`.
    pub raw_cause: String,
}

impl Judgement {
    /// A judgement of `verdict` on an error the driver words as `raw_cause` (passwords
    /// in it are masked here).
    pub fn new(verdict: Verdict, connection: Option<RetrySafety>, raw_cause: &str) -> Self {
        Self {
            verdict,
            connection,
            raw_cause: redact(raw_cause),
        }
    }
}

/// Judges an error of any sqlx driver: a server error by the codes `codes` gives for
/// it (most specific first) in `table`, or not resumable when `codes` returns `None`
/// (a server error of another database than the adapter's, which it cannot judge); a
/// lost or unavailable connection resumable ([`connection_failure`]); a TLS failure
/// not; anything else resumable, as DM treats what it does not recognise.
///
/// ```
/// use unit_sql::{CodeRule, Operation, RetrySafety, RuleTable, judge_sqlx};
///
/// const RULES: RuleTable = RuleTable::new("code", &[]);
/// let lost = sqlx::Error::Io(std::io::Error::other("connection reset"));
/// let judged = judge_sqlx(&lost, Operation::Commit, &RULES, |_| None);
/// assert!(judged.verdict.is_resumable());
/// assert_eq!(judged.connection, Some(RetrySafety::OutcomeUnknown));
/// ```
pub fn judge_sqlx(
    err: &sqlx::Error,
    op: Operation<'_>,
    table: &RuleTable,
    codes: impl FnOnce(&dyn sqlx::error::DatabaseError) -> Option<Vec<Cow<'_, str>>>,
) -> Judgement {
    if let Some(db) = err.as_database_error() {
        let text = format!(
            "{} ({} {})",
            db.message(),
            table.driver,
            db.code().unwrap_or_default()
        );
        let verdict = match codes(db) {
            Some(codes) => table.explain(codes.iter().map(|c| c.as_ref())),
            None => Verdict::new(
                false,
                Rule::Driver {
                    reason: "a server error of another database than the adapter's: it cannot tell whether a retry fixes it",
                },
            )
            .beyond_dm(),
        };
        return Judgement::new(verdict, None, &text);
    }
    let text = err.to_string();
    if matches!(err, sqlx::Error::Tls(_)) {
        let rule = Rule::Driver {
            reason: "TLS failed; fix the certificates or the TLS settings",
        };
        return Judgement::new(Verdict::new(false, rule).beyond_dm(), None, &text);
    }
    match connection_failure(err, op) {
        Some(f) => {
            let rule = Rule::Driver { reason: f.reason };
            Judgement::new(Verdict::new(true, rule), Some(f.safety), &text)
        }
        None => Judgement::new(Verdict::new(true, Rule::NoRuleMatched), None, &text),
    }
}

/// The catalogue code that carries a judgement to the policy: a lost connection by
/// its [`RetrySafety`] (10002 nothing sent, 10003 outcome unknown, both resumable); an
/// error no retry fixes 60011 ([`ErrorCode::DB_PERMANENT`], which
/// [`Recommended`](unit_core::Recommended) never resumes); otherwise by what was being
/// done (10007 begin, 10005 query, 10006 execute or commit, 10001 connect), codes
/// that DM resumes.
pub fn error_code(judged: &Judgement, op: Operation<'_>) -> &'static ErrorCode {
    match judged.connection {
        Some(RetrySafety::Safe) => return &ErrorCode::DB_BAD_CONN,
        Some(RetrySafety::OutcomeUnknown) => return &ErrorCode::DB_INVALID_CONN,
        None => {}
    }
    if !judged.verdict.is_resumable() {
        return &ErrorCode::DB_PERMANENT;
    }
    match op {
        Operation::Begin => &ErrorCode::DB_EXECUTE_FAILED_BEGIN,
        Operation::Query(_) => &ErrorCode::DB_QUERY_FAILED,
        Operation::Execute(_) | Operation::Commit => &ErrorCode::DB_EXECUTE_FAILED,
        Operation::Connect => &ErrorCode::DB_DRIVER_ERROR,
    }
}

/// The `ProcessError` for a judged failure: `ErrCode` from [`error_code`], `ErrScope`
/// `scope`, the statement summarised in `Message` (secrets masked), `RawCause` the
/// judgement's text. The policy's verdict on it is the judgement's (for the
/// [`Recommended`](unit_core::Recommended) policy, unless `RawCause` holds a MySQL
/// error number that no retry fixes).
///
/// ```
/// use unit_core::{ErrScope, Policy, Recommended, Rule, Verdict};
/// use unit_sql::{Judgement, Operation, process_error};
///
/// let refused = Verdict::new(false, Rule::Driver { reason: "read-only database" });
/// let judged = Judgement::new(refused, None, "attempt to write a readonly database");
/// let pe = process_error(&judged, ErrScope::Downstream, Operation::Execute("INSERT INTO t VALUES (?)"));
/// assert_eq!(pe.err_code, 60011);
/// assert!(!Recommended.explain(&pe).is_resumable());
/// ```
pub fn process_error(judged: &Judgement, scope: ErrScope, op: Operation<'_>) -> pb::ProcessError {
    let code = error_code(judged, op);
    let summary = op.statement().map(summarize_statement);
    let args: Vec<&dyn std::fmt::Display> = summary.iter().map(|s| s as _).collect();
    let cause = std::io::Error::other(judged.raw_cause.clone());
    let mut pe = new_process_error(&Error::delegate(code, cause, &args).with_scope(scope));
    if let Some(summary) = summary.filter(|_| !code.message.contains("{}")) {
        pe.message = format!("{}: {summary}", pe.message);
    }
    pe
}

/// An [`Operation`] that owns its statement, to be kept with a failure and reported
/// later.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnedOperation {
    /// [`Operation::Connect`].
    Connect,
    /// [`Operation::Begin`].
    Begin,
    /// [`Operation::Query`].
    Query(String),
    /// [`Operation::Execute`].
    Execute(String),
    /// [`Operation::Commit`].
    Commit,
}

impl OwnedOperation {
    /// The operation, borrowed.
    pub fn as_operation(&self) -> Operation<'_> {
        match self {
            Self::Connect => Operation::Connect,
            Self::Begin => Operation::Begin,
            Self::Query(sql) => Operation::Query(sql),
            Self::Execute(sql) => Operation::Execute(sql),
            Self::Commit => Operation::Commit,
        }
    }
}

impl From<Operation<'_>> for OwnedOperation {
    fn from(op: Operation<'_>) -> Self {
        match op {
            Operation::Connect => Self::Connect,
            Operation::Begin => Self::Begin,
            Operation::Query(sql) => Self::Query(sql.to_owned()),
            Operation::Execute(sql) => Self::Execute(sql.to_owned()),
            Operation::Commit => Self::Commit,
        }
    }
}

/// A failed operation of a unit: on which side, what it was, and the driver's error
/// `E` (or the cancellation that abandoned it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio_util::sync::CancellationToken;
/// use unit_core::ErrScope;
/// use unit_sql::{Failure, Operation, cancellable};
///
/// let cancel = CancellationToken::new();
/// cancel.cancel();
/// let read = std::future::pending::<Result<(), sqlx::Error>>();
/// let failure = cancellable(&cancel, read)
///     .await
///     .map_err(Failure::on(ErrScope::Upstream, Operation::Query("SELECT 1")))
///     .unwrap_err();
/// // A cancellation is reported as DM's `context canceled`, never judged as a failure.
/// let pe = failure.report(|_, _, _| unreachable!());
/// assert!(unit_core::is_ctx_canceled_process_err(&pe));
/// # }
/// ```
#[derive(Debug)]
pub struct Failure<E> {
    /// The side: [`ErrScope::Upstream`] (the source) or [`ErrScope::Downstream`].
    pub scope: ErrScope,
    /// What was being done.
    pub operation: OwnedOperation,
    /// The driver's error, or the cancellation.
    pub error: Interrupted<E>,
}

impl<E> Failure<E> {
    /// Makes failures of `op` on side `scope`, for `map_err` after
    /// [`cancellable`](crate::cancellable).
    pub fn on(scope: ErrScope, op: Operation<'_>) -> impl FnOnce(Interrupted<E>) -> Self {
        let operation = OwnedOperation::from(op);
        move |error| Self {
            scope,
            operation,
            error,
        }
    }

    /// Whether the operation was abandoned because its token fired.
    pub fn is_canceled(&self) -> bool {
        matches!(self.error, Interrupted::Canceled(_))
    }

    /// The report: a cancellation as DM's `context canceled`; the driver's error by
    /// the adapter's `process_error` (`unit_postgres::process_error`,
    /// `unit_mysql::process_error`, or one made with [`process_error`] above).
    pub fn report(
        &self,
        process_error: impl FnOnce(&E, ErrScope, Operation<'_>) -> pb::ProcessError,
    ) -> pb::ProcessError {
        match &self.error {
            Interrupted::Failed(e) => process_error(e, self.scope, self.operation.as_operation()),
            Interrupted::Canceled(c) => new_process_error(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unit_core::{Policy, Recommended};

    const RULES: RuleTable = RuleTable::new(
        "code",
        &[
            CodeRule::resumable("40P01", "deadlock_detected", "run again"),
            CodeRule::permanent("23", "integrity_constraint_violation", "fails again"),
        ],
    );

    #[test]
    fn the_most_specific_code_with_a_rule_decides() {
        assert_eq!(
            RULES.find(["40P01", "40"]).unwrap().name,
            "deadlock_detected"
        );
        assert_eq!(
            RULES.find(["23505", "23"]).unwrap().name,
            "integrity_constraint_violation"
        );
        assert!(RULES.find(["99999", "99"]).is_none());
    }

    /// The verdict reaches the policy through the code, whatever the operation.
    #[test]
    fn the_policy_agrees_with_every_judgement() {
        let ops = [
            Operation::Connect,
            Operation::Begin,
            Operation::Query("SELECT 1"),
            Operation::Execute("UPDATE t SET a = 1"),
            Operation::Commit,
        ];
        for op in ops {
            for codes in [["40P01"], ["23505"], ["0"]] {
                let judged = Judgement::new(RULES.explain(codes), None, "driver text");
                let pe = process_error(&judged, ErrScope::Downstream, op);
                assert_eq!(
                    Recommended.explain(&pe).is_resumable(),
                    judged.verdict.is_resumable(),
                    "{op:?} {codes:?}: {pe:?}"
                );
            }
            let lost = sqlx::Error::Io(std::io::Error::other("reset"));
            let judged = judge_sqlx(&lost, op, &RULES, |_| None);
            let pe = process_error(&judged, ErrScope::Upstream, op);
            assert!(matches!(pe.err_code, 10002 | 10003), "{pe:?}");
            assert!(Recommended.explain(&pe).is_resumable());
        }
    }

    #[test]
    fn passwords_never_reach_the_raw_cause() {
        let judged = Judgement::new(
            Verdict::new(true, Rule::NoRuleMatched),
            None,
            "cannot connect to postgres://app:s3cret@db/x",
        );
        assert!(!judged.raw_cause.contains("s3cret"), "{}", judged.raw_cause);
    }

    #[test]
    fn an_owned_operation_gives_back_the_same_operation() {
        for op in [
            Operation::Connect,
            Operation::Begin,
            Operation::Query("SELECT 1"),
            Operation::Execute("DELETE FROM t"),
            Operation::Commit,
        ] {
            assert_eq!(OwnedOperation::from(op).as_operation(), op);
        }
    }
}
