//! `unitctl migrate` end to end between two real MariaDB servers.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::process::Command;

use unit_integration_tests::MariaDb;

/// The port of `server`, for command-line clients.
fn port(server: &MariaDb) -> String {
    server
        .url("")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

fn sql(server: &MariaDb, statements: &str) {
    let port = port(server);
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{port}"),
            "-uroot",
            "-e",
            statements,
        ])
        .output()
        .expect("the mariadb client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `unitctl migrate` of database `cli_src` as task `cli` from the server at `source`
/// to the one at `target` (URLs), with JSON output.
fn migrate_command(source: &str, target: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_unitctl"));
    command.env("RUST_LOG", "warn");
    command.args([
        "migrate",
        "--source",
        source,
        "--target",
        target,
        "--databases",
        "cli_src",
        "--task",
        "cli",
        "--json",
    ]);
    command
}

fn migrate(source: &MariaDb, target: &MariaDb, extra: &[&str]) -> std::process::Output {
    migrate_command(&source.url(""), &target.url(""))
        .args(["--check-interval", "0.2", "--interval", "0.2"])
        .args(extra)
        .output()
        .unwrap()
}

/// Asserts `out`'s exit status and returns its standard output and last JSON line.
fn ended(out: std::process::Output, code: i32) -> (String, serde_json::Value) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    (stdout, last)
}

