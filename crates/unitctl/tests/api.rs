//! Operating a migration from outside: DM's task and source files, the HTTP status and
//! control API, `unitctl status|stop|start --addr`, `/metrics`, bad requests, SIGTERM,
//! against two real MariaDB servers.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use unit_integration_tests::MariaDb;

fn sql(server: &MariaDb, statements: &str) -> String {
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{}", server.port()),
            "-uroot",
            "-N",
            "-e",
            statements,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running `unitctl migrate --listen 127.0.0.1:0`: its JSON lines and the address
/// it announced.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    base: String,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .env("RUST_LOG", "warn")
        .arg("migrate")
        .args(args)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--check-interval",
            "0.2",
            "--interval",
            "0.5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a listening line");
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if v["event"] == "listening" {
                break format!("http://{}", v["address"].as_str().unwrap());
            }
        }
        assert!(Instant::now() < deadline, "no listening line");
    };
    Running { child, lines, base }
}

fn get(url: &str) -> (u16, Value) {
    let r = reqwest::blocking::get(url).unwrap();
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

fn post(url: &str, body: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().unwrap_or(Value::Null))
}

fn unitctl(verb: &str, base: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args([verb, "--addr", base.trim_start_matches("http://")])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Polls the task's status until `pred` holds (60 s at most); the status.
fn status_until(base: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = get(&format!("{base}/api/v1/tasks/api/status"));
        assert_eq!(code, 200, "{body}");
        let task = body["data"][0].clone();
        if pred(&task) {
            return task;
        }
        assert!(Instant::now() < deadline, "never {what}: {task:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The samples of `/metrics`, parsed by a Prometheus text parser.
fn scrape(base: &str) -> prometheus_parse::Scrape {
    let text = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn sum(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn write_files(dir: &std::path::Path, source: &MariaDb, target: &MariaDb) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let task = format!(
        "# DM task file\nname: api\ntask-mode: all\nmeta-schema: dm_meta\n\
         target-database:\n  host: 127.0.0.1\n  port: {}\n  user: root\n  password: \"\"\n\
         mysql-instances:\n  - source-id: replica-01\n    block-allow-list: rules\n    mydumper-config-name: dump\n    syncer-config-name: sync\n\
         block-allow-list:\n  rules:\n    do-dbs: [\"api_src\"]\n    ignore-tables:\n      - db-name: api_src\n        tbl-name: skipped\n\
         mydumpers:\n  dump:\n    threads: 2\n\
         syncers:\n  sync:\n    worker-count: 2\n    batch: 100\n",
        target.port()
    );
    let source_file = format!(
        "source-id: replica-01\nenable-gtid: false\nflavor: mariadb\nfrom:\n  host: 127.0.0.1\n  port: {}\n  user: root\n  password: \"\"\n",
        source.port()
    );
    let (t, s) = (dir.join("task.yaml"), dir.join("source.yaml"));
    std::fs::write(&t, task).unwrap();
    std::fs::write(&s, source_file).unwrap();
    (t.display().to_string(), s.display().to_string())
}

#[test]
fn a_migration_from_dm_files_is_watched_stopped_and_started_over_http() {
    let source = MariaDb::start_with(vec![
        "--server-id=1".into(),
        "--log-bin=binlog".into(),
        "--binlog-format=ROW".into(),
        "--binlog-row-image=FULL".into(),
    ]);
    let target = MariaDb::start();
    sql(
        &source,
        "CREATE DATABASE api_src; USE api_src; \
         CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40)); \
         INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_12000; \
         CREATE TABLE u (id INT PRIMARY KEY, n INT); INSERT INTO u SELECT seq, 0 FROM seq_1_to_500; \
         CREATE TABLE skipped (id INT PRIMARY KEY); INSERT INTO skipped VALUES (1);",
    );
    let dir = std::env::temp_dir().join(format!("unitctl-api-{}", std::process::id()));
    let (task, source_file) = write_files(&dir, &source, &target);
    // The copy is slowed by a row limit, so that it can be watched, stopped and
    // started while it copies.
    let files = [
        "--config",
        task.as_str(),
        "--source-config",
        source_file.as_str(),
    ];
    let mut run = spawn(
        &[
            &files[..],
            &["--chunk-rows", "500", "--max-rows-per-second", "3000"],
        ]
        .concat(),
    );
    let base = run.base.clone();

    // While it copies: DM's fields, this tool's own, and the throttle.
    let copying = status_until(&base, "copying and throttled", |t| {
        t["unit"] == "Load" && t["migration"]["copy"]["throttled"] == true
    });
    assert_eq!(copying["name"], "api");
    assert_eq!(
        copying["source_name"], "replica-01",
        "the source file's source-id"
    );
    assert_eq!(copying["worker_name"], "unitctl");
    assert_eq!(copying["stage"], "Running");
    for field in [
        "finished_bytes",
        "total_bytes",
        "progress",
        "meta_binlog",
        "meta_binlog_gtid",
        "bps",
    ] {
        assert!(
            !copying["load_status"][field].is_null(),
            "{field}: {copying:#}"
        );
    }
    assert_eq!(
        copying["migration"]["copy"]["throttled_by"],
        serde_json::json!(["max_rows_per_second"])
    );
    let tables: Vec<&str> = copying["migration"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        ["api_src.t", "api_src.u"],
        "ignore-tables left `skipped` out"
    );
    // Answered from memory, at once.
    let started = Instant::now();
    for _ in 0..20 {
        get(&format!("{base}/api/v1/tasks/api/status"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?} for 20 status calls",
        started.elapsed()
    );
    let metrics = scrape(&base);
    assert_eq!(
        sum(
            &metrics,
            "unit_throttled",
            Some(("reason", "max_rows_per_second"))
        ),
        1.0
    );
    assert_eq!(sum(&metrics, "dm_worker_task_state", None), 2.0);

    // Stop over HTTP: paused, checkpoints kept; readyz says so.
    let (code, answer) = post(&format!("{base}/api/v1/tasks/api/stop"), "");
    assert_eq!(
        (code, answer["stage"].as_str()),
        (200, Some("Paused")),
        "{answer}"
    );
    let (code, ready) = get(&format!("{base}/readyz"));
    assert_eq!(code, 503, "{ready}");
    let copied_when_stopped = status_until(&base, "paused", |t| t["stage"] == "Paused")["migration"]["copy"]["rows_copied"].clone();
    std::thread::sleep(Duration::from_millis(700));
    let still = status_until(&base, "paused", |t| t["stage"] == "Paused");
    assert_eq!(
        still["migration"]["copy"]["rows_copied"], copied_when_stopped,
        "nothing copied while stopped"
    );
    // A second stop is DM's refusal; unitctl start resumes.
    let (code, refused) = post(&format!("{base}/api/v1/tasks/api/stop"), "{}");
    assert_eq!(code, 400, "{refused}");
    assert_eq!(refused["error_code"], 40050, "{refused}");
    let (exit, out) = unitctl("start", &base, &[]);
    assert_eq!(exit, Some(0), "{out}");
    assert!(out.contains("task api: Running"), "{out}");
    let (code, _) = get(&format!("{base}/readyz"));
    assert_eq!(code, 200);
    // unitctl stop and status, then start over HTTP.
    let (exit, out) = unitctl("stop", &base, &["--task", "api"]);
    assert_eq!(exit, Some(0), "{out}");
    let (exit, out) = unitctl("status", &base, &["--json"]);
    assert_eq!(exit, Some(0), "{out}");
    let shown: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(shown["data"][0]["stage"], "Paused", "{out}");
    let (exit, out) = unitctl("status", &base, &["--task", "nope"]);
    assert_eq!(exit, Some(1), "{out}");
    assert!(
        out.contains("46018") && out.contains("task with name nope not exist"),
        "{out}"
    );
    let (code, answer) = post(&format!("{base}/api/v1/tasks/api/start"), "");
    assert_eq!(
        (code, answer["stage"].as_str()),
        (200, Some("Running")),
        "{answer}"
    );

    // Bad requests get errors and leave the migration running.
    let (code, body) = get(&format!("{base}/api/v1/tasks/nope/status"));
    assert_eq!(
        (code, body["error_code"].as_i64()),
        (404, Some(46018)),
        "{body}"
    );
    let (code, body) = get(&format!("{base}/api/v1/tasks/api/stop"));
    assert_eq!(code, 405, "{body}");
    assert!(
        body["error_msg"].as_str().unwrap().contains("method"),
        "{body}"
    );
    let (code, body) = post(&format!("{base}/api/v1/tasks/api/stop"), "{not json");
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_msg"].as_str().unwrap().contains("not JSON"),
        "{body}"
    );
    let (code, body) = post(
        &format!("{base}/api/v1/tasks/api/stop"),
        "{\"remove_meta\": true}",
    );
    assert_eq!(code, 400, "{body}");
    let big = "x".repeat(10 << 20);
    let r = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/tasks/api/stop"))
        .body(big)
        .send();
    // The server may answer 413 before reading it all, or close the connection.
    if let Ok(r) = r {
        assert_eq!(r.status().as_u16(), 413);
    }
    let (code, body) = get(&format!("{base}/nowhere"));
    assert_eq!(
        (code, body["error_code"].as_i64()),
        (404, Some(49001)),
        "{body}"
    );
    // A slow client holds a connection open with half a request; others are served.
    let addr = base.trim_start_matches("http://");
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /api/v1/tasks/api/status HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (code, _) = get(&format!("{base}/healthz"));
    assert_eq!(code, 200);
    let running = status_until(&base, "running after the bad requests", |t| {
        t["stage"] == "Running"
    });
    assert_eq!(running["error_msg"], "");

    // Replication: changes applied, positions and counters in the metrics.
    let synced = status_until(&base, "replicating", |t| {
        t["unit"] == "Sync" && t["sync_status"]["synced"] == true
    });
    assert!(
        !synced["sync_status"]["master_binlog"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    sql(
        &source,
        "INSERT INTO api_src.t VALUES (20001, 'new'); UPDATE api_src.u SET n = n + 1 WHERE id <= 10; DELETE FROM api_src.t WHERE id = 5;",
    );
    let applied = status_until(&base, "the changes applied", |t| {
        t["sync_status"]["total_events"].as_i64().unwrap_or(0) >= 12
            && t["sync_status"]["synced"] == true
    });
    let metrics = scrape(&base);
    let copied: f64 = sum(&metrics, "unit_copy_rows_total", None);
    assert_eq!(copied, 12_500.0, "every row copied once, counted once");
    assert_eq!(
        applied["migration"]["copy"]["rows_copied"]
            .as_f64()
            .unwrap_or(0.0),
        copied,
        "the counter agrees with the status"
    );
    assert!(
        sum(
            &metrics,
            "unit_checkpoint_commits_total",
            Some(("unit", "load"))
        ) >= 25.0
    );
    assert!(sum(&metrics, "dm_syncer_finished_transaction_total", None) >= 3.0);
    assert!(sum(&metrics, "unit_sync_changes_total", None) >= 12.0);
    assert!(sum(&metrics, "dm_syncer_binlog_pos", Some(("node", "syncer"))) > 0.0);
    assert!(sum(&metrics, "dm_syncer_binlog_file", Some(("node", "master"))) >= 1.0);
    drop(slow);

    // SIGTERM stops it as Ctrl-C does; the same files run the cutover.
    let pid = run.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = run.child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    let interrupted = run.lines.iter().find(|l| l.contains("\"interrupted\""));
    assert!(interrupted.is_some_and(|l| l.contains("SIGTERM")));
    sql(&source, "INSERT INTO api_src.u VALUES (1001, 7);");
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .env("RUST_LOG", "warn")
        .args(["migrate", "--json", "--cutover", "--check-interval", "0.2"])
        .args(files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["complete"].as_bool()),
        (Some("cutover"), Some(true)),
        "{stdout}"
    );
    assert_eq!(last["tables"], 2, "{stdout}");
    // The checkpoints live in meta-schema, and both sides agree independently.
    assert_eq!(
        sql(
            &target,
            "SELECT COUNT(*) FROM dm_meta.sync_checkpoint WHERE task = 'api'"
        ),
        "1"
    );
    assert_eq!(sql(&target, "SHOW TABLES FROM api_src LIKE 'skipped'"), "");
    let dbs = ["api_src".to_owned()];
    sql(&source, "DROP TABLE api_src.skipped");
    assert_eq!(source.dump(&dbs), target.dump(&dbs));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listen_refuses_public_addresses_and_files_with_unsupported_keys() {
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args([
            "migrate",
            "--source",
            "mysql://u:hunter2@h:3306",
            "--target",
            "mysql://x@y",
            "--listen",
            "0.0.0.0:8261",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--listen-public"), "{stderr}");
    let dir = std::env::temp_dir().join(format!("unitctl-api-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let task = dir.join("task.yaml");
    std::fs::write(
        &task,
        "name: t\ntarget-database:\n  host: h\n  port: 3306\n  user: u\n  password: hunter2\nmysql-instances:\n  - source-id: s\n    route-rules: [\"r1\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args(["migrate", "--source", "mysql://a@b:3306", "--config"])
        .arg(&task)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("task.yaml: line 9 column 5: mysql-instances[0]: `route-rules` (route rules) is not supported"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
    let _ = std::fs::remove_dir_all(&dir);
}
