use super::*;

#[test]
fn codes_are_sorted_and_unique_so_lookup_finds_each() {
    for pair in ErrorCode::ALL.windows(2) {
        assert!(
            pair[0].code < pair[1].code,
            "{} before {}",
            pair[0],
            pair[1]
        );
    }
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(code.code), Some(code));
    }
}

#[test]
fn dm_facts_table() {
    // (code, name, class, scope, level) as DM-FACTS.md lists them.
    let table: &[(i32, &str, &str, &str, &str)] = &[
        (10001, "ErrDBDriverError", "database", "not-set", "high"),
        (10002, "ErrDBBadConn", "database", "not-set", "high"),
        (10003, "ErrDBInvalidConn", "database", "not-set", "high"),
        (10004, "ErrDBUnExpect", "database", "not-set", "high"),
        (10005, "ErrDBQueryFailed", "database", "not-set", "high"),
        (10006, "ErrDBExecuteFailed", "database", "not-set", "high"),
        (
            10007,
            "ErrDBExecuteFailedBegin",
            "database",
            "not-set",
            "high",
        ),
        (
            11038,
            "ErrParserParseRelayLog",
            "functional",
            "internal",
            "high",
        ),
        (
            11103,
            "ErrBackoffArgsNotValid",
            "functional",
            "internal",
            "medium",
        ),
        (
            11129,
            "ErrSyncerCancelledDDL",
            "sync-unit",
            "internal",
            "high",
        ),
        (
            30001,
            "ErrRelayUUIDSuffixNotValid",
            "relay-unit",
            "internal",
            "high",
        ),
        (
            30002,
            "ErrRelayUUIDSuffixLessThanPrev",
            "relay-unit",
            "internal",
            "high",
        ),
        (
            30004,
            "ErrRelayBinlogNameNotValid",
            "relay-unit",
            "internal",
            "high",
        ),
        (
            30005,
            "ErrRelayNoCurrentUUID",
            "relay-unit",
            "internal",
            "high",
        ),
        (
            30008,
            "ErrRelayLogDirpathEmpty",
            "relay-unit",
            "internal",
            "high",
        ),
        (32001, "ErrDumpUnitRuntime", "dump-unit", "internal", "high"),
        (
            32004,
            "ErrDumpUnitGlobalLock",
            "dump-unit",
            "internal",
            "high",
        ),
        (
            34019,
            "ErrLoadLightningRuntime",
            "load-unit",
            "internal",
            "high",
        ),
        (
            34020,
            "ErrLoadLightningHasDup",
            "load-unit",
            "internal",
            "medium",
        ),
        (
            34021,
            "ErrLoadLightningChecksum",
            "load-unit",
            "internal",
            "medium",
        ),
        (
            36008,
            "ErrSyncUnitDDLWrongSequence",
            "sync-unit",
            "internal",
            "high",
        ),
        (
            36014,
            "ErrSyncUnitDMLStatementFound",
            "sync-unit",
            "internal",
            "high",
        ),
        (
            36027,
            "ErrSyncerUnitDMLColumnNotMatch",
            "sync-unit",
            "internal",
            "high",
        ),
        (
            40050,
            "ErrWorkerNotRunningStage",
            "dm-worker",
            "internal",
            "high",
        ),
        (
            40051,
            "ErrWorkerNotPausedStage",
            "dm-worker",
            "internal",
            "high",
        ),
        (
            40052,
            "ErrWorkerUpdateTaskStage",
            "dm-worker",
            "internal",
            "high",
        ),
        (
            40060,
            "ErrWorkerNoAvailUnits",
            "dm-worker",
            "internal",
            "high",
        ),
        (50000, "ErrNotSet", "not-set", "not-set", "high"),
        (
            60001,
            "ErrCopyTableConflict",
            "load-unit",
            "downstream",
            "high",
        ),
        (60002, "ErrCopyNoKey", "load-unit", "upstream", "high"),
        (60003, "ErrCheckFailed", "task-check", "internal", "high"),
        (
            60004,
            "ErrCopyVerifyMismatch",
            "load-unit",
            "internal",
            "high",
        ),
        (60005, "ErrCopyUnsupported", "load-unit", "upstream", "high"),
        (
            60006,
            "ErrSyncBinlogUnavailable",
            "sync-unit",
            "upstream",
            "high",
        ),
        (
            60007,
            "ErrSyncRowConflict",
            "sync-unit",
            "downstream",
            "high",
        ),
        (60008, "ErrSyncDdlFailed", "sync-unit", "downstream", "high"),
        (
            60009,
            "ErrSyncUnsupportedEvent",
            "sync-unit",
            "internal",
            "high",
        ),
        (
            60010,
            "ErrSyncSourceNotStopped",
            "sync-unit",
            "upstream",
            "high",
        ),
        (60011, "ErrDbPermanent", "database", "not-set", "high"),
        (60012, "ErrInvalidConfig", "config", "internal", "high"),
        (60013, "ErrUnitInternal", "not-set", "internal", "high"),
        (60014, "ErrServerUnreachable", "database", "not-set", "high"),
    ];
    assert_eq!(table.len(), ErrorCode::ALL.len());
    for &(code, name, class, scope, level) in table {
        let c = ErrorCode::from_code(code).unwrap_or_else(|| panic!("{code} missing"));
        assert_eq!(
            (c.name, c.class.as_str(), c.scope.as_str(), c.level.as_str()),
            (name, class, scope, level),
            "{code}"
        );
    }
}

#[test]
fn class_strings_are_dms() {
    use ErrClass::*;
    let all = [
        Database,
        Functional,
        Config,
        BinlogOp,
        Checkpoint,
        TaskCheck,
        SourceCheck,
        RelayEventLib,
        RelayUnit,
        DumpUnit,
        LoadUnit,
        SyncUnit,
        DmMaster,
        DmWorker,
        DmTracer,
        SchemaTracker,
        Scheduler,
        Dmctl,
        NotSet,
        OpenApi,
        Validator,
        Ha,
    ];
    let strings: Vec<&str> = all.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        strings.join(", "),
        "database, functional, config, binlog-op, checkpoint, task-check, source-check, \
         relay-event-lib, relay-unit, dump-unit, load-unit, sync-unit, dm-master, dm-worker, \
         dm-tracer, schema-tracker, scheduler, dmctl, not-set, openapi, validator, ha"
    );
}
