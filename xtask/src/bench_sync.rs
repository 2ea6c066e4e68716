//! `cargo xtask bench sync`: the Sync unit's apply rate (row changes per second) and
//! replication lag (p50, p99) under a sustained write load, against MariaDB's own
//! replication (a native replica set up with `CHANGE MASTER TO`,
//! `slave_parallel_threads` equal to the Sync unit's one applier) between the same two
//! servers, with the same load, in the same run.
//!
//! Lag is sampled every 50 ms as the age of a heartbeat row the load's own
//! connection updates with `NOW(6)` every 50 ms, read on the target (both servers run
//! on this machine, so they share its clock).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::{Connection, Executor, MySqlConnection};
use unit_integration_tests::MariaDb;

use crate::demo::{Size, binlog_options, have_server, install_server, port, sql, unitctl};

const SCHEMA: &str = "CREATE DATABASE IF NOT EXISTS bench;
    CREATE TABLE bench.t (id BIGINT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64), amount DECIMAL(12,2),
      at DATETIME(6), KEY (k)) ENGINE=InnoDB;
    CREATE TABLE bench.hb (id INT PRIMARY KEY, seq BIGINT NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB;
    INSERT INTO bench.hb VALUES (1, 0, NOW(6));";

async fn connect(url: &str) -> Result<MySqlConnection> {
    MySqlConnection::connect(url).await.context("connecting")
}

/// The load: `writers` connections each running `txns` transactions (an insert, an
/// update of another row and every fifth time a delete) as fast as they can, while a
/// heartbeat is written every 50 ms. Returns the row changes made and the last
/// heartbeat's sequence number.
async fn load(source: &str, writers: u64, txns: u64, round: u64) -> Result<(u64, i64)> {
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mut conn = connect(source).await?;
        tasks.push(tokio::spawn(async move {
            let mut changes = 0u64;
            for i in 0..txns {
                let id = (round * 1_000_000_000) + w * 10_000_000 + i;
                let mut sql = format!(
                    "START TRANSACTION; INSERT INTO bench.t VALUES ({id}, {i}, 'value {i}', {i}.5, NOW(6));"
                );
                changes += 1;
                if i > 0 {
                    sql.push_str(&format!(
                        "UPDATE bench.t SET k = k + 1, amount = amount + 1 WHERE id = {};",
                        id - 1
                    ));
                    changes += 1;
                }
                if i % 5 == 4 {
                    sql.push_str(&format!("DELETE FROM bench.t WHERE id = {};", id - 3));
                    changes += 1;
                }
                sql.push_str("COMMIT;");
                conn.execute(sql.as_str()).await?;
            }
            Ok::<u64, sqlx::Error>(changes)
        }));
    }
    let mut hb = connect(source).await?;
    let mut seq = 0i64;
    loop {
        seq += 1;
        hb.execute(format!("UPDATE bench.hb SET seq = {seq}, ts = NOW(6) WHERE id = 1").as_str())
            .await?;
        if tasks.iter().all(tokio::task::JoinHandle::is_finished) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = 0;
    for task in tasks {
        changes += task.await??;
    }
    Ok((changes + seq as u64, seq))
}

/// Samples the heartbeat's age on the target every 50 ms until it shows `last` (set
/// once the load ends); returns the samples (seconds) and when it caught up.
async fn watch_lag(
    target: String,
    last: tokio::sync::watch::Receiver<Option<i64>>,
) -> Result<(Vec<f64>, Instant)> {
    let mut conn = connect(&target).await?;
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1200);
    loop {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT seq, CAST(TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) AS SIGNED) FROM bench.hb WHERE id = 1",
        )
        .fetch_optional(&mut conn)
        .await
        .unwrap_or(None);
        if let Some((seq, age_us)) = row {
            samples.push(age_us as f64 / 1e6);
            if Some(seq) == *last.borrow() {
                return Ok((samples, Instant::now()));
            }
        }
        if Instant::now() > deadline {
            bail!("the target did not catch up within 20 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Measured {
    changes: u64,
    seconds: f64,
    p50: f64,
    p99: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Runs the load, watching the target, until the target has applied all of it.
async fn measure(
    source: &MariaDb,
    target: &MariaDb,
    writers: u64,
    txns: u64,
    round: u64,
) -> Result<Measured> {
    let (tx, rx) = tokio::sync::watch::channel(None);
    let started = Instant::now();
    let watcher = tokio::spawn(watch_lag(target.url(""), rx));
    let (changes, last) = load(&source.url(""), writers, txns, round).await?;
    let _ = tx.send(Some(last));
    let (mut samples, caught_up) = watcher.await??;
    samples.sort_by(f64::total_cmp);
    Ok(Measured {
        changes,
        seconds: caught_up.duration_since(started).as_secs_f64(),
        p50: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
    })
}

fn position(source: &MariaDb) -> Result<(String, String)> {
    let status = sql(source, "SHOW MASTER STATUS")?;
    let mut fields = status.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(file), Some(pos)) => Ok((file.to_owned(), pos.to_owned())),
        _ => bail!("SHOW MASTER STATUS: {status:?}"),
    }
}

