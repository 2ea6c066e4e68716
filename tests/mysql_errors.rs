//! unit-mysql against a real MariaDB server: every error is provoked for real and its
//! verdict, retry safety and ProcessError are checked, together with the invariant
//! `is_resumable_error(&process_error(e)) == is_resumable_mysql_error(e)`.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlConnection, MySqlPoolOptions};
use sqlx::{Connection, Executor, MySqlPool, Row};
use tokio_util::sync::CancellationToken;
use unit_core::{ErrScope, Policy, Recommended, is_ctx_canceled_process_err};
use unit_integration_tests::MariaDb;
use unit_mysql::{
    MySqlUrl, Operation, RetrySafety, StatementError, cancellable, explain_mysql_error,
    is_resumable_mysql_error, process_error, retry_safety, server_error,
};

/// A password used where a test needs one; it must never show up in any output.
const SECRET: &str = "Sup3r-S3cret-pw";

/// What an error must look like.
struct Expect {
    number: Option<u16>,
    resumable: bool,
    safety: Option<RetrySafety>,
    code: i32,
    raw_cause_prefix: &'static str,
}

fn check(err: &sqlx::Error, op: Operation<'_>, expect: Expect) -> unit_proto::pb::ProcessError {
    let verdict = explain_mysql_error(err);
    assert_eq!(verdict.is_resumable(), expect.resumable, "{err}: {verdict}");
    assert_eq!(
        server_error(err).map(|e| e.number()),
        expect.number,
        "{err}"
    );
    assert_eq!(retry_safety(err, op), expect.safety, "{err}");
    let pe = process_error(err, ErrScope::Downstream, op);
    assert_eq!(pe.err_code, expect.code, "{err}: {pe:?}");
    assert_eq!(pe.err_class, "database");
    assert_eq!(pe.err_scope, "downstream");
    assert!(pe.raw_cause.starts_with(expect.raw_cause_prefix), "{pe:?}");
    assert_eq!(
        is_resumable_error(&pe),
        is_resumable_mysql_error(err),
        "invariant: {pe:?}"
    );
    // The verdict says it goes beyond DM exactly when DM's rules answer otherwise.
    assert_eq!(
        verdict.origin() == unit_core::Origin::BeyondDm,
        verdict.is_resumable() != unit_core::is_resumable_error(&pe),
        "{err}: {verdict}"
    );
    for text in [
        format!("{err}"),
        format!("{err:?}"),
        format!("{pe:?}"),
        verdict.to_string(),
    ] {
        assert!(!text.contains(SECRET), "secret leaked: {text}");
    }
    pe
}

/// A fresh database `name` on the shared server, and a pool on it.
async fn database(name: &str) -> (MySqlPool, MySqlUrl) {
    let server = MariaDb::shared();
    let admin = parse_url(&server.url("mysql"));
    let mut conn = MySqlConnection::connect_with(&admin.connect_options())
        .await
        .expect("connect");
    conn.execute(format!("DROP DATABASE IF EXISTS `{name}`").as_str())
        .await
        .expect("drop");
    conn.execute(format!("CREATE DATABASE `{name}`").as_str())
        .await
        .expect("create");
    let url = parse_url(&server.url(name));
    let pool = MySqlPoolOptions::new()
        .max_connections(4)
        .connect_with(url.connect_options())
        .await
        .expect("pool");
    (pool, url)
}

fn parse_url(url: &str) -> MySqlUrl {
    url.parse().expect("valid URL")
}

async fn exec_err(pool: &MySqlPool, sql: &str) -> sqlx::Error {
    match sqlx::query(sql).execute(pool).await {
        Ok(_) => panic!("expected {sql} to fail"),
        Err(err) => err,
    }
}

/// A lost or unavailable connection.
fn lost(safety: RetrySafety) -> Expect {
    let (code, raw_cause_prefix) = match safety {
        RetrySafety::Safe => (10002, "driver: bad connection ("),
        RetrySafety::OutcomeUnknown => (10003, "invalid connection ("),
    };
    Expect {
        number: None,
        resumable: true,
        safety: Some(safety),
        code,
        raw_cause_prefix,
    }
}

fn answered(number: u16, resumable: bool, code: i32, prefix: &'static str) -> Expect {
    Expect {
        number: Some(number),
        resumable,
        safety: None,
        code,
        raw_cause_prefix: prefix,
    }
}

#[tokio::test]
async fn duplicate_key_1062() {
    let (pool, _) = database("e1062").await;
    sqlx::query("CREATE TABLE t (id INT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (5)")
        .execute(&pool)
        .await
        .unwrap();
    let sql = "INSERT INTO t VALUES (?)";
    let err = sqlx::query(sql).bind(5).execute(&pool).await.unwrap_err();
    let pe = check(
        &err,
        Operation::Execute(sql),
        answered(
            1062,
            false,
            10006,
            "Error 1062 (23000): Duplicate entry '5' for key 'PRIMARY'",
        ),
    );
    assert_eq!(pe.message, "statement failed: INSERT INTO t VALUES (?)");
}

