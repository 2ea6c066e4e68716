use super::*;
use crate::{Error, Policy, new_process_error};
use proptest::prelude::*;

fn pe(code: i32, message: &str, raw_cause: &str) -> pb::ProcessError {
    pb::ProcessError {
        err_code: code,
        message: message.into(),
        raw_cause: raw_cause.into(),
        ..Default::default()
    }
}

/// Checks `explain_error` on (code, message, raw cause) against the expected verdict text.
fn check(code: i32, message: &str, raw_cause: &str, expect: &str) {
    let err = pe(code, message, raw_cause);
    let verdict = explain_error(&err);
    assert_eq!(
        verdict.to_string(),
        expect,
        "code {code} message {message:?} raw {raw_cause:?}"
    );
    assert_eq!(is_resumable_error(&err), verdict.is_resumable());
}

#[test]
fn every_unsupported_ddl_pattern_is_unresumable_in_raw_cause() {
    for &p in PatternList::UnsupportedDdl.patterns() {
        let raw = format!("[tidb] {p} for table `t`");
        check(
            10006,
            "",
            &raw,
            &format!("not resumable: RawCause contains {p:?} (unsupported DDL)"),
        );
        // The same text in Message decides nothing.
        check(10006, &raw, "", "resumable: no rule marks it unresumable");
    }
}

#[test]
fn every_unsupported_dml_and_replication_pattern_is_unresumable() {
    for &p in PatternList::UnsupportedDml.patterns() {
        check(
            10006,
            "",
            &format!("{p} (23000): x"),
            &format!("not resumable: RawCause contains {p:?} (unsupported DML)"),
        );
    }
    for &p in PatternList::Replication.patterns() {
        check(
            10001,
            "",
            &format!("ERROR 1236 (HY000): {p}"),
            &format!("not resumable: RawCause contains {p:?} (purged binlog)"),
        );
    }
}

#[test]
fn matching_ignores_ascii_case() {
    check(
        10006,
        "",
        "ERROR 1062 (23000): DUPLICATE",
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#,
    );
    check(
        10006,
        "",
        "unsupported COLLATION utf8mb4_x",
        r#"not resumable: RawCause contains "Unsupported collation" (unsupported DDL)"#,
    );
}

#[test]
fn near_misses_stay_resumable() {
    for raw in [
        "Error 106",
        "Error  1062",
        "Error 10620x",
        "rror 1062",
        "Error1062",
        "Duplicate entry",
    ] {
        let expect = if raw == "Error 10620x" {
            // DM matches substrings: "Error 10620x" contains "Error 1062".
            r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#
        } else {
            "resumable: no rule marks it unresumable"
        };
        check(10006, "", raw, expect);
    }
}

#[test]
fn the_pattern_dm_checks_first_is_named() {
    // A DML pattern appears before a DDL one in the text; DM checks the DDL list first.
    check(
        10006,
        "",
        "Error 1062 then Error 1059",
        r#"not resumable: RawCause contains "Error 1059" (unsupported DDL)"#,
    );
    // Within a list, the earlier pattern of the list wins, wherever it stands.
    check(
        10006,
        "",
        "Error 8025 and Error 1062",
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#,
    );
    // Overlapping patterns are all seen.
    check(
        10006,
        "",
        "xxError 1117Error 1069",
        r#"not resumable: RawCause contains "Error 1117" (unsupported DDL)"#,
    );
}

#[test]
fn relay_log_parse_patterns_count_only_in_message_of_11038() {
    for &p in PatternList::RelayLogParse.patterns() {
        check(
            11038,
            &format!("parse relay log: {p}"),
            "",
            &format!("not resumable: Message contains {p:?} (corrupt relay log)"),
        );
        check(
            11037,
            &format!("parse relay log: {p}"),
            "",
            "resumable: no rule marks it unresumable",
        );
        check(11038, "", p, "resumable: no rule marks it unresumable");
    }
    check(
        11038,
        "some other parse failure",
        "",
        "resumable: no rule marks it unresumable",
    );
}

