//! `cargo xtask demo`: the main job on a fresh machine.
//!
//! Starts two private MariaDB servers (installing `mariadb-server` with apt when no
//! server binary is found), seeds the source with a realistic dataset (about a million
//! rows over several tables, every column type the copy supports), runs
//! `unitctl migrate` while killing the target with SIGKILL (and restarting it) and then
//! killing the copy's connections, and prints the copy's own summary: it resumed by
//! itself and every table's row count and checksum are equal. The servers are stopped
//! at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use unit_integration_tests::MariaDb;

/// How much data to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    /// About a million rows.
    Full,
    /// About a tenth of that, for a quick look.
    Small,
}

pub(crate) fn have_server() -> bool {
    [
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadbd",
        "/usr/local/bin/mariadbd",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
        || Command::new("sh")
            .args(["-c", "command -v mariadbd"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

pub(crate) fn install_server() -> Result<()> {
    println!("MariaDB server not found: installing mariadb-server with apt-get (needs root) ...");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server"])
        .status()
        .context("running apt-get")?
        .success();
    if !ok {
        bail!(
            "could not install mariadb-server; install it by hand: apt-get install -y mariadb-server"
        );
    }
    Ok(())
}

pub(crate) fn port(server: &MariaDb) -> String {
    server
        .url("")
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned()
}

pub(crate) fn sql(server: &MariaDb, statements: &str) -> Result<String> {
    let out = Command::new("mariadb")
        .args([
            "-h127.0.0.1",
            &format!("-P{}", port(server)),
            "-uroot",
            "--default-character-set=utf8mb4",
            "-N",
            "-e",
            statements,
        ])
        .output()
        .context("running the mariadb client")?;
    if !out.status.success() {
        bail!("SQL failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn seed(source: &MariaDb, size: Size) -> Result<u64> {
    let n = match size {
        Size::Full => 1,
        Size::Small => 10,
    };
    let (customers, orders, items, events) = (100_000 / n, 400_000 / n, 450_000 / n, 50_000 / n);
    let script = format!(
        "CREATE DATABASE shop CHARACTER SET utf8mb4; USE shop;
         CREATE TABLE customers (
           id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(150),
           city VARCHAR(60) CHARACTER SET latin1, born DATE, created DATETIME(6), balance DECIMAL(14,2),
           tier ENUM('free','pro','enterprise'), flags SET('vip','newsletter','blocked'), active BIT(1)
         ) ENGINE=InnoDB;
         INSERT INTO customers SELECT seq, CONCAT('Customer ', seq, IF(seq % 7 = 0, ' 🚀', '')),
           IF(seq % 5 = 0, NULL, CONCAT('c', seq, '@example.com')), ELT(1 + seq % 4, 'Zürich', 'Lyon', 'Oslo', 'Porto'),
           DATE('1950-01-01') + INTERVAL (seq % 20000) DAY, TIMESTAMP('2020-01-01') + INTERVAL seq * 37 SECOND + INTERVAL seq % 1000000 MICROSECOND,
           (seq % 100000) / 100 - 300, ELT(1 + seq % 3, 'free', 'pro', 'enterprise'),
           ELT(1 + seq % 4, '', 'vip', 'newsletter', 'vip,newsletter'), seq % 2
         FROM seq_1_to_{customers};
         CREATE TABLE orders (
           id BIGINT PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL, placed TIMESTAMP(3) NULL,
           total DECIMAL(12,2), weight FLOAT, distance DOUBLE, note TEXT, KEY (customer_id)
         ) ENGINE=InnoDB;
         INSERT INTO orders SELECT seq, 1 + seq % {customers}, TIMESTAMP('2021-01-01') + INTERVAL seq * 11 SECOND,
           (seq % 50000) / 10, (seq % 1000) / 7, seq / 3.0e3, IF(seq % 3 = 0, NULL, REPEAT('gift wrap, ', seq % 5))
         FROM seq_1_to_{orders};
         CREATE TABLE order_items (
           order_id BIGINT NOT NULL, line SMALLINT NOT NULL, sku CHAR(12) NOT NULL, qty MEDIUMINT, price DECIMAL(10,2),
           ships TIME(2), year_made YEAR, PRIMARY KEY (order_id, line)
         ) ENGINE=InnoDB;
         INSERT INTO order_items SELECT 1 + seq DIV 2 % {orders}, 1 + seq % 2, CONCAT('SKU-', LPAD(seq % 99999, 8, '0')),
           seq % 9 + 1, (seq % 10000) / 100, SEC_TO_TIME(seq % 86400) + INTERVAL 0.25 SECOND, 1990 + seq % 35
         FROM seq_0_to_{items_1};
         CREATE TABLE events (
           id INT PRIMARY KEY, kind VARCHAR(20), payload JSON, raw BLOB, digest BINARY(16), tag VARBINARY(8)
         ) ENGINE=InnoDB;
         INSERT INTO events SELECT seq, ELT(1 + seq % 3, 'click', 'view', 'buy'),
           JSON_OBJECT('seq', seq, 'ok', seq % 2 = 0, 'tags', JSON_ARRAY('a', seq % 10)),
           UNHEX(MD5(seq)), UNHEX(MD5(seq + 1)), UNHEX(LPAD(HEX(seq), 8, '0'))
         FROM seq_1_to_{events};",
        items_1 = items - 1,
    );
    sql(source, &script)?;
    Ok((customers + orders + items + events) as u64)
}

fn checkpoint_rows(target: &MariaDb) -> u64 {
    sql(target, "SELECT COALESCE(SUM(rows_copied), 0) FROM unit_checkpoint.copy_checkpoint WHERE task = 'demo'")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `unitctl migrate` of database `shop` from `source` to `target` as `task`.
pub(crate) fn migrate_shop(
    unitctl: &Path,
    source: &MariaDb,
    target: &MariaDb,
    task: &str,
) -> Command {
    let mut command = Command::new(unitctl);
    command.args([
        "migrate",
        "--source",
        &source.url(""),
        "--target",
        &target.url(""),
        "--databases",
        "shop",
        "--task",
        task,
    ]);
    command
}

pub(crate) fn unitctl() -> Result<PathBuf> {
    println!("building unitctl (release) ...");
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "-p", "unitctl"])
        .status()
        .context("running cargo build")?
        .success();
    if !ok {
        bail!("building unitctl failed");
    }
    Ok(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/unitctl"))
}

fn wait_for_rows(target: &MariaDb, rows: u64, child: &mut std::process::Child) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while checkpoint_rows(target) < rows {
        if child.try_wait()?.is_some() {
            bail!("the copy ended before the fault could be injected");
        }
        if Instant::now() > deadline {
            bail!("no progress");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub(crate) fn run(size: Size) -> Result<()> {
    if !have_server() {
        install_server()?;
    }
    let unitctl = unitctl()?;
    println!("starting two private MariaDB servers ...");
    let source = MariaDb::start();
    let target = MariaDb::start();
    let started = Instant::now();
    let rows = seed(&source, size)?;
    println!(
        "seeded the source: database shop, 4 tables, {rows} rows ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let mut child = migrate_shop(&unitctl, &source, &target, "demo")
        .args([
            "--check-interval",
            "1",
            "--interval",
            "2",
            "--connect-timeout",
            "2",
        ])
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting unitctl migrate")?;

    wait_for_rows(&target, rows / 5, &mut child)?;
    println!(
        "\n>>> fault: killing the target server with SIGKILL mid-copy ({} rows committed)",
        checkpoint_rows(&target)
    );
    target.kill9();
    // Longer than the copy's connect timeout: the outage pauses the copy.
    std::thread::sleep(Duration::from_secs(5));
    println!(">>> restarting the target server");
    target.restart();

    wait_for_rows(&target, rows * 3 / 5, &mut child)?;
    println!(
        "\n>>> fault: killing the copy's connections on the target ({} rows committed)",
        checkpoint_rows(&target)
    );
    let ids = sql(
        &target,
        "SELECT GROUP_CONCAT(ID) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER = 'root'",
    )?;
    for id in ids.split(',').filter(|s| !s.is_empty() && *s != "NULL") {
        let _ = sql(&target, &format!("KILL CONNECTION {id}"));
    }

    let status = child.wait()?;
    if !status.success() {
        bail!("unitctl migrate failed ({status})");
    }
    // An independent check with the server's own CHECKSUM TABLE on both sides.
    let tables = "shop.customers, shop.orders, shop.order_items, shop.events";
    let a = sql(&source, &format!("CHECKSUM TABLE {tables}"))?;
    let b = sql(&target, &format!("CHECKSUM TABLE {tables}"))?;
    if a != b {
        bail!("CHECKSUM TABLE differs:\nsource:\n{a}\ntarget:\n{b}");
    }
    println!(
        "\nCHECKSUM TABLE on both servers agrees for all 4 tables after both faults (the summary above counts the automatic resumes)."
    );
    println!("stopping the servers.");
    Ok(())
}
