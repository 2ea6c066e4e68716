//! `cargo xtask demo`: the main job on a fresh machine, an online migration.
//!
//! Starts two private MariaDB servers (the source with binary logging; installing
//! `mariadb-server` with apt when no server binary is found), seeds the source with a
//! realistic dataset (about a million rows over several tables, every column type),
//! runs a write load on it (inserts, counters, key changes, deletes, transactions, one
//! ALTER TABLE), and runs `unitctl migrate --mode all` while injecting faults: the
//! target killed with SIGKILL mid-copy and mid-replication, every connection killed,
//! the source restarted, and `unitctl` itself killed with SIGKILL and run again. Then
//! writes stop, `--cutover` applies the rest and verifies every table, and an
//! independent `CHECKSUM TABLE` of both servers agrees. The servers are stopped at the
//! end.

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

/// Whether the copy has finished and replication has taken over.
fn copy_done(target: &MariaDb) -> bool {
    sql(
        target,
        "SELECT copy_done FROM unit_checkpoint.sync_checkpoint WHERE task = 'demo'",
    )
    .is_ok_and(|s| s == "1")
}

/// The server options of a source that replicas can read from.
pub(crate) fn binlog_options() -> Vec<String> {
    [
        "--server-id=1",
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
    ]
    .map(String::from)
    .to_vec()
}