#[test]
fn migrates_verifies_and_a_second_run_has_nothing_left_to_do() {
    let source = MariaDb::start();
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE cli_src; USE cli_src; \
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); \
        INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000; \
        CREATE VIEW tv AS SELECT id FROM t WHERE id < 10; \
        CREATE TRIGGER tt BEFORE INSERT ON t FOR EACH ROW SET NEW.v = UPPER(NEW.v);",
    );
    let out = migrate(&source, &target, &["--chunk-rows", "500"]);
    let (stdout, last) = ended(out, 0);
    assert_eq!(last["event"], "finished");
    assert_eq!(last["complete"], true);
    assert_eq!(last["rows"], 3000);
    // The summary lists the selection with its rows, and every object.
    assert_eq!(
        last["selection"],
        serde_json::json!([{"table": "cli_src.t", "rows": 3000, "verified": true}])
    );
    let objects: Vec<(String, String, bool)> = last["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_owned(),
                o["object"].as_str().unwrap().to_owned(),
                o["migrated"] == true,
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            ("trigger".to_owned(), "cli_src.tt".to_owned(), true),
            ("view".to_owned(), "cli_src.tv".to_owned(), true),
        ]
    );
    assert!(
        last["sql_mode"]
            .as_str()
            .unwrap()
            .contains("NO_AUTO_VALUE_ON_ZERO")
    );
    assert_eq!(
        last["verification"],
        "all 1 tables verified: row counts and checksums equal"
    );
    assert!(
        stdout.lines().any(|l| l.contains("\"event\":\"status\"")),
        "{stdout}"
    );
    assert_eq!(last["rows_this_run"], 3000);
    // Running it again resumes from the checkpoints: nothing is copied twice, and
    // objects left out are listed as such.
    let out = migrate(&source, &target, &["--skip-objects", "views"]);
    let (_, last) = ended(out, 0);
    assert_eq!(
        (&last["rows"], &last["rows_this_run"]),
        (&3000.into(), &0.into())
    );
    let view = &last["objects"].as_array().unwrap()[1];
    assert_eq!(
        (&view["object"], &view["left_out"]),
        (&"cli_src.tv".into(), &true.into())
    );
    let out = migrate(&source, &target, &["--skip-objects", "tables"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unresumable_failure_exits_1_with_the_verdict() {
    let source = MariaDb::start();
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE cli_src; CREATE TABLE cli_src.t (id INT PRIMARY KEY); INSERT INTO cli_src.t VALUES (1), (2);",
    );
    sql(
        &target,
        "CREATE DATABASE cli_src; CREATE TABLE cli_src.t (id INT PRIMARY KEY); INSERT INTO cli_src.t VALUES (2);",
    );
    let out = migrate(&source, &target, &[]);
    let (_, last) = ended(out, 1);
    assert_eq!(last["event"], "failed");
    let verdict = last["errors"][0]["verdict"].as_str().unwrap();
    assert_eq!(
        verdict,
        r#"not resumable: RawCause contains "Error 1062" (unsupported DML)"#
    );
    // The verdict names the policy that decided, the one auto-resume acted on.
    assert_eq!(last["errors"][0]["policy"], "recommended");
    // DM's code has no workaround; the copy says what to do.
    let workaround = last["errors"][0]["Workaround"].as_str().unwrap();
    assert!(
        workaround.contains("already holds a row with this key"),
        "{workaround}"
    );
    assert_eq!(last["errors"][0]["ErrScope"], "downstream");
}

#[test]
fn bad_arguments_exit_2_without_showing_passwords() {
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args([
            "migrate",
            "--source",
            "mysql://u:hunter2@h:notaport",
            "--target",
            "mysql://x@y",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("unitctl: --source: invalid MySQL URL: invalid port number"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args([
            "migrate",
            "--source",
            "mysql://u:hunter2@h:3306",
            "--target",
            "mysql://x@y",
            "--target-ssl-mode",
            "sometimes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--target-ssl-mode: unknown ssl-mode \"sometimes\""),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_pauses_keeps_the_checkpoints_and_the_same_command_resumes() {
    interrupted_mid_copy_then_resumed("INT", 130);
}

/// SIGTERM (a service manager or container runtime stopping the process) behaves as
/// Ctrl-C.
#[test]
fn sigterm_pauses_keeps_the_checkpoints_and_the_same_command_resumes() {
    interrupted_mid_copy_then_resumed("TERM", 143);
}

/// `kill -SIGNAL` mid-copy: exits with `code` and the checkpoints kept; the same
/// command copies the rest, each row once.
fn interrupted_mid_copy_then_resumed(signal: &str, code: i32) {
    let source = MariaDb::start();
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE cli_src; USE cli_src; \
        CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(200)); \
        INSERT INTO t SELECT seq, REPEAT('x', 150) FROM seq_1_to_300000;",
    );
    // The copy goes to the target through a proxy delaying every packet, so that it
    // takes seconds and the interrupt lands mid-copy however fast the machine is (the
    // progress below is read from the target directly).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(unit_integration_tests::FaultProxy::start(target.port()));
    proxy.set_delay(std::time::Duration::from_millis(3));
    let child = migrate_command(&source.url(""), &proxy.url(""))
        .args([
            "--interval",
            "0.1",
            "--chunk-rows",
            "500",
            "--concurrency",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for some progress, then interrupt as Ctrl-C would.
    let port = target
        .url("")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let copied = || {
        let out = Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                &format!("-P{port}"),
                "-uroot",
                "-N",
                "-e",
                "SELECT COALESCE(SUM(rows_copied), 0) FROM unit_checkpoint.copy_checkpoint",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while copied() < 20_000 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{:?}, {} rows copied at exit\n{}",
        out.status,
        copied(),
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .contains("\"event\":\"interrupted\""),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .contains(&format!("\"signal\":\"SIG{signal}\"")),
        "{stdout}"
    );
    let kept = copied();
    assert!(kept > 0 && kept < 300_000, "{kept}");

    let out = migrate(&source, &target, &["--chunk-rows", "500"]);
    let (_, last) = ended(out, 0);
    assert_eq!(
        last["rows"], 300_000,
        "each row copied exactly once over both runs"
    );
    assert_eq!(last["rows_this_run"], 300_000 - kept);
    assert_eq!(
        last["verification"],
        "all 1 tables verified: row counts and checksums equal"
    );
}

/// Starts `unitctl migrate --mode all` in the background, its output discarded.
fn spawn_mode_all(source: &MariaDb, target: &MariaDb) -> std::process::Child {
    migrate_command(&source.url(""), &target.url(""))
        .args([
            "--mode",
            "all",
            "--check-interval",
            "0.2",
            "--interval",
            "0.2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Mode `all` against a source with binary logging: the unitctl process is killed with
/// SIGKILL while it replicates a write load and run again; then writes stop and
/// `--cutover` applies the rest, verifies every table and exits 0 with the final
/// position. `mariadb-dump` of both sides agrees.
#[test]
fn mode_all_survives_sigkill_and_cutover_verifies_every_table() {
    let source = MariaDb::start_with(vec![
        "--server-id=1".into(),
        "--log-bin=binlog".into(),
        "--binlog-format=ROW".into(),
        "--binlog-row-image=FULL".into(),
    ]);
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE cli_src; CREATE TABLE cli_src.t (id INT PRIMARY KEY, n INT, s VARCHAR(20));
         INSERT INTO cli_src.t VALUES (1, 0, 'a'), (2, 0, 'b'), (3, 0, 'c');",
    );
    let writes = |from: i32| {
        let statements: String = (from..from + 40)
            .map(|i| {
                format!(
                    "INSERT INTO cli_src.t VALUES ({i}, 0, 'w'); UPDATE cli_src.t SET n = n + 1 WHERE id = {}; ",
                    i - 1
                )
            })
            .collect();
        sql(&source, &statements);
    };
    let mut first = spawn_mode_all(&source, &target);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    writes(10);
    std::thread::sleep(std::time::Duration::from_millis(300));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    writes(100);
    let out = migrate(&source, &target, &["--mode", "all", "--cutover"]);
    let (stdout, last) = ended(out, 0);
    // It says where replication starts and how the copy was made consistent.
    let replicating: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "replicating")
        .expect("a replicating line");
    // (`resumed` when the SIGKILL landed between the copy's chunk and its end.)
    assert!(
        ["flush", "resumed"].contains(&replicating["consistency"].as_str().unwrap_or_default()),
        "{stdout}"
    );
    assert_eq!(last["event"], "cutover", "{stdout}");
    assert_eq!(last["complete"], true, "{stdout}");
    assert_eq!(last["tables"], 1, "{stdout}");
    assert!(
        last["binlog_file"].as_str().unwrap().starts_with("binlog."),
        "{stdout}"
    );
    let dbs = ["cli_src".to_owned()];
    assert_eq!(source.dump(&dbs), target.dump(&dbs));
}

#[test]
fn online_modes_refuse_bad_arguments() {
    let source = MariaDb::shared();
    for (args, message) in [
        (
            vec!["--cutover"],
            "--cutover needs --mode all or incremental",
        ),
        (vec!["--mode", "incremental"], "--start-position"),
        (
            vec!["--mode", "incremental", "--start-position", "nofile"],
            "FILE:POSITION",
        ),
        (
            vec!["--mode", "all", "--consistency", "snapshot"],
            "--consistency",
        ),
        (
            vec![
                "--mode",
                "incremental",
                "--start-position",
                "binlog.000001:99999999999",
            ],
            "is not an offset in a binlog file",
        ),
        (
            vec!["--start-position", "binlog.000001:4"],
            "--start-position and --start-gtid need --mode incremental",
        ),
    ] {
        let out = migrate_command(&source.url(""), &source.url(""))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// A selection that names what the source does not have, or selects nothing, is a
/// bad argument (exit 2, naming it), never "finished: 0 tables verified".
#[test]
fn a_selection_of_nothing_or_of_what_does_not_exist_is_refused() {
    let source = MariaDb::shared();
    sql(
        source,
        "CREATE DATABASE IF NOT EXISTS cli_sel; CREATE TABLE IF NOT EXISTS cli_sel.t (id INT PRIMARY KEY)",
    );
    for (args, message) in [
        (vec!["--databases", "nosuchdb"], "--databases nosuchdb:"),
        (
            vec!["--databases", "cli_sel", "--tables", "cli_sel.nosuch"],
            "--tables cli_sel.nosuch:",
        ),
        (
            vec!["--databases", "cli_sel", "--exclude", "cli_sel.*"],
            "--databases cli_sel:",
        ),
        (vec!["--databases", "nomatch_*"], "names nothing"),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_unitctl"));
        let out = command
            .args([
                "migrate",
                "--source",
                &source.url(""),
                "--target",
                &source.url(""),
                "--task",
                "sel",
                "--json",
            ])
            .args(&args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout} {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stdout.contains("finished"), "{args:?}: {stdout}");
    }
}

/// sysbench's command line for `action` against database `cli_src` of `server`.
fn sysbench(server: &MariaDb, action: &str, extra: &[&str]) -> Command {
    let port = port(server);
    let mut command = Command::new("sysbench");
    command
        .args([
            "oltp_write_only",
            "--db-driver=mysql",
            "--mysql-host=127.0.0.1",
            &format!("--mysql-port={port}"),
            "--mysql-user=root",
            "--mysql-db=cli_src",
            "--tables=2",
            "--table-size=3000",
        ])
        .args(extra)
        .arg(action)
        .stdout(std::process::Stdio::null());
    command
}

/// A real client's load (sysbench's `oltp_write_only`: index and non-index updates,
/// deletes and inserts of the same keys, in transactions) during `--mode all`, with
/// unitctl killed with SIGKILL twice, interrupted with Ctrl-C once and rerun each time,
/// and an `ALTER TABLE ... ADD COLUMN` mid-stream; then the cutover: exact.
#[test]
fn a_sysbench_load_during_mode_all_with_kills_ends_exact() {
    assert!(
        Command::new("sysbench").arg("--version").output().is_ok(),
        "sysbench is needed: apt-get install -y sysbench (.ci/run installs it)"
    );
    let source = MariaDb::start_with(vec![
        "--server-id=1".into(),
        "--log-bin=binlog".into(),
        "--binlog-format=ROW".into(),
        "--binlog-row-image=FULL".into(),
    ]);
    let target = MariaDb::start();
    sql(&source, "CREATE DATABASE cli_src");
    let prepared = sysbench(&source, "prepare", &[]).status().unwrap();
    assert!(prepared.success(), "sysbench prepare failed");
    let mut load = sysbench(
        &source,
        "run",
        &["--threads=2", "--time=14", "--report-interval=0"],
    )
    .spawn()
    .unwrap();
    for round in 0..3 {
        let mut run = spawn_mode_all(&source, &target);
        std::thread::sleep(std::time::Duration::from_millis(2500));
        if round == 1 {
            sql(
                &source,
                "ALTER TABLE cli_src.sbtest1 ADD COLUMN note VARCHAR(20) NOT NULL DEFAULT 'n'",
            );
        }
        if round == 2 {
            // Ctrl-C: paused, checkpoints kept, exit 130.
            let status = Command::new("kill")
                .args(["-INT", &run.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            assert_eq!(run.wait().unwrap().code(), Some(130));
        } else {
            run.kill().unwrap(); // SIGKILL
            run.wait().unwrap();
        }
    }
    assert!(load.wait().unwrap().success(), "sysbench run failed");
    let out = migrate(&source, &target, &["--mode", "all", "--cutover"]);
    let (stdout, last) = ended(out, 0);
    assert_eq!(last["event"], "cutover", "{stdout}");
    assert_eq!(last["complete"], true, "{stdout}");
    assert_eq!(last["tables"], 2, "{stdout}");
    let dbs = ["cli_src".to_owned()];
    let (up, down) = (source.dump(&dbs), target.dump(&dbs));
    assert!(up.contains("`note`"), "the ALTER is in the dump");
    assert!(up == down, "source and target differ after the cutover");
}

/// `unitctl migrate` with postgres:// URLs on both sides copies the tables of the
/// source database's schemas, exact by pg_dump; a second run has nothing left to do;
/// online mode and mixed URLs are refused as bad arguments.
#[test]
fn postgres_urls_copy_postgresql_tables_in_full_mode() {
    let server = unit_integration_tests::Postgres::start();
    server.psql("postgres", "CREATE DATABASE src");
    server.psql("postgres", "CREATE DATABASE dst");
    server.psql(
        "src",
        "CREATE TABLE a (id int PRIMARY KEY, t text, j jsonb); \
         INSERT INTO a SELECT g, E'x\\ty' || g, jsonb_build_object('g', g) FROM generate_series(1, 3000) g; \
         CREATE TABLE b (k text, n int, PRIMARY KEY (k, n)); \
         INSERT INTO b SELECT 'k' || (g % 7), g FROM generate_series(1, 500) g;",
    );
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_unitctl"))
            .args([
                "migrate",
                "--source",
                &server.url("src"),
                "--target",
                &server.url("dst"),
            ])
            .args(["--task", "pg", "--json", "--chunk-rows", "400"])
            .args(extra)
            .output()
            .unwrap()
    };
    let (stdout, last) = ended(run(&[]), 0);
    assert_eq!(last["event"], "copied", "{stdout}");
    assert_eq!(last["complete"], true);
    assert_eq!(last["tables"], 2);
    assert_eq!(last["rows"], 3500);
    let tables = ["public.a", "public.b"];
    assert_eq!(
        server.dump_rows("src", &tables),
        server.dump_rows("dst", &tables)
    );
    // Again: every chunk is checkpointed, so nothing is copied twice.
    let (_, last) = ended(run(&[]), 0);
    assert_eq!(last["rows"], 3500);
    assert_eq!(
        server.dump_rows("src", &tables),
        server.dump_rows("dst", &tables)
    );
    let copied = server.psql(
        "dst",
        "SELECT sum(rows_copied) FROM unit_checkpoint.copy_checkpoint",
    );
    assert_eq!(copied.trim(), "3500");
    // Not supported, said so.
    let out = run(&["--mode", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("future work"));
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args([
            "migrate",
            "--source",
            &server.url("src"),
            "--target",
            "mysql://root@127.0.0.1:1/",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("both be postgres://"));
}

/// `unitctl migrate` of `cli_src` from `source` to `target` (URLs), with `extra`; its
/// output and how long it ran.
fn migrate_urls(source: &str, target: &str, extra: &[&str]) -> (std::process::Output, f64) {
    let started = std::time::Instant::now();
    let out = migrate_command(source, target)
        .args(["--check-interval", "0.2", "--interval", "0.5"])
        .args(extra)
        .output()
        .unwrap();
    (out, started.elapsed().as_secs_f64())
}

/// A server the task never reached is a setting to correct, not an outage: refused
/// port, a port that accepts and never answers, a host name that does not resolve,
/// on either side; each ends at once (exit 1, code 60014, not resumable) saying which
/// side and why. (They were resumed for ever as "pool timed out".)
#[test]
fn a_server_never_reached_is_refused_at_once_saying_which_side_and_why() {
    let server = MariaDb::start();
    sql(
        &server,
        "CREATE DATABASE cli_src; CREATE TABLE cli_src.t (id INT PRIMARY KEY); INSERT INTO cli_src.t VALUES (1);",
    );
    let refused_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Accepted by the kernel (the backlog), never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let refused = format!("mysql://root:Secret1@127.0.0.1:{refused_port}/");
    let mute = format!("mysql://root:Secret1@127.0.0.1:{silent_port}/");
    let unknown = "mysql://root:Secret1@no-such-host.invalid:3306/".to_owned();
    let up = server.url("");
    for (source, target, side, why) in [
        (&up, &refused, "target", "refused"),
        (&refused, &up, "source", "refused"),
        (&up, &mute, "target", "no answer within 2s"),
        (&unknown, &up, "source", "does not resolve"),
    ] {
        let (out, took) = migrate_urls(source, target, &["--connect-timeout", "2"]);
        let (stdout, last) = ended(out, 1);
        assert_eq!(last["event"], "failed", "{stdout}");
        let error = &last["errors"][0];
        assert_eq!(error["ErrCode"], 60014, "{stdout}");
        let message = error["Message"].as_str().unwrap();
        assert!(
            message.contains(&format!("the {side} server")) && message.contains(why),
            "{side} {why}: {stdout}"
        );
        assert!(!stdout.contains("Secret1"), "{stdout}");
        assert!(took < 30.0, "{side} {why}: took {took} s");
    }
    drop(silent);
}

/// A target lost while the task replicates is an outage, waited out with back-off,
/// for `--max-unavailable` at most: then the task pauses for a person and unitctl
/// exits 1 saying so. (It was retried for ever.)
#[test]
fn a_target_lost_for_longer_than_max_unavailable_pauses_the_task() {
    let source = MariaDb::start_with(vec![
        "--server-id=1".into(),
        "--log-bin=binlog".into(),
        "--binlog-format=ROW".into(),
        "--binlog-row-image=FULL".into(),
    ]);
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE cli_src; CREATE TABLE cli_src.t (id INT PRIMARY KEY); INSERT INTO cli_src.t VALUES (1);",
    );
    let started = std::time::Instant::now();
    let run = migrate_command(&source.url(""), &target.url(""))
        .args([
            "--mode",
            "all",
            "--check-interval",
            "0.2",
            "--interval",
            "0.5",
            "--connect-timeout",
            "2",
            "--max-unavailable",
            "6",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Replicating: the copy's row is on the target.
    let mut copied = false;
    for _ in 0..300 {
        let out = Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                &format!("-P{}", port(&target)),
                "-uroot",
                "-N",
                "-e",
                "SELECT COUNT(*) FROM unit_checkpoint.sync_checkpoint WHERE copy_done = 1",
            ])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == "1" {
            copied = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(copied, "the copy did not finish");
    std::thread::sleep(std::time::Duration::from_millis(500));
    target.kill9();
    let lost_at = started.elapsed().as_secs_f64();
    // A change to apply: an idle Sync unit does not touch the target.
    sql(&source, "INSERT INTO cli_src.t VALUES (2)");
    let out = run.wait_with_output().unwrap();
    let took = started.elapsed().as_secs_f64() - lost_at;
    let (stdout, last) = ended(out, 1);
    assert_eq!(last["event"], "failed", "{stdout}");
    let error = &last["errors"][0];
    let verdict = error["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("unreachable for"), "{stdout}");
    let cause = error["RawCause"].as_str().unwrap();
    assert!(
        cause.contains("the target server") && cause.contains("refused"),
        "{stdout}"
    );
    assert!((6.0..60.0).contains(&took), "ended {took} s after the loss");
}

/// A password the server rejects says which side rejected it: `ErrScope` in the JSON
/// event, "on the source" / "on the target" in the text (it said "database driver
/// error" only).
#[test]
fn a_rejected_password_says_which_side() {
    let server = MariaDb::start();
    let up = server.url("");
    let wrong = up.replacen("root@", "root:Wrong9@", 1);
    assert_ne!(up, wrong);
    for (source, target, scope, said) in [
        (&wrong, &up, "upstream", "on the source"),
        (&up, &wrong, "downstream", "on the target"),
    ] {
        let (out, _) = migrate_urls(source, target, &[]);
        let (stdout, last) = ended(out, 1);
        assert_eq!(last["errors"][0]["ErrScope"], scope, "{stdout}");
        assert!(!stdout.contains("Wrong9"), "{stdout}");
        let text = Command::new(env!("CARGO_BIN_EXE_unitctl"))
            .args([
                "migrate",
                "--source",
                source,
                "--target",
                target,
                "--databases",
                "cli_src",
            ])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&text.stdout);
        assert!(printed.contains(said), "{printed}");
    }
}
