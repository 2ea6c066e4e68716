//! Memory stays bounded when rows carry large values: the workers' queues hold a
//! bounded number of bytes, not only of changes. A test binary of its own, so that no
//! other test's memory counts.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::Duration;

use unit_integration_tests::memory::PeakRss;
use unit_integration_tests::online::{self, Online};

/// Rows of 1 MiB values queue at most a bounded number of bytes for the workers:
/// with the target's table locked for a while (the workers wait), 400 such rows
/// (about 600 MiB of row images) replicate with resident memory growing by less than
/// [`BLOB_BOUND_MIB`]. (The queues held up to 1,024 changes each, whatever their size:
/// every row was queued at once.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_large_values_queue_a_bounded_number_of_bytes() {
    const BLOB_BOUND_MIB: u64 = 480;
    let (online, mut config) = Online::copied(
        "blobq",
        "CREATE TABLE b (id INT PRIMARY KEY, v LONGBLOB NOT NULL)",
    )
    .await;
    config.sync.workers = 4;
    online
        .source_sql(
            "SET SESSION max_statement_time = 0;
             INSERT INTO b SELECT seq, REPEAT(CHAR(65 + seq % 26), 1048576) FROM seq_1_to_600",
        )
        .await;
    // The workers wait on the target's table while the stream is read.
    let mut lock = online::connect(&online.target.url("blobq")).await;
    sqlx::Executor::execute(&mut lock, "LOCK TABLES b WRITE")
        .await
        .unwrap();
    let peak = PeakRss::start();
    let unlock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        sqlx::Executor::execute(&mut lock, "UNLOCK TABLES")
            .await
            .unwrap();
    });
    let result = online.cutover(&config).await;
    let grew_mib = peak.growth_mib();
    unlock.await.unwrap();
    online.assert_ok(&result);
    println!("resident memory grew by {grew_mib} MiB while 600 rows of 1 MiB applied");
    assert!(
        grew_mib < BLOB_BOUND_MIB,
        "resident memory grew by {grew_mib} MiB, more than {BLOB_BOUND_MIB} MiB"
    );
    let checksum = "SELECT COUNT(*), CAST(SUM(CRC32(v)) AS CHAR) FROM b";
    let mut target = online::connect(&online.target.url("blobq")).await;
    let got: (i64, String) = sqlx::query_as(checksum)
        .fetch_one(&mut target)
        .await
        .unwrap();
    let mut source = online::connect(&online.source.url("blobq")).await;
    let expected: (i64, String) = sqlx::query_as(checksum)
        .fetch_one(&mut source)
        .await
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(got.0, 600);
}
