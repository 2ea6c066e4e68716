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
