//! The example adapter (`examples/pg_table_copy.rs`) compiled into this test and run
//! against a private PostgreSQL, through terminated sessions: it must end exact.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "../examples/pg_table_copy.rs"]
mod example;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use unit_integration_tests::Postgres;

#[test]
fn the_example_is_at_most_300_lines() {
    let lines = include_str!("../examples/pg_table_copy.rs").lines().count();
    assert!(lines <= 300, "{lines} lines");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_adapter_copies_a_table_exactly_through_terminated_sessions() {
    let server = Postgres::start();
    server.psql("postgres", "CREATE DATABASE src");
    server.psql("postgres", "CREATE DATABASE dst");
    let table = "CREATE TABLE orders (id bigint PRIMARY KEY, note text, amount numeric(12,2), at timestamptz)";
    server.psql("src", table);
    server.psql("dst", table);
    server.psql(
        "src",
        "INSERT INTO orders SELECT g, E'line\\n' || g || E'\\ttab', g * 1.25, \
         '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, 30000) g",
    );
    // Terminate the copy's sessions again and again while it runs.
    let running = Arc::new(AtomicBool::new(true));
    let terminated = Arc::new(AtomicUsize::new(0));
    let faults = {
        let (running, terminated) = (running.clone(), terminated.clone());
        let url = server.url("postgres");
        tokio::spawn(async move {
            let mut admin = PgConnection::connect(&url).await.unwrap();
            while running.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let killed: i64 = sqlx::query_scalar(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname IN ('src', 'dst') AND pid <> pg_backend_pid()",
                )
                .fetch_one(&mut admin)
                .await
                .unwrap();
                terminated.fetch_add(killed as usize, Ordering::Relaxed);
            }
        })
    };
    let copied = tokio::time::timeout(
        Duration::from_secs(120),
        example::run(&server.url("src"), &server.url("dst"), "orders"),
    )
    .await
    .expect("the example finished in time");
    running.store(false, Ordering::Relaxed);
    faults.await.unwrap();
    copied.unwrap();
    assert!(
        terminated.load(Ordering::Relaxed) > 0,
        "no session was terminated"
    );
    assert_eq!(
        server.dump_rows("src", &["public.orders"]),
        server.dump_rows("dst", &["public.orders"])
    );
    // Each row copied once: the checkpoint counts every chunk once.
    let copied = server.psql(
        "dst",
        "SELECT rows_copied, done FROM unit_checkpoint.copy_checkpoint",
    );
    assert_eq!(copied.trim(), "30000|t");
}

/// The second example (`examples/sqlite_to_pg.rs`): SQLite to PostgreSQL.
#[path = "../examples/sqlite_to_pg.rs"]
mod sqlite_example;

#[test]
fn the_sqlite_example_is_at_most_300_lines() {
    let lines = include_str!("../examples/sqlite_to_pg.rs").lines().count();
    assert!(lines <= 300, "{lines} lines");
}

/// SQLite's rows read by a plain query, in the text `COPY ... TO STDOUT` writes.
async fn sqlite_rows(url: &str) -> String {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let rows = sqlx::query("SELECT id, note, qty, price FROM orders ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    let text = |v: Option<String>| {
        v.map_or("\\N".to_owned(), |s| {
            s.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\t', "\\t")
                .replace('\r', "\\r")
        })
    };
    let mut out = String::new();
    for r in rows {
        let line = format!(
            "{}\t{}\t{}\t{}\n",
            r.get::<i64, _>(0),
            text(r.get(1)),
            r.get::<Option<i64>, _>(2)
                .map_or("\\N".into(), |v| v.to_string()),
            r.get::<Option<f64>, _>(3)
                .map_or("\\N".into(), |v| v.to_string()),
        );
        out.push_str(&line);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_example_copies_exactly_through_kills_and_refuses_a_blob_at_once() {
    use unit_core::testing::Kit;
    let server = Postgres::start();
    server.psql("postgres", "CREATE DATABASE dst");
    server.psql(
        "dst",
        "CREATE TABLE orders (id bigint PRIMARY KEY, note text, qty integer, price double precision)",
    );
    let dir = std::env::temp_dir().join(format!("unit-sqlite-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = format!("sqlite://{}/shop.db?mode=rwc", dir.display());
    let pool = sqlx::SqlitePool::connect(&source).await.unwrap();
    for sql in [
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT, qty INTEGER, price REAL)",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 40000) \
         INSERT INTO orders SELECT n, CASE WHEN n % 7 = 0 THEN NULL \
         ELSE 'line' || char(10) || n || char(9) || 'tab ''q'' \"d\" \\ é 😀' END, \
         CASE WHEN n % 11 = 0 THEN NULL ELSE n % 13 END, n * 0.25 FROM g",
        "CREATE TABLE pictures (id INTEGER PRIMARY KEY, data BLOB)",
        "INSERT INTO pictures VALUES (1, x'00ff')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let target = server.url("dst");
    let unit = || sqlite_example::SqliteToPg::new(&source, &target, "orders");

    let kit = Kit::default();
    kit.cancel_is_prompt(unit(), kit.kills[1]).await.unwrap();
    let report = kit
        .resumes_after_kills(unit, || async { Ok(()) })
        .await
        .unwrap();
    assert!(report.kills > 0, "no instance was killed mid-copy");
    let copied = server.psql(
        "dst",
        "COPY (SELECT id, note, qty, price FROM orders ORDER BY id) TO STDOUT",
    );
    assert_eq!(copied, sqlite_rows(&source).await);
    // Each row once: the checkpoint counts every chunk once.
    let counted = server.psql(
        "dst",
        "SELECT rows_copied, done FROM unit_checkpoint.copy_checkpoint",
    );
    assert_eq!(counted.trim(), "40000|t");
    // A run of a finished copy finishes at once.
    sqlite_example::run(&source, &target, "orders")
        .await
        .unwrap();

    // A BLOB cannot travel as JSON: SQLite's SQLITE_ERROR, a clear error that needs a
    // person, reported once and never retried.
    server.psql(
        "dst",
        "CREATE TABLE pictures (id bigint PRIMARY KEY, data bytea)",
    );
    let refused = tokio::time::timeout(
        Duration::from_secs(60),
        sqlite_example::run(&source, &target, "pictures"),
    )
    .await
    .expect("the run ended")
    .unwrap_err();
    assert_eq!(refused.err_code, 60011, "{refused:?}");
    assert_eq!(refused.err_scope, "upstream");
    assert!(refused.raw_cause.contains("BLOB"), "{}", refused.raw_cause);
    std::fs::remove_dir_all(&dir).unwrap();
}
