//! `cargo xtask bench sync`: the Sync unit against MariaDB's own replication between
//! the same two private servers, with the same load, in the same run.
//!
//! - **Catch-up.** sysbench's `oltp_write_only` (4 threads, 4 tables) runs on the source
//!   with nothing attached until the binlog holds a backlog of at least 200,000 row
//!   changes (20,000 with `--small`). Then MariaDB's native replica (`CHANGE MASTER
//!   TO`, `slave_parallel_threads` equal to the Sync unit's workers,
//!   `slave_parallel_mode=optimistic`) catches the backlog up, alone; then the target
//!   is reset to the state before the load and the Sync unit (`unitctl migrate --mode
//!   incremental`) catches up the same backlog, alone. Both results are compared with
//!   the source (`CHECKSUM TABLE`).
//! - **Lag.** With the Sync unit attached, sysbench runs at a fixed rate of half the
//!   native replica's catch-up rate, while a heartbeat row is updated on the source
//!   every 50 ms with `NOW(6)`; its age is sampled on the target every 50 ms (both
//!   servers share this machine's clock): p50 and p99.
//!
//! The last line reads `sync catch-up vs native replica: R.RRx, lag p99 at half rate: N
//! ms`. `UNIT_BENCH_SYNC_WORKERS`, `UNIT_BENCH_SYNC_BATCH` and
//! `UNIT_BENCH_SYNC_MERGE_ROWS` override the unit's defaults (4 workers, 1000 changes
//! per batch, 200 rows merged).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{Connection, Executor, MySqlConnection};
use unit_integration_tests::MariaDb;

use crate::demo::{Size, binlog_options, have_server, install_server, port, sql, unitctl};

const TABLES: u32 = 4;
const THREADS: u32 = 4;

async fn connect(url: &str) -> Result<MySqlConnection> {
    MySqlConnection::connect(url).await.context("connecting")
}

/// sysbench's `oltp_write_only` against database `sbtest` of `server`.
fn sysbench(server: &MariaDb, action: &str, extra: &[String]) -> Command {
    let mut command = Command::new("sysbench");
    command
        .args([
            "oltp_write_only".to_owned(),
            "--db-driver=mysql".to_owned(),
            "--mysql-host=127.0.0.1".to_owned(),
            format!("--mysql-port={}", port(server)),
            "--mysql-user=root".to_owned(),
            "--mysql-db=sbtest".to_owned(),
            format!("--tables={TABLES}"),
            "--table-size=10000".to_owned(),
            format!("--threads={THREADS}"),
        ])
        .args(extra)
        .arg(action)
        .stdout(Stdio::null());
    command
}

fn run_sysbench(server: &MariaDb, action: &str, extra: &[String]) -> Result<()> {
    let status = sysbench(server, action, extra)
        .status()
        .context("running sysbench")?;
    if !status.success() {
        bail!("sysbench {action} failed");
    }
    Ok(())
}

fn have_sysbench() -> bool {
    Command::new("sysbench")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Row changes the source has made: `Handler_write`, `Handler_update` and
/// `Handler_delete` (the source is private: nothing else writes).
fn handler_changes(source: &MariaDb) -> Result<u64> {
    let out = sql(
        source,
        "SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN \
         ('HANDLER_WRITE', 'HANDLER_UPDATE', 'HANDLER_DELETE')",
    )?;
    out.trim()
        .parse::<f64>()
        .map(|v| v as u64)
        .with_context(|| format!("Handler_* status: {out:?}"))
}

fn position(source: &MariaDb) -> Result<(String, u64)> {
    let status = sql(source, "SHOW MASTER STATUS")?;
    let mut fields = status.split_whitespace();
    match (fields.next(), fields.next().map(str::parse::<u64>)) {
        (Some(file), Some(Ok(pos))) => Ok((file.to_owned(), pos)),
        _ => bail!("SHOW MASTER STATUS: {status:?}"),
    }
}

/// The checksums of the sysbench tables and the heartbeat.
fn checksums(server: &MariaDb) -> Result<String> {
    let tables: Vec<String> = (1..=TABLES)
        .map(|i| format!("sbtest.sbtest{i}"))
        .chain(["sbtest.hb".to_owned()])
        .collect();
    sql(server, &format!("CHECKSUM TABLE {}", tables.join(", ")))
}

/// Replaces database `sbtest` of `target` with `dump`.
fn restore(target: &MariaDb, dump: &std::path::Path) -> Result<()> {
    sql(
        target,
        "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest",
    )?;
    let file = std::fs::File::open(dump).context("opening the dump")?;
    let ok = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{}", port(target)),
            "-uroot",
            "sbtest",
        ])
        .stdin(file)
        .status()
        .context("loading the dump")?
        .success();
    if !ok {
        bail!("loading the dump into the target failed");
    }
    Ok(())
}

