//! Memory stays bounded by workers x batch, whatever the size of one source
//! transaction: one transaction of 1,000,000 row changes replicates with the test
//! process's resident memory growing by less than [`BOUND_MIB`], where holding the
//! transaction's rows would take several times that. A test binary of its own, so
//! that no other test's memory counts.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use unit_integration_tests::memory::PeakRss;
use unit_integration_tests::online::{self, Online};

/// The most the process's resident memory may grow while the transaction replicates.
const BOUND_MIB: u64 = 96;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_of_a_million_row_changes_applies_in_bounded_memory() {
    let (online, mut config) = Online::copied(
        "million",
        "CREATE TABLE m (id INT PRIMARY KEY, pad CHAR(100) NOT NULL)",
    )
    .await;
    // 1,000,000 rows of about 110 bytes in one transaction: about 110 MB of row
    // images, more with what decoding and statements add.
    online
        .source_sql(
            "SET SESSION max_statement_time = 0;
             INSERT INTO m SELECT seq, REPEAT(CHAR(97 + seq % 26), 100) FROM seq_1_to_1000000",
        )
        .await;
    config.sync.batch = 1000;
    let peak = PeakRss::start();
    let result = online.cutover(&config).await;
    let grew_mib = peak.growth_mib();
    online.assert_ok(&result);
    println!("resident memory grew by {grew_mib} MiB while 1,000,000 row changes applied");
    assert!(
        grew_mib < BOUND_MIB,
        "resident memory grew by {grew_mib} MiB, more than {BOUND_MIB} MiB"
    );
    let mut target = online::connect(&online.target.url("million")).await;
    let (rows, sum): (i64, String) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(CRC32(CONCAT(id, pad))) AS CHAR) FROM m")
            .fetch_one(&mut target)
            .await
            .unwrap();
    let mut source = online::connect(&online.source.url("million")).await;
    let expected: (i64, String) =
        sqlx::query_as("SELECT COUNT(*), CAST(SUM(CRC32(CONCAT(id, pad))) AS CHAR) FROM m")
            .fetch_one(&mut source)
            .await
            .unwrap();
    assert_eq!((rows, sum), expected);
    assert_eq!(rows, 1_000_000);
}