#[test]
fn unresumable_codes() {
    let set: Vec<i32> = UNRESUMABLE_CODES.iter().map(|c| c.code).collect();
    assert_eq!(set, [36008, 32004, 32001, 36027, 11129, 34020, 34021]);
    for code in UNRESUMABLE_CODES {
        check(
            code.code,
            "",
            "",
            &format!("not resumable: code {code} is never resumable"),
        );
    }
    for code in [
        0,
        10001,
        10002,
        10006,
        11038,
        30001,
        36014,
        50000,
        -1,
        i32::MAX,
    ] {
        check(code, "", "", "resumable: no rule marks it unresumable");
    }
}

#[test]
fn load_runtime_34019_is_resumable_only_for_transient_causes() {
    check(
        34019,
        "",
        "table `t` doesn't exist",
        r#"resumable: code 34019 and RawCause contains "doesn't exist" (transient import failure)"#,
    );
    check(
        34019,
        "",
        "table IS IN MODE IMPORT",
        r#"resumable: code 34019 and RawCause contains "is in mode import" (transient import failure)"#,
    );
    check(
        34019,
        "",
        "disk quota exceeded",
        r#"not resumable: code 34019 and RawCause names no transient cause ("doesn't exist", "is in mode import")"#,
    );
    check(
        34019,
        "doesn't exist",
        "",
        r#"not resumable: code 34019 and RawCause names no transient cause ("doesn't exist", "is in mode import")"#,
    );
    // The pattern lists come before the 34019 exception.
    check(
        34019,
        "",
        "doesn't exist; Error 1062",
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#,
    );
    // The exception text means nothing for other codes.
    check(
        34020,
        "",
        "doesn't exist",
        "not resumable: code 34020 (ErrLoadLightningHasDup) is never resumable",
    );
}

/// Checks the recommended policy's verdict text.
fn check_recommended(code: i32, message: &str, raw_cause: &str, expect: &str) {
    let verdict = crate::Recommended.explain(&pe(code, message, raw_cause));
    assert_eq!(
        verdict.to_string(),
        expect,
        "code {code} message {message:?} raw {raw_cause:?}"
    );
}

#[test]
fn permanent_server_errors_and_cancellation_are_beyond_dm() {
    for &p in PatternList::PermanentServerError.patterns() {
        let raw = format!("{p} (42000): nope");
        // DM retries them until a person steps in.
        check(10005, "", &raw, "resumable: no rule marks it unresumable");
        check_recommended(
            10005,
            "",
            &raw,
            &format!(
                "not resumable: RawCause contains {p:?} (server error that retrying cannot fix) (beyond DM)"
            ),
        );
    }
    for (code, message) in [
        (50000, "context canceled"),
        (10006, "query failed: context canceled"),
    ] {
        check(code, message, "", "resumable: no rule marks it unresumable");
        check_recommended(
            code,
            message,
            "",
            "not resumable: the work was cancelled (context canceled) (beyond DM)",
        );
    }
    for code in EXTENSION_UNRESUMABLE_CODES {
        check(code.code, "", "", "resumable: no rule marks it unresumable");
        let verdict = crate::Recommended.explain(&pe(code.code, "", ""));
        assert!(
            !verdict.is_resumable() && verdict.origin() == Origin::BeyondDm,
            "{verdict}"
        );
    }
    // DM's own rules come first: a DML pattern names its list, not the extension.
    check_recommended(
        10006,
        "",
        "Error 1045 then Error 1062",
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#,
    );
    // The 34019 exception stays DM's: a missing table during physical import is transient.
    check_recommended(
        34019,
        "",
        "Error 1146 (42S02): Table 'a.b' doesn't exist",
        r#"resumable: code 34019 and RawCause contains "doesn't exist" (transient import failure)"#,
    );
    // Server errors that heal stay resumable.
    for raw in [
        "Error 1205 (HY000): Lock wait timeout exceeded",
        "Error 1213 (40001): Deadlock found",
        "Error 1040: Too many connections",
    ] {
        check_recommended(10006, "", raw, "resumable: no rule marks it unresumable");
    }
}

