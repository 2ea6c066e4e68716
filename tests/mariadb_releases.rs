//! Online migrations between MariaDB releases: this machine's (10.11) and 11.8 (Debian
//! trixie's, run from a root the harness makes once per machine), each way. A copy,
//! changes of every kind replicated (rows, DDL, a swap `RENAME`, XA), the Sync unit
//! dropped while it replicates, a cutover; then every table compared, read in hex
//! by neither side's code, and every column's collation.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use unit_integration_tests::MariaDb;
use unit_integration_tests::online::{
    Online, binlog_options, connect, every_row, exec, replicate_dropped_then_cut_over,
};
use unit_mysql::CopyUnit;

/// Each server's release, as `VERSION()` says it.
async fn version(url: &str) -> String {
    sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&mut connect(url).await)
        .await
        .unwrap()
}

/// Every column of `db` with its collation, as `db.table.column collation`.
async fn collations(url: &str, db: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT CONCAT_WS(' ', CONCAT(TABLE_NAME, '.', COLUMN_NAME), IFNULL(COLLATION_NAME, '-')) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY 1",
    )
    .bind(db)
    .fetch_all(&mut connect(url).await)
    .await
    .unwrap()
}

async fn between(source: &MariaDb, target: &MariaDb, task: &str) {
    let (s, t) = (source.url(""), target.url(""));
    eprintln!("{task}: {} -> {}", version(&s).await, version(&t).await);
    exec(
        &s,
        "CREATE DATABASE r CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_ai_ci",
    )
    .await;
    exec(
        &source.url("r"),
        "CREATE TABLE r.t (id INT PRIMARY KEY, u UUID, ip INET4, v VARCHAR(40), j JSON,
           d DATETIME(6), b BLOB, n DECIMAL(30,10), sv VARCHAR(20) COLLATE utf8mb4_uca1400_swedish_ai_ci);
         CREATE TABLE r.k (a INT, b VARCHAR(10) CHARACTER SET latin1);
         CREATE TABLE r.other (id INT PRIMARY KEY, v INT);
         INSERT INTO r.t SELECT seq, UUID(), CONCAT('10.0.0.', seq % 250), CONCAT('Ünïcode ', seq),
           JSON_OBJECT('k', seq), '2024-01-01' + INTERVAL seq SECOND, RANDOM_BYTES(seq % 40),
           seq / 7, CONCAT('å', seq) FROM seq_1_to_500;
         INSERT INTO r.k VALUES (1, 'x'), (1, 'x'), (NULL, NULL);
         INSERT INTO r.other VALUES (1, 1);",
    )
    .await;
    let config = unit_integration_tests::online::task(task, &s, &t, "r", 3);
    let result = Online::run(&mut CopyUnit::new(config.clone())).await;
    assert!(
        result.errors.is_empty(),
        "{task}: copy failed: {:?}",
        result.errors
    );
    let changes = [
        "UPDATE r.t SET v = CONCAT(v, '!'), j = JSON_SET(j, '$.u', 1) WHERE id % 3 = 0",
        "DELETE FROM r.t WHERE id % 10 = 1; INSERT INTO r.k VALUES (2, 'y')",
        "ALTER TABLE r.t ADD note TEXT DEFAULT 'n', ADD INDEX by_v (v)",
        "INSERT INTO r.t (id, u, v, note) VALUES (1000, UUID(), 'after DDL', 'noted')",
        "RENAME TABLE r.k TO r.tmp, r.other TO r.k, r.tmp TO r.other",
        "INSERT INTO r.k VALUES (2, 2); DELETE FROM r.other WHERE a = 1 LIMIT 1",
        "XA START 'x1'; UPDATE r.t SET n = -n WHERE id < 50; XA END 'x1'; XA PREPARE 'x1'; XA COMMIT 'x1'",
        "ALTER TABLE r.t MODIFY sv VARCHAR(30) COLLATE utf8mb4_uca1400_swedish_ai_ci, DROP COLUMN ip",
        "UPDATE r.t SET sv = CONCAT(sv, 'ö') WHERE id > 400",
    ];
    replicate_dropped_then_cut_over(&config, &s, &changes).await;
    let rows = every_row(&s, "r").await;
    assert!(rows.len() > 400, "{}", rows.len());
    assert_eq!(every_row(&t, "r").await, rows, "{task}");
    assert_eq!(
        collations(&t, "r").await,
        collations(&s, "r").await,
        "{task}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_10_11_to_11_8_and_back_replicate_exactly() {
    let old = MariaDb::start_with(binlog_options(1));
    let new = MariaDb::start_in(&unit_testkit::MARIADB_11_8, binlog_options(2));
    between(&old, &new, "up").await;
    exec(
        &old.url(""),
        "DROP DATABASE r; DROP DATABASE IF EXISTS unit_checkpoint",
    )
    .await;
    exec(
        &new.url(""),
        "DROP DATABASE r; DROP DATABASE IF EXISTS unit_checkpoint",
    )
    .await;
    between(&new, &old, "down").await;
}
