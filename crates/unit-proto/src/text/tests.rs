use crate::{CompactText, pb};

fn check(err: &pb::ProcessError, expect: &str) {
    assert_eq!(err.compact_text().to_string(), expect);
}

#[test]
fn every_field_in_order_each_followed_by_a_space() {
    check(
        &pb::ProcessError {
            err_code: 10001,
            err_class: "database".into(),
            err_scope: "not-set".into(),
            err_level: "high".into(),
            message: "database driver error".into(),
            raw_cause: "Error 1062 (23000): dup".into(),
            workaround: "Please check.".into(),
        },
        r#"ErrCode:10001 ErrClass:"database" ErrScope:"not-set" ErrLevel:"high" Message:"database driver error" RawCause:"Error 1062 (23000): dup" Workaround:"Please check." "#,
    );
}

#[test]
fn default_values_are_left_out() {
    check(&pb::ProcessError::default(), "");
    check(
        &pb::ProcessError {
            workaround: "w".into(),
            ..Default::default()
        },
        r#"Workaround:"w" "#,
    );
    check(
        &pb::ProcessError {
            err_code: -1,
            ..Default::default()
        },
        "ErrCode:-1 ",
    );
}

#[test]
fn strings_use_c_escapes_and_octal_for_other_bytes() {
    check(
        &pb::ProcessError {
            message: "a\"b\\c\nd\re\tf".into(),
            ..Default::default()
        },
        r#"Message:"a\"b\\c\nd\re\tf" "#,
    );
    check(
        &pb::ProcessError {
            message: "\u{0}\u{7f}'中".into(),
            ..Default::default()
        },
        r#"Message:"\000\177'\344\270\255" "#,
    );
}

#[test]
fn process_result_nests_errors() {
    let result = pb::ProcessResult {
        is_canceled: true,
        errors: vec![pb::ProcessError {
            err_code: 1,
            ..Default::default()
        }],
        detail: b"x\x01".to_vec(),
    };
    assert_eq!(
        result.compact_text().to_string(),
        r#"isCanceled:true errors:<ErrCode:1 > detail:"x\001" "#
    );
}