/// DM's `dm/unit/unit_test.go` cases of `IsResumableError`, restated.
#[test]
fn dms_unit_test_cases_hold() {
    let delegate = |text: &'static str, args: &str| {
        new_process_error(&Error::delegate(
            &ErrorCode::DB_EXECUTE_FAILED,
            std::io::Error::other(text),
            &[&args],
        ))
    };
    let cases = [
        // Only DM's own errors are looked into: a bare driver error is resumable.
        (
            new_process_error(&std::io::Error::other(
                "unsupported modify column length 20 is less than origin 40",
            )),
            true,
        ),
        (
            new_process_error(&std::io::Error::other(
                "unsupported drop integer primary key",
            )),
            true,
        ),
        (
            new_process_error(&Error::generate(
                &ErrorCode::DB_EXECUTE_FAILED,
                &[&"file test.t3.sql: execute statement failed: USE `test_abc`;: context canceled"],
            )),
            true,
        ),
        (
            delegate(
                "ERROR 1105 (HY000): unsupported modify column length 20 is less than origin 40",
                "alter table t modify col varchar(20)",
            ),
            false,
        ),
        (
            delegate(
                "ERROR 1105 (HY000): unsupported drop integer primary key",
                "alter table t drop column id",
            ),
            false,
        ),
        (
            delegate(
                "ERROR 1067 (42000): Invalid default value for 'ct'",
                "CREATE TABLE `t` (`ct` timestamp NULL DEFAULT CURRENT_TIMESTAMP)",
            ),
            false,
        ),
        (
            delegate("Error 1062: Duplicate entry '5' for key 'PRIMARY'", ""),
            false,
        ),
        (
            delegate(
                "INSERT INTO `db`.`tbl` (`c1`,`c2`) VALUES (?,?);: Error 1406: Data too long for column 'c2' at row 1",
                "",
            ),
            false,
        ),
        (
            new_process_error(&std::io::Error::other(
                "parse mydumper metadata error: EOF, failpoint: LoadExecCreateTableFailed",
            )),
            true,
        ),
    ];
    for (err, resumable) in cases {
        assert_eq!(is_resumable_error(&err), resumable, "{err:?}");
        assert_eq!(explain_error(&err).origin(), Origin::Dm);
    }
}

#[test]
fn relay_classifier_looks_only_at_relay_codes() {
    let set: Vec<i32> = UNRESUMABLE_RELAY_CODES.iter().map(|c| c.code).collect();
    assert_eq!(set, [30001, 30002, 30004, 30005, 30008]);
    for code in UNRESUMABLE_RELAY_CODES {
        let v = explain_relay_error(&pe(code.code, "", ""));
        assert_eq!(
            v.to_string(),
            format!("not resumable: code {code} is never resumable for a relay unit")
        );
        assert!(!is_resumable_relay_error(&pe(code.code, "", "")));
    }
    // Patterns and the general unresumable set do not concern the relay classifier.
    assert!(is_resumable_relay_error(&pe(10006, "", "Error 1062")));
    assert!(is_resumable_relay_error(&pe(32001, "", "")));
    assert!(is_resumable_relay_error(&pe(30003, "", "")));
}

#[derive(Debug, thiserror::Error)]
#[error("{text}")]
struct Wrap {
    text: &'static str,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn wrap(text: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Wrap {
    Wrap {
        text,
        source: Some(Box::new(source)),
    }
}

fn leaf(text: &'static str) -> Wrap {
    Wrap { text, source: None }
}

#[test]
fn db_errors_are_judged_by_their_root_cause() {
    let v = explain_db_error(&leaf("Error 1406 (22001): Data too long for column 'c'"));
    assert_eq!(
        v.to_string(),
        r#"not resumable: RawCause contains "Error 1406" (unsupported DML)"#
    );
    let v = explain_db_error(&wrap(
        "write failed",
        wrap("exec", leaf("error 1059: identifier too long")),
    ));
    assert_eq!(
        v.rule(),
        Rule::Pattern {
            list: PatternList::UnsupportedDdl,
            pattern: "Error 1059"
        }
    );
    // Only the root's text counts, as with DM's errors.Cause.
    assert!(is_resumable_db_error(&wrap(
        "Error 1062 in wrapper",
        leaf("connection reset")
    )));
    // The replication list is not consulted for DB errors.
    assert!(is_resumable_db_error(&leaf(
        PatternList::Replication.patterns()[0]
    )));
    assert!(is_resumable_db_error(&leaf(
        "Error 1205: Lock wait timeout exceeded"
    )));
}