/// CPU seconds (user and system) process `pid` has used, from `/proc` (0 where it
/// cannot be read).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// The pid of a private server.
pub(crate) fn server_pid(server: &MariaDb) -> u32 {
    sql(server, "SELECT @@pid_file")
        .ok()
        .and_then(|file| std::fs::read_to_string(file).ok())
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Waits until the Sync unit's checkpoint is at `end` or past it.
async fn wait_for_checkpoint(target: &str, end: &(String, u64)) -> Result<()> {
    let mut conn = connect(target).await?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let at: Option<(String, u64)> = sqlx::query_as(
            "SELECT binlog_name, binlog_pos FROM unit_checkpoint.sync_checkpoint WHERE task = 'bench'",
        )
        .fetch_optional(&mut conn)
        .await
        .unwrap_or(None);
        if at.is_some_and(|(file, pos)| (file.as_str(), pos) >= (end.0.as_str(), end.1)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the Sync unit did not catch up within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// sysbench at `rate` transactions per second for `seconds`, with a heartbeat on the
/// source every 50 ms; the heartbeat's age sampled on the target until the last one
/// arrives. Returns the sorted samples (seconds).
async fn lag_at_rate(
    source: &MariaDb,
    target: &MariaDb,
    rate: u64,
    seconds: u64,
) -> Result<Vec<f64>> {
    let mut load = sysbench(
        source,
        "run",
        &[format!("--rate={rate}"), format!("--time={seconds}")],
    )
    .spawn()
    .context("starting sysbench")?;
    let mut hb = connect(&source.url("")).await?;
    let mut watch = connect(&target.url("")).await?;
    let mut samples = Vec::new();
    let mut seq = 0i64;
    let mut last_beat = Instant::now() - Duration::from_secs(1);
    let mut finished_at: Option<i64> = None;
    let deadline = Instant::now() + Duration::from_secs(seconds + 600);
    loop {
        if finished_at.is_none() && last_beat.elapsed() >= Duration::from_millis(50) {
            seq += 1;
            hb.execute(
                format!("UPDATE sbtest.hb SET seq = {seq}, ts = NOW(6) WHERE id = 1").as_str(),
            )
            .await?;
            last_beat = Instant::now();
            if load.try_wait()?.is_some() {
                finished_at = Some(seq);
            }
        }
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, CAST(TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) AS SIGNED) FROM sbtest.hb WHERE id = 1",
        )
        .fetch_optional(&mut watch)
        .await
        .unwrap_or(None);
        if let Some((seen, age_us)) = row {
            // Only while the load runs at its rate.
            if finished_at.is_none() {
                samples.push(age_us as f64 / 1e6);
            }
            if finished_at.is_some_and(|last| seen >= last) {
                break;
            }
        }
        if Instant::now() > deadline {
            let _ = load.kill();
            bail!("the target did not catch up with the heartbeat");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !load.wait()?.success() {
        bail!("sysbench run at a fixed rate failed");
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

pub(crate) fn run(size: Size) -> Result<()> {
    if !have_server() {
        install_server()?;
    }
    if !have_sysbench() {
        let ok = Command::new("apt-get")
            .args(["install", "-y", "sysbench"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !have_sysbench() {
            bail!("sysbench is needed: apt-get install -y sysbench");
        }
    }
    let workers: u32 = std::env::var("UNIT_BENCH_SYNC_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let batch = std::env::var("UNIT_BENCH_SYNC_BATCH").unwrap_or_else(|_| "1000".to_owned());
    let merge = std::env::var("UNIT_BENCH_SYNC_MERGE_ROWS").unwrap_or_else(|_| "200".to_owned());
    let (backlog, lag_seconds) = match size {
        Size::Full => (200_000u64, 30u64),
        Size::Small => (20_000, 10),
    };
    let unitctl = unitctl()?;
    let source = MariaDb::start_with(binlog_options());
    let target = MariaDb::start_with(vec!["--server-id=2".to_owned()]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // The tables, on both sides as they are before the load.
    sql(&source, "CREATE DATABASE sbtest")?;
    run_sysbench(&source, "prepare", &[])?;
    sql(
        &source,
        "CREATE TABLE sbtest.hb (id INT PRIMARY KEY, seq BIGINT NOT NULL, ts DATETIME(6) NOT NULL);
         INSERT INTO sbtest.hb VALUES (1, 0, NOW(6))",
    )?;
    let dump = std::env::temp_dir().join(format!("unit-bench-sync-{}.sql", std::process::id()));
    let ok = Command::new("sh")
        .args([
            "-c",
            &format!(
                "mariadb-dump -h127.0.0.1 -P{} -uroot --single-transaction --hex-blob sbtest > {}",
                port(&source),
                dump.display()
            ),
        ])
        .status()
        .context("mariadb-dump")?
        .success();
    if !ok {
        bail!("mariadb-dump of the prepared tables failed");
    }
    let start = position(&source)?;

    // The backlog: sysbench with nothing attached.
    let before = handler_changes(&source)?;
    let txns = backlog.div_ceil(4);
    let started = Instant::now();
    run_sysbench(
        &source,
        "run",
        &[format!("--events={txns}"), "--time=0".to_owned()],
    )?;
    let load_seconds = started.elapsed().as_secs_f64();
    let changes = handler_changes(&source)? - before;
    let end = position(&source)?;
    let expected = checksums(&source)?;
    println!(
        "backlog: {changes} row changes ({txns} sysbench oltp_write_only transactions, {THREADS} threads, {TABLES} tables) written in {load_seconds:.1} s = {:.0} changes/s",
        changes as f64 / load_seconds
    );

    // MariaDB's native replica.
    restore(&target, &dump)?;
    let target_pid = server_pid(&target);
    let cpu_before = cpu_seconds(target_pid);
    let started = Instant::now();
    sql(
        &target,
        &format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', \
             MASTER_LOG_FILE='{}', MASTER_LOG_POS={}, MASTER_USE_GTID=no;
             SET GLOBAL slave_parallel_threads = {workers}; SET GLOBAL slave_parallel_mode = 'optimistic';
             SET GLOBAL replicate_do_db = 'sbtest';
             START SLAVE;
             SELECT MASTER_POS_WAIT('{}', {}, 1800);",
            port(&source),
            start.0,
            start.1,
            end.0,
            end.1
        ),
    )?;
    let native = started.elapsed().as_secs_f64();
    let native_cpu = cpu_seconds(target_pid) - cpu_before;
    sql(&target, "STOP SLAVE; RESET SLAVE ALL")?;
    if checksums(&target)? != expected {
        bail!("the native replica differs from the source");
    }

    // The Sync unit, from the same state and position.
    restore(&target, &dump)?;
    let _ = std::fs::remove_file(&dump);
    let cpu_before = cpu_seconds(target_pid);
    let started = Instant::now();
    let mut sync: Child = Command::new(&unitctl)
        .args([
            "migrate",
            "--source",
            &source.url(""),
            "--target",
            &target.url(""),
            "--databases",
            "sbtest",
            "--task",
            "bench",
            "--mode",
            "incremental",
            "--start-position",
            &format!("{}:{}", start.0, start.1),
            "--sync-workers",
            &workers.to_string(),
            "--sync-batch",
            &batch,
            "--sync-merge-rows",
            &merge,
            "--json",
            "--interval",
            "600",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting unitctl")?;
    let caught_up = runtime.block_on(wait_for_checkpoint(&target.url(""), &end));
    let ours = started.elapsed().as_secs_f64();
    let (ours_target_cpu, ours_cpu) =
        (cpu_seconds(target_pid) - cpu_before, cpu_seconds(sync.id()));
    if let Err(e) = caught_up {
        let _ = sync.kill();
        return Err(e);
    }
    if checksums(&target)? != expected {
        let _ = sync.kill();
        bail!("the Sync unit's target differs from the source");
    }

    // Lag at half the native replica's catch-up rate.
    let native_rate = changes as f64 / native;
    let rate = ((native_rate / 2.0) / 4.0).max(1.0) as u64;
    let samples = runtime.block_on(lag_at_rate(&source, &target, rate, lag_seconds));
    // The heartbeat is one row, applied by one worker: the others may still hold
    // changes written before it, so compare only once the checkpoint (below which
    // every worker has applied everything) is at the source's end.
    let caught_up = match position(&source) {
        Ok(end) => runtime.block_on(wait_for_checkpoint(&target.url(""), &end)),
        Err(e) => Err(e),
    };
    let _ = sync.kill();
    let _ = sync.wait();
    let samples = samples?;
    caught_up?;
    if checksums(&target)? != checksums(&source)? {
        bail!("after the fixed-rate load the Sync unit's target differs from the source");
    }
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "MariaDB replica ({workers} parallel threads, optimistic): caught up in {native:>6.2} s = {native_rate:>8.0} changes/s; target CPU {native_cpu:.2} s"
    );
    println!(
        "unit Sync ({workers} workers, batch {batch}, merge {merge}): caught up in {ours:>6.2} s = {:>8.0} changes/s; target CPU {ours_target_cpu:.2} s, unitctl CPU {ours_cpu:.2} s",
        changes as f64 / ours
    );
    println!(
        "lag of the Sync unit at {rate} transactions/s (half the replica's rate): p50 {:.0} ms, p99 {:.0} ms ({} samples)",
        p50 * 1000.0,
        p99 * 1000.0,
        samples.len()
    );
    println!(
        "sync catch-up vs native replica: {:.2}x, lag p99 at half rate: {:.0} ms",
        native / ours,
        p99 * 1000.0
    );
    Ok(())
}
