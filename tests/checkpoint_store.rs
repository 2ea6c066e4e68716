//! The shared checkpoint store (`unit_sql::CheckpointStore`) against real servers: a
//! MariaDB and a PostgreSQL that the harness starts, the same assertions for both.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use sqlx::{Connection, MySqlConnection, PgConnection};
use unit_integration_tests::{MariaDb, Postgres};
use unit_sql::{CheckpointStore, Chunk, Dialect};

/// What the store must do on any database; `other` is another task's store.
async fn check<DB, C>(store: &CheckpointStore<DB>, conn: &mut C, other: &CheckpointStore<DB>)
where
    DB: Dialect<Connection = C>,
    C: Connection<Database = DB>,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> i32: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Decode<'q, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    store.create(conn).await.unwrap();
    store.create(conn).await.unwrap(); // again: nothing to do
    assert!(store.is_fresh_task(conn).await.unwrap());

    // The first plan is recorded; a later one with other spans follows it.
    let spans = [
        (None, Some("100".to_owned())),
        (Some("100".to_owned()), None),
    ];
    let parts = store.plan(conn, "shop", "orders", &spans).await.unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        (parts[1].lo.as_deref(), parts[1].hi.as_deref()),
        (Some("100"), None)
    );
    let again = store
        .plan(conn, "shop", "orders", &[(None, None)])
        .await
        .unwrap();
    assert_eq!(again, parts);
    assert!(!store.is_fresh_task(conn).await.unwrap());
    // Another task's checkpoints are its own.
    assert!(other.is_fresh_task(conn).await.unwrap());

    // A chunk rolled back with its rows leaves no trace.
    let mut tx = conn.begin().await.unwrap();
    store
        .commit_chunk(
            &mut *tx,
            &Chunk::new("shop", "orders", 0).after("7").counts(7, 70),
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let parts = store.parts(conn, "shop", "orders").await.unwrap();
    assert_eq!((parts[0].last_key.as_deref(), parts[0].rows), (None, 0));

    // Committed chunks add up; a last chunk without a key keeps the last one.
    for chunk in [
        Chunk::new("shop", "orders", 0).after("7").counts(7, 70),
        Chunk::new("shop", "orders", 0).after("42").counts(35, 350),
        Chunk::new("shop", "orders", 0).counts(0, 0).finished(),
    ] {
        let mut tx = conn.begin().await.unwrap();
        store.commit_chunk(&mut *tx, &chunk).await.unwrap();
        tx.commit().await.unwrap();
    }
    let parts = store.parts(conn, "shop", "orders").await.unwrap();
    let first = &parts[0];
    assert_eq!(
        (
            first.last_key.as_deref(),
            first.rows,
            first.bytes,
            first.done
        ),
        (Some("42"), 42, 420, true)
    );
    assert!(!parts[1].done);
    // Every part of the task, with its table.
    let all = store.task_parts(conn).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].0.as_str(), all[0].1.as_str(), all[0].2.rows),
        ("shop", "orders", 42)
    );
    // Names are kept exactly: another table's parts are not these.
    assert!(
        store
            .parts(conn, "shop", "Orders")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_chunks_and_plans_on_mariadb() {
    let server = MariaDb::shared();
    let url: unit_mysql::MySqlUrl = server.url("mysql").parse().unwrap();
    let mut conn = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    sqlx::Executor::execute(&mut conn, "DROP DATABASE IF EXISTS store_test")
        .await
        .unwrap();
    let store = CheckpointStore::<sqlx::MySql>::new("store_test", "nightly");
    let other = CheckpointStore::<sqlx::MySql>::new("store_test", "weekly");
    check(&store, &mut conn, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_keeps_chunks_and_plans_on_postgresql() {
    let server = Postgres::start();
    let mut conn = PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    let store = CheckpointStore::<sqlx::Postgres>::new("unit_checkpoint", "nightly");
    let other = CheckpointStore::<sqlx::Postgres>::new("unit_checkpoint", "weekly");
    check(&store, &mut conn, &other).await;
}
