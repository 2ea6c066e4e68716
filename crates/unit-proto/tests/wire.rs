//! Wire compatibility against golden bytes made by `protoc --encode` (see golden/gen.sh).

use prost::Message;
use unit_proto::pb;

fn golden(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/golden/{name}.bin", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Decodes the golden bytes of `name` as `M`, checks that re-encoding gives the same
/// bytes, and returns the message.
fn round_trip<M: Message + Default>(name: &str) -> M {
    let bytes = golden(name);
    let msg = M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("decoding {name}: {e}"));
    assert_eq!(
        msg.encode_to_vec(),
        bytes,
        "{name}: re-encoding is not byte-identical"
    );
    msg
}

#[test]
fn process_error_matches_protoc() {
    let expect = pb::ProcessError {
        err_code: 10006,
        err_class: "database".into(),
        err_scope: "downstream".into(),
        err_level: "high".into(),
        message: "statement failed: INSERT INTO `shop`.`orders` VALUES (...)".into(),
        raw_cause: "Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'".into(),
        workaround:
            "Remove the conflicting row or skip the statement, then resume.\n\t\"quoted\" 中文"
                .into(),
    };
    assert_eq!(round_trip::<pb::ProcessError>("process_error"), expect);
    // Built here and encoded by prost: the same bytes as protoc's.
    assert_eq!(expect.encode_to_vec(), golden("process_error"));
}

#[test]
fn process_result_matches_protoc() {
    let expect = pb::ProcessResult {
        is_canceled: true,
        errors: vec![
            pb::ProcessError {
                err_code: 10001,
                err_class: "database".into(),
                err_scope: "not-set".into(),
                err_level: "high".into(),
                message: "database driver error".into(),
                ..Default::default()
            },
            pb::ProcessError {
                err_code: -1,
                message: "context canceled".into(),
                ..Default::default()
            },
        ],
        detail: b"\x00\x01\xffbinary".to_vec(),
    };
    assert_eq!(round_trip::<pb::ProcessResult>("process_result"), expect);
    assert_eq!(expect.encode_to_vec(), golden("process_result"));
}

#[test]
fn sub_task_status_matches_protoc() {
    let status = round_trip::<pb::SubTaskStatus>("sub_task_status");
    assert_eq!(status.stage(), pb::Stage::Paused);
    assert_eq!(status.unit(), pb::UnitType::Load);
    let Some(pb::sub_task_status::Status::Load(load)) = &status.status else {
        panic!("expected load status, got {:?}", status.status);
    };
    assert_eq!(load.total_bytes, i64::MAX);
    assert_eq!(load.bps, -1);
    assert_eq!(
        load.meta_binlog_gtid,
        "3ccc475b-2343-11e7-be21-6c0b84d59f30:1-14"
    );
    assert_eq!(status.result.map(|r| r.errors[0].err_code), Some(34019));
}

#[test]
fn query_status_response_matches_protoc() {
    let resp = round_trip::<pb::QueryStatusResponse>("query_status_response");
    let relay = resp
        .source_status
        .and_then(|s| s.relay_status)
        .expect("relay status");
    assert_eq!(relay.stage(), pb::Stage::Running);
    assert!(relay.relay_catch_up_master);
    let stages: Vec<(String, pb::Stage)> = resp
        .sub_task_status
        .iter()
        .map(|s| (s.name.clone(), s.stage()))
        .collect();
    assert_eq!(
        stages,
        [
            ("sync-task".to_owned(), pb::Stage::Running),
            ("check-task".to_owned(), pb::Stage::Finished),
            ("dump-task".to_owned(), pb::Stage::Running),
            ("broken-task".to_owned(), pb::Stage::Stopped),
        ]
    );
    let Some(pb::sub_task_status::Status::Sync(sync)) = &resp.sub_task_status[0].status else {
        panic!("expected sync status");
    };
    assert_eq!(sync.io_total_bytes, u64::MAX);
    assert_eq!(sync.unresolved_groups[0].dd_ls.len(), 1);
    let Some(pb::sub_task_status::Status::Dump(dump)) = &resp.sub_task_status[2].status else {
        panic!("expected dump status");
    };
    assert_eq!(dump.finished_bytes, 1e10);
}

#[test]
fn enum_values_are_dms() {
    let stages = [
        (pb::Stage::InvalidStage, 0),
        (pb::Stage::New, 1),
        (pb::Stage::Running, 2),
        (pb::Stage::Paused, 3),
        (pb::Stage::Stopped, 4),
        (pb::Stage::Finished, 5),
        (pb::Stage::Pausing, 6),
        (pb::Stage::Resuming, 7),
        (pb::Stage::Stopping, 8),
    ];
    for (stage, n) in stages {
        assert_eq!(stage as i32, n, "{stage:?}");
    }
    let units = [
        (pb::UnitType::InvalidUnit, 0),
        (pb::UnitType::Check, 1),
        (pb::UnitType::Dump, 2),
        (pb::UnitType::Load, 3),
        (pb::UnitType::Sync, 4),
        (pb::UnitType::Relay, 100),
    ];
    for (unit, n) in units {
        assert_eq!(unit as i32, n, "{unit:?}");
    }
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = pb::ProcessError::decode(bytes.as_slice());
            let _ = pb::ProcessResult::decode(bytes.as_slice());
            let _ = pb::SubTaskStatus::decode(bytes.as_slice());
            let _ = pb::QueryStatusResponse::decode(bytes.as_slice());
        }

        #[test]
        fn mutated_golden_bytes(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = golden("query_status_response");
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            if let Ok(msg) = pb::QueryStatusResponse::decode(bytes.as_slice()) {
                // Whatever decodes re-encodes and decodes to the same message.
                let again = pb::QueryStatusResponse::decode(msg.encode_to_vec().as_slice());
                prop_assert_eq!(again.ok(), Some(msg));
            }
        }
    }
}
