use super::*;

fn objects() -> Vec<ObjectLine> {
    let object = |kind, object: &str, migrated, left_out, note: &str| ObjectLine {
        kind,
        object: object.to_owned(),
        migrated,
        left_out,
        note: note.to_owned(),
    };
    vec![
        object("view", "shop.v", true, false, ""),
        object(
            "trigger",
            "shop.t",
            false,
            true,
            "left out by --skip-objects",
        ),
        object("event", "shop.e", false, false, "refused"),
    ]
}

fn error() -> ExplainedError {
    ExplainedError {
        err_code: 10006,
        err_scope: "downstream".to_owned(),
        message: "execute statement failed".to_owned(),
        raw_cause: "Table 'x' doesn't exist".to_owned(),
        workaround: "check it".to_owned(),
        policy: "recommended",
        verdict: "no progress after 5 resumes: not resumable: rule x".to_owned(),
    }
}

/// One event of each kind and shape, each with the JSON and the text lines the
/// `json!` values and their readers printed before the events were typed.
fn events() -> Vec<Event> {
    let t =
        |table: &str, rows, verified, note| TableLine::new(table.to_owned(), rows, verified, note);
    vec![
        Event::Finished(Box::new(Finished {
            complete: true,
            tables: 2,
            rows: 3500,
            bytes: 123_456,
            rows_this_run: 3000,
            seconds: 2.0,
            rows_per_second: 1500,
            bytes_per_second: 61728,
            resumes: 1,
            sql_mode: "NO_AUTO_VALUE_ON_ZERO".to_owned(),
            verification: "all 2 tables verified: row counts and checksums equal".to_owned(),
            selection: vec![
                t("shop.a", 3000, true, ""),
                t("shop.b", 500, false, "MyISAM, copied whole"),
            ],
            objects: objects(),
            objects_summary:
                "1 of 3 other objects migrated (1 left out); users and grants are not migrated"
                    .to_owned(),
        })),
        Event::Finished(Box::new(Finished {
            complete: false,
            tables: 0,
            rows: 0,
            bytes: 0,
            rows_this_run: 0,
            seconds: 1.25,
            rows_per_second: 0,
            bytes_per_second: 0,
            resumes: 0,
            sql_mode: String::new(),
            verification: "NOT COMPLETE: x".to_owned(),
            selection: vec![],
            objects: vec![],
            objects_summary:
                "0 of 0 other objects migrated (0 left out); users and grants are not migrated"
                    .to_owned(),
        })),
        Event::Copied(Copied {
            complete: true,
            tables: 2,
            rows: 3500,
            seconds: 3,
            resumes: 0,
            selection: vec![t("public.a", 3000, true, ""), t("public.b", 0, false, "")],
        }),
        Event::Cutover(Box::new(Cutover {
            objects: objects(),
            complete: true,
            position: Some("(binlog.000001, 4)".to_owned()),
            binlog_file: Some("binlog.000001".to_owned()),
            binlog_pos: Some(4),
            gtid: Some("0-1-5".to_owned()),
            changes_applied: 42,
            seconds: 7.5,
            resumes: 2,
            tables: 1,
            verification: "all 1 tables verified at cutover: row counts and checksums equal"
                .to_owned(),
            selection: vec![t(
                "shop.a",
                10,
                true,
                "MyISAM, not transactional: copied outside the snapshot, its changes applied idempotently",
            )],
        })),
        Event::Cutover(Box::new(Cutover {
            objects: vec![],
            complete: false,
            position: None,
            binlog_file: None,
            binlog_pos: None,
            gtid: None,
            changes_applied: 0,
            seconds: 0.0,
            resumes: 0,
            tables: 0,
            verification: "NOT COMPLETE: the cutover did not end".to_owned(),
            selection: vec![],
        })),
        Event::Failed {
            stage: "Paused".to_owned(),
            errors: Some(vec![error(), error()]),
        },
        Event::Failed {
            stage: "Stopped".to_owned(),
            errors: Some(vec![]),
        },
        Event::Failed {
            stage: "Stopped".to_owned(),
            errors: None,
        },
        Event::Interrupted {
            signal: "SIGTERM",
            message: "paused; checkpoints are kept: run the same command again to resume",
        },
        Event::Listening {
            address: "127.0.0.1:8261".to_owned(),
            message: "serving the HTTP API and /metrics at http://127.0.0.1:8261/ (task t)"
                .to_owned(),
        },
        Event::Verifying {
            message: "cutover: verifying",
        },
        Event::Replicating {
            from: "(binlog.000001, 4)".to_owned(),
            consistency: "flush".to_owned(),
            safe_until: None,
            message: "replicating from x".to_owned(),
        },
        Event::Replicating {
            from: "(binlog.000001, 4)".to_owned(),
            consistency: "none".to_owned(),
            safe_until: Some("(binlog.000001, 99)".to_owned()),
            message: "replicating from y".to_owned(),
        },
        Event::SafeMode {
            on: true,
            message: "safe mode on",
        },
    ]
}