#[tokio::test]
async fn strict_mode_data_errors_1406_and_1366() {
    let (pool, _) = database("e1406").await;
    let mut conn = pool.acquire().await.unwrap();
    conn.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        .await
        .unwrap();
    conn.execute("CREATE TABLE t (s VARCHAR(3), n INT)")
        .await
        .unwrap();
    let sql = "INSERT INTO t (s) VALUES (?)";
    let err = sqlx::query(sql)
        .bind("abcdef")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    check(
        &err,
        Operation::Execute(sql),
        answered(1406, false, 10006, "Error 1406 (22001): Data too long"),
    );
    let sql = "INSERT INTO t (n) VALUES ('abc')";
    let err = sqlx::query(sql).execute(&mut *conn).await.unwrap_err();
    check(
        &err,
        Operation::Execute(sql),
        answered(1366, false, 10006, "Error 1366 ("),
    );
}

#[tokio::test]
async fn ddl_limits_1059_1117_1069() {
    let (pool, _) = database("eddl").await;
    let long = format!("CREATE TABLE t ({} INT)", "x".repeat(70));
    let err = exec_err(&pool, &long).await;
    check(
        &err,
        Operation::Execute(&long),
        answered(1059, false, 10006, "Error 1059 (42000): Identifier name"),
    );
    let long = format!("CREATE TABLE {} (a INT)", "x".repeat(70));
    let err = exec_err(&pool, &long).await;
    check(
        &err,
        Operation::Execute(&long),
        answered(
            1103,
            false,
            10006,
            "Error 1103 (42000): Incorrect table name",
        ),
    );

    let cols: Vec<String> = (0..4100).map(|i| format!("c{i} INT")).collect();
    let wide = format!("CREATE TABLE wide ({})", cols.join(","));
    let err = exec_err(&pool, &wide).await;
    let pe = check(
        &err,
        Operation::Execute(&wide),
        answered(1117, false, 10006, "Error 1117 (HY000): Too many columns"),
    );
    assert!(
        pe.message.ends_with("..."),
        "long statements are truncated: {}",
        pe.message
    );

    let keys: Vec<String> = (0..70).map(|i| format!("KEY k{i}(c)")).collect();
    let many = format!("CREATE TABLE many (c INT, {})", keys.join(","));
    let err = exec_err(&pool, &many).await;
    check(
        &err,
        Operation::Execute(&many),
        answered(1069, false, 10006, "Error 1069 (42000): Too many keys"),
    );
}

/// Creates `t` with row 1 and returns a transaction holding that row's lock.
async fn lock_row(pool: &MySqlPool) -> sqlx::Transaction<'static, sqlx::MySql> {
    sqlx::query("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1, 0)")
        .execute(pool)
        .await
        .unwrap();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("UPDATE t SET v = 1 WHERE id = 1")
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

