use super::*;
use proptest::prelude::*;

/// Explains `input` and returns (path, classifier, resumable) per error, or the error text.
fn check(input: &str, expect: Result<&[(&str, &str, bool)], &str>) {
    let got = explain_query_status(input.as_bytes()).map(|r| {
        r.items
            .iter()
            .map(|i| {
                (
                    i.path.clone(),
                    i.classifier.as_str(),
                    i.verdict.is_resumable(),
                )
            })
            .collect::<Vec<_>>()
    });
    match (got, expect) {
        (Ok(items), Ok(expect)) => {
            let expect: Vec<(String, &str, bool)> = expect
                .iter()
                .map(|&(p, c, r)| (p.to_owned(), c, r))
                .collect();
            assert_eq!(items, expect, "{input}");
        }
        (Err(err), Err(expect)) => assert_eq!(err.to_string(), expect, "{input}"),
        (got, expect) => panic!(
            "{input}: got {got:?}, expected {expect:?}",
            got = got.map_err(|e| e.to_string())
        ),
    }
}

#[test]
fn single_error_list_and_process_result() {
    let dup = r#"{"ErrCode": 10006, "RawCause": "Error 1062 (23000): dup"}"#;
    check(dup, Ok(&[("$", "task", false)]));
    check(
        &format!("[{dup}, {{\"ErrCode\": 10001}}]"),
        Ok(&[("$[0]", "task", false), ("$[1]", "task", true)]),
    );
    check(
        &format!(r#"{{"isCanceled": false, "errors": [{dup}], "detail": null}}"#),
        Ok(&[("$.errors[0]", "task", false)]),
    );
}

#[test]
fn query_status_sample_finds_every_error_and_uses_the_relay_classifier_under_relay_status() {
    let sample = include_str!("../../../../examples/query-status.json");
    check(
        sample,
        Ok(&[
            (
                "$.sources[0].subTaskStatus[0].result.errors[0]",
                "task",
                false,
            ),
            (
                "$.sources[1].sourceStatus.relayStatus.result.errors[0]",
                "relay",
                true,
            ),
            (
                "$.sources[1].subTaskStatus[0].result.errors[0]",
                "task",
                true,
            ),
        ]),
    );
}

#[test]
fn relay_classifier_applies_only_under_relay_status() {
    let relay =
        r#"{"relayStatus": {"result": {"errors": [{"ErrCode": 30001}, {"ErrCode": 32001}]}}}"#;
    check(
        relay,
        Ok(&[
            ("$.relayStatus.result.errors[0]", "relay", false),
            ("$.relayStatus.result.errors[1]", "relay", true),
        ]),
    );
    check(
        r#"{"x": [{"ErrCode": 32001}]}"#,
        Ok(&[("$.x[0]", "task", false)]),
    );
}

#[test]
fn odd_keys_are_quoted_in_paths() {
    check(
        r#"{"a b": {"ErrCode": 1}, "0x": {"ErrCode": 2}}"#,
        Ok(&[("$[\"0x\"]", "task", true), ("$[\"a b\"]", "task", true)]),
    );
}

#[test]
fn no_errors_is_fine() {
    check(r#"{"result": true, "sources": []}"#, Ok(&[]));
    check("[]", Ok(&[]));
}

#[test]
fn bad_input_names_the_problem_and_position() {
    check("", Err("input is empty; expected a JSON object or array"));
    check(
        "  \n",
        Err("input is empty; expected a JSON object or array"),
    );
    check(
        "{\"ErrCode\": 1,\n  oops}",
        Err("invalid JSON: key must be a string at line 2 column 3"),
    );
    check(
        "42",
        Err("expected a JSON object or array of process errors, found a number"),
    );
    check(
        "\"x\"",
        Err("expected a JSON object or array of process errors, found a string"),
    );
    check(
        r#"{"errors": [{"ErrCode": "ten"}]}"#,
        Err(
            "the error object at $.errors[0] is not a valid ProcessError: invalid digit found in string",
        ),
    );
    // A field DM added later (or a typo) is ignored, so a newer DM's output reads; a
    // known field of the wrong type is not.
    check(
        r#"[{"ErrCode": 1, "Severity": "fatal"}]"#,
        Ok(&[("$[0]", "task", true)]),
    );
    check(
        r#"[{"ErrCode": 1, "Message": 5}]"#,
        Err(
            "the error object at $[0] is not a valid ProcessError: invalid type: integer `5`, expected a string",
        ),
    );
    assert!(matches!(
        explain_query_status(b"\xff\xfe"),
        Err(QueryStatusError::Json(_))
    ));
}

#[test]
fn text_and_json_reports() {
    let report = explain_query_status(br#"[{"ErrCode": 10006, "ErrClass": "database", "Message": "statement failed: INSERT", "RawCause": "Error 1062 (23000): dup"}]"#).unwrap();
    assert_eq!(
        report.to_text(),
        "$[0]\n  code:      10006 ErrDBExecuteFailed (class database, scope -, level -)\n  \
         message:   statement failed: INSERT\n  raw cause: Error 1062 (23000): dup\n  \
         resumable: no (task classifier)\n  rule:      RawCause contains \"Error 1062\" (unsupported DML)\n\n\
         1 error: 0 resumable, 1 not resumable\n"
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["allResumable"], false);
    assert_eq!(json["errors"][0]["rule"]["pattern"], "Error 1062");
    assert_eq!(json["errors"][0]["rule"]["list"], "unsupported DML");
    assert_eq!(json["errors"][0]["name"], "ErrDBExecuteFailed");
    assert!(
        explain_query_status(b"[]")
            .unwrap()
            .to_text()
            .contains("no process errors found")
    );
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(report) = explain_query_status(&input) {
            let _ = (report.to_text(), report.to_json());
        }
    }

    #[test]
    fn arbitrary_error_objects_never_panic(code in any::<i32>(), raw in ".{0,64}", msg in ".{0,64}") {
        let doc = json!([{"ErrCode": code, "RawCause": raw, "Message": msg}]);
        let report = explain_query_status_value(&doc).unwrap();
        prop_assert_eq!(report.items.len(), 1);
        let _ = (report.to_text(), report.to_json());
    }
}

#[test]
fn dms_verdict_first_and_the_recommended_one_where_it_differs() {
    let input = r#"[
        {"ErrCode": 10001, "RawCause": "Error 1045 (28000): Access denied for user 'app'"},
        {"ErrCode": 10006, "Message": "statement failed: context canceled"},
        {"ErrCode": 10006, "RawCause": "Error 1062 (23000): dup"}
    ]"#;
    let report = explain_query_status(input.as_bytes()).unwrap();
    let dm: Vec<bool> = report
        .items
        .iter()
        .map(|i| i.verdict.is_resumable())
        .collect();
    assert_eq!(dm, [true, true, false], "DM resumes the first two");
    let recommended: Vec<Option<bool>> = report
        .items
        .iter()
        .map(|i| i.recommended.map(|r| r.is_resumable()))
        .collect();
    assert_eq!(recommended, [Some(false), Some(false), None]);
    let text = report.to_text();
    assert!(
        text.contains("  beyond DM: not resumable by the recommended policy (this workspace's auto-resume): RawCause contains \"Error 1045\""),
        "{text}"
    );
    assert!(!report.all_resumable());
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["errors"][0]["resumable"], true);
    assert_eq!(json["errors"][0]["recommended"]["resumable"], false);
    assert_eq!(json["errors"][0]["recommended"]["beyondDM"], true);
    assert!(json["errors"][2]["recommended"].is_null());
}