const EXPECTED: &[(&str, &str)] = &[
    (
        "{\"bytes\":123456,\"bytes_per_second\":61728,\"complete\":true,\"event\":\"finished\",\"objects\":[{\"kind\":\"view\",\"left_out\":false,\"migrated\":true,\"note\":\"\",\"object\":\"shop.v\"},{\"kind\":\"trigger\",\"left_out\":true,\"migrated\":false,\"note\":\"left out by --skip-objects\",\"object\":\"shop.t\"},{\"kind\":\"event\",\"left_out\":false,\"migrated\":false,\"note\":\"refused\",\"object\":\"shop.e\"}],\"objects_summary\":\"1 of 3 other objects migrated (1 left out); users and grants are not migrated\",\"resumes\":1,\"rows\":3500,\"rows_per_second\":1500,\"rows_this_run\":3000,\"seconds\":2.0,\"selection\":[{\"rows\":3000,\"table\":\"shop.a\",\"verified\":true},{\"note\":\"MyISAM, copied whole\",\"rows\":500,\"table\":\"shop.b\",\"verified\":false}],\"sql_mode\":\"NO_AUTO_VALUE_ON_ZERO\",\"tables\":2,\"verification\":\"all 2 tables verified: row counts and checksums equal\"}",
        "  table shop.a 3000 rows verified\n  table shop.b 500 rows NOT VERIFIED (MyISAM, copied whole)\n  view shop.v migrated \n  trigger shop.t left out left out by --skip-objects\n  event shop.e NOT MIGRATED refused\nfinished: 2 tables, 3500 rows, 123456 bytes; this run copied 3000 rows in 2.0 s (1500 rows/s), 1 automatic resumes\n1 of 3 other objects migrated (1 left out); users and grants are not migrated\nall 2 tables verified: row counts and checksums equal\ntarget sessions wrote with sql_mode=NO_AUTO_VALUE_ON_ZERO\n",
    ),
    (
        "{\"bytes\":0,\"bytes_per_second\":0,\"complete\":false,\"event\":\"finished\",\"objects\":[],\"objects_summary\":\"0 of 0 other objects migrated (0 left out); users and grants are not migrated\",\"resumes\":0,\"rows\":0,\"rows_per_second\":0,\"rows_this_run\":0,\"seconds\":1.25,\"selection\":[],\"sql_mode\":\"\",\"tables\":0,\"verification\":\"NOT COMPLETE: x\"}",
        "finished: 0 tables, 0 rows, 0 bytes; this run copied 0 rows in 1.25 s (0 rows/s), 0 automatic resumes\n0 of 0 other objects migrated (0 left out); users and grants are not migrated\nNOT COMPLETE: x\ntarget sessions wrote with sql_mode=\n",
    ),
    (
        "{\"complete\":true,\"event\":\"copied\",\"resumes\":0,\"rows\":3500,\"seconds\":3,\"selection\":[{\"rows\":3000,\"table\":\"public.a\",\"verified\":true},{\"rows\":0,\"table\":\"public.b\",\"verified\":false}],\"tables\":2}",
        "  table public.a 3000 rows verified\n  table public.b 0 rows NOT VERIFIED\ncopied: 2 tables, 3500 rows in 3 s, 0 automatic resumes\n",
    ),
    (
        "{\"binlog_file\":\"binlog.000001\",\"binlog_pos\":4,\"changes_applied\":42,\"complete\":true,\"event\":\"cutover\",\"gtid\":\"0-1-5\",\"objects\":[{\"kind\":\"view\",\"left_out\":false,\"migrated\":true,\"note\":\"\",\"object\":\"shop.v\"},{\"kind\":\"trigger\",\"left_out\":true,\"migrated\":false,\"note\":\"left out by --skip-objects\",\"object\":\"shop.t\"},{\"kind\":\"event\",\"left_out\":false,\"migrated\":false,\"note\":\"refused\",\"object\":\"shop.e\"}],\"position\":\"(binlog.000001, 4)\",\"resumes\":2,\"seconds\":7.5,\"selection\":[{\"note\":\"MyISAM, not transactional: copied outside the snapshot, its changes applied idempotently\",\"rows\":10,\"table\":\"shop.a\",\"verified\":true}],\"tables\":1,\"verification\":\"all 1 tables verified at cutover: row counts and checksums equal\"}",
        "  table shop.a 10 rows verified (MyISAM, not transactional: copied outside the snapshot, its changes applied idempotently)\n  view shop.v migrated \n  trigger shop.t left out left out by --skip-objects\n  event shop.e NOT MIGRATED refused\ncutover: the target holds every change up to (binlog.000001, 4); 42 changes applied by this run, 2 automatic resumes\nall 1 tables verified at cutover: row counts and checksums equal\n",
    ),
    (
        "{\"binlog_file\":null,\"binlog_pos\":null,\"changes_applied\":0,\"complete\":false,\"event\":\"cutover\",\"gtid\":null,\"objects\":[],\"position\":null,\"resumes\":0,\"seconds\":0.0,\"selection\":[],\"tables\":0,\"verification\":\"NOT COMPLETE: the cutover did not end\"}",
        "cutover: the target holds every change up to nothing; 0 changes applied by this run, 0 automatic resumes\nNOT COMPLETE: the cutover did not end\n",
    ),
    (
        "{\"errors\":[{\"ErrCode\":10006,\"ErrScope\":\"downstream\",\"Message\":\"execute statement failed\",\"RawCause\":\"Table 'x' doesn't exist\",\"Workaround\":\"check it\",\"policy\":\"recommended\",\"verdict\":\"no progress after 5 resumes: not resumable: rule x\"},{\"ErrCode\":10006,\"ErrScope\":\"downstream\",\"Message\":\"execute statement failed\",\"RawCause\":\"Table 'x' doesn't exist\",\"Workaround\":\"check it\",\"policy\":\"recommended\",\"verdict\":\"no progress after 5 resumes: not resumable: rule x\"}],\"event\":\"failed\",\"stage\":\"Paused\"}",
        "failed (not resumable):\n  10006 on the target: execute statement failed\n    cause: Table 'x' doesn't exist\n    no progress after 5 resumes: not resumable: rule x (policy recommended)\n    workaround: check it\n  10006 on the target: execute statement failed\n    cause: Table 'x' doesn't exist\n    no progress after 5 resumes: not resumable: rule x (policy recommended)\n    workaround: check it\n",
    ),
    (
        "{\"errors\":[],\"event\":\"failed\",\"stage\":\"Stopped\"}",
        "failed (not resumable):\n",
    ),
    (
        "{\"event\":\"failed\",\"stage\":\"Stopped\"}",
        "failed (not resumable):\n",
    ),
    (
        "{\"event\":\"interrupted\",\"message\":\"paused; checkpoints are kept: run the same command again to resume\",\"signal\":\"SIGTERM\"}",
        "paused; checkpoints are kept: run the same command again to resume\n",
    ),
    (
        "{\"address\":\"127.0.0.1:8261\",\"event\":\"listening\",\"message\":\"serving the HTTP API and /metrics at http://127.0.0.1:8261/ (task t)\"}",
        "serving the HTTP API and /metrics at http://127.0.0.1:8261/ (task t)\n",
    ),
    (
        "{\"event\":\"verifying\",\"message\":\"cutover: verifying\"}",
        "cutover: verifying\n",
    ),
    (
        "{\"consistency\":\"flush\",\"event\":\"replicating\",\"from\":\"(binlog.000001, 4)\",\"message\":\"replicating from x\",\"safe_until\":null}",
        "replicating from x\n",
    ),
    (
        "{\"consistency\":\"none\",\"event\":\"replicating\",\"from\":\"(binlog.000001, 4)\",\"message\":\"replicating from y\",\"safe_until\":\"(binlog.000001, 99)\"}",
        "replicating from y\n",
    ),
    (
        "{\"event\":\"safe_mode\",\"message\":\"safe mode on\",\"on\":true}",
        "safe mode on\n",
    ),
];

fn written(event: &Event, json: bool) -> String {
    let mut out = Vec::new();
    event.write(&mut out, json).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn events_print_the_lines_they_always_printed() {
    let events = events();
    assert_eq!(events.len(), EXPECTED.len());
    for (event, (json, text)) in events.iter().zip(EXPECTED) {
        assert_eq!(written(event, true), format!("{json}\n"));
        assert_eq!(written(event, false), *text);
    }
}

#[test]
fn only_a_complete_summary_is_complete() {
    let complete: Vec<bool> = events().iter().map(Event::complete).collect();
    let mut expected = vec![false; complete.len()];
    // The first finished, the copied and the first cutover say complete.
    for i in [0, 2, 3] {
        expected[i] = true;
    }
    assert_eq!(complete, expected);
}