#[tokio::test]
async fn lock_wait_timeout_1205() {
    let (pool, _) = database("e1205").await;
    let holder = lock_row(&pool).await;
    let mut waiter = pool.acquire().await.unwrap();
    waiter
        .execute("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let sql = "UPDATE t SET v = 2 WHERE id = 1";
    let err = sqlx::query(sql).execute(&mut *waiter).await.unwrap_err();
    check(
        &err,
        Operation::Execute(sql),
        answered(
            1205,
            true,
            10006,
            "Error 1205 (HY000): Lock wait timeout exceeded",
        ),
    );
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn deadlock_1213_either_side_may_be_the_victim() {
    let (pool, _) = database("e1213").await;
    sqlx::query("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES (1, 0), (2, 0)")
        .execute(&pool)
        .await
        .unwrap();
    let mut a = pool.begin().await.unwrap();
    let mut b = pool.begin().await.unwrap();
    sqlx::query("UPDATE t SET v = 1 WHERE id = 1")
        .execute(&mut *a)
        .await
        .unwrap();
    sqlx::query("UPDATE t SET v = 1 WHERE id = 2")
        .execute(&mut *b)
        .await
        .unwrap();
    let sql_a = "UPDATE t SET v = 2 WHERE id = 2";
    let sql_b = "UPDATE t SET v = 2 WHERE id = 1";
    let (ra, rb) = tokio::join!(sqlx::query(sql_a).execute(&mut *a), async {
        // Let `a` block on row 2 first, so that `b` closes the cycle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query(sql_b).execute(&mut *b).await
    });
    let errors: Vec<sqlx::Error> = [ra.err(), rb.err()].into_iter().flatten().collect();
    assert_eq!(
        errors.len(),
        1,
        "exactly one side is the victim: {errors:?}"
    );
    check(
        &errors[0],
        Operation::Execute(sql_a),
        answered(1213, true, 10006, "Error 1213 (40001): Deadlock found"),
    );
}

#[tokio::test]
async fn access_denied_1045_never_shows_the_password() {
    let server = MariaDb::shared();
    let url = parse_url(&server.url_as("nobody", SECRET, "mysql"));
    assert!(!format!("{url} {url:?}").contains(SECRET));
    let err = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap_err();
    // Some server configurations answer an unknown user with 1698 instead of 1045.
    let (number, prefix) = match server_error(&err).map(|e| e.number()) {
        Some(1698) => (1698, "Error 1698 (28000): Access denied for user 'nobody'"),
        _ => (1045, "Error 1045 (28000): Access denied for user 'nobody'"),
    };
    check(
        &err,
        Operation::Connect,
        answered(number, false, 10001, prefix),
    );
    let bad: Result<MySqlUrl, _> = format!("mysql://nobody:{SECRET}@127.0.0.1:notaport/db").parse();
    let text = format!("{}", bad.unwrap_err());
    assert!(!text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn unknown_database_1049() {
    let url = parse_url(&MariaDb::shared().url("no_such_database_here"));
    let err = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap_err();
    check(
        &err,
        Operation::Connect,
        answered(1049, false, 10001, "Error 1049 (42000): Unknown database"),
    );
}

#[tokio::test]
async fn no_such_table_1146_and_syntax_1064_on_queries() {
    let (pool, _) = database("e1146").await;
    let sql = "SELECT * FROM missing_table";
    let err = sqlx::query(sql).fetch_all(&pool).await.unwrap_err();
    check(
        &err,
        Operation::Query(sql),
        answered(
            1146,
            false,
            10005,
            "Error 1146 (42S02): Table 'e1146.missing_table' doesn't exist",
        ),
    );
    let sql = "SELEC 1";
    let err = sqlx::query(sql).fetch_all(&pool).await.unwrap_err();
    check(
        &err,
        Operation::Query(sql),
        answered(
            1064,
            false,
            10005,
            "Error 1064 (42000): You have an error in your SQL syntax",
        ),
    );
}

/// Runs `sql` on a new connection and, 300 ms in, `KILL <what>` it from another one.
/// Returns the error, the connection and its id.
async fn interrupted(url: &MySqlUrl, sql: &str, what: &str) -> (sqlx::Error, MySqlConnection, u64) {
    let mut busy = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let mut killer = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let id = connection_id(&mut busy).await;
    let (result, ()) = tokio::join!(sqlx::query(sql).execute(&mut busy), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        killer
            .execute(format!("KILL {what} {id}").as_str())
            .await
            .unwrap();
    });
    (result.unwrap_err(), busy, id)
}

async fn connection_id(conn: &mut MySqlConnection) -> u64 {
    sqlx::query("SELECT CONNECTION_ID()")
        .fetch_one(conn)
        .await
        .unwrap()
        .get::<u64, _>(0)
}

#[tokio::test]
async fn kill_query_1317() {
    let (pool, url) = database("e1317").await;
    // The statement waits for a row lock; KILL QUERY interrupts the wait.
    let holder = lock_row(&pool).await;
    let sql = "UPDATE t SET v = 2 WHERE id = 1";
    let (err, mut busy, id) = interrupted(&url, sql, "QUERY").await;
    check(
        &err,
        Operation::Execute(sql),
        answered(
            1317,
            true,
            10006,
            "Error 1317 (70100): Query execution was interrupted",
        ),
    );
    // The connection itself survives KILL QUERY.
    assert_eq!(connection_id(&mut busy).await, id);
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn kill_connection_of_a_busy_connection_is_outcome_unknown() {
    let (pool, url) = database("ekillbusy").await;
    sqlx::query("CREATE TABLE t (id INT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let sql = "INSERT INTO t SELECT SLEEP(30)";
    let (err, _, _) = interrupted(&url, sql, "CONNECTION").await;
    let expect = match server_error(&err) {
        // MariaDB may answer with "connection was killed" before closing the socket.
        Some(_) => answered(
            1927,
            true,
            10006,
            "Error 1927 (70100): Connection was killed",
        ),
        None => lost(RetrySafety::OutcomeUnknown),
    };
    check(&err, Operation::Execute(sql), expect);
}

#[tokio::test]
async fn kill_connection_of_an_idle_connection() {
    let (_, url) = database("ekillidle").await;
    let mut idle = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let mut killer = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap();
    let id = connection_id(&mut idle).await;
    killer
        .execute(format!("KILL CONNECTION {id}").as_str())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sql = "SELECT 1";
    let err = sqlx::query(sql).fetch_one(&mut idle).await.unwrap_err();
    // The next statement finds either the server's goodbye (1927) or a closed socket.
    let pe = process_error(&err, ErrScope::Downstream, Operation::Query(sql));
    assert!(explain_mysql_error(&err).is_resumable(), "{err}");
    assert_eq!(is_resumable_error(&pe), is_resumable_mysql_error(&err));
    match server_error(&err) {
        Some(db) => assert_eq!(db.number(), 1927, "{err}"),
        None => assert_eq!(
            retry_safety(&err, Operation::Query(sql)),
            Some(RetrySafety::OutcomeUnknown)
        ),
    }
}

#[tokio::test]
async fn server_killed_during_a_query_and_restarted() {
    let server = MariaDb::start();
    let url = parse_url(&server.url("mysql"));
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(url.connect_options())
        .await
        .unwrap();
    let sql = "SELECT SLEEP(30)";
    let (result, ()) = tokio::join!(sqlx::query(sql).fetch_all(&pool), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.kill9();
    });
    let err = result.unwrap_err();
    check(
        &err,
        Operation::Query(sql),
        lost(RetrySafety::OutcomeUnknown),
    );
    // While it is down, new connections are refused: safe to retry.
    let err = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap_err();
    check(&err, Operation::Connect, lost(RetrySafety::Safe));
    server.restart();
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&pool)
        .await
        .expect("the pool reconnects");
    assert_eq!(one, 1);
}

#[tokio::test]
async fn connection_refused_is_safe() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = parse_url(&format!("mysql://root:{SECRET}@127.0.0.1:{port}/test"));
    let err = MySqlConnection::connect_with(&url.connect_options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    check(&err, Operation::Connect, lost(RetrySafety::Safe));
}

#[tokio::test]
async fn pool_acquire_timeout_is_safe() {
    let (_, url) = database("epool").await;
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(300))
        .connect_with(url.connect_options())
        .await
        .unwrap();
    let _held = pool.acquire().await.unwrap();
    let sql = "INSERT INTO t VALUES (1)";
    let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolTimedOut), "{err:?}");
    check(&err, Operation::Execute(sql), lost(RetrySafety::Safe));
}