/// A write load on the source until `stop` is set: inserts, updates of counters,
/// updates that change keys, deletes, multi-statement transactions, and once one
/// ALTER TABLE. Statements that fail while the source restarts are not retried (what
/// committed is what replication must carry). Returns the batches that committed.
fn write_load(
    source: &MariaDb,
    customers: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    let (mut committed, mut failed) = (0, 0);
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let id = 50_000_000 + k;
        let mut batch = format!(
            "USE shop;
             INSERT INTO orders VALUES ({id}, {c}, NOW(3), {k}.5, 1.5, {k}e-3, 'live order');
             UPDATE customers SET balance = balance + 1, flags = 'vip' WHERE id = {c};
             START TRANSACTION;
             INSERT INTO order_items VALUES ({id}, 1, 'LIVE-{k}', 1, 9.99, '12:00:00.50', 2024),
                                            ({id}, 2, 'LIVE-{k}b', 2, 19.99, NULL, NULL);
             UPDATE orders SET total = total + 1 WHERE id = {prev};
             COMMIT;",
            c = 1 + k % customers,
            prev = id - 1,
        );
        if k % 4 == 0 {
            // A key change: the row moves to another key (and its items with it).
            batch.push_str(&format!(
                "START TRANSACTION;
                 UPDATE orders SET id = id + 10000000 WHERE id = {old};
                 UPDATE order_items SET order_id = order_id + 10000000 WHERE order_id = {old};
                 COMMIT;",
                old = id - 2
            ));
        }
        if k % 5 == 0 {
            batch.push_str(&format!(
                "DELETE FROM order_items WHERE order_id = {k}; DELETE FROM orders WHERE id = {k};"
            ));
        }
        if k == 150 {
            batch.push_str(
                "ALTER TABLE events ADD COLUMN source VARCHAR(20) NOT NULL DEFAULT 'seed';",
            );
        }
        if k > 150 {
            batch.push_str(&format!(
                "INSERT INTO events (id, kind, payload, raw, digest, tag, source) VALUES
                 ({e}, 'live', JSON_OBJECT('k', {k}), X'00FF', UNHEX(MD5({k})), X'01', 'live');",
                e = 10_000_000 + k
            ));
        }
        match sql(source, &batch) {
            Ok(_) => committed += 1,
            Err(_) => {
                failed += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    (committed, failed)
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

fn wait_until(
    what: &str,
    child: &mut std::process::Child,
    mut done: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !done() {
        if child.try_wait()?.is_some() {
            bail!("unitctl ended before {what}");
        }
        if Instant::now() > deadline {
            bail!("no progress towards {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Kills every connection of the copy and the replication on `server`.
fn kill_connections(server: &MariaDb) -> Result<usize> {
    let ids = sql(
        server,
        "SELECT GROUP_CONCAT(ID) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
         AND USER = 'root' AND COMMAND <> 'Daemon'",
    )?;
    let mut killed = 0;
    for id in ids.split(',').filter(|s| !s.is_empty() && *s != "NULL") {
        if sql(server, &format!("KILL CONNECTION {id}")).is_ok() {
            killed += 1;
        }
    }
    Ok(killed)
}

/// `unitctl migrate --mode all` of the demo, with its output shown.
fn spawn_online(
    unitctl: &Path,
    source: &MariaDb,
    target: &MariaDb,
    extra: &[&str],
) -> Result<std::process::Child> {
    migrate_shop(unitctl, source, target, "demo")
        .args([
            "--mode",
            "all",
            "--check-interval",
            "1",
            "--interval",
            "2",
            "--connect-timeout",
            "2",
        ])
        .args(extra)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting unitctl migrate")
}

pub(crate) fn run(size: Size) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    if !have_server() {
        install_server()?;
    }
    let unitctl = unitctl()?;
    println!("starting two private MariaDB servers (the source with binary logging) ...");
    let source = MariaDb::start_with(binlog_options());
    let target = MariaDb::start();
    let started = Instant::now();
    let rows = seed(&source, size)?;
    let customers = match size {
        Size::Full => 100_000,
        Size::Small => 10_000,
    };
    println!(
        "seeded the source: database shop, 4 tables, {rows} rows ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let stop = AtomicBool::new(false);
    let outcome = std::thread::scope(|scope| -> Result<(u64, u64)> {
        let writer = scope.spawn(|| write_load(&source, customers, &stop));
        println!(">>> a write load runs on the source from now until cutover");
        let result = faults(&unitctl, &source, &target, rows);
        stop.store(true, Ordering::Relaxed);
        let written = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the write load panicked"))?;
        result.map(|()| written)
    });
    let (committed, failed) = outcome?;
    println!(
        "\n>>> writes stopped: {committed} write batches committed on the source ({failed} failed during its restart); cutover"
    );
    let status = migrate_shop(&unitctl, &source, &target, "demo")
        .args([
            "--mode",
            "all",
            "--cutover",
            "--check-interval",
            "1",
            "--interval",
            "2",
        ])
        .status()
        .context("running the cutover")?;
    if !status.success() {
        bail!("the cutover failed ({status})");
    }
    // An independent check with the server's own CHECKSUM TABLE on both sides.
    let tables = "shop.customers, shop.orders, shop.order_items, shop.events";
    let a = sql(&source, &format!("CHECKSUM TABLE {tables}"))?;
    let b = sql(&target, &format!("CHECKSUM TABLE {tables}"))?;
    if a != b {
        bail!("CHECKSUM TABLE differs:\nsource:\n{a}\ntarget:\n{b}");
    }
    println!(
        "\nCHECKSUM TABLE on both servers agrees for all 4 tables after a live copy, replication of {committed} write batches (one ALTER TABLE) and every fault ({:.0} s in all).",
        started.elapsed().as_secs_f64()
    );
    println!("stopping the servers.");
    Ok(())
}

/// The online migration under faults, until writes may stop for cutover.
fn faults(unitctl: &Path, source: &MariaDb, target: &MariaDb, rows: u64) -> Result<()> {
    let mut child = spawn_online(unitctl, source, target, &[])?;
    wait_until("a fifth of the rows is copied", &mut child, || {
        checkpoint_rows(target) >= rows / 5
    })?;
    println!(
        "\n>>> fault: killing the target server with SIGKILL mid-copy ({} rows committed)",
        checkpoint_rows(target)
    );
    target.kill9();
    // Longer than the copy's connect timeout: the outage pauses the copy.
    std::thread::sleep(Duration::from_secs(5));
    println!(">>> restarting the target server");
    target.restart();
    wait_until("the copy is done", &mut child, || copy_done(target))?;
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "\n>>> fault: killing the replication's connections on the target and the source ({} + {})",
        kill_connections(target)?,
        kill_connections(source)?
    );
    std::thread::sleep(Duration::from_secs(4));
    println!("\n>>> fault: restarting the source server (SIGKILL) while it is written to");
    source.restart();
    std::thread::sleep(Duration::from_secs(6));
    println!(
        "\n>>> fault: killing unitctl itself with SIGKILL, then running the same command again"
    );
    child.kill()?;
    child.wait()?;
    let mut child = spawn_online(unitctl, source, target, &[])?;
    std::thread::sleep(Duration::from_secs(6));
    println!("\n>>> fault: killing the target server with SIGKILL while replicating");
    target.kill9();
    std::thread::sleep(Duration::from_secs(3));
    target.restart();
    std::thread::sleep(Duration::from_secs(8));
    if let Some(status) = child.try_wait()? {
        bail!("unitctl replication ended by itself ({status})");
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}