#[test]
fn canceled_anywhere_in_the_chain_is_not_resumable() {
    assert_eq!(explain_db_error(&Canceled).rule(), Rule::Canceled);
    assert!(!is_resumable_db_error(&wrap("query aborted", Canceled)));
    let catalogue = Error::delegate(&ErrorCode::DB_QUERY_FAILED, Canceled, &[&"SELECT 1"]);
    assert!(!is_resumable_db_error(&catalogue));
    // A catalogue error is converted with its cause's text, which is recognised.
    assert!(crate::is_ctx_canceled_process_err(&pb::ProcessError {
        message: new_process_error(&Canceled).message,
        ..Default::default()
    }));
}

#[test]
fn catalogue_error_to_process_error_to_verdict() {
    let cause = leaf("Error 1366 (HY000): Incorrect integer value: 'x' for column 'a' at row 1");
    let err = Error::delegate(
        &ErrorCode::DB_EXECUTE_FAILED,
        cause,
        &[&"INSERT INTO t VALUES (?)"],
    );
    assert_eq!(
        is_resumable_error(&new_process_error(&err)),
        is_resumable_db_error(&err)
    );
    assert!(!is_resumable_error(&new_process_error(&err)));
}

proptest! {
    #[test]
    fn classifiers_never_panic(code in any::<i32>(), message in ".{0,300}", raw in ".{0,300}") {
        let err = pe(code, &message, &raw);
        let v = explain_error(&err);
        prop_assert_eq!(v.is_resumable(), is_resumable_error(&err));
        let _ = explain_relay_error(&err).to_string();
        let _ = v.to_string();
    }

    #[test]
    fn matching_agrees_with_dms_lowercase_contains(raw in "(Error 1[0-9]{3}|[a-zA-Z\u{212A}\u{130} ]{0,8}|doesn't exist|Unsupported collation|\u{212A}){0,6}") {
        // Go's strings.ToLower, where it matters for ASCII patterns.
        let lower: String = raw
            .chars()
            .map(|c| match c {
                '\u{212A}' => 'k',
                '\u{130}' => 'i',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        let hit = |lists: &[PatternList]| {
            lists
                .iter()
                .flat_map(|l| l.patterns())
                .any(|p| lower.contains(&p.to_lowercase()))
        };
        let dm = [PatternList::UnsupportedDdl, PatternList::UnsupportedDml, PatternList::Replication];
        prop_assert_eq!(is_resumable_error(&pe(10006, "", &raw)), !hit(&dm));
        let all = [
            PatternList::UnsupportedDdl,
            PatternList::UnsupportedDml,
            PatternList::Replication,
            PatternList::PermanentServerError,
        ];
        prop_assert_eq!(crate::Recommended.explain(&pe(10006, "", &raw)).is_resumable(), !hit(&all));
    }
}

#[test]
fn the_adapters_codes_are_never_resumed_by_the_recommended_policy() {
    for code in [
        &ErrorCode::DB_PERMANENT,
        &ErrorCode::INVALID_CONFIG,
        &ErrorCode::UNIT_INTERNAL,
        &ErrorCode::SERVER_UNREACHABLE,
    ] {
        let err = new_process_error(&Error::generate(code, &[&"unique_violation"]));
        let verdict = crate::Recommended.explain(&err);
        assert!(!verdict.is_resumable(), "{}", code.code);
        assert_eq!(verdict.origin(), Origin::BeyondDm);
        // DM's own rules do not know them.
        assert!(crate::DmRules.explain(&err).is_resumable(), "{}", code.code);
    }
    let rule = Rule::SqlState {
        state: "23505",
        name: "unique_violation",
        reason: "the row conflicts with one the target holds",
    };
    assert_eq!(
        Verdict::new(false, rule).to_string(),
        "not resumable: SQLSTATE 23505 (unique_violation): the row conflicts with one the target holds"
    );
}
