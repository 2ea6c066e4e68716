//! Cross-crate: a catalogue error becomes a ProcessError, travels as wire bytes and as
//! JSON, and is classified the same way after decoding.

use prost::Message;
use unit_core::{
    Canceled, ErrScope, Error, ErrorCode, Origin, Policy, Recommended, explain_error,
    is_ctx_canceled_process_err, is_resumable_db_error, is_resumable_error, join_process_errors,
    new_process_error,
};
use unit_proto::{CompactText, pb};

/// Sends `err` through both encodings and checks that the verdict survives.
fn check(err: &(dyn std::error::Error + 'static), resumable: bool) -> pb::ProcessError {
    let pe = new_process_error(err);
    let verdict = explain_error(&pe);
    assert_eq!(verdict.is_resumable(), resumable, "{err}: {verdict}");

    let wire = pb::ProcessError::decode(pe.encode_to_vec().as_slice()).expect("decode wire");
    assert_eq!(wire, pe);
    let json = serde_json::to_string(&pe).expect("to json");
    let back: pb::ProcessError = unit_proto::json::from_str(&json).expect("from json");
    assert_eq!(back, pe);
    assert_eq!(explain_error(&back), verdict);
    pe
}

#[derive(Debug)]
struct Driver(&'static str);
impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for Driver {}

#[test]
fn duplicate_key_from_the_downstream_is_never_resumed() {
    let err = Error::delegate(
        &ErrorCode::DB_EXECUTE_FAILED,
        Driver("Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'"),
        &[&"INSERT INTO `t` VALUES (?)"],
    )
    .with_scope(ErrScope::Downstream);
    let pe = check(&err, false);
    assert_eq!(is_resumable_db_error(&err), is_resumable_error(&pe));
    assert_eq!(
        pe.compact_text().to_string(),
        "ErrCode:10006 ErrClass:\"database\" ErrScope:\"downstream\" ErrLevel:\"high\" \
         Message:\"statement failed: INSERT INTO `t` VALUES (?)\" \
         RawCause:\"Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'\" "
    );
}

#[test]
fn lost_connection_is_resumed() {
    let err = Error::delegate(&ErrorCode::DB_BAD_CONN, Driver("connection refused"), &[]);
    let pe = check(&err, true);
    assert_eq!(pe.err_code, 10002);
    assert_eq!(is_resumable_db_error(&err), is_resumable_error(&pe));
}

#[test]
fn unresumable_codes_and_cancellation_survive_the_trip() {
    check(
        &Error::generate(&ErrorCode::DUMP_UNIT_GLOBAL_LOCK, &[]),
        false,
    );
    check(
        &Error::generate(&ErrorCode::LOAD_LIGHTNING_RUNTIME, &[]),
        false,
    );
    check(
        &Error::delegate(
            &ErrorCode::LOAD_LIGHTNING_RUNTIME,
            Driver("table is in mode import"),
            &[],
        ),
        true,
    );
    // DM's answers, inconsistent as they are: a cancelled database error is not
    // resumable, the ProcessError made of it is (DM's supervisor drops such errors
    // before asking). The recommended policy, beyond DM, resumes neither.
    let canceled = check(&Canceled, true);
    assert!(is_ctx_canceled_process_err(&canceled));
    assert!(!is_resumable_db_error(&Canceled));
    let verdict = Recommended.explain(&canceled);
    assert!(!verdict.is_resumable());
    assert_eq!(verdict.origin(), Origin::BeyondDm);
}

#[test]
fn joined_errors_read_like_dms() {
    let a = new_process_error(&Error::generate(&ErrorCode::DB_EXECUTE_FAILED_BEGIN, &[]));
    let b = new_process_error(&Canceled);
    assert_eq!(
        join_process_errors(&[a, b]),
        "ErrCode:10007 ErrClass:\"database\" ErrScope:\"not-set\" ErrLevel:\"high\" \
         Message:\"could not begin a transaction\" , \
         ErrCode:50000 ErrClass:\"not-set\" ErrScope:\"not-set\" ErrLevel:\"high\" Message:\"context canceled\" "
    );
}
