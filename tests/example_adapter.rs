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
