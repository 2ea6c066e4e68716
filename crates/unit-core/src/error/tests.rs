use super::*;

#[test]
fn template_is_filled_in_order_and_never_panics_on_wrong_counts() {
    let check = |args: &[&dyn fmt::Display], expect: &str| {
        assert_eq!(fill_template("a {} b {} c", args), expect);
    };
    check(&[&1, &"two"], "a 1 b two c");
    check(&[&1], "a 1 b  c");
    check(&[], "a  b  c");
    check(&[&1, &2, &3], "a 1 b 2 c");
}

#[test]
fn delegate_keeps_the_cause_as_source_not_in_display() {
    let cause = std::io::Error::other("boom");
    let err =
        Error::delegate(&ErrorCode::DB_DRIVER_ERROR, cause, &[]).with_scope(ErrScope::Downstream);
    assert_eq!(err.scope(), ErrScope::Downstream);
    assert!(!err.to_string().contains("boom"));
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(source.as_deref(), Some("boom"));
    assert!(err.to_string().starts_with(
        "[code=10001:class=database:scope=downstream:level=high], Message: database driver error, Workaround: "
    ));
}

#[test]
fn display_leaves_out_an_empty_message_and_workaround_as_dm_does() {
    // ErrNotSet has an empty template and no workaround.
    let err = Error::generate(&ErrorCode::NOT_SET, &[]);
    assert_eq!(
        err.to_string(),
        "[code=50000:class=not-set:scope=not-set:level=high]"
    );
    let err = Error::generate(&ErrorCode::DB_EXECUTE_FAILED, &[&"x"]);
    assert!(err.to_string().contains(", Message: statement failed: x"));
}

#[test]
fn nested_delegates_keep_the_root_cause_as_dm_does() {
    use crate::{is_resumable_error, new_process_error};
    let dup = || std::io::Error::other("Error 1062 (23000): Duplicate entry '7' for key 'PRIMARY'");
    let inner = Error::delegate(&ErrorCode::DB_EXECUTE_FAILED, dup(), &[&"INSERT"]);
    let outer = Error::delegate(&ErrorCode::DB_DRIVER_ERROR, inner, &[]);
    let twice = Error::delegate(&ErrorCode::DB_UNEXPECT, outer, &[&"x"]);
    let pe = new_process_error(&twice);
    assert_eq!(pe.err_code, ErrorCode::DB_UNEXPECT.code);
    assert_eq!(
        pe.raw_cause,
        "Error 1062 (23000): Duplicate entry '7' for key 'PRIMARY'"
    );
    assert!(!is_resumable_error(&pe), "a duplicate is never retried");
    // An inner catalogue error without a cause contributes its bare message.
    let inner = Error::generate(&ErrorCode::DB_EXECUTE_FAILED, &[&"UPDATE t"]);
    let outer = Error::delegate(&ErrorCode::DB_DRIVER_ERROR, inner, &[]);
    assert_eq!(
        new_process_error(&outer).raw_cause,
        "statement failed: UPDATE t"
    );
}

#[test]
fn a_cause_whose_display_leaves_out_its_source_does_not_hide_it() {
    #[derive(Debug)]
    struct Context(std::io::Error);
    impl fmt::Display for Context {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("while copying shop.orders")
        }
    }
    impl std::error::Error for Context {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let cause = Context(std::io::Error::other(
        "Error 1406 (22001): Data too long for column 'n'",
    ));
    let err = Error::delegate(&ErrorCode::DB_EXECUTE_FAILED, cause, &[&"INSERT"]);
    let pe = crate::new_process_error(&err);
    assert_eq!(
        pe.raw_cause,
        "while copying shop.orders: Error 1406 (22001): Data too long for column 'n'"
    );
    assert!(!crate::is_resumable_error(&pe));
}
