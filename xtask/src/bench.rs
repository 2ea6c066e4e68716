//! `cargo xtask bench copy`: the copy unit's throughput against the limit, `LOAD DATA
//! INFILE` of server-side files of the same tables into the same target (the four
//! tables loaded at once, as the copy writes them), and against `mariadb-dump |
//! mariadb`, measured in the same run. The last line reads `copy vs LOAD DATA INFILE:
//! R.RRx` (the copy unit with its verification, over the loads alone).

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use unit_integration_tests::MariaDb;

use crate::bench_sync::{cpu_seconds, server_pid};
use crate::demo::{Size, have_server, install_server, migrate_shop, port, seed, sql, unitctl};

pub(crate) fn copy(size: Size) -> Result<()> {
    if !have_server() {
        install_server()?;
    }
    let unitctl = unitctl()?;
    let source = MariaDb::start();
    let target = MariaDb::start();
    let rows = seed(&source, size)?;
    println!("seeded {rows} rows in 4 tables");

    // Baseline: mariadb-dump piped into the mariadb client.
    sql(&target, "CREATE DATABASE shop CHARACTER SET utf8mb4")?;
    let started = Instant::now();
    let dump_cmd = format!(
        "mariadb-dump -h127.0.0.1 -P{} -uroot --single-transaction --default-character-set=utf8mb4 shop \
         | mariadb -h127.0.0.1 -P{} -uroot --default-character-set=utf8mb4 shop",
        port(&source),
        port(&target)
    );
    let ok = Command::new("sh")
        .args(["-c", &dump_cmd])
        .stdout(Stdio::null())
        .status()
        .context("mariadb-dump")?
        .success();
    if !ok {
        bail!("mariadb-dump | mariadb failed");
    }
    let baseline = started.elapsed().as_secs_f64();

    // The limit: the same tables loaded from files on the server, one session a table.
    let limit = load_data_limit(&source, &target)?;
    sql(&target, "DROP DATABASE shop")?;

    // The copy unit through unitctl migrate (check, copy, verification included).
    // Overridable for tuning: UNIT_BENCH_CHUNK_ROWS, UNIT_BENCH_CONCURRENCY, UNIT_BENCH_SPLIT_ROWS.
    let chunk = std::env::var("UNIT_BENCH_CHUNK_ROWS").unwrap_or_else(|_| "5000".to_owned());
    let concurrency = std::env::var("UNIT_BENCH_CONCURRENCY").unwrap_or_else(|_| "4".to_owned());
    let split = std::env::var("UNIT_BENCH_SPLIT_ROWS").unwrap_or_else(|_| "100000".to_owned());
    let (chunk, concurrency) = (chunk.as_str(), concurrency.as_str());
    // UNIT_BENCH_INSERT=1 writes with INSERTs, to compare with LOAD DATA LOCAL INFILE.
    let insert = std::env::var("UNIT_BENCH_INSERT").is_ok_and(|v| v == "1");
    let (source_pid, target_pid) = (server_pid(&source), server_pid(&target));
    let cpu_before = (cpu_seconds(source_pid), cpu_seconds(target_pid));
    let started = Instant::now();
    let out = migrate_shop(&unitctl, &source, &target, "bench")
        .env("RUST_LOG", "unit_mysql::copy=info")
        .args([
            "--chunk-rows",
            chunk,
            "--concurrency",
            concurrency,
            "--split-rows",
            &split,
            "--json",
            "--interval",
            "5",
        ])
        .args(insert.then_some("--no-load-data-local"))
        .output()
        .context("unitctl migrate")?;
    let ours = started.elapsed().as_secs_f64();
    let (source_cpu, target_cpu) = (
        cpu_seconds(source_pid) - cpu_before.0,
        cpu_seconds(target_pid) - cpu_before.1,
    );
    if !out.status.success() {
        bail!(
            "unitctl migrate failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (b, o) = (rows as f64 / baseline, rows as f64 / ours);
    // The copy unit logs how long its copy and verification passes took.
    let logs = String::from_utf8_lossy(&out.stderr);
    let pass = |what: &str| {
        logs.lines()
            .filter(|l| l.contains(what))
            .filter_map(|l| {
                l.split("seconds=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .sum::<f64>()
    };
    let copy_s = pass("copy and verification ended");
    println!(
        "table size: {rows} rows in 4 tables; chunk {chunk} rows; concurrency {concurrency}; \
         tables of twice {split}+ rows split into key ranges; written with {}",
        if insert {
            "INSERT"
        } else {
            "LOAD DATA LOCAL INFILE"
        }
    );
    println!("mariadb-dump | mariadb : {baseline:>7.2} s  {b:>10.0} rows/s");
    println!(
        "LOAD DATA INFILE       : {limit:>7.2} s  {:>10.0} rows/s (server-side files, 4 tables at once, no verification)",
        rows as f64 / limit
    );
    println!(
        "unitctl migrate        : {ours:>7.2} s  {o:>10.0} rows/s (check + copy + verification)"
    );
    println!(
        "  of which copy unit    : {copy_s:>7.2} s  {:>10.0} rows/s (copy + verification)",
        rows as f64 / copy_s.max(1e-9)
    );
    println!(
        "ratio (copy / dump)    : {:.2}x end to end, {:.2}x copy unit alone",
        o / b,
        baseline / copy_s.max(1e-9)
    );
    println!(
        "  CPU of the migration  : source server {source_cpu:.2} s, target server {target_cpu:.2} s (2 cores shared with unitctl)"
    );
    println!("copy vs LOAD DATA INFILE: {:.2}x", limit / copy_s.max(1e-9));
    Ok(())
}

const TABLES: [&str; 4] = ["customers", "orders", "order_items", "events"];

/// Seconds to `LOAD DATA INFILE` the shop's tables (written by `SELECT ... INTO
/// OUTFILE` on the source beforehand, not timed) into empty tables of the same
/// definitions on the target, the four at once; checks the row counts.
fn load_data_limit(source: &MariaDb, target: &MariaDb) -> Result<f64> {
    let dir = std::env::temp_dir().join(format!("unit-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = |t: &str| dir.join(format!("{t}.txt")).display().to_string();
    for t in TABLES {
        sql(
            source,
            &format!(
                "SELECT * INTO OUTFILE '{}' CHARACTER SET binary FROM shop.{t}",
                file(t)
            ),
        )?;
    }
    let schema = format!(
        "mariadb-dump -h127.0.0.1 -P{} -uroot --no-data shop | mariadb -h127.0.0.1 -P{} -uroot shop",
        port(source),
        port(target)
    );
    if !Command::new("sh")
        .args(["-c", &schema])
        .status()
        .context("copying the schema")?
        .success()
    {
        bail!("copying the shop's schema failed");
    }
    let started = Instant::now();
    let loads: Vec<_> = TABLES
        .iter()
        .map(|t| {
            Command::new("mariadb")
                .args([
                    "-h127.0.0.1",
                    &format!("-P{}", port(target)),
                    "-uroot",
                    "shop",
                    "-e",
                    &format!(
                        "LOAD DATA INFILE '{}' INTO TABLE {t} CHARACTER SET binary",
                        file(t)
                    ),
                ])
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .context("starting LOAD DATA INFILE")?;
    for mut load in loads {
        if !load.wait()?.success() {
            bail!("LOAD DATA INFILE failed");
        }
    }
    let took = started.elapsed().as_secs_f64();
    for t in TABLES {
        let count = |server: &MariaDb| sql(server, &format!("SELECT COUNT(*) FROM shop.{t}"));
        if count(source)? != count(target)? {
            bail!("LOAD DATA INFILE of {t} loaded another number of rows");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(took)
}
