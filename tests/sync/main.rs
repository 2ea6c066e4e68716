//! Online migration between real MariaDB servers with binary logging: a consistent copy
//! records its position, the Sync unit applies every row change exactly once, and
//! cutover verifies. Each comparison is independent of the code under test
//! (`mariadb-dump --hex-blob` of both sides). One test binary, its tests by topic in
//! modules: `rows`, `start`, `ddl`, `faults` and `cutover`; each test starts its own
//! pair of servers (`unit_integration_tests::online`).
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use sqlx::Executor;

use unit_integration_tests::online::connect;

mod cutover;
mod ddl;
mod faults;
mod rows;
mod start;

const LOAD_TABLE: &str = "CREATE TABLE load_t (
    id INT NOT NULL PRIMARY KEY, n INT NOT NULL, note VARCHAR(40) CHARACTER SET utf8mb4,
    amount DECIMAL(12,2), at DATETIME(6) NULL DEFAULT CURRENT_TIMESTAMP(6)
)";

/// A write load on `url`: inserts, non-idempotent updates (a counter), key-changing
/// updates, deletes and multi-statement transactions, `iterations` rounds from `from`.
async fn write_load(url: String, from: i64, iterations: i64) {
    let mut conn = connect(&url).await;
    for i in from..from + iterations {
        let mut sql = format!(
            "INSERT INTO load_t (id, n, note, amount) VALUES ({i}, 0, 'row {i} é', {i}.25);
             UPDATE load_t SET n = n + 1, amount = amount + 1.5 WHERE id = {} OR id = {};",
            i - 3,
            i - 1
        );
        if i % 5 == 0 {
            sql.push_str(&format!(
                "UPDATE load_t SET id = id + 1000000 WHERE id = {};",
                i - 2
            ));
        }
        if i % 7 == 0 {
            sql.push_str(&format!("DELETE FROM load_t WHERE id = {};", i - 4));
        }
        if i % 3 == 0 {
            sql.push_str(&format!(
                "START TRANSACTION;
                 INSERT INTO load_t (id, n, note, amount) VALUES ({}, 1, 'txn', 0);
                 UPDATE load_t SET n = n + 10 WHERE id = {i};
                 DELETE FROM load_t WHERE id = {} ;
                 COMMIT;",
                i + 5_000_000,
                i - 6
            ));
        }
        conn.execute(sql.as_str()).await.unwrap();
    }
}