pub(crate) fn run(size: Size) -> Result<()> {
    if !have_server() {
        install_server()?;
    }
    let unitctl = unitctl()?;
    let source = MariaDb::start_with(binlog_options());
    let target = MariaDb::start_with(vec!["--server-id=2".to_owned()]);
    let (writers, txns) = match size {
        Size::Full => (4, 5_000),
        Size::Small => (4, 500),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // Ours: unitctl migrate --mode incremental from the position before the load.
    sql(&source, SCHEMA)?;
    sql(&target, SCHEMA)?;
    let (file, pos) = position(&source)?;
    let mut sync: Child = std::process::Command::new(&unitctl)
        .args([
            "migrate",
            "--source",
            &source.url(""),
            "--target",
            &target.url(""),
            "--databases",
            "bench",
            "--task",
            "bench",
            "--mode",
            "incremental",
            "--start-position",
            &format!("{file}:{pos}"),
            "--json",
            "--interval",
            "60",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .context("starting unitctl")?;
    let ours = runtime.block_on(measure(&source, &target, writers, txns, 1));
    let _ = sync.kill();
    let _ = sync.wait();
    let ours = ours?;
    let equal = |what: &str| -> Result<()> {
        let a = sql(&source, "CHECKSUM TABLE bench.t")?;
        let b = sql(&target, "CHECKSUM TABLE bench.t")?;
        if a != b {
            bail!("{what}: CHECKSUM TABLE differs: {a} / {b}");
        }
        Ok(())
    };
    equal("the Sync unit")?;

    // MariaDB's own replication, from the position before the same load.
    sql(&target, "DROP DATABASE bench")?;
    sql(&target, SCHEMA)?;
    let (file, pos) = position(&source)?;
    sql(
        &target,
        &format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', \
             MASTER_LOG_FILE='{file}', MASTER_LOG_POS={pos}, MASTER_USE_GTID=no;
             SET GLOBAL slave_parallel_threads = 1; SET GLOBAL replicate_do_db = 'bench';
             START SLAVE;",
            port(&source)
        ),
    )?;
    let native = runtime.block_on(measure(&source, &target, writers, txns, 2));
    let _ = sql(&target, "STOP SLAVE");
    let native = native?;
    // The rows of both rounds are on both sides now.
    let a = sql(
        &source,
        "SELECT COUNT(*) FROM bench.t WHERE id >= 2000000000",
    )?;
    let b = sql(
        &target,
        "SELECT COUNT(*) FROM bench.t WHERE id >= 2000000000",
    )?;
    if a != b {
        bail!("the native replica differs: {a} / {b} rows");
    }

    let rate = |m: &Measured| m.changes as f64 / m.seconds;
    println!(
        "load: {writers} writers x {txns} transactions (insert, update, every fifth a delete) plus a 50 ms heartbeat"
    );
    for (name, m) in [
        ("unit Sync (1 applier)", &ours),
        ("MariaDB replica (1 worker)", &native),
    ] {
        println!(
            "{name:<27}: {:>7} changes in {:>6.2} s = {:>8.0} changes/s; lag p50 {:>6.3} s, p99 {:>6.3} s",
            m.changes,
            m.seconds,
            rate(m),
            m.p50,
            m.p99
        );
    }
    println!(
        "ratio (unit / MariaDB): {:.2}x apply rate; lag p50 {:.2}x, p99 {:.2}x",
        rate(&ours) / rate(&native),
        ours.p50 / native.p50.max(1e-6),
        ours.p99 / native.p99.max(1e-6)
    );
    Ok(())
}
