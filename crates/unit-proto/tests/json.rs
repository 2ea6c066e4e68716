//! JSON mapping as DM's jsonpb writes it for dmctl's `query-status`.
#![cfg(feature = "serde")]

use serde_json::{Value, json};
use unit_proto::pb;

#[test]
fn process_error_uses_dms_field_names_and_emits_defaults() {
    let err = pb::ProcessError {
        err_code: 10001,
        message: "m".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({
            "ErrCode": 10001, "ErrClass": "", "ErrScope": "", "ErrLevel": "",
            "Message": "m", "RawCause": "", "Workaround": ""
        })
    );
}

#[test]
fn enums_by_name_int64_as_strings_bytes_as_base64() {
    let status = pb::SubTaskStatus {
        name: "t".into(),
        stage: pb::Stage::Paused.into(),
        unit: pb::UnitType::Load.into(),
        result: Some(pb::ProcessResult {
            is_canceled: true,
            errors: vec![],
            detail: b"hi".to_vec(),
        }),
        unresolved_ddl_lock_id: String::new(),
        status: Some(pb::sub_task_status::Status::Load(pb::LoadStatus {
            finished_bytes: 5,
            total_bytes: i64::MAX,
            progress: "1 %".into(),
            bps: -3,
            ..Default::default()
        })),
        validation: None,
    };
    let value = serde_json::to_value(&status).unwrap();
    assert_eq!(
        value,
        json!({
            "name": "t", "stage": "Paused", "unit": "Load",
            "result": {"isCanceled": true, "errors": [], "detail": "aGk="},
            "unresolvedDDLLockID": "",
            "load": {
                "finishedBytes": "5", "totalBytes": "9223372036854775807", "progress": "1 %",
                "metaBinlog": "", "metaBinlogGTID": "", "bps": "-3"
            }
        })
    );
    let back: pb::SubTaskStatus = serde_json::from_value(value).unwrap();
    assert_eq!(back, status);
}

#[test]
fn reads_dmctl_output_including_nulls_and_oneofs() {
    // Shaped as dmctl prints one source of `query-status` (jsonpb with EmitDefaults).
    let doc = r#"{
        "result": true, "msg": "",
        "sourceStatus": {
            "source": "mysql-replica-01", "worker": "worker1", "result": null,
            "relayStatus": null
        },
        "subTaskStatus": [{
            "name": "test", "stage": "Paused", "unit": "Sync",
            "result": {"isCanceled": false, "errors": [{
                "ErrCode": 36027, "ErrClass": "sync-unit", "ErrScope": "internal",
                "ErrLevel": "high", "Message": "row has 3 columns but table `t` has 2",
                "RawCause": "", "Workaround": "Make the schemas match."
            }], "detail": null},
            "unresolvedDDLLockID": "",
            "sync": {
                "totalEvents": "12", "totalTps": "1", "recentTps": "0",
                "masterBinlog": "(bin.000001, 2022)", "masterBinlogGtid": "",
                "syncerBinlog": "(bin.000001, 1800)", "syncerBinlogGtid": "",
                "blockingDDLs": [], "unresolvedGroups": [], "synced": false,
                "binlogType": "remote", "secondsBehindMaster": "0", "blockDDLOwner": "",
                "conflictMsg": "", "totalRows": "12", "totalRps": "1", "recentRps": "0",
                "ioTotalBytes": "18446744073709551615", "dumpIOTotalBytes": "0"
            }
        }]
    }"#;
    let resp: pb::QueryStatusResponse = unit_proto::json::from_str(doc).unwrap();
    let task = &resp.sub_task_status[0];
    assert_eq!(task.stage(), pb::Stage::Paused);
    assert_eq!(task.result.as_ref().unwrap().errors[0].err_code, 36027);
    let Some(pb::sub_task_status::Status::Sync(sync)) = &task.status else {
        panic!("sync")
    };
    assert_eq!(sync.io_total_bytes, u64::MAX);
    assert_eq!(resp.source_status.as_ref().unwrap().relay_status, None);
    // Writing it back keeps DM's names and string-encoded 64-bit integers.
    let again: Value = serde_json::to_value(&resp).unwrap();
    assert_eq!(again["subTaskStatus"][0]["sync"]["totalEvents"], "12");
    assert_eq!(
        again["subTaskStatus"][0]["result"]["errors"][0]["ErrCode"],
        36027
    );
}

#[test]
fn bad_json_is_an_error_not_a_panic() {
    for doc in [
        r#"{"ErrCode": "x"}"#,
        r#"{"ErrCode": 1e100}"#,
        r#"{"ErrCode": 1, "ErrCode": 2}"#,
        r#"{"stage": "Sleeping"}"#,
        r#"[1]"#,
    ] {
        assert!(
            serde_json::from_str::<pb::ProcessError>(doc).is_err() || doc.contains("stage"),
            "{doc}"
        );
        // `ErrCode` is not a field of SubTaskStatus: an unknown field, ignored.
        assert!(
            serde_json::from_str::<pb::SubTaskStatus>(doc).is_err() || doc.contains("ErrCode"),
            "{doc}"
        );
    }
}

#[test]
fn fields_of_a_newer_dm_are_ignored_when_reading() {
    let newer = json!({
        "name": "t", "stage": "Paused", "unit": "Sync",
        "someFieldOfDm9": {"nested": [1, 2]},
        "result": {"isCanceled": false, "errors": [
            {"ErrCode": 10006, "RawCause": "Error 1062", "Severity": "fatal"}
        ], "extra": true},
        "validation": {"task": "t", "stage": "Running", "cutoverBinlogPos": "(f, 4)"}
    });
    let status: pb::SubTaskStatus = unit_proto::json::from_value(newer).unwrap();
    assert_eq!(status.name, "t");
    assert_eq!(status.result.unwrap().errors[0].err_code, 10006);
    let validation = status.validation.unwrap();
    assert_eq!(
        (validation.task.as_str(), validation.stage()),
        ("t", pb::Stage::Running)
    );
}