#[tokio::test]
async fn a_cancelled_statement_is_canceled_not_resumable() {
    let (pool, _) = database("ecancel").await;
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let sql = "SELECT SLEEP(20)";
    let err = cancellable(&token, sqlx::query(sql).fetch_all(&pool))
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancellation is prompt"
    );
    assert!(matches!(err, StatementError::Canceled(_)), "{err:?}");
    assert!(!err.explain().is_resumable());
    assert!(!unit_core::is_resumable_db_error(&err));
    let pe = err.process_error(ErrScope::Upstream, Operation::Query(sql));
    assert!(is_ctx_canceled_process_err(&pe), "{pe:?}");
    assert_eq!(pe.err_scope, "upstream");
    assert!(!is_resumable_error(&pe));
}

#[tokio::test]
async fn data_and_schema_errors_of_a_copy_are_never_resumable() {
    let (pool, _) = database("edata").await;
    let mut conn = pool.acquire().await.unwrap();
    conn.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        .await
        .unwrap();
    conn.execute(
        "CREATE TABLE t (e ENUM('a','b'), g INT AS (e + 1) VIRTUAL, \
         c INT CHECK (c > 0), d DATE, l VARCHAR(5) CHARACTER SET latin1, \
         u VARCHAR(5) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
    )
    .await
    .unwrap();
    // Each statement fails the same way on every retry.
    for (sql, number, prefix) in [
        ("INSERT INTO t (e) VALUES ('z')", 1265, "Error 1265 ("),
        ("INSERT INTO t (e, g) VALUES ('a', 5)", 1906, "Error 1906 ("),
        ("INSERT INTO t (c) VALUES (-1)", 4025, "Error 4025 ("),
        (
            "INSERT INTO t (d) VALUES ('2024-13-45')",
            1292,
            "Error 1292 (",
        ),
        (
            "SELECT _utf8mb4'a' COLLATE latin1_bin",
            1253,
            "Error 1253 (",
        ),
        (
            "SELECT * FROM t WHERE u COLLATE utf8mb4_general_ci = u COLLATE utf8mb4_bin",
            1267,
            "Error 1267 (",
        ),
    ] {
        let Err(err) = sqlx::query(sql).execute(&mut *conn).await else {
            panic!("{sql} succeeded");
        };
        check(
            &err,
            Operation::Execute(sql),
            answered(number, false, 10006, prefix),
        );
    }
}

/// Whether the recommended policy (what auto-resume uses) resumes `e`.
fn is_resumable_error(e: &unit_proto::pb::ProcessError) -> bool {
    Recommended.explain(e).is_resumable()
}
